//! The log engine: one origin's log as its head, and the one function that
//! extends it. Pure: no I/O, no clock, no keys.
//!
//! Every place that appends to a log — the committer (the node's own log),
//! the replicator (every other origin's), the province receiver, and
//! `rongxinctl audit log` — holds a [`LogHead`] and calls
//! [`LogHead::extend`], which applies rules 3–6 of docs/protocol.md §3.3
//! (position, chain, ownership, catalog) to each entry and returns the
//! Merkle hashes the store must write, or refuses the whole batch with a
//! typed [`ExtendError`] and leaves the head as it was. Rules 1–2
//! (signature by the key of the position, decoding) come first, in
//! [`crate::roster::Roster::verify_entries`], so that signatures can be
//! checked in parallel batches before anything is appended.
//! [`LogHead::close`] checks a head against a signed checkpoint of its
//! size. [`next_state`] is how each entry changes its record's state, so
//! that every node derives the same current state from the same log.
//!
//! The independent verifiers (tools/rongxin_verify.py, tests/src/verify.rs)
//! deliberately do not use this module: they check the same rules from the
//! specification alone.

use bincode::{Decode, Encode};
use sha2::{Digest as _, Sha256};

use crate::catalog::Catalog;
use crate::chain::{ChainError, check_next};
use crate::checkpoint::Checkpoint;
use crate::entry::{Entry, Op, RevokeReason};
use crate::merkle::{self, CompactTree, Hash, HashReader, MerkleError, Suite};
use crate::record::{Record, RecordError, RecordKey, describe};
use crate::roster::Roster;

/// The head of one origin's log: its size, Merkle frontier and the leaf
/// hash of its last entry (what the next entry's `prev_hash` must be).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHead {
    tree: CompactTree,
    last_leaf: Hash,
    suite: Suite,
}

/// What a log is extended under: whose log, the roster that says who owns
/// which jurisdiction, and the catalog records must be valid under.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// The origin (member id) whose log this is.
    pub origin: &'a str,
    /// The roster in force.
    pub roster: &'a Roster,
    /// The catalog the roster pins.
    pub catalog: &'a Catalog,
}

/// What an extension added, for the store to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// Seq of the first entry added.
    pub first: u64,
    /// The leaf hash of each entry added, in order.
    pub leaves: Vec<Hash>,
    /// Every Merkle hash the entries add, at its tlog storage index, in
    /// storage order (as [`CompactTree::append`] gives them).
    pub hashes: Vec<(u64, Hash)>,
}

/// Why entries cannot extend a log. Each names the log's origin, the
/// entry's seq and the rule of docs/protocol.md §3.3 it breaks; the head is
/// unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtendError {
    /// Rule 3: an entry of this origin's log, but at another position (a
    /// gap or a reordering).
    #[error(
        "rule 3 (position): the entry is {found_origin}/{found_seq}, expected {origin}/{seq} (gap or reordering)"
    )]
    Position {
        /// The log being extended.
        origin: String,
        /// The seq expected next.
        seq: u64,
        /// The entry's origin (the log's own).
        found_origin: String,
        /// The entry's seq.
        found_seq: u64,
    },
    /// Rule 3: an entry of another origin's log.
    #[error(
        "rule 3 (origin): the entry at {origin}/{seq} is {found_origin}/{found_seq}, an entry of another origin's log"
    )]
    Origin {
        /// The log being extended.
        origin: String,
        /// The seq expected next.
        seq: u64,
        /// The entry's origin.
        found_origin: String,
        /// The entry's seq.
        found_seq: u64,
    },
    /// Rule 4: the entry names another previous entry than the one held.
    /// Signed by the origin, this is a fork of its history (equivocation).
    #[error(
        "rule 4 (chain): {origin} entry {seq} names a previous entry other than the one held at {}",
        seq.saturating_sub(1)
    )]
    Fork {
        /// The log being extended.
        origin: String,
        /// The entry's seq.
        seq: u64,
        /// The leaf hash it names.
        found: Hash,
        /// The leaf hash of the entry held before it.
        expected: Hash,
    },
    /// Rule 5: the origin does not own the record's jurisdiction.
    #[error("rule 5 (one number, one source): entry {seq} concerns {key}, whose jurisdiction {} {owner}, not {origin}", key.jurisdiction)]
    NotOwner {
        /// The entry's seq.
        seq: u64,
        /// The record concerned.
        key: RecordKey,
        /// "belongs to X" or "no member owns".
        owner: String,
        /// The log's origin.
        origin: String,
    },
    /// Rule 6: a Put whose record the catalog refuses.
    #[error(
        "rule 6 (catalog): {origin} entry {seq}: the record is not valid under the catalog: {}",
        describe(errors)
    )]
    InvalidRecord {
        /// The log being extended.
        origin: String,
        /// The entry's seq.
        seq: u64,
        /// Every problem, each naming its field.
        errors: Vec<RecordError>,
    },
    /// The tree cannot grow (2^63 entries).
    #[error("{0}")]
    Merkle(#[from] MerkleError),
}

