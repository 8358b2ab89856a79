//! The forwarder: sends every entry of every origin the city holds to the
//! provincial platform (docs/province-interface.md), in seq order per origin,
//! at least once, with the exact signed bytes, so the province can verify
//! provenance itself.
//!
//! Each origin has its own loop, so one slow or failing origin never holds
//! the others back. The per-origin cursor (how many entries the province has
//! acknowledged) is durable in the store and advances only on the province's
//! acknowledgement; after a restart or a crash forwarding resumes from it,
//! and the province's de-duplication by `(origin, seq)` makes re-sent entries
//! harmless. Failures are retried with capped, jittered exponential backoff.
//! An entry the province refuses as invalid is never skipped: the origin's
//! forwarding stops there and the error is reported until it is resolved.
//!
//! Batches are cut by entry count and by the exact bytes of the request
//! body (module `batch`), within `forward.max_batch_bytes`. A province whose body
//! limit is lower answers 413: the batch is halved (or cut to the limit the
//! province states) and sent again at once, and later batches keep to the
//! smaller size. An entry that no allowed request can carry stops its
//! origin's forwarding ([`oversize`]) instead of being retried forever.

mod batch;
pub mod oversize;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::RngExt as _;
use rongxin_protocol::forward::{ForwardRequest, INTERFACE_MAX_BODY_BYTES, max_item_len};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use self::batch::{Batch, Cut, Limits};
use self::oversize::{Limit, TooLarge};
use crate::config::Forward;
use crate::ingest::now_ms;
use crate::metrics::{Metrics, OriginLabel};
use crate::store::Store;

/// Default `forward.max_batch_bytes`: half the interface's 32 MiB, so a
/// batch stays well inside the province's limit and its memory small,
/// while still carrying 47 entries of the largest size the protocol allows.
pub const DEFAULT_MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;
/// Smallest `forward.max_batch_bytes`: a request carrying one entry of the
/// protocol's largest size (`MAX_ENTRY_BYTES`, 65,535 bytes: 87,522 bytes
/// as a request item) with room for its envelope, so every entry the node
/// holds fits some request (kept at its earlier value, from when entries
/// could take 256 KiB).
pub const MIN_MAX_BATCH_BYTES: usize = 512 * 1024;
/// Largest `forward.max_batch_bytes`: a request body is held in memory.
pub const MAX_MAX_BATCH_BYTES: usize = 256 * 1024 * 1024;
/// Room a request's envelope (format, sender, origin, checkpoint note) may
/// take beside its largest entry.
const ENVELOPE_ROOM: usize = 16 * 1024;
const _: () = assert!(MIN_MAX_BATCH_BYTES >= max_item_len() + ENVELOPE_ROOM);
const _: () = assert!(DEFAULT_MAX_BATCH_BYTES <= INTERFACE_MAX_BODY_BYTES);

/// How often an origin stopped by the province's body limit tries its
/// entry again: one request now and then, in case the limit was raised.
const PROBE_TOO_LARGE: Duration = Duration::from_secs(600);

/// Checks `forward.max_batch_bytes` (default [`DEFAULT_MAX_BATCH_BYTES`]).
pub fn check_max_batch_bytes(value: Option<usize>) -> Result<usize, String> {
    let v = value.unwrap_or(DEFAULT_MAX_BATCH_BYTES);
    if (MIN_MAX_BATCH_BYTES..=MAX_MAX_BATCH_BYTES).contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "forward.max_batch_bytes = {v} is out of range: give {MIN_MAX_BATCH_BYTES}..={MAX_MAX_BATCH_BYTES} bytes (at least one entry of the largest size must fit; the province interface states {INTERFACE_MAX_BODY_BYTES}), or omit it for {DEFAULT_MAX_BATCH_BYTES}"
        ))
    }
}

/// First retry delay; doubles per failure up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// Longest retry delay.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often an idle origin checks for new entries.
const IDLE_POLL: Duration = Duration::from_millis(300);

/// Why a batch was not acknowledged.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("the province holds {origin} only up to {expected_from}; resending from there")]
    Gap { origin: String, expected_from: u64 },
    #[error("the province refused {origin} entry {seq}: {message}")]
    Invalid {
        origin: String,
        seq: u64,
        message: String,
    },
    #[error("the province holds a different {origin} entry: {message}")]
    Conflict { origin: String, message: String },
    #[error("the province answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("cannot reach the province: {0}")]
    Transport(String),
    #[error(
        "the province refused a request of {request_bytes} bytes ({entries} entries of {origin} from {first}) as over its body limit{}; sending smaller batches",
        limit_bytes.map(|l| format!(" of {l} bytes")).unwrap_or_default()
    )]
    OverProvinceLimit {
        origin: String,
        first: u64,
        entries: usize,
        request_bytes: usize,
        limit_bytes: Option<usize>,
    },
    #[error("{0}")]
    TooLarge(Box<TooLarge>),
    #[error("cannot encode the request: {0}")]
    Encode(#[from] serde_json::Error),
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// A batch was acknowledged.
    Sent,
    /// Nothing to send.
    Idle,
}

