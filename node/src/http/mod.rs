//! The HTTP API (docs/api.md): routing, shared state, authentication and the
//! one error shape every endpoint answers with.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::mpsc;

use crate::config::{Config, Department};
use crate::ingest::Job;
use crate::metrics::{Metrics, RouteLabels};
use crate::query::Access;
use crate::query::QueryIds;
use crate::store::{Store, StoreError};
use crate::tokens::{Role, Token, Tokens};
use rongxin_protocol::access::RoleName;

mod admin;
mod backup;
mod cases;
mod console;
mod evaluation;
mod export;
mod extract;
mod ingest;
pub mod limits;
mod lists;
mod logs;
mod query;
pub mod server;
mod stream;
pub mod tiles;
mod timeliness;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    /// The checked configuration.
    pub config: Config,
    /// The bearer tokens in force (replaced whole on reload).
    pub tokens: std::sync::RwLock<Arc<Tokens>>,
    /// The store.
    pub store: Store,
    /// The committer's queue.
    pub jobs: mpsc::Sender<Job>,
    /// Metrics.
    pub metrics: Metrics,
    /// When the node started.
    pub started: Instant,
    /// Query id source.
    pub query_ids: QueryIds,
    /// The roster in force and other node-wide state.
    pub shared: Arc<crate::shared::Shared>,
    /// Replication status, when replication runs.
    pub sync: Option<Arc<crate::sync::SyncStatus>>,
    /// The replicator, when replication runs (resuming a halted origin
    /// goes through it).
    pub replicator: Option<Arc<crate::replica::Replicator>>,
    /// Forwarding status, on the city when forwarding is configured.
    pub forward: Option<Arc<crate::forward::ForwardStatus>>,
    /// The API's limits.
    pub limits: Arc<limits::Limits>,
    /// Request-rate limiters.
    pub rate: limits::RateLimits,
    /// Objections and repair applications filed here and in the logs held.
    pub cases: Arc<crate::cases::Cases>,
    /// When the publication-timeliness metrics were last computed.
    pub timeliness: crate::timeliness::MetricsCache,
    /// The console's summaries, kept up to date in the background.
    pub summaries: Arc<crate::summary::Summaries>,
    /// Each department's submissions and refusals, noted per request.
    pub tallies: Arc<crate::tally::Tallies>,
}

/// The router of the operations listener (`ops_listen`): health and
/// metrics only, without a token, for monitoring on a trusted network.
pub fn ops_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(admin::get_healthz))
        .route("/metrics", get(admin::get_metrics_open))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "the operations listener serves only /healthz and /metrics",
            )
        })
        .layer(middleware::from_fn(json_errors))
        .with_state(state)
}

/// The router of the whole API.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/records", post(ingest::post_records))
        .route("/v1/records/revoke", post(ingest::post_revoke))
        .route("/v1/records/{origin}/{seq}/bundle", get(logs::get_bundle))
        .route("/v1/logs/{origin}/checkpoint", get(logs::get_checkpoint))
        .route("/v1/logs/{origin}/entries", get(logs::get_entries))
        .route("/v1/logs/{origin}/consistency", get(logs::get_consistency))
        .route("/v1/logs/{origin}/tile/{*path}", get(tiles::get_tile))
        .route("/v1/subjects/{code}", get(query::get_subject))
        .route("/v1/lists/{list}", get(lists::get_list))
        .route(
            "/v1/export/double-publicity",
            get(export::get_double_publicity),
        )
        .route(
            "/v1/objections",
            post(cases::post_objection).get(cases::get_objections),
        )
        .route("/v1/objections/{id}", get(cases::get_objection))
        .route("/v1/objections/{id}/resolve", post(cases::post_resolve))
        .route(
            "/v1/repairs",
            post(cases::post_repair).get(cases::get_repairs),
        )
        .route("/v1/repairs/{id}", get(cases::get_repair))
        .route("/v1/repairs/{id}/decide", post(cases::post_decide))
        .route("/", get(console::get_page))
        .route("/console/{asset}", get(console::get_asset))
        .route("/v1/admin/console", get(console::get_console))
        .route("/v1/catalog", get(admin::get_catalog))
        .route("/v1/admin/status", get(admin::get_status))
        .route("/v1/admin/query-log", get(admin::get_query_log))
        .route("/v1/admin/evidence", get(admin::get_evidence))
        .route("/v1/admin/federation", get(admin::get_federation))
        .route("/v1/admin/timeliness", get(timeliness::get_timeliness))
        .route("/v1/admin/evaluation", get(evaluation::get_evaluation))
        .route(
            "/v1/admin/origins/{origin}/resume",
            post(admin::post_resume),
        )
        .route("/v1/admin/roster", post(admin::post_roster))
        .route("/v1/admin/backup", get(backup::get_backup))
        .route("/healthz", get(admin::get_healthz))
        .route("/metrics", get(admin::get_metrics))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such endpoint; see docs/api.md",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take this method; see the Allow header and docs/api.md",
            )
        })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limits::enforce,
        ))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(middleware::from_fn(close_after_refused_body))
        .with_state(state)
}

