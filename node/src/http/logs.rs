//! Logs and provenance: checkpoints, entry ranges, consistency proofs and
//! provenance bundles, for any origin this node holds.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rongxin_protocol::bundle::Bundle;
use rongxin_protocol::merkle;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Path, Query};
use super::{ApiError, AppState};
use crate::store::LogState;

/// Most entries one range request returns.
pub const MAX_ENTRIES_PER_REQUEST: u64 = 1000;

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
}

fn default_limit() -> u64 {
    100
}

/// `GET /v1/logs/{origin}/entries`.
pub async fn get_entries(
    State(state): State<Arc<AppState>>,
    Path(origin): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<Value>, ApiError> {
    if q.limit == 0 || q.limit > MAX_ENTRIES_PER_REQUEST {
        return Err(ApiError::bad_request(format!(
            "limit must be 1..={MAX_ENTRIES_PER_REQUEST}"
        )));
    }
    let log = log_state(&state, &origin)?;
    let limit = q.limit.min(log.size.saturating_sub(q.from));
    let entries = state.store.entries(&origin, q.from, limit)?;
    let entries: Vec<Value> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"seq": q.from + i as u64, "entry": B64.encode(&e.bytes), "signature": B64.encode(e.signature)}))
        .collect();
    Ok(Json(
        json!({"origin": origin, "from": q.from, "size": log.size, "entries": entries}),
    ))
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
) -> Result<Json<Value>, ApiError> {
    let log = log_state(&state, &origin)?;
    if q.from > q.to || q.to > log.size {
        return Err(ApiError::bad_request(format!(
            "need from <= to <= {} (the log's size), got from={} to={}",
            log.size, q.from, q.to
        )));
    }
    let proof = merkle::consistency_proof(q.from, q.to, &state.store.hashes(&origin))?;
    Ok(Json(
        json!({"from": q.from, "to": q.to, "proof": proof.iter().map(|h| B64.encode(h)).collect::<Vec<_>>()}),
    ))
}

/// `GET /v1/records/{origin}/{seq}/bundle`.
pub async fn get_bundle(
    State(state): State<Arc<AppState>>,
    Path((origin, seq)): Path<(String, u64)>,
) -> Result<Json<Bundle>, ApiError> {
    let log = log_state(&state, &origin)?;
    // Prove against the newest checkpoint held, which may be older than the
    // newest entries of a replica log.
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
    let roster = state.shared.roster();
    let key = roster
        .roster
        .member(&origin)
        .ok_or_else(|| ApiError::not_found(format!("'{origin}' is not in the roster")))?
        .verifying_key()
        .map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                e.to_string(),
            )
        })?;
    let proof = merkle::inclusion_proof(seq, size, &state.store.hashes(&origin))?;
    Ok(Json(Bundle::new(
        &entry,
        seq,
        &origin,
        &key,
        &proof,
        &log.checkpoint,
        &roster.note,
    )))
}