/// What the forwarder knows about one origin.
#[derive(Debug, Clone, Default)]
struct OriginView {
    forwarded: u64,
    held: u64,
    level_ms: Option<i64>,
    last_success_ms: Option<i64>,
    last_error: Option<String>,
}

/// Forwarding state shared with the HTTP API.
#[derive(Debug, Default)]
pub struct ForwardStatus {
    origins: Mutex<BTreeMap<String, OriginView>>,
}

impl ForwardStatus {
    fn update(&self, origin: &str, f: impl FnOnce(&mut OriginView)) {
        let mut o = self.origins.lock().unwrap_or_else(|p| p.into_inner());
        f(o.entry(origin.to_owned()).or_default());
    }

    /// Per origin: entries forwarded (for the node's view, docs/protocol.md §8.1).
    pub fn cursors(&self) -> Vec<(String, u64)> {
        let o = self.origins.lock().unwrap_or_else(|p| p.into_inner());
        o.iter()
            .map(|(origin, v)| (origin.clone(), v.forwarded))
            .collect()
    }

    /// Per origin: held, forwarded, the last error (for the console).
    pub fn rows(&self) -> Vec<rongxin_protocol::api::ForwardingRow> {
        let o = self.origins.lock().unwrap_or_else(|p| p.into_inner());
        o.iter()
            .map(|(origin, v)| rongxin_protocol::api::ForwardingRow {
                origin: origin.clone(),
                held: v.held,
                forwarded: v.forwarded,
                last_error: v.last_error.clone(),
            })
            .collect()
    }

    /// Per origin: forwarded up to, held, lag in entries and seconds, last success, last error.
    pub fn to_json(&self) -> Value {
        let now = now_ms();
        let o = self.origins.lock().unwrap_or_else(|p| p.into_inner());
        Value::Array(
            o.iter()
                .map(|(origin, v)| {
                    let lag = v.held.saturating_sub(v.forwarded);
                    json!({
                        "origin": origin,
                        "forwarded": v.forwarded,
                        "held": v.held,
                        "lag_entries": lag,
                        "lag_seconds": if lag == 0 { 0.0 } else { v.level_ms.map_or(f64::NAN, |t| (now - t) as f64 / 1000.0) },
                        "last_success_seconds": v.last_success_ms.map(|t| (now - t) as f64 / 1000.0),
                        "last_error": v.last_error,
                    })
                })
                .collect(),
        )
    }
}

/// The forwarder of the city node.
#[derive(Debug)]
pub struct Forwarder {
    store: Store,
    config: Forward,
    sender: String,
    client: reqwest::Client,
    metrics: Metrics,
    /// The largest body the province is known to take below the configured
    /// budget, learned from its 413 answers (`usize::MAX`: none learned).
    /// Shared by every origin, so each need not find it out again.
    province_limit: AtomicUsize,
    /// Forwarding state for status and metrics.
    pub status: Arc<ForwardStatus>,
}

