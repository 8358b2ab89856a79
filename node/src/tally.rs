//! This node's department tallies (目标绩效考核: records submitted, refused
//! and why; [`rongxin_protocol::tally`]): the ingest handler notes each
//! request's figures in memory, and one task adds them to the stored rows
//! through the store writer every [`WRITE_EVERY`] and at shutdown. Only
//! that task writes this node's rows, so no two writers add to a row at
//! once.
//!
//! A tally is not data a department was promised (its records are, and they
//! are durable before the answer): a crash loses at most the last few
//! seconds of figures ([`WRITE_EVERY`] and the writer's lazy flush), which
//! docs/api.md states.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rongxin_protocol::tally::{DayTally, Tally};
use rongxin_protocol::value::Date;
use tokio_util::sync::CancellationToken;

use crate::store::{Durability, Store, StoreError, WriteBatch};

/// How often noted figures are written.
pub const WRITE_EVERY: Duration = Duration::from_secs(2);

/// Figures noted and not yet written, per (day, department).
#[derive(Debug, Default)]
pub struct Tallies {
    pending: Mutex<BTreeMap<(Date, String), Tally>>,
}

impl Tallies {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(Date, String), Tally>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes one request's figures for `department` on `day`.
    pub fn note(&self, day: Date, department: &str, tally: &Tally) {
        if tally.submitted == 0 {
            return;
        }
        self.lock()
            .entry((day, department.to_owned()))
            .or_default()
            .add(tally);
    }

    /// Adds what was noted to `member`'s stored rows, in one commit.
    /// Returns the rows written; on failure the figures are kept for the
    /// next try.
    pub async fn write(&self, store: &Store, member: &str) -> Result<usize, StoreError> {
        let pending = std::mem::take(&mut *self.lock());
        if pending.is_empty() {
            return Ok(0);
        }
        let mut batch = WriteBatch::default();
        let mut rows = 0;
        let built = (|| -> Result<(), StoreError> {
            for ((day, department), noted) in &pending {
                let mut tally = store.tally(member, *day, department)?.unwrap_or_default();
                tally.add(noted);
                batch.put_tally(
                    member,
                    &DayTally {
                        day: day.to_string(),
                        department: department.clone(),
                        tally,
                    },
                );
                rows += 1;
            }
            Ok(())
        })();
        let result = match built {
            Ok(()) => store.commit(batch, Durability::Applied).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            let mut now = self.lock();
            for (k, t) in pending {
                now.entry(k).or_default().add(&t);
            }
            return Err(e);
        }
        Ok(rows)
    }
}

/// Writes noted figures every [`WRITE_EVERY`] until `cancel`.
pub async fn run(tallies: Arc<Tallies>, store: Store, member: String, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(WRITE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = tallies.write(&store, &member).await {
            tracing::warn!(error = %e, "cannot write the departments' submission tallies; kept for the next try");
        }
    }
}

/// How often a node asks each peer for its tallies.
pub const ASK_EVERY: Duration = Duration::from_secs(10);

/// Where asking a peer for its tallies starts: the last day stored of it
/// (that day's row may have grown), or a year back.
pub fn first_day_to_ask(store: &Store, member: &str, today: Date) -> Date {
    let latest = store
        .tallies(Some(member), None, None)
        .ok()
        .and_then(|rows| rows.last().and_then(|(_, r)| r.day.parse().ok()));
    latest.unwrap_or_else(|| days_before(today, 366))
}

/// Whether a peer's row of `day` answers a question from `since`, on
/// `today`: a day after tomorrow is a peer's wrong clock, not a tally.
fn asked_for(day: Date, since: Date, today: Date) -> bool {
    day >= since && day <= days_before(today, -1)
}

fn days_before(day: Date, days: i64) -> Date {
    Date::from_time(day.to_time() - time::Duration::days(days)).unwrap_or(day)
}

