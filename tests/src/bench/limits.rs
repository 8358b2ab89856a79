//! `limits`: the ceilings of this machine that the other scenarios are
//! measured against, in process: Ed25519 signing and verification (single
//! and batch, one and two threads) over real entry bytes, SM2 signing and
//! verification over the same entries, SHA-256 and SM3 (with a table of
//! the SM2/SM3 to Ed25519/SHA-256 ratios of CPU time), the
//! node's per-entry checks without the store, the store's writes with a
//! durable commit per 1000 (the log files alone, then with the node's
//! database keys per record), sled by itself with one and two keys per
//! record (the ceiling of the layout: sled applies one atomic
//! batch at a time) and its first open afterwards, and
//! the node's replica append (verify, check, index, apply) with no network.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rongxin_node::metrics::Metrics;
use rongxin_node::replica::Replicator;
use rongxin_node::shared::Shared;
use rongxin_node::store::{
    Durability, ListSlot, LogState, RecordState, Store, WriteBatch, sled_config,
};
use rongxin_protocol::checkpoint::Checkpoint;
use rongxin_protocol::entry::{Entry, Op, SignedEntry, verify_batch};
use rongxin_protocol::merkle::{self, CompactTree, Hash};
use rongxin_protocol::record::Record;
use rongxin_protocol::suite::{SM2_DISTID, SecretKey, Suite};
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

/// Runs the scenario; returns Ed25519 batch verifications per second on
/// two threads (whatever the federation's suite: both suites' signatures
/// and hashes are measured; the store and replica rows are in the
/// federation's suite).
pub fn run(fed: &BenchFed, size: Size) -> f64 {
    let n = size.entries(10_000, 200_000) as usize;
    let crypto_n = n.min(size.pick(4_096, 65_536));
    let origin = "gulou";
    let entries = signed_entries(fed, origin, n);
    let avg = entries.iter().map(|e| e.bytes.len()).sum::<usize>() / entries.len().max(1);
    let crypto = &entries[..crypto_n];

    let mut t = Table::new(
        &format!(
            "limits: {crypto_n} entries for crypto, {n} records for the store (suite {}); entries of {avg} bytes on average",
            fed.suite()
        ),
        &["operation", "threads", "per second", "µs CPU each"],
    );
    let mut figures = Vec::new();
    for suite in Suite::ALL {
        // The federation's own key and entries; for the other suite, a
        // fixed key (benchmark only) and the same entries signed with it.
        let (key, signed) = if suite == fed.suite() {
            (fed.signer(origin).secret().clone(), crypto.to_vec())
        } else {
            let key = SecretKey::from_bytes(suite, &[0x5a; 32]).expect("a valid key");
            let signed = resign(crypto, &key);
            (key, signed)
        };
        figures.push(crypto_rows(&mut t, fed, &key, &signed));
    }
    let hashed = Suite::ALL.map(|suite| hash_rows(&mut t, suite, crypto, size));
    let batch_2 = figures
        .iter()
        .find(|f| f.suite == Suite::Ed25519Sha256)
        .map_or(0.0, |f| f.batch_2);

    let (raw, raw_inserts) = sled_raw(fed, origin, &entries);
    t.row(vec![
        format!("store: log files only, durable commit per {SLED_FLUSH}"),
        "1".to_owned(),
        figure(n as f64 / raw.wall.as_secs_f64()),
        format!("{} per entry", figure(raw.cpu * 1e6 / raw_inserts as f64)),
    ]);
    let decoded: Vec<Entry> = entries
        .iter()
        .map(|e| Entry::decode(&e.bytes).expect("decode"))
        .collect();
    let (layout, inserts) = sled_layout(fed, origin, &entries, &decoded);
    t.row(vec![
        format!(
            "store: files + node keys ({:.1} database writes per record), durable commit per {SLED_FLUSH}",
            inserts as f64 / n as f64
        ),
        "1".to_owned(),
        figure(n as f64 / layout.wall.as_secs_f64()),
        format!("{} per write", figure(layout.cpu * 1e6 / inserts as f64)),
    ]);
    let records: Vec<&Record> = decoded
        .iter()
        .filter_map(|e| match &e.op {
            Op::Put(rec) => Some(rec),
            _ => None,
        })
        .collect();
    for subject in [true, false] {
        let (r, reopen) = sled_alone(fed, &records, subject);
        let keys = if subject {
            "state and subject keys"
        } else {
            "state key only"
        };
        rate_row(
            &mut t,
            &format!(
                "sled alone: {keys} per record, a lookup each, atomic batch and flush per {SLED_FLUSH}"
            ),
            1,
            records.len(),
            r,
        );
        t.row(vec![
            format!("sled alone: its first open afterwards ({keys}), s"),
            "1".to_owned(),
            String::new(),
            format!("{:.2}", reopen.as_secs_f64()),
        ]);
    }
    let r = replica_in_process(fed, origin, &entries);
    rate_row(
        &mut t,
        "node replica append in process (no network), one flush",
        1,
        n,
        r,
    );
    t.print();
    ratios(&figures, &hashed);
    summary(
        "limits",
        batch_2,
        "Ed25519 batch-verified signatures/s (2 threads)",
    );
    batch_2
}

