//! A real `rongxin-node` for the tests that run `rongxinctl` against one:
//! the gulou member of the example federation on loopback, with a fresh
//! data directory and department, agency and admin tokens. The node binary
//! is built once per test process with the same cargo profile and target
//! directory, so it is never stale.
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

pub const DEPT_TOKEN: &str = "gulou-scjg-0123456789abcdef";
pub const AGENCY_TOKEN: &str = "city-bank-0123456789abcdef";
pub const ADMIN_TOKEN: &str = "gulou-admin-0123456789abcdef";

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("workspace root")
}

/// `target/<profile>/`, where the test executable's `deps/` is.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_owned()
}

/// The node binary, built once (a no-op when it is up to date).
pub fn node_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = profile_dir();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.arg("build")
            .arg("--manifest-path")
            .arg(workspace().join("Cargo.toml"))
            .arg("--target-dir")
            .arg(dir.parent().expect("target dir"))
            .args(["-p", "rongxin-node", "--bin", "rongxin-node"]);
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let out = cmd.output().expect("run cargo build");
        assert!(
            out.status.success(),
            "cargo build -p rongxin-node failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir.join("rongxin-node")
    })
    .clone()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A running gulou node; killed on drop.
pub struct Node {
    child: Child,
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    pub fn start() -> Node {
        let dir = tempfile::tempdir().expect("temp dir");
        let ex = workspace().join("config-examples");
        for f in ["roster.signed", "root.pub", "catalog.toml"] {
            std::fs::copy(ex.join(f), dir.path().join(f)).expect("copy example file");
        }
        for f in ["signing.key", "transport.key"] {
            let to = dir.path().join(f);
            std::fs::copy(ex.join("demo-keys/gulou").join(f), &to).expect("copy demo key");
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        let http = free_port();
        let config = format!(
            r#"member = "gulou"
http_listen = "127.0.0.1:{http}"
p2p_listen = "/ip4/127.0.0.1/tcp/{p2p}"
roster = "roster.signed"
root_key = "root.pub"
catalog = "catalog.toml"
signing_key = "signing.key"
transport_key = "transport.key"
admin_token_sha256 = "{admin}"

[[departments]]
name = "鼓楼区市场监督管理局"
token_sha256 = "{dept}"
jurisdictions = ["350102"]
kinds = ["*"]

[[agencies]]
name = "福州某银行"
token_sha256 = "{agency}"
access = "conditional"
"#,
            p2p = free_port(),
            admin = sha256_hex(ADMIN_TOKEN),
            dept = sha256_hex(DEPT_TOKEN),
            agency = sha256_hex(AGENCY_TOKEN),
        );
        let config_path = dir.path().join("gulou.toml");
        std::fs::write(&config_path, config).expect("write config");
        let log = std::fs::File::create(dir.path().join("node.log")).expect("log file");
        let child = Command::new(node_binary())
            .arg("--config")
            .arg(&config_path)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start rongxin-node");
        let mut node = Node {
            child,
            url: format!("http://127.0.0.1:{http}"),
            dir,
        };
        node.wait_healthy(http);
        node
    }

    pub fn wait_healthy(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("node status") {
                panic!("rongxin-node exited with {status}:\n{}", self.log());
            }
            if healthz(port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("rongxin-node not healthy within 30s:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("node.log")).unwrap_or_default()
    }

    pub fn token(&self, name: &str, token: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, format!("{token}\n")).expect("write token");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        p.to_str().expect("utf-8 path").to_owned()
    }
}

/// One GET /healthz over a plain socket: true on a 200.
pub fn healthz(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = "GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n";
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

pub fn ctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rongxinctl"))
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("run rongxinctl")
}

pub fn show(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
