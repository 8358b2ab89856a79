//! The node and its disk: the query log keeps to its budget, a full disk
//! refuses writes (503 with Retry-After) while reads go on and `/healthz`
//! says why, the node recovers by itself when space returns, and its files
//! are private. The disk tests put the data directory on a small tmpfs they
//! mount themselves; that needs root (as in CI): elsewhere they print why
//! and skip.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rongxin_tests::{Federation, NodeConfig, Records, TestNode};
use serde_json::Value;

use super::tiles::verify_tiles_of;
use super::verify_own_log;

const MIB: u64 = 1024 * 1024;

/// A tmpfs mounted for one test, unmounted when dropped (after the node
/// using it is gone: declare it before the node).
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size_mib` MiB at `dir`, or says why it cannot.
    fn mount(dir: &Path, size_mib: u64) -> Option<Tmpfs> {
        fs::create_dir_all(dir).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m,mode=0700")])
            .arg("tmpfs")
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs {
                dir: dir.to_owned(),
            }),
            Ok(o) => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs at {} ({}): {}; run the tests as root to include the disk tests",
                    dir.display(),
                    o.status,
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run mount: {e}");
                None
            }
        }
    }

    /// Bytes free for unprivileged writers, as the node measures them.
    fn free(&self) -> u64 {
        let s = rustix::fs::statvfs(&self.dir).expect("statvfs");
        s.f_bavail * s.f_frsize
    }

    /// Bytes in use.
    fn used(&self) -> u64 {
        let s = rustix::fs::statvfs(&self.dir).expect("statvfs");
        (s.f_blocks - s.f_bfree) * s.f_frsize
    }

    /// Writes a filler file until at most `leave` bytes are free (0: until
    /// the file system refuses more); returns its path.
    fn fill(&self, name: &str, leave: u64) -> PathBuf {
        let path = self.dir.join(name);
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("create filler");
        let chunk = vec![0x5a_u8; MIB as usize];
        loop {
            let free = self.free();
            if free <= leave {
                break;
            }
            let n = (free - leave).min(MIB) as usize;
            match f.write_all(&chunk[..n]) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("write filler: {e}"),
            }
        }
        let _ = f.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = fs::remove_dir(&self.dir);
    }
}

/// A node of `config` whose data directory is a fresh tmpfs of `size_mib`.
fn node_on_tmpfs(config: NodeConfig, size_mib: u64) -> Option<(Tmpfs, TestNode)> {
    let scratch = tempfile::Builder::new()
        .prefix("rongxin-disk-")
        .tempdir()
        .expect("scratch dir");
    let fs = Tmpfs::mount(&scratch.path().join("data"), size_mib)?;
    let node = TestNode::start_in(config, scratch);
    Some((fs, node))
}

/// gulou's config with a `[disk]` reserve and a `[query_log]` budget.
fn config(fed: &Federation, min_free: u64, max_bytes: u64, retention: &str) -> NodeConfig {
    let mut disk = toml::Table::new();
    disk.insert("min_free_bytes".into(), (min_free as i64).into());
    let mut qlog = toml::Table::new();
    qlog.insert("max_bytes".into(), (max_bytes as i64).into());
    qlog.insert("retention".into(), retention.into());
    fed.config("gulou").set("disk", disk).set("query_log", qlog)
}

/// Polls `what` every 50 ms until it returns `Some`, or panics after `within`.
fn wait_for<T>(within: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `/healthz` answers 200 again after space returned.
fn wait_healthy(c: &rongxin_tests::Client, within: Duration) {
    wait_for(within, "healthz 200 after space returned", || {
        c.try_get("/healthz", None)
            .ok()
            .filter(|r| r.status == 200)
            .map(|_| ())
    });
}

/// `GET path` with the raw answer: status, Retry-After, body.
fn raw_get(node: &TestNode, path: &str) -> (u16, Option<String>, String) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut resp = agent
        .get(format!("{}{path}", node.client().base()))
        .call()
        .expect("GET");
    raw(&mut resp)
}

/// `POST /v1/records` with the raw answer.
fn raw_submit(node: &TestNode, token: &str, records: &[Value]) -> (u16, Option<String>, String) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut resp = agent
        .post(format!("{}/v1/records", node.client().base()))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/x-ndjson")
        .send(&rongxin_tests::client::ndjson(records)[..])
        .expect("POST /v1/records");
    raw(&mut resp)
}

fn raw(resp: &mut ureq::http::Response<ureq::Body>) -> (u16, Option<String>, String) {
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    (resp.status().as_u16(), retry, body)
}

fn error_message(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    v["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {body}"))
        .to_owned()
}

/// The query log's usage as the admin endpoint reports it.
fn usage(node: &TestNode, admin: &str) -> Value {
    let log = node
        .client()
        .get("/v1/admin/query-log?limit=1", Some(admin))
        .ok_json();
    log["usage"].clone()
}

/// A flood of anonymous queries about a subject with many records: every
/// row is bounded (200 returned records listed, the rest counted), the
/// rows never take more than `[query_log] max_bytes`, and the disk under
/// the node does not fill from queries.
#[test]
fn query_log_keeps_its_budget_under_a_flood_of_queries() {
    let fed = Federation::new();
    let max_bytes = MIB;
    let Some((fs, node)) = node_on_tmpfs(config(&fed, 8 * MIB, max_bytes, "180days"), 64) else {
        return;
    };
    let records = Records::new(&fed);
    let admin = fed.token("admin");
    let c = node.client();
    let firm = records.legal_person("gulou");
    let many: Vec<Value> = (0..300)
        .map(|_| records.about("gulou", "CF", &firm))
        .collect();
    c.submit_accepted(&fed.token("gulou"), &many);

    // One row: the first 200 returned records listed, the other 100 counted.
    let page = |purpose: &str| {
        c.get(
            &format!(
                "/v1/subjects/{}?limit=1000&purpose={}",
                firm.code,
                rongxin_tests::client::encode_query(purpose)
            ),
            None,
        )
    };
    let p = page("bounded row").ok_json();
    assert_eq!(p["records"]["CF"].as_array().map(Vec::len), Some(300));
    let log = c.get("/v1/admin/query-log?limit=1", Some(&admin)).ok_json();
    let row = &log["entries"][0];
    assert_eq!(row["purpose"], "bounded row");
    assert_eq!(row["returned"].as_array().map(Vec::len), Some(200), "{row}");
    assert_eq!(row["returned_more"], 100);
    let row_bytes = row.to_string().len() as u64;

    let used_before = fs.used();
    let started = Instant::now();
    let threads = 4;
    let per_thread = 400;
    let peak = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let page = &page;
                s.spawn(move || {
                    for i in 0..per_thread {
                        let r = page(&format!("flood {t}-{i}"));
                        assert_eq!(r.status, 200, "query {t}-{i}: {}", r.body);
                    }
                })
            })
            .collect();
        // Meanwhile the budget holds at every look.
        let mut peak = 0;
        while workers.iter().any(|w| !w.is_finished()) {
            let u = usage(&node, &admin);
            let bytes = u["bytes"].as_u64().expect("usage.bytes");
            assert!(bytes <= max_bytes, "over budget: {u}");
            peak = peak.max(bytes);
            std::thread::sleep(Duration::from_millis(100));
        }
        for w in workers {
            w.join().expect("query worker");
        }
        peak
    });
    let elapsed = started.elapsed();
    let total = (threads * per_thread) as u64;
    let u = usage(&node, &admin);
    let bytes = u["bytes"].as_u64().expect("usage.bytes");
    let rows = u["rows"].as_u64().expect("usage.rows");
    eprintln!(
        "{total} queries in {elapsed:?}; query log {rows} rows, {bytes} bytes (peak seen {peak}) of a {max_bytes}-byte budget; a row is about {row_bytes} bytes of JSON; tmpfs used {} MiB before the flood, {} MiB after",
        used_before / MIB,
        fs.used() / MIB
    );
    assert!(bytes <= max_bytes, "{u}");
    assert!(rows < total / 2, "old rows were pruned: {u}");
    // The newest query is there; the oldest are gone.
    let newest = c
        .get("/v1/admin/query-log?limit=1000", Some(&admin))
        .ok_json();
    let entries = newest["entries"].as_array().expect("entries");
    assert_eq!(entries.len() as u64, rows.min(1000));
    assert!(
        !entries.iter().any(|e| e["purpose"] == "bounded row"),
        "the oldest row was pruned"
    );
    // The budget bounds the rows the store holds; sled reuses the space
    // of pruned rows as it cleans its segments, which may lag a burst
    // like this one (seen here: 3 to 9 MiB of growth for 9.4 MB of rows
    // written). The disk itself is protected by [disk] min_free_bytes
    // (a_full_disk_refuses_writes_keeps_reads_and_recovers_by_itself).
    let grown = fs.used().saturating_sub(used_before);
    eprintln!("the store's file system grew by {grown} bytes during the flood");
    assert_eq!(c.get("/healthz", None).status, 200);
}

/// Rows older than `[query_log] retention` are pruned in the background.
#[test]
fn query_log_rows_leave_after_their_retention() {
    let fed = Federation::new();
    let node = config(&fed, 0, 64 * MIB, "2s").start();
    let admin = fed.token("admin");
    let c = node.client();
    let records = Records::new(&fed);
    let firm = records.legal_person("gulou");
    for i in 0..5 {
        c.profile(&firm.code, None, &format!("old {i}")).ok_json();
    }
    assert_eq!(usage(&node, &admin)["rows"], 5);
    let started = Instant::now();
    wait_for(
        Duration::from_secs(10),
        "rows past retention pruned",
        || (usage(&node, &admin)["rows"] == 0).then_some(()),
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "pruned before their retention"
    );
    c.profile(&firm.code, None, "new").ok_json();
    let log = c.get("/v1/admin/query-log", Some(&admin)).ok_json();
    assert_eq!(log["entries"][0]["purpose"], "new");
}

/// The disk fills, from ingest and then from another writer: ingest and
/// queries answer 503 with Retry-After and the reason, reads go on,
/// `/healthz` is 503 naming the cause, the process keeps running. Space
/// is freed: the node writes again by itself, and after a restart every
/// acknowledged record is there.
#[test]
fn a_full_disk_refuses_writes_keeps_reads_and_recovers_by_itself() {
    let fed = Federation::new();
    let reserve = 8 * MIB;
    let Some((fs, mut node)) = node_on_tmpfs(config(&fed, reserve, MIB, "180days"), 48) else {
        return;
    };
    let records = Records::new(&fed);
    let token = fed.token("gulou");
    let c = node.client().clone();
    let firm = records.legal_person("gulou");
    let mut acked = c.submit_accepted(&token, &[records.about("gulou", "CF", &firm)]);

    // Leave 6 MiB above the reserve, and fill that by ingest.
    let filler = fs.fill("filler", reserve + 6 * MIB);
    let refused = loop {
        let (status, retry, body) = raw_submit(&node, &token, &records.batch("gulou", 200));
        match status {
            200 => {
                let v: Value = serde_json::from_str(&body).expect("ingest answer");
                assert_eq!(v["accepted"], 200, "{body}");
                acked.extend(rongxin_tests::client::seqs(&v));
                assert!(acked.len() < 100_000, "the disk never filled");
            }
            503 => break (retry, body),
            other => panic!("ingest answered {other}: {body}"),
        }
    };
    eprintln!(
        "{} records acknowledged before the disk reached the reserve; {} KiB free",
        acked.len(),
        fs.free() / 1024
    );
    let (retry, body) = refused;
    assert_eq!(retry.as_deref(), Some("30"), "Retry-After on 503: {body}");
    let msg = error_message(&body);
    assert!(
        msg.contains("store not writable") && msg.contains("min_free_bytes"),
        "{msg}"
    );

    // Health says why; reads go on; a query is answered only once
    // registered, so not now.
    let (status, retry, body) = raw_get(&node, "/healthz");
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry.as_deref(), Some("30"));
    let why = error_message(&body);
    assert!(why.contains("below the reserve"), "{why}");
    assert_eq!(c.own_log().size, acked.len() as u64);
    assert_eq!(c.entries("gulou", 0, 10).len(), 10);
    let (status, retry, body) = raw_get(&node, &format!("/v1/subjects/{}?purpose=full", firm.code));
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry.as_deref(), Some("30"));
    assert!(
        error_message(&body).contains("store not writable"),
        "{body}"
    );

    // Another writer takes the rest: the file system is full. sled may now
    // fail even on reads (it consolidates pages as it reads, and that
    // writes): the node must not stop, and still say why.
    let full = fs.fill("full", 0);
    assert!(fs.free() < MIB, "{} bytes still free", fs.free());
    let (status, _, body) = raw_submit(&node, &token, &[records.about("gulou", "CF", &firm)]);
    assert_eq!(status, 503, "{body}");
    let (status, _, body) = raw_get(&node, "/healthz");
    assert_eq!(status, 503, "{body}");
    assert!(
        error_message(&body).contains("store not writable"),
        "{body}"
    );
    let cp = c.get("/v1/logs/gulou/checkpoint", None);
    assert_eq!(cp.status, 200, "{}", cp.body);
    wait_for(
        Duration::from_secs(10),
        "the probe saw the full disk",
        || {
            c.metrics()
                .lines()
                .any(|l| l == "rongxin_store_writable 0")
                .then_some(())
        },
    );
    assert!(node.is_running(), "the node stopped on a full disk");
    assert!(node.log_text().contains("store not writable"));

    // Space returns: the node resumes by itself (opening its store again
    // in-process if sled gave up after an I/O error).
    fs::remove_file(&full).expect("remove filler");
    fs::remove_file(&filler).expect("remove filler");
    let t = Instant::now();
    wait_healthy(&c, Duration::from_secs(30));
    eprintln!(
        "healthy again {:?} after space returned (restarted in-process: {})",
        t.elapsed(),
        node.log_text()
            .contains("restarting to open the store again")
    );
    assert!(node.is_running());
    acked.extend(c.submit_accepted(&token, &[records.about("gulou", "CF", &firm)]));
    c.profile(&firm.code, None, "after").ok_json();

    // Nothing acknowledged was lost.
    node.stop_clean();
    node.restart();
    let head = node.client().own_log();
    assert_eq!(head.size, acked.len() as u64);
    let mut want = acked.clone();
    want.sort_unstable();
    assert_eq!(want, (0..acked.len() as u64).collect::<Vec<_>>());
    verify_own_log(&node);
}

/// The data directory is 0700 and the store's files 0600 whatever the
/// umask, including a data directory an operator created open to others,
/// and files sled writes later (snapshots).
#[test]
fn data_directory_and_store_files_are_private() {
    // The usual umask, so that files would be world-readable without care.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let fed = Federation::new();
    let scratch = tempfile::Builder::new()
        .prefix("rongxin-modes-")
        .tempdir()
        .expect("scratch");
    let data = scratch.path().join("data");
    fs::create_dir(&data).expect("data dir");
    fs::set_permissions(&data, fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut node = TestNode::start_in(fed.config("gulou"), scratch);
    let records = Records::new(&fed);
    node.client()
        .submit_accepted(&fed.token("gulou"), &records.batch("gulou", 50));
    node.stop_clean();
    node.restart();
    node.client()
        .submit_accepted(&fed.token("gulou"), &records.batch("gulou", 5));
    node.stop_clean();

    let mut seen = 0;
    check_private(&node.data_dir(), &mut seen);
    assert!(
        seen >= 3,
        "only {seen} files and directories under the data dir"
    );
    // Not the result of a umask that happens to be strict.
    let probe = node.data_dir().parent().expect("scratch").join("probe");
    File::create(&probe).expect("probe file");
    assert_eq!(mode(&probe), 0o644);
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

fn check_private(dir: &Path, seen: &mut usize) {
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    *seen += 1;
    for e in fs::read_dir(dir).expect("read dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            check_private(&p, seen);
        } else {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
            *seen += 1;
        }
    }
}

/// `[query_log]` and `[disk]` are checked before start, naming the key.
#[test]
fn query_log_and_disk_settings_are_checked() {
    let fed = Federation::new();
    let bad = |table: &str, key: &str, value: toml::Value| {
        let mut t = toml::Table::new();
        t.insert(key.into(), value);
        let run = fed.config("gulou").set(table, t).run_expecting_failure();
        assert_eq!(run.code, Some(2), "{}", run.stderr);
        run.stderr
    };
    let e = bad("query_log", "retention", "a while".into());
    assert!(e.contains("query_log.retention"), "{e}");
    let e = bad("query_log", "max_bytes", 1000.into());
    assert!(e.contains("query_log.max_bytes"), "{e}");
    let e = bad("query_log", "max_byte", 1000.into());
    assert!(e.contains("max_byte"), "{e}");
    let e = bad("disk", "min_free", 1000.into());
    assert!(e.contains("min_free"), "{e}");
}

/// With no reserve the disk fills under sled itself: its write fails with
/// ENOSPC and sled refuses every write from then on. The node does not
/// stop, says why, and once space returns opens its store again by itself
/// (a restart inside the process); every acknowledged record is there.
#[test]
fn a_failed_write_is_survived_and_the_store_reopened_once_space_returns() {
    let fed = Federation::new();
    let Some((fs, mut node)) = node_on_tmpfs(config(&fed, 0, MIB, "180days"), 40) else {
        return;
    };
    let records = Records::new(&fed);
    let token = fed.token("gulou");
    let c = node.client().clone();
    let pid = node.pid();
    let filler = fs.fill("filler", 6 * MIB);
    let mut acked = Vec::new();
    let body = loop {
        let (status, _, body) = raw_submit(&node, &token, &records.batch("gulou", 200));
        match status {
            200 => {
                let v: Value = serde_json::from_str(&body).expect("ingest answer");
                acked.extend(rongxin_tests::client::seqs(&v));
                assert!(acked.len() < 100_000, "the disk never filled");
            }
            503 => break body,
            other => panic!("ingest answered {other}: {body}"),
        }
    };
    let msg = error_message(&body);
    assert!(msg.contains("a write failed"), "{msg}");
    // `/healthz` says why, unless the node is already inside its in-process
    // restart (when sled's own write met ENOSPC and the node saw space
    // free again at once): then its HTTP listener is closed for that moment,
    // and the log must say so.
    match c.try_get("/healthz", None) {
        Ok(r) => {
            assert_eq!(r.status, 503, "{}", r.body);
            assert!(
                error_message(&r.body).contains("a write failed"),
                "{}",
                r.body
            );
        }
        Err(e) => assert!(
            node.log_text()
                .contains("restarting to open the store again"),
            "/healthz unreachable ({e}) and no in-process restart logged"
        ),
    }
    assert!(node.is_running(), "the node stopped after ENOSPC");

    fs::remove_file(&filler).expect("remove filler");
    let t = Instant::now();
    wait_healthy(&c, Duration::from_secs(60));
    eprintln!(
        "{} records acknowledged before ENOSPC; healthy again {:?} after space returned",
        acked.len(),
        t.elapsed()
    );
    assert_eq!(node.pid(), pid, "the same process");
    assert!(node.is_running());
    // Which write meets ENOSPC first depends on timing: when it is sled's,
    // sled refuses every later write and only the in-process reopen clears
    // it; when it is a log file's append, the group fails, nothing is
    // committed, and the writer takes writes again once space returns.
    // Both end healthy in the same process with every acknowledged record.
    let reopened = node
        .log_text()
        .contains("restarting to open the store again");
    eprintln!("the store was reopened in-process: {reopened}");
    acked.extend(c.submit_accepted(&token, &records.batch("gulou", 3)));
    // The failed append left no trace in the tiles, in the store opened
    // again in-process and after a restart: read as tiles by tlog_tiles,
    // the log is one tree with its checkpoint's root and holds exactly what
    // was acknowledged.
    let auditor = fed.token("auditor");
    assert_eq!(
        verify_tiles_of(&c, "gulou", &auditor).0.size(),
        acked.len() as u64
    );
    node.stop_clean();
    node.restart();
    assert_eq!(node.client().own_log().size, acked.len() as u64);
    verify_own_log(&node);
    let (cp, _) = verify_tiles_of(node.client(), "gulou", &auditor);
    assert_eq!(cp.size(), acked.len() as u64);
}
