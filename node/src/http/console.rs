//! The console page (`GET /`, docs/console.md) and the summary it reads
//! (`GET /v1/admin/console`). The page is static, embedded in the binary
//! and holds no data: everything it shows comes from JSON endpoints that
//! need an admin or monitor token, which the page asks for.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use rongxin_protocol::api::{ConsoleAnswer, EvidenceSummary, MAX_CONSOLE_SUBMISSIONS};

use super::{ApiError, AppState, require_ops};

const INDEX_HTML: &str = include_str!("console/index.html");
const CONSOLE_JS: &str = include_str!("console/console.js");
const CONSOLE_CSS: &str = include_str!("console/console.css");

/// Only this node's own scripts, styles and JSON; never framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
     img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn page(content_type: &'static str, body: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The assets change with the binary: revalidate rather than cache.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// `GET /`: the console page.
pub async fn get_page() -> Response {
    page("text/html; charset=utf-8", INDEX_HTML)
}

/// `GET /console/{asset}`: the page's script and style sheet.
pub async fn get_asset(Path(asset): Path<String>) -> Result<Response, ApiError> {
    match asset.as_str() {
        "console.js" => Ok(page("text/javascript; charset=utf-8", CONSOLE_JS)),
        "console.css" => Ok(page("text/css; charset=utf-8", CONSOLE_CSS)),
        _ => Err(ApiError::not_found(format!(
            "no console asset '{asset}': the console has console.js and console.css"
        ))),
    }
}

/// Most pieces of evidence the console is given (the latest).
const MAX_EVIDENCE: usize = 50;

/// Most characters of an evidence summary's reason.
const MAX_WHY_CHARS: usize = 512;

/// A stored piece of evidence in summary: every kind the node stores has
/// `origin` and `kind`; the time and reason are read where present.
fn summarise(v: &serde_json::Value) -> EvidenceSummary {
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_owned();
    let why = [text("why"), text("fix")]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or_default()
        .chars()
        .take(MAX_WHY_CHARS)
        .collect();
    EvidenceSummary {
        origin: text("origin"),
        kind: text("kind"),
        detected_ms: v.get("detected_ms").and_then(serde_json::Value::as_u64),
        why,
    }
}

/// `GET /v1/admin/console` (admin or monitor token): what the console
/// shows beside the federation matrix, from memory and the background
/// summaries (docs/api.md).
pub async fn get_console(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<ConsoleAnswer>, ApiError> {
    require_ops(&state, &headers)?;
    let st = state.clone();
    let (halted, evidence, submissions) = super::logs::off_runtime(move || {
        let all = st.store.evidence()?;
        let skip = all.len().saturating_sub(MAX_EVIDENCE);
        let evidence = all[skip..].iter().map(summarise).collect();
        // Today's rows of each member: one seek per member, never a scan
        // of the days before.
        let today = crate::cases::Cases::today();
        let mut tallies = Vec::new();
        for m in &st.shared.roster().roster.members {
            tallies.extend(st.store.tallies(Some(&m.id), Some(today), Some(today))?);
        }
        let mut submissions = crate::evaluation::submission_rows(&tallies);
        submissions.sort_by(|a, b| {
            (b.refused, b.submitted)
                .cmp(&(a.refused, a.submitted))
                .then_with(|| (&a.origin, &a.department).cmp(&(&b.origin, &b.department)))
        });
        submissions.truncate(MAX_CONSOLE_SUBMISSIONS);
        Ok((st.store.halted_origins()?, evidence, submissions))
    })
    .await?;
    let summary = state.summaries.latest();
    let c = &state.config;
    Ok(Json(ConsoleAnswer {
        member: c.member.clone(),
        name: c.me.name.clone(),
        role: c.me.role.as_str().to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        now_ms: u64::try_from(crate::ingest::now_ms()).unwrap_or(0),
        refusals: state
            .sync
            .as_ref()
            .map(|s| s.refusals())
            .unwrap_or_default(),
        halted,
        evidence,
        forwarding: state.forward.as_ref().map(|f| f.rows()).unwrap_or_default(),
        cases: summary
            .as_ref()
            .map(|s| s.cases.clone())
            .unwrap_or_default(),
        timeliness: summary
            .as_ref()
            .map(|s| s.timeliness.clone())
            .unwrap_or_default(),
        timeliness_rows: summary.as_ref().map_or(0, |s| s.timeliness_rows),
        summarized_ms: summary.as_ref().map(|s| s.computed_ms),
        deadline_working_days: state.shared.roster().roster.deadlines.publication,
        submissions,
    }))
}
