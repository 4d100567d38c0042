//! Connection deadlines like a cloud front door's: a connection that sends nothing (new, or idle
//! between keep-alive requests) stays open for `--idle-timeout`, while a request whose first
//! byte has arrived has `header_read_timeout` for the rest of its headers (the slowloris guard).
//! hyper has one timer for both, which closed pooled connections after 10 s of quiet.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Where a connection is between requests.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Nothing of a request has arrived since this instant.
    Idle(Instant),
    /// The first byte of a request's head arrived at this instant.
    Head(Instant),
    /// The head is complete and the request is being served (the body has its own timeout),
    /// since this instant or the last check-back.
    Serving(Instant),
}

/// What the transport's timer is set for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    /// The connection closes at this instant unless a byte arrives first.
    Close(Instant),
    /// Nothing closes the connection while it is served; the timer only makes its read look at
    /// the phase again at this instant, in case it is idle by then.
    CheckBack(Instant),
}

impl Due {
    fn at(self) -> Instant {
        let (Self::Close(at) | Self::CheckBack(at)) = self;
        at
    }
}

/// One connection's phase, shared by its transport (which sees bytes arrive) and its service
/// (which sees requests start and end).
#[derive(Debug)]
pub struct Phase(Mutex<State>);

impl Phase {
    pub fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(State::Idle(Instant::now()))))
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        // The state is a plain value: a panic elsewhere cannot leave it half-written.
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// hyper has parsed a request's head and called the service.
    pub fn serving(&self) {
        self.with(|s| *s = State::Serving(Instant::now()));
    }

    /// The service has answered: the connection waits for the next request.
    ///
    /// hyper may already be waiting to read (it reads while serving, to see a client leave), and
    /// may not read again before the next request's bytes arrive. That read's timer was set, while
    /// serving, to check back one idle timeout after serving began: it fires no earlier than the
    /// idle deadline counted from now, and its read then sets that deadline. The read is not woken
    /// here: that woke the connection's task a second time for every request.
    pub fn answered(&self) {
        self.with(|s| *s = State::Idle(Instant::now()));
    }

    fn bytes_arrived(&self) {
        self.with(|s| {
            if let State::Idle(_) = s {
                *s = State::Head(Instant::now());
            }
        });
    }

    fn due(&self, limits: Limits) -> Due {
        self.with(|s| match *s {
            State::Idle(since) => Due::Close(since + limits.idle),
            State::Head(since) => Due::Close(since + limits.head),
            State::Serving(since) => Due::CheckBack(since + limits.idle),
        })
    }

    /// A check-back came while the request is still being served: the next is one idle timeout
    /// from now.
    fn still_serving(&self) {
        self.with(|s| {
            if let State::Serving(since) = s {
                *since = Instant::now();
            }
        });
    }
}

/// The two timeouts of a connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub idle: Duration,
    pub head: Duration,
}

/// A transport whose reads fail with `TimedOut` once the phase's deadline passes, which makes
/// hyper close the connection without an answer.
pub struct Timed<T> {
    io: T,
    phase: Arc<Phase>,
    limits: Limits,
    sleep: Pin<Box<Sleep>>,
}

impl<T> Timed<T> {
    pub fn new(io: T, phase: Arc<Phase>, limits: Limits) -> Self {
        let first = phase.due(limits).at();
        Self {
            io,
            phase,
            limits,
            sleep: Box::pin(tokio::time::sleep_until(first)),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Timed<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.phase.bytes_arrived();
                }
                return Poll::Ready(Ok(()));
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {}
        }
        loop {
            let due = this.phase.due(this.limits);
            let at = due.at();
            if this.sleep.deadline() != at {
                // Later than the timer's registration in the common case (each request's deadline
                // follows the last one's): tokio extends such a timer without re-registering it.
                this.sleep.as_mut().reset(at);
            }
            if this.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            match due {
                Due::Close(_) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection idle or request head incomplete past its timeout",
                    )));
                }
                Due::CheckBack(_) => this.phase.still_serving(),
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Timed<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
