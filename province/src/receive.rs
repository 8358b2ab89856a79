//! Receiving a forwarded batch: verifying it against the roster and the
//! catalog, de-duplicating by `(origin, seq)` and storing what is new.
//!
//! A batch is stored only if every new entry holds (docs/protocol.md §3.3):
//! the origin's roster key signed it (batch-verified), its origin and seq are
//! the ones expected, its `prev_hash` is the leaf hash of the entry before,
//! the origin owns the record's jurisdiction, and a Put's record is valid
//! under the catalog. The batch's checkpoint must be signed by the origin and,
//! once the log reaches its size, its root must be the root of the entries.
//! Entries already held must be byte-identical to the ones sent again.
//! Anything else refuses the whole batch and stores nothing.
//!
//! One writer per origin: a batch holds its origin's lock from reading the
//! head to the flushed write, so concurrent batches of one origin cannot
//! interleave, while other origins go on in parallel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rongxin_protocol::catalog::Catalog;
use rongxin_protocol::checkpoint::SignedCheckpoint;
use rongxin_protocol::entry::{Entry, EntryError, Op, SignedEntry};
use rongxin_protocol::log::{CloseError, ExtendError, LogHead, Rules};
use rongxin_protocol::roster::{KeyStarts, Roster};
use tokio::sync::OwnedMutexGuard;

use crate::store::{HeadState, Store, StoreError, WriteBatch};

/// One forwarded batch, parsed but not yet verified.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Member id of the origin.
    pub origin: String,
    /// The origin's signed checkpoint note the sender holds.
    pub checkpoint: String,
    /// Seq of the first entry; the others follow without gaps.
    pub first_seq: u64,
    /// The entries, in seq order.
    pub entries: Vec<SignedEntry>,
}

/// Why a batch was not stored: what the sender is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The batch starts after what is held.
    #[error("the batch starts after the entries held; send from seq {expected_from}")]
    Gap {
        /// The first seq not held.
        expected_from: u64,
    },
    /// An entry differs from the one held at its seq.
    #[error("entry {seq} differs from the entry held at that seq: {message}")]
    Conflict {
        /// The seq.
        seq: u64,
        /// What differs.
        message: String,
    },
    /// An entry, or the checkpoint, does not verify.
    #[error("entry {seq} does not verify: {message}")]
    Invalid {
        /// The seq concerned.
        seq: u64,
        /// Why.
        message: String,
    },
}

/// Why receiving a batch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiveError {
    /// The batch was refused; nothing was stored.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The store failed; nothing was acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The verification task did not finish (the runtime is shutting down).
    #[error("verification task failed: {0}")]
    Task(String),
}

/// What a stored (or fully duplicate) batch yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// The province holds entries `0..acked_through`.
    pub acked_through: u64,
    /// Entries of this batch newly stored.
    pub stored: u64,
}

/// The cached head of one origin's log.
#[derive(Debug, Clone)]
struct Head {
    /// Where the origin's keys start, with the handovers held.
    starts: KeyStarts,
    log: LogHead,
    checkpoint_size: u64,
    checkpoint: String,
}

type Writer = Arc<tokio::sync::Mutex<Option<Head>>>;

/// Verifies and stores forwarded batches. One per receiver.
#[derive(Debug)]
pub struct Receiver {
    store: Store,
    roster: Roster,
    catalog: Catalog,
    /// One lock per roster member (the map is bounded by the roster).
    writers: Mutex<HashMap<String, Writer>>,
}

fn invalid(seq: u64, message: impl Into<String>) -> Refusal {
    Refusal::Invalid {
        seq,
        message: message.into(),
    }
}

