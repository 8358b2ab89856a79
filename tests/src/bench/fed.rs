//! The benchmark's federation and node processes.
//!
//! [`BenchFed`] generates a private federation with the real tools, like
//! [`crate::generate::GenFed`], but every member's roster `listen` address
//! is the loopback port its node really listens on: replication runs node to
//! node, with no test proxy copying bytes in between (on a two-core machine
//! such a proxy would take CPU from the nodes being measured).
//!
//! [`BenchNode`] is one `rongxin-node` process with what the benchmark
//! reads from `/proc`: resident and peak memory, CPU time, and the size of
//! its data directory.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rongxin_protocol::catalog::Catalog;
use rongxin_protocol::note::{NoteSigner, NoteVerifier};
use rongxin_protocol::roster::{Role, SignedRoster};
use rustix::process::{Pid, Signal, kill_process};

use crate::bins;
use crate::client::Client;
use crate::federation::{Federation, examples_dir, free_port};
use crate::generate::ctl;

/// How long a node may take to answer `/healthz` (a restart of a large
/// store included).
const START_DEADLINE: Duration = Duration::from_secs(300);
/// How long a node may take to exit after SIGTERM.
const STOP_DEADLINE: Duration = Duration::from_secs(120);

/// One generated member.
#[derive(Debug)]
struct MemberInfo {
    keys: PathBuf,
    p2p: u16,
    token: String,
    jurisdictions: Vec<String>,
    name: String,
}

/// A generated federation whose roster lists each member's real p2p port.
#[derive(Debug)]
pub struct BenchFed {
    dir: tempfile::TempDir,
    members: BTreeMap<String, MemberInfo>,
    roster: SignedRoster,
    root: NoteVerifier,
    catalog: Catalog,
    admin_token: String,
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn role_arg(role: Role) -> &'static str {
    match role {
        Role::District => "district",
        Role::Ftz => "ftz",
        Role::City => "city",
    }
}

impl BenchFed {
    /// Generates keys for `members` (ids of the example roster, which
    /// gives them their names, roles and jurisdictions), a roster signed by
    /// a new root key, and a department token per member.
    /// `RONGXIN_BENCH_KEEP=1` keeps the directory (configs, node logs).
    pub fn generate(members: &[&str]) -> BenchFed {
        let dir = tempfile::Builder::new()
            .prefix("rongxin-bench-")
            .disable_cleanup(std::env::var_os("RONGXIN_BENCH_KEEP").is_some())
            .tempdir()
            .expect("create the benchmark directory");
        let d = dir.path().to_owned();
        let example = Federation::new();
        fs::copy(examples_dir().join("catalog.toml"), d.join("catalog.toml"))
            .expect("copy the example catalog");
        ctl(&["keygen", "--root", "--out", path_str(&d.join("root"))]);
        let draft = d.join("roster.toml");
        ctl(&[
            "roster",
            "new",
            "--out",
            path_str(&draft),
            "--version",
            "1",
            "--valid-from",
            "2026-01-01",
            "--valid-until",
            "2028-12-31",
            "--catalog",
            path_str(&d.join("catalog.toml")),
        ]);
        let mut infos = BTreeMap::new();
        for id in members {
            let m = example
                .roster()
                .roster
                .member(id)
                .unwrap_or_else(|| panic!("{id} is not in the example roster"))
                .clone();
            let keys = d.join("keys").join(id);
            ctl(&["keygen", "--member", id, "--out", path_str(&keys)]);
            let p2p = free_port();
            let mut args = vec![
                "roster".to_owned(),
                "add-member".to_owned(),
                path_str(&draft).to_owned(),
                "--id".to_owned(),
                (*id).to_owned(),
                "--name".to_owned(),
                m.name.clone(),
                "--role".to_owned(),
                role_arg(m.role).to_owned(),
                "--keys".to_owned(),
                path_str(&keys).to_owned(),
                "--listen".to_owned(),
                format!("/ip4/127.0.0.1/tcp/{p2p}"),
            ];
            for j in &m.jurisdictions {
                args.push("--jurisdiction".to_owned());
                args.push(j.clone());
            }
            ctl(&args.iter().map(String::as_str).collect::<Vec<_>>());
            infos.insert(
                (*id).to_owned(),
                MemberInfo {
                    keys,
                    p2p,
                    token: format!("bench-dept-{id}"),
                    jurisdictions: m.jurisdictions.clone(),
                    name: m.name.clone(),
                },
            );
        }
        ctl(&[
            "roster",
            "sign",
            path_str(&draft),
            "--root-key",
            path_str(&d.join("root/root.key")),
            "--out",
            path_str(&d.join("roster.signed")),
        ]);
        let root = NoteVerifier::parse(
            fs::read_to_string(d.join("root/root.pub"))
                .expect("read root.pub")
                .trim(),
        )
        .expect("root.pub parses");
        let roster = SignedRoster::open(
            &fs::read_to_string(d.join("roster.signed")).expect("read the signed roster"),
            &root,
        )
        .expect("the generated roster verifies");
        BenchFed {
            dir,
            members: infos,
            roster,
            root,
            catalog: example.catalog().clone(),
            admin_token: "bench-admin".to_owned(),
        }
    }

