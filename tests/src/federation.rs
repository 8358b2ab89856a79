//! A private copy of the example federation (`config-examples/`) in a
//! temporary directory, and node configs derived from it.
//!
//! The copy is what makes the tests work on a fresh clone: git does not keep
//! file modes, so checked-out key files are 0644 and the node refuses them;
//! the copy's key (and token) files are made 0600. Configs written for a test node live
//! in the same directory (their paths are relative to it) and get free
//! loopback ports, so tests run in parallel.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rongxin_protocol::bundle::{Bundle, VerifiedBundle};
use rongxin_protocol::catalog::Catalog;
use rongxin_protocol::note::NoteVerifier;
use rongxin_protocol::roster::SignedRoster;

use crate::bins;
use crate::node::TestNode;

/// A private copy of the example federation. Cheap to clone; the directory
/// lives until the last clone (and every node started from it) is dropped.
#[derive(Clone, Debug)]
pub struct Federation {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: tempfile::TempDir,
    catalog: Catalog,
    roster: SignedRoster,
    root: NoteVerifier,
    configs: AtomicU32,
}

/// The example federation in the repository.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config-examples")
}

impl Default for Federation {
    fn default() -> Self {
        Federation::new()
    }
}

impl Federation {
    /// Copies `config-examples/` into a new temporary directory and makes
    /// every key and token file there readable by its owner only.
    pub fn new() -> Federation {
        let dir = tempfile::Builder::new()
            .prefix("rongxin-fed-")
            .tempdir()
            .expect("create a temporary directory");
        copy_tree(&examples_dir(), dir.path());
        let root = NoteVerifier::parse(
            fs::read_to_string(dir.path().join("root.pub"))
                .expect("read root.pub")
                .trim(),
        )
        .expect("root.pub is a verifier key");
        let roster = SignedRoster::open(
            &fs::read_to_string(dir.path().join("roster.signed")).expect("read roster.signed"),
            &root,
        )
        .expect("roster.signed is signed by root.pub");
        let catalog = Catalog::from_toml_str(
            &fs::read_to_string(dir.path().join("catalog.toml")).expect("read catalog.toml"),
        )
        .expect("catalog.toml parses");
        Federation {
            inner: Arc::new(Inner {
                dir,
                catalog,
                roster,
                root,
                configs: AtomicU32::new(0),
            }),
        }
    }

    /// The copy's directory.
    pub fn dir(&self) -> &Path {
        self.inner.dir.path()
    }

    /// The federation root verifier key file.
    pub fn root_pub(&self) -> PathBuf {
        self.dir().join("root.pub")
    }

    /// The root verifier key.
    pub fn root(&self) -> &NoteVerifier {
        &self.inner.root
    }

    /// The catalog the roster pins.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// The verified roster.
    pub fn roster(&self) -> &SignedRoster {
        &self.inner.roster
    }

    /// The demo token in `tokens/<name>.token` (a member id, `admin`,
    /// `agency` or `government`).
    pub fn token(&self, name: &str) -> String {
        let p = self.dir().join("tokens").join(format!("{name}.token"));
        fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
            .trim()
            .to_owned()
    }

    /// The example config of `member`, to adjust before writing or
    /// starting, with no replication peers: the example's peers are dialled
    /// at the roster's fixed loopback ports, where some other process (a
    /// demo, another test run) may be listening with its own copy of the
    /// example federation. A test that wants peers sets `peers` itself.
    ///
    /// Tests talk plain HTTP on loopback (the example's `[tls]` is removed;
    /// tests of HTTPS add their own) and poll and query without tokens far
    /// faster than the default anonymous rate allows (the limits are tested
    /// on their own in node/limits.rs).
    pub fn config(&self, member: &str) -> NodeConfig {
        let mut limits = toml::Table::new();
        limits.insert("anonymous_rate".into(), 100_000.0.into());
        limits.insert("anonymous_burst".into(), 100_000.0.into());
        self.example_config(member)
            .set("peers", toml::Value::Array(Vec::new()))
            .remove("tls")
            .set("limits", limits)
    }

    /// The example config of `member` exactly as it is in `config-examples/`.
    pub fn example_config(&self, member: &str) -> NodeConfig {
        let p = self.dir().join(format!("{member}.toml"));
        let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
        NodeConfig {
            fed: self.clone(),
            member: member.to_owned(),
            table: text.parse().expect("example config is TOML"),
        }
    }

    /// Starts `member`'s node from its example config on free ports.
    pub fn start(&self, member: &str) -> TestNode {
        self.config(member).start()
    }

