//! `POST /v1/records` and `POST /v1/records/revoke`.

mod body;
mod csv_rows;

use std::io::Cursor;
use std::sync::Arc;

use super::extract::Query;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use rongxin_protocol::catalog::Catalog;
use rongxin_protocol::dpcsv;
use rongxin_protocol::entry::{Revoke, RevokeReason};
use rongxin_protocol::record::{Record, RecordError, RecordKey};
use rongxin_protocol::tally::Tally;
use rongxin_protocol::value::{Date, control_character};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use self::body::{
    BodyError, ErrorBudget, Limit, Listed, MAX_FIELD_CHARS, MAX_PROBLEM_CHARS, Problem, cut,
};

use super::{ApiError, AppState, require_department};
use crate::config::Department;
use crate::ingest::{Job, Outcome};

/// Reads the body up to `max_body_bytes`, answering 413 past it.
async fn read_body(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let limit = Limit {
        bytes: state.config.max_body_bytes,
        why: "max_body_bytes",
        fix: "split it into smaller requests",
    };
    body::read_limited(body, content_length(headers), limit)
        .await
        .map_err(body_error)
}

/// The declared body length, to size the buffer once and refuse early.
fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
}

fn body_error(e: BodyError) -> ApiError {
    if e.is_too_large() {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            e.to_string(),
        )
    } else {
        ApiError::bad_request(e.to_string())
    }
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

/// What an ingest body holds, by its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// A JSON array of records or JSON Lines.
    Json,
    /// A double-publicity CSV file (`text/csv`, only on `POST /v1/records`).
    Csv,
}

/// The body's format by its content type (a charset parameter is ignored:
/// a CSV's encoding is told from its bytes, as `rongxinctl submit` does).
fn body_format(headers: &HeaderMap) -> Result<Format, ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(Format::Json);
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
            Ok(Format::Json)
        }
        "text/csv" => Ok(Format::Csv),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "content type {other} is not accepted: send application/json (an array), application/x-ndjson (JSON Lines) or, to POST /v1/records, text/csv (a double-publicity file, with ?kind=XK or ?kind=CF)"
            ),
        )),
    }
}

/// Requests with a JSON body only.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    match body_format(headers)? {
        Format::Json => Ok(()),
        Format::Csv => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "content type text/csv is accepted by POST /v1/records only: send application/json",
        )),
    }
}

/// Checks a department's right to a record, and this node's ownership.
pub(super) fn rights(
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

/// The answer of `POST /v1/records`.
#[derive(Debug, Serialize)]
pub struct IngestAnswer {
    accepted: u64,
    duplicates: u64,
    rejected: u64,
    /// The text encoding a CSV body was read in (`UTF-8`, `gb18030`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding: Option<&'static str>,
    results: Vec<RecordResult>,
    checkpoint: Option<CheckpointRef>,
}

#[derive(Debug, Serialize)]
struct CheckpointRef {
    size: u64,
    root: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    Accepted,
    Duplicate,
    Rejected,
}

/// One record's line of the answer; which fields are present depends on
/// the status (docs/api.md).
#[derive(Debug, Serialize)]
struct RecordResult {
    index: usize,
    /// A CSV row's line in the file (the header is line 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u64>,
    status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<Vec<Problem>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors_omitted: Option<usize>,
}

impl RecordResult {
    fn signed(index: usize, status: Status, seq: u64, key: String) -> RecordResult {
        RecordResult {
            index,
            line: None,
            status,
            seq: Some(seq),
            key: Some(key),
            warnings: None,
            errors: None,
            errors_omitted: None,
        }
    }

    fn rejected(index: usize, key: Option<String>, listed: Listed) -> RecordResult {
        RecordResult {
            index,
            line: None,
            status: Status::Rejected,
            seq: None,
            key,
            warnings: None,
            errors: Some(listed.errors),
            errors_omitted: Some(listed.omitted),
        }
    }
}

/// A record's errors as `(field, problem)`, for the [`ErrorBudget`].
type Errors = Vec<(String, String)>;

fn pairs(errors: Vec<RecordError>) -> Errors {
    errors.into_iter().map(|e| (e.field, e.problem)).collect()
}

/// Reads and checks one record from its raw JSON: size and nesting, the
/// catalog (as a replica would check it) and the ingest rules for signing.
pub(super) fn check_record(
    raw: &RawValue,
    catalog: &Catalog,
    today: Date,
) -> Result<(Record, Vec<String>), Errors> {
    let value = body::record_value(raw).map_err(|p| vec![("record".to_owned(), p)])?;
    check_value(&value, catalog, today)
}

/// Checks one record read as JSON (from a JSON body, or mapped from a CSV
/// row): the catalog (as a replica would check it) and the ingest rules
/// for signing.
fn check_value(
    value: &Value,
    catalog: &Catalog,
    today: Date,
) -> Result<(Record, Vec<String>), Errors> {
    let (record, warnings) = Record::from_json_with_warnings(value, catalog).map_err(pairs)?;
    record.check_for_signing(catalog, today).map_err(pairs)?;
    Ok((record, warnings))
}

/// Checks a record mapped from the standard's columns (a CSV row, or a
/// JSON record in those columns) by the rules of a JSON record
/// ([`check_value`]), on the mapped record itself: no JSON object is built
/// and read back.
pub(super) fn check_mapped(
    record: dpcsv::MappedRecord,
    catalog: &Catalog,
    today: Date,
) -> Result<(Record, Vec<String>), Errors> {
    record
        .into_record(catalog)
        .and_then(|(record, warnings)| {
            record.check_for_signing(catalog, today)?;
            Ok((record, warnings))
        })
        .map_err(pairs)
}

/// Reads a small JSON request body (at most `bytes`, or `max_body_bytes`
/// if smaller) after checking its content type; `what` names the request
/// in the 413 answer.
pub(super) async fn read_small_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    bytes: usize,
    why: &'static str,
    fix: &'static str,
) -> Result<Vec<u8>, ApiError> {
    if let Err(e) = check_content_type(headers) {
        return Err(refuse(state, body, e).await);
    }
    let limit = Limit {
        bytes: state.config.max_body_bytes.min(bytes),
        why,
        fix,
    };
    body::read_limited(body, content_length(headers), limit)
        .await
        .map_err(body_error)
}

