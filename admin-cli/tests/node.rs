//! `rongxinctl` against a real `rongxin-node` (the gulou member of the
//! example federation, on loopback, with a fresh data directory): sample →
//! submit → duplicates and rejections → query → status → bundle → audit
//! verify. The node binary is built once per test process with the same
//! cargo profile and target directory, so it is never stale.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const DEPT_TOKEN: &str = "gulou-scjg-0123456789abcdef";
const AGENCY_TOKEN: &str = "city-bank-0123456789abcdef";
const ADMIN_TOKEN: &str = "gulou-admin-0123456789abcdef";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("workspace root")
}

/// `target/<profile>/`, where the test executable's `deps/` is.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_owned()
}

/// The node binary, built once (a no-op when it is up to date).
fn node_binary() -> PathBuf {
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A running gulou node; killed on drop.
struct Node {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn start() -> Node {
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

    fn wait_healthy(&mut self, port: u16) {
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

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("node.log")).unwrap_or_default()
    }

    fn token(&self, name: &str, token: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, format!("{token}\n")).expect("write token");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        p.to_str().expect("utf-8 path").to_owned()
    }
}

/// One GET /healthz over a plain socket: true on a 200.
fn healthz(port: u16) -> bool {
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

fn ctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rongxinctl"))
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("run rongxinctl")
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn sample_submit_query_status_bundle_against_a_real_node() {
    let node = Node::start();
    let dir = node.dir.path().to_owned();
    let dept = node.token("dept.token", DEPT_TOKEN);
    let records = dir.join("gulou.jsonl");
    let records_s = records.to_str().expect("utf-8");
    let o = ctl(&[
        "sample", "--count", "300", "--origin", "gulou", "--seed", "9", "--out", records_s,
    ]);
    assert!(o.status.success(), "{}", show(&o));

    // All 300 are new; the same file again is all duplicates.
    let o = ctl(&[
        "submit",
        "--node",
        &node.url,
        "--token-file",
        &dept,
        records_s,
        "--batch",
        "128",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", show(&o), node.log());
    let summary = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        summary.contains("300 accepted, 0 duplicates, 0 rejected"),
        "{summary}"
    );
    let o = ctl(&[
        "submit",
        "--node",
        &node.url,
        "--token-file",
        &dept,
        records_s,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("0 accepted, 300 duplicates"),
        "{}",
        show(&o)
    );

    // A mixed file: one new record, one with a bad check character, one
    // for another member's jurisdiction, one line that is not JSON.
    let text = std::fs::read_to_string(&records).expect("records");
    let first: Value = serde_json::from_str(text.lines().next().expect("a record")).expect("json");
    let mut fresh = first.clone();
    fresh["record_no"] = json!("榕鼓市监罚〔2026〕新-1号");
    let mut bad_code = first.clone();
    bad_code["record_no"] = json!("榕鼓市监罚〔2026〕新-2号");
    let code = first["subject"]["code"].as_str().expect("code").to_owned();
    let wrong = if code.ends_with('0') { "1" } else { "0" };
    bad_code["subject"]["code"] = json!(format!("{}{wrong}", &code[..17]));
    let mut foreign = first.clone();
    foreign["record_no"] = json!("榕鼓市监罚〔2026〕新-3号");
    foreign["jurisdiction"] = json!("350103");
    let mixed = dir.join("mixed.jsonl");
    std::fs::write(
        &mixed,
        format!("{fresh}\n{bad_code}\n{{\"kind\": \n{foreign}\n"),
    )
    .expect("write mixed");
    let o = ctl(&[
        "submit",
        "--node",
        &node.url,
        "--token-file",
        &dept,
        mixed.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let summary = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        summary.contains("1 accepted, 0 duplicates, 3 rejected"),
        "{summary}"
    );
    assert!(summary.contains("subject.code"), "{summary}");
    let rejected =
        std::fs::read_to_string(dir.join("mixed.jsonl.rejected.jsonl")).expect("rejected file");
    let lines: Vec<Value> = rejected
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let mut at: Vec<u64> = lines
        .iter()
        .map(|l| l["line"].as_u64().expect("line"))
        .collect();
    at.sort_unstable();
    assert_eq!(at, [2, 3, 4], "{rejected}");

    // A wrong token: the node's message, exit 2.
    let wrong = node.token("wrong.token", "not-a-token");
    let o = ctl(&[
        "submit",
        "--node",
        &node.url,
        "--token-file",
        &wrong,
        mixed.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        e.contains(&format!("{}/v1/records answered 401", node.url)),
        "{e}"
    );
    assert!(e.contains("was not taken"), "{e}");

    // The profile of a legal person from the sample.
    let org = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json"))
        .find(|r| r["subject"]["class"] == "legal_person")
        .expect("a legal person");
    let org_code = org["subject"]["code"].as_str().expect("code");
    let o = ctl(&["query", "--node", &node.url, org_code, "--purpose", "测试"]);
    assert!(o.status.success(), "{}", show(&o));
    let profile = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(profile.contains(org_code), "{profile}");
    assert!(profile.contains("access public"), "{profile}");
    let o = ctl(&["query", "--node", &node.url, org_code, "--json"]);
    let json: Value = serde_json::from_slice(&o.stdout).expect("profile JSON");
    assert_eq!(json["subject"], org_code);

    // Status is an operations endpoint: without a token it is refused.
    let o = ctl(&["status", "--node", &node.url]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(show(&o).contains("admin or monitor token"), "{}", show(&o));
    let ops = node.token("ops.token", ADMIN_TOKEN);
    let o = ctl(&["status", "--node", &node.url, "--token-file", &ops]);
    assert!(o.status.success(), "{}", show(&o));
    let status = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(status.starts_with("gulou "), "{status}");
    assert!(status.contains("own log   301 entries"), "{status}");

    // A bundle from the node verifies offline against the root key alone.
    // An auditor's (here the admin's) token reads any entry; the sample
    // mixes kinds, so some entries are withheld from anonymous readers.
    let bundle = dir.join("b.json");
    let admin = node.token("admin.token", ADMIN_TOKEN);
    let o = ctl(&[
        "bundle",
        "--node",
        &node.url,
        "gulou",
        "7",
        "--out",
        bundle.to_str().expect("utf-8"),
        "--token-file",
        &admin,
        "--purpose",
        "审计抽查",
    ]);
    assert!(o.status.success(), "{}", show(&o));
    let root = workspace().join("config-examples/root.pub");
    let o = ctl(&[
        "audit",
        "verify",
        bundle.to_str().expect("utf-8"),
        "--root",
        root.to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("OK "),
        "{}",
        show(&o)
    );
}

#[test]
fn a_csv_of_double_publicity_rows_goes_in() {
    let node = Node::start();
    let dept = node.token("dept.token", DEPT_TOKEN);
    let csv = node.dir.path().join("sgs.csv");
    std::fs::write(
        &csv,
        "XK_WSH,XK_JDRQ,XK_XKJG,XK_XKJGDM,XK_XDR_MC,XDR_LB,XDR_SHXYM,XK_XKWS,XK_XKLB,XK_NR,XK_YXQZ,XK_YXQZI,XK_ZT,XK_LYDW,XK_LYDWDM,FRDB,DFBM\n\
         榕鼓市监许〔2026〕1号,2026/3/1,福州市鼓楼区市场监督管理局,11350102MB01234562,福州市鼓楼区鑫源贸易有限公司,法人及非法人组织,91350100757384472D,食品经营许可决定书,普通,预包装食品销售,2026-03-01,2031-02-28,1,福州市鼓楼区市场监督管理局,11350102MB01234562,陈伟,350102\n\
         榕鼓市监许〔2026〕2号,2026/3/2,福州市鼓楼区市场监督管理局,11350102MB01234562,福州市鼓楼区某某公司,法人及非法人组织,91350100757384472E,食品经营许可决定书,普通,预包装食品销售,2026-03-02,2031-03-01,1,福州市鼓楼区市场监督管理局,11350102MB01234562,陈伟,350102\n",
    )
    .expect("write csv");
    let o = ctl(&[
        "submit",
        "--node",
        &node.url,
        "--token-file",
        &dept,
        csv.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}\n{}", show(&o), node.log());
    let summary = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        summary.contains("1 accepted, 0 duplicates, 1 rejected"),
        "{summary}"
    );
    assert!(summary.contains("e.g. line 3: subject.code"), "{summary}");
}
