//! Logs and provenance: checkpoints, entry ranges, consistency proofs and
//! provenance bundles, for any origin this node holds.
//!
//! Checkpoints and consistency proofs carry no record content and are
//! public. Entries and bundles carry it, so they follow
//! [`crate::query::entry_rule`]: an entry the caller may not read is served
//! without its bytes (its leaf hash still lets anyone check the tree), a
//! bundle of it is refused, and every read of non-public bytes is
//! registered in the query log. Every store read runs off the async
//! runtime, so that large answers do not stall `/healthz`.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
pub use rongxin_protocol::api::{ConsistencyAnswer, EntriesAnswer, EntryItem};
use rongxin_protocol::bundle::{Bundle, BundleHandover};
use rongxin_protocol::entry::{Entry, Op};
use rongxin_protocol::merkle;
use serde::Deserialize;
use tokio::sync::Semaphore;

use super::extract::{Path, Query};
use super::{ApiError, AppState, reader, remote};
use crate::ingest::now_ms;
use crate::query::{ContentRead, entry_rule, register_read, who_may_read};
use crate::store::LogState;

/// Most entries one range request returns.
pub const MAX_ENTRIES_PER_REQUEST: u64 = 1000;
/// Most entry bytes one range answer carries (before base64): past this the
/// answer stops early, says `truncated`, and `next` continues.
pub const MAX_ENTRY_BYTES_PER_ANSWER: usize = 4 * 1024 * 1024;
/// Entries read from the store at a time while filling an answer, so that
/// the byte cap bounds memory too.
const READ_CHUNK: u64 = 32;

/// The bound on reads running at once on the blocking pool: one per core.
/// More would not answer sooner, only starve everything else of CPU (the
/// blocking pool itself would start hundreds of threads); further requests
/// wait for a permit without holding a thread.
fn read_permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| {
        Semaphore::new(
            std::thread::available_parallelism()
                .map_or(2, std::num::NonZeroUsize::get)
                .max(2),
        )
    })
}

/// Runs `f` (store reads, proofs, serialising large answers) on the
/// blocking pool, at most [`read_permits`] at a time, so that the async
/// runtime stays free for `/healthz` and small requests.
pub(super) async fn off_runtime<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let internal = |e: String| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("a store read failed: {e}"),
        )
    };
    let _permit = read_permits()
        .acquire()
        .await
        .map_err(|e| internal(e.to_string()))?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| internal(e.to_string()))?
}

fn log_state(state: &AppState, origin: &str) -> Result<LogState, ApiError> {
    state
        .store
        .log_state(origin)?
        .ok_or_else(|| ApiError::not_found(format!("this node holds no log of '{origin}'")))
}

/// `GET /v1/logs/{origin}/checkpoint`.
pub async fn get_checkpoint(
    State(state): State<Arc<AppState>>,
    Path(origin): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let log = log_state(&state, &origin)?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        log.checkpoint,
    ))
}

/// Query of `GET /v1/logs/{origin}/entries`.
#[derive(Debug, Deserialize)]
pub struct RangeQuery {
    #[serde(default)]
    from: u64,
    #[serde(default = "default_limit")]
    limit: u64,
    #[serde(default)]
    purpose: String,
}

fn default_limit() -> u64 {
    100
}

/// `GET /v1/logs/{origin}/entries?from=&limit=&purpose=`.
pub async fn get_entries(
    State(state): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(origin): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, ApiError> {
    if q.limit == 0 || q.limit > MAX_ENTRIES_PER_REQUEST {
        return Err(ApiError::bad_request(format!(
            "limit must be 1..={MAX_ENTRIES_PER_REQUEST}"
        )));
    }
    let (access, who, _) = reader(&state, &headers)?;
    let log = log_state(&state, &origin)?;
    let remote = remote(Some(addr));
    off_runtime(move || {
        let end = q.from.saturating_add(q.limit).min(log.size);
        let catalog = &state.shared.catalog;
        let suite = state.shared.roster().roster.suite;
        let mut entries = Vec::new();
        let mut returned = Vec::new();
        let mut bytes = 0usize;
        let mut seq = q.from;
        let mut truncated = false;
        'read: while seq < end {
            let chunk = state
                .store
                .entries(&origin, seq, READ_CHUNK.min(end - seq))?;
            if chunk.is_empty() {
                break;
            }
            for e in chunk {
                if !entries.is_empty() && bytes + e.bytes.len() > MAX_ENTRY_BYTES_PER_ANSWER {
                    truncated = true;
                    break 'read;
                }
                let rule = entry_rule(&e.bytes, catalog);
                if rule.allows(access) {
                    bytes += e.bytes.len();
                    if rule.registered() {
                        returned.push((origin.clone(), seq));
                    }
                    entries.push(EntryItem::Shown {
                        seq,
                        entry: B64.encode(&e.bytes),
                        signature: B64.encode(e.signature),
                    });
                } else {
                    entries.push(EntryItem::Withheld {
                        seq,
                        withheld: rule.attribute.as_str().to_owned(),
                        needs: rule.needs.as_str().to_owned(),
                        leaf_hash: B64.encode(e.leaf_hash(suite)),
                    });
                }
                seq += 1;
            }
        }
        let query_id = if returned.is_empty() {
            None
        } else {
            let read = ContentRead {
                who: &who,
                remote: &remote,
                purpose: &q.purpose,
                access,
                what: &format!("log:{origin}"),
                returned: &returned,
            };
            Some(register_read(
                &state.store,
                &state.query_ids,
                &read,
                now_ms(),
            )?)
        };
        let answer = EntriesAnswer {
            from: q.from,
            size: log.size,
            next: (seq < log.size).then_some(seq),
            truncated,
            entries,
            query_id,
            origin,
        };
        // Serialised here, off the runtime too: an answer is megabytes.
        let body = serde_json::to_vec(&answer).map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })?;
        Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
    })
    .await
}

