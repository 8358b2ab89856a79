//! `rongxinctl submit`: send a file of records (JSON Lines, or CSV in the
//! 双公示 column codes) to a node's `POST /v1/records` in batches, show
//! progress, and end with what was accepted, what was a duplicate and why
//! records were rejected. Rejected records go to a file that can be fixed
//! and sent again.
//!
//! Exit status: 0 when nothing was rejected, 1 when some records were
//! rejected, 2 when the submission could not go on (a whole batch refused,
//! the node unreachable, the file unreadable).

mod input;
mod report;

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use self::input::{Input, Item};
use self::report::{Problem, Tally};
use crate::client::{Node, NodeError, read_token};
use crate::local;

/// Most records the node takes in one request (docs/api.md).
const MAX_BATCH: usize = 10_000;
/// How often progress lines are printed when standard error is not a terminal.
const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Arguments of `rongxinctl submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The node's HTTP API, such as https://127.0.0.1:8102.
    #[arg(long)]
    node: String,
    /// File holding the department token (owner-only permissions).
    #[arg(long)]
    token_file: PathBuf,
    /// The records: JSON Lines (one record per line, as in docs/api.md), or
    /// CSV (by the .csv extension) with 双公示 column codes; `-` reads JSON
    /// Lines from standard input.
    file: PathBuf,
    /// Records per request (1–10000).
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Where rejected records are written [default: FILE.rejected.jsonl,
    /// or stdin.rejected.jsonl for `-`].
    #[arg(long)]
    rejected_out: Option<PathBuf>,
    /// Catalog used to type CSV values (integers, booleans, dates).
    #[arg(long, default_value = local::DEFAULT_CATALOG)]
    catalog: PathBuf,
    /// Jurisdiction for CSV rows without a DFBM or JURISDICTION value.
    #[arg(long)]
    jurisdiction: Option<String>,
}

/// Runs `rongxinctl submit`.
pub fn run(args: SubmitArgs) -> Result<ExitCode> {
    if !(1..=MAX_BATCH).contains(&args.batch) {
        bail!(
            "--batch {} is out of range: the node takes 1 to {MAX_BATCH} records per request",
            args.batch
        );
    }
    let node = Node::new(&args.node, Duration::from_secs(300))?;
    let token = read_token(&args.token_file)?;
    let catalog = if input::is_csv(&args.file) {
        Some(local::catalog(&args.catalog)?.0)
    } else {
        None
    };
    let input = Input::open(&args.file, catalog.as_ref(), args.jurisdiction.as_deref())?;
    if input.encoding != "UTF-8" {
        eprintln!("reading {} as {}", args.file.display(), input.encoding);
    }
    let rejected_path = args.rejected_out.clone().unwrap_or_else(|| {
        if args.file == Path::new("-") {
            return PathBuf::from("stdin.rejected.jsonl");
        }
        let mut p = args.file.clone().into_os_string();
        p.push(".rejected.jsonl");
        PathBuf::from(p)
    });
    let mut run = Submission {
        node: &node,
        token: &token,
        url: node.url("/v1/records"),
        tally: Tally::new(rejected_path),
        progress: Progress::new(input.total),
    };
    let total = input.total;
    let outcome = run.send_all(input, args.batch);
    run.progress.finish();
    run.tally.finish()?;
    let source = if args.file == Path::new("-") {
        "standard input".to_owned()
    } else {
        args.file.display().to_string()
    };
    let summary = run.tally.summary(&source, &node.url(""), total);
    match outcome {
        Ok(()) => {
            print!("{summary}");
            Ok(if run.tally.rejected() > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Err(e) => {
            eprint!("{summary}");
            Err(e)
        }
    }
}

struct Submission<'a> {
    node: &'a Node,
    token: &'a str,
    url: String,
    tally: Tally,
    progress: Progress,
}

impl Submission<'_> {
    fn send_all(&mut self, input: Input<'_>, batch_size: usize) -> Result<()> {
        let mut batch: Vec<Item> = Vec::with_capacity(batch_size);
        for item in input {
            let item = item?;
            self.tally.normalised(&item);
            match &item.payload {
                Err(why) => {
                    let why = why.clone();
                    self.tally.reject_locally(&item, &why)?;
                    self.progress.advance(1);
                }
                Ok(_) => batch.push(item),
            }
            if batch.len() == batch_size {
                self.send(&batch)?;
                batch.clear();
            }
        }
        if !batch.is_empty() {
            self.send(&batch)?;
        }
        Ok(())
    }

    fn send(&mut self, batch: &[Item]) -> Result<()> {
        let mut body = String::new();
        for item in batch {
            if let Ok(line) = &item.payload {
                body.push_str(line);
                body.push('\n');
            }
        }
        let answer = self
            .node
            .post(
                "/v1/records",
                "application/x-ndjson",
                body.as_bytes(),
                self.token,
            )
            .map_err(|e| self.batch_failed(batch, e))?;
        let answer: Value = answer.json().map_err(|e| self.batch_failed(batch, e))?;
        let results = answer["results"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        if results.len() != batch.len() {
            let e = NodeError::BadAnswer {
                url: self.url.clone(),
                detail: format!("{} results for {} records", results.len(), batch.len()),
            };
            return Err(self.batch_failed(batch, e));
        }
        let mut seen = vec![false; batch.len()];
        for (pos, result) in results.iter().enumerate() {
            let i = result["index"].as_u64().map_or(pos, |i| i as usize);
            let Some(item) = batch.get(i).filter(|_| !seen[i]) else {
                let e = NodeError::BadAnswer {
                    url: self.url.clone(),
                    detail: format!("result index {i} is out of range or repeated"),
                };
                return Err(self.batch_failed(batch, e));
            };
            seen[i] = true;
            match result["status"].as_str() {
                Some("accepted") => {
                    self.tally.accepted += 1;
                    if result["warnings"].as_array().is_some_and(|w| !w.is_empty()) {
                        self.tally.warned += 1;
                    }
                }
                Some("duplicate") => self.tally.duplicates += 1,
                Some("rejected") => {
                    self.tally
                        .reject_by_node(item, &Problem::from_json(&result["errors"]))?;
                }
                other => {
                    let e = NodeError::BadAnswer {
                        url: self.url.clone(),
                        detail: format!("unknown result status {other:?} for record {i}"),
                    };
                    return Err(self.batch_failed(batch, e));
                }
            }
        }
        self.tally.sent += batch.len();
        self.progress.advance(batch.len());
        Ok(())
    }

    /// The error for a batch the node did not take as a whole.
    fn batch_failed(&self, batch: &[Item], e: NodeError) -> anyhow::Error {
        let range = match (batch.first(), batch.last()) {
            (Some(a), Some(b)) => match (a.line, b.line) {
                (Some(x), Some(y)) => format!("lines {x}–{y}"),
                _ => format!("records {}–{}", a.index + 1, b.index + 1),
            },
            _ => "an empty batch".to_owned(),
        };
        let hint = match &e {
            NodeError::Status { status: 401, .. } => {
                "; check --token-file: it must hold a department token the node knows"
            }
            NodeError::Status { status: 403, .. } => {
                "; the token may not submit these jurisdictions or kinds"
            }
            NodeError::Status { status: 413, .. } => "; send smaller batches with --batch",
            _ => "",
        };
        anyhow!(
            "{e}{hint}\nthe batch of {} records at {range} was not taken; nothing after it was sent",
            batch.len()
        )
    }
}

/// Progress on standard error: a bar on a terminal, a line every few
/// seconds otherwise (logs, CI).
struct Progress {
    bar: Option<ProgressBar>,
    total: usize,
    done: usize,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    fn new(total: usize) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total as u64);
            if let Ok(style) = ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {pos}/{len} records ({per_sec}, eta {eta})",
            ) {
                bar.set_style(style);
            }
            bar
        });
        let now = Instant::now();
        Progress {
            bar,
            total,
            done: 0,
            started: now,
            last_line: now,
        }
    }

    fn advance(&mut self, n: usize) {
        self.done += n;
        match &self.bar {
            Some(bar) => bar.inc(n as u64),
            None if self.last_line.elapsed() >= PLAIN_PROGRESS_EVERY => {
                self.last_line = Instant::now();
                eprintln!("{}", self.line());
            }
            None => {}
        }
    }

    fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        format!(
            "submit: {}/{} records done ({:.0} records/s)",
            self.done,
            self.total,
            self.done as f64 / secs
        )
    }

    fn finish(&mut self) {
        match &self.bar {
            Some(bar) => bar.finish(),
            None if self.done > 0 => eprintln!("{}", self.line()),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests;