    /// Verifies a provenance bundle in process, as `rongxinctl audit verify` does.
    pub fn verify_bundle(&self, bundle_json: &str) -> Result<VerifiedBundle, String> {
        let b: Bundle = serde_json::from_str(bundle_json).map_err(|e| e.to_string())?;
        b.verify(self.root()).map_err(|e| e.to_string())
    }

    /// Runs `rongxinctl audit verify <bundle> --root <root.pub>`.
    pub fn audit_verify(&self, bundle_path: &Path) -> std::process::Output {
        Command::new(bins::ctl())
            .arg("audit")
            .arg("verify")
            .arg(bundle_path)
            .arg("--root")
            .arg(self.root_pub())
            .output()
            .expect("run rongxinctl")
    }

    fn unique_name(&self, member: &str) -> PathBuf {
        let n = self.inner.configs.fetch_add(1, Ordering::Relaxed);
        self.dir().join(format!("{member}-test-{n}.toml"))
    }
}

/// A node config being prepared: the example config of a member as a TOML
/// table, written next to the example configs when used.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    fed: Federation,
    member: String,
    table: toml::Table,
}

/// How a node run that was expected to fail ended.
#[derive(Debug)]
pub struct FailedStart {
    /// The exit code (`None` if killed by a signal or still running at the deadline).
    pub code: Option<i32>,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl NodeConfig {
    /// Sets a top-level key.
    pub fn set(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        self.table.insert(key.to_owned(), value.into());
        self
    }

    /// Edits the config's TOML table in place.
    pub fn edit(mut self, f: impl FnOnce(&mut toml::Table)) -> Self {
        f(&mut self.table);
        self
    }

    /// Whether the config has a top-level key.
    pub fn has(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    /// Removes a top-level key.
    pub fn remove(mut self, key: &str) -> Self {
        self.table.remove(key);
        self
    }

    /// The federation this config belongs to.
    pub fn federation(&self) -> &Federation {
        &self.fed
    }

    /// Writes the config as a new file in the federation directory.
    pub fn write(&self) -> PathBuf {
        let path = self.fed.unique_name(&self.member);
        fs::write(&path, self.table.to_string()).expect("write config");
        path
    }

    /// Starts a node from this config on a free HTTP port (and a free p2p
    /// port), with a fresh data directory, and waits until it is healthy.
    pub fn start(self) -> TestNode {
        TestNode::start(self)
    }

    /// Writes this config with free ports; returns its path, its HTTP port
    /// and, for an HTTPS node, the port of the plain operations listener
    /// (`ops_listen`) that the harness polls `/healthz` on.
    pub(crate) fn write_with_free_ports(&self) -> (PathBuf, u16, Option<u16>) {
        let http = free_port();
        let p2p = free_port();
        let mut c = self
            .clone()
            .set("http_listen", format!("127.0.0.1:{http}"))
            .set("p2p_listen", format!("/ip4/127.0.0.1/tcp/{p2p}"));
        let ops = c.table.contains_key("tls").then(free_port);
        if let Some(o) = ops {
            c = c.set("ops_listen", format!("127.0.0.1:{o}"));
        }
        (c.write(), http, ops)
    }

    /// The member this config is for.
    pub fn member(&self) -> &str {
        &self.member
    }

    /// Runs the node with this config, expecting it to refuse to start;
    /// waits for it to exit (killing it after 20 s).
    pub fn run_expecting_failure(&self) -> FailedStart {
        let (path, _, _) = self.write_with_free_ports();
        let data = tempfile::tempdir().expect("data dir");
        let mut child = Command::new(bins::node())
            .arg("--config")
            .arg(&path)
            .arg("--data-dir")
            .arg(data.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rongxin-node");
        let deadline = Instant::now() + Duration::from_secs(20);
        let code = loop {
            if let Some(status) = child.try_wait().expect("wait for rongxin-node") {
                break status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
        }
        FailedStart { code, stderr }
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create directory");
    for e in fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
        let e = e.expect("directory entry");
        let src = e.path();
        let dst = to.join(e.file_name());
        let ty = e.file_type().expect("file type");
        if ty.is_dir() {
            copy_tree(&src, &dst);
        } else if ty.is_file() {
            fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
            let secret = dst.extension().is_some_and(|x| x == "key" || x == "token");
            let mode = if secret { 0o600 } else { 0o644 };
            fs::set_permissions(&dst, fs::Permissions::from_mode(mode)).expect("chmod");
        }
    }
}
