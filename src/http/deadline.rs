//! Connection deadlines like a cloud front door's: a connection that sends nothing (new, or idle
//! between keep-alive requests) stays open for `--idle-timeout`, while a request whose first
//! byte has arrived has `header_read_timeout` for the rest of its headers (the slowloris guard).
//! hyper has one timer for both, which closed pooled connections after 10 s of quiet.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
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
    /// The head is complete and the request is being served: the body has its own timeout.
    Serving,
}

/// One connection's phase, shared by its transport (which sees bytes arrive) and its service
/// (which sees requests start and end), with the waker of the last read that found nothing.
#[derive(Debug)]
pub struct Phase(Mutex<(State, Option<Waker>)>);

impl Phase {
    pub fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new((State::Idle(Instant::now()), None))))
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        // The state is a plain value: a panic elsewhere cannot leave it half-written.
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner).0)
    }

    /// hyper has parsed a request's head and called the service.
    pub fn serving(&self) {
        self.with(|s| *s = State::Serving);
    }

    /// The service has answered: the connection waits for the next request. hyper may already
    /// be waiting to read (it reads while serving) with no deadline set, so its read is woken to
    /// set the idle one.
    pub fn answered(&self) {
        let waker = {
            let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            guard.0 = State::Idle(Instant::now());
            guard.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn waiting(&self, waker: &Waker) {
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut guard.1 {
            Some(w) if w.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }

    fn bytes_arrived(&self) {
        self.with(|s| {
            if let State::Idle(_) = s {
                *s = State::Head(Instant::now());
            }
        });
    }

    fn deadline(&self, limits: Limits) -> Option<Instant> {
        self.with(|s| match *s {
            State::Idle(since) => Some(since + limits.idle),
            State::Head(since) => Some(since + limits.head),
            State::Serving => None,
        })
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
        let first = phase.deadline(limits).unwrap_or_else(Instant::now);
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
        this.phase.waiting(cx.waker());
        let Some(deadline) = this.phase.deadline(this.limits) else {
            return Poll::Pending;
        };
        if this.sleep.deadline() != deadline {
            this.sleep.as_mut().reset(deadline);
        }
        match this.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle or request head incomplete past its timeout",
            ))),
            Poll::Pending => Poll::Pending,
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
