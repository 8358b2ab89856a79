//! The store: one sled database that holds every log this node keeps (its own
//! and its replicas of other origins), their Merkle hashes and checkpoints,
//! the record and subject indexes, and the query log.
//!
//! Everything lives in one tree, `rongxin.v1`, under one-byte key prefixes,
//! so that a batch of entries and every index update it implies land in one
//! atomic `apply_batch`: after a crash at any instant the store holds either
//! all of a commit or none of it. Durability is a separate, shared step
//! ([`Store::flush`]): committers apply many batches and flush once, and
//! acknowledge only after the flush (group commit).
//!
//! | prefix | key | value |
//! | --- | --- | --- |
//! | `M` | name | metadata (format version) |
//! | `E` | origin, 0, seq (u64 BE) | version 1, signature (64), entry bytes |
//! | `H` | origin, 0, first storage index (u64 BE) | a run of 32-byte Merkle hashes at consecutive tlog storage indexes |
//! | `L` | origin | [`LogState`]: size, root, signed checkpoint note |
//! | `R` | bincode(record key) | [`RecordState`] |
//! | `S` | subject code, 0, bincode(record key) | empty: subject index |
//! | `Q` | query id (time ms u64 BE, counter u32 BE) | [`QueryLogRow`], version 1 (rows written before versioning are JSON and still read) |
//! | `X` | origin, 0, time ms (u64 BE) | equivocation evidence (JSON) |
//! | `B` | `r` or `b`, list category, 0, bincode(record key) | empty: red/black list index |
//! | `F` | origin | forward cursor: entries the province acknowledged (u64 BE) |
//! | `M` | `halt/<origin>` | present while an origin is halted after equivocation |
//! | `M` | `roster` | the newest verified roster note received from peers |
//! | `M` | `probe` | time of the last write probe after a failed write (ms, u64 BE) |
//!
//! Every write first asks the disk guard ([`disk`]) whether the store may
//! be written; a refused or failed write is [`StoreError::NotWritable`],
//! which the API answers with 503.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

pub mod disk;
mod maintain;
mod querylog;

pub use disk::{DiskConfig, DiskFile, Unwritable};
pub use maintain::maintain;
pub use querylog::{
    MAX_RETURNED, QueryLogConfig, QueryLogFile, QueryLogRow, QueryLogUsage, Returned,
};

use bincode::{Decode, Encode};
use rongxin_protocol::entry::{RevokeReason, SignedEntry};
use rongxin_protocol::merkle::{self, Hash, HashReader, MerkleError, Suite};
use rongxin_protocol::record::RecordKey;

/// Name of the one tree; a new layout gets a new name and a migration.
const TREE: &str = "rongxin.v1";
/// Version of the layout inside the tree (2: Merkle hashes stored in runs).
const FORMAT_VERSION: u32 = 2;
/// Most hashes in one `H` run (32 KiB): a commit of 1000 entries writes
/// about 2000 hashes in 2 inserts instead of 2000.
const MAX_HASH_RUN: usize = 1024;
const VALUE_VERSION: u8 = 1;

const P_META: u8 = b'M';
const P_ENTRY: u8 = b'E';
const P_HASH: u8 = b'H';
const P_LOG: u8 = b'L';
const P_RECORD: u8 = b'R';
const P_SUBJECT: u8 = b'S';
const P_QUERY: u8 = b'Q';
const P_EVIDENCE: u8 = b'X';
const P_LIST: u8 = b'B';
const P_FORWARD: u8 = b'F';

