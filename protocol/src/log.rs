// TEMPORARY stand-in for the engine (replaced by the helper's module).
#![allow(missing_docs, missing_debug_implementations)]
use bincode::{Decode, Encode};
use sha2::{Digest as _, Sha256};

use crate::catalog::Catalog;
use crate::chain::{ChainError, check_next};
use crate::checkpoint::Checkpoint;
use crate::entry::{Entry, Op, RevokeReason};
use crate::merkle::{CompactTree, Hash, HashReader, MerkleError, Suite, leaf_hash};
use crate::record::Record;
use crate::roster::Roster;

#[derive(Debug, Clone)]
pub struct LogHead {
    tree: CompactTree,
    last_leaf: Hash,
    suite_: Suite,
}
pub struct Rules<'a> {
    pub origin: &'a str,
    pub roster: &'a Roster,
    pub catalog: &'a Catalog,
}
#[derive(Debug)]
pub struct Extension {
    pub first: u64,
    pub leaves: Vec<Hash>,
    pub hashes: Vec<(u64, Hash)>,
}
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ExtendError {
    #[error("fork at {seq}")]
    Fork { seq: u64 },
    #[error("{0}")]
    Chain(ChainError),
    #[error("{0}")]
    Merkle(#[from] MerkleError),
}
#[derive(Debug, Clone, thiserror::Error)]
pub enum CloseError {
    #[error("size")]
    Size { head: u64, checkpoint: u64 },
    #[error("root mismatch")]
    RootMismatch { size: u64 },
}
impl LogHead {
    pub fn empty(suite: Suite) -> LogHead {
        LogHead {
            tree: CompactTree::new(suite),
            last_leaf: [0; 32],
            suite_: suite,
        }
    }
    pub fn load<R: HashReader + ?Sized>(
        size: u64,
        last_leaf: Hash,
        hashes: &R,
    ) -> Result<LogHead, R::Error> {
        Ok(LogHead {
            tree: CompactTree::load(size, hashes)?,
            last_leaf: if size == 0 { [0; 32] } else { last_leaf },
            suite_: hashes.suite(),
        })
    }
    pub fn suite(&self) -> Suite {
        self.tree_suite()
    }
    fn tree_suite(&self) -> Suite {
        self.suite_
    }
    pub fn size(&self) -> u64 {
        self.tree.size()
    }
    pub fn root(&self) -> Hash {
        self.tree.root()
    }
    pub fn last_leaf(&self) -> Hash {
        self.last_leaf
    }
    pub fn extend<'a>(
        &mut self,
        rules: &Rules<'_>,
        entries: impl IntoIterator<Item = (&'a Entry, &'a [u8])>,
    ) -> Result<Extension, ExtendError> {
        let mut tree = self.tree.clone();
        let mut last = self.last_leaf;
        let first = tree.size();
        let mut out = Extension {
            first,
            leaves: Vec::new(),
            hashes: Vec::new(),
        };
        for (e, bytes) in entries {
            match check_next(
                e,
                rules.origin,
                tree.size(),
                &last,
                rules.roster,
                rules.catalog,
            ) {
                Ok(()) => {}
                Err(ChainError::Fork { seq, .. }) => return Err(ExtendError::Fork { seq }),
                Err(c) => return Err(ExtendError::Chain(c)),
            }
            last = leaf_hash(self.suite(), bytes);
            out.hashes.extend(tree.append(last)?);
            out.leaves.push(last);
        }
        self.tree = tree;
        self.last_leaf = last;
        Ok(out)
    }
    pub fn close(&self, cp: &Checkpoint) -> Result<(), CloseError> {
        if cp.size != self.size() {
            return Err(CloseError::Size {
                head: self.size(),
                checkpoint: cp.size,
            });
        }
        if cp.root != self.root() {
            return Err(CloseError::RootMismatch { size: cp.size });
        }
        Ok(())
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct Revoked {
    pub seq: u64,
    pub reason: RevokeReason,
}
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct RecordState {
    pub origin: String,
    pub put_seq: u64,
    pub version: u32,
    pub content: Hash,
    pub subject: String,
    pub revoked: Option<Revoked>,
    pub open_objections: Vec<String>,
}
pub fn content_hash(record: &Record) -> Hash {
    let cfg = bincode::config::standard()
        .with_big_endian()
        .with_fixed_int_encoding();
    Sha256::digest(bincode::encode_to_vec(record, cfg).unwrap_or_default()).into()
}
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
        Op::KeyHandover(_) => prev,
    }
}
