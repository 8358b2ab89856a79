//! Nothing is lost or duplicated when the province is down for a while, or
//! when the city is stopped (SIGTERM) or killed (`kill -9`) in the middle of
//! forwarding a batch.

use std::time::Instant;

use rongxin_tests::forwarding::{
    ForwardRow, Outcome, forward_errors, forward_row, province_batches,
};
use rongxin_tests::wait_for;
use serde_json::json;

use crate::{DEADLINE, Setup};

#[test]
fn the_province_down_for_a_while_loses_nothing() {
    let mut s = Setup::start(&["city", "gulou"], 100, |_| {});
    s.load("gulou", 200);
    s.load("city", 50);
    let before = s.wait_all_forwarded();
    let url = s.province.url();

    s.province.stop_clean();
    let errors = forward_errors(s.city(), "gulou");
    s.load("gulou", 150);
    // The city holds gulou's new entries, cannot forward them, and says why.
    let first: ForwardRow = wait_for("gulou's forward lag of 150", DEADLINE, || {
        forward_row(s.city(), "gulou").filter(|r| {
            r.lag_entries == 150 && r.last_error.as_deref().is_some_and(|e| e.contains(&url))
        })
    });
    assert_eq!(first.forwarded, before["gulou"], "{first:?}");
    assert_eq!(first.held, before["gulou"] + 150, "{first:?}");
    let e = first.last_error.clone().unwrap();
    assert!(e.contains("cannot reach the province"), "{e}");
    assert!(first.lag_seconds.is_some_and(|t| t > 0.0), "{first:?}");
    assert!(forward_errors(s.city(), "gulou") > errors);

    // More records while it is down: the lag grows, in entries and time.
    s.load("gulou", 100);
    s.load("city", 60);
    let later = wait_for("the lag to grow", DEADLINE, || {
        let g = forward_row(s.city(), "gulou")?;
        let c = forward_row(s.city(), "city")?;
        (g.lag_entries == 250 && c.lag_entries == 60).then_some((g, c))
    });
    let (g, c) = later;
    assert_eq!(g.forwarded, before["gulou"], "{g:?}");
    assert!(g.lag_seconds > first.lag_seconds, "{first:?} then {g:?}");
    assert!(
        c.last_error.as_deref().is_some_and(|e| e.contains(&url)),
        "{c:?}"
    );

    // Back on the same data directory: everything arrives, once.
    s.province.restart();
    let after = s.wait_all_forwarded();
    assert_eq!(after["gulou"], before["gulou"] + 250);
    assert_eq!(after["city"], before["city"] + 60);
    // The province kept what it held (no gap was ever answered) and the
    // city resumed exactly where the acknowledgements left it.
    let batches = province_batches(&s.province, "gulou");
    for b in &batches {
        assert_eq!(b.outcome, Outcome::Acknowledged, "{}", b.line);
    }
    let resumed = batches
        .iter()
        .find(|b| b.from >= before["gulou"])
        .expect("batches after the restart");
    assert_eq!(resumed.from, before["gulou"], "{}", resumed.line);
}

#[derive(Debug, Clone, Copy)]
enum Stop {
    Term,
    Kill,
}

/// Loads a backlog while the province answers slowly, stops the city
/// (`how`) while a batch is in flight, restarts it and checks that every
/// entry arrives exactly once.
fn stop_mid_batch(s: &mut Setup, how: Stop, backlog: usize) {
    let start = s.province.counts().get("gulou").copied().unwrap_or(0);
    let log_from = s.province.log_text().len();
    // Slow batches: each request waits 1.5 s before it is processed, so the
    // stop lands while one is in flight.
    s.province
        .fault(&json!({"mode": "delay", "delay_ms": 1500}));
    s.load("gulou", backlog);
    let total = start + backlog as u64;

    // Part-way through the backlog, with a batch in flight: more requests
    // delayed than answered since the fault was set.
    let t = Instant::now();
    wait_for(
        "a batch in flight part-way through the backlog",
        DEADLINE,
        || {
            let count = s.province.count("gulou");
            let log = s.province.log_text();
            let recent = &log[log_from.min(log.len())..];
            let delayed = recent.matches("delaying an entries request").count();
            let answered = recent.matches("batch acknowledged").count()
                + recent.matches("batch refused").count()
                + recent.matches("batch not stored").count();
            (count > start && count + 200 < total && delayed > answered).then_some(())
        },
    );
    let at_stop = s.province.count("gulou");
    match how {
        Stop::Term => s.city_mut().stop_clean(),
        Stop::Kill => s.city_mut().kill(),
    }
    eprintln!(
        "{how:?} with {} of gulou's {total} entries at the province, after {:?}",
        at_stop,
        t.elapsed()
    );
    s.city_mut().restart();
    s.province.fault(&json!({"mode": "none"}));
    let expected = s.wait_all_forwarded();
    assert_eq!(expected["gulou"], total);
    // Batches answered since the fault was set, in order.
    let batches: Vec<_> = province_batches(&s.province, "gulou")
        .into_iter()
        .filter(|b| b.from >= start)
        .collect();
    let resent: Vec<_> = batches
        .iter()
        .filter(|b| b.stored.is_some_and(|n| n < b.count))
        .collect();
    eprintln!(
        "{how:?}: {} batches answered, {} of them resent after the restart and de-duplicated",
        batches.len(),
        resent.len()
    );
    // Whether the batch in flight was resent depends on whether the
    // province still processed it after the city's connection closed (it
    // may, having read the body, or may drop it): either way nothing is
    // missing and nothing is held twice, which wait_all_forwarded checked.
}

#[test]
fn the_city_stopped_or_killed_mid_batch_resends_nothing_twice() {
    let mut s = Setup::start(&["city", "gulou"], 100, |_| {});
    s.load("gulou", 100);
    s.wait_all_forwarded();

    stop_mid_batch(&mut s, Stop::Term, 1200);
    stop_mid_batch(&mut s, Stop::Kill, 1200);

    // No batch was ever refused (no gap, no conflict): the city always
    // resumed from a seq the province held.
    for b in province_batches(&s.province, "gulou") {
        assert_eq!(b.outcome, Outcome::Acknowledged, "{}", b.line);
    }
}
