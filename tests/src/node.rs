//! One real `rongxin-node` process: started from a written config on a
//! fresh data directory, waited for through `GET /healthz`, stopped with
//! SIGTERM or killed with SIGKILL, and restarted on the same data directory.
//! Its stdout and stderr go to a log file kept across restarts. A node still
//! running when its `TestNode` is dropped is killed.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use crate::bins;
use crate::client::Client;
use crate::federation::{Federation, NodeConfig};

/// How long a node may take to become healthy or to stop.
pub const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long a node may take to stop after SIGTERM.
pub const STOP_DEADLINE: Duration = Duration::from_secs(45);

/// Starts `rongxin-node --config config --data-dir data_dir` with
/// `RONGXIN_LOG=level` (unset when `level` is empty: the config's `[log]`
/// then filters), its stdout and stderr appended to `log`.
pub fn spawn_node(config: &Path, data_dir: &Path, log: File, level: &str) -> Child {
    let err = log.try_clone().expect("clone the log handle");
    let mut cmd = Command::new(bins::node());
    if level.is_empty() {
        cmd.env_remove("RONGXIN_LOG");
    } else {
        cmd.env("RONGXIN_LOG", level);
    }
    cmd.arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("spawn rongxin-node")
}

/// What waiting for a starting node came to.
#[derive(Debug)]
pub enum Started {
    /// `GET /healthz` answered 200.
    Healthy,
    /// The process exited first.
    Exited(ExitStatus),
    /// The deadline passed first.
    TimedOut,
}

/// Polls `GET /healthz` through `client` every `every` until it answers
/// 200, `child` exits, or `deadline` passes.
pub fn poll_healthy(
    child: &mut Child,
    client: &Client,
    deadline: Instant,
    every: Duration,
) -> Started {
    loop {
        if let Some(status) = child.try_wait().expect("poll the node process") {
            return Started::Exited(status);
        }
        if let Ok(r) = client.try_get("/healthz", None)
            && r.status == 200
        {
            return Started::Healthy;
        }
        if Instant::now() > deadline {
            return Started::TimedOut;
        }
        std::thread::sleep(every);
    }
}

/// Sends `child` SIGTERM and waits up to `within` (polling every `every`)
/// for its exit status; `None` if it still ran then, when it is killed with
/// SIGKILL and reaped.
pub fn terminate(child: &mut Child, within: Duration, every: Duration) -> Option<ExitStatus> {
    kill_process(Pid::from_child(child), Signal::TERM).expect("send SIGTERM");
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("wait for the process") {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(every);
    }
}

/// A running (or stopped) node process.
#[derive(Debug)]
pub struct TestNode {
    fed: Federation,
    member: String,
    config: PathBuf,
    data: tempfile::TempDir,
    addr: SocketAddr,
    child: Option<Child>,
    log: PathBuf,
    starts: u32,
    /// `RONGXIN_LOG` for the process: empty when the config has `[log]`.
    level: &'static str,
    client: Client,
    /// Where `/healthz` is polled: the API, or for an HTTPS node its plain
    /// operations listener.
    health: Client,
}

impl TestNode {
    /// Starts a node from `config` on free ports and a fresh data directory.
    /// A port taken between choosing and binding it is retried with another.
    pub fn start(config: NodeConfig) -> TestNode {
        let data = tempfile::Builder::new()
            .prefix("rongxin-node-")
            .tempdir()
            .expect("data dir");
        TestNode::start_in(config, data)
    }

