//! Who may submit what (ownership, token rights) and who sees what (public
//! attributes, masking), with every query in the query log.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rongxin_tests::client::statuses;
use rongxin_tests::records::key_of;
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
    assert_eq!(e["who"], "agency:示例授权查询机构 (token agency-0)");
    assert_eq!(returned(&e), vec![("gulou".into(), 0), ("gulou".into(), 1)]);
    let e = logged(entries, "gov-firm");
    assert_eq!(e["who"], "agency:示例政务共享部门 (token agency-1)");
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

/// How one reader fares on the content routes.
struct Reader {
    /// Name in assertions and the query log's purpose.
    name: &'static str,
    /// The token presented.
    token: Option<String>,
    /// The query log's `who` prefix, `None` when the token is refused.
    who: Option<&'static str>,
    /// The read access the role grants.
    level: u8,
}

const PUBLIC: u8 = 0;
const CONDITIONAL: u8 = 1;
const GOVERNMENT: u8 = 2;

/// What the matrix expects of one entry: its seq, the public attribute
/// of its record, and the least read level that gets its bytes.
struct Expect {
    seq: u64,
    attribute: &'static str,
    needs: u8,
}

fn level_name(l: u8) -> &'static str {
    ["public", "conditional", "government"][usize::from(l)]
}

