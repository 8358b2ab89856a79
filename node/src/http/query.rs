//! `GET /v1/subjects/{code}`: a subject's credit profile, one page at a
//! time, logged.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use rongxin_protocol::value::Date;
use rongxin_protocol::{code, person};
use serde::Deserialize;

use super::extract::{Path, Query};
use super::{ApiError, AppState, reader, remote};
use crate::ingest::now_ms;
use crate::metrics::AccessLabel;
use crate::query::{
    self, DEFAULT_PROFILE_LIMIT, MAX_PROFILE_LIMIT, Profile, ProfileError, ProfilePage,
    query_id_text,
};

/// Longest cursor accepted: the hex of a record key, whose four texts are
/// bounded at ingest.
const MAX_CURSOR_CHARS: usize = 4096;

/// Query of `GET /v1/subjects/{code}`.
#[derive(Debug, Deserialize)]
pub struct SubjectQuery {
    #[serde(default)]
    purpose: String,
    limit: Option<usize>,
    cursor: Option<String>,
}

impl SubjectQuery {
    fn page(&self) -> Result<ProfilePage, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_PROFILE_LIMIT);
        if limit == 0 || limit > MAX_PROFILE_LIMIT {
            return Err(ApiError::bad_request(format!(
                "limit = {limit}: a profile page shows 1..={MAX_PROFILE_LIMIT} records (default {DEFAULT_PROFILE_LIMIT}); follow `next` for more"
            )));
        }
        let cursor = match self.cursor.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) if c.len() <= MAX_CURSOR_CHARS && c.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(c.to_ascii_lowercase())
            }
            Some(_) => {
                return Err(ApiError::bad_request(
                    "cursor is not a profile cursor; pass the `next` of the previous page unchanged",
                ));
            }
        };
        Ok(ProfilePage { limit, cursor })
    }
}

/// Today's date in Beijing time (UTC+8), which publicity periods count in.
pub fn today() -> Option<Date> {
    let now = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8));
    Date::from_time(now.date())
}

/// `GET /v1/subjects/{code}`.
pub async fn get_subject(
    State(state): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(input): Path<String>,
    Query(q): Query<SubjectQuery>,
) -> Result<Json<Profile>, ApiError> {
    let page = q.page()?;
    let (access, who, _) = reader(&state, &headers)?;
    let legacy = state.config.catalog.legacy_codes();
    let subject = if person::is_document_code(&input) {
        person::parse(&input, legacy)
            .map_err(|e| ApiError::bad_request(format!("'{input}' is not a subject code: {e}")))?
            .code
    } else {
        code::detect(&input, legacy)
            .or_else(|e| match e {
                code::CodeError::Ambiguous { .. } => {
                    code::parse(code::CodeKind::Uscc, &input, legacy)
                }
                other => Err(other),
            })
            .map_err(|e| ApiError::bad_request(format!("'{input}' is not a subject code: {e}")))?
            .code
    };
    let purpose = q.purpose.trim().chars().take(500).collect::<String>();
    let store = state.store.clone();
    let shared = state.shared.clone();
    let subject_for_task = subject.clone();
    let today = today().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the system clock is outside years 1-9999",
        )
    })?;
    let mut profile = super::logs::off_runtime(move || {
        query::profile(
            &store,
            &shared.catalog,
            &subject_for_task,
            access,
            today,
            &page,
        )
        .map_err(|e| match e {
            ProfileError::Store(e) => ApiError::from(e),
            e @ ProfileError::UnknownCursor(_) => ApiError::bad_request(e.to_string()),
        })
    })
    .await?;
    let time_ms = now_ms();
    let id = state.query_ids.next(time_ms);
    profile.query_id = query_id_text(id);
    let entry = query::log_entry(
        &profile,
        &subject,
        &who,
        &purpose,
        &remote(Some(addr)),
        time_ms,
    );
    state.store.log_query(id, entry).await?;
    state
        .metrics
        .queries
        .get_or_create(&AccessLabel {
            access: access.as_str().to_owned(),
        })
        .inc();
    Ok(Json(profile))
}
