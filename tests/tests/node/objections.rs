//! Objections at one node, the origin of the record: filing, every refusal
//! of bad input (nothing stored), the 异议中 state in profiles and lists,
//! resolution (rejected, upheld with a correction, upheld with a revoke),
//! and the signed entries in the log.

use std::time::Duration;

use rongxin_protocol::entry::{ObjectionOutcome, Op, RevokeReason};
use rongxin_tests::client::Client;
use rongxin_tests::{TestNode, wait_for};
use serde_json::{Value, json};

use crate::{gulou, verify_own_log};

fn file(c: &Client, token: Option<&str>, body: &Value) -> rongxin_tests::client::Reply {
    c.post(
        "/v1/objections",
        token,
        Some("application/json"),
        body.to_string().as_bytes(),
    )
}

fn resolve(c: &Client, token: &str, id: &str, body: &Value) -> rongxin_tests::client::Reply {
    c.post(
        &format!("/v1/objections/{id}/resolve"),
        Some(token),
        Some("application/json"),
        body.to_string().as_bytes(),
    )
}

/// Waits until the objection `id` is in `state` at `node`; returns its view.
fn wait_state(node: &TestNode, token: &str, id: &str, state: &str) -> Value {
    wait_for(
        &format!("objection {id} {state} at {}", node.member()),
        Duration::from_secs(30),
        || {
            let r = node
                .client()
                .get(&format!("/v1/objections/{id}"), Some(token));
            let v = r.json();
            (r.status == 200 && v["state"] == state).then_some(v)
        },
    )
}

