//! Every bad input gets a clear answer and leaves the log unchanged:
//! whole-request errors as 4xx `{"error": {"code", "message"}}`, bad records
//! as `rejected` entries of a 200 answer.

use rongxin_tests::client::{ndjson, statuses};
use rongxin_tests::{Client, Federation, LogHead, Records, TestNode};
use serde_json::{Value, json};

/// gulou with small limits: 4 KiB bodies, 5 records per request.
fn small_gulou() -> (Federation, TestNode, Records) {
    let fed = Federation::new();
    let node = fed
        .config("gulou")
        .set("max_body_bytes", 4096)
        .set("max_records_per_request", 5)
        .start();
    let records = Records::new(&fed);
    (fed, node, records)
}

/// The log head, also as the public checkpoint note.
fn head(c: &Client) -> (LogHead, String) {
    (c.own_log(), c.checkpoint_note("gulou"))
}

const NDJSON: Option<&str> = Some("application/x-ndjson");
const JSON: Option<&str> = Some("application/json");

#[test]
fn whole_request_errors_are_4xx_and_write_nothing() {
    let (fed, node, records) = small_gulou();
    let c = node.client();
    let token = fed.token("gulou");
    c.submit_accepted(&token, &[records.record("gulou", "CF")]);
    let before = head(c);
    let post =
        |token: Option<&str>, ct: Option<&str>, body: &[u8]| c.post("/v1/records", token, ct, body);
    let good = records.record("gulou", "CF");
    let good_line = good.to_string();
    let t = Some(token.as_str());

    // Malformed JSON array: the message gives line and column.
    let msg = post(
        t,
        JSON,
        format!("[{good_line},\n{{\"kind\": \"CF\",]").as_bytes(),
    )
    .expect_error(400, "bad_request");
    assert!(msg.contains("line 2") && msg.contains("column"), "{msg}");

    // Malformed JSON Lines: the good first line is not signed either.
    let msg = post(
        t,
        NDJSON,
        format!("{good_line}\n\n{{\"kind\": \"CF\"\n").as_bytes(),
    )
    .expect_error(400, "bad_request");
    assert!(msg.contains("line 3") && msg.contains("column"), "{msg}");

    // Empty and blank bodies.
    post(t, NDJSON, b"").expect_error(400, "bad_request");
    post(t, NDJSON, b" \n\n  \n").expect_error(400, "bad_request");
    // Not UTF-8.
    post(t, NDJSON, b"{\"kind\": \"\xff\xfe\"}\n").expect_error(400, "bad_request");

    // Over max_body_bytes (4096): 10 KiB.
    let mut big = Vec::new();
    while big.len() < 10 * 1024 {
        big.extend_from_slice(good_line.as_bytes());
        big.push(b'\n');
    }
    let msg = post(t, NDJSON, &big).expect_error(413, "payload_too_large");
    assert!(msg.contains("max_body_bytes"), "{msg}");

    // Over max_records_per_request (5), even though the body is small.
    let msg = post(t, NDJSON, b"{}\n{}\n{}\n{}\n{}\n{}\n").expect_error(413, "payload_too_large");
    assert!(msg.contains("max_records_per_request"), "{msg}");
    post(t, JSON, b"[{},{},{},{},{},{}]").expect_error(413, "payload_too_large");

    // Tokens: missing, unknown, malformed header.
    let body = ndjson(std::slice::from_ref(&good));
    post(None, NDJSON, &body).expect_error(401, "unauthorized");
    post(Some("wrong-token"), NDJSON, &body).expect_error(401, "unauthorized");
    c.post("/v1/records", Some(""), NDJSON, &body)
        .expect_error(401, "unauthorized");

    // Content types other than JSON, JSON Lines or plain text.
    for ct in ["application/xml", "text/csv", "multipart/form-data"] {
        let msg = post(t, Some(ct), &body).expect_error(415, "unsupported_media_type");
        assert!(msg.contains(ct), "{msg}");
    }

    // Unknown endpoints answer in the same error shape.
    c.get("/v1/nothing-here", None)
        .expect_error(404, "not_found");

    assert_eq!(head(c), before, "a refused request changed the log");

    // The accepted forms all work: array, JSON Lines, text/plain, charset.
    for (ct, body) in [
        (
            JSON,
            serde_json::to_vec(&[records.record("gulou", "CF")]).unwrap(),
        ),
        (NDJSON, ndjson(&[records.record("gulou", "XK")])),
        (Some("text/plain"), ndjson(&[records.record("gulou", "XK")])),
        (
            Some("application/json; charset=utf-8"),
            serde_json::to_vec(&[records.record("gulou", "CF")]).unwrap(),
        ),
    ] {
        let v = post(t, ct, &body).ok_json();
        assert_eq!(v["accepted"], 1, "{ct:?}: {v:#}");
    }
    assert_eq!(c.own_log().size, before.0.size + 4);
}

