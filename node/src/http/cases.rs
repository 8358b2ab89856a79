//! `/v1/objections` and `/v1/repairs`: file an objection or a credit-repair
//! application at this node, follow it, and decide it at the record's
//! origin (docs/api.md, "Objections and credit repair").

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use rongxin_protocol::access::RoleName;
use rongxin_protocol::entry::{ObjectionOutcome, RepairOutcome};
use rongxin_protocol::objection::{
    CaseReceipt, CaseState, FileObjection, ObjectionList, ObjectionView, ResolveAnswer,
    ResolveObjection,
};
use rongxin_protocol::record::RecordKey;
use rongxin_protocol::repair::{DecideAnswer, DecideRepair, FileRepair, RepairList, RepairView};
use serde::Deserialize;

use super::ingest::{check_record, read_small_body, rights};
use super::{ApiError, AppState, require_role};
use crate::cases::{CaseError, Cases};
use crate::ingest::Resolve;
use crate::tokens::{Role, Token};

/// Largest body of a filing or a decision: a statement or an explanation
/// holds at most 2,000 characters; a correction is one record.
const MAX_CASE_BODY_BYTES: usize = 256 * 1024;

impl From<CaseError> for ApiError {
    fn from(e: CaseError) -> ApiError {
        match e {
            CaseError::Invalid(m) => ApiError::bad_request(m),
            CaseError::UnknownRecord(m) | CaseError::NotFound(m) => ApiError::not_found(m),
            CaseError::NotCurrent(m) | CaseError::Conflict(m) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", m)
            }
            CaseError::NotRepairable(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "not_repairable", m)
            }
            e @ CaseError::NotOrigin { .. } => {
                ApiError::new(StatusCode::MISDIRECTED_REQUEST, "not_origin", e.to_string())
            }
            CaseError::Calendar(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "outside_calendar", m)
            }
            CaseError::Commit(e) => e.into(),
            CaseError::Store(e) => e.into(),
        }
    }
}

/// Tokens that may read cases: their statements are about people and
/// companies, so not anonymous callers nor monitoring.
const READERS: &[RoleName] = &[
    RoleName::Admin,
    RoleName::Auditor,
    RoleName::Department,
    RoleName::Agency,
];
const READERS_NAMED: &str = "admin, auditor, department or agency";

fn bad_json(e: &serde_json::Error, what: &str) -> ApiError {
    let msg = format!("body is not {what}: {e}; see docs/api.md");
    ApiError::bad_request(msg.chars().take(400).collect::<String>())
}

/// The token and body of a request that needs one of `roles`; the body
/// is read (up to its limit) before a refusal, so that the client sees the
/// answer rather than a broken pipe.
async fn authorised_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    roles: &[RoleName],
    needs: &str,
    fix: &'static str,
) -> Result<(Arc<Token>, Vec<u8>), ApiError> {
    let token = require_role(state, headers, roles, needs);
    let bytes = read_small_body(
        state,
        headers,
        body,
        MAX_CASE_BODY_BYTES,
        "the limit of a filing or a decision",
        fix,
    )
    .await;
    let token = token?;
    Ok((token, bytes?))
}

/// `POST /v1/objections`: a department or agency token of this node files
/// an objection; `202` with the receipt.
pub async fn post_objection(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<CaseReceipt>), ApiError> {
    let (token, bytes) = authorised_body(
        &state,
        &headers,
        body,
        &[RoleName::Department, RoleName::Agency],
        "department or agency",
        "an objection is a record reference, a ground and a statement of at most 2,000 characters",
    )
    .await?;
    let req: FileObjection =
        serde_json::from_slice(&bytes).map_err(|e| bad_json(&e, "an objection"))?;
    let receipt = state.cases.file_objection(req, &token.who()).await?;
    Ok((StatusCode::ACCEPTED, Json(receipt)))
}

/// `POST /v1/repairs`: a department or agency token of this node files a
/// credit-repair application; `202` with the receipt.
pub async fn post_repair(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<CaseReceipt>), ApiError> {
    let (token, bytes) = authorised_body(
        &state,
        &headers,
        body,
        &[RoleName::Department, RoleName::Agency],
        "department or agency",
        "an application is a record reference, a statement of at most 2,000 characters and a commitment",
    )
    .await?;
    let req: FileRepair =
        serde_json::from_slice(&bytes).map_err(|e| bad_json(&e, "a repair application"))?;
    let receipt = state.cases.file_repair(req, &token.who()).await?;
    Ok((StatusCode::ACCEPTED, Json(receipt)))
}

/// Query of `GET /v1/objections` and `GET /v1/repairs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    state: Option<String>,
    origin: Option<String>,
    authority: Option<String>,
}

const OBJECTION_STATES: &[&str] = &[
    "all", "open", "overdue", "received", "upheld", "rejected", "refused",
];
const REPAIR_STATES: &[&str] = &[
    "all", "open", "overdue", "received", "granted", "rejected", "refused",
];

/// A list filter: `(state, origin, authority)`.
type Filter<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);

