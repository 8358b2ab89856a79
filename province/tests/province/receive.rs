//! `POST /v1/entries`: acceptance, de-duplication, gaps, conflicts, and every
//! kind of entry that must not verify.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rongxin_protocol::entry::{Entry, Op};
use rongxin_province::ProvinceHandle;
use serde_json::{Value, json};

use crate::common::{Admin, Client, Log, TestConfig, record, signer};

struct Fixture {
    _dir: tempfile::TempDir,
    province: ProvinceHandle,
    client: Client,
    admin: Admin,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let province = TestConfig::new(dir.path()).start(dir.path()).await;
    let client = Client::city(&province);
    let admin = Admin::of(&province);
    Fixture {
        _dir: dir,
        province,
        client,
        admin,
    }
}

fn assert_invalid(status: u16, body: &Value, seq: u64, needle: &str) {
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_entry", "{body}");
    assert_eq!(body["error"]["seq"], seq, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains(needle), "message {msg:?} lacks {needle:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepts_a_batch_and_resending_is_idempotent() {
    let f = fixture().await;
    let mut log = Log::new("gulou");
    log.extend(8);

    let (s, body) = f.client.post(&log.request(0, 5)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body, json!({"origin": "gulou", "acked_through": 5}));
    assert_eq!(f.admin.count("gulou").await, 5);

    // The same batch again: accepted, ignored.
    let (s, body) = f.client.post(&log.request(0, 5)).await;
    assert_eq!((s, body["acked_through"].as_u64()), (200, Some(5)));
    assert_eq!(f.admin.count("gulou").await, 5);
    // A part of it: the answer still says everything held.
    let (s, body) = f.client.post(&log.request(1, 3)).await;
    assert_eq!((s, body["acked_through"].as_u64()), (200, Some(5)));

    // Overlapping the end: the held part is ignored, the rest stored.
    let (s, body) = f.client.post(&log.request(3, 8)).await;
    assert_eq!(
        (s, body["acked_through"].as_u64()),
        (200, Some(8)),
        "{body}"
    );

    let (_, origins) = f.admin.get("/v1/origins").await;
    assert_eq!(
        origins,
        json!([{"origin": "gulou", "count": 8, "last_seq": 7}])
    );
    let (s, stored) = f.admin.get("/v1/entries/gulou?from=2&limit=3").await;
    assert_eq!(s, 200);
    let stored = stored["entries"].as_array().unwrap().clone();
    assert_eq!(stored.len(), 3);
    for (i, e) in stored.iter().enumerate() {
        let want = &log.entries[2 + i];
        assert_eq!(e["seq"], 2 + i as u64);
        assert_eq!(e["entry"], B64.encode(&want.bytes));
        assert_eq!(e["signature"], B64.encode(want.signature));
    }
    f.province.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origins_are_counted_separately_and_concurrent_batches_do_not_interleave() {
    let f = fixture().await;
    let mut gulou = Log::new("gulou");
    gulou.extend(30);
    let mut ftz = Log::new("ftz");
    ftz.extend(4);
    // The same batches at once, from two connections: one writer per origin.
    let other = Client::city(&f.province);
    let (g, t) = (gulou.request(0, 30), ftz.request(0, 4));
    let (a, b, c) = tokio::join!(f.client.post(&g), other.post(&g), f.client.post(&t));
    for (s, body) in [&a, &b] {
        assert_eq!(
            (*s, body["acked_through"].as_u64()),
            (200, Some(30)),
            "{body}"
        );
    }
    assert_eq!(c.0, 200, "{}", c.1);
    let (_, origins) = f.admin.get("/v1/origins").await;
    assert_eq!(
        origins,
        json!([
            {"origin": "ftz", "count": 4, "last_seq": 3},
            {"origin": "gulou", "count": 30, "last_seq": 29},
        ])
    );
    f.province.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_beyond_what_is_held_is_a_gap() {
    let f = fixture().await;
    let mut log = Log::new("gulou");
    log.extend(8);
    assert_eq!(f.client.post(&log.request(0, 3)).await.0, 200);
    let (s, body) = f.client.post(&log.request(5, 8)).await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["error"]["code"], "gap");
    assert_eq!(body["error"]["expected_from"], 3);
    assert_eq!(f.admin.count("gulou").await, 3);
    // Resending from where the province asks works.
    let (s, body) = f.client.post(&log.request(3, 8)).await;
    assert_eq!((s, body["acked_through"].as_u64()), (200, Some(8)));
    f.province.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_byte_is_refused_naming_the_seq_and_nothing_is_stored() {
    let f = fixture().await;
    let mut log = Log::new("gulou");
    log.extend(4);
    let mut body = log.request(0, 4);
    let mut bytes = log.entries[2].bytes.clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    body["entries"][2]["entry"] = json!(B64.encode(&bytes));
    let (s, answer) = f.client.post(&body).await;
    assert_invalid(s, &answer, 2, "signature");
    assert_eq!(f.admin.count("gulou").await, 0);
    f.province.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_signed_by_another_members_key_is_refused() {
    let f = fixture().await;
    let mut log = Log::new("gulou");
    log.extend(2);
    // Entry 2 claims gulou but taijiang signed it.
    let forged = log
        .next_entry("")
        .sign(signer("taijiang").secret())
        .unwrap();
    log.push_signed(forged);
    let (s, answer) = f.client.post(&log.request(0, 3)).await;
    assert_invalid(s, &answer, 2, "gulou's roster key");
    assert_eq!(f.admin.count("gulou").await, 0);
    f.province.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_in_another_members_jurisdiction_is_refused() {
    let f = fixture().await;
    let mut log = Log::new("gulou");
    log.extend(1);
    // gulou signs a record of 350103, which taijiang owns.
    let mut e = log.next_entry("");
    e.op = Op::Put(record(&crate::common::catalog(), "350103", 1, "x"));
    log.push(&e);
    let (s, answer) = f.client.post(&log.request(0, 2)).await;
    assert_invalid(s, &answer, 1, "belongs to taijiang");
    assert_eq!(f.admin.count("gulou").await, 0);
    f.province.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_chain_or_a_wrong_seq_is_refused() {
    let f = fixture().await;
    let mut log = Log::new("gulou");
    log.extend(2);
    let mut e = log.next_entry("");
    e.prev_hash = [7; 32];
    log.push(&e);
    let (s, answer) = f.client.post(&log.request(0, 3)).await;
    assert_invalid(s, &answer, 2, "chain broken");

    // Entry bytes of seq 5 sent as seq 0.
    let mut wrong = Log::new("gulou");
    let e = Entry {
        seq: 5,
        prev_hash: [1; 32],
        ..wrong.next_entry("")
    };
    wrong.push(&e);
    let (s, answer) = f.client.post(&wrong.request(0, 1)).await;
    assert_invalid(s, &answer, 0, "expected gulou/0");
    assert_eq!(f.admin.count("gulou").await, 0);
    f.province.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_entry_at_a_held_seq_is_a_conflict() {
    let f = fixture().await;
    let mut log = Log::new("gulou");
    log.extend(3);
    assert_eq!(f.client.post(&log.request(0, 3)).await.0, 200);
    // A fork: another valid entry 1, properly chained to entry 0.
    let mut fork = Log::new("gulou");
    fork.push_signed(log.entries[0].clone());
    let e = fork.next_entry("fork");
    fork.push(&e);
    let (s, answer) = f.client.post(&fork.request(0, 2)).await;
    assert_eq!(s, 409, "{answer}");
    assert_eq!(answer["error"]["code"], "conflict");
    assert_eq!(answer["error"]["seq"], 1);
    assert_eq!(f.admin.count("gulou").await, 3);
    f.province.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_must_be_signed_by_the_origin_and_match_the_entries() {
    let f = fixture().await;
    let mut log = Log::new("gulou");
    log.extend(6);

    // Root mismatch when the log reaches the checkpoint's size (mid-batch).
    let bad = log.checkpoint_with_root(3, [9; 32]);
    let (s, answer) = f.client.post(&log.request_with(0, 6, &bad)).await;
    assert_invalid(s, &answer, 2, "checkpoint");
    assert_eq!(f.admin.count("gulou").await, 0);

    // A checkpoint signed by another member.
    let mut taijiang = Log::new("taijiang");
    taijiang.extend(1);
    let foreign = taijiang.checkpoint(1);
    let (s, answer) = f.client.post(&log.request_with(0, 6, &foreign)).await;
    assert_invalid(s, &answer, 0, "checkpoint");

    // A checkpoint beyond the batch is checked later; one inside it now.
    let (s, body) = f
        .client
        .post(&log.request_with(0, 2, &log.checkpoint(6)))
        .await;
    assert_eq!(
        (s, body["acked_through"].as_u64()),
        (200, Some(2)),
        "{body}"
    );
    let (s, body) = f
        .client
        .post(&log.request_with(2, 6, &log.checkpoint(4)))
        .await;
    assert_eq!(
        (s, body["acked_through"].as_u64()),
        (200, Some(6)),
        "{body}"
    );
    // A checkpoint below what is held is checked against the stored tree.
    let bad_old = log.checkpoint_with_root(4, [9; 32]);
    let (s, answer) = f.client.post(&log.request_with(5, 6, &bad_old)).await;
    assert_invalid(s, &answer, 3, "checkpoint");
    let (s, _) = f
        .client
        .post(&log.request_with(5, 6, &log.checkpoint(5)))
        .await;
    assert_eq!(s, 200);
    f.province.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_bad_requests() {
    let f = fixture().await;
    let mut log = Log::new("gulou");
    log.extend(2);
    let bad = |mutate: &dyn Fn(&mut Value)| {
        let mut b = log.request(0, 2);
        mutate(&mut b);
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (bad(&|b| b["format"] = json!("rongxin-forward/9")), "format"),
        (bad(&|b| b["sender"] = json!("gulou")), "client certificate"),
        (bad(&|b| b["entries"] = json!([])), "empty"),
        (bad(&|b| b["entries"][1]["seq"] = json!(5)), "consecutive"),
        (
            bad(&|b| b["entries"][0]["signature"] = json!("AAAA")),
            "64 bytes",
        ),
        (bad(&|b| b["entries"][0]["entry"] = json!("*")), "base64"),
        (
            bad(&|b| {
                let item = b["entries"][0].clone();
                b["entries"] = Value::Array(
                    (0..1001u64)
                        .map(|i| {
                            let mut it = item.clone();
                            it["seq"] = json!(i);
                            it
                        })
                        .collect(),
                );
            }),
            "at most 1000",
        ),
        (
            json!({"format": "rongxin-forward/1"}),
            "not a forward request",
        ),
    ];
    for (body, needle) in cases {
        let (s, answer) = f.client.post(&body).await;
        assert_eq!(s, 400, "{needle}: {answer}");
        assert_eq!(answer["error"]["code"], "bad_request");
        let msg = answer["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
    }
    // An origin the roster does not know.
    let (s, answer) = f
        .client
        .post(&bad(&|b| b["origin"] = json!("nowhere")))
        .await;
    assert_invalid(s, &answer, 0, "not a member");
    assert_eq!(f.admin.get("/v1/origins").await.1, json!([]));
    f.province.shutdown().await.unwrap();
}
