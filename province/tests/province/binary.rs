//! The `rongxin-province` binary: config errors, SIGTERM, restart, and the
//! example config.

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rongxin_province::config::Config;
use serde_json::json;

use crate::common::{Admin, Log, TestConfig, city_pem, client_builder, examples};

const BIN: &str = env!("CARGO_BIN_EXE_rongxin-province");

/// Runs the binary on `config` expecting a config error; returns stderr.
fn config_error(config: &Path) -> String {
    let out = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn config_errors_name_the_key_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let mut c = TestConfig::new(d);
    fs::set_permissions(d.join("province.key"), fs::Permissions::from_mode(0o640)).unwrap();
    let err = config_error(&c.write(d));
    assert!(
        err.contains("tls_key") && err.contains("chmod 600"),
        "{err}"
    );
    fs::set_permissions(d.join("province.key"), fs::Permissions::from_mode(0o600)).unwrap();

    c.set("admin_listen", "\"0.0.0.0:9444\"");
    let err = config_error(&c.write(d));
    assert!(
        err.contains("admin_listen") && err.contains("loopback"),
        "{err}"
    );
    c.set("admin_listen", "\"127.0.0.1:0\"");

    let catalog = d.join("catalog.toml");
    let mut text = fs::read_to_string(examples().join("catalog.toml")).unwrap();
    text.push_str("\n# changed\n");
    fs::write(&catalog, text).unwrap();
    c.set("catalog", &format!("{:?}", catalog.display().to_string()));
    let err = config_error(&c.write(d));
    assert!(err.contains("catalog_digest"), "{err}");

    let mut c = TestConfig::new(d);
    c.set("listne", "\"127.0.0.1:9443\"");
    let err = config_error(&c.write(d));
    assert!(
        err.contains("unknown field") && err.contains("listne"),
        "{err}"
    );

    let mut c = TestConfig::new(d);
    c.keys.remove("data_dir");
    let err = config_error(&c.write(d));
    assert!(err.contains("--data-dir"), "{err}");

    for bad in ["0", "100", "999999999999"] {
        let mut c = TestConfig::new(d);
        c.set("max_body_bytes", bad);
        let err = config_error(&c.write(d));
        assert!(
            err.contains(&format!("max_body_bytes = {bad} is out of range")),
            "{err}"
        );
    }
}

#[test]
fn the_example_config_loads() {
    // Lay out the example province's files as in config-examples, with the
    // key private as git cannot keep it.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::create_dir(d.join("demo-certs")).unwrap();
    for f in [
        "province.toml",
        "roster.signed",
        "root.pub",
        "catalog.toml",
        "demo-certs/ca.pem",
        "demo-certs/province.pem",
        "demo-certs/province.key",
    ] {
        fs::copy(examples().join(f), d.join(f)).unwrap();
    }
    fs::set_permissions(
        d.join("demo-certs/province.key"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let c = Config::load(&d.join("province.toml"), None).unwrap();
    assert_eq!(c.listen, "127.0.0.1:9443".parse::<SocketAddr>().unwrap());
    assert_eq!(
        c.admin_listen,
        "127.0.0.1:9444".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(c.data_dir, Path::new("/var/lib/rongxin/province"));
    assert_eq!(c.accepted_senders, ["city"]);
    let over = Config::load(&d.join("province.toml"), Some(d.join("data"))).unwrap();
    assert_eq!(over.data_dir, d.join("data"));
}

/// A running `rongxin-province` process.
struct Running {
    child: Child,
    // Kept open so the process never writes to a closed pipe.
    _stdout: BufReader<std::process::ChildStdout>,
    addr: SocketAddr,
    admin: SocketAddr,
}

fn spawn(config: &Path, data_dir: &Path) -> Running {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(fs::File::create(data_dir.with_extension("log")).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    if line.is_empty() {
        let log = fs::read_to_string(data_dir.with_extension("log")).unwrap_or_default();
        panic!("rongxin-province did not start:\n{log}");
    }
    // "rongxin-province listening on https://A (admin http://B)"
    let addr = line
        .split("https://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .parse()
        .unwrap();
    let admin = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("no admin address in {line:?}"))
        .parse()
        .unwrap();
    Running {
        child,
        _stdout: stdout,
        addr,
        admin,
    }
}

impl Running {
    /// SIGTERM, then the exit status within 15 s.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    async fn post(&self, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let pem = city_pem();
        let client = client_builder()
            .identity(
                reqwest::Identity::from_pem(format!("{}{}", pem.key, pem.cert).as_bytes()).unwrap(),
            )
            .build()
            .unwrap();
        let resp = client
            .post(format!("https://localhost:{}/v1/entries", self.addr.port()))
            .json(body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_0_and_a_restart_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let config = TestConfig::new(dir.path()).write(dir.path());
    let data = dir.path().join("elsewhere");
    let mut log = Log::new("gulou");
    log.extend(10);
    let mut ftz = Log::new("ftz");
    ftz.extend(3);

    let p = spawn(&config, &data);
    assert_eq!(p.post(&log.request(0, 6)).await.0, 200);
    assert_eq!(p.post(&ftz.request(0, 3)).await.0, 200);
    let status = p.terminate();
    assert_eq!(status.code(), Some(0), "{status:?}");
    // --data-dir was used, not data_dir from the file.
    assert!(data.exists() && !dir.path().join("data").exists());

    let p = spawn(&config, &data);
    let admin = Admin::at(p.admin);
    assert_eq!(
        admin.get("/v1/origins").await.1,
        json!([
            {"origin": "ftz", "count": 3, "last_seq": 2},
            {"origin": "gulou", "count": 6, "last_seq": 5},
        ])
    );
    // Resending is still idempotent, and the chain continues from disk.
    let (s, body) = p.post(&log.request(0, 6)).await;
    assert_eq!((s, body["acked_through"].as_u64()), (200, Some(6)));
    let (s, body) = p.post(&log.request(6, 10)).await;
    assert_eq!(
        (s, body["acked_through"].as_u64()),
        (200, Some(10)),
        "{body}"
    );
    assert_eq!(admin.count("gulou").await, 10);
    assert_eq!(p.terminate().code(), Some(0));
}
