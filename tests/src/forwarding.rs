//! The city's forwarding to the province as tests see it: the city's config
//! with a `[forward]` section for a [`TestProvince`], its forward status
//! (`/v1/admin/status` → `forward`) and metrics, waiting until the province
//! holds every entry, and the exactly-once check — every origin's entries
//! at the province are seqs `0..n`, byte for byte the city's, and verify
//! against the roster key and the city's signed checkpoint.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rongxin_protocol::catalog::FieldType;
use serde_json::Value;

use crate::bins;
use crate::client::Client;
use crate::fednode::FedNode;
use crate::generate::GenFed;
use crate::province::TestProvince;
use crate::verify::{open_checkpoint, verify_entries};

/// One origin's row of the city's forward status.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardRow {
    /// Entries the province acknowledged (the durable cursor).
    pub forwarded: u64,
    /// Entries the city holds.
    pub held: u64,
    /// `held - forwarded`.
    pub lag_entries: u64,
    /// Seconds since the origin was last fully forwarded (`None`: null).
    pub lag_seconds: Option<f64>,
    /// Seconds since the last acknowledged batch.
    pub last_success_seconds: Option<f64>,
    /// The last failure, until a batch succeeds again.
    pub last_error: Option<String>,
}

/// The city's config of `fed` forwarding to `province` in batches of `batch`.
pub fn city_config(fed: &GenFed, province: &TestProvince, batch: u64) -> toml::Table {
    let mut c = fed.config("city");
    c.insert(
        "forward".into(),
        toml::Value::Table(province.forward_section(batch)),
    );
    c
}

/// The `[forward]` table of a node config, to change.
pub fn forward_table(config: &mut toml::Table) -> &mut toml::Table {
    config
        .get_mut("forward")
        .and_then(toml::Value::as_table_mut)
        .expect("the config has a [forward] section")
}

/// The city's forward status by origin; `None` if the node does not answer.
pub fn try_forward_rows(client: &Client) -> Option<BTreeMap<String, ForwardRow>> {
    let r = client
        .try_get("/v1/admin/status", Some(client.ops_token()))
        .ok()?;
    if r.status != 200 {
        return None;
    }
    let s = r.json();
    let rows = s["forward"]
        .as_array()
        .unwrap_or_else(|| panic!("no forward status (is [forward] configured?): {s:#}"));
    Some(
        rows.iter()
            .map(|r| {
                let n = |k: &str| {
                    r[k].as_u64()
                        .unwrap_or_else(|| panic!("forward row without {k}: {r}"))
                };
                (
                    r["origin"].as_str().expect("origin").to_owned(),
                    ForwardRow {
                        forwarded: n("forwarded"),
                        held: n("held"),
                        lag_entries: n("lag_entries"),
                        lag_seconds: r["lag_seconds"].as_f64(),
                        last_success_seconds: r["last_success_seconds"].as_f64(),
                        last_error: r["last_error"].as_str().map(str::to_owned),
                    },
                )
            })
            .collect(),
    )
}

/// The city's forward status by origin.
pub fn forward_rows(city: &FedNode) -> BTreeMap<String, ForwardRow> {
    try_forward_rows(city.client()).expect("the city answers /v1/admin/status")
}

/// `origin`'s row of the city's forward status, if it has one yet.
pub fn forward_row(city: &FedNode, origin: &str) -> Option<ForwardRow> {
    forward_rows(city).remove(origin)
}

/// The sizes of the logs the city holds, by origin (`/v1/admin/status`).
pub fn city_sizes(city: &FedNode) -> BTreeMap<String, u64> {
    let s = city.status();
    s["origins"]
        .as_array()
        .expect("origins")
        .iter()
        .map(|o| {
            (
                o["origin"].as_str().expect("origin").to_owned(),
                o["size"].as_u64().expect("size"),
            )
        })
        .collect()
}

/// `rongxin_forward_errors_total{origin="…"}` of the city.
pub fn forward_errors(city: &FedNode, origin: &str) -> f64 {
    city.metric(&format!(
        "rongxin_forward_errors_total{{origin=\"{origin}\"}}"
    ))
}

