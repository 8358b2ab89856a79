//! `rongxinctl` over HTTPS: the real binary against a TLS listener on
//! loopback that presents the example federation's node certificate
//! (config-examples/demo-certs/node.pem, issued by the demo CA), as a node
//! with `[tls]` does. It must succeed with `--ca` (or `RONGXIN_CA`) naming
//! the demo CA, refuse with a message that says to pass the issuing CA when
//! given another or none, and say which scheme to use when one end speaks
//! TLS and the other does not.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const STATUS: &str = r#"{"member":"gulou","own_log":{"size":3}}"#;

fn certs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config-examples/demo-certs")
}

/// Answers every request with `STATUS`, keeping each request's head.
/// With `tls`, only after a TLS handshake with the demo node certificate.
fn serve(tls: bool) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let config = tls.then(|| {
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(certs().join("node.pem"))
                .expect("node.pem")
                .map(|c| c.expect("a certificate"))
                .collect();
        let key = PrivateKeyDer::from_pem_file(certs().join("node.key")).expect("node.key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .expect("server config"),
        )
    });
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let config = config.clone();
            let log = log.clone();
            std::thread::spawn(move || match config {
                Some(c) => {
                    let Ok(conn) = rustls::ServerConnection::new(c) else {
                        return;
                    };
                    answer(rustls::StreamOwned::new(conn, stream), &log);
                }
                None => answer(stream, &log),
            });
        }
    });
    (addr.to_string(), seen)
}

fn answer<S: std::io::Read + std::io::Write>(mut s: S, log: &Mutex<Vec<String>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            // A failed handshake or a client that hung up.
            _ => return,
        }
        // Not HTTP (a TLS ClientHello on the plain listener): answer as an
        // HTTP server does.
        if !head[0].is_ascii_uppercase() {
            let _ = s.write_all(
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
            return;
        }
    }
    log.lock()
        .expect("log")
        .push(String::from_utf8_lossy(&head).into_owned());
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{STATUS}",
        STATUS.len()
    );
    let _ = s.flush();
}

fn ctl(args: &[&str], ca_env: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rongxinctl"));
    cmd.args(args).env_remove("RONGXIN_CA");
    if let Some(ca) = ca_env {
        cmd.env("RONGXIN_CA", ca);
    }
    cmd.output().expect("run rongxinctl")
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn token(dir: &Path) -> String {
    let p = dir.join("monitor.token");
    std::fs::write(&p, "monitor-token-0123\n").expect("token");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    p.to_str().expect("utf-8 path").to_owned()
}

#[test]
fn https_is_verified_against_the_ca_file_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let token = token(dir.path());
    let (addr, seen) = serve(true);
    let url = format!("https://{addr}");
    let ca = certs().join("ca.pem");
    let ca = ca.to_str().expect("utf-8");

    let ok = ctl(
        &[
            "status",
            "--node",
            &url,
            "--ca",
            ca,
            "--token-file",
            &token,
            "--json",
        ],
        None,
    );
    assert!(ok.status.success(), "{}", err(&ok));
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), STATUS);
    let heads = seen.lock().expect("log").clone();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(heads[0].starts_with("GET /v1/admin/status "), "{heads:?}");
    assert!(
        heads[0]
            .to_ascii_lowercase()
            .contains("authorization: bearer monitor-token-0123"),
        "{heads:?}"
    );

    // The same CA from the environment; `localhost` is in the certificate too.
    let port = addr.rsplit(':').next().expect("port");
    let env = ctl(
        &[
            "status",
            "--node",
            &format!("https://localhost:{port}"),
            "--json",
        ],
        Some(&certs().join("ca.pem")),
    );
    assert!(env.status.success(), "{}", err(&env));

    // A certificate that did not issue the node's: refused, and said so.
    let wrong = ctl(
        &[
            "status",
            "--node",
            &url,
            "--ca",
            certs().join("city.pem").to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!(wrong.status.code(), Some(2));
    let e = err(&wrong);
    assert!(e.contains("not trusted") && e.contains("city.pem"), "{e}");
    assert!(e.contains("pass --ca"), "{e}");

    // No CA: the public web roots do not know the demo CA.
    let none = ctl(&["status", "--node", &url], None);
    assert_eq!(none.status.code(), Some(2));
    let e = err(&none);
    assert!(
        e.contains("not trusted") && e.contains("no --ca given"),
        "{e}"
    );

    // A CA file that is not one names the file.
    let key = certs().join("city.key");
    let not_ca = ctl(
        &[
            "status",
            "--node",
            &url,
            "--ca",
            key.to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!(not_ca.status.code(), Some(2));
    assert!(err(&not_ca).contains("city.key") && err(&not_ca).contains("no certificate"));
    let missing = ctl(
        &["status", "--node", &url, "--ca", "/nonexistent/ca.pem"],
        None,
    );
    assert!(
        err(&missing).contains("/nonexistent/ca.pem"),
        "{}",
        err(&missing)
    );

    // None of the refused attempts got as far as a request.
    assert_eq!(seen.lock().expect("log").len(), 2);
}

#[test]
fn a_scheme_that_does_not_match_the_node_is_named() {
    let (tls_addr, _) = serve(true);
    let plain = ctl(&["status", "--node", &format!("http://{tls_addr}")], None);
    assert_eq!(plain.status.code(), Some(2));
    let e = err(&plain);
    assert!(e.contains("serves HTTPS only: use https://"), "{e}");

    let (plain_addr, _) = serve(false);
    let ca = certs().join("ca.pem");
    let tls = ctl(
        &[
            "status",
            "--node",
            &format!("https://{plain_addr}"),
            "--ca",
            ca.to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!(tls.status.code(), Some(2));
    let e = err(&tls);
    assert!(
        e.contains("did not answer in TLS") && e.contains("use http://"),
        "{e}"
    );
}
