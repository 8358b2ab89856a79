//! The committer: the one writer of this node's own log.
//!
//! HTTP handlers check records and hand them over through a bounded channel;
//! the committer takes every job waiting (up to `commit_max_records`
//! records) and turns them into one commit: the new entries, all their
//! index updates and a signed checkpoint for the new size, applied as one
//! atomic batch and flushed once; only then is every job answered (group
//! commit). Commits go through three threads — build, sign, apply — so
//! that up to three are being worked on at once ([`Committer::run`]). A
//! failed commit answers its jobs, and those of every commit built on top
//! of it, with the error, and the head is reloaded from disk, so nothing
//! unflushed is ever acknowledged.

use std::collections::{HashMap, VecDeque};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rongxin_protocol::checkpoint::Checkpoint;
use std::sync::Arc;

use rongxin_protocol::entry::{
    Entry, EntryError, KeyHandover, ObjectionFiled, ObjectionOutcome, ObjectionResolved, Op,
    Revoke, RevokeReason, SignedEntry,
};
use rongxin_protocol::entry::{RepairDecided, RepairFiled, RepairOutcome};
use rongxin_protocol::log::{ExtendError, LogHead, Rules, next_state};
use rongxin_protocol::merkle::Hash;
use rongxin_protocol::note::NoteSigner;
use rongxin_protocol::objection::{ObjectionFiling, ObjectionState};
use rongxin_protocol::record::{Record, RecordKey};
use rongxin_protocol::repair::{RepairFiling, RepairState};
use rongxin_protocol::suite::SecretKey;
use rongxin_protocol::value::Date;
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;
use crate::shared::Shared;
use crate::store::{
    self, Durability, ListSlot, LogState, RecordState, Store, StoreError, Unwritable, WriteBatch,
};

pub use rongxin_protocol::log::content_hash;

/// What the committer answers for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Signed and durable at `seq`.
    Accepted {
        /// The new entry's seq.
        seq: u64,
    },
    /// Identical to the current version, which is at `seq`; nothing written.
    Duplicate {
        /// The current version's seq.
        seq: u64,
    },
    /// Refused by a rule that needs the log's state.
    Rejected(Rejection),
}

/// Why the committer refused one record or revocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Identical content to a version that was revoked.
    #[error(
        "this record was revoked ({reason:?}) at seq {seq}; a revoked record is not published again with identical content"
    )]
    RevokedContent {
        /// The revocation's seq.
        seq: u64,
        /// Its reason.
        reason: RevokeReason,
    },
    /// No such record in this node's log.
    #[error("no record {0} in this node's log")]
    NoRecord(RecordKey),
    /// The record belongs to another origin.
    #[error("record {key} belongs to {origin}")]
    NotOwner {
        /// The record.
        key: RecordKey,
        /// Its origin.
        origin: String,
    },
    /// The record's signed entry would be larger than an entry may be.
    #[error(
        "the record's signed entry would be {bytes} bytes, more than the {}-byte limit of an entry (docs/protocol.md §3.1): shorten its longest texts",
        rongxin_protocol::entry::MAX_ENTRY_BYTES
    )]
    TooLarge {
        /// The entry's size.
        bytes: usize,
    },
    /// The record is revoked already.
    #[error("record {key} was already revoked at seq {seq}")]
    AlreadyRevoked {
        /// The record.
        key: RecordKey,
        /// The revocation's seq.
        seq: u64,
    },
    /// An objection names a version that is no longer the record's current one.
    #[error(
        "record {key} at seq {named} is not current: its current version is at seq {current}; object to that one"
    )]
    NotCurrent {
        /// The record.
        key: RecordKey,
        /// The seq named.
        named: u64,
        /// The current version's seq.
        current: u64,
    },
    /// An objection id already used for another objection.
    #[error(
        "objection id {id} is already used for another objection (filed at seq {seq}); choose another id"
    )]
    IdReused {
        /// The id.
        id: String,
        /// The seq of the objection filed under it.
        seq: u64,
    },
    /// No objection of this id in this node's log.
    #[error("no objection {0} in this node's log")]
    NoObjection(String),
    /// No repair application of this id in this node's log.
    #[error("no repair application {0} in this node's log")]
    NoApplication(String),
    /// The repair application was decided already.
    #[error("repair application {id} was already decided at seq {seq}")]
    AlreadyDecided {
        /// The id.
        id: String,
        /// The decision's seq.
        seq: u64,
    },
    /// The objection was resolved already.
    #[error("objection {id} was already resolved at seq {seq}")]
    AlreadyResolved {
        /// The id.
        id: String,
        /// The resolution's seq.
        seq: u64,
    },
    /// An upheld objection's correction is about another record, or
    /// changes nothing.
    #[error("{0}")]
    Correction(String),
}

/// A failed commit: nothing of it was acknowledged.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    /// The store refuses writes (disk nearly full, a failed write).
    #[error("commit failed, nothing was acknowledged: {0}")]
    Unwritable(Unwritable),
    /// This node may not sign the next position now (a key it does not
    /// hold, a roster that contradicts its log); the text says what to do.
    #[error("commit refused, nothing was acknowledged: {0}")]
    Signing(String),
    /// The engine refused an entry the committer built (a bug: the records
    /// were checked before).
    #[error("commit failed, nothing was acknowledged: {0}")]
    Engine(ExtendError),
    /// The store failed otherwise.
    #[error("commit failed, nothing was acknowledged: {0}")]
    Store(String),
    /// Built on a commit that failed.
    #[error(
        "commit failed, nothing was acknowledged: an earlier commit failed; this one was not written"
    )]
    Earlier,
    /// The node is stopping.
    #[error("the node is stopping; nothing was acknowledged")]
    Stopping,
}

impl From<StoreError> for CommitError {
    fn from(e: StoreError) -> CommitError {
        match e {
            StoreError::NotWritable(w) => CommitError::Unwritable(w),
            StoreError::Stopped => CommitError::Stopping,
            e => CommitError::Store(e.to_string()),
        }
    }
}

