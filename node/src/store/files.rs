//! One origin's log on disk, as [C2SP tlog-tiles](https://c2sp.org/tlog-tiles):
//! four append-only files in `<data_dir>/logs/<origin>/`.
//!
//! | file | content | entry `n` / hash `i` at |
//! | --- | --- | --- |
//! | `entries` | each entry as in an entry bundle: `u16` big-endian length, then the entry bytes | `offsets[n]` |
//! | `offsets` | `u64` big-endian: where each entry starts in `entries` | `8·n` |
//! | `signatures` | each entry's 64-byte signature | `64·n` |
//! | `hashes` | every Merkle hash, in tlog storage-index order (all levels) | `32·i` |
//!
//! An entry bundle `tile/entries/N[.p/W]` is therefore one contiguous range
//! of `entries`, a signature bundle one range of `signatures`, and a hash
//! tile `tile/L/N[.p/W]` the level-`8L` hashes `256N..256N+W` of `hashes`
//! (a contiguous range at level 0, one read per hash above). Nothing is
//! ever rewritten: files only grow, by positional writes at the committed
//! lengths, so a failed or torn append leaves bytes past them that the next
//! append overwrites and the next open cuts off.
//!
//! **Commit order.** The writer appends to the files and syncs them *before*
//! the database records the new size (the commit point, [`Committed`]). At
//! open, everything past the committed lengths is discarded; a file shorter
//! than them means lost or damaged data, and the log refuses to open.
//!
//! Readers use positional reads (`pread`) on shared handles and never read
//! past the published size, so they need no lock against the writer.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use rongxin_protocol::entry::SignedEntry;
use rongxin_protocol::merkle::{self, Hash, HashReader, MerkleError, Suite};

use super::StoreError;
use super::faults::{Faults, Point};

/// Entries per tile, and hashes per hash tile (tlog-tiles' fixed height 8).
pub const TILE_WIDTH: u64 = 256;
const SIG: u64 = 64;

/// The committed extent of one origin's files: what the database's commit
/// point names. Everything a reader may see lies within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Committed {
    /// Entries.
    pub size: u64,
    /// Bytes of `entries` those entries take.
    pub entry_bytes: u64,
}

impl Committed {
    /// Hashes stored for `size` entries.
    pub fn hashes(&self) -> Result<u64, MerkleError> {
        merkle::stored_hash_count(self.size)
    }
}

/// The open files of one origin's log.
#[derive(Debug)]
pub struct LogFiles {
    dir: PathBuf,
    /// The suite of the log's entries, read from entry 0's tag.
    suite: std::sync::OnceLock<Suite>,
    entries: File,
    offsets: File,
    signatures: File,
    hashes: File,
}

/// Which of a log's files, for errors.
#[derive(Debug, Clone, Copy)]
enum Which {
    Entries,
    Offsets,
    Signatures,
    Hashes,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Entries => "entries",
            Which::Offsets => "offsets",
            Which::Signatures => "signatures",
            Which::Hashes => "hashes",
        }
    }
}

/// The directory of `origin`'s files under `logs`. Member ids are
/// lower-case letters, digits and '-' (docs/protocol.md §6), safe as a
/// file name; anything else is hex-encoded so that no name escapes `logs`.
pub fn origin_dir(logs: &Path, origin: &str) -> PathBuf {
    let plain = !origin.is_empty()
        && origin.len() <= 64
        && origin
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if plain {
        logs.join(origin)
    } else {
        logs.join(format!("x-{}", hex::encode(origin)))
    }
}