    /// The federation's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The signed roster file.
    pub fn roster_path(&self) -> PathBuf {
        self.dir().join("roster.signed")
    }

    /// The root verifier key file.
    pub fn root_pub(&self) -> PathBuf {
        self.dir().join("root/root.pub")
    }

    /// The catalog file.
    pub fn catalog_path(&self) -> PathBuf {
        self.dir().join("catalog.toml")
    }

    /// The verified roster.
    pub fn roster(&self) -> &SignedRoster {
        &self.roster
    }

    /// The root verifier key.
    pub fn root(&self) -> &NoteVerifier {
        &self.root
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn info(&self, member: &str) -> &MemberInfo {
        self.members
            .get(member)
            .unwrap_or_else(|| panic!("{member} is not a member of the benchmark federation"))
    }

    /// The department token of `member` (every kind, every jurisdiction it owns).
    pub fn token(&self, member: &str) -> &str {
        &self.info(member).token
    }

    /// The signing key of `member`.
    pub fn signer(&self, member: &str) -> NoteSigner {
        let p = self.info(member).keys.join("signing.key");
        NoteSigner::parse(fs::read_to_string(&p).expect("read signing.key").trim())
            .expect("signing.key parses")
    }

    /// The config of `member` pulling from `peers` (restore protection
    /// waits at most 3 s for them).
    pub fn config(&self, member: &str, peers: &[&str]) -> toml::Table {
        let m = self.info(member);
        let digest = |t: &str| -> String {
            rongxin_node::config::token_digest(t)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        let mut dept = toml::Table::new();
        dept.insert("name".into(), format!("{} 基准测试归集系统", m.name).into());
        dept.insert("token_sha256".into(), digest(&m.token).into());
        dept.insert("jurisdictions".into(), m.jurisdictions.clone().into());
        dept.insert("kinds".into(), vec!["*".to_owned()].into());
        let mut t = toml::Table::new();
        let file = |p: PathBuf| toml::Value::from(path_str(&p).to_owned());
        t.insert("member".into(), member.into());
        t.insert(
            "peers".into(),
            peers
                .iter()
                .map(|p| (*p).to_owned())
                .collect::<Vec<_>>()
                .into(),
        );
        t.insert("roster".into(), file(self.roster_path()));
        t.insert("root_key".into(), file(self.root_pub()));
        t.insert("catalog".into(), file(self.catalog_path()));
        t.insert("signing_key".into(), file(m.keys.join("signing.key")));
        t.insert("transport_key".into(), file(m.keys.join("transport.key")));
        t.insert(
            "admin_token_sha256".into(),
            digest(&self.admin_token).into(),
        );
        t.insert("restore_timeout".into(), "3s".into());
        t.insert(
            "p2p_listen".into(),
            format!("/ip4/127.0.0.1/tcp/{}", m.p2p).into(),
        );
        t.insert(
            "departments".into(),
            toml::Value::Array(vec![toml::Value::Table(dept)]),
        );
        t
    }

    /// A node of `member` with `config`, living in `<dir>/nodes/<name>`; not started.
    pub fn node(&self, member: &str, name: &str, config: toml::Table) -> BenchNode {
        let dir = self.dir().join("nodes").join(name);
        fs::create_dir_all(&dir).expect("create the node directory");
        BenchNode {
            member: member.to_owned(),
            dir,
            config,
            child: None,
            client: Client::new(SocketAddr::from(([127, 0, 0, 1], 9))),
            spawned: Instant::now(),
        }
    }

    /// Writes `count` sample records of `origin` (`rongxinctl sample`,
    /// realistic records of about 500 bytes) as JSON Lines to `out`.
    pub fn sample(&self, origin: &str, count: u64, seed: u64, out: &Path) {
        ctl(&[
            "sample",
            "--count",
            &count.to_string(),
            "--origin",
            origin,
            "--seed",
            &seed.to_string(),
            "--catalog",
            path_str(&self.catalog_path()),
            "--roster",
            path_str(&self.roster_path()),
            "--root",
            path_str(&self.root_pub()),
            "--out",
            path_str(out),
        ]);
    }
}

/// What `/proc` says about a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcStats {
    /// Resident memory now, bytes.
    pub rss: u64,
    /// Peak resident memory since start (or the last [`BenchNode::reset_peak`]), bytes.
    pub hwm: u64,
    /// User plus system CPU time, seconds.
    pub cpu: f64,
}

/// Reads `/proc/<pid>/status` and `/proc/<pid>/stat`.
pub fn proc_stats(pid: u32) -> ProcStats {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    ProcStats {
        rss: kb("VmRSS:"),
        hwm: kb("VmHWM:"),
        cpu: cpu_seconds(&format!("/proc/{pid}/stat")),
    }
}

/// The process whose command line has the argument `arg` (a data
/// directory path: unique to one process), for processes the harness
/// starts without exposing their id.
pub fn pid_with_arg(arg: &str) -> Option<u32> {
    fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = fs::read(e.path().join("cmdline")).ok()?;
            cmdline
                .split(|b| *b == 0)
                .any(|a| a == arg.as_bytes())
                .then_some(pid)
        })
}

