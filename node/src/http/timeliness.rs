//! `GET /v1/admin/timeliness`: publication timeliness (双公示 七日内) per
//! origin, authority and kind, over the logs this node holds.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use rongxin_protocol::timeliness::TimelinessAnswer;
use rongxin_protocol::value::Date;
use serde::Deserialize;

use super::{ApiError, AppState, require_ops};

/// Query of `GET /v1/admin/timeliness`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelinessQuery {
    origin: Option<String>,
    authority: Option<String>,
    /// First decision date counted.
    from: Option<String>,
    /// Last decision date counted.
    to: Option<String>,
}

pub(super) fn date(name: &str, v: Option<&str>) -> Result<Option<Date>, ApiError> {
    v.map(|s| {
        s.parse::<Date>().map_err(|e| {
            ApiError::bad_request(format!("{name} = '{s}' is not a date YYYY-MM-DD: {e}"))
        })
    })
    .transpose()
}

/// `GET /v1/admin/timeliness?origin=&authority=&from=&to=` (admin or
/// monitor token): records of double-publicity kinds decided from `from`
/// to `to`, on time or late against the roster's `deadlines.publication`.
pub async fn get_timeliness(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<TimelinessQuery>,
) -> Result<Json<TimelinessAnswer>, ApiError> {
    require_ops(&state, &headers)?;
    let from = date("from", q.from.as_deref())?;
    let to = date("to", q.to.as_deref())?;
    let deadline = state.shared.roster().roster.deadlines.publication;
    let st = state.clone();
    let filter = crate::timeliness::Filter {
        origin: q.origin,
        authority: q.authority,
        from,
        to,
    };
    let rows =
        tokio::task::spawn_blocking(move || crate::timeliness::rows(&st.store, deadline, &filter))
            .await
            .map_err(|e| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            })??;
    Ok(Json(TimelinessAnswer {
        deadline_working_days: deadline,
        rows,
    }))
}
