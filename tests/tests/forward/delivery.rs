//! Every entry of every origin arrives at the province exactly once, in
//! order per origin, and `rongxinctl forward` shows it.

use rongxin_tests::forwarding::{Outcome, ctl_forward, forward_rows, province_batches};

use crate::Setup;

#[test]
fn every_entry_of_every_origin_arrives_once_in_order() {
    // Batches of 128: several per origin, the last one partial.
    let s = Setup::start(&["city", "gulou", "taijiang", "ftz"], 128, |_| {});
    s.load("city", 150);
    s.load("gulou", 400);
    s.load("taijiang", 260);
    s.load("ftz", 200);

    // Waits until the province's counts equal the logs' sizes at the city,
    // then checks seqs 0..n, the bytes against the city's and the roster.
    let expected = s.wait_all_forwarded();
    assert_eq!(
        expected.keys().map(String::as_str).collect::<Vec<_>>(),
        ["city", "ftz", "gulou", "taijiang"]
    );
    let total: u64 = expected.values().sum();
    assert_eq!(total, 150 + 400 + 260 + 200);

    // In order and once: each origin's batches were acknowledged in seq
    // order, each starting where the one before ended, nothing resent or
    // refused on a clean run.
    for (origin, &n) in &expected {
        let batches = province_batches(&s.province, origin);
        let mut next = 0;
        for b in &batches {
            assert_eq!(b.outcome, Outcome::Acknowledged, "{}", b.line);
            assert_eq!(b.from, next, "{origin}: batch out of order: {}", b.line);
            assert_eq!(b.stored, Some(b.count), "{origin}: resent: {}", b.line);
            assert!(b.count <= 128, "{}", b.line);
            next += b.count;
        }
        assert_eq!(next, n, "{origin}: the acknowledged batches cover 0..{n}");
    }

    // Status and metrics agree.
    let city = s.city();
    for (origin, row) in forward_rows(city) {
        let n = expected[&origin];
        assert_eq!((row.forwarded, row.held, row.lag_entries), (n, n, 0));
        assert_eq!(row.lag_seconds, Some(0.0), "{origin}");
        assert!(row.last_success_seconds.is_some(), "{origin}");
        assert_eq!(row.last_error, None, "{origin}");
    }
    // The city's federation view reports the same cursors on its own row
    // (docs/protocol.md §8.1), and no other node forwards.
    let view: rongxin_protocol::api::FederationAnswer = serde_json::from_str(
        &city
            .client()
            .get("/v1/admin/federation", Some(s.fed.admin_token()))
            .body,
    )
    .expect("a FederationAnswer");
    for n in &view.nodes {
        for o in &n.origins {
            let want = (n.member == "city").then(|| expected[&o.origin]);
            assert_eq!(o.forwarded, want, "{} {}: {view:#?}", n.member, o.origin);
        }
    }
    let city_row = view
        .nodes
        .iter()
        .find(|n| n.member == "city")
        .expect("city's row");
    assert_eq!(city_row.origins.len(), expected.len(), "{view:#?}");
    let metrics = city.client().metrics();
    let metric = |name: &str| rongxin_tests::fednode::metric(&metrics, name);
    for (origin, &n) in &expected {
        let label = format!("{{origin=\"{origin}\"}}");
        assert_eq!(metric(&format!("rongxin_forward_cursor{label}")), n as f64);
        assert_eq!(metric(&format!("rongxin_forward_lag_entries{label}")), 0.0);
        assert_eq!(metric(&format!("rongxin_forward_errors_total{label}")), 0.0);
    }
    assert_eq!(metric("rongxin_forwarded_entries_total"), total as f64);

    // rongxinctl forward: a row per origin, exit 0 without errors.
    let out = ctl_forward(city);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("origin"), "{stdout}");
    for (origin, &n) in &expected {
        let row = lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(origin))
            .unwrap_or_else(|| panic!("no row for {origin}:\n{stdout}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cols[1..4],
            [n.to_string(), n.to_string(), "0".into()],
            "{row}"
        );
    }
    assert_eq!(lines.len(), 1 + expected.len(), "{stdout}");
}