impl ExtendError {
    /// The seq of the entry that breaks a rule (none for a tree that
    /// cannot grow).
    pub fn seq(&self) -> Option<u64> {
        match self {
            ExtendError::Position { seq, .. }
            | ExtendError::Origin { seq, .. }
            | ExtendError::Fork { seq, .. }
            | ExtendError::NotOwner { seq, .. }
            | ExtendError::InvalidRecord { seq, .. } => Some(*seq),
            ExtendError::Merkle(_) => None,
        }
    }

    /// The engine's error for a [`ChainError`] of `origin`'s log.
    fn of_chain(e: ChainError, origin: &str) -> ExtendError {
        match e {
            ChainError::Position {
                origin,
                seq,
                found_origin,
                found_seq,
            } if found_origin != origin => ExtendError::Origin {
                origin,
                seq,
                found_origin,
                found_seq,
            },
            ChainError::Position {
                origin,
                seq,
                found_origin,
                found_seq,
            } => ExtendError::Position {
                origin,
                seq,
                found_origin,
                found_seq,
            },
            ChainError::Fork {
                seq,
                found,
                expected,
            } => ExtendError::Fork {
                origin: origin.to_owned(),
                seq,
                found,
                expected,
            },
            ChainError::NotOwner {
                seq,
                key,
                owner,
                origin,
            } => ExtendError::NotOwner {
                seq,
                key,
                owner,
                origin,
            },
            ChainError::InvalidRecord { seq, errors } => ExtendError::InvalidRecord {
                origin: origin.to_owned(),
                seq,
                errors,
            },
        }
    }
}

/// Why a head does not match a signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseError {
    /// The checkpoint is for another size.
    #[error("the log holds {head} entries, the checkpoint is for {checkpoint}")]
    Size {
        /// Entries held.
        head: u64,
        /// The checkpoint's size.
        checkpoint: u64,
    },
    /// Same size, other root: the origin signed a checkpoint that its own
    /// entries contradict (equivocation).
    #[error("the checkpoint for size {size} has a root other than the one its entries give")]
    RootMismatch {
        /// The size.
        size: u64,
        /// The root of the entries.
        entries: Hash,
        /// The checkpoint's root.
        checkpoint: Hash,
    },
}

impl LogHead {
    /// The head of an empty log of `suite`.
    pub fn empty(suite: Suite) -> LogHead {
        LogHead {
            tree: CompactTree::new(suite),
            last_leaf: [0; 32],
            suite,
        }
    }

    /// The head of a stored log of `size` entries whose last entry has leaf
    /// hash `last_leaf` (ignored for an empty log), its frontier read from
    /// `hashes`.
    pub fn load<R: HashReader + ?Sized>(
        size: u64,
        last_leaf: Hash,
        hashes: &R,
    ) -> Result<LogHead, R::Error> {
        Ok(LogHead::from_parts(
            CompactTree::load(size, hashes)?,
            last_leaf,
        ))
    }

    /// A head from a tree and the leaf hash of its last entry.
    pub fn from_parts(tree: CompactTree, last_leaf: Hash) -> LogHead {
        let suite = tree.suite();
        let last_leaf = if tree.size() == 0 { [0; 32] } else { last_leaf };
        LogHead {
            tree,
            last_leaf,
            suite,
        }
    }

    /// The suite whose hashes the log uses.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// Entries in the log.
    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// The RFC 6962 root of the log.
    pub fn root(&self) -> Hash {
        self.tree.root()
    }

    /// The leaf hash of the last entry: what the next entry's `prev_hash`
    /// must be (all zero for the empty log).
    pub fn last_leaf(&self) -> Hash {
        self.last_leaf
    }

    /// The Merkle frontier (to persist a head without its hashes).
    pub fn tree(&self) -> &CompactTree {
        &self.tree
    }