/// Why a commit could not be built.
#[derive(Debug, thiserror::Error)]
enum BuildError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] ExtendError),
    #[error("entry {seq} of {origin} cannot be encoded: {error}")]
    Encode {
        origin: String,
        seq: u64,
        error: EntryError,
    },
    #[error("{0}")]
    Signing(String),
}

impl From<BuildError> for CommitError {
    fn from(e: BuildError) -> CommitError {
        match e {
            BuildError::Store(e) => e.into(),
            BuildError::Engine(e) => CommitError::Engine(e),
            BuildError::Signing(why) => CommitError::Signing(why),
            e @ BuildError::Encode { .. } => CommitError::Store(e.to_string()),
        }
    }
}

/// Work for the committer.
#[derive(Debug)]
pub enum Job {
    /// Sign these records as Puts.
    Put {
        /// Records checked by the caller.
        records: Vec<Record>,
        /// Where the outcomes go, one per record, in order.
        reply: oneshot::Sender<Result<Vec<Outcome>, CommitError>>,
    },
    /// Revoke a record.
    Revoke {
        /// The revocation.
        revoke: Revoke,
        /// Where the outcome goes.
        reply: oneshot::Sender<Result<Outcome, CommitError>>,
    },
    /// Register an objection against a record of this log (signs
    /// `ObjectionFiled`; an identical earlier filing is a duplicate).
    FileObjection {
        /// The filing, checked by the caller for form.
        filing: ObjectionFiling,
        /// Its due date, from the roster's deadlines.
        due: Date,
        /// Where the outcome goes.
        reply: oneshot::Sender<Result<Outcome, CommitError>>,
    },
    /// Resolve an open objection of this log: the correction or
    /// revocation (when upheld with one) and `ObjectionResolved`, in one
    /// commit.
    ResolveObjection {
        /// What to sign.
        resolve: Resolve,
        /// Where the outcome goes: the resolution's, and the seq of the
        /// correction or revocation signed with it.
        reply: oneshot::Sender<Result<(Outcome, Option<u64>), CommitError>>,
    },
    /// Register a credit-repair application against a record of this log
    /// (signs `RepairFiled`; an identical earlier filing is a duplicate).
    /// The caller checked that the record may be repaired now.
    FileRepair {
        /// The application.
        filing: RepairFiling,
        /// Its due date, from the roster's deadlines.
        due: Date,
        /// Where the outcome goes.
        reply: oneshot::Sender<Result<Outcome, CommitError>>,
    },
    /// Decide an open repair application: a grant revokes the record
    /// (reason `repair`) and signs `RepairDecided`, in one commit.
    DecideRepair {
        /// The application.
        id: String,
        /// Granted or rejected.
        outcome: RepairOutcome,
        /// Why.
        explanation: String,
        /// Where the outcome goes: the decision's, and the revocation's seq.
        reply: oneshot::Sender<Result<(Outcome, Option<u64>), CommitError>>,
    },
}

/// A resolution for the committer to sign.
#[derive(Debug, Clone)]
pub struct Resolve {
    /// The objection.
    pub id: String,
    /// Upheld or rejected.
    pub outcome: ObjectionOutcome,
    /// Why.
    pub explanation: String,
    /// Upheld: the record's corrected version.
    pub correction: Option<Record>,
    /// Upheld: revoke the record instead.
    pub revoke: bool,
}

impl Job {
    fn records(&self) -> usize {
        match self {
            Job::Put { records, .. } => records.len(),
            Job::Revoke { .. }
            | Job::FileObjection { .. }
            | Job::ResolveObjection { .. }
            | Job::FileRepair { .. }
            | Job::DecideRepair { .. } => 1,
        }
    }
}

/// The committer's state: the head of the own log.
pub struct Committer {
    store: Store,
    origin: String,
    /// The key of the log's current position (signs its checkpoints).
    signer: NoteSigner,
    /// The roster, and the signing keys this node holds.
    shared: Arc<Shared>,
    /// Key starts learned from the own log's handovers (key index, start).
    learned: Vec<(usize, u64)>,
    /// The public key that signed the own log's last entry (read from the
    /// store on reload, then kept as commits are built: commits in flight
    /// are not in the store yet).
    last_key: Option<rongxin_protocol::suite::PublicKey>,
    checkpoint_origin: String,
    /// The head of the own log, including the commits in flight.
    head: LogHead,
    max_records: usize,
    metrics: Metrics,
    catalog: rongxin_protocol::catalog::Catalog,
    /// Commits sent to the applier and not yet reported done: id and the
    /// record and objection states each sets, oldest first.
    in_flight: VecDeque<InFlight>,
    next_id: u64,
    /// Bumped after a failed commit: commits built before are refused.
    generation: u64,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Committer({} at {})", self.origin, self.head.size())
    }
}

impl Committer {
    /// Loads the own log's head from the store, creating the signed empty
    /// checkpoint of a new log. The member, roster and catalog come from
    /// `shared`; `signer` is the configured signing key.
    pub fn open(
        store: Store,
        signer: NoteSigner,
        shared: Arc<Shared>,
        max_records: usize,
        metrics: Metrics,
    ) -> Result<Committer, StoreError> {
        let origin = shared.member.clone();
        let checkpoint_origin = shared.roster().roster.log_origin(&origin);
        let catalog = shared.catalog.clone();
        let origin = origin.as_str();
        let suite = signer.suite();
        let mut c = Committer {
            store,
            origin: origin.to_owned(),
            signer,
            shared,
            learned: Vec::new(),
            last_key: None,
            checkpoint_origin,
            head: LogHead::empty(suite),
            max_records,
            metrics,
            catalog,
            in_flight: VecDeque::new(),
            next_id: 0,
            generation: 0,
        };
        c.reload()?;
        if c.store.log_state(origin)?.is_none() {
            let mut batch = WriteBatch::default();
            let state = c.sign_state()?;
            batch.put_log_state(origin, &state);
            c.store.commit_blocking(batch, Durability::Durable)?;
        }
        Ok(c)
    }