/// Checks a list query's reader and state; runs `list` off the runtime.
async fn listed<T: Send + 'static>(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    q: ListQuery,
    states: &[&str],
    list: fn(&Cases, Filter<'_>) -> Result<T, CaseError>,
) -> Result<T, ApiError> {
    require_role(state, headers, READERS, READERS_NAMED)?;
    if let Some(s) = &q.state
        && !states.contains(&s.as_str())
    {
        return Err(ApiError::bad_request(format!(
            "state '{s}' is not one of {}",
            states.join(", ")
        )));
    }
    let cases = state.cases.clone();
    let out = tokio::task::spawn_blocking(move || {
        list(
            &cases,
            (
                q.state.as_deref(),
                q.origin.as_deref(),
                q.authority.as_deref(),
            ),
        )
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))??;
    Ok(out)
}

/// `GET /v1/objections?state=&origin=&authority=`.
pub async fn get_objections(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<ObjectionList>, ApiError> {
    let objections = listed(&state, &headers, q, OBJECTION_STATES, |c, (s, o, a)| {
        c.list(s, o, a)
    })
    .await?;
    Ok(Json(ObjectionList { objections }))
}

/// `GET /v1/repairs?state=&origin=&authority=`.
pub async fn get_repairs(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<RepairList>, ApiError> {
    let repairs = listed(&state, &headers, q, REPAIR_STATES, |c, (s, o, a)| {
        c.repair_list(s, o, a)
    })
    .await?;
    Ok(Json(RepairList { repairs }))
}

/// `GET /v1/objections/{id}`.
pub async fn get_objection(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ObjectionView>, ApiError> {
    require_role(&state, &headers, READERS, READERS_NAMED)?;
    state
        .cases
        .view(&id)?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no objection {id} is known at this node")))
}

/// `GET /v1/repairs/{id}`.
pub async fn get_repair(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<RepairView>, ApiError> {
    require_role(&state, &headers, READERS, READERS_NAMED)?;
    state.cases.repair_view(&id)?.map(Json).ok_or_else(|| {
        ApiError::not_found(format!("no repair application {id} is known at this node"))
    })
}

/// Who decides a case about `key` at its origin: the origin's admin, or a
/// department with the right to the record (`None`: the case is not in
/// this node's log, and the service says where it is).
fn may_decide(
    state: &AppState,
    token: &Token,
    key: Option<&RecordKey>,
    what: &str,
) -> Result<(), ApiError> {
    match (&token.role, key) {
        (Role::Admin, _) | (Role::Department(_), None) => Ok(()),
        (Role::Department(d), Some(k)) => {
            rights(state, d, &k.kind, &k.jurisdiction).map_err(ApiError::forbidden)
        }
        (role, _) => Err(ApiError::forbidden(format!(
            "token '{}' has role {}; the origin's department or admin decides {what}",
            token.id,
            role.name().as_str()
        ))),
    }
}

/// `POST /v1/objections/{id}/resolve`, at the record's origin.
pub async fn post_resolve(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<ResolveAnswer>, ApiError> {
    let (token, bytes) = authorised_body(
        &state,
        &headers,
        body,
        &[RoleName::Admin, RoleName::Department],
        "admin or department",
        "a resolution is an outcome, an explanation of at most 2,000 characters and at most one record",
    )
    .await?;
    let req: ResolveObjection =
        serde_json::from_slice(&bytes).map_err(|e| bad_json(&e, "a resolution"))?;
    drop(bytes);
    let objection = state.store.objection(&state.shared.member, &id)?;
    may_decide(
        &state,
        &token,
        objection.as_ref().map(|o| &o.key),
        "objections",
    )?;
    let correction = match (&req.correction, &objection) {
        (Some(v), Some(_)) => {
            let raw = serde_json::value::to_raw_value(v)
                .map_err(|e| ApiError::bad_request(format!("correction: {e}")))?;
            let (record, _) =
                check_record(&raw, &state.shared.catalog, Cases::today()).map_err(|errs| {
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
        .cases
        .resolve(Resolve {
            id: id.clone(),
            outcome,
            explanation: req.explanation.trim().to_owned(),
            correction,
            revoke: req.revoke,
        })
        .await?;
    tracing::info!(%id, ?outcome, seq, by = %token.who(), "objection resolved");
    Ok(Json(ResolveAnswer {
        id,
        state: match outcome {
            ObjectionOutcome::Upheld => CaseState::Upheld,
            ObjectionOutcome::Rejected => CaseState::Rejected,
        },
        seq,
        correction_seq,
    }))
}

/// `POST /v1/repairs/{id}/decide`, at the record's origin.
pub async fn post_decide(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<DecideAnswer>, ApiError> {
    let (token, bytes) = authorised_body(
        &state,
        &headers,
        body,
        &[RoleName::Admin, RoleName::Department],
        "admin or department",
        "a decision is an outcome and an explanation of at most 2,000 characters",
    )
    .await?;
    let req: DecideRepair =
        serde_json::from_slice(&bytes).map_err(|e| bad_json(&e, "a repair decision"))?;
    drop(bytes);
    let application = state.store.repair(&state.shared.member, &id)?;
    may_decide(
        &state,
        &token,
        application.as_ref().map(|a| &a.key),
        "repair applications",
    )?;
    let (seq, revoke_seq) = state
        .cases
        .decide(&id, req.outcome, &req.explanation)
        .await?;
    tracing::info!(%id, outcome = ?req.outcome, seq, by = %token.who(), "repair application decided");
    Ok(Json(DecideAnswer {
        id,
        state: match req.outcome {
            RepairOutcome::Granted => CaseState::Granted,
            RepairOutcome::Rejected => CaseState::Rejected,
        },
        seq,
        revoke_seq,
    }))
}
