//! `ingest`: durable records per second and acknowledgement latency of
//! `POST /v1/records` with batches of 1, 100 and 1000 records and 1, 8 and
//! 64 concurrent clients. Each row runs on a fresh node (empty store) so
//! that rows do not inherit each other's data; bodies are prepared before
//! the clock starts.

use std::time::{Duration, Instant};

use super::Size;
use super::fed::BenchFed;
use super::load::{MemoryBatches, ingest, read_lines};
use super::procs::{Perf, own_cpu};
use super::report::{Table, figure, ms, quantile, summary, verdict};
use crate::fednode::metric;

/// The target with batches of 1000, records/s.
pub const TARGET: f64 = 40_000.0;

/// Runs the scenario; returns the best records/s with batches of 1000.
pub fn run(fed: &BenchFed, size: Size) -> f64 {
    let n = size.entries(5_000, 200_000);
    let cap = size.pick(Duration::from_millis(1000), Duration::from_secs(15));
    let member = "gulou";
    let path = fed.dir().join("ingest.jsonl");
    fed.sample(member, n, 11, &path);
    let lines = read_lines(&path);
    let _ = std::fs::remove_file(&path);
    let mut t = Table::new(
        &format!(
            "ingest: up to {n} records or {:.0} s per row, fresh node per row; durable = acknowledged after flush",
            cap.as_secs_f64()
        ),
        &[
            "batch",
            "clients",
            "records",
            "s",
            "records/s",
            "p50 ms",
            "p99 ms",
            "records/commit",
            "node CPU %",
            "client CPU %",
            "target",
        ],
    );
    let mut best = 0.0f64;
    for batch in [1usize, 100, 1000] {
        let source_lines = &lines[..];
        for clients in [1usize, 8, 64] {
            let source = MemoryBatches::new(source_lines, batch);
            let mut node = fed.node(
                member,
                &format!("ingest-{batch}-{clients}"),
                fed.config(member, &[]),
            );
            node.start();
            let node_cpu = node.stats().cpu;
            let client_cpu = own_cpu();
            let perf = Perf::attach(node.pid(), &format!("ingest-{batch}-{clients}"));
            let run = ingest(
                node.addr(),
                fed.token(member),
                &source,
                clients,
                Some(Instant::now() + cap),
            );
            drop(perf);
            let node_cpu = node.stats().cpu - node_cpu;
            let client_cpu = own_cpu() - client_cpu;
            let m = node.client().metrics();
            let per_commit = metric(&m, "rongxin_commit_batch_records_sum")
                / metric(&m, "rongxin_commit_batch_records_count").max(1.0);
            node.stop();
            let _ = std::fs::remove_dir_all(node.data_dir());
            let wall = run.elapsed.as_secs_f64();
            let rate = run.rate();
            if batch == 1000 {
                best = best.max(rate);
            }
            t.row(vec![
                batch.to_string(),
                clients.to_string(),
                run.accepted.to_string(),
                format!("{wall:.2}"),
                figure(rate),
                ms(quantile(&run.latencies, 0.5)),
                ms(quantile(&run.latencies, 0.99)),
                figure(per_commit),
                figure(100.0 * node_cpu / wall),
                figure(100.0 * client_cpu / wall),
                if batch == 1000 {
                    verdict(rate >= TARGET)
                } else {
                    String::new()
                },
            ]);
        }
    }
    t.print();
    summary("ingest", best, "records/s durable (batches of 1000)");
    best
}
