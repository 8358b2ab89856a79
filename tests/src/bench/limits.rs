//! `limits`: the ceilings of this machine that the other scenarios are
//! measured against, in process: Ed25519 signing and verification (single
//! and batch, one and two threads) over real entry bytes, SHA-256, the
//! node's per-entry checks without the store, sled batch inserts with a
//! flush per 1000 (one insert per record, then the node's key layout), and
//! the node's replica append (verify, check, index, apply) with no network.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rongxin_node::metrics::Metrics;
use rongxin_node::replica::Replicator;
use rongxin_node::shared::Shared;
use rongxin_node::store::{ListSlot, LogState, RecordState, Store, WriteBatch};
use rongxin_protocol::checkpoint::Checkpoint;
use rongxin_protocol::entry::{Entry, Op, SignedEntry, verify_batch};
use rongxin_protocol::merkle::{self, CompactTree, Hash};
use rongxin_protocol::record::Record;
use serde_json::Value;

use super::Size;
use super::fed::BenchFed;
use super::load::read_lines;
use super::procs::own_cpu;
use super::report::{Table, figure, summary};

/// Entries per replication batch (the protocol's maximum).
const BATCH: usize = 1024;
/// Records per sled flush, as the issue states the ceiling.
const SLED_FLUSH: usize = 1000;

/// Runs the scenario; returns batch verifications per second on two threads.
pub fn run(fed: &BenchFed, size: Size) -> f64 {
    let n = size.entries(10_000, 200_000) as usize;
    let crypto_n = n.min(size.pick(4_096, 65_536));
    let origin = "gulou";
    let signer = fed.signer(origin);
    let entries = signed_entries(fed, origin, n);
    let avg = entries.iter().map(|e| e.bytes.len()).sum::<usize>() / entries.len().max(1);
    let key = signer.secret().clone();
    let vk = key.public().clone();
    let crypto = &entries[..crypto_n];

    let mut t = Table::new(
        &format!(
            "limits: {crypto_n} entries for crypto, {n} records for the store; entries of {avg} bytes on average"
        ),
        &["operation", "threads", "per second", "µs CPU each"],
    );
    for threads in [1, 2] {
        let r = measure(|| {
            parallel(crypto, threads, |part| {
                for e in part {
                    std::hint::black_box(key.sign(&e.bytes));
                }
            })
        });
        rate_row(&mut t, "Ed25519 sign", threads, crypto.len(), r);
    }
    for threads in [1, 2] {
        let r = measure(|| {
            parallel(crypto, threads, |part| {
                for e in part {
                    assert!(vk.verify(&e.bytes, &e.signature));
                }
            })
        });
        rate_row(&mut t, "Ed25519 verify (strict)", threads, crypto.len(), r);
    }
    let mut batch_2 = 0.0;
    for threads in [1, 2] {
        let r = measure(|| {
            parallel(crypto, threads, |part| {
                for chunk in part.chunks(BATCH) {
                    let msgs: Vec<&[u8]> = chunk.iter().map(|e| e.bytes.as_slice()).collect();
                    let sigs: Vec<[u8; 64]> = chunk.iter().map(|e| e.signature).collect();
                    assert!(vk.verify_many(&msgs, &sigs).is_ok());
                }
            })
        });
        batch_2 = rate_row(
            &mut t,
            "Ed25519 batch verify (1024)",
            threads,
            crypto.len(),
            r,
        );
    }
    let catalog = fed.catalog();
    for threads in [1, 2] {
        let r = measure(|| {
            parallel(crypto, threads, |part| {
                for chunk in part.chunks(BATCH) {
                    let decoded = verify_batch(chunk, &vk).expect("entries verify");
                    for (e, d) in chunk.iter().zip(&decoded) {
                        if let Op::Put(rec) = &d.op {
                            assert!(rec.check(catalog).is_ok());
                        }
                        std::hint::black_box(
                            e.leaf_hash(rongxin_protocol::suite::Suite::Ed25519Sha256),
                        );
                    }
                }
            })
        });
        rate_row(
            &mut t,
            "entry checks: batch verify, decode, record check, leaf hash",
            threads,
            crypto.len(),
            r,
        );
    }

    let buf = vec![0x5a_u8; 1 << 20];
    let mib = if size.full { 1024 } else { 128 };
    let r = measure(|| {
        for _ in 0..mib {
            std::hint::black_box(merkle::leaf_hash(
                rongxin_protocol::suite::Suite::Ed25519Sha256,
                &buf,
            ));
        }
    });
    t.row(vec![
        "SHA-256 (MB/s)".to_owned(),
        "1".to_owned(),
        figure(mib as f64 * 1.048_576 / r.wall.as_secs_f64()),
        String::new(),
    ]);

    let (raw, raw_inserts) = sled_raw(fed, origin, &entries);
    t.row(vec![
        format!("sled: 1 insert per record, flush per {SLED_FLUSH}"),
        "1".to_owned(),
        figure(n as f64 / raw.wall.as_secs_f64()),
        format!("{} per insert", figure(raw.cpu * 1e6 / raw_inserts as f64)),
    ]);
    let (layout, inserts) = sled_layout(fed, origin, &entries);
    t.row(vec![
        format!(
            "sled: node key layout ({:.1} inserts per record), flush per {SLED_FLUSH}",
            inserts as f64 / n as f64
        ),
        "1".to_owned(),
        figure(n as f64 / layout.wall.as_secs_f64()),
        format!("{} per insert", figure(layout.cpu * 1e6 / inserts as f64)),
    ]);
    let r = replica_in_process(fed, origin, &entries);
    rate_row(
        &mut t,
        "node replica append in process (no network), one flush",
        1,
        n,
        r,
    );
    t.print();
    summary("limits", batch_2, "batch-verified signatures/s (2 threads)");
    batch_2
}

