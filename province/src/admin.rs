//! The admin listener (plain HTTP, loopback only): what is held, and fault
//! injection.
//!
//! - `GET /v1/origins` → `[{"origin", "count", "last_seq"}]`
//! - `GET /v1/entries/{origin}?from=0&limit=100` → the stored entries
//! - `POST /v1/faults` `{"mode", "count"?, "delay_ms"?}` → the fault in force
//! - `GET /healthz` → `ok`

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::json;

use crate::faults::{FaultRequest, Faults};
use crate::receive::Receiver;
use crate::store::StoreError;

/// Entries one `GET /v1/entries/{origin}` returns unless `limit` says less.
const DEFAULT_LIMIT: usize = 100;
/// Most entries one `GET /v1/entries/{origin}` returns.
const MAX_LIMIT: usize = 1000;

/// State of the admin handlers.
#[derive(Debug, Clone)]
pub struct AdminState {
    /// The receiver (its store and roster).
    pub receiver: Arc<Receiver>,
    /// The fault in force.
    pub faults: Arc<Faults>,
}

/// The admin router.
pub fn router(state: AdminState) -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/origins", get(origins))
        .route("/v1/entries/{origin}", get(entries))
        .route("/v1/faults", post(set_fault))
        .with_state(state)
}

fn error(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

fn store_error(e: StoreError) -> Response {
    tracing::error!(error = %e, "admin request failed");
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
}

async fn origins(State(state): State<AdminState>) -> Response {
    let store = state.receiver.store().clone();
    match tokio::task::spawn_blocking(move || store.heads()).await {
        Ok(Ok(heads)) => Json(
            heads
                .into_iter()
                .map(|(origin, h)| {
                    json!({"origin": origin, "count": h.size, "last_seq": h.size.checked_sub(1)})
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Ok(Err(e)) => store_error(e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
struct Range {
    from: Option<u64>,
    limit: Option<usize>,
}

async fn entries(
    State(state): State<AdminState>,
    Path(origin): Path<String>,
    range: Result<Query<Range>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(range)) = range else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "from and limit must be non-negative integers".into(),
        );
    };
    if state.receiver.roster().member(&origin).is_none() {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("'{origin}' is not a member of the roster"),
        );
    }
    let from = range.from.unwrap_or(0);
    let limit = range.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
    let store = state.receiver.store().clone();
    let o = origin.clone();
    match tokio::task::spawn_blocking(move || store.entries(&o, from, limit)).await {
        Ok(Ok(list)) => Json(json!({
            "origin": origin,
            "from": from,
            "entries": list
                .into_iter()
                .map(|(seq, e)| json!({
                    "seq": seq,
                    "entry": B64.encode(&e.bytes),
                    "signature": B64.encode(e.signature),
                }))
                .collect::<Vec<_>>(),
        }))
        .into_response(),
        Ok(Err(e)) => store_error(e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

async fn set_fault(
    State(state): State<AdminState>,
    body: Result<Json<FaultRequest>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(r)) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!(
                    "expected {{\"mode\": \"refuse\"|\"delay\"|\"drop\"|\"late_ack\"|\"corrupt\"|\"none\", \"count\"?: n, \"delay_ms\"?: ms}}: {e}"
                ),
            );
        }
    };
    match state.faults.set(&req) {
        Ok(status) => {
            tracing::warn!(?status, "fault injection set");
            Json(status).into_response()
        }
        Err(why) => error(StatusCode::BAD_REQUEST, "bad_request", why),
    }
}