impl Receiver {
    /// A receiver storing into `store`, verifying against `roster` and `catalog`.
    pub fn new(store: Store, roster: Roster, catalog: Catalog) -> Receiver {
        Receiver {
            store,
            roster,
            catalog,
            writers: Mutex::new(HashMap::new()),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The roster entries are verified against.
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// Verifies `batch` and stores its new entries durably, or refuses it
    /// whole. Duplicates identical to what is held are accepted and ignored.
    pub async fn receive(self: &Arc<Self>, batch: Batch) -> Result<Ack, ReceiveError> {
        if self.roster.member(&batch.origin).is_none() {
            return Err(invalid(
                batch.first_seq,
                format!(
                    "origin '{}' is not a member of the roster (version {})",
                    batch.origin, self.roster.version
                ),
            )
            .into());
        }
        let writer = {
            let mut writers = self.writers.lock().unwrap_or_else(|p| p.into_inner());
            writers.entry(batch.origin.clone()).or_default().clone()
        };
        let guard = writer.lock_owned().await;
        let this = Arc::clone(self);
        // Signature checks and the flush block: keep them off the runtime's
        // worker threads. The guard moves along, so the origin stays locked
        // until the write is durable even if the request is abandoned.
        tokio::task::spawn_blocking(move || this.receive_locked(guard, batch))
            .await
            .map_err(|e| ReceiveError::Task(e.to_string()))?
    }

    fn load_head(&self, origin: &str) -> Result<Head, StoreError> {
        let state = self.store.head(origin)?;
        let size = state.as_ref().map_or(0, |s| s.size);
        let hashes = self.store.hashes(origin, self.roster.suite);
        let last_leaf = match size {
            0 => [0; 32],
            n => self
                .store
                .entry(origin, n - 1)?
                .map(|e| e.leaf_hash(self.roster.suite))
                .ok_or_else(|| StoreError::Corrupt {
                    key: format!("{origin}/{}", n - 1),
                    why: "the head counts an entry that is missing".into(),
                })?,
        };
        let log = LogHead::load(size, last_leaf, &hashes)?;
        let starts = self
            .roster
            .member(origin)
            .map(|m| m.key_starts_with(&self.store.key_starts(origin).unwrap_or_default()))
            .unwrap_or_default();
        Ok(Head {
            starts,
            log,
            checkpoint_size: state.as_ref().map_or(0, |s| s.checkpoint_size),
            checkpoint: state.map(|s| s.checkpoint).unwrap_or_default(),
        })
    }

    fn receive_locked(
        &self,
        mut guard: OwnedMutexGuard<Option<Head>>,
        batch: Batch,
    ) -> Result<Ack, ReceiveError> {
        let origin = batch.origin.as_str();
        let head = match guard.as_ref() {
            Some(h) => h.clone(),
            None => self.load_head(origin)?,
        };
        *guard = Some(head.clone());
        let held = head.log.size();
        let first = batch.first_seq;
        if first > held {
            return Err(Refusal::Gap {
                expected_from: held,
            }
            .into());
        }

        let cp = self.open_checkpoint(&batch, &head.starts, false)?;

        // Entries already held must be the very same bytes.
        let dup_count = usize::try_from(held - first)
            .unwrap_or(usize::MAX)
            .min(batch.entries.len());
        for (i, sent) in batch.entries[..dup_count].iter().enumerate() {
            let seq = first + i as u64;
            let held_entry = self
                .store
                .entry(origin, seq)?
                .ok_or_else(|| StoreError::Corrupt {
                    key: format!("{origin}/{seq}"),
                    why: "an entry below the head is missing".into(),
                })?;
            if held_entry.bytes != sent.bytes {
                return Err(Refusal::Conflict {
                    seq,
                    message: format!(
                        "{origin} entry {seq} sent has leaf hash {}, the one held has {} (two different entries signed for one position: investigate as equivocation)",
                        hex::encode(sent.leaf_hash(self.roster.suite)),
                        hex::encode(held_entry.leaf_hash(self.roster.suite))
                    ),
                }
                .into());
            }
        }

        // A checkpoint within what is already held is checked right away,
        // against the log as it was at the checkpoint's size.
        if cp.checkpoint.size == held {
            close(&head.log, &cp)?;
        } else if cp.checkpoint.size < held {
            // Only the size and root are compared: the last leaf is not read.
            let then = LogHead::load(
                cp.checkpoint.size,
                [0; 32],
                &self.store.hashes(origin, self.roster.suite),
            )?;
            close(&then, &cp)?;
        }

        let new = &batch.entries[dup_count..];
        let mut next = head.clone();
        let mut write = WriteBatch::default();
        if !new.is_empty() {
            self.verify_new(origin, new, &cp, &mut next, &mut write)?;
        }
        // Once the log reaches the checkpoint, its entries say which key
        // signs its last position: that key, and no pending one, must have.
        if cp.checkpoint.size <= next.log.size() {
            self.open_checkpoint(&batch, &next.starts, true)?;
        }
        let size = next.log.size();
        let checkpoint_newer = cp.checkpoint.size <= size
            && (next.checkpoint.is_empty() || cp.checkpoint.size > next.checkpoint_size);
        if checkpoint_newer {
            next.checkpoint_size = cp.checkpoint.size;
            next.checkpoint = cp.note.clone();
        }
        if !new.is_empty() || checkpoint_newer {
            write.put_head(
                origin,
                &HeadState::new(size, next.checkpoint_size, next.checkpoint.clone()),
            );
            if let Err(e) = self.store.apply(write) {
                // What reached the disk is unknown: reload the head next time.
                *guard = None;
                return Err(e.into());
            }
        }
        *guard = Some(next);
        Ok(Ack {
            acked_through: size,
            stored: new.len() as u64,
        })
    }

    /// Opens the batch's checkpoint with the origin's key for its size; a
    /// pending key is accepted only when not `strict` (while the log held is
    /// below the checkpoint's size).
    fn open_checkpoint(
        &self,
        batch: &Batch,
        starts: &KeyStarts,
        strict: bool,
    ) -> Result<SignedCheckpoint, Refusal> {
        self.roster
            .open_checkpoint_at(&batch.origin, &batch.checkpoint, starts)
            .and_then(|(cp, index)| {
                let size = cp.checkpoint.size;
                let want = starts.index_at(size.saturating_sub(1));
                if index == want || (!strict && starts.start(index).is_none()) {
                    Ok(cp)
                } else {
                    Err(rongxin_protocol::roster::RosterError::Invalid(format!(
                        "signed by key {} of {}, but key {} signs position {}",
                        index + 1,
                        batch.origin,
                        want + 1,
                        size.saturating_sub(1)
                    )))
                }
            })
            .map_err(|e| {
                invalid(
                    batch.first_seq,
                    format!(
                        "the checkpoint is not a checkpoint of {} signed with its roster key: {e}",
                        batch.origin
                    ),
                )
            })
    }

    /// Verifies the entries after the held ones and adds them to `next` and
    /// `write`.
    fn verify_new(
        &self,
        origin: &str,
        new: &[SignedEntry],
        cp: &SignedCheckpoint,
        next: &mut Head,
        write: &mut WriteBatch,
    ) -> Result<(), Refusal> {
        let start = next.log.size();
        if self.roster.member(origin).is_none() {
            return Err(invalid(
                start,
                format!("origin '{origin}' is not in the roster"),
            ));
        }
        let before = next.starts.clone();
        let decoded = self
            .roster
            .verify_entries(origin, start, new, &mut next.starts)
            .map_err(|e| match e {
            EntryError::BatchSignature { index } => invalid(
                start + index as u64,
                format!("the signature does not verify with {origin}'s roster key (altered in transit, or not signed by {origin})"),
            ),
            other => {
                // Name the first entry that does not decode.
                let (index, why) = new
                    .iter()
                    .enumerate()
                    .find_map(|(i, s)| Entry::decode(&s.bytes).err().map(|e| (i, e)))
                    .unwrap_or((0, other));
                invalid(start + index as u64, why.to_string())
            }
        })?;
        // Up to the checkpoint's size, then its root, then the rest.
        let upto = usize::try_from(cp.checkpoint.size.saturating_sub(start))
            .unwrap_or(usize::MAX)
            .min(new.len());
        let rules = Rules {
            origin,
            roster: &self.roster,
            catalog: &self.catalog,
        };
        let pairs = |from: usize, to: usize| {
            new[from..to]
                .iter()
                .zip(&decoded[from..to])
                .map(|(s, e)| (e, s.bytes.as_slice()))
        };
        let mut hashes = next
            .log
            .extend(&rules, pairs(0, upto))
            .map_err(|e| extend_refusal(e, start))?
            .hashes;
        if upto > 0 && next.log.size() == cp.checkpoint.size {
            close(&next.log, cp)?;
        }
        hashes.extend(
            next.log
                .extend(&rules, pairs(upto, new.len()))
                .map_err(|e| extend_refusal(e, start))?
                .hashes,
        );
        for (seq, entry) in (start..).zip(&decoded) {
            if let Op::KeyHandover(_) = entry.op
                && let Some(i) = next
                    .starts
                    .known()
                    .into_iter()
                    .find(|&(_, s)| s == seq + 1)
                    .map(|(i, _)| i)
                && before.start(i).is_none()
            {
                write.put_key_start(origin, i, seq + 1);
            }
        }
        for (seq, signed) in (start..).zip(new) {
            write.put_entry(origin, seq, signed);
        }
        write.put_hashes(origin, &hashes);
        Ok(())
    }
}

/// The refusal for entries the log engine does not take: what the sender
/// is told. `start` is the first new seq (named when no entry is at fault).
fn extend_refusal(e: ExtendError, start: u64) -> Refusal {
    match e {
        ExtendError::Fork {
            origin,
            seq,
            found,
            expected,
        } => invalid(
            seq,
            format!(
                "prev_hash {} is not the leaf hash {} of {origin} entry {} held here (chain broken)",
                hex::encode(found),
                hex::encode(expected),
                seq.saturating_sub(1)
            ),
        ),
        other => invalid(other.seq().unwrap_or(start), other.to_string()),
    }
}

/// Refuses a checkpoint that `head`, the log at the checkpoint's size, does
/// not close: its root is not the root of the entries.
fn close(head: &LogHead, cp: &SignedCheckpoint) -> Result<(), Refusal> {
    match head.close(&cp.checkpoint) {
        Ok(()) => Ok(()),
        Err(CloseError::RootMismatch {
            size,
            entries,
            checkpoint,
        }) => Err(invalid(
            size.saturating_sub(1),
            format!(
                "the checkpoint of {} for size {size} has root {}, but the entries 0..{size} give {}",
                cp.checkpoint.origin,
                B64.encode(checkpoint),
                B64.encode(entries)
            ),
        )),
        Err(other) => Err(invalid(
            cp.checkpoint.size.saturating_sub(1),
            format!("the checkpoint of {}: {other}", cp.checkpoint.origin),
        )),
    }
}
