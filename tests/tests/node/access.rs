//! Who may submit what (ownership, token rights) and who sees what (public
//! attributes, masking), with every query in the query log.

use rongxin_tests::client::statuses;
use rongxin_tests::{Federation, Records};
use serde_json::Value;

use crate::gulou;

#[test]
fn ownership_and_token_rights_are_enforced() {
    let fed = Federation::new();
    let gulou = fed.start("gulou");
    let taijiang = fed.start("taijiang");
    let records = Records::new(&fed);
    let gulou_token = fed.token("gulou");
    let c = gulou.client();

    // A record of taijiang's jurisdiction sent to gulou: rejected, naming
    // the owner; the good record next to it is accepted.
    let theirs = records.record("taijiang", "CF");
    let ours = records.record("gulou", "CF");
    let answer = c.submit(&gulou_token, &[theirs.clone(), ours]);
    assert_eq!(
        statuses(&answer),
        vec!["rejected", "accepted"],
        "{answer:#}"
    );
    let err = &answer["results"][0]["errors"][0];
    assert_eq!(err["field"], "jurisdiction");
    let problem = err["problem"].as_str().unwrap();
    assert!(
        problem.contains("taijiang") && problem.contains("350103"),
        "{problem}"
    );

    // A jurisdiction no member owns.
    let mut nowhere = records.record("gulou", "CF");
    nowhere["jurisdiction"] = "350199".into();
    let answer = c.submit(&gulou_token, &[nowhere]);
    assert_eq!(statuses(&answer), vec!["rejected"]);
    assert!(
        answer["results"][0]["errors"][0]["problem"]
            .as_str()
            .unwrap()
            .contains("no member"),
        "{answer:#}"
    );

    // gulou's token means nothing to taijiang's node, even for taijiang's records.
    let t = taijiang.client();
    let r = t
        .try_submit(&gulou_token, std::slice::from_ref(&theirs))
        .unwrap();
    r.expect_error(401, "unauthorized");
    // taijiang's own token is fine there.
    t.submit_accepted(&fed.token("taijiang"), &[theirs]);

    // Agency, government and admin tokens may not submit.
    for who in ["agency", "government", "admin"] {
        let r = c
            .try_submit(&fed.token(who), &[records.record("gulou", "CF")])
            .unwrap();
        r.expect_error(403, "forbidden");
    }
    assert_eq!(c.own_log().size, 1);
    assert_eq!(t.own_log().size, 1);
}

/// The query-log entry whose purpose is `purpose`.
fn logged(entries: &[Value], purpose: &str) -> Value {
    let found: Vec<&Value> = entries.iter().filter(|e| e["purpose"] == purpose).collect();
    assert_eq!(found.len(), 1, "one query logged with purpose {purpose}");
    found[0].clone()
}

/// (origin, seq) pairs from a list of `{"origin", "seq", …}` objects, sorted.
fn pairs<'a>(list: impl Iterator<Item = &'a Value>) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = list
        .map(|r| {
            (
                r["origin"].as_str().expect("origin").to_owned(),
                r["seq"].as_u64().expect("seq"),
            )
        })
        .collect();
    out.sort();
    out
}

/// The (origin, seq) pairs a profile shows.
fn shown(profile: &Value) -> Vec<(String, u64)> {
    let lists = profile["records"].as_object().expect("records object");
    pairs(
        lists
            .values()
            .flat_map(|l| l.as_array().expect("record list")),
    )
}

/// The (origin, seq) pairs a query-log entry says were returned.
fn returned(entry: &Value) -> Vec<(String, u64)> {
    pairs(entry["returned"].as_array().expect("returned list").iter())
}