/// One suite's signature figures: CPU µs per operation on one thread.
#[derive(Debug, Clone, Copy)]
struct Figures {
    suite: Suite,
    sign: f64,
    verify: f64,
    checks: f64,
    /// The suite's best verification rate on two threads (Ed25519: batch).
    batch_2: f64,
}

/// The name of a suite's signature algorithm.
fn algorithm(suite: Suite) -> &'static str {
    match suite {
        Suite::Ed25519Sha256 => "Ed25519",
        Suite::Sm2Sm3 => "SM2",
    }
}

/// The name of a suite's hash.
fn hash_name(suite: Suite) -> &'static str {
    match suite {
        Suite::Ed25519Sha256 => "SHA-256",
        Suite::Sm2Sm3 => "SM3",
    }
}

/// Sign, verify, batch verify (Ed25519 only: SM2 has no batch
/// verification, `verify_many` checks one by one) and the node's entry
/// checks with `key`'s suite, over `entries` signed by `key`.
fn crypto_rows(t: &mut Table, fed: &BenchFed, key: &SecretKey, entries: &[SignedEntry]) -> Figures {
    let suite = key.suite();
    let alg = algorithm(suite);
    let vk = key.public().clone();
    let mut f = Figures {
        suite,
        sign: 0.0,
        verify: 0.0,
        checks: 0.0,
        batch_2: 0.0,
    };
    for threads in [1, 2] {
        let r = measure(|| {
            parallel(entries, threads, |part| {
                for e in part {
                    std::hint::black_box(key.sign(&e.bytes));
                }
            })
        });
        rate_row(t, &format!("{alg} sign"), threads, entries.len(), r);
        if threads == 1 {
            f.sign = r.cpu * 1e6 / entries.len() as f64;
        }
    }
    let verify_name = match suite {
        Suite::Ed25519Sha256 => "Ed25519 verify (strict)".to_owned(),
        Suite::Sm2Sm3 => format!("SM2 verify (ZA with ID {SM2_DISTID})"),
    };
    for threads in [1, 2] {
        let r = measure(|| {
            parallel(entries, threads, |part| {
                for e in part {
                    assert!(vk.verify(&e.bytes, &e.signature));
                }
            })
        });
        let rate = rate_row(t, &verify_name, threads, entries.len(), r);
        if threads == 1 {
            f.verify = r.cpu * 1e6 / entries.len() as f64;
        } else {
            f.batch_2 = rate;
        }
    }
    if suite == Suite::Ed25519Sha256 {
        for threads in [1, 2] {
            let r = measure(|| {
                parallel(entries, threads, |part| {
                    for chunk in part.chunks(BATCH) {
                        let msgs: Vec<&[u8]> = chunk.iter().map(|e| e.bytes.as_slice()).collect();
                        let sigs: Vec<[u8; 64]> = chunk.iter().map(|e| e.signature).collect();
                        assert!(vk.verify_many(&msgs, &sigs).is_ok());
                    }
                })
            });
            let rate = rate_row(t, "Ed25519 batch verify (1024)", threads, entries.len(), r);
            if threads == 2 {
                f.batch_2 = rate;
            }
        }
    }
    let catalog = fed.catalog();
    for threads in [1, 2] {
        let r = measure(|| {
            parallel(entries, threads, |part| {
                for chunk in part.chunks(BATCH) {
                    let decoded = verify_batch(chunk, &vk).expect("entries verify");
                    for (e, d) in chunk.iter().zip(&decoded) {
                        if let Op::Put(rec) = &d.op {
                            assert!(rec.check(catalog).is_ok());
                        }
                        std::hint::black_box(e.leaf_hash(suite));
                    }
                }
            })
        });
        rate_row(
            t,
            &format!(
                "entry checks ({alg}/{}): batch verify, decode, record check, leaf hash",
                hash_name(suite)
            ),
            threads,
            entries.len(),
            r,
        );
        if threads == 1 {
            f.checks = r.cpu * 1e6 / entries.len() as f64;
        }
    }
    f
}

