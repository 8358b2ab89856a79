//! `GET /v1/admin/evaluation`: the period's evaluation of districts and
//! departments (目标绩效考核), for `rongxinctl report evaluation`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use rongxin_protocol::api::EvaluationAnswer;
use serde::Deserialize;

use super::{ApiError, AppState, require_ops};
use crate::evaluation::{Period, evaluate};

/// Query of `GET /v1/admin/evaluation`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationQuery {
    /// First day of the period (decisions, cases received).
    from: Option<String>,
    /// Last day of the period.
    to: Option<String>,
}

/// `GET /v1/admin/evaluation?from=&to=` (admin or monitor token). A report:
/// it reads every measured record and case this node holds, so it is for
/// the period's report, not for a screen that polls.
pub async fn get_evaluation(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<EvaluationQuery>,
) -> Result<Json<EvaluationAnswer>, ApiError> {
    require_ops(&state, &headers)?;
    let period = Period {
        from: super::timeliness::date("from", q.from.as_deref())?,
        to: super::timeliness::date("to", q.to.as_deref())?,
    };
    if let (Some(f), Some(t)) = (period.from, period.to)
        && f > t
    {
        return Err(ApiError::bad_request(format!(
            "from = {f} is after to = {t}: the period is empty"
        )));
    }
    let deadline = state.shared.roster().roster.deadlines.publication;
    let st = state.clone();
    let answer = super::logs::off_runtime(move || {
        let filter = crate::timeliness::Filter {
            from: period.from,
            to: period.to,
            ..Default::default()
        };
        let rows = crate::timeliness::rows(&st.store, deadline, &filter)?;
        let objections = st.store.objections(None)?;
        let repairs = st.store.repairs(None)?;
        let tallies = st.store.tallies(None, period.from, period.to)?;
        Ok(evaluate(
            &rows,
            &objections,
            &repairs,
            &tallies,
            period,
            crate::cases::Cases::today(),
            deadline,
        ))
    })
    .await?;
    Ok(Json(answer))
}
