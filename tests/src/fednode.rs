//! One real `rongxin-node` process of a generated federation
//! ([`crate::generate`]). Unlike [`crate::TestNode`], its config is a table
//! the test can change between runs (roster file, peers), and its p2p port
//! is chosen here so that the member's [`Proxy`] forwards to it before the
//! process even starts: peers can reach it while it restores its own log.
//! Output goes to `node.log` beside the data directory, kept across
//! restarts. A node still running when dropped is killed.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::{Client, LogHead};
use crate::federation::free_port;
use crate::node::{Started, poll_healthy, spawn_node, terminate};
use crate::proxy::Proxy;

/// How long a node may take to become healthy (restore protection waits
/// up to `restore_timeout` first).
pub const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long a node may take to exit after SIGTERM.
pub const STOP_DEADLINE: Duration = Duration::from_secs(45);

/// A node process of a generated federation.
#[derive(Debug)]
pub struct FedNode {
    member: String,
    /// Keeps the federation's files while the process may read them.
    _fed_dir: Arc<tempfile::TempDir>,
    dir: PathBuf,
    config: toml::Table,
    inbound: Arc<Proxy>,
    ports: Option<(u16, u16)>,
    child: Option<Child>,
    client: Client,
    /// The token its client reads entries and bundles with.
    reader: String,
    starts: u32,
    log_start: u64,
}

impl FedNode {
    /// A node of `member` living in `dir`, not started.
    pub fn new(
        member: &str,
        fed_dir: Arc<tempfile::TempDir>,
        dir: PathBuf,
        config: toml::Table,
        inbound: Arc<Proxy>,
        reader: &str,
    ) -> FedNode {
        fs::create_dir_all(&dir).expect("create the node directory");
        FedNode {
            member: member.to_owned(),
            _fed_dir: fed_dir,
            dir,
            config,
            inbound,
            ports: None,
            child: None,
            client: Client::new(SocketAddr::from(([127, 0, 0, 1], 9))).with_reader(reader),
            reader: reader.to_owned(),
            starts: 0,
            log_start: 0,
        }
    }

    /// The member id.
    pub fn member(&self) -> &str {
        &self.member
    }

    /// An HTTP client for the node.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Where the node's replication really listens (behind its proxy).
    pub fn p2p_addr(&self) -> Option<SocketAddr> {
        self.ports
            .map(|(_, p)| SocketAddr::from(([127, 0, 0, 1], p)))
    }

    /// The config used at the next start.
    pub fn config_mut(&mut self) -> &mut toml::Table {
        &mut self.config
    }

    /// Sets the roster file used at the next start.
    pub fn set_roster(&mut self, path: &Path) {
        self.config
            .insert("roster".into(), path.to_str().expect("UTF-8 path").into());
    }

    /// Sets the peers used at the next start.
    pub fn set_peers(&mut self, peers: &[&str]) {
        let peers: Vec<String> = peers.iter().map(|p| (*p).to_owned()).collect();
        self.config.insert("peers".into(), peers.into());
    }

    /// Everything the node wrote, across restarts.
    pub fn log_text(&self) -> String {
        fs::read_to_string(self.dir.join("node.log")).unwrap_or_default()
    }

    /// What the node wrote since it was last started.
    pub fn log_since_start(&self) -> String {
        let all = fs::read(self.dir.join("node.log")).unwrap_or_default();
        let from = usize::try_from(self.log_start)
            .unwrap_or(usize::MAX)
            .min(all.len());
        String::from_utf8_lossy(&all[from..]).into_owned()
    }

    /// Whether the process runs.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Writes the config as it is now, with these ports.
    fn write_config(&self, http: u16, p2p: u16) -> PathBuf {
        let mut config = self.config.clone();
        config.insert("http_listen".into(), format!("127.0.0.1:{http}").into());
        config.insert(
            "p2p_listen".into(),
            format!("/ip4/127.0.0.1/tcp/{p2p}").into(),
        );
        let path = self.dir.join("config.toml");
        fs::write(&path, config.to_string()).expect("write the node config");
        path
    }

    /// Writes the config as it is now and sends SIGHUP: the running node
    /// reloads its tokens, TLS files and signing keys, without a restart.
    pub fn reload(&mut self) {
        let (http, p2p) = self.ports.expect("the node was started");
        self.write_config(http, p2p);
        let child = self.child.as_ref().expect("the node is running");
        rustix::process::kill_process(
            rustix::process::Pid::from_child(child),
            rustix::process::Signal::HUP,
        )
        .expect("send SIGHUP");
    }

