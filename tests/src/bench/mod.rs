//! The benchmark suite run by `rongxin-bench` (docs/benchmarks.md).
//!
//! Every scenario runs the real release binaries as processes on loopback,
//! in a generated federation ([`fed::BenchFed`]), with realistic records
//! from `rongxinctl sample` (JSON lines of about 680 bytes, signed entries
//! of about 760 bytes). Each prints a table and ends
//! with one line `SCENARIO: VALUE UNIT`; `all` runs them in turn and ends
//! with `all: N scenarios in S s`.
//!
//! | scenario | measures |
//! | --- | --- |
//! | `limits` | Ed25519, SM2, SHA-256, SM3, sled and in-process replica ceilings |
//! | `ingest` | durable records/s and ack latency by batch size and clients |
//! | `replication` | a fresh city catching up with a district's backlog |
//! | `forward` | city → province receiver entries/s |
//! | `query` | profile latency at a steady 1,000 requests/s |
//! | `scale` | disk per record, city memory and restart time, 14 origins |
//! | `anchor` | `replication` against Hypercore 11 in the same run (not in `all`) |
//!
//! `--suite sm2-sm3` runs every scenario on a federation of that suite (SM2
//! keys and an sm2-sm3 roster); `limits` measures both suites' signatures
//! and hashes whatever the federation's suite.

pub mod anchor;
pub mod csvload;
pub mod fed;
pub mod forward;
pub mod ingest;
pub mod limits;
pub mod load;
pub mod node;
pub mod procs;
pub mod query;
pub mod replication;
pub mod report;
pub mod scale;

use std::time::Instant;

use fed::BenchFed;
use rongxin_protocol::suite::Suite;

/// The scenarios, in the order `all` runs them.
pub const SCENARIOS: [&str; 7] = [
    "limits",
    "ingest",
    "csvload",
    "replication",
    "forward",
    "query",
    "scale",
];

/// Scenarios that `all` does not run (they need more than this repository).
pub const OPTIONAL: [&str; 1] = ["anchor"];

/// Every member of the example roster: the federation the scenarios share.
const MEMBERS: [&str; 14] = [
    "city",
    "ftz",
    "gulou",
    "taijiang",
    "cangshan",
    "mawei",
    "jinan",
    "changle",
    "minhou",
    "lianjiang",
    "luoyuan",
    "minqing",
    "yongtai",
    "fuqing",
];

/// How big a run is, and the suite of its federation.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// The sizes of the issue (`--full`) rather than the small ones.
    pub full: bool,
    /// `--entries N`: the scenario's main count instead of its default.
    pub entries: Option<u64>,
    /// `--suite NAME`: the federation's signature suite (default ed25519-sha256).
    pub suite: Suite,
    /// `--city-only` (scale): every record in the city's own log while the
    /// 13 districts run empty, for counts whose district copies would not
    /// fit the disk beside the city's.
    pub city_only: bool,
}

impl Size {
    /// The scenario's main count: `--entries`, else `small` or `full`.
    pub fn entries(&self, small: u64, full: u64) -> u64 {
        self.entries
            .unwrap_or(if self.full { full } else { small })
            .max(1)
    }

    /// `small` or `full` by the run's size (for counts `--entries` does not set).
    pub fn pick<T>(&self, small: T, full: T) -> T {
        if self.full { full } else { small }
    }
}

/// The usage text.
pub const USAGE: &str = "usage: rongxin-bench SCENARIO [--entries N] [--full] [--suite SUITE]
scenarios: limits ingest replication forward query scale all
           anchor (replication against Hypercore 11; needs Node.js 20+ and npm; not in all)
  --entries N    the scenario's main count (records, entries) instead of its default
  --full         the sizes of the issue (1M replication backlog, 10M records for scale, ...)
  --suite SUITE  the federation's signature suite: ed25519-sha256 (default) or sm2-sm3
  --city-only    scale: every record in the city's own log, the districts empty (sizes whose
                 district copies would not fit the disk beside the city's)";