    /// Number of entries in the own log.
    pub fn size(&self) -> u64 {
        self.head.size()
    }

    fn reload(&mut self) -> Result<(), StoreError> {
        let suite = self.signer.suite();
        self.learned = self.store.key_starts(&self.origin)?;
        self.head = store::load_head(&self.store, &self.origin, suite)?;
        let size = self.head.size();
        // Which of the member's keys signed the last entry (nothing is in
        // flight during a reload, so the store has it).
        self.last_key = match size.checked_sub(1) {
            None => None,
            Some(last) => {
                let signed = self.store.entry(&self.origin, last)?;
                let roster = self.shared.roster();
                roster.roster.member(&self.origin).and_then(|m| {
                    (0..m.keys.len()).find_map(|i| {
                        m.key(roster.roster.suite, i).ok().filter(|k| {
                            signed
                                .as_ref()
                                .is_some_and(|s| k.verify(&s.bytes, &s.signature))
                        })
                    })
                })
            }
        };
        // The checkpoint key is the key of the last position.
        if let Ok(plan) = self.plan()
            && let Some(s) = plan.checkpoint_signer
        {
            self.signer = s;
        }
        Ok(())
    }

    /// Which keys sign the next commit, as the roster in force and the
    /// handovers held say: the key of the next position, whether to hand
    /// over to a pending next key first, and the checkpoint key. Refuses
    /// (with what the operator must do) when this node does not hold the
    /// key the roster gives the next position, or when the roster starts a
    /// key at a position this node already signed with another.
    fn plan(&mut self) -> Result<KeyPlan, String> {
        let roster = self.shared.roster();
        let suite = roster.roster.suite;
        let Some(member) = roster.roster.member(&self.origin) else {
            return Err(format!(
                "{} is not in the roster in force (version {}): this node may not sign",
                self.origin, roster.roster.version
            ));
        };
        let starts = member.key_starts_with(&self.learned);
        let held_key = |index: usize| -> Result<NoteSigner, String> {
            let key = member.key(suite, index).map_err(|e| e.to_string())?;
            self.shared.signer_for(&key).ok_or_else(|| {
                format!(
                    "position {} of {}'s log is signed by its key {} in the roster (version {}), and this node does not hold that key's secret: add the key file to next_signing_keys in the config and reload (SIGHUP)",
                    self.head.size(),
                    self.origin,
                    index + 1,
                    roster.roster.version
                )
            })
        };
        // A newer roster may start a key at a position already signed with
        // another (after a compromise declared too late).
        if let Some(last) = self.head.size().checked_sub(1) {
            let key = member
                .key(suite, starts.index_at(last))
                .map_err(|e| e.to_string())?;
            if self.last_key.as_ref() != Some(&key) {
                return Err(format!(
                    "the roster in force (version {}) gives position {last} of {}'s log to its key {}, but this node signed it with another key: every verifier refuses those entries; the city must fix the roster's key history (from), or the node's log be restored",
                    roster.roster.version,
                    self.origin,
                    starts.index_at(last) + 1
                ));
            }
        }
        let current = starts.index_at(self.head.size());
        let now = held_key(current)?;
        let next = current + 1;
        let handover = match (member.keys.get(next), starts.start(next)) {
            (Some(k), None) => match held_key(next) {
                Ok(signer) => Some((next, k.key.clone(), signer)),
                Err(why) => {
                    tracing::warn!(origin = %self.origin, key = next + 1, "{why}; signing on with the current key until it is installed");
                    None
                }
            },
            _ => None,
        };
        let checkpoint_signer = if self.head.size() == 0 {
            Some(now.clone())
        } else {
            held_key(starts.index_at(self.head.size() - 1)).ok()
        };
        Ok(KeyPlan {
            now,
            handover,
            checkpoint_signer,
        })
    }

    fn sign_state(&self) -> Result<LogState, StoreError> {
        let root = self.head.root();
        let cp = Checkpoint {
            origin: self.checkpoint_origin.clone(),
            size: self.head.size(),
            root,
        }
        .sign(&self.signer)
        .map_err(|e| StoreError::Corrupt {
            what: "checkpoint",
            key: self.checkpoint_origin.clone(),
            why: e.to_string(),
        })?;
        Ok(LogState::new(self.head.size(), root, cp.note))
    }

