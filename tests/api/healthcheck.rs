//! The `healthcheck` subcommand, run as the compiled binary the way Docker's HEALTHCHECK runs it.

use std::process::Command;

use tokio::net::TcpListener;

use crate::helpers::*;

/// What one `partner-center-emulator healthcheck …` run printed and how it exited.
#[derive(Debug)]
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn healthcheck(args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let mut command = Command::new(env!("CARGO_BIN_EXE_partner-center-emulator"));
    command.arg("healthcheck").args(args);
    // Settings of the environment the tests run in must not leak into the child's defaults.
    for (key, _) in std::env::vars() {
        if key.starts_with("PCE_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    // Off the runtime's thread: the emulator under test is served by this same runtime.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the blocking task ran")
        .expect("the binary started");
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
    }
}

/// A loopback port with nothing listening on it.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("local addr").port()
}

fn assert_healthy(outcome: &Outcome, health_url: &str) {
    assert_eq!(outcome.code, Some(0), "{outcome:?}");
    let took = outcome
        .stdout
        .strip_prefix(&format!("healthy: {health_url} answered 200 OK in "))
        .and_then(|rest| rest.strip_suffix(" ms\n"));
    assert!(
        took.is_some_and(|ms| ms.parse::<u64>().is_ok()),
        "{outcome:?}"
    );
    assert_eq!(outcome.stderr, "");
}

#[tokio::test]
async fn a_running_emulator_is_healthy() {
    let app = spawn_app().await;
    let outcome = healthcheck(&["--url", &app.address], &[]).await;
    assert_healthy(&outcome, &app.url("/_emulator/health"));
}

#[tokio::test]
async fn the_default_url_is_the_bind_address_and_a_wildcard_bind_is_reached_on_loopback() {
    // The container image sets PCE_BIND=0.0.0.0:8080 and runs a bare `healthcheck`.
    let app = spawn_app().await;
    let port = app.address.rsplit(':').next().expect("a port");
    let bind = format!("0.0.0.0:{port}");
    let outcome = healthcheck(&[], &[("PCE_BIND", &bind)]).await;
    assert_healthy(
        &outcome,
        &format!("http://127.0.0.1:{port}/_emulator/health"),
    );
}

#[tokio::test]
async fn a_closed_port_is_unhealthy_and_says_the_connection_was_refused() {
    let port = closed_port().await;
    let outcome = healthcheck(&["--url", &format!("http://127.0.0.1:{port}")], &[]).await;
    assert_eq!(outcome.code, Some(1), "{outcome:?}");
    assert_eq!(outcome.stdout, "");
    // The rest is the operating system's wording ("Connection refused (os error 111)" on Linux).
    assert!(
        outcome
            .stderr
            .starts_with(&format!("unhealthy: cannot connect to 127.0.0.1:{port}: ")),
        "{outcome:?}"
    );
    assert!(
        outcome.stderr.to_lowercase().contains("refused"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_is_unhealthy_after_two_seconds() {
    // The kernel accepts the connection into the backlog, but nobody ever reads the request.
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = silent.local_addr().expect("local addr").port();
    let outcome = healthcheck(&["--url", &format!("http://127.0.0.1:{port}")], &[]).await;
    assert_eq!(outcome.code, Some(1), "{outcome:?}");
    assert_eq!(outcome.stdout, "");
    assert_eq!(
        outcome.stderr,
        format!("unhealthy: http://127.0.0.1:{port}/_emulator/health did not answer within 2s\n")
    );
    drop(silent);
}

#[tokio::test]
async fn an_answer_other_than_200_is_unhealthy() {
    let app = spawn_app().await;
    let outcome = healthcheck(&["--url", &app.url("/not-the-emulator/")], &[]).await;
    assert_eq!(outcome.code, Some(1), "{outcome:?}");
    assert_eq!(outcome.stdout, "");
    assert_eq!(
        outcome.stderr,
        format!(
            "unhealthy: {} answered 404 Not Found, expected 200 OK\n",
            app.url("/not-the-emulator/_emulator/health")
        )
    );
}

#[tokio::test]
async fn a_bad_url_is_unhealthy_and_named() {
    let outcome = healthcheck(&["--url", "https://127.0.0.1:8080"], &[]).await;
    assert_eq!(outcome.code, Some(1), "{outcome:?}");
    assert_eq!(
        outcome.stderr,
        "unhealthy: bad URL `https://127.0.0.1:8080`: scheme `https` is not supported; the emulator speaks plain http://\n"
    );
}
