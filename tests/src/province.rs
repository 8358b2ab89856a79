//! The provincial receiver as a real process: `rongxin-province` started from
//! the example `config-examples/province.toml` — rewritten for free loopback
//! ports, a federation's roster, root key and catalog, and a private copy of
//! the demo certificates (keys made 0600, which git does not keep) — on its
//! own data directory; stopped with SIGTERM, killed with SIGKILL, restarted
//! on the same ports and data; killed when dropped. Its admin listener
//! (`GET /v1/origins`, `GET /v1/entries/{origin}`, `POST /v1/faults`) is
//! reached with the harness's [`Client`].
//!
//! The binaries of the `rongxin-province` package are built on first use,
//! like the node's ([`crate::bins`]).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rongxin_protocol::entry::SignedEntry;
use serde_json::Value;

use crate::bins;
use crate::client::Client;
use crate::federation::{examples_dir, free_port};
use crate::generate::GenFed;

/// How long the receiver may take to answer `/healthz` after starting.
pub const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long it may take to exit after SIGTERM (it drains for at most 10 s).
pub const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// The `rongxin-province` daemon.
pub fn province_bin() -> PathBuf {
    built("rongxin-province")
}

/// `province-demo-certs DIR`: a new demo CA with a province server
/// certificate and a city client certificate (rcgen).
pub fn demo_certs_bin() -> PathBuf {
    built("province-demo-certs")
}

/// Builds both binaries of the `rongxin-province` package once per test
/// process, in the test's profile and target directory (skipped when
/// `RONGXIN_TESTS_NO_BUILD` is set), and returns the path of `bin`.
fn built(bin: &str) -> PathBuf {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let dir = bins::profile_dir();
    if let Err(e) = BUILT.get_or_init(|| build(&dir)) {
        panic!("{e}");
    }
    let path = dir.join(bin);
    assert!(
        path.is_file(),
        "{} is missing: build it first (cargo build -p rongxin-province)",
        path.display()
    );
    path
}

fn build(dir: &Path) -> Result<(), String> {
    if std::env::var_os("RONGXIN_TESTS_NO_BUILD").is_some() {
        return Ok(());
    }
    bins::cargo_build(dir, "rongxin-province", &["--bins"])
}

/// Copies `config-examples/demo-certs` to `dir`, keys made 0600.
pub fn copy_demo_certs(dir: &Path) {
    fs::create_dir_all(dir).expect("create the certificates directory");
    for f in [
        "ca.pem",
        "province.pem",
        "province.key",
        "city.pem",
        "city.key",
    ] {
        let to = dir.join(f);
        fs::copy(examples_dir().join("demo-certs").join(f), &to)
            .unwrap_or_else(|e| panic!("copy demo-certs/{f}: {e}"));
        let mode = if f.ends_with(".key") { 0o600 } else { 0o644 };
        fs::set_permissions(&to, fs::Permissions::from_mode(mode)).expect("chmod");
    }
}

