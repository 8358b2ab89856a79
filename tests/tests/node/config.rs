//! The node refuses to start on a bad config: exit code 2 and a message
//! that names the problem.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;

use rongxin_protocol::note::NoteSigner;
use rongxin_tests::{FailedStart, Federation, NodeConfig};

fn refused(config: &NodeConfig) -> FailedStart {
    let f = config.run_expecting_failure();
    assert_eq!(
        f.code,
        Some(2),
        "expected exit code 2 (config error), got {:?}:\n{}",
        f.code,
        f.stderr
    );
    assert!(f.stderr.contains("config error"), "{}", f.stderr);
    f
}

#[test]
fn an_unknown_key_is_refused() {
    let fed = Federation::new();
    let f = refused(&fed.config("gulou").set("max_body_byte", 4096));
    assert!(f.stderr.contains("max_body_byte"), "{}", f.stderr);
    assert!(f.stderr.contains("unknown field"), "{}", f.stderr);
}

#[test]
fn a_key_file_readable_by_others_is_refused() {
    let fed = Federation::new();
    let key = fed.dir().join("demo-keys/gulou/signing.key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let f = refused(&fed.config("gulou"));
    assert!(f.stderr.contains("chmod 600"), "{}", f.stderr);
    assert!(f.stderr.contains("signing.key"), "{}", f.stderr);

    // The transport key is checked the same way.
    let fed = Federation::new();
    let key = fed.dir().join("demo-keys/gulou/transport.key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o640)).unwrap();
    let f = refused(&fed.config("gulou"));
    assert!(f.stderr.contains("chmod 600"), "{}", f.stderr);
    assert!(f.stderr.contains("transport.key"), "{}", f.stderr);
}

#[test]
fn a_signing_key_that_is_not_the_rosters_is_refused() {
    let fed = Federation::new();
    // Another member's key file.
    let f = refused(
        &fed.config("gulou")
            .set("signing_key", "demo-keys/taijiang/signing.key"),
    );
    assert!(f.stderr.contains("signing_key"), "{}", f.stderr);
    assert!(f.stderr.contains("rongxin.fuzhou/gulou"), "{}", f.stderr);

    // A key with the right name that the roster does not list.
    let signer = NoteSigner::new(
        "rongxin.fuzhou/gulou",
        rongxin_protocol::suite::SecretKey::from_bytes(
            rongxin_protocol::suite::Suite::Ed25519Sha256,
            &[42; 32],
        )
        .expect("a valid seed"),
    )
    .unwrap();
    let path = fed.dir().join("impostor.key");
    fs::write(&path, signer.to_secret_string()).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let f = refused(&fed.config("gulou").set("signing_key", "impostor.key"));
    assert!(
        f.stderr
            .contains("not one of the keys the roster lists for gulou"),
        "{}",
        f.stderr
    );
}

#[test]
fn a_catalog_that_does_not_match_the_roster_is_refused() {
    let fed = Federation::new();
    let mut catalog = fs::read_to_string(fed.dir().join("catalog.toml")).unwrap();
    catalog.push_str("\n# one more comment is a different catalog\n");
    fs::write(fed.dir().join("catalog-edited.toml"), catalog).unwrap();
    let f = refused(&fed.config("gulou").set("catalog", "catalog-edited.toml"));
    assert!(f.stderr.contains("catalog_digest"), "{}", f.stderr);
    assert!(f.stderr.contains("catalog-edited.toml"), "{}", f.stderr);
}

#[test]
fn a_member_not_in_the_roster_is_refused() {
    let fed = Federation::new();
    let f = refused(&fed.config("gulou").set("member", "pingtan"));
    assert!(f.stderr.contains("pingtan"), "{}", f.stderr);
    assert!(f.stderr.contains("not in the roster"), "{}", f.stderr);
}

#[test]
fn other_config_mistakes_are_refused() {
    let fed = Federation::new();
    // A department claiming another member's jurisdiction.
    let f = refused(&fed.config("gulou").edit(|t| {
        t["departments"][0]["jurisdictions"] = toml::Value::Array(vec!["350103".into()]);
    }));
    assert!(f.stderr.contains("350103"), "{}", f.stderr);
    assert!(f.stderr.contains("departments[0]"), "{}", f.stderr);

    // A zero limit.
    let f = refused(&fed.config("gulou").set("max_records_per_request", 0));
    assert!(f.stderr.contains("max_records_per_request"), "{}", f.stderr);
}
