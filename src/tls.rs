//! TLS for the HTTPS listener: the local CA kept in `--tls-dir`, the server certificate it signs
//! for Partner Center's and Entra ID's host names, or a certificate the user brings.
//!
//! The CA is made once and kept, because users trust it once (in a container image, a CI job,
//! an OS store); the server certificate is signed afresh at every start, so `--tls-san` changes
//! take effect without anyone re-trusting anything.
//!
//! Size: ~360 lines of code and ~80 of tests; the CA, the server certificate and the brought
//! certificate share the file writing and the chain check, so they stay together.
//!
//! Size: ~360 lines of code and ~80 of tests; CA, server certificate and user certificate share
//! their PEM and key handling, so they stay together.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::ServerConfig;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::config::Config;

/// The host names every generated server certificate carries: the real services' hosts, so
/// unmodified clients connect, and loopback.
pub const DEFAULT_SANS: [&str; 6] = [
    "api.partnercenter.microsoft.com",
    "login.microsoftonline.com",
    "login.windows.net",
    "localhost",
    "127.0.0.1",
    "::1",
];

/// File names inside `--tls-dir`.
pub const CA_CERT_FILE: &str = "ca.pem";
pub const CA_KEY_FILE: &str = "ca-key.pem";
pub const SERVER_CERT_FILE: &str = "server.pem";
pub const SERVER_KEY_FILE: &str = "server-key.pem";

const CA_NAME: &str = "Partner Center Emulator Local CA";

/// What the HTTPS listener serves with.
#[derive(Clone)]
pub struct Tls {
    pub server_config: Arc<ServerConfig>,
    /// The CA certificate (PEM) when the emulator made the server certificate; `None` for a
    /// certificate the user brought.
    pub ca_pem: Option<String>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("ca_pem", &self.ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

/// The directory for the CA and keys when `--tls-dir` is not given: the user's data directory,
/// so the CA a developer trusted once is the same on every run.
pub fn default_dir() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| PathBuf::from(home).join(".local").join("share"))
        })?;
    Some(data.join("partner-center-emulator").join("tls"))
}

/// `--tls-dir`, else [`default_dir`], else a message saying what to pass.
pub fn resolve_dir(configured: Option<&Path>) -> Result<PathBuf, String> {
    configured
        .map(Path::to_path_buf)
        .or_else(default_dir)
        .ok_or_else(|| {
            "no directory for the local CA: pass --tls-dir DIR (PCE_TLS_DIR), or set HOME".into()
        })
}

/// Builds the TLS set-up the configuration asks for: the user's `--tls-cert`/`--tls-key`, or a
/// server certificate signed by the local CA in `dir` (created there on first use).
pub fn load(config: &Config, dir: &Path) -> Result<Tls, String> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            let chain = read_chain(cert)?;
            let key = read_key(key)?;
            let server_config = server_config(chain, key).map_err(|e| {
                format!(
                    "--tls-cert {} and --tls-key {} cannot be used together: {e}",
                    cert.display(),
                    config
                        .tls_key
                        .as_deref()
                        .map(Path::display)
                        .map(|d| d.to_string())
                        .unwrap_or_default()
                )
            })?;
            Ok(Tls {
                server_config,
                ca_pem: None,
            })
        }
        (Some(_), None) => Err("--tls-cert needs --tls-key (the certificate's private key)".into()),
        (None, Some(_)) => Err("--tls-key needs --tls-cert (the certificate it belongs to)".into()),
        (None, None) => {
            let ca = LocalCa::load_or_create(dir)?;
            let (chain, key) = ca.server_certificate(&config.tls_san, dir)?;
            let server_config =
                server_config(chain, key).map_err(|e| format!("server certificate: {e}"))?;
            Ok(Tls {
                server_config,
                ca_pem: Some(ca.cert_pem),
            })
        }
    }
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
    // HTTP/1.1 only, as on the plain listener.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes =
        fs::read(path).map_err(|e| format!("cannot read --tls-cert {}: {e}", path.display()))?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--tls-cert {} is not PEM: {e}", path.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "--tls-cert {} holds no CERTIFICATE block",
            path.display()
        ));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes =
        fs::read(path).map_err(|e| format!("cannot read --tls-key {}: {e}", path.display()))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        format!(
            "--tls-key {} holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
            path.display()
        )
    })
}

