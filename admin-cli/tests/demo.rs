//! `rongxinctl demo` end to end, in each signature suite: the demo starts
//! the example federation (a few members and the province) on the example's
//! fixed loopback ports, converges, and prints commands; the test runs the
//! printed `bundle` and `audit verify` commands exactly as printed (from the
//! directory the demo was started in) and checks that the bundle verifies,
//! then stops the demo with SIGINT as Ctrl-C would.
//!
//! The example's ports are fixed (8100…, 7100…, 9443/9444), so the tests of
//! this file take turns, and fail if a demo is already running on the
//! machine.

use std::io::{BufRead as _, BufReader};
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

/// Runs the demo with `extra` arguments in a fresh directory until it says
/// the federation is running, checks the printed bundle and audit commands,
/// and stops it; returns what it printed and the directory.
fn demo(extra: &[&str], check: impl FnOnce(&Printed, &Path)) {
    let _turn = PORTS.lock().unwrap_or_else(|e| e.into_inner());
    build_servers();
    let cwd = tempfile::tempdir().expect("a temporary directory");
    let examples = workspace().join("config-examples");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rongxinctl"))
        .arg("demo")
        .args(["--members", "city,gulou,taijiang", "--records", "60"])
        .args(["--timeout", "150", "--dir", "work"])
        .arg("--examples")
        .arg(&examples)
        .args(extra)
        .current_dir(cwd.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rongxinctl demo");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
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
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("a pid");
    if !ready {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
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
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT the demo");
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
    demo(&["--suite", "sm2-sm3"], |p, cwd| {
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