/// Adds a row for `count` operations measured by `r`; returns the rate.
fn rate_row(t: &mut Table, name: &str, threads: usize, count: usize, r: Measured) -> f64 {
    let rate = count as f64 / r.wall.as_secs_f64();
    t.row(vec![
        name.to_owned(),
        threads.to_string(),
        figure(rate),
        figure(r.cpu * 1e6 / count as f64),
    ]);
    rate
}

/// Wall and CPU time of a piece of work.
#[derive(Debug, Clone, Copy)]
struct Measured {
    wall: Duration,
    cpu: f64,
}

fn measure(f: impl FnOnce()) -> Measured {
    let cpu = own_cpu();
    let t = Instant::now();
    f();
    Measured {
        wall: t.elapsed(),
        cpu: own_cpu() - cpu,
    }
}

/// Runs `f` on `threads` equal parts of `items` at once.
fn parallel<T: Sync>(items: &[T], threads: usize, f: impl Fn(&[T]) + Sync) {
    let per = items.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        for part in items.chunks(per) {
            let f = &f;
            s.spawn(move || f(part));
        }
    });
}

/// `n` entries of `origin`'s log built from sample records and signed
/// with its key, chained by `prev_hash` from seq 0.
pub fn signed_entries(fed: &BenchFed, origin: &str, n: usize) -> Vec<SignedEntry> {
    let path = fed.dir().join(format!("limits-{origin}-{n}.jsonl"));
    fed.sample(origin, n as u64, 7, &path);
    let signer = fed.signer(origin);
    let now = rongxin_node::ingest::now_ms();
    let mut prev: Hash = [0; 32];
    let out = read_lines(&path)
        .iter()
        .enumerate()
        .map(|(seq, line)| {
            let v: Value = serde_json::from_str(line).expect("a sample line is JSON");
            let record = Record::from_json(&v, fed.catalog()).expect("a sample record is valid");
            let signed = Entry {
                origin: origin.to_owned(),
                seq: seq as u64,
                prev_hash: prev,
                time_ms: now,
                op: Op::Put(record),
            }
            .sign(signer.secret())
            .expect("sign an entry");
            prev = signed.leaf_hash(rongxin_protocol::suite::Suite::Ed25519Sha256);
            signed
        })
        .collect();
    let _ = std::fs::remove_file(&path);
    out
}

