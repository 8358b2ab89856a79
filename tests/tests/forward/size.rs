//! Batches cut by bytes: records of the largest size the node accepts reach
//! the province in batches within the city's byte budget, and an entry over
//! the province's body limit stops its origin, reported once, without the
//! city hammering the province.

use std::time::{Duration, Instant};

use rongxin_node::forward::DEFAULT_MAX_BATCH_BYTES;
use rongxin_protocol::forward::{ForwardRequest, INTERFACE_MAX_BODY_BYTES, item_len, request_len};
use rongxin_tests::forwarding::{
    Outcome, city_config, forward_errors, forward_row, forward_table, maximal_record,
    province_batches, province_over_limit_answers, run_node_expecting_failure,
};
use rongxin_tests::wait_for;
use serde_json::Value;

use crate::{DEADLINE, Setup};

#[test]
fn maximal_records_reach_the_province_in_batches_within_the_byte_budget() {
    // Default [forward] budget and the province's default (interface)
    // limit. The records go in one request, so the log holds them all
    // before the first batch is cut and every batch but the last is full.
    let s = Setup::start(&["city"], 500, |c| {
        c.insert("max_body_bytes".into(), (64i64 << 20).into());
    });
    let city = s.city();
    let token = s.fed.token("city");
    let n = 500;
    let records: Vec<Value> = (0..n)
        .map(|_| maximal_record(&s.fed, "city", "CF"))
        .collect();
    let t = Instant::now();
    city.submit(token, &records);
    eprintln!("{n} maximal records ingested in {:?}", t.elapsed());

    // Every entry reaches the province once, in order, byte for byte, and
    // verifies against the roster and the city's checkpoint.
    let expected = s.wait_all_forwarded();
    eprintln!("forwarded and checked {:?} after ingest", t.elapsed());
    let held = expected["city"];
    assert!(held >= n as u64, "{expected:?}");

    // What the old 500-entry batch would have sent: over the province's limit.
    let entries = city.client().entries("city", 0, held);
    let note = city.client().checkpoint_note("city");
    let envelope = ForwardRequest::new("city", "city", &note, Vec::new()).envelope_len();
    let items: Vec<usize> = (0u64..)
        .zip(&entries)
        .map(|(seq, e)| item_len(seq, e.bytes.len()))
        .collect();
    let old_batch = request_len(envelope, items.iter().take(500).copied());
    eprintln!(
        "largest entry {} bytes signed, {} as a request item; 500 of them: {old_batch} bytes",
        entries.iter().map(|e| e.bytes.len()).max().unwrap_or(0),
        items.iter().max().unwrap_or(&0)
    );
    assert!(
        old_batch > INTERFACE_MAX_BODY_BYTES,
        "500 maximal records make {old_batch} bytes, not over the province's {INTERFACE_MAX_BODY_BYTES}: the test proves nothing"
    );

    // More than one batch, each acknowledged, in order, within the budget,
    // and each full: the next entry would not have fitted.
    let batches = province_batches(&s.province, "city");
    assert!(batches.len() > 1, "{batches:#?}");
    let mut next = 0u64;
    for (i, b) in batches.iter().enumerate() {
        assert_eq!(b.outcome, Outcome::Acknowledged, "{}", b.line);
        assert_eq!(b.from, next, "batch out of order: {}", b.line);
        assert_eq!(b.stored, Some(b.count), "resent: {}", b.line);
        let bytes = b.bytes.expect("the province logs each batch's bytes") as usize;
        let lens = &items[b.from as usize..(b.from + b.count) as usize];
        assert_eq!(
            bytes,
            request_len(envelope, lens.iter().copied()),
            "the body is the exact size predicted: {}",
            b.line
        );
        assert!(bytes <= DEFAULT_MAX_BATCH_BYTES, "{}", b.line);
        if i + 1 < batches.len() {
            let following = items[(b.from + b.count) as usize];
            assert!(
                bytes + 1 + following > DEFAULT_MAX_BATCH_BYTES,
                "batch {i} was cut before the budget was full: {}",
                b.line
            );
        }
        eprintln!(
            "batch {i}: {} entries from {}, {bytes} bytes",
            b.count, b.from
        );
        next += b.count;
    }
    assert_eq!(next, held);
    assert_eq!(forward_errors(city, "city"), 0.0, "no request was refused");
}

