//! `/v1/objections`: file an objection at this node, follow it, and
//! resolve it at the record's origin (docs/api.md, "Objections").

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use rongxin_protocol::access::RoleName;
use rongxin_protocol::entry::ObjectionOutcome;
use rongxin_protocol::objection::{
    FileObjection, ObjectionList, ObjectionReceipt, ObjectionStateName, ObjectionView,
    ResolveAnswer, ResolveObjection,
};
use serde::Deserialize;

use super::ingest::{check_record, read_small_body, rights};
use super::{ApiError, AppState, caller, require_role};
use crate::ingest::Resolve;
use crate::objections::{ObjectionError, Objections};
use crate::tokens::Role;

/// Largest body of an objection request: a statement and an explanation
/// hold at most 2,000 characters; a correction is one record.
const MAX_OBJECTION_BODY_BYTES: usize = 256 * 1024;

impl From<ObjectionError> for ApiError {
    fn from(e: ObjectionError) -> ApiError {
        match e {
            ObjectionError::Invalid(m) => ApiError::bad_request(m),
            ObjectionError::UnknownRecord(m) | ObjectionError::NotFound(m) => {
                ApiError::not_found(m)
            }
            ObjectionError::NotCurrent(m) | ObjectionError::Conflict(m) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", m)
            }
            e @ ObjectionError::NotOrigin { .. } => {
                ApiError::new(StatusCode::MISDIRECTED_REQUEST, "not_origin", e.to_string())
            }
            ObjectionError::Calendar(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "outside_calendar", m)
            }
            ObjectionError::Commit(e) => e.into(),
            ObjectionError::Store(e) => e.into(),
        }
    }
}

/// Tokens that may read objections: their statements are about people
/// and companies, so not anonymous callers nor monitoring.
const READERS: &[RoleName] = &[
    RoleName::Admin,
    RoleName::Auditor,
    RoleName::Department,
    RoleName::Agency,
];

fn bad_json(e: &serde_json::Error, what: &str) -> ApiError {
    let msg = format!("body is not {what}: {e}; see docs/api.md");
    ApiError::bad_request(msg.chars().take(400).collect::<String>())
}

/// `POST /v1/objections`: a department or agency token of this node files
/// an objection; `202` with the receipt.
pub async fn post_objection(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<ObjectionReceipt>), ApiError> {
    let token = match require_role(
        &state,
        &headers,
        &[RoleName::Department, RoleName::Agency],
        "department or agency",
    ) {
        Ok(t) => t,
        Err(e) => {
            // The body is read and dropped before the refusal (see refuse).
            let _ = read_small_body(&state, &headers, body, MAX_OBJECTION_BODY_BYTES, "", "").await;
            return Err(e);
        }
    };
    let bytes = read_small_body(
        &state,
        &headers,
        body,
        MAX_OBJECTION_BODY_BYTES,
        "the limit of an objection",
        "an objection is a record reference, a ground and a statement of at most 2,000 characters",
    )
    .await?;
    let req: FileObjection =
        serde_json::from_slice(&bytes).map_err(|e| bad_json(&e, "an objection"))?;
    let receipt = state.objections.file(req, &token.who()).await?;
    Ok((StatusCode::ACCEPTED, Json(receipt)))
}

/// Query of `GET /v1/objections`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    state: Option<String>,
    origin: Option<String>,
    authority: Option<String>,
}

const STATES: &[&str] = &[
    "all", "open", "overdue", "received", "upheld", "rejected", "refused",
];

/// `GET /v1/objections?state=&origin=&authority=`.
pub async fn get_objections(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<ObjectionList>, ApiError> {
    require_role(
        &state,
        &headers,
        READERS,
        "admin, auditor, department or agency",
    )?;
    if let Some(s) = &q.state
        && !STATES.contains(&s.as_str())
    {
        return Err(ApiError::bad_request(format!(
            "state '{s}' is not one of {}",
            STATES.join(", ")
        )));
    }
    let objections = state.objections.clone();
    let list = tokio::task::spawn_blocking(move || {
        objections.list(
            q.state.as_deref(),
            q.origin.as_deref(),
            q.authority.as_deref(),
        )
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))??;
    Ok(Json(ObjectionList { objections: list }))
}

/// `GET /v1/objections/{id}`.
pub async fn get_objection(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ObjectionView>, ApiError> {
    require_role(
        &state,
        &headers,
        READERS,
        "admin, auditor, department or agency",
    )?;
    state
        .objections
        .view(&id)?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no objection {id} is known at this node")))
}

/// `POST /v1/objections/{id}/resolve`, at the record's origin: an admin
/// token, or a department token with the right to the record.
pub async fn post_resolve(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<ResolveAnswer>, ApiError> {
    let token = caller(&state, &headers)?;
    let bytes = read_small_body(
        &state,
        &headers,
        body,
        MAX_OBJECTION_BODY_BYTES,
        "the limit of a resolution",
        "a resolution is an outcome, an explanation of at most 2,000 characters and at most one record",
    )
    .await?;
    let Some(token) = token else {
        return Err(ApiError::unauthorized(
            "missing Authorization: Bearer <token> header; the origin's department or admin resolves objections",
        ));
    };
    let req: ResolveObjection =
        serde_json::from_slice(&bytes).map_err(|e| bad_json(&e, "a resolution"))?;
    drop(bytes);
    let me = state.shared.member.clone();
    // Who may resolve: the origin's admin, or a department with the right
    // to the record.
    let objection = state.store.objection(&me, &id)?;
    match (&token.role, &objection) {
        (Role::Admin, _) => {}
        (Role::Department(d), Some(o)) => {
            rights(&state, d, &o.key.kind, &o.key.jurisdiction).map_err(ApiError::forbidden)?
        }
        // Not found here: the service says where it is.
        (Role::Department(_), None) => {}
        (role, _) => {
            return Err(ApiError::forbidden(format!(
                "token '{}' has role {}; the origin's department or admin resolves objections",
                token.id,
                role.name().as_str()
            )));
        }
    }
    let correction = match (&req.correction, &objection) {
        (Some(v), Some(_)) => {
            let raw = serde_json::value::to_raw_value(v)
                .map_err(|e| ApiError::bad_request(format!("correction: {e}")))?;
            let today = Objections::today();
            let (record, _) = check_record(&raw, &state.shared.catalog, today).map_err(|errs| {
                ApiError::bad_request(format!(
                    "correction is not a valid record: {}",
                    errs.iter()
                        .take(5)
                        .map(|(f, p)| format!("{f}: {p}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                ))
            })?;
            Some(record)
        }
        _ => None,
    };
    let outcome = req.outcome;
    let (seq, correction_seq) = state
        .objections
        .resolve(
            &id,
            Resolve {
                id: id.clone(),
                outcome,
                explanation: req.explanation.trim().to_owned(),
                correction,
                revoke: req.revoke,
            },
        )
        .await?;
    tracing::info!(%id, ?outcome, seq, by = %token.who(), "objection resolved");
    Ok(Json(ResolveAnswer {
        id,
        state: match outcome {
            ObjectionOutcome::Upheld => ObjectionStateName::Upheld,
            ObjectionOutcome::Rejected => ObjectionStateName::Rejected,
        },
        seq,
        correction_seq,
    }))
}
