//! Publication timeliness (双公示 七日内) over the logs this node holds:
//! the rows `GET /v1/admin/timeliness` answers and `/metrics` exports.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rongxin_protocol::timeliness::{MAX_LATE_KEYS, TimelinessRow};
use rongxin_protocol::value::Date;

use crate::metrics::{Metrics, PublicationLabel};
use crate::shared::Shared;
use crate::store::{Store, StoreError};

/// Least time between two recomputations of the metrics (each a scan of
/// every measured record).
const METRICS_EVERY: Duration = Duration::from_secs(60);

/// Which records a report counts.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this origin's.
    pub origin: Option<String>,
    /// Only this authority's (credit code).
    pub authority: Option<String>,
    /// Decided on or after.
    pub from: Option<Date>,
    /// Decided on or before.
    pub to: Option<Date>,
}

/// Rows per origin, authority and kind, worst on-time rate first, against
/// `deadline` working days.
pub fn rows(store: &Store, deadline: u32, f: &Filter) -> Result<Vec<TimelinessRow>, StoreError> {
    let mut rows: BTreeMap<(String, String, String), TimelinessRow> = BTreeMap::new();
    for t in store.timely(f.origin.as_deref()) {
        let t = t?;
        let m = t.measured;
        if f.authority
            .as_deref()
            .is_some_and(|a| a != t.key.authority_code)
            || f.from.is_some_and(|d| m.decided < d)
            || f.to.is_some_and(|d| m.decided > d)
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
}

/// When the publication metrics were last computed, and over how many
/// entries held (the sum of every log's size).
#[derive(Debug, Default)]
pub struct MetricsCache {
    last: std::sync::Mutex<Option<(Instant, u64)>>,
}

/// Brings `rongxin_publication_on_time` and `rongxin_publication_late` up
/// to date at a scrape: recomputed (a scan of every measured record) when
/// entries arrived since the last time, at most once a minute.
pub fn refresh_metrics(
    cache: &MetricsCache,
    store: &Store,
    shared: &Shared,
    metrics: &Metrics,
) -> Result<(), StoreError> {
    let held: u64 = store.log_states()?.iter().map(|(_, s)| s.size).sum();
    {
        let last = cache.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, size)) = *last
            && (size == held || at.elapsed() < METRICS_EVERY)
        {
            return Ok(());
        }
    }
    let deadline = shared.roster().roster.deadlines.publication;
    let rows = rows(store, deadline, &Filter::default())?;
    metrics.publication_on_time.clear();
    metrics.publication_late.clear();
    for r in rows {
        let label = PublicationLabel {
            origin: r.origin,
            authority: r.authority,
            kind: r.kind,
        };
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        metrics
            .publication_on_time
            .get_or_create(&label)
            .set(n(r.on_time));
        metrics
            .publication_late
            .get_or_create(&label)
            .set(n(r.late));
    }
    *cache.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), held));
    Ok(())
}
