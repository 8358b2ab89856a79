//! The replicator's pipelined appends, in process against a real store on
//! disk: batches handed to the writer without waiting are all stored, in
//! order, with their records indexed; a batch that fails in the writer
//! fails the ones handed over after it, leaves nothing of them in the
//! store, and the next round continues from what the store holds.

use std::collections::HashMap;
use std::sync::Arc;

use rongxin_node::metrics::Metrics;
use rongxin_node::replica::{ReplicaError, Replicator};
use rongxin_node::shared::Shared;
use rongxin_node::store::faults::Point;
use rongxin_node::store::{LogState, Store};
use rongxin_protocol::checkpoint::{Checkpoint, SignedCheckpoint};
use rongxin_protocol::entry::{Entry, Op, Revoke, RevokeReason, SignedEntry};
use rongxin_protocol::log::{RecordState, next_state};
use rongxin_protocol::merkle::{self, Hash};
use rongxin_protocol::record::RecordKey;
use rongxin_protocol::suite::Suite;
use rongxin_tests::bench::fed::BenchFed;
use rongxin_tests::bench::limits::signed_entries;

const ORIGIN: &str = "gulou";
const BATCH: usize = 100;

struct Setup {
    fed: BenchFed,
    entries: Vec<SignedEntry>,
    target: SignedCheckpoint,
}

/// `n` entries of gulou's log whose batches build on each other: after
/// the first batch, each re-Puts (a new version) records of the batch
/// before it and revokes some of the batch two before, so the batches in
/// the writer's hands at once change the same records.
fn setup(n: usize) -> Setup {
    let fed = BenchFed::generate(&["city", ORIGIN], Suite::Ed25519Sha256);
    let fresh: Vec<Entry> = signed_entries(&fed, ORIGIN, n)
        .iter()
        .map(|e| Entry::decode(&e.bytes).expect("a sample entry decodes"))
        .collect();
    let mut fresh = fresh.into_iter().map(|e| e.op);
    let mut ops: Vec<Op> = Vec::with_capacity(n);
    while ops.len() < n {
        let batch = ops.len() / BATCH;
        let at = ops.len() % BATCH;
        let op = if batch >= 1 && at < BATCH / 4 {
            ops[(batch - 1) * BATCH + at].clone()
        } else if batch >= 2 && at < BATCH / 2 {
            let earlier = &ops[(batch - 2) * BATCH + at];
            match earlier {
                Op::Put(r) => Op::Revoke(Revoke {
                    key: r.key(),
                    reason: RevokeReason::Error,
                    basis: format!("test {batch}/{at}"),
                }),
                _ => fresh.next().expect("enough sample records"),
            }
        } else {
            fresh.next().expect("enough sample records")
        };
        ops.push(op);
    }
    let signer = fed.signer(ORIGIN);
    let mut prev: Hash = [0; 32];
    let entries: Vec<SignedEntry> = ops
        .into_iter()
        .enumerate()
        .map(|(seq, op)| {
            let signed = Entry {
                origin: ORIGIN.to_owned(),
                seq: seq as u64,
                prev_hash: prev,
                time_ms: rongxin_node::ingest::now_ms(),
                op,
            }
            .sign(signer.secret())
            .expect("sign an entry");
            prev = signed.leaf_hash(fed.suite());
            signed
        })
        .collect();
    let leaves: Vec<Hash> = entries.iter().map(|e| e.leaf_hash(fed.suite())).collect();
    let target = Checkpoint {
        origin: fed.roster().roster.log_origin(ORIGIN),
        size: n as u64,
        root: merkle::root_of(fed.suite(), &leaves),
    }
    .sign(&fed.signer(ORIGIN))
    .expect("sign a checkpoint");
    Setup {
        fed,
        entries,
        target,
    }
}

fn replicator(s: &Setup, name: &str) -> (Store, Replicator) {
    let store = Store::open(&s.fed.dir().join(name)).expect("open a store");
    let shared = Arc::new(Shared::new(
        s.fed.roster().clone(),
        s.fed.root().clone(),
        s.fed.catalog().clone(),
        "city".to_owned(),
        rongxin_protocol::calendar::Calendar::embedded().expect("the built-in calendar"),
        Vec::new(),
    ));
    let replicator = Replicator::new(store.clone(), shared, Metrics::new());
    (store, replicator)
}

fn key_of(e: &SignedEntry) -> RecordKey {
    Entry::decode(&e.bytes)
        .expect("a sample entry decodes")
        .record_key()
        .expect("a Put has a record key")
}

/// Each record's state after `entries`, applied one after another.
fn states(entries: &[SignedEntry]) -> HashMap<RecordKey, RecordState> {
    let mut want = HashMap::new();
    for e in entries {
        let entry = Entry::decode(&e.bytes).expect("decodes");
        let key = key_of(e);
        let prev = want.remove(&key);
        if let Some(next) = next_state(prev.clone(), &entry).or(prev) {
            want.insert(key, next);
        }
    }
    want
}