/// The local CA: its certificate as users trust it, and its key.
pub struct LocalCa {
    pub cert_pem: String,
    key: KeyPair,
}

impl LocalCa {
    /// Reads the CA from `dir`, or creates it there (key files mode 0600) when neither file
    /// exists. One file without the other, or a pair that does not belong together, refuses.
    pub fn load_or_create(dir: &Path) -> Result<Self, String> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => {
                let cert_pem = fs::read_to_string(&cert_path)
                    .map_err(|e| format!("cannot read {}: {e}", cert_path.display()))?;
                let key_pem = fs::read_to_string(&key_path)
                    .map_err(|e| format!("cannot read {}: {e}", key_path.display()))?;
                let key = KeyPair::from_pem(&key_pem).map_err(|e| {
                    format!("{} is not a usable private key: {e}", key_path.display())
                })?;
                CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| {
                    format!("{} is not a PEM certificate: {e}", cert_path.display())
                })?;
                Ok(Self { cert_pem, key })
            }
            (false, false) => {
                fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create --tls-dir {}: {e}", dir.display()))?;
                let key = KeyPair::generate().map_err(|e| format!("CA key: {e}"))?;
                let cert = ca_params(&key)
                    .self_signed(&key)
                    .map_err(|e| format!("CA certificate: {e}"))?;
                let cert_pem = cert.pem();
                // The key first: a crash between the two leaves a key without a certificate,
                // which refuses start-up with a message rather than a CA nobody can sign with.
                write_file(&key_path, key.serialize_pem().as_bytes(), true)?;
                write_file(&cert_path, cert_pem.as_bytes(), false)?;
                tracing::info!(
                    "created a local CA in {}; trust {} to reach the emulator over HTTPS",
                    dir.display(),
                    cert_path.display()
                );
                Ok(Self { cert_pem, key })
            }
            (true, false) => Err(format!(
                "{} exists but {} does not: restore the key, or remove both to make a new CA",
                cert_path.display(),
                key_path.display()
            )),
            (false, true) => Err(format!(
                "{} exists but {} does not: restore the certificate, or remove both to make a new CA",
                key_path.display(),
                cert_path.display()
            )),
        }
    }

    /// Signs a new server certificate for the default names plus `extra` (host names or IP
    /// addresses), writes it and its key into `dir`, and checks that it chains to this CA.
    pub fn server_certificate(
        &self,
        extra: &[String],
        dir: &Path,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
        let mut names: Vec<String> = DEFAULT_SANS.iter().map(|s| (*s).to_owned()).collect();
        for name in extra {
            let name = name.trim();
            if !name.is_empty() && !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                names.push(name.to_owned());
            }
        }
        let mut params = CertificateParams::default();
        params.subject_alt_names = names
            .iter()
            .map(|name| match name.parse::<IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => name
                    .as_str()
                    .try_into()
                    .map(SanType::DnsName)
                    .map_err(|e| format!("--tls-san `{name}` is not a host name: {e}")),
            })
            .collect::<Result<_, _>>()?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "api.partnercenter.microsoft.com");
        dn.push(DnType::OrganizationName, "Partner Center Emulator");
        params.distinguished_name = dn;
        // EMULATOR: certificate validity is wall-clock time, not the emulator clock: clients
        // check it against their own clocks. A day back absorbs clock skew; 397 days is the
        // longest lifetime browsers and Apple platforms accept for a server certificate.
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(397);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().map_err(|e| format!("server key: {e}"))?;
        let issuer = Issuer::new(ca_params(&self.key), &self.key);
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(|e| format!("server certificate: {e}"))?;
        let ca_der = CertificateDer::from_pem_slice(self.cert_pem.as_bytes())
            .map_err(|e| format!("{CA_CERT_FILE}: {e}"))?;
        chains_to(&ca_der, cert.der())
            .map_err(|e| format!("{CA_CERT_FILE} and {CA_KEY_FILE} in {} do not belong together ({e}): remove both to make a new CA", dir.display()))?;
        write_file(
            &dir.join(SERVER_KEY_FILE),
            key.serialize_pem().as_bytes(),
            true,
        )?;
        write_file(
            &dir.join(SERVER_CERT_FILE),
            format!("{}{}", cert.pem(), self.cert_pem).as_bytes(),
            false,
        )?;
        let key_der =
            PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| format!("server key: {e}"))?;
        Ok((vec![cert.der().clone()], key_der))
    }
}