/// A store failure. Reads of our own data that do not decode mean the disk
/// was damaged or written by something else: the node stops rather than
/// serve it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// sled reported an I/O or corruption error.
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value does not decode.
    #[error("store: corrupt {what} at key {key}: {why}")]
    Corrupt {
        /// Which kind of value.
        what: &'static str,
        /// The key, hex.
        key: String,
        /// The decoder's complaint.
        why: String,
    },
    /// The data directory was written by an incompatible version.
    #[error(
        "store: data format {found} is not supported (this node reads format {FORMAT_VERSION}); restore a backup made by a matching version"
    )]
    Format {
        /// The version found.
        found: u32,
    },
    /// A Merkle computation over stored hashes failed.
    #[error("store: {0}")]
    Merkle(#[from] MerkleError),
    /// The store refuses writes for now (disk nearly full, a failed write).
    #[error("{0}")]
    NotWritable(#[from] Unwritable),
    /// The data directory's permissions cannot be set.
    #[error("store: cannot make {path} private (0700/0600): {error}")]
    Permissions {
        /// The directory.
        path: String,
        /// The system's answer.
        error: std::io::Error,
    },
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_big_endian()
        .with_fixed_int_encoding()
}

/// The state of one log: its size, root and latest signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct LogState {
    /// Number of entries.
    pub size: u64,
    /// RFC 6962 root of those entries.
    pub root: Hash,
    /// Signed checkpoint note for `size` (empty before the first checkpoint).
    pub checkpoint: String,
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

/// One atomic group of writes.
#[derive(Debug, Default)]
pub struct WriteBatch {
    batch: sled::Batch,
    /// Inserts and removes in `batch`.
    writes: usize,
    /// Log states this batch sets, published to readers once it is applied.
    logs: Vec<(String, LogState)>,
    /// Runs of Merkle hashes: origin, first storage index, the hashes.
    hash_runs: Vec<(String, u64, Vec<u8>)>,
}

impl WriteBatch {
    /// Adds entry `seq` of `origin`.
    pub fn put_entry(&mut self, origin: &str, seq: u64, entry: &SignedEntry) {
        let mut v = Vec::with_capacity(1 + 64 + entry.bytes.len());
        v.push(VALUE_VERSION);
        v.extend_from_slice(&entry.signature);
        v.extend_from_slice(&entry.bytes);
        self.insert(log_key(P_ENTRY, origin, seq), v);
    }

    /// Adds Merkle hashes of `origin`'s tree at tlog storage indexes.
    ///
    /// Appending leaves in order yields hashes at consecutive storage
    /// indexes, so they are gathered into runs of up to 1024 hashes,
    /// each written as one value when the batch is applied.
    pub fn put_hashes(&mut self, origin: &str, hashes: &[(u64, Hash)]) {
        for (i, h) in hashes {
            match self.hash_runs.last_mut() {
                Some((o, start, run))
                    if o == origin
                        && run.len() < MAX_HASH_RUN * 32
                        && *start + (run.len() / 32) as u64 == *i =>
                {
                    run.extend_from_slice(h);
                }
                _ => self.hash_runs.push((origin.to_owned(), *i, h.to_vec())),
            }
        }
    }

    /// Inserts and removes this batch makes (a measure of its cost).
    pub fn writes(&self) -> usize {
        self.writes + self.hash_runs.len()
    }

    fn insert(&mut self, key: Vec<u8>, value: impl Into<sled::IVec>) {
        self.batch.insert(key, value);
        self.writes += 1;
    }

    fn remove(&mut self, key: Vec<u8>) {
        self.batch.remove(key);
        self.writes += 1;
    }

    /// Records where `origin`'s key `index` starts, learned from its
    /// `KeyHandover` entry (docs/protocol.md §6.1).
    pub fn put_key_start(&mut self, origin: &str, index: usize, start: u64) {
        self.insert(
            prefixed(P_META, format!("keystart/{origin}/{index:04}").as_bytes()),
            start.to_be_bytes().to_vec(),
        );
    }

    /// Sets `origin`'s log state.
    pub fn put_log_state(&mut self, origin: &str, state: &LogState) {
        self.insert(prefixed(P_LOG, origin.as_bytes()), encode(state));
        self.logs.push((origin.to_owned(), state.clone()));
    }

    /// Sets a record's state and keeps the subject index in step.
    ///
    /// A record of a red- or black-list kind (`list`) is also kept in that
    /// list's index while it is not revoked.
    pub fn put_record(
        &mut self,
        key: &RecordKey,
        state: &RecordState,
        old_subject: Option<&str>,
        list: Option<&ListSlot>,
    ) {
        let k = encode_key(key);
        if let Some(old) = old_subject.filter(|o| *o != state.subject) {
            self.remove(subject_key(old, &k));
        }
        self.insert(subject_key(&state.subject, &k), &[][..]);
        self.insert(prefixed(P_RECORD, &k), encode(state));
        if let Some(slot) = list {
            let lk = list_key(slot, &k);
            if state.revoked.is_some() {
                self.remove(lk);
            } else {
                self.insert(lk, &[][..]);
            }
        }
    }
}

/// Where a record of a list kind (红黑榜) is indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSlot {
    /// Red list (honours) or black list (dishonesty).
    pub red: bool,
    /// The kind's list category.
    pub category: String,
}