/// Asks `peer` (roster member `member`) for its tallies from `since` on,
/// keeps the rows that check under `member`, and returns where to ask from
/// next time: the last day answered when the answer was full, else
/// yesterday (figures written just after midnight still reach it).
pub async fn ask(
    net: &crate::net::NetHandle,
    store: &Store,
    member: &str,
    peer: libp2p::PeerId,
    since: Date,
    today: Date,
) -> Date {
    use rongxin_protocol::tally::MAX_TALLY_ROWS;
    use rongxin_protocol::wire::{Request, Response};
    let asked = Request::Tallies {
        since: since.to_string(),
    };
    let days = match net.request(peer, asked).await {
        Ok(Response::Tallies { days }) => days,
        // A peer of an earlier release does not know the request.
        Ok(_) => return since,
        Err(e) => {
            tracing::debug!(peer = %member, error = %e, "cannot ask for tallies");
            return since;
        }
    };
    let full = days.len() >= MAX_TALLY_ROWS;
    let mut batch = WriteBatch::default();
    let mut last = None;
    // One log line per answer, however many rows it refused.
    let mut refused: Option<(usize, String)> = None;
    for row in &days {
        let why = match row.check() {
            Ok(day) if asked_for(day, since, today) => {
                batch.put_tally(member, row);
                last = Some(day);
                continue;
            }
            Ok(day) => format!("day {day} was not asked for (since {since})"),
            Err(e) => e,
        };
        refused.get_or_insert((0, why)).0 += 1;
    }
    if let Some((count, first)) = refused {
        tracing::warn!(peer = %member, count, first = %first, "refused tally rows from a peer");
    }
    if batch.writes() > 0
        && let Err(e) = store.commit(batch, Durability::Applied).await
    {
        tracing::warn!(peer = %member, error = %e, "cannot keep a peer's tallies");
        return since;
    }
    match (full, last) {
        (true, Some(day)) => day,
        _ => days_before(today, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_days_asked_for_up_to_tomorrow_are_kept() {
        let d = |s: &str| -> Date { s.parse().expect("date") };
        let (since, today) = (d("2026-12-01"), d("2026-12-04"));
        assert!(asked_for(d("2026-12-01"), since, today));
        assert!(
            asked_for(d("2026-12-05"), since, today),
            "a peer a little ahead of midnight"
        );
        assert!(!asked_for(d("2026-11-30"), since, today));
        assert!(!asked_for(d("2026-12-06"), since, today));
        assert_eq!(days_before(d("2026-01-01"), 1), d("2025-12-31"));
    }

    #[tokio::test]
    async fn noted_figures_add_to_the_stored_rows() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("open");
        let tallies = Tallies::default();
        let day: Date = "2026-12-04".parse().expect("date");
        let mut one = Tally {
            submitted: 3,
            accepted: 1,
            ..Tally::default()
        };
        one.refuse("subject.code", "check digit");
        one.refuse("record_no", "missing");
        tallies.note(day, "鼓楼区市场监管局", &one);
        tallies.note(day, "鼓楼区市场监管局", &one);
        // An empty request leaves no row.
        tallies.note(day, "鼓楼区税务局", &Tally::default());
        assert_eq!(tallies.write(&store, "gulou").await.expect("write"), 1);
        assert_eq!(tallies.write(&store, "gulou").await.expect("write"), 0);
        tallies.note(day, "鼓楼区市场监管局", &one);
        assert_eq!(tallies.write(&store, "gulou").await.expect("write"), 1);
        let stored = store
            .tally("gulou", day, "鼓楼区市场监管局")
            .expect("read")
            .expect("a row");
        assert_eq!(
            (stored.submitted, stored.accepted, stored.refused),
            (9, 3, 6)
        );
        assert_eq!(stored.check(), Ok(()));
        let rows = store.tallies(None, Some(day), Some(day)).expect("scan");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0, "gulou");
        assert!(
            store
                .tallies(Some("gulou"), "2026-12-05".parse().ok(), None)
                .expect("scan")
                .is_empty()
        );
    }
}