    /// Runs until every sender is gone, then returns (after the last flush).
    ///
    /// A pipeline of three threads: while this one builds commit k+2 (the
    /// entries, their hashes and index updates), the signer signs commit
    /// k+1's entries and the applier applies and flushes commit k, and
    /// only then answers its jobs. The builder reads record states through
    /// the commits still in flight, so a record changed by commit k is seen
    /// by commit k+1. At most one commit waits before each of the later two
    /// stages.
    pub fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let (to_signer, signer_rx) = std::sync::mpsc::sync_channel::<Built>(1);
        let (to_applier, applier_rx) = std::sync::mpsc::sync_channel::<Built>(1);
        // One report per commit in flight, and the stage channels above bound
        // those to a handful.
        let (done_tx, done_rx) = std::sync::mpsc::channel::<Done>();
        let applier = Applier {
            store: self.store.clone(),
            metrics: self.metrics.clone(),
            origin: self.origin.clone(),
        };
        let origin = self.origin.clone();
        std::thread::scope(|s| {
            let signer = std::thread::Builder::new()
                .name("committer-sign".into())
                .spawn_scoped(s, move || sign_commits(&origin, signer_rx, to_applier));
            let applier = std::thread::Builder::new()
                .name("committer-apply".into())
                .spawn_scoped(s, move || applier.run(applier_rx, done_tx));
            if let Err(e) = signer.and(applier) {
                tracing::error!(error = %e, "cannot start the committer's threads; stopping");
                std::process::abort();
            }
            while let Some(first) = rx.blocking_recv() {
                let mut n = first.records();
                let mut jobs = vec![first];
                while n < self.max_records {
                    match rx.try_recv() {
                        Ok(j) => {
                            n += j.records();
                            jobs.push(j);
                        }
                        Err(_) => break,
                    }
                }
                self.settle(&done_rx, false);
                self.commit(jobs, n, &to_signer, &done_rx);
            }
            // The signer and the applier finish what is queued, then stop.
            drop(to_signer);
        });
        tracing::info!(origin = %self.origin, size = self.head.size(), "committer stopped");
    }

    /// Takes note of the commits the applier finished (with `drain`, waits
    /// for every one in flight). After a failed one, the in-memory head is
    /// ahead of the store: it is reloaded once nothing is in flight.
    fn settle(&mut self, done: &std::sync::mpsc::Receiver<Done>, mut drain: bool) {
        let mut failed = false;
        while !self.in_flight.is_empty() {
            let next = if drain {
                done.recv().ok()
            } else {
                done.try_recv().ok()
            };
            let Some(d) = next else { break };
            self.in_flight.retain(|f| f.id != d.id);
            if !d.applied {
                failed = true;
                drain = true;
            }
        }
        if failed {
            self.recover(done);
        }
    }

    /// Waits until nothing is in flight, then reloads the head from the
    /// store; commits built before are refused by the applier.
    fn recover(&mut self, done: &std::sync::mpsc::Receiver<Done>) {
        while !self.in_flight.is_empty() {
            match done.recv() {
                Ok(d) => self.in_flight.retain(|f| f.id != d.id),
                Err(_) => self.in_flight.clear(),
            }
        }
        self.generation += 1;
        if let Err(e) = self.reload() {
            tracing::error!(error = %e, "cannot reload the own log after a failed commit; stopping");
            std::process::abort();
        }
    }

    fn commit(
        &mut self,
        jobs: Vec<Job>,
        n: usize,
        to_signer: &std::sync::mpsc::SyncSender<Built>,
        done: &std::sync::mpsc::Receiver<Done>,
    ) {
        // Nothing is built or signed for a store that would refuse it.
        if let Err(w) = self.store.writable() {
            fail(jobs, &CommitError::Unwritable(w));
            return;
        }
        let plan = match self.plan() {
            Ok(p) => p,
            Err(why) => {
                tracing::error!(origin = %self.origin, "{why}");
                fail(jobs, &CommitError::Signing(why));
                return;
            }
        };
        let started = Instant::now();
        let before = self.head.size();
        match self.build(&jobs, &plan) {
            Ok((batch, outcomes, pending)) => {
                let id = self.next_id;
                self.next_id += 1;
                self.in_flight.push_back(InFlight {
                    id,
                    states: pending.states,
                    objections: pending.objections,
                    repairs: pending.repairs,
                });
                let built = Built {
                    id,
                    generation: self.generation,
                    batch,
                    jobs,
                    outcomes,
                    records: n,
                    entries: self.head.size() - before,
                    size: self.head.size(),
                    started,
                    build_s: started.elapsed().as_secs_f64(),
                    sign_s: 0.0,
                    unsigned: pending.unsigned,
                    hashes: pending.hashes,
                    keys: pending.keys,
                };
                if to_signer.send(built).is_err() {
                    // Its jobs were dropped unanswered: nothing was acknowledged.
                    tracing::error!("the committer's signer or applier thread is gone; stopping");
                    std::process::abort();
                }
            }
            Err(e) => {
                tracing::error!(error = %e, records = n, "commit failed; nothing acknowledged");
                fail(jobs, &CommitError::from(e));
                self.recover(done);
            }
        }
    }

    /// Builds the jobs' entries and index updates into one batch; advances
    /// the in-memory head. Also returns what is pending: the record states
    /// the batch sets and the entries still to be signed.
    fn build(
        &mut self,
        jobs: &[Job],
        plan: &KeyPlan,
    ) -> Result<(WriteBatch, Vec<JobOutcome>, Pending), BuildError> {
        let mut batch = WriteBatch::default();
        let mut pending = Pending::default();
        let mut outcomes = Vec::with_capacity(jobs.len());
        let now = now_ms();
        pending
            .keys
            .push((self.head.size(), plan.now.secret().clone()));
        if let Some((index, key, next)) = &plan.handover {
            // The handover is signed by the current key; everything after
            // it by the next one (docs/protocol.md §6.1).
            let key = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, key)
                .map_err(|e| {
                    BuildError::Signing(format!(
                        "the roster's key {} of {} is not base64 ({e}); the city must fix the roster",
                        index + 1,
                        self.origin
                    ))
                })?;
            let at = self.head.size();
            self.append(&mut pending, Op::KeyHandover(KeyHandover { key }), now)?;
            batch.put_key_start(&self.origin, *index, at + 1);
            self.learned.push((*index, at + 1));
            pending.keys.push((at + 1, next.secret().clone()));
            tracing::info!(origin = %self.origin, position = at, key = index + 1, "key handover: the next entries are signed with the new key");
        }
        for job in jobs {
            match job {
                Job::Put { records, .. } => {
                    let mut outs = Vec::with_capacity(records.len());
                    for record in records {
                        outs.push(self.put(&mut pending, record, now)?);
                    }
                    outcomes.push(JobOutcome::Put(outs));
                }
                Job::Revoke { revoke, .. } => {
                    outcomes.push(JobOutcome::Revoke(self.revoke(
                        &mut pending,
                        revoke,
                        now,
                    )?));
                }
                Job::FileObjection { filing, due, .. } => {
                    outcomes.push(JobOutcome::Revoke(self.file_objection(
                        &mut pending,
                        filing,
                        *due,
                        now,
                    )?));
                }
                Job::ResolveObjection { resolve, .. } => {
                    let (o, seq) = self.resolve_objection(&mut pending, resolve, now)?;
                    outcomes.push(JobOutcome::Resolve(o, seq));
                }
                Job::FileRepair { filing, due, .. } => {
                    outcomes.push(JobOutcome::Revoke(self.file_repair(
                        &mut pending,
                        filing,
                        *due,
                        now,
                    )?));
                }
                Job::DecideRepair {
                    id,
                    outcome,
                    explanation,
                    ..
                } => {
                    let (o, seq) =
                        self.decide_repair(&mut pending, id, *outcome, explanation, now)?;
                    outcomes.push(JobOutcome::Resolve(o, seq));
                }
            }
        }
        for state in pending.objections.values() {
            batch.put_objection(state);
        }
        for state in pending.repairs.values() {
            batch.put_repair(state);
        }
        batch.put_timely(std::mem::take(&mut pending.timely));
        for (key, state) in &pending.states {
            // The subject index entry of the stored version is replaced.
            let old = pending.stored_subject.get(key).and_then(Option::as_deref);
            batch.put_record(
                key,
                state,
                old,
                ListSlot::of(&self.catalog, &key.kind).as_ref(),
            );
        }
        // The key of the last entry built, for the next plan.
        if let Some((_, key)) = pending
            .keys
            .iter()
            .rev()
            .find(|(from, _)| *from < self.head.size())
        {
            self.last_key = Some(key.public().clone());
        }
        // The checkpoint is signed by the key of its last entry.
        if self.head.size() > 0
            && let Some((_, key)) = pending
                .keys
                .iter()
                .rev()
                .find(|(from, _)| *from < self.head.size())
            && let Some(signer) = self.shared.signer_for(key.public())
        {
            self.signer = signer;
        }
        let state = self.sign_state()?;
        batch.put_log_state(&self.origin, &state);
        Ok((batch, outcomes, pending))
    }

    fn current(
        &self,
        pending: &mut Pending,
        key: &RecordKey,
    ) -> Result<Option<RecordState>, StoreError> {
        if let Some(s) = pending.states.get(key) {
            return Ok(Some(s.clone()));
        }
        // A commit in flight wrote it last (and its subject index entry).
        if let Some(s) = self.in_flight.iter().rev().find_map(|f| f.states.get(key)) {
            pending
                .stored_subject
                .insert(key.clone(), Some(s.subject.clone()));
            return Ok(Some(s.clone()));
        }
        let stored = self.store.record(key)?;
        pending
            .stored_subject
            .insert(key.clone(), stored.as_ref().map(|s| s.subject.clone()));
        Ok(stored)
    }

    fn put(
        &mut self,
        pending: &mut Pending,
        record: &Record,
        now: i64,
    ) -> Result<Outcome, BuildError> {
        let key = record.key();
        let content = content_hash(record);
        let prev = self.current(pending, &key)?;
        if let Some(p) = &prev
            && p.content == content
        {
            return Ok(match p.revoked {
                None => Outcome::Duplicate { seq: p.put_seq },
                Some(r) => Outcome::Rejected(Rejection::RevokedContent {
                    seq: r.seq,
                    reason: r.reason,
                }),
            });
        }
        let entry = match self.append(pending, Op::Put(record.clone()), now) {
            Ok(e) => e,
            // Nothing was appended: the record alone is refused.
            Err(BuildError::Encode {
                error: EntryError::TooLarge(bytes),
                ..
            }) => return Ok(Outcome::Rejected(Rejection::TooLarge { bytes })),
            Err(e) => return Err(e),
        };
        if prev.is_none()
            && let Some(row) = timely(&self.shared, &entry)
        {
            pending.timely.push(row);
        }
        if let Some(state) = next_state(prev, &entry) {
            pending.states.insert(key, state);
        }
        Ok(Outcome::Accepted { seq: entry.seq })
    }

    fn revoke(
        &mut self,
        pending: &mut Pending,
        revoke: &Revoke,
        now: i64,
    ) -> Result<Outcome, BuildError> {
        let Some(state) = self.current(pending, &revoke.key)? else {
            return Ok(Outcome::Rejected(Rejection::NoRecord(revoke.key.clone())));
        };
        if state.origin != self.origin {
            return Ok(Outcome::Rejected(Rejection::NotOwner {
                key: revoke.key.clone(),
                origin: state.origin,
            }));
        }
        if let Some(r) = state.revoked {
            return Ok(Outcome::Rejected(Rejection::AlreadyRevoked {
                key: revoke.key.clone(),
                seq: r.seq,
            }));
        }
        let entry = self.append(pending, Op::Revoke(revoke.clone()), now)?;
        if let Some(state) = next_state(Some(state), &entry) {
            pending.states.insert(revoke.key.clone(), state);
        }
        Ok(Outcome::Accepted { seq: entry.seq })
    }

    /// The objection `id` of this log, as the commits built so far leave it.
    fn current_objection(
        &self,
        pending: &Pending,
        id: &str,
    ) -> Result<Option<ObjectionState>, StoreError> {
        if let Some(s) = pending.objections.get(id) {
            return Ok(Some(s.clone()));
        }
        if let Some(s) = self
            .in_flight
            .iter()
            .rev()
            .find_map(|f| f.objections.get(id))
        {
            return Ok(Some(s.clone()));
        }
        self.store.objection(&self.origin, id)
    }

    /// Signs `ObjectionFiled` for a filing routed here, after the checks
    /// only the origin can make: the record is ours and current, and the
    /// id is new (or names this very filing: a duplicate).
    fn file_objection(
        &mut self,
        pending: &mut Pending,
        filing: &ObjectionFiling,
        due: Date,
        now: i64,
    ) -> Result<Outcome, BuildError> {
        if let Some(o) = self.current_objection(pending, &filing.id)? {
            let same = o.key == filing.key
                && o.ground == filing.ground
                && o.statement == filing.statement
                && o.received_by == filing.received_by
                && o.received_on == filing.received_on;
            return Ok(if same {
                Outcome::Duplicate { seq: o.filed_seq }
            } else {
                Outcome::Rejected(Rejection::IdReused {
                    id: filing.id.clone(),
                    seq: o.filed_seq,
                })
            });
        }
        if let Some(rejected) = self.check_current(pending, &filing.key, filing.seq)? {
            return Ok(rejected);
        }
        let state = self.current(pending, &filing.key)?;
        let op = Op::ObjectionFiled(ObjectionFiled {
            id: filing.id.clone(),
            key: filing.key.clone(),
            ground: filing.ground,
            statement: filing.statement.clone(),
            received_by: filing.received_by.clone(),
            received_on: filing.received_on,
            due,
        });
        let entry = self.append(pending, op, now)?;
        self.index(pending, state, None, &entry);
        Ok(Outcome::Accepted { seq: entry.seq })
    }

    /// Signs an objection's resolution, with its correction or revocation.
    fn resolve_objection(
        &mut self,
        pending: &mut Pending,
        resolve: &Resolve,
        now: i64,
    ) -> Result<(Outcome, Option<u64>), BuildError> {
        let Some(objection) = self.current_objection(pending, &resolve.id)? else {
            return Ok((
                Outcome::Rejected(Rejection::NoObjection(resolve.id.clone())),
                None,
            ));
        };
        if let Some(r) = &objection.resolution {
            return Ok((
                Outcome::Rejected(Rejection::AlreadyResolved {
                    id: resolve.id.clone(),
                    seq: r.seq,
                }),
                None,
            ));
        }
        let key = objection.key.clone();
        let mut correction_seq = None;
        if let Some(record) = &resolve.correction {
            if record.key() != key {
                return Ok((
                    Outcome::Rejected(Rejection::Correction(format!(
                        "the correction is record {}, but objection {} is about record {key}: a correction is the same record's next version",
                        record.key(),
                        resolve.id
                    ))),
                    None,
                ));
            }
            match self.put(pending, record, now)? {
                Outcome::Accepted { seq } => correction_seq = Some(seq),
                Outcome::Duplicate { .. } => {
                    return Ok((
                        Outcome::Rejected(Rejection::Correction(format!(
                            "the correction is identical to record {key}'s current version: an upheld objection changes the record, or revokes it"
                        ))),
                        None,
                    ));
                }
                rejected @ Outcome::Rejected(_) => return Ok((rejected, None)),
            }
        } else if resolve.revoke {
            let revoke = Revoke {
                key: key.clone(),
                reason: RevokeReason::ObjectionUpheld,
                basis: resolve.id.clone(),
            };
            match self.revoke(pending, &revoke, now)? {
                Outcome::Accepted { seq } => correction_seq = Some(seq),
                other => return Ok((other, None)),
            }
        }
        let op = Op::ObjectionResolved(ObjectionResolved {
            id: resolve.id.clone(),
            key: key.clone(),
            outcome: resolve.outcome,
            explanation: resolve.explanation.clone(),
        });
        let entry = self.append(pending, op, now)?;
        let state = self.current(pending, &key)?;
        self.index(pending, state, Some(objection), &entry);
        Ok((Outcome::Accepted { seq: entry.seq }, correction_seq))
    }

    /// The repair application `id` of this log, as the commits built so
    /// far leave it.
    fn current_repair(
        &self,
        pending: &Pending,
        id: &str,
    ) -> Result<Option<RepairState>, StoreError> {
        if let Some(s) = pending.repairs.get(id) {
            return Ok(Some(s.clone()));
        }
        if let Some(s) = self.in_flight.iter().rev().find_map(|f| f.repairs.get(id)) {
            return Ok(Some(s.clone()));
        }
        self.store.repair(&self.origin, id)
    }

    /// Signs `RepairFiled` for an application routed here: the record is
    /// ours and current, the id new (or this very filing: a duplicate).
    fn file_repair(
        &mut self,
        pending: &mut Pending,
        filing: &RepairFiling,
        due: Date,
        now: i64,
    ) -> Result<Outcome, BuildError> {
        if let Some(r) = self.current_repair(pending, &filing.id)? {
            let same = r.key == filing.key
                && r.statement == filing.statement
                && r.commitment == filing.commitment
                && r.received_by == filing.received_by
                && r.received_on == filing.received_on;
            return Ok(if same {
                Outcome::Duplicate { seq: r.filed_seq }
            } else {
                Outcome::Rejected(Rejection::IdReused {
                    id: filing.id.clone(),
                    seq: r.filed_seq,
                })
            });
        }
        if let Some(rejected) = self.check_current(pending, &filing.key, filing.seq)? {
            return Ok(rejected);
        }
        let entry = self.append(
            pending,
            Op::RepairFiled(RepairFiled {
                id: filing.id.clone(),
                key: filing.key.clone(),
                statement: filing.statement.clone(),
                commitment: filing.commitment.clone(),
                received_by: filing.received_by.clone(),
                received_on: filing.received_on,
                due,
            }),
            now,
        )?;
        if let Some(r) = rongxin_protocol::repair::apply(None, &entry) {
            pending.repairs.insert(r.id.clone(), r);
        }
        Ok(Outcome::Accepted { seq: entry.seq })
    }

    /// Why the record `key` at `seq` may not be filed against, if it may
    /// not: unknown, another origin's, revoked, or not its current version.
    fn check_current(
        &self,
        pending: &mut Pending,
        key: &RecordKey,
        seq: u64,
    ) -> Result<Option<Outcome>, BuildError> {
        let Some(state) = self.current(pending, key)? else {
            return Ok(Some(Outcome::Rejected(Rejection::NoRecord(key.clone()))));
        };
        Ok(if state.origin != self.origin {
            Some(Outcome::Rejected(Rejection::NotOwner {
                key: key.clone(),
                origin: state.origin,
            }))
        } else if let Some(r) = state.revoked {
            Some(Outcome::Rejected(Rejection::AlreadyRevoked {
                key: key.clone(),
                seq: r.seq,
            }))
        } else if state.put_seq != seq {
            Some(Outcome::Rejected(Rejection::NotCurrent {
                key: key.clone(),
                named: seq,
                current: state.put_seq,
            }))
        } else {
            None
        })
    }

    /// Signs a repair decision; a grant revokes the record first.
    fn decide_repair(
        &mut self,
        pending: &mut Pending,
        id: &str,
        outcome: RepairOutcome,
        explanation: &str,
        now: i64,
    ) -> Result<(Outcome, Option<u64>), BuildError> {
        let Some(application) = self.current_repair(pending, id)? else {
            return Ok((
                Outcome::Rejected(Rejection::NoApplication(id.to_owned())),
                None,
            ));
        };
        if let Some(d) = &application.decision {
            return Ok((
                Outcome::Rejected(Rejection::AlreadyDecided {
                    id: id.to_owned(),
                    seq: d.seq,
                }),
                None,
            ));
        }
        let key = application.key.clone();
        let mut revoke_seq = None;
        if outcome == RepairOutcome::Granted {
            let revoke = Revoke {
                key: key.clone(),
                reason: RevokeReason::Repair,
                basis: id.to_owned(),
            };
            match self.revoke(pending, &revoke, now)? {
                Outcome::Accepted { seq } => revoke_seq = Some(seq),
                other => return Ok((other, None)),
            }
        }
        let entry = self.append(
            pending,
            Op::RepairDecided(RepairDecided {
                id: id.to_owned(),
                key,
                outcome,
                explanation: explanation.to_owned(),
            }),
            now,
        )?;
        if let Some(r) = rongxin_protocol::repair::apply(Some(application), &entry) {
            pending.repairs.insert(r.id.clone(), r);
        }
        Ok((Outcome::Accepted { seq: entry.seq }, revoke_seq))
    }

    /// Keeps the record and objection states an objection entry changes.
    fn index(
        &self,
        pending: &mut Pending,
        record: Option<RecordState>,
        objection: Option<ObjectionState>,
        entry: &Entry,
    ) {
        if let Some(key) = entry.record_key()
            && let Some(state) = next_state(record, entry)
        {
            pending.states.insert(key, state);
        }
        if let Some(o) = rongxin_protocol::objection::apply(objection, entry) {
            pending.objections.insert(o.id.clone(), o);
        }
    }

    /// Makes `op` the next entry: its hashes go into `batch`, its bytes
    /// wait in `pending` to be signed with the rest of the commit
    /// ([`sign_all`]). Returns the entry.
    fn append(&mut self, pending: &mut Pending, op: Op, now: i64) -> Result<Entry, BuildError> {
        let seq = self.head.size();
        let entry = Entry {
            origin: self.origin.clone(),
            seq,
            prev_hash: self.head.last_leaf(),
            time_ms: now,
            op,
        };
        let bytes = entry
            .check()
            .and_then(|()| entry.to_bytes(self.head.suite()))
            .map_err(|error| BuildError::Encode {
                origin: self.origin.clone(),
                seq,
                error,
            })?;
        // The chain and the tree cover the bytes, not the signature, so the
        // signatures of a whole commit can be made afterwards, in parallel.
        let roster = self.shared.roster();
        let rules = Rules {
            origin: &self.origin,
            roster: &roster.roster,
            catalog: &self.catalog,
        };
        let added = self.head.extend(&rules, [(&entry, bytes.as_slice())])?;
        pending.hashes.extend(added.hashes);
        pending.unsigned.push((seq, bytes));
        Ok(entry)
    }
}

