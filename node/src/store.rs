//! The store: every log this node keeps (its own and its replicas of other
//! origins) as C2SP tlog-tiles in append-only files, and a sled database
//! for what needs random access: record states and their indexes, each
//! log's commit point, cursors, evidence and the query log.
//!
//! **One writer.** This module is the only code that writes either. Every
//! write is a typed command ([`WriteBatch`], the query log's rows, the
//! probe) sent over a bounded channel to the writer thread
//! (`store/writer.rs`), which groups what is waiting, appends the group's entries
//! to the log files, syncs them, applies the group's database changes in
//! one atomic batch, publishes the new log states to readers, and flushes
//! the database as the group's commands ask ([`Durability`]).
//!
//! **Crash safety.** A log's files are synced before the database batch
//! that names their new length (the commit point, [`LogState`]) is applied;
//! at open, bytes past the commit point are cut off and a file shorter than
//! it refuses the open ([`files`]). After a crash at any instant the store
//! holds either all of a group or none of it.
//!
//! The database holds one tree, `rongxin.v1`, under one-byte key prefixes:
//!
//! | prefix | key | value |
//! | --- | --- | --- |
//! | `M` | name | metadata (format version) |
//! | `L` | origin | [`LogState`]: size, root, signed checkpoint, bytes of entries (the commit point) |
//! | `R` | bincode(record key) | [`RecordState`] |
//! | `S` | subject code, 0, bincode(record key) | empty: subject index |
//! | `Q` | query id (time ms u64 BE, counter u32 BE) | [`QueryLogRow`], version 1 (rows written before versioning are JSON and still read) |
//! | `X` | origin, 0, time ms (u64 BE) | equivocation evidence (JSON) |
//! | `B` | `r` or `b`, list category, 0, bincode(record key) | empty: red/black list index |
//! | `F` | origin | forward cursor: entries the province acknowledged (u64 BE) |
//! | `O` | origin, 0, objection id | [`ObjectionState`](rongxin_protocol::objection::ObjectionState), derived from the origin's log |
//! | `A` | origin, 0, application id | [`RepairState`](rongxin_protocol::repair::RepairState), derived from the origin's log |
//! | `T` | origin, 0, seq (u64 BE) of its first record | up to 128 [`Timely`] of one origin (version 2; version 1 rows hold one): double-publicity records' first versions, their decision and publication dates |
//! | `W` | objection or application id | [`Receipt`] of an objection or a repair application filed at this node |
//! | `M` | `receipts/<yyyymmdd>` | the last receipt number given that day (u32 BE) |
//! | `M` | `halt/<origin>` | present while an origin is halted after equivocation |
//! | `M` | `roster` | the newest verified roster note received from peers |
//! | `M` | `keystart/<origin>/<index>` | where the origin's key `index` starts (u64 BE) |
//! | `M` | `probe` | time of the last write probe after a failed write (ms, u64 BE) |
//!
//! **Backups** ([`backup`]) journal the writer's database writes while
//! they read the database, so they are consistent without stopping it.
//!
//! Every write first asks the disk guard ([`disk`]) whether the store may
//! be written; a refused or failed write is [`StoreError::NotWritable`],
//! which the API answers with 503.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

pub mod backup;
mod cases;
pub mod check;
pub mod disk;
pub mod faults;
pub mod files;
mod maintain;
pub mod migrate;
mod querylog;
mod tally;
mod timeliness;
mod writer;

pub use cases::{Filing, Receipt, Routed};
pub use disk::{DiskConfig, DiskFile, Unwritable};
pub use files::{Committed, TILE_WIDTH};
pub use maintain::maintain;
pub use querylog::{
    MAX_RETURNED, QueryLogConfig, QueryLogFile, QueryLogRow, QueryLogUsage, Returned,
};
pub use rongxin_protocol::log::{RecordState, Revoked};
pub use timeliness::Timely;

use bincode::{Decode, Encode};
use rongxin_protocol::entry::SignedEntry;
use rongxin_protocol::log::LogHead;
use rongxin_protocol::merkle::{self, Hash, HashReader, MerkleError, Suite};
use rongxin_protocol::record::RecordKey;
use tokio::sync::{mpsc, oneshot};

use files::LogFiles;
use writer::Command;

/// Name of the one tree; a new layout gets a new name and a migration.
const TREE: &str = "rongxin.v1";
/// Version of the layout (3: logs in tile files beside the database).
pub const FORMAT_VERSION: u32 = 3;
const VALUE_VERSION: u8 = 1;
/// Commands that may wait for the writer.
const WRITER_QUEUE: usize = 1024;