/// Every route that carries record content (entries, bundles) × every role
/// × records of every public attribute: bytes only to roles that may see
/// them, the leaf hash otherwise, bundles refused with 401/403, and every
/// read of non-public bytes registered in the query log; expired and
/// unknown tokens are refused outright.
#[test]
fn content_routes_follow_role_and_public_attribute() {
    let fed = Federation::new();
    // Auditor and monitor from the example, plus a token that expired.
    let expired = "expired-token-of-the-access-test";
    let tokens = format!(
        "{}\n[[token]]\nid = \"old-auditor\"\nrole = \"auditor\"\nname = \"former auditor\"\nsha256 = \"{}\"\nexpires = \"2020-01-01T00:00:00+08:00\"\n",
        std::fs::read_to_string(fed.dir().join("tokens.toml")).expect("example tokens file"),
        rongxin_node::tokens::token_digest(expired)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    );
    let tokens_path = fed.dir().join("tokens-access-test.toml");
    std::fs::write(&tokens_path, tokens).expect("write the tokens file");
    let node = fed
        .config("gulou")
        .set("tokens_file", tokens_path.to_str().expect("utf-8 path"))
        .start();
    let records = Records::new(&fed);
    let c = node.client();
    let firm = records.legal_person("gulou");
    let person = records.natural_person("gulou");
    let public = records.about("gulou", "CF", &firm);
    let mut with_id = records.about("gulou", "CF", &firm);
    with_id["fields"]["FR_ZJHM"] = person.code.clone().into();
    let restricted = records.about("gulou", "FXFL", &firm);
    c.submit_accepted(
        &fed.token("gulou"),
        &[
            public.clone(),
            records.about("gulou", "GJJQJ", &firm),
            restricted.clone(),
            records.about("gulou", "DDMF", &person),
            with_id,
        ],
    );
    for (record, basis) in [
        (&public, "榕鼓信修〔2026〕7号"),
        (&restricted, "榕鼓信修〔2026〕8号"),
    ] {
        let r = c.revoke(&fed.token("gulou"), &key_of(record), "repair", basis);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let expect = [
        Expect {
            seq: 0,
            attribute: "public",
            needs: PUBLIC,
        },
        Expect {
            seq: 1,
            attribute: "conditional",
            needs: CONDITIONAL,
        },
        Expect {
            seq: 2,
            attribute: "restricted",
            needs: GOVERNMENT,
        },
        // A natural person's public record: its ID number is unmasked in the bytes.
        Expect {
            seq: 3,
            attribute: "public",
            needs: CONDITIONAL,
        },
        // A firm's public record naming its representative's ID number.
        Expect {
            seq: 4,
            attribute: "public",
            needs: CONDITIONAL,
        },
        // Revokes follow the revoked record's kind.
        Expect {
            seq: 5,
            attribute: "public",
            needs: PUBLIC,
        },
        Expect {
            seq: 6,
            attribute: "restricted",
            needs: GOVERNMENT,
        },
    ];
    let size = expect.len() as u64;
    // The true bytes, read as the federation's auditor.
    let truth = c.entries("gulou", 0, size);

    let readers = [
        Reader {
            name: "anonymous",
            token: None,
            who: Some("anonymous"),
            level: PUBLIC,
        },
        Reader {
            name: "department",
            token: Some(fed.token("gulou")),
            who: Some("department:"),
            level: PUBLIC,
        },
        Reader {
            name: "monitor",
            token: Some(fed.token("monitor")),
            who: Some("monitor:"),
            level: PUBLIC,
        },
        Reader {
            name: "agency",
            token: Some(fed.token("agency")),
            who: Some("agency:示例授权查询机构"),
            level: CONDITIONAL,
        },
        Reader {
            name: "government",
            token: Some(fed.token("government")),
            who: Some("agency:示例政务共享部门"),
            level: GOVERNMENT,
        },
        Reader {
            name: "auditor",
            token: Some(fed.token("auditor")),
            who: Some("auditor:示例联邦审计 (token auditor)"),
            level: GOVERNMENT,
        },
        Reader {
            name: "admin",
            token: Some(fed.token("admin")),
            who: Some("admin:"),
            level: GOVERNMENT,
        },
        Reader {
            name: "expired",
            token: Some(expired.to_owned()),
            who: None,
            level: PUBLIC,
        },
        Reader {
            name: "unknown",
            token: Some("no-such-token".to_owned()),
            who: None,
            level: PUBLIC,
        },
    ];
    let admin = fed.token("admin");
    for r in &readers {
        let token = r.token.as_deref();
        let entries_path = format!(
            "/v1/logs/gulou/entries?from=0&limit=100&purpose=entries-{}",
            r.name
        );
        let Some(who) = r.who else {
            // A token that is not (or no longer) valid is refused on every
            // content route, even for public records.
            let m = c
                .get(&entries_path, token)
                .expect_error(401, "unauthorized");
            assert!(
                m.contains("expired") || m.contains("not known"),
                "{}: {m}",
                r.name
            );
            for e in &expect {
                c.get(&format!("/v1/records/gulou/{}/bundle", e.seq), token)
                    .expect_error(401, "unauthorized");
            }
            continue;
        };
        let page = c.get(&entries_path, token).ok_json();
        assert_eq!(page["size"], size);
        assert_eq!(page["next"], Value::Null, "{}", r.name);
        assert_eq!(page["truncated"], false);
        let items = page["entries"].as_array().expect("entries");
        assert_eq!(items.len(), expect.len(), "{}: {page:#}", r.name);
        let mut registered = Vec::new();
        for (e, item) in expect.iter().zip(items) {
            assert_eq!(item["seq"], e.seq);
            let true_bytes = &truth[usize::try_from(e.seq).expect("small")];
            if r.level >= e.needs {
                let bytes = B64.decode(item["entry"].as_str().unwrap_or_else(|| {
                    panic!("{} should get the bytes of {}: {item}", r.name, e.seq)
                }));
                assert_eq!(bytes.as_deref(), Ok(true_bytes.bytes.as_slice()));
                if e.needs > PUBLIC {
                    registered.push(("gulou".to_owned(), e.seq));
                }
            } else {
                assert_eq!(
                    item.get("entry"),
                    None,
                    "{} got the bytes of {}",
                    r.name,
                    e.seq
                );
                assert_eq!(item.get("signature"), None);
                assert_eq!(item["withheld"], e.attribute, "{}: {item}", r.name);
                assert_eq!(item["needs"], level_name(e.needs));
                assert_eq!(
                    item["leaf_hash"].as_str(),
                    Some(
                        B64.encode(
                            true_bytes.leaf_hash(rongxin_protocol::suite::Suite::Ed25519Sha256)
                        )
                        .as_str()
                    ),
                    "the leaf hash of a withheld entry is the real one"
                );
            }
        }
        // Nothing unmasked reaches a public reader, in any encoding.
        if r.level == PUBLIC {
            let text = page.to_string();
            for seq in [3usize, 4] {
                assert!(!text.contains(&B64.encode(&truth[seq].bytes)), "{}", r.name);
            }
        }
        assert_eq!(
            page.get("query_id").is_some(),
            !registered.is_empty(),
            "{}",
            r.name
        );

        // Bundles: 200 (verifying offline) or refused naming the attribute.
        for e in &expect {
            let path = format!(
                "/v1/records/gulou/{}/bundle?purpose=bundle-{}-{}",
                e.seq, r.name, e.seq
            );
            let reply = c.get(&path, token);
            if r.level >= e.needs {
                assert_eq!(
                    reply.status, 200,
                    "{} bundle {}: {}",
                    r.name, e.seq, reply.body
                );
                fed.verify_bundle(&reply.body).expect("the bundle verifies");
            } else {
                let m = if token.is_none() {
                    reply.expect_error(401, "unauthorized")
                } else {
                    reply.expect_error(403, "forbidden")
                };
                assert!(
                    m.contains(e.attribute) && m.contains("auditor token"),
                    "{}: {m}",
                    r.name
                );
            }
        }

        // The query log holds exactly the registered reads, by whom.
        let log = c
            .get("/v1/admin/query-log?limit=1000", Some(&admin))
            .ok_json();
        let rows = log["entries"].as_array().expect("query log");
        let mine = |purpose: &str| -> Vec<&Value> {
            rows.iter().filter(|e| e["purpose"] == purpose).collect()
        };
        let entries_rows = mine(&format!("entries-{}", r.name));
        if registered.is_empty() {
            assert!(
                entries_rows.is_empty(),
                "{}: nothing non-public read, nothing logged",
                r.name
            );
        } else {
            assert_eq!(entries_rows.len(), 1, "{}", r.name);
            let row = entries_rows[0];
            assert_eq!(row["query_id"], page["query_id"]);
            assert!(row["who"].as_str().unwrap_or("").starts_with(who), "{row}");
            assert_eq!(row["subject"], "log:gulou");
            assert_eq!(row["access"], level_name(r.level));
            assert_eq!(returned(row), registered, "{}", r.name);
        }
        for e in &expect {
            let rows = mine(&format!("bundle-{}-{}", r.name, e.seq));
            let served_non_public = r.level >= e.needs && e.needs > PUBLIC;
            assert_eq!(
                rows.len(),
                usize::from(served_non_public),
                "{} bundle {}",
                r.name,
                e.seq
            );
            if let Some(row) = rows.first() {
                assert_eq!(returned(row), vec![("gulou".to_owned(), e.seq)]);
                assert!(row["who"].as_str().unwrap_or("").starts_with(who), "{row}");
            }
        }
    }
    // A person's bundle is registered under the person's code.
    let rows = c
        .get("/v1/admin/query-log?limit=1000", Some(&admin))
        .ok_json();
    let row = rows["entries"]
        .as_array()
        .expect("query log")
        .iter()
        .find(|e| e["purpose"] == "bundle-auditor-3")
        .expect("the auditor's read of the person's record")
        .clone();
    assert_eq!(row["subject"], person.code.as_str());
}

/// A natural person named by a passport or a travel permit: the document
/// type is part of the identity (`PASSPORT:E12345678`), the number is
/// checked by the document's format, found by that code in any case and
/// masked for the public like a resident ID.
#[test]
fn a_person_named_by_a_passport_or_permit_is_found_and_masked() {
    let (fed, node, records) = gulou();
    let c = node.client();
    let token = fed.token("gulou");
    let agency = fed.token("agency");
    let person = |code: &str| rongxin_tests::Subject {
        class: "natural_person",
        code: code.to_owned(),
        name: "JOHN SMITH".to_owned(),
    };
    let passport = person("passport: e12345678");
    let permit = person("HKMO:H1234567801");
    let mut penalty = records.about("gulou", "CF", &passport);
    let seqs = c.submit_accepted(
        &token,
        &[penalty.clone(), records.about("gulou", "CF", &permit)],
    );
    assert_eq!(seqs.len(), 2);

    // Signed in canonical form; agencies see it whole, in any case.
    let p = c
        .profile("passport:e12345678", Some(&agency), "agency-passport")
        .ok_json();
    assert_eq!(p["subject"], "PASSPORT:E12345678");
    assert_eq!(
        p["records"]["CF"][0]["record"]["subject"]["code"],
        "PASSPORT:E12345678"
    );
    // The public sees the document type and a masked number.
    let p = c
        .profile("PASSPORT:E12345678", None, "anon-passport")
        .ok_json();
    assert_eq!(p["subject"], "PASSPORT:E1******8");
    assert_eq!(
        p["records"]["CF"][0]["record"]["subject"]["code"],
        "PASSPORT:E1******8"
    );
    assert!(!p.to_string().contains("E12345678"), "{p:#}");
    let p = c.profile("HKMO:H1234567801", None, "anon-permit").ok_json();
    assert_eq!(
        p["records"]["CF"].as_array().map(Vec::len),
        Some(1),
        "{p:#}"
    );
    // The same number on another document is another person.
    let p = c
        .profile("TWN:12345678", Some(&agency), "agency-other")
        .ok_json();
    assert!(
        p["records"].as_object().is_none_or(|m| m.is_empty()),
        "{p:#}"
    );

    // A number that does not have its document's format is refused, the
    // field and the format named; an unknown document type too.
    for (code, needle) in [
        ("PASSPORT:E12", "5 to 17 letters and digits"),
        ("HKMO:C12345678", "H or M followed by 8 or 10 digits"),
        ("VISA:E12345678", "not a document type"),
    ] {
        penalty["subject"]["code"] = code.into();
        penalty["record_no"] = format!("榕测-{code}").into();
        let answer = c.submit(&token, std::slice::from_ref(&penalty));
        assert_eq!(answer["rejected"], 1, "{code}: {answer:#}");
        let text = answer.to_string();
        assert!(text.contains("subject.code"), "{code}: {text}");
        assert!(text.contains(needle), "{code}: {text}");
    }
    // And a bad query code answers 400 naming the problem.
    let r = c.profile("PASSPORT:E12", None, "bad");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("5 to 17 letters and digits"), "{}", r.body);
}
