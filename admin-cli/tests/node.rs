//! `rongxinctl` against a real `rongxin-node` (the gulou member of the
//! example federation, on loopback, with a fresh data directory): sample →
//! submit → duplicates and rejections → query → status → bundle → audit
//! verify. The node binary is built once per test process with the same
//! cargo profile and target directory, so it is never stale.

mod common;

use common::{ADMIN_TOKEN, DEPT_TOKEN, Node, ctl, show, workspace};
use serde_json::{Value, json};

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
