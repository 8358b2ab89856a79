//! `rongxinctl init` as a district runs it: keys made with `keygen`, a roster
//! the city signed naming them, then `init`, then the real `rongxin-node`
//! started from the config it wrote; and every refusal, each naming the file
//! and the fix.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{ctl, free_port, healthz, node_binary, show};
use rustix::process::{Pid, Signal, kill_process};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A federation of the city and gulou, as the city would make it: a root
/// key, gulou's keys made "on gulou's machine" (`etc/keys`, where init looks
/// by default), a signed roster with root.pub and the catalog beside it.
struct Federation {
    dir: tempfile::TempDir,
    http: u16,
}

impl Federation {
    fn new() -> Federation {
        let dir = tempfile::tempdir().expect("temp dir");
        let fed = Federation {
            dir,
            http: free_port(),
        };
        let ok = |o: Output| assert!(o.status.success(), "{}", show(&o));
        ok(ctl(&["keygen", "--root", "--out", s(&fed.p("city-root"))]));
        ok(ctl(&[
            "keygen",
            "--member",
            "city",
            "--out",
            s(&fed.p("city-keys")),
        ]));
        ok(ctl(&[
            "keygen",
            "--member",
            "gulou",
            "--out",
            s(&fed.p("etc/keys")),
        ]));
        let catalog = common::workspace().join("config-examples/catalog.toml");
        std::fs::create_dir(fed.p("from-city")).expect("mkdir");
        std::fs::copy(&catalog, fed.p("from-city/catalog.toml")).expect("copy catalog");
        std::fs::copy(fed.p("city-root/root.pub"), fed.p("from-city/root.pub")).expect("copy");
        let draft = fed.p("roster.toml");
        ok(ctl(&[
            "roster",
            "new",
            "--out",
            s(&draft),
            "--valid-from",
            "2026-01-01",
            "--valid-until",
            "2030-12-31",
            "--catalog",
            s(&catalog),
        ]));
        let city_p2p = format!("/ip4/127.0.0.1/tcp/{}", free_port());
        let gulou_p2p = format!("/ip4/127.0.0.1/tcp/{}", free_port());
        let gulou_http = format!("127.0.0.1:{}", fed.http);
        for (id, role, j, keys, listen, http) in [
            (
                "city",
                "city",
                "350100",
                "city-keys",
                city_p2p.as_str(),
                "127.0.0.1:1",
            ),
            (
                "gulou",
                "district",
                "350102",
                "etc/keys",
                &gulou_p2p,
                &gulou_http,
            ),
        ] {
            ok(ctl(&[
                "roster",
                "add-member",
                s(&draft),
                "--id",
                id,
                "--name",
                id,
                "--role",
                role,
                "--jurisdiction",
                j,
                "--keys",
                s(&fed.p(keys)),
                "--listen",
                listen,
                "--http",
                http,
            ]));
        }
        ok(ctl(&[
            "roster",
            "sign",
            s(&draft),
            "--root-key",
            s(&fed.p("city-root/root.key")),
            "--out",
            s(&fed.p("from-city/roster.signed")),
        ]));
        fed
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `rongxinctl init` for `member` writing etc/node.toml, with `extra` flags.
    fn init(&self, member: &str, extra: &[&str]) -> Output {
        let (roster, config, data) = (
            self.p("from-city/roster.signed"),
            self.p("etc/node.toml"),
            self.p("var/data"),
        );
        let mut args = vec!["init", "--member", member, "--roster", s(&roster)];
        args.extend(["--config-out", s(&config), "--data-dir", s(&data)]);
        args.extend(extra);
        ctl(&args)
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn init_writes_a_config_the_real_node_starts_from() {
    let fed = Federation::new();
    let o = fed.init("gulou", &[]);
    assert!(o.status.success(), "{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("Still to do"), "{out}");
    assert!(out.contains("rongxinctl token add --file"), "{out}");

    // Everything the node needs is beside the config, with absolute paths.
    let config = std::fs::read_to_string(fed.p("etc/node.toml")).expect("config written");
    for f in [
        "roster.signed",
        "root.pub",
        "catalog.toml",
        "tokens/tokens.toml",
    ] {
        assert!(fed.p("etc").join(f).exists(), "{f} not written");
        assert!(config.contains(s(&fed.p("etc").join(f))), "{f}:\n{config}");
    }
    assert!(config.contains("member = \"gulou\""), "{config}");
    assert!(config.contains("peers = [\"city\"]"), "{config}");
    assert!(
        config.contains(&format!("http_listen = \"127.0.0.1:{}\"", fed.http)),
        "{config}"
    );
    assert!(
        config.contains(s(&fed.p("etc/keys/signing.key"))),
        "{config}"
    );
    assert!(
        config.contains("# [tls]"),
        "loopback: TLS only suggested\n{config}"
    );
    let tokens = std::fs::read_to_string(fed.p("etc/tokens/tokens.toml")).expect("tokens");
    assert!(tokens.contains("role = \"admin\""), "{tokens}");

    // The real node, from exactly that file: no --data-dir, no other flag.
    let log = std::fs::File::create(fed.p("node.log")).expect("log file");
    let mut child = Command::new(node_binary())
        .arg("--config")
        .arg(fed.p("etc/node.toml"))
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("start rongxin-node");
    let node_log = || std::fs::read_to_string(fed.p("node.log")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !healthz(fed.http) {
        if let Some(status) = child.try_wait().expect("node status") {
            panic!("rongxin-node exited with {status}:\n{}", node_log());
        }
        assert!(
            Instant::now() < deadline,
            "rongxin-node not healthy within 60s:\n{}",
            node_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The admin token init made opens the admin status: it is gulou's node.
    let status = ctl(&[
        "status",
        "--node",
        &format!("http://127.0.0.1:{}", fed.http),
        "--token-file",
        s(&fed.p("etc/tokens/admin.token")),
    ]);
    let text = show(&status);
    kill_process(Pid::from_child(&child), Signal::TERM).expect("SIGTERM");
    let exit = child.wait().expect("wait for the node");
    assert!(status.status.success(), "{text}\n{}", node_log());
    assert!(text.contains("gulou"), "{text}");
    assert!(exit.success(), "SIGTERM exit {exit}:\n{}", node_log());
    assert!(
        fed.p("var/data").is_dir(),
        "data_dir from the config was used"
    );
}

#[test]
fn init_refuses_what_would_not_run_and_says_what_to_do() {
    let fed = Federation::new();

    // The node started before init: its error says to run init.
    let missing = fed.p("etc/node.toml");
    let o = Command::new(node_binary())
        .arg("--config")
        .arg(&missing)
        .output()
        .expect("run rongxin-node");
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        stderr(&o).contains(s(&missing)) && stderr(&o).contains("rongxinctl init --member"),
        "{}",
        show(&o)
    );

    // An unknown member: the roster's members are listed.
    let o = fed.init("taijiang", &[]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("'taijiang' is not in this roster") && e.contains("city, gulou"),
        "{e}"
    );

    // A roster signed by another root does not verify.
    let other = fed.p("other-root");
    assert!(
        ctl(&["keygen", "--root", "--out", s(&other)])
            .status
            .success()
    );
    let o = fed.init("gulou", &["--root", s(&other.join("root.pub"))]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("does not verify against the root key")
            && e.contains(s(&other.join("root.pub"))),
        "{e}"
    );
    // Nor does a roster changed after signing.
    let tampered = fed.p("tampered.signed");
    let note = std::fs::read_to_string(fed.p("from-city/roster.signed")).expect("roster");
    std::fs::write(&tampered, note.replacen("\"350102\"", "\"350103\"", 1)).expect("write");
    std::fs::copy(fed.p("from-city/root.pub"), fed.p("root.pub")).expect("copy");
    std::fs::copy(fed.p("from-city/catalog.toml"), fed.p("catalog.toml")).expect("copy");
    let o = ctl(&[
        "init",
        "--member",
        "gulou",
        "--roster",
        s(&tampered),
        "--config-out",
        s(&fed.p("etc/node.toml")),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("does not verify"), "{}", show(&o));

    // No keys: the keygen command to run, and that the city must add them.
    let o = fed.init("gulou", &["--keys", s(&fed.p("nowhere"))]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains(&format!(
            "rongxinctl keygen --member gulou --out {}",
            s(&fed.p("nowhere"))
        )) && e.contains("city credit center"),
        "{e}"
    );

    // Keys that are not the roster's: both values named.
    let wrong = fed.p("wrong-keys");
    let made = ctl(&["keygen", "--member", "gulou", "--out", s(&wrong)]);
    assert!(made.status.success(), "{}", show(&made));
    let printed_key = |o: &Output| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .find_map(|l| Some(l.strip_prefix("key = \"")?.split('"').next()?.to_owned()))
            .expect("keygen prints key = \"...\"")
    };
    let wrong_key = printed_key(&made);
    let roster_text = std::fs::read_to_string(fed.p("from-city/roster.signed")).expect("roster");
    let listed: Vec<&str> = roster_text
        .lines()
        .filter_map(|l| l.strip_prefix("key = \"")?.strip_suffix('"'))
        .collect();
    assert_eq!(listed.len(), 2, "{roster_text}");
    let o = fed.init("gulou", &["--keys", s(&wrong)]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("is not one the roster lists for gulou"), "{e}");
    assert!(e.contains(s(&wrong.join("signing.key"))), "{e}");
    assert!(e.contains(&wrong_key), "the local key named\n{e}");
    assert!(
        listed.iter().any(|k| e.contains(k)),
        "the roster's key named\n{e}"
    );

    // The right signing key with another machine's transport key: peer ids named.
    let mixed = fed.p("mixed-keys");
    std::fs::create_dir(&mixed).expect("mkdir");
    for (from, name) in [
        (fed.p("etc/keys"), "signing.key"),
        (wrong.clone(), "transport.key"),
    ] {
        std::fs::copy(from.join(name), mixed.join(name)).expect("copy key");
    }
    let o = fed.init("gulou", &["--keys", s(&mixed)]);
    assert!(!o.status.success());
    let e = stderr(&o);
    let local_peer = std::fs::read_to_string(wrong.join("peer_id")).expect("peer_id");
    let roster_peer = std::fs::read_to_string(fed.p("etc/keys/peer_id")).expect("peer_id");
    assert!(
        e.contains(local_peer.trim()) && e.contains(roster_peer.trim()),
        "both peer ids named\n{e}"
    );
    assert!(
        !fed.p("etc/node.toml").exists(),
        "a refusal writes no config"
    );

    // An existing config is kept unless --force.
    assert!(fed.init("gulou", &[]).status.success());
    std::fs::write(fed.p("etc/node.toml"), "# edited by the operator\n").expect("edit");
    let o = fed.init("gulou", &[]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains(s(&fed.p("etc/node.toml"))) && e.contains("--force"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(fed.p("etc/node.toml")).expect("config"),
        "# edited by the operator\n"
    );
    let o = fed.init("gulou", &["--force"]);
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        std::fs::read_to_string(fed.p("etc/node.toml"))
            .expect("config")
            .contains("member = \"gulou\"")
    );
    // The tokens file already has its admin token: no second one.
    let tokens = std::fs::read_to_string(fed.p("etc/tokens/tokens.toml")).expect("tokens");
    assert_eq!(tokens.matches("role = \"admin\"").count(), 1, "{tokens}");
}
