//! The writer: the one thread that writes the store.
//!
//! It takes the first command waiting, then every other one already
//! waiting (up to [`GROUP_ENTRIES`] entries or [`GROUP_COMMANDS`]
//! commands), and writes the group in four steps:
//!
//! 1. the group's entries are appended to their logs' files, each log at
//!    its published size (an append that does not start there is refused,
//!    [`StoreError::OutOfOrder`]);
//! 2. the files written are synced;
//! 3. the group's database changes and new log states (the commit points)
//!    are applied in one atomic batch and the states published to readers;
//! 4. the database is flushed if a command of the group is
//!    [`Durability::Durable`] (or a flush or a query's registration);
//!    otherwise when the writer is next idle, and at least every
//!    [`LAZY_FLUSH`].
//!
//! Only then is each command answered. A failed step fails every command
//! of the group and marks the store not writable until the probe succeeds
//! (disk guard); nothing unflushed is acknowledged as durable, and since
//! the commit point is written after the files are synced, a crash between
//! any two steps leaves the store at the last group's commit point.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::faults::Point;
use super::files::{self, Committed, LogFiles};
use super::{
    Durability, Inner, Log, LogState, P_LOG, P_META, QueryLogRow, StoreError, Unwritable,
    WriteBatch, encode, prefixed,
};

/// Most entries in one group.
pub const GROUP_ENTRIES: usize = 16_384;
/// Most commands in one group.
pub const GROUP_COMMANDS: usize = 512;
/// Longest time an [`Durability::Applied`] write waits for its flush.
pub const LAZY_FLUSH: Duration = Duration::from_millis(500);

