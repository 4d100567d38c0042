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

/// Completes on Ctrl-C or SIGTERM (what `docker stop` sends to PID 1). The handlers are
/// installed when this is called, before start-up: a signal that came while the state was being
/// restored, or just after the address was logged, once killed the process without its final
/// save (the default action), and now stops it gracefully as soon as it serves.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => {}
                () = wait(terminate) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down");
    }
}
