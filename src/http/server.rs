//! The accept loop: hyper connections with a header-read timeout, graceful shutdown that lets
//! in-flight requests finish, and `serve(listener, state, shutdown)` (plain HTTP) and
//! `serve_tls(listener, tls, state, shutdown)` (HTTPS) for binaries and tests alike.

use std::future::Future;
use std::time::Duration;

use std::sync::Arc;

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;

use super::write_timeout::WriteTimeout;
use tokio::net::TcpListener;

use axum::extract::Request;
use axum::response::Response;
use tokio_rustls::TlsAcceptor;

use super::deadline::{Limits, Phase, Timed};
use super::intercept::DropConnection;
use super::transport::Transport;
use super::{App, AppState, app};

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

fn drop_marked(response: Response) -> Result<Response, Dropped> {
    if response.extensions().get::<DropConnection>().is_some() {
        Err(Dropped)
    } else {
        Ok(response)
    }
}

/// How long shutdown waits for in-flight requests before it drops them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves the emulator over plain HTTP on `listener` until `shutdown` completes, then drains
/// connections.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    accept_loop(listener, None, state, shutdown).await
}

/// Serves the emulator over HTTPS (HTTP/1.1 on rustls) on `listener`, with the same routes,
/// limits and timeouts as [`serve`].
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    accept_loop(listener, Some(TlsAcceptor::from(tls)), state, shutdown).await
}

/// The app as one connection's hyper service, telling `phase` when a request is being served
/// and when it has been answered.
fn phased(
    app: App,
    transport: Transport,
    phase: Arc<Phase>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response,
    Error = Dropped,
    Future = impl Future<Output = Result<Response, Dropped>> + Send,
> + Clone
+ Send
+ 'static {
    hyper::service::service_fn(move |mut req: Request<Incoming>| {
        phase.serving();
        // Absent means plain HTTP, so only HTTPS requests pay for the extension.
        if transport != Transport::Http {
            req.extensions_mut().insert(transport);
        }
        let answer = app.answer(req);
        let phase = phase.clone();
        async move {
            let answer = answer.await;
            phase.answered();
            drop_marked(answer)
        }
    })
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // A quiet connection (new, or idle between keep-alive requests) stays open for
    // `idle_timeout`; once a request's first byte arrives it has `header_read_timeout` for its
    // headers (see `deadline`), which closes stalled (slowloris) connections. A TLS handshake
    // gets the header time, so a client that never finishes one cannot hold a connection either.
    let header_read_timeout = state.config.header_read_timeout;
    let write_timeout = state.config.write_timeout;
    let limits = Limits {
        idle: state.config.idle_timeout,
        head: header_read_timeout,
    };
    let transport = if tls.is_some() {
        Transport::Https
    } else {
        Transport::Http
    };
    let app = app(state);
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
        let builder = {
            let mut b = hyper::server::conn::http1::Builder::new();
            // hyper's own header timer also runs while idle: `deadline::Timed` replaces it.
            b.timer(TokioTimer::new()).header_read_timeout(None);
            b
        };
        let phase = Phase::new();
        let service = phased(app.clone(), transport, phase.clone());
        match &tls {
            None => {
                let stream = Timed::new(WriteTimeout::new(stream, write_timeout), phase, limits);
                let connection =
                    graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!("connection closed with an error: {e}");
                    }
                });
            }
            Some(acceptor) => {
                // The handshake runs in the connection's own task: a slow one must not hold up
                // the accept loop. Shutdown does not wait for handshakes, only for requests.
                let handshake = acceptor.accept(stream);
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(header_read_timeout, handshake).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            tracing::debug!("TLS handshake failed: {e}");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(
                                "TLS handshake not completed in {header_read_timeout:?}"
                            );
                            return;
                        }
                    };
                    let stream =
                        Timed::new(WriteTimeout::new(stream, write_timeout), phase, limits);
                    let connection =
                        watcher.watch(builder.serve_connection(TokioIo::new(stream), service));
                    if let Err(e) = connection.await {
                        tracing::debug!("connection closed with an error: {e}");
                    }
                });
            }
        }
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
