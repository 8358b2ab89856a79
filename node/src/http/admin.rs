//! Operations: status, query log, catalog, health and metrics.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rongxin_protocol::roster::{RosterPushed, SignedRoster};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::Query;
use super::{ApiError, AppState, require_admin, require_ops};
use crate::query::parse_query_id;
use crate::store::{Durability, StoreError, WriteBatch};

/// `GET /healthz`: 200 `ok` while the node runs and its store takes
/// writes; 503 with the reason (and `Retry-After`) while it cannot write,
/// though it still answers reads.
pub async fn get_healthz(State(state): State<Arc<AppState>>) -> Result<&'static str, ApiError> {
    state.store.log_state(&state.config.member)?;
    let store = state.store.clone();
    // One statvfs: cheap, but a system call on a possibly sick disk.
    let writable = tokio::task::spawn_blocking(move || store.writable())
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    writable.map_err(|w| ApiError::from(StoreError::from(w)))?;
    Ok("ok\n")
}

/// `GET /metrics` on the API listener: an admin or monitor token.
pub async fn get_metrics(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    require_ops(&state, &headers)?;
    Ok(get_metrics_open(State(state)).await)
}

/// `GET /metrics` on the operations listener, which needs no token.
pub async fn get_metrics_open(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    state
        .metrics
        .store_bytes
        .set(i64::try_from(state.store.size_on_disk()).unwrap_or(i64::MAX));
    let st = state.clone();
    let refreshed = tokio::task::spawn_blocking(move || {
        crate::timeliness::refresh_metrics(&st.timeliness, &st.store, &st.shared, &st.metrics)
    })
    .await;
    if let Ok(Err(e)) = refreshed {
        tracing::warn!(error = %e, "cannot compute the publication timeliness metrics");
    }
    let cases = state.cases.clone();
    if let Ok(Ok(counts)) = tokio::task::spawn_blocking(move || cases.counts()).await {
        let m = &state.metrics;
        let gauges = [
            &m.objections_open,
            &m.objections_overdue,
            &m.repairs_open,
            &m.repairs_overdue,
        ];
        for g in gauges {
            g.clear();
        }
        for (origin, values) in counts {
            let label = crate::metrics::OriginLabel { origin };
            for (g, v) in gauges.iter().zip(values) {
                g.get_or_create(&label)
                    .set(i64::try_from(v).unwrap_or(i64::MAX));
            }
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// `GET /v1/admin/status` (admin or monitor token).
pub async fn get_status(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    require_ops(&state, &headers)?;
    let c = &state.config;
    let own = state.store.log_state(&c.member)?;
    let origins: Vec<Value> = state
        .store
        .log_states()?
        .into_iter()
        .map(|(origin, s)| json!({"origin": origin, "size": s.size, "root": B64.encode(s.root)}))
        .collect();
    Ok(Json(json!({
        "member": c.member,
        "name": c.me.name,
        "role": c.me.role,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "own_log": own.map(|s| json!({"size": s.size, "root": B64.encode(s.root), "checkpoint": s.checkpoint})),
        "origins": origins,
        "store_bytes": state.store.size_on_disk(),
        "roster_version": state.shared.roster().roster.version,
        "halted_origins": state.store.halted_origins()?,
        "replication": state.sync.as_ref().map(|s| s.to_json(&state.store)),
        "forward": state.forward.as_ref().map(|f| f.to_json()),
        "catalog_version": c.catalog.version(),
    })))
}

/// `GET /v1/admin/federation` (admin or monitor token): every roster member's view of
/// what it holds, as this node last heard it from peers or relayed through
/// them (docs/api.md).
pub async fn get_federation(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<rongxin_protocol::api::FederationAnswer>, ApiError> {
    require_ops(&state, &headers)?;
    let st = state.clone();
    let answer = super::logs::off_runtime(move || {
        Ok(crate::views::matrix(
            &st.store,
            &st.shared,
            st.sync.as_deref(),
        )?)
    })
    .await?;
    Ok(Json(answer))
}

/// Query of `GET /v1/admin/query-log`.
#[derive(Debug, Deserialize)]
pub struct QueryLogQuery {
    #[serde(default = "default_limit")]
    limit: usize,
    before: Option<String>,
}

fn default_limit() -> usize {
    100
}

/// `GET /v1/admin/query-log`.
pub async fn get_query_log(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<QueryLogQuery>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&state, &headers)?;
    let before =
        match q.before.as_deref() {
            None => None,
            Some(s) => Some(parse_query_id(s).ok_or_else(|| {
                ApiError::bad_request(format!("before = '{s}' is not a query id"))
            })?),
        };
    let entries = state.store.queries(q.limit.clamp(1, 1000), before)?;
    Ok(Json(
        json!({"entries": entries, "usage": state.store.query_log_usage()}),
    ))
}

/// `GET /v1/catalog`.
pub async fn get_catalog(State(state): State<Arc<AppState>>) -> Json<Value> {
    let c = &state.config.catalog;
    Json(json!({"version": c.version(), "kinds": c.kinds(), "legacy_uscc": c.legacy_uscc()}))
}

/// `GET /v1/admin/evidence`: every equivocation detected, with both signed statements.
pub async fn get_evidence(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    require_ops(&state, &headers)?;
    Ok(Json(
        json!({"halted_origins": state.store.halted_origins()?, "evidence": state.store.evidence()?}),
    ))
}

/// `POST /v1/admin/roster` (admin token): a root-signed roster note, put in
/// force at once when it supersedes the one in force; peers take it from
/// this node (docs/protocol.md §9.2), so giving it to one node reaches all.
pub async fn post_roster(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: String,
) -> Result<Json<RosterPushed>, ApiError> {
    require_admin(&state, &headers)?;
    let signed = SignedRoster::open(&body, &state.shared.root).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not a roster signed by this federation's root key: {e}"
        ))
    })?;
    let version = signed.roster.version;
    let adopted = state.shared.adopt(signed);
    if adopted {
        let mut batch = WriteBatch::default();
        batch.put_roster(&body);
        state.store.commit(batch, Durability::Durable).await?;
        state
            .metrics
            .roster_version
            .set(i64::try_from(version).unwrap_or(i64::MAX));
        tracing::info!(version, "adopted a roster an operator pushed");
    }
    Ok(Json(RosterPushed {
        version,
        adopted,
        in_force: state.shared.roster().roster.version,
    }))
}

/// `POST /v1/admin/origins/{origin}/resume` (admin token): accept entries of a
/// halted origin again, after the operator dealt with the evidence.
pub async fn post_resume(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Path(origin): axum::extract::Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&state, &headers)?;
    if !state.store.halted(&origin)? {
        return Err(ApiError::not_found(format!("{origin} is not halted")));
    }
    match &state.replicator {
        Some(r) => r.resume(&origin).await?,
        None => {
            let mut batch = WriteBatch::default();
            batch.set_halted(&origin, false);
            state.store.commit(batch, Durability::Durable).await?;
        }
    }
    tracing::warn!(%origin, "operator resumed a halted origin");
    Ok(Json(json!({"origin": origin, "halted": false})))
}
