//! `csvload`: a department's double-publicity files loaded whole with
//! `rongxinctl submit`, end to end and durable: CSV parsing and column
//! mapping in the tool, HTTPS-free loopback HTTP, the node's checks,
//! signing and flushed commits. The files are the standard's columns as
//! a node exports them (`GET /v1/export/double-publicity`) from sample
//! records, so they are what the 信用福州 portal would receive, cut to
//! exactly the scenario's rows between them (100,000 with `--full`: the
//! issue's file), a licensing and a penalty file as departments send them;
//! the clock runs only while `rongxinctl submit` loads them into a fresh
//! node.

use std::process::{Command, Stdio};
use std::time::Instant;

use super::Size;
use super::fed::BenchFed;
use super::load::load_file;
use super::procs::{Perf, children_cpu};
use super::report::{Table, figure, summary, verdict};

/// The target, rows/s end to end, durable.
pub const TARGET: f64 = 20_000.0;

/// Runs the scenario; returns rows/s.
pub fn run(fed: &BenchFed, size: Size) -> f64 {
    let wanted = size.entries(5_000, 100_000);
    let member = "gulou";
    // About half of the sample records are licences or penalties still
    // public (49 % at 100,000): sample 2.4 times more, then cut the exports to
    // exactly `wanted` rows between them.
    let sample = fed.dir().join("csvload.jsonl");
    let sampled = (wanted * 12 / 5).max(100);
    fed.sample(member, sampled, 17, &sample);
    let mut source = fed.node(member, "csvload-source", fed.config(member, &[]));
    source.start();
    let (loaded, _) = load_file(source.addr(), fed.token(member), &sample);
    assert_eq!(loaded.accepted, sampled, "the sample loads whole");
    let _ = std::fs::remove_file(&sample);
    let exports: Vec<(&str, String)> = ["XK", "CF"]
        .into_iter()
        .map(|kind| {
            let r = source.client().get(
                &format!("/v1/export/double-publicity?kind={kind}&purpose=bench"),
                Some(fed.admin_token()),
            );
            assert_eq!(r.status, 200, "export {kind}: {}", r.body);
            (kind, r.body)
        })
        .collect();
    source.stop();
    // Each exported row is one line: sample records hold no line breaks
    // (and the count of signed records below would catch one).
    let available: Vec<u64> = exports
        .iter()
        .map(|(_, body)| body.lines().count().saturating_sub(1) as u64)
        .collect();
    let total: u64 = available.iter().sum();
    assert!(
        total >= wanted,
        "the sample of {sampled} records exported {total} public licences and penalties, fewer than the {wanted} rows wanted"
    );
    // The licences' share of the export, the penalties the rest.
    let licences = wanted * available[0] / total;
    let mut files = Vec::new();
    let mut rows = 0u64;
    for ((kind, body), take) in exports.iter().zip([licences, wanted - licences]) {
        let mut text = String::with_capacity(body.len());
        for line in body.lines().take(take as usize + 1) {
            text.push_str(line);
            text.push('\n');
        }
        rows += take;
        let path = fed.dir().join(format!("csvload-{kind}.csv"));
        std::fs::write(&path, text).expect("write the export");
        files.push(path);
    }
    let _ = std::fs::remove_dir_all(source.data_dir());

    let mut target = fed.node(member, "csvload-target", fed.config(member, &[]));
    target.start();
    let url = format!("http://{}", target.addr());
    let token = crate::bins::token_file(fed.token(member));
    let perf = Perf::attach(target.pid(), "csvload-node");
    let (node_cpu, tool_cpu) = (target.stats().cpu, children_cpu());
    let started = Instant::now();
    for (i, f) in files.iter().enumerate() {
        let child = Command::new(crate::bins::ctl())
            .args(["submit", "--node", &url, "--token-file"])
            .arg(&token)
            .arg("--catalog")
            .arg(fed.catalog_path())
            .arg(f)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run rongxinctl submit");
        let tool = Perf::attach(child.id(), &format!("csvload-submit-{i}"));
        let out = child
            .wait_with_output()
            .expect("wait for rongxinctl submit");
        drop(tool);
        assert!(
            out.status.success(),
            "rongxinctl submit {}: {}{}",
            f.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let wall = started.elapsed().as_secs_f64();
    let node_cpu = target.stats().cpu - node_cpu;
    let tool_cpu = children_cpu() - tool_cpu;
    drop(perf);
    let held = target.held(member);
    target.stop();
    let _ = std::fs::remove_dir_all(target.data_dir());
    for f in &files {
        let _ = std::fs::remove_file(f);
    }
    assert_eq!(held, rows, "every row of the files is a signed record");
    let rate = rows as f64 / wall;
    let mut t = Table::new(
        "csvload: the export of sample licences and penalties (standard columns), submitted whole to a fresh node with rongxinctl submit; durable",
        &[
            "files",
            "rows",
            "s",
            "rows/s",
            "node CPU µs/row",
            "tool CPU µs/row",
            "target",
        ],
    );
    t.row(vec![
        files.len().to_string(),
        rows.to_string(),
        format!("{wall:.2}"),
        figure(rate),
        format!("{:.1}", 1e6 * node_cpu / rows as f64),
        format!("{:.1}", 1e6 * tool_cpu / rows as f64),
        verdict(rate >= TARGET),
    ]);
    t.print();
    summary(
        "csvload",
        rate,
        "rows/s end to end (rongxinctl submit of CSV, durable)",
    );
    rate
}
