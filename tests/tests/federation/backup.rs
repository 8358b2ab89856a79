//! Online backup and restore (`rongxinctl backup`, `rongxin-node restore`):
//! a backup taken while a department keeps submitting, restored into an
//! empty data directory, gives back a node that holds every acknowledged
//! record (from the backup, or from its peers through restore protection)
//! and signs on without forking its log.

use std::fs;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rongxin_protocol::backup::Manifest;
use rongxin_tests::bins::{ctl, node, token_file};
use rongxin_tests::client::statuses;
use rongxin_tests::converge::wait_converged;
use rongxin_tests::generate::GenFed;
use serde_json::Value;

use crate::DEADLINE;

/// A copy of the archive at `from` with one byte of gulou's last entry
/// changed and the manifest's digest of that member made to match, so that
/// only a check of the entries themselves can tell.
fn tampered(from: &std::path::Path, to: &std::path::Path) {
    use sha2::Digest as _;
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    let mut tar = tar::Archive::new(fs::File::open(from).expect("open the backup"));
    for e in tar.entries().expect("a tar archive") {
        let mut e = e.expect("a member");
        let path = e
            .path()
            .expect("a path")
            .to_str()
            .expect("utf-8")
            .to_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut bytes).expect("read a member");
        members.push((path, bytes));
    }
    let entries = members
        .iter_mut()
        .find(|(p, _)| p == "logs/gulou/entries")
        .expect("gulou's entries");
    let last = entries.1.len() - 1;
    entries.1[last] ^= 0x01;
    let digest = hex::encode(sha2::Sha256::digest(&entries.1));
    let (_, text) = members.last_mut().expect("the manifest");
    let mut manifest: Manifest = serde_json::from_slice(text).expect("the manifest");
    for f in &mut manifest.files {
        if f.path == "logs/gulou/entries" {
            f.sha256.clone_from(&digest);
        }
    }
    *text = serde_json::to_vec(&manifest).expect("json");
    let mut out = tar::Builder::new(fs::File::create(to).expect("create"));
    for (path, bytes) in &members {
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o600);
        h.set_path(path).expect("a path");
        h.set_cksum();
        out.append(&h, bytes.as_slice()).expect("append");
    }
    out.finish().expect("finish");
}

/// Reads the manifest out of a backup archive.
fn manifest_of(path: &std::path::Path) -> Manifest {
    let mut tar = tar::Archive::new(fs::File::open(path).expect("open the backup"));
    for e in tar.entries().expect("a tar archive") {
        let mut e = e.expect("a member");
        if e.path().expect("a path").to_str() == Some("rongxin-backup.json") {
            return serde_json::from_reader(&mut e).expect("the manifest parses");
        }
    }
    panic!("no manifest in {}", path.display());
}