/// Query of `GET /v1/logs/{origin}/consistency`.
#[derive(Debug, Deserialize)]
pub struct ConsistencyQuery {
    from: u64,
    to: u64,
}

/// `GET /v1/logs/{origin}/consistency`.
pub async fn get_consistency(
    State(state): State<Arc<AppState>>,
    Path(origin): Path<String>,
    Query(q): Query<ConsistencyQuery>,
) -> Result<Json<ConsistencyAnswer>, ApiError> {
    let log = log_state(&state, &origin)?;
    if q.from > q.to || q.to > log.size {
        return Err(ApiError::bad_request(format!(
            "need from <= to <= {} (the log's size), got from={} to={}",
            log.size, q.from, q.to
        )));
    }
    off_runtime(move || {
        let suite = state.shared.roster().roster.suite;
        let proof = merkle::consistency_proof(q.from, q.to, &state.store.hashes(&origin, suite))?;
        Ok(Json(ConsistencyAnswer {
            from: q.from,
            to: q.to,
            proof: proof.iter().map(|h| B64.encode(h)).collect(),
        }))
    })
    .await
}

/// Query of `GET /v1/records/{origin}/{seq}/bundle`.
#[derive(Debug, Deserialize)]
pub struct BundleQuery {
    #[serde(default)]
    purpose: String,
}

/// What a bundle read registers as its subject: the record's subject code
/// for a Put, its key otherwise.
fn read_subject(bytes: &[u8]) -> String {
    match Entry::decode(bytes) {
        Ok(Entry { op: Op::Put(r), .. }) => r.subject.code,
        Ok(e) => e
            .record_key()
            .map_or_else(|| "key-handover".to_owned(), |k| format!("record:{k}")),
        Err(_) => "record:undecodable".to_owned(),
    }
}

/// `GET /v1/records/{origin}/{seq}/bundle?purpose=`.
pub async fn get_bundle(
    State(state): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((origin, seq)): Path<(String, u64)>,
    Query(q): Query<BundleQuery>,
) -> Result<Json<Bundle>, ApiError> {
    let (access, who, has_token) = reader(&state, &headers)?;
    let log = log_state(&state, &origin)?;
    let remote = remote(Some(addr));
    off_runtime(move || {
        // Prove against the newest checkpoint held, which may be older than
        // the newest entries of a replica log.
        let size = crate::replica::checkpoint_size(&log.checkpoint);
        if seq >= size {
            return Err(ApiError::not_found(format!(
                "the newest checkpoint of {origin} held here covers {size} entries; entry {seq} is not in it yet"
            )));
        }
        let entry = state
            .store
            .entry(&origin, seq)?
            .ok_or_else(|| ApiError::not_found(format!("entry {origin}/{seq} is missing")))?;
        let rule = entry_rule(&entry.bytes, &state.shared.catalog);
        if !rule.allows(access) {
            let what = format!(
                "entry {origin}/{seq} concerns a {} ({}) record{}; its bundle is for {}",
                rule.attribute.label_zh(),
                rule.attribute.as_str(),
                if rule.attribute == rongxin_protocol::catalog::PublicAttribute::Public {
                    " with a personal ID number"
                } else {
                    ""
                },
                who_may_read(rule.needs)
            );
            return Err(if has_token {
                ApiError::forbidden(format!("{what}; {who} may not read it"))
            } else {
                ApiError::unauthorized(format!(
                    "{what}: send Authorization: Bearer <token>"
                ))
            });
        }
        let roster = state.shared.roster();
        let suite = roster.roster.suite;
        let internal =
            |e: String| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e);
        let member = roster
            .roster
            .member(&origin)
            .ok_or_else(|| ApiError::not_found(format!("'{origin}' is not in the roster")))?;
        // Key starts the roster leaves to the log: the handovers held fix
        // them, and the bundle carries those the checkpoint covers.
        let learned = state.store.key_starts(&origin)?;
        let starts = member.key_starts_with(&learned);
        let key = member
            .key(suite, starts.index_at(seq))
            .map_err(|e| internal(e.to_string()))?;
        let hashes = state.store.hashes(&origin, suite);
        let proof = merkle::inclusion_proof(seq, size, &hashes)?;
        let mut handovers = Vec::new();
        for (index, start) in starts.known() {
            let pending_in_roster = member.keys.get(index).is_some_and(|k| k.from.is_none());
            if !pending_in_roster || start == 0 || start > size {
                continue;
            }
            let at = start - 1;
            let signed = state.store.entry(&origin, at)?.ok_or_else(|| {
                internal(format!("the handover entry {origin}/{at} is missing"))
            })?;
            let path = merkle::inclusion_proof(at, size, &hashes)?;
            handovers.push(BundleHandover::new(&signed, at, &path));
        }
        if rule.registered() {
            let read = ContentRead {
                who: &who,
                remote: &remote,
                purpose: &q.purpose,
                access,
                what: &read_subject(&entry.bytes),
                returned: &[(origin.clone(), seq)],
            };
            register_read(&state.store, &state.query_ids, &read, now_ms())?;
        }
        let mut bundle = Bundle::new(
            &entry,
            seq,
            &origin,
            &key,
            &proof,
            &log.checkpoint,
            &roster.note,
        );
        bundle.handovers = handovers;
        Ok(Json(bundle))
    })
    .await
}
