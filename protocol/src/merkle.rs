//! The Merkle tree over an origin's log entries, exactly as RFC 6962 §2.1, with
//! inclusion and consistency proofs that independent tools (Go's
//! `golang.org/x/mod/sumdb/tlog`, transparency-dev/merkle, any RFC 9162
//! verifier) check the same way.
//!
//! **Hashing.** Leaf hash = SHA-256(0x00 ‖ entry), node hash =
//! SHA-256(0x01 ‖ left ‖ right); a tree of n > 1 leaves splits at the largest
//! power of two below n. The empty tree's root is SHA-256("") as RFC 6962
//! defines it (tlog's `TreeHash(0)` is all zeros instead, but tlog accepts no
//! proof about a size-0 tree, so the two never meet).
//!
//! **Storage.** Every complete (perfect) subtree hash is stored once, in one
//! flat append-only array keyed by tlog's storage index ([`stored_hash_index`],
//! the order of Crosby and Wallach §3.3): appending leaf n stores its leaf hash
//! at `stored_hash_index(0, n)`, followed by the roots of the subtrees that
//! leaf completes, one per trailing 1 bit of n. A tree of n leaves fills
//! exactly [`stored_hash_count`]`(n) = 2n − popcount(n)` slots. The layout is
//! fixed by tlog and only ever appended to, so it carries no version of its
//! own. Roots and proofs for any size up to the stored one read at most about
//! 2·log₂ n hashes in a single [`HashReader::read_hashes`] call; a subtree cut
//! off by the right edge of the tree is recomputed from the perfect subtrees
//! under it. [`CompactTree`] keeps only the frontier (the perfect subtree roots
//! of the current size, at most 64) and reports which hashes each append adds.
//!
//! **Proofs** list hashes in RFC 6962 audit-path order, leaf side first.
//! Verification checks the exact expected proof length first (so errors say
//! what is wrong), then runs the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2.
//! Consistency from size 0 is outside RFC 9162; here the empty tree is a prefix
//! of every tree, so its proof is empty and verifies when the old root is the
//! empty root. Sizes anywhere in `u64` are handled without overflow.
//!
//! A proof binds hashes, not sizes: the proof of leaf 0 in a tree of 3 also
//! verifies as "leaf 0 of 4" against the same root, because a verifier cannot
//! tell a lone leaf from a two-leaf subtree by its hash. Always verify against
//! the (size, root) pair of one signed checkpoint.

pub use crate::suite::Suite;

/// A hash of the federation's suite (SHA-256 or SM3): a leaf hash, an
/// interior node hash or a tree root.
pub type Hash = [u8; 32];

/// Why a Merkle computation, proof or verification failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MerkleError {
    /// The leaf index is not below the tree size (no index is, for size 0).
    #[error("leaf {index} is not in a tree of {size} leaves")]
    IndexOutOfRange {
        /// The requested leaf.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof was asked from a larger tree to a smaller one.
    #[error("a tree of {old_size} leaves cannot be a prefix of a smaller tree of {new_size}")]
    SizesOutOfOrder {
        /// The earlier tree size.
        old_size: u64,
        /// The later tree size.
        new_size: u64,
    },
    /// An inclusion proof has the wrong number of hashes for its index and size.
    #[error(
        "inclusion proof for leaf {index} in a tree of {size} has {got} hashes, expected {expected}"
    )]
    InclusionProofLength {
        /// The leaf index the proof was checked for.
        index: u64,
        /// The tree size the proof was checked for.
        size: u64,
        /// Hashes in the proof.
        got: usize,
        /// Hashes such a proof has.
        expected: usize,
    },
    /// A consistency proof has the wrong number of hashes for its two sizes.
    #[error(
        "consistency proof from tree size {old_size} to {new_size} has {got} hashes, expected {expected}"
    )]
    ConsistencyProofLength {
        /// The earlier tree size.
        old_size: u64,
        /// The later tree size.
        new_size: u64,
        /// Hashes in the proof.
        got: usize,
        /// Hashes such a proof has.
        expected: usize,
    },
    /// A well-formed proof leads to a different root than the one claimed.
    #[error(
        "root mismatch for tree size {size}: proof leads to {}, checkpoint says {}",
        hex::encode(.computed),
        hex::encode(.expected)
    )]
    RootMismatch {
        /// The size of the tree whose root was checked.
        size: u64,
        /// The root the proof leads to.
        computed: Hash,
        /// The root the caller (normally a checkpoint) claims.
        expected: Hash,
    },
    /// Two roots for the same tree size differ: if both are signed by one
    /// origin, that is equivocation evidence.
    #[error(
        "two roots for tree size {size} differ: {} and {}",
        hex::encode(.old_root),
        hex::encode(.new_root)
    )]
    SameSizeRootsDiffer {
        /// The tree size both roots claim.
        size: u64,
        /// The root given as the earlier one.
        old_root: Hash,
        /// The root given as the later one.
        new_root: Hash,
    },
    /// A node's tlog storage index does not fit in 64 bits (level 64 and up,
    /// or positions beyond about 2^63 leaves).
    #[error("tree node at level {level}, position {n} has no 64-bit storage index")]
    StorageIndexOverflow {
        /// The node's level (0 = leaves).
        level: u8,
        /// The node's position within its level.
        n: u64,
    },
    /// The tree is too large for its hashes to be addressed by 64-bit storage
    /// indexes (more than 2^63 leaves).
    #[error("a tree of {size} leaves is too large for 64-bit storage indexes")]
    TreeTooLarge {
        /// The tree size.
        size: u64,
    },
    /// A compact-tree frontier does not have one hash per set bit of the size.
    #[error("frontier for a tree of {size} leaves must have {expected} hashes, got {got}")]
    FrontierLength {
        /// The tree size.
        size: u64,
        /// Hashes given.
        got: usize,
        /// popcount(size).
        expected: u32,
    },
    /// A [`HashReader`] returned a different number of hashes than asked for.
    #[error("hash store returned {got} hashes for {requested} storage indexes")]
    ReaderLength {
        /// Storage indexes asked for.
        requested: usize,
        /// Hashes returned.
        got: usize,
    },
    /// The hash store has nothing at a storage index the computation needs.
    #[error(
        "hash store has no hash at storage index {index}; was the tree stored up to this size?"
    )]
    MissingHash {
        /// The storage index.
        index: u64,
    },
}