#[test]
fn backup_under_ingest_restores_every_acknowledged_record() {
    let fed = GenFed::builder(&["city", "gulou"]).build();
    let mut nodes = fed.start_all(&["city", "gulou"]);
    let (city, gulou) = match &mut nodes[..] {
        [c, g] => (c, g),
        _ => unreachable!(),
    };
    let token = fed.token("gulou").to_owned();
    let records = fed.records();
    let mut submitted: Vec<Value> = records.batch("gulou", 300);
    gulou.submit(&token, &submitted);

    // A department keeps submitting while the backup runs, and after it.
    let batches: Vec<Vec<Value>> = (0..60).map(|_| records.batch("gulou", 25)).collect();
    let acked: Arc<Mutex<Vec<Value>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let ingest = {
        let (client, token, acked, stop) = (
            gulou.client().clone(),
            token.clone(),
            acked.clone(),
            stop.clone(),
        );
        std::thread::spawn(move || {
            for batch in batches {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                client.submit_accepted(&token, &batch);
                acked.lock().expect("lock").extend(batch);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let archive = fed.dir().join("gulou.tar");
    let out = Command::new(ctl())
        .args(["backup", "--node", gulou.client().base(), "--token-file"])
        .arg(token_file(fed.admin_token()))
        .arg("--out")
        .arg(&archive)
        .output()
        .expect("run rongxinctl backup");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rongxinctl backup: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("verified:"), "{stdout}");
    assert!(stdout.contains("rongxin-node restore --from"), "{stdout}");
    // A second backup refuses to overwrite the first.
    let again = Command::new(ctl())
        .args(["backup", "--node", gulou.client().base(), "--token-file"])
        .arg(token_file(fed.admin_token()))
        .arg("--out")
        .arg(&archive)
        .output()
        .expect("run rongxinctl backup");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    // An archive whose entries were changed (digests made to match) fails
    // both the independent verification and the restore.
    let bad = fed.dir().join("tampered.tar");
    tampered(&archive, &bad);
    let verify = Command::new(ctl())
        .args(["backup", "--verify"])
        .arg(&bad)
        .output()
        .expect("run rongxinctl backup --verify");
    let err = String::from_utf8_lossy(&verify.stderr);
    assert!(!verify.status.success(), "{err}");
    assert!(err.contains("log gulou") || err.contains("entry"), "{err}");
    let scratch = fed.dir().join("scratch-restore");
    let refused = Command::new(node())
        .args(["restore", "--from"])
        .arg(&bad)
        .arg("--data-dir")
        .arg(&scratch)
        .output()
        .expect("run rongxin-node restore");
    assert!(!refused.status.success());
    assert!(!scratch.join("store").exists() && !scratch.join("logs").exists());
    let good = Command::new(ctl())
        .args(["backup", "--verify"])
        .arg(&archive)
        .output()
        .expect("run rongxinctl backup --verify");
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );

    // Ingest goes on past the backup.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    ingest.join().expect("the ingest thread");
    submitted.extend(acked.lock().expect("lock").drain(..));
    let published = gulou.own_log();
    assert_eq!(published.size, submitted.len() as u64);
    let manifest = manifest_of(&archive);
    let backed_up = manifest
        .logs
        .iter()
        .find(|l| l.origin == "gulou")
        .expect("gulou's log is in the backup")
        .size;
    assert!(
        (300..published.size).contains(&backed_up),
        "the backup ({backed_up}) was taken during ingest, before its end ({})",
        published.size
    );
    let expected = std::collections::BTreeMap::from([("gulou".to_owned(), published.size)]);
    wait_converged(&[&*city, &*gulou], &["gulou"], &expected, DEADLINE);

    // The disk is lost; the backup is restored into an empty directory.
    gulou.stop_clean();
    fs::remove_dir_all(gulou.data_dir()).expect("delete gulou's data");
    let restored = Command::new(node())
        .args(["restore", "--from"])
        .arg(&archive)
        .arg("--data-dir")
        .arg(gulou.data_dir())
        .output()
        .expect("run rongxin-node restore");
    let text = String::from_utf8_lossy(&restored.stdout);
    assert!(
        restored.status.success(),
        "restore: {text}\n{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    assert!(text.contains("checks out"), "{text}");
    // Restoring over a store is refused and changes nothing.
    let over = Command::new(node())
        .args(["restore", "--from"])
        .arg(&archive)
        .arg("--data-dir")
        .arg(gulou.data_dir())
        .output()
        .expect("run rongxin-node restore");
    assert!(!over.status.success());
    assert!(
        String::from_utf8_lossy(&over.stderr).contains("already holds a store"),
        "{}",
        String::from_utf8_lossy(&over.stderr)
    );

    gulou.restart();
    // Restore protection: what the backup lacks came back from the city
    // before ingest opened.
    assert_eq!(gulou.own_log(), published, "gulou's log after the restore");
    // Every acknowledged record is there: submitting each again is a duplicate.
    for chunk in submitted.chunks(500) {
        let answer = gulou.client().submit(&token, chunk);
        assert_eq!(
            statuses(&answer),
            vec!["duplicate"; chunk.len()],
            "{answer:#}"
        );
    }
    let seqs = gulou.submit(&token, &records.batch("gulou", 10));
    let next = published.size;
    assert_eq!(
        seqs,
        (next..next + 10).collect::<Vec<_>>(),
        "no seq signed twice"
    );
    let log = fed.verify_log(gulou, "gulou");
    assert_eq!(log.checkpoint.size, next + 10);
    let expected = std::collections::BTreeMap::from([("gulou".to_owned(), next + 10)]);
    wait_converged(&[&*city, &*gulou], &["gulou"], &expected, DEADLINE);
    fed.verify_log(city, "gulou");
    let s = city.status();
    assert_eq!(s["halted_origins"], serde_json::json!([]), "{s:#}");
    assert_eq!(city.metric("rongxin_equivocations_total"), 0.0);
}
