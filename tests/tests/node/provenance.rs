//! Ingest → query → provenance bundle → `rongxinctl audit verify`.

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rongxin_tests::verify::open_checkpoint;
use rongxin_tests::{Federation, TestNode, bins};
use serde_json::Value;

use crate::{gulou, verify_own_log};

/// Fetches the bundle of `seq`, writes it to a file and returns both.
fn bundle(node: &TestNode, seq: u64) -> (Value, std::path::PathBuf) {
    let r = node.client().bundle("gulou", seq);
    assert_eq!(r.status, 200, "bundle {seq}: {}", r.body);
    let path = node.scratch_file(&format!("bundle-{seq}.json"), &r.body);
    (r.json(), path)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `rongxinctl audit verify` accepts the bundle; returns its report.
fn audit_ok(fed: &Federation, path: &Path) -> String {
    let o = fed.audit_verify(path);
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "audit verify {}: {out}{}",
        path.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.starts_with("OK "), "{out}");
    out
}

/// `rongxinctl audit verify` refuses the bundle; returns its report.
fn audit_fails(fed: &Federation, node: &TestNode, name: &str, bundle: &Value) -> String {
    let path = node.scratch_file(name, &bundle.to_string());
    let o = fed.audit_verify(&path);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{name} should fail: {out}");
    assert!(out.starts_with("FAILED "), "{name}: {out}");
    out
}

#[test]
fn ingest_query_bundle_and_audit_verify() {
    let (fed, node, records) = gulou();
    let c = node.client();
    let token = fed.token("gulou");
    let gov = fed.token("government");

    let first = records.every_kind("gulou");
    let n = first.len() as u64;
    assert!(n >= 10, "the example catalog has {n} kinds");
    let seqs = c.submit_accepted(&token, &first);
    assert_eq!(seqs, (0..n).collect::<Vec<_>>());

    // Every record is in its subject's profile, at its seq, as submitted.
    for (r, seq) in first.iter().zip(&seqs) {
        let code = r["subject"]["code"].as_str().unwrap();
        let p = c.profile(code, Some(&gov), "provenance test").ok_json();
        let list = p["records"][r["kind"].as_str().unwrap()]
            .as_array()
            .unwrap_or_else(|| panic!("no {} in {p:#}", r["kind"]));
        assert_eq!(list.len(), 1, "{p:#}");
        assert_eq!(list[0]["seq"], *seq);
        assert_eq!(list[0]["origin"], "gulou");
        assert_eq!(list[0]["version"], 1);
        assert_eq!(list[0]["record"]["record_no"], r["record_no"]);
        assert_eq!(list[0]["record"]["fields"], r["fields"]);
    }

    // Bundles of several seqs verify offline with the real rongxinctl.
    for seq in [0, n / 2, n - 1] {
        let (b, path) = bundle(&node, seq);
        assert_eq!(b["format"], "rongxin-bundle/2");
        assert_eq!(b["suite"], "ed25519-sha256");
        assert_eq!(b["leaf_index"], seq);
        let out = audit_ok(&fed, &path);
        assert!(out.contains(&format!("seq {seq} ")), "{out}");
        assert!(out.contains(&format!("checkpoint  {n} entries")), "{out}");
    }

    // After more ingests, proofs against the larger tree still verify.
    let more = records.batch("gulou", 40);
    let more_seqs = c.submit_accepted(&token, &more);
    assert_eq!(more_seqs, (n..n + 40).collect::<Vec<_>>());
    let size = n + 40;
    for seq in [0, n - 1, n, size - 1] {
        let (b, path) = bundle(&node, seq);
        let cp = open_checkpoint(
            &fed.roster().roster,
            "gulou",
            b["checkpoint"].as_str().unwrap(),
        )
        .unwrap();
        assert_eq!(cp.size, size);
        let out = audit_ok(&fed, &path);
        assert!(
            out.contains(&format!("checkpoint  {size} entries")),
            "{out}"
        );
    }
    verify_own_log(&node);

    // Tampered bundles fail, naming what failed.
    let (good, _) = bundle(&node, 3);
    let mut b = good.clone();
    let mut bytes = B64.decode(b["entry"].as_str().unwrap()).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    b["entry"] = B64.encode(bytes).into();
    let out = audit_fails(&fed, &node, "t-entry.json", &b);
    assert!(out.contains("entry"), "{out}");

    let mut b = good.clone();
    b["inclusion_proof"][0] = B64.encode([0u8; 32]).into();
    let out = audit_fails(&fed, &node, "t-proof.json", &b);
    assert!(out.contains("inclusion_proof"), "{out}");

    let mut b = good.clone();
    b["leaf_index"] = 4.into();
    audit_fails(&fed, &node, "t-index.json", &b);

    let mut b = good.clone();
    let note = b["checkpoint"].as_str().unwrap().to_owned();
    b["checkpoint"] = note
        .replacen(&format!("\n{size}\n"), &format!("\n{}\n", size + 1), 1)
        .into();
    assert_ne!(b["checkpoint"], good["checkpoint"]);
    let out = audit_fails(&fed, &node, "t-checkpoint.json", &b);
    assert!(out.contains("checkpoint"), "{out}");

    // Another member's bundle claim: the entry is not signed by taijiang.
    let mut b = good.clone();
    b["origin"] = "taijiang".into();
    audit_fails(&fed, &node, "t-origin.json", &b);

    // The right bundle against the wrong root key fails too.
    let good_path = node.scratch_file("good.json", &good.to_string());
    let o = Command::new(bins::ctl())
        .arg("audit")
        .arg("verify")
        .arg(&good_path)
        .arg("--root")
        .arg(fed.dir().join("demo-keys/gulou/signing.pub"))
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0), "{}", stdout(&o));

    // No bundle for positions past the end or for logs the node lacks.
    c.bundle("gulou", size).expect_error(404, "not_found");
    c.bundle("nosuch", 0).expect_error(404, "not_found");
}