/// RFC 6962 leaf hash: H(0x00 ‖ leaf), H the suite's hash.
pub fn leaf_hash(suite: Suite, leaf: &[u8]) -> Hash {
    suite.hash(&[&[0x00], leaf])
}

/// RFC 6962 interior node hash: H(0x01 ‖ left ‖ right).
pub fn node_hash(suite: Suite, left: &Hash, right: &Hash) -> Hash {
    suite.hash(&[&[0x01], left, right])
}

/// Root of the empty tree: H of the empty string (RFC 6962 MTH({})).
pub fn empty_root(suite: Suite) -> Hash {
    suite.hash(&[])
}

/// RFC 6962 Merkle Tree Hash over `leaf_hashes`, computed straight from the
/// definition (split at the largest power of two below n). The reference the
/// stored and incremental forms are tested against; O(n).
pub fn root_of(suite: Suite, leaf_hashes: &[Hash]) -> Hash {
    match leaf_hashes {
        [] => empty_root(suite),
        [only] => *only,
        _ => {
            let len = leaf_hashes.len();
            let k = 1usize << (usize::BITS - 1 - (len - 1).leading_zeros());
            let (left, right) = leaf_hashes.split_at(k);
            node_hash(suite, &root_of(suite, left), &root_of(suite, right))
        }
    }
}

/// tlog's storage index of the node at `level` (0 = leaves) and position `n`
/// within that level: the position at which it is appended to the flat hash
/// array (`StoredHashIndex` in `golang.org/x/mod/sumdb/tlog`).
pub fn stored_hash_index(level: u8, n: u64) -> Result<u64, MerkleError> {
    let overflow = MerkleError::StorageIndexOverflow { level, n };
    // The node is stored right after the leaf hash of its last leaf `m`, whose
    // index is m + m/2 + m/4 + … = 2m − popcount(m), and after the `level`
    // nodes below it that the same leaf completes.
    let after_last = n.checked_add(1).ok_or(overflow.clone())?;
    if level >= 64 || after_last.leading_zeros() < u32::from(level) {
        return Err(overflow);
    }
    let m = (after_last << level) - 1;
    m.checked_add(m - u64::from(m.count_ones()))
        .and_then(|i| i.checked_add(u64::from(level)))
        .ok_or(overflow)
}

/// Number of hashes stored for a tree of `size` leaves: 2·size − popcount(size).
/// Errors for trees of more than 2^63 leaves, whose storage indexes would not
/// fit in 64 bits.
pub fn stored_hash_count(size: u64) -> Result<u64, MerkleError> {
    size.checked_add(size - u64::from(size.count_ones()))
        .ok_or(MerkleError::TreeTooLarge { size })
}

/// Checks that a tree of `n` leaves can take one more.
fn check_can_append(n: u64) -> Result<(), MerkleError> {
    let size = n
        .checked_add(1)
        .ok_or(MerkleError::TreeTooLarge { size: n })?;
    stored_hash_count(size).map(drop)
}

/// Read access to a store of tree hashes keyed by [`stored_hash_index`], as
/// filled from [`CompactTree::append`] or [`stored_hashes_for_leaf`].
pub trait HashReader {
    /// What a failed read reports. Proof generation reports its own input
    /// errors through it as well, hence the conversion from [`MerkleError`].
    type Error: From<MerkleError>;

    /// The suite whose hash the stored hashes are.
    fn suite(&self) -> Suite;

    /// Returns the hashes stored at `indexes`, one per index and in the same
    /// order (a store may read faster when they are sorted; they need not be).
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Self::Error>;
}

/// The (storage index, hash) pairs to persist when leaf `n` (0-based) with
/// `leaf_hash` is appended: the leaf hash and the root of every subtree that
/// leaf completes. Reads the left halves of those subtrees from `reader`
/// (at most 63 hashes, none for even `n`). [`CompactTree::append`] gives the
/// same pairs without reading.
pub fn stored_hashes_for_leaf<R: HashReader + ?Sized>(
    n: u64,
    leaf_hash: Hash,
    reader: &R,
) -> Result<Vec<(u64, Hash)>, R::Error> {
    check_can_append(n)?;
    let mut out = vec![(stored_hash_index(0, n)?, leaf_hash)];
    // Each trailing 1 bit of n closes one subtree whose left half is stored.
    let merges = n.trailing_ones() as u8;
    let mut indexes = Vec::with_capacity(usize::from(merges));
    for level in (0..merges).rev() {
        indexes.push(stored_hash_index(level, (n >> level) - 1)?);
    }
    let lefts = read_exact(reader, &indexes)?;
    let mut hash = leaf_hash;
    for (left, level) in lefts.iter().rev().zip(1u8..) {
        hash = node_hash(reader.suite(), left, &hash);
        out.push((stored_hash_index(level, n >> level)?, hash));
    }
    Ok(out)
}

/// Root of the tree of the first `size` leaves, from stored hashes (at most
/// 64 reads, one call). `size` may be anything up to the stored tree's size.
pub fn tree_root<R: HashReader + ?Sized>(size: u64, reader: &R) -> Result<Hash, R::Error> {
    stored_hash_count(size)?;
    let mut indexes = Vec::new();
    push_range_indexes(0, size, &mut indexes)?;
    Ok(fold_subtrees(
        reader.suite(),
        &read_exact(reader, &indexes)?,
    ))
}

/// RFC 6962 audit path (PATH) of leaf `index` in the tree of the first `size`
/// leaves, leaf side first, from stored hashes in one read.
pub fn inclusion_proof<R: HashReader + ?Sized>(
    index: u64,
    size: u64,
    reader: &R,
) -> Result<Vec<Hash>, R::Error> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size }.into());
    }
    stored_hash_count(size)?;
    range_hashes(&path_ranges(index, size, 0), reader)
}

