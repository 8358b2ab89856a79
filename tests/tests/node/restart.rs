//! A clean stop and restart keeps everything, and the log continues.

use rongxin_protocol::suite::Suite;
use rongxin_tests::client::{seqs, statuses};
use rongxin_tests::verify::{open_checkpoint, verify_consistency};

use crate::{gulou, verify_own_log};

#[test]
fn restart_keeps_everything_and_the_log_continues() {
    let (fed, mut node, records) = gulou();
    let token = fed.token("gulou");
    let roster = &fed.roster().roster;
    let mut sent = Vec::new();
    for _ in 0..3 {
        let batch = records.batch("gulou", 10);
        node.client().submit_accepted(&token, &batch);
        sent.extend(batch);
    }
    let subject = records.legal_person("gulou");
    let mine = records.about("gulou", "CF", &subject);
    let mine_seq = node
        .client()
        .submit_accepted(&token, std::slice::from_ref(&mine))[0];
    let before = node.client().own_log();
    assert_eq!(before.size, 31);
    let old_cp = open_checkpoint(roster, "gulou", &before.checkpoint).unwrap();
    let old_bundle = node.client().bundle("gulou", 5).ok_json();

    node.stop_clean();
    node.restart();
    let c = node.client();

    // The same signed checkpoint, byte for byte.
    let after = c.own_log();
    assert_eq!(after, before);
    assert_eq!(c.checkpoint_note("gulou"), before.checkpoint);

    // Query and bundles still work; the bundle is the same one.
    let p = c.profile(&subject.code, None, "after restart").ok_json();
    assert_eq!(p["records"]["CF"][0]["seq"], mine_seq);
    let b = c.bundle("gulou", 5).ok_json();
    assert_eq!(b, old_bundle);
    fed.verify_bundle(&b.to_string()).unwrap();

    // Everything sent before is a duplicate at its old seq.
    let again = c.submit(&token, &sent);
    assert_eq!(statuses(&again), vec!["duplicate"; 30]);
    assert_eq!(seqs(&again), (0..30).collect::<Vec<_>>());

    // New ingests continue at the next seq and chain onto the old entries.
    let next = records.batch("gulou", 12);
    let next_seqs = c.submit_accepted(&token, &next);
    assert_eq!(next_seqs, (31..43).collect::<Vec<_>>());
    let log = verify_own_log(&node);
    assert_eq!(log.checkpoint.size, 43);
    verify_consistency(Suite::Ed25519Sha256, c, "gulou", &old_cp, &log.checkpoint).unwrap();
    let b = c.bundle("gulou", 42).ok_json();
    fed.verify_bundle(&b.to_string()).unwrap();
    let b = c.bundle("gulou", 5).ok_json();
    assert_eq!(
        fed.verify_bundle(&b.to_string()).unwrap().checkpoint.size,
        43
    );

    // And once more, to be sure a restart after a restart is no different.
    node.stop_clean();
    node.restart();
    assert_eq!(node.client().own_log().size, 43);
    assert_eq!(verify_own_log(&node).checkpoint, log.checkpoint);
}