/// Writes a new demo CA and the certificates it issues to `dir` with
/// `province-demo-certs` (certificates no other CA in the test trusts).
pub fn new_demo_ca(dir: &Path) {
    let out = Command::new(demo_certs_bin())
        .arg(dir)
        .output()
        .expect("run province-demo-certs");
    assert!(
        out.status.success(),
        "province-demo-certs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The files a receiver verifies entries against.
#[derive(Debug, Clone)]
pub struct Trust {
    /// The signed roster.
    pub roster: PathBuf,
    /// The root verifier key that signed it.
    pub root_key: PathBuf,
    /// The catalog the roster pins.
    pub catalog: PathBuf,
}

impl Trust {
    /// Copies the three files into `dir`; returns the copies.
    pub fn copy_to(&self, dir: &Path) -> Trust {
        fs::create_dir_all(dir).expect("create the trust directory");
        let copy = |from: &Path, name: &str| {
            let to = dir.join(name);
            fs::copy(from, &to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
            to
        };
        Trust {
            roster: copy(&self.roster, "roster.signed"),
            root_key: copy(&self.root_key, "root.pub"),
            catalog: copy(&self.catalog, "catalog.toml"),
        }
    }

    /// The roster, root key and catalog of a generated federation.
    pub fn of(fed: &GenFed) -> Trust {
        Trust {
            roster: fed.dir().join("roster-v1.signed"),
            root_key: fed.root_pub(),
            catalog: fed.dir().join("catalog.toml"),
        }
    }
}

/// One entry the receiver holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldEntry {
    /// Its seq.
    pub seq: u64,
    /// The exact signed bytes and signature.
    pub entry: SignedEntry,
}

/// A `rongxin-province` process.
#[derive(Debug)]
pub struct TestProvince {
    dir: tempfile::TempDir,
    config: PathBuf,
    addr: SocketAddr,
    admin_addr: SocketAddr,
    admin: Client,
    child: Option<Child>,
    starts: u32,
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("temporary paths are UTF-8").to_owned()
}

impl TestProvince {
    /// Starts a receiver trusting `trust`, on free ports and a fresh data
    /// directory, and waits until its admin listener answers.
    pub fn start(trust: &Trust) -> TestProvince {
        TestProvince::start_with(trust, &toml::Table::new())
    }

    /// Like [`TestProvince::start`], with the keys of `extra` (such as
    /// `max_body_bytes`) added to its config.
    pub fn start_with(trust: &Trust, extra: &toml::Table) -> TestProvince {
        let mut dir = tempfile::Builder::new()
            .prefix("rongxin-province-")
            .tempdir()
            .expect("create the province directory");
        copy_demo_certs(&dir.path().join("certs"));
        // The receiver is a site of its own: it keeps copies of the files it
        // trusts, so it does not depend on the federation's directory.
        let trust = trust.copy_to(&dir.path().join("trust"));
        let mut last = String::new();
        for _ in 0..5 {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let admin_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let config = write_config(dir.path(), &trust, addr, admin_addr, extra);
            let mut p = TestProvince {
                dir,
                config,
                addr,
                admin_addr,
                admin: Client::new(admin_addr),
                child: None,
                starts: 0,
            };
            match p.spawn_and_wait() {
                Ok(()) => return p,
                Err(e) if e.contains("cannot listen") => {
                    last = e;
                    dir = p.into_dir();
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("no free ports for the province after 5 tries: {last}")
    }

    fn into_dir(mut self) -> tempfile::TempDir {
        self.kill_if_running();
        let placeholder = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.dir, placeholder)
    }

    /// The entries (HTTPS) address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL the city forwards to: `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    /// The admin (plain HTTP) address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// A client of the admin listener.
    pub fn admin(&self) -> &Client {
        &self.admin
    }

    /// The private copy of the demo certificates (`ca.pem`, `city.pem`,
    /// `city.key`, …) the receiver uses.
    pub fn certs_dir(&self) -> PathBuf {
        self.dir.path().join("certs")
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A scratch directory that lives as long as the receiver.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join("scratch").join(name);
        fs::create_dir_all(&p).expect("create a scratch directory");
        p
    }

    /// The city's `[forward]` section for this receiver: its URL, the demo
    /// CA, the demo client certificate and key, and `batch`.
    pub fn forward_section(&self, batch: u64) -> toml::Table {
        let certs = self.certs_dir();
        let mut t = toml::Table::new();
        t.insert("url".into(), self.url().into());
        t.insert("ca".into(), path_str(&certs.join("ca.pem")).into());
        t.insert(
            "client_cert".into(),
            path_str(&certs.join("city.pem")).into(),
        );
        t.insert(
            "client_key".into(),
            path_str(&certs.join("city.key")).into(),
        );
        t.insert(
            "batch".into(),
            i64::try_from(batch).expect("small batch").into(),
        );
        t
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("province.log")
    }

    /// Everything the receiver wrote, across restarts.
    pub fn log_text(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Whether the process runs.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "the province is already running");
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open the province log");
        writeln!(log, "===== start {} of the province =====", self.starts).expect("write log");
        let err = log.try_clone().expect("clone the log handle");
        let child = Command::new(province_bin())
            .arg("--config")
            .arg(&self.config)
            .arg("--data-dir")
            .arg(self.data_dir())
            .env("RONGXIN_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn rongxin-province");
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("poll the province process"))
            {
                self.child = None;
                return Err(format!(
                    "the province exited while starting ({status}); its log:\n{}",
                    self.log_text()
                ));
            }
            if let Ok(r) = self.admin.try_get("/healthz", None)
                && r.status == 200
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill_if_running();
                return Err(format!(
                    "the province did not answer /healthz within {START_DEADLINE:?}; its log:\n{}",
                    self.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits for the exit.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the province is not running");
        crate::node::terminate(&mut child, STOP_DEADLINE, Duration::from_millis(20)).unwrap_or_else(
            || {
                panic!(
                    "the province still ran {STOP_DEADLINE:?} after SIGTERM; its log:\n{}",
                    self.log_text()
                )
            },
        )
    }

    /// SIGTERM and asserts exit status 0.
    pub fn stop_clean(&mut self) {
        let status = self.stop();
        assert_eq!(
            status.code(),
            Some(0),
            "the province did not exit 0 after SIGTERM ({status}); its log:\n{}",
            self.log_text()
        );
    }

    /// SIGKILL and reaps the process.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("the province is not running");
        child.kill().expect("send SIGKILL");
        child.wait().expect("reap the province");
    }

    /// Starts the receiver again on the same config, ports and data.
    pub fn restart(&mut self) {
        if let Err(e) = self.spawn_and_wait() {
            panic!("the province did not restart: {e}");
        }
    }

    fn kill_if_running(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `GET /v1/origins`: entries held per origin (origins holding none are absent).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let v = self.admin.get("/v1/origins", None).ok_json();
        v.as_array()
            .unwrap_or_else(|| panic!("origins is not a list: {v}"))
            .iter()
            .map(|o| {
                let origin = o["origin"].as_str().expect("origin").to_owned();
                let count = o["count"].as_u64().expect("count");
                // last_seq is count - 1: the entries held are 0..count.
                assert_eq!(
                    o["last_seq"].as_u64(),
                    count.checked_sub(1),
                    "last_seq of {origin} in {v}"
                );
                (origin, count)
            })
            .collect()
    }

    /// Entries held of `origin`.
    pub fn count(&self, origin: &str) -> u64 {
        self.counts().get(origin).copied().unwrap_or(0)
    }

    /// Every entry held of `origin`, from seq 0, in pages of 1000
    /// (`GET /v1/entries/{origin}?from&limit`).
    pub fn entries(&self, origin: &str) -> Vec<HeldEntry> {
        let mut out = Vec::new();
        loop {
            let from = out.len();
            let page = self
                .admin
                .get(
                    &format!("/v1/entries/{origin}?from={from}&limit=1000"),
                    None,
                )
                .ok_json();
            let list = page["entries"].as_array().expect("entries list");
            if list.is_empty() {
                return out;
            }
            for e in list {
                let bytes = B64
                    .decode(e["entry"].as_str().expect("entry"))
                    .expect("entry is base64");
                let signature: [u8; 64] = B64
                    .decode(e["signature"].as_str().expect("signature"))
                    .expect("signature is base64")
                    .try_into()
                    .expect("a 64-byte signature");
                out.push(HeldEntry {
                    seq: e["seq"].as_u64().expect("seq"),
                    entry: SignedEntry { bytes, signature },
                });
            }
        }
    }

    /// `POST /v1/faults`; asserts 200 and returns the fault in force.
    pub fn fault(&self, body: &Value) -> Value {
        self.admin
            .post(
                "/v1/faults",
                None,
                Some("application/json"),
                body.to_string().as_bytes(),
            )
            .ok_json()
    }

    /// Lines of the receiver's log (all starts) containing `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        self.log_text()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

/// Writes the example `province.toml` rewritten for `addr`, `admin_addr`,
/// `trust` and the certificates in `dir/certs`, plus the keys of `extra`;
/// its data directory is passed with `--data-dir`.
fn write_config(
    dir: &Path,
    trust: &Trust,
    addr: SocketAddr,
    admin_addr: SocketAddr,
    extra: &toml::Table,
) -> PathBuf {
    let example = examples_dir().join("province.toml");
    let text = fs::read_to_string(&example).expect("read the example province.toml");
    let mut t: toml::Table = text.parse().expect("the example province.toml is TOML");
    let certs = dir.join("certs");
    let mut set = |k: &str, v: String| {
        assert!(
            t.contains_key(k),
            "the example province.toml has no {k} any more"
        );
        t.insert(k.to_owned(), v.into());
    };
    set("listen", addr.to_string());
    set("admin_listen", admin_addr.to_string());
    set("roster", path_str(&trust.roster));
    set("root_key", path_str(&trust.root_key));
    set("catalog", path_str(&trust.catalog));
    set("tls_cert", path_str(&certs.join("province.pem")));
    set("tls_key", path_str(&certs.join("province.key")));
    set("client_ca", path_str(&certs.join("ca.pem")));
    t.remove("data_dir");
    t.extend(extra.clone());
    let path = dir.join("province.toml");
    fs::write(&path, t.to_string()).expect("write province.toml");
    path
}

impl Drop for TestProvince {
    fn drop(&mut self) {
        self.kill_if_running();
        if std::thread::panicking() {
            let log = self.log_text();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(60)..];
            eprintln!(
                "----- last {} lines of the province's log -----\n{}",
                tail.len(),
                tail.join("\n")
            );
        }
    }
}