/// CPU seconds (user + system) of this process, all threads.
pub fn own_cpu() -> f64 {
    cpu_seconds("/proc/self/stat")
}

fn cpu_seconds(stat_path: &str) -> f64 {
    let stat = fs::read_to_string(stat_path).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of stat(5), counted in USER_HZ,
    // which Linux fixes at 100 for /proc.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// Bytes a directory tree occupies on disk (allocated blocks, as `du`).
pub fn disk_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_bytes(&e.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

/// Copies a directory tree (a stopped node's data directory).
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create the copy");
    for e in fs::read_dir(from).expect("read the directory") {
        let e = e.expect("directory entry");
        let dst = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            fs::copy(e.path(), &dst).expect("copy a file");
        }
    }
}

/// A `perf record` of one process during one phase, taken only when
/// `RONGXIN_BENCH_PERF` names a directory (profiles land there as
/// `<label>.data`, with DWARF call graphs). Stops when dropped.
#[derive(Debug)]
pub struct Perf(Option<Child>);

impl Perf {
    /// Starts recording `pid` as `label`, if profiling is asked for.
    pub fn attach(pid: u32, label: &str) -> Perf {
        let Some(dir) = std::env::var_os("RONGXIN_BENCH_PERF") else {
            return Perf(None);
        };
        let child = Command::new("perf")
            .args(["record", "-F", "499", "--call-graph", "dwarf,16384", "-p"])
            .arg(pid.to_string())
            .arg("-o")
            .arg(Path::new(&dir).join(format!("{label}.data")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| eprintln!("rongxin-bench: cannot run perf: {e}"))
            .ok();
        // perf needs a moment to attach before the phase begins.
        std::thread::sleep(Duration::from_millis(300));
        Perf(child)
    }
}

impl Drop for Perf {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = kill_process(Pid::from_child(&c), Signal::INT);
            let _ = c.wait();
        }
    }
}

