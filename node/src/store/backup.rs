//! Online backup and restore of the store, as the archive of
//! [`rongxin_protocol::backup`].
//!
//! **Backup** ([`Store::backup`]) runs beside the writer, which goes on
//! writing: it asks the writer to start a *journal* (from then on the
//! writer also appends each database write it applies to a file), reads
//! the whole database (the base, not a snapshot), then asks the writer for
//! the *end point*: the writer stops the journal between two groups and
//! answers with every log's published state. Base plus journal is the
//! database at the end point; each log's files cut at the end point's
//! commit point hold exactly the entries it counts. Ingest waits for the
//! writer only for the two requests, never for the copy.
//!
//! **Restore** ([`restore`]) unpacks an archive into a new data directory:
//! it checks every member against the manifest's digests, rebuilds the
//! database from base and journal, checks that each log state agrees with
//! the manifest, and runs the full check ([`super::check::full`]) on the
//! result before it moves it into place. The node then starts as after any
//! restart: restore protection fetches from peers whatever of its own log
//! they hold past the backup before it signs anything.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rongxin_protocol::backup::{
    self as archive, DB_BASE, DB_JOURNAL, DbOp, LOG_FILES, MANIFEST, Manifest, ManifestFile,
    ManifestLog,
};
use sha2::{Digest as _, Sha256};

use super::files::{self, Committed};
use super::writer::Command;
use super::{
    FORMAT_VERSION, Inner, LogState, P_LOG, P_META, Store, StoreError, StoreLimits, TREE, check,
    decode, prefixed,
};

/// Most bytes the journal may take: a backup during which the node wrote
/// more than this fails (and says so) rather than filling the disk.
pub const JOURNAL_MAX_BYTES: u64 = 4 << 30;
/// Database writes per batch when a restore rebuilds the database.
const RESTORE_BATCH: usize = 10_000;
/// Bytes a restore reads from a database member at a time.
const RESTORE_CHUNK: usize = 4 << 20;
/// Longest database record a restore waits for the rest of (no key or
/// value of the store comes near it).
const MAX_RECORD: usize = 64 << 20;

/// Why a backup or a restore failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another backup of this store is running.
    #[error("another backup of this node is running; wait for it to finish")]
    Running,
    /// The node wrote more than the journal may hold during the backup.
    #[error(
        "the node wrote more than {} MiB to its database during the backup; run it again at a quieter time",
        JOURNAL_MAX_BYTES >> 20
    )]
    JournalFull,
    /// A file could not be read or written.
    #[error("cannot {what} {path}: {error}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: String,
        /// The system's answer.
        error: io::Error,
    },
    /// Writing the archive failed (the reader went away, or its disk).
    #[error("cannot write the backup archive: {0}")]
    Output(io::Error),
    /// The archive is not a backup this release can restore.
    #[error("{0}")]
    Archive(String),
    /// The target directory already holds a store.
    #[error(
        "{0} already holds a store: restore into a new, empty data directory and point the node's data_dir at it"
    )]
    Occupied(String),
}

