//! kill -9 while clients stream ingests: nothing acknowledged is lost, the
//! log verifies end to end after restart — through its entries and through
//! its tiles — and resubmitting everything finds the acknowledged records as
//! duplicates at their seqs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rongxin_tests::{TestNode, VerifiedLog, wait_for};
use serde_json::Value;

use crate::tiles::{TileLog, verify_all_tiles};
use crate::{gulou, verify_own_log};

const ROUNDS: usize = 3;
const CLIENTS: usize = 3;

/// What one client thread sent, and what the node acknowledged: (key, seq).
struct Stream {
    sent: Vec<Value>,
    acked: Vec<(String, u64)>,
}

/// The log read as tiles only (tests/tests/node/tiles.rs, `tlog_tiles`):
/// the checkpoint is `log`'s; every hash tile, entry bundle and signature
/// bundle up to its size is served and they are one tree with its root; the
/// entries in the bundles are the bytes the entries API served to `log`'s
/// verification, so every acknowledged record found there is in the tiles
/// too. Each checkpoint in `older` (sizes this log had before a crash)
/// still verifies from the tiles of its size. Returns the checkpoint.
fn check_tiles(
    node: &TestNode,
    log: &VerifiedLog,
    older: &[tlog_tiles::Checkpoint],
) -> tlog_tiles::Checkpoint {
    let fed = node.federation();
    let tiles = TileLog::new(node.client().base(), "gulou", Some(&fed.token("auditor")));
    let cp = tiles.checkpoint();
    assert_eq!(cp.size(), log.checkpoint.size, "checkpoint moved");
    assert_eq!(cp.hash().0, log.checkpoint.root, "checkpoint moved");
    let tiled = verify_all_tiles(&tiles, &cp)
        .unwrap_or_else(|e| panic!("the tiles of a log of {} do not verify: {e}", cp.size()));
    let entries = node.client().entries("gulou", 0, cp.size());
    assert!(
        tiled.entries.iter().eq(entries.iter().map(|e| &e.bytes)),
        "the entry bundles differ from the entries the API serves"
    );
    for old in older {
        verify_all_tiles(&tiles, old).unwrap_or_else(|e| {
            panic!(
                "the tiles of an earlier checkpoint (size {}) do not verify: {e}",
                old.size()
            )
        });
    }
    eprintln!(
        "  tiles of size {}: {} tiles fetched, {} earlier checkpoints re-verified",
        cp.size(),
        tiled.tiles,
        older.len()
    );
    cp
}

#[test]
fn kill_9_loses_nothing_acknowledged() {
    let started = Instant::now();
    let (fed, mut node, records) = gulou();
    let records = Arc::new(records);
    let token = fed.token("gulou");
    // Every record ever sent, and key → seq of everything acknowledged.
    let mut sent: Vec<Value> = Vec::new();
    let mut acked: HashMap<String, u64> = HashMap::new();
    // Checkpoints seen after each restart: their tiles must stay served.
    let mut checkpoints: Vec<tlog_tiles::Checkpoint> = Vec::new();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as usize;

    for round in 0..ROUNDS {
        let batches = Arc::new(AtomicUsize::new(0));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|t| {
                let client = node.client().clone();
                let records = records.clone();
                let token = token.clone();
                let batches = batches.clone();
                thread::spawn(move || {
                    let mut s = Stream {
                        sent: Vec::new(),
                        acked: Vec::new(),
                    };
                    for i in 0.. {
                        let batch = records.batch("gulou", 1 + (i * 5 + t) % 12);
                        s.sent.extend(batch.iter().cloned());
                        let r = match client.try_submit(&token, &batch) {
                            Ok(r) => r,
                            // The node is gone: this batch is unacknowledged.
                            Err(_) => break,
                        };
                        let v = r.ok_json();
                        for res in v["results"].as_array().unwrap() {
                            let status = res["status"].as_str().unwrap();
                            assert!(status == "accepted" || status == "duplicate", "{v:#}");
                            s.acked.push((
                                res["key"].as_str().unwrap().to_owned(),
                                res["seq"].as_u64().unwrap(),
                            ));
                        }
                        batches.fetch_add(1, Ordering::SeqCst);
                    }
                    s
                })
            })
            .collect();

        // Kill after a varying number of acknowledged batches, mid-stream.
        let target = 10 + (seed / (round + 1)) % 90;
        wait_for(
            "acknowledged batches before the kill",
            Duration::from_secs(30),
            || (batches.load(Ordering::SeqCst) >= target).then_some(()),
        );
        node.kill();
        for c in clients {
            let s = c.join().expect("client thread");
            sent.extend(s.sent);
            for (key, seq) in s.acked {
                if let Some(old) = acked.insert(key.clone(), seq) {
                    assert_eq!(old, seq, "{key} acknowledged at two seqs");
                }
            }
        }

        node.restart();
        let log = verify_own_log(&node);
        eprintln!(
            "round {round}: killed after {} acknowledged batches (target {target}); \
             {} records sent so far, {} acknowledged, log size {} after restart",
            batches.load(Ordering::SeqCst),
            sent.len(),
            acked.len(),
            log.checkpoint.size
        );
        let puts: HashMap<u64, String> = log.put_keys().into_iter().collect();
        for (key, seq) in &acked {
            assert_eq!(
                puts.get(seq),
                Some(key),
                "round {round}: acknowledged {key} is not at seq {seq}"
            );
        }
        let cp = check_tiles(&node, &log, &checkpoints);
        checkpoints.push(cp);

        // Resubmit everything: acknowledged → duplicate at its seq; the
        // rest is accepted now (or was committed but not acknowledged).
        let c = node.client();
        for chunk in sent.chunks(500) {
            let v = c.submit(&token, chunk);
            for res in v["results"].as_array().unwrap() {
                let key = res["key"].as_str().unwrap().to_owned();
                let seq = res["seq"].as_u64().unwrap();
                match acked.get(&key) {
                    Some(&s) => {
                        assert_eq!(res["status"], "duplicate", "{key}: {res}");
                        assert_eq!(seq, s, "{key} moved");
                    }
                    None => {
                        let status = res["status"].as_str().unwrap();
                        assert!(status == "accepted" || status == "duplicate", "{res}");
                        acked.insert(key, seq);
                    }
                }
            }
        }

        // Each record is signed exactly once, and the log still verifies.
        let log = verify_own_log(&node);
        let keys = log.put_keys();
        let distinct: HashSet<&String> = keys.iter().map(|(_, k)| k).collect();
        assert_eq!(distinct.len(), keys.len(), "a record was signed twice");
        assert_eq!(keys.len(), sent.len());
        assert_eq!(acked.len(), sent.len());
        let cp = check_tiles(&node, &log, &checkpoints);
        checkpoints.push(cp);
    }
    eprintln!("{ROUNDS} rounds in {:?}", started.elapsed());
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "crash test took {:?}",
        started.elapsed()
    );
}
