//! Drives the real `rongxinctl` binary: code checks, key generation, the
//! roster workflow, and offline bundle verification.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rongxin_protocol::bundle::Bundle;
use rongxin_protocol::checkpoint::Checkpoint;
use rongxin_protocol::entry::{Entry, Op};
use rongxin_protocol::merkle::{self, MemoryHashes};
use rongxin_protocol::note::NoteSigner;
use rongxin_protocol::record::Record;
use rongxin_protocol::roster::SignedRoster;

fn ctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rongxinctl"))
        .args(args)
        .output()
        .expect("run rongxinctl")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config-examples")
}

#[test]
fn code_check_prints_one_verdict_per_code_and_fails_on_any_invalid() {
    let ok = ctl(&["code", "check", "91350100757384472D", "11010519491231002x"]);
    assert!(ok.status.success());
    let out = stdout(&ok);
    assert!(out.contains("91350100757384472D valid\n"), "{out}");
    assert!(
        out.contains("11010519491231002x valid (normalised to 11010519491231002X)"),
        "{out}"
    );

    let bad = ctl(&[
        "code",
        "check",
        "91350100757384472D",
        "91350100757384472E",
        "9I350100757384472D",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let out = stdout(&bad);
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(
        out.contains("91350100757384472E invalid: check character is 'E', expected 'D'"),
        "{out}"
    );
    assert!(
        out.contains("9I350100757384472D invalid:") && out.contains("position 2"),
        "{out}"
    );
}

#[test]
fn code_check_reads_other_identity_documents() {
    let ok = ctl(&["code", "check", "PASSPORT:E12345678", "hkmo:h1234567801"]);
    assert!(ok.status.success(), "{}", stdout(&ok));
    let out = stdout(&ok);
    assert!(out.contains("PASSPORT:E12345678 valid (护照)\n"), "{out}");
    assert!(
        out.contains(
            "hkmo:h1234567801 valid (港澳居民来往内地通行证; normalised to HKMO:H1234567801)"
        ),
        "{out}"
    );
    let bad = ctl(&["code", "check", "TWN:1234567"]);
    assert_eq!(bad.status.code(), Some(1));
    let out = stdout(&bad);
    assert!(
        out.contains("TWN:1234567 invalid:") && out.contains("8 or 10 digits"),
        "{out}"
    );
}

#[test]
fn pilot_codes_are_legacy_only_with_the_catalog_allow_list() {
    let without = ctl(&["code", "check", "91350100M0001TGQXM"]);
    assert_eq!(without.status.code(), Some(1));
    let catalog = examples().join("catalog.toml");
    let with = ctl(&[
        "code",
        "check",
        "--catalog",
        catalog.to_str().unwrap(),
        "91350100M0001TGQXM",
    ]);
    assert!(with.status.success());
    assert_eq!(stdout(&with), "91350100M0001TGQXM legacy\n");
}

#[test]
fn keygen_writes_private_keys_and_the_roster_workflow_verifies() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).to_str().unwrap().to_owned();
    assert!(
        ctl(&["keygen", "--root", "--out", &d("root")])
            .status
            .success()
    );
    for m in ["city", "gulou"] {
        assert!(
            ctl(&["keygen", "--member", m, "--out", &d(m)])
                .status
                .success()
        );
        for secret in ["signing.key", "transport.key"] {
            let mode = std::fs::metadata(dir.path().join(m).join(secret))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{m}/{secret}");
        }
    }
    // Keys are never overwritten.
    let again = ctl(&["keygen", "--member", "gulou", "--out", &d("gulou")]);
    assert!(!again.status.success());

    let catalog = examples().join("catalog.toml");
    let draft = d("roster.toml");
    assert!(
        ctl(&[
            "roster",
            "new",
            "--out",
            &draft,
            "--valid-from",
            "2026-01-01",
            "--valid-until",
            "2027-12-31",
            "--catalog",
            catalog.to_str().unwrap(),
        ])
        .status
        .success()
    );
    for (id, role, j) in [("city", "city", "350100"), ("gulou", "district", "350102")] {
        let o = ctl(&[
            "roster",
            "add-member",
            &draft,
            "--id",
            id,
            "--name",
            id,
            "--role",
            role,
            "--jurisdiction",
            j,
            "--keys",
            &d(id),
            "--listen",
            "/ip4/127.0.0.1/tcp/1",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    // A member whose keys were generated for another id is refused.
    let wrong = ctl(&[
        "roster",
        "add-member",
        &draft,
        "--id",
        "taijiang",
        "--name",
        "t",
        "--role",
        "district",
        "--keys",
        &d("gulou"),
    ]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("--member taijiang"));

    let signed = d("roster.signed");
    let o = ctl(&[
        "roster",
        "sign",
        &draft,
        "--root-key",
        &d("root/root.key"),
        "--out",
        &signed,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v = ctl(&[
        "roster",
        "verify",
        &signed,
        "--root",
        &d("root/root.pub"),
        "--catalog",
        catalog.to_str().unwrap(),
    ]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    let show = ctl(&["roster", "show", &signed, "--root", &d("root/root.pub")]);
    assert!(stdout(&show).contains("gulou"));

    // Another root's key does not verify it.
    assert!(
        ctl(&["keygen", "--root", "--out", &d("other")])
            .status
            .success()
    );
    let v = ctl(&["roster", "verify", &signed, "--root", &d("other/root.pub")]);
    assert!(!v.status.success());

    // A group-readable root key is refused for signing.
    std::fs::set_permissions(
        dir.path().join("root/root.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let o = ctl(&[
        "roster",
        "sign",
        &draft,
        "--root-key",
        &d("root/root.key"),
        "--out",
        &d("x"),
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("chmod 600"));
}

/// Builds a bundle for entry 3 of a 6-entry gulou log in the example federation.
fn example_bundle() -> (Bundle, PathBuf) {
    let ex = examples();
    let read = |p: &str| std::fs::read_to_string(ex.join(p)).expect("example federation");
    let root = rongxin_protocol::note::NoteVerifier::parse(read("root.pub").trim())
        .expect("example federation");
    let roster_note = read("roster.signed");
    let roster = SignedRoster::open(&roster_note, &root)
        .expect("example federation")
        .roster;
    let signer =
        NoteSigner::parse(read("demo-keys/gulou/signing.key").trim()).expect("example federation");
    let catalog = rongxin_protocol::catalog::Catalog::from_toml_str(&read("catalog.toml"))
        .expect("example federation");
    let mut hashes = MemoryHashes::new(rongxin_protocol::suite::Suite::Ed25519Sha256);
    let mut prev = [0u8; 32];
    let mut signed_entries = Vec::new();
    for seq in 0..6u64 {
        let record = Record::from_json(
            &serde_json::json!({
                "kind": "XYCN",
                "jurisdiction": "350102",
                "record_no": format!("鼓信承〔2026〕{seq}号"),
                "subject": {"class": "legal_person", "code": "91350100757384472D", "name": "福州某某有限公司"},
                "authority": {"name": "鼓楼区发展和改革局", "code": "91350100757384472D"},
                "decision_date": "2026-03-01",
                "fields": sample_commitment_fields(&catalog),
            }),
            &catalog,
        )
        .expect("example federation");
        let entry = Entry {
            origin: "gulou".into(),
            seq,
            prev_hash: prev,
            time_ms: 1_772_000_000_000 + seq as i64,
            op: Op::Put(record),
        };
        let signed = entry.sign(signer.secret()).expect("example federation");
        prev = signed.leaf_hash(rongxin_protocol::suite::Suite::Ed25519Sha256);
        hashes
            .push_leaf(signed.leaf_hash(rongxin_protocol::suite::Suite::Ed25519Sha256))
            .expect("example federation");
        signed_entries.push(signed);
    }
    let root_hash = merkle::tree_root(6, &hashes).expect("example federation");
    let cp = Checkpoint {
        origin: roster.log_origin("gulou"),
        size: 6,
        root: root_hash,
    }
    .sign(&signer)
    .expect("example federation");
    let proof = merkle::inclusion_proof(3, 6, &hashes).expect("example federation");
    let bundle = Bundle::new(
        &signed_entries[3],
        3,
        "gulou",
        signer.verifier().key(),
        &proof,
        &cp.note,
        &roster_note,
    );
    (bundle, ex.join("root.pub"))
}

/// Required fields of the XYCN kind, filled with plausible values.
fn sample_commitment_fields(catalog: &rongxin_protocol::catalog::Catalog) -> serde_json::Value {
    use rongxin_protocol::catalog::FieldType;
    let kind = catalog.kind("XYCN").expect("XYCN in the example catalog");
    let mut map = serde_json::Map::new();
    for f in kind.fields.iter().filter(|f| f.required) {
        let v = match f.field_type {
            FieldType::Enum => serde_json::json!(f.choices[0]),
            FieldType::Date => serde_json::json!("2026-03-01"),
            FieldType::Integer => serde_json::json!(1),
            FieldType::Decimal => serde_json::json!("1"),
            FieldType::Bool => serde_json::json!(true),
            FieldType::Uscc => serde_json::json!("91350100757384472D"),
            FieldType::ResidentId => serde_json::json!("11010519491231002X"),
            _ => serde_json::json!("内容"),
        };
        map.insert(f.name.clone(), v);
    }
    serde_json::Value::Object(map)
}

#[test]
fn audit_verify_accepts_a_good_bundle_and_names_what_fails() {
    let (bundle, root) = example_bundle();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, b: &Bundle| {
        let p = dir.path().join(name);
        std::fs::write(&p, serde_json::to_vec_pretty(b).unwrap()).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let root = root.to_str().unwrap();
    let good = write("good.json", &bundle);
    let o = ctl(&["audit", "verify", &good, "--root", root]);
    assert!(
        o.status.success(),
        "{}{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout(&o).starts_with("OK "));

    // A flipped byte in the entry: the signature no longer holds.
    let mut bad = bundle.clone();
    let mut bytes = B64.decode(&bad.entry).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    bad.entry = B64.encode(bytes);
    let o = ctl(&[
        "audit",
        "verify",
        &write("entry.json", &bad),
        "--root",
        root,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("entry: signature"), "{}", stdout(&o));

    // A proof for another position.
    let mut bad = bundle.clone();
    bad.inclusion_proof.swap(0, 1);
    let o = ctl(&[
        "audit",
        "verify",
        &write("proof.json", &bad),
        "--root",
        root,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("inclusion_proof"), "{}", stdout(&o));

    // The right bundle but the wrong root key.
    let other = dir.path().join("other");
    assert!(
        ctl(&["keygen", "--root", "--out", other.to_str().unwrap()])
            .status
            .success()
    );
    let o = ctl(&[
        "audit",
        "verify",
        &good,
        "--root",
        other.join("root.pub").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("roster"), "{}", stdout(&o));
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn token_add_list_and_revoke_manage_a_tokens_file() {
    use std::os::unix::fs::PermissionsExt as _;

    use rongxin_protocol::access::{RoleName, TokensFile};
    use sha2::{Digest as _, Sha256};

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens.toml");
    let f = file.to_str().unwrap();
    let secret = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let parse = || TokensFile::parse(&std::fs::read_to_string(&file).unwrap()).unwrap();

    let add = ctl(&[
        "token",
        "add",
        "--file",
        f,
        "--id",
        "monitor",
        "--role",
        "monitor",
        "--name",
        "运维监控",
        "--out",
        &secret("monitor.token"),
    ]);
    assert!(add.status.success(), "{}", stderr(&add));
    assert!(stdout(&add).contains("kill -HUP"), "{}", stdout(&add));
    let token = std::fs::read_to_string(secret("monitor.token")).unwrap();
    let token = token.trim();
    let mode = |p: &str| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&secret("monitor.token")), 0o600);
    assert_eq!(mode(f), 0o600);
    let parsed = parse();
    assert_eq!(parsed.token.len(), 1);
    let digest: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        parsed.token[0].sha256, digest,
        "the file holds the token's digest"
    );
    assert_eq!(parsed.token[0].role, RoleName::Monitor);
    assert!(!std::fs::read_to_string(&file).unwrap().contains(token));

    let agency = ctl(&[
        "token",
        "add",
        "--file",
        f,
        "--id",
        "bank-1",
        "--role",
        "agency",
        "--access",
        "conditional",
        "--name",
        "示例银行",
        "--expires",
        "2099-06-30T00:00:00+08:00",
        "--out",
        &secret("bank.token"),
    ]);
    assert!(agency.status.success(), "{}", stderr(&agency));

    // Refusals change nothing: no secret written, the file as it was.
    let before = std::fs::read(&file).unwrap();
    let refused = [
        (vec!["--id", "monitor", "--role", "admin"], "already there"),
        (vec!["--id", "x", "--role", "boss"], "boss"),
        (vec!["--id", "has space", "--role", "admin"], "id must be"),
        (
            vec!["--id", "d", "--role", "department"],
            "jurisdictions and kinds",
        ),
        (vec!["--id", "a", "--role", "agency"], "access"),
        (
            vec![
                "--id",
                "old",
                "--role",
                "admin",
                "--expires",
                "2001-01-01T00:00:00Z",
            ],
            "has passed",
        ),
    ];
    for (args, says) in refused {
        let out = secret("refused.token");
        let mut all = vec!["token", "add", "--file", f, "--name", "n", "--out", &out];
        all.extend(args.iter().copied());
        let o = ctl(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
        assert!(!Path::new(&out).exists(), "{args:?} left a token file");
        assert_eq!(
            std::fs::read(&file).unwrap(),
            before,
            "{args:?} changed the file"
        );
    }

    let list = ctl(&["token", "list", "--file", f]);
    assert!(list.status.success(), "{}", stderr(&list));
    let text = stdout(&list);
    assert!(
        text.contains("monitor") && text.contains("运维监控"),
        "{text}"
    );
    assert!(
        text.contains("bank-1") && text.contains("2099-06-30"),
        "{text}"
    );
    assert!(
        !text.contains(&digest),
        "list must not print whole digests: {text}"
    );

    let missing = ctl(&["token", "revoke", "--file", f, "--id", "nobody"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("'nobody'") && stderr(&missing).contains("monitor, bank-1"),
        "{}",
        stderr(&missing)
    );
    let revoke = ctl(&["token", "revoke", "--file", f, "--id", "monitor"]);
    assert!(revoke.status.success(), "{}", stderr(&revoke));
    let ids: Vec<String> = parse().token.into_iter().map(|t| t.id).collect();
    assert_eq!(ids, ["bank-1"]);
    assert!(!dir.path().join("tokens.toml.lock").exists());
    assert!(!dir.path().join("tokens.toml.tmp").exists());
}
