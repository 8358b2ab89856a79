//! The node's public face under abuse: idle connections, the connection
//! caps and header timeout, request rates, oversize URIs and headers, the
//! one JSON error shape, and who may read the operations endpoints.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rongxin_tests::{Federation, TestNode};

/// A config of gulou with the default rates and `limits` on top.
fn gulou_with_limits(fed: &Federation, limits: &[(&str, toml::Value)]) -> TestNode {
    let mut table = toml::Table::new();
    for (k, v) in limits {
        table.insert((*k).to_owned(), v.clone());
    }
    fed.config("gulou").set("limits", table).start()
}

/// Opens a TCP connection to `addr` from the loopback address `from`.
fn connect_from(from: [u8; 4], addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::STREAM,
        None,
    )?;
    rustix::net::bind(&socket, &SocketAddr::from((from, 0)))?;
    rustix::net::connect(&socket, &addr)?;
    Ok(TcpStream::from(socket))
}

/// Raises this test process's open-file limit so that it can hold many sockets.
fn raise_own_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let lim = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        rustix::process::Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        },
    );
}

/// Whether the peer closed `s` (EOF) within `within`.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).expect("set timeout");
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
        if Instant::now() > deadline {
            return false;
        }
    }
}

#[test]
fn idle_connections_cannot_lock_others_out() {
    raise_own_file_limit();
    let fed = Federation::new();
    // Defaults, except a header timeout long enough that no held
    // connection is let go while the test is still connecting (that is
    // a_connection_that_sent_a_request_is_closed_when_idle's subject).
    let node = gulou_with_limits(&fed, &[("header_timeout", "60s".into())]);
    let addr = node.addr();
    // 1,100 idle connections from one client address: more than the
    // default file limit of 1,024 the node had before, and more than the
    // per-address cap of 256.
    let mut idle = Vec::new();
    let mut refused = 0;
    for _ in 0..1_100 {
        match connect_from([127, 0, 0, 2], addr) {
            Ok(s) => idle.push(s),
            Err(_) => refused += 1,
        }
    }
    assert_eq!(refused, 0, "the kernel refused connections");
    // Everyone else still gets answers, at once.
    let t0 = Instant::now();
    let r = node.client().get("/healthz", None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "healthz took {:?}",
        t0.elapsed()
    );
    // The connections over the per-address cap were answered with a JSON
    // 503 and closed; the first 256 are held until the header timeout.
    let mut over_cap = 0;
    for s in idle.iter_mut().skip(256) {
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        if text.starts_with("HTTP/1.1 503") {
            assert!(text.contains("retry-after: 1"), "{text}");
            assert!(text.contains("max_connections_per_address"), "{text}");
            over_cap += 1;
        }
    }
    assert_eq!(over_cap, 844, "every connection past the cap is refused");
    let m = node.client().metrics();
    assert!(
        m.contains(r#"rongxin_http_limited_total{limit="connections",scope="per_address"} 844"#),
        "{}",
        m.lines()
            .filter(|l| l.contains("limited"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The held ones are still open: nothing was sent on them.
    for s in idle.iter_mut().take(256) {
        assert!(!closed_within(s, Duration::from_millis(10)));
    }
}

#[test]
fn a_connection_that_sent_a_request_is_closed_when_idle() {
    let fed = Federation::new();
    let node = gulou_with_limits(&fed, &[("header_timeout", "1s".into())]);
    let mut s = TcpStream::connect(node.addr()).expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .expect("send");
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).expect("answer");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Keep-alive, then nothing: closed after the header timeout.
    let t0 = Instant::now();
    assert!(closed_within(&mut s, Duration::from_secs(5)));
    assert!(
        t0.elapsed() >= Duration::from_millis(800),
        "{:?}",
        t0.elapsed()
    );
    // A client that sends half its headers and stalls is cut off too.
    let mut s = TcpStream::connect(node.addr()).expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .expect("send");
    assert!(closed_within(&mut s, Duration::from_secs(5)));
}

#[test]
fn anonymous_requests_are_rate_limited_per_address() {
    let fed = Federation::new();
    let node = gulou_with_limits(
        &fed,
        &[
            ("anonymous_rate", 0.5.into()),
            ("anonymous_burst", 5.0.into()),
        ],
    );
    let c = node.client();
    for i in 0..5 {
        let r = c.get("/v1/catalog", None);
        assert_eq!(r.status, 200, "request {i}: {}", r.body);
    }
    let r = c.get("/v1/subjects/91350100757384472D", None);
    let msg = r.expect_error(429, "rate_limited");
    assert!(msg.contains("anonymous_rate"), "{msg}");
    // /healthz is never rationed.
    assert_eq!(c.get("/healthz", None).status, 200);
    // A token has its own, larger budget.
    let agency = fed.token("agency");
    assert_eq!(c.get("/v1/catalog", Some(&agency)).status, 200);
    let m = c.metrics();
    assert!(
        m.contains(r#"rongxin_http_limited_total{limit="rate",scope="address"} 1"#),
        "{m}"
    );
}

#[test]
fn tokens_are_rate_limited_per_token() {
    let fed = Federation::new();
    let node = gulou_with_limits(
        &fed,
        &[("token_rate", 0.5.into()), ("token_burst", 3.0.into())],
    );
    let c = node.client();
    let agency = fed.token("agency");
    for _ in 0..3 {
        assert_eq!(c.get("/v1/catalog", Some(&agency)).status, 200);
    }
    let r = c.get("/v1/catalog", Some(&agency));
    let msg = r.expect_error(429, "rate_limited");
    assert!(msg.contains("token_rate"), "{msg}");
    // Another token is not held back by it.
    let government = fed.token("government");
    assert_eq!(c.get("/v1/catalog", Some(&government)).status, 200);
}

/// Sends raw request bytes; returns the status line's code, the headers and body.
fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(request).expect("send");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let code = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (code, text)
}

#[test]
fn every_error_is_json() {
    let fed = Federation::new();
    let node = gulou_with_limits(&fed, &[]);
    let c = node.client();
    c.get("/v1/nowhere", None).expect_error(404, "not_found");
    let r = c.post("/v1/subjects/91350100757384472D", None, None, b"");
    r.expect_error(405, "method_not_allowed");
    // A path parameter of the wrong type: axum's rejection, rewrapped.
    let msg = c
        .get("/v1/records/gulou/not-a-number/bundle", None)
        .expect_error(400, "bad_request");
    assert!(!msg.is_empty());
    // A URI over the limit.
    let long = format!("/v1/subjects/{}", "9".repeat(9_000));
    let msg = c.get(&long, None).expect_error(414, "uri_too_long");
    assert!(msg.contains("max_uri_bytes"), "{msg}");
    // Headers over the limit.
    let big = format!(
        "GET /v1/catalog HTTP/1.1\r\nhost: x\r\nx-padding: {}\r\nconnection: close\r\n\r\n",
        "a".repeat(40_000)
    );
    let (code, text) = raw(node.addr(), big.as_bytes());
    assert_eq!(code, 431, "{text}");
    assert!(text.contains("\"headers_too_large\""), "{text}");
    assert!(text.contains("max_header_bytes"), "{text}");
}

#[test]
fn operations_endpoints_need_an_admin_or_monitor_token() {
    let fed = Federation::new();
    let node = gulou_with_limits(&fed, &[]);
    let c = node.client();
    for path in ["/v1/admin/status", "/v1/admin/evidence", "/metrics"] {
        let msg = c.get(path, None).expect_error(401, "unauthorized");
        assert!(msg.contains("admin or monitor"), "{path}: {msg}");
        let msg = c
            .get(path, Some(&fed.token("gulou")))
            .expect_error(403, "forbidden");
        assert!(msg.contains("role department"), "{path}: {msg}");
        c.get(path, Some(&fed.token("agency")))
            .expect_error(403, "forbidden");
        assert_eq!(c.get(path, Some(&fed.token("admin"))).status, 200, "{path}");
    }
    // The admin-only endpoints refuse a monitor token; a monitor reads status.
    let monitor = "a-monitoring-token";
    let tokens = node.scratch_file(
        "tokens.toml",
        &format!(
            "[[token]]\nid = \"prometheus\"\nrole = \"monitor\"\nname = \"监控\"\nsha256 = \"{}\"\n",
            hex_digest(monitor)
        ),
    );
    let mut node = node;
    node.stop_clean();
    let node = fed
        .config("gulou")
        .set("tokens_file", tokens.to_str().expect("UTF-8"))
        .start();
    let c = node.client();
    assert_eq!(c.get("/v1/admin/status", Some(monitor)).status, 200);
    assert_eq!(c.get("/metrics", Some(monitor)).status, 200);
    let msg = c
        .get("/v1/admin/query-log", Some(monitor))
        .expect_error(403, "forbidden");
    assert!(
        msg.contains("prometheus") && msg.contains("monitor"),
        "{msg}"
    );
    // /healthz stays open for load balancers.
    assert_eq!(c.get("/healthz", None).status, 200);
}

#[test]
fn the_operations_listener_serves_health_and_metrics_without_a_token() {
    let fed = Federation::new();
    let port = rongxin_tests::federation::free_port();
    let node = fed
        .config("gulou")
        .set("ops_listen", format!("127.0.0.1:{port}"))
        .start();
    let ops = rongxin_tests::Client::new(SocketAddr::from(([127, 0, 0, 1], port)));
    assert_eq!(ops.get("/healthz", None).status, 200);
    let m = ops.get("/metrics", None);
    assert_eq!(m.status, 200);
    assert!(m.body.contains("rongxin_http_connections"), "{}", m.body);
    // Nothing else is served there.
    ops.get("/v1/catalog", None).expect_error(404, "not_found");
    // The API listener still wants a token for metrics.
    node.client()
        .get("/metrics", None)
        .expect_error(401, "unauthorized");
}

pub(crate) fn hex_digest(token: &str) -> String {
    rongxin_node::config::token_digest(token)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn tokens_are_added_revoked_and_expire_on_reload_without_a_restart() {
    let fed = Federation::new();
    let tokens_path = fed.dir().join("gulou-tokens.toml");
    let write_tokens = |entries: &[(&str, &str, Option<&str>)]| {
        let mut text = String::new();
        for (id, token, expires) in entries {
            text.push_str(&format!(
                "[[token]]\nid = \"{id}\"\nrole = \"agency\"\nname = \"{id}\"\naccess = \"conditional\"\nsha256 = \"{}\"\n",
                hex_digest(token)
            ));
            if let Some(e) = expires {
                text.push_str(&format!("expires = \"{e}\"\n"));
            }
        }
        std::fs::write(&tokens_path, text).expect("write tokens");
    };
    write_tokens(&[("first", "token-one", None)]);
    let node = fed
        .config("gulou")
        .set("tokens_file", tokens_path.to_str().expect("UTF-8"))
        .start();
    let c = node.client();
    let profile = |t: &str| c.get("/v1/subjects/91350100757384472D", Some(t));
    assert_eq!(profile("token-one").status, 200);
    profile("token-two").expect_error(401, "unauthorized");

    // Revoke the first, add a second and an expired third; SIGHUP.
    write_tokens(&[
        ("second", "token-two", Some("2099-01-01T00:00:00+08:00")),
        ("third", "token-three", Some("2020-01-01T00:00:00+08:00")),
    ]);
    node.signal_hup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while profile("token-two").status != 200 {
        assert!(Instant::now() < deadline, "the reload did not apply");
        std::thread::sleep(Duration::from_millis(50));
    }
    profile("token-one").expect_error(401, "unauthorized");
    let msg = profile("token-three").expect_error(401, "unauthorized");
    assert!(msg.contains("'third' expired"), "{msg}");

    // A broken tokens file changes nothing, and the log says why.
    std::fs::write(&tokens_path, "[[token]]\nid = \"x\"\n").expect("write");
    node.signal_hup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !node.log_text().contains("reload refused") {
        assert!(Instant::now() < deadline, "no refusal in the log");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(profile("token-two").status, 200);
    // Tokens are never logged.
    let log = node.log_text();
    for t in ["token-one", "token-two", "token-three"] {
        assert!(!log.contains(t), "the log contains token {t}");
    }
}

#[test]
fn plain_http_is_refused_off_loopback_unless_allowed() {
    let fed = Federation::new();
    let data = tempfile::tempdir().expect("data dir");
    let load = |c: rongxin_tests::NodeConfig| {
        rongxin_node::config::Config::load(&c.write(), Some(data.path().to_owned()))
    };
    let off_loopback = fed.config("gulou").set("http_listen", "0.0.0.0:8102");
    let e = load(off_loopback.clone()).expect_err("plain HTTP off loopback");
    let e = e.to_string();
    assert!(e.contains("allow_plain_http") && e.contains("[tls]"), "{e}");
    load(off_loopback.set("allow_plain_http", true)).expect("explicitly allowed");
    load(fed.config("gulou")).expect("loopback");
}
