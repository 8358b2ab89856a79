//! `rongxinctl demo` end to end, in each signature suite: the demo starts
//! the example federation (a few members and the province) on loopback,
//! converges, and prints commands; the tests run the printed commands
//! exactly as printed (from the directory the demo was started in) and
//! check what they show, then stop the demo with SIGINT as Ctrl-C would.
//! Also: `--base-port` moves every port, a busy port is named before
//! anything starts, and Ctrl-C while loading stops every node cleanly.
//!
//! One test runs on the example's own ports (8100…, 7100…, 9443/9444) and
//! fails if a demo is already running there; the others each move theirs
//! with `--base-port`. They take turns: the machine has few cores.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// One demo at a time: they share the example's ports.
static PORTS: Mutex<()> = Mutex::new(());

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

/// Builds `rongxin-node` and `rongxin-province` next to `rongxinctl` (where
/// the demo looks for them), once per test process; a no-op when up to date.
fn build_servers() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = profile_dir();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.arg("build")
            .arg("--manifest-path")
            .arg(workspace().join("Cargo.toml"))
            .arg("--target-dir")
            .arg(dir.parent().expect("target dir"))
            .args(["-p", "rongxin-node", "--bin", "rongxin-node"])
            .args(["-p", "rongxin-province", "--bin", "rongxin-province"]);
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let out = cmd.output().expect("run cargo build");
        assert!(
            out.status.success(),
            "cargo build of the node and the province failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// What a demo printed up to "Press Ctrl-C to stop.".
struct Printed {
    lines: Vec<String>,
}

impl Printed {
    /// The printed command (indented line) that contains `needle`.
    fn command(&self, needle: &str) -> String {
        self.lines
            .iter()
            .find(|l| l.starts_with("  ") && l.contains(needle))
            .unwrap_or_else(|| panic!("no printed command with '{needle}':\n{}", self.text()))
            .trim()
            .to_owned()
    }

    fn text(&self) -> String {
        self.lines.join("\n")
    }
}

/// Runs `command` as printed, with `sh`, in `cwd`; returns its standard
/// output, panicking unless it exits 0.
fn run_printed(command: &str, cwd: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(cwd)
        .output()
        .expect("run sh");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "`{command}` failed ({}):\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Starts `rongxinctl demo` of city, gulou and taijiang with `extra`
/// arguments in `cwd` (working directory `work` there), in its own process
/// group as a shell's foreground job is; returns it and its standard
/// output, line by line.
fn start_demo(extra: &[&str], cwd: &Path) -> (std::process::Child, mpsc::Receiver<String>) {
    use std::os::unix::process::CommandExt as _;
    build_servers();
    let examples = workspace().join("config-examples");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rongxinctl"))
        .arg("demo")
        .args(["--members", "city,gulou,taijiang"])
        .args(["--timeout", "150", "--dir", "work"])
        .args(if extra.contains(&"--records") {
            &[][..]
        } else {
            &["--records", "60"][..]
        })
        .arg("--examples")
        .arg(&examples)
        .args(extra)
        .current_dir(cwd)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rongxinctl demo");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Progress is redrawn after '\r': each redraw is a line here, sent
        // as soon as it ends.
        let mut stdout = stdout;
        let (mut buf, mut line) = ([0u8; 4096], Vec::new());
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            for &b in &buf[..n] {
                if b != b'\n' && b != b'\r' {
                    line.push(b);
                    continue;
                }
                if b == b'\n' || !line.is_empty() {
                    let text = String::from_utf8_lossy(&line).into_owned();
                    if tx.send(text).is_err() {
                        return;
                    }
                }
                line.clear();
            }
        }
    });
    (child, rx)
}

/// Ctrl-C at a terminal: SIGINT to the whole foreground process group.
fn ctrl_c(child: &std::process::Child) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("a pid");
    rustix::process::kill_process_group(pid, rustix::process::Signal::INT)
        .expect("SIGINT the demo's process group");
}

