//! `rongxinctl sample` and `rongxinctl submit` against a real node.

use std::process::{Command, Output};

use rongxin_tests::bins;

use crate::{gulou, verify_own_log};

fn ctl(args: &[&str]) -> Output {
    Command::new(bins::ctl())
        .args(args)
        .output()
        .expect("run rongxinctl")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn sample_records_submitted_with_rongxinctl_are_all_accepted() {
    let (fed, node, _) = gulou();
    let dir = fed.dir();
    let path = |p: &str| dir.join(p).to_str().unwrap().to_owned();
    let file = node.scratch_file("sample.jsonl", "");
    let file = file.to_str().unwrap();
    // submit reads its file twice (it counts records first), so the sample
    // goes through a file rather than a pipe.
    let o = ctl(&[
        "sample",
        "--count",
        "2000",
        "--origin",
        "gulou",
        "--seed",
        "7",
        "--catalog",
        &path("catalog.toml"),
        "--roster",
        &path("roster.signed"),
        "--root",
        &path("root.pub"),
        "--out",
        file,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let lines = std::fs::read_to_string(file).unwrap();
    assert_eq!(lines.lines().count(), 2000);

    let url = node.client().base().to_owned();
    let token = path("tokens/gulou.token");
    let o = ctl(&["submit", "--node", &url, "--token-file", &token, file]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(node.client().own_log().size, 2000, "{}", text(&o));
    let log = verify_own_log(&node);
    assert_eq!(log.put_keys().len(), 2000);

    // Submitting the same file again changes nothing.
    let o = ctl(&["submit", "--node", &url, "--token-file", &token, file]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(node.client().own_log().size, 2000);
}