const P_META: u8 = b'M';
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
    /// A log file could not be read or written.
    #[error("store: cannot {what} {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// What was being done.
        what: String,
        /// The system's answer.
        error: std::io::Error,
    },
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
    /// A log file does not hold what the commit point says it does.
    #[error("store: {path} is damaged: {why}")]
    Damaged {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// The data directory was written by another format version.
    #[error(
        "store: data format {found} in {dir}; this node reads format {FORMAT_VERSION}. {}",
        format_advice(*found, dir)
    )]
    Format {
        /// The version found.
        found: u32,
        /// The data directory.
        dir: String,
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
    /// A write was built against a log state that is no longer the
    /// published one (an earlier write of the same log failed).
    #[error("store: an append to {origin}'s log starts at {first}, but the log holds {held}")]
    OutOfOrder {
        /// The log.
        origin: String,
        /// Where the append starts.
        first: u64,
        /// Entries held.
        held: u64,
    },
    /// The writer is gone (the node is stopping).
    #[error("store: the writer has stopped")]
    Stopped,
}

fn format_advice(found: u32, dir: &str) -> String {
    if found < FORMAT_VERSION {
        format!(
            "Upgrade it with `rongxin-node migrate --from {dir} --to NEW_DIR` (then point data_dir at NEW_DIR), or `rongxin-node migrate --in-place {dir}`; docs/operations.md \"Upgrading\""
        )
    } else {
        "It was written by a newer release: run that release, or restore a backup made by this one."
            .to_owned()
    }
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_big_endian()
        .with_fixed_int_encoding()
}

/// The state of one log, and its commit point: its size, root, latest
/// signed checkpoint and how many bytes of its `entries` file its entries
/// take.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct LogState {
    /// Number of entries.
    pub size: u64,
    /// RFC 6962 root of those entries.
    pub root: Hash,
    /// Signed checkpoint note for `size` (empty before the first checkpoint).
    pub checkpoint: String,
    /// Bytes of the `entries` file the entries take (set by the writer).
    pub entry_bytes: u64,
}

impl LogState {
    /// A state of `size` entries with `root` and `checkpoint` (the writer
    /// fills in where its entries end).
    pub fn new(size: u64, root: Hash, checkpoint: String) -> LogState {
        LogState {
            size,
            root,
            checkpoint,
            entry_bytes: 0,
        }
    }

    fn committed(&self) -> Committed {
        Committed {
            size: self.size,
            entry_bytes: self.entry_bytes,
        }
    }
}

/// How durable a write is when it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// On disk: its log files synced and the database flushed (an ingest,
    /// evidence, a halt, a roster, a cursor, a query's registration).
    Durable,
    /// Visible to readers, its log files synced; the database is flushed
    /// when the writer is next idle, and at least every
    /// 500 ms (replicated entries, which peers still hold).
    Applied,
}

/// One atomic group of writes, sent to the writer with
/// [`Store::commit`].
#[derive(Debug, Default)]
pub struct WriteBatch {
    /// Database inserts (`Some`) and removes (`None`), in order.
    ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Entries appended to logs: origin, the entries, the hashes they add.
    appends: Vec<Append>,
    /// Log states this batch sets, published to readers once it is applied.
    logs: Vec<(String, LogState)>,
}

#[derive(Debug)]
struct Append {
    origin: String,
    first: u64,
    entries: Vec<SignedEntry>,
    hashes: Vec<(u64, Hash)>,
}

impl WriteBatch {
    /// Appends `entries` as `origin`'s entries `first..`, with the Merkle
    /// hashes they add (as [`merkle::CompactTree::append`] gives them).
    pub fn append_entries(
        &mut self,
        origin: &str,
        first: u64,
        entries: Vec<SignedEntry>,
        hashes: Vec<(u64, Hash)>,
    ) {
        match self.appends.last_mut() {
            Some(a) if a.origin == origin && a.first + a.entries.len() as u64 == first => {
                a.entries.extend(entries);
                a.hashes.extend(hashes);
            }
            _ => self.appends.push(Append {
                origin: origin.to_owned(),
                first,
                entries,
                hashes,
            }),
        }
    }

    /// Entries this batch appends (a measure of its cost).
    pub fn entries(&self) -> usize {
        self.appends.iter().map(|a| a.entries.len()).sum()
    }

    /// Database writes this batch makes.
    pub fn writes(&self) -> usize {
        self.ops.len()
    }

    fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push((key, Some(value)));
    }

    fn remove(&mut self, key: Vec<u8>) {
        self.ops.push((key, None));
    }

    /// Records where `origin`'s key `index` starts, learned from its
    /// `KeyHandover` entry (docs/protocol.md §6.1).
    pub fn put_key_start(&mut self, origin: &str, index: usize, start: u64) {
        self.insert(
            prefixed(P_META, format!("keystart/{origin}/{index:04}").as_bytes()),
            start.to_be_bytes().to_vec(),
        );
    }

    /// Sets `origin`'s log state (its `entry_bytes` is the writer's).
    pub fn put_log_state(&mut self, origin: &str, state: &LogState) {
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
        match old_subject {
            // Unchanged subject: its index entry is already there.
            Some(old) if old == state.subject => {}
            Some(old) => {
                self.remove(subject_key(old, &k));
                self.insert(subject_key(&state.subject, &k), Vec::new());
            }
            None => self.insert(subject_key(&state.subject, &k), Vec::new()),
        }
        self.insert(prefixed(P_RECORD, &k), encode(state));
        if let Some(slot) = list {
            let lk = list_key(slot, &k);
            if state.revoked.is_some() {
                self.remove(lk);
            } else {
                self.insert(lk, Vec::new());
            }
        }
    }

    /// Stores evidence about `origin` (equivocation, a compromised key, a
    /// province refusal), keyed by its `detected_ms`.
    pub fn put_evidence(&mut self, origin: &str, evidence: &serde_json::Value) {
        let ms = evidence["detected_ms"].as_u64().unwrap_or(0);
        self.insert(
            log_key(P_EVIDENCE, origin, ms),
            serde_json::to_vec(evidence).unwrap_or_default(),
        );
    }

    /// Halts or resumes acceptance of `origin`'s entries.
    pub fn set_halted(&mut self, origin: &str, halted: bool) {
        let k = prefixed(P_META, format!("halt/{origin}").as_bytes());
        if halted {
            self.insert(k, Vec::new());
        } else {
            self.remove(k);
        }
    }

    /// Keeps the newest roster note received.
    pub fn put_roster(&mut self, note: &str) {
        self.insert(prefixed(P_META, b"roster"), note.as_bytes().to_vec());
    }

    /// Sets the forward cursor of `origin`.
    pub fn set_forward_cursor(&mut self, origin: &str, cursor: u64) {
        self.insert(
            prefixed(P_FORWARD, origin.as_bytes()),
            cursor.to_be_bytes().to_vec(),
        );
    }

    /// A raw key and value (migration copies what it does not convert).
    fn raw(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.insert(key, value);
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

/// One log as readers see it: its published state and its files.
#[derive(Debug, Clone)]
struct Log {
    state: LogState,
    files: Arc<LogFiles>,
}

/// What the writer and the readers share.
#[derive(Debug)]
struct Inner {
    db: sled::Db,
    tree: sled::Tree,
    /// `<data_dir>/logs`.
    logs_dir: PathBuf,
    /// The published logs: only what a published state counts is read.
    published: RwLock<BTreeMap<String, Log>>,
    guard: disk::Guard,
    qlog: querylog::Budget,
    reopen: tokio::sync::Notify,
    faults: faults::Faults,
    /// While a backup runs, every database write is also journaled here.
    journal: std::sync::Mutex<Option<backup::Journal>>,
}

/// The node's store. Cheap to clone; every clone is the same store. Reads
/// go straight to the files and the database; writes go to the one writer.
///
/// Readers never take a log's state from the database: they read the
/// *published* state, which the writer updates only once a whole group is
/// in. Everything a published state counts is therefore readable.
#[derive(Clone, Debug)]
pub struct Store {
    // Dropped first: the last clone waits for the writer's last flush, so
    // the database is closed (and its lock released) when it returns.
    writer: Arc<WriterThread>,
    inner: Arc<Inner>,
}

/// The writer thread, joined when the last [`Store`] goes.
#[derive(Debug)]
struct WriterThread {
    /// A sender kept only to be dropped before the join.
    tx: Option<mpsc::Sender<Command>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for WriterThread {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("the store's writer thread panicked");
        }
    }
}

/// What bounds the store's use of the disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreLimits {
    /// The free-space reserve.
    pub disk: DiskConfig,
    /// The query log's budget.
    pub query_log: QueryLogConfig,
}

/// The database of `dir`, opened and its format checked (`None` for a new
/// store: the format is then to be written).
/// How long opening a store waits for a lock its own process is releasing.
const LOCK_WAIT: Duration = Duration::from_secs(5);

fn open_db(dir: &Path) -> Result<(sled::Db, sled::Tree, Option<u32>), StoreError> {
    open_sled(&dir.join("store"), dir)
}

/// How the node opens sled at `path` (the benchmark's `limits` measures
/// sled alone with the same settings).
pub fn sled_config(path: &Path) -> sled::Config {
    sled::Config::new()
        .path(path)
        .cache_capacity(256 * 1024 * 1024)
        // The writer flushes: when a command asks, when idle, and at least
        // every LAZY_FLUSH; sled's own timer would flush between a group's
        // steps for nothing.
        .flush_every_ms(None)
}

