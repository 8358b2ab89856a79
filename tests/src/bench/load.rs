//! Sample records and the ingest driver: client threads, each with its own
//! keep-alive HTTP connection (ureq), posting prepared JSON Lines bodies to
//! `POST /v1/records` and timing each acknowledgement with the monotonic
//! clock. The node answers only after the records are flushed to disk, so
//! an acknowledgement is a durable record.

use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::Client;

/// One request body: `records` records as JSON Lines.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The body.
    pub body: Vec<u8>,
    /// Records in it.
    pub records: usize,
}

/// Hands batches to client threads until there are no more.
pub trait Batches: Sync {
    /// The next batch, or `None` when done.
    fn next(&self) -> Option<Batch>;
}

/// Batches prepared in memory, so that clients spend nothing on them while measured.
#[derive(Debug)]
pub struct MemoryBatches {
    batches: Vec<Batch>,
    next: AtomicUsize,
}

impl MemoryBatches {
    /// `lines` (JSON Lines records) cut into batches of `size`.
    pub fn new(lines: &[String], size: usize) -> MemoryBatches {
        let batches = lines
            .chunks(size.max(1))
            .map(|chunk| {
                let mut body = Vec::with_capacity(chunk.iter().map(|l| l.len() + 1).sum());
                for l in chunk {
                    body.extend_from_slice(l.as_bytes());
                    body.push(b'\n');
                }
                Batch {
                    body,
                    records: chunk.len(),
                }
            })
            .collect();
        MemoryBatches {
            batches,
            next: AtomicUsize::new(0),
        }
    }
}

impl Batches for MemoryBatches {
    fn next(&self) -> Option<Batch> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.batches.get(i).cloned()
    }
}

/// Batches read from a JSON Lines file as clients ask (for loads too large
/// to hold in memory). Every `sample_every`-th record's subject code is kept.
#[derive(Debug)]
pub struct FileBatches {
    inner: Mutex<FileInner>,
    size: usize,
    sample_every: usize,
}

#[derive(Debug)]
struct FileInner {
    reader: BufReader<File>,
    seen: usize,
    subjects: Vec<String>,
}

impl FileBatches {
    /// Batches of `size` records from `path`.
    pub fn open(path: &Path, size: usize, sample_every: usize) -> FileBatches {
        let f = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        FileBatches {
            inner: Mutex::new(FileInner {
                reader: BufReader::with_capacity(1 << 20, f),
                seen: 0,
                subjects: Vec::new(),
            }),
            size: size.max(1),
            sample_every: sample_every.max(1),
        }
    }

    /// Subject codes of the sampled records read so far.
    pub fn subjects(&self) -> Vec<String> {
        self.inner.lock().expect("reader lock").subjects.clone()
    }
}

impl Batches for FileBatches {
    fn next(&self) -> Option<Batch> {
        let mut body = Vec::new();
        let mut records = 0;
        let mut inner = self.inner.lock().expect("reader lock");
        while records < self.size {
            let start = body.len();
            match inner.reader.read_until(b'\n', &mut body) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => panic!("read sample records: {e}"),
            }
            if body[start..].iter().all(u8::is_ascii_whitespace) {
                body.truncate(start);
                continue;
            }
            if inner.seen.is_multiple_of(self.sample_every)
                && let Some(code) = subject_of(&body[start..])
            {
                inner.subjects.push(code);
            }
            inner.seen += 1;
            records += 1;
        }
        (records > 0).then_some(Batch { body, records })
    }
}

/// The subject code of one JSON record line.
pub fn subject_of(line: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(line).ok()?;
    v["subject"]["code"].as_str().map(str::to_owned)
}

/// Reads a JSON Lines file into lines.
pub fn read_lines(path: &Path) -> Vec<String> {
    let f = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    BufReader::new(f)
        .lines()
        .map(|l| l.expect("read a sample line"))
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// What an ingest run achieved.
#[derive(Debug, Clone, Default)]
pub struct IngestRun {
    /// Records acknowledged as accepted.
    pub accepted: u64,
    /// Requests answered.
    pub requests: u64,
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// Acknowledgement latency of every request, sorted.
    pub latencies: Vec<Duration>,
}

impl IngestRun {
    /// Accepted records per second.
    pub fn rate(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Posts every batch of `source` to the node at `addr` from `clients`
/// threads; stops taking new batches at `until`. Panics if any record is
/// not accepted (the generator makes only valid, distinct records).
pub fn ingest(
    addr: SocketAddr,
    token: &str,
    source: &dyn Batches,
    clients: usize,
    until: Option<Instant>,
) -> IngestRun {
    let start = Instant::now();
    let results: Vec<(u64, Vec<Duration>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients.max(1))
            .map(|_| {
                s.spawn(move || {
                    let client = Client::new(addr);
                    let mut accepted = 0u64;
                    let mut lat = Vec::new();
                    while until.is_none_or(|u| Instant::now() < u) {
                        let Some(batch) = source.next() else { break };
                        let t = Instant::now();
                        let reply = client
                            .try_post(
                                "/v1/records",
                                Some(token),
                                Some("application/x-ndjson"),
                                &batch.body,
                            )
                            .unwrap_or_else(|e| panic!("POST /v1/records: {e}"));
                        lat.push(t.elapsed());
                        assert_eq!(
                            reply.status, 200,
                            "ingest answered {}: {}",
                            reply.status, reply.body
                        );
                        let n = accepted_count(&reply.body);
                        assert_eq!(
                            n,
                            batch.records as u64,
                            "not every record was accepted: {}",
                            &reply.body[..reply.body.len().min(2000)]
                        );
                        accepted += n;
                    }
                    (accepted, lat)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a client thread panicked"))
            .collect()
    });
    let elapsed = start.elapsed();
    let mut run = IngestRun {
        elapsed,
        ..IngestRun::default()
    };
    for (n, lat) in results {
        run.accepted += n;
        run.requests += lat.len() as u64;
        run.latencies.extend(lat);
    }
    run.latencies.sort_unstable();
    run
}

/// `accepted` of an ingest answer, read without parsing the per-record results.
fn accepted_count(body: &str) -> u64 {
    let Some(i) = body.find("\"accepted\":") else {
        return 0;
    };
    body[i + 11..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or(0)
}

/// Loads `path` into the node at `addr` with 8 clients and batches of 1000
/// (the fastest durable setting); returns the run and sampled subject codes.
pub fn load_file(addr: SocketAddr, token: &str, path: &Path) -> (IngestRun, Vec<String>) {
    let source = FileBatches::open(path, 1000, 97);
    let run = ingest(addr, token, &source, 8, None);
    (run, source.subjects())
}

/// Polls `f` every 20 ms until it returns true; panics with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if f() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
