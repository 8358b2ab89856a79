//! An objection filed at one district about another district's record,
//! while the record's origin is down and with the receiving node killed
//! (`kill -9`) between receipt and routing, comes through exactly once
//! when the origin is back, shows as under objection (异议中) on every
//! node, and its resolution by the origin reaches every node; a
//! credit-repair application filed there is routed, granted and applied
//! everywhere the same way.

use std::time::Duration;

use rongxin_protocol::entry::Op;
use rongxin_tests::converge::held_of;
use rongxin_tests::fednode::FedNode;
use rongxin_tests::generate::GenFed;
use rongxin_tests::wait_for;
use serde_json::{Value, json};

use crate::DEADLINE;

fn view(node: &FedNode, token: &str, id: &str) -> Option<Value> {
    let r = node
        .client()
        .try_get(&format!("/v1/objections/{id}"), Some(token))
        .ok()?;
    (r.status == 200).then(|| r.json())
}

fn wait_state(node: &FedNode, token: &str, id: &str, state: &str) -> Value {
    wait_for(
        &format!("objection {id} {state} at {}", node.member()),
        DEADLINE,
        || view(node, token, id).filter(|v| v["state"] == state),
    )
}

#[test]
fn cases_reach_their_origin_once_through_outages_and_their_decisions_everywhere() {
    let fed = GenFed::builder(&["city", "gulou", "taijiang"]).build();
    let mut nodes = fed.start_all(&["city", "gulou", "taijiang"]);
    let [city, gulou, taijiang] = &mut nodes[..] else {
        unreachable!()
    };
    let admin = fed.admin_token().to_owned();
    let record = fed.records().record("gulou", "CF");
    let code = record["subject"]["code"].as_str().unwrap().to_owned();
    // A penalty decided 200 days ago: past its 3-month minimum, repairable.
    let mut old = fed.records().record("gulou", "CF");
    let decided = time::OffsetDateTime::now_utc().date() - time::Duration::days(200);
    old["decision_date"] = json!(decided.to_string());
    let old_code = old["subject"]["code"].as_str().unwrap().to_owned();
    let seqs = gulou.submit(fed.token("gulou"), &[record.clone(), old]);
    let (seq, old_seq) = (seqs[0], seqs[1]);
    wait_for("taijiang holding gulou's records", DEADLINE, || {
        (held_of(taijiang, "gulou").size > old_seq).then_some(())
    });

    // gulou is down when the subject files at taijiang's window.
    gulou.stop_clean();
    let size = old_seq + 1;
    let body = json!({"record": {"origin": "gulou", "seq": seq}, "ground": "differs_from_decision",
        "statement": "公示的罚款金额与处罚决定书不一致"});
    let r = taijiang.client().post(
        "/v1/objections",
        Some(fed.token("taijiang")),
        Some("application/json"),
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let receipt = r.json();
    let id = receipt["id"].as_str().unwrap().to_owned();
    assert_eq!(receipt["state"], "received");
    assert_eq!(receipt["origin"], "gulou");
    // Received, not yet registered: the routing error says why.
    let v = wait_for("a routing attempt", DEADLINE, || {
        view(taijiang, &admin, &id).filter(|v| v.get("routing").is_some())
    });
    assert_eq!(v["state"], "received", "{v:#}");
    assert!(v["routing"].as_str().unwrap().contains("gulou"), "{v:#}");

    // The receiving node dies before it could route it; nothing is lost.
    taijiang.kill();
    taijiang.restart();
    assert_eq!(view(taijiang, &admin, &id).unwrap()["state"], "received");
    gulou.restart();

    // Registered once by gulou, replicated to every node, shown as 异议中.
    let at_origin = wait_state(gulou, &admin, &id, "open");
    assert_eq!(at_origin["received_by"], "taijiang");
    let filed_seq = at_origin["filed_seq"].as_u64().unwrap();
    assert_eq!(filed_seq, size);
    let due = at_origin["due"].clone();
    for node in [&*city, &*taijiang] {
        let v = wait_state(node, &admin, &id, "open");
        assert_eq!(v["due"], due, "every node computes the same due date");
        assert_eq!(v["filed_seq"], filed_seq);
        // The window knows of the registration from gulou's answer; the
        // profile shows it once gulou's entry has replicated there.
        let p = wait_for("the profile under objection", DEADLINE, || {
            let p = node
                .client()
                .profile(&code, None, "objection test")
                .ok_json();
            (p["records"]["CF"][0]["state"] == "disputed").then_some(p)
        });
        let shown = &p["records"]["CF"][0];
        assert_eq!(shown["objections"][0]["id"], id.as_str());
        assert_eq!(shown["objections"][0]["due"], due);
    }
    // Routing retried (and may retry once more after the answer was
    // lost): gulou signed it once.
    std::thread::sleep(Duration::from_secs(3));
    let log = fed.verify_log(city, "gulou");
    let filed = log
        .entries
        .iter()
        .filter(|e| matches!(&e.op, Op::ObjectionFiled(o) if o.id == id))
        .count();
    assert_eq!(filed, 1, "registered exactly once");
    assert_eq!(gulou.own_log().size, size + 1);

    // Only gulou resolves it.
    let resolution = json!({"outcome": "rejected", "explanation": "经核实，公示金额与决定书一致"});
    let r = taijiang.client().post(
        &format!("/v1/objections/{id}/resolve"),
        Some(&admin),
        Some("application/json"),
        resolution.to_string().as_bytes(),
    );
    let msg = r.expect_error(421, "not_origin");
    assert!(msg.contains("only gulou decides it"), "{msg}");
    let r = gulou.client().post(
        &format!("/v1/objections/{id}/resolve"),
        Some(fed.token("gulou")),
        Some("application/json"),
        resolution.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["state"], "rejected");

    // The resolution reaches every node; the record is published again.
    for node in [&*city, &*taijiang] {
        let v = wait_state(node, &admin, &id, "rejected");
        assert_eq!(
            v["resolution"]["explanation"],
            "经核实，公示金额与决定书一致"
        );
        wait_for("the profile published again", DEADLINE, || {
            let p = node
                .client()
                .profile(&code, None, "objection test")
                .ok_json();
            (p["records"]["CF"][0]["state"] == "published").then_some(())
        });
    }
    let at_window = view(taijiang, &admin, &id).unwrap();
    assert!(
        at_window["receipt"].is_string(),
        "the window keeps its receipt: {at_window:#}"
    );

    // A repair application filed at taijiang is routed the same way,
    // granted by gulou, and the record leaves publication everywhere.
    let body = json!({"record": {"origin": "gulou", "seq": old_seq},
        "statement": "已缴清罚款，整改完毕", "commitment": "信用承诺书〔2026〕12号"});
    let r = taijiang.client().post(
        "/v1/repairs",
        Some(fed.token("taijiang")),
        Some("application/json"),
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let rid = r.json()["id"].as_str().unwrap().to_owned();
    let registered = wait_for("the application registered at gulou", DEADLINE, || {
        let r = gulou
            .client()
            .try_get(&format!("/v1/repairs/{rid}"), Some(&admin))
            .ok()?;
        (r.status == 200 && r.json()["state"] == "open").then(|| r.json())
    });
    assert_eq!(registered["received_by"], "taijiang");
    let r = gulou.client().post(
        &format!("/v1/repairs/{rid}/decide"),
        Some(fed.token("gulou")),
        Some("application/json"),
        json!({"outcome": "granted", "explanation": "榕鼓信修〔2026〕9号"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    for node in [&*city, &*taijiang] {
        wait_for("the repair granted everywhere", DEADLINE, || {
            let r = node
                .client()
                .try_get(&format!("/v1/repairs/{rid}"), Some(&admin))
                .ok()?;
            (r.status == 200 && r.json()["state"] == "granted").then_some(())
        });
        let p = node
            .client()
            .profile(&old_code, None, "repair test")
            .ok_json();
        assert!(p["records"].get("CF").is_none(), "{} {p:#}", node.member());
        assert_eq!(p["hidden"]["revoked"], 1);
    }

    // Publication timeliness is measured from the same entries everywhere:
    // the city's view of gulou is gulou's own.
    let timeliness = |n: &FedNode| {
        n.client()
            .get("/v1/admin/timeliness?origin=gulou", Some(&admin))
            .ok_json()
    };
    let own = timeliness(gulou);
    assert!(
        own["rows"].as_array().is_some_and(|r| !r.is_empty()),
        "{own:#}"
    );
    assert_eq!(timeliness(city), own);
    assert_eq!(timeliness(taijiang), own);
}
