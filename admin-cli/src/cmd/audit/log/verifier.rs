//! The auditor's copy of an origin's log head: pages of entries go in, in
//! order; each shown entry's signature is checked with the key the roster
//! gives its position (batch verification, key history and handovers by
//! [`Roster::verify_entries`]), then the protocol's log engine
//! ([`LogHead::extend`]) checks position, hash chain, ownership and the
//! record against the catalog and appends it to the tree — the same rules
//! every node applies (docs/protocol.md §3.3).
//!
//! A withheld entry has only its leaf hash: it goes into the tree, so the
//! root can still be checked against the checkpoint, and the entry after it
//! must name that hash as its `prev_hash`; its own signature, ownership and
//! record cannot be checked and it is remembered as withheld.

use std::collections::BTreeSet;

use rongxin_protocol::catalog::Catalog;
use rongxin_protocol::entry::{EntryError, SignedEntry};
use rongxin_protocol::log::{LogHead, Rules};
use rongxin_protocol::merkle::{
    CompactTree, Hash, HashReader, MerkleError, Suite, stored_hash_index,
};
use rongxin_protocol::roster::{KeyStarts, Roster};

use super::fetch::{Item, Page};

/// Why the log failed verification, and at which entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The first entry that failed, when one entry is to blame.
    pub at: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

/// The verified prefix of one origin's log.
#[derive(Debug)]
pub struct Verifier<'a> {
    origin: &'a str,
    roster: &'a Roster,
    catalog: &'a Catalog,
    head: LogHead,
    /// Every leaf, withheld ones too (the head's own tree is not readable).
    tree: CompactTree,
    last_leaf: Hash,
    starts: KeyStarts,
    withheld: Vec<(u64, u64)>,
    needs: BTreeSet<String>,
}

impl<'a> Verifier<'a> {
    /// Starts from `tree` (empty, or a resumed prefix whose last leaf is
    /// `last_leaf`) with the key starts `learned` from handovers.
    pub fn new(
        origin: &'a str,
        roster: &'a Roster,
        catalog: &'a Catalog,
        tree: CompactTree,
        last_leaf: Hash,
        learned: &[(usize, u64)],
        withheld: Vec<(u64, u64)>,
    ) -> Result<Verifier<'a>, String> {
        let member = roster
            .member(origin)
            .ok_or_else(|| format!("'{origin}' is not a member of the roster"))?;
        let head = head_at(roster.suite, &tree, last_leaf).map_err(|e| e.to_string())?;
        Ok(Verifier {
            origin,
            roster,
            catalog,
            head,
            tree,
            last_leaf,
            starts: member.key_starts_with(learned),
            withheld,
            needs: BTreeSet::new(),
        })
    }

    /// The entries verified (or withheld) so far.
    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// The tree of those entries.
    pub fn tree(&self) -> &CompactTree {
        &self.tree
    }

    /// The leaf hash of the last entry.
    pub fn last_leaf(&self) -> Hash {
        self.last_leaf
    }

    /// The log head, for closing against a checkpoint.
    pub fn head(&self) -> &LogHead {
        &self.head
    }

    /// Where each key starts, with what the handovers taught.
    pub fn starts(&self) -> &KeyStarts {
        &self.starts
    }

    /// Withheld entries as inclusive ranges.
    pub fn withheld(&self) -> &[(u64, u64)] {
        &self.withheld
    }

    /// The access levels that would read the withheld entries seen in this run.
    pub fn needs(&self) -> &BTreeSet<String> {
        &self.needs
    }

    /// Takes in the next page, which must start where the log is.
    pub fn apply(&mut self, page: Page) -> Result<(), Failure> {
        if page.from != self.size() {
            return Err(Failure {
                at: Some(self.size()),
                reason: format!(
                    "the node sent entries from {}, {} was due",
                    page.from,
                    self.size()
                ),
            });
        }
        let mut items = page.items.into_iter().peekable();
        while items.peek().is_some() {
            let from = self.size();
            let mut shown = Vec::new();
            while let Some(Item::Shown(_)) = items.peek() {
                if let Some(Item::Shown(e)) = items.next() {
                    shown.push(e);
                }
            }
            if !shown.is_empty() {
                self.verify_run(from, &shown)?;
                continue;
            }
            while let Some(Item::Withheld { .. }) = items.peek() {
                if let Some(Item::Withheld { leaf_hash, needs }) = items.next() {
                    self.withhold(leaf_hash, needs)?;
                }
            }
            // The entry after a withheld one must name its leaf hash.
            self.head =
                head_at(self.roster.suite, &self.tree, self.last_leaf).map_err(|e| Failure {
                    at: None,
                    reason: e.to_string(),
                })?;
        }
        Ok(())
    }

    fn verify_run(&mut self, from: u64, shown: &[SignedEntry]) -> Result<(), Failure> {
        let decoded = self
            .roster
            .verify_entries(self.origin, from, shown, &mut self.starts)
            .map_err(|e| match e {
                EntryError::BatchSignature { index } => {
                    let at = from + index as u64;
                    Failure {
                        at: Some(at),
                        reason: format!(
                            "its signature does not verify with {}'s key {} (the key the roster and the \
                             log's handovers give position {at})",
                            self.origin,
                            self.starts.index_at(at) + 1
                        ),
                    }
                }
                other => Failure {
                    at: None,
                    reason: format!("entries {from}..{}: {other}", from + shown.len() as u64),
                },
            })?;
        let rules = Rules {
            origin: self.origin,
            roster: self.roster,
            catalog: self.catalog,
        };
        let added = self
            .head
            .extend(
                &rules,
                decoded.iter().zip(shown.iter().map(|e| e.bytes.as_slice())),
            )
            .map_err(|e| Failure {
                at: None,
                reason: e.to_string(),
            })?;
        for leaf in added.leaves {
            self.append(leaf)?;
        }
        self.last_leaf = self.head.last_leaf();
        Ok(())
    }

    fn withhold(&mut self, leaf_hash: Hash, needs: String) -> Result<(), Failure> {
        let at = self.size();
        match self.withheld.last_mut() {
            Some((_, last)) if *last + 1 == at => *last = at,
            _ => self.withheld.push((at, at)),
        }
        self.needs.insert(needs);
        self.append(leaf_hash)?;
        self.last_leaf = leaf_hash;
        Ok(())
    }

    fn append(&mut self, leaf: Hash) -> Result<(), Failure> {
        self.tree.append(leaf).map(drop).map_err(|e| Failure {
            at: Some(self.tree.size()),
            reason: e.to_string(),
        })
    }
}