/// RFC 6962 consistency proof (PROOF) that the tree of `old_size` leaves is a
/// prefix of the tree of `new_size` leaves, from stored hashes in one read.
/// Empty when `old_size` is 0 or equals `new_size`.
pub fn consistency_proof<R: HashReader + ?Sized>(
    old_size: u64,
    new_size: u64,
    reader: &R,
) -> Result<Vec<Hash>, R::Error> {
    if old_size > new_size {
        return Err(MerkleError::SizesOutOfOrder { old_size, new_size }.into());
    }
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    stored_hash_count(new_size)?;
    // The old tree's smallest perfect subtree (ending at its last leaf) is the
    // node both trees share; the proof is that node, unless it is the whole
    // old tree, followed by its audit path in the new tree.
    let shift = old_size.trailing_zeros();
    let mut ranges = Vec::new();
    if !old_size.is_power_of_two() {
        ranges.push((old_size - (1 << shift), old_size));
    }
    ranges.extend(path_ranges(old_size - 1, new_size, shift));
    range_hashes(&ranges, reader)
}

/// Checks that `proof` shows the leaf with `leaf_hash` at `index` in the tree
/// of `size` leaves whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    suite: Suite,
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_proof_len(index, size);
    let length_error = MerkleError::InclusionProofLength {
        index,
        size,
        got: proof.len(),
        expected,
    };
    if proof.len() != expected {
        return Err(length_error);
    }
    let mut fn_ = index;
    let mut sn = size - 1;
    let mut r = *leaf_hash;
    for p in proof {
        if sn == 0 {
            return Err(length_error);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(suite, p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(suite, &r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(length_error);
    }
    check_root(size, r, root)
}

/// Checks that `proof` shows the tree of `old_size` leaves with `old_root` is
/// a prefix of the tree of `new_size` leaves with `new_root` (RFC 9162
/// §2.1.4.2). Equal sizes need an empty proof and equal roots; old size 0
/// needs an empty proof and `old_root` equal to [`empty_root`].
pub fn verify_consistency(
    suite: Suite,
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if old_size > new_size {
        return Err(MerkleError::SizesOutOfOrder { old_size, new_size });
    }
    let expected = if old_size == 0 || old_size == new_size {
        0
    } else {
        consistency_proof_len(old_size, new_size)
    };
    let length_error = MerkleError::ConsistencyProofLength {
        old_size,
        new_size,
        got: proof.len(),
        expected,
    };
    if proof.len() != expected {
        return Err(length_error);
    }
    if old_size == new_size && old_root != new_root {
        return Err(MerkleError::SameSizeRootsDiffer {
            size: old_size,
            old_root: *old_root,
            new_root: *new_root,
        });
    }
    if old_size == 0 {
        return check_root(0, empty_root(suite), old_root);
    }
    if old_size == new_size {
        return Ok(());
    }
    // Now 0 < old_size < new_size and the proof has its expected length.
    let (seed, rest) = if old_size.is_power_of_two() {
        (*old_root, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (*first, rest),
            None => return Err(length_error),
        }
    };
    let mut fn_ = old_size - 1;
    let mut sn = new_size - 1;
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (seed, seed);
    for c in rest {
        if sn == 0 {
            return Err(length_error);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(suite, c, &fr);
            sr = node_hash(suite, c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(suite, &sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(length_error);
    }
    check_root(old_size, fr, old_root)?;
    check_root(new_size, sr, new_root)
}

/// An append-only tree that keeps only its frontier: the roots of the perfect
/// subtrees that make up its size, largest (leftmost) first — one per set bit
/// of the size, so at most 64. Appending is O(1) amortised, the root O(log n).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactTree {
    suite: Suite,
    size: u64,
    frontier: Vec<Hash>,
}

impl CompactTree {
    /// The empty tree.
    pub fn new(suite: Suite) -> Self {
        Self {
            suite,
            size: 0,
            frontier: Vec::new(),
        }
    }

    /// Rebuilds a tree from a persisted size and [`frontier`](Self::frontier).
    pub fn from_parts(suite: Suite, size: u64, frontier: Vec<Hash>) -> Result<Self, MerkleError> {
        let expected = size.count_ones();
        if usize::try_from(expected).ok() != Some(frontier.len()) {
            return Err(MerkleError::FrontierLength {
                size,
                got: frontier.len(),
                expected,
            });
        }
        Ok(Self {
            suite,
            size,
            frontier,
        })
    }

    /// Rebuilds the tree of the first `size` leaves from stored hashes (at
    /// most 64 reads, one call), so the frontier need not be persisted.
    pub fn load<R: HashReader + ?Sized>(size: u64, reader: &R) -> Result<Self, R::Error> {
        stored_hash_count(size)?;
        let mut indexes = Vec::new();
        push_range_indexes(0, size, &mut indexes)?;
        let frontier = read_exact(reader, &indexes)?;
        Ok(Self {
            suite: reader.suite(),
            size,
            frontier,
        })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The suite whose hash the tree uses.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The perfect subtree roots, largest first (what to persist).
    pub fn frontier(&self) -> &[Hash] {
        &self.frontier
    }

    /// The RFC 6962 root; [`empty_root`] for the empty tree.
    pub fn root(&self) -> Hash {
        fold_subtrees(self.suite, &self.frontier)
    }

    /// Appends a leaf hash and returns the (storage index, hash) pairs to
    /// persist: the leaf hash and the root of every subtree it completes.
    /// Fails, leaving the tree unchanged, only once it holds 2^63 leaves,
    /// where storage indexes run out.
    pub fn append(&mut self, leaf_hash: Hash) -> Result<Vec<(u64, Hash)>, MerkleError> {
        let n = self.size;
        check_can_append(n)?;
        let mut out = vec![(stored_hash_index(0, n)?, leaf_hash)];
        let merges = n.trailing_ones() as usize;
        let keep = self.frontier.len().saturating_sub(merges);
        let mut hash = leaf_hash;
        for (left, level) in self.frontier.iter().skip(keep).rev().zip(1u8..) {
            hash = node_hash(self.suite, left, &hash);
            out.push((stored_hash_index(level, n >> level)?, hash));
        }
        self.frontier.truncate(keep);
        self.frontier.push(hash);
        self.size = n + 1;
        Ok(out)
    }
}

/// A hash store in memory: the flat tlog-ordered array, for tests, tools and
/// small logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryHashes {
    suite: Suite,
    hashes: Vec<Hash>,
    size: u64,
}

impl MemoryHashes {
    /// An empty store.
    pub fn new(suite: Suite) -> Self {
        Self {
            suite,
            hashes: Vec::new(),
            size: 0,
        }
    }

    /// A store holding the tree of `leaf_hashes`.
    pub fn from_leaf_hashes(suite: Suite, leaf_hashes: &[Hash]) -> Result<Self, MerkleError> {
        let mut store = Self::new(suite);
        for h in leaf_hashes {
            store.push_leaf(*h)?;
        }
        Ok(store)
    }

    /// Appends one leaf hash and the subtree roots it completes.
    pub fn push_leaf(&mut self, leaf_hash: Hash) -> Result<(), MerkleError> {
        let new = stored_hashes_for_leaf(self.size, leaf_hash, self)?;
        self.hashes.extend(new.into_iter().map(|(_, h)| h));
        self.size += 1;
        Ok(())
    }

    /// Number of leaves stored.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// All stored hashes, position = storage index.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }
}

impl HashReader for MemoryHashes {
    type Error = MerkleError;

    fn suite(&self) -> Suite {
        self.suite
    }

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        indexes
            .iter()
            .map(|&index| {
                usize::try_from(index)
                    .ok()
                    .and_then(|i| self.hashes.get(i))
                    .copied()
                    .ok_or(MerkleError::MissingHash { index })
            })
            .collect()
    }
}

/// Number of bits needed to write `x`.
fn bit_len(x: u64) -> u32 {
    u64::BITS - x.leading_zeros()
}

/// Hashes in the audit path of leaf `index` (< `size`): one per level below
/// the point where the paths to `index` and to the last leaf part, plus one
/// per left sibling above it.
fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let inner = bit_len(index ^ (size - 1));
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner + border) as usize
}

/// Hashes in the consistency proof for 0 < `old_size` < `new_size`: the shared
/// node unless it is the whole old tree, then its audit path in the new tree.
fn consistency_proof_len(old_size: u64, new_size: u64) -> usize {
    let last = old_size - 1;
    let inner = bit_len(last ^ (new_size - 1));
    let border = last.checked_shr(inner).unwrap_or(0).count_ones();
    let shared = u32::from(!old_size.is_power_of_two());
    (shared + inner.saturating_sub(old_size.trailing_zeros()) + border) as usize
}

fn check_root(size: u64, computed: Hash, expected: &Hash) -> Result<(), MerkleError> {
    if computed == *expected {
        Ok(())
    } else {
        Err(MerkleError::RootMismatch {
            size,
            computed,
            expected: *expected,
        })
    }
}

/// Leaf ranges `[start, end)` of the subtrees whose roots form the audit path
/// of the level-`from_level` ancestor of leaf `index` (< `size`), leaf side
/// first. Below the level where the paths to `index` and to the last leaf
/// part, every sibling is perfect except the topmost, which the right edge of
/// the tree may cut; above it, the siblings are the perfect left subtrees.
fn path_ranges(index: u64, size: u64, from_level: u32) -> Vec<(u64, u64)> {
    let inner = bit_len(index ^ (size - 1));
    let mut ranges = Vec::new();
    for level in from_level..u64::BITS {
        let here = index >> level;
        if level >= inner && here & 1 == 0 {
            continue;
        }
        let start = (here ^ 1) << level;
        let end = start.checked_add(1 << level).map_or(size, |e| e.min(size));
        ranges.push((start, end));
    }
    ranges
}

/// Appends the storage indexes of the perfect subtrees making up leaves
/// `[start, end)`, largest (leftmost) first; `start` must be aligned to the
/// largest of them, as it is for every node of the tree.
fn push_range_indexes(start: u64, end: u64, out: &mut Vec<u64>) -> Result<(), MerkleError> {
    let len = end.saturating_sub(start);
    let mut lo = start;
    for level in (0..64u8).rev() {
        if (len >> level) & 1 == 1 {
            out.push(stored_hash_index(level, lo >> level)?);
            lo += 1 << level;
        }
    }
    Ok(())
}

/// Root of consecutive perfect subtrees given largest first (RFC 6962 splits
/// off the largest perfect subtree first, so the right part folds first).
fn fold_subtrees(suite: Suite, roots: &[Hash]) -> Hash {
    match roots.split_last() {
        Some((last, rest)) => rest
            .iter()
            .rev()
            .fold(*last, |acc, l| node_hash(suite, l, &acc)),
        None => empty_root(suite),
    }
}

fn read_exact<R: HashReader + ?Sized>(reader: &R, indexes: &[u64]) -> Result<Vec<Hash>, R::Error> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = reader.read_hashes(indexes)?;
    if hashes.len() != indexes.len() {
        return Err(MerkleError::ReaderLength {
            requested: indexes.len(),
            got: hashes.len(),
        }
        .into());
    }
    Ok(hashes)
}