fn io_error(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BackupError {
    let path = path.display().to_string();
    move |error| BackupError::Io { what, path, error }
}

fn bad(why: impl Into<String>) -> BackupError {
    BackupError::Archive(why.into())
}

/// The database writes the writer makes while a backup runs, appended to a
/// file in the order they are applied.
#[derive(Debug)]
pub(super) struct Journal {
    path: PathBuf,
    out: BufWriter<File>,
    ops: u64,
    bytes: u64,
    failed: Option<String>,
    full: bool,
    scratch: Vec<u8>,
}

impl Journal {
    fn create(path: PathBuf) -> Result<Journal, BackupError> {
        let file = File::create(&path).map_err(io_error("create", &path))?;
        Ok(Journal {
            path,
            out: BufWriter::with_capacity(1 << 20, file),
            ops: 0,
            bytes: 0,
            failed: None,
            full: false,
            scratch: Vec::new(),
        })
    }

    /// Appends one write. A journal that cannot be written fails the
    /// backup, never the write itself.
    pub(super) fn record(&mut self, key: &[u8], value: Option<&[u8]>) {
        if self.failed.is_some() || self.full {
            return;
        }
        self.scratch.clear();
        match value {
            Some(v) => DbOp::Put(key, v),
            None => DbOp::Delete(key),
        }
        .encode(&mut self.scratch);
        self.bytes += self.scratch.len() as u64;
        if self.bytes > JOURNAL_MAX_BYTES {
            self.full = true;
            return;
        }
        self.ops += 1;
        if let Err(e) = self.out.write_all(&self.scratch) {
            self.failed = Some(format!("cannot write {}: {e}", self.path.display()));
        }
    }
}

/// What the writer answers at a backup's end point.
#[derive(Debug)]
pub(super) struct EndPoint {
    journal: Result<(u64, u64), BackupError>,
    logs: Vec<(String, LogState, PathBuf)>,
}

impl Inner {
    /// Starts journaling (the writer's side of [`Store::backup`]).
    pub(super) fn begin_journal(&self, path: PathBuf) -> Result<(), BackupError> {
        let mut slot = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_some() {
            return Err(BackupError::Running);
        }
        *slot = Some(Journal::create(path)?);
        Ok(())
    }

    /// Stops journaling and takes the end point (the writer's side). The
    /// published states are those of the last group written, whose writes
    /// are the journal's last.
    pub(super) fn end_journal(&self) -> EndPoint {
        let taken = self
            .journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let journal = match taken {
            None => Err(bad("the backup's journal was not running")),
            Some(j) if j.full => Err(BackupError::JournalFull),
            Some(mut j) => match j.failed.take() {
                Some(why) => Err(bad(why)),
                None => j
                    .out
                    .flush()
                    .map(|()| (j.ops, j.bytes))
                    .map_err(io_error("write", &j.path)),
            },
        };
        let logs = self
            .published
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(o, l)| (o.clone(), l.state.clone(), l.files.dir().to_owned()))
            .collect();
        EndPoint { journal, logs }
    }

    /// Whether writes are to be journaled.
    pub(super) fn journaling(&self) -> bool {
        self.journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Journals writes just applied to the database.
    pub(super) fn journal_writes<'a>(
        &self,
        writes: impl IntoIterator<Item = (&'a [u8], Option<&'a [u8]>)>,
    ) {
        if let Some(j) = self
            .journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            for (k, v) in writes {
                j.record(k, v);
            }
        }
    }
}

/// How far a backup or a restore is.
#[derive(Debug, Clone)]
pub enum Progress {
    /// Database keys read (backup) or written (restore) so far.
    Keys(u64),
    /// Archive bytes written (backup) or read (restore) so far.
    Bytes(u64),
    /// The restored store's full check: entries of `origin` checked so far.
    Check {
        /// The log.
        origin: String,
        /// Entries checked.
        done: u64,
        /// Entries in the log.
        total: u64,
    },
}

/// Ends the journal if the backup stops early, so that the writer never
/// journals for a backup nobody reads.
struct Session<'a> {
    store: &'a Store,
    dir: PathBuf,
    open: bool,
}