/// A request to the writer.
#[derive(Debug)]
pub(super) enum Command {
    /// Write a batch.
    Commit {
        batch: WriteBatch,
        durability: Durability,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Register a query (durable before the answer).
    Query {
        id: (u64, u32),
        row: Box<QueryLogRow>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Remove query log rows older than the retention at `now_ms`.
    Prune {
        now_ms: i64,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
    /// Look at the disk again; write a probe while not writable.
    Probe {
        reply: oneshot::Sender<Option<Unwritable>>,
    },
    /// Make everything durable.
    Flush {
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

impl Command {
    fn entries(&self) -> usize {
        match self {
            Command::Commit { batch, .. } => batch.entries(),
            _ => 0,
        }
    }
}

/// Runs until every [`super::Store`] is gone, then flushes and returns.
pub(super) fn run(inner: &Arc<Inner>, mut rx: mpsc::Receiver<Command>) {
    let mut dirty_since: Option<Instant> = None;
    loop {
        let first = match rx.try_recv() {
            Ok(c) => c,
            Err(mpsc::error::TryRecvError::Empty) => {
                // Idle: what was applied lazily goes to disk now.
                if dirty_since.take().is_some()
                    && let Err(e) = inner.flush()
                {
                    tracing::error!(error = %e, "the store's idle flush failed");
                }
                match rx.blocking_recv() {
                    Some(c) => c,
                    None => break,
                }
            }
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        };
        let mut entries = first.entries();
        let mut group = vec![first];
        while entries < GROUP_ENTRIES && group.len() < GROUP_COMMANDS {
            match rx.try_recv() {
                Ok(c) => {
                    entries += c.entries();
                    group.push(c);
                }
                Err(_) => break,
            }
        }
        match inner.write_group(group) {
            Written::Flushed => dirty_since = None,
            Written::Applied => {
                dirty_since.get_or_insert_with(Instant::now);
            }
            Written::Nothing => {}
        }
        if dirty_since.is_some_and(|t| t.elapsed() >= LAZY_FLUSH) {
            dirty_since = None;
            if let Err(e) = inner.flush() {
                tracing::error!(error = %e, "the store's periodic flush failed");
            }
        }
    }
    if let Err(e) = inner.flush() {
        tracing::error!(error = %e, "the store's last flush failed");
    }
}

/// What a group left behind.
enum Written {
    /// Everything is flushed, earlier groups' changes too.
    Flushed,
    /// Changes applied and not flushed.
    Applied,
    /// No change, no flush.
    Nothing,
}

/// A group's answers, sent once the group is written.
enum Answer {
    Unit(
        oneshot::Sender<Result<(), StoreError>>,
        Result<(), StoreError>,
    ),
    Count(
        oneshot::Sender<Result<u64, StoreError>>,
        Result<u64, StoreError>,
    ),
}

impl Inner {
    /// Refuses a write while the store is not writable.
    pub(super) fn writing(&self) -> Result<(), StoreError> {
        Ok(self.guard.check()?)
    }

    /// The result of a database write: a failure makes the store not writable.
    pub(super) fn wrote<T>(&self, r: sled::Result<T>) -> Result<T, StoreError> {
        r.map_err(|e| self.failed(&e))
    }

    /// A failed write: the store refuses writes until the probe succeeds.
    fn failed(&self, e: &dyn std::fmt::Display) -> StoreError {
        self.guard.failed(e);
        StoreError::NotWritable(Unwritable::WriteFailed {
            error: e.to_string(),
        })
    }

    /// Flushes the database.
    pub(super) fn flush(&self) -> Result<(), StoreError> {
        self.faults
            .check(Point::DbFlush)
            .map_err(|e| self.failed(&e))?;
        self.wrote(self.db.flush())?;
        Ok(())
    }

    /// Writes one group; says whether it flushed or left changes unflushed.
    fn write_group(&self, group: Vec<Command>) -> Written {
        let mut commits = Vec::new();
        let mut answers = Vec::new();
        let mut queries = Vec::new();
        let mut flush_wanted = false;
        let mut dirty = false;
        for c in group {
            match c {
                Command::Commit {
                    batch,
                    durability,
                    reply,
                } => {
                    flush_wanted |= durability == Durability::Durable;
                    commits.push((batch, reply));
                }
                Command::Query { id, row, reply } => queries.push((id, row, reply)),
                Command::Prune { now_ms, reply } => {
                    let r = self.prune_query_log(now_ms);
                    dirty |= matches!(r, Ok(n) if n > 0);
                    answers.push(Answer::Count(reply, r));
                }
                Command::Probe { reply } => {
                    let _ = reply.send(self.probe());
                }
                Command::Flush { reply } => {
                    flush_wanted = true;
                    answers.push(Answer::Unit(reply, Ok(())));
                }
            }
        }
        if !commits.is_empty() {
            let (batches, replies): (Vec<_>, Vec<_>) = commits.into_iter().unzip();
            let r = self.write_commits(batches);
            dirty |= r.is_ok();
            for reply in replies {
                answers.push(Answer::Unit(reply, clone_result(&r)));
            }
        }
        for (id, row, reply) in queries {
            flush_wanted = true;
            let r = self.log_query(id, &row);
            dirty |= r.is_ok();
            answers.push(Answer::Unit(reply, r));
        }
        let mut flushed = false;
        if flush_wanted {
            let r = self.flush();
            flushed = r.is_ok();
            // What was to be durable and is not fails.
            for a in &mut answers {
                if let Answer::Unit(_, done @ Ok(())) = a
                    && let Err(e) = &r
                {
                    *done = Err(clone_error(e));
                }
            }
        }
        for a in answers {
            match a {
                Answer::Unit(reply, r) => drop(reply.send(r)),
                Answer::Count(reply, r) => drop(reply.send(r)),
            }
        }
        if flushed {
            Written::Flushed
        } else if dirty {
            Written::Applied
        } else {
            Written::Nothing
        }
    }

    /// Steps 1–3 for the group's batches.
    fn write_commits(&self, batches: Vec<WriteBatch>) -> Result<(), StoreError> {
        self.writing()?;
        // 1. Append to the files, each log from its published extent.
        let mut extents: BTreeMap<String, (Committed, Arc<LogFiles>)> = BTreeMap::new();
        let mut touched: HashSet<String> = HashSet::new();
        for batch in &batches {
            for a in &batch.appends {
                let (at, files) = match extents.get(&a.origin) {
                    Some(e) => e.clone(),
                    None => self.extent(&a.origin)?,
                };
                if a.first != at.size {
                    return Err(StoreError::OutOfOrder {
                        origin: a.origin.clone(),
                        first: a.first,
                        held: at.size,
                    });
                }
                let after = files
                    .append(at, &a.entries, &a.hashes, &self.faults)
                    .map_err(|e| self.failed(&e))?;
                touched.insert(a.origin.clone());
                extents.insert(a.origin.clone(), (after, files));
            }
        }
        // 2. Sync them.
        for origin in &touched {
            if let Some((_, files)) = extents.get(origin) {
                files.sync(&self.faults).map_err(|e| self.failed(&e))?;
            }
        }
        // 3. The database changes and the commit points, in one batch.
        let mut db = sled::Batch::default();
        let mut states: BTreeMap<String, LogState> = BTreeMap::new();
        for batch in batches {
            for (k, v) in batch.ops {
                match v {
                    Some(v) => db.insert(k, v),
                    None => db.remove(k),
                }
            }
            for (origin, mut state) in batch.logs {
                let (at, _) = match extents.get(&origin) {
                    Some(e) => e.clone(),
                    None => self.extent(&origin)?,
                };
                if state.size != at.size {
                    return Err(StoreError::OutOfOrder {
                        origin,
                        first: state.size,
                        held: at.size,
                    });
                }
                state.entry_bytes = at.entry_bytes;
                db.insert(prefixed(P_LOG, origin.as_bytes()), encode(&state));
                states.insert(origin, state);
            }
        }
        // Appended entries without a new state would be past the commit point.
        if let Some(origin) = touched.iter().find(|o| !states.contains_key(*o)) {
            return Err(StoreError::OutOfOrder {
                origin: origin.clone(),
                first: extents.get(origin).map_or(0, |e| e.0.size),
                held: self.log_size(origin),
            });
        }
        self.wrote(self.tree.apply_batch(db))?;
        let mut published = self.published.write().unwrap_or_else(|p| p.into_inner());
        for (origin, state) in states {
            let files = match extents.remove(&origin) {
                Some((_, f)) => f,
                None => match published.get(&origin) {
                    Some(l) => l.files.clone(),
                    None => Arc::new(LogFiles::open(
                        &files::origin_dir(&self.logs_dir, &origin),
                        Committed::default(),
                    )?),
                },
            };
            published.insert(origin, Log { state, files });
        }
        Ok(())
    }

    fn log_size(&self, origin: &str) -> u64 {
        self.published
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(origin)
            .map_or(0, |l| l.state.size)
    }

    /// The published extent of `origin`'s files, opening them for a new log.
    fn extent(&self, origin: &str) -> Result<(Committed, Arc<LogFiles>), StoreError> {
        if let Some(l) = self
            .published
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(origin)
        {
            return Ok((l.state.committed(), l.files.clone()));
        }
        let files = LogFiles::open(
            &files::origin_dir(&self.logs_dir, origin),
            Committed::default(),
        )?;
        Ok((Committed::default(), Arc::new(files)))
    }

    /// Looks at the disk again. While the store is not writable and there
    /// is space again, writes and flushes a probe value: if both succeed
    /// writes resume; if they fail with space available, sled has given up
    /// after an I/O error and only opening the store again clears that
    /// (`reopen` fires).
    fn probe(&self) -> Option<Unwritable> {
        if self.guard.state().is_none() {
            return self.guard.check().err();
        }
        if let Err(low) = self.guard.space() {
            self.guard.still_low(low);
            return self.guard.state();
        }
        let now = crate::ingest::now_ms().to_be_bytes();
        let probe = self
            .tree
            .insert(prefixed(P_META, b"probe"), &now)
            .and_then(|_| self.db.flush());
        match probe {
            Ok(_) => self.guard.recovered(),
            Err(e) => {
                self.guard.failed(&e);
                tracing::error!(error = %e, "the store refuses writes with space available: sled stops writing after an I/O error until it is opened again; reopening");
                self.reopen.notify_one();
            }
        }
        self.guard.state()
    }
}

/// One group's result, for each of its commands.
fn clone_result(r: &Result<(), StoreError>) -> Result<(), StoreError> {
    match r {
        Ok(()) => Ok(()),
        Err(e) => Err(clone_error(e)),
    }
}

/// The same failure for another command of the group. The ones a write
/// produces are kept as they are; others are named in words.
fn clone_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::NotWritable(w) => StoreError::NotWritable(w.clone()),
        StoreError::OutOfOrder {
            origin,
            first,
            held,
        } => StoreError::OutOfOrder {
            origin: origin.clone(),
            first: *first,
            held: *held,
        },
        StoreError::Stopped => StoreError::Stopped,
        other => StoreError::NotWritable(Unwritable::WriteFailed {
            error: other.to_string(),
        }),
    }
}
