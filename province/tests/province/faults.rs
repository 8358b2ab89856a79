//! Fault injection as the forwarder sees it: 503s, slow answers, dropped
//! connections, late acknowledgements and entries altered in transit.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{Admin, Client, Log, TestConfig};

/// Whether the request failed because the connection closed under it.
fn connection_lost(err: &reqwest::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                UnexpectedEof | ConnectionReset | BrokenPipe | ConnectionAborted
            )
        {
            return true;
        }
        source = e.source();
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_delay_drop_and_late_ack() {
    let dir = tempfile::tempdir().unwrap();
    let province = TestConfig::new(dir.path()).start(dir.path()).await;
    let admin = Admin::of(&province);
    let mut log = Log::new("gulou");
    log.extend(8);

    // refuse: 503 for the next request only.
    admin.fault(json!({"mode": "refuse", "count": 1})).await;
    let client = Client::city(&province);
    let (s, body) = client.post(&log.request(0, 2)).await;
    assert_eq!(s, 503, "{body}");
    assert_eq!(admin.count("gulou").await, 0);
    assert_eq!(client.post(&log.request(0, 2)).await.0, 200);

    // delay: a slow 200.
    admin
        .fault(json!({"mode": "delay", "count": 1, "delay_ms": 400}))
        .await;
    let t = Instant::now();
    let (s, body) = client.post(&log.request(2, 4)).await;
    assert_eq!((s, body["acked_through"].as_u64()), (200, Some(4)));
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );

    // drop: the client sees a connection error, not a status; nothing stored.
    admin.fault(json!({"mode": "drop", "count": 1})).await;
    let fresh = Client::city(&province);
    let err = fresh
        .try_post(&log.request(4, 6))
        .await
        .expect_err("a dropped connection has no answer");
    assert!(err.status().is_none(), "{err:?}");
    assert!(connection_lost(&err), "{err:?}");
    assert_eq!(admin.count("gulou").await, 4);
    let (s, body) = fresh.post(&log.request(4, 6)).await;
    assert_eq!((s, body["acked_through"].as_u64()), (200, Some(6)));

    // late_ack: stored while the answer is still held back.
    admin
        .fault(json!({"mode": "late_ack", "count": 1, "delay_ms": 1500}))
        .await;
    let t = Instant::now();
    let pending = tokio::spawn({
        let client = client.clone();
        let body = log.request(6, 8);
        async move { client.post(&body).await }
    });
    admin.wait_count("gulou", 8).await;
    assert!(!pending.is_finished(), "answered before delay_ms");
    let (s, body) = pending.await.unwrap();
    assert_eq!((s, body["acked_through"].as_u64()), (200, Some(8)));
    assert!(
        t.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );

    // Faults that apply to every request until cleared.
    admin.fault(json!({"mode": "refuse"})).await;
    for _ in 0..3 {
        assert_eq!(client.post(&log.request(0, 1)).await.0, 503);
    }
    admin.fault(json!({"mode": "none"})).await;
    assert_eq!(client.post(&log.request(0, 1)).await.0, 200);
    province.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_alters_the_first_entry_for_count_requests() {
    let dir = tempfile::tempdir().unwrap();
    let province = TestConfig::new(dir.path()).start(dir.path()).await;
    let admin = Admin::of(&province);
    let client = Client::city(&province);
    let mut log = Log::new("gulou");
    log.extend(6);
    assert_eq!(client.post(&log.request(0, 2)).await.0, 200);

    admin.fault(json!({"mode": "corrupt", "count": 2})).await;
    for _ in 0..2 {
        // The very batch that verifies without the fault: refused whole,
        // as an entry altered in transit, naming the first seq.
        let (s, body) = client.post(&log.request(2, 5)).await;
        assert_eq!(s, 422, "{body}");
        assert_eq!(body["error"]["code"], "invalid_entry", "{body}");
        assert_eq!(body["error"]["seq"], 2, "{body}");
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(msg.contains("altered in transit"), "{msg}");
        assert_eq!(admin.count("gulou").await, 2);
    }
    // The count is used up: the same batch is stored.
    let (s, body) = client.post(&log.request(2, 5)).await;
    assert_eq!(
        (s, body["acked_through"].as_u64()),
        (200, Some(5)),
        "{body}"
    );

    // An altered copy of an entry already held differs from it: a conflict.
    admin.fault(json!({"mode": "corrupt", "count": 1})).await;
    let (s, body) = client.post(&log.request(4, 6)).await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict", "{body}");
    assert_eq!(body["error"]["seq"], 4, "{body}");
    assert_eq!(admin.count("gulou").await, 5);
    assert_eq!(client.post(&log.request(4, 6)).await.0, 200);
    assert_eq!(admin.count("gulou").await, 6);
    province.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_fault_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let province = TestConfig::new(dir.path()).start(dir.path()).await;
    let http = reqwest::Client::new();
    let url = format!("http://{}/v1/faults", province.admin_addr());
    for body in [
        json!({"mode": "explode"}),
        json!({"mode": "delay"}),
        json!({"mode": "drop", "count": 0}),
        json!({"mode": "drop", "extra": 1}),
    ] {
        let resp = http.post(&url).json(&body).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{body}");
    }
    province.shutdown().await.unwrap();
}