/// Runs the demo with `extra` arguments in a fresh directory until it says
/// the federation is running, runs `check` on what it printed (in that
/// directory), and stops it with Ctrl-C.
fn demo(extra: &[&str], check: impl FnOnce(&Printed, &Path)) {
    let _turn = PORTS.lock().unwrap_or_else(|e| e.into_inner());
    let cwd = tempfile::tempdir().expect("a temporary directory");
    let (child, rx) = start_demo(extra, cwd.path());
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut lines = Vec::new();
    let ready = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left.min(Duration::from_secs(1))) {
            Ok(line) => {
                let done = line.starts_with("Press Ctrl-C");
                lines.push(line);
                if done {
                    break true;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break false,
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() >= deadline => break false,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    };
    let printed = Printed { lines };
    if !ready {
        ctrl_c(&child);
        let out = child.wait_with_output().expect("wait for the demo");
        panic!(
            "the demo did not get to running ({}):\n{}\n{}",
            out.status,
            printed.text(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let checked =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&printed, cwd.path())));
    // Ctrl-C: every node and the province stop cleanly.
    ctrl_c(&child);
    let out = child.wait_with_output().expect("wait for the demo");
    let rest: Vec<String> = rx.try_iter().collect();
    if let Err(e) = checked {
        std::panic::resume_unwind(e);
    }
    assert!(
        out.status.success(),
        "the demo exited with {} after Ctrl-C:\n{}\n{}",
        out.status,
        rest.join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(rest.iter().any(|l| l == "Stopped."), "{rest:?}");
}

/// Runs the printed bundle command, then the printed audit command, as
/// printed; returns the audit report.
fn bundle_and_audit(p: &Printed, cwd: &Path) -> String {
    let text = p.text();
    assert!(
        text.contains("Converged in") && text.contains("the province received them all"),
        "{text}"
    );
    run_printed(&p.command(" bundle "), cwd);
    assert!(cwd.join("bundle.json").is_file());
    let report = run_printed(&p.command(" audit verify "), cwd);
    assert!(report.starts_with("OK "), "{report}");
    report
}

#[test]
fn demo_in_sm2_sm3_converges_and_its_bundles_verify() {
    demo(&["--suite", "sm2-sm3", "--base-port", "21100"], |p, cwd| {
        let text = p.text();
        assert!(
            text.contains("Suite sm2-sm3: root key, members' signing keys and roster generated"),
            "{text}"
        );
        bundle_and_audit(p, cwd);
        // The printed root is the SM2 root the demo generated, not the example's.
        let audit = p.command(" audit verify ");
        assert!(audit.ends_with("--root work/sm2-sm3/root.pub"), "{audit}");
        let root = std::fs::read_to_string(cwd.join("work/sm2-sm3/root.pub")).expect("root.pub");
        let example_root = workspace().join("config-examples/root.pub");
        assert_ne!(
            root,
            std::fs::read_to_string(&example_root).expect("the example's root.pub")
        );
        // The roster the nodes run is sm2-sm3, and the example's Ed25519 root
        // key does not verify the bundle.
        let roster = std::fs::read_to_string(cwd.join("work/sm2-sm3/roster.signed"))
            .expect("the generated roster");
        assert!(roster.contains("suite = \"sm2-sm3\""), "{roster}");
        let gulou = std::fs::read_to_string(cwd.join("work/gulou.toml")).expect("gulou.toml");
        assert!(
            gulou.contains("signing_key = \"sm2-sm3/gulou/signing.key\""),
            "{gulou}"
        );
        let out = Command::new(env!("CARGO_BIN_EXE_rongxinctl"))
            .args(["audit", "verify", "bundle.json", "--root"])
            .arg(&example_root)
            .current_dir(cwd)
            .output()
            .expect("run rongxinctl audit verify");
        assert!(
            !out.status.success(),
            "an SM2 bundle verified with the Ed25519 root"
        );
    });
}

#[test]
fn demo_in_the_default_suite_converges_and_its_bundles_verify() {
    demo(&[], |p, cwd| {
        assert!(!p.text().contains("Suite "), "{}", p.text());
        bundle_and_audit(p, cwd);
        // The credit lifecycle: an objection and a repair application filed
        // at taijiang, registered by gulou, seen open on every node; the
        // printed decisions work as printed and reach the window.
        let text = p.text();
        assert!(
            text.contains("registered by gulou and seen on every node"),
            "{text}"
        );
        for m in ["city", "gulou", "taijiang"] {
            assert!(
                p.lines.iter().any(|l| l.trim_start().starts_with(m)
                    && l.contains("objection open")
                    && l.contains("repair application open")),
                "{m}: {text}"
            );
        }
        assert!(run_printed(&p.command(" objection list "), cwd).contains("1 objection(s)"));
        let out = run_printed(&p.command(" objection resolve "), cwd);
        assert!(out.contains("rejected at seq"), "{out}");
        let out = run_printed(&p.command(" repair decide "), cwd);
        assert!(out.contains("record revoked at seq"), "{out}");
        let show = p.command(" objection show ");
        let show = show.split("   #").next().unwrap_or(&show).trim().to_owned();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = run_printed(&show, cwd);
            if out.contains("\"state\": \"rejected\"") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the decision did not reach the window: {out}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        let audit = p.command(" audit verify ");
        let example_root = workspace().join("config-examples/root.pub");
        assert!(
            audit.ends_with(&format!("--root {}", example_root.display())),
            "{audit}"
        );
    });
}

/// Seconds between the first `replication listening` and `node started`
/// lines of a node's log: how long it waited for its peers at start.
fn start_wait(log: &Path) -> f64 {
    let text = std::fs::read_to_string(log).expect("the node's log");
    let at = |needle: &str| {
        let line = text
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no '{needle}' in {}:\n{text}", log.display()));
        let stamp = line.split_whitespace().next().expect("a timestamp");
        time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("{stamp}: {e}"))
    };
    (at("node started") - at("replication listening")).as_seconds_f64()
}

/// Every `rongxinctl` command the demo prints runs exactly as printed, in
/// the printed order, and shows real results; `--base-port` moves every
/// port; members the demo does not run are named once and cost no wait.
#[test]
fn every_printed_command_runs_as_printed_on_moved_ports() {
    demo(&["--base-port", "31100"], |p, cwd| {
        let text = p.text();
        assert!(text.contains("Converged in"), "{text}");
        // 31100 - 7100: HTTPS APIs at 32100…, the province at 33443/33444.
        assert!(
            text.contains("  city      https://127.0.0.1:32100"),
            "{text}"
        );
        assert!(
            text.contains("  province  http://127.0.0.1:33444"),
            "{text}"
        );
        for old in ["127.0.0.1:8100", "127.0.0.1:8102", "127.0.0.1:9444"] {
            assert!(!text.contains(old), "{old} printed:\n{text}");
        }
        let roster = std::fs::read_to_string(cwd.join("work/roster.signed")).expect("roster");
        assert!(
            roster.contains("\"/ip4/127.0.0.1/tcp/31102\"") && roster.contains("127.0.0.1:32102"),
            "{roster}"
        );
        assert!(
            text.contains(
                "Not running in this demo (left out of every node's peers): ftz, cangshan, mawei"
            ),
            "{text}"
        );
        let program = env!("CARGO_BIN_EXE_rongxinctl");
        let commands: Vec<String> = p
            .lines
            .iter()
            .map(|l| l.trim())
            .filter(|l| l.starts_with(&format!("{program} ")))
            .map(str::to_owned)
            .collect();
        // query, replication, status, federation, bundle, audit, forward,
        // and the credit lifecycle's objection list, resolve, repair
        // decide, show.
        assert_eq!(commands.len(), 11, "{text}");
        assert!(
            text.contains("The console: open https://127.0.0.1:32100/ in a browser"),
            "{text}"
        );
        for command in &commands {
            let started = Instant::now();
            let out = run_printed(command, cwd);
            let took = started.elapsed();
            let sub = command[program.len()..]
                .split_whitespace()
                .next()
                .unwrap_or("");
            match sub {
                "query" => {
                    assert!(!out.contains("no records shown"), "{command}:\n{out}");
                    assert!(out.contains(" record"), "{command}:\n{out}");
                }
                "replication" => {
                    assert!(took < Duration::from_secs(3), "{command} took {took:?}");
                    assert!(out.contains("gulou      taijiang"), "{command}:\n{out}");
                    assert!(!out.contains("not reachable"), "{command}:\n{out}");
                }
                "audit" => {
                    assert!(out.starts_with("OK "), "{out}");
                    assert!(out.contains(" UTC+8 ("), "{out}");
                    let root = out
                        .split("root ")
                        .nth(1)
                        .and_then(|r| r.split_whitespace().next())
                        .unwrap_or("");
                    assert!(root.len() == 44 && root.ends_with('='), "not base64: {out}");
                }
                "objection" if command.contains(" resolve ") => {
                    assert!(out.contains("rejected at seq"), "{command}:\n{out}");
                }
                "objection" if command.contains(" list ") => {
                    assert!(out.contains("1 objection(s)"), "{command}:\n{out}");
                }
                "repair" => assert!(out.contains("record revoked at seq"), "{command}:\n{out}"),
                "federation" => {
                    assert!(out.starts_with("federation as city sees it"), "{out}");
                    for m in ["city", "gulou", "taijiang"] {
                        assert!(out.lines().any(|l| l.starts_with(m)), "{m}:\n{out}");
                        assert!(!out.contains(&format!("{m:<12} STALE")), "{m}:\n{out}");
                    }
                }
                _ => {}
            }
        }
        // No node waited on members the demo does not run (restore
        // protection waits half of restore_timeout, 5 s, on absent peers).
        for m in ["city", "gulou", "taijiang"] {
            let wait = start_wait(&cwd.join(format!("work/logs/{m}.log")));
            assert!(wait < 3.0, "{m} waited {wait:.1} s for its peers");
        }
    });
}

/// A port the demo needs that something else holds stops it before it
/// starts anything, naming the port, its use and `--base-port`.
#[test]
fn a_busy_port_is_named_before_anything_starts() {
    let _turn = PORTS.lock().unwrap_or_else(|e| e.into_inner());
    // 41100 - 7100: gulou's HTTPS API is at 42102.
    let held = std::net::TcpListener::bind("127.0.0.1:42102").expect("hold 42102");
    let cwd = tempfile::tempdir().expect("a temporary directory");
    let (child, rx) = start_demo(&["--base-port", "41100"], cwd.path());
    let out = child.wait_with_output().expect("wait for the demo");
    let printed: Vec<String> = rx.try_iter().collect();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{printed:?}\n{stderr}");
    assert!(
        stderr.contains("port 42102 (gulou's HTTPS API) is in use on 127.0.0.1")
            && stderr.contains("--base-port 7100"),
        "{stderr}"
    );
    assert!(
        !printed.iter().any(|l| l.starts_with("Starting")),
        "{printed:?}"
    );
    drop(held);
}

/// Ctrl-C at the terminal while the demo loads records: the demo says it
/// stops the nodes, each one shuts down cleanly (SIGTERM: its store
/// flushed), and every port is free again.
#[test]
fn ctrl_c_while_loading_stops_every_node_cleanly() {
    let _turn = PORTS.lock().unwrap_or_else(|e| e.into_inner());
    let cwd = tempfile::tempdir().expect("a temporary directory");
    let (child, rx) = start_demo(&["--base-port", "51100", "--records", "30000"], cwd.path());
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut lines = Vec::new();
    // Right after the first thousand records reached the city: the next
    // thousand are on their way.
    while !lines
        .iter()
        .any(|l: &String| l.contains("city      1000/30000"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => {
                ctrl_c(&child);
                let out = child.wait_with_output().expect("wait for the demo");
                panic!(
                    "the demo never started loading ({}): {lines:?}\n{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
    ctrl_c(&child);
    let out = child.wait_with_output().expect("wait for the demo");
    lines.extend(rx.iter());
    let text = lines.join("\n");
    assert!(
        out.status.success(),
        "{}:\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("Stopping the nodes …") && text.ends_with("Stopped."),
        "{text}"
    );
    // It stopped loading where it was (the chunk on its way finishes).
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("30000/30000") || (l.contains("gulou") && l.contains("/30000"))),
        "Ctrl-C did not stop the loading: {text}"
    );
    for m in ["city", "gulou", "taijiang"] {
        let log = std::fs::read_to_string(cwd.path().join(format!("work/logs/{m}.log")))
            .expect("the node's log");
        assert!(log.contains("node stopped; store flushed"), "{m}:\n{log}");
    }
    for port in [51100, 51102, 51103, 52100, 52102, 52103, 53443, 53444] {
        std::net::TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("port {port} still held after the demo stopped: {e}"));
    }
}
