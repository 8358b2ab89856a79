//! `scale`: the city holding N records across the federation's 14 origins
//! (its own log and 13 replicas). Every member runs as a process; each
//! origin's share is ingested at its own node in turn while the city pulls
//! from all of them. Then: disk bytes per record, the city's memory, and
//! the time it takes to stop and restart (until `/healthz` answers, its
//! peers up) and to answer again.
//!
//! The districts here do not pull from each other (their `peers` is
//! empty): on one machine, 14 full copies of the federation would measure
//! the machine, not the city. With `--city-only` every record goes into
//! the city's own log and the districts run empty (still members that
//! report their views): 10M records then need the city's disk only.

use std::time::{Duration, Instant};

use super::fed::BenchFed;
use super::load::{load_file, wait_until};
use super::node::BenchNode;
use super::procs::Perf;
use super::report::{Table, figure, mib, ms, quantile, secs, summary, verdict};
use super::{MEMBERS, Size};

/// The targets with 10M records.
const TARGET_RSS: u64 = 1 << 30;
const TARGET_RESTART: Duration = Duration::from_secs(2);
const TARGET_DISK_PER_RECORD: f64 = 1500.0;
/// The console issue's target for the JSON its page reads.
const TARGET_CONSOLE_P99: Duration = Duration::from_millis(50);
/// The JSON endpoints the console page reads every refresh.
const CONSOLE_JSON: [&str; 2] = ["/v1/admin/federation", "/v1/admin/console"];

/// Most records in one sample file.
const PIECE: u64 = 1_000_000;

/// Runs the scenario; returns the city's disk bytes per record.
pub fn run(fed: &BenchFed, size: Size) -> f64 {
    let total = size.entries(14_000, 10_000_000);
    // How many records each member's own log gets.
    let share = |m: &str| -> u64 {
        match (size.city_only, m == "city") {
            (true, true) => total,
            (true, false) => 0,
            (false, _) => (total / MEMBERS.len() as u64).max(1),
        }
    };
    let per = share("city");
    let others: Vec<&str> = MEMBERS.iter().copied().filter(|m| *m != "city").collect();
    let mut districts: Vec<BenchNode> = others
        .iter()
        .map(|m| fed.node(m, &format!("scale-{m}"), fed.config(m, &[])))
        .collect();
    for d in districts.iter_mut() {
        d.spawn();
    }
    for d in districts.iter_mut() {
        d.wait_healthy();
    }
    let mut city = fed.node("city", "scale-city", fed.config("city", &others));
    city.start();

    let perf = Perf::attach(city.pid(), "scale-city");
    let t0 = Instant::now();
    let mut ingest_time = Duration::ZERO;
    let mut subjects = Vec::new();
    let mut records = 0;
    for (i, m) in MEMBERS.iter().enumerate() {
        let node = districts.iter().find(|d| d.member() == *m).unwrap_or(&city);
        // In files of at most PIECE records, each with its own seed (so
        // records stay distinct), to bound the disk the samples take.
        let mut left = share(m);
        let mut piece = 0;
        while left > 0 {
            let n = left.min(PIECE);
            let path = fed.dir().join(format!("scale-{m}-{piece}.jsonl"));
            fed.sample(m, n, 100 + i as u64 + 1_000 * piece, &path);
            let (run, mut s) = load_file(node.addr(), fed.token(m), &path);
            let _ = std::fs::remove_file(&path);
            assert_eq!(run.accepted, n, "{m} accepted every record");
            ingest_time += run.elapsed;
            records += n;
            left -= n;
            piece += 1;
            s.truncate(20);
            subjects.extend(s);
        }
    }
    let timeout = Duration::from_secs(300).max(Duration::from_millis(total));
    wait_until("the city to hold every origin", timeout, || {
        held_all(&city) >= records
    });
    let loaded = t0.elapsed();
    drop(perf);
    let city_disk = city.disk_bytes();
    let district_disk: u64 = districts.iter().map(BenchNode::disk_bytes).sum();
    let before = city.stats();
    let console = console_latency(&city, size.pick(100, 600));

    let stop = city.stop();
    city.spawn();
    let restart = city.wait_healthy();
    let after_start = city.stats();
    let mut lat = Vec::new();
    let first = Instant::now();
    for code in &subjects {
        let t = Instant::now();
        let r = city
            .client()
            .try_get(&format!("/v1/subjects/{code}?purpose=benchmark"), None)
            .expect("query the restarted city");
        assert_eq!(r.status, 200, "profile of {code}: {}", r.body);
        lat.push(t.elapsed());
    }
    let queries = first.elapsed();
    lat.sort_unstable();
    let after_queries = city.stats();
    // What the restart is made of: restart again without peers (opening
    // the store after a short session), then with them (plus restore
    // protection asking the 13 peers for the city's own log). The first
    // restart also replays what sled logged since its last snapshot.
    city.stop();
    let peers = city
        .config_mut()
        .insert("peers".into(), toml::Value::Array(Vec::new()));
    let open_only = city.start();
    city.stop();
    if let Some(p) = peers {
        city.config_mut().insert("peers".into(), p);
    }
    let with_peers = city.start();

    let title = if size.city_only {
        format!(
            "scale: {records} records, all in the city's own log, {} members",
            MEMBERS.len()
        )
    } else {
        format!(
            "scale: {records} records, {per} in each of {} origins, all at the city",
            MEMBERS.len()
        )
    };
    let mut t = Table::new(&title, &["measure", "value"]);
    let mut row = |k: &str, v: String| t.row(vec![k.to_owned(), v]);
    row(
        "ingest at the origins, records/s (sum of per-origin runs)",
        figure(records as f64 / ingest_time.as_secs_f64()),
    );
    row("first ingest to all held by the city, s", secs(loaded));
    row("city disk, MiB", mib(city_disk));
    row(
        "city disk bytes per record",
        figure(city_disk as f64 / records as f64),
    );
    if records > per {
        row(
            "origin disk bytes per record (own log only)",
            figure(district_disk as f64 / (records - per) as f64),
        );
    }
    row("city RSS after loading, MiB", mib(before.rss));
    row("city peak RSS while loading, MiB", mib(before.hwm));
    row("city stop (SIGTERM to exit), s", secs(stop));
    row("city restart (spawn to healthy), s", secs(restart));
    row(
        "  restart again without peers (store opening), s",
        secs(open_only),
    );
    row(
        "  restore protection with 13 peers (next restart with them), s",
        secs(with_peers.saturating_sub(open_only)),
    );
    row(
        "  replay of the loading session (first restart minus last), s",
        secs(restart.saturating_sub(with_peers)),
    );
    row("city RSS after restart, MiB", mib(after_start.rss));
    row(
        &format!("first {} queries after restart, s", lat.len()),
        secs(queries),
    );
    row(
        "their p50 / max ms",
        format!("{} / {}", ms(quantile(&lat, 0.5)), ms(quantile(&lat, 1.0))),
    );
    row("city RSS after those queries, MiB", mib(after_queries.rss));
    for (path, lat) in &console {
        row(
            &format!("console {path} p50 / p99 ms ({} requests)", lat.len()),
            format!("{} / {}", ms(quantile(lat, 0.5)), ms(quantile(lat, 0.99))),
        );
    }
    let console_p99 = console
        .iter()
        .map(|(_, l)| quantile(l, 0.99))
        .max()
        .unwrap_or_default();
    row(
        "target: console JSON p99 < 50 ms",
        format!(
            "{} (at {records} records, {} members)",
            verdict(console_p99 < TARGET_CONSOLE_P99),
            MEMBERS.len()
        ),
    );
    let rss = before.hwm.max(after_queries.rss);
    row(
        "target: city RSS < 1 GiB",
        format!("{} (at {records} records)", verdict(rss < TARGET_RSS)),
    );
    row(
        "target: city disk <= 1,500 bytes per record",
        verdict(city_disk as f64 / records as f64 <= TARGET_DISK_PER_RECORD),
    );
    row(
        "target: restart < 2 s",
        format!(
            "{} (at {records} records)",
            verdict(restart < TARGET_RESTART)
        ),
    );
    t.print();
    city.stop();
    for d in districts.iter_mut() {
        d.stop();
    }
    let _ = std::fs::remove_dir_all(city.data_dir());
    for d in &districts {
        let _ = std::fs::remove_dir_all(d.data_dir());
    }
    let per_record = city_disk as f64 / records as f64;
    summary("scale", per_record, "disk bytes per record at the city");
    per_record
}

