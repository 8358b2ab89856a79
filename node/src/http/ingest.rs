//! `POST /v1/records` and `POST /v1/records/revoke`.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use rongxin_protocol::entry::{Revoke, RevokeReason};
use rongxin_protocol::record::{Record, RecordError, RecordKey};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::{ApiError, AppState, require_department};
use crate::config::Department;
use crate::ingest::{Job, Outcome};

/// Reads the body up to the limit, answering 413 past it.
async fn read_body(state: &AppState, body: Body) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, state.config.max_body_bytes).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "request body is larger than max_body_bytes = {}; split it into smaller requests",
                state.config.max_body_bytes
            ),
        )
    })
}

/// Refuses a request before its body is used, after reading and dropping
/// the body (up to max_body_bytes, a chunk at a time): answering while the
/// client is still sending would make it see a broken pipe, not the answer.
async fn refuse(state: &AppState, body: Body, error: ApiError) -> ApiError {
    use futures::StreamExt as _;
    let mut data = body.into_data_stream();
    let mut seen = 0usize;
    while let Some(Ok(chunk)) = data.next().await {
        seen = seen.saturating_add(chunk.len());
        if seen > state.config.max_body_bytes {
            break;
        }
    }
    error
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let ct = ct
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match ct.as_str() {
        "application/json" | "application/x-ndjson" | "application/jsonl" | "text/plain" | "" => {
            Ok(())
        }
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "content type {other} is not accepted: send application/json (an array) or application/x-ndjson (JSON Lines)"
            ),
        )),
    }
}

/// Parses a JSON array or JSON Lines into values; syntax errors name the place.
fn parse_records(bytes: &[u8]) -> Result<Vec<Value>, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "body is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(ApiError::bad_request(
            "body is empty: send a JSON array of records or JSON Lines",
        ));
    }
    if trimmed.starts_with('[') {
        return serde_json::from_str::<Vec<Value>>(text).map_err(|e| {
            ApiError::bad_request(format!(
                "body is not a valid JSON array: {e} (line {}, column {})",
                e.line(),
                e.column()
            ))
        });
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v = serde_json::from_str::<Value>(line).map_err(|e| {
            ApiError::bad_request(format!(
                "line {} is not valid JSON: {e} (column {})",
                i + 1,
                e.column()
            ))
        })?;
        out.push(v);
    }
    Ok(out)
}

/// Checks a department's right to a record, and this node's ownership.
fn rights(
    state: &AppState,
    dept: &Department,
    kind: &str,
    jurisdiction: &str,
) -> Result<(), String> {
    let roster = state.shared.roster();
    let Some(me) = roster.roster.member(&state.shared.member) else {
        return Err(format!(
            "this node ({}) is not in the roster in force (version {})",
            state.shared.member, roster.roster.version
        ));
    };
    if !me.jurisdictions.iter().any(|j| j == jurisdiction) {
        let owner = roster.roster.owner_of(jurisdiction);
        return Err(match owner {
            Some(o) => format!(
                "jurisdiction {jurisdiction} belongs to {} ({}), not to this node ({}): one number, one source — submit it there",
                o.id, o.name, me.id
            ),
            None => format!("no member of the federation owns jurisdiction {jurisdiction}"),
        });
    }
    if !dept.jurisdictions.contains(jurisdiction) {
        return Err(format!(
            "token of {} may not submit for jurisdiction {jurisdiction}",
            dept.name
        ));
    }
    if let Some(kinds) = &dept.kinds
        && !kinds.contains(kind)
    {
        return Err(format!(
            "token of {} may not submit records of kind {kind}",
            dept.name
        ));
    }
    Ok(())
}

fn error_list(errors: &[RecordError]) -> Value {
    Value::Array(
        errors
            .iter()
            .map(|e| json!({"field": e.field, "problem": e.problem}))
            .collect(),
    )
}

