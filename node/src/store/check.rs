//! Finding corruption instead of serving it.
//!
//! [`quick`] runs at every open: for each log it recomputes the root from
//! the stored hashes and compares it with the commit point and the latest
//! checkpoint held, and reads the last entry and a random sample of others,
//! each checked against its stored leaf hash. It reads a few hundred
//! hashes and entries whatever the log's size.
//!
//! [`full`] (`rongxin-node verify --data-dir DIR`) reads everything: every
//! entry decodes, sits at its position in its origin's log and chains to
//! the one before; every stored hash is recomputed from the leaves; the
//! roots match the commit points and checkpoints. Signatures need the
//! roster: `rongxinctl audit log` checks them (and everything else) over
//! HTTP, against any node.

use rand::RngExt as _;
use rongxin_protocol::checkpoint::Checkpoint;
use rongxin_protocol::entry::Entry;
use rongxin_protocol::merkle::{self, CompactTree, Hash, HashReader as _, Suite};

use super::{LogState, Store, StoreError};

/// Entries read at random by [`quick`], per log.
const SAMPLE: usize = 16;
/// Entries per read in [`full`].
const CHUNK: u64 = 8192;

fn damaged(store: &Store, origin: &str, why: String) -> StoreError {
    StoreError::Damaged {
        path: super::files::origin_dir(&store.inner.logs_dir, origin)
            .display()
            .to_string(),
        why: format!(
            "{why}. The node will not serve a damaged log: move the data directory aside and start the node with an empty one (it restores its own log and every replica from peers), or restore a backup (docs/operations.md \"Restoring a node\")"
        ),
    }
}

/// The suite of a log's entries, read from its first entry's tag (the
/// store itself does not know the roster).
fn suite_of(store: &Store, origin: &str, state: &LogState) -> Result<Suite, StoreError> {
    let log = store
        .log(origin)
        .ok_or_else(|| damaged(store, origin, "the log is not open".into()))?;
    log.files
        .suite(state.committed())
        .map_err(|e| damaged(store, origin, e.to_string()))
}

/// The checkpoint a log state holds, parsed without its signature (the
/// signature was checked when it was stored).
fn held_checkpoint(state: &LogState) -> Option<Checkpoint> {
    let note = rongxin_protocol::note::parse_note(&state.checkpoint).ok()?;
    Checkpoint::parse_body(note.text).ok()
}

/// Checks that the root of the first `size` stored hashes is `root`.
fn check_root(
    store: &Store,
    origin: &str,
    suite: Suite,
    size: u64,
    root: &Hash,
    what: &str,
) -> Result<(), StoreError> {
    let got = merkle::tree_root(size, &store.hashes(origin, suite))?;
    if &got != root {
        return Err(damaged(
            store,
            origin,
            format!("the stored hashes give size {size} a root other than {what}"),
        ));
    }
    Ok(())
}

/// The check at open: roots against the commit points and checkpoints, the
/// last entry and a sample.
pub fn quick(store: &Store) -> Result<(), StoreError> {
    let mut rng = rand::rng();
    for (origin, state) in store.log_states()? {
        if state.size == 0 {
            continue;
        }
        let suite = suite_of(store, &origin, &state)?;
        check_root(
            store,
            &origin,
            suite,
            state.size,
            &state.root,
            "the commit point's",
        )?;
        if let Some(cp) = held_checkpoint(&state) {
            if cp.size > state.size {
                return Err(damaged(
                    store,
                    &origin,
                    format!(
                        "the checkpoint held is for {} entries, but the log holds {}",
                        cp.size, state.size
                    ),
                ));
            }
            check_root(
                store,
                &origin,
                suite,
                cp.size,
                &cp.root,
                "its signed checkpoint's",
            )?;
        }
        let mut picks = vec![state.size - 1];
        picks.extend((0..SAMPLE).map(|_| rng.random_range(0..state.size)));
        for n in picks {
            store
                .entries(&origin, n, 1)
                .map_err(|e| damaged(store, &origin, e.to_string()))?;
        }
    }
    Ok(())
}

/// What [`full`] checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    /// Logs checked.
    pub logs: usize,
    /// Entries checked.
    pub entries: u64,
    /// Stored hashes recomputed.
    pub hashes: u64,
}

/// Reads and checks every log whole; `progress` hears (origin, entries
/// done, entries in the log) after each chunk.
pub fn full(
    store: &Store,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<Verified, StoreError> {
    let mut out = Verified::default();
    for (origin, state) in store.log_states()? {
        if state.size == 0 {
            out.logs += 1;
            continue;
        }
        let suite = suite_of(store, &origin, &state)?;
        let reader = store.hashes(&origin, suite);
        let mut tree = CompactTree::new(suite);
        let mut prev: Hash = [0; 32];
        let mut n = 0u64;
        while n < state.size {
            let to = (n + CHUNK).min(state.size);
            let entries = store
                .entries(&origin, n, to - n)
                .map_err(|e| damaged(store, &origin, e.to_string()))?;
            let first_hash = merkle::stored_hash_count(n)?;
            let last_hash = merkle::stored_hash_count(to)?;
            let stored = reader.read_hashes(&(first_hash..last_hash).collect::<Vec<_>>())?;
            let mut computed = Vec::with_capacity(stored.len());
            for (seq, e) in (n..).zip(&entries) {
                let entry = Entry::decode(&e.bytes)
                    .map_err(|err| damaged(store, &origin, format!("entry {seq}: {err}")))?;
                if entry.origin != origin || entry.seq != seq {
                    return Err(damaged(
                        store,
                        &origin,
                        format!("entry {seq} says it is {}/{}", entry.origin, entry.seq),
                    ));
                }
                if entry.prev_hash != prev {
                    return Err(damaged(
                        store,
                        &origin,
                        format!(
                            "entry {seq} does not chain to entry {}",
                            seq.saturating_sub(1)
                        ),
                    ));
                }
                prev = e.leaf_hash(suite);
                computed.extend(tree.append(prev)?.into_iter().map(|(_, h)| h));
            }
            if let Some(k) = computed.iter().zip(&stored).position(|(a, b)| a != b) {
                return Err(damaged(
                    store,
                    &origin,
                    format!(
                        "stored hash {} differs from the one its leaves give",
                        first_hash + k as u64
                    ),
                ));
            }
            out.hashes += computed.len() as u64;
            out.entries += to - n;
            n = to;
            progress(&origin, n, state.size);
        }
        if tree.root() != state.root {
            return Err(damaged(
                store,
                &origin,
                "the entries give a root other than the commit point's".into(),
            ));
        }
        if let Some(cp) = held_checkpoint(&state) {
            check_root(
                store,
                &origin,
                suite,
                cp.size,
                &cp.root,
                "its signed checkpoint's",
            )?;
        }
        out.logs += 1;
        progress(&origin, state.size, state.size);
    }
    Ok(out)
}