#[test]
fn objections_are_filed_checked_shown_and_resolved_at_the_origin() {
    let (fed, node, records) = gulou();
    let c = node.client();
    let token = fed.token("gulou");
    let admin = fed.token("admin");
    let recs: Vec<Value> = (0..3).map(|_| records.record("gulou", "CF")).collect();
    let seqs = c.submit_accepted(&token, &recs);
    let code = recs[0]["subject"]["code"].as_str().unwrap().to_owned();
    let size = c.own_log().size;

    // Every refusal: a clear 4xx naming the problem, nothing stored.
    let good = json!({"record": {"origin": "gulou", "seq": seqs[0]}, "ground": "wrong",
        "statement": "处罚决定书文号与原件不符"});
    let msg = file(c, None, &good).expect_error(401, "unauthorized");
    assert!(msg.contains("Bearer"), "{msg}");
    let msg = file(c, Some(&fed.token("monitor")), &good).expect_error(403, "forbidden");
    assert!(msg.contains("department or agency"), "{msg}");
    let mut blank = good.clone();
    blank["statement"] = json!("   ");
    let msg = file(c, Some(&token), &blank).expect_error(400, "bad_request");
    assert!(msg.contains("statement is blank"), "{msg}");
    let mut unknown = good.clone();
    unknown["record"]["seq"] = json!(999_999);
    let msg = file(c, Some(&token), &unknown).expect_error(404, "not_found");
    assert!(msg.contains("gulou/999999"), "{msg}");
    let mut stranger = good.clone();
    stranger["record"]["origin"] = json!("nowhere");
    let msg = file(c, Some(&token), &stranger).expect_error(404, "not_found");
    assert!(msg.contains("not a member"), "{msg}");
    let mut ground = good.clone();
    ground["ground"] = json!("dislike");
    let msg = file(c, Some(&token), &ground).expect_error(400, "bad_request");
    assert!(msg.contains("ground") || msg.contains("dislike"), "{msg}");
    let mut bad_id = good.clone();
    bad_id["id"] = json!("has space");
    let msg = file(c, Some(&token), &bad_id).expect_error(400, "bad_request");
    assert!(msg.contains("objection id"), "{msg}");
    let mut bad_attachment = good.clone();
    bad_attachment["attachments"] = json!(["not a digest"]);
    let msg = file(c, Some(&token), &bad_attachment).expect_error(400, "bad_request");
    assert!(msg.contains("attachment"), "{msg}");
    // A new version makes the old seq not current.
    let field = records.text_field("CF");
    let mut v2 = recs[2].clone();
    v2["fields"][&field] = json!("第二版");
    let v2_seq = c.submit_accepted(&token, std::slice::from_ref(&v2))[0];
    let mut old = good.clone();
    old["record"]["seq"] = json!(seqs[2]);
    let msg = file(c, Some(&token), &old).expect_error(409, "conflict");
    assert!(msg.contains(&format!("gulou/{v2_seq}")), "{msg}");
    assert_eq!(c.own_log().size, size + 1, "refusals signed nothing");
    let list = c.get("/v1/objections?state=all", Some(&admin)).ok_json();
    assert_eq!(list["objections"], json!([]), "refusals stored nothing");

    // Filed: 202 with a receipt; filing again with the same id and content
    // answers the same receipt; other content under the id is refused.
    let mut with_id = good.clone();
    with_id["id"] = json!("gl-obj-1");
    with_id["attachments"] =
        json!(["sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]);
    let r = file(c, Some(&token), &with_id);
    assert_eq!(r.status, 202, "{}", r.body);
    let receipt = r.json();
    assert_eq!(receipt["id"], "gl-obj-1");
    assert_eq!(receipt["origin"], "gulou");
    let number = receipt["receipt"].as_str().unwrap().to_owned();
    assert!(
        number.starts_with("gulou-") && number.ends_with("-0001"),
        "{number}"
    );
    let again = file(c, Some(&token), &with_id);
    assert_eq!(again.status, 202, "{}", again.body);
    assert_eq!(again.json()["receipt"], number.as_str());
    let mut other = with_id.clone();
    other["statement"] = json!("另一份陈述");
    let msg = file(c, Some(&token), &other).expect_error(409, "conflict");
    assert!(msg.contains("gl-obj-1"), "{msg}");

    // The origin registers it (ObjectionFiled) by itself; the record is
    // under objection (异议中) in the profile and the due date is shown.
    let view = wait_state(&node, &token, "gl-obj-1", "open");
    assert_eq!(view["receipt"], number.as_str());
    assert_eq!(view["received_by"], "gulou");
    assert_eq!(view["overdue"], false);
    assert!(
        view["statement"]
            .as_str()
            .unwrap()
            .contains("sha256:9f86d0"),
        "attachments are signed with the statement: {view:#}"
    );
    let due = view["due"].as_str().unwrap().to_owned();
    let filed_seq = view["filed_seq"].as_u64().unwrap();
    let p = c.profile(&code, None, "objection test").ok_json();
    let shown = &p["records"]["CF"][0];
    assert_eq!(shown["state"], "disputed", "{p:#}");
    assert_eq!(shown["objections"][0]["id"], "gl-obj-1");
    assert_eq!(shown["objections"][0]["state"], "open");
    assert_eq!(shown["objections"][0]["due"], due.as_str());
    let open = c.get("/v1/objections?state=open", Some(&token)).ok_json();
    assert_eq!(open["objections"].as_array().unwrap().len(), 1, "{open:#}");
    assert_eq!(
        c.get("/v1/objections?state=overdue", Some(&token))
            .ok_json()["objections"],
        json!([])
    );
    let metrics = c.get("/metrics", Some(&admin)).body;
    assert!(
        metrics.contains("rongxin_objections_open{origin=\"gulou\"} 1"),
        "{metrics}"
    );
    // Anonymous callers do not read statements.
    c.get("/v1/objections", None)
        .expect_error(401, "unauthorized");
    c.get("/v1/objections?state=late", Some(&admin))
        .expect_error(400, "bad_request");

    // Resolutions: checked before anything is signed.
    let before = c.own_log().size;
    let msg = resolve(
        c,
        &token,
        "gl-obj-1",
        &json!({"outcome": "rejected", "explanation": " "}),
    )
    .expect_error(400, "bad_request");
    assert!(msg.contains("explanation"), "{msg}");
    let msg = resolve(
        c,
        &token,
        "gl-obj-1",
        &json!({"outcome": "rejected", "explanation": "核实无误", "revoke": true}),
    )
    .expect_error(400, "bad_request");
    assert!(msg.contains("rejected"), "{msg}");
    let msg = resolve(
        c,
        &token,
        "no-such",
        &json!({"outcome": "rejected", "explanation": "x"}),
    )
    .expect_error(404, "not_found");
    assert!(msg.contains("no-such"), "{msg}");
    let mut other_record = recs[1].clone();
    other_record["fields"][&field] = json!("更正");
    let msg = resolve(
        c,
        &token,
        "gl-obj-1",
        &json!({"outcome": "upheld", "explanation": "更正", "correction": other_record}),
    )
    .expect_error(409, "conflict");
    assert!(msg.contains("same record's next version"), "{msg}");
    assert_eq!(
        c.own_log().size,
        before,
        "refused resolutions signed nothing"
    );

    // Upheld with a correction: the new version and the resolution in one
    // commit; the record is no longer disputed.
    let mut corrected = recs[0].clone();
    corrected["fields"][&field] = json!("依异议更正后的内容");
    let r = resolve(
        c,
        &token,
        "gl-obj-1",
        &json!({"outcome": "upheld", "explanation": "文号已更正", "correction": corrected}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let answer = r.json();
    assert_eq!(answer["state"], "upheld");
    let correction_seq = answer["correction_seq"].as_u64().unwrap();
    assert_eq!(answer["seq"].as_u64().unwrap(), correction_seq + 1);
    let msg = resolve(
        c,
        &token,
        "gl-obj-1",
        &json!({"outcome": "rejected", "explanation": "x"}),
    )
    .expect_error(409, "conflict");
    assert!(msg.contains("already resolved"), "{msg}");
    let p = c.profile(&code, None, "objection test").ok_json();
    let shown = &p["records"]["CF"][0];
    assert_eq!(shown["state"], "published", "{p:#}");
    assert_eq!(shown["seq"], correction_seq);
    assert!(shown.get("objections").is_none(), "{p:#}");

    // Upheld with a revoke: the record leaves publication. (Named by its
    // record key this time.)
    let r = file(
        c,
        Some(&token),
        &json!({"record": {"key": rongxin_tests::records::key_of(&recs[1])},
            "ground": "should_not_be_public", "statement": "该处罚已被行政复议撤销"}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let id2 = r.json()["id"].as_str().unwrap().to_owned();
    assert!(id2.ends_with("-0002"), "the node numbers receipts: {id2}");
    wait_state(&node, &token, &id2, "open");
    let r = resolve(
        c,
        &admin,
        &id2,
        &json!({"outcome": "upheld", "explanation": "复议决定撤销原处罚", "revoke": true}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let code2 = recs[1]["subject"]["code"].as_str().unwrap();
    let p = c.profile(code2, None, "objection test").ok_json();
    assert!(p["records"].get("CF").is_none(), "{p:#}");
    assert_eq!(p["hidden"]["revoked"], 1, "{p:#}");

    // The log holds exactly what was signed, and verifies end to end.
    let log = verify_own_log(&node);
    let ops: Vec<&Op> = log.entries.iter().map(|e| &e.op).collect();
    let filed: Vec<_> = ops
        .iter()
        .filter_map(|op| match op {
            Op::ObjectionFiled(o) => Some(o),
            _ => None,
        })
        .collect();
    assert_eq!(filed.len(), 2, "each objection registered once");
    assert_eq!(filed[0].id, "gl-obj-1");
    assert_eq!(filed[0].due.to_string(), due);
    assert!(matches!(
        &log.entries[filed_seq as usize].op,
        Op::ObjectionFiled(_)
    ));
    let resolved: Vec<_> = ops
        .iter()
        .filter_map(|op| match op {
            Op::ObjectionResolved(o) => Some(o.outcome),
            _ => None,
        })
        .collect();
    assert_eq!(
        resolved,
        vec![ObjectionOutcome::Upheld, ObjectionOutcome::Upheld]
    );
    assert!(ops.iter().any(|op| matches!(op,
        Op::Revoke(r) if r.reason == RevokeReason::ObjectionUpheld && r.basis == id2)));
    let all = c.get("/v1/objections?state=upheld", Some(&admin)).ok_json();
    assert_eq!(all["objections"].as_array().unwrap().len(), 2, "{all:#}");
}

/// The China (UTC+8) date `days` before today, as `YYYY-MM-DD`.
fn days_ago(days: i64) -> String {
    let now = time::OffsetDateTime::now_utc()
        .to_offset(time::UtcOffset::from_hms(8, 0, 0).expect("UTC+8"));
    (now.date() - time::Duration::days(days)).to_string()
}

#[test]
fn repair_is_refused_within_the_minimum_period_and_granted_after_it() {
    let (fed, node, records) = gulou();
    let c = node.client();
    let token = fed.token("gulou");
    let admin = fed.token("admin");
    // 一般 penalties (CF): public at least 3 months, at most 1 year, from
    // the decision date. One decided 20 days ago, one 200 days ago.
    let mut recent = records.record("gulou", "CF");
    recent["decision_date"] = json!(days_ago(20));
    let mut older = records.record("gulou", "CF");
    older["decision_date"] = json!(days_ago(200));
    let licence = records.record("gulou", "XK");
    let seqs = c.submit_accepted(&token, &[recent.clone(), older.clone(), licence]);
    let size = c.own_log().size;
    let apply = |seq: u64, id: Option<&str>| {
        let mut body = json!({"record": {"origin": "gulou", "seq": seq},
            "statement": "已全额缴纳罚款并完成整改", "commitment": "XYCN/350102/承诺书〔2026〕7号"});
        if let Some(id) = id {
            body["id"] = json!(id);
        }
        c.post(
            "/v1/repairs",
            Some(&token),
            Some("application/json"),
            body.to_string().as_bytes(),
        )
    };

    // Too early: refused with the first date it may be filed; a licence
    // is never repaired. Nothing stored, nothing signed.
    let msg = apply(seqs[0], None).expect_error(422, "not_repairable");
    assert!(msg.contains("may be applied for from"), "{msg}");
    let msg = apply(seqs[2], None).expect_error(422, "not_repairable");
    assert!(msg.contains("not repaired"), "{msg}");
    let mut blank = json!({"record": {"origin": "gulou", "seq": seqs[1]}, "statement": "x",
        "commitment": " "});
    let msg = c
        .post(
            "/v1/repairs",
            Some(&token),
            Some("application/json"),
            blank.to_string().as_bytes(),
        )
        .expect_error(400, "bad_request");
    assert!(msg.contains("commitment"), "{msg}");
    blank["commitment"] = json!("line one\nline two");
    c.post(
        "/v1/repairs",
        Some(&token),
        Some("application/json"),
        blank.to_string().as_bytes(),
    )
    .expect_error(400, "bad_request");
    assert_eq!(c.own_log().size, size);
    assert_eq!(
        c.get("/v1/repairs?state=all", Some(&admin)).ok_json()["repairs"],
        json!([])
    );

    // Past the minimum: registered by the origin, open with a due date
    // 3 working days on; decided once; the record leaves publication.
    let r = apply(seqs[1], Some("xf-1"));
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["state"], "received");
    let view = wait_for(
        "the application registered",
        Duration::from_secs(30),
        || {
            let v = c.get("/v1/repairs/xf-1", Some(&token)).json();
            (v["state"] == "open").then_some(v)
        },
    );
    assert_eq!(view["commitment"], "XYCN/350102/承诺书〔2026〕7号");
    assert_eq!(view["overdue"], false);
    let open = c.get("/v1/repairs?state=open", Some(&admin)).ok_json();
    assert_eq!(open["repairs"].as_array().unwrap().len(), 1, "{open:#}");
    let metrics = c.get("/metrics", Some(&admin)).body;
    assert!(
        metrics.contains("rongxin_repairs_open{origin=\"gulou\"} 1"),
        "{metrics}"
    );
    let decide = |id: &str, body: Value| {
        c.post(
            &format!("/v1/repairs/{id}/decide"),
            Some(&token),
            Some("application/json"),
            body.to_string().as_bytes(),
        )
    };
    decide("xf-1", json!({"outcome": "granted", "explanation": ""}))
        .expect_error(400, "bad_request");
    decide("nope", json!({"outcome": "granted", "explanation": "x"}))
        .expect_error(404, "not_found");
    let r = decide(
        "xf-1",
        json!({"outcome": "granted", "explanation": "榕鼓信修〔2026〕3号：符合修复条件"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let answer = r.json();
    assert_eq!(answer["state"], "granted");
    let revoke_seq = answer["revoke_seq"].as_u64().unwrap();
    decide("xf-1", json!({"outcome": "rejected", "explanation": "x"}))
        .expect_error(409, "conflict");
    let code = older["subject"]["code"].as_str().unwrap();
    let p = c.profile(code, None, "repair test").ok_json();
    assert!(p["records"].get("CF").is_none(), "{p:#}");
    assert_eq!(p["hidden"]["revoked"], 1, "{p:#}");
    // A revoked record takes no further application.
    let msg = apply(seqs[1], None).expect_error(409, "conflict");
    assert!(msg.contains("revoked"), "{msg}");

    let log = verify_own_log(&node);
    match &log.entries[revoke_seq as usize].op {
        Op::Revoke(r) => {
            assert_eq!(r.reason, RevokeReason::Repair);
            assert_eq!(r.basis, "xf-1");
        }
        other => panic!("expected the repair revocation, got {other:?}"),
    }
    assert!(matches!(&log.entries[revoke_seq as usize + 1].op,
        Op::RepairDecided(d) if d.id == "xf-1"));
    let filed = log
        .entries
        .iter()
        .filter(|e| matches!(&e.op, Op::RepairFiled(_)))
        .count();
    assert_eq!(filed, 1);
}

#[test]
fn a_records_own_publicity_end_date_ends_publicity_earlier_never_later() {
    let (fed, node, records) = gulou();
    let c = node.client();
    let token = fed.token("gulou");
    // 一般 penalties (CF) are public for at most 1 year from the decision.
    let decided = days_ago(30);
    let mut ended = records.record("gulou", "CF");
    ended["decision_date"] = json!(decided);
    ended["fields"]["CF_GSJZQ"] = json!(days_ago(1));
    let mut later = records.record("gulou", "CF");
    later["decision_date"] = json!(decided);
    later["fields"]["CF_GSJZQ"] = json!(days_ago(-800));
    let mut plain = records.record("gulou", "CF");
    plain["decision_date"] = json!(decided);
    c.submit_accepted(&token, &[ended.clone(), later.clone(), plain.clone()]);

    let profile = |r: &Value| {
        c.profile(
            r["subject"]["code"].as_str().unwrap(),
            None,
            "publicity test",
        )
        .ok_json()
    };
    let p = profile(&ended);
    assert!(p["records"].get("CF").is_none(), "ended yesterday: {p:#}");
    assert_eq!(p["hidden"]["expired"], 1, "{p:#}");
    let max = profile(&plain)["records"]["CF"][0]["publicity_until"].clone();
    assert!(max.is_string());
    let p = profile(&later);
    assert_eq!(
        p["records"]["CF"][0]["publicity_until"], max,
        "a later date does not extend the maximum: {p:#}"
    );
    // Every record carries its tier and window: a general penalty is
    // public from its decision date for one year.
    let expected_until = {
        let d: rongxin_protocol::value::Date = decided.parse().unwrap();
        d.add(1, 0, 0).unwrap().to_string()
    };
    assert_eq!(
        profile(&plain)["records"]["CF"][0]["publicity"],
        json!({"tier": "general", "from": decided, "until": expected_until})
    );
    assert_eq!(p["records"]["CF"][0]["publicity"]["until"], max, "{p:#}");
    // A licence has no tier and no fixed end.
    let licence = records.record("gulou", "XK");
    c.submit_accepted(&token, std::slice::from_ref(&licence));
    let p = profile(&licence);
    assert_eq!(
        p["records"]["XK"][0]["publicity"],
        json!({"tier": "none", "from": licence["decision_date"], "until": null}),
        "{p:#}"
    );
    // A serious penalty: three years.
    let mut serious = records.record("gulou", "CF_YZ");
    serious["decision_date"] = json!(decided);
    c.submit_accepted(&token, std::slice::from_ref(&serious));
    let p = profile(&serious);
    let d: rongxin_protocol::value::Date = decided.parse().unwrap();
    assert_eq!(
        p["records"]["CF_YZ"][0]["publicity"],
        json!({"tier": "serious", "from": decided, "until": d.add(3, 0, 0).unwrap().to_string()}),
        "{p:#}"
    );
}
