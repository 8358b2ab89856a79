//! The red and black lists (红黑榜): derived from list kinds, filtered by
//! category, without revoked records, paged, personal IDs masked.

use rongxin_tests::client::encode_query;
use rongxin_tests::records::key_of;
use serde_json::Value;

use crate::gulou;

fn kinds(list: &Value) -> Vec<String> {
    let mut k: Vec<String> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["kind"].as_str().expect("kind").to_owned())
        .collect();
    k.sort();
    k
}

#[test]
fn lists_follow_list_kinds_categories_and_revocation() {
    let (fed, node, records) = gulou();
    let c = node.client();
    let token = fed.token("gulou");
    let black = vec![
        records.record("gulou", "SXBZXR"),
        records.record("gulou", "SSWF"),
    ];
    let red = vec![
        records.record("gulou", "WMDW"),
        records.record("gulou", "DDMF"),
    ];
    let neither = vec![records.record("gulou", "CF"), records.record("gulou", "XK")];
    for batch in [&black, &red, &neither] {
        assert_eq!(c.submit(&token, batch)["accepted"], batch.len());
    }

    let b = c.get("/v1/lists/black", None).ok_json();
    assert_eq!(kinds(&b), vec!["SSWF", "SXBZXR"], "{b:#}");
    assert_eq!(b["next_page"], Value::Null);
    let r = c.get("/v1/lists/red", None).ok_json();
    assert_eq!(kinds(&r), vec!["DDMF", "WMDW"], "{r:#}");
    // 道德模范 are natural persons: their ID numbers are masked.
    let ddmf = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "DDMF")
        .unwrap();
    let code = ddmf["subject"]["code"].as_str().unwrap();
    assert!(code.contains("********"), "masked: {code}");

    let court = c
        .get(
            &format!("/v1/lists/black?category={}", encode_query("司法")),
            None,
        )
        .ok_json();
    assert_eq!(kinds(&court), vec!["SXBZXR"], "{court:#}");
    let none = c
        .get(
            &format!("/v1/lists/black?category={}", encode_query("文明单位")),
            None,
        )
        .ok_json();
    assert_eq!(kinds(&none), Vec::<String>::new());

    // Credit repair takes a record off the list.
    let reply = c.revoke(&token, &key_of(&black[0]), "repair", "榕鼓信修〔2026〕1号");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let b = c.get("/v1/lists/black", None).ok_json();
    assert_eq!(kinds(&b), vec!["SSWF"], "{b:#}");

    c.get("/v1/lists/grey", None).expect_error(404, "not_found");
}

#[test]
fn lists_are_paged() {
    let (fed, node, records) = gulou();
    let c = node.client();
    let token = fed.token("gulou");
    let batch: Vec<Value> = (0..130).map(|_| records.record("gulou", "SSWF")).collect();
    assert_eq!(c.submit(&token, &batch)["accepted"], 130);
    let p0 = c.get("/v1/lists/black?page=0", None).ok_json();
    assert_eq!(p0["items"].as_array().unwrap().len(), 100);
    assert_eq!(p0["next_page"], 1);
    let p1 = c.get("/v1/lists/black?page=1", None).ok_json();
    assert_eq!(p1["items"].as_array().unwrap().len(), 30);
    assert_eq!(p1["next_page"], Value::Null);
    let seqs = |p: &Value| -> Vec<u64> {
        p["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["seq"].as_u64().unwrap())
            .collect()
    };
    let mut all = seqs(&p0);
    all.extend(seqs(&p1));
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 130, "every record exactly once across pages");
}

#[test]
fn list_pages_past_the_last_are_refused_not_wrapped() {
    let (fed, node, records) = gulou();
    let c = node.client();
    c.submit_accepted(&fed.token("gulou"), &[records.record("gulou", "SSWF")]);
    // page * 100 overflowed and wrapped to an early index before.
    for page in ["184467440737095517", "100000"] {
        let m = c
            .get(&format!("/v1/lists/black?page={page}"), None)
            .expect_error(400, "bad_request");
        assert!(m.contains("0..=99999"), "{m}");
    }
    let last = c.get("/v1/lists/black?page=99999", None).ok_json();
    assert_eq!(last["items"].as_array().map(Vec::len), Some(0));
    assert_eq!(last["next_page"], Value::Null);
    c.get("/v1/lists/black?page=-1", None)
        .expect_error(400, "bad_request");
}