/// Sends one record; asserts it is rejected with an error on `field` whose
/// problem contains `needle`; returns the answer.
fn rejected(c: &Client, token: &str, record: &Value, field: &str, needle: &str) -> Value {
    let answer = c.submit(token, std::slice::from_ref(record));
    assert_eq!(statuses(&answer), vec!["rejected"], "{answer:#}");
    assert_eq!(answer["accepted"], 0);
    assert_eq!(answer["rejected"], 1);
    let errors = answer["results"][0]["errors"]
        .as_array()
        .expect("errors list");
    assert!(
        errors
            .iter()
            .any(|e| e["field"] == field && e["problem"].as_str().unwrap_or("").contains(needle)),
        "expected an error on {field} containing {needle:?}: {answer:#}"
    );
    answer
}

#[test]
fn bad_records_are_rejected_one_by_one_and_codes_are_normalised() {
    let (fed, node, records) = small_gulou();
    let c = node.client();
    let token = fed.token("gulou");
    c.submit_accepted(&token, &[records.record("gulou", "CF")]);
    let before = head(c);
    let good = records.record("gulou", "CF");

    // Wrong field types.
    let mut r = good.clone();
    r["decision_date"] = json!(20260301);
    rejected(c, &token, &r, "decision_date", "expected a string");
    let mut r = good.clone();
    let text = records.text_field("CF");
    r["fields"][&text] = json!(42);
    rejected(c, &token, &r, &format!("fields.{text}"), "");
    let mut r = good.clone();
    r["subject"] = json!("91350100757384472D");
    rejected(c, &token, &r, "subject", "expected an object");
    let mut r = good.clone();
    r["decision_date"] = json!("2026-02-30");
    rejected(c, &token, &r, "decision_date", "");
    let mut r = good.clone();
    r["subject"]["class"] = json!("company");
    rejected(c, &token, &r, "subject.class", "legal_person");
    rejected(c, &token, &json!(42), "record", "expected a JSON object");

    // Invalid codes: a wrong check character, an excluded letter.
    let code = good["subject"]["code"].as_str().unwrap().to_owned();
    let last = code.chars().last().unwrap();
    let wrong = if last == '0' { '1' } else { '0' };
    let mut r = good.clone();
    r["subject"]["code"] = json!(format!("{}{wrong}", &code[..17]));
    rejected(c, &token, &r, "subject.code", &format!("expected '{last}'"));
    let mut r = good.clone();
    r["subject"]["code"] = json!(format!("{}I{}", &code[..10], &code[11..]));
    rejected(c, &token, &r, "subject.code", "position 11");
    let mut r = good.clone();
    let auth = good["authority"]["code"].as_str().unwrap();
    r["authority"]["code"] = json!(format!("{}O{}", &auth[..9], &auth[10..]));
    rejected(c, &token, &r, "authority.code", "position 10");
    let mut r = good.clone();
    r["subject"]["code"] = json!(&code[..17]);
    rejected(c, &token, &r, "subject.code", "length");

    // Unknown kind, unknown top-level key, missing required field.
    let mut r = good.clone();
    r["kind"] = json!("ZZ");
    rejected(c, &token, &r, "kind", "not in catalog");
    let mut r = good.clone();
    r["colour"] = json!("red");
    rejected(c, &token, &r, "colour", "unknown key");
    let mut r = good.clone();
    r["fields"].as_object_mut().unwrap().remove(&text);
    rejected(c, &token, &r, &format!("fields.{text}"), "");
    let mut r = good.clone();
    r["fields"]["NO_SUCH_FIELD"] = json!("x");
    rejected(c, &token, &r, "fields.NO_SUCH_FIELD", "");
    let mut r = good.clone();
    r.as_object_mut().unwrap().remove("record_no");
    rejected(c, &token, &r, "record_no", "missing");

    assert_eq!(head(c), before, "a rejected record changed the log");

    // One bad record never blocks the others.
    let mut bad = good.clone();
    bad["kind"] = json!("ZZ");
    let other = records.record("gulou", "XK");
    let answer = c.submit(&token, &[bad, good.clone(), other]);
    assert_eq!(
        statuses(&answer),
        vec!["rejected", "accepted", "accepted"],
        "{answer:#}"
    );
    assert_eq!(answer["results"][0]["index"], 0);
    assert_eq!(answer["checkpoint"]["size"], before.0.size + 2);

    // Lower case codes are normalised, not rejected: the same record in
    // lower case is a duplicate, and a new one is signed in upper case.
    let mut lower = good.clone();
    lower["subject"]["code"] = json!(code.to_ascii_lowercase());
    lower["authority"]["code"] = json!(auth.to_ascii_lowercase());
    let answer = c.submit(&token, &[lower]);
    assert_eq!(statuses(&answer), vec!["duplicate"], "{answer:#}");

    let subject = std::iter::repeat_with(|| records.legal_person("gulou"))
        .find(|s| s.code.chars().any(|ch| ch.is_ascii_uppercase()))
        .unwrap();
    let mut fresh = records.about("gulou", "CF", &subject);
    let fresh_code = subject.code.clone();
    fresh["subject"]["code"] = json!(format!("  {}", fresh_code.to_ascii_lowercase()));
    let answer = c.submit(&token, &[fresh]);
    assert_eq!(statuses(&answer), vec!["accepted"], "{answer:#}");
    let seq = answer["results"][0]["seq"].as_u64().unwrap();
    let p = c.profile(&fresh_code, None, "normalised").ok_json();
    assert_eq!(p["records"]["CF"][0]["seq"], seq);
    assert_eq!(
        p["records"]["CF"][0]["record"]["subject"]["code"],
        fresh_code.as_str()
    );
    let log = crate::verify_own_log(&node);
    assert_eq!(log.put_at(seq).unwrap().subject.code, fresh_code);
}

