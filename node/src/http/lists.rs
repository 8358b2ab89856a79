//! `GET /v1/lists/{red|black}`: the red and black lists (红黑榜), derived from
//! every origin's records of list kinds that this node holds. At the city
//! that is the whole city. Lists are public views: only records of 公开
//! kinds appear, personal ID numbers masked.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use rongxin_protocol::catalog::{PublicAttribute, SubjectClass};
use rongxin_protocol::entry::{Entry, Op};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Path, Query};
use super::logs::off_runtime;
use super::query::today;
use super::{ApiError, AppState};

/// Entries per page.
pub const PAGE_SIZE: usize = 100;
/// The last page a request may ask for: a page is found by walking the
/// index past every earlier item, so the walk is bounded (10 million items).
pub const MAX_PAGE: usize = 99_999;

/// Query of `GET /v1/lists/{list}`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    category: Option<String>,
    #[serde(default)]
    page: usize,
}

/// `GET /v1/lists/{red|black}?category=&page=`.
pub async fn get_list(
    State(state): State<Arc<AppState>>,
    Path(list): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let red = match list.as_str() {
        "red" => true,
        "black" => false,
        other => {
            return Err(ApiError::not_found(format!(
                "there is no list '{other}': use red (红榜) or black (黑榜)"
            )));
        }
    };
    if q.page > MAX_PAGE {
        return Err(ApiError::bad_request(format!(
            "page = {}: pages are numbered 0..={MAX_PAGE} ({PAGE_SIZE} items each); follow next_page",
            q.page
        )));
    }
    let today =
        today().ok_or_else(|| ApiError::bad_request("the node's clock is outside years 1-9999"))?;
    off_runtime(move || list_page(&state, red, &list, q, today)).await
}

/// Walks the list index to page `q.page` (store reads; run off the runtime).
fn list_page(
    state: &AppState,
    red: bool,
    list: &str,
    q: ListQuery,
    today: rongxin_protocol::value::Date,
) -> Result<Json<Value>, ApiError> {
    let catalog = &state.shared.catalog;
    let store = &state.store;
    // Pages count shown items; revoked ones are not in the index, expired
    // ones are skipped here, so walk the index until the page is full.
    let mut items = Vec::new();
    let mut skipped_shown = 0usize;
    let mut offset = 0usize;
    let want_from = q.page * PAGE_SIZE;
    'scan: loop {
        let keys = store.list_records(red, q.category.as_deref(), offset, 500)?;
        if keys.is_empty() {
            break;
        }
        offset += keys.len();
        for key in keys {
            let Some(rs) = store.record(&key)? else {
                continue;
            };
            if rs.revoked.is_some() {
                continue;
            }
            let Some(signed) = store.entry(&rs.origin, rs.put_seq)? else {
                continue;
            };
            let Ok(Entry {
                op: Op::Put(record),
                ..
            }) = Entry::decode(&signed.bytes)
            else {
                continue;
            };
            let Some(kind) = catalog.kind(&record.kind) else {
                continue;
            };
            if kind.public != PublicAttribute::Public {
                continue;
            }
            let window = rongxin_protocol::tier::PublicityWindow::of(kind, &record);
            let until = window.until;
            if until.is_some_and(|u| u < today) {
                continue;
            }
            if skipped_shown < want_from {
                skipped_shown += 1;
                continue;
            }
            let code = if record.subject.class == SubjectClass::NaturalPerson {
                rongxin_protocol::person::mask(&record.subject.code)
            } else {
                record.subject.code.clone()
            };
            items.push(json!({
                "origin": rs.origin,
                "seq": rs.put_seq,
                "kind": record.kind,
                "kind_name": kind.name,
                "category": kind.list_category,
                "subject": {"class": record.subject.class, "code": code, "name": record.subject.name},
                "authority": record.authority.name,
                "record_no": record.record_no,
                "decision_date": record.decision_date,
                "publicity_until": until,
                "publicity": window,
                "state": if rs.open_objections.is_empty() { "published" } else { "disputed" },
                "objections": crate::query::open_objections(&state.store, &rs)?,
            }));
            if items.len() > PAGE_SIZE {
                break 'scan;
            }
        }
    }
    let more = items.len() > PAGE_SIZE;
    items.truncate(PAGE_SIZE);
    Ok(Json(json!({
        "list": list,
        "category": q.category,
        "page": q.page,
        "page_size": PAGE_SIZE,
        "as_of": today,
        "items": items,
        "next_page": more.then_some(q.page + 1),
    })))
}
