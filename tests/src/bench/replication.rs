//! `replication`: a district holding a backlog of N entries and a fresh
//! city node catching up over loopback (libp2p, TLS, yamux): every entry
//! batch-verified, checked, stored and indexed at the city. Measured from
//! the city's spawn until its status shows the whole backlog; a profile
//! query at the city then shows the records are queryable.

use std::time::{Duration, Instant};

use super::Size;
use super::fed::BenchFed;
use super::load::{load_file, wait_until};
use super::procs::Perf;
use super::report::{Table, figure, mib, secs, summary, verdict};

/// The target, verified entries/s end to end.
pub const TARGET: f64 = 50_000.0;

/// Runs the scenario; returns verified entries/s at the city.
pub fn run(fed: &BenchFed, size: Size) -> f64 {
    let rate = measure(fed, size);
    summary(
        "replication",
        rate,
        "entries/s verified, stored and indexed",
    );
    rate
}

/// Runs the scenario and prints its table, without the summary line (for
/// scenarios that compare against it, such as `anchor`); returns verified
/// entries/s at the city.
pub fn measure(fed: &BenchFed, size: Size) -> f64 {
    let n = size.entries(20_000, 1_000_000);
    let (district_id, city_id) = ("gulou", "city");
    let path = fed.dir().join("replication.jsonl");
    fed.sample(district_id, n, 21, &path);
    let mut district = fed.node(district_id, "repl-gulou", fed.config(district_id, &[]));
    district.start();
    let (load, subjects) = load_file(district.addr(), fed.token(district_id), &path);
    let _ = std::fs::remove_file(&path);
    assert_eq!(load.accepted, n, "the district holds the whole backlog");
    district.reset_peak();
    let district_cpu = district.stats().cpu;

    let mut city = fed.node(city_id, "repl-city", fed.config(city_id, &[district_id]));
    let district_perf = Perf::attach(district.pid(), "replication-district");
    city.spawn();
    let t0 = Instant::now();
    let city_perf = Perf::attach(city.pid(), "replication-city");
    let healthy = city.wait_healthy();
    let mut first = None;
    let timeout = Duration::from_secs(120).max(Duration::from_millis(n / 2));
    wait_until("the city to catch up", timeout, || {
        let held = city.held(district_id);
        if held > 0 && first.is_none() {
            first = Some(t0.elapsed());
        }
        held >= n
    });
    let total = t0.elapsed();
    drop((city_perf, district_perf));
    let city_stats = city.stats();
    let district_stats = district.stats();
    let district_cpu = district_stats.cpu - district_cpu;
    let subject = subjects.first().expect("a sampled subject");
    let profile = city.client().profile(subject, None, "benchmark").ok_json();
    let shown: usize = profile["records"].as_object().map_or(0, |m| {
        m.values().filter_map(|v| v.as_array()).map(Vec::len).sum()
    });
    assert!(
        shown + profile["hidden"]["expired"].as_u64().unwrap_or(0) as usize > 0,
        "the city holds no record of {subject}: {profile}"
    );
    let city_disk = city.disk_bytes();
    let audit = audit_log(fed, &city, district_id, n);

    // From healthy (the node serves, replication has begun) to caught up.
    let catch_up = total - healthy;
    let rate = n as f64 / catch_up.as_secs_f64();
    let wall = total.as_secs_f64();
    let mut t = Table::new(
        &format!("replication: {n} entries of {district_id} to a fresh {city_id} over loopback"),
        &["measure", "value"],
    );
    let mut row = |k: &str, v: String| t.row(vec![k.to_owned(), v]);
    row(
        "district load (8 clients, batches of 1000), records/s",
        figure(load.rate()),
    );
    row("city spawn to healthy, s", secs(healthy));
    row(
        "city spawn to first entry held, s",
        first.map_or("n/a".to_owned(), secs),
    );
    row("city spawn to caught up, s", secs(total));
    row("verified entries/s (healthy to caught up)", figure(rate));
    row(
        &format!("target >= {TARGET:.0} entries/s"),
        verdict(rate >= TARGET),
    );
    row(
        "1M backlog queryable in < 30 s (at this rate)",
        format!(
            "{} ({:.1} s)",
            verdict(1e6 / rate < 30.0),
            1e6 / rate + healthy.as_secs_f64()
        ),
    );
    row(
        "city CPU s (% of wall)",
        format!(
            "{:.2} ({:.0} %)",
            city_stats.cpu,
            100.0 * city_stats.cpu / wall
        ),
    );
    row(
        "city CPU µs per entry",
        figure(city_stats.cpu * 1e6 / n as f64),
    );
    row(
        "district CPU s serving (% of wall)",
        format!("{:.2} ({:.0} %)", district_cpu, 100.0 * district_cpu / wall),
    );
    row("city peak RSS, MiB", mib(city_stats.hwm));
    row(
        "district peak RSS while serving, MiB",
        mib(district_stats.hwm),
    );
    row("city disk, MiB", mib(city_disk));
    row(
        "city disk bytes per entry",
        figure(city_disk as f64 / n as f64),
    );
    row(
        "profile query at the city after catch-up",
        format!("{shown} records of {subject}"),
    );
    row(
        &format!("rongxinctl audit log of the {n} entries at the city, s (entries/s)"),
        format!(
            "{} ({})",
            secs(audit),
            figure(n as f64 / audit.as_secs_f64())
        ),
    );
    t.print();
    city.stop();
    district.stop();
    let _ = std::fs::remove_dir_all(city.data_dir());
    let _ = std::fs::remove_dir_all(district.data_dir());
    rate
}

/// Runs `rongxinctl audit log` of `origin` against `node` (admin token, so
/// every entry is read) until its verdict; asserts it is OK for `n` entries
/// and returns how long it took.
fn audit_log(fed: &BenchFed, node: &super::node::BenchNode, origin: &str, n: u64) -> Duration {
    let token = crate::bins::token_file(crate::generate::ADMIN_TOKEN);
    let state = fed.dir().join(format!("audit-{origin}.state"));
    let t = Instant::now();
    let out = std::process::Command::new(crate::bins::ctl())
        .args(["audit", "log", "--restart", "--node"])
        .arg(format!("http://{}", node.addr()))
        .arg(origin)
        .arg("--roster")
        .arg(fed.roster_path())
        .arg("--root")
        .arg(fed.root_pub())
        .arg("--catalog")
        .arg(fed.catalog_path())
        .arg("--token-file")
        .arg(&token)
        .arg("--state")
        .arg(&state)
        .output()
        .expect("run rongxinctl audit log");
    let took = t.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.starts_with("OK "),
        "audit log of {origin}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.replace(',', "").contains(&format!("{n} entries")),
        "audit log of {origin} did not cover {n} entries: {text}"
    );
    let _ = std::fs::remove_file(&state);
    took
}
