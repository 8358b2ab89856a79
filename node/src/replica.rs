//! Replica logs: checking what peers send about other origins' logs and
//! appending it, and detecting equivocation.
//!
//! A batch from a peer is appended only if every entry holds: the origin's
//! roster key signed it (batch-verified), seqs continue the local log without
//! gap or reordering, each `prev_hash` is the leaf hash of the entry before,
//! the origin owns the record's jurisdiction, and a Put's record is valid
//! under the catalog. When the log reaches the size of the peer's signed
//! checkpoint, the recomputed Merkle root must equal the checkpoint's. A batch
//! is appended with all its index updates in one atomic write.
//!
//! **Pipelined appends.** A checked batch is handed to the store's writer
//! without waiting for it ([`Store::submit_blocking`]), so the next batch
//! is checked and prepared while the writer syncs and applies this one.
//! Up to [`IN_FLIGHT`] batches of an origin may be in the writer's hands;
//! what they change (record, objection and repair states, the commit
//! point) is kept beside the origin's head until the writer confirms it,
//! and the next batch reads those before the store. A batch that fails in
//! the writer fails every batch after it (the writer refuses an append
//! that does not continue the log as written), and the origin's head is
//! read again from the store. Whoever needs the store to be current for an
//! origin (a checkpoint's observation, a resume, the end of a sync round)
//! first waits for its batches ([`Replicator::settle`]).
//!
//! Two statements signed by one origin that cannot both be true — two
//! checkpoints for the same size with different roots, a checkpoint that
//! does not match the entries the origin signed, an entry whose `prev_hash`
//! forks from the entry held at the position before — are **equivocation**:
//! both statements are stored as evidence, the origin is halted (no further
//! entries of it are accepted) and an alarm is raised until an operator acts.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rongxin_protocol::checkpoint::SignedCheckpoint;
use rongxin_protocol::entry::{EntryError, SignedEntry};
use rongxin_protocol::log::{CloseError, ExtendError, LogHead, Rules, next_state};
use rongxin_protocol::merkle;
use rongxin_protocol::objection::{self, ObjectionState};
use rongxin_protocol::record::RecordKey;
use rongxin_protocol::repair::{self, RepairState};
use rongxin_protocol::roster::KeyStarts;
use serde_json::json;

use crate::ingest::now_ms;
use crate::metrics::Metrics;
use crate::shared::Shared;
use crate::store::{
    self, Durability, ListSlot, LogState, RecordState, Store, StoreError, WriteBatch,
};