/// Parses the arguments (without the program name): scenario and size.
pub fn parse_args(args: &[String]) -> Result<(String, Size), String> {
    let mut scenario = None;
    let mut size = Size {
        full: false,
        entries: None,
        suite: Suite::default(),
        city_only: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--full" => size.full = true,
            "--city-only" => size.city_only = true,
            "--entries" => {
                let v = it.next().ok_or("--entries needs a number")?;
                let n = v
                    .replace('_', "")
                    .parse::<u64>()
                    .map_err(|_| format!("--entries {v}: not a number"))?;
                size.entries = Some(n);
            }
            "--suite" => {
                let v = it.next().ok_or("--suite needs a suite name")?;
                size.suite = v.parse().map_err(|e| format!("--suite: {e}"))?;
            }
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s if scenario.is_none() => scenario = Some(s.to_owned()),
            s => return Err(format!("one scenario at a time (got {s} too)")),
        }
    }
    let scenario = scenario.ok_or("no scenario given")?;
    if scenario != "all"
        && !SCENARIOS.contains(&scenario.as_str())
        && !OPTIONAL.contains(&scenario.as_str())
    {
        return Err(format!("unknown scenario {scenario}"));
    }
    Ok((scenario, size))
}

/// Runs `scenario` (or `all`) at `size`; `Err` with what is missing when
/// the scenario cannot run on this machine (before anything is generated).
pub fn run(scenario: &str, size: Size) -> Result<(), String> {
    if scenario == "anchor" {
        anchor::preflight()?;
    }
    let started = Instant::now();
    println!(
        "rongxin-bench {scenario} ({}{}, suite {}); machine: {} CPUs, load average {}",
        if size.full { "full" } else { "small" },
        size.entries
            .map(|n| format!(", --entries {n}"))
            .unwrap_or_default(),
        size.suite,
        std::thread::available_parallelism().map_or(0, usize::from),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("{}", calibration(size.suite));
    let fed = BenchFed::generate(&MEMBERS, size.suite);
    let list: Vec<&str> = if scenario == "all" {
        SCENARIOS.to_vec()
    } else {
        vec![scenario]
    };
    for s in &list {
        match *s {
            "limits" => {
                limits::run(&fed, size);
            }
            "ingest" => {
                ingest::run(&fed, size);
            }
            "csvload" => {
                csvload::run(&fed, size);
            }
            "replication" => {
                replication::run(&fed, size);
            }
            "forward" => {
                forward::run(&fed, size);
            }
            "query" => {
                query::run(&fed, size);
            }
            "scale" => {
                scale::run(&fed, size);
            }
            "anchor" => {
                anchor::run(&fed, size);
            }
            other => unreachable!("scenario {other} was checked"),
        }
    }
    if scenario == "all" {
        println!();
        println!(
            "all: {} scenarios in {:.1} s",
            list.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// What this machine does now with the suite's two primitives: figures of
/// runs on different days compare only once each is read against its own
/// calibration (docs/benchmarks.md: a shared machine measured the same
/// code 12–18 % slower from one day to the next, and a third slower on
/// both cores at once while one core alone measured as usual). Signing is
/// timed on one thread, then on two at once: the second figure well above
/// the first means the two cores are not both the run's.
fn calibration(suite: rongxin_protocol::suite::Suite) -> String {
    use rongxin_protocol::suite::SecretKey;
    let key = SecretKey::from_bytes(suite, &[0x5a; 32]).expect("a valid key");
    let signs: u32 = match suite {
        rongxin_protocol::suite::Suite::Ed25519Sha256 => 4_000,
        rongxin_protocol::suite::Suite::Sm2Sm3 => 400,
    };
    // µs per signature of a 768-byte entry, on this thread.
    let sign_us = || {
        let mut message = [0x17u8; 768];
        let t = Instant::now();
        for i in 0..signs {
            message[..4].copy_from_slice(&i.to_be_bytes());
            std::hint::black_box(key.sign(&message));
        }
        t.elapsed().as_secs_f64() * 1e6 / f64::from(signs)
    };
    let one = sign_us();
    let two = std::thread::scope(|s| {
        let other = s.spawn(sign_us);
        let mine = sign_us();
        (mine + other.join().expect("the calibration thread")) / 2.0
    });
    let data = vec![0x2au8; 32 << 20];
    let t = Instant::now();
    std::hint::black_box(suite.hash(&[&data]));
    let mb_s = 32.0 / t.elapsed().as_secs_f64();
    format!(
        "calibration (now): sign a 768-byte entry {one:.1} µs on one thread, {two:.1} µs each on two at once; {} {mb_s:.0} MB/s",
        suite.hash_name()
    )
}
