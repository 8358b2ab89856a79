//! `rongxinctl sample`, `submit`, `objection` and `repair` against a real node.

use std::process::{Command, Output};

use rongxin_tests::bins;
use rongxin_tests::federation::Federation;
use rongxin_tests::node::TestNode;

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

/// Submits each file with `rongxinctl submit` to `node` (gulou of `fed`)
/// and checks that every record of it was accepted.
fn submit_whole(fed: &Federation, node: &TestNode, files: [(&str, &String); 2]) {
    let token = fed.dir().join("tokens/gulou.token");
    let catalog = fed.dir().join("catalog.toml");
    for (name, body) in files {
        let f = node.scratch_file(name, body);
        let o = ctl(&[
            "submit",
            "--node",
            node.client().base(),
            "--token-file",
            token.to_str().expect("a UTF-8 path"),
            "--catalog",
            catalog.to_str().expect("a UTF-8 path"),
            f.to_str().expect("a UTF-8 path"),
        ]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", text(&o));
        assert!(text(&o).contains(" 0 rejected"), "{name}: {}", text(&o));
    }
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

#[test]
fn objections_and_repairs_go_through_rongxinctl() {
    let (fed, node, records) = gulou();
    let dir = fed.dir();
    let token = dir.join("tokens/gulou.token").to_str().unwrap().to_owned();
    let url = node.client().base().to_owned();
    let mut old = records.record("gulou", "CF");
    let decided = time::OffsetDateTime::now_utc().date() - time::Duration::days(200);
    old["decision_date"] = serde_json::json!(decided.to_string());
    let seqs = node.client().submit_accepted(
        &fed.token("gulou"),
        &[records.record("gulou", "CF"), old.clone()],
    );
    let conn = ["--node", url.as_str(), "--token-file", token.as_str()];
    let run = |args: &[&str]| {
        let all: Vec<&str> = args.iter().chain(conn.iter()).copied().collect();
        let o = ctl(&all);
        assert!(o.status.success(), "rongxinctl {args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };

    let record = format!("gulou/{}", seqs[0]);
    let out = run(&[
        "objection",
        "file",
        "--record",
        &record,
        "--ground",
        "wrong",
        "--statement",
        "决定日期有误",
        "--id",
        "ctl-obj-1",
    ]);
    assert!(out.contains("objection ctl-obj-1 received"), "{out}");
    assert!(out.contains("decided by gulou"), "{out}");
    rongxin_tests::wait_for("registered", std::time::Duration::from_secs(30), || {
        run(&["objection", "list"])
            .contains("ctl-obj-1")
            .then_some(())
    });
    let shown = run(&["objection", "show", "ctl-obj-1"]);
    let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(v["state"], "open");
    assert!(run(&["objection", "list", "--overdue"]).contains("0 objection(s)"));
    let out = run(&[
        "objection",
        "resolve",
        "ctl-obj-1",
        "--outcome",
        "rejected",
        "--explanation",
        "日期无误",
    ]);
    assert!(out.contains("ctl-obj-1 rejected at seq"), "{out}");

    // A bad record reference is a clear error, before anything is sent.
    let all: Vec<&str> = [
        "objection",
        "file",
        "--record",
        "gulou-7",
        "--ground",
        "wrong",
        "--statement",
        "x",
    ]
    .into_iter()
    .chain(conn)
    .collect();
    let o = ctl(&all);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("write origin/seq"), "{}", text(&o));

    // By its record key this time.
    let record = rongxin_tests::records::key_text(&old);
    let out = run(&[
        "repair",
        "apply",
        "--record",
        &record,
        "--statement",
        "已整改",
        "--commitment",
        "承诺书〔2026〕1号",
        "--id",
        "ctl-xf-1",
    ]);
    assert!(
        out.contains("repair application ctl-xf-1 received"),
        "{out}"
    );
    rongxin_tests::wait_for("registered", std::time::Duration::from_secs(30), || {
        run(&["repair", "list"]).contains("ctl-xf-1").then_some(())
    });
    let out = run(&[
        "repair",
        "decide",
        "ctl-xf-1",
        "--outcome",
        "granted",
        "--explanation",
        "符合条件",
    ]);
    assert!(
        out.contains("granted at seq") && out.contains("record revoked at seq"),
        "{out}"
    );
    let v: serde_json::Value = serde_json::from_str(&run(&["repair", "show", "ctl-xf-1"])).unwrap();
    assert_eq!(v["state"], "granted");
}

/// `GET /v1/export/double-publicity`: the licensing and penalty records
/// public now, in the standard's columns. An export submitted with
/// `rongxinctl submit` to a fresh node is accepted whole, and that node
/// exports the same bytes.
#[test]
fn double_publicity_exports_round_trip_through_a_fresh_node() {
    let (fed, node, _) = gulou();
    let dir = fed.dir();
    let path = |p: &str| dir.join(p).to_str().unwrap().to_owned();
    let file = node.scratch_file("sample.jsonl", "");
    let o = ctl(&[
        "sample",
        "--count",
        "600",
        "--origin",
        "gulou",
        "--seed",
        "13",
        "--catalog",
        &path("catalog.toml"),
        "--roster",
        &path("roster.signed"),
        "--root",
        &path("root.pub"),
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let url = node.client().base().to_owned();
    let token = path("tokens/gulou.token");
    let o = ctl(&[
        "submit",
        "--node",
        &url,
        "--token-file",
        &token,
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let admin = fed.token("admin");
    let export = |client: &rongxin_tests::client::Client, kind: &str| -> String {
        let r = client.get(
            &format!("/v1/export/double-publicity?kind={kind}&purpose=portal"),
            Some(&admin),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    };
    let xk = export(node.client(), "XK");
    let cf = export(node.client(), "CF");
    let rows = |csv: &str, kind: &str| {
        csv.lines()
            .skip(1)
            .filter(|l| l.ends_with(&format!(",{kind}")))
            .count()
    };
    assert!(xk.starts_with("XK_XDR_MC,XK_XDR_LB,XK_XDR_SHXYM,"), "{xk}");
    assert!(rows(&xk, "XK") > 50, "{xk}");
    for kind in ["CF", "CF_YZ"] {
        assert!(rows(&cf, kind) > 0, "no {kind} row: {cf}");
    }
    // Anonymous callers get the same rows with personal ID numbers masked.
    let public = node
        .client()
        .get("/v1/export/double-publicity?kind=CF", None)
        .body;
    assert_eq!(public.lines().count(), cf.lines().count());
    assert!(public.contains("********"), "{public}");
    // JSON Lines: the same columns, and each record's window.
    let jsonl = node
        .client()
        .get(
            "/v1/export/double-publicity?kind=XK&format=jsonl",
            Some(&admin),
        )
        .body;
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(first["publicity"]["tier"], "none", "{first}");
    assert!(first["XK_WSH"].is_string(), "{first}");
    // A bad request names the problem.
    let r = node.client().get("/v1/export/double-publicity", None);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("kind is required"), "{}", r.body);
    let r = node
        .client()
        .get("/v1/export/double-publicity?kind=SXBZXR", None);
    assert_eq!(r.status, 400, "{}", r.body);

    // A fresh node takes the files whole and gives back the same export.
    let fresh = Federation::new();
    let other = fresh.start("gulou");
    submit_whole(&fresh, &other, [("xk.csv", &xk), ("cf.csv", &cf)]);
    assert_eq!(export(other.client(), "XK"), xk);
    assert_eq!(export(other.client(), "CF"), cf);

    // The JSON Lines export, records in the standard's columns, loads the
    // same way: through the tool into another fresh node, which then
    // exports the same CSV files.
    let jsonl = |kind: &str| -> String {
        let r = node.client().get(
            &format!("/v1/export/double-publicity?kind={kind}&format=jsonl&purpose=portal"),
            Some(&admin),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    };
    let (xk_lines, cf_lines) = (jsonl("XK"), jsonl("CF"));
    let third = Federation::new();
    let json_node = third.start("gulou");
    submit_whole(
        &third,
        &json_node,
        [("xk.jsonl", &xk_lines), ("cf.jsonl", &cf_lines)],
    );
    assert_eq!(export(json_node.client(), "XK"), xk);
    assert_eq!(export(json_node.client(), "CF"), cf);

    // Posted straight to POST /v1/records as JSON, a record in the
    // standard's columns maps to the very record the CSV file gave (the
    // node says duplicate); a value that is neither text, a number nor
    // null is refused, naming its column.
    let token = fresh.token("gulou");
    let first = cf_lines.lines().next().unwrap();
    // The answer to `first` posted with `key` set to `value` (as it is
    // without one).
    let post = |change: Option<(&str, serde_json::Value)>| {
        let mut record: serde_json::Value = serde_json::from_str(first).unwrap();
        if let Some((key, value)) = change {
            record[key] = value;
        }
        let body = record.to_string();
        other
            .client()
            .post(
                "/v1/records",
                Some(&token),
                Some("application/json"),
                body.as_bytes(),
            )
            .ok_json()
    };
    let answer = post(None);
    assert_eq!(answer["results"][0]["status"], "duplicate", "{answer:#}");
    let answer = post(Some(("CF_NR", serde_json::json!(["罚款"]))));
    let result = &answer["results"][0];
    assert_eq!(result["status"], "rejected", "{answer:#}");
    assert_eq!(result["errors"][0]["column"], "CF_NR", "{answer:#}");
    // A value the record's check refuses names its key too.
    let answer = post(Some(("CF_CFJGDM", serde_json::json!("11350102MB0123456X"))));
    let error = &answer["results"][0]["errors"][0];
    assert_eq!(error["field"], "authority.code", "{answer:#}");
    assert_eq!(error["column"], "CF_CFJGDM", "{answer:#}");
}
