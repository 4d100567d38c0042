//! `GET /_emulator/state`, streamed: the state's snapshot is written to the connection as the
//! client reads it (a bounded channel between the serializer and the socket), so a client that
//! never reads holds a few buffers, its socket and the snapshot's pointers, not a serialized
//! copy of the state; the write timeout then closes it.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::body::Frame;
use tokio::sync::mpsc;

use crate::app::AppState;
use crate::http::respond::JSON_CONTENT_TYPE;

/// How much serialized JSON is handed to the connection at a time.
const CHUNK: usize = 64 * 1024;
/// Chunks waiting for the connection, per export.
const QUEUED: usize = 4;

/// `GET /_emulator/state`: the whole state as a seed document (`version` 2).
pub async fn export_state(State(state): State<AppState>) -> Response {
    let (tx, rx) = mpsc::channel::<Bytes>(QUEUED);
    tokio::task::spawn_blocking(move || {
        // On this thread too: the world gate waits for the requests under way to finish.
        let snapshot = state.snapshot();
        let mut writer = ChunkWriter {
            tx,
            buffer: Vec::with_capacity(CHUNK),
        };
        // An error here is the client going away: the channel closed, nothing to report.
        if serde_json::to_writer(&mut writer, &snapshot).is_ok() {
            let _ = std::io::Write::flush(&mut writer);
        }
    });
    let mut response = Body::new(Streamed(rx)).into_response();
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
    response
}

/// Serialized JSON, handed on a chunk at a time; blocks while the connection is behind.
struct ChunkWriter {
    tx: mpsc::Sender<Bytes>,
    buffer: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// The response body: the chunks as they come.
struct Streamed(mpsc::Receiver<Bytes>);

impl hyper::body::Body for Streamed {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}
