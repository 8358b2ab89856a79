//! Answers written by a blocking task as they are made (a backup, an
//! export), through a bounded channel: a slow reader holds the writer back
//! rather than filling memory.

use std::io::{self, Write};

use tokio::sync::mpsc;

/// Bytes per chunk of the answer.
pub const CHUNK: usize = 256 * 1024;
/// Chunks that may wait for a slow reader: the writer waits beyond that.
const CHUNKS_WAITING: usize = 16;

/// One chunk, or the error that ends the answer.
pub type Chunk = Result<Vec<u8>, io::Error>;

/// The channel between the writing task and the answer's body.
pub fn channel() -> (mpsc::Sender<Chunk>, mpsc::Receiver<Chunk>) {
    mpsc::channel(CHUNKS_WAITING)
}

/// The answer's body: the chunks as they come; an error ends it short.
pub fn body(mut rx: mpsc::Receiver<Chunk>) -> axum::body::Body {
    axum::body::Body::from_stream(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

/// Sends what is written as chunks of the answer's body; fails once the
/// reader has gone. Call [`Write::flush`] at the end.
pub struct ToBody {
    tx: mpsc::Sender<Chunk>,
    buf: Vec<u8>,
}

impl ToBody {
    /// A writer into `tx` (from a thread that may block).
    pub fn new(tx: mpsc::Sender<Chunk>) -> ToBody {
        ToBody {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    /// Ends the answer with `error` (its body then breaks off).
    pub fn fail(&self, error: String) {
        let _ = self.tx.blocking_send(Err(io::Error::other(error)));
    }
}

impl Write for ToBody {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the client closed the connection",
            )
        })
    }
}
