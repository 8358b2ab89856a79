//! The city stopped while it replicates a large load catches up after a
//! restart: killed outright (`kill -9`) or stopped with SIGTERM.

use std::collections::BTreeMap;
use std::time::Duration;

use rongxin_tests::converge::{held_of, wait_converged};
use rongxin_tests::generate::GenFed;
use rongxin_tests::wait_for;

use crate::DEADLINE;

/// Records loaded into gulou in the first load, in requests of `BATCH`.
const LOAD: usize = 5_000;
const BATCH: usize = 250;

#[derive(Debug, Clone, Copy)]
enum Stop {
    Kill,
    Term,
}

fn stopped_during_replication(how: Stop) {
    let fed = GenFed::builder(&["city", "gulou"]).build();
    let mut nodes = fed.start_all(&["city", "gulou"]);
    let (city, gulou) = match &mut nodes[..] {
        [c, g] => (c, g),
        _ => unreachable!(),
    };
    let token = fed.token("gulou");
    let records = fed.records();
    std::thread::scope(|s| {
        let gulou = &*gulou;
        let loader = s.spawn(move || {
            for _ in 0..LOAD / BATCH {
                gulou.submit(token, &records.batch("gulou", BATCH));
            }
        });

        // Stop the city once it is part-way through gulou's log.
        let held_at_stop = wait_for("the city replicating gulou", DEADLINE, || {
            let h = held_of(city, "gulou").size;
            (h >= 2 * BATCH as u64).then_some(h)
        });
        match how {
            Stop::Kill => city.kill(),
            Stop::Term => city.stop_clean(),
        }
        let own_at_stop = gulou.own_log().size;
        assert!(
            held_at_stop < own_at_stop,
            "the city had caught up before it was stopped ({held_at_stop} of {own_at_stop})"
        );

        // gulou keeps taking records while the city is down.
        let seqs = gulou.submit(token, &records.batch("gulou", 2 * BATCH));
        assert!(seqs[0] >= own_at_stop);
        city.restart();
        loader.join().expect("the loader");
    });

    // More records after the restart, then everything converges.
    gulou.submit(token, &records.batch("gulou", 100));
    let expected = BTreeMap::from([("gulou".to_owned(), (LOAD + 2 * BATCH + 100) as u64)]);
    let refs = [&*city, &*gulou];
    wait_converged(&refs, &["gulou"], &expected, DEADLINE);
    let log = fed.verify_log(city, "gulou");
    assert_eq!(log.checkpoint.size, (LOAD + 2 * BATCH + 100) as u64);

    // Nothing was refused, halted or alarmed, and the city's own log is intact.
    let s = city.status();
    assert_eq!(s["halted_origins"], serde_json::json!([]), "{s:#}");
    assert_eq!(s["replication"]["alarms"], serde_json::json!([]), "{s:#}");
    assert_eq!(
        city.metric("rongxin_replication_refused_total{peer=\"gulou\"}"),
        0.0
    );
    fed.verify_log(city, "city");
    // Replication goes on after the catch-up: a record signed now arrives.
    let seq = gulou.submit(token, &records.batch("gulou", 1))[0];
    wait_for(
        "the newest gulou entry at the city",
        Duration::from_secs(30),
        || (held_of(city, "gulou").size > seq).then_some(()),
    );
}

#[test]
fn city_killed_during_replication_catches_up() {
    stopped_during_replication(Stop::Kill);
}

#[test]
fn city_stopped_during_replication_catches_up() {
    stopped_during_replication(Stop::Term);
}