/// The root of each leaf range, from one read of all their perfect subtrees.
fn range_hashes<R: HashReader + ?Sized>(
    ranges: &[(u64, u64)],
    reader: &R,
) -> Result<Vec<Hash>, R::Error> {
    let mut indexes = Vec::new();
    for &(start, end) in ranges {
        push_range_indexes(start, end, &mut indexes)?;
    }
    let stored = read_exact(reader, &indexes)?;
    let mut rest = stored.as_slice();
    let mut out = Vec::with_capacity(ranges.len());
    for &(start, end) in ranges {
        let count = end.saturating_sub(start).count_ones() as usize;
        let Some((mine, tail)) = rest.split_at_checked(count) else {
            return Err(MerkleError::ReaderLength {
                requested: indexes.len(),
                got: stored.len(),
            }
            .into());
        };
        out.push(fold_subtrees(reader.suite(), mine));
        rest = tail;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // The published vectors are SHA-256 trees.
    const S: Suite = Suite::Ed25519Sha256;

    // Published RFC 6962 test data from transparency-dev/merkle
    // (testonly/constants.go and proof/verify_test.go, the same data as
    // google/certificate-transparency and google/trillian).
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    /// Node hashes of the 8-leaf tree by level, left to right.
    const NODES: [&[&str]; 4] = [
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        ],
        &[
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        ],
        &[
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
        &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
    ];
    /// Roots of the trees of the first 0..=8 leaves.
    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    /// (leaf index, tree size, audit path); verify_test.go numbers leaves
    /// from 1, these are 0-based.
    const INCLUSION: [(u64, u64, &[&str]); 4] = [
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    /// (old size, new size, consistency proof).
    const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];

    type TestResult = Result<(), MerkleError>;

    fn h(hex_str: &str) -> Hash {
        let bytes = hex::decode(hex_str).expect("test vector is hex");
        bytes.try_into().expect("test vector is 32 bytes")
    }

    fn hs(hex_strs: &[&str]) -> Vec<Hash> {
        hex_strs.iter().map(|s| h(s)).collect()
    }

    fn vector_leaves() -> Vec<Hash> {
        LEAVES
            .iter()
            .map(|s| leaf_hash(S, &hex::decode(s).expect("test vector is hex")))
            .collect()
    }

    /// Distinct leaves, so no two subtrees share a hash.
    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(S, &i.to_be_bytes())).collect()
    }

    fn flip(proof: &[Hash], which: usize, bit: usize) -> Vec<Hash> {
        let mut p = proof.to_vec();
        p[which][bit / 8] ^= 1 << (bit % 8);
        p
    }

    fn split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// RFC 6962 §2.1.1 PATH(m, D[n]), straight from the definition.
    fn ref_path(m: usize, d: &[Hash]) -> Vec<Hash> {
        if d.len() <= 1 {
            return Vec::new();
        }
        let k = split(d.len());
        let (mut p, sibling) = if m < k {
            (ref_path(m, &d[..k]), root_of(S, &d[k..]))
        } else {
            (ref_path(m - k, &d[k..]), root_of(S, &d[..k]))
        };
        p.push(sibling);
        p
    }

    /// RFC 6962 §2.1.2 SUBPROOF(m, D[n], b), straight from the definition.
    fn ref_subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
        if m == d.len() {
            return if b { Vec::new() } else { vec![root_of(S, d)] };
        }
        let k = split(d.len());
        let (mut p, other) = if m <= k {
            (ref_subproof(m, &d[..k], b), root_of(S, &d[k..]))
        } else {
            (ref_subproof(m - k, &d[k..], false), root_of(S, &d[..k]))
        };
        p.push(other);
        p
    }

    /// The root an audit path leads to, by recursion over the tree shape
    /// (independent of the RFC 9162 bit loop under test).
    fn ref_path_root(i: u64, n: u64, leaf: &Hash, path: &[Hash]) -> Option<Hash> {
        if i >= n {
            return None;
        }
        if n == 1 {
            return path.is_empty().then_some(*leaf);
        }
        let k = split(n as usize) as u64;
        let (last, rest) = path.split_last()?;
        Some(if i < k {
            node_hash(S, &ref_path_root(i, k, leaf, rest)?, last)
        } else {
            node_hash(S, last, &ref_path_root(i - k, n - k, leaf, rest)?)
        })
    }

    /// The (old, new) roots a consistency proof leads to, by recursion over
    /// SUBPROOF's shape, for 0 < m <= n.
    fn ref_subproof_roots(m: u64, n: u64, b: bool, old: &Hash, p: &[Hash]) -> Option<(Hash, Hash)> {
        if m == n {
            return match (b, p) {
                (true, []) => Some((*old, *old)),
                (false, [only]) => Some((*only, *only)),
                _ => None,
            };
        }
        let k = split(n as usize) as u64;
        let (last, rest) = p.split_last()?;
        if m <= k {
            let (o, nw) = ref_subproof_roots(m, k, b, old, rest)?;
            Some((o, node_hash(S, &nw, last)))
        } else {
            let (o, nw) = ref_subproof_roots(m - k, n - k, false, old, rest)?;
            Some((node_hash(S, last, &o), node_hash(S, last, &nw)))
        }
    }

    /// tlog's StoredHashIndex, as its loop is written.
    fn tlog_stored_hash_index(level: u32, n: u64) -> u128 {
        let mut n = u128::from(n);
        for _ in 0..level {
            n = 2 * n + 1;
        }
        let mut i = 0;
        while n > 0 {
            i += n;
            n >>= 1;
        }
        i + u128::from(level)
    }

    #[test]
    fn hashes_and_roots_match_published_vectors() -> TestResult {
        let leaves = vector_leaves();
        assert_eq!(empty_root(S), h(ROOTS[0]));
        assert_eq!(leaves, hs(NODES[0]));
        for (level, nodes) in NODES.iter().enumerate().skip(1) {
            for (i, node) in nodes.iter().enumerate() {
                let below = hs(NODES[level - 1]);
                assert_eq!(node_hash(S, &below[2 * i], &below[2 * i + 1]), h(node));
            }
        }
        let store = MemoryHashes::from_leaf_hashes(S, &leaves)?;
        let mut tree = CompactTree::new(S);
        for (size, root) in ROOTS.iter().enumerate() {
            let root = h(root);
            assert_eq!(root_of(S, &leaves[..size]), root, "root_of(S, {size})");
            assert_eq!(tree.root(), root, "CompactTree({size})");
            assert_eq!(tree_root(size as u64, &store)?, root, "tree_root({size})");
            if let Some(leaf) = leaves.get(size) {
                tree.append(*leaf)?;
            }
        }
        // The frontier of size 7 is nodes (2,0), (1,2), (0,6) (transparency-dev
        // testonly.CompactTrees).
        let seven = CompactTree::load(7, &store)?;
        assert_eq!(
            seven.frontier(),
            [h(NODES[2][0]), h(NODES[1][2]), h(NODES[0][6])]
        );
        Ok(())
    }

    #[test]
    fn inclusion_proofs_match_published_vectors() -> TestResult {
        let leaves = vector_leaves();
        let store = MemoryHashes::from_leaf_hashes(S, &leaves)?;
        for (index, size, proof) in INCLUSION {
            let proof = hs(proof);
            assert_eq!(inclusion_proof(index, size, &store)?, proof);
            verify_inclusion(
                S,
                &leaves[index as usize],
                index,
                size,
                &proof,
                &h(ROOTS[size as usize]),
            )?;
        }
        assert!(inclusion_proof(0, 1, &store)?.is_empty());
        Ok(())
    }

    #[test]
    fn consistency_proofs_match_published_vectors() -> TestResult {
        let store = MemoryHashes::from_leaf_hashes(S, &vector_leaves())?;
        for (old, new, proof) in CONSISTENCY {
            let proof = hs(proof);
            assert_eq!(consistency_proof(old, new, &store)?, proof);
            let (old_root, new_root) = (h(ROOTS[old as usize]), h(ROOTS[new as usize]));
            verify_consistency(S, old, new, &old_root, &new_root, &proof)?;
        }
        Ok(())
    }

    #[test]
    fn storage_indexes_follow_tlog() -> TestResult {
        // (level, n) in the order tlog appends them for the first 8 leaves.
        let order = [
            (0, 0),
            (0, 1),
            (1, 0),
            (0, 2),
            (0, 3),
            (1, 1),
            (2, 0),
            (0, 4),
        ];
        for (i, (level, n)) in order.into_iter().enumerate() {
            assert_eq!(stored_hash_index(level, n)?, i as u64);
        }
        for level in 0..64u8 {
            for n in (0..300).chain([1 << 20, (1 << 40) + 7, u64::MAX >> level >> 1, u64::MAX]) {
                let want = tlog_stored_hash_index(u32::from(level), n);
                match stored_hash_index(level, n) {
                    Ok(got) => assert_eq!(u128::from(got), want, "level {level} n {n}"),
                    Err(_) => assert!(want > u128::from(u64::MAX), "level {level} n {n}"),
                }
            }
        }
        assert!(stored_hash_index(64, 0).is_err());
        assert!(stored_hash_index(u8::MAX, 0).is_err());
        Ok(())
    }

    /// All sizes 1..=70: stored, incremental and reference trees agree, and
    /// every generated inclusion proof is RFC 6962's PATH and verifies.
    #[test]
    fn inclusion_cross_check_up_to_70() -> TestResult {
        let leaves = leaves(70);
        let mut store = MemoryHashes::new(S);
        let mut tree = CompactTree::new(S);
        for (n, leaf) in leaves.iter().enumerate() {
            let pairs = tree.append(*leaf)?;
            let stored = store.hashes().len() as u64;
            assert_eq!(pairs, stored_hashes_for_leaf(n as u64, *leaf, &store)?);
            store.push_leaf(*leaf)?;
            for (k, (index, hash)) in pairs.iter().enumerate() {
                assert_eq!(*index, stored + k as u64);
                assert_eq!(store.hashes()[*index as usize], *hash);
            }
            let size = n as u64 + 1;
            assert_eq!(stored_hash_count(size)?, store.hashes().len() as u64);
            let root = root_of(S, &leaves[..=n]);
            assert_eq!(tree.root(), root);
            assert_eq!(tree_root(size, &store)?, root);
            assert_eq!(CompactTree::load(size, &store)?, tree);
            let rebuilt = CompactTree::from_parts(S, size, tree.frontier().to_vec())?;
            assert_eq!(rebuilt, tree);
            for i in 0..=n {
                let proof = inclusion_proof(i as u64, size, &store)?;
                assert_eq!(proof, ref_path(i, &leaves[..=n]), "PATH({i}, {size})");
                verify_inclusion(S, &leaves[i], i as u64, size, &proof, &root)?;
            }
        }
        // Earlier sizes are served from the full store too.
        for size in 1..=70u64 {
            assert_eq!(
                tree_root(size, &store)?,
                root_of(S, &leaves[..size as usize])
            );
        }
        Ok(())
    }

    /// All pairs old <= new <= 70: generated proofs are RFC 6962's PROOF and verify.
    #[test]
    fn consistency_cross_check_up_to_70() -> TestResult {
        let leaves = leaves(70);
        let store = MemoryHashes::from_leaf_hashes(S, &leaves)?;
        let roots: Vec<Hash> = (0..=70).map(|n| root_of(S, &leaves[..n])).collect();
        for new in 0..=70usize {
            for old in 0..=new {
                let proof = consistency_proof(old as u64, new as u64, &store)?;
                let want = if old == 0 {
                    Vec::new()
                } else {
                    ref_subproof(old, &leaves[..new], true)
                };
                assert_eq!(proof, want, "PROOF({old}, {new})");
                verify_consistency(S, old as u64, new as u64, &roots[old], &roots[new], &proof)?;
            }
        }
        Ok(())
    }

    /// For every proof in trees up to 24 leaves, verification under every
    /// other (index, size) accepts exactly when an independent recursive
    /// verifier does; a different index in the same tree is always rejected.
    #[test]
    fn inclusion_rejects_wrong_index_or_size() -> TestResult {
        const N: u64 = 24;
        let leaves = leaves(N);
        let store = MemoryHashes::from_leaf_hashes(S, &leaves)?;
        for size in 1..=N {
            let root = root_of(S, &leaves[..size as usize]);
            for index in 0..size {
                let leaf = &leaves[index as usize];
                let proof = inclusion_proof(index, size, &store)?;
                for other_size in 0..=N + 2 {
                    for other_index in 0..=other_size {
                        let ok = verify_inclusion(S, leaf, other_index, other_size, &proof, &root)
                            .is_ok();
                        let want =
                            ref_path_root(other_index, other_size, leaf, &proof) == Some(root);
                        assert_eq!(
                            ok, want,
                            "proof ({index}, {size}) as ({other_index}, {other_size})"
                        );
                        if other_size == size && other_index != index {
                            assert!(!ok);
                        }
                    }
                }
                for s in [size * 2, size / 2, size + 1 + u64::MAX / 2] {
                    assert!(verify_inclusion(S, leaf, index, s, &proof, &root).is_err());
                }
            }
        }
        Ok(())
    }

    /// Likewise for consistency proofs: other sizes verify exactly when the
    /// recursive SUBPROOF verifier agrees, and swapped roots never do.
    #[test]
    fn consistency_rejects_wrong_sizes_or_roots() -> TestResult {
        const N: u64 = 20;
        let leaves = leaves(N);
        let store = MemoryHashes::from_leaf_hashes(S, &leaves)?;
        let roots: Vec<Hash> = (0..=N as usize).map(|n| root_of(S, &leaves[..n])).collect();
        for new in 2..=N {
            for old in 1..new {
                let proof = consistency_proof(old, new, &store)?;
                let (r1, r2) = (&roots[old as usize], &roots[new as usize]);
                for o in 1..=N {
                    for n in o..=N + 2 {
                        let ok = verify_consistency(S, o, n, r1, r2, &proof).is_ok();
                        let want =
                            o < n && ref_subproof_roots(o, n, true, r1, &proof) == Some((*r1, *r2));
                        assert_eq!(ok, want, "proof ({old}, {new}) as ({o}, {n})");
                    }
                }
                assert!(verify_consistency(S, old, new, r2, r1, &proof).is_err());
                assert!(verify_consistency(S, old, new, r1, r2, &[]).is_err());
                assert!(verify_consistency(S, new, old, r1, r2, &proof).is_err());
                assert!(verify_consistency(S, 0, new, r1, r2, &proof).is_err());
                assert!(verify_consistency(S, old, new * 2, r1, r2, &proof).is_err());
            }
        }
        Ok(())
    }

    /// Every bit of every proof hash, every truncation and every insertion,
    /// for all proofs in trees up to 12 leaves.
    #[test]
    fn every_corruption_is_rejected_exhaustively() -> TestResult {
        const N: u64 = 12;
        let leaves = leaves(N);
        let store = MemoryHashes::from_leaf_hashes(S, &leaves)?;
        let roots: Vec<Hash> = (0..=N as usize).map(|n| root_of(S, &leaves[..n])).collect();
        let junk = [empty_root(S), roots[N as usize], leaves[0]];
        for size in 1..=N {
            let root = &roots[size as usize];
            for index in 0..size {
                let leaf = &leaves[index as usize];
                let proof = inclusion_proof(index, size, &store)?;
                for which in 0..proof.len() {
                    for bit in 0..256 {
                        let bad = flip(&proof, which, bit);
                        assert!(verify_inclusion(S, leaf, index, size, &bad, root).is_err());
                    }
                }
                for bit in 0..256 {
                    assert!(
                        verify_inclusion(S, &flip(&[*leaf], 0, bit)[0], index, size, &proof, root)
                            .is_err()
                    );
                    assert!(
                        verify_inclusion(S, leaf, index, size, &proof, &flip(&[*root], 0, bit)[0])
                            .is_err()
                    );
                }
                assert_rejects_resized(&proof, &junk, |p| {
                    verify_inclusion(S, leaf, index, size, p, root)
                });
            }
            for old in 1..size {
                let old_root = &roots[old as usize];
                let proof = consistency_proof(old, size, &store)?;
                for which in 0..proof.len() {
                    for bit in 0..256 {
                        let bad = flip(&proof, which, bit);
                        assert!(verify_consistency(S, old, size, old_root, root, &bad).is_err());
                    }
                }
                for bit in 0..256 {
                    let bad_old = flip(&[*old_root], 0, bit)[0];
                    let bad_new = flip(&[*root], 0, bit)[0];
                    assert!(verify_consistency(S, old, size, &bad_old, root, &proof).is_err());
                    assert!(verify_consistency(S, old, size, old_root, &bad_new, &proof).is_err());
                }
                assert_rejects_resized(&proof, &junk, |p| {
                    verify_consistency(S, old, size, old_root, root, p)
                });
            }
        }
        Ok(())
    }

    fn assert_rejects_resized(
        proof: &[Hash],
        junk: &[Hash],
        verify: impl Fn(&[Hash]) -> TestResult,
    ) {
        assert!(verify(proof).is_ok());
        for cut in 0..proof.len() {
            assert!(verify(&proof[..cut]).is_err(), "truncated to {cut}");
            assert!(
                verify(&proof[proof.len() - cut..]).is_err(),
                "front cut to {cut}"
            );
        }
        for at in 0..=proof.len() {
            for extra in junk.iter().chain(proof) {
                let mut longer = proof.to_vec();
                longer.insert(at, *extra);
                assert!(verify(&longer).is_err(), "inserted at {at}");
            }
        }
    }

    #[test]
    fn edge_cases_have_clear_errors() -> TestResult {
        let leaves = leaves(8);
        let store = MemoryHashes::from_leaf_hashes(S, &leaves)?;
        let (root, empty) = (root_of(S, &leaves), empty_root(S));
        // Index out of range and size 0.
        let e = verify_inclusion(S, &leaves[0], 8, 8, &[], &root);
        assert_eq!(e, Err(MerkleError::IndexOutOfRange { index: 8, size: 8 }));
        assert!(verify_inclusion(S, &leaves[0], 0, 0, &[], &empty).is_err());
        assert_eq!(
            inclusion_proof(8, 8, &store),
            Err(MerkleError::IndexOutOfRange { index: 8, size: 8 })
        );
        assert_eq!(
            inclusion_proof(0, 9, &store),
            Err(MerkleError::MissingHash { index: 15 })
        );
        assert!(tree_root(9, &store).is_err());
        assert!(consistency_proof(3, 9, &store).is_err());
        // Wrong proof length, with the message the operator sees.
        let proof = inclusion_proof(5, 8, &store)?;
        let mut long = proof.clone();
        long.push(root);
        let e = verify_inclusion(S, &leaves[5], 5, 8, &long, &root).map_err(|e| e.to_string());
        assert_eq!(
            e,
            Err("inclusion proof for leaf 5 in a tree of 8 has 4 hashes, expected 3".into())
        );
        let e = verify_inclusion(S, &leaves[4], 5, 8, &proof, &root).map_err(|e| e.to_string());
        let msg = e.err().unwrap_or_default();
        assert!(
            msg.starts_with("root mismatch for tree size 8: proof leads to "),
            "{msg}"
        );
        assert!(
            msg.ends_with(&format!("checkpoint says {}", hex::encode(root))),
            "{msg}"
        );
        // The limit the module docs state: sizes are bound by checkpoints, not proofs.
        let three = root_of(S, &leaves[..3]);
        let proof = inclusion_proof(0, 3, &store)?;
        verify_inclusion(S, &leaves[0], 0, 4, &proof, &three)?;
        // Consistency: sizes out of order, size 0 and equal sizes.
        assert_eq!(
            consistency_proof(5, 4, &store),
            Err(MerkleError::SizesOutOfOrder {
                old_size: 5,
                new_size: 4
            })
        );
        assert!(verify_consistency(S, 5, 4, &root, &root, &[]).is_err());
        assert_eq!(consistency_proof(0, 8, &store)?, Vec::<Hash>::new());
        verify_consistency(S, 0, 8, &empty, &root, &[])?;
        verify_consistency(S, 0, 0, &empty, &empty, &[])?;
        assert!(verify_consistency(S, 0, 8, &root, &root, &[]).is_err());
        assert!(verify_consistency(S, 0, 8, &empty, &root, &[root]).is_err());
        assert!(verify_consistency(S, 0, 0, &empty, &root, &[]).is_err());
        assert!(verify_consistency(S, 0, 0, &root, &root, &[]).is_err());
        assert_eq!(consistency_proof(8, 8, &store)?, Vec::<Hash>::new());
        verify_consistency(S, 8, 8, &root, &root, &[])?;
        assert!(verify_consistency(S, 8, 8, &root, &root, &[root]).is_err());
        assert_eq!(
            verify_consistency(S, 8, 8, &root, &empty, &[]),
            Err(MerkleError::SameSizeRootsDiffer {
                size: 8,
                old_root: root,
                new_root: empty
            })
        );
        // Frontiers must have one hash per set bit of the size.
        assert_eq!(
            CompactTree::from_parts(S, 6, vec![root]),
            Err(MerkleError::FrontierLength {
                size: 6,
                got: 1,
                expected: 2
            })
        );
        assert!(CompactTree::from_parts(S, 0, vec![]).is_ok_and(|t| t.root() == empty));
        Ok(())
    }

    struct ShortReader;

    impl HashReader for ShortReader {
        type Error = MerkleError;
        fn suite(&self) -> Suite {
            S
        }
        fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
            Ok(vec![[0; 32]; indexes.len().saturating_sub(1)])
        }
    }

    #[test]
    fn a_reader_returning_too_few_hashes_is_an_error() {
        let short = MerkleError::ReaderLength {
            requested: 3,
            got: 2,
        };
        assert_eq!(inclusion_proof(0, 5, &ShortReader), Err(short.clone()));
        assert_eq!(tree_root(7, &ShortReader), Err(short.clone()));
        assert_eq!(CompactTree::load(7, &ShortReader), Err(short));
        assert!(stored_hashes_for_leaf(3, [0; 32], &ShortReader).is_err());
    }

    #[test]
    fn hostile_sizes_are_errors_not_panics() -> TestResult {
        let store = MemoryHashes::from_leaf_hashes(S, &leaves(5))?;
        let x = [7u8; 32];
        let big = [
            u64::MAX,
            u64::MAX - 1,
            u64::MAX / 2,
            u64::MAX / 2 + 1,
            u64::MAX / 2 + 2,
            1 << 62,
            (1 << 62) + 1,
        ];
        for size in big {
            for index in [0, 1, size / 2, size.saturating_sub(1), size, u64::MAX] {
                for len in [0, 1, 2, 62, 63, 64, 65, 100, 130] {
                    let proof = vec![x; len];
                    assert!(verify_inclusion(S, &x, index, size, &proof, &x).is_err());
                    if index != size || len != 0 {
                        assert!(verify_consistency(S, index, size, &x, &x, &proof).is_err());
                        assert!(verify_consistency(S, size, index, &x, &x, &proof).is_err());
                    }
                }
                assert!(inclusion_proof(index, size, &store).is_err());
                assert!(
                    consistency_proof(index, size, &store).is_err() || index == 0 || index == size
                );
            }
            assert!(tree_root(size, &store).is_err());
            assert!(CompactTree::load(size, &store).is_err());
            // An even position below 2^63 completes no subtree: nothing to read.
            let needs_reads = size & 1 == 1 || size >= 1 << 63;
            assert_eq!(
                stored_hashes_for_leaf(size, x, &store).is_err(),
                needs_reads
            );
        }
        assert_eq!(
            stored_hash_count(u64::MAX),
            Err(MerkleError::TreeTooLarge { size: u64::MAX })
        );
        assert_eq!(stored_hash_count(1 << 63)?, u64::MAX);
        assert!(stored_hash_count((1 << 63) + 1).is_err());
        assert!(stored_hash_index(0, u64::MAX).is_err());
        assert!(stored_hash_index(63, 1).is_err());
        // The largest possible compact tree still has a root; it refuses to grow.
        let mut full = CompactTree::from_parts(S, u64::MAX, vec![x; 64])?;
        let before = full.clone();
        assert_ne!(full.root(), x);
        assert!(full.append(x).is_err());
        assert_eq!(full, before);
        let mut edge = CompactTree::from_parts(S, (1 << 63) - 1, vec![x; 63])?;
        let pairs = edge.append(x)?;
        assert_eq!(pairs.last().map(|p| p.0), Some(u64::MAX - 1));
        assert_eq!(edge.size(), 1 << 63);
        assert_eq!(edge.frontier().len(), 1);
        let at_limit = edge.clone();
        assert_eq!(
            edge.append(x),
            Err(MerkleError::TreeTooLarge {
                size: (1 << 63) + 1
            })
        );
        assert_eq!(edge, at_limit);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_bit_flip_in_any_proof_is_rejected(
            size in 1u64..=70,
            index_seed in any::<u64>(),
            old_seed in any::<u64>(),
            which_seed in any::<usize>(),
            bit in 0usize..256,
        ) {
            let leaves = leaves(size);
            let store = MemoryHashes::from_leaf_hashes(S, &leaves)?;
            let root = root_of(S, &leaves);
            let index = index_seed % size;
            let proof = inclusion_proof(index, size, &store)?;
            if !proof.is_empty() {
                let bad = flip(&proof, which_seed % proof.len(), bit);
                prop_assert!(verify_inclusion(S, &leaves[index as usize], index, size, &bad, &root).is_err());
            }
            let old = old_seed % size;
            let old_root = root_of(S, &leaves[..old as usize]);
            let proof = consistency_proof(old, size, &store)?;
            prop_assert!(verify_consistency(S, old, size, &old_root, &root, &proof).is_ok());
            if !proof.is_empty() {
                let bad = flip(&proof, which_seed % proof.len(), bit);
                prop_assert!(verify_consistency(S, old, size, &old_root, &root, &bad).is_err());
            }
        }

        #[test]
        fn verification_never_panics(
            index in any::<u64>(),
            size in any::<u64>(),
            len in 0usize..130,
            fill in any::<u8>(),
        ) {
            let proof = vec![[fill; 32]; len];
            let x = [fill; 32];
            let _ = verify_inclusion(S, &x, index, size, &proof, &x);
            let _ = verify_consistency(S, index, size, &x, &x, &proof);
            let _ = stored_hash_index((index % 70) as u8, size);
            let _ = stored_hash_count(size);
        }
    }
}