impl Forwarder {
    /// A forwarder for `config`, sending as member `sender`.
    pub fn new(
        store: Store,
        config: Forward,
        sender: String,
        metrics: Metrics,
    ) -> anyhow::Result<Forwarder> {
        let mut b = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10))
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .https_only(config.ca_pem.is_some());
        if let Some(ca) = &config.ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(ca)? {
                b = b.add_root_certificate(cert);
            }
        }
        if let Some(id) = &config.identity_pem {
            b = b.identity(reqwest::Identity::from_pem(id)?);
        }
        Ok(Forwarder {
            store,
            config,
            sender,
            client: b.build()?,
            metrics,
            province_limit: AtomicUsize::new(usize::MAX),
            status: Arc::new(ForwardStatus::default()),
        })
    }

    /// Starts a loop per origin held, now and as new origins appear.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let mut running = HashSet::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let Ok(states) = self.store.log_states() else {
                continue;
            };
            for (origin, _) in states {
                if running.insert(origin.clone()) {
                    tokio::spawn(self.clone().origin_loop(origin, cancel.child_token()));
                }
            }
        }
    }

    async fn origin_loop(self: Arc<Self>, origin: String, cancel: CancellationToken) {
        let mut backoff = MIN_BACKOFF;
        // The stop last reported, so that it is logged and counted once.
        let mut reported: Option<TooLarge> = None;
        loop {
            if cancel.is_cancelled() {
                return;
            }
            let wait = match self.step(&origin).await {
                Ok(Progress::Sent) => {
                    backoff = MIN_BACKOFF;
                    reported = None;
                    Duration::ZERO
                }
                Ok(Progress::Idle) => IDLE_POLL,
                Err(SendError::TooLarge(t)) => {
                    let wait = match t.limit {
                        // Nothing changes until the config does: re-check
                        // without sending, to keep the status current.
                        Limit::Configured => MAX_BACKOFF,
                        Limit::Province => PROBE_TOO_LARGE,
                    };
                    self.report_too_large(&origin, *t, &mut reported).await;
                    wait
                }
                Err(e) => {
                    let over_limit = matches!(e, SendError::OverProvinceLimit { .. });
                    tracing::warn!(%origin, error = %e, retry_in = ?backoff, "forwarding failed");
                    self.metrics.count_forward_error(&origin);
                    self.status
                        .update(&origin, |v| v.last_error = Some(e.to_string()));
                    if matches!(e, SendError::Gap { .. }) || over_limit {
                        // Resent at once: from where the province holds, or
                        // smaller; neither can repeat without end.
                        Duration::ZERO
                    } else {
                        let jittered = backoff.mul_f64(rand::rng().random_range(0.5..1.5));
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        jittered
                    }
                }
            };
            if !wait.is_zero() {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }

    /// Reports that `origin` stopped at an entry too large for any request:
    /// the first time (per entry and limit) as an error log, a metric, the
    /// status's last error and stored evidence; later checks quietly.
    async fn report_too_large(&self, origin: &str, t: TooLarge, reported: &mut Option<TooLarge>) {
        let message = t.to_string();
        self.status
            .update(origin, |v| v.last_error = Some(message.clone()));
        if reported
            .as_ref()
            .is_some_and(|r| r.seq == t.seq && r.limit == t.limit && r.limit_bytes == t.limit_bytes)
        {
            tracing::debug!(%origin, seq = t.seq, "still stopped at an entry too large to forward");
            return;
        }
        tracing::error!(
            %origin,
            seq = t.seq,
            entry_bytes = t.entry_bytes,
            request_bytes = t.request_bytes,
            limit = ?t.limit,
            limit_bytes = ?t.limit_bytes,
            "forwarding stopped at an entry too large to send: {message}"
        );
        self.metrics
            .forward_too_large
            .get_or_create(&OriginLabel {
                origin: origin.to_owned(),
            })
            .inc();
        // Kept once across restarts: the same stop found again is not new.
        let stored = self
            .store
            .evidence()
            .map(|all| all.iter().any(|v| t.same_as(v)));
        let result = match stored {
            Ok(true) => Ok(()),
            Ok(false) => match serde_json::to_value(&t) {
                Ok(v) => {
                    let mut batch = crate::store::WriteBatch::default();
                    batch.put_evidence(origin, &v);
                    self.store
                        .commit(batch, crate::store::Durability::Durable)
                        .await
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            tracing::error!(%origin, error = %e, "cannot store the evidence of an entry too large to forward");
        }
        *reported = Some(t);
    }

    /// The limits of the next cut.
    fn limits(&self) -> Limits {
        let hard = self.config.max_batch_bytes;
        Limits {
            entries: self.config.batch as u64,
            soft: hard.min(self.province_limit.load(Ordering::Relaxed)),
            hard,
        }
    }

    /// Sends the next batch of `origin`, if any.
    async fn step(&self, origin: &str) -> Result<Progress, SendError> {
        let store_err = |e: crate::store::StoreError| SendError::Transport(e.to_string());
        let cursor = self.store.forward_cursor(origin).map_err(store_err)?;
        let Some(log) = self.store.log_state(origin).map_err(store_err)? else {
            return Ok(Progress::Idle);
        };
        let now = now_ms();
        self.status.update(origin, |v| {
            v.forwarded = cursor;
            v.held = log.size;
            if cursor >= log.size {
                v.level_ms = Some(now);
            }
        });
        self.metrics
            .set_forward(origin, cursor, log.size.saturating_sub(cursor));
        if cursor >= log.size || log.checkpoint.is_empty() {
            return Ok(Progress::Idle);
        }
        let request = ForwardRequest::new(&self.sender, origin, &log.checkpoint, Vec::new());
        let mut limits = self.limits();
        limits.entries = limits.entries.min(log.size - cursor);
        let cut = batch::cut(request, cursor, limits, |from, n| {
            self.store.entries(origin, from, n).map_err(store_err)
        })?;
        let mut batch = match cut {
            None => return Ok(Progress::Idle),
            Some(Cut::Batch(b)) => b,
            Some(Cut::TooLarge {
                seq,
                entry_bytes,
                request_bytes,
            }) => {
                return Err(SendError::TooLarge(Box::new(TooLarge::new(
                    origin,
                    seq,
                    entry_bytes,
                    request_bytes,
                    Limit::Configured,
                    Some(self.config.max_batch_bytes),
                    PROBE_TOO_LARGE,
                ))));
            }
        };
        let body = std::mem::take(&mut batch.body);
        match self.send(origin, &batch, body).await {
            Ok(acked) => {
                // The province took this size: what it takes is at least this.
                self.province_limit.fetch_max(batch.len, Ordering::Relaxed);
                if self.province_limit.load(Ordering::Relaxed) >= self.config.max_batch_bytes {
                    self.province_limit.store(usize::MAX, Ordering::Relaxed);
                }
                self.set_cursor(origin, acked).await?;
                self.metrics
                    .forwarded_entries
                    .inc_by(acked.saturating_sub(cursor));
                let now = now_ms();
                self.status.update(origin, |v| {
                    v.forwarded = acked;
                    v.last_success_ms = Some(now);
                    v.last_error = None;
                    if acked >= v.held {
                        v.level_ms = Some(now);
                    }
                });
                tracing::debug!(%origin, from = cursor, acked, bytes = batch.len, "forwarded");
                Ok(Progress::Sent)
            }
            Err(SendError::Gap {
                origin: o,
                expected_from,
            }) => {
                self.set_cursor(origin, expected_from).await?;
                Err(SendError::Gap {
                    origin: o,
                    expected_from,
                })
            }
            Err(SendError::OverProvinceLimit {
                request_bytes,
                limit_bytes,
                ..
            }) if batch.count == 1 => Err(SendError::TooLarge(Box::new(TooLarge::new(
                origin,
                batch.first,
                batch.first_entry_bytes,
                request_bytes,
                Limit::Province,
                limit_bytes,
                PROBE_TOO_LARGE,
            )))),
            Err(
                e @ SendError::OverProvinceLimit {
                    request_bytes,
                    limit_bytes,
                    ..
                },
            ) => {
                // The limit the province states, if it is below what was
                // sent; otherwise half: either way strictly smaller, so this
                // ends at a single entry.
                let next = match limit_bytes {
                    Some(l) if l < request_bytes => l,
                    _ => request_bytes / 2,
                };
                self.province_limit.fetch_min(next, Ordering::Relaxed);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Sets and flushes the forward cursor of `origin`.
    async fn set_cursor(&self, origin: &str, cursor: u64) -> Result<(), SendError> {
        let mut batch = crate::store::WriteBatch::default();
        batch.set_forward_cursor(origin, cursor);
        self.store
            .commit(batch, crate::store::Durability::Durable)
            .await
            .map_err(|e| SendError::Transport(e.to_string()))
    }

    async fn send(&self, origin: &str, batch: &Batch, body: Vec<u8>) -> Result<u64, SendError> {
        let url = format!("{}/v1/entries", self.config.url);
        let resp = self
            .client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::Transport(format!("{url}: {}", error_chain(&e))))?;
        let status = resp.status().as_u16();
        let answer: Value = resp.json().await.unwrap_or(Value::Null);
        let err = &answer["error"];
        let message = err["message"].as_str().unwrap_or("(no message)").to_owned();
        match (status, err["code"].as_str()) {
            (200, _) => answer["acked_through"]
                .as_u64()
                .ok_or_else(|| SendError::Status {
                    status,
                    message: "no acked_through in the answer".into(),
                }),
            (409, Some("gap")) => Err(SendError::Gap {
                origin: origin.to_owned(),
                expected_from: err["expected_from"].as_u64().unwrap_or(0),
            }),
            (409, _) => Err(SendError::Conflict {
                origin: origin.to_owned(),
                message,
            }),
            (413, _) => Err(SendError::OverProvinceLimit {
                origin: origin.to_owned(),
                first: batch.first,
                entries: batch.count,
                request_bytes: batch.len,
                limit_bytes: err["limit_bytes"]
                    .as_u64()
                    .and_then(|l| usize::try_from(l).ok()),
            }),
            (422, _) => Err(SendError::Invalid {
                origin: origin.to_owned(),
                seq: err["seq"].as_u64().unwrap_or(0),
                message,
            }),
            _ => Err(SendError::Status { status, message }),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