impl LogFiles {
    /// Opens (creating if absent) the files in `dir` and cuts them back to
    /// `committed`: bytes past it were written by an append whose commit
    /// never happened. Fails when a file is shorter than `committed`.
    pub fn open(dir: &Path, committed: Committed) -> Result<LogFiles, StoreError> {
        super::disk::private_dir(dir).map_err(|error| StoreError::Permissions {
            path: dir.display().to_string(),
            error,
        })?;
        let open = |which: Which| -> Result<File, StoreError> {
            let path = dir.join(which.name());
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| io_error(&path, "open", e))
        };
        let files = LogFiles {
            dir: dir.to_owned(),
            suite: std::sync::OnceLock::new(),
            entries: open(Which::Entries)?,
            offsets: open(Which::Offsets)?,
            signatures: open(Which::Signatures)?,
            hashes: open(Which::Hashes)?,
        };
        // A commit point no file can reach is damage, not an overflow.
        let too_large = || StoreError::Damaged {
            path: dir.display().to_string(),
            why: format!("the commit point counts {} entries", committed.size),
        };
        let want = [
            (Which::Entries, committed.entry_bytes),
            (
                Which::Offsets,
                committed.size.checked_mul(8).ok_or_else(too_large)?,
            ),
            (
                Which::Signatures,
                committed.size.checked_mul(SIG).ok_or_else(too_large)?,
            ),
            (
                Which::Hashes,
                committed.hashes()?.checked_mul(32).ok_or_else(too_large)?,
            ),
        ];
        for (which, len) in want {
            let file = files.file(which);
            let path = files.path(which);
            let have = file
                .metadata()
                .map_err(|e| io_error(&path, "stat", e))?
                .len();
            if have < len {
                return Err(StoreError::Damaged {
                    path: path.display().to_string(),
                    why: format!(
                        "{have} bytes, but the store's commit point counts {len} ({} entries)",
                        committed.size
                    ),
                });
            }
            if have > len {
                tracing::info!(file = %path.display(), committed = len, found = have, "discarding an append that was never committed");
                file.set_len(len)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| io_error(&path, "truncate", e))?;
            }
        }
        Ok(files)
    }

    fn file(&self, which: Which) -> &File {
        match which {
            Which::Entries => &self.entries,
            Which::Offsets => &self.offsets,
            Which::Signatures => &self.signatures,
            Which::Hashes => &self.hashes,
        }
    }

    fn path(&self, which: Which) -> PathBuf {
        self.dir.join(which.name())
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `entries` (the log's entries `at.size..`) and `hashes` (the
    /// stored hashes they add, in storage-index order) past `at`, and
    /// returns the extent once they are in. Not durable until [`sync`].
    ///
    /// [`sync`]: LogFiles::sync
    pub fn append(
        &self,
        at: Committed,
        entries: &[SignedEntry],
        hashes: &[(u64, Hash)],
        faults: &Faults,
    ) -> Result<Committed, StoreError> {
        let first_hash = at.hashes()?;
        let mut next = first_hash;
        let mut hash_bytes = Vec::with_capacity(hashes.len() * 32);
        for (i, h) in hashes {
            if *i != next {
                return Err(StoreError::Damaged {
                    path: self.path(Which::Hashes).display().to_string(),
                    why: format!("an append gave hash {i} where {next} comes next"),
                });
            }
            hash_bytes.extend_from_slice(h);
            next += 1;
        }
        let after = Committed {
            size: at.size + entries.len() as u64,
            entry_bytes: at.entry_bytes
                + entries
                    .iter()
                    .map(|e| 2 + e.bytes.len() as u64)
                    .sum::<u64>(),
        };
        if next != after.hashes()? {
            return Err(StoreError::Damaged {
                path: self.path(Which::Hashes).display().to_string(),
                why: format!(
                    "an append of {} entries gave {} hashes, not {}",
                    entries.len(),
                    next - first_hash,
                    after.hashes()? - first_hash
                ),
            });
        }
        let mut data = Vec::with_capacity((after.entry_bytes - at.entry_bytes) as usize);
        let mut offsets = Vec::with_capacity(entries.len() * 8);
        let mut sigs = Vec::with_capacity(entries.len() * SIG as usize);
        for e in entries {
            let len = u16::try_from(e.bytes.len()).map_err(|_| StoreError::Damaged {
                path: self.path(Which::Entries).display().to_string(),
                why: format!(
                    "an entry of {} bytes does not fit an entry bundle's 16-bit length",
                    e.bytes.len()
                ),
            })?;
            offsets.extend_from_slice(&(at.entry_bytes + data.len() as u64).to_be_bytes());
            data.extend_from_slice(&len.to_be_bytes());
            data.extend_from_slice(&e.bytes);
            sigs.extend_from_slice(&e.signature);
        }
        self.write(Which::Entries, at.entry_bytes, &data, faults)?;
        self.write(Which::Offsets, at.size * 8, &offsets, faults)?;
        self.write(Which::Signatures, at.size * SIG, &sigs, faults)?;
        self.write(Which::Hashes, first_hash * 32, &hash_bytes, faults)?;
        Ok(after)
    }

    fn write(&self, which: Which, at: u64, data: &[u8], faults: &Faults) -> Result<(), StoreError> {
        if data.is_empty() {
            return Ok(());
        }
        faults
            .check(Point::FileWrite)
            .and_then(|()| self.file(which).write_all_at(data, at))
            .map_err(|e| io_error(&self.path(which), "write", e))
    }

    /// Makes what was appended durable.
    pub fn sync(&self, faults: &Faults) -> Result<(), StoreError> {
        for which in [
            Which::Entries,
            Which::Offsets,
            Which::Signatures,
            Which::Hashes,
        ] {
            faults
                .check(Point::FileSync)
                .and_then(|()| self.file(which).sync_data())
                .map_err(|e| io_error(&self.path(which), "sync", e))?;
        }
        Ok(())
    }

    fn read(&self, which: Which, at: u64, len: u64) -> Result<Vec<u8>, StoreError> {
        let mut buf = vec![0; usize::try_from(len).unwrap_or(usize::MAX)];
        self.file(which)
            .read_exact_at(&mut buf, at)
            .map_err(|e| io_error(&self.path(which), "read", e))?;
        Ok(buf)
    }

    fn offset(&self, n: u64, extent: Committed) -> Result<u64, StoreError> {
        if n == extent.size {
            return Ok(extent.entry_bytes);
        }
        let b = self.read(Which::Offsets, n * 8, 8)?;
        let off = u64::from_be_bytes(b.try_into().unwrap_or([0xff; 8]));
        if off > extent.entry_bytes {
            return Err(self.damaged(
                Which::Offsets,
                format!("entry {n} starts at {off}, past the committed end"),
            ));
        }
        Ok(off)
    }

    fn damaged(&self, which: Which, why: String) -> StoreError {
        StoreError::Damaged {
            path: self.path(which).display().to_string(),
            why,
        }
    }

    /// The bytes of entries `from..to` as they lie in `entries`: the entry
    /// bundle form (each entry preceded by its `u16` length).
    pub fn bundle(&self, from: u64, to: u64, extent: Committed) -> Result<Vec<u8>, StoreError> {
        if from > to || to > extent.size {
            return Err(StoreError::Merkle(MerkleError::IndexOutOfRange {
                index: to.saturating_sub(1),
                size: extent.size,
            }));
        }
        let start = self.offset(from, extent)?;
        let end = self.offset(to, extent)?;
        if end < start {
            return Err(self.damaged(
                Which::Offsets,
                format!("entry {to} starts before entry {from}"),
            ));
        }
        self.read(Which::Entries, start, end - start)
    }

    /// The signatures of entries `from..to`, 64 bytes each.
    pub fn signatures(&self, from: u64, to: u64, extent: Committed) -> Result<Vec<u8>, StoreError> {
        if from > to || to > extent.size {
            return Err(StoreError::Merkle(MerkleError::IndexOutOfRange {
                index: to.saturating_sub(1),
                size: extent.size,
            }));
        }
        self.read(Which::Signatures, from * SIG, (to - from) * SIG)
    }

    /// Entries `from..to` with their signatures, each checked against its
    /// stored leaf hash: a damaged entry is reported, never returned.
    pub fn entries(
        &self,
        from: u64,
        to: u64,
        extent: Committed,
    ) -> Result<Vec<SignedEntry>, StoreError> {
        if from == to {
            return Ok(Vec::new());
        }
        let bundle = self.checked_bundle(from, to, extent)?;
        let sigs = self.signatures(from, to, extent)?;
        split_bundle(&bundle)
            .unwrap_or_default()
            .into_iter()
            .zip(sigs.chunks_exact(SIG as usize))
            .map(|(bytes, sig)| {
                Ok(SignedEntry {
                    bytes: bytes.to_vec(),
                    signature: sig
                        .try_into()
                        .map_err(|_| self.damaged(Which::Signatures, "a short signature".into()))?,
                })
            })
            .collect()
    }

    /// The entry bundle of entries `from..to` (see [`LogFiles::bundle`]),
    /// each entry checked against its stored leaf hash: a damaged entry is
    /// reported, never returned.
    pub fn checked_bundle(
        &self,
        from: u64,
        to: u64,
        extent: Committed,
    ) -> Result<Vec<u8>, StoreError> {
        if from == to {
            return Ok(Vec::new());
        }
        let suite = self.suite(extent)?;
        let bundle = self.bundle(from, to, extent)?;
        let entries = split_bundle(&bundle).ok_or_else(|| {
            self.damaged(
                Which::Entries,
                format!("entries {from}..{to} do not parse as an entry bundle"),
            )
        })?;
        if entries.len() as u64 != to - from {
            return Err(self.damaged(
                Which::Entries,
                format!(
                    "entries {from}..{to} hold {} entries, not {}",
                    entries.len(),
                    to - from
                ),
            ));
        }
        let reader = self.reader(suite, extent);
        let indexes: Vec<u64> = (from..to)
            .map(|n| merkle::stored_hash_index(0, n))
            .collect::<Result<_, _>>()?;
        let leaves = reader.read_hashes(&indexes)?;
        if let Some(n) = entries
            .iter()
            .zip(leaves)
            .zip(from..)
            .find_map(|((bytes, leaf), n)| (merkle::leaf_hash(suite, bytes) != leaf).then_some(n))
        {
            return Err(self.damaged(
                Which::Entries,
                format!("entry {n} does not hash to its stored leaf hash"),
            ));
        }
        Ok(bundle)
    }

    /// The suite of the log's entries (from entry 0's tag; the log must
    /// hold an entry).
    pub fn suite(&self, extent: Committed) -> Result<Suite, StoreError> {
        if let Some(s) = self.suite.get() {
            return Ok(*s);
        }
        let first = self.bundle(0, 1, extent)?;
        let suite = split_bundle(&first)
            .and_then(|b| b.first().copied())
            .ok_or_else(|| self.damaged(Which::Entries, "entry 0 does not parse".into()))
            .and_then(|bytes| {
                rongxin_protocol::entry::Entry::suite_of(bytes)
                    .map_err(|e| self.damaged(Which::Entries, format!("entry 0: {e}")))
            })?;
        Ok(*self.suite.get_or_init(|| suite))
    }

    /// The level-`8·level` hashes `256·index .. 256·index + width`: the hash
    /// tile `tile/<level>/<index>[.p/<width>]`.
    pub fn hash_tile(
        &self,
        level: u8,
        index: u64,
        width: u64,
        suite: Suite,
        extent: Committed,
    ) -> Result<Vec<u8>, StoreError> {
        let tree_level = level
            .checked_mul(8)
            .filter(|l| *l < 64)
            .ok_or(StoreError::Merkle(MerkleError::StorageIndexOverflow {
                level,
                n: index,
            }))?;
        let first = index.checked_mul(TILE_WIDTH).ok_or(StoreError::Merkle(
            MerkleError::StorageIndexOverflow { level, n: index },
        ))?;
        let indexes: Vec<u64> = (first..first + width)
            .map(|n| merkle::stored_hash_index(tree_level, n))
            .collect::<Result<_, _>>()?;
        let hashes = self.reader(suite, extent).read_hashes(&indexes)?;
        Ok(hashes.concat())
    }

    /// A reader of the stored hashes within `extent`.
    pub fn reader(&self, suite: Suite, extent: Committed) -> FileHashes<'_> {
        self.reader_of(suite, extent.hashes().unwrap_or(0))
    }

    /// A reader of the first `count` stored hashes.
    pub fn reader_of(&self, suite: Suite, count: u64) -> FileHashes<'_> {
        FileHashes {
            files: self,
            suite,
            count,
        }
    }

    /// Bytes the four files take.
    pub fn disk_bytes(&self) -> u64 {
        [&self.entries, &self.offsets, &self.signatures, &self.hashes]
            .iter()
            .filter_map(|f| f.metadata().ok())
            .map(|m| m.len())
            .sum()
    }
}

