//! Operations: `/metrics`, `/v1/admin/status`, log ranges and consistency
//! proofs.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rongxin_protocol::merkle;
use rongxin_protocol::suite::Suite;
use rongxin_tests::verify::{open_checkpoint, verify_consistency};

use crate::{gulou, verify_own_log};

/// The value of the sample `name` (with its labels, as written) in a
/// Prometheus text exposition.
fn sample(text: &str, name: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' '))
        })
        .unwrap_or_else(|| panic!("no sample {name} in:\n{text}"));
    line[name.len()..]
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("bad sample line {line}"))
}

#[test]
fn metrics_count_what_happened() {
    let (fed, node, records) = gulou();
    let c = node.client();
    let token = fed.token("gulou");
    c.submit_accepted(&token, &records.batch("gulou", 7));
    let mut dup = records.batch("gulou", 2);
    c.submit_accepted(&token, &dup);
    dup.push({
        let mut r = records.record("gulou", "CF");
        r["kind"] = "ZZ".into();
        r
    });
    c.submit(&token, &dup);
    c.profile(&records.legal_person("gulou").code, None, "metrics")
        .ok_json();

    let r = c.get("/metrics", Some(c.ops_token()));
    assert_eq!(r.status, 200);
    assert!(
        r.content_type.starts_with("application/openmetrics-text")
            || r.content_type.starts_with("text/plain"),
        "{}",
        r.content_type
    );
    let m = r.body;
    assert!(m.contains("# TYPE rongxin_ingest_records counter"), "{m}");
    assert_eq!(
        sample(&m, r#"rongxin_ingest_records_total{result="accepted"}"#),
        9.0
    );
    assert_eq!(
        sample(&m, r#"rongxin_ingest_records_total{result="duplicate"}"#),
        2.0
    );
    assert_eq!(
        sample(&m, r#"rongxin_ingest_records_total{result="rejected"}"#),
        1.0
    );
    assert_eq!(sample(&m, r#"rongxin_log_size{origin="gulou"}"#), 9.0);
    assert!(m.contains("# TYPE rongxin_commit_seconds histogram"), "{m}");
    assert!(sample(&m, "rongxin_commit_seconds_count") >= 2.0);
    assert!(sample(&m, "rongxin_commit_seconds_sum") > 0.0);
    assert!(
        m.contains(r#"rongxin_commit_seconds_bucket{le="+Inf"}"#),
        "{m}"
    );
    assert!(sample(&m, "rongxin_commit_batch_records_count") >= 2.0);
    assert_eq!(
        sample(
            &m,
            r#"rongxin_http_requests_total{route="/v1/records",status="200"}"#
        ),
        3.0
    );
    assert_eq!(
        sample(
            &m,
            r#"rongxin_http_requests_total{route="/v1/subjects/{code}",status="200"}"#
        ),
        1.0
    );
    assert_eq!(sample(&m, r#"rongxin_queries_total{access="public"}"#), 1.0);
    assert!(sample(&m, "rongxin_store_bytes") > 0.0);

    // A refused request is counted with its status.
    c.post("/v1/records", None, None, b"{}")
        .expect_error(401, "unauthorized");
    let m = c.metrics();
    assert_eq!(
        sample(
            &m,
            r#"rongxin_http_requests_total{route="/v1/records",status="401"}"#
        ),
        1.0
    );
}

/// The disk gauges the alerts use are set by the running node.
#[test]
fn the_disk_gauges_are_set() {
    let (_fed, node, _records) = gulou();
    let c = node.client();
    // The disk probe sets them within a second of the start.
    let mut m = c.metrics();
    for _ in 0..50 {
        if m.contains("rongxin_disk_free_bytes ") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        m = c.metrics();
    }
    assert!(sample(&m, "rongxin_disk_free_bytes") > 0.0, "{m}");
    // The example config keeps the default reserve (128 MiB, docs/operations.md).
    assert_eq!(sample(&m, "rongxin_disk_reserve_bytes"), 134_217_728.0);
}

#[test]
fn status_and_consistency_proofs() {
    let (fed, node, records) = gulou();
    let c = node.client();
    let token = fed.token("gulou");
    let roster = &fed.roster().roster;

    // A new node has an empty, signed log.
    let s = c.status();
    assert_eq!(s["member"], "gulou");
    assert_eq!(s["name"], "鼓楼区");
    assert_eq!(s["role"], "district");
    assert!(!s["version"].as_str().unwrap().is_empty());
    assert!(s["uptime_seconds"].is_u64());
    assert!(s["store_bytes"].as_u64().unwrap() > 0);
    assert_eq!(s["roster_version"], fed.roster().roster.version);
    assert_eq!(s["catalog_version"], fed.catalog().version());
    assert_eq!(s["own_log"]["size"], 0);
    assert_eq!(
        s["own_log"]["root"],
        B64.encode(merkle::empty_root(
            rongxin_protocol::suite::Suite::Ed25519Sha256
        ))
    );
    let empty = open_checkpoint(
        roster,
        "gulou",
        s["own_log"]["checkpoint"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(empty.size, 0);

    c.submit_accepted(&token, &records.batch("gulou", 5));
    let old = open_checkpoint(roster, "gulou", &c.own_log().checkpoint).unwrap();
    assert_eq!(old.size, 5);
    c.submit_accepted(&token, &records.batch("gulou", 1));
    c.submit_accepted(&token, &records.batch("gulou", 17));

    let s = c.status();
    let log = verify_own_log(&node);
    let new = &log.checkpoint;
    assert_eq!(new.size, 23);
    assert_eq!(s["own_log"]["size"], 23);
    assert_eq!(s["own_log"]["root"], B64.encode(new.root));
    assert_eq!(s["own_log"]["checkpoint"], log.note.as_str());
    let origins = s["origins"].as_array().unwrap();
    assert!(
        origins
            .iter()
            .any(|o| o["origin"] == "gulou" && o["size"] == 23),
        "{s:#}"
    );

    // Consistency proofs verify between any two checkpoints …
    verify_consistency(Suite::Ed25519Sha256, c, "gulou", &old, new).unwrap();
    verify_consistency(Suite::Ed25519Sha256, c, "gulou", &empty, new).unwrap();
    verify_consistency(Suite::Ed25519Sha256, c, "gulou", &old, &old).unwrap();
    // … and not for a rewritten history.
    let mut forged = old.clone();
    forged.root[0] ^= 1;
    assert!(verify_consistency(Suite::Ed25519Sha256, c, "gulou", &forged, new).is_err());

    // Ranges out of bounds are refused.
    c.get("/v1/logs/gulou/consistency?from=6&to=5", None)
        .expect_error(400, "bad_request");
    c.get("/v1/logs/gulou/consistency?from=1&to=24", None)
        .expect_error(400, "bad_request");
    c.get("/v1/logs/gulou/consistency?from=1", None)
        .expect_error(400, "bad_request");
    c.get("/v1/logs/gulou/entries?limit=ten", None)
        .expect_error(400, "bad_request");
    c.get("/v1/records/gulou/first/bundle", None)
        .expect_error(400, "bad_request");
    c.get("/v1/logs/gulou/entries?from=0&limit=0", None)
        .expect_error(400, "bad_request");
    c.get("/v1/logs/gulou/entries?from=0&limit=1001", None)
        .expect_error(400, "bad_request");
    let past = c
        .get("/v1/logs/gulou/entries?from=23&limit=10", None)
        .ok_json();
    assert_eq!(past["entries"].as_array().map(Vec::len), Some(0));
    let page = c
        .get("/v1/logs/gulou/entries?from=20&limit=10", None)
        .ok_json();
    assert_eq!(page["entries"].as_array().map(Vec::len), Some(3));
    assert_eq!(page["entries"][0]["seq"], 20);
    c.get("/v1/logs/taijiang/checkpoint", None)
        .expect_error(404, "not_found");
    c.get("/v1/logs/taijiang/entries", None)
        .expect_error(404, "not_found");

    // Health.
    let h = c.get("/healthz", None);
    assert_eq!(h.status, 200);
    assert_eq!(h.body.trim(), "ok");
}
