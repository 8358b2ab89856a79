//! `query`: subject profile queries (`GET /v1/subjects/{code}`, anonymous,
//! so every query is also written to the query log) at a steady rate
//! against a node holding N records. Open loop: request `i` is due at
//! `start + i / rate` whatever happened to earlier ones, and its latency
//! counts from when it was due, so a slow answer delays nothing
//! unmeasured (no coordinated omission).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Size;
use super::fed::BenchFed;
use super::load::load_file;
use super::procs::Perf;
use super::report::{Table, figure, ms, quantile, summary, verdict};
use crate::client::{Client, encode_query};

/// The target: p99 under this many milliseconds.
pub const TARGET_P99_MS: f64 = 10.0;
/// Requests per second.
const RATE: u64 = 1000;
/// Client threads sharing the schedule: each has 16 ms per request before
/// it falls behind.
const WORKERS: u64 = 16;

/// Runs the scenario; returns the p99 latency in milliseconds.
pub fn run(fed: &BenchFed, size: Size) -> f64 {
    let n = size.entries(20_000, 1_000_000);
    let seconds = size.pick(2, 30);
    let member = "gulou";
    let path = fed.dir().join("query.jsonl");
    fed.sample(member, n, 41, &path);
    let mut node = fed.node(member, "query", fed.config(member, &[]));
    node.start();
    let (load, subjects) = load_file(node.addr(), fed.token(member), &path);
    let _ = std::fs::remove_file(&path);
    assert_eq!(load.accepted, n);
    assert!(!subjects.is_empty(), "sampled subjects to query");

    // Warm-up (not measured): connections, caches.
    let warm = open_loop(&node.client().clone(), &subjects, RATE / 2);
    assert!(warm.errors == 0, "warm-up queries failed");
    let cpu = node.stats().cpu;
    let perf = Perf::attach(node.pid(), "query");
    let run = open_loop(&node.client().clone(), &subjects, RATE * seconds);
    drop(perf);
    let wall = run.elapsed.as_secs_f64();
    let node_cpu = node.stats().cpu - cpu;
    let rss = node.stats();
    node.stop();
    let _ = std::fs::remove_dir_all(node.data_dir());

    let lat = &run.latencies;
    let p99 = quantile(lat, 0.99).as_secs_f64() * 1000.0;
    let mut t = Table::new(
        &format!(
            "query: {} profile queries at {RATE}/s over {} subjects, node holding {n} records",
            lat.len(),
            subjects.len()
        ),
        &["measure", "value"],
    );
    let mut row = |k: &str, v: String| t.row(vec![k.to_owned(), v]);
    row("achieved requests/s", figure(lat.len() as f64 / wall));
    row("errors", run.errors.to_string());
    row("p50 ms", ms(quantile(lat, 0.5)));
    row("p90 ms", ms(quantile(lat, 0.9)));
    row("p99 ms", ms(quantile(lat, 0.99)));
    row("p99.9 ms", ms(quantile(lat, 0.999)));
    row("max ms", ms(lat.last().copied().unwrap_or_default()));
    row(
        "records per profile (sampled answers)",
        figure(run.records as f64 / run.sampled.max(1) as f64),
    );
    row("node CPU %", figure(100.0 * node_cpu / wall));
    row("node RSS MiB", super::report::mib(rss.rss));
    row(
        &format!("target p99 < {TARGET_P99_MS} ms"),
        verdict(p99 < TARGET_P99_MS),
    );
    t.print();
    summary("query", p99, &format!("ms p99 at {RATE} requests/s"));
    p99
}

/// What an open-loop run saw.
#[derive(Debug, Default)]
struct OpenLoop {
    latencies: Vec<Duration>,
    errors: u64,
    elapsed: Duration,
    records: u64,
    sampled: u64,
}

/// Sends `total` profile queries at [`RATE`] per second from [`WORKERS`] threads.
fn open_loop(client: &Client, subjects: &[String], total: u64) -> OpenLoop {
    let interval = Duration::from_secs_f64(1.0 / RATE as f64);
    let start = Instant::now() + Duration::from_millis(20);
    let out = Mutex::new(OpenLoop::default());
    std::thread::scope(|s| {
        for w in 0..WORKERS {
            let out = &out;
            s.spawn(move || {
                let client = Client::new(
                    client
                        .base()
                        .trim_start_matches("http://")
                        .parse()
                        .expect("an address"),
                );
                let mut mine = OpenLoop::default();
                let mut i = w;
                while i < total {
                    let due = start + interval.mul_f64(i as f64);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let code = &subjects[(i as usize * 7919) % subjects.len()];
                    let path = format!("/v1/subjects/{}?purpose=benchmark", encode_query(code));
                    match client.try_get(&path, None) {
                        Ok(r) if r.status == 200 => {
                            mine.latencies.push(due.elapsed());
                            if i.is_multiple_of(50)
                                && let Ok(v) = serde_json::from_str::<Value>(&r.body)
                            {
                                mine.sampled += 1;
                                mine.records += v["records"].as_object().map_or(0, |m| {
                                    m.values()
                                        .filter_map(Value::as_array)
                                        .map(|a| a.len() as u64)
                                        .sum()
                                });
                            }
                        }
                        _ => mine.errors += 1,
                    }
                    i += WORKERS;
                }
                let mut o = out.lock().expect("results lock");
                o.latencies.extend(mine.latencies);
                o.errors += mine.errors;
                o.records += mine.records;
                o.sampled += mine.sampled;
            });
        }
    });
    let mut o = out.into_inner().expect("results lock");
    o.elapsed = start.elapsed();
    o.latencies.sort_unstable();
    o
}
