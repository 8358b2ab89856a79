//! `anchor`: Rongxin's replication against Hypercore 11's in the same run,
//! on the same machine, with the same number of entries. Hypercore (npm
//! `hypercore@11`, installed into the run directory) replicates N blocks of
//! 765 bytes, the size of a signed Rongxin entry, from a writer core to a
//! fresh reader core over a TCP socket on loopback
//! (`anchor/hypercore-replicate.mjs`); then the `replication` scenario runs
//! with the same N. The figure is Rongxin's entries/s over Hypercore's; the
//! target is 5x. Not part of `all`: it needs Node.js, npm and the npm
//! registry.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Size;
use super::fed::BenchFed;
use super::procs::disk_bytes;
use super::replication;
use super::report::{Table, figure, mib, summary, verdict};

/// The target: Rongxin replicates at least this many times Hypercore's entries/s.
pub const TARGET: f64 = 5.0;
/// What to install when Node.js or npm is missing.
pub const NEEDS: &str = "anchor needs Node.js 20+ and npm: apt install nodejs npm";
/// The Hypercore side, written into the run directory and run with `node`.
const SCRIPT: &str = include_str!("anchor/hypercore-replicate.mjs");
/// The package measured.
const PACKAGE: &str = "hypercore@11";

/// Checks that `node` (20 or later) and `npm` are on PATH; returns their
/// versions, or what to install.
pub fn preflight() -> Result<(String, String), String> {
    let version = |tool: &str| -> Result<String, String> {
        let out = Command::new(tool)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{NEEDS} ({tool}: {e})"))?;
        if !out.status.success() {
            return Err(format!("{NEEDS} ({tool} --version: {})", out.status));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let node = version("node")?;
    let npm = version("npm")?;
    let major = node
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or(0);
    if major < 20 {
        return Err(format!("{NEEDS} (this node is {node})"));
    }
    Ok((node, npm))
}

/// What the Hypercore program measured.
#[derive(Debug)]
struct Hypercore {
    version: String,
    append_s: f64,
    replicate_s: f64,
    rate: f64,
}

/// Installs Hypercore into `dir` and replicates `n` entries with it.
fn hypercore(dir: &Path, n: u64) -> Hypercore {
    fs::create_dir_all(dir).expect("create the anchor directory");
    // A package root of its own, so npm installs here and nowhere above.
    fs::write(
        dir.join("package.json"),
        "{\"name\": \"rongxin-anchor\", \"private\": true}\n",
    )
    .expect("write package.json");
    let t = Instant::now();
    let out = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", PACKAGE])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{NEEDS} (npm: {e})"));
    assert!(
        out.status.success(),
        "npm install {PACKAGE} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "  npm install {PACKAGE}: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let script = dir.join("hypercore-replicate.mjs");
    fs::write(&script, SCRIPT).expect("write the Hypercore program");
    let data = dir.join("data");
    let mut child = Command::new("node")
        .arg(&script)
        .arg(n.to_string())
        .arg(&data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{NEEDS} (node: {e})"));
    // Generous: a few hundred entries/s would still finish.
    let deadline = Instant::now() + Duration::from_secs(300).max(Duration::from_millis(n * 5));
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for node") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the Hypercore program did not finish {n} entries in time");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child
        .wait_with_output()
        .expect("read the Hypercore program's output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        status.success(),
        "the Hypercore program failed ({status}): {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    let v: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("the Hypercore program printed {line:?}: {e}"));
    assert_eq!(v["entries"], n, "Hypercore replicated every entry: {v}");
    let num = |k: &str| {
        v[k].as_f64()
            .filter(|x| x.is_finite() && *x > 0.0)
            .unwrap_or_else(|| panic!("no {k} in {v}"))
    };
    let h = Hypercore {
        version: v["hypercore"].as_str().unwrap_or("?").to_owned(),
        append_s: num("append_s"),
        replicate_s: num("replicate_s"),
        rate: num("entries_per_s"),
    };
    println!(
        "  hypercore {}: {n} entries appended in {:.2} s, replicated in {:.2} s; reader disk {} MiB",
        h.version,
        h.append_s,
        h.replicate_s,
        mib(disk_bytes(&data.join("reader")))
    );
    let _ = fs::remove_dir_all(&data);
    h
}

/// Runs the scenario; returns Rongxin's entries/s over Hypercore's.
pub fn run(fed: &BenchFed, size: Size) -> f64 {
    let n = size.entries(20_000, 1_000_000);
    let (node, npm) = preflight().unwrap_or_else(|e| panic!("{e}"));
    println!();
    println!("== anchor: Hypercore 11 replicating {n} entries (node {node}, npm {npm})");
    let hc = hypercore(&fed.dir().join("anchor"), n);
    let rongxin = replication::measure(
        fed,
        Size {
            entries: Some(n),
            ..size
        },
    );
    let ratio = rongxin / hc.rate;
    let mut t = Table::new(
        &format!("anchor: {n} entries replicated to a fresh node over loopback TCP"),
        &["measure", "value"],
    );
    let mut row = |k: &str, v: String| t.row(vec![k.to_owned(), v]);
    row(
        &format!("hypercore {} append, entries/s", hc.version),
        figure(n as f64 / hc.append_s),
    );
    row(
        "hypercore replicate (connect to all downloaded), s",
        format!("{:.2}", hc.replicate_s),
    );
    row("hypercore replicated entries/s", figure(hc.rate));
    row(
        "rongxin verified entries/s (healthy to caught up)",
        figure(rongxin),
    );
    row("rongxin / hypercore", format!("{ratio:.2}"));
    row(&format!("target >= {TARGET:.0}x"), verdict(ratio >= TARGET));
    t.print();
    summary("anchor", ratio, "x");
    ratio
}
