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

use super::backup::{BackupError, EndPoint};
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
    /// Start journaling every database write to `journal` (a backup).
    BackupBegin {
        journal: std::path::PathBuf,
        reply: oneshot::Sender<Result<(), BackupError>>,
    },
    /// Stop journaling and answer the end point, once the group is written.
    BackupEnd { reply: oneshot::Sender<EndPoint> },
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
        let mut end = None;
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
                Command::BackupBegin { journal, reply } => {
                    // On before this group's writes: a write journaled
                    // that the base read also sees is harmless.
                    let _ = reply.send(self.begin_journal(journal));
                }
                Command::BackupEnd { reply } => end = Some(reply),
            }
        }
        if !commits.is_empty() {
            let (batches, replies): (Vec<_>, Vec<_>) = commits.into_iter().unzip();
            for (reply, r) in replies.into_iter().zip(self.write_commits(batches)) {
                dirty |= r.is_ok();
                answers.push(Answer::Unit(reply, r));
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
        // After the group: its writes are the journal's last, and the
        // published states are theirs.
        if let Some(reply) = end {
            let _ = reply.send(self.end_journal());
        }
        if flushed {
            Written::Flushed
        } else if dirty {
            Written::Applied
        } else {
            Written::Nothing
        }
    }

    /// Checks that `batch` continues each log it touches where `extents`
    /// (the group's appends so far, else the published state) leave it:
    /// every append starts at its log's size, every log state counts
    /// exactly the entries held after the batch's appends, and no append
    /// lacks its log state.
    fn check_batch(
        &self,
        batch: &WriteBatch,
        extents: &BTreeMap<String, (Committed, Arc<LogFiles>)>,
    ) -> Result<(), StoreError> {
        let size_of = |origin: &str| -> Result<u64, StoreError> {
            Ok(match extents.get(origin) {
                Some((c, _)) => c.size,
                None => self.extent(origin)?.0.size,
            })
        };
        let mut after: BTreeMap<&str, u64> = BTreeMap::new();
        for a in &batch.appends {
            let held = match after.get(a.origin.as_str()) {
                Some(s) => *s,
                None => size_of(&a.origin)?,
            };
            if a.first != held {
                return Err(StoreError::OutOfOrder {
                    origin: a.origin.clone(),
                    first: a.first,
                    held,
                });
            }
            after.insert(&a.origin, held + a.entries.len() as u64);
        }
        for (origin, state) in &batch.logs {
            let held = match after.get(origin.as_str()) {
                Some(s) => *s,
                None => size_of(origin)?,
            };
            if state.size != held {
                return Err(StoreError::OutOfOrder {
                    origin: origin.clone(),
                    first: state.size,
                    held,
                });
            }
        }
        // Appended entries without a new state would be past the commit point.
        if let Some((origin, size)) = after
            .iter()
            .find(|(o, _)| !batch.logs.iter().any(|(l, _)| l == *o))
        {
            return Err(StoreError::OutOfOrder {
                origin: (*origin).to_owned(),
                first: *size,
                held: size_of(origin)?,
            });
        }
        Ok(())
    }

    /// Steps 1–3 for the group's batches; one answer per batch. A batch
    /// that does not continue its logs ([`Inner::check_batch`]) is refused
    /// alone; a failed write, sync or apply fails them all.
    fn write_commits(&self, batches: Vec<WriteBatch>) -> Vec<Result<(), StoreError>> {
        let n = batches.len();
        let fail_all = |e: StoreError| (0..n).map(|_| Err(clone_error(&e))).collect();
        if let Err(e) = self.writing() {
            return fail_all(e);
        }
        let mut results: Vec<Result<(), StoreError>> = Vec::with_capacity(n);
        let mut accepted = Vec::with_capacity(n);
        // 1. Append to the files, each log from its published extent.
        let mut extents: BTreeMap<String, (Committed, Arc<LogFiles>)> = BTreeMap::new();
        let mut touched: HashSet<String> = HashSet::new();
        for batch in batches {
            if let Err(e) = self.check_batch(&batch, &extents) {
                results.push(Err(e));
                continue;
            }
            for a in &batch.appends {
                let (at, files) = match extents.get(&a.origin) {
                    Some(e) => e.clone(),
                    None => match self.extent(&a.origin) {
                        Ok(e) => e,
                        Err(e) => return fail_all(e),
                    },
                };
                let after = match files.append(at, &a.entries, &a.hashes, &self.faults) {
                    Ok(after) => after,
                    Err(e) => return fail_all(self.failed(&e)),
                };
                touched.insert(a.origin.clone());
                extents.insert(a.origin.clone(), (after, files));
            }
            results.push(Ok(()));
            accepted.push(batch);
        }
        // 2. Sync them.
        for origin in &touched {
            if let Some((_, files)) = extents.get(origin)
                && let Err(e) = files.sync(&self.faults)
            {
                return fail_all(self.failed(&e));
            }
        }
        // 3. The database changes and the commit points, in one batch.
        let mut db = sled::Batch::default();
        let mut states: BTreeMap<String, (LogState, Arc<LogFiles>)> = BTreeMap::new();
        let journaling = self.journaling();
        let mut journal: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        for batch in accepted {
            if journaling {
                journal.extend(batch.ops.iter().cloned());
            }
            for (k, v) in batch.ops {
                match v {
                    Some(v) => db.insert(k, v),
                    None => db.remove(k),
                }
            }
            for (origin, mut state) in batch.logs {
                let (at, files) = match extents.get(&origin) {
                    Some(e) => e.clone(),
                    None => match self.extent(&origin) {
                        Ok(e) => e,
                        Err(e) => return fail_all(e),
                    },
                };
                state.entry_bytes = at.entry_bytes;
                let (k, v) = (prefixed(P_LOG, origin.as_bytes()), encode(&state));
                if journaling {
                    journal.push((k.clone(), Some(v.clone())));
                }
                db.insert(k, v);
                states.insert(origin, (state, files));
            }
        }
        if let Err(e) = self.wrote(self.tree.apply_batch(db)) {
            return fail_all(e);
        }
        if journaling {
            self.journal_writes(journal.iter().map(|(k, v)| (k.as_slice(), v.as_deref())));
        }
        let mut published = self.published.write().unwrap_or_else(|p| p.into_inner());
        for (origin, (state, files)) in states {
            published.insert(origin, Log { state, files });
        }
        results
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
        let key = prefixed(P_META, b"probe");
        let probe = self.tree.insert(&key, &now).and_then(|_| self.db.flush());
        if probe.is_ok() {
            self.journal_writes([(key.as_slice(), Some(now.as_slice()))]);
        }
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
