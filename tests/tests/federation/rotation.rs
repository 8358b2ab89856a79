//! Key rotation and compromise drills over real processes (docs/operations.md,
//! "Key rotation and compromise"): no node restarts, records keep flowing,
//! and every entry of every key verifies at every node, in bundles with
//! `rongxinctl audit verify` and with the independent Python verifier.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use rongxin_protocol::entry::{Entry, Op, SignedEntry};
use rongxin_protocol::record::Record;
use rongxin_protocol::roster::MemberKey;
use rongxin_tests::bins;
use rongxin_tests::converge::wait_converged;
use rongxin_tests::fakepeer::{FakePeer, LogMaker, peer_id, serve};
use rongxin_tests::fednode::FedNode;
use rongxin_tests::generate::{ADMIN_TOKEN, GenFed, ctl};
use rongxin_tests::verify::verify_log;
use rongxin_tests::wait_for;
use serde_json::Value;

use crate::DEADLINE;

const FEDERATION: &str = "rongxin.fuzhou";

/// Waits until `node` has roster `version` in force.
fn wait_roster(node: &FedNode, version: u64) {
    wait_for(
        &format!("{} to adopt roster version {version}", node.member()),
        DEADLINE,
        || (node.status()["roster_version"] == version).then_some(()),
    );
}