impl ListSlot {
    /// The slot of records of `kind`, if the catalog puts that kind on a list.
    pub fn of(catalog: &rongxin_protocol::catalog::Catalog, kind: &str) -> Option<ListSlot> {
        use rongxin_protocol::catalog::ListKind;
        let k = catalog.kind(kind)?;
        let red = match k.list {
            ListKind::Red => true,
            ListKind::Black => false,
            ListKind::None => return None,
        };
        Some(ListSlot {
            red,
            category: k.list_category.clone().unwrap_or_default(),
        })
    }
}

fn list_key(slot: &ListSlot, record_key: &[u8]) -> Vec<u8> {
    let mut k = vec![P_LIST, if slot.red { b'r' } else { b'b' }];
    k.extend_from_slice(slot.category.as_bytes());
    k.push(0);
    k.extend_from_slice(record_key);
    k
}

/// The node's database. Cheap to clone; every clone is the same store.
///
/// sled applies a batch atomically on disk, but concurrent readers can see
/// its keys appear one by one, in no particular order. So readers never take
/// a log's state from the tree: they read the *published* state, which
/// [`Store::apply`] updates only after the whole batch is in. Everything a
/// published state counts is therefore readable.
#[derive(Clone, Debug)]
pub struct Store {
    db: sled::Db,
    tree: sled::Tree,
    published: Arc<RwLock<BTreeMap<String, LogState>>>,
    guard: Arc<disk::Guard>,
    qlog: Arc<querylog::Budget>,
    reopen: Arc<tokio::sync::Notify>,
}

/// What bounds the store's use of the disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreLimits {
    /// The free-space reserve.
    pub disk: DiskConfig,
    /// The query log's budget.
    pub query_log: QueryLogConfig,
}

