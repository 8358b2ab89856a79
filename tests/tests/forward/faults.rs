//! The province's injected faults as the forwarder meets them: late
//! acknowledgements beyond the city's timeout, dropped connections, and
//! entries altered in transit.

use rongxin_tests::forwarding::{
    Outcome, ctl_forward, forward_cursor_metric, forward_errors, forward_row, forward_rows,
    province_batches,
};
use rongxin_tests::wait_for;
use serde_json::json;

use crate::{DEADLINE, Setup};

#[test]
fn late_acks_are_resent_and_deduplicated_and_drops_retried() {
    let s = Setup::start(&["city", "gulou"], 100, |c| {
        rongxin_tests::forwarding::forward_table(c).insert("timeout".into(), "2s".into());
    });
    s.load("gulou", 100);
    let before = s.wait_all_forwarded();
    let city = s.city();

    // late_ack beyond the city's 2 s timeout, twice: the province stores
    // the batch but answers after 3 s; the city times out and resends.
    let errors = forward_errors(city, "gulou");
    let acked_before = province_batches(&s.province, "gulou").len();
    s.province
        .fault(&json!({"mode": "late_ack", "delay_ms": 3000, "count": 2}));
    s.load("gulou", 150);
    let row = wait_for("the city to time out", DEADLINE, || {
        forward_row(city, "gulou").filter(|r| r.last_error.is_some())
    });
    let e = row.last_error.unwrap();
    assert!(
        e.contains("cannot reach the province") && e.contains(&s.province.url()),
        "{e}"
    );
    assert!(e.contains("timed out"), "{e}");
    let after = s.wait_all_forwarded();
    assert_eq!(after["gulou"], before["gulou"] + 150);
    assert!(
        forward_errors(city, "gulou") >= errors + 2.0,
        "two timeouts count as forwarding errors"
    );
    // The province acknowledged the first late batch again when it was
    // resent, storing nothing the second time: de-duplicated.
    let batches = &province_batches(&s.province, "gulou")[acked_before..];
    let first = &batches[0];
    assert_eq!(first.from, before["gulou"], "{}", first.line);
    assert_eq!(first.stored, Some(first.count), "{}", first.line);
    let resent: Vec<_> = batches[1..]
        .iter()
        .filter(|b| b.from == first.from)
        .collect();
    assert!(
        !resent.is_empty(),
        "the late-acknowledged batch was not resent: {batches:#?}"
    );
    for b in &resent {
        assert_eq!(b.outcome, Outcome::Acknowledged, "{}", b.line);
        assert!(
            b.stored < Some(b.count),
            "resent entries stored again: {}",
            b.line
        );
    }
    let stored: u64 = batches.iter().filter_map(|b| b.stored).sum();
    assert_eq!(stored, 150, "every new entry stored once: {batches:#?}");

    // drop: connections closed without an answer until cleared. The city
    // reports a transport error naming the province and retries.
    let errors = forward_errors(city, "gulou");
    s.province.fault(&json!({"mode": "drop"}));
    s.load("gulou", 50);
    let row = wait_for(
        "the city to report the dropped connection",
        DEADLINE,
        || {
            forward_row(city, "gulou")
                .filter(|r| r.last_error.is_some() && r.held == after["gulou"] + 50)
        },
    );
    let e = row.last_error.clone().unwrap();
    assert!(
        e.contains("cannot reach the province") && e.contains(&s.province.url()),
        "{e}"
    );
    assert_eq!(row.forwarded, after["gulou"], "{row:?}");
    assert_eq!(s.province.count("gulou"), after["gulou"]);
    wait_for("the city to retry", DEADLINE, || {
        (forward_errors(city, "gulou") >= errors + 2.0).then_some(())
    });
    assert_eq!(
        s.province.count("gulou"),
        after["gulou"],
        "a dropped batch was stored"
    );

    // rongxinctl forward exits 1 while an origin has an error, and shows it.
    let out = ctl_forward(city);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("gulou "))
        .unwrap_or_else(|| panic!("no gulou row:\n{stdout}"));
    assert!(line.contains("cannot reach the province"), "{line}");
    assert!(stdout.lines().any(|l| l.starts_with("city ")), "{stdout}");

    s.province.fault(&json!({"mode": "none"}));
    let last = s.wait_all_forwarded();
    assert_eq!(last["gulou"], after["gulou"] + 50);
    let out = ctl_forward(city);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn an_entry_altered_in_transit_is_refused_and_never_skipped() {
    let s = Setup::start(&["city", "gulou"], 100, |_| {});
    s.load("gulou", 120);
    s.load("city", 10);
    let before = s.wait_all_forwarded();
    let city = s.city();
    let seq = before["gulou"];

    let errors = forward_errors(city, "gulou");
    let batches_before = province_batches(&s.province, "gulou").len();
    s.province.fault(&json!({"mode": "corrupt", "count": 3}));
    s.load("gulou", 80);

    // While the fault lasts (three refusals), the cursor stays at the
    // refused seq, the province holds nothing past it, and the status
    // names the refusal.
    let mut refusal = None;
    wait_for("three refusals", DEADLINE, || {
        let row = forward_row(city, "gulou")?;
        let refused = forward_errors(city, "gulou") - errors;
        assert_eq!(
            row.forwarded, seq,
            "the cursor moved past the refused seq: {row:?}"
        );
        assert_eq!(forward_cursor_metric(city, "gulou"), seq as f64);
        assert_eq!(s.province.count("gulou"), seq, "{row:?}");
        if let Some(e) = row.last_error.filter(|e| e.contains("refused")) {
            refusal = Some(e);
        }
        (refused >= 3.0 && refusal.is_some()).then_some(())
    });
    let e = refusal.unwrap();
    assert!(
        e.contains(&format!("the province refused gulou entry {seq}")),
        "{e}"
    );
    assert!(e.contains("does not verify"), "{e}");
    assert!(e.contains("altered in transit"), "{e}");
    // The other origin is not held back by it.
    assert_eq!(forward_rows(city)["city"].last_error, None);

    // The fault used up, forwarding resumes from that same seq.
    let after = s.wait_all_forwarded();
    assert_eq!(after["gulou"], seq + 80);
    assert!(forward_errors(city, "gulou") >= errors + 3.0);
    let batches = &province_batches(&s.province, "gulou")[batches_before..];
    let (refused, rest) = batches.split_at(3);
    for b in refused {
        assert_eq!((b.outcome, b.from), (Outcome::Refused, seq), "{}", b.line);
        assert!(b.line.contains("does not verify"), "{}", b.line);
    }
    assert_eq!(
        (rest[0].outcome, rest[0].from),
        (Outcome::Acknowledged, seq)
    );
    assert!(
        rest.iter()
            .all(|b| b.outcome == Outcome::Acknowledged && b.stored == Some(b.count)),
        "{rest:#?}"
    );
}