impl Session<'_> {
    fn end(&mut self) -> Result<EndPoint, BackupError> {
        self.open = false;
        Ok(self
            .store
            .ask_blocking(|reply| Command::BackupEnd { reply })?)
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self
                .store
                .ask_blocking(|reply| Command::BackupEnd { reply });
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A writer that hashes and counts what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Counts the archive's bytes for the progress report.
struct Counting<W, F> {
    inner: W,
    bytes: u64,
    report: F,
}

impl<W: Write, F: FnMut(Progress)> Write for Counting<W, F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let before = self.bytes >> 24;
        self.bytes += n as u64;
        if self.bytes >> 24 != before {
            (self.report)(Progress::Bytes(self.bytes));
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes what it reads.
struct HashingReader<R> {
    inner: R,
    hash: Sha256,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

fn header(path: &str, bytes: u64, taken_ms: i64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(bytes);
    h.set_mode(0o600);
    h.set_mtime(u64::try_from(taken_ms / 1000).unwrap_or(0));
    h.set_entry_type(tar::EntryType::Regular);
    // Paths are ASCII and short (checked names); set_path only fails on
    // names tar cannot hold.
    let _ = h.set_path(path);
    h.set_cksum();
    h
}

/// Appends `bytes` bytes of `from` as member `path`; its manifest line.
fn append_member(
    tar: &mut tar::Builder<impl Write>,
    path: &str,
    from: impl Read,
    bytes: u64,
    taken_ms: i64,
) -> Result<ManifestFile, BackupError> {
    let mut reader = HashingReader {
        inner: from.take(bytes),
        hash: Sha256::new(),
        bytes: 0,
    };
    tar.append(&header(path, bytes, taken_ms), &mut reader)
        .map_err(BackupError::Output)?;
    if reader.bytes != bytes {
        return Err(bad(format!(
            "{path}: read {} bytes where {bytes} were committed",
            reader.bytes
        )));
    }
    Ok(ManifestFile {
        path: path.to_owned(),
        bytes,
        sha256: hex::encode(reader.hash.finalize()),
    })
}

impl Store {
    /// Writes an online backup of the store to `out` (a tar archive; see
    /// the module docs) while the node goes on writing; answers its
    /// manifest. `member` and `version` are recorded in it. Blocks: call
    /// it from a thread that may block.
    pub fn backup(
        &self,
        out: impl Write,
        member: &str,
        version: &str,
        mut progress: impl FnMut(Progress),
    ) -> Result<Manifest, BackupError> {
        let data_dir = self
            .inner
            .logs_dir
            .parent()
            .unwrap_or(Path::new("."))
            .to_owned();
        // This backup's own directory: another backup refused meanwhile
        // must not touch it.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let dir = data_dir.join(format!(
            "backup-{}-{}-{}.partial",
            std::process::id(),
            crate::ingest::now_ms(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).map_err(io_error("create", &dir))?;
        let journal_path = dir.join("journal");
        let mut session = Session {
            store: self,
            dir: dir.clone(),
            open: false,
        };
        self.ask_blocking(|reply| Command::BackupBegin {
            journal: journal_path.clone(),
            reply,
        })??;
        // Only one backup runs: what other directories remain were left by
        // backups that died with their process.
        if let Ok(read) = fs::read_dir(&data_dir) {
            for e in read.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if name.starts_with("backup-") && name.ends_with(".partial") && e.path() != dir {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
        session.open = true;

        // The base: every key, read while the writer goes on.
        let base_path = dir.join("base");
        let mut base = Hashing {
            inner: BufWriter::with_capacity(
                1 << 20,
                File::create(&base_path).map_err(io_error("create", &base_path))?,
            ),
            hash: Sha256::new(),
            bytes: 0,
        };
        let mut keys = 0u64;
        let mut buf = Vec::new();
        for kv in self.inner.tree.iter() {
            let (k, v) = kv.map_err(StoreError::from)?;
            buf.clear();
            DbOp::Put(&k, &v).encode(&mut buf);
            base.write_all(&buf)
                .map_err(io_error("write", &base_path))?;
            keys += 1;
            if keys.is_multiple_of(100_000) {
                progress(Progress::Keys(keys));
            }
        }
        base.flush().map_err(io_error("write", &base_path))?;
        progress(Progress::Keys(keys));
        let base_bytes = base.bytes;
        drop(base);

        let end = session.end()?;
        let (journal_ops, journal_bytes) = end.journal?;
        let taken_ms = crate::ingest::now_ms();

        let mut tar = tar::Builder::new(Counting {
            inner: out,
            bytes: 0,
            report: &mut progress,
        });
        let mut files = Vec::new();
        for (path, file, bytes) in [
            (DB_BASE, &base_path, base_bytes),
            (DB_JOURNAL, &journal_path, journal_bytes),
        ] {
            let f = File::open(file).map_err(io_error("read", file))?;
            files.push(append_member(&mut tar, path, f, bytes, taken_ms)?);
        }
        let mut logs = Vec::new();
        for (origin, state, log_dir) in &end.logs {
            let name = log_dir
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| archive::is_log_dir(n))
                .ok_or_else(|| {
                    bad(format!(
                        "log directory {} has an unexpected name",
                        log_dir.display()
                    ))
                })?
                .to_owned();
            let committed = state.committed();
            let lengths = log_lengths(committed)?;
            for (file, bytes) in LOG_FILES.iter().zip(lengths) {
                let path = log_dir.join(file);
                let f = File::open(&path).map_err(io_error("read", &path))?;
                files.push(append_member(
                    &mut tar,
                    &format!("logs/{name}/{file}"),
                    f,
                    bytes,
                    taken_ms,
                )?);
            }
            logs.push(ManifestLog {
                origin: origin.clone(),
                dir: name,
                size: state.size,
                entry_bytes: state.entry_bytes,
                root: B64.encode(state.root),
                checkpoint: state.checkpoint.clone(),
            });
        }
        let manifest = Manifest {
            format: archive::FORMAT.to_owned(),
            store_format: FORMAT_VERSION,
            member: member.to_owned(),
            node_version: version.to_owned(),
            taken_ms,
            base_keys: keys,
            journal_ops,
            logs,
            files,
        };
        let text = serde_json::to_vec_pretty(&manifest).map_err(|e| bad(e.to_string()))?;
        tar.append(
            &header(MANIFEST, text.len() as u64, taken_ms),
            text.as_slice(),
        )
        .map_err(BackupError::Output)?;
        let mut out = tar.into_inner().map_err(BackupError::Output)?;
        out.flush().map_err(BackupError::Output)?;
        let total = out.bytes;
        (out.report)(Progress::Bytes(total));
        Ok(manifest)
    }
}

/// Bytes of each of [`LOG_FILES`] that `committed` counts.
fn log_lengths(committed: Committed) -> Result<[u64; 4], BackupError> {
    let hashes = committed
        .hashes()
        .map_err(|e| bad(format!("log of {} entries: {e}", committed.size)))?;
    Ok([
        committed.entry_bytes,
        8 * committed.size,
        64 * committed.size,
        32 * hashes,
    ])
}

/// Restores the archive read from `from` into `data_dir`, which must not
/// hold a store, and checks the result whole. Nothing is left in
/// `data_dir` when it fails.
pub fn restore(
    from: impl Read,
    data_dir: &Path,
    mut progress: impl FnMut(Progress),
) -> Result<Manifest, BackupError> {
    for part in ["store", "logs"] {
        let p = data_dir.join(part);
        if p.exists() {
            return Err(BackupError::Occupied(data_dir.display().to_string()));
        }
    }
    super::disk::private_dir(data_dir).map_err(io_error("create", data_dir))?;
    let stage = data_dir.join("restore.partial");
    let _ = fs::remove_dir_all(&stage);
    let result = restore_into(from, &stage, &mut progress).and_then(|manifest| {
        for part in ["store", "logs"] {
            let (from, to) = (stage.join(part), data_dir.join(part));
            fs::rename(&from, &to).map_err(io_error("move into place", &to))?;
        }
        Ok(manifest)
    });
    let _ = fs::remove_dir_all(&stage);
    if result.is_err() {
        for part in ["store", "logs"] {
            let _ = fs::remove_dir_all(data_dir.join(part));
        }
    }
    result
}

fn restore_into(
    from: impl Read,
    stage: &Path,
    progress: &mut impl FnMut(Progress),
) -> Result<Manifest, BackupError> {
    super::disk::private_dir(stage).map_err(io_error("create", stage))?;
    let unpacked = stage.join("unpacked");
    super::disk::private_dir(&unpacked).map_err(io_error("create", &unpacked))?;
    let mut archive = tar::Archive::new(from);
    let mut seen: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut manifest: Option<Manifest> = None;
    let mut read = 0u64;
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("the archive is damaged: {e}")))?;
        let path = entry
            .path()
            .ok()
            .and_then(|p| p.to_str().map(str::to_owned))
            .ok_or_else(|| bad("a member has a path that is not UTF-8"))?;
        if manifest.is_some() {
            return Err(bad(format!(
                "member {path} follows {MANIFEST}, which must be last"
            )));
        }
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(bad(format!("member {path} is not a regular file")));
        }
        if path == MANIFEST {
            let mut text = Vec::new();
            (&mut entry)
                .take(archive::MAX_MANIFEST_BYTES + 1)
                .read_to_end(&mut text)
                .map_err(|e| bad(format!("cannot read {MANIFEST}: {e}")))?;
            if text.len() as u64 > archive::MAX_MANIFEST_BYTES {
                return Err(bad(format!(
                    "{MANIFEST} is larger than {} bytes: not a Rongxin backup",
                    archive::MAX_MANIFEST_BYTES
                )));
            }
            let m: Manifest = serde_json::from_slice(&text)
                .map_err(|e| bad(format!("{MANIFEST} does not parse: {e}")))?;
            manifest = Some(m);
            continue;
        }
        if !archive::is_member_path(&path) {
            return Err(bad(format!("unexpected member '{path}'")));
        }
        if seen.contains_key(&path) {
            return Err(bad(format!("member {path} appears twice")));
        }
        let target = unpacked.join(&path);
        if let Some(parent) = target.parent() {
            super::disk::private_dir(parent).map_err(io_error("create", parent))?;
        }
        let mut out = Hashing {
            inner: BufWriter::with_capacity(
                1 << 20,
                File::create(&target).map_err(io_error("create", &target))?,
            ),
            hash: Sha256::new(),
            bytes: 0,
        };
        io::copy(&mut entry, &mut out).map_err(|e| bad(format!("cannot unpack {path}: {e}")))?;
        out.flush().map_err(io_error("write", &target))?;
        read += out.bytes;
        progress(Progress::Bytes(read));
        seen.insert(path, (out.bytes, hex::encode(out.hash.finalize())));
    }
    let manifest = manifest.ok_or_else(|| {
        bad(format!(
            "the archive has no {MANIFEST}: it is cut short or not a Rongxin backup"
        ))
    })?;
    manifest
        .check()
        .map_err(|why| bad(format!("{MANIFEST} {why}")))?;
    if manifest.store_format != FORMAT_VERSION {
        return Err(bad(format!(
            "the backup holds a store of format {}; this release restores format {FORMAT_VERSION}: restore it with the release that made it ({}), then upgrade",
            manifest.store_format, manifest.node_version
        )));
    }
    for f in &manifest.files {
        match seen.remove(&f.path) {
            None => return Err(bad(format!("member {} is missing", f.path))),
            Some((bytes, sha)) if bytes != f.bytes || sha != f.sha256 => {
                return Err(bad(format!(
                    "member {} does not match the manifest ({bytes} bytes, SHA-256 {sha}; the manifest says {} bytes, {})",
                    f.path, f.bytes, f.sha256
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = seen.keys().next() {
        return Err(bad(format!("member {extra} is not in the manifest")));
    }

    // The database: the base, then the journal over it.
    let db_path = stage.join("store");
    {
        let db = sled::Config::new()
            .path(&db_path)
            .flush_every_ms(None)
            .open()
            .map_err(StoreError::from)?;
        let tree = db.open_tree(TREE).map_err(StoreError::from)?;
        let mut written = 0u64;
        for member in [DB_BASE, DB_JOURNAL] {
            let path = unpacked.join(member);
            let mut file = File::open(&path).map_err(io_error("read", &path))?;
            let mut batch = sled::Batch::default();
            let mut n = 0;
            // Read a chunk at a time: the base of a large store does not
            // fit in memory. `pending` holds what the last chunk cut short.
            let mut pending: Vec<u8> = Vec::new();
            let mut chunk = vec![0u8; RESTORE_CHUNK];
            let mut at = 0usize;
            loop {
                let read = file.read(&mut chunk).map_err(io_error("read", &path))?;
                pending.extend_from_slice(&chunk[..read]);
                let mut used = 0;
                while let Some((op, _)) = match DbOp::decode(&pending[used..], at) {
                    Ok(next) => next,
                    // Cut short by the chunk: the rest comes with the next.
                    Err(archive::DbOpError::Truncated(_))
                        if read > 0 && pending.len() - used <= MAX_RECORD =>
                    {
                        None
                    }
                    Err(e) => return Err(bad(format!("{member} {e}"))),
                } {
                    used += op.encoded_len();
                    at += op.encoded_len();
                    match op {
                        DbOp::Put(k, v) => batch.insert(k, v),
                        DbOp::Delete(k) => batch.remove(k),
                    }
                    n += 1;
                    written += 1;
                    if n == RESTORE_BATCH {
                        tree.apply_batch(std::mem::take(&mut batch))
                            .map_err(StoreError::from)?;
                        n = 0;
                        progress(Progress::Keys(written));
                    }
                }
                pending.drain(..used);
                if read == 0 {
                    break;
                }
            }
            tree.apply_batch(batch).map_err(StoreError::from)?;
        }
        progress(Progress::Keys(written));
        let format = prefixed(P_META, b"format");
        let found = tree
            .get(&format)
            .map_err(StoreError::from)?
            .and_then(|v| v.as_ref().try_into().ok().map(u32::from_be_bytes));
        if found != Some(FORMAT_VERSION) {
            return Err(bad(format!(
                "the restored database says format {found:?}, the manifest {FORMAT_VERSION}"
            )));
        }
        // Each log state must be the manifest's end point, and no other log.
        let mut states = BTreeMap::new();
        for kv in tree.scan_prefix([P_LOG]) {
            let (k, v) = kv.map_err(StoreError::from)?;
            let state: LogState = decode(&v, "log state", &k)?;
            states.insert(String::from_utf8_lossy(&k[1..]).into_owned(), state);
        }
        for log in &manifest.logs {
            let agrees = states.remove(&log.origin).is_some_and(|s| {
                s.size == log.size
                    && s.entry_bytes == log.entry_bytes
                    && B64.encode(s.root) == log.root
                    && s.checkpoint == log.checkpoint
            });
            if !agrees {
                return Err(bad(format!(
                    "the restored database's state of log {} is not the manifest's (size {})",
                    log.origin, log.size
                )));
            }
        }
        if let Some(origin) = states.keys().next() {
            return Err(bad(format!(
                "the restored database has a log {origin} the manifest does not list"
            )));
        }
        db.flush().map_err(StoreError::from)?;
    }

    // The logs' files, where the store keeps them.
    let logs_dir = stage.join("logs");
    super::disk::private_dir(&logs_dir).map_err(io_error("create", &logs_dir))?;
    for log in &manifest.logs {
        let dir = files::origin_dir(&logs_dir, &log.origin);
        if dir.file_name().and_then(|n| n.to_str()) != Some(log.dir.as_str()) {
            return Err(bad(format!(
                "log {} is archived under '{}', not where this release keeps it",
                log.origin, log.dir
            )));
        }
        let from = unpacked.join("logs").join(&log.dir);
        fs::rename(&from, &dir).map_err(io_error("move into place", &dir))?;
    }
    fs::remove_dir_all(&unpacked).map_err(io_error("remove", &unpacked))?;

    // The whole check, as `rongxin-node verify` runs it.
    let store = Store::open_unchecked(stage, StoreLimits::default())?;
    check::full(&store, &mut |origin, done, total| {
        progress(Progress::Check {
            origin: origin.to_owned(),
            done,
            total,
        });
    })?;
    drop(store);
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Durability, QueryLogRow, WriteBatch};

    fn dump(store: &Store) -> Vec<(Vec<u8>, Vec<u8>)> {
        store
            .inner
            .tree
            .iter()
            .map(|kv| {
                let (k, v) = kv.expect("read");
                (k.to_vec(), v.to_vec())
            })
            .filter(|(k, _)| k.as_slice() != prefixed(P_META, b"probe").as_slice())
            .collect()
    }

    fn row(n: u64) -> QueryLogRow {
        QueryLogRow::new(
            format!("q-{n}"),
            i64::try_from(n).expect("small"),
            "admin:test (token t)",
            "127.0.0.1",
            "91350100M000100Y43",
            "test",
            "government",
            std::iter::empty(),
        )
    }

    /// Writes made while the base is read (an overwrite, removals, new
    /// keys) reach the restored store through the journal: it equals the
    /// live store at the end point, key for key. A second backup meanwhile
    /// is refused.
    #[test]
    fn the_journal_carries_writes_made_during_the_base_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("live")).expect("open");
        let mut b = WriteBatch::default();
        b.set_halted("mawei", true);
        b.set_forward_cursor("gulou", 5);
        store
            .commit_blocking(b, Durability::Durable)
            .expect("commit");
        for n in 0..5 {
            store
                .log_query_blocking((1000 + n, 0), row(1000 + n))
                .expect("query row");
        }
        let before = dump(&store);
        let mut archive = Vec::new();
        let mut wrote = false;
        let manifest = store
            .backup(&mut archive, "gulou", "test", |p| {
                if matches!(p, Progress::Keys(_)) && !wrote {
                    wrote = true;
                    let mut b = WriteBatch::default();
                    b.set_halted("mawei", false);
                    b.set_halted("fuqing", true);
                    b.set_forward_cursor("gulou", 9);
                    store
                        .commit_blocking(b, Durability::Applied)
                        .expect("commit during the backup");
                    let pruned = store
                        .prune_query_log(crate::ingest::now_ms())
                        .expect("prune");
                    assert_eq!(pruned, 5);
                    let again = store.backup(Vec::new(), "gulou", "test", |_| {});
                    assert!(matches!(again, Err(BackupError::Running)), "{again:?}");
                }
            })
            .expect("backup");
        assert!(wrote);
        assert_eq!(manifest.base_keys, before.len() as u64);
        assert!(manifest.journal_ops >= 8, "{}", manifest.journal_ops);
        let after = dump(&store);
        assert_ne!(before, after);

        let target = dir.path().join("restored");
        restore(archive.as_slice(), &target, |_| {}).expect("restore");
        let restored = Store::open(&target).expect("open the restored store");
        assert_eq!(dump(&restored), after);
        assert!(!target.join("restore.partial").exists());
        // The journal is off again: a later backup starts afresh.
        store
            .backup(Vec::new(), "gulou", "test", |_| {})
            .expect("a second backup");
    }

    /// A base larger than the chunk a restore reads at a time restores
    /// whole: records cut by a chunk's end are completed by the next.
    #[test]
    fn a_base_of_many_chunks_restores_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("live")).expect("open");
        let mut b = WriteBatch::default();
        let origin = "o".repeat(90);
        for i in 0..60_000 {
            b.put_key_start(&origin, i, i as u64);
        }
        store
            .commit_blocking(b, Durability::Durable)
            .expect("commit");
        let mut archive = Vec::new();
        let manifest = store
            .backup(&mut archive, "gulou", "test", |_| {})
            .expect("backup");
        let base = manifest.file(DB_BASE).expect("db/base").bytes;
        assert!(base > RESTORE_CHUNK as u64, "{base} bytes");
        let target = dir.path().join("restored");
        restore(archive.as_slice(), &target, |_| {}).expect("restore");
        let restored = Store::open(&target).expect("open the restored store");
        assert_eq!(dump(&restored), dump(&store));
    }

    /// A damaged or incomplete archive is refused with the member named,
    /// and leaves no store behind.
    #[test]
    fn damaged_archives_are_refused_and_leave_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("live")).expect("open");
        let mut b = WriteBatch::default();
        b.set_forward_cursor("gulou", 5);
        store
            .commit_blocking(b, Durability::Durable)
            .expect("commit");
        let mut archive = Vec::new();
        store
            .backup(&mut archive, "gulou", "test", |_| {})
            .expect("backup");
        // Flip one byte of db/base's content (its data starts at 512).
        let mut flipped = archive.clone();
        flipped[512 + 3] ^= 1;
        let target = dir.path().join("a");
        let err = restore(flipped.as_slice(), &target, |_| {}).expect_err("refused");
        assert!(err.to_string().contains("db/base"), "{err}");
        assert!(!target.join("store").exists() && !target.join("logs").exists());
        // Cut before the manifest.
        let cut = &archive[..archive.len() / 2];
        let err = restore(cut, &target, |_| {}).expect_err("refused");
        assert!(
            err.to_string().contains("damaged") || err.to_string().contains("rongxin-backup.json"),
            "{err}"
        );
        assert!(!target.join("store").exists());
        // Not a tar archive at all.
        let err = restore(&b"hello"[..], &target, |_| {}).expect_err("refused");
        assert!(matches!(err, BackupError::Archive(_)), "{err}");
        // A good archive restores; over it, a second restore is refused.
        restore(archive.as_slice(), &target, |_| {}).expect("restore");
        let err = restore(archive.as_slice(), &target, |_| {}).expect_err("occupied");
        assert!(matches!(err, BackupError::Occupied(_)), "{err}");
    }
}
