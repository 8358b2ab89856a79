//! [`BenchNode`]: one `rongxin-node` process of the benchmark, started on
//! a free HTTP port, waited for through `/healthz`, stopped with SIGTERM
//! and killed when dropped, with its memory, CPU time and disk use.

use std::fs::{self, OpenOptions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use super::fed::{Ports, unique_port};
use super::procs::{ProcStats, disk_bytes, proc_stats};
use crate::client::Client;
use crate::node::{Started, poll_healthy, spawn_node, terminate};

/// How long a node may take to answer `/healthz` (a restart of a large
/// store included).
const START_DEADLINE: Duration = Duration::from_secs(300);
/// How long a node may take to exit after SIGTERM.
const STOP_DEADLINE: Duration = Duration::from_secs(120);

/// One `rongxin-node` process, killed when dropped.
#[derive(Debug)]
pub struct BenchNode {
    member: String,
    dir: PathBuf,
    config: toml::Table,
    child: Option<Child>,
    client: Client,
    spawned: Instant,
    ports: Ports,
}

impl BenchNode {
    /// A node of `member` living in `dir` with `config`; not started.
    pub(super) fn new(member: &str, dir: PathBuf, config: toml::Table, ports: Ports) -> BenchNode {
        BenchNode {
            member: member.to_owned(),
            dir,
            config,
            child: None,
            client: Client::new(SocketAddr::from(([127, 0, 0, 1], 9))),
            spawned: Instant::now(),
            ports,
        }
    }

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
        let http = unique_port(&self.ports);
        let mut config = self.config.clone();
        config.insert("http_listen".into(), format!("127.0.0.1:{http}").into());
        let path = self.dir.join("config.toml");
        fs::write(&path, config.to_string()).expect("write the node config");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("node.log"))
            .expect("open the node log");
        self.spawned = Instant::now();
        let level = std::env::var("RONGXIN_BENCH_NODE_LOG").unwrap_or_else(|_| "warn".into());
        self.child = Some(spawn_node(&path, &self.data_dir(), log, &level));
        self.client = Client::new(SocketAddr::from(([127, 0, 0, 1], http)));
    }

    /// Waits until `/healthz` answers; returns the time since the spawn.
    pub fn wait_healthy(&mut self) -> Duration {
        let deadline = self.spawned + START_DEADLINE;
        let mut retries = 0;
        loop {
            let child = self.child.as_mut().expect("the node was spawned");
            match poll_healthy(child, &self.client, deadline, Duration::from_millis(5)) {
                Started::Healthy => return self.spawned.elapsed(),
                Started::Exited(status) => {
                    self.child = None;
                    let log = self.log_tail();
                    // Another program took the port between its choice and
                    // the bind: choose another.
                    if log.contains("cannot listen on http_listen") && retries < 5 {
                        retries += 1;
                        self.spawn();
                        continue;
                    }
                    panic!(
                        "node {} exited while starting ({status}): {log}",
                        self.member
                    );
                }
                Started::TimedOut => panic!(
                    "node {} not healthy after {START_DEADLINE:?}: {}",
                    self.member,
                    self.log_tail()
                ),
            }
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
        let Some(status) = terminate(&mut child, STOP_DEADLINE, Duration::from_millis(5)) else {
            panic!(
                "node {} still ran {STOP_DEADLINE:?} after SIGTERM",
                self.member
            );
        };
        assert!(
            status.success(),
            "node {} exited with {status} after SIGTERM: {}",
            self.member,
            self.log_tail()
        );
        t.elapsed()
    }

    /// Entries of `origin` the node holds (0 if none or no answer).
    pub fn held(&self, origin: &str) -> u64 {
        let Ok(r) = self
            .client
            .try_get("/v1/admin/status", Some(self.client.ops_token()))
        else {
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
