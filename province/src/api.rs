//! `POST /v1/entries` (docs/province-interface.md): the request and answer
//! formats and the handler that maps a batch's fate to its status.

use std::pin::Pin;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hyper::body::Body as _;
use rongxin_protocol::entry::SignedEntry;
use serde_json::json;

use crate::faults::FaultAction;
use crate::receive::{Batch, ReceiveError, Receiver, Refusal};

pub use rongxin_protocol::forward::{FORMAT, ForwardEntry, ForwardRequest};

/// Largest request body by default: the limit the interface states.
pub const MAX_BODY_BYTES: usize = rongxin_protocol::forward::INTERFACE_MAX_BODY_BYTES;
/// Most entries in one batch.
pub const MAX_BATCH: usize = rongxin_protocol::forward::MAX_ENTRIES;

/// The authenticated client of a TLS connection.
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    /// The subject CN of its certificate (one of `accepted_senders`).
    pub cn: String,
}

/// State of the entries handler.
#[derive(Debug, Clone)]
pub struct EntriesState {
    /// The receiver.
    pub receiver: Arc<Receiver>,
    /// Largest request body accepted (`max_body_bytes`).
    pub max_body_bytes: usize,
}

/// The entries router (served over mutual TLS).
pub fn router(state: EntriesState) -> axum::Router {
    axum::Router::new()
        .route("/v1/entries", post(post_entries))
        .with_state(state)
}

/// An error answer: `{"error": {"code", "message", …}}`.
fn error(status: StatusCode, code: &str, message: String, extra: serde_json::Value) -> Response {
    let mut body = json!({"code": code, "message": message});
    if let (Some(b), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        b.extend(extra);
    }
    (status, Json(json!({ "error": body }))).into_response()
}

fn bad_request(message: String) -> Response {
    error(StatusCode::BAD_REQUEST, "bad_request", message, json!({}))
}

async fn post_entries(
    State(state): State<EntriesState>,
    Extension(client): Extension<ClientIdentity>,
    Extension(fault): Extension<FaultAction>,
    body: Body,
) -> Response {
    match fault {
        FaultAction::Refuse => {
            tracing::warn!("fault injection: refusing an entries request with 503");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the province is refusing requests (fault injection)".into(),
                json!({}),
            );
        }
        FaultAction::Delay(d) => {
            tracing::warn!(
                delay_ms = d.as_millis(),
                "fault injection: delaying an entries request"
            );
            tokio::time::sleep(d).await;
        }
        _ => {}
    }
    let limit = state.max_body_bytes;
    let body = match read_body(body, limit).await {
        Ok(b) => b,
        // 413 with the limit, so the sender can cut smaller batches rather
        // than resend the same one (docs/province-interface.md).
        Err(BodyError::TooLarge { received }) => {
            tracing::warn!(sender = %client.cn, limit, received, "entries request over the body limit");
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "the request body is over this province's limit of {limit} bytes: send fewer entries per request"
                ),
                json!({"limit_bytes": limit}),
            );
        }
        Err(BodyError::Read(e)) => {
            return bad_request(format!("cannot read the body: {e}"));
        }
    };
    let bytes = body.len();
    let mut batch = match parse(&body, &client) {
        Ok(b) => b,
        Err(message) => {
            tracing::warn!(sender = %client.cn, %message, "bad entries request");
            return bad_request(message);
        }
    };
    if fault == FaultAction::Corrupt
        && let Some(byte) = batch.entries.first_mut().and_then(|e| e.bytes.last_mut())
    {
        tracing::warn!(
            origin = %batch.origin,
            seq = batch.first_seq,
            "fault injection: altering the first entry's bytes before verification"
        );
        *byte ^= 0x01;
    }
    let (origin, first, count) = (batch.origin.clone(), batch.first_seq, batch.entries.len());
    let answer = match state.receiver.receive(batch).await {
        Ok(ack) => {
            tracing::info!(
                %origin,
                from = first,
                count,
                bytes,
                stored = ack.stored,
                acked_through = ack.acked_through,
                "batch acknowledged"
            );
            (
                StatusCode::OK,
                Json(json!({"origin": origin, "acked_through": ack.acked_through})),
            )
                .into_response()
        }
        Err(ReceiveError::Refused(r)) => {
            tracing::warn!(%origin, from = first, count, bytes, refusal = %r, "batch refused");
            refusal(r)
        }
        Err(e) => {
            tracing::error!(%origin, from = first, count, error = %e, "batch not stored");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("the batch was not stored: {e}"),
                json!({}),
            )
        }
    };
    if let FaultAction::LateAck(d) = fault {
        tracing::warn!(delay_ms = d.as_millis(), "fault injection: answering late");
        tokio::time::sleep(d).await;
    }
    answer
}