#[test]
fn access_rules_masking_and_the_query_log() {
    let (fed, node, records) = gulou();
    let c = node.client();
    let firm = records.legal_person("gulou");
    let public = records.about("gulou", "CF", &firm);
    let conditional = records.about("gulou", "GJJQJ", &firm);
    let restricted = records.about("gulou", "FXFL", &firm);
    let person = records.natural_person("gulou");
    let honour = records.about("gulou", "DDMF", &person);
    c.submit_accepted(
        &fed.token("gulou"),
        &[public, conditional, restricted, honour],
    );
    let agency = fed.token("agency");
    let government = fed.token("government");

    // Anonymous: 公开 only.
    let p = c.profile(&firm.code, None, "anon-firm").ok_json();
    assert_eq!(p["access"], "public");
    assert_eq!(p["subject"], firm.code.as_str());
    let kinds: Vec<&String> = p["records"].as_object().unwrap().keys().collect();
    assert_eq!(kinds, ["CF"]);
    assert_eq!(p["hidden"]["not_authorised"], 2);
    assert_eq!(p["records"]["CF"][0]["public"], "public");

    // Agency: 有条件公开 too.
    let p = c
        .profile(&firm.code, Some(&agency), "agency-firm")
        .ok_json();
    assert_eq!(p["access"], "conditional");
    let kinds: Vec<&String> = p["records"].as_object().unwrap().keys().collect();
    assert_eq!(kinds, ["CF", "GJJQJ"]);
    assert_eq!(p["hidden"]["not_authorised"], 1);

    // Government sharing: 不予公开 too.
    let p = c
        .profile(&firm.code, Some(&government), "gov-firm")
        .ok_json();
    assert_eq!(p["access"], "government");
    let kinds: Vec<&String> = p["records"].as_object().unwrap().keys().collect();
    assert_eq!(kinds, ["CF", "FXFL", "GJJQJ"]);
    assert_eq!(p["hidden"]["not_authorised"], 0);

    // A natural person: the ID number is masked for the public, in the
    // profile's subject and in the record; agencies see it whole.
    let masked = format!("{}********{}", &person.code[..6], &person.code[14..]);
    assert_eq!(masked.len(), 18);
    let p = c.profile(&person.code, None, "anon-person").ok_json();
    assert_eq!(p["subject"], masked.as_str());
    assert_eq!(
        p["records"]["DDMF"][0]["record"]["subject"]["code"],
        masked.as_str()
    );
    assert!(!p.to_string().contains(&person.code), "{p:#}");
    let p = c
        .profile(&person.code, Some(&agency), "agency-person")
        .ok_json();
    assert_eq!(p["subject"], person.code.as_str());
    assert_eq!(
        p["records"]["DDMF"][0]["record"]["subject"]["code"],
        person.code.as_str()
    );
    // Lower case input finds the same subject.
    let p = c
        .profile(&person.code.to_ascii_lowercase(), Some(&agency), "lower")
        .ok_json();
    assert_eq!(p["subject"], person.code.as_str());

    // A subject with nothing on file, and a code that is not a code.
    let nobody = records.legal_person("gulou");
    let p = c.profile(&nobody.code, None, "nobody").ok_json();
    assert_eq!(p["records"].as_object().map(|o| o.len()), Some(0));
    let mut bad = firm.code.clone();
    bad.pop();
    bad.push(if firm.code.ends_with('0') { '1' } else { '0' });
    c.profile(&bad, None, "bad-code")
        .expect_error(400, "bad_request");

    // Every query is in the query log: who, subject, purpose, what was returned.
    let admin = fed.token("admin");
    let log = c
        .get("/v1/admin/query-log?limit=100", Some(&admin))
        .ok_json();
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 7, "{log:#}");
    let ids: Vec<&str> = entries
        .iter()
        .map(|e| e["query_id"].as_str().unwrap())
        .collect();
    let mut newest_first = ids.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, newest_first, "query log is newest first");

    let e = logged(entries, "anon-firm");
    assert_eq!(e["who"], "anonymous");
    assert_eq!(e["subject"], firm.code.as_str());
    assert_eq!(e["access"], "public");
    assert_eq!(returned(&e), vec![("gulou".to_owned(), 0)]);
    let e = logged(entries, "agency-firm");
    assert_eq!(e["who"], "agency:示例授权查询机构");
    assert_eq!(returned(&e), vec![("gulou".into(), 0), ("gulou".into(), 1)]);
    let e = logged(entries, "gov-firm");
    assert_eq!(e["who"], "agency:示例政务共享部门");
    assert_eq!(e["access"], "government");
    assert_eq!(returned(&e).len(), 3);
    let e = logged(entries, "anon-person");
    assert_eq!(e["subject"], person.code.as_str());
    assert_eq!(returned(&e), vec![("gulou".to_owned(), 3)]);
    let e = logged(entries, "nobody");
    assert_eq!(returned(&e), vec![]);

    // Each logged query returned exactly what its answer showed.
    let p = c
        .profile(&firm.code, Some(&agency), "check-returned")
        .ok_json();
    let log = c.get("/v1/admin/query-log?limit=1", Some(&admin)).ok_json();
    let newest = &log["entries"][0];
    assert_eq!(newest["purpose"], "check-returned");
    assert_eq!(newest["query_id"], p["query_id"]);
    assert_eq!(returned(newest), shown(&p));

    // Paging: `before` gives the older ones.
    let before = newest["query_id"].as_str().unwrap();
    let older = c
        .get(
            &format!("/v1/admin/query-log?limit=100&before={before}"),
            Some(&admin),
        )
        .ok_json();
    assert_eq!(older["entries"].as_array().unwrap().len(), 7);

    // The query log is for the admin only.
    c.get("/v1/admin/query-log", None)
        .expect_error(401, "unauthorized");
    c.get("/v1/admin/query-log", Some(&agency))
        .expect_error(403, "forbidden");
    c.get("/v1/admin/query-log", Some("not-a-token"))
        .expect_error(401, "unauthorized");
}