impl Store {
    /// Opens (or creates) the store in `dir` with default limits.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(dir, StoreLimits::default())
    }

    /// Opens (or creates) the store in `dir`, checking its format version.
    /// `dir` and everything in it is made private to the node's user.
    pub fn open_with(dir: &Path, limits: StoreLimits) -> Result<Store, StoreError> {
        let path = dir.join("store");
        let private = |r: std::io::Result<()>| {
            r.map_err(|error| StoreError::Permissions {
                path: dir.display().to_string(),
                error,
            })
        };
        private(disk::private_dir(dir))?;
        private(disk::private_dir(&path))?;
        let db = sled::Config::new()
            .path(&path)
            .cache_capacity(256 * 1024 * 1024)
            .open()?;
        // sled created its files with the process umask.
        private(disk::private_tree(&path))?;
        let tree = db.open_tree(TREE)?;
        let meta = prefixed(P_META, b"format");
        match tree.get(&meta)? {
            Some(v) => {
                let found = v
                    .as_ref()
                    .try_into()
                    .map(u32::from_be_bytes)
                    .map_err(|_| corrupt("format version", &meta, "not 4 bytes"))?;
                if found != FORMAT_VERSION {
                    return Err(StoreError::Format { found });
                }
            }
            None => {
                tree.insert(&meta, &FORMAT_VERSION.to_be_bytes())?;
                db.flush()?;
            }
        }
        let mut published = BTreeMap::new();
        for kv in tree.scan_prefix([P_LOG]) {
            let (k, v) = kv?;
            let origin = String::from_utf8_lossy(&k[1..]).into_owned();
            published.insert(origin, decode(&v, "log state", &k)?);
        }
        let qlog = querylog::Budget::count(&tree, limits.query_log)?;
        Ok(Store {
            db,
            tree,
            published: Arc::new(RwLock::new(published)),
            guard: Arc::new(disk::Guard::new(dir, limits.disk)),
            qlog: Arc::new(qlog),
            reopen: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Ok if the store takes writes now; otherwise why not.
    pub fn writable(&self) -> Result<(), Unwritable> {
        self.guard.check()
    }

    /// Looks at the disk again, and returns why the store is still not
    /// writable, if it is not. While it is not and there is space again,
    /// writes and flushes a probe value: if both succeed writes resume; if
    /// they fail with space available, sled has given up after an I/O
    /// error and only opening the store again clears that:
    /// [`Store::reopen_wanted`] fires.
    pub fn probe(&self) -> Option<Unwritable> {
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

    /// Resolves once the store needs opening again to take writes (see
    /// [`Store::probe`]).
    pub async fn reopen_wanted(&self) {
        self.reopen.notified().await;
    }

    /// Refuses a write while the store is not writable.
    fn writing(&self) -> Result<(), StoreError> {
        Ok(self.guard.check()?)
    }

    /// The result of a write: a failure makes the store not writable.
    fn wrote<T>(&self, r: sled::Result<T>) -> Result<T, StoreError> {
        r.map_err(|e| {
            self.guard.failed(&e);
            StoreError::NotWritable(Unwritable::WriteFailed {
                error: e.to_string(),
            })
        })
    }

    /// Applies a batch atomically (not yet durable: see [`Store::flush`]),
    /// then publishes the log states it sets. Refused while the store is
    /// not writable.
    pub fn apply(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.writing()?;
        let mut b = batch.batch;
        for (origin, start, run) in batch.hash_runs {
            b.insert(log_key(P_HASH, &origin, start), run);
        }
        self.wrote(self.tree.apply_batch(b))?;
        let mut published = self.published.write().unwrap_or_else(|p| p.into_inner());
        for (origin, state) in batch.logs {
            published.insert(origin, state);
        }
        Ok(())
    }

    /// Makes everything applied so far durable. Not refused for low
    /// space: what was applied is better on disk than only in memory.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let r = self.db.flush_async().await;
        self.wrote(r)?;
        Ok(())
    }

    /// Makes everything applied so far durable, blocking.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.wrote(self.db.flush())?;
        Ok(())
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// The published state of `origin`'s log, if the node holds any of it.
    pub fn log_state(&self, origin: &str) -> Result<Option<LogState>, StoreError> {
        Ok(self
            .published
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(origin)
            .cloned())
    }

    /// Every origin the node holds, with its published log state.
    pub fn log_states(&self) -> Result<Vec<(String, LogState)>, StoreError> {
        Ok(self
            .published
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(o, s)| (o.clone(), s.clone()))
            .collect())
    }

    /// Entry `seq` of `origin`.
    pub fn entry(&self, origin: &str, seq: u64) -> Result<Option<SignedEntry>, StoreError> {
        let k = log_key(P_ENTRY, origin, seq);
        self.tree.get(&k)?.map(|v| decode_entry(&v, &k)).transpose()
    }

    /// Entries `from..from+limit` of `origin` that exist, in order.
    pub fn entries(
        &self,
        origin: &str,
        from: u64,
        limit: u64,
    ) -> Result<Vec<SignedEntry>, StoreError> {
        // Only what a published log state counts is surely complete.
        let size = self.log_state(origin)?.map_or(0, |s| s.size);
        let end_seq = from.saturating_add(limit).min(size);
        if end_seq <= from {
            return Ok(Vec::new());
        }
        let start = log_key(P_ENTRY, origin, from);
        let end = log_key(P_ENTRY, origin, end_seq);
        self.tree
            .range(start..end)
            .map(|kv| {
                let (k, v) = kv?;
                decode_entry(&v, &k)
            })
            .collect()
    }

    /// A reader of `origin`'s stored Merkle hashes.
    pub fn hashes<'a>(&'a self, origin: &'a str, suite: Suite) -> StoredHashes<'a> {
        StoredHashes {
            store: self,
            origin,
            suite,
        }
    }

    /// The state of the record `key`.
    pub fn record(&self, key: &RecordKey) -> Result<Option<RecordState>, StoreError> {
        let k = prefixed(P_RECORD, &encode_key(key));
        self.tree
            .get(&k)?
            .map(|v| decode(&v, "record state", &k))
            .transpose()
    }

    /// Keys of every record about `subject`, at most `limit`.
    pub fn subject_records(
        &self,
        subject: &str,
        limit: usize,
    ) -> Result<Vec<RecordKey>, StoreError> {
        let mut prefix = vec![P_SUBJECT];
        prefix.extend_from_slice(subject.as_bytes());
        prefix.push(0);
        let mut out = Vec::new();
        for kv in self.tree.scan_prefix(&prefix).take(limit) {
            let (k, _) = kv?;
            let (key, _): (RecordKey, usize) =
                bincode::decode_from_slice(&k[prefix.len()..], bincode_config())
                    .map_err(|e| corrupt("subject index", &k, &e.to_string()))?;
            out.push(key);
        }
        Ok(out)
    }
}

impl Store {
    /// Keys of the records on the red (`red`) or black list, in `category`
    /// if given; skips `skip`, returns at most `limit`.
    pub fn list_records(
        &self,
        red: bool,
        category: Option<&str>,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<RecordKey>, StoreError> {
        let mut prefix = vec![P_LIST, if red { b'r' } else { b'b' }];
        if let Some(c) = category {
            prefix.extend_from_slice(c.as_bytes());
            prefix.push(0);
        }
        let mut out = Vec::new();
        for kv in self.tree.scan_prefix(&prefix).skip(skip).take(limit) {
            let (k, _) = kv?;
            let start = k[2..]
                .iter()
                .position(|b| *b == 0)
                .map_or(k.len(), |p| p + 3);
            let (key, _): (RecordKey, usize) =
                bincode::decode_from_slice(&k[start..], bincode_config())
                    .map_err(|e| corrupt("list index", &k, &e.to_string()))?;
            out.push(key);
        }
        Ok(out)
    }

    /// The forward cursor of `origin`: how many of its entries the province acknowledged.
    pub fn forward_cursor(&self, origin: &str) -> Result<u64, StoreError> {
        let k = prefixed(P_FORWARD, origin.as_bytes());
        match self.tree.get(&k)? {
            None => Ok(0),
            Some(v) => v
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| corrupt("forward cursor", &k, "not 8 bytes")),
        }
    }

    /// Sets and flushes the forward cursor of `origin`.
    pub async fn set_forward_cursor(&self, origin: &str, cursor: u64) -> Result<(), StoreError> {
        self.writing()?;
        self.wrote(self.tree.insert(
            prefixed(P_FORWARD, origin.as_bytes()),
            &cursor.to_be_bytes(),
        ))?;
        self.flush().await
    }

    /// Stores equivocation evidence about `origin`.
    pub fn put_evidence(
        &self,
        origin: &str,
        evidence: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let ms = evidence["detected_ms"].as_u64().unwrap_or(0);
        self.writing()?;
        self.wrote(self.tree.insert(
            log_key(P_EVIDENCE, origin, ms),
            serde_json::to_vec(evidence).unwrap_or_default(),
        ))?;
        Ok(())
    }

    /// All stored evidence, oldest first per origin.
    pub fn evidence(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        self.tree
            .scan_prefix([P_EVIDENCE])
            .map(|kv| {
                let (k, v) = kv?;
                serde_json::from_slice(&v).map_err(|e| corrupt("evidence", &k, &e.to_string()))
            })
            .collect()
    }

    /// Halts or resumes acceptance of `origin`'s entries.
    pub fn set_halted(&self, origin: &str, halted: bool) -> Result<(), StoreError> {
        let k = prefixed(P_META, format!("halt/{origin}").as_bytes());
        self.writing()?;
        if halted {
            self.wrote(self.tree.insert(k, &[][..]))?;
        } else {
            self.wrote(self.tree.remove(k))?;
        }
        Ok(())
    }

    /// Whether `origin` is halted.
    pub fn halted(&self, origin: &str) -> Result<bool, StoreError> {
        Ok(self
            .tree
            .contains_key(prefixed(P_META, format!("halt/{origin}").as_bytes()))?)
    }

    /// The key starts of `origin` learned from its handovers: (key index, start).
    pub fn key_starts(&self, origin: &str) -> Result<Vec<(usize, u64)>, StoreError> {
        let prefix = prefixed(P_META, format!("keystart/{origin}/").as_bytes());
        self.tree
            .scan_prefix(&prefix)
            .map(|kv| {
                let (k, v) = kv?;
                let index = std::str::from_utf8(&k[prefix.len()..])
                    .ok()
                    .and_then(|i| i.parse::<usize>().ok());
                let start = <[u8; 8]>::try_from(v.as_ref()).ok().map(u64::from_be_bytes);
                match (index, start) {
                    (Some(i), Some(s)) => Ok((i, s)),
                    _ => Err(corrupt("key start", &k, "not an index and a u64")),
                }
            })
            .collect()
    }

    /// Every halted origin.
    pub fn halted_origins(&self) -> Result<Vec<String>, StoreError> {
        let prefix = prefixed(P_META, b"halt/");
        self.tree
            .scan_prefix(&prefix)
            .map(|kv| Ok(String::from_utf8_lossy(&kv?.0[prefix.len()..]).into_owned()))
            .collect()
    }

    /// Keeps the newest roster note received.
    pub fn put_roster(&self, note: &str) -> Result<(), StoreError> {
        self.writing()?;
        self.wrote(
            self.tree
                .insert(prefixed(P_META, b"roster"), note.as_bytes()),
        )?;
        self.flush_blocking()
    }

    /// The newest roster note received, if any.
    pub fn roster(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .tree
            .get(prefixed(P_META, b"roster"))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }
}

/// Reads one origin's Merkle hashes from the store.
#[derive(Debug, Clone, Copy)]
pub struct StoredHashes<'a> {
    store: &'a Store,
    origin: &'a str,
    suite: Suite,
}