/// Query parameters of `POST /v1/records`: the kind of a `text/csv` body, and the
/// jurisdiction of rows or records in the standard's columns that name none.
#[derive(Debug, Deserialize)]
pub struct IngestParams {
    /// `XK` or `CF`: the kind of a CSV file.
    kind: Option<String>,
    /// Fills CSV rows, and JSON records in the standard's columns, without
    /// DFBM / JURISDICTION.
    jurisdiction: Option<String>,
}

/// `POST /v1/records`.
pub async fn post_records(
    State(state): State<Arc<AppState>>,
    Query(params): Query<IngestParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestAnswer>, ApiError> {
    let (dept, format) = match require_department(&state, &headers)
        .and_then(|d| body_format(&headers).map(|f| (d, f)))
    {
        Ok(d) => d,
        Err(e) => return Err(refuse(&state, body, e).await),
    };
    let file = match format {
        Format::Json => None,
        Format::Csv => match csv_rows::file_kind(params.kind.as_deref()) {
            Ok(file) => Some(file),
            Err(e) => return Err(refuse(&state, body, e).await),
        },
    };
    let bytes = read_body(&state, &headers, body).await?;
    let today = super::query::today().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the node's clock is outside years 1-9999; fix the system clock",
        )
    })?;
    let mut checked = Checked::default();
    let read = match file {
        None => body::split_records(&bytes, state.config.max_records_per_request)
            .map_err(body_error)
            .map(|raws| {
                let catalog = &state.config.catalog;
                let jurisdiction = params.jurisdiction.as_deref();
                for raw in &raws {
                    let value = match body::record_value(raw) {
                        Ok(Value::Object(object)) if dpcsv::in_columns(&object) => object,
                        read => {
                            let outcome = read
                                .map_err(|p| vec![("record".to_owned(), p)])
                                .and_then(|value| check_value(&value, catalog, today));
                            checked.add(&state, &dept, None, outcome, Vec::new());
                            continue;
                        }
                    };
                    // A record in the standard's columns, mapped as a CSV
                    // row is (docs/double-publicity.md).
                    let mut warnings = Vec::new();
                    let mapped =
                        dpcsv::map_object(&value, Some(catalog), jurisdiction, &mut warnings);
                    let warnings = warnings.iter().map(ToString::to_string).collect();
                    // The key at fault: the mapping's, or the one that gave
                    // the value the record's check refuses.
                    let (outcome, kind, mapping_column) = match mapped {
                        Ok(record) => {
                            let kind = record.kind.clone();
                            (check_mapped(record, catalog, today), Some(kind), None)
                        }
                        Err(e) => (Err(vec![(e.field.to_owned(), e.problem)]), None, e.column),
                    };
                    if let Some(result) = checked.add(&state, &dept, None, outcome, warnings) {
                        for problem in result.errors.iter_mut().flatten() {
                            let column = match &kind {
                                Some(kind) => {
                                    dpcsv::key_of(&value, Some(catalog), kind, &problem.field)
                                }
                                None => mapping_column.clone(),
                            };
                            problem.column = column.map(|c| cut(&c, MAX_FIELD_CHARS));
                        }
                    }
                }
                None
            }),
        Some(file) => csv_rows::check_rows(
            &state,
            &dept,
            &bytes,
            file,
            params.jurisdiction.as_deref(),
            today,
            &mut checked,
        )
        .map(Some),
    };
    let encoding = match read {
        Ok(encoding) => encoding,
        Err(e) => {
            // The department's tally counts what it sent, refused whole.
            if let Some(day) = super::query::today() {
                let mut t = Tally::default();
                t.refuse_request(records_in(&bytes, file.is_some()), e.message());
                state.tallies.note(day, &dept.name, &t);
            }
            return Err(e);
        }
    };
    drop(bytes);
    commit_and_answer(&state, &dept, checked, encoding).await
}