    /// Checks `entries` — signature-verified and decoded, each with its
    /// exact bytes — as the next entries of the log under rules 3–6 of
    /// docs/protocol.md §3.3, in order, and appends them. All or nothing:
    /// on an error the head is unchanged.
    pub fn extend<'a>(
        &mut self,
        rules: &Rules<'_>,
        entries: impl IntoIterator<Item = (&'a Entry, &'a [u8])>,
    ) -> Result<Extension, ExtendError> {
        let mut tree = self.tree.clone();
        let mut last = self.last_leaf;
        let first = tree.size();
        let entries = entries.into_iter();
        let (n, _) = entries.size_hint();
        let mut added = Extension {
            first,
            leaves: Vec::with_capacity(n),
            hashes: Vec::with_capacity(2 * n + 64),
        };
        for (entry, bytes) in entries {
            check_next(
                entry,
                rules.origin,
                tree.size(),
                &last,
                rules.roster,
                rules.catalog,
            )
            .map_err(|e| ExtendError::of_chain(e, rules.origin))?;
            last = merkle::leaf_hash(self.suite, bytes);
            added.hashes.extend(tree.append(last)?);
            added.leaves.push(last);
        }
        self.tree = tree;
        self.last_leaf = last;
        Ok(added)
    }

    /// Checks the head against a signed checkpoint of the same size.
    pub fn close(&self, checkpoint: &Checkpoint) -> Result<(), CloseError> {
        if checkpoint.size != self.size() {
            return Err(CloseError::Size {
                head: self.size(),
                checkpoint: checkpoint.size,
            });
        }
        let root = self.root();
        if checkpoint.root != root {
            return Err(CloseError::RootMismatch {
                size: checkpoint.size,
                entries: root,
                checkpoint: checkpoint.root,
            });
        }
        Ok(())
    }
}

/// How a revoked record was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct Revoked {
    /// Seq of the Revoke entry.
    pub seq: u64,
    /// Its reason.
    pub reason: RevokeReason,
}

/// The current state of one record, derived from its origin's entries.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct RecordState {
    /// The record's origin.
    pub origin: String,
    /// Seq of the Put holding the current version.
    pub put_seq: u64,
    /// Version number: 1 for the first Put, +1 for each later Put.
    pub version: u32,
    /// SHA-256 of the current version's record encoding (idempotency).
    pub content: Hash,
    /// Subject code of the current version (for the subject index).
    pub subject: String,
    /// Set when revoked.
    pub revoked: Option<Revoked>,
    /// Ids of objections filed and not yet resolved.
    pub open_objections: Vec<String>,
}

/// SHA-256 of a record's canonical encoding: equal content, equal hash.
pub fn content_hash(record: &Record) -> Hash {
    let cfg = bincode::config::standard()
        .with_big_endian()
        .with_fixed_int_encoding();
    Sha256::digest(bincode::encode_to_vec(record, cfg).unwrap_or_default()).into()
}

/// The record state after `entry`, given the state before it (`None` if the
/// record is unknown). Returns `None` when the entry changes nothing that is
/// indexed (an op on a record never Put). A key handover concerns no
/// record: callers skip it (it has no record key).
pub fn next_state(prev: Option<RecordState>, entry: &Entry) -> Option<RecordState> {
    match &entry.op {
        Op::Put(record) => Some(RecordState {
            origin: entry.origin.clone(),
            put_seq: entry.seq,
            version: prev.as_ref().map_or(1, |p| p.version + 1),
            content: content_hash(record),
            subject: record.subject.code.clone(),
            revoked: None,
            open_objections: prev.map(|p| p.open_objections).unwrap_or_default(),
        }),
        Op::Revoke(r) => prev.map(|mut p| {
            p.revoked = Some(Revoked {
                seq: entry.seq,
                reason: r.reason,
            });
            p
        }),
        Op::ObjectionFiled(o) => prev.map(|mut p| {
            if !p.open_objections.contains(&o.id) {
                p.open_objections.push(o.id.clone());
            }
            p
        }),
        Op::ObjectionResolved(o) => prev.map(|mut p| {
            p.open_objections.retain(|id| *id != o.id);
            p
        }),
        // A repair application changes the record only when granted, by
        // the revocation signed with it.
        Op::KeyHandover(_) | Op::RepairFiled(_) | Op::RepairDecided(_) => prev,
    }
}
