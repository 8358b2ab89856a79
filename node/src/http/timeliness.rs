//! `GET /v1/admin/timeliness`: publication timeliness (双公示 七日内) per
//! origin, authority and kind, over the logs this node holds.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use rongxin_protocol::timeliness::{MAX_LATE_KEYS, TimelinessAnswer, TimelinessRow};
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

fn date(name: &str, v: Option<&str>) -> Result<Option<Date>, ApiError> {
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
    let rows = tokio::task::spawn_blocking(move || -> Result<Vec<TimelinessRow>, ApiError> {
        let mut rows: BTreeMap<(String, String, String), TimelinessRow> = BTreeMap::new();
        for t in st.store.timely(q.origin.as_deref()) {
            let t = t?;
            let m = t.measured;
            if q.authority
                .as_deref()
                .is_some_and(|a| a != t.key.authority_code)
                || from.is_some_and(|f| m.decided < f)
                || to.is_some_and(|d| m.decided > d)
            {
                continue;
            }
            let row = rows
                .entry((
                    t.origin.clone(),
                    t.key.authority_code.clone(),
                    t.key.kind.clone(),
                ))
                .or_insert_with(|| TimelinessRow {
                    origin: t.origin.clone(),
                    authority: t.key.authority_code.clone(),
                    kind: t.key.kind.clone(),
                    on_time: 0,
                    late: 0,
                    unmeasured: 0,
                    late_records: Vec::new(),
                });
            match m.working_days {
                None => row.unmeasured += 1,
                Some(d) if d <= deadline => row.on_time += 1,
                Some(_) => {
                    row.late += 1;
                    if row.late_records.len() < MAX_LATE_KEYS {
                        row.late_records.push(t.key.to_string());
                    }
                }
            }
        }
        let mut rows: Vec<TimelinessRow> = rows.into_values().collect();
        rows.sort_by(|a, b| {
            a.on_time_rate()
                .total_cmp(&b.on_time_rate())
                .then(b.late.cmp(&a.late))
        });
        Ok(rows)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))??;
    Ok(Json(TimelinessAnswer {
        deadline_working_days: deadline,
        rows,
    }))
}
