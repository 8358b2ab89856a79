//! The store-format-2 fixture (`tests/fixtures/store-format2/`, made by the
//! format-2 release): the format-3 node refuses it with the command that
//! upgrades it; `rongxin-node migrate` converts it (to a new directory, and
//! in place) and its full check passes; gulou then serves exactly what
//! `expected.json` says it held. The fixture itself is never remade.

use rongxin_protocol::entry::Op;
use rongxin_tests::fixture::{Format2Fixture, format2_dir, make_format2_fixture};
use rongxin_tests::verify_log;

#[test]
fn store_format2_migrates_with_every_log_record_and_revocation() {
    let fx = Format2Fixture::unpack(&format2_dir());
    let old = fx.data_dir();
    let refused = fx.refused_start(&old);
    assert!(
        refused.contains("data format 2") && refused.contains("rongxin-node migrate --from"),
        "{refused}"
    );
    let new = fx.dir().join("data-format3");
    let (ok, out) = fx.node_command(&[
        "migrate".as_ref(),
        "--from".as_ref(),
        old.as_os_str(),
        "--to".as_ref(),
        new.as_os_str(),
    ]);
    assert!(ok, "migrate: {out}");
    assert!(
        out.contains("migrated to store format 3: 2 logs, 601 entries")
            && out.contains("the full check"),
        "{out}"
    );
    let (ok, out) = fx.node_command(&["verify".as_ref(), "--data-dir".as_ref(), new.as_os_str()]);
    assert!(
        ok && out.contains("verified") && out.contains("601 entries"),
        "{out}"
    );
    // The old store was only read: it still refuses, untouched.
    assert!(fx.refused_start(&old).contains("data format 2"));
    // Migrating into a directory that holds a store is refused.
    let (ok, out) = fx.node_command(&[
        "migrate".as_ref(),
        "--from".as_ref(),
        old.as_os_str(),
        "--to".as_ref(),
        new.as_os_str(),
    ]);
    assert!(!ok && out.contains("holds a store already"), "{out}");
    let mut node = fx.start(&new);
    let c = node.client();
    let exp = &fx.expected;
    let origins = exp["origins"].as_object().expect("expected origins");

    let status = c.status();
    assert_eq!(status["member"], "gulou");
    let held = status["origins"].as_array().expect("status origins");
    assert_eq!(held.len(), origins.len(), "origins held: {held:?}");
    for (origin, want) in origins {
        let got = held
            .iter()
            .find(|o| o["origin"] == origin.as_str())
            .unwrap_or_else(|| panic!("gulou no longer holds {origin}: {held:?}"));
        assert_eq!(got["size"], want["size"], "{origin}'s size");
        assert_eq!(got["root"], want["root"], "{origin}'s root");
        // The same signed note, byte for byte.
        assert_eq!(
            c.checkpoint_note(origin),
            want["checkpoint"].as_str().expect("checkpoint"),
            "{origin}'s checkpoint note"
        );
        // Every entry, verified end to end against the fixture's roster.
        let log = verify_log(c, &fx.roster.roster, &fx.catalog, origin)
            .unwrap_or_else(|e| panic!("{origin}'s log does not verify: {e}"));
        assert_eq!(Some(log.checkpoint.size), want["size"].as_u64());
        let puts = log.put_keys();
        assert_eq!(
            Some(puts.len() as u64),
            want["records"].as_u64(),
            "{origin}"
        );
        assert_eq!(
            Some((log.entries.len() - puts.len()) as u64),
            want["revokes"].as_u64(),
            "{origin}"
        );
    }
    assert_eq!(
        status["own_log"]["checkpoint"], origins["gulou"]["checkpoint"],
        "gulou's own checkpoint"
    );

    // Sample records: the same key at the same seq, and a bundle that an
    // auditor's tool accepts.
    for s in exp["samples"].as_array().expect("samples") {
        let origin = s["origin"].as_str().expect("origin");
        let seq = s["seq"].as_u64().expect("seq");
        let bundle = c.bundle(origin, seq).ok_json();
        let verified = fx.audit_verify(&bundle.to_string());
        assert!(
            verified.contains(s["key"].as_str().expect("key")),
            "bundle {origin}/{seq} is not of {s}: {verified}"
        );
    }

    // The revocation: in the log, in force for queries, and final.
    let rv = &exp["revoked"];
    let gulou = verify_log(c, &fx.roster.roster, &fx.catalog, "gulou").expect("verified");
    let seq = rv["revoke_seq"].as_u64().expect("revoke_seq") as usize;
    match &gulou.entries[seq].op {
        Op::Revoke(r) => assert_eq!(r.key.to_string(), rv["key"].as_str().expect("key")),
        other => panic!("entry {seq} is not the revocation: {other:?}"),
    }
    let subject = rv["subject"].as_str().expect("subject");
    let kind = rv["kind"].as_str().expect("kind");
    let p = c.profile(subject, None, "fixture check").ok_json();
    let shown = p["records"][kind].as_array().map_or(0, Vec::len);
    let put_seq = rv["seq"].as_u64().expect("seq");
    assert!(
        !p["records"][kind].as_array().is_some_and(|l| l
            .iter()
            .any(|r| r["seq"] == put_seq && r["origin"] == "gulou")),
        "the revoked record is shown ({shown} {kind} records): {p:#}"
    );
    assert!(p["hidden"]["revoked"].as_u64() >= Some(1), "{p:#}");
    let key: Vec<&str> = rv["key"].as_str().expect("key").splitn(4, '/').collect();
    let body = serde_json::json!({"kind": key[0], "jurisdiction": key[1],
        "authority_code": key[2], "record_no": key[3]});
    c.revoke(&fx.token("gulou"), &body, "repair", "again")
        .expect_error(409, "conflict");

    node.stop_clean();
}

/// `rongxin-node migrate --in-place`: the old database is kept beside the
/// new store, and the node starts on the directory at the same heads.
#[test]
fn store_format2_migrates_in_place() {
    let fx = Format2Fixture::unpack(&format2_dir());
    let dir = fx.data_dir();
    let (ok, out) = fx.node_command(&["migrate".as_ref(), "--in-place".as_ref(), dir.as_os_str()]);
    assert!(ok, "migrate --in-place: {out}");
    assert!(dir.join("store.format2").is_dir(), "the old store is kept");
    let (ok, out) = fx.node_command(&["migrate".as_ref(), "--in-place".as_ref(), dir.as_os_str()]);
    assert!(!ok, "a second in-place migration is refused: {out}");
    let mut node = fx.start(&dir);
    let status = node.client().status();
    for (origin, want) in fx.expected["origins"].as_object().expect("origins") {
        let got = status["origins"]
            .as_array()
            .and_then(|l| l.iter().find(|o| o["origin"] == origin.as_str()).cloned())
            .unwrap_or_else(|| panic!("{origin} missing: {status}"));
        assert_eq!(got["size"], want["size"], "{origin}");
        assert_eq!(got["root"], want["root"], "{origin}");
    }
    node.stop_clean();
}

/// Writes the fixture: `cargo test -p rongxin-tests --test node
/// make_store_format2_fixture -- --ignored` (into `RONGXIN_FIXTURE_OUT`, else
/// `tests/fixtures/store-format2/`, which must not hold one). Only the
/// format-2 store may make it: see the fixture's README.md.
#[test]
#[ignore = "writes tests/fixtures/store-format2; run by hand, only with the format-2 store"]
fn make_store_format2_fixture() {
    let out = std::env::var_os("RONGXIN_FIXTURE_OUT").map_or_else(format2_dir, Into::into);
    make_format2_fixture(&out);
}