/// An error answer to a request with a body may leave part of the body
/// unread (413), and then the connection cannot be kept: say so, so that
/// the client does not send its next request on a connection being closed.
async fn close_after_refused_body(req: Request, next: Next) -> Response {
    let has_body = req.headers().contains_key(header::CONTENT_LENGTH)
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    let mut resp = next.run(req).await;
    if has_body && !resp.status().is_success() {
        resp.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
    }
    resp
}

/// Most bytes of a non-JSON error body carried into the JSON error's message.
const MAX_WRAPPED_MESSAGE: usize = 512;

/// Every error answer in the one JSON shape: an error that is not JSON
/// already (axum's extractor rejections and the like) is rewrapped, its
/// text kept as the message.
async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() < 400 || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, MAX_WRAPPED_MESSAGE * 4)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let mut message: String = text.chars().take(MAX_WRAPPED_MESSAGE).collect();
    if message.is_empty() {
        message = status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase();
    }
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_client_error() => "bad_request",
        _ => "internal",
    };
    let mut out = ApiError::new(status, code, message).into_response();
    // Keep what the original said about the method or retrying.
    for h in [header::ALLOW, header::RETRY_AFTER, header::CONNECTION] {
        if let Some(v) = parts.headers.get(&h) {
            out.headers_mut().insert(h, v.clone());
        }
    }
    out
}

async fn count_requests(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let resp = next.run(req).await;
    state
        .metrics
        .http_requests
        .get_or_create(&RouteLabels {
            route,
            status: resp.status().as_u16().to_string(),
        })
        .inc();
    resp
}

/// An error answer: `{"error": {"code", "message"}}` with a status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    /// The message, as answered.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// 400.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// 403.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        if let StoreError::NotWritable(w) = &e {
            // Logged by the store when it changes; not once per request.
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_writable",
                w.to_string(),
            );
        }
        if matches!(&e, StoreError::Stopped) {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the node is stopping; retry against it once it is back, or another node",
            );
        }
        if let StoreError::Damaged { .. } = &e {
            tracing::error!(error = %e, "the store is damaged: this answer was not served");
            return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "damaged", e.to_string());
        }
        if matches!(
            &e,
            StoreError::Sled(sled::Error::Io(_)) | StoreError::Io { .. }
        ) {
            // The disk, not the request: worth a retry (see /healthz).
            tracing::error!(error = %e, "store I/O error while answering");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("{e}; the node recovers by itself once the disk is fixed (see /healthz)"),
            );
        }
        tracing::error!(error = %e, "store error while answering");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
}