/// Latencies of the console's JSON at the city, `n` requests of each
/// endpoint, one every 20 ms (a wall screen reads them every 5 s), sorted;
/// checks that the federation answer lists every member.
fn console_latency(city: &BenchNode, n: usize) -> Vec<(&'static str, Vec<Duration>)> {
    let token = city.client().ops_token().to_owned();
    let mut out: Vec<(&'static str, Vec<Duration>)> =
        CONSOLE_JSON.iter().map(|p| (*p, Vec::new())).collect();
    for _ in 0..n {
        for (path, lat) in out.iter_mut() {
            let t = Instant::now();
            let r = city
                .client()
                .try_get(path, Some(&token))
                .unwrap_or_else(|e| panic!("GET {path} at the city: {e}"));
            lat.push(t.elapsed());
            assert_eq!(r.status, 200, "GET {path}: {}", r.body);
            if *path == CONSOLE_JSON[0] {
                let members = r.json()["nodes"].as_array().map_or(0, Vec::len);
                assert_eq!(members, MEMBERS.len(), "one row per member: {}", r.body);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    for (_, lat) in out.iter_mut() {
        lat.sort_unstable();
    }
    out
}

/// Entries the city holds over every origin.
fn held_all(city: &BenchNode) -> u64 {
    let Ok(r) = city
        .client()
        .try_get("/v1/admin/status", Some(city.client().ops_token()))
    else {
        return 0;
    };
    if r.status != 200 {
        return 0;
    }
    r.json()["origins"]
        .as_array()
        .map_or(0, |l| l.iter().filter_map(|o| o["size"].as_u64()).sum())
}
