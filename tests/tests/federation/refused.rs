//! Refused data does not stop good data. A fake peer with mawei's transport
//! key (mawei is in the roster but runs no node) is a peer of taijiang and
//! serves crafted logs of lianjiang (also in the roster, not running; the
//! test holds its keys): forged, out of its jurisdiction, tampered, with
//! gaps and reorderings, then an equivocating checkpoint. Taijiang refuses
//! each, counts and logs it, keeps only what verifies, while gulou's real
//! records keep arriving through the city. Last, a peer outside the roster
//! is refused at the connection.

use libp2p::identity;
use rongxin_protocol::entry::SignedEntry;
use rongxin_protocol::record::Record;
use rongxin_tests::converge::{checkpoint, held_of};
use rongxin_tests::fakepeer::{FakePeer, LogMaker, peer_id, serve};
use rongxin_tests::fednode::FedNode;
use rongxin_tests::generate::GenFed;
use rongxin_tests::wait_for;
use serde_json::{Value, json};

use crate::DEADLINE;

const FEDERATION: &str = "rongxin.fuzhou";
const REFUSED: &str = "rongxin_replication_refused_total{peer=\"mawei\"}";

struct Case<'a> {
    fed: &'a GenFed,
    taijiang: &'a FedNode,
    gulou: &'a FedNode,
    fake: &'a FakePeer,
}

impl Case<'_> {
    /// Serves `script` and waits until taijiang refused it, counting it
    /// against mawei and logging a line with `why`; then checks that
    /// gulou's records still arrive. Returns taijiang's lianjiang size.
    fn refused(
        &self,
        what: &str,
        why: &str,
        script: impl Fn(&rongxin_protocol::wire::Request) -> rongxin_protocol::wire::Response
        + Send
        + Sync
        + 'static,
    ) -> u64 {
        let before = self.taijiang.metric(REFUSED);
        let log_from = self.taijiang.log_text().len();
        self.fake.set_script(script);
        wait_for(&format!("taijiang to refuse {what}"), DEADLINE, || {
            let log = self.taijiang.log_text();
            (self.taijiang.metric(REFUSED) > before
                && log[log_from..]
                    .lines()
                    .any(|l| l.contains("refused data from peer") && l.contains(why)))
            .then_some(())
        });
        self.good_records_keep_arriving();
        held_of(self.taijiang, "lianjiang").size
    }

    /// Submits gulou records and waits until taijiang holds them (via the city).
    fn good_records_keep_arriving(&self) {
        let n = self.gulou.submit(
            self.fed.token("gulou"),
            &self.fed.records().batch("gulou", 10),
        );
        let last = *n.last().expect("ten seqs");
        wait_for("gulou's records at taijiang", DEADLINE, || {
            (held_of(self.taijiang, "gulou").size > last).then_some(())
        });
    }
}

/// Serves exactly one entry of `log` per request, from the one asked for.
fn one_by_one(log: Vec<SignedEntry>) -> impl Fn(u64, u32) -> Vec<SignedEntry> + Send + Sync {
    move |from, _| log.get(from as usize).cloned().into_iter().collect()
}

/// Serves `log` as asked.
fn as_asked(log: Vec<SignedEntry>) -> impl Fn(u64, u32) -> Vec<SignedEntry> + Send + Sync {
    move |from, limit| {
        log.iter()
            .skip(from as usize)
            .take(limit as usize)
            .cloned()
            .collect()
    }
}

/// When `node` logged refusing a connection from `peer`.
fn refusal_times(node: &FedNode, peer: &str) -> Vec<time::OffsetDateTime> {
    node.log_text()
        .lines()
        .filter(|l| l.contains("refused a connection from a peer not in the roster"))
        .filter(|l| l.contains(peer))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .collect()
}

fn evidence(node: &FedNode) -> Value {
    node.client()
        .get("/v1/admin/evidence", Some(node.client().ops_token()))
        .ok_json()
}

