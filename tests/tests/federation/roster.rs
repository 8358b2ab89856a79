//! Roster updates reach running nodes over the wire: a newer root-signed
//! roster given to one node (the city, restarted with it) is adopted by the
//! others without a restart; a member it adds can connect and its records
//! replicate; a member a later roster removes is disconnected and its new
//! entries go nowhere.

use rongxin_tests::converge::{held_of, wait_converged};
use rongxin_tests::fednode::FedNode;
use rongxin_tests::generate::GenFed;
use rongxin_tests::verify::verify_log;
use rongxin_tests::wait_for;
use serde_json::Value;
use std::collections::BTreeMap;

use crate::DEADLINE;

/// Waits until `node` has roster `version` in force (status and metric).
fn wait_roster(node: &FedNode, version: u64) {
    wait_for(
        &format!("{} to adopt roster version {version}", node.member()),
        DEADLINE,
        || (node.status()["roster_version"] == version).then_some(()),
    );
    assert_eq!(node.metric("rongxin_roster_version"), version as f64);
}

/// `node`'s replication row for `peer`.
fn peer_row(node: &FedNode, peer: &str) -> Option<Value> {
    node.status()["replication"]["peers"]
        .as_array()?
        .iter()
        .find(|p| p["peer"] == peer)
        .cloned()
}

fn log_lines_with(node: &FedNode, a: &str, b: &str) -> usize {
    node.log_text()
        .lines()
        .filter(|l| l.contains(a) && l.contains(b))
        .count()
}

#[test]
fn roster_update_without_restart() {
    let fed = GenFed::builder(&["city", "gulou", "taijiang"])
        .later(&["changle"])
        .build();
    let mut nodes = fed.start_all(&["city", "gulou", "taijiang"]);
    let records = fed.records();
    nodes[1].submit(fed.token("gulou"), &records.batch("gulou", 20));
    let [city, gulou, taijiang] = &mut nodes[..] else {
        unreachable!()
    };

    // Roster 2 adds changle. Only the city is given it (restarted with it).
    let (v2_path, v2) = fed.sign_roster(2, &["city", "gulou", "taijiang", "changle"]);
    city.stop_clean();
    city.set_roster(&v2_path);
    city.set_peers(&["gulou", "taijiang", "changle"]);
    city.restart();
    wait_roster(gulou, 2);
    wait_roster(taijiang, 2);

    // changle starts with roster 2 and dials the city and taijiang, which
    // never restarted: taijiang lets it in and answers it.
    let mut config = fed.config("changle");
    config.insert("roster".into(), v2_path.to_str().expect("UTF-8").into());
    config.insert(
        "peers".into(),
        vec!["city".to_owned(), "taijiang".to_owned()].into(),
    );
    let mut changle = fed.node_with("changle", config);
    changle.start();
    changle.submit(fed.token("changle"), &records.batch("changle", 30));
    let refs = [&*city, &*gulou, &*taijiang, &changle];
    let expected = BTreeMap::from([("changle".to_owned(), 30), ("gulou".to_owned(), 20)]);
    wait_converged(&refs, &["changle", "gulou"], &expected, DEADLINE);
    let row = peer_row(&changle, "taijiang").expect("changle's row for taijiang");
    assert!(row["last_error"].is_null(), "{row:#}");
    assert!(row["last_contact_seconds"].is_number(), "{row:#}");
    verify_log(taijiang.client(), &v2.roster, fed.catalog(), "changle")
        .expect("changle's log at taijiang verifies under roster 2");
    let changle_id = fed.keys("changle").peer_id.clone();

    // Roster 3 removes changle; again only the city is given it.
    let (v3_path, _) = fed.sign_roster(3, &["city", "gulou", "taijiang"]);
    city.stop_clean();
    city.set_roster(&v3_path);
    city.set_peers(&["gulou", "taijiang"]);
    city.restart();
    wait_roster(gulou, 3);
    wait_roster(taijiang, 3);

    // taijiang closes changle's connection and refuses its redials.
    wait_for("taijiang to refuse changle's connections", DEADLINE, || {
        (log_lines_with(taijiang, "peer no longer in the roster", &changle_id) > 0
            && log_lines_with(taijiang, "not in the roster", &changle_id) > 1)
            .then_some(())
    });
    wait_for("changle to lose taijiang", DEADLINE, || {
        peer_row(&changle, "taijiang")?["last_error"]
            .as_str()
            .map(str::to_owned)
    });

    // changle's new entries reach nobody, while gulou's still do. (If
    // changle itself learned roster 3 before it was cut off, it refuses to
    // sign for a roster that no longer lists it.)
    let answer = changle
        .client()
        .submit(fed.token("changle"), &records.batch("changle", 20));
    let knows_v3 = changle.status()["roster_version"] == 3;
    if knows_v3 {
        assert_eq!(answer["rejected"], 20, "{answer:#}");
        assert!(
            answer
                .to_string()
                .contains("not in the roster in force (version 3)"),
            "{answer:#}"
        );
    } else {
        assert_eq!(answer["accepted"], 20, "{answer:#}");
    }
    let refused = taijiang.metric("rongxin_refused_peers_total");
    let seq = gulou.submit(fed.token("gulou"), &records.batch("gulou", 10))[9];
    wait_for("gulou's records at taijiang", DEADLINE, || {
        (held_of(taijiang, "gulou").size > seq
            && taijiang.metric("rongxin_refused_peers_total") > refused)
            .then_some(())
    });
    assert_eq!(changle.own_log().size, if knows_v3 { 30 } else { 50 });
    for n in [&*city, &*gulou, &*taijiang] {
        assert_eq!(held_of(n, "changle").size, 30, "{}", n.member());
        // Peers holding the removed member's old log are not blamed for it.
        for p in ["city", "gulou", "taijiang"] {
            assert_eq!(
                n.metric(&format!(
                    "rongxin_replication_refused_total{{peer=\"{p}\"}}"
                )),
                0.0,
                "{} counted refusals against {p}",
                n.member()
            );
        }
    }
}