impl HashReader for StoredHashes<'_> {
    type Error = StoreError;

    fn suite(&self) -> Suite {
        self.suite
    }

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StoreError> {
        // Proofs read a few hashes, often from the same run: keep the last.
        let mut run: Option<(u64, sled::IVec)> = None;
        let first = log_key(P_HASH, self.origin, 0);
        indexes
            .iter()
            .map(|&i| {
                let held = |(start, v): &(u64, sled::IVec)| {
                    let off = usize::try_from(i.checked_sub(*start)?)
                        .ok()?
                        .checked_mul(32)?;
                    v.get(off..off + 32)?.try_into().ok()
                };
                if let Some(h) = run.as_ref().and_then(held) {
                    return Ok(h);
                }
                let k = log_key(P_HASH, self.origin, i);
                let missing = StoreError::Merkle(MerkleError::MissingHash { index: i });
                let (rk, v) = self
                    .store
                    .tree
                    .range(first.as_slice()..=k.as_slice())
                    .next_back()
                    .transpose()?
                    .ok_or(missing)?;
                if v.is_empty() || v.len() % 32 != 0 {
                    return Err(corrupt(
                        "merkle hash run",
                        &rk,
                        "not a multiple of 32 bytes",
                    ));
                }
                let start = rk
                    .get(first.len() - 8..)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes)
                    .ok_or_else(|| corrupt("merkle hash run", &rk, "bad key"))?;
                let found = (start, v);
                let h = held(&found)
                    .ok_or(StoreError::Merkle(MerkleError::MissingHash { index: i }))?;
                run = Some(found);
                Ok(h)
            })
            .collect()
    }
}

