//! Store format 2 to 3 (`rongxin-node migrate`).
//!
//! Format 2 kept every entry and its Merkle hashes in the database; format
//! 3 keeps them in each log's tile files ([`super::files`]). The migration
//! reads the old database (never writing it), appends every log's entries
//! to a new store in order, recomputing the hashes, checks that each log's
//! recomputed root equals the root the old store recorded, copies every
//! other key (record states, indexes, cursors, evidence, halts, key starts,
//! the roster, the query log) as it is, and ends with the full check
//! ([`super::check::full`]) of the new store.

use std::path::Path;

use bincode::{Decode, Encode};
use rongxin_protocol::entry::{Entry, SignedEntry};
use rongxin_protocol::merkle::{CompactTree, Hash};

use super::{
    Durability, LogState, P_LOG, P_META, Store, StoreError, StoreLimits, WriteBatch, check, decode,
    open_sled, prefixed,
};

/// The format this module reads.
const FROM_FORMAT: u32 = 2;
const P_ENTRY_V2: u8 = b'E';
const P_HASH_V2: u8 = b'H';
/// Entries per write.
const CHUNK: usize = 4096;
/// Copied keys per write.
const COPY_CHUNK: usize = 10_000;

/// A log's state in format 2.
#[derive(Debug, Clone, Encode, Decode)]
struct LogStateV2 {
    size: u64,
    root: Hash,
    checkpoint: String,
}

/// How far a migration is.
#[derive(Debug, Clone)]
pub enum Progress<'a> {
    /// Entries of `origin` copied so far, of `total`.
    Log {
        /// The log.
        origin: &'a str,
        /// Entries done.
        done: u64,
        /// Entries in the log.
        total: u64,
    },
    /// Other keys copied so far.
    Keys(u64),
    /// The full check of the new store: entries of `origin` checked.
    Check {
        /// The log.
        origin: &'a str,
        /// Entries done.
        done: u64,
        /// Entries in the log.
        total: u64,
    },
}

/// What a migration did.
#[derive(Debug, Clone, Default)]
pub struct Migrated {
    /// Logs converted.
    pub logs: usize,
    /// Entries converted.
    pub entries: u64,
    /// Other keys copied.
    pub keys: u64,
    /// What the full check of the new store checked.
    pub checked: check::Verified,
}

fn old_corrupt(why: String) -> StoreError {
    StoreError::Damaged {
        path: "the format-2 store".into(),
        why,
    }
}