/// The database at `path` (in data directory `dir`), opened and its format read.
fn open_sled(path: &Path, dir: &Path) -> Result<(sled::Db, sled::Tree, Option<u32>), StoreError> {
    let path = path.to_owned();
    let private = |r: std::io::Result<()>| {
        r.map_err(|error| StoreError::Permissions {
            path: dir.display().to_string(),
            error,
        })
    };
    private(disk::private_dir(dir))?;
    private(disk::private_dir(&path))?;
    let config = sled_config(&path);
    // sled releases its file lock from its own threads shortly after the
    // last handle is dropped: a store opened again in the same process
    // (restore's check after writing it, a migration) may find the lock
    // still held for a moment under load. Another process holding it keeps
    // it, and is reported after LOCK_WAIT.
    let waited = Instant::now();
    let db = loop {
        match config.open() {
            Ok(db) => break db,
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && waited.elapsed() < LOCK_WAIT =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e.into()),
        }
    };
    // sled created its files with the process umask.
    private(disk::private_tree(&path))?;
    let tree = db.open_tree(TREE)?;
    let meta = prefixed(P_META, b"format");
    let found = match tree.get(&meta)? {
        Some(v) => Some(
            v.as_ref()
                .try_into()
                .map(u32::from_be_bytes)
                .map_err(|_| corrupt("format version", &meta, "not 4 bytes"))?,
        ),
        None => None,
    };
    Ok((db, tree, found))
}

