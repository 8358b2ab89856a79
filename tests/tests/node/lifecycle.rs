//! Idempotent resubmission, new versions and revocation.

use rongxin_protocol::entry::{Op, RevokeReason};
use rongxin_tests::client::{seqs, statuses};
use rongxin_tests::records::{key_of, key_text};
use serde_json::json;

use crate::{gulou, verify_own_log};

#[test]
fn resubmission_is_idempotent_and_new_content_is_a_new_version() {
    let (fed, node, records) = gulou();
    let c = node.client();
    let token = fed.token("gulou");

    let batch: Vec<_> = (0..5).map(|_| records.record("gulou", "CF")).collect();
    let first = c.submit(&token, &batch);
    assert_eq!(first["accepted"], 5);
    let first_seqs = seqs(&first);
    assert_eq!(first_seqs, vec![0, 1, 2, 3, 4]);
    for (r, rec) in first["results"].as_array().unwrap().iter().zip(&batch) {
        assert_eq!(r["key"], key_text(rec));
    }
    let before = c.own_log();
    assert_eq!(before.size, 5);

    // The same records again: all duplicates at the same seqs, log unchanged.
    let again = c.submit(&token, &batch);
    assert_eq!(again["accepted"], 0, "{again:#}");
    assert_eq!(again["duplicates"], 5);
    assert_eq!(statuses(&again), vec!["duplicate"; 5]);
    assert_eq!(seqs(&again), first_seqs);
    assert_eq!(again["checkpoint"]["size"], 5);
    assert_eq!(c.own_log(), before);

    // A changed field under the same key is a new version.
    let field = records.text_field("CF");
    let mut v2 = batch[2].clone();
    v2["fields"][&field] = json!("更正后的内容（第二版）");
    let answer = c.submit(&token, std::slice::from_ref(&v2));
    assert_eq!(statuses(&answer), vec!["accepted"], "{answer:#}");
    assert_eq!(seqs(&answer), vec![5]);
    assert_eq!(answer["results"][0]["key"], key_text(&batch[2]));
    let after = c.own_log();
    assert_eq!(after.size, 6);
    assert_ne!(after.root, before.root);

    let code = v2["subject"]["code"].as_str().unwrap();
    let p = c.profile(code, None, "version test").ok_json();
    let list = p["records"]["CF"].as_array().unwrap();
    assert_eq!(list.len(), 1, "only the current version is shown: {p:#}");
    assert_eq!(list[0]["version"], 2);
    assert_eq!(list[0]["seq"], 5);
    assert_eq!(
        list[0]["record"]["fields"][&field],
        "更正后的内容（第二版）"
    );

    // Sending v2 again is a duplicate of seq 5; the old content is version 3.
    let answer = c.submit(&token, std::slice::from_ref(&v2));
    assert_eq!(statuses(&answer), vec!["duplicate"]);
    assert_eq!(seqs(&answer), vec![5]);
    let answer = c.submit(&token, &batch[2..3]);
    assert_eq!(statuses(&answer), vec!["accepted"]);
    assert_eq!(seqs(&answer), vec![6]);
    let p = c.profile(code, None, "version test").ok_json();
    assert_eq!(p["records"]["CF"][0]["version"], 3);
    assert_eq!(p["records"]["CF"][0]["seq"], 6);
    assert_eq!(
        p["records"]["CF"][0]["record"]["fields"],
        batch[2]["fields"]
    );

    let log = verify_own_log(&node);
    assert_eq!(log.checkpoint.size, 7);
    let keys = log.put_keys();
    assert_eq!(keys[5].1, key_text(&batch[2]));
    assert_eq!(keys[6].1, key_text(&batch[2]));
}

