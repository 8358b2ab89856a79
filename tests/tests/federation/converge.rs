//! Five nodes, loaded at once, converge to identical logs everywhere.

use rongxin_tests::converge::{checkpoint, own_sizes, wait_converged};
use rongxin_tests::generate::{GenFed, ctl};
use rongxin_tests::wait_for;

use crate::DEADLINE;

const MEMBERS: [&str; 5] = ["city", "ftz", "gulou", "taijiang", "cangshan"];

#[test]
fn five_nodes_converge() {
    let fed = GenFed::builder(&MEMBERS).build();
    let nodes = fed.start_all(&MEMBERS);
    let records = fed.records();
    let per_node = 200;

    // A few hundred records into each node, all loading at once.
    std::thread::scope(|s| {
        for n in &nodes {
            s.spawn(|| {
                for _ in 0..2 {
                    let batch = records.batch(n.member(), per_node / 2);
                    n.submit(fed.token(n.member()), &batch);
                }
            });
        }
    });
    let refs: Vec<_> = nodes.iter().collect();
    let expected = own_sizes(&refs);
    assert!(
        expected.values().all(|&n| n == per_node as u64),
        "{expected:?}"
    );
    let agreed = wait_converged(&refs, &MEMBERS, &expected, DEADLINE);

    // Every node serves each origin's checkpoint exactly as the origin signed it.
    for n in &nodes {
        let own = n.own_log();
        assert_eq!(agreed[n.member()].root, own.root);
        for other in &nodes {
            assert_eq!(
                checkpoint(other, n.member()).as_deref(),
                Some(own.checkpoint.as_str()),
                "{}'s checkpoint as {} serves it",
                n.member(),
                other.member()
            );
        }
    }

    // A gulou record fetched from taijiang verifies offline with rongxinctl,
    // and the whole gulou log as taijiang holds it verifies end to end.
    let taijiang = &nodes[3];
    let report = fed.audit_verify(taijiang, "gulou", 17);
    assert!(report.contains("gulou"), "{report}");
    let log = fed.verify_log(taijiang, "gulou");
    assert_eq!(log.checkpoint.size, per_node as u64);
    let gulou = &nodes[2];
    assert_eq!(
        log.put_keys(),
        fed.verify_log(gulou, "gulou").put_keys(),
        "taijiang holds gulou's records as gulou signed them"
    );

    // The operator's view agrees: taijiang holds all of gulou's log, no lag
    // (polled: the row shows what the city said at its last sync round).
    let n = per_node.to_string();
    wait_for("rongxinctl replication to show no lag", DEADLINE, || {
        let tokens = rongxin_tests::bins::token_file(taijiang.client().ops_token());
        let out = ctl(&[
            "replication",
            "--node",
            taijiang.client().base(),
            "--token-file",
            tokens.to_str().expect("UTF-8 path"),
        ]);
        let table = String::from_utf8_lossy(&out.stdout).into_owned();
        table
            .lines()
            .any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.len() >= 5 && cols[..5] == ["gulou", "city", n.as_str(), n.as_str(), "0"]
            })
            .then_some(())
    });

    // The city's red and black lists span every origin's list records.
    let city = &nodes[0];
    for list in ["red", "black"] {
        let mut page = 0;
        let mut origins = std::collections::BTreeSet::new();
        loop {
            let l = city
                .client()
                .get(&format!("/v1/lists/{list}?page={page}"), None)
                .ok_json();
            for item in l["items"].as_array().expect("items") {
                origins.insert(item["origin"].as_str().expect("origin").to_owned());
            }
            match l["next_page"].as_u64() {
                Some(p) => page = p as usize,
                None => break,
            }
        }
        let all: std::collections::BTreeSet<String> =
            MEMBERS.iter().map(|m| m.to_string()).collect();
        assert_eq!(
            origins, all,
            "the city's {list} list holds records of every origin"
        );
    }

    // No node refused anything or raised an alarm.
    for n in &nodes {
        let s = n.status();
        assert_eq!(s["halted_origins"], serde_json::json!([]), "{s:#}");
        assert_eq!(s["replication"]["alarms"], serde_json::json!([]), "{s:#}");
        assert_eq!(n.metric("rongxin_equivocations_total"), 0.0);
    }
}