fn size(store: &Store) -> u64 {
    store
        .log_state(ORIGIN)
        .expect("read the commit point")
        .map_or(0, |l| l.size)
}

/// Asserts that `store` holds the whole log of `s`, closed on its signed
/// checkpoint, with each record's state the one the entries give one after
/// another (whichever batches were in the writer's hands at once); returns
/// the commit point.
fn assert_whole(s: &Setup, store: &Store) -> LogState {
    assert_eq!(size(store), s.entries.len() as u64);
    let state = store
        .log_state(ORIGIN)
        .expect("read")
        .expect("a commit point");
    assert_eq!(state.root, s.target.checkpoint.root);
    for (key, want) in &states(&s.entries) {
        let held = store.record(key).expect("read a record");
        assert_eq!(held.as_ref(), Some(want), "{key}");
    }
    state
}

#[test]
fn batches_handed_over_without_waiting_are_all_stored_in_order() {
    let s = setup(6 * BATCH);
    let (store, replicator) = replicator(&s, "all");
    // A slow disk: each batch stays in the writer's hands while the next
    // is prepared on top of it.
    store
        .faults()
        .delay(Point::FileSync, std::time::Duration::from_millis(30));
    // Verified first, so that the appends follow each other as fast as
    // they are prepared.
    let mut from = 0;
    let verified: Vec<_> = s
        .entries
        .chunks(BATCH)
        .enumerate()
        .map(|(i, chunk)| {
            let v = replicator.verify(ORIGIN, (i * BATCH) as u64, chunk);
            (i, chunk, v.expect("the batch verifies"))
        })
        .collect();
    for (i, chunk, v) in &verified {
        assert_eq!(from, (i * BATCH) as u64);
        from = replicator
            .append_verified(ORIGIN, from, chunk, v, &s.target)
            .expect("the batch is handed over");
    }
    assert_eq!(from, 6 * BATCH as u64);
    replicator.settle(ORIGIN).expect("every batch is stored");
    let state = assert_whole(&s, &store);
    assert_eq!(
        state.checkpoint, s.target.note,
        "the closing checkpoint is kept"
    );
    let want = states(&s.entries);
    assert!(want.values().any(|r| r.version > 1) && want.values().any(|r| r.revoked.is_some()));
    let held = store
        .entries(ORIGIN, 0, 6 * BATCH as u64)
        .expect("read the entries");
    assert_eq!(held.len(), 6 * BATCH);
    assert!(held.iter().zip(&s.entries).all(|(a, b)| a.bytes == b.bytes));
}

#[test]
fn a_batch_that_fails_in_the_writer_fails_those_after_it_and_the_next_round_goes_on() {
    let s = setup(5 * BATCH);
    let (store, replicator) = replicator(&s, "faulty");
    let chunks: Vec<&[SignedEntry]> = s.entries.chunks(BATCH).collect();
    replicator
        .append(ORIGIN, 0, chunks[0], &s.target)
        .expect("batch 1 handed over");
    replicator.settle(ORIGIN).expect("batch 1 stored");
    // The next sync of a log file fails: batch 2 fails in the writer, and
    // batch 3, handed over on top of it before that was known, with it.
    store.faults().fail_after(Point::FileSync, 0);
    let mut from = BATCH as u64;
    let mut failed = None;
    for chunk in &chunks[1..3] {
        match replicator.append(ORIGIN, from, chunk, &s.target) {
            Ok(size) => from = size,
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let failed = match failed {
        Some(e) => e,
        None => replicator
            .settle(ORIGIN)
            .expect_err("a failed sync fails the round"),
    };
    assert!(
        matches!(failed, ReplicaError::Store(_)),
        "a store error, not a refusal of the peer's data: {failed}"
    );
    assert_eq!(
        size(&store),
        BATCH as u64,
        "nothing of batches 2 and 3 is committed"
    );
    let first = states(&s.entries[..BATCH]);
    for e in &s.entries[..3 * BATCH] {
        let key = key_of(e);
        let held = store.record(&key).expect("read a record");
        assert_eq!(
            held.as_ref(),
            first.get(&key),
            "{key}: indexed as of batch 1 only"
        );
    }
    // The disk is back: the next round starts where the store ends.
    store.faults().clear(Point::FileSync);
    assert_eq!(store.probe(), None, "the store takes writes again");
    let mut from = size(&store);
    for chunk in s.entries[BATCH..].chunks(BATCH) {
        from = replicator
            .append(ORIGIN, from, chunk, &s.target)
            .expect("appended after the fault");
    }
    replicator.settle(ORIGIN).expect("stored after the fault");
    assert_whole(&s, &store);
}
