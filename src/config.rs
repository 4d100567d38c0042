//! Command-line and environment configuration: every flag has a `PCE_*` twin.

use std::time::Duration;

use clap::{Parser, ValueEnum};

/// A local emulator of the Microsoft Partner Center device-deployment (Windows Autopilot) API.
#[derive(Debug, Clone, Parser)]
#[command(name = "partner-center-emulator", version, about, long_about = None)]
pub struct Config {
    /// Listen address; port 0 picks any free port (the chosen address is logged).
    #[arg(long, env = "PCE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,

    /// How long a new job stays `queued` (e.g. `0s`, `250ms`, `2s`).
    #[arg(long, env = "PCE_QUEUED_FOR", default_value = "1s", value_parser = parse_duration)]
    pub queued_for: Duration,

    /// How long a job then stays `processing` before it is terminal.
    #[arg(long, env = "PCE_PROCESSING_FOR", default_value = "2s", value_parser = parse_duration)]
    pub processing_for: Duration,

    /// `bearer`: Partner Center routes require `Authorization: Bearer <token>`; `off`: no check.
    #[arg(long, env = "PCE_AUTH", value_enum, default_value_t = AuthMode::Bearer)]
    pub auth: AuthMode,

    /// Fail devices whose hardware hash is not valid base64 with `InvalidZtdHardwareHash`.
    #[arg(long, env = "PCE_STRICT_HARDWARE_HASH")]
    pub strict_hardware_hash: bool,

    /// Request body limit (e.g. `32MiB`, `512KiB`, `1000000`).
    #[arg(long, env = "PCE_MAX_BODY", default_value = "32MiB", value_parser = parse_size)]
    pub max_body: u64,

    /// Log format: `text` or `json`.
    #[arg(long, env = "PCE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    Bearer,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    /// The defaults, without reading the command line or the environment.
    pub fn for_tests() -> Self {
        Self::parse_from(["partner-center-emulator"])
    }
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
    fn defaults_match_the_readme() {
        let c = Config::for_tests();
        assert_eq!(c.bind, "127.0.0.1:8080");
        assert_eq!(c.queued_for, Duration::from_secs(1));
        assert_eq!(c.processing_for, Duration::from_secs(2));
        assert_eq!(c.auth, AuthMode::Bearer);
        assert!(!c.strict_hardware_hash);
        assert_eq!(c.max_body, 32 << 20);
        assert_eq!(c.log_format, LogFormat::Text);
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
        let c = Config::parse_from([
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
        ]);
        assert_eq!(c.bind, "0.0.0.0:0");
        assert_eq!(c.queued_for, Duration::ZERO);
        assert_eq!(c.auth, AuthMode::Off);
        assert!(c.strict_hardware_hash);
        assert_eq!(c.log_format, LogFormat::Json);
    }
}