/// How many records a body refused whole held, as far as can be told
/// without reading them: a CSV body's rows under its header, a JSON Lines
/// body's non-blank lines; 1 for anything else (a JSON array that does not
/// parse).
fn records_in(bytes: &[u8], csv: bool) -> u64 {
    let n = if csv {
        // Bytes, not text: in UTF-8 and GB18030 alike, separators, quotes
        // and line ends are single bytes that never occur inside a character.
        let mut reader = rongxin_protocol::dpcsv::csv_reader(Cursor::new(bytes));
        let mut row = csv::ByteRecord::new();
        let mut n = 0u64;
        while let Ok(true) = reader.read_byte_record(&mut row) {
            n += 1;
        }
        n
    } else if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        0
    } else {
        bytes
            .split(|&b| b == b'\n')
            .filter(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
            .count() as u64
    };
    n.max(1)
}

/// A record checked and allowed, waiting for the committer.
#[derive(Debug)]
struct Pending {
    index: usize,
    line: Option<u64>,
    record: Record,
    warnings: Vec<String>,
}

/// The records of one request as they are checked, in order: each either
/// refused (its result is final) or waiting to be signed.
#[derive(Debug, Default)]
struct Checked {
    results: Vec<Option<RecordResult>>,
    to_sign: Vec<Pending>,
    budget: ErrorBudget,
}

impl Checked {
    /// Adds the next record: the outcome of its checks, then the token's
    /// rights to it. `warnings` come first in its answer (a CSV row's
    /// values normalised on reading). Returns the errors it was refused
    /// for, as listed in the answer.
    fn add(
        &mut self,
        state: &AppState,
        dept: &Department,
        line: Option<u64>,
        outcome: Result<(Record, Vec<String>), Errors>,
        mut warnings: Vec<String>,
    ) -> Option<&mut RecordResult> {
        let index = self.results.len();
        let errors = match outcome {
            Err(errors) => errors,
            Ok((record, more)) => match rights(state, dept, &record.kind, &record.jurisdiction) {
                Err(problem) => vec![("jurisdiction".to_owned(), problem)],
                Ok(()) => {
                    warnings.extend(more);
                    self.to_sign.push(Pending {
                        index,
                        line,
                        record,
                        warnings,
                    });
                    self.results.push(None);
                    return None;
                }
            },
        };
        let mut result = RecordResult::rejected(index, None, self.budget.list(errors.into_iter()));
        result.line = line;
        result.warnings = (!warnings.is_empty()).then_some(warnings);
        self.results.push(Some(result));
        self.results[index].as_mut()
    }
}

