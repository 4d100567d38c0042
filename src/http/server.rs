//! The accept loop: hyper connections with a header-read timeout, graceful shutdown that lets
//! in-flight requests finish, and `serve(listener, state, shutdown)` for binaries and tests alike.

use std::future::Future;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use axum::response::Response;
use tower::ServiceExt;

use super::intercept::DropConnection;
use super::{AppState, app};

/// The error that makes hyper close a connection without answering (a `drop` fault).
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by a fault rule")
    }
}

impl std::error::Error for Dropped {}

impl From<std::convert::Infallible> for Dropped {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

fn drop_marked(result: Result<Response, std::convert::Infallible>) -> Result<Response, Dropped> {
    match result {
        Ok(response) if response.extensions().get::<DropConnection>().is_some() => Err(Dropped),
        Ok(response) => Ok(response),
        Err(never) => match never {},
    }
}

/// How long shutdown waits for in-flight requests before it drops them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves the emulator on `listener` until `shutdown` completes, then drains connections.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // A client has `header_read_timeout` to send each request's headers (hyper starts the clock
    // when it begins waiting, idle keep-alive included), which closes idle and stalled
    // (slowloris) connections instead of holding them open forever.
    let header_read_timeout = state.config.header_read_timeout;
    let app = app(state).map_result(drop_marked as fn(_) -> _);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // Out of descriptors and the like: back off briefly instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // EMULATOR: requests hyper cannot parse (bad header bytes, a request target over 64 KiB,
        // a head over its buffer) get hyper's bare 400/414/431, without the envelope.
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection closed with an error: {e}");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("shutdown grace period over; dropping open connections");
        }
    }
    Ok(())
}