impl Store {
    /// Opens (or creates) the store in `dir` with default limits.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(dir, StoreLimits::default())
    }

    /// Opens (or creates) the store in `dir`, checking its format version,
    /// cutting each log's files back to its commit point and checking
    /// them ([`check::quick`]). `dir` and everything in it is made private
    /// to the node's user.
    pub fn open_with(dir: &Path, limits: StoreLimits) -> Result<Store, StoreError> {
        let store = Store::open_unchecked(dir, limits)?;
        check::quick(&store)?;
        Ok(store)
    }

    /// Opens the store without checking its logs (the full check and
    /// the migration do their own).
    pub fn open_unchecked(dir: &Path, limits: StoreLimits) -> Result<Store, StoreError> {
        let (db, tree, found) = open_db(dir)?;
        match found {
            Some(FORMAT_VERSION) => {}
            Some(found) => {
                return Err(StoreError::Format {
                    found,
                    dir: dir.display().to_string(),
                });
            }
            None => {
                // A new store (every format since 1 writes its version).
                tree.insert(prefixed(P_META, b"format"), &FORMAT_VERSION.to_be_bytes())?;
                db.flush()?;
            }
        }
        let logs_dir = dir.join("logs");
        disk::private_dir(&logs_dir).map_err(|error| StoreError::Permissions {
            path: logs_dir.display().to_string(),
            error,
        })?;
        let mut published = BTreeMap::new();
        for kv in tree.scan_prefix([P_LOG]) {
            let (k, v) = kv?;
            let origin = String::from_utf8_lossy(&k[1..]).into_owned();
            let state: LogState = decode(&v, "log state", &k)?;
            let files = LogFiles::open(&files::origin_dir(&logs_dir, &origin), state.committed())?;
            published.insert(
                origin,
                Log {
                    state,
                    files: Arc::new(files),
                },
            );
        }
        let qlog = querylog::Budget::count(&tree, limits.query_log)?;
        let inner = Arc::new(Inner {
            db,
            tree,
            logs_dir,
            published: RwLock::new(published),
            guard: disk::Guard::new(dir, limits.disk),
            qlog,
            reopen: tokio::sync::Notify::new(),
            faults: faults::Faults::default(),
            journal: std::sync::Mutex::new(None),
        });
        let (tx, rx) = mpsc::channel(WRITER_QUEUE);
        let w = inner.clone();
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer::run(&w, rx))
            .map_err(|error| StoreError::Io {
                path: dir.display().to_string(),
                what: "start the writer thread for".into(),
                error,
            })?;
        Ok(Store {
            writer: Arc::new(WriterThread {
                tx: Some(tx),
                thread: Some(thread),
            }),
            inner,
        })
    }

    /// The writer's queue.
    fn tx(&self) -> Result<&mpsc::Sender<Command>, StoreError> {
        self.writer.tx.as_ref().ok_or(StoreError::Stopped)
    }

    /// Sends the writer the command `make` builds around a reply channel,
    /// and waits for the reply.
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx()?
            .send(make(reply))
            .await
            .map_err(|_| StoreError::Stopped)?;
        rx.await.map_err(|_| StoreError::Stopped)
    }

    /// [`Store::ask`] from a thread that may block (not an async task).
    fn ask_blocking<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx()?
            .blocking_send(make(reply))
            .map_err(|_| StoreError::Stopped)?;
        rx.blocking_recv().map_err(|_| StoreError::Stopped)
    }

    /// The store's fault injection points (tests only).
    #[doc(hidden)]
    pub fn faults(&self) -> &faults::Faults {
        &self.inner.faults
    }

    /// Ok if the store takes writes now; otherwise why not.
    pub fn writable(&self) -> Result<(), Unwritable> {
        self.inner.guard.check()
    }

    /// Bytes free on the data directory's file system and the reserve
    /// below which writes are refused; `None` if the file system cannot
    /// be asked.
    pub fn disk_space(&self) -> Option<(u64, u64)> {
        self.inner.guard.free_and_reserve()
    }

    /// Looks at the disk again, and returns why the store is still not
    /// writable, if it is not (the probe is a write, made by the writer).
    pub fn probe(&self) -> Option<Unwritable> {
        self.ask_blocking(|reply| Command::Probe { reply })
            .unwrap_or_else(|_| self.inner.guard.state())
    }

    /// Resolves once the store needs opening again to take writes (see
    /// [`Store::probe`]).
    pub async fn reopen_wanted(&self) {
        self.inner.reopen.notified().await;
    }

    /// Sends `batch` to the writer and waits until it is in, as durable as
    /// `durability` says. Refused while the store is not writable.
    pub async fn commit(
        &self,
        batch: WriteBatch,
        durability: Durability,
    ) -> Result<(), StoreError> {
        self.ask(|reply| Command::Commit {
            batch,
            durability,
            reply,
        })
        .await?
    }

    /// [`Store::commit`] from a thread that may block (not an async task).
    pub fn commit_blocking(
        &self,
        batch: WriteBatch,
        durability: Durability,
    ) -> Result<(), StoreError> {
        self.ask_blocking(|reply| Command::Commit {
            batch,
            durability,
            reply,
        })?
    }

    /// Sends `batch` to the writer without waiting for it: the answer
    /// comes on the returned channel once the batch is in, as durable as
    /// `durability` says. The writer takes commands in the order they are
    /// sent, so batches submitted one after another are written in that
    /// order; a batch whose appends do not continue the log as written
    /// (the one before it failed) is refused. Waits only while the
    /// writer's queue is full.
    pub fn submit_blocking(
        &self,
        batch: WriteBatch,
        durability: Durability,
    ) -> Result<oneshot::Receiver<Result<(), StoreError>>, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx()?
            .blocking_send(Command::Commit {
                batch,
                durability,
                reply,
            })
            .map_err(|_| StoreError::Stopped)?;
        Ok(rx)
    }

    /// Makes everything written so far durable. Not refused for low
    /// space: what was applied is better on disk than only in memory.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.ask(|reply| Command::Flush { reply }).await?
    }

    /// [`Store::flush`], blocking.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.ask_blocking(|reply| Command::Flush { reply })?
    }

    /// Bytes the store occupies on disk: the database and the log files.
    pub fn size_on_disk(&self) -> u64 {
        let logs: u64 = self
            .inner
            .published
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|l| l.files.disk_bytes())
            .sum();
        self.inner.db.size_on_disk().unwrap_or(0) + logs
    }

    fn log(&self, origin: &str) -> Option<Log> {
        self.inner
            .published
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(origin)
            .cloned()
    }

    /// The published state of `origin`'s log, if the node holds any of it.
    pub fn log_state(&self, origin: &str) -> Result<Option<LogState>, StoreError> {
        Ok(self.log(origin).map(|l| l.state))
    }

    /// Every origin the node holds, with its published log state.
    pub fn log_states(&self) -> Result<Vec<(String, LogState)>, StoreError> {
        Ok(self
            .inner
            .published
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(o, l)| (o.clone(), l.state.clone()))
            .collect())
    }

    /// Entry `seq` of `origin`, if held.
    pub fn entry(&self, origin: &str, seq: u64) -> Result<Option<SignedEntry>, StoreError> {
        Ok(self.entries(origin, seq, 1)?.pop())
    }

    /// Entries `from..from+limit` of `origin` that are held, in order, each
    /// checked against its stored leaf hash.
    pub fn entries(
        &self,
        origin: &str,
        from: u64,
        limit: u64,
    ) -> Result<Vec<SignedEntry>, StoreError> {
        let Some(log) = self.log(origin) else {
            return Ok(Vec::new());
        };
        let end = from.saturating_add(limit).min(log.state.size);
        if end <= from {
            return Ok(Vec::new());
        }
        log.files.entries(from, end, log.state.committed())
    }

    /// A reader of `origin`'s stored Merkle hashes (none for a log not held).
    pub fn hashes(&self, origin: &str, suite: Suite) -> StoredHashes {
        let log = self.log(origin);
        StoredHashes {
            count: log
                .as_ref()
                .and_then(|l| l.state.committed().hashes().ok())
                .unwrap_or(0),
            files: log.map(|l| l.files),
            suite,
        }
    }

    /// The entry bundle `tile/entries/<index>[.p/<width>]` of `origin`'s
    /// log, checked against the stored leaf hashes; `None` while the log
    /// does not hold those entries.
    pub fn entry_bundle(
        &self,
        origin: &str,
        index: u64,
        width: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some((log, from, to)) = self.tile_range(origin, index, width, 0) else {
            return Ok(None);
        };
        // Parsed and hashed before it is served: damage is reported, not sent.
        log.files
            .checked_bundle(from, to, log.state.committed())
            .map(Some)
    }

    /// The signatures of the entries of `tile/entries/<index>[.p/<width>]`,
    /// 64 bytes each, in order; `None` while the log does not hold them.
    pub fn signature_bundle(
        &self,
        origin: &str,
        index: u64,
        width: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some((log, from, to)) = self.tile_range(origin, index, width, 0) else {
            return Ok(None);
        };
        log.files
            .signatures(from, to, log.state.committed())
            .map(Some)
    }

    /// The hash tile `tile/<level>/<index>[.p/<width>]` of `origin`'s log;
    /// `None` while the log has fewer hashes at that level.
    pub fn hash_tile(
        &self,
        origin: &str,
        level: u8,
        index: u64,
        width: u64,
        suite: Suite,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some((log, _, _)) = self.tile_range(origin, index, width, level) else {
            return Ok(None);
        };
        log.files
            .hash_tile(level, index, width, suite, log.state.committed())
            .map(Some)
    }

    /// The log and the range `256·index .. +width` at tile level `level`,
    /// when the log holds all of it.
    fn tile_range(
        &self,
        origin: &str,
        index: u64,
        width: u64,
        level: u8,
    ) -> Option<(Log, u64, u64)> {
        if width == 0 || width > TILE_WIDTH || level > 7 {
            return None;
        }
        let log = self.log(origin)?;
        let held = log.state.size >> (8 * u32::from(level));
        let from = index.checked_mul(TILE_WIDTH)?;
        let to = from.checked_add(width)?;
        (to <= held).then_some((log, from, to))
    }

    /// The state of the record `key`.
    pub fn record(&self, key: &RecordKey) -> Result<Option<RecordState>, StoreError> {
        let k = prefixed(P_RECORD, &encode_key(key));
        self.inner
            .tree
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
        for kv in self.inner.tree.scan_prefix(&prefix).take(limit) {
            let (k, _) = kv?;
            let (key, _): (RecordKey, usize) =
                bincode::decode_from_slice(&k[prefix.len()..], bincode_config())
                    .map_err(|e| corrupt("subject index", &k, &e.to_string()))?;
            out.push(key);
        }
        Ok(out)
    }

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
        for kv in self.inner.tree.scan_prefix(&prefix).skip(skip).take(limit) {
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

    /// Records of `kind` with their states, in key order, starting after
    /// `after` (from the first when `None`), at most `limit`.
    pub fn records_of_kind(
        &self,
        kind: &str,
        after: Option<&RecordKey>,
        limit: usize,
    ) -> Result<Vec<(RecordKey, RecordState)>, StoreError> {
        let mut prefix = vec![P_RECORD];
        prefix.extend(bincode::encode_to_vec(kind, bincode_config()).unwrap_or_default());
        let start = match after {
            Some(k) => {
                let mut s = prefixed(P_RECORD, &encode_key(k));
                s.push(0);
                s
            }
            None => prefix.clone(),
        };
        let mut out = Vec::new();
        for kv in self.inner.tree.range(start..) {
            let (k, v) = kv?;
            if !k.starts_with(&prefix) || out.len() == limit {
                break;
            }
            let (key, _): (RecordKey, usize) =
                bincode::decode_from_slice(&k[1..], bincode_config())
                    .map_err(|e| corrupt("record key", &k, &e.to_string()))?;
            out.push((key, decode(&v, "record state", &k)?));
        }
        Ok(out)
    }

    /// The forward cursor of `origin`: how many of its entries the province acknowledged.
    pub fn forward_cursor(&self, origin: &str) -> Result<u64, StoreError> {
        let k = prefixed(P_FORWARD, origin.as_bytes());
        match self.inner.tree.get(&k)? {
            None => Ok(0),
            Some(v) => v
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| corrupt("forward cursor", &k, "not 8 bytes")),
        }
    }

    /// All stored evidence, oldest first per origin.
    pub fn evidence(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        self.inner
            .tree
            .scan_prefix([P_EVIDENCE])
            .map(|kv| {
                let (k, v) = kv?;
                serde_json::from_slice(&v).map_err(|e| corrupt("evidence", &k, &e.to_string()))
            })
            .collect()
    }

    /// Whether `origin` is halted.
    pub fn halted(&self, origin: &str) -> Result<bool, StoreError> {
        Ok(self
            .inner
            .tree
            .contains_key(prefixed(P_META, format!("halt/{origin}").as_bytes()))?)
    }

    /// The key starts of `origin` learned from its handovers: (key index, start).
    pub fn key_starts(&self, origin: &str) -> Result<Vec<(usize, u64)>, StoreError> {
        let prefix = prefixed(P_META, format!("keystart/{origin}/").as_bytes());
        self.inner
            .tree
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
        self.inner
            .tree
            .scan_prefix(&prefix)
            .map(|kv| Ok(String::from_utf8_lossy(&kv?.0[prefix.len()..]).into_owned()))
            .collect()
    }

    /// The newest roster note received, if any.
    pub fn roster(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .inner
            .tree
            .get(prefixed(P_META, b"roster"))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }
}

