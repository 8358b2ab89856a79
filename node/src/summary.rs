//! Summaries the console reads (`GET /v1/admin/console`): publication
//! timeliness and open cases per origin, recomputed in the background so
//! that no request scans the store. A recomputation of timeliness scans
//! every measured record, so it runs only when entries arrived, and at
//! most once per [`COST_FACTOR`] times its own last duration (at least
//! every [`EVERY`]): a city holding millions of records spends a few per
//! cent of one core on it, and a small node sees its figures within
//! seconds.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rongxin_protocol::api::CasesRow;
use rongxin_protocol::timeliness::TimelinessRow;
use tokio_util::sync::CancellationToken;

use crate::cases::Cases;
use crate::shared::Shared;
use crate::store::Store;

/// How often the background task looks whether a summary is due.
pub const EVERY: Duration = Duration::from_secs(5);
/// A timeliness recomputation waits this many times the last one's
/// duration before the next.
pub const COST_FACTOR: u32 = 20;

/// Timeliness rows the console is given: the page shows the worst 50.
pub const CONSOLE_TIMELINESS_ROWS: usize = 50;

/// The summaries last computed.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// When, milliseconds since the Unix epoch.
    pub computed_ms: u64,
    /// The worst [`CONSOLE_TIMELINESS_ROWS`] timeliness rows, without
    /// their late records' keys (`GET /v1/admin/timeliness` has them).
    pub timeliness: Vec<TimelinessRow>,
    /// How many timeliness rows there are in all.
    pub timeliness_rows: u64,
    /// Open and overdue cases per origin.
    pub cases: Vec<CasesRow>,
}

/// The latest summary, shared with the HTTP API.
#[derive(Debug, Default)]
pub struct Summaries {
    latest: RwLock<Option<Arc<Summary>>>,
}

impl Summaries {
    /// The latest summary, `None` before the first one.
    pub fn latest(&self) -> Option<Arc<Summary>> {
        self.latest
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set(&self, s: Summary) {
        *self.latest.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(s));
    }
}

/// What the background task remembers between rounds.
struct Round {
    /// Entries held (sum of every log's size) at the last timeliness scan.
    held: Option<u64>,
    /// When the next timeliness scan may start.
    next: Instant,
    /// The worst rows, trimmed for the console.
    timeliness: Vec<TimelinessRow>,
    timeliness_rows: u64,
}

fn compute(
    round: &mut Round,
    store: &Store,
    shared: &Shared,
    cases: &Cases,
) -> Result<Summary, String> {
    let held: u64 = store
        .log_states()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|(_, s)| s.size)
        .sum();
    if round.held != Some(held) && Instant::now() >= round.next {
        let started = Instant::now();
        let deadline = shared.roster().roster.deadlines.publication;
        let rows = crate::timeliness::rows(store, deadline, &crate::timeliness::Filter::default())
            .map_err(|e| e.to_string())?;
        round.timeliness_rows = rows.len() as u64;
        round.timeliness = rows
            .into_iter()
            .take(CONSOLE_TIMELINESS_ROWS)
            .map(|mut r| {
                r.late_records = Vec::new();
                r
            })
            .collect();
        round.held = Some(held);
        round.next = Instant::now() + (started.elapsed() * COST_FACTOR).max(EVERY);
    }
    let cases = cases
        .counts()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(origin, c)| CasesRow {
            origin,
            objections_open: c[0],
            objections_overdue: c[1],
            repairs_open: c[2],
            repairs_overdue: c[3],
        })
        .collect();
    Ok(Summary {
        computed_ms: u64::try_from(crate::ingest::now_ms()).unwrap_or(0),
        timeliness: round.timeliness.clone(),
        timeliness_rows: round.timeliness_rows,
        cases,
    })
}

/// Keeps `summaries` up to date until `cancel`.
pub async fn run(
    summaries: Arc<Summaries>,
    store: Store,
    shared: Arc<Shared>,
    cases: Arc<Cases>,
    cancel: CancellationToken,
) {
    let mut round = Round {
        held: None,
        next: Instant::now(),
        timeliness: Vec::new(),
        timeliness_rows: 0,
    };
    loop {
        let (st, sh, ca) = (store.clone(), shared.clone(), cases.clone());
        let done = tokio::task::spawn_blocking(move || {
            let s = compute(&mut round, &st, &sh, &ca);
            (round, s)
        })
        .await;
        round = match done {
            Ok((r, Ok(s))) => {
                summaries.set(s);
                r
            }
            Ok((r, Err(e))) => {
                tracing::warn!(error = %e, "cannot compute the console's summaries; trying again");
                r
            }
            Err(e) => {
                tracing::error!(error = %e, "the console's summary task failed");
                return;
            }
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}
