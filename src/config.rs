//! Command-line and environment configuration: every flag has a `PCE_*` twin.
//!
//! Size: ~330 lines of code (one documented field per flag, the defaults and their parsers), the
//! rest tests; splitting the flags would scatter the `--help` text.

use std::time::Duration;

use std::path::PathBuf;

use clap::{Args, FromArgMatches as _, Parser, Subcommand, ValueEnum};

use crate::domain::rate_limit::RateLimit;
use crate::domain::timestamp::Timestamp;

/// A local emulator of the Microsoft Partner Center device-deployment (Windows Autopilot) API.
#[derive(Debug, Clone, Parser)]
#[command(name = "partner-center-emulator", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Exit 0 when the emulator answers `GET /_emulator/health` with 200 within 2 s, else 1.
    Healthcheck {
        /// Base URL of the emulator (default: http://<--bind>).
        #[arg(long)]
        url: Option<String>,
    },
    /// Print the local CA certificate (PEM) that signs the HTTPS listener's certificate,
    /// creating the CA first if the directory has none. Never prints a key.
    Ca {
        /// Directory of the CA (default: --tls-dir, else the user's data directory).
        #[arg(long = "tls-dir", value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// Everything the server reads at start-up.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Listen address; port 0 picks any free port (the chosen address is logged).
    #[arg(long, env = "PCE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,

    /// HTTPS listen address (e.g. `127.0.0.1:8443`), beside `--bind`: same routes, same
    /// behaviour. Off unless given.
    #[arg(long, env = "PCE_TLS_BIND")]
    pub tls_bind: Option<String>,

    /// Directory for the local CA, the server certificate and the token-signing key (created on
    /// first start, kept across restarts). Default with `--tls-bind`: the user's data directory
    /// (`$XDG_DATA_HOME` or `~/.local/share`)`/partner-center-emulator/tls`.
    #[arg(long, env = "PCE_TLS_DIR")]
    pub tls_dir: Option<PathBuf>,

    /// Another name (or IP address) for the server certificate, beside Partner Center's and
    /// Entra ID's hosts and loopback; repeatable (env: comma-separated), e.g. a compose service.
    #[arg(
        long = "tls-san",
        env = "PCE_TLS_SAN",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    pub tls_san: Vec<String>,

    /// Serve this certificate chain (PEM) instead of one signed by the local CA; needs
    /// `--tls-key`.
    #[arg(long, env = "PCE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1) of `--tls-cert`.
    #[arg(long, env = "PCE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// How long a new job stays `queued` (e.g. `0s`, `250ms`, `2s`).
    #[arg(long, env = "PCE_QUEUED_FOR", default_value = "1s", value_parser = parse_duration)]
    pub queued_for: Duration,

    /// How long a job then stays `processing` before it is terminal.
    #[arg(long, env = "PCE_PROCESSING_FOR", default_value = "2s", value_parser = parse_duration)]
    pub processing_for: Duration,

    /// `bearer`: Partner Center routes require `Authorization: Bearer <token>`; `jwt`: only
    /// unexpired tokens this emulator issued for Partner Center; `off`: no check.
    #[arg(long, env = "PCE_AUTH", value_enum, default_value_t = AuthMode::Bearer)]
    pub auth: AuthMode,

    /// Mock Entra ID: `permissive` signs in any client, secret, user and password; `strict`
    /// only the tenants, apps and users of the seed's `identity` section.
    #[arg(long, env = "PCE_IDENTITY", value_enum, default_value_t = IdentityMode::Permissive)]
    pub identity: IdentityMode,

    /// Lifetime of the access and id tokens the mock Entra ID issues (emulator clock).
    #[arg(long, env = "PCE_TOKEN_LIFETIME", default_value = "1h", value_parser = parse_duration)]
    pub token_lifetime: Duration,

    /// How long after a device code is issued its polls answer `authorization_pending` before
    /// the sign-in is approved (emulator clock); `0s` approves the first poll.
    #[arg(long, env = "PCE_DEVICE_CODE_APPROVE_AFTER", default_value = "0s", value_parser = parse_duration)]
    pub device_code_approve_after: Duration,

    /// `any`: every GUID is an existing customer with a reseller relationship; `seeded`: only
    /// customers of the seed or the state exist (else 404 code 60003), and one seeded with
    /// `"relationship": false` is a 403 code 20002.
    #[arg(long, env = "PCE_CUSTOMERS", value_enum, default_value_t = CustomersMode::Any)]
    pub customers: CustomersMode,

    /// Throttling budgets, off unless given: `partner=N/WINDOW,customer=N/WINDOW` (either may be
    /// left out), e.g. `partner=500/1m,customer=100/1m`: so many Partner Center requests per
    /// sliding window on the emulator clock, per partner tenant and per partner+customer.
    #[arg(long, env = "PCE_RATE_LIMIT", value_parser = RateLimit::parse)]
    pub rate_limit: Option<RateLimit>,

    /// Write a UTF-8 BOM before the JSON bodies of Partner Center routes (`true`/`false` in the
    /// env var).
    #[arg(long, env = "PCE_RESPONSE_BOM")]
    pub response_bom: bool,

    /// While a job is queued or processing, show each of its devices as `in-progress` (the docs'
    /// device status) instead of the job's status (`true`/`false` in the env var).
    #[arg(long, env = "PCE_DEVICE_STATUS_WHILE_RUNNING")]
    pub device_status_while_running: bool,

    /// Fail devices whose hardware hash is not a plausible Autopilot hash (base64 decoding to
    /// 1,024–8,192 bytes) with 802 `InvalidZtdHardwareHash`.
    #[arg(long, env = "PCE_STRICT_HARDWARE_HASH")]
    pub strict_hardware_hash: bool,

    /// Request body limit (e.g. `32MiB`, `512KiB`, `1000000`).
    #[arg(long, env = "PCE_MAX_BODY", default_value = "32MiB", value_parser = parse_size)]
    pub max_body: u64,

    /// Log format: `text` or `json`.
    #[arg(long, env = "PCE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// `system`: the emulator clock follows real time; `manual`: it moves only when told to.
    #[arg(long, env = "PCE_CLOCK", value_enum, default_value_t = ClockMode::System)]
    pub clock: ClockMode,

    /// Start of a manual clock (RFC 3339); default: the real time at start-up.
    #[arg(long, env = "PCE_CLOCK_START", value_parser = parse_rfc3339)]
    pub clock_start: Option<Timestamp>,

    /// Seed of the fault rules' random draws, so a run replays exactly.
    #[arg(long, env = "PCE_FAULT_SEED", default_value_t = 0)]
    pub fault_seed: u64,

    /// Fault rules to load at start-up (a JSON array, as for POST /_emulator/faults).
    #[arg(long, env = "PCE_FAULTS")]
    pub faults: Option<PathBuf>,

    /// How many requests the journal keeps (oldest dropped first).
    #[arg(long, env = "PCE_JOURNAL_SIZE", default_value_t = 1000)]
    pub journal_size: usize,

    /// How long a finished job stays readable (emulator clock) before it is forgotten, with
    /// customers left empty; `off` keeps everything.
    #[arg(long, env = "PCE_JOB_RETENTION", default_value = "24h", value_parser = parse_retention)]
    pub job_retention: Retention,

    /// How much memory the journal's entries may take (oldest dropped first), whatever their
    /// count (e.g. `64MiB`).
    #[arg(long, env = "PCE_JOURNAL_MEMORY", default_value = "64MiB", value_parser = parse_size)]
    pub journal_memory: u64,

    /// How much memory the `MS-RequestId` replay records may take (oldest forgotten first),
    /// beside the limit of 10,000 records (e.g. `64MiB`).
    #[arg(long, env = "PCE_IDEMPOTENCY_MEMORY", default_value = "64MiB", value_parser = parse_size)]
    pub idempotency_memory: u64,

    /// Seed document to load at start-up (as for POST /_emulator/seed); skipped when
    /// `--state-file` already holds state.
    #[arg(long, env = "PCE_SEED")]
    pub seed: Option<PathBuf>,

    /// Keep state in this file: restored at start, written atomically after changes and on
    /// shutdown. Without it, state lives in memory only.
    #[arg(long, env = "PCE_STATE_FILE")]
    pub state_file: Option<PathBuf>,

    /// `interval`: changed state is written every `--persist-interval` (a SIGKILL loses the
    /// writes of the last interval and the save under way); `sync`: a write is answered only
    /// once a save that holds it is on disk (saves are shared by concurrent writes), and 503
    /// while the state file cannot be written.
    #[arg(long, env = "PCE_DURABILITY", value_enum, default_value_t = Durability::Interval)]
    pub durability: Durability,

    /// Require `Authorization: Bearer <token>` on every `/_emulator/*` route but `health` and
    /// the dashboard page (`ui`). Without it, the control plane refuses cross-site browser
    /// requests only.
    #[arg(long, env = "PCE_CONTROL_TOKEN", value_parser = parse_token)]
    pub control_token: Option<Secret>,

    /// How often, at most, changed state is written to `--state-file`.
    #[arg(long, env = "PCE_PERSIST_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub persist_interval: Duration,

    /// How long a connection that sends nothing (new, or idle between keep-alive requests)
    /// stays open, like a cloud front door's idle timeout (e.g. `4m`, `30s`).
    #[arg(long, env = "PCE_IDLE_TIMEOUT", default_value = "4m", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// How long a request has to send the rest of its headers once its first byte has arrived;
    /// then the connection is closed. Not a flag: fixed for users, shortened by tests.
    #[arg(skip = HEADER_READ_TIMEOUT)]
    pub header_read_timeout: Duration,

    /// How long a request's body has to arrive in full once its headers have; then 408. Not a
    /// flag: fixed for users, shortened by tests.
    #[arg(skip = BODY_READ_TIMEOUT)]
    pub body_read_timeout: Duration,

    /// How long a write to a connection may wait for the peer to read (a client that requests
    /// `/_emulator/state` and never reads it); then the connection is closed. Not a flag:
    /// fixed for users, shortened by tests.
    #[arg(skip = WRITE_TIMEOUT)]
    pub write_timeout: Duration,

    /// Whether the hot Partner Center routes are answered by the hand dispatcher
    /// (`http::dispatch`) rather than the router. Not a flag: on for users; the differential
    /// test turns it off to hold the two paths to the same answers.
    #[arg(skip = true)]
    pub hand_dispatch: bool,
}

