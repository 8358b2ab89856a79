//! Bounded answers: profiles in pages that `next` continues, entry ranges
//! cut by bytes, and large reads that leave `/healthz` fast.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rongxin_tests::client::encode_query;
use serde_json::Value;

use crate::gulou;

/// The (origin, seq) pairs a profile page shows.
fn shown(profile: &Value) -> Vec<(String, u64)> {
    profile["records"]
        .as_object()
        .expect("records object")
        .values()
        .flat_map(|l| l.as_array().expect("record list"))
        .map(|r| {
            (
                r["origin"].as_str().expect("origin").to_owned(),
                r["seq"].as_u64().expect("seq"),
            )
        })
        .collect()
}

#[test]
fn profiles_come_in_pages_that_next_continues() {
    let (fed, node, records) = gulou();
    let c = node.client();
    let firm = records.legal_person("gulou");
    let mut batch: Vec<Value> = (0..7)
        .map(|_| records.about("gulou", "CF", &firm))
        .collect();
    batch.push(records.about("gulou", "FXFL", &firm));
    batch.push(records.about("gulou", "FXFL", &firm));
    c.submit_accepted(&fed.token("gulou"), &batch);
    let code = encode_query(&firm.code);

    // The default page holds everything: as before pagination.
    let all = c.get(&format!("/v1/subjects/{code}"), None).ok_json();
    assert_eq!(shown(&all).len(), 7);
    assert_eq!(all["total"], 9);
    assert_eq!(all["next"], Value::Null);
    assert_eq!(all["hidden"]["not_authorised"], 2);

    // Pages of 3 cover the same records exactly once.
    let mut seen = Vec::new();
    let mut hidden = 0;
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            None => format!("/v1/subjects/{code}?limit=3&purpose=paged"),
            Some(k) => format!("/v1/subjects/{code}?limit=3&purpose=paged&cursor={k}"),
        };
        let p = c.get(&path, None).ok_json();
        pages += 1;
        let this = shown(&p);
        assert!(this.len() <= 3, "{p:#}");
        assert_eq!(p["total"], 9);
        hidden += p["hidden"]["not_authorised"].as_u64().expect("count");
        seen.extend(this);
        match p["next"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => break,
        }
        assert!(pages < 10, "next never ends");
    }
    seen.sort();
    let mut want = shown(&all);
    want.sort();
    assert_eq!(seen, want, "every shown record once over the pages");
    assert_eq!(hidden, 2, "hidden counts add up over the pages");
    assert!(pages >= 3, "{pages} pages of 3 for 7 records");

    // Bad limits and cursors are refused, naming the problem.
    let m = c
        .get(&format!("/v1/subjects/{code}?limit=0"), None)
        .expect_error(400, "bad_request");
    assert!(m.contains("1..=1000"), "{m}");
    c.get(&format!("/v1/subjects/{code}?limit=1001"), None)
        .expect_error(400, "bad_request");
    let m = c
        .get(&format!("/v1/subjects/{code}?cursor=not-hex"), None)
        .expect_error(400, "bad_request");
    assert!(m.contains("cursor"), "{m}");
    let m = c
        .get(&format!("/v1/subjects/{code}?cursor=abcd"), None)
        .expect_error(400, "bad_request");
    assert!(m.contains("next"), "{m}");
}

#[test]
fn large_entry_ranges_are_cut_by_bytes_and_leave_healthz_fast() {
    let (fed, node, records) = gulou();
    let c = node.client();
    let token = fed.token("gulou");
    // 700 records of about 7 KB each: about 5 MB of entries, more than
    // one answer's 4 MiB.
    let n = 700u64;
    for _ in 0..7 {
        let batch: Vec<Value> = (0..100)
            .map(|_| {
                let mut r = records.record("gulou", "CF");
                r["fields"]["BZ"] = "信".repeat(2000).into();
                r
            })
            .collect();
        c.submit_accepted(&token, &batch);
    }
    let auditor = fed.token("auditor");
    let first = c
        .get("/v1/logs/gulou/entries?from=0&limit=1000", Some(&auditor))
        .ok_json();
    let items = first["entries"].as_array().expect("entries");
    let got = items.len() as u64;
    assert!(got > 0 && got < n, "{got} entries in the first answer");
    assert_eq!(first["truncated"], true);
    assert_eq!(first["next"], got);
    let bytes: usize = items
        .iter()
        .map(|e| {
            B64.decode(e["entry"].as_str().expect("bytes"))
                .expect("base64")
                .len()
        })
        .sum();
    assert!(bytes <= 4 * 1024 * 1024, "{bytes} bytes in one answer");
    let rest = c
        .get(
            &format!("/v1/logs/gulou/entries?from={got}&limit=1000"),
            Some(&auditor),
        )
        .ok_json();
    assert_eq!(
        rest["entries"].as_array().expect("entries").len() as u64,
        n - got
    );
    assert_eq!(rest["truncated"], false);
    assert_eq!(rest["next"], Value::Null);
    // A limit the bytes do not reach is not truncated, and `next` continues.
    let small = c
        .get("/v1/logs/gulou/entries?from=0&limit=10", Some(&auditor))
        .ok_json();
    assert_eq!(small["truncated"], false);
    assert_eq!(small["next"], 10);
    assert_eq!(c.entries("gulou", 0, n).len() as u64, n);

    // Twelve readers of 4 MB answers at once, while /healthz is polled.
    let readers: Vec<_> = (0..12)
        .map(|_| {
            let c = c.clone();
            let auditor = auditor.clone();
            std::thread::spawn(move || {
                for _ in 0..2 {
                    let r = c.get("/v1/logs/gulou/entries?from=0&limit=1000", Some(&auditor));
                    assert_eq!(r.status, 200, "{}", r.body.len());
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !readers.iter().all(|r| r.is_finished()) {
        assert!(Instant::now() < deadline, "the readers did not finish");
        let t = Instant::now();
        let r = c.get("/healthz", None);
        assert_eq!(r.status, 200, "{}", r.body);
        latencies.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    for r in readers {
        r.join().expect("reader thread");
    }
    latencies.sort();
    assert!(latencies.len() >= 10, "only {} polls", latencies.len());
    let p99 = latencies[(latencies.len() * 99).div_ceil(100) - 1];
    eprintln!(
        "healthz under 12 large readers: {} polls, median {:?}, p99 {p99:?}, max {:?}",
        latencies.len(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    assert!(p99 < Duration::from_millis(200), "healthz p99 {p99:?}");
}
