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
    client: Client,
}

impl TestNode {
    /// Starts a node from `config` on free ports and a fresh data directory.
    /// A port taken between choosing and binding it is retried with another.
    pub fn start(config: NodeConfig) -> TestNode {
        let mut data = tempfile::Builder::new()
            .prefix("rongxin-node-")
            .tempdir()
            .expect("data dir");
        let log = data.path().join("node.log");
        let mut last = String::new();
        for _ in 0..5 {
            let (path, port) = config.write_with_free_ports();
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let mut node = TestNode {
                fed: config.federation().clone(),
                member: config.member().to_owned(),
                config: path,
                addr,
                child: None,
                log: log.clone(),
                starts: 0,
                client: Client::new(addr),
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
        let err = log.try_clone().expect("clone log handle");
        let child = Command::new(bins::node())
            .arg("--config")
            .arg(&self.config)
            .arg("--data-dir")
            .arg(self.data_dir())
            .env("RONGXIN_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn rongxin-node");
        self.child = Some(child);
        self.client = Client::new(self.addr);
        self.wait_healthy()
    }

    /// Polls `GET /healthz` until it answers 200, the process exits, or the
    /// deadline passes.
    fn wait_healthy(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("poll the node process"))
            {
                self.child = None;
                return Err(format!(
                    "node {} exited while starting ({status}); its log:\n{}",
                    self.member,
                    self.log_text()
                ));
            }
            if let Ok(r) = self.client.try_get("/healthz", None)
                && r.status == 200
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill_if_running();
                return Err(format!(
                    "node {} not healthy after {START_DEADLINE:?}; its log:\n{}",
                    self.member,
                    self.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self
            .child
            .take()
            .unwrap_or_else(|| panic!("node {} is not running", self.member));
        let pid = Pid::from_child(&child);
        kill_process(pid, Signal::TERM).expect("send SIGTERM");
        let deadline = Instant::now() + STOP_DEADLINE;
        loop {
            if let Some(status) = child.try_wait().expect("wait for the node") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "node {} still running {STOP_DEADLINE:?} after SIGTERM; its log:\n{}",
                    self.member,
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
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