// EMULATOR: Partner Center documents no write timeout; this one frees clients that stop reading.
/// Default of [`Config::write_timeout`].
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

// EMULATOR: Partner Center documents no timeouts; these close stalled (slowloris) clients.
/// Default of [`Config::header_read_timeout`].
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`Config::body_read_timeout`]: a `--max-body` upload at a modest 1 MB/s.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A value that must not be printed (a `Debug` of the configuration shows `***`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

fn parse_token(raw: &str) -> Result<Secret, String> {
    let token = raw.trim();
    // An empty token would look like a lock and open nothing: refuse it.
    if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(
            "the control token must be non-empty, without spaces or control characters".into(),
        );
    }
    Ok(Secret::new(token))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Durability {
    Interval,
    Sync,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClockMode {
    System,
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CustomersMode {
    Any,
    Seeded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    Bearer,
    Jwt,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IdentityMode {
    Permissive,
    Strict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    /// The defaults, without reading the command line or the environment: every `PCE_*` twin
    /// is taken off the flags first, so a variable set in the shell cannot change a test.
    pub fn for_tests() -> Self {
        let matches = defaults_command().get_matches_from(["partner-center-emulator"]);
        match Config::from_arg_matches(&matches) {
            Ok(config) => config,
            // The defaults are constants of this file: a failure here is a bug in them.
            Err(e) => panic!("the default configuration does not parse: {e}"),
        }
    }
}

/// The flags without their environment variables.
fn defaults_command() -> clap::Command {
    Config::augment_args(clap::Command::new("partner-center-emulator"))
        .mut_args(|arg| arg.env(None::<&str>))
}

/// `--job-retention`: a duration, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention(pub Option<Duration>);

fn parse_retention(raw: &str) -> Result<Retention, String> {
    match raw.trim() {
        "off" | "never" => Ok(Retention(None)),
        _ => parse_duration(raw).map(|d| Retention(Some(d))),
    }
}

fn parse_rfc3339(raw: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(raw)
        .ok_or_else(|| format!("`{raw}` is not an RFC 3339 time like 2026-11-21T10:00:00Z"))
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw.trim())
        .map_err(|e| format!("`{raw}` is not a duration like `0s`, `250ms` or `2s`: {e}"))
}

/// Parses `32MiB`, `512KiB`, `1GiB`, `10MB`, `1000` (bytes).
fn parse_size(raw: &str) -> Result<u64, String> {
    let s = raw.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{raw}` is not a size like `32MiB`"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "`{raw}`: unknown unit; use B, KB, KiB, MB, MiB, GB or GiB"
            ));
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("`{raw}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_configuration_reads_no_environment() {
        let command = defaults_command();
        assert!(command.get_arguments().count() > 10);
        assert!(command.get_arguments().all(|a| a.get_env().is_none()));
        // The flags themselves still have their twins.
        assert!(
            Config::augment_args(clap::Command::new("x"))
                .get_arguments()
                .any(|a| a.get_env().is_some())
        );
        assert_eq!(Config::for_tests().bind, Cli::parse_from(["x"]).config.bind);
    }

    #[test]
    fn defaults_match_the_readme() {
        let c = Config::for_tests();
        assert_eq!(c.bind, "127.0.0.1:8080");
        assert_eq!(c.queued_for, Duration::from_secs(1));
        assert_eq!(c.processing_for, Duration::from_secs(2));
        assert_eq!(c.auth, AuthMode::Bearer);
        assert_eq!(c.customers, CustomersMode::Any);
        assert_eq!(c.rate_limit, None);
        assert!(!c.strict_hardware_hash);
        assert_eq!(c.max_body, 32 << 20);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.clock, ClockMode::System);
        assert_eq!(c.fault_seed, 0);
        assert_eq!(c.journal_size, 1000);
        assert_eq!(c.journal_memory, crate::store::JOURNAL_MEMORY);
        assert_eq!(c.idempotency_memory, crate::store::IDEMPOTENCY_MEMORY);
        assert_eq!(c.persist_interval, Duration::from_secs(1));
        assert_eq!(c.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.idle_timeout, Duration::from_secs(240));
        assert_eq!(c.body_read_timeout, Duration::from_secs(30));
        assert_eq!(c.write_timeout, Duration::from_secs(30));
        assert!(c.state_file.is_none() && c.seed.is_none() && c.faults.is_none());
        assert_eq!(c.identity, IdentityMode::Permissive);
        assert_eq!(c.token_lifetime, Duration::from_secs(3600));
        assert_eq!(c.device_code_approve_after, Duration::ZERO);
        assert!(c.tls_dir.is_none());
        assert!(c.control_token.is_none());
        assert_eq!(c.durability, Durability::Interval);
        assert_eq!(
            c.job_retention,
            Retention(Some(Duration::from_secs(24 * 3600)))
        );
        assert_eq!(parse_retention("off"), Ok(Retention(None)));
    }

    #[test]
    fn a_control_token_is_never_printed_and_never_empty() {
        let c = Cli::parse_from(["pce", "--control-token", "s3cret"]).config;
        assert_eq!(c.control_token.as_ref().map(Secret::expose), Some("s3cret"));
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(Cli::try_parse_from(["pce", "--control-token", ""]).is_err());
        assert!(Cli::try_parse_from(["pce", "--control-token", "a b"]).is_err());
    }

    #[test]
    fn sizes_and_durations_parse_the_way_people_write_them() {
        assert_eq!(parse_size("32MiB"), Ok(32 << 20));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("1XB").is_err());
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn flags_override_defaults() {
        let c = Cli::parse_from([
            "pce",
            "--bind",
            "0.0.0.0:0",
            "--queued-for",
            "0s",
            "--auth",
            "off",
            "--strict-hardware-hash",
            "--log-format",
            "json",
            "--clock",
            "manual",
            "--clock-start",
            "2026-11-21T10:00:00Z",
        ])
        .config;
        assert_eq!(c.clock, ClockMode::Manual);
        assert_eq!(
            c.clock_start.map(|t| t.rfc3339()).as_deref(),
            Some("2026-11-21T10:00:00Z")
        );
        assert_eq!(c.bind, "0.0.0.0:0");
        assert_eq!(c.queued_for, Duration::ZERO);
        assert_eq!(c.auth, AuthMode::Off);
        assert!(c.strict_hardware_hash);
        assert_eq!(c.log_format, LogFormat::Json);
    }

    #[test]
    fn identity_flags_parse() {
        let c = Cli::parse_from([
            "pce",
            "--auth",
            "jwt",
            "--identity",
            "strict",
            "--token-lifetime",
            "5m",
            "--device-code-approve-after",
            "10s",
            "--tls-dir",
            "/var/lib/pce",
        ])
        .config;
        assert_eq!(c.auth, AuthMode::Jwt);
        assert_eq!(c.identity, IdentityMode::Strict);
        assert_eq!(c.token_lifetime, Duration::from_secs(300));
        assert_eq!(c.device_code_approve_after, Duration::from_secs(10));
        assert_eq!(c.tls_dir, Some(PathBuf::from("/var/lib/pce")));
    }
}
