//! The receiver's store: one sled tree holding, per origin, the entries
//! received, the Merkle tree hashes over them and the log's head.
//!
//! Everything lives in the one tree `province/v1` so that a batch — its
//! entries, hashes and new head — is one atomic `apply_batch`, flushed before
//! the sender is acknowledged. Keys (origins are member ids, which never
//! contain `/`):
//!
//! | key | value |
//! | --- | --- |
//! | `e` origin `/` seq (u64 BE) | `0x01` ‖ signature (64) ‖ entry bytes |
//! | `h` origin `/` storage index (u64 BE) | 32-byte hash (tlog storage order, see `merkle`) |
//! | `s` origin | JSON head: `{"v": 1, "size", "checkpoint_size", "checkpoint"}` |

use std::path::Path;

use rongxin_protocol::entry::SignedEntry;
use rongxin_protocol::merkle::{Hash, HashReader, MerkleError, Suite};
use serde::{Deserialize, Serialize};

/// The one tree; its name carries the layout version.
const TREE: &str = "province/v1";
/// Version byte of stored entry values.
const ENTRY_VERSION: u8 = 1;
/// Version of stored heads.
const HEAD_VERSION: u32 = 1;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// sled failed (disk full, I/O error, corruption it detected).
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value does not have the expected form.
    #[error("store holds a malformed value at {key}: {why}")]
    Corrupt {
        /// The key, printable.
        key: String,
        /// What is wrong.
        why: String,
    },
    /// A Merkle computation over stored hashes failed.
    #[error("store: {0}")]
    Merkle(#[from] MerkleError),
}

/// The head of one origin's log as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadState {
    /// Layout version of this value.
    pub v: u32,
    /// Entries held: seqs `0..size`.
    pub size: u64,
    /// Size of `checkpoint` (0 when none is held).
    pub checkpoint_size: u64,
    /// The newest origin-signed checkpoint whose root the held entries
    /// reproduce (empty when none).
    pub checkpoint: String,
}

impl HeadState {
    /// A head of `size` entries with the given verified checkpoint.
    pub fn new(size: u64, checkpoint_size: u64, checkpoint: String) -> HeadState {
        HeadState {
            v: HEAD_VERSION,
            size,
            checkpoint_size,
            checkpoint,
        }
    }
}

/// Writes to apply in one atomic step.
#[derive(Debug, Default)]
pub struct WriteBatch {
    batch: sled::Batch,
}

impl WriteBatch {
    /// Stores entry `seq` of `origin`.
    pub fn put_entry(&mut self, origin: &str, seq: u64, entry: &SignedEntry) {
        let mut value = Vec::with_capacity(1 + 64 + entry.bytes.len());
        value.push(ENTRY_VERSION);
        value.extend_from_slice(&entry.signature);
        value.extend_from_slice(&entry.bytes);
        self.batch.insert(key(b'e', origin, Some(seq)), value);
    }

    /// Stores Merkle hashes of `origin` at their storage indexes.
    pub fn put_hashes(&mut self, origin: &str, hashes: &[(u64, Hash)]) {
        for (index, hash) in hashes {
            self.batch
                .insert(key(b'h', origin, Some(*index)), hash.to_vec());
        }
    }

    /// Stores where `origin`'s key `index` starts, learned from its handover.
    pub fn put_key_start(&mut self, origin: &str, index: usize, start: u64) {
        self.batch.insert(
            key(b'k', origin, Some(index as u64)),
            start.to_be_bytes().to_vec(),
        );
    }

    /// Stores the head of `origin`.
    pub fn put_head(&mut self, origin: &str, head: &HeadState) {
        // A struct of integers and strings always serialises.
        let value = serde_json::to_vec(head).unwrap_or_default();
        self.batch.insert(key(b's', origin, None), value);
    }
}

fn key(kind: u8, origin: &str, n: Option<u64>) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + origin.len() + 9);
    k.push(kind);
    k.extend_from_slice(origin.as_bytes());
    if let Some(n) = n {
        k.push(b'/');
        k.extend_from_slice(&n.to_be_bytes());
    }
    k
}

fn printable(k: &[u8]) -> String {
    String::from_utf8_lossy(k).into_owned()
}