/// One `rongxin-node` process, killed when dropped.
#[derive(Debug)]
pub struct BenchNode {
    member: String,
    dir: PathBuf,
    config: toml::Table,
    child: Option<Child>,
    client: Client,
    spawned: Instant,
}

impl BenchNode {
    /// The member id.
    pub fn member(&self) -> &str {
        &self.member
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The config used at the next start.
    pub fn config_mut(&mut self) -> &mut toml::Table {
        &mut self.config
    }

    /// A client of the node's HTTP API.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The HTTP address.
    pub fn addr(&self) -> SocketAddr {
        self.client
            .base()
            .trim_start_matches("http://")
            .parse()
            .expect("the client's base is an address")
    }

    /// The process id (panics if not running).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the node runs").id()
    }

    /// Memory and CPU of the process.
    pub fn stats(&self) -> ProcStats {
        proc_stats(self.pid())
    }

    /// Starts counting peak memory afresh (`clear_refs` 5 resets `VmHWM`).
    pub fn reset_peak(&self) {
        let _ = fs::write(format!("/proc/{}/clear_refs", self.pid()), "5");
    }

    /// Bytes of the data directory on disk.
    pub fn disk_bytes(&self) -> u64 {
        disk_bytes(&self.data_dir())
    }

    /// Writes the config with a free HTTP port and spawns the process;
    /// does not wait.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} already runs", self.member);
        let http = free_port();
        let mut config = self.config.clone();
        config.insert("http_listen".into(), format!("127.0.0.1:{http}").into());
        let path = self.dir.join("config.toml");
        fs::write(&path, config.to_string()).expect("write the node config");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("node.log"))
            .expect("open the node log");
        let err = log.try_clone().expect("clone the log handle");
        self.spawned = Instant::now();
        let child = Command::new(bins::node())
            .arg("--config")
            .arg(&path)
            .arg("--data-dir")
            .arg(self.data_dir())
            .env("RONGXIN_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn rongxin-node");
        self.child = Some(child);
        self.client = Client::new(SocketAddr::from(([127, 0, 0, 1], http)));
    }

    /// Waits until `/healthz` answers; returns the time since the spawn.
    pub fn wait_healthy(&mut self) -> Duration {
        let deadline = self.spawned + START_DEADLINE;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("poll the node"))
            {
                self.child = None;
                panic!(
                    "node {} exited while starting ({status}): {}",
                    self.member,
                    self.log_tail()
                );
            }
            if let Ok(r) = self.client.try_get("/healthz", None)
                && r.status == 200
            {
                return self.spawned.elapsed();
            }
            assert!(
                Instant::now() < deadline,
                "node {} not healthy after {START_DEADLINE:?}: {}",
                self.member,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Spawns and waits until healthy; returns the time that took.
    pub fn start(&mut self) -> Duration {
        self.spawn();
        self.wait_healthy()
    }

    /// SIGTERM, then waits for a clean exit; returns the time that took.
    pub fn stop(&mut self) -> Duration {
        let mut child = self.child.take().expect("the node runs");
        let t = Instant::now();
        kill_process(Pid::from_child(&child), Signal::TERM).expect("send SIGTERM");
        loop {
            if let Some(status) = child.try_wait().expect("wait for the node") {
                assert!(
                    status.success(),
                    "node {} exited with {status} after SIGTERM: {}",
                    self.member,
                    self.log_tail()
                );
                return t.elapsed();
            }
            if t.elapsed() > STOP_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "node {} still ran {STOP_DEADLINE:?} after SIGTERM",
                    self.member
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Entries of `origin` the node holds (0 if none or no answer).
    pub fn held(&self, origin: &str) -> u64 {
        let Ok(r) = self.client.try_get("/v1/admin/status", None) else {
            return 0;
        };
        if r.status != 200 {
            return 0;
        }
        r.json()["origins"]
            .as_array()
            .and_then(|list| {
                list.iter()
                    .find(|o| o["origin"] == origin)
                    .and_then(|o| o["size"].as_u64())
            })
            .unwrap_or(0)
    }

    /// The last lines of the node's log.
    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.dir.join("node.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for BenchNode {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