/// Commits at least this long are signed on two threads.
const PARALLEL_SIGN: usize = 64;

/// Signs the entry bytes of a commit: `(seq, bytes)` in, `(seq, signed)` out.
fn sign_all(
    keys: &[(u64, SecretKey)],
    mut unsigned: Vec<(u64, Vec<u8>)>,
) -> Vec<(u64, SignedEntry)> {
    let sign = |part: Vec<(u64, Vec<u8>)>| -> Vec<(u64, SignedEntry)> {
        part.into_iter()
            .filter_map(|(seq, bytes)| {
                // The key whose range holds seq: the last starting at or before it.
                let (_, key) = keys.iter().rev().find(|(from, _)| *from <= seq)?;
                let signature = key.sign(&bytes);
                Some((seq, SignedEntry { bytes, signature }))
            })
            .collect()
    };
    if unsigned.len() < PARALLEL_SIGN {
        return sign(unsigned);
    }
    let second = unsigned.split_off(unsigned.len() / 2);
    std::thread::scope(|s| {
        let other = s.spawn(|| sign(second));
        let mut out = sign(unsigned);
        match other.join() {
            Ok(rest) => out.extend(rest),
            Err(panic) => std::panic::resume_unwind(panic),
        }
        out
    })
}

/// A commit built and signed, on its way to the applier.
struct Built {
    id: u64,
    generation: u64,
    batch: WriteBatch,
    jobs: Vec<Job>,
    outcomes: Vec<JobOutcome>,
    records: usize,
    entries: u64,
    /// The own log's size once applied.
    size: u64,
    started: Instant,
    build_s: f64,
    sign_s: f64,
    /// Entries still to be signed (by the signer): seq, bytes.
    unsigned: Vec<(u64, Vec<u8>)>,
    /// The Merkle hashes they add.
    hashes: Vec<(u64, Hash)>,
    /// The keys that sign them: each from a seq on.
    keys: Vec<(u64, SecretKey)>,
}