/// The store. Cheap to clone; all clones share the database.
#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    tree: sled::Tree,
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let db = sled::Config::new().path(dir).open()?;
        let tree = db.open_tree(TREE)?;
        Ok(Store { db, tree })
    }

    /// Applies `batch` atomically and flushes it to disk.
    pub fn apply(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.tree.apply_batch(batch.batch)?;
        self.db.flush()?;
        Ok(())
    }

    /// Flushes everything written so far.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// The head of `origin`, if any entry of it is held.
    pub fn head(&self, origin: &str) -> Result<Option<HeadState>, StoreError> {
        let k = key(b's', origin, None);
        self.tree.get(&k)?.map(|v| decode_head(&k, &v)).transpose()
    }

    /// Every origin with its head, in origin order.
    pub fn heads(&self) -> Result<Vec<(String, HeadState)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.tree.scan_prefix(b"s") {
            let (k, v) = kv?;
            let origin = String::from_utf8(k[1..].to_vec()).map_err(|_| StoreError::Corrupt {
                key: printable(&k),
                why: "origin is not UTF-8".into(),
            })?;
            out.push((origin, decode_head(&k, &v)?));
        }
        Ok(out)
    }

    /// The key starts of `origin` learned from its handovers: (key index, start).
    pub fn key_starts(&self, origin: &str) -> Result<Vec<(usize, u64)>, StoreError> {
        let start = key(b'k', origin, Some(0));
        let end = key(b'k', origin, Some(u64::MAX));
        let mut out = Vec::new();
        for kv in self.tree.range(start..=end) {
            let (k, v) = kv?;
            let corrupt = || StoreError::Corrupt {
                key: printable(&k),
                why: "a key start is not two u64".into(),
            };
            let index: [u8; 8] = k[k.len() - 8..].try_into().map_err(|_| corrupt())?;
            let at: [u8; 8] = v.as_ref().try_into().map_err(|_| corrupt())?;
            let index = usize::try_from(u64::from_be_bytes(index)).map_err(|_| corrupt())?;
            out.push((index, u64::from_be_bytes(at)));
        }
        Ok(out)
    }

    /// Entry `seq` of `origin`, if held.
    pub fn entry(&self, origin: &str, seq: u64) -> Result<Option<SignedEntry>, StoreError> {
        let k = key(b'e', origin, Some(seq));
        self.tree.get(&k)?.map(|v| decode_entry(&k, &v)).transpose()
    }

    /// Up to `limit` entries of `origin` from `from` on, with their seqs.
    pub fn entries(
        &self,
        origin: &str,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(u64, SignedEntry)>, StoreError> {
        let start = key(b'e', origin, Some(from));
        let end = key(b'e', origin, Some(u64::MAX));
        let mut out = Vec::new();
        for kv in self.tree.range(start..=end).take(limit) {
            let (k, v) = kv?;
            let seq_bytes: [u8; 8] =
                k[k.len() - 8..]
                    .try_into()
                    .map_err(|_| StoreError::Corrupt {
                        key: printable(&k),
                        why: "short key".into(),
                    })?;
            out.push((u64::from_be_bytes(seq_bytes), decode_entry(&k, &v)?));
        }
        Ok(out)
    }

    /// The Merkle hashes of `origin`, for roots and tree loading.
    pub fn hashes<'a>(&'a self, origin: &'a str, suite: Suite) -> OriginHashes<'a> {
        OriginHashes {
            store: self,
            origin,
            suite,
        }
    }
}

fn decode_head(k: &[u8], v: &[u8]) -> Result<HeadState, StoreError> {
    let head: HeadState = serde_json::from_slice(v).map_err(|e| StoreError::Corrupt {
        key: printable(k),
        why: e.to_string(),
    })?;
    if head.v != HEAD_VERSION {
        return Err(StoreError::Corrupt {
            key: printable(k),
            why: format!("head version {} (this build reads {HEAD_VERSION})", head.v),
        });
    }
    Ok(head)
}

fn decode_entry(k: &[u8], v: &[u8]) -> Result<SignedEntry, StoreError> {
    let corrupt = |why: &str| StoreError::Corrupt {
        key: printable(k),
        why: why.to_owned(),
    };
    match v {
        [ENTRY_VERSION, rest @ ..] if rest.len() >= 64 => {
            let (sig, bytes) = rest.split_at(64);
            Ok(SignedEntry {
                bytes: bytes.to_vec(),
                signature: sig.try_into().map_err(|_| corrupt("short signature"))?,
            })
        }
        [ENTRY_VERSION, ..] => Err(corrupt("entry value shorter than a signature")),
        _ => Err(corrupt("unknown entry value version")),
    }
}

/// One origin's stored Merkle hashes.
#[derive(Debug)]
pub struct OriginHashes<'a> {
    store: &'a Store,
    origin: &'a str,
    suite: Suite,
}

impl HashReader for OriginHashes<'_> {
    type Error = StoreError;

    fn suite(&self) -> Suite {
        self.suite
    }

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StoreError> {
        indexes
            .iter()
            .map(|&i| {
                let k = key(b'h', self.origin, Some(i));
                let v = self
                    .store
                    .tree
                    .get(&k)?
                    .ok_or(MerkleError::MissingHash { index: i })?;
                v.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    key: printable(&k),
                    why: "hash is not 32 bytes".into(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8) -> SignedEntry {
        SignedEntry {
            bytes: vec![n; 3 + n as usize],
            signature: [n; 64],
        }
    }

    #[test]
    fn origins_sharing_a_prefix_stay_apart_and_values_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let mut batch = WriteBatch::default();
        for (origin, n) in [("gu", 3u8), ("gulou", 2), ("gu-x", 1)] {
            for seq in 0..u64::from(n) {
                batch.put_entry(origin, seq, &entry(n * 10 + seq as u8));
            }
            batch.put_hashes(origin, &[(0, [n; 32])]);
            batch.put_head(origin, &HeadState::new(u64::from(n), 0, String::new()));
        }
        store.apply(batch).expect("apply");

        let gu = store.entries("gu", 0, 100).expect("entries");
        assert_eq!(gu.len(), 3);
        assert_eq!(gu[2], (2, entry(32)));
        assert_eq!(
            store.entries("gu", 1, 1).expect("entries"),
            vec![(1, entry(31))]
        );
        assert_eq!(store.entries("gulou", 0, 100).expect("entries").len(), 2);
        assert_eq!(store.entry("gu-x", 0).expect("entry"), Some(entry(10)));
        assert_eq!(store.entry("gu-x", 1).expect("entry"), None);
        let heads: Vec<(String, u64)> = store
            .heads()
            .expect("heads")
            .into_iter()
            .map(|(o, h)| (o, h.size))
            .collect();
        assert_eq!(
            heads,
            [("gu".into(), 3), ("gu-x".into(), 1), ("gulou".into(), 2)]
        );
        assert_eq!(
            store
                .hashes("gulou", Suite::Ed25519Sha256)
                .read_hashes(&[0])
                .expect("hash"),
            vec![[2; 32]]
        );
        assert!(matches!(
            store
                .hashes("gulou", Suite::Ed25519Sha256)
                .read_hashes(&[1]),
            Err(StoreError::Merkle(MerkleError::MissingHash { index: 1 }))
        ));
    }
}