/// `rongxinctl roster push` of `roster` to `node` with the admin token.
fn push(node: &FedNode, roster: &Path) -> String {
    let token = bins::token_file(ADMIN_TOKEN);
    let out = ctl(&[
        "roster",
        "push",
        roster.to_str().expect("UTF-8"),
        "--node",
        node.client().base(),
        "--token-file",
        token.to_str().expect("UTF-8"),
    ]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// gulou's key history with `more` appended.
fn with_keys(more: Vec<MemberKey>) -> impl FnOnce(&mut rongxin_protocol::roster::Roster) {
    move |r| {
        let gulou = r
            .members
            .iter_mut()
            .find(|m| m.id == "gulou")
            .expect("gulou");
        gulou.keys.extend(more);
    }
}

fn key_of(signer: &rongxin_protocol::note::NoteSigner, from: Option<u64>) -> MemberKey {
    MemberKey {
        key: signer.verifier().key().to_base64(),
        from,
        compromised: false,
    }
}

/// Positions of gulou's key handovers as `node` holds its log.
fn handovers(node: &FedNode, size: u64) -> Vec<u64> {
    node.client()
        .entries("gulou", 0, size)
        .iter()
        .filter_map(|e| Entry::decode(&e.bytes).ok())
        .filter(|e| matches!(e.op, Op::KeyHandover(_)))
        .map(|e| e.seq)
        .collect()
}

/// Runs the independent Python verifier on the bundle of `origin`/`seq`
/// from `node`; panics unless it says OK.
fn python_verify(fed: &GenFed, node: &FedNode, origin: &str, seq: u64) {
    let r = node.client().bundle(origin, seq);
    assert_eq!(r.status, 200, "bundle {origin}/{seq}: {}", r.body);
    let path: PathBuf = fed
        .dir()
        .join(format!("py-bundle-{origin}-{seq}-{}.json", node.member()));
    std::fs::write(&path, &r.body).expect("write the bundle");
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/rongxin_verify.py");
    let out = Command::new("python3")
        .arg(&tool)
        .arg(&path)
        .arg("--root")
        .arg(fed.root_pub())
        .output()
        .expect("run python3 tools/rongxin_verify.py");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.starts_with("OK"),
        "Python verifier on {origin}/{seq} from {}: {text}{}",
        node.member(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn gulou_rotates_twice_while_records_flow_and_every_proof_holds() {
    let fed = GenFed::builder(&["city", "gulou", "taijiang"]).build();
    let members = ["city", "gulou", "taijiang"];
    let mut nodes = fed.start_all(&members);
    let records = fed.records();
    let token = fed.token("gulou").to_owned();
    nodes[1].submit(&token, &records.batch("gulou", 20));

    // Records keep arriving at gulou through both rotations.
    let stop = AtomicBool::new(false);
    let client = nodes[1].client().clone();
    let batches = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let answer = client.submit(&token, &records.batch("gulou", 5));
                assert_eq!(answer["accepted"], 5, "{answer}");
                sent += 5;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            sent
        });
        let [city, gulou, taijiang] = &mut nodes[..] else {
            unreachable!()
        };

        // Rotation 1: gulou's operator makes key 2 and installs it (SIGHUP,
        // no restart); the city signs roster 2 listing it as pending and
        // gives it to the city node, which spreads it.
        let (k2_path, k2) = fed.new_signing_key("gulou", "signing-2");
        gulou.config_mut().insert(
            "next_signing_keys".into(),
            vec![k2_path.to_str().expect("UTF-8").to_owned()].into(),
        );
        gulou.reload();
        let (v2, _) = fed.sign_roster_with(2, &members, with_keys(vec![key_of(&k2, None)]));
        let said = push(city, &v2);
        assert!(said.contains("put roster version 2 in force"), "{said}");
        wait_roster(gulou, 2);
        wait_roster(taijiang, 2);
        let first = wait_for("gulou's first handover", DEADLINE, || {
            let size = gulou.own_log().size;
            handovers(gulou, size).first().copied()
        });

        // Rotation 2: key 3; roster 3 also confirms key 2's start.
        let (k3_path, k3) = fed.new_signing_key("gulou", "signing-3");
        gulou.config_mut().insert(
            "next_signing_keys".into(),
            vec![
                k2_path.to_str().expect("UTF-8").to_owned(),
                k3_path.to_str().expect("UTF-8").to_owned(),
            ]
            .into(),
        );
        gulou.reload();
        let (v3, v3_roster) = fed.sign_roster_with(
            3,
            &members,
            with_keys(vec![key_of(&k2, Some(first + 1)), key_of(&k3, None)]),
        );
        push(taijiang, &v3);
        wait_roster(gulou, 3);
        wait_for("gulou's second handover", DEADLINE, || {
            let size = gulou.own_log().size;
            (handovers(gulou, size).len() == 2).then_some(())
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        (writer.join().expect("the writer thread"), v3_roster)
    });
    let (batches, v3) = batches;
    let [city, gulou, taijiang] = &nodes[..] else {
        unreachable!()
    };
    let size = gulou.own_log().size;
    let steps = handovers(gulou, size);
    assert_eq!(steps.len(), 2, "two handovers: {steps:?}");
    // Every record submitted is in the log: 20 + the writer's + 2 handovers.
    assert_eq!(size, 20 + batches + 2, "log size");

    let expected = BTreeMap::from([("gulou".to_owned(), size)]);
    wait_converged(&[city, gulou, taijiang], &["gulou"], &expected, DEADLINE);
    for node in [city, gulou, taijiang] {
        let log = verify_log(node.client(), &v3.roster, fed.catalog(), "gulou")
            .unwrap_or_else(|e| panic!("gulou's log at {}: {e}", node.member()));
        assert_eq!(log.checkpoint.size, size);
    }
    // Bundles of every key's entries, and of the handovers, from the nodes
    // that did not sign them: rongxinctl and the Python verifier agree.
    let (h1, h2) = (steps[0], steps[1]);
    for seq in [0, h1 - 1, h1, h1 + 1, h2 - 1, h2, h2 + 1, size - 1] {
        for node in [city, taijiang] {
            let report = fed.audit_verify(node, "gulou", seq);
            assert!(report.contains(&format!("seq {seq} ")), "{report}");
            python_verify(&fed, node, "gulou", seq);
        }
    }
    // The bundle of a new-key entry carries the handover that is still
    // pending in roster 3 (key 3), not the one roster 3 confirmed.
    let b: Value =
        serde_json::from_str(&city.client().bundle("gulou", size - 1).body).expect("bundle JSON");
    let carried: Vec<u64> = b["handovers"]
        .as_array()
        .map(|a| a.iter().filter_map(|h| h["leaf_index"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(carried, vec![h2], "{b:#}");
}

/// A fake-peer script serving lianjiang's `log` with `checkpoint`.
fn serve_log(
    roster_version: u64,
    checkpoint: String,
    log: &[SignedEntry],
) -> impl Fn(&rongxin_protocol::wire::Request) -> rongxin_protocol::wire::Response + Send + Sync + 'static
{
    let log = log.to_vec();
    serve(
        roster_version,
        vec![checkpoint],
        "lianjiang",
        move |from, limit| {
            log.iter()
                .skip(from as usize)
                .take(limit as usize)
                .cloned()
                .collect()
        },
    )
}

#[test]
fn a_compromised_key_is_refused_past_the_position_the_root_fixes() {
    // lianjiang is played by a fake peer serving what the test signs: first
    // its real log under key 1, then what a thief of key 1 would send after
    // the compromise, then the real member's log under key 2.
    let fed = GenFed::builder(&["city", "taijiang"])
        .others(&["lianjiang"])
        .peers("taijiang", &["city", "lianjiang"])
        .build();
    let taijiang_id = peer_id(&fed.keys("taijiang").peer_id);
    let fake = FakePeer::start(&fed.keys("lianjiang").transport, &[taijiang_id], &[]);
    fed.inbound("lianjiang").set_target(Some(fake.addr()));
    let nodes = fed.start_all(&["city", "taijiang"]);
    let taijiang = &nodes[1];
    let records = fed.records();
    let record =
        || Record::from_json(&records.record("lianjiang", "CF"), fed.catalog()).expect("a record");
    let key1 = LogMaker::new(FEDERATION, "lianjiang", &fed.keys("lianjiang").signer);
    let real = key1.log((0..5).map(|_| record()).collect());
    fake.set_script(serve_log(1, key1.checkpoint(&real), &real));
    wait_for("taijiang to hold lianjiang's 5 entries", DEADLINE, || {
        (rongxin_tests::converge::held_of(taijiang, "lianjiang").size == 5).then_some(())
    });

    // The compromise: roster 2 marks key 1 compromised; key 2 signs from 5.
    let (k2_path, k2) = fed.new_signing_key("lianjiang", "signing-2");
    assert!(k2_path.exists());
    let members = ["city", "taijiang", "lianjiang"];
    let (v2, v2_roster) = fed.sign_roster_with(2, &members, |r| {
        let m = r
            .members
            .iter_mut()
            .find(|m| m.id == "lianjiang")
            .expect("lianjiang");
        m.keys[0].compromised = true;
        m.keys.push(key_of(&k2, Some(5)));
    });
    push(taijiang, &v2);
    wait_roster(taijiang, 2);

    // The thief signs entries 5.. and a checkpoint with key 1: refused, and
    // kept as evidence; lianjiang is not halted.
    let suite = fed.roster().suite;
    let mut stolen = real.clone();
    let mut prev = real[4].leaf_hash(suite);
    for seq in 5..8 {
        let e = key1.entry(seq, prev, record());
        prev = e.leaf_hash(suite);
        stolen.push(e);
    }
    fake.set_script(serve_log(2, key1.checkpoint(&stolen), &stolen));
    let evidence = wait_for("evidence of the compromised key", DEADLINE, || {
        let ev = taijiang
            .client()
            .get("/v1/admin/evidence", Some(taijiang.client().ops_token()))
            .ok_json();
        ev["evidence"]
            .as_array()?
            .iter()
            .find(|e| e["kind"] == "compromised-key" && e["origin"] == "lianjiang")
            .cloned()
    });
    assert!(
        evidence["why"]
            .as_str()
            .is_some_and(|w| w.contains("marks compromised")),
        "{evidence:#}"
    );
    assert_eq!(
        rongxin_tests::converge::held_of(taijiang, "lianjiang").size,
        5
    );
    let ev = taijiang
        .client()
        .get("/v1/admin/evidence", Some(taijiang.client().ops_token()))
        .ok_json();
    assert!(
        !ev["halted_origins"]
            .as_array()
            .is_some_and(|h| h.iter().any(|o| o == "lianjiang")),
        "{ev:#}"
    );

    // The real member continues under key 2 from position 5: accepted.
    let key2 = LogMaker::new(FEDERATION, "lianjiang", &k2);
    let mut honest = real.clone();
    let mut prev = real[4].leaf_hash(suite);
    for seq in 5..9 {
        let e = key2.entry(seq, prev, record());
        prev = e.leaf_hash(suite);
        honest.push(e);
    }
    fake.set_script(serve_log(2, key2.checkpoint(&honest), &honest));
    wait_for("taijiang to hold lianjiang's 9 entries", DEADLINE, || {
        (rongxin_tests::converge::held_of(taijiang, "lianjiang").size == 9).then_some(())
    });
    let log = verify_log(
        taijiang.client(),
        &v2_roster.roster,
        fed.catalog(),
        "lianjiang",
    )
    .expect("lianjiang's log verifies under roster 2");
    assert_eq!(log.checkpoint.size, 9);
    for seq in [0, 4, 5, 8] {
        fed.audit_verify(taijiang, "lianjiang", seq);
        python_verify(&fed, taijiang, "lianjiang", seq);
    }
}

#[test]
fn after_a_compromise_the_member_signs_only_once_it_holds_its_new_key() {
    let fed = GenFed::builder(&["city", "gulou"]).build();
    let members = ["city", "gulou"];
    let mut nodes = fed.start_all(&members);
    let records = fed.records();
    let token = fed.token("gulou").to_owned();
    nodes[1].submit(&token, &records.batch("gulou", 10));
    let size = nodes[1].own_log().size;
    assert_eq!(size, 10);

    // Key 1 is declared compromised from position 10; key 2 signs from there.
    let (k2_path, k2) = fed.new_signing_key("gulou", "signing-2");
    let (v2, v2_roster) = fed.sign_roster_with(2, &members, |r| {
        let m = r
            .members
            .iter_mut()
            .find(|m| m.id == "gulou")
            .expect("gulou");
        m.keys[0].compromised = true;
        m.keys.push(key_of(&k2, Some(size)));
    });
    let [city, gulou] = &mut nodes[..] else {
        unreachable!()
    };
    push(city, &v2);
    wait_roster(gulou, 2);

    // Without key 2, gulou refuses to sign, and says what to do.
    let refused = gulou
        .client()
        .try_submit(&token, &records.batch("gulou", 1))
        .expect("an answer");
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(
        refused.body.contains("next_signing_keys"),
        "{}",
        refused.body
    );
    assert_eq!(gulou.own_log().size, size, "nothing signed");

    // Installed and reloaded (no restart): gulou signs on with key 2.
    gulou.config_mut().insert(
        "next_signing_keys".into(),
        vec![k2_path.to_str().expect("UTF-8").to_owned()].into(),
    );
    gulou.reload();
    wait_for("gulou to sign with key 2", DEADLINE, || {
        let r = gulou
            .client()
            .try_submit(&token, &records.batch("gulou", 5))
            .expect("an answer");
        (r.status == 200).then_some(())
    });
    let size = gulou.own_log().size;
    let expected = BTreeMap::from([("gulou".to_owned(), size)]);
    wait_converged(&[city, gulou], &["gulou"], &expected, DEADLINE);
    let log = verify_log(city.client(), &v2_roster.roster, fed.catalog(), "gulou")
        .expect("gulou's log verifies under roster 2");
    assert_eq!(log.checkpoint.size, size);
    fed.audit_verify(city, "gulou", size - 1);
    python_verify(&fed, city, "gulou", size - 1);
}
