//! `rongxinctl audit log` against real nodes: a whole log verifies; an
//! interrupted run resumes from its state file; a state file that was
//! edited, or that another log does not extend, is refused; entries
//! withheld from a reader without a token make the verdict say what could
//! not be verified.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{ADMIN_TOKEN, DEPT_TOKEN, Node, ctl, show};

/// A gulou node holding `count` sample records made with `seed`.
fn node_with_records(count: u32, seed: u32) -> Node {
    let node = Node::start();
    let dept = node.token("dept.token", DEPT_TOKEN);
    let records = node.dir.path().join("records.jsonl");
    let records = records.to_str().expect("utf-8");
    let (count, seed) = (count.to_string(), seed.to_string());
    let o = ctl(&[
        "sample", "--count", &count, "--origin", "gulou", "--seed", &seed, "--out", records,
    ]);
    assert!(o.status.success(), "{}", show(&o));
    let o = ctl(&[
        "submit",
        "--node",
        &node.url,
        "--token-file",
        &dept,
        records,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", show(&o), node.log());
    node
}

fn audit(node: &Node, state: &Path, token: Option<&str>, extra: &[&str]) -> Output {
    let state = state.to_str().expect("utf-8");
    let mut args = vec![
        "audit", "log", "--node", &node.url, "gulou", "--state", state,
    ];
    if let Some(t) = token {
        args.extend(["--token-file", t]);
    }
    args.extend(extra);
    ctl(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn state_file(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("audit").join("gulou.state")
}

#[test]
fn a_whole_log_verifies_and_an_interrupted_run_resumes() {
    let node = node_with_records(300, 9);
    let admin = node.token("admin.token", ADMIN_TOKEN);
    let dir = tempfile::tempdir().expect("temp dir");
    let state = state_file(&dir);

    // Stopped after 120 entries (small pages, so that several were fetched).
    let o = audit(
        &node,
        &state,
        Some(&admin),
        &["--stop-after", "120", "--page", "50"],
    );
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    assert!(
        stdout(&o).starts_with("STOPPED gulou at entry 120:"),
        "{}",
        show(&o)
    );
    assert!(state.exists(), "{}", show(&o));

    // The rest, from the state file.
    let o = audit(&node, &state, Some(&admin), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with(
            "OK gulou: 300 entries verified (signatures, chain, ownership, records), root "
        ),
        "{out}"
    );
    assert!(
        out.contains("matches its checkpoint of size 300 signed by key 1"),
        "{out}"
    );
    assert!(out.contains("resumed at entry 120"), "{out}");

    // From the start again, without the state.
    let o = audit(&node, &state, Some(&admin), &["--restart"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        stdout(&o).starts_with("OK gulou: 300 entries verified"),
        "{}",
        show(&o)
    );
    assert!(!stdout(&o).contains("resumed"), "{}", show(&o));
}

#[test]
fn a_state_that_does_not_hold_is_refused() {
    let node = node_with_records(200, 9);
    let admin = node.token("admin.token", ADMIN_TOKEN);
    let dir = tempfile::tempdir().expect("temp dir");
    let state = state_file(&dir);
    let o = audit(&node, &state, Some(&admin), &["--stop-after", "150"]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    let good = std::fs::read_to_string(&state).expect("state file");

    // Its root edited: refused before anything is fetched.
    let mut v: serde_json::Value = serde_json::from_str(&good).expect("state is JSON");
    v["root"] = serde_json::json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    std::fs::write(&state, v.to_string()).expect("write state");
    let o = audit(&node, &state, Some(&admin), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        e.contains("does not hold: its frontier gives the root"),
        "{e}"
    );
    assert!(e.contains("--restart"), "{e}");

    // Another gulou log (other records) than the one verified: its
    // checkpoint is not consistent with the saved prefix.
    std::fs::write(&state, &good).expect("write state");
    let other = node_with_records(250, 10);
    let o = audit(&other, &state, Some(&admin), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("FAILED gulou: the node's log is not the one verified before"),
        "{out}"
    );
    assert!(out.contains("not consistent"), "{out}");
}

#[test]
fn withheld_entries_are_named_in_the_verdict() {
    let node = node_with_records(300, 9);
    let dir = tempfile::tempdir().expect("temp dir");
    let state = state_file(&dir);
    let o = audit(&node, &state, None, &[]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("INCOMPLETE gulou: 300 entries, root "),
        "{out}"
    );
    assert!(out.contains("matches its checkpoint of size 300"), "{out}");
    assert!(
        out.contains("were withheld from this reader and are NOT verified"),
        "{out}"
    );
    assert!(out.contains("seqs "), "{out}");
    assert!(out.contains("--token-file"), "{out}");
}