/// Splits an entry bundle into its entries; `None` when it does not parse.
pub fn split_bundle(bundle: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut rest = bundle;
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return None;
        }
        let (entry, tail) = tail.split_at(len);
        out.push(entry);
        rest = tail;
    }
    Some(out)
}

/// Reads stored hashes from a log's `hashes` file.
#[derive(Debug, Clone, Copy)]
pub struct FileHashes<'a> {
    files: &'a LogFiles,
    suite: Suite,
    /// Hashes within the committed extent.
    count: u64,
}

/// Sorted indexes this close together are read in one go.
const COALESCE: u64 = 64;

impl HashReader for FileHashes<'_> {
    type Error = StoreError;

    fn suite(&self) -> Suite {
        self.suite
    }

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StoreError> {
        let mut out = vec![[0u8; 32]; indexes.len()];
        let mut order: Vec<usize> = (0..indexes.len()).collect();
        order.sort_unstable_by_key(|&k| indexes[k]);
        let mut k = 0;
        while k < order.len() {
            let start = indexes[order[k]];
            if start >= self.count {
                return Err(StoreError::Merkle(MerkleError::MissingHash {
                    index: start,
                }));
            }
            // Extend the run while the next index is close by.
            let mut end = k + 1;
            while end < order.len()
                && indexes[order[end]] < self.count
                && indexes[order[end]] - indexes[order[end - 1]] <= COALESCE
            {
                end += 1;
            }
            let last = indexes[order[end - 1]];
            let buf = self
                .files
                .read(Which::Hashes, start * 32, (last - start + 1) * 32)?;
            for &slot in &order[k..end] {
                let off = ((indexes[slot] - start) * 32) as usize;
                out[slot].copy_from_slice(&buf[off..off + 32]);
            }
            k = end;
        }
        Ok(out)
    }
}