/// A log head at `tree`'s size whose last leaf is `last_leaf`.
fn head_at(suite: Suite, tree: &CompactTree, last_leaf: Hash) -> Result<LogHead, MerkleError> {
    if tree.size() == 0 {
        return Ok(LogHead::empty(suite));
    }
    LogHead::load(tree.size(), last_leaf, &FrontierHashes::new(suite, tree)?)
}

/// A compact tree's frontier as a [`HashReader`]: the stored hashes of its
/// perfect subtrees, which is all [`LogHead::load`] reads.
struct FrontierHashes {
    suite: Suite,
    stored: Vec<(u64, Hash)>,
}

impl FrontierHashes {
    fn new(suite: Suite, tree: &CompactTree) -> Result<FrontierHashes, MerkleError> {
        // The subtrees of a tree of `size` leaves, largest first: one per
        // set bit, each starting where the larger ones end.
        let size = tree.size();
        let mut stored = Vec::with_capacity(tree.frontier().len());
        let mut start = 0u64;
        let levels = (0..64u8).rev().filter(|l| (size >> l) & 1 == 1);
        for (level, hash) in levels.zip(tree.frontier()) {
            stored.push((stored_hash_index(level, start >> level)?, *hash));
            start += 1 << level;
        }
        Ok(FrontierHashes { suite, stored })
    }
}

impl HashReader for FrontierHashes {
    type Error = MerkleError;

    fn suite(&self) -> Suite {
        self.suite
    }

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        indexes
            .iter()
            .map(|&index| {
                self.stored
                    .iter()
                    .find(|(i, _)| *i == index)
                    .map(|(_, h)| *h)
                    .ok_or(MerkleError::MissingHash { index })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_loaded_from_a_frontier_has_the_trees_root() {
        let suite = Suite::Ed25519Sha256;
        let mut tree = CompactTree::new(suite);
        for n in 0u64..300 {
            let leaf = rongxin_protocol::merkle::leaf_hash(suite, &n.to_be_bytes());
            tree.append(leaf).expect("append");
            let head = head_at(suite, &tree, leaf).expect("loads");
            assert_eq!((head.size(), head.root()), (tree.size(), tree.root()));
            assert_eq!(head.last_leaf(), leaf);
        }
    }
}