#[test]
fn refused_data_does_not_stop_good_data() {
    let fed = GenFed::builder(&["city", "gulou", "taijiang"])
        .others(&["mawei", "lianjiang"])
        .peers("taijiang", &["city", "mawei"])
        .build();
    let taijiang_id = peer_id(&fed.keys("taijiang").peer_id);
    let fake = FakePeer::start(&fed.keys("mawei").transport, &[taijiang_id], &[]);
    fed.inbound("mawei").set_target(Some(fake.addr()));
    let nodes = fed.start_all(&["city", "gulou", "taijiang"]);
    let [city, gulou, taijiang] = &nodes[..] else {
        unreachable!()
    };
    let case = Case {
        fed: &fed,
        taijiang,
        gulou,
        fake: &fake,
    };
    let catalog = fed.catalog();
    let records = fed.records();
    let record = |member: &str| {
        Record::from_json(&records.record(member, "CF"), catalog).expect("a valid record")
    };
    let lianjiang = LogMaker::new(FEDERATION, "lianjiang", &fed.keys("lianjiang").signer);
    let forger = LogMaker::new(FEDERATION, "lianjiang", &fed.keys("mawei").signer);
    let forged_gulou = LogMaker::new(FEDERATION, "gulou", &fed.keys("mawei").signer);
    // lianjiang's real log, which the fake finally serves in (e).
    let real = lianjiang.log((0..8).map(|_| record("lianjiang")).collect());
    case.good_records_keep_arriving();

    // (a) Forgery with mawei's key: checkpoints of lianjiang and of gulou
    // that mawei signed, then lianjiang's entries re-signed by mawei under a
    // checkpoint lianjiang did sign.
    let cps = vec![
        forger.checkpoint(&real[..3]),
        forged_gulou.checkpoint(&forged_gulou.log(vec![record("gulou")])),
    ];
    let n = case.refused(
        "a checkpoint forged with mawei's key",
        "note has no signature by key 'rongxin.fuzhou/lianjiang'",
        serve(1, cps, "lianjiang", as_asked(real.clone())),
    );
    assert_eq!(n, 0);
    assert!(
        taijiang
            .log_text()
            .lines()
            .any(|l| l.contains("refused gulou data")
                && l.contains("no signature by key 'rongxin.fuzhou/gulou'")),
        "the forged gulou checkpoint is refused too"
    );
    let resigned: Vec<SignedEntry> = real.iter().map(|e| forger.resign(e)).collect();
    let n = case.refused(
        "entries forged with mawei's key",
        "entry 0: signature of entry 0 in the batch does not verify",
        serve(
            1,
            vec![lianjiang.checkpoint(&real[..3])],
            "lianjiang",
            as_asked(resigned),
        ),
    );
    assert_eq!(n, 0, "no forged entry kept");

    // (b) Signed by lianjiang, but about gulou's jurisdiction: the good
    // entry before it is kept, the bad one is not.
    let mut trespass = real[..1].to_vec();
    trespass.push(lianjiang.entry(1, real[0].leaf_hash(fed.suite()), record("gulou")));
    let n = case.refused(
        "an entry outside lianjiang's jurisdictions",
        "whose jurisdiction 350102 belongs to gulou",
        serve(
            1,
            vec![lianjiang.checkpoint(&trespass)],
            "lianjiang",
            one_by_one(trespass.clone()),
        ),
    );
    assert_eq!(n, 1, "kept up to the last good entry");

    // (c) A byte flipped after signing.
    let mut tampered = real[..3].to_vec();
    let last = tampered[2].bytes.len() - 1;
    tampered[2].bytes[last] ^= 0x01;
    let n = case.refused(
        "a tampered entry",
        "does not verify",
        serve(
            1,
            vec![lianjiang.checkpoint(&real[..3])],
            "lianjiang",
            one_by_one(tampered),
        ),
    );
    assert_eq!(n, 2, "kept up to the last good entry");

    // (d) A gap (2, 3, 5) and a reordering (2, 4, 3): whole batches refused.
    for (what, seqs, why) in [
        (
            "a gap",
            [2, 3, 5],
            "rule 3 (position): the entry is lianjiang/5, expected lianjiang/4",
        ),
        (
            "a reordering",
            [2, 4, 3],
            "rule 3 (position): the entry is lianjiang/4, expected lianjiang/3",
        ),
    ] {
        let batch: Vec<SignedEntry> = seqs.iter().map(|&s| real[s].clone()).collect();
        let n = case.refused(
            what,
            why,
            serve(
                1,
                vec![lianjiang.checkpoint(&real[..6])],
                "lianjiang",
                move |_, _| batch.clone(),
            ),
        );
        assert_eq!(n, 2, "{what}: nothing of the batch kept");
    }

    // (e) Equivocation. First lianjiang's real log up to 5 with its
    // checkpoint: accepted, and relayed to the city.
    let cp5 = lianjiang.checkpoint(&real[..5]);
    fake.set_script(serve(
        1,
        vec![cp5.clone()],
        "lianjiang",
        as_asked(real[..5].to_vec()),
    ));
    wait_for("lianjiang's first 5 entries at taijiang", DEADLINE, || {
        (checkpoint(taijiang, "lianjiang").as_deref() == Some(cp5.as_str())).then_some(())
    });
    assert_eq!(held_of(taijiang, "lianjiang").size, 5);
    wait_for("lianjiang's entries at the city", DEADLINE, || {
        (held_of(city, "lianjiang").size == 5).then_some(())
    });
    // Then another checkpoint for size 5, with a different (correctly signed) entry 4.
    let mut fork = real[..4].to_vec();
    fork.push(lianjiang.entry(4, real[3].leaf_hash(fed.suite()), record("lianjiang")));
    let cp5_fork = lianjiang.checkpoint(&fork);
    fake.set_script(serve(
        1,
        vec![cp5_fork.clone()],
        "lianjiang",
        as_asked(fork),
    ));
    // The node stores the evidence and the halt, flushes, then counts the
    // equivocation: the metric may lag the halt by that flush.
    let ev = wait_for("taijiang to halt lianjiang", DEADLINE, || {
        let ev = evidence(taijiang);
        (ev["halted_origins"] == json!(["lianjiang"])
            && taijiang.metric("rongxin_equivocations_total") >= 1.0)
            .then_some(ev)
    });
    let items = ev["evidence"].as_array().expect("evidence list");
    assert_eq!(items.len(), 1, "{ev:#}");
    assert_eq!(items[0]["origin"], "lianjiang");
    assert_eq!(
        items[0]["statements"]["their_checkpoint"],
        cp5_fork.as_str()
    );
    assert_eq!(items[0]["statements"]["our_checkpoint"], cp5.as_str());
    assert_eq!(taijiang.metric("rongxin_equivocations_total"), 1.0);
    let s = taijiang.status();
    assert_eq!(s["halted_origins"], json!(["lianjiang"]));
    let alarms = s["replication"]["alarms"].to_string();
    assert!(alarms.contains("equivocation by lianjiang"), "{alarms}");
    case.good_records_keep_arriving();

    // Halted: even entries consistent with what is held are not taken.
    let cp8 = lianjiang.checkpoint(&real);
    fake.set_script(serve(
        1,
        vec![cp8.clone()],
        "lianjiang",
        as_asked(real.clone()),
    ));
    wait_for("taijiang to see the halted origin again", DEADLINE, || {
        let alarms = taijiang.status()["replication"]["alarms"].to_string();
        (fake.status_requests() >= 3 && alarms.contains("lianjiang is halted")).then_some(())
    });
    case.good_records_keep_arriving();
    assert_eq!(
        fake.entries_requests(),
        0,
        "no entries asked of a halted origin"
    );
    assert_eq!(held_of(taijiang, "lianjiang").size, 5);
    assert_eq!(taijiang.metric("rongxin_equivocations_total"), 1.0);

    // Until the operator resumes it (admin token only).
    let path = "/v1/admin/origins/lianjiang/resume";
    taijiang
        .client()
        .post(path, None, None, b"")
        .expect_error(401, "unauthorized");
    let r = taijiang
        .client()
        .post(path, Some(fed.admin_token()), None, b"")
        .ok_json();
    assert_eq!(r["halted"], false, "{r:#}");
    wait_for("lianjiang's log after resuming", DEADLINE, || {
        (checkpoint(taijiang, "lianjiang").as_deref() == Some(cp8.as_str())).then_some(())
    });
    assert_eq!(held_of(taijiang, "lianjiang").size, 8);
    assert_eq!(taijiang.status()["halted_origins"], json!([]));
    assert_eq!(taijiang.metric("rongxin_equivocations_total"), 1.0);
    fed.verify_log(taijiang, "lianjiang");
    wait_for("lianjiang's log at the city", DEADLINE, || {
        (held_of(city, "lianjiang").size == 8).then_some(())
    });

    // (f) A peer outside the roster is refused when it connects.
    let before = taijiang.metric("rongxin_refused_peers_total");
    let stranger = identity::Keypair::generate_ed25519();
    let stranger_id = stranger.public().to_peer_id().to_base58();
    let intruder = FakePeer::start(
        &stranger.to_protobuf_encoding().expect("encode a key"),
        &[taijiang_id],
        &[(
            taijiang_id,
            fed.inbound("taijiang")
                .multiaddr()
                .parse()
                .expect("a multiaddr"),
        )],
    );
    wait_for("taijiang to refuse the stranger", DEADLINE, || {
        let log = taijiang.log_text();
        (taijiang.metric("rongxin_refused_peers_total") > before
            && log.lines().any(|l| {
                l.contains("refused a connection from a peer not in the roster")
                    && l.contains(&stranger_id)
            }))
        .then_some(())
    });
    assert_eq!(intruder.status_requests(), 0);
    // The stranger runs the node's own transport: refused, it redials with
    // a growing delay instead of every tick.
    let times = wait_for("four refusals of the stranger", DEADLINE, || {
        let t = refusal_times(taijiang, &stranger_id);
        (t.len() >= 4).then_some(t)
    });
    let gap = times[3] - times[2];
    assert!(
        gap >= time::Duration::milliseconds(700),
        "redials of a refused peer do not back off: {times:?}"
    );
    case.good_records_keep_arriving();

    // Through all this, gulou's log at taijiang is exactly gulou's.
    let g = fed.verify_log(taijiang, "gulou");
    assert_eq!(g.checkpoint.size, gulou.own_log().size);
    assert_eq!(
        taijiang.metric("rongxin_replication_refused_total{peer=\"city\"}"),
        0.0
    );
}
