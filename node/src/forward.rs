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

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand::Rng as _;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::config::Forward;
use crate::ingest::now_ms;
use crate::metrics::Metrics;
use crate::store::Store;

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
        loop {
            if cancel.is_cancelled() {
                return;
            }
            let wait = match self.step(&origin).await {
                Ok(true) => {
                    backoff = MIN_BACKOFF;
                    Duration::ZERO
                }
                Ok(false) => IDLE_POLL,
                Err(e) => {
                    tracing::warn!(%origin, error = %e, retry_in = ?backoff, "forwarding failed");
                    self.metrics.count_forward_error(&origin);
                    self.status
                        .update(&origin, |v| v.last_error = Some(e.to_string()));
                    let jittered = backoff.mul_f64(rand::thread_rng().gen_range(0.5..1.5));
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    if matches!(e, SendError::Gap { .. }) {
                        Duration::ZERO
                    } else {
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

    /// Sends the next batch of `origin`, if any. Returns whether it sent one.
    async fn step(&self, origin: &str) -> Result<bool, SendError> {
        let store_err = |e: crate::store::StoreError| SendError::Transport(e.to_string());
        let cursor = self.store.forward_cursor(origin).map_err(store_err)?;
        let Some(log) = self.store.log_state(origin).map_err(store_err)? else {
            return Ok(false);
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
            return Ok(false);
        }
        let entries = self
            .store
            .entries(origin, cursor, self.config.batch as u64)
            .map_err(store_err)?;
        if entries.is_empty() {
            return Ok(false);
        }
        let items: Vec<Value> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| json!({"seq": cursor + i as u64, "entry": B64.encode(&e.bytes), "signature": B64.encode(e.signature)}))
            .collect();
        let body = json!({
            "format": "rongxin-forward/1",
            "sender": self.sender,
            "origin": origin,
            "checkpoint": log.checkpoint,
            "entries": items,
        });
        match self.send(origin, &body).await {
            Ok(acked) => {
                self.store
                    .set_forward_cursor(origin, acked)
                    .await
                    .map_err(store_err)?;
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
                tracing::debug!(%origin, from = cursor, acked, "forwarded");
                Ok(true)
            }
            Err(SendError::Gap {
                origin: o,
                expected_from,
            }) => {
                self.store
                    .set_forward_cursor(origin, expected_from)
                    .await
                    .map_err(store_err)?;
                Err(SendError::Gap {
                    origin: o,
                    expected_from,
                })
            }
            Err(e) => Err(e),
        }
    }

    async fn send(&self, origin: &str, body: &Value) -> Result<u64, SendError> {
        let url = format!("{}/v1/entries", self.config.url);
        let resp = self
            .client
            .post(&url)
            .json(body)
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
