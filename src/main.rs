//! The `partner-center-emulator` binary: parse configuration, then serve until a signal.

use std::process::ExitCode;

use clap::Parser;
use partner_center_emulator::config::{Cli, Command};
use partner_center_emulator::{healthcheck, startup, telemetry, tls};

#[tokio::main]
async fn main() -> ExitCode {
    let Cli { command, config } = Cli::parse();
    match command {
        Some(Command::Healthcheck { url }) => {
            let url = url.unwrap_or_else(|| format!("http://{}", config.bind));
            return healthcheck::run(&url).await;
        }
        Some(Command::Ca { dir }) => {
            let printed = tls::resolve_dir(dir.or(config.tls_dir).as_deref())
                .and_then(|dir| tls::ca_pem(&dir));
            return match printed {
                Ok(pem) => {
                    print!("{pem}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("partner-center-emulator ca: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        None => {}
    }
    telemetry::init(config.log_format);
    match startup::run(config, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("partner-center-emulator: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on Ctrl-C or SIGTERM (what `docker stop` sends to PID 1).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
