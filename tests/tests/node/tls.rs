//! HTTPS on the node API: the certificate and key from the config, and a
//! reload (SIGHUP) that changes them for new connections without dropping
//! the open ones.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rongxin_province::demo_certs::DemoCa;
use rongxin_tests::{Federation, TestNode};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS connection to `addr` that trusts only `ca_pem`.
fn connect(addr: SocketAddr, ca_pem: &str) -> std::io::Result<Tls> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("CA PEM"))
        .expect("add CA");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("localhost").expect("server name");
    let conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(std::io::Error::other)?;
    let sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    // Finish the handshake now, so a certificate problem shows here.
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

/// One keep-alive request on `tls`; the status and body.
fn get(tls: &mut Tls, path: &str) -> (u16, String) {
    tls.write_all(format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n").as_bytes())
        .expect("send");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tls.read_exact(&mut byte).expect("read the answer head");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).expect("UTF-8 head");
    let status = head[9..12].parse().expect("status");
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .and_then(|v| v.trim().parse().ok())
        .expect("content-length");
    let mut body = vec![0u8; len];
    tls.read_exact(&mut body).expect("read the body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn write_pair(dir: &Path, ca: &DemoCa) {
    let pem = ca.issue_server("gulou").expect("issue");
    std::fs::write(dir.join("node.pem"), pem.cert).expect("write cert");
    let key = dir.join("node.key");
    std::fs::write(&key, pem.key).expect("write key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

fn https_node(fed: &Federation, dir: &Path) -> TestNode {
    let mut tls = toml::Table::new();
    tls.insert(
        "cert".into(),
        dir.join("node.pem").to_str().expect("UTF-8").into(),
    );
    tls.insert(
        "key".into(),
        dir.join("node.key").to_str().expect("UTF-8").into(),
    );
    fed.config("gulou").set("tls", tls).start()
}

fn wait_for_log(node: &TestNode, needle: &str, after: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !node.log_text()[after..].contains(needle) {
        assert!(
            Instant::now() < deadline,
            "no '{needle}' in the log:\n{}",
            node.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn https_serves_the_configured_certificate_and_reloads_it_without_dropping_connections() {
    let fed = Federation::new();
    let dir = tempfile::tempdir().expect("dir");
    let first = DemoCa::new("first CA").expect("CA");
    let second = DemoCa::new("second CA").expect("CA");
    write_pair(dir.path(), &first);
    let node = https_node(&fed, dir.path());
    let addr = node.addr();

    let mut open = connect(addr, &first.cert_pem()).expect("TLS with the first CA");
    assert_eq!(get(&mut open, "/healthz").0, 200);
    assert!(
        connect(addr, &second.cert_pem()).is_err(),
        "a client trusting another CA must refuse the node"
    );
    // Plain HTTP to the HTTPS port gets no HTTP answer.
    let mut plain = TcpStream::connect(addr).expect("connect");
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .expect("send");
    let mut buf = Vec::new();
    let _ = plain.read_to_end(&mut buf);
    assert!(!buf.starts_with(b"HTTP/1.1 200"), "plain HTTP was served");

    // New files, SIGHUP: new connections get the new certificate.
    write_pair(dir.path(), &second);
    let mark = node.log_text().len();
    node.signal_hup();
    wait_for_log(&node, "reloaded tokens, TLS files and signing keys", mark);
    let mut fresh = connect(addr, &second.cert_pem()).expect("TLS with the second CA");
    assert_eq!(get(&mut fresh, "/healthz").0, 200);
    assert!(
        connect(addr, &first.cert_pem()).is_err(),
        "the old certificate is still served"
    );
    // The connection opened before the reload goes on.
    let (status, body) = get(&mut open, "/v1/catalog");
    assert_eq!(status, 200, "{body}");

    // A broken key changes nothing: the reload is refused and logged.
    std::fs::write(dir.path().join("node.key"), "not a key").expect("write");
    let mark = node.log_text().len();
    node.signal_hup();
    wait_for_log(&node, "reload refused", mark);
    let mut again = connect(addr, &second.cert_pem()).expect("the second certificate stays");
    assert_eq!(get(&mut again, "/healthz").0, 200);
}

#[test]
fn a_key_readable_by_others_or_a_mismatched_pair_is_refused_at_start() {
    let fed = Federation::new();
    let dir = tempfile::tempdir().expect("dir");
    let ca = DemoCa::new("CA").expect("CA");
    write_pair(dir.path(), &ca);
    let key = dir.path().join("node.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut tls = toml::Table::new();
    tls.insert(
        "cert".into(),
        dir.path().join("node.pem").to_str().expect("UTF-8").into(),
    );
    tls.insert("key".into(), key.to_str().expect("UTF-8").into());
    let failed = fed
        .config("gulou")
        .set("tls", tls.clone())
        .run_expecting_failure();
    assert!(failed.stderr.contains("chmod 600"), "{}", failed.stderr);
    // A key of another certificate.
    let other = ca.issue_server("other").expect("issue");
    std::fs::write(&key, other.key).expect("write");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let failed = fed.config("gulou").set("tls", tls).run_expecting_failure();
    assert!(
        failed.stderr.contains("does not match tls.cert"),
        "{}",
        failed.stderr
    );
}

#[test]
fn rongxinctl_verifies_the_node_against_the_ca_it_is_given() {
    let fed = Federation::new();
    let dir = tempfile::tempdir().expect("dir");
    let ca = DemoCa::new("node CA").expect("CA");
    let other = DemoCa::new("another CA").expect("CA");
    write_pair(dir.path(), &ca);
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.cert_pem()).expect("write CA");
    let other_file = dir.path().join("other.pem");
    std::fs::write(&other_file, other.cert_pem()).expect("write CA");
    let node = https_node(&fed, dir.path());
    let url = format!("https://127.0.0.1:{}", node.addr().port());
    let token = rongxin_tests::bins::token_file(&fed.token("admin"));
    let status = |ca: &Path| {
        std::process::Command::new(rongxin_tests::bins::ctl())
            .args(["status", "--node", &url, "--ca"])
            .arg(ca)
            .arg("--token-file")
            .arg(&token)
            .output()
            .expect("run rongxinctl status")
    };
    let ok = status(&ca_file);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("gulou "));
    let refused = status(&other_file);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("not trusted") && err.contains("--ca"), "{err}");
}