/// Migrates the format-2 store of data directory `from` into a new
/// format-3 store in data directory `to`, which must not hold a store.
pub fn migrate(
    from: &Path,
    to: &Path,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Migrated, StoreError> {
    migrate_db(&from.join("store"), from, to, progress)
}

/// Migrates the format-2 store of `dir` in place: its database is moved to
/// `dir/store.format2` (kept, to be deleted once the node runs) and the new
/// store written in `dir`.
pub fn migrate_in_place(
    dir: &Path,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Migrated, StoreError> {
    let old = dir.join("store");
    let kept = dir.join("store.format2");
    let io = |what: &str, path: &Path, error| StoreError::Io {
        path: path.display().to_string(),
        what: what.into(),
        error,
    };
    if kept.exists() {
        return Err(io(
            "keep the old store as",
            &kept,
            std::io::Error::other(
                "it exists already: an earlier migration kept the old store there; move it away first",
            ),
        ));
    }
    if !old.join("db").is_file() {
        return Err(io(
            "read the old store at",
            &old,
            std::io::Error::other(
                "no sled database there: give the data directory the old node ran with",
            ),
        ));
    }
    {
        // Refuse anything but a format-2 store before moving it.
        let (_, _, found) = open_sled(&old, dir)?;
        if found != Some(FROM_FORMAT) {
            return Err(StoreError::Format {
                found: found.unwrap_or(0),
                dir: dir.display().to_string(),
            });
        }
    }
    std::fs::rename(&old, &kept).map_err(|e| io("move", &old, e))?;
    migrate_db(&kept, dir, dir, progress)
}

fn migrate_db(
    old_path: &Path,
    from: &Path,
    to: &Path,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Migrated, StoreError> {
    if !old_path.join("db").is_file() {
        return Err(StoreError::Io {
            path: old_path.display().to_string(),
            what: "read the old store at".into(),
            error: std::io::Error::other(
                "no sled database there: give the data directory the old node ran with",
            ),
        });
    }
    let (_db, old, found) = open_sled(old_path, from)?;
    if found != Some(FROM_FORMAT) {
        return Err(StoreError::Format {
            found: found.unwrap_or(0),
            dir: from.display().to_string(),
        });
    }
    if to.join("store").exists() {
        let fresh = Store::open_unchecked(to, StoreLimits::default())?;
        if !fresh.log_states()?.is_empty() {
            return Err(StoreError::Io {
                path: to.display().to_string(),
                what: "migrate into".into(),
                error: std::io::Error::other(
                    "it holds a store already: migrate into a new directory",
                ),
            });
        }
    }
    let new = Store::open_unchecked(to, StoreLimits::default())?;
    let mut out = Migrated::default();
    for kv in old.scan_prefix([P_LOG]) {
        let (k, v) = kv?;
        let origin = String::from_utf8_lossy(&k[1..]).into_owned();
        let state: LogStateV2 = decode(&v, "log state (format 2)", &k)?;
        out.entries += migrate_log(&old, &new, &origin, &state, progress)?;
        out.logs += 1;
    }
    // Everything else keeps its key and value.
    let mut batch = WriteBatch::default();
    for kv in old.iter() {
        let (k, v) = kv?;
        let copy = match k.first() {
            Some(&P_ENTRY_V2 | &P_HASH_V2 | &P_LOG) | None => false,
            Some(&P_META) => {
                k.as_ref() != prefixed(P_META, b"format").as_slice()
                    && k.as_ref() != prefixed(P_META, b"probe").as_slice()
            }
            Some(_) => true,
        };
        if !copy {
            continue;
        }
        batch.raw(k.to_vec(), v.to_vec());
        out.keys += 1;
        if batch.writes() >= COPY_CHUNK {
            new.commit_blocking(std::mem::take(&mut batch), Durability::Applied)?;
            progress(Progress::Keys(out.keys));
        }
    }
    new.commit_blocking(batch, Durability::Durable)?;
    progress(Progress::Keys(out.keys));
    out.checked = check::full(&new, &mut |origin, done, total| {
        progress(Progress::Check {
            origin,
            done,
            total,
        })
    })?;
    Ok(out)
}

/// Copies one log's entries; returns how many.
fn migrate_log(
    old: &sled::Tree,
    new: &Store,
    origin: &str,
    state: &LogStateV2,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<u64, StoreError> {
    let key = |seq: u64| {
        let mut k = vec![P_ENTRY_V2];
        k.extend_from_slice(origin.as_bytes());
        k.push(0);
        k.extend_from_slice(&seq.to_be_bytes());
        k
    };
    let mut tree: Option<CompactTree> = None;
    let mut seq = 0u64;
    let mut batch_entries = Vec::with_capacity(CHUNK);
    let mut hashes = Vec::new();
    let mut first = 0u64;
    let flush = |tree: &CompactTree,
                 first: u64,
                 entries: Vec<SignedEntry>,
                 hashes: Vec<(u64, Hash)>,
                 checkpoint: String|
     -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.append_entries(origin, first, entries, hashes);
        batch.put_log_state(origin, &LogState::new(tree.size(), tree.root(), checkpoint));
        new.commit_blocking(batch, Durability::Applied)
    };
    for kv in old.range(key(0)..key(state.size)) {
        let (k, v) = kv?;
        if k.as_ref() != key(seq).as_slice() {
            return Err(old_corrupt(format!(
                "{origin}'s log records {} entries, but entry {seq} is missing",
                state.size
            )));
        }
        let entry = match v.split_first() {
            Some((1, rest)) if rest.len() >= 64 => {
                let (sig, bytes) = rest.split_at(64);
                SignedEntry {
                    bytes: bytes.to_vec(),
                    signature: sig.try_into().unwrap_or([0; 64]),
                }
            }
            _ => return Err(old_corrupt(format!("{origin}/{seq} does not decode"))),
        };
        let t = match &mut tree {
            Some(t) => t,
            None => {
                let suite = Entry::suite_of(&entry.bytes)
                    .map_err(|e| old_corrupt(format!("{origin}/{seq}: {e}")))?;
                tree.insert(CompactTree::new(suite))
            }
        };
        let suite = Entry::suite_of(&entry.bytes)
            .map_err(|e| old_corrupt(format!("{origin}/{seq}: {e}")))?;
        hashes.extend(t.append(entry.leaf_hash(suite))?);
        batch_entries.push(entry);
        seq += 1;
        if batch_entries.len() == CHUNK {
            flush(
                t,
                first,
                std::mem::take(&mut batch_entries),
                std::mem::take(&mut hashes),
                String::new(),
            )?;
            first = seq;
            progress(Progress::Log {
                origin,
                done: seq,
                total: state.size,
            });
        }
    }
    if seq != state.size {
        return Err(old_corrupt(format!(
            "{origin}'s log records {} entries, but holds {seq}",
            state.size
        )));
    }
    match &tree {
        Some(t) => {
            if t.root() != state.root {
                return Err(old_corrupt(format!(
                    "{origin}'s entries give a root other than the one the old store recorded"
                )));
            }
            flush(t, first, batch_entries, hashes, state.checkpoint.clone())?;
        }
        None => {
            // An empty log (an own log before its first record).
            let mut batch = WriteBatch::default();
            batch.put_log_state(
                origin,
                &LogState::new(0, state.root, state.checkpoint.clone()),
            );
            new.commit_blocking(batch, Durability::Applied)?;
        }
    }
    progress(Progress::Log {
        origin,
        done: seq,
        total: state.size,
    });
    Ok(seq)
}