fn open_store(fed: &BenchFed, name: &str) -> Store {
    let dir = fed.dir().join("limits").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    Store::open(&dir).expect("open a store")
}

/// One sled insert per record (the entry), applied and flushed per 1000.
fn sled_raw(fed: &BenchFed, origin: &str, entries: &[SignedEntry]) -> (Measured, u64) {
    let store = open_store(fed, "raw");
    let r = measure(|| {
        for (i, chunk) in entries.chunks(SLED_FLUSH).enumerate() {
            let mut b = WriteBatch::default();
            for (j, e) in chunk.iter().enumerate() {
                b.put_entry(origin, (i * SLED_FLUSH + j) as u64, e);
            }
            store.apply(b).expect("apply");
            store.flush_blocking().expect("flush");
        }
    });
    (r, entries.len() as u64)
}

/// What the committer writes per record: the entry, its Merkle hashes, the
/// record state, the subject index and (list kinds) the list index; plus
/// the log state per batch. Applied and flushed per 1000 records.
fn sled_layout(fed: &BenchFed, origin: &str, entries: &[SignedEntry]) -> (Measured, u64) {
    let store = open_store(fed, "layout");
    let catalog = fed.catalog();
    let decoded: Vec<Entry> = entries
        .iter()
        .map(|e| Entry::decode(&e.bytes).expect("decode"))
        .collect();
    let mut inserts = 0u64;
    let mut tree = CompactTree::new(rongxin_protocol::suite::Suite::Ed25519Sha256);
    let r = measure(|| {
        for (chunk, dchunk) in entries.chunks(SLED_FLUSH).zip(decoded.chunks(SLED_FLUSH)) {
            let mut b = WriteBatch::default();
            for (e, d) in chunk.iter().zip(dchunk) {
                let hashes = tree
                    .append(e.leaf_hash(rongxin_protocol::suite::Suite::Ed25519Sha256))
                    .expect("append");
                b.put_entry(origin, d.seq, e);
                b.put_hashes(origin, &hashes);
                let Op::Put(rec) = &d.op else { continue };
                let slot = ListSlot::of(catalog, &rec.kind);
                let state = RecordState {
                    origin: origin.to_owned(),
                    put_seq: d.seq,
                    version: 1,
                    content: rongxin_node::ingest::content_hash(rec),
                    subject: rec.subject.code.clone(),
                    revoked: None,
                    open_objections: Vec::new(),
                };
                b.put_record(&rec.key(), &state, None, slot.as_ref());
            }
            b.put_log_state(
                origin,
                &LogState {
                    size: tree.size(),
                    root: tree.root(),
                    checkpoint: String::new(),
                },
            );
            inserts += b.writes() as u64;
            store.apply(b).expect("apply");
            store.flush_blocking().expect("flush");
        }
    });
    (r, inserts)
}

/// The node's own replica append, in batches of 1024, toward a signed
/// checkpoint of the whole run; one flush at the end.
fn replica_in_process(fed: &BenchFed, origin: &str, entries: &[SignedEntry]) -> Measured {
    let store = open_store(fed, "replica");
    let shared = Arc::new(Shared::new(
        fed.roster().clone(),
        fed.root().clone(),
        fed.catalog().clone(),
        "city".to_owned(),
        Vec::new(),
    ));
    let replicator = Replicator::new(store.clone(), shared, Metrics::new());
    let leaves: Vec<Hash> = entries
        .iter()
        .map(|e| e.leaf_hash(rongxin_protocol::suite::Suite::Ed25519Sha256))
        .collect();
    let target = Checkpoint {
        origin: fed.roster().roster.log_origin(origin),
        size: entries.len() as u64,
        root: merkle::root_of(rongxin_protocol::suite::Suite::Ed25519Sha256, &leaves),
    }
    .sign(&fed.signer(origin))
    .expect("sign a checkpoint");
    measure(|| {
        let mut from = 0u64;
        for chunk in entries.chunks(BATCH) {
            from = replicator
                .append(origin, from, chunk, &target)
                .expect("the replica appends");
        }
        store.flush_blocking().expect("flush");
    })
}