    /// Starts a node from `config` with its data directory at
    /// `scratch/data` (which may already exist, e.g. as a mount point) and
    /// its log beside it.
    pub fn start_in(config: NodeConfig, scratch: tempfile::TempDir) -> TestNode {
        let mut data = scratch;
        let log = data.path().join("node.log");
        let mut last = String::new();
        for _ in 0..5 {
            let (path, port, ops) = config.write_with_free_ports();
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let health = SocketAddr::from(([127, 0, 0, 1], ops.unwrap_or(port)));
            let mut node = TestNode {
                fed: config.federation().clone(),
                member: config.member().to_owned(),
                config: path,
                addr,
                child: None,
                log: log.clone(),
                starts: 0,
                level: if config.has("log") { "" } else { "info" },
                client: Client::new(addr)
                    .with_ops_token(&config.federation().token("admin"))
                    .with_reader(config.federation().token("auditor")),
                health: Client::new(health),
                data,
            };
            match node.spawn_and_wait() {
                Ok(()) => return node,
                Err(e) if e.contains("cannot listen") => {
                    last = e;
                    data = node.into_data();
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("no free port after 5 tries: {last}")
    }

    fn into_data(mut self) -> tempfile::TempDir {
        self.kill_if_running();
        // Move the data directory out; the rest is dropped (nothing runs).
        let placeholder = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.data, placeholder)
    }

    /// The member id.
    pub fn member(&self) -> &str {
        &self.member
    }

    /// The federation the node belongs to.
    pub fn federation(&self) -> &Federation {
        &self.fed
    }

    /// The HTTP address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The config file it runs with.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The node's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.data.path().join("data")
    }

    /// An HTTP client for this node (fresh after every restart).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Process id of the running node.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything the node wrote to stdout and stderr, across restarts.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        assert!(
            self.child.is_none(),
            "node {} is already running",
            self.member
        );
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open node log");
        writeln!(log, "===== start {} of {} =====", self.starts, self.member).expect("write log");
        self.child = Some(spawn_node(&self.config, &self.data_dir(), log, self.level));
        self.client = Client::new(self.addr)
            .with_ops_token(&self.fed.token("admin"))
            .with_reader(self.fed.token("auditor"));
        self.wait_healthy()
    }

    /// Polls `GET /healthz` until it answers 200, the process exits, or the
    /// deadline passes.
    fn wait_healthy(&mut self) -> Result<(), String> {
        let child = self.child.as_mut().expect("the node was spawned");
        let deadline = Instant::now() + START_DEADLINE;
        match poll_healthy(child, &self.health, deadline, Duration::from_millis(20)) {
            Started::Healthy => Ok(()),
            Started::Exited(status) => {
                self.child = None;
                Err(format!(
                    "node {} exited while starting ({status}); its log:\n{}",
                    self.member,
                    self.log_text()
                ))
            }
            Started::TimedOut => {
                self.kill_if_running();
                Err(format!(
                    "node {} not healthy after {START_DEADLINE:?}; its log:\n{}",
                    self.member,
                    self.log_text()
                ))
            }
        }
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self
            .child
            .take()
            .unwrap_or_else(|| panic!("node {} is not running", self.member));
        terminate(&mut child, STOP_DEADLINE, Duration::from_millis(20)).unwrap_or_else(|| {
            panic!(
                "node {} still running {STOP_DEADLINE:?} after SIGTERM; its log:\n{}",
                self.member,
                self.log_text()
            )
        })
    }

    /// Sends SIGTERM and asserts a clean exit (status 0).
    pub fn stop_clean(&mut self) {
        let status = self.stop();
        assert_eq!(
            status.code(),
            Some(0),
            "node {} did not exit 0 after SIGTERM ({status}); its log:\n{}",
            self.member,
            self.log_text()
        );
    }

    /// Sends SIGHUP (reload tokens and TLS files).
    pub fn signal_hup(&self) {
        let child = self.child.as_ref().expect("the node is running");
        kill_process(Pid::from_child(child), Signal::HUP).expect("send SIGHUP");
    }

    /// Kills the process outright (SIGKILL, like `kill -9`) and reaps it.
    pub fn kill(&mut self) {
        let mut child = self
            .child
            .take()
            .unwrap_or_else(|| panic!("node {} is not running", self.member));
        child.kill().expect("send SIGKILL");
        child.wait().expect("reap the node");
    }

    /// Starts the node again on the same config, port and data directory.
    pub fn restart(&mut self) {
        if let Err(e) = self.spawn_and_wait() {
            panic!("restart failed: {e}");
        }
    }

    fn kill_if_running(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Writes `text` to a file in the node's scratch directory; returns its path.
    pub fn scratch_file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.data.path().join(name);
        let mut f = File::create(&p).expect("create scratch file");
        f.write_all(text.as_bytes()).expect("write scratch file");
        p
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.kill_if_running();
        // A failing test shows what the node said (the test harness prints
        // a test's captured output only when it fails).
        if std::thread::panicking() {
            let log = self.log_text();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(60)..];
            eprintln!(
                "----- last {} lines of node {}'s log ({}) -----\n{}",
                tail.len(),
                self.member,
                self.log.display(),
                tail.join("\n")
            );
        }
    }
}