/// The leaf hash of every entry, and throughput over 1 MiB buffers, in
/// `suite`'s hash; returns CPU µs per leaf hash and MB/s.
fn hash_rows(t: &mut Table, suite: Suite, entries: &[SignedEntry], size: Size) -> (f64, f64) {
    let name = hash_name(suite);
    // Rounds over the entries until half a second has passed: one round
    // takes a few ms, below what the process's CPU clock resolves.
    let mut rounds = 0usize;
    let r = measure(|| {
        let t0 = Instant::now();
        while rounds == 0 || t0.elapsed() < Duration::from_millis(500) {
            for e in entries {
                std::hint::black_box(e.leaf_hash(suite));
            }
            rounds += 1;
        }
    });
    let count = entries.len() * rounds;
    rate_row(t, &format!("{name} leaf hash of an entry"), 1, count, r);
    let leaf = r.cpu * 1e6 / count as f64;
    let buf = vec![0x5a_u8; 1 << 20];
    let mib = if size.full { 1024 } else { 128 };
    let r = measure(|| {
        for _ in 0..mib {
            std::hint::black_box(merkle::leaf_hash(suite, &buf));
        }
    });
    let rate = mib as f64 * 1.048_576 / r.wall.as_secs_f64();
    t.row(vec![
        format!("{name} (MB/s)"),
        "1".to_owned(),
        figure(rate),
        String::new(),
    ]);
    (leaf, rate)
}

/// Prints SM2/SM3 beside Ed25519/SHA-256: CPU time per operation on one
/// thread, and the ratio.
fn ratios(figures: &[Figures], hashed: &[(f64, f64); 2]) {
    let (Some(ed), Some(sm)) = (
        figures.iter().find(|f| f.suite == Suite::Ed25519Sha256),
        figures.iter().find(|f| f.suite == Suite::Sm2Sm3),
    ) else {
        return;
    };
    let mut t = Table::new(
        "limits: SM2/SM3 beside Ed25519/SHA-256, CPU µs per operation on one thread",
        &["operation", "Ed25519/SHA-256", "SM2/SM3", "ratio"],
    );
    let ratio = |a: f64, b: f64| {
        if a > 0.0 && b > 0.0 {
            format!("{:.1}×", b / a)
        } else {
            "n/a".to_owned()
        }
    };
    for (name, a, b) in [
        ("sign an entry", ed.sign, sm.sign),
        ("verify an entry", ed.verify, sm.verify),
        (
            "entry checks (verify, decode, check, leaf hash)",
            ed.checks,
            sm.checks,
        ),
        ("leaf hash of an entry", hashed[0].0, hashed[1].0),
    ] {
        t.row(vec![name.to_owned(), figure(a), figure(b), ratio(a, b)]);
    }
    t.row(vec![
        "hash throughput, MB/s (ratio: SHA-256 / SM3)".to_owned(),
        figure(hashed[0].1),
        figure(hashed[1].1),
        ratio(hashed[1].1, hashed[0].1),
    ]);
    t.print();
}