impl From<crate::ingest::CommitError> for ApiError {
    fn from(e: crate::ingest::CommitError) -> ApiError {
        use crate::ingest::CommitError;
        match &e {
            CommitError::Unwritable(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_writable",
                e.to_string(),
            ),
            CommitError::Engine(_) | CommitError::Store(_) => {
                tracing::error!(error = %e, "a commit failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            }
            CommitError::Signing(_) | CommitError::Earlier | CommitError::Stopping => {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    e.to_string(),
                )
            }
        }
    }
}

/// Seconds a client is told to wait before retrying after a 503: the
/// causes (a full disk, a shutdown) take a while to go away.
pub const RETRY_AFTER_SECONDS: u64 = 30;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": {"code": self.code, "message": self.message}}));
        let mut resp = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(RETRY_AFTER_SECONDS),
            );
        }
        resp
    }
}

/// The bearer token of a request, if any; a malformed header is an error.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| ApiError::unauthorized("Authorization header is not ASCII"))?;
    match v.strip_prefix("Bearer ") {
        Some(t) if !t.trim().is_empty() => Ok(Some(t.trim())),
        _ => Err(ApiError::unauthorized(
            "Authorization header must be 'Bearer <token>'",
        )),
    }
}

/// Who presented the request's token: `None` without one; 401 for an
/// unknown or expired one.
pub fn caller(state: &AppState, headers: &HeaderMap) -> Result<Option<Arc<Token>>, ApiError> {
    let Some(t) = bearer(headers)? else {
        return Ok(None);
    };
    let tokens = state
        .tokens
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    tokens
        .lookup(t, crate::ingest::now_ms())
        .map(Some)
        .map_err(|e| ApiError::unauthorized(e.to_string()))
}

/// The caller's access and name for the query log; 401 for an unknown or
/// expired token.
pub fn reader(state: &AppState, headers: &HeaderMap) -> Result<(Access, String, bool), ApiError> {
    Ok(match caller(state, headers)? {
        None => (Access::Public, "anonymous".to_owned(), false),
        Some(t) => (t.read_access(), t.who(), true),
    })
}

/// The department behind the request's token; 401/403 otherwise.
pub fn require_department(state: &AppState, headers: &HeaderMap) -> Result<Department, ApiError> {
    match caller(state, headers)? {
        Some(t) => match &t.role {
            Role::Department(d) => Ok(d.clone()),
            _ => Err(ApiError::forbidden(format!(
                "token '{}' has role {}; only department systems submit records",
                t.id,
                t.role.name().as_str()
            ))),
        },
        None => Err(ApiError::unauthorized(
            "missing Authorization: Bearer <token> header; department systems submit with their token",
        )),
    }
}

/// Checks that the request carries an admin token.
pub fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<Arc<Token>, ApiError> {
    require_role(state, headers, &[RoleName::Admin], "admin")
}

/// Checks that the request carries an admin or a monitoring token, for the
/// read-only operations endpoints.
pub fn require_ops(state: &AppState, headers: &HeaderMap) -> Result<Arc<Token>, ApiError> {
    require_role(
        state,
        headers,
        &[RoleName::Admin, RoleName::Monitor],
        "admin or monitor",
    )
}

/// The request's token if its role is one of `roles` (named `needs` in
/// the refusal); 401 without a token, 403 with another role.
pub fn require_role(
    state: &AppState,
    headers: &HeaderMap,
    roles: &[RoleName],
    needs: &str,
) -> Result<Arc<Token>, ApiError> {
    match caller(state, headers)? {
        Some(t) if roles.contains(&t.role.name()) => Ok(t),
        Some(t) => Err(ApiError::forbidden(format!(
            "this endpoint needs an {needs} token; token '{}' has role {}",
            t.id,
            t.role.name().as_str()
        ))),
        None => Err(ApiError::unauthorized(format!(
            "missing Authorization: Bearer <{needs} token> header"
        ))),
    }
}

/// The remote address, for the query log.
pub fn remote(addr: Option<SocketAddr>) -> String {
    addr.map_or_else(|| "unknown".to_owned(), |a| a.to_string())
}
