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
fn a_node_deadline_for_objections_is_refused_for_the_rosters() {
    // Every node must compute the same due date: deadlines are the
    // roster's, in working days, not a setting of one node.
    let fed = Federation::new();
    let f = refused(&fed.config("gulou").set("objection_due", "20days"));
    assert!(f.stderr.contains("objection_due"), "{}", f.stderr);
    assert!(f.stderr.contains("roster's `deadlines`"), "{}", f.stderr);
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
fn the_calendar_is_checked_against_the_rosters_pin() {
    // The example roster pins the calendar of config-examples/calendar,
    // which is also the one built into the node: naming the directory
    // explicitly starts the node.
    let fed = Federation::new();
    let node = fed.config("gulou").set("calendar", "calendar").start();
    drop(node);

    // One edited byte in a year file: refused, naming the pin and the fix.
    let edited = fed.dir().join("calendar-edited");
    fs::create_dir(&edited).unwrap();
    for entry in fs::read_dir(fed.dir().join("calendar")).unwrap() {
        let p = entry.unwrap().path();
        fs::copy(&p, edited.join(p.file_name().unwrap())).unwrap();
    }
    let mut y2026 = fs::read_to_string(edited.join("2026.toml")).unwrap();
    y2026 = y2026.replacen("\"2026-10-10\"", "\"2026-10-11\"", 1);
    fs::write(edited.join("2026.toml"), &y2026).unwrap();
    let f = refused(&fed.config("gulou").set("calendar", "calendar-edited"));
    assert!(f.stderr.contains("calendar_digest"), "{}", f.stderr);
    assert!(f.stderr.contains("calendar-edited"), "{}", f.stderr);

    // A year file that breaks a rule is refused with the file and the rule.
    fs::write(
        edited.join("2026.toml"),
        y2026.replacen("\"2026-10-11\"", "\"2026-10-12\"", 1),
    )
    .unwrap();
    let f = refused(&fed.config("gulou").set("calendar", "calendar-edited"));
    assert!(f.stderr.contains("2026.toml"), "{}", f.stderr);
    assert!(f.stderr.contains("2026-10-12 is a weekday"), "{}", f.stderr);

    // A directory that does not exist.
    let f = refused(&fed.config("gulou").set("calendar", "no-such-calendar"));
    assert!(f.stderr.contains("no-such-calendar"), "{}", f.stderr);
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

fn log_table(format: &str, filter: &str) -> toml::Table {
    let mut t = toml::Table::new();
    t.insert("format".into(), format.into());
    t.insert("filter".into(), filter.into());
    t
}

/// `[log]` is checked before anything starts.
#[test]
fn a_bad_log_section_is_refused() {
    let fed = Federation::new();
    let f = refused(
        &fed.config("gulou")
            .set("log", log_table("text", "info,[[nope")),
    );
    assert!(f.stderr.contains("log.filter"), "{}", f.stderr);
    let f = refused(&fed.config("gulou").set("log", log_table("xml", "info")));
    assert!(f.stderr.contains("log.format"), "{}", f.stderr);
}

/// The config's `[log]`: JSON lines filtered by `log.filter`; SIGHUP puts a
/// new filter in force, and a bad one changes nothing and says why.
#[test]
fn the_log_filter_is_the_configs_and_sighup_reloads_it() {
    use std::time::{Duration, Instant};
    let fed = Federation::new();
    let node = fed
        .config("gulou")
        .set("log", log_table("json", "warn"))
        .start();
    let wait_for = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !node.log_text().contains(what) {
            assert!(
                Instant::now() < deadline,
                "no '{what}' in:\n{}",
                node.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // At warn, a reload's info line is not written.
    node.signal_hup();
    wait_for("log filter reloaded");
    assert!(
        !node.log_text().contains("reloaded tokens"),
        "{}",
        node.log_text()
    );
    // Every line is JSON.
    for line in node.log_text().lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
        assert!(v["level"].is_string(), "{line}");
    }
    // The filter becomes info: the next reload's info line is there.
    let path = node.config_path().to_owned();
    let text = fs::read_to_string(&path).unwrap();
    fs::write(
        &path,
        text.replace("filter = \"warn\"", "filter = \"info\""),
    )
    .unwrap();
    node.signal_hup();
    wait_for("\"filter\":\"info\"");
    node.signal_hup();
    wait_for("reloaded tokens");
    // A bad filter changes nothing and the log says why.
    let text = fs::read_to_string(&path).unwrap();
    fs::write(
        &path,
        text.replace("filter = \"info\"", "filter = \"info,[[nope\""),
    )
    .unwrap();
    node.signal_hup();
    wait_for("reload refused");
    assert!(
        node.log_text().contains("log.filter"),
        "{}",
        node.log_text()
    );
    assert_eq!(
        node.client().get("/healthz", None).status,
        200,
        "the node runs on"
    );
}