/// Why a peer's data was not appended.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// The entries break a rule of the log (position, chain, ownership,
    /// record): refused, sync goes on.
    #[error("refused {origin} entries: {error}")]
    Invalid {
        /// The log concerned.
        origin: String,
        /// The rule broken.
        error: ExtendError,
    },
    /// The data does not verify against the roster (bad signature, a key
    /// that does not sign that position, an unsigned checkpoint): refused,
    /// sync goes on.
    #[error("refused {origin} data: {why}")]
    Refused {
        /// The log concerned.
        origin: String,
        /// What was wrong, naming the key and position.
        why: String,
    },
    /// The origin equivocated; evidence was stored and the origin halted.
    #[error("equivocation by {origin}: {why}")]
    Equivocation {
        /// The origin.
        origin: String,
        /// What conflicts.
        why: String,
    },
    /// The origin is halted after equivocation.
    #[error("{0} is halted after equivocation; an operator must resume it")]
    Halted(String),
    /// The batch does not start where the log ends (another peer was faster).
    #[error("stale batch for {0}")]
    Stale(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to do about a peer's checkpoint.
#[derive(Debug)]
pub enum Observation {
    /// Nothing: we hold at least as much, consistently.
    UpToDate {
        /// The size the peer's checkpoint states.
        peer_size: u64,
    },
    /// The peer has more: fetch entries up to the checkpoint.
    Behind {
        /// The verified checkpoint to fetch up to.
        target: SignedCheckpoint,
        /// Entries held now.
        held: u64,
    },
}

/// Batches at least this long are verified on two threads.
const PARALLEL_VERIFY: usize = 256;

/// A batch whose signatures [`Replicator::verify`] checked: the decoded
/// entries and the key that verified them.
#[derive(Debug)]
pub struct Verified {
    /// The origin's key history the batch was verified against.
    keys: Vec<rongxin_protocol::roster::MemberKey>,
    /// The key starts it was verified from, and after its handovers.
    starts_before: KeyStarts,
    starts_after: KeyStarts,
    entries: Vec<rongxin_protocol::entry::Entry>,
}

/// Most batches of one origin handed to the writer and not yet confirmed:
/// one being written, one waiting, so the writer takes the next as soon as
/// it finishes one. Measured (docs/benchmarks.md): four were no faster and
/// hold two more batches in memory.
pub const IN_FLIGHT: usize = 2;

/// One origin's log as appends leave it: its head, including batches the
/// writer has not confirmed yet, and what those batches change.
#[derive(Debug)]
struct Tip {
    head: LogHead,
    /// Id of the next batch submitted.
    next: u64,
    /// Submitted batches, oldest first.
    queue: VecDeque<Submitted>,
    /// States written by batches in `queue`, each with the id of the last
    /// batch that wrote it: removed once that batch is confirmed (the store
    /// then holds it), kept while a later batch may still change it.
    records: HashMap<RecordKey, (u64, RecordState)>,
    objections: HashMap<String, (u64, ObjectionState)>,
    repairs: HashMap<String, (u64, RepairState)>,
    log_state: Option<(u64, LogState)>,
}

/// A batch handed to the writer.
#[derive(Debug)]
struct Submitted {
    id: u64,
    /// The log's size once it is in.
    size: u64,
    entries: u64,
    reply: tokio::sync::oneshot::Receiver<Result<(), StoreError>>,
}

impl Tip {
    fn new(head: LogHead) -> Tip {
        Tip {
            head,
            next: 0,
            queue: VecDeque::new(),
            records: HashMap::new(),
            objections: HashMap::new(),
            repairs: HashMap::new(),
            log_state: None,
        }
    }

    /// Waits for the oldest submitted batch. Once it is in, forgets what
    /// only it wrote and counts it; if it failed, waits for the rest (which
    /// then fail too) and returns the error: the tip is no longer valid.
    fn settle_one(&mut self, origin: &str, metrics: &Metrics) -> Result<(), ReplicaError> {
        let Some(s) = self.queue.pop_front() else {
            return Ok(());
        };
        match s.reply.blocking_recv().unwrap_or(Err(StoreError::Stopped)) {
            Ok(()) => {
                let id = s.id;
                self.records.retain(|_, (by, _)| *by != id);
                self.objections.retain(|_, (by, _)| *by != id);
                self.repairs.retain(|_, (by, _)| *by != id);
                if self.log_state.as_ref().is_some_and(|(by, _)| *by == id) {
                    self.log_state = None;
                }
                metrics.set_log_size(origin, s.size);
                metrics.replicated_entries.inc_by(s.entries);
                Ok(())
            }
            Err(e) => {
                for rest in self.queue.drain(..) {
                    let _ = rest.reply.blocking_recv();
                }
                Err(e.into())
            }
        }
    }

    /// Waits for every submitted batch; the first failure, if any.
    fn settle_all(&mut self, origin: &str, metrics: &Metrics) -> Result<(), ReplicaError> {
        while !self.queue.is_empty() {
            self.settle_one(origin, metrics)?;
        }
        Ok(())
    }
}

/// Checks and appends replica data. One per node.
#[derive(Debug)]
pub struct Replicator {
    store: Store,
    shared: Arc<Shared>,
    metrics: Metrics,
    /// Each origin's [`Tip`]; appends, observations and resumes of an
    /// origin hold this lock.
    heads: Mutex<HashMap<String, Tip>>,
    /// Compromised-key statements already kept as evidence (their digests),
    /// so a peer repeating one does not fill the evidence store.
    reported: Mutex<std::collections::HashSet<[u8; 32]>>,
}

/// `origin`'s key history in `roster`.
fn origin_keys(
    roster: &rongxin_protocol::roster::Roster,
    origin: &str,
) -> Result<Vec<rongxin_protocol::roster::MemberKey>, ReplicaError> {
    Ok(roster
        .member(origin)
        .ok_or_else(|| refused(origin, "not a member of the roster"))?
        .keys
        .clone())
}

fn refused(origin: &str, why: impl Into<String>) -> ReplicaError {
    ReplicaError::Refused {
        origin: origin.to_owned(),
        why: why.into(),
    }
}

impl Replicator {
    /// A replicator over `store`.
    pub fn new(store: Store, shared: Arc<Shared>, metrics: Metrics) -> Replicator {
        Replicator {
            store,
            shared,
            metrics,
            heads: Mutex::new(HashMap::new()),
            reported: Mutex::new(std::collections::HashSet::new()),
        }
    }

    /// Checks a peer's checkpoint note for `origin` against what we hold.
    pub fn observe(&self, origin: &str, note: &str) -> Result<Observation, ReplicaError> {
        let roster = self.shared.roster();
        // Appends hold this lock too: what we compare against cannot move,
        // and one equivocation is recorded once, however many peers show it.
        let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        // What is compared must be in the store.
        self.settle_locked(&mut heads, origin)?;
        if self.store.halted(origin)? {
            return Err(ReplicaError::Halted(origin.to_owned()));
        }
        // Never cached: a newer roster may have changed the key history.
        let starts = self.stored_starts(origin)?;
        let (cp, signer) = match roster.roster.open_checkpoint_at(origin, note, &starts) {
            Ok(opened) => opened,
            Err(e) => {
                if let Some(err) = self.compromised_checkpoint(origin, note) {
                    return Err(err);
                }
                return Err(refused(origin, format!("checkpoint: {e}")));
            }
        };
        let held = self.store.log_state(origin)?;
        let n = held.as_ref().map_or(0, |s| s.size);
        let s = cp.checkpoint.size;
        // Over entries held, the key is the one they prove; past them, a
        // pending key may have signed it (checked again on reaching it).
        let want = starts.index_at(s.saturating_sub(1));
        if signer != want && (s <= n || starts.start(signer).is_some()) {
            return Err(refused(
                origin,
                format!(
                    "checkpoint of size {s} is signed by {origin}'s key {}, but key {} signs position {}",
                    signer + 1,
                    want + 1,
                    s.saturating_sub(1)
                ),
            ));
        }
        if s > n {
            return Ok(Observation::Behind {
                target: cp,
                held: n,
            });
        }
        let ours = match &held {
            Some(h) if h.size == s => h.root,
            _ => merkle::tree_root(s, &self.store.hashes(origin, roster.roster.suite))?,
        };
        if ours != cp.checkpoint.root {
            let our_note = held.map(|h| h.checkpoint).unwrap_or_default();
            return Err(self.equivocation(
                origin,
                "checkpoints",
                format!("a checkpoint for size {s} has root {}, but the entries {origin} signed give {}", B64.encode(cp.checkpoint.root), B64.encode(ours)),
                json!({"their_checkpoint": note, "our_checkpoint": our_note}),
            )?);
        }
        // A consistent, newer checkpoint for entries we already hold.
        if let Some(mut h) = held
            && checkpoint_size(&h.checkpoint) < s
        {
            h.checkpoint = note.to_owned();
            let mut batch = WriteBatch::default();
            batch.put_log_state(origin, &h);
            self.store.commit_blocking(batch, Durability::Applied)?;
        }
        Ok(Observation::UpToDate { peer_size: s })
    }

    /// Appends `entries`, which a peer sent as `from..`, toward `target`:
    /// [`Replicator::verify`], then [`Replicator::append_verified`].
    /// Returns the new size. [`Replicator::settle`] waits until it is in.
    pub fn append(
        &self,
        origin: &str,
        from: u64,
        entries: &[SignedEntry],
        target: &SignedCheckpoint,
    ) -> Result<u64, ReplicaError> {
        let verified = self.verify(origin, from, entries)?;
        self.append_verified(origin, from, entries, &verified, target)
    }

    /// Waits until every batch of `origin` handed to the writer is in the
    /// store; the first that failed, if any (the origin's head is then read
    /// again from the store).
    pub fn settle(&self, origin: &str) -> Result<(), ReplicaError> {
        let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        self.settle_locked(&mut heads, origin)
    }

    fn settle_locked(
        &self,
        heads: &mut HashMap<String, Tip>,
        origin: &str,
    ) -> Result<(), ReplicaError> {
        let Some(tip) = heads.get_mut(origin) else {
            return Ok(());
        };
        let settled = tip.settle_all(origin, &self.metrics);
        if settled.is_err() {
            heads.remove(origin);
        }
        settled
    }

    /// Checks the signatures of a batch of `origin`'s entries (sent as
    /// `from..`) with its roster key and decodes them. Needs no log state,
    /// so sync runs it for the next batch while the last one is appended;
    /// large batches are verified on two threads.
    pub fn verify(
        &self,
        origin: &str,
        from: u64,
        entries: &[SignedEntry],
    ) -> Result<Verified, ReplicaError> {
        let roster = self.shared.roster();
        let roster = &roster.roster;
        let keys = origin_keys(roster, origin)?;
        if entries.is_empty() {
            return Err(refused(origin, "an empty batch"));
        }
        // The key starts as of `from`: exact when the head is there (sync
        // may verify a batch while the one before it is being appended).
        let exact = {
            let heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
            match heads.get(origin) {
                Some(t) => t.head.size() == from,
                None => {
                    drop(heads);
                    self.store.log_state(origin)?.map_or(0, |s| s.size) == from
                }
            }
        };
        let starts_before = self.stored_starts(origin)?;
        let pending = starts_before
            .pending()
            .any(|i| i > starts_before.index_at(from));
        let mut starts_after = starts_before.clone();
        // Each entry is checked with the key of its position (a batch may
        // cross a key change). With a pending key a handover may come at any
        // entry, so the batch is checked in order; otherwise in two halves.
        let half = entries.len().div_ceil(2);
        let (a, b) = entries.split_at(half);
        let (first, second) = if entries.len() >= PARALLEL_VERIFY && !pending {
            let mut second_starts = starts_before.clone();
            std::thread::scope(|s| {
                let second = s.spawn(|| {
                    roster.verify_entries(origin, from + half as u64, b, &mut second_starts)
                });
                let first = roster.verify_entries(origin, from, a, &mut starts_after);
                (first, second.join().unwrap_or_else(|_| Ok(Vec::new())))
            })
        } else {
            (
                roster.verify_entries(origin, from, entries, &mut starts_after),
                Ok(Vec::new()),
            )
        };
        let bad_at = |index: usize, e: EntryError| -> ReplicaError {
            if let EntryError::BatchSignature { .. } = e {
                if pending && !exact {
                    // The batch before may hold the handover: check again later.
                    return ReplicaError::Stale(origin.to_owned());
                }
                if let Some(signed) = entries.get(index)
                    && let Some(err) =
                        self.compromised_signature(origin, from + index as u64, signed)
                {
                    return err;
                }
            }
            refused(origin, format!("entry {}: {e}", from + index as u64))
        };
        let mut decoded = first.map_err(|e| match e {
            EntryError::BatchSignature { index } => bad_at(index, e),
            e => bad_at(0, e),
        })?;
        decoded.extend(second.map_err(|e| match e {
            // The index counts from the start of the whole batch.
            EntryError::BatchSignature { index } => bad_at(
                index + half,
                EntryError::BatchSignature {
                    index: index + half,
                },
            ),
            e => bad_at(half, e),
        })?);
        if decoded.len() != entries.len() {
            return Err(refused(origin, "a batch that did not verify whole"));
        }
        Ok(Verified {
            keys,
            starts_before,
            starts_after,
            entries: decoded,
        })
    }

    /// Where `origin`'s keys start, from the roster and the handovers held.
    fn stored_starts(&self, origin: &str) -> Result<KeyStarts, ReplicaError> {
        let learned = self.store.key_starts(origin)?;
        Ok(self
            .shared
            .roster()
            .roster
            .member(origin)
            .map(|m| m.key_starts_with(&learned))
            .unwrap_or_default())
    }

    /// Whether `statement` is reported for the first time (then remembers it).
    fn first_report(&self, statement: &[u8]) -> bool {
        use sha2::Digest as _;
        let digest: [u8; 32] = sha2::Sha256::digest(statement).into();
        self.reported
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest)
    }

    /// When a refused checkpoint note carries a valid signature by one of
    /// `origin`'s keys marked compromised: keeps it as evidence and names it.
    fn compromised_checkpoint(&self, origin: &str, note: &str) -> Option<ReplicaError> {
        let roster = self.shared.roster();
        let member = roster.roster.member(origin)?;
        let name = roster.roster.log_origin(origin);
        let index = member.keys.iter().enumerate().position(|(i, k)| {
            k.compromised
                && member.key(roster.roster.suite, i).is_ok_and(|key| {
                    rongxin_protocol::note::NoteVerifier::new(&name, key)
                        .is_ok_and(|v| v.open(note).is_ok())
                })
        })?;
        let why = format!(
            "a checkpoint of {origin} is signed by its key {}, which the roster (version {}) marks compromised, for positions that key no longer signs: refused",
            index + 1,
            roster.roster.version
        );
        Some(self.compromise_evidence(origin, why, note.as_bytes(), json!({"checkpoint": note})))
    }

    /// When `signed`, refused at `position`, carries a valid signature by
    /// one of `origin`'s keys marked compromised: keeps it as evidence
    /// (without halting the origin, which continues under its new key) and
    /// names it.
    fn compromised_signature(
        &self,
        origin: &str,
        position: u64,
        signed: &SignedEntry,
    ) -> Option<ReplicaError> {
        let roster = self.shared.roster();
        let member = roster.roster.member(origin)?;
        let index = member.keys.iter().enumerate().position(|(i, k)| {
            k.compromised
                && member
                    .key(roster.roster.suite, i)
                    .is_ok_and(|key| key.verify(&signed.bytes, &signed.signature))
        })?;
        let why = format!(
            "entry {position} of {origin} is signed by its key {}, which the roster (version {}) marks compromised: refused",
            index + 1,
            roster.roster.version
        );
        Some(self.compromise_evidence(
            origin,
            why,
            &signed.bytes,
            json!({"entry": {"seq": position, "entry": B64.encode(&signed.bytes), "signature": B64.encode(signed.signature)}}),
        ))
    }

    /// Keeps a statement signed by a compromised key as evidence, once per
    /// statement (`signed`: its signed bytes), without halting the origin,
    /// which continues under its new key; the error names it.
    fn compromise_evidence(
        &self,
        origin: &str,
        why: String,
        signed: &[u8],
        statements: serde_json::Value,
    ) -> ReplicaError {
        if self.first_report(signed) {
            tracing::error!(%origin, %why, "COMPROMISED KEY: evidence stored");
            let mut batch = WriteBatch::default();
            batch.put_evidence(
                origin,
                &json!({
                    "origin": origin,
                    "kind": "compromised-key",
                    "detected_ms": now_ms(),
                    "why": why,
                    "statements": statements,
                }),
            );
            if let Err(e) = self.store.commit_blocking(batch, Durability::Durable) {
                return e.into();
            }
        }
        refused(origin, why)
    }

    /// Appends `entries` (sent as `from..`, their signatures checked by
    /// [`Replicator::verify`] into `verified`) toward `target`: checks them
    /// against the origin's head and hands them to the writer with their
    /// index updates, without waiting for it (module doc). Returns the new
    /// size; [`Replicator::settle`] says when, and whether, it is in.
    pub fn append_verified(
        &self,
        origin: &str,
        from: u64,
        entries: &[SignedEntry],
        verified: &Verified,
        target: &SignedCheckpoint,
    ) -> Result<u64, ReplicaError> {
        let roster = self.shared.roster();
        let catalog = &self.shared.catalog;
        // The roster may have changed since the batch was verified.
        let keys = origin_keys(&roster.roster, origin)?;
        if keys != verified.keys || verified.entries.len() != entries.len() {
            return Err(ReplicaError::Stale(origin.to_owned()));
        }
        let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        if self.store.halted(origin)? {
            return Err(ReplicaError::Halted(origin.to_owned()));
        }
        let tip =
            match heads.entry(origin.to_owned()) {
                std::collections::hash_map::Entry::Occupied(t) => t.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => v.insert(Tip::new(
                    store::load_head(&self.store, origin, roster.roster.suite)?,
                )),
            };
        // At most IN_FLIGHT batches in the writer's hands: wait for the
        // oldest beyond that.
        while tip.queue.len() >= IN_FLIGHT {
            if let Err(e) = tip.settle_one(origin, &self.metrics) {
                heads.remove(origin);
                return Err(e);
            }
        }
        // Checked against the roster in force now and the handovers held
        // (a batch with a handover is confirmed before the next is taken).
        if from != tip.head.size() || self.stored_starts(origin)? != verified.starts_before {
            return Err(ReplicaError::Stale(origin.to_owned()));
        }
        // Not empty: `verify` refuses an empty batch, and the lengths match.
        if tip.head.size() + entries.len() as u64 > target.checkpoint.size {
            return Err(refused(origin, "more entries than the checkpoint covers"));
        }
        let decoded = &verified.entries;
        let rules = Rules {
            origin,
            roster: &roster.roster,
            catalog,
        };
        let mut head = tip.head.clone();
        let extended = head.extend(
            &rules,
            decoded
                .iter()
                .zip(entries.iter().map(|e| e.bytes.as_slice())),
        );
        let added = match extended {
            Ok(added) => added,
            Err(error) => {
                // The evidence reads the store: it must hold every batch
                // before this one.
                self.settle_locked(&mut heads, origin)?;
                return Err(match error {
                    ExtendError::Fork { seq, .. } => self.fork(origin, from, seq, entries)?,
                    error => ReplicaError::Invalid {
                        origin: origin.to_owned(),
                        error,
                    },
                });
            }
        };
        let mut batch = WriteBatch::default();
        batch.append_entries(origin, from, entries.to_vec(), added.hashes);
        let mut states: HashMap<RecordKey, (Option<RecordState>, Option<RecordState>)> =
            HashMap::new();
        let mut objections: HashMap<String, Option<ObjectionState>> = HashMap::new();
        let mut repairs: HashMap<String, Option<RepairState>> = HashMap::new();
        let mut timely = Vec::new();
        for entry in decoded {
            if let Some(id) = repair::repair_id(entry) {
                let prev = match repairs.remove(id) {
                    Some(p) => p,
                    None => match tip.repairs.get(id) {
                        Some((_, r)) => Some(r.clone()),
                        None => self.store.repair(origin, id)?,
                    },
                };
                let next = repair::apply(prev.clone(), entry).or(prev);
                repairs.insert(id.to_owned(), next);
            }
            if let Some(id) = objection::objection_id(entry) {
                let prev = match objections.remove(id) {
                    Some(p) => p,
                    None => match tip.objections.get(id) {
                        Some((_, o)) => Some(o.clone()),
                        None => self.store.objection(origin, id)?,
                    },
                };
                let next = objection::apply(prev.clone(), entry).or(prev);
                objections.insert(id.to_owned(), next);
            }
            // A key handover concerns no record.
            let Some(record_key) = entry.record_key() else {
                continue;
            };
            let slot = match states.get_mut(&record_key) {
                Some(s) => s,
                None => {
                    let held = match tip.records.get(&record_key) {
                        Some((_, r)) => Some(r.clone()),
                        None => self.store.record(&record_key)?,
                    };
                    states
                        .entry(record_key.clone())
                        .or_insert((held.clone(), held))
                }
            };
            if slot.1.is_none()
                && let Some(row) = crate::ingest::timely(&self.shared, entry)
            {
                timely.push(row);
            }
            if let Some(next) = next_state(slot.1.take(), entry) {
                slot.1 = Some(next);
            }
        }
        let root = head.root();
        let mut state = match &tip.log_state {
            Some((_, s)) => s.clone(),
            None => self
                .store
                .log_state(origin)?
                .unwrap_or_else(|| LogState::new(0, root, String::new())),
        };
        // A key that starts in this batch is a handover.
        let mut handover = false;
        for (index, start) in verified.starts_after.known() {
            if verified.starts_before.start(index).is_none() {
                batch.put_key_start(origin, index, start);
                handover = true;
            }
        }
        if head.size() == target.checkpoint.size {
            // The checkpoint may have been taken as signed by a pending key:
            // the entries now say which key signs its last position.
            let signed_by = roster
                .roster
                .open_checkpoint_at(origin, &target.note, &verified.starts_after)
                .map(|(_, i)| i);
            let want = verified
                .starts_after
                .index_at(head.size().saturating_sub(1));
            if signed_by.as_ref().ok() != Some(&want) {
                return Err(refused(
                    origin,
                    format!(
                        "the checkpoint of size {} is not signed by {origin}'s key {}, which its entries say signs position {}",
                        head.size(),
                        want + 1,
                        head.size().saturating_sub(1)
                    ),
                ));
            }
            match head.close(&target.checkpoint) {
                Ok(()) => {}
                Err(CloseError::RootMismatch { .. }) => {
                    self.settle_locked(&mut heads, origin)?;
                    return Err(self.equivocation(
                        origin,
                        "checkpoint-vs-entries",
                        format!(
                            "{origin}'s checkpoint for size {} has root {}, but the entries it signed give {}",
                            head.size(),
                            B64.encode(target.checkpoint.root),
                            B64.encode(root)
                        ),
                        json!({"their_checkpoint": target.note, "computed_root": B64.encode(root)}),
                    )?);
                }
                Err(e) => return Err(refused(origin, e.to_string())),
            }
            state.checkpoint = target.note.clone();
        }
        state.size = head.size();
        state.root = root;
        for (key, (old, new)) in &states {
            if let Some(new) = new {
                batch.put_record(
                    key,
                    new,
                    old.as_ref().map(|o| o.subject.as_str()),
                    ListSlot::of(catalog, &key.kind).as_ref(),
                );
            }
        }
        for o in objections.values().flatten() {
            batch.put_objection(o);
        }
        for r in repairs.values().flatten() {
            batch.put_repair(r);
        }
        batch.put_timely(timely);
        batch.put_log_state(origin, &state);
        let reply = match self.store.submit_blocking(batch, Durability::Applied) {
            Ok(reply) => reply,
            Err(e) => {
                let _ = self.settle_locked(&mut heads, origin);
                heads.remove(origin);
                return Err(e.into());
            }
        };
        let id = tip.next;
        tip.next += 1;
        let size = head.size();
        tip.queue.push_back(Submitted {
            id,
            size,
            entries: entries.len() as u64,
            reply,
        });
        for (key, (_, new)) in states {
            if let Some(new) = new {
                tip.records.insert(key, (id, new));
            }
        }
        for (oid, o) in objections {
            if let Some(o) = o {
                tip.objections.insert(oid, (id, o));
            }
        }
        for (rid, r) in repairs {
            if let Some(r) = r {
                tip.repairs.insert(rid, (id, r));
            }
        }
        tip.log_state = Some((id, state));
        tip.head = head;
        if handover {
            // The next batch is checked against the key starts the store
            // holds: this one's must be in.
            self.settle_locked(&mut heads, origin)?;
        }
        Ok(size)
    }

    /// The equivocation of an entry at `seq` whose `prev_hash` forks from
    /// the entry held before it (the batch came as `from..`).
    fn fork(
        &self,
        origin: &str,
        from: u64,
        seq: u64,
        entries: &[SignedEntry],
    ) -> Result<ReplicaError, ReplicaError> {
        let signed = usize::try_from(seq - from)
            .ok()
            .and_then(|i| entries.get(i));
        let prev = match seq.checked_sub(1) {
            Some(p) => self.store.entry(origin, p)?,
            None => None,
        };
        Ok(self.equivocation(
            origin,
            "fork",
            format!("entry {seq} names a previous entry other than the {origin}/{} held here", seq.saturating_sub(1)),
            json!({
                "their_entry": signed.map(|s| json!({"seq": seq, "entry": B64.encode(&s.bytes), "signature": B64.encode(s.signature)})),
                "our_previous_entry": prev.map(|p| json!({"seq": seq - 1, "entry": B64.encode(&p.bytes), "signature": B64.encode(p.signature)})),
            }),
        )?)
    }

    /// Forgets cached heads (after the store changed under them), once
    /// the batches handed to the writer are in.
    pub fn reset(&self) {
        let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        for (origin, tip) in heads.iter_mut() {
            if let Err(e) = tip.settle_all(origin, &self.metrics) {
                tracing::warn!(%origin, error = %e, "a replicated batch was not stored; sync fetches it again");
            }
        }
        heads.clear();
    }

    /// Resumes a halted origin (an operator's decision after looking at
    /// the evidence): under the lock appends take, so no append of it is
    /// half-way; its head is read again from the store.
    pub async fn resume(self: &Arc<Self>, origin: &str) -> Result<(), StoreError> {
        let me = self.clone();
        let origin = origin.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut heads = me.heads.lock().unwrap_or_else(|p| p.into_inner());
            // A batch still in the writer's hands is in (or failed) first.
            if let Some(tip) = heads.get_mut(&origin) {
                let _ = tip.settle_all(&origin, &me.metrics);
            }
            let mut batch = WriteBatch::default();
            batch.set_halted(&origin, false);
            me.store.commit_blocking(batch, Durability::Durable)?;
            heads.remove(&origin);
            Ok(())
        })
        .await
        .map_err(|_| StoreError::Stopped)?
    }

    fn equivocation(
        &self,
        origin: &str,
        kind: &str,
        why: String,
        statements: serde_json::Value,
    ) -> Result<ReplicaError, StoreError> {
        tracing::error!(%origin, kind, %why, "EQUIVOCATION: evidence stored, origin halted until an operator acts");
        let mut batch = WriteBatch::default();
        batch.put_evidence(
            origin,
            &json!({"origin": origin, "kind": kind, "detected_ms": now_ms(), "why": why, "statements": statements}),
        );
        batch.set_halted(origin, true);
        self.store.commit_blocking(batch, Durability::Durable)?;
        self.metrics.equivocations.inc();
        Ok(ReplicaError::Equivocation {
            origin: origin.to_owned(),
            why,
        })
    }
}

/// The size a checkpoint note states (0 if it cannot be read).
pub fn checkpoint_size(note: &str) -> u64 {
    rongxin_protocol::checkpoint::stated_size(note)
}
