//! Mutual TLS: clients without a certificate, with one another CA issued, or
//! with a CN not in accepted_senders never get an HTTP answer.

use rongxin_province::demo_certs::DemoCa;
use serde_json::json;

use crate::common::{Admin, Client, Log, TestConfig, city_pem, write_pem};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_an_accepted_certificate_are_refused_in_the_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let province = TestConfig::new(dir.path()).start(dir.path()).await;
    let mut log = Log::new("gulou");
    log.extend(2);
    let body = log.request(0, 2);

    // No client certificate. With TLS 1.3 the client may finish its side of
    // the handshake before the server's alert arrives, and then sees only a
    // closed connection: every attempt must fail without an HTTP status, and
    // the alert must show within a few attempts.
    let mut seen = Vec::new();
    for _ in 0..10 {
        let err = Client::with_identity(&province, None)
            .try_post(&body)
            .await
            .expect_err("no client certificate must be refused");
        assert!(err.status().is_none(), "{err:?}");
        seen.push(format!("{err:?}"));
        if seen
            .last()
            .is_some_and(|e| e.contains("CertificateRequired"))
        {
            break;
        }
    }
    assert!(
        seen.iter().any(|e| e.contains("CertificateRequired")),
        "{seen:?}"
    );

    // A certificate with CN "city", but from another CA.
    let other_ca = DemoCa::new("Some other CA").unwrap();
    let forged = other_ca.issue_client("city").unwrap();
    let mut seen = Vec::new();
    for _ in 0..10 {
        let err = Client::with_identity(&province, Some(&forged))
            .try_post(&body)
            .await
            .expect_err("a certificate from another CA must be refused");
        assert!(err.status().is_none(), "{err:?}");
        seen.push(format!("{err:?}"));
        if seen.last().is_some_and(|e| e.contains("UnknownCA")) {
            break;
        }
    }
    assert!(seen.iter().any(|e| e.contains("UnknownCA")), "{seen:?}");

    assert_eq!(Admin::of(&province).get("/v1/origins").await.1, json!([]));
    // The city's certificate works on the same listener.
    assert_eq!(Client::city(&province).post(&body).await.0, 200);
    province.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_accepted_senders_may_connect() {
    let dir = tempfile::tempdir().unwrap();
    // A province of our own PKI, accepting "city-backup" only.
    let ca = DemoCa::new("Test CA").unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca.cert_pem()).unwrap();
    let (cert, key) = write_pem(dir.path(), "server", &ca.issue_server("province").unwrap());
    let q = |p: &std::path::Path| format!("{:?}", p.display().to_string());
    let mut config = TestConfig::new(dir.path());
    config
        .set("client_ca", &q(&ca_path))
        .set("tls_cert", &q(&cert))
        .set("tls_key", &q(&key))
        .set("accepted_senders", "[\"city-backup\"]");
    // The clients trust the demo CA; add this one too.
    let province = config.start(dir.path()).await;
    let client = |cn: &str| {
        let id = ca.issue_client(cn).unwrap();
        let pem = format!("{}{}", id.key, id.cert);
        crate::common::client_builder()
            .add_root_certificate(reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap())
            .identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap())
            .build()
            .unwrap()
    };
    let url = format!("https://localhost:{}/v1/entries", province.addr().port());
    let mut log = Log::new("gulou");
    log.extend(1);
    let mut body = log.request(0, 1);

    // CN "city" is issued by the right CA, but not accepted here.
    let mut seen = Vec::new();
    for _ in 0..10 {
        let err = client("city")
            .post(&url)
            .json(&body)
            .send()
            .await
            .expect_err("CN not in accepted_senders");
        assert!(err.status().is_none(), "{err:?}");
        seen.push(format!("{err:?}"));
        if seen.last().is_some_and(|e| e.contains("AccessDenied")) {
            break;
        }
    }
    assert!(seen.iter().any(|e| e.contains("AccessDenied")), "{seen:?}");
    // The demo city certificate is from another CA.
    let demo = city_pem();
    let demo_client = crate::common::client_builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap())
        .identity(
            reqwest::Identity::from_pem(format!("{}{}", demo.key, demo.cert).as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..10 {
        let err = demo_client
            .post(&url)
            .json(&body)
            .send()
            .await
            .expect_err("demo CA not trusted here");
        assert!(err.status().is_none(), "{err:?}");
        seen.push(format!("{err:?}"));
        if seen.last().is_some_and(|e| e.contains("UnknownCA")) {
            break;
        }
    }
    assert!(seen.iter().any(|e| e.contains("UnknownCA")), "{seen:?}");

    // The accepted CN gets in, and must name itself as the sender.
    let backup = client("city-backup");
    let resp = backup.post(&url).json(&body).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    body["sender"] = json!("city-backup");
    let resp = backup.post(&url).json(&body).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    province.shutdown().await.unwrap();
}