/// `rongxin_forward_cursor{origin="…"}` of the city.
pub fn forward_cursor_metric(city: &FedNode, origin: &str) -> f64 {
    city.metric(&format!("rongxin_forward_cursor{{origin=\"{origin}\"}}"))
}

/// The own log sizes of `nodes`: every origin's full log.
pub fn own_sizes(nodes: &[&FedNode]) -> BTreeMap<String, u64> {
    crate::converge::own_sizes(nodes)
}

/// Polls until the city holds every origin of `expected` at its size, the
/// province's `GET /v1/origins` counts equal them (and list no other
/// origin), and the city's forward status shows each origin forwarded in
/// full without an error. Panics after `timeout` with what each side says.
pub fn wait_forwarded(
    city: &FedNode,
    province: &TestProvince,
    expected: &BTreeMap<String, u64>,
    timeout: Duration,
) {
    let deadline = Instant::now() + timeout;
    loop {
        let held = crate::converge::held(city).unwrap_or_default();
        let counts = province.counts();
        let rows = try_forward_rows(city.client()).unwrap_or_default();
        let done = expected.iter().all(|(o, &n)| {
            held.get(o).map(|h| h.size) == Some(n)
                && counts.get(o) == Some(&n)
                && rows
                    .get(o)
                    .is_some_and(|r| r.forwarded == n && r.held == n && r.last_error.is_none())
        }) && counts.keys().all(|o| expected.contains_key(o));
        if done {
            return;
        }
        if Instant::now() > deadline {
            let mut report = String::new();
            for (o, n) in expected {
                let _ = write!(
                    report,
                    "\n  {o}: expected {n}, city holds {:?}, province holds {:?}, forward status {:?}",
                    held.get(o).map(|h| h.size),
                    counts.get(o),
                    rows.get(o)
                );
            }
            panic!(
                "the province did not get every entry within {timeout:?} (province origins {counts:?}):{report}"
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Checks that the province holds each origin of `expected` exactly once
/// and in order: seqs `0..n` without a gap, each entry byte for byte the
/// entry the city serves (`GET /v1/logs/{origin}/entries`) with its
/// signature, the whole verifying against the roster key (signatures,
/// chain, jurisdictions, catalog) and the city's signed checkpoint of size
/// `n` (Merkle root).
pub fn check_exactly_once(
    fed: &GenFed,
    city: &FedNode,
    province: &TestProvince,
    expected: &BTreeMap<String, u64>,
) {
    let counts = province.counts();
    assert_eq!(
        &counts, expected,
        "the province's counts are not the logs' sizes"
    );
    for (origin, &n) in expected {
        let held = province.entries(origin);
        let seqs: Vec<u64> = held.iter().map(|e| e.seq).collect();
        assert!(
            seqs.iter().copied().eq(0..n),
            "{origin}: the province's seqs are not 0..{n}: {} entries, first gap or repeat at index {:?}",
            seqs.len(),
            seqs.iter()
                .enumerate()
                .find(|(i, s)| **s != *i as u64)
                .map(|(i, _)| i)
        );
        let at_city = city.client().entries(origin, 0, n);
        for (h, c) in held.iter().zip(&at_city) {
            assert!(
                h.entry == *c,
                "{origin} entry {}: the province's bytes or signature differ from the city's",
                h.seq
            );
        }
        let note = city.client().checkpoint_note(origin);
        let cp = open_checkpoint(fed.roster(), origin, &note)
            .unwrap_or_else(|e| panic!("the city's checkpoint of {origin}: {e}"));
        assert_eq!(cp.size, n, "the city's checkpoint of {origin}");
        let entries: Vec<_> = held.into_iter().map(|h| h.entry).collect();
        verify_entries(fed.roster(), fed.catalog(), origin, &cp, &entries).unwrap_or_else(|e| {
            panic!("{origin}'s entries at the province do not verify against the roster: {e}")
        });
    }
}

/// Runs `rongxinctl forward --node <city>`.
pub fn ctl_forward(city: &FedNode) -> Output {
    Command::new(bins::ctl())
        .args(["forward", "--node", city.client().base(), "--token-file"])
        .arg(bins::token_file(city.client().ops_token()))
        .output()
        .expect("run rongxinctl forward")
}

/// The value of `key=` in a tracing log line (text format), if present.
pub fn log_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(&format!(" {key}="))? + key.len() + 2;
    line[at..].split_whitespace().next()
}

/// The province's answered batches of `origin` in order, from its log:
/// `(from, outcome)` where outcome is `"acknowledged"` or `"refused"`, and
/// the `stored` count of acknowledged ones.
pub fn province_batches(province: &TestProvince, origin: &str) -> Vec<Batch> {
    province
        .log_text()
        .lines()
        .filter(|l| log_field(l, "origin") == Some(origin))
        .filter_map(|l| {
            let outcome = if l.contains("batch acknowledged") {
                Outcome::Acknowledged
            } else if l.contains("batch refused") {
                Outcome::Refused
            } else {
                return None;
            };
            let num = |k: &str| log_field(l, k).and_then(|v| v.parse().ok());
            Some(Batch {
                from: num("from")?,
                count: num("count")?,
                stored: num("stored"),
                bytes: num("bytes"),
                outcome,
                line: l.to_owned(),
            })
        })
        .collect()
}

/// How the province answered one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored (or all duplicates) and acknowledged.
    Acknowledged,
    /// Refused (gap, conflict, invalid entry).
    Refused,
}

/// One batch the province answered, from its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Its first seq.
    pub from: u64,
    /// Its entries.
    pub count: u64,
    /// Entries newly stored (acknowledged batches).
    pub stored: Option<u64>,
    /// The request body's size.
    pub bytes: Option<u64>,
    /// The answer.
    pub outcome: Outcome,
    /// The log line.
    pub line: String,
}

/// How a node run that had to fail ended: exit code and stderr.
#[derive(Debug)]
pub struct Refused {
    /// The exit code (`None` if killed by a signal or at the deadline).
    pub code: Option<i32>,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

/// Runs `rongxin-node` with `config` (written to `dir` with free ports),
/// expecting it to refuse to start; waits for its exit (kills it after 20 s).
pub fn run_node_expecting_failure(config: &toml::Table, dir: &std::path::Path) -> Refused {
    use std::process::Stdio;
    let mut c = config.clone();
    let http = crate::federation::free_port();
    let p2p = crate::federation::free_port();
    c.insert("http_listen".into(), format!("127.0.0.1:{http}").into());
    c.insert(
        "p2p_listen".into(),
        format!("/ip4/127.0.0.1/tcp/{p2p}").into(),
    );
    std::fs::create_dir_all(dir).expect("create the directory");
    let path = dir.join("refused.toml");
    std::fs::write(&path, c.to_string()).expect("write the config");
    let mut child = Command::new(bins::node())
        .arg("--config")
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rongxin-node");
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait for rongxin-node") {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    Refused { code, stderr }
}

/// A character of four UTF-8 bytes (𠀀, U+20000, CJK Extension B): texts
/// of it are the largest a field's character limit allows.
pub const WIDEST_CHAR: char = '\u{20000}';

/// A valid record of `kind` for `member` as large as the catalog allows:
/// every text field of the kind, required or not, filled to its `max_len`
/// with [`WIDEST_CHAR`].
pub fn maximal_record(fed: &GenFed, member: &str, kind: &str) -> Value {
    let mut record = fed.records().record(member, kind);
    let spec = fed
        .catalog()
        .kind(kind)
        .unwrap_or_else(|| panic!("kind {kind} is not in the catalog"));
    let fields = record["fields"]
        .as_object_mut()
        .expect("a record has fields");
    for f in spec
        .fields
        .iter()
        .filter(|f| f.field_type == FieldType::Text)
    {
        let max = f.max_chars().expect("text fields have a limit") as usize;
        fields.insert(
            f.name.clone(),
            Value::String(std::iter::repeat_n(WIDEST_CHAR, max).collect()),
        );
    }
    record
}

/// Lines of the province's log where it answered 413 to an entries request
/// over its `max_body_bytes`.
pub fn province_over_limit_answers(province: &TestProvince) -> usize {
    province
        .log_lines("entries request over the body limit")
        .len()
}