/// The keys of one commit (see [`Committer::plan`]).
struct KeyPlan {
    /// The key of the next position.
    now: NoteSigner,
    /// A pending next key this node holds: hand over to it first (key
    /// index, its base64 public key, its signer).
    handover: Option<(usize, String, NoteSigner)>,
    /// The key of the log's last position, if held.
    checkpoint_signer: Option<NoteSigner>,
}

/// The committer's signer thread: signs each commit's entries into its
/// batch, in order, and hands it to the applier.
fn sign_commits(
    origin: &str,
    rx: std::sync::mpsc::Receiver<Built>,
    to_applier: std::sync::mpsc::SyncSender<Built>,
) {
    for mut b in rx {
        let t = Instant::now();
        let keys = std::mem::take(&mut b.keys);
        let signed = sign_all(&keys, std::mem::take(&mut b.unsigned));
        if let Some((first, _)) = signed.first() {
            let first = *first;
            let entries = signed.into_iter().map(|(_, e)| e).collect();
            b.batch
                .append_entries(origin, first, entries, std::mem::take(&mut b.hashes));
        }
        b.sign_s = t.elapsed().as_secs_f64();
        if to_applier.send(b).is_err() {
            break;
        }
    }
}

/// The applier's report on one commit.
struct Done {
    id: u64,
    /// Applied and flushed (its jobs were answered with their outcomes).
    applied: bool,
}