/// The compact Merkle tree of a stored log, for appending.
pub fn load_tree(
    store: &Store,
    origin: &str,
    size: u64,
    suite: Suite,
) -> Result<merkle::CompactTree, StoreError> {
    merkle::CompactTree::load(size, &store.hashes(origin, suite))
}

fn prefixed(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.len());
    k.push(prefix);
    k.extend_from_slice(rest);
    k
}

fn log_key(prefix: u8, origin: &str, n: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(origin.len() + 10);
    k.push(prefix);
    k.extend_from_slice(origin.as_bytes());
    k.push(0);
    k.extend_from_slice(&n.to_be_bytes());
    k
}

fn subject_key(subject: &str, record_key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(subject.len() + record_key.len() + 2);
    k.push(P_SUBJECT);
    k.extend_from_slice(subject.as_bytes());
    k.push(0);
    k.extend_from_slice(record_key);
    k
}

/// The stable byte form of a record key, used in index keys.
pub fn encode_key(key: &RecordKey) -> Vec<u8> {
    bincode::encode_to_vec(key, bincode_config()).unwrap_or_default()
}

fn encode<T: Encode>(v: &T) -> Vec<u8> {
    let mut out = vec![VALUE_VERSION];
    out.extend(bincode::encode_to_vec(v, bincode_config()).unwrap_or_default());
    out
}