fn io_error(path: &Path, what: &str, error: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        what: what.to_owned(),
        error,
    }
}

#[cfg(test)]
mod tests {
    use rongxin_protocol::merkle::{CompactTree, MemoryHashes, leaf_hash};

    use super::*;

    fn append_ok(
        files: &LogFiles,
        at: Committed,
        entries: &[SignedEntry],
        hashes: &[(u64, Hash)],
    ) -> Result<Committed, StoreError> {
        files.append(at, entries, hashes, &Faults::default())
    }

    /// Entry-like bytes: the suite's tag, then text (the files read only the tag).
    fn entry(n: u64) -> SignedEntry {
        let mut bytes = rongxin_protocol::entry::entry_tag(Suite::Ed25519Sha256).to_vec();
        bytes.extend(format!("entry {n} {}", "x".repeat((n % 97) as usize)).into_bytes());
        SignedEntry {
            bytes,
            signature: [n as u8; 64],
        }
    }

    /// Appends of assorted sizes read back as entries, bundles, signatures
    /// and hash tiles equal to what an in-memory tree holds; bytes past the
    /// commit point are cut at the next open; a short file refuses to open.
    #[test]
    fn appends_read_back_and_uncommitted_tails_are_cut() {
        let dir = tempfile::tempdir().expect("temp dir");
        let suite = Suite::Ed25519Sha256;
        let files = LogFiles::open(dir.path(), Committed::default()).expect("open");
        let mut tree = CompactTree::new(suite);
        let mut mem = MemoryHashes::new(suite);
        let mut at = Committed::default();
        let mut all = Vec::new();
        for chunk in [1u64, 300, 7, 256, 1000] {
            let entries: Vec<SignedEntry> = (at.size..at.size + chunk).map(entry).collect();
            let mut hashes = Vec::new();
            for e in &entries {
                let leaf = leaf_hash(suite, &e.bytes);
                hashes.extend(tree.append(leaf).expect("append"));
                mem.push_leaf(leaf).expect("push");
            }
            at = append_ok(&files, at, &entries, &hashes).expect("append");
            all.extend(entries);
        }
        files.sync(&Faults::default()).expect("sync");
        assert_eq!(at.size, all.len() as u64);
        let got = files.entries(0, at.size, at).expect("entries");
        assert_eq!(got, all);
        let reader = files.reader(suite, at);
        assert_eq!(
            merkle::tree_root(at.size, &reader).expect("root"),
            tree.root()
        );
        // A full level-0 tile and the partial one, against the leaves.
        let leaves: Vec<Hash> = all.iter().map(|e| leaf_hash(suite, &e.bytes)).collect();
        let tile = files.hash_tile(0, 1, 256, suite, at).expect("tile");
        assert_eq!(tile, leaves[256..512].concat());
        let w = at.size % 256;
        let tile = files
            .hash_tile(0, at.size / 256, w, suite, at)
            .expect("partial");
        assert_eq!(tile, leaves[(at.size - w) as usize..].concat());
        // Level 1: the roots of the first complete 256-leaf subtrees.
        let tile = files.hash_tile(1, 0, 1, suite, at).expect("level 1");
        assert_eq!(tile, merkle::root_of(suite, &leaves[..256]).to_vec());
        let bundle = files.bundle(256, 512, at).expect("bundle");
        let parts = split_bundle(&bundle).expect("parses");
        assert_eq!(parts.len(), 256);
        assert_eq!(parts[3], all[259].bytes.as_slice());
        // An append never committed: the next open cuts it off.
        let extra: Vec<SignedEntry> = (at.size..at.size + 5).map(entry).collect();
        let mut t2 = tree.clone();
        let hashes: Vec<_> = extra
            .iter()
            .flat_map(|e| t2.append(leaf_hash(suite, &e.bytes)).expect("append"))
            .collect();
        files
            .append(at, &extra, &hashes, &Faults::default())
            .expect("append");
        drop(files);
        let files = LogFiles::open(dir.path(), at).expect("reopen");
        let len = std::fs::metadata(dir.path().join("signatures"))
            .expect("stat")
            .len();
        assert_eq!(len, at.size * 64);
        assert_eq!(
            files.entries(at.size - 3, at.size, at).expect("tail"),
            all[all.len() - 3..]
        );
        drop(files);
        // More committed than the files hold: damaged, refused.
        let more = Committed {
            size: at.size + 1,
            entry_bytes: at.entry_bytes + 10,
        };
        assert!(matches!(
            LogFiles::open(dir.path(), more),
            Err(StoreError::Damaged { .. })
        ));
        let _ = mem;
    }

    /// A flipped byte in an entry is found when it is read, not served.
    #[test]
    fn a_damaged_entry_is_reported_not_served() {
        let dir = tempfile::tempdir().expect("temp dir");
        let suite = Suite::Ed25519Sha256;
        let files = LogFiles::open(dir.path(), Committed::default()).expect("open");
        let mut tree = CompactTree::new(suite);
        let entries: Vec<SignedEntry> = (0..10).map(entry).collect();
        let hashes: Vec<_> = entries
            .iter()
            .flat_map(|e| tree.append(leaf_hash(suite, &e.bytes)).expect("append"))
            .collect();
        let at = files
            .append(Committed::default(), &entries, &hashes, &Faults::default())
            .expect("append");
        files.sync(&Faults::default()).expect("sync");
        let path = dir.path().join("entries");
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[40] ^= 1;
        std::fs::write(&path, bytes).expect("write");
        let err = files.entries(0, 10, at).expect_err("damaged");
        assert!(
            err.to_string()
                .contains("does not hash to its stored leaf hash"),
            "{err}"
        );
    }
}
