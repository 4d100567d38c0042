//! The token-signing key: an RSA-2048 key made on first need (or read from `--tls-dir`), its
//! `kid`, and the JWKS that publishes it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, pkcs1::DecodeRsaPrivateKey};
use xxhash_rust::xxh3::xxh3_128;

/// The key file's name inside `--tls-dir`.
pub const KEY_FILE: &str = "token-signing-key.pem";

const BITS: usize = 2048;

/// The signing key, ready for jsonwebtoken, with its public half as JWKS parameters.
pub struct SigningKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    /// Modulus and exponent, base64url without padding (the JWK `n` and `e`).
    pub n: String,
    pub e: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    fn from_rsa(key: &RsaPrivateKey) -> Result<Self, String> {
        let der = key
            .to_pkcs1_der()
            .map_err(|e| format!("cannot encode the token-signing key: {e}"))?;
        let encoding = EncodingKey::from_rsa_der(der.as_bytes());
        let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
        let decoding = DecodingKey::from_rsa_components(&n, &e)
            .map_err(|e| format!("cannot use the token-signing key: {e}"))?;
        // A thumbprint-like id: stable for a key, different for another.
        let kid = URL_SAFE_NO_PAD.encode(xxh3_128(&key.n().to_bytes_be()).to_be_bytes());
        Ok(Self {
            kid,
            encoding,
            decoding,
            n,
            e,
        })
    }
}

/// Where the key lives, and the key once made or read. Making one takes 100 ms or more, so it
/// happens on first need, never at start-up.
#[derive(Debug)]
pub struct KeyStore {
    dir: Option<PathBuf>,
    key: OnceLock<Result<Arc<SigningKey>, String>>,
}

impl KeyStore {
    /// In memory only (`dir` `None`), or kept in `dir/token-signing-key.pem`.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            key: OnceLock::new(),
        }
    }

    /// Reads an existing key file now, so a corrupt one stops start-up instead of the first
    /// token request. Cheap: no key is generated here.
    pub fn preload(&self) -> Result<(), String> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let path = dir.join(KEY_FILE);
        if !path.exists() {
            return Ok(());
        }
        let loaded = read_key(&path).and_then(|k| SigningKey::from_rsa(&k).map(Arc::new));
        let result = loaded.clone().map(|_| ());
        let _ = self.key.set(loaded);
        result
    }

    /// The key: read or made on the first call (which may block for a moment), then shared.
    pub fn get(&self) -> Result<Arc<SigningKey>, String> {
        self.key
            .get_or_init(|| {
                let key = match &self.dir {
                    None => generate()?,
                    Some(dir) => load_or_create(dir)?,
                };
                SigningKey::from_rsa(&key).map(Arc::new)
            })
            .clone()
    }

    /// The key if it has been made or read already; verification needs no new key (a token
    /// cannot have been signed by a key that does not exist yet).
    pub fn existing(&self) -> Option<Arc<SigningKey>> {
        self.key.get().and_then(|k| k.as_ref().ok()).cloned()
    }
}

fn generate() -> Result<RsaPrivateKey, String> {
    RsaPrivateKey::new(&mut rsa::rand_core::OsRng, BITS)
        .map_err(|e| format!("cannot generate the token-signing key: {e}"))
}

fn read_key(path: &Path) -> Result<RsaPrivateKey, String> {
    let pem = fs::read_to_string(path)
        .map_err(|e| format!("cannot read the token-signing key {}: {e}", path.display()))?;
    let key = RsaPrivateKey::from_pkcs8_pem(&pem)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(&pem))
        .map_err(|e| {
            format!(
                "{} is not an RSA private key in PEM (PKCS#8 or PKCS#1): {e}; delete it to have a new one made",
                path.display()
            )
        })?;
    if key.size() * 8 < BITS {
        return Err(format!(
            "{}: the token-signing key has {} bits; Entra signs with at least {BITS}",
            path.display(),
            key.size() * 8
        ));
    }
    Ok(key)
}

fn load_or_create(dir: &Path) -> Result<RsaPrivateKey, String> {
    let path = dir.join(KEY_FILE);
    if path.exists() {
        return read_key(&path);
    }
    fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create --tls-dir {}: {e}", dir.display()))?;
    let key = generate()?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| format!("cannot encode the token-signing key: {e}"))?;
    // Written under a temporary name and renamed, so a crash never leaves half a key behind.
    let tmp = dir.join(format!("{KEY_FILE}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(pem.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, &path)
    };
    write().map_err(|e| format!("cannot write the token-signing key {}: {e}", path.display()))?;
    tracing::info!("token-signing key written to {}", path.display());
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_key_file_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("pce-key-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(KEY_FILE), "not a key").unwrap();
        let store = KeyStore::new(Some(dir.clone()));
        let err = store.preload().unwrap_err();
        assert!(err.contains("is not an RSA private key"), "{err}");
        assert!(store.get().is_err());
        fs::remove_dir_all(dir).unwrap();
    }
}
