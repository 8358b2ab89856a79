//! Relay and partition: districts that peer only with the city get each
//! other's records through it; a district cut off from everyone (every
//! connection touching it crosses a proxy the test cuts) does not stop the
//! others, and catches up when the link heals.

use std::time::Duration;

use rongxin_tests::converge::{held_of, own_sizes, wait_converged};
use rongxin_tests::generate::GenFed;
use rongxin_tests::wait_for;

use crate::DEADLINE;

const MEMBERS: [&str; 4] = ["city", "gulou", "taijiang", "cangshan"];

#[test]
fn relay_through_the_city_and_partition_heals() {
    // Districts peer with the city only; gulou dials the city through a
    // link of its own, and everyone reaches gulou through its proxy.
    let fed = GenFed::builder(&MEMBERS)
        .peers("gulou", &["city"])
        .peers("taijiang", &["city"])
        .peers("cangshan", &["city"])
        .link("gulou", "city")
        .build();
    let nodes = fed.start_all(&MEMBERS);
    let [city, gulou, taijiang, cangshan] = &nodes[..] else {
        unreachable!()
    };
    let records = fed.records();
    let refs: Vec<_> = nodes.iter().collect();

    // 1. Relay: gulou's records reach taijiang and cangshan through the city.
    for n in &nodes {
        n.submit(fed.token(n.member()), &records.batch(n.member(), 60));
    }
    wait_converged(&refs, &MEMBERS, &own_sizes(&refs), DEADLINE);
    let peers_of_taijiang: Vec<String> = taijiang.status()["replication"]["peers"]
        .as_array()
        .expect("replication peers")
        .iter()
        .map(|p| p["peer"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(
        peers_of_taijiang,
        ["city"],
        "taijiang talks to the city only"
    );
    fed.verify_log(taijiang, "gulou");
    assert!(fed.link("gulou", "city").forwarded() > 0);

    // 2. Cut gulou off both ways: open connections close, new ones fail.
    let gulou_links = fed.proxies_of("gulou");
    for p in &gulou_links {
        p.cut();
    }
    wait_for("gulou to notice the cut", DEADLINE, || {
        let s = gulou.status();
        let city_row = s["replication"]["peers"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["peer"] == "city").cloned())?;
        city_row["last_error"].as_str().map(str::to_owned)
    });
    assert!(gulou_links.iter().all(|p| p.open_connections() == 0));
    let gulou_before = gulou.own_log().size;
    let city_had = held_of(city, "gulou");
    assert_eq!(city_had.size, gulou_before);
    gulou.submit(fed.token("gulou"), &records.batch("gulou", 40));
    taijiang.submit(fed.token("taijiang"), &records.batch("taijiang", 40));

    // taijiang's new records still reach cangshan, through the city ...
    let t_size = taijiang.own_log().size;
    wait_for("taijiang's records at cangshan", DEADLINE, || {
        (held_of(cangshan, "taijiang").size == t_size).then_some(())
    });
    // ... while nothing crosses the cut: the city has none of gulou's new
    // entries and gulou none of taijiang's.
    assert_eq!(held_of(city, "gulou"), city_had);
    assert_eq!(held_of(cangshan, "gulou").size, gulou_before);
    assert!(held_of(gulou, "taijiang").size < t_size);
    let dropped = gulou_links.iter().map(|p| p.dropped()).sum::<u64>();
    wait_for("redials refused at the cut", DEADLINE, || {
        (gulou_links.iter().map(|p| p.dropped()).sum::<u64>() > dropped).then_some(())
    });
    assert_eq!(held_of(city, "gulou"), city_had);

    // 3. Heal: gulou catches up both ways and everyone converges.
    for p in &gulou_links {
        p.heal();
    }
    let agreed = wait_converged(&refs, &MEMBERS, &own_sizes(&refs), DEADLINE);
    assert_eq!(agreed["gulou"].size, gulou_before + 40);
    for n in &nodes {
        fed.verify_log(n, "gulou");
        let s = n.status();
        assert_eq!(s["halted_origins"], serde_json::json!([]), "{s:#}");
        assert_eq!(n.metric("rongxin_equivocations_total"), 0.0);
    }
    // The city's view of gulou recovers too.
    wait_for(
        "the city's contact with gulou",
        Duration::from_secs(30),
        || {
            let s = city.status();
            let row = s["replication"]["peers"]
                .as_array()
                .and_then(|a| a.iter().find(|p| p["peer"] == "gulou").cloned())?;
            row["last_error"].is_null().then_some(())
        },
    );
}