/// `POST /v1/records`.
pub async fn post_records(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let dept = match require_department(&state, &headers)
        .and_then(|d| check_content_type(&headers).map(|()| d))
    {
        Ok(d) => d,
        Err(e) => return Err(refuse(&state, body, e).await),
    };
    let bytes = read_body(&state, body).await?;
    let values = parse_records(&bytes)?;
    if values.len() > state.config.max_records_per_request {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "{} records in one request, more than max_records_per_request = {}",
                values.len(),
                state.config.max_records_per_request
            ),
        ));
    }
    let catalog = &state.config.catalog;
    let mut results: Vec<Value> = vec![Value::Null; values.len()];
    let mut to_sign: Vec<(usize, Record, Vec<String>)> = Vec::new();
    for (index, v) in values.iter().enumerate() {
        let checked = Record::from_json_with_warnings(v, catalog);
        match checked {
            Err(errors) => {
                results[index] =
                    json!({"index": index, "status": "rejected", "errors": error_list(&errors)})
            }
            Ok((record, warnings)) => {
                match rights(&state, &dept, &record.kind, &record.jurisdiction) {
                    Err(problem) => {
                        results[index] = json!({"index": index, "status": "rejected",
                        "errors": [{"field": "jurisdiction", "problem": problem}]});
                    }
                    Ok(()) => to_sign.push((index, record, warnings)),
                }
            }
        }
    }
    if !to_sign.is_empty() {
        let (tx, rx) = oneshot::channel();
        let records = to_sign.iter().map(|(_, r, _)| r.clone()).collect();
        state
            .jobs
            .send(Job::Put { records, reply: tx })
            .await
            .map_err(|_| shutting_down())?;
        let outcomes = rx.await.map_err(|_| shutting_down())?.map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
            )
        })?;
        for ((index, record, warnings), outcome) in to_sign.into_iter().zip(outcomes) {
            let key = record.key().to_string();
            results[index] = match outcome {
                Outcome::Accepted { seq } => {
                    json!({"index": index, "status": "accepted", "seq": seq, "key": key, "warnings": warnings})
                }
                Outcome::Duplicate { seq } => {
                    json!({"index": index, "status": "duplicate", "seq": seq, "key": key})
                }
                Outcome::Rejected { reason } => {
                    json!({"index": index, "status": "rejected", "key": key,
                    "errors": [{"field": "record", "problem": reason}]})
                }
            };
        }
    }
    let count = |s: &str| results.iter().filter(|r| r["status"] == s).count() as u64;
    let (accepted, duplicates, rejected) =
        (count("accepted"), count("duplicate"), count("rejected"));
    state.metrics.count_ingest("accepted", accepted);
    state.metrics.count_ingest("duplicate", duplicates);
    state.metrics.count_ingest("rejected", rejected);
    let log = state.store.log_state(&state.config.member)?;
    tracing::info!(department = %dept.name, accepted, duplicates, rejected, "ingest");
    Ok(Json(json!({
        "accepted": accepted,
        "duplicates": duplicates,
        "rejected": rejected,
        "results": results,
        "checkpoint": log.map(|l| json!({"size": l.size, "root": base64_encode(&l.root)})),
    })))
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn shutting_down() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the node is shutting down; retry against it once it is back",
    )
}

/// Body of `POST /v1/records/revoke`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    key: RecordKey,
    reason: RevokeReason,
    basis: String,
}

/// `POST /v1/records/revoke`.
pub async fn post_revoke(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let dept = match require_department(&state, &headers)
        .and_then(|d| check_content_type(&headers).map(|()| d))
    {
        Ok(d) => d,
        Err(e) => return Err(refuse(&state, body, e).await),
    };
    let bytes = read_body(&state, body).await?;
    let req: RevokeRequest = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "body is not a revoke request: {e}; see docs/api.md"
        ))
    })?;
    if req.basis.trim().is_empty()
        || req.basis.chars().count() > rongxin_protocol::entry::MAX_OP_TEXT_CHARS
    {
        return Err(ApiError::bad_request(
            "basis must name the decision behind the revocation (1-2000 characters)",
        ));
    }
    rights(&state, &dept, &req.key.kind, &req.key.jurisdiction).map_err(ApiError::forbidden)?;
    match state.store.record(&req.key)? {
        None => {
            return Err(ApiError::not_found(format!(
                "no record {} in this node's log",
                req.key
            )));
        }
        Some(s) if s.revoked.is_some() => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("record {} is already revoked", req.key),
            ));
        }
        Some(_) => {}
    }
    let key = req.key.to_string();
    let (tx, rx) = oneshot::channel();
    let revoke = Revoke {
        key: req.key,
        reason: req.reason,
        basis: req.basis.trim().to_owned(),
    };
    state
        .jobs
        .send(Job::Revoke { revoke, reply: tx })
        .await
        .map_err(|_| shutting_down())?;
    let outcome = rx.await.map_err(|_| shutting_down())?.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
        )
    })?;
    match outcome {
        Outcome::Accepted { seq } => {
            tracing::info!(department = %dept.name, %key, seq, "revoked");
            Ok(Json(json!({"status": "accepted", "seq": seq, "key": key})))
        }
        Outcome::Duplicate { .. } => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("record {key} is already revoked"),
        )),
        Outcome::Rejected { reason } => {
            Err(ApiError::new(StatusCode::CONFLICT, "conflict", reason))
        }
    }
}
