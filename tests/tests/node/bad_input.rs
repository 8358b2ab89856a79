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

    // Content types other than JSON, JSON Lines, plain text or CSV
    // (tests/tests/node/csv_ingest.rs).
    for ct in ["application/xml", "text/html", "multipart/form-data"] {
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
    // Without its subject, a record of the ingest format is still read as
    // one (not as a record in the standard's columns), and told so.
    let mut r = good.clone();
    r.as_object_mut().unwrap().remove("subject");
    rejected(c, &token, &r, "subject.code", "missing");

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
            .try_post("/v1/records", Some(&token), Some("application/xml"), &body)
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

/// The node's peak resident memory so far (`VmHWM`), in KiB.
fn peak_rss_kib(node: &TestNode) -> u64 {
    let pid = node.pid().expect("the node runs");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read its status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in {status}"))
}

/// Most the node's peak memory may grow over a run of junk bodies of up to
/// 16 MiB (the default max_body_bytes): the body itself, its split into
/// record slices, one record parsed at a time and the capped answer. The
/// whole-body parse this replaces peaked at about 300 MB over the baseline
/// on such bodies, and error echoing at several GB.
const JUNK_PEAK_BOUND_MIB: u64 = 64;

/// A JSON array of `n`-byte strings `piece(i)` filling about `size` bytes.
fn filled(size: usize, open: &str, close: &str, piece: impl Fn(usize) -> String) -> Vec<u8> {
    let mut body = open.as_bytes().to_vec();
    let mut i = 0;
    while body.len() + close.len() + 64 < size {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(piece(i).as_bytes());
        i += 1;
    }
    body.extend_from_slice(close.as_bytes());
    body
}

#[test]
fn junk_bodies_are_answered_quickly_in_bounded_memory() {
    let (fed, node, records) = crate::gulou();
    let c = node.client();
    let token = fed.token("gulou");
    let t = Some(token.as_str());
    c.submit_accepted(&token, &[records.record("gulou", "CF")]);
    let before = head(c);
    let baseline = peak_rss_kib(&node);
    const MIB: usize = 1024 * 1024;
    let size = 16 * MIB - 1024;

    let timed = |what: &str, ct: Option<&str>, body: &[u8]| {
        let start = std::time::Instant::now();
        let reply = c.post("/v1/records", t, ct, body);
        let took = start.elapsed();
        eprintln!(
            "{what}: {} bytes -> {} in {took:?}, answer {} bytes, node peak {} MiB over baseline",
            body.len(),
            reply.status,
            reply.body.len(),
            peak_rss_kib(&node).saturating_sub(baseline) / 1024
        );
        assert!(
            took < std::time::Duration::from_secs(60),
            "{what} took {took:?}"
        );
        reply
    };

    // Millions of tiny records: refused for their count, before any is read.
    let msg = timed(
        "array of {}",
        JSON,
        &filled(size, "[", "]", |_| "{}".into()),
    )
    .expect_error(413, "payload_too_large");
    assert!(msg.contains("max_records_per_request"), "{msg}");
    let msg = timed("array of 0", JSON, &filled(size, "[", "]", |_| "0".into()))
        .expect_error(413, "payload_too_large");
    assert!(msg.contains("max_records_per_request"), "{msg}");
    let lines = "{}\n".repeat(size / 3);
    let msg = timed("lines of {}", NDJSON, lines.as_bytes()).expect_error(413, "payload_too_large");
    assert!(msg.contains("max_records_per_request"), "{msg}");
    // Nested 8 million levels deep: one record, refused for its size.
    let depth = size / 2 - 1;
    let deep = format!("[{}{}]", "[".repeat(depth - 1), "]".repeat(depth - 1));
    let v = timed("deep nesting", JSON, deep.as_bytes()).ok_json();
    assert_eq!(statuses(&v), ["rejected"], "{v:#}");
    assert!(v.to_string().contains("bytes of JSON"), "{v:#}");
    // One record of a million unknown keys: refused for its size.
    let keys = filled(size, "[{", "}]", |i| format!("\"k{i}\":0"));
    let v = timed("one record of junk keys", JSON, &keys).ok_json();
    assert_eq!(v["results"][0]["errors"][0]["field"], "record", "{v:#}");

    // Records just under the size limit, of unknown fields: each is read,
    // and its ten thousands of unknown keys cost a few errors.
    let good = records.record("gulou", "CF");
    let mut junk_record = good.clone();
    let fields = junk_record["fields"].as_object_mut().expect("fields");
    for i in 0..14_000 {
        fields.insert(format!("JUNK_{i:06}"), json!(0));
    }
    let junk_line = junk_record.to_string();
    assert!(junk_line.len() < 256 * 1024, "{}", junk_line.len());
    let n = size / (junk_line.len() + 1);
    let body = ndjson(&vec![junk_record; n]);
    let v = timed("records of unknown fields", NDJSON, &body).ok_json();
    assert_eq!(v["rejected"], n);
    assert_capped(&v);
    let first = v["results"][0]["errors"].to_string();
    assert!(first.contains("13995 more unknown keys"), "{first}");

    // Ten thousand records of nothing but unknown keys: close to two
    // million problems in all.
    let junk: serde_json::Map<String, Value> =
        (0..180).map(|i| (format!("k{i:03}"), json!(0))).collect();
    let body = ndjson(&vec![Value::Object(junk); 10_000]);
    assert!(body.len() < size, "{}", body.len());
    let v = timed("10,000 records of unknown keys", NDJSON, &body).ok_json();
    assert_eq!(v["rejected"], 10_000);
    assert_capped(&v);
    let answer = v.to_string().len();
    assert!(answer < 4 * MIB, "{answer} bytes");

    let grown = peak_rss_kib(&node).saturating_sub(baseline) / 1024;
    assert!(
        grown < JUNK_PEAK_BOUND_MIB,
        "the node's peak memory grew by {grown} MiB on junk bodies (bound {JUNK_PEAK_BOUND_MIB} MiB)"
    );
    assert_eq!(head(c), before, "junk changed the log");
    c.submit_accepted(&token, &[good]);
}

/// Asserts the error lists of an answer are capped: every rejected record
/// lists 1 to 10 errors and counts the rest, at most 1,000 are listed in all
/// beyond one per record, and every message is cut to its limit.
fn assert_capped(v: &Value) {
    let results = v["results"].as_array().expect("results");
    let mut listed = 0;
    for r in results {
        let errors = r["errors"].as_array().expect("errors");
        assert!((1..=10).contains(&errors.len()), "{r:#}");
        assert!(r["errors_omitted"].as_u64().is_some(), "{r:#}");
        for e in errors {
            let problem = e["problem"].as_str().expect("problem");
            assert!(!problem.is_empty() && problem.chars().count() <= 300, "{e}");
            assert!(
                e["field"].as_str().expect("field").chars().count() <= 100,
                "{e}"
            );
        }
        listed += errors.len();
    }
    assert!(listed <= 1000 + results.len(), "{listed} errors listed");
}

#[test]
fn implausible_records_are_refused_naming_the_field() {
    let (fed, node, records) = crate::gulou();
    let c = node.client();
    let token = fed.token("gulou");
    c.submit_accepted(&token, &[records.record("gulou", "CF")]);
    let before = head(c);
    let good = records.record("gulou", "CF");
    let text = records.text_field("CF");
    let with = |path: &[&str], to: Value| {
        let mut r = good.clone();
        match path {
            [a] => r[*a] = to,
            [a, b] => r[*a][*b] = to,
            _ => unreachable!("paths of one or two keys"),
        }
        r
    };

    // Control characters: none in names and numbers, only tab and line
    // breaks in free text.
    let r = with(&["fields", &text], json!("经营场所\u{7}未公示"));
    rejected(c, &token, &r, &format!("fields.{text}"), "U+0007");
    let r = with(&["subject", "name"], json!("福州\u{1b}[2J某公司"));
    rejected(c, &token, &r, "subject.name", "U+001B");
    let r = with(&["record_no"], json!("榕鼓\u{85}罚"));
    rejected(c, &token, &r, "record_no", "U+0085");
    // Dates: the decision between 1949-10-01 and tomorrow, other dates
    // until 2099-12-31.
    for d in ["0001-01-01", "1900-01-01", "9999-12-31", "2999-01-01"] {
        let r = with(&["decision_date"], json!(d));
        rejected(c, &token, &r, "decision_date", d);
    }
    for d in ["0001-01-01", "9999-12-31"] {
        let r = with(&["fields", "CF_YXQ"], json!(d));
        rejected(c, &token, &r, "fields.CF_YXQ", "2099-12-31");
    }
    // Amounts are never negative.
    let r = with(&["fields", "CF_NR_FK"], json!("-0.2"));
    rejected(c, &token, &r, "fields.CF_NR_FK", "negative");
    // Empty required values say which field and what is expected.
    let r = with(&["decision_date"], json!(""));
    rejected(c, &token, &r, "decision_date", "YYYY-MM-DD");
    let r = with(&["subject", "class"], json!(""));
    rejected(c, &token, &r, "subject.class", "legal_person");

    assert_eq!(head(c), before, "an implausible record changed the log");

    // What real exports hold is signed: paragraphs and tabs in free text,
    // long-term validity, a zero fine, a decision of today.
    let mut r = with(
        &["fields", &text],
        json!("一、未公示许可证；\r\n二、\t未建立台账。"),
    );
    r["fields"]["CF_YXQ"] = json!("2099-12-31");
    r["fields"]["CF_NR_FK"] = json!("0");
    let answer = c.submit(&token, &[r]);
    assert_eq!(statuses(&answer), ["accepted"], "{answer:#}");
}

#[test]
fn revoke_body_errors_are_bounded_and_in_the_error_shape() {
    let (fed, node, records) = crate::gulou();
    let c = node.client();
    let token = fed.token("gulou");
    let t = Some(token.as_str());
    let good = records.record("gulou", "CF");
    c.submit_accepted(&token, std::slice::from_ref(&good));
    let before = head(c);
    let key = json!({
        "kind": "CF",
        "jurisdiction": good["jurisdiction"],
        "authority_code": good["authority"]["code"],
        "record_no": good["record_no"],
    });
    let revoke = |ct: Option<&str>, body: &[u8]| c.post("/v1/records/revoke", t, ct, body);

    revoke(JSON, b"{\"key\": ").expect_error(400, "bad_request");
    revoke(Some("text/csv"), b"key,reason").expect_error(415, "unsupported_media_type");
    // An unknown key of 50,000 characters is not echoed whole.
    let long = format!(
        "{{\"{}\": 1, \"key\": {key}, \"reason\": \"repair\", \"basis\": \"x\"}}",
        "k".repeat(50_000)
    );
    let msg = revoke(JSON, long.as_bytes()).expect_error(400, "bad_request");
    assert!(
        msg.chars().count() <= 300,
        "{} characters",
        msg.chars().count()
    );
    // A revoke request is a few KiB: 64 KiB is plenty.
    let big = format!(
        "{{\"key\": {key}, \"reason\": \"repair\", \"basis\": \"{}\"}}",
        "x".repeat(70 * 1024)
    );
    let msg = revoke(JSON, big.as_bytes()).expect_error(413, "payload_too_large");
    assert!(msg.contains("65536"), "{msg}");
    // The basis names a document, on one line.
    let r = c.revoke(&token, &key, "repair", "榕鼓信修\u{7}〔2026〕3号");
    let msg = r.expect_error(400, "bad_request");
    assert!(msg.contains("U+0007"), "{msg}");

    assert_eq!(head(c), before, "a refused revoke changed the log");
    let v = c
        .revoke(&token, &key, "repair", "榕鼓信修〔2026〕3号")
        .ok_json();
    assert_eq!(v["status"], "accepted", "{v:#}");
}