/// `entries` decoded and signed again with `key`, chained by `key`'s
/// suite's leaf hashes from the first entry's `prev_hash`.
fn resign(entries: &[SignedEntry], key: &SecretKey) -> Vec<SignedEntry> {
    let mut prev = entries.first().map_or([0; 32], |e| {
        Entry::decode(&e.bytes).expect("decode").prev_hash
    });
    entries
        .iter()
        .map(|e| {
            let mut d = Entry::decode(&e.bytes).expect("decode");
            d.prev_hash = prev;
            let signed = d.sign(key).expect("sign an entry");
            prev = signed.leaf_hash(key.suite());
            signed
        })
        .collect()
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
            prev = signed.leaf_hash(fed.suite());
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

/// The log files alone: each entry and its Merkle hashes appended, with
/// the commit point, written durably per 1000.
fn sled_raw(fed: &BenchFed, origin: &str, entries: &[SignedEntry]) -> (Measured, u64) {
    let store = open_store(fed, "raw");
    let mut tree = CompactTree::new(fed.suite());
    let r = measure(|| {
        for (i, chunk) in entries.chunks(SLED_FLUSH).enumerate() {
            let mut b = WriteBatch::default();
            let hashes = chunk
                .iter()
                .flat_map(|e| tree.append(e.leaf_hash(fed.suite())).expect("append"))
                .collect();
            b.append_entries(origin, (i * SLED_FLUSH) as u64, chunk.to_vec(), hashes);
            b.put_log_state(
                origin,
                &LogState::new(tree.size(), tree.root(), String::new()),
            );
            store
                .commit_blocking(b, Durability::Durable)
                .expect("commit");
        }
    });
    (r, entries.len() as u64)
}

/// What the committer writes per record: the entry and its Merkle hashes
/// (files), the record state, the subject index and (list kinds) the list
/// index (database); plus the commit point per batch. Durable per 1000.
fn sled_layout(
    fed: &BenchFed,
    origin: &str,
    entries: &[SignedEntry],
    decoded: &[Entry],
) -> (Measured, u64) {
    let store = open_store(fed, "layout");
    let catalog = fed.catalog();
    let mut inserts = 0u64;
    let mut tree = CompactTree::new(fed.suite());
    let r = measure(|| {
        for (chunk, dchunk) in entries.chunks(SLED_FLUSH).zip(decoded.chunks(SLED_FLUSH)) {
            let mut b = WriteBatch::default();
            for (e, d) in chunk.iter().zip(dchunk) {
                let hashes = tree.append(e.leaf_hash(fed.suite())).expect("append");
                b.append_entries(origin, d.seq, vec![e.clone()], hashes);
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
                &LogState::new(tree.size(), tree.root(), String::new()),
            );
            inserts += b.writes() as u64;
            store
                .commit_blocking(b, Durability::Durable)
                .expect("commit");
        }
    });
    (r, inserts)
}

/// About the size of an encoded record state (origin, seq, version,
/// content hash, subject code, revocation, open objections).
const STATE_BYTES: usize = 92;

/// sled by itself, opened as the node opens it ([`sled_config`]), for the
/// keys the issue keeps in it per record: a
/// lookup of the record's state key, then its state and, with `subject`,
/// its subject index key, in one atomic batch with a flush per
/// [`SLED_FLUSH`] records. Returns that, and the time of the first open
/// afterwards: sled 0.34 writes its snapshot only at open, so that open
/// replays everything written here.
fn sled_alone(fed: &BenchFed, records: &[&Record], subject: bool) -> (Measured, Duration) {
    let dir = fed
        .dir()
        .join("limits")
        .join(if subject { "sled-2" } else { "sled-1" });
    let _ = std::fs::remove_dir_all(&dir);
    let config = || sled_config(&dir);
    let db = config().open().expect("open sled");
    let tree = db.open_tree("limits").expect("open a tree");
    let state = [0x5a_u8; STATE_BYTES];
    let r = measure(|| {
        for chunk in records.chunks(SLED_FLUSH) {
            let mut batch = sled::Batch::default();
            for rec in chunk {
                let key = rec.key().to_string();
                let mut k = Vec::with_capacity(key.len() + 1);
                k.push(b'R');
                k.extend_from_slice(key.as_bytes());
                assert!(tree.get(&k).expect("sled get").is_none());
                if subject {
                    let mut s = Vec::with_capacity(k.len() + rec.subject.code.len() + 1);
                    s.push(b'S');
                    s.extend_from_slice(rec.subject.code.as_bytes());
                    s.push(0);
                    s.extend_from_slice(key.as_bytes());
                    batch.insert(s, &[][..]);
                }
                batch.insert(k, &state[..]);
            }
            tree.apply_batch(batch).expect("sled batch");
            db.flush().expect("sled flush");
        }
    });
    assert_eq!(tree.len(), records.len() * if subject { 2 } else { 1 });
    drop(tree);
    drop(db);
    wait_for_sled_lock(&dir);
    let t = Instant::now();
    let db = config().open().expect("reopen sled");
    let reopen = t.elapsed();
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
    (r, reopen)
}

/// Waits until sled's own threads have released the file lock of the
/// database at `dir` after its last handle was dropped (store.rs,
/// `open_sled`), so that the open timed next neither fails on it nor
/// counts the wait.
fn wait_for_sled_lock(dir: &std::path::Path) {
    use rustix::fs::{FlockOperation, flock};
    let file = std::fs::File::open(dir.join("db")).expect("sled's db file");
    let since = Instant::now();
    while flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "sled still holds {} 10 s after its last handle was dropped",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Closing the file releases the lock taken here.
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
        rongxin_protocol::calendar::Calendar::embedded().expect("the built-in calendar"),
        Vec::new(),
    ));
    let replicator = Replicator::new(store.clone(), shared, Metrics::new());
    let leaves: Vec<Hash> = entries.iter().map(|e| e.leaf_hash(fed.suite())).collect();
    let target = Checkpoint {
        origin: fed.roster().roster.log_origin(origin),
        size: entries.len() as u64,
        root: merkle::root_of(fed.suite(), &leaves),
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
        replicator
            .settle(origin)
            .expect("the replica's batches are stored");
        store.flush_blocking().expect("flush");
    })
}