fn refusal(r: Refusal) -> Response {
    let message = r.to_string();
    match r {
        Refusal::Gap { expected_from } => error(
            StatusCode::CONFLICT,
            "gap",
            message,
            json!({"expected_from": expected_from}),
        ),
        Refusal::Conflict { seq, .. } => error(
            StatusCode::CONFLICT,
            "conflict",
            message,
            json!({"seq": seq}),
        ),
        Refusal::Invalid { seq, .. } => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_entry",
            message,
            json!({"seq": seq}),
        ),
    }
}

/// Why a body was not read.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("the body is over the limit ({received} bytes or more received)")]
    TooLarge { received: u64 },
    #[error("{0}")]
    Read(String),
}

/// Reads a body of at most `limit` bytes. A larger one is read on and
/// dropped (up to [`DRAIN_MAX_BYTES`]) before it is refused: a sender still
/// writing its body when the connection closes sees a broken pipe, not the
/// 413 that tells it to send less, and would resend the same request.
async fn read_body(mut body: Body, limit: usize) -> Result<Vec<u8>, BodyError> {
    let declared = body.size_hint().exact();
    if declared.is_some_and(|n| n > DRAIN_MAX_BYTES) {
        return Err(BodyError::TooLarge {
            received: declared.unwrap_or(0),
        });
    }
    let mut buf = Vec::new();
    let mut received: u64 = 0;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| BodyError::Read(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        received += data.len() as u64;
        if received > DRAIN_MAX_BYTES {
            return Err(BodyError::TooLarge { received });
        }
        if received <= limit as u64 {
            buf.extend_from_slice(&data);
        } else if !buf.is_empty() {
            buf = Vec::new();
        }
    }
    if received > limit as u64 {
        return Err(BodyError::TooLarge { received });
    }
    Ok(buf)
}

/// Most bytes of an over-limit body read and dropped before the 413: the
/// largest batch a city may be configured to send (256 MiB).
const DRAIN_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// Checks the request's form and decodes its entries.
fn parse(body: &[u8], client: &ClientIdentity) -> Result<Batch, String> {
    let req: ForwardRequest = serde_json::from_slice(body)
        .map_err(|e| format!("the body is not a forward request: {e}"))?;
    if req.format != FORMAT {
        return Err(format!(
            "format is '{}', this province reads '{FORMAT}'",
            req.format
        ));
    }
    if req.sender != client.cn {
        return Err(format!(
            "sender is '{}', but the client certificate is '{}'",
            req.sender, client.cn
        ));
    }
    let Some(first) = req.entries.first() else {
        return Err("entries is empty: send at least one entry".into());
    };
    if req.entries.len() > MAX_BATCH {
        return Err(format!(
            "{} entries in one batch; at most {MAX_BATCH}",
            req.entries.len()
        ));
    }
    let first_seq = first.seq;
    let mut entries = Vec::with_capacity(req.entries.len());
    for (i, item) in req.entries.iter().enumerate() {
        if Some(item.seq) != first_seq.checked_add(i as u64) {
            return Err(format!(
                "entries[{i}] has seq {}, expected {} (seqs must be consecutive and ascending)",
                item.seq,
                first_seq.saturating_add(i as u64)
            ));
        }
        let bytes = B64
            .decode(&item.entry)
            .map_err(|_| format!("entries[{i}] (seq {}): entry is not base64", item.seq))?;
        let signature: [u8; 64] = B64
            .decode(&item.signature)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| {
                format!(
                    "entries[{i}] (seq {}): signature is not the base64 of 64 bytes",
                    item.seq
                )
            })?;
        entries.push(SignedEntry { bytes, signature });
    }
    Ok(Batch {
        origin: req.origin,
        checkpoint: req.checkpoint,
        first_seq,
        entries,
    })
}