/// The committer's second thread: applies and flushes built commits in
/// order, and only then answers their jobs.
struct Applier {
    store: Store,
    metrics: Metrics,
    origin: String,
}

impl Applier {
    fn run(self, rx: std::sync::mpsc::Receiver<Built>, done: std::sync::mpsc::Sender<Done>) {
        let mut failed_generation = None;
        for b in rx {
            let id = b.id;
            let applied = if failed_generation == Some(b.generation) {
                // Built on top of a commit that failed: never written.
                fail(b.jobs, &CommitError::Earlier);
                false
            } else {
                let generation = b.generation;
                let ok = self.apply(b);
                if !ok {
                    failed_generation = Some(generation);
                }
                ok
            };
            if done.send(Done { id, applied }).is_err() {
                break;
            }
        }
    }

    /// Applies and flushes one commit, then answers its jobs.
    fn apply(&self, b: Built) -> bool {
        let t = Instant::now();
        let result = self.store.commit_blocking(b.batch, Durability::Durable);
        match result {
            Ok(()) => {
                let elapsed = b.started.elapsed().as_secs_f64();
                self.metrics.commit_seconds.observe(elapsed);
                self.metrics.commit_batch_records.observe(b.records as f64);
                self.metrics.set_log_size(&self.origin, b.size);
                tracing::debug!(
                    records = b.records,
                    entries = b.entries,
                    elapsed,
                    build_s = b.build_s,
                    sign_s = b.sign_s,
                    write_s = t.elapsed().as_secs_f64(),
                    "committed"
                );
                for (job, out) in b.jobs.into_iter().zip(b.outcomes) {
                    match (job, out) {
                        (Job::Put { reply, .. }, JobOutcome::Put(o)) => drop(reply.send(Ok(o))),
                        (Job::Revoke { reply, .. }, JobOutcome::Revoke(o))
                        | (Job::FileObjection { reply, .. }, JobOutcome::Revoke(o))
                        | (Job::FileRepair { reply, .. }, JobOutcome::Revoke(o)) => {
                            drop(reply.send(Ok(o)))
                        }
                        (Job::ResolveObjection { reply, .. }, JobOutcome::Resolve(o, seq))
                        | (Job::DecideRepair { reply, .. }, JobOutcome::Resolve(o, seq)) => {
                            drop(reply.send(Ok((o, seq))))
                        }
                        _ => {}
                    }
                }
                true
            }
            Err(e) => {
                tracing::error!(error = %e, records = b.records, "commit failed; nothing acknowledged");
                fail(b.jobs, &CommitError::from(e));
                false
            }
        }
    }
}

