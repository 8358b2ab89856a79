//! Restore protection: a node whose disk was lost, or restored from an old
//! backup, fetches its own log back from peers before it signs anything, so
//! it never signs over positions it already published.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use rongxin_tests::client::statuses;
use rongxin_tests::converge::wait_converged;
use rongxin_tests::fednode::FedNode;
use rongxin_tests::generate::GenFed;
use rongxin_tests::verify::{open_checkpoint, verify_consistency};

use crate::DEADLINE;

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create a directory");
    for e in fs::read_dir(from).expect("read a directory") {
        let e = e.expect("a directory entry");
        let dst = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            fs::copy(e.path(), &dst).expect("copy a file");
        }
    }
}

/// Waits until the city holds gulou's whole log, identical.
fn city_has_all_of_gulou(city: &FedNode, gulou: &FedNode) {
    let expected = BTreeMap::from([("gulou".to_owned(), gulou.own_log().size)]);
    wait_converged(&[city, gulou], &["gulou"], &expected, DEADLINE);
}

/// The city accepted every gulou entry: nothing halted, refused or alarmed.
fn no_fork_seen(city: &FedNode) {
    let s = city.status();
    assert_eq!(s["halted_origins"], serde_json::json!([]), "{s:#}");
    assert_eq!(s["replication"]["alarms"], serde_json::json!([]), "{s:#}");
    assert_eq!(city.metric("rongxin_equivocations_total"), 0.0);
    assert_eq!(
        city.metric("rongxin_replication_refused_total{peer=\"gulou\"}"),
        0.0
    );
}

#[test]
fn restore_protection() {
    let fed = GenFed::builder(&["city", "gulou"]).build();
    let mut nodes = fed.start_all(&["city", "gulou"]);
    let (city, gulou) = match &mut nodes[..] {
        [c, g] => (c, g),
        _ => unreachable!(),
    };
    let token = fed.token("gulou");
    let records = fed.records();
    let roster = fed.roster();

    let first = records.batch("gulou", 300);
    gulou.submit(token, &first);
    city_has_all_of_gulou(city, gulou);
    let before = gulou.own_log();
    let old_cp = open_checkpoint(roster, "gulou", &before.checkpoint).expect("checkpoint");

    // 1. The disk is lost: the keys and config stay, the data directory goes.
    gulou.stop_clean();
    fs::remove_dir_all(gulou.data_dir()).expect("delete gulou's data");
    gulou.restart();
    // Healthy means ingest is open: the log is already back, byte for byte.
    assert_eq!(gulou.own_log(), before, "gulou's own log after restoring");
    // Its records are known again: resubmitting them changes nothing.
    let again = gulou.client().submit(token, &first[..20]);
    assert_eq!(statuses(&again), vec!["duplicate"; 20], "{again:#}");
    let seqs = gulou.submit(token, &records.batch("gulou", 50));
    assert_eq!(seqs, (300..350).collect::<Vec<_>>());
    let log = fed.verify_log(gulou, "gulou");
    verify_consistency(
        fed.suite(),
        gulou.client(),
        "gulou",
        &old_cp,
        &log.checkpoint,
    )
    .expect("the new checkpoint extends the one published before the loss");
    city_has_all_of_gulou(city, gulou);
    no_fork_seen(city);

    // 2. An old backup: copied while stopped, then gulou signs more entries
    //    that reach the city, then the backup is restored.
    gulou.stop_clean();
    let backup = fed.dir().join("gulou-backup");
    copy_dir(&gulou.data_dir(), &backup);
    gulou.restart();
    gulou.submit(token, &records.batch("gulou", 100));
    city_has_all_of_gulou(city, gulou);
    let published = gulou.own_log();
    assert_eq!(published.size, 450);
    gulou.stop_clean();
    fs::remove_dir_all(gulou.data_dir()).expect("delete gulou's data");
    copy_dir(&backup, &gulou.data_dir());
    gulou.restart();
    assert_eq!(
        gulou.own_log(),
        published,
        "gulou fetched the entries its backup lacks before opening ingest"
    );
    let seqs = gulou.submit(token, &records.batch("gulou", 20));
    assert_eq!(seqs, (450..470).collect::<Vec<_>>(), "no seq signed twice");
    let log = fed.verify_log(gulou, "gulou");
    assert_eq!(log.checkpoint.size, 470);
    city_has_all_of_gulou(city, gulou);
    fed.verify_log(city, "gulou");
    no_fork_seen(city);
    assert!(
        !gulou.log_text().contains("forked"),
        "gulou saw a fork of its own log:\n{}",
        gulou.log_text()
    );
}