#[test]
fn an_entry_over_the_provinces_limit_stops_its_origin_once_reported() {
    // The province takes at most 64 KiB per request: less than one maximal
    // penalty record (about 74 KB as a request item).
    const LIMIT: u64 = 64 * 1024;
    let mut province = toml::Table::new();
    province.insert("max_body_bytes".into(), (LIMIT as i64).into());
    let s = Setup::start_with(&["city"], 500, &province, |_| {});
    let city = s.city();
    let token = s.fed.token("city");

    // Small records first: they get through, in batches within the limit.
    let small = city.submit(token, &s.fed.records().batch("city", 3));
    let before = small.last().copied().expect("seqs") + 1;
    wait_for("the small records to reach the province", DEADLINE, || {
        (s.province.count("city") == before).then_some(())
    });
    // Then one maximal record, and more small ones behind it.
    let big = city.submit(token, &[maximal_record(&s.fed, "city", "CF")])[0];
    assert_eq!(big, before);
    city.submit(token, &s.fed.records().batch("city", 2));

    // The city stops at the big entry and says why.
    let row = wait_for("the city to report the entry too large", DEADLINE, || {
        forward_row(city, "city").filter(|r| {
            r.last_error
                .as_deref()
                .is_some_and(|e| e.contains(&format!("city entry {big} ")))
        })
    });
    let e = row.last_error.unwrap();
    assert!(e.contains("forwarding of city stops at it"), "{e}");
    assert!(
        e.contains(&format!("the province's body limit of {LIMIT} bytes")),
        "{e}"
    );
    assert!(e.contains("max_body_bytes"), "the fix names the key: {e}");
    assert_eq!(row.forwarded, big, "nothing after the big entry was sent");
    assert_eq!(s.province.count("city"), big);

    // Evidence: typed, versioned, naming origin, seq, sizes and the limit.
    let ev = city
        .client()
        .get("/v1/admin/evidence", Some(s.fed.admin_token()))
        .ok_json();
    let found: Vec<&Value> = ev["evidence"]
        .as_array()
        .expect("evidence list")
        .iter()
        .filter(|v| v["kind"] == "forward_entry_too_large")
        .collect();
    assert_eq!(found.len(), 1, "{ev:#}");
    let t = found[0];
    assert_eq!(t["version"], 1, "{t}");
    assert_eq!(t["origin"], "city", "{t}");
    assert_eq!(t["seq"], big, "{t}");
    assert_eq!(t["limit"], "province", "{t}");
    assert_eq!(t["limit_bytes"], LIMIT, "{t}");
    assert!(t["request_bytes"].as_u64().unwrap() > LIMIT, "{t}");
    assert!(t["entry_bytes"].as_u64().unwrap() > 50_000, "{t}");
    assert!(t["fix"].as_str().unwrap().contains("max_body_bytes"), "{t}");
    let metric = "rongxin_forward_entries_too_large_total{origin=\"city\"}";
    assert_eq!(city.metric(metric), 1.0);

    // No hammering: over a window longer than the first retries of the
    // backoff (0.25 s, 0.5 s, 1 s, 2 s), the province gets no request.
    let answered = province_over_limit_answers(&s.province);
    assert!(answered <= 3, "{answered} requests over the limit");
    let window = Duration::from_secs(5);
    let start = Instant::now();
    while start.elapsed() < window {
        assert_eq!(
            province_over_limit_answers(&s.province),
            answered,
            "the city sent the entry again within {:?}",
            start.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let stops = city
        .log_text()
        .lines()
        .filter(|l| l.contains("forwarding stopped at an entry too large"))
        .count();
    assert_eq!(stops, 1, "logged once");
    assert_eq!(city.metric(metric), 1.0, "counted once");
    assert_eq!(forward_row(city, "city").unwrap().forwarded, big);

    // A city budget that one entry of the largest size might not fit is
    // refused before the node starts, naming the key and the range.
    let mut config = city_config(&s.fed, &s.province, 500);
    forward_table(&mut config).insert("max_batch_bytes".into(), 100_000.into());
    let refused = run_node_expecting_failure(&config, &s.province.scratch("small-budget"));
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("forward.max_batch_bytes = 100000 is out of range"),
        "{}",
        refused.stderr
    );
}

#[test]
fn a_province_limit_below_the_budget_cuts_smaller_batches_and_everything_arrives() {
    // The province takes 1 MiB per request; the city's budget is the
    // default 16 MiB. The first batch (7.5 MB) is refused with 413; the
    // city keeps to the limit the province states from then on.
    const LIMIT: usize = 1 << 20;
    let mut province = toml::Table::new();
    province.insert("max_body_bytes".into(), (LIMIT as i64).into());
    let s = Setup::start_with(&["city"], 500, &province, |c| {
        c.insert("max_body_bytes".into(), (64i64 << 20).into());
    });
    let city = s.city();
    let records: Vec<Value> = (0..100)
        .map(|_| maximal_record(&s.fed, "city", "CF"))
        .collect();
    city.submit(s.fed.token("city"), &records);

    let expected = s.wait_all_forwarded();
    let batches = province_batches(&s.province, "city");
    let mut next = 0;
    for b in &batches {
        assert_eq!(b.outcome, Outcome::Acknowledged, "{}", b.line);
        assert_eq!(b.from, next, "{}", b.line);
        assert!(b.bytes.unwrap() as usize <= LIMIT, "{}", b.line);
        next += b.count;
    }
    assert_eq!(next, expected["city"]);
    assert!(batches.len() >= 8, "{batches:#?}");
    // One refused request taught the city the limit; no entry was too large.
    let failed: Vec<String> = city
        .log_text()
        .lines()
        .filter(|l| l.contains("forwarding failed"))
        .map(str::to_owned)
        .collect();
    assert_eq!(province_over_limit_answers(&s.province), 1, "{failed:#?}");
    assert_eq!(forward_errors(city, "city"), 1.0);
    assert_eq!(
        city.metric("rongxin_forward_entries_too_large_total{origin=\"city\"}"),
        0.0
    );
}