/// Answers every job with `error`.
fn fail(jobs: Vec<Job>, error: &CommitError) {
    for job in jobs {
        match job {
            Job::Put { reply, .. } => drop(reply.send(Err(error.clone()))),
            Job::Revoke { reply, .. }
            | Job::FileObjection { reply, .. }
            | Job::FileRepair { reply, .. } => drop(reply.send(Err(error.clone()))),
            Job::ResolveObjection { reply, .. } | Job::DecideRepair { reply, .. } => {
                drop(reply.send(Err(error.clone())))
            }
        }
    }
}

/// Record states changed by the commit being built, and the subject each
/// had on disk before it (to move its subject index entry).
#[derive(Default)]
struct Pending {
    states: HashMap<RecordKey, RecordState>,
    /// Objection states changed by the commit, by id.
    objections: HashMap<String, ObjectionState>,
    /// Repair application states changed by the commit, by id.
    repairs: HashMap<String, RepairState>,
    /// Publication timeliness of the records it publishes first.
    timely: Vec<store::Timely>,
    stored_subject: HashMap<RecordKey, Option<String>>,
    /// Entries of the commit waiting for their signatures: seq, bytes.
    unsigned: Vec<(u64, Vec<u8>)>,
    /// The Merkle hashes they add.
    hashes: Vec<(u64, Hash)>,
    /// The keys that sign them: each from a seq on.
    keys: Vec<(u64, SecretKey)>,
}

enum JobOutcome {
    Put(Vec<Outcome>),
    /// A revocation's or a filing's (objection or repair).
    Revoke(Outcome),
    Resolve(Outcome, Option<u64>),
}

/// A commit sent to the applier and not yet reported done.
struct InFlight {
    id: u64,
    /// The record states it sets.
    states: HashMap<RecordKey, RecordState>,
    /// The objection states it sets, by id.
    objections: HashMap<String, ObjectionState>,
    /// The repair application states it sets, by id.
    repairs: HashMap<String, RepairState>,
}

/// The publication timeliness of `entry` if it is the first version of a
/// record of a double-publicity kind (the caller knows it is the first).
pub fn timely(shared: &Shared, entry: &Entry) -> Option<store::Timely> {
    let Op::Put(record) = &entry.op else {
        return None;
    };
    if !shared.catalog.kind(&record.kind)?.double_publicity {
        return None;
    }
    Some(store::Timely {
        origin: entry.origin.clone(),
        seq: entry.seq,
        key: record.key(),
        measured: rongxin_protocol::timeliness::measure(
            &shared.calendar,
            record.decision_date,
            entry.time_ms,
        )?,
    })
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