/// The CA's parameters, a function of its key alone. Signing needs only its name, key usages and
/// key-identifier method, so a CA read back from disk signs as it did when it was made, without
/// parsing X.509. The name carries a digest of the key: two emulators' CAs never share a name,
/// so a client that trusts another one's CA fails as "unknown issuer", not "bad signature".
fn ca_params(key: &KeyPair) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    let digest = xxhash_rust::xxh3::xxh3_64(key.public_key_raw());
    dn.push(DnType::CommonName, format!("{CA_NAME} {digest:016x}"));
    dn.push(DnType::OrganizationName, "Partner Center Emulator");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    params
}

/// Whether `leaf` verifies for Partner Center's host name with `ca` as the only root.
fn chains_to(ca: &CertificateDer<'_>, leaf: &CertificateDer<'_>) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(ca.clone().into_owned())
        .map_err(|e| e.to_string())?;
    let verifier = WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(DEFAULT_SANS[0]).map_err(|e| e.to_string())?;
    verifier
        .verify_server_cert(leaf, &[], &name, &[], UnixTime::now())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Writes a file whole through a temporary name (a crash leaves the old file or none, never
/// half of one); private keys are created mode 0600.
fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    written.and_then(|()| fs::rename(&tmp, path)).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}

/// `partner-center-emulator ca`: the CA certificate in `dir`, made there first if it does not
/// exist yet, so a user can trust it before the first start.
pub fn ca_pem(dir: &Path) -> Result<String, String> {
    LocalCa::load_or_create(dir).map(|ca| ca.cert_pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "pce-tls-{name}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_new_ca_is_kept_and_reused() {
        let dir = temp_dir("reuse");
        let first = LocalCa::load_or_create(&dir).unwrap();
        let again = LocalCa::load_or_create(&dir).unwrap();
        assert_eq!(first.cert_pem, again.cert_pem);
        let (chain, _) = again.server_certificate(&[], &dir).unwrap();
        let ca = CertificateDer::from_pem_slice(first.cert_pem.as_bytes()).unwrap();
        chains_to(&ca, &chain[0]).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for (file, mode) in [
                (CA_KEY_FILE, 0o600),
                (SERVER_KEY_FILE, 0o600),
                (CA_CERT_FILE, 0o644),
            ] {
                let meta = fs::metadata(dir.join(file)).unwrap();
                assert_eq!(meta.permissions().mode() & 0o777, mode, "{file}");
            }
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn half_a_ca_refuses() {
        let dir = temp_dir("half");
        LocalCa::load_or_create(&dir).unwrap();
        fs::remove_file(dir.join(CA_KEY_FILE)).unwrap();
        let err = LocalCa::load_or_create(&dir).err().unwrap();
        assert!(err.contains("ca-key.pem does not"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_key_from_another_ca_is_caught() {
        let a = temp_dir("a");
        let b = temp_dir("b");
        LocalCa::load_or_create(&a).unwrap();
        LocalCa::load_or_create(&b).unwrap();
        fs::copy(b.join(CA_KEY_FILE), a.join(CA_KEY_FILE)).unwrap();
        let ca = LocalCa::load_or_create(&a).unwrap();
        let err = ca.server_certificate(&[], &a).err().unwrap();
        assert!(err.contains("do not belong together"), "{err}");
        fs::remove_dir_all(&a).unwrap();
        fs::remove_dir_all(&b).unwrap();
    }

    #[test]
    fn extra_names_and_addresses_are_signed() {
        let dir = temp_dir("san");
        let ca = LocalCa::load_or_create(&dir).unwrap();
        let (chain, _) = ca
            .server_certificate(&["emulator".into(), "10.0.0.5".into()], &dir)
            .unwrap();
        let written = fs::read(dir.join(SERVER_CERT_FILE)).unwrap();
        let first = CertificateDer::pem_slice_iter(&written)
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(first, chain[0]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