#[test]
fn revocation_hides_the_record_and_is_final() {
    let (fed, node, records) = gulou();
    let c = node.client();
    let token = fed.token("gulou");
    let subject = records.legal_person("gulou");
    let kept = records.about("gulou", "CF", &subject);
    let revoked = records.about("gulou", "XK", &subject);
    c.submit_accepted(&token, &[kept.clone(), revoked.clone()]);

    let p = c.profile(&subject.code, None, "before revoke").ok_json();
    assert_eq!(p["records"]["XK"].as_array().map(Vec::len), Some(1));
    assert_eq!(p["hidden"]["revoked"], 0);

    let r = c.revoke(&token, &key_of(&revoked), "repair", "榕鼓信修〔2026〕3号");
    let v = r.ok_json();
    assert_eq!(v["status"], "accepted");
    assert_eq!(v["seq"], 2);
    assert_eq!(v["key"], key_text(&revoked));
    assert_eq!(c.own_log().size, 3);

    let p = c.profile(&subject.code, None, "after revoke").ok_json();
    assert!(p["records"].get("XK").is_none(), "{p:#}");
    assert_eq!(p["records"]["CF"].as_array().map(Vec::len), Some(1));
    assert_eq!(p["hidden"]["revoked"], 1);

    // Revoking again conflicts; an unknown key is not found; neither writes.
    c.revoke(&token, &key_of(&revoked), "repair", "again")
        .expect_error(409, "conflict");
    let mut unknown = key_of(&revoked);
    unknown["record_no"] = json!("榕鼓不存在〔2026〕1号");
    c.revoke(&token, &unknown, "error", "no such record")
        .expect_error(404, "not_found");
    // Another member's jurisdiction, or a body that is not a revocation.
    let mut foreign = key_of(&revoked);
    foreign["jurisdiction"] = json!("350103");
    c.revoke(&token, &foreign, "error", "not ours")
        .expect_error(403, "forbidden");
    c.revoke(&token, &key_of(&revoked), "forgotten", "bad reason")
        .expect_error(400, "bad_request");
    c.revoke(&token, &key_of(&revoked), "repair", "  ")
        .expect_error(400, "bad_request");
    c.revoke(
        &fed.token("agency"),
        &key_of(&kept),
        "repair",
        "not a department",
    )
    .expect_error(403, "forbidden");
    assert_eq!(c.own_log().size, 3);

    // The revoked record is not published again with identical content.
    let answer = c.submit(&token, std::slice::from_ref(&revoked));
    assert_eq!(statuses(&answer), vec!["rejected"], "{answer:#}");
    assert_eq!(c.own_log().size, 3);

    let log = verify_own_log(&node);
    match &log.entries[2].op {
        Op::Revoke(rv) => {
            assert_eq!(rv.key.to_string(), key_text(&revoked));
            assert_eq!(rv.reason, RevokeReason::Repair);
            assert_eq!(rv.basis, "榕鼓信修〔2026〕3号");
        }
        other => panic!("entry 2 is not the revocation: {other:?}"),
    }
}

/// Versions of one record sent at once by many clients land in commits
/// that the committer builds while earlier ones are still being written:
/// each must see the one before it. Versions alternate between two
/// subjects, so the subject index must move every time.
#[test]
fn concurrent_versions_of_one_record_are_numbered_in_log_order() {
    let (fed, node, records) = gulou();
    let token = fed.token("gulou");
    let a = records.subject_for("gulou", "CF");
    let b = records.subject_for("gulou", "CF");
    let base = records.about("gulou", "CF", &a);
    let field = records.text_field("CF");
    const CLIENTS: usize = 12;
    const ROUNDS: usize = 6;
    std::thread::scope(|s| {
        for t in 0..CLIENTS {
            let (c, token, base, field) = (node.client(), &token, &base, &field);
            let (a, b) = (&a, &b);
            s.spawn(move || {
                for r in 0..ROUNDS {
                    let mut v = base.clone();
                    v["fields"][field] = json!(format!("第{t}号客户端第{r}版"));
                    v["subject"] = if (t + r) % 2 == 0 {
                        a.to_json()
                    } else {
                        b.to_json()
                    };
                    let answer = c.submit(token, std::slice::from_ref(&v));
                    assert_eq!(statuses(&answer), vec!["accepted"], "{answer:#}");
                }
            });
        }
    });
    let n = (CLIENTS * ROUNDS) as u64;
    let log = verify_own_log(&node);
    assert_eq!(log.checkpoint.size, n);
    let last = node.client().entries("gulou", n - 1, n).remove(0);
    let Op::Put(last) = rongxin_protocol::entry::Entry::decode(&last.bytes)
        .unwrap()
        .op
    else {
        panic!("the last entry is a Put");
    };
    let (current, other) = if last.subject.code == a.code {
        (&a, &b)
    } else {
        (&b, &a)
    };
    let p = node
        .client()
        .profile(&current.code, None, "version test")
        .ok_json();
    let list = p["records"]["CF"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{p:#}");
    assert_eq!(list[0]["version"], n, "{p:#}");
    assert_eq!(list[0]["seq"], n - 1);
    let p = node
        .client()
        .profile(&other.code, None, "version test")
        .ok_json();
    assert!(
        p["records"]["CF"].as_array().is_none_or(Vec::is_empty),
        "the index entry moved: {p:#}"
    );
}