    /// Writes the config (new ports if `fresh_ports` or none yet), points the
    /// proxy at the p2p port and spawns the process without waiting.
    fn spawn(&mut self, fresh_ports: bool) {
        assert!(self.child.is_none(), "{} is already running", self.member);
        let (http, p2p) = match self.ports {
            Some(p) if !fresh_ports => p,
            _ => (free_port(), free_port()),
        };
        self.ports = Some((http, p2p));
        let path = self.write_config(http, p2p);
        self.inbound
            .set_target(Some(SocketAddr::from(([127, 0, 0, 1], p2p))));
        self.starts += 1;
        let log_path = self.dir.join("node.log");
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open the node log");
        self.log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        writeln!(log, "===== start {} of {} =====", self.starts, self.member).expect("write log");
        self.child = Some(spawn_node(&path, &self.data_dir(), log, "info"));
        self.client =
            Client::new(SocketAddr::from(([127, 0, 0, 1], http))).with_reader(self.reader.clone());
    }

    /// Waits for `/healthz`; `Err` if the process exits or the deadline passes.
    fn wait_healthy(&mut self) -> Result<(), String> {
        let child = self.child.as_mut().expect("the node was spawned");
        let deadline = Instant::now() + START_DEADLINE;
        match poll_healthy(child, &self.client, deadline, Duration::from_millis(20)) {
            Started::Healthy => Ok(()),
            Started::Exited(status) => {
                self.child = None;
                Err(format!(
                    "node {} exited while starting ({status}): {}",
                    self.member,
                    self.log_since_start()
                ))
            }
            Started::TimedOut => {
                self.kill_if_running();
                Err(format!(
                    "node {} not healthy after {START_DEADLINE:?}: {}",
                    self.member,
                    self.log_since_start()
                ))
            }
        }
    }

    /// Starts the node and waits until it is healthy; a port taken in the
    /// meantime is retried with others.
    pub fn start(&mut self) {
        self.spawn(false);
        self.finish_start();
    }

    fn finish_start(&mut self) {
        for _ in 0..5 {
            match self.wait_healthy() {
                Ok(()) => return,
                Err(e) if e.contains("cannot listen") => self.spawn(true),
                Err(e) => panic!("{e}"),
            }
        }
        panic!("{}: no free ports after 5 tries", self.member);
    }

    /// Starts `nodes` at once and waits until every one is healthy.
    pub fn start_together(nodes: &mut [FedNode]) {
        for n in nodes.iter_mut() {
            n.spawn(false);
        }
        for n in nodes.iter_mut() {
            n.finish_start();
        }
    }

    /// Starts the node again on its data directory (same ports if free).
    pub fn restart(&mut self) {
        self.start();
    }

    /// SIGTERM, then waits for the exit.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self
            .child
            .take()
            .unwrap_or_else(|| panic!("node {} is not running", self.member));
        terminate(&mut child, STOP_DEADLINE, Duration::from_millis(20)).unwrap_or_else(|| {
            panic!(
                "node {} still running {STOP_DEADLINE:?} after SIGTERM: {}",
                self.member,
                self.log_since_start()
            )
        })
    }

    /// SIGTERM and asserts exit status 0.
    pub fn stop_clean(&mut self) {
        let status = self.stop();
        assert_eq!(
            status.code(),
            Some(0),
            "node {} did not exit 0 after SIGTERM ({status}): {}",
            self.member,
            self.log_since_start()
        );
    }

    /// SIGKILL (`kill -9`) and reaps the process.
    pub fn kill(&mut self) {
        let mut child = self
            .child
            .take()
            .unwrap_or_else(|| panic!("node {} is not running", self.member));
        child.kill().expect("send SIGKILL");
        child.wait().expect("reap the node");
    }

    fn kill_if_running(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `GET /v1/admin/status`.
    pub fn status(&self) -> Value {
        self.client.status()
    }

    /// The own log's head.
    pub fn own_log(&self) -> LogHead {
        self.client.own_log()
    }

    /// Submits records that must all be accepted; returns their seqs.
    pub fn submit(&self, token: &str, records: &[Value]) -> Vec<u64> {
        self.client.submit_accepted(token, records)
    }

    /// The value of one metric sample (`name` with its labels, exactly as
    /// exposed, e.g. `rongxin_replication_refused_total{peer="mawei"}`);
    /// 0 if absent.
    pub fn metric(&self, name: &str) -> f64 {
        metric(&self.client.metrics(), name)
    }
}

/// The value of the sample `name` (with labels) in a metrics exposition; 0 if absent.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(' '))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0.0)
}

impl Drop for FedNode {
    fn drop(&mut self) {
        self.kill_if_running();
    }
}