/// Signs the records that passed their checks (one committer job; the
/// answer waits until they are on disk) and answers for every record.
async fn commit_and_answer(
    state: &AppState,
    dept: &Department,
    checked: Checked,
    encoding: Option<&'static str>,
) -> Result<Json<IngestAnswer>, ApiError> {
    let Checked {
        mut results,
        to_sign,
        mut budget,
    } = checked;
    if !to_sign.is_empty() {
        let (tx, rx) = oneshot::channel();
        let records = to_sign.iter().map(|p| p.record.clone()).collect();
        state
            .jobs
            .send(Job::Put { records, reply: tx })
            .await
            .map_err(|_| shutting_down())?;
        let outcomes = rx.await.map_err(|_| shutting_down())??;
        for (pending, outcome) in to_sign.into_iter().zip(outcomes) {
            let Pending {
                index,
                line,
                record,
                warnings,
            } = pending;
            let key = record.key().to_string();
            let mut result = match outcome {
                Outcome::Accepted { seq } => RecordResult {
                    warnings: Some(warnings),
                    ..RecordResult::signed(index, Status::Accepted, seq, key)
                },
                Outcome::Duplicate { seq } => {
                    RecordResult::signed(index, Status::Duplicate, seq, key)
                }
                Outcome::Rejected(why) => RecordResult::rejected(
                    index,
                    Some(key),
                    budget.list(std::iter::once(("record".to_owned(), why.to_string()))),
                ),
            };
            result.line = line;
            results[index] = Some(result);
        }
    }
    // Every index is filled: rejected ones while checking, signed ones
    // from the committer's outcomes (one per record sent).
    let results: Vec<RecordResult> = results.into_iter().flatten().collect();
    let count = |s: Status| results.iter().filter(|r| r.status == s).count() as u64;
    let (accepted, duplicates, rejected) = (
        count(Status::Accepted),
        count(Status::Duplicate),
        count(Status::Rejected),
    );
    if let Some(day) = super::query::today() {
        state
            .tallies
            .note(day, &dept.name, &tally(&results, accepted, duplicates));
    }
    state.metrics.count_ingest("accepted", accepted);
    state.metrics.count_ingest("duplicate", duplicates);
    state.metrics.count_ingest("rejected", rejected);
    let log = state.store.log_state(&state.config.member)?;
    tracing::info!(department = %dept.name, accepted, duplicates, rejected, csv = encoding.is_some(), "ingest");
    Ok(Json(IngestAnswer {
        accepted,
        duplicates,
        rejected,
        encoding,
        results,
        checkpoint: log.map(|l| CheckpointRef {
            size: l.size,
            root: base64_encode(&l.root),
        }),
    }))
}

/// The department's figures of one request: every record's outcome, and
/// each refused record's reason, the column (CSV) or field of its first
/// problem.
fn tally(results: &[RecordResult], accepted: u64, duplicates: u64) -> Tally {
    let mut t = Tally {
        submitted: results.len() as u64,
        accepted,
        duplicates,
        ..Tally::default()
    };
    for r in results.iter().filter(|r| r.status == Status::Rejected) {
        match r.errors.as_ref().and_then(|e| e.first()) {
            Some(p) => t.refuse(p.column.as_deref().unwrap_or(&p.field), &p.problem),
            None => t.refuse("record", "refused"),
        }
    }
    t
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

/// Largest body of `POST /v1/records/revoke` (or `max_body_bytes`, if
/// smaller): a key and a basis of at most 2,000 characters take a few KiB.
const MAX_REVOKE_BODY_BYTES: usize = 64 * 1024;

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
    let limit = Limit {
        bytes: state.config.max_body_bytes.min(MAX_REVOKE_BODY_BYTES),
        why: "the limit of a revoke request",
        fix: "a revoke request is a key, a reason and a basis of at most 2,000 characters",
    };
    let bytes = body::read_limited(body, content_length(&headers), limit)
        .await
        .map_err(body_error)?;
    // serde's message echoes what it did not expect (an unknown key, a
    // wrong value): cut it, as the record errors are.
    let req: RevokeRequest = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(cut(
            &format!("body is not a revoke request: {e}; see docs/api.md"),
            MAX_PROBLEM_CHARS,
        ))
    })?;
    drop(bytes);
    if req.basis.trim().is_empty()
        || req.basis.chars().count() > rongxin_protocol::entry::MAX_OP_TEXT_CHARS
    {
        return Err(ApiError::bad_request(
            "basis must name the decision behind the revocation (1-2000 characters)",
        ));
    }
    if let Some((at, c)) = control_character(&req.basis, false) {
        return Err(ApiError::bad_request(format!(
            "basis holds the control character U+{:04X} at character {at}; it names a decision document, on one line",
            u32::from(c)
        )));
    }
    rights(&state, &dept, &req.key.kind, &req.key.jurisdiction)
        .map_err(|p| ApiError::forbidden(cut(&p, MAX_PROBLEM_CHARS)))?;
    match state.store.record(&req.key)? {
        None => {
            return Err(ApiError::not_found(cut(
                &format!("no record {} in this node's log", req.key),
                MAX_PROBLEM_CHARS,
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
    let outcome = rx.await.map_err(|_| shutting_down())??;
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
        Outcome::Rejected(why) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            why.to_string(),
        )),
    }
}
