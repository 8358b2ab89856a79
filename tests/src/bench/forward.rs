//! `forward`: the city forwarding its log to the provincial receiver
//! (`rongxin-province`, HTTPS with mutual TLS) — entries acknowledged by the
//! province per second. The city's log is loaded once without forwarding;
//! each row then starts a fresh receiver and the city on a copy of that
//! store with a `[forward]` section, and waits until the receiver holds
//! every entry.

use std::time::Instant;

use super::Size;
use super::fed::BenchFed;
use super::load::{load_file, wait_until};
use super::procs::{Perf, copy_dir, pid_with_arg, proc_stats};
use super::report::{Table, figure, mib, secs, summary};
use crate::province::{TestProvince, Trust};

/// The `batch` of the example city config, reported in the summary line.
const DEFAULT_BATCH: u64 = 500;

/// Runs the scenario; returns entries/s with the default batch.
pub fn run(fed: &BenchFed, size: Size) -> f64 {
    let n = size.entries(10_000, 200_000);
    let city_id = "city";
    let path = fed.dir().join("forward.jsonl");
    fed.sample(city_id, n, 31, &path);
    let mut loaded = fed.node(city_id, "forward-load", fed.config(city_id, &[]));
    loaded.start();
    let (load, _) = load_file(loaded.addr(), fed.token(city_id), &path);
    let _ = std::fs::remove_file(&path);
    assert_eq!(load.accepted, n);
    loaded.stop();
    let trust = Trust {
        roster: fed.roster_path(),
        root_key: fed.root_pub(),
        catalog: fed.catalog_path(),
    };
    let mut t = Table::new(
        &format!("forward: {n} entries of the city's log to a fresh province receiver"),
        &[
            "batch",
            "s",
            "entries/s",
            "city CPU %",
            "province CPU %",
            "city peak RSS MiB",
            "province peak RSS MiB",
        ],
    );
    let mut headline = 0.0;
    for batch in size.pick(vec![DEFAULT_BATCH], vec![100, DEFAULT_BATCH, 1000]) {
        let province = TestProvince::start(&trust);
        let province_pid = pid_with_arg(province.data_dir().to_str().unwrap_or_default())
            .expect("the province process is found by its data directory");
        let mut config = fed.config(city_id, &[]);
        config.insert(
            "forward".into(),
            toml::Value::Table(province.forward_section(batch)),
        );
        let mut city = fed.node(city_id, &format!("forward-{batch}"), config);
        copy_dir(&loaded.data_dir(), &city.data_dir());
        city.start();
        let city_cpu = city.stats().cpu;
        let province_cpu = proc_stats(province_pid).cpu;
        let perf = (
            Perf::attach(city.pid(), &format!("forward-city-{batch}")),
            Perf::attach(province_pid, &format!("forward-province-{batch}")),
        );
        let t0 = Instant::now();
        wait_until(
            "the province to hold every entry",
            std::time::Duration::from_secs(60).max(std::time::Duration::from_millis(n)),
            || province.count(city_id) >= n,
        );
        let elapsed = t0.elapsed();
        drop(perf);
        let wall = elapsed.as_secs_f64();
        let cs = city.stats();
        let ps = proc_stats(province_pid);
        let rate = n as f64 / wall;
        if batch == DEFAULT_BATCH {
            headline = rate;
        }
        t.row(vec![
            batch.to_string(),
            secs(elapsed),
            figure(rate),
            figure(100.0 * (cs.cpu - city_cpu) / wall),
            figure(100.0 * (ps.cpu - province_cpu) / wall),
            mib(cs.hwm),
            mib(ps.hwm),
        ]);
        city.stop();
        let _ = std::fs::remove_dir_all(city.data_dir());
    }
    let _ = std::fs::remove_dir_all(loaded.data_dir());
    t.print();
    summary(
        "forward",
        headline,
        &format!("entries/s acknowledged by the province (batch {DEFAULT_BATCH})"),
    );
    headline
}