fn decode<T: Decode<()>>(v: &[u8], what: &'static str, key: &[u8]) -> Result<T, StoreError> {
    match v.split_first() {
        Some((&VALUE_VERSION, body)) => bincode::decode_from_slice(body, bincode_config())
            .map(|(t, _)| t)
            .map_err(|e| corrupt(what, key, &e.to_string())),
        _ => Err(corrupt(what, key, "unknown value version")),
    }
}

fn decode_entry(v: &[u8], key: &[u8]) -> Result<SignedEntry, StoreError> {
    match v.split_first() {
        Some((&VALUE_VERSION, rest)) if rest.len() >= 64 => {
            let (sig, bytes) = rest.split_at(64);
            Ok(SignedEntry {
                bytes: bytes.to_vec(),
                signature: sig
                    .try_into()
                    .map_err(|_| corrupt("entry", key, "short signature"))?,
            })
        }
        _ => Err(corrupt("entry", key, "unknown value version or too short")),
    }
}

fn corrupt(what: &'static str, key: &[u8], why: &str) -> StoreError {
    StoreError::Corrupt {
        what,
        key: hex::encode(key),
        why: why.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use rongxin_protocol::merkle::{CompactTree, HashReader as _, MemoryHashes, leaf_hash};

    use super::*;

    /// Hashes written in runs by commits of assorted sizes (runs cut at
    /// [`MAX_HASH_RUN`], two origins interleaved in the last batch) read back
    /// exactly as the in-memory tlog store holds them, in any order.
    #[test]
    fn hash_runs_read_back_at_every_storage_index() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("open");
        let mut trees = [
            CompactTree::new(Suite::Ed25519Sha256),
            CompactTree::new(Suite::Ed25519Sha256),
        ];
        let mut mem = [
            MemoryHashes::new(Suite::Ed25519Sha256),
            MemoryHashes::new(Suite::Ed25519Sha256),
        ];
        let origins = ["gulou", "gulou2"];
        let mut n = 0u32;
        for commit in [1usize, 1, 7, 1500, 3, 600] {
            let mut batch = WriteBatch::default();
            // One origin after the other, except in the last commit.
            let order: Vec<(usize, &str)> = if commit == 600 {
                (0..commit)
                    .flat_map(|_| origins.iter().copied().enumerate())
                    .collect()
            } else {
                origins
                    .iter()
                    .copied()
                    .enumerate()
                    .flat_map(|o| std::iter::repeat_n(o, commit))
                    .collect()
            };
            for (k, origin) in order {
                {
                    let leaf = leaf_hash(Suite::Ed25519Sha256, &n.to_be_bytes());
                    n += 1;
                    batch.put_hashes(origin, &trees[k].append(leaf).expect("append"));
                    mem[k].push_leaf(leaf).expect("push");
                }
            }
            store.apply(batch).expect("apply");
        }
        for (k, origin) in origins.iter().enumerate() {
            let want = mem[k].hashes();
            let all: Vec<u64> = (0..want.len() as u64).rev().collect();
            let mut got = store
                .hashes(origin, Suite::Ed25519Sha256)
                .read_hashes(&all)
                .expect("read");
            got.reverse();
            assert_eq!(got, want, "{origin}");
            let past = want.len() as u64;
            assert!(matches!(
                store.hashes(origin, Suite::Ed25519Sha256).read_hashes(&[past]),
                Err(StoreError::Merkle(MerkleError::MissingHash { index })) if index == past
            ));
            let tree =
                load_tree(&store, origin, trees[k].size(), Suite::Ed25519Sha256).expect("load");
            assert_eq!(tree.root(), trees[k].root());
        }
        assert!(matches!(
            store
                .hashes("mawei", Suite::Ed25519Sha256)
                .read_hashes(&[0]),
            Err(StoreError::Merkle(MerkleError::MissingHash { index: 0 }))
        ));
    }
}