/// Reads one origin's Merkle hashes from its `hashes` file, within the
/// published size.
#[derive(Debug, Clone)]
pub struct StoredHashes {
    files: Option<Arc<LogFiles>>,
    suite: Suite,
    count: u64,
}

impl HashReader for StoredHashes {
    type Error = StoreError;

    fn suite(&self) -> Suite {
        self.suite
    }

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StoreError> {
        match &self.files {
            Some(f) => f.reader_of(self.suite, self.count).read_hashes(indexes),
            None => match indexes.first() {
                Some(&index) => Err(StoreError::Merkle(MerkleError::MissingHash { index })),
                None => Ok(Vec::new()),
            },
        }
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

/// The head of a stored log, for extending it: its size, compact tree and
/// last leaf hash, all read from the stored hashes.
pub fn load_head(store: &Store, origin: &str, suite: Suite) -> Result<LogHead, StoreError> {
    let size = store.log_state(origin)?.map_or(0, |s| s.size);
    let hashes = store.hashes(origin, suite);
    let last_leaf = match size.checked_sub(1) {
        None => [0; 32],
        Some(last) => hashes
            .read_hashes(&[merkle::stored_hash_index(0, last)?])?
            .pop()
            .unwrap_or([0; 32]),
    };
    LogHead::load(size, last_leaf, &hashes)
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

fn corrupt(what: &'static str, key: &[u8], why: &str) -> StoreError {
    StoreError::Corrupt {
        what,
        key: hex::encode(key),
        why: why.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use rongxin_protocol::merkle::{CompactTree, leaf_hash};

    use super::faults::Point;
    use super::*;

    const SUITE: Suite = Suite::Ed25519Sha256;

    fn entry(n: u64) -> SignedEntry {
        let mut bytes = rongxin_protocol::entry::entry_tag(SUITE).to_vec();
        bytes.extend(format!("entry {n}").into_bytes());
        SignedEntry {
            bytes,
            signature: [n as u8; 64],
        }
    }

    /// Opens the store in `dir` again after the last handle was dropped.
    /// sled releases its file lock from its own threads shortly after the
    /// drop, so under load the first tries may find it still held (the
    /// node retries the same way when it restarts its store).
    fn reopen(dir: &Path) -> Store {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match Store::open(dir) {
                Ok(s) => return s,
                Err(StoreError::Sled(e))
                    if e.to_string().contains("could not acquire lock")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => panic!("reopen: {e}"),
            }
        }
    }

    /// A batch appending `n` entries to `origin` at `tree`'s size, with
    /// its commit point.
    fn append(tree: &mut CompactTree, origin: &str, n: u64) -> WriteBatch {
        let first = tree.size();
        let entries: Vec<SignedEntry> = (first..first + n).map(entry).collect();
        let hashes = entries
            .iter()
            .flat_map(|e| tree.append(leaf_hash(SUITE, &e.bytes)).expect("append"))
            .collect();
        let mut b = WriteBatch::default();
        b.append_entries(origin, first, entries, hashes);
        b.put_log_state(
            origin,
            &LogState::new(tree.size(), tree.root(), String::new()),
        );
        b
    }

    /// Commits from several threads at once are grouped, every one lands,
    /// and the store reopens at the same heads, its check passing.
    #[test]
    fn concurrent_commits_land_whole_and_reopen_checked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("open");
        std::thread::scope(|s| {
            for origin in ["gulou", "taijiang", "mawei"] {
                let store = store.clone();
                s.spawn(move || {
                    let mut tree = CompactTree::new(SUITE);
                    for n in [1, 300, 7, 1000] {
                        store
                            .commit_blocking(append(&mut tree, origin, n), Durability::Applied)
                            .expect("commit");
                    }
                });
            }
        });
        store.flush_blocking().expect("flush");
        let before = store.log_states().expect("states");
        assert_eq!(before.len(), 3);
        assert!(before.iter().all(|(_, s)| s.size == 1308));
        drop(store);
        let store = reopen(dir.path());
        assert_eq!(store.log_states().expect("states"), before);
        let v = check::full(&store, &mut |_, _, _| {}).expect_err("not real entries");
        // The full check decodes entries: these are not, and it says so.
        assert!(v.to_string().contains("entry 0"), "{v}");
        assert_eq!(store.entries("mawei", 1300, 100).expect("read").len(), 8);
    }

    /// A failed file write or sync fails the commit and everything
    /// grouped with it, publishes nothing, makes the store refuse writes
    /// until the probe succeeds; then the next commit overwrites the torn
    /// bytes and the reopened store holds exactly what was acknowledged.
    #[test]
    fn write_and_flush_faults_acknowledge_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("open");
        let mut tree = CompactTree::new(SUITE);
        store
            .commit_blocking(append(&mut tree, "gulou", 10), Durability::Durable)
            .expect("commit");
        // Two of an append's four file writes or syncs pass, then one
        // fails; the flush fails at once.
        for (point, pass) in [
            (Point::FileWrite, 2),
            (Point::FileSync, 2),
            (Point::DbFlush, 0),
        ] {
            store.faults().fail_after(point, pass);
            let mut failed = tree.clone();
            let err = store
                .commit_blocking(append(&mut failed, "gulou", 5), Durability::Durable)
                .expect_err("the fault fails the commit");
            assert!(
                matches!(err, StoreError::NotWritable(_)),
                "{point:?}: {err}"
            );
            assert!(store.writable().is_err(), "{point:?}");
            store.faults().clear(point);
            // Refused until the probe finds the store writable again.
            assert!(matches!(
                store.commit_blocking(append(&mut failed.clone(), "gulou", 1), Durability::Durable),
                Err(StoreError::NotWritable(_))
            ));
            assert_eq!(store.probe(), None, "{point:?}");
            if point == Point::DbFlush {
                // Applied, not durable: readers saw it; it was not acknowledged.
                tree = failed;
            } else {
                assert_eq!(
                    store.log_state("gulou").expect("state").map(|s| s.size),
                    Some(tree.size()),
                    "{point:?}: nothing published"
                );
            }
            store
                .commit_blocking(append(&mut tree, "gulou", 3), Durability::Durable)
                .expect("commit after recovery");
        }
        let want = store.log_state("gulou").expect("state");
        drop(store);
        let store = reopen(dir.path());
        assert_eq!(store.log_state("gulou").expect("state"), want);
        let all = store.entries("gulou", 0, 1000).expect("read");
        assert_eq!(all.len() as u64, tree.size());
        assert_eq!(
            merkle::tree_root(tree.size(), &store.hashes("gulou", SUITE)).expect("root"),
            tree.root()
        );
    }

    /// An append that does not start at the log's size is refused, and so
    /// is a log state that does not match the entries appended.
    #[test]
    fn out_of_order_appends_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("open");
        let mut tree = CompactTree::new(SUITE);
        store
            .commit_blocking(append(&mut tree, "gulou", 4), Durability::Applied)
            .expect("commit");
        let mut ahead = tree.clone();
        let _skipped = append(&mut ahead, "gulou", 2);
        let err = store
            .commit_blocking(append(&mut ahead, "gulou", 2), Durability::Applied)
            .expect_err("a gap");
        assert!(
            matches!(
                err,
                StoreError::OutOfOrder {
                    first: 6,
                    held: 4,
                    ..
                }
            ),
            "{err}"
        );
        let mut b = append(&mut tree.clone(), "gulou", 2);
        b.logs[0].1.size = 5;
        assert!(matches!(
            store.commit_blocking(b, Durability::Applied),
            Err(StoreError::OutOfOrder { .. })
        ));
        assert_eq!(
            store.log_state("gulou").expect("state").map(|s| s.size),
            Some(4)
        );
        assert!(
            store.writable().is_ok(),
            "a refused batch is not a failed write"
        );
    }

    /// One flipped byte in the hashes or an entry: the store refuses to open.
    #[test]
    fn a_damaged_log_refuses_to_open() {
        for file in ["hashes", "entries"] {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = Store::open(dir.path()).expect("open");
            let mut tree = CompactTree::new(SUITE);
            store
                .commit_blocking(append(&mut tree, "gulou", 3), Durability::Durable)
                .expect("commit");
            drop(store);
            let path = dir.path().join("logs").join("gulou").join(file);
            let mut bytes = std::fs::read(&path).expect("read");
            // The last hash (the root's subtree) or the last entry's text.
            let at = bytes.len() - 2;
            bytes[at] ^= 0x20;
            std::fs::write(&path, bytes).expect("write");
            // The writer thread of the dropped store may still hold sled's lock.
            let err = (0..50)
                .find_map(|_| match Store::open(dir.path()) {
                    Err(StoreError::Sled(_)) => {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        None
                    }
                    other => Some(other),
                })
                .expect("sled's lock is released")
                .expect_err("damaged");
            assert!(matches!(err, StoreError::Damaged { .. }), "{file}: {err}");
            assert!(err.to_string().contains("restores its own log"), "{err}");
        }
    }
}