#[test]
fn a_refused_upload_still_gets_its_answer() {
    // The node refuses a bad token or content type before reading the body;
    // the client must still get the 401/415 answer (not a broken pipe) and
    // its next request on the same client must work.
    let (fed, node, records) = crate::gulou();
    let c = node.client();
    let body = ndjson(&records.batch("gulou", 2000));
    assert!(body.len() > 512 * 1024, "{} bytes", body.len());
    let token = fed.token("gulou");
    for round in 0..3 {
        let r = c
            .try_post("/v1/records", Some("wrong-token"), NDJSON, &body)
            .unwrap_or_else(|e| panic!("round {round}: no 401 answer, but: {e}"));
        r.expect_error(401, "unauthorized");
        let r = c
            .try_post("/v1/records", Some(&token), Some("text/csv"), &body)
            .unwrap_or_else(|e| panic!("round {round}: no 415 answer, but: {e}"));
        r.expect_error(415, "unsupported_media_type");
        let r = c
            .try_post("/v1/records", Some(&fed.token("agency")), NDJSON, &body)
            .unwrap_or_else(|e| panic!("round {round}: no 403 answer, but: {e}"));
        r.expect_error(403, "forbidden");
        let r = c
            .try_submit(&token, &[records.record("gulou", "CF")])
            .unwrap_or_else(|e| panic!("round {round}: request after a refusal failed: {e}"));
        assert_eq!(r.ok_json()["accepted"], 1);
    }
    assert_eq!(c.own_log().size, 3);
}
