//! The rules an entry must meet to extend an origin's log, beyond its
//! signature (docs/protocol.md §3.3): its position, its hash chain, one
//! number one source, and catalog validity. Every place that accepts another
//! node's entries — replication, the provincial receiver, auditors — applies
//! exactly these, in this order.

use crate::catalog::Catalog;
use crate::entry::{Entry, Op};
use crate::merkle::Hash;
use crate::record::{RecordError, RecordKey, describe};
use crate::roster::Roster;

/// Why an entry cannot be the next one of its origin's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// Another origin's entry, or a gap or reordering.
    #[error("the entry is {found_origin}/{found_seq}, expected {origin}/{seq} (gap or reordering)")]
    Position {
        /// The log being extended.
        origin: String,
        /// The seq expected next.
        seq: u64,
        /// The entry's origin.
        found_origin: String,
        /// The entry's seq.
        found_seq: u64,
    },
    /// The entry names another previous entry than the one held: signed by
    /// the origin, this is a fork of its history.
    #[error("entry {seq} names a previous entry other than the one held at {}", seq.saturating_sub(1))]
    Fork {
        /// The entry's seq.
        seq: u64,
        /// The leaf hash it names.
        found: Hash,
        /// The leaf hash of the entry held before it.
        expected: Hash,
    },
    /// The origin does not own the record's jurisdiction.
    #[error("entry {seq} concerns {key}, whose jurisdiction {} {owner}, not {origin}", key.jurisdiction)]
    NotOwner {
        /// The entry's seq.
        seq: u64,
        /// The record concerned.
        key: RecordKey,
        /// "belongs to X" or "no member owns".
        owner: String,
        /// The entry's origin.
        origin: String,
    },
    /// A Put whose record the catalog refuses.
    #[error(
        "entry {seq}: the record is not valid under the catalog: {}",
        describe(errors)
    )]
    InvalidRecord {
        /// The entry's seq.
        seq: u64,
        /// Every problem, each naming its field.
        errors: Vec<RecordError>,
    },
}

/// Checks that `entry` (whose signature by `origin`'s key already verified)
/// can follow an `origin` log of `seq` entries whose last entry has leaf hash
/// `prev_hash` (all zero for an empty log).
pub fn check_next(
    entry: &Entry,
    origin: &str,
    seq: u64,
    prev_hash: &Hash,
    roster: &Roster,
    catalog: &Catalog,
) -> Result<(), ChainError> {
    if entry.origin != origin || entry.seq != seq {
        return Err(ChainError::Position {
            origin: origin.to_owned(),
            seq,
            found_origin: entry.origin.clone(),
            found_seq: entry.seq,
        });
    }
    if entry.prev_hash != *prev_hash {
        return Err(ChainError::Fork {
            seq,
            found: entry.prev_hash,
            expected: *prev_hash,
        });
    }
    // A key handover concerns no record: the roster's key history decides
    // whether it is valid (Roster::verify_entries checks it).
    let Some(key) = entry.record_key() else {
        return Ok(());
    };
    match roster.owner_of_key(&key) {
        Some(o) if o.id == origin => {}
        other => {
            return Err(ChainError::NotOwner {
                seq,
                owner: other.map_or("no member owns".to_owned(), |m| {
                    format!("belongs to {}", m.id)
                }),
                key,
                origin: origin.to_owned(),
            });
        }
    }
    if let Op::Put(record) = &entry.op
        && let Err(errors) = record.check(catalog)
    {
        return Err(ChainError::InvalidRecord { seq, errors });
    }
    Ok(())
}
