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
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use self::input::{Input, Item, Payload};
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
    for (column, why) in &input.skipped {
        eprintln!("column {column} is read and not kept: {why}");
    }
    let rejected_path = args.rejected_out.clone().unwrap_or_else(|| {
        if args.file == Path::new("-") {
            return PathBuf::from("stdin.rejected.jsonl");
        }
        let mut p = args.file.clone().into_os_string();
        p.push(".rejected.jsonl");
        PathBuf::from(p)
    });
    let csv_rows = input.csv_rows.as_ref().map(|(kind, header)| CsvRows {
        path: csv_path(kind.code(), args.jurisdiction.as_deref()),
        header: header.clone(),
    });
    let mut run = Submission {
        node: &node,
        token: &token,
        url: node.url("/v1/records"),
        csv_rows,
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
    /// How a CSV file's rows are sent as text, when they are.
    csv_rows: Option<CsvRows>,
    tally: Tally,
    progress: Progress,
}

/// Sending a CSV file's rows as they are: each request is the header's
/// text and rows' texts, posted as `text/csv` to `path`.
struct CsvRows {
    path: String,
    header: Vec<u8>,
}

/// One request of a submission.
struct Request {
    path: String,
    content_type: &'static str,
    body: Vec<u8>,
}

/// `/v1/records?kind=…` for a CSV file's rows (with `jurisdiction`, which
/// the node gives rows without DFBM as this tool does).
fn csv_path(kind: &str, jurisdiction: Option<&str>) -> String {
    let mut path = format!("/v1/records?kind={kind}");
    if let Some(j) = jurisdiction {
        path.push_str("&jurisdiction=");
        path.push_str(&crate::client::segment(j));
    }
    path
}

impl Submission<'_> {
    /// Sends the records in batches, [`IN_FLIGHT`] requests at a time (the
    /// node commits concurrent batches together), reading and mapping the
    /// file meanwhile. Answers are counted in the order the batches were
    /// sent, so the node's refusals reach the rejected-records file and the
    /// summary's examples in file order (rows unreadable here are written
    /// as they are read, possibly before an earlier batch's answer). The
    /// first batch the node does not take stops the sending; what is
    /// already in flight is still counted.
    fn send_all(&mut self, input: Input<'_>, batch_size: usize) -> Result<()> {
        type Answered = (u64, Vec<Item>, Result<Value, NodeError>);
        let (job_tx, job_rx) = mpsc::sync_channel::<(u64, Vec<Item>, Request)>(IN_FLIGHT);
        let job_rx = Mutex::new(job_rx);
        let (done_tx, done_rx) = mpsc::channel::<Answered>();
        let (node, token) = (self.node.clone(), self.token.to_owned());
        std::thread::scope(|s| {
            for _ in 0..IN_FLIGHT {
                let (job_rx, done_tx, node, token) =
                    (&job_rx, done_tx.clone(), node.clone(), token.clone());
                s.spawn(move || {
                    loop {
                        let job = job_rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        let Ok((n, batch, request)) = job else { return };
                        let answer = node
                            .post(&request.path, request.content_type, &request.body, &token)
                            .and_then(|a| a.json::<Value>());
                        if done_tx.send((n, batch, answer)).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(done_tx);
            let mut failed: Option<anyhow::Error> = None;
            // Answers that came before an earlier batch's, by batch number.
            let mut waiting: std::collections::BTreeMap<
                u64,
                (Vec<Item>, Result<Value, NodeError>),
            > = std::collections::BTreeMap::new();
            let mut next_answer = 0u64;
            let mut sent = 0u64;
            let mut take =
                |this: &mut Self, (n, b, a): Answered, failed: &mut Option<anyhow::Error>| {
                    waiting.insert(n, (b, a));
                    while let Some((b, a)) = waiting.remove(&next_answer) {
                        this.absorb_first(&b, a, failed);
                        next_answer += 1;
                    }
                };
            let csv_rows = self.csv_rows.take();
            let read = (|| -> Result<()> {
                // A batch holds records sent one way: JSON, or CSV rows.
                let mut batch: Vec<Item> = Vec::with_capacity(batch_size);
                let mut send = |batch: Vec<Item>| {
                    let request = request_of(&batch, csv_rows.as_ref());
                    let ok = job_tx.send((sent, batch, request)).is_ok();
                    sent += 1;
                    ok
                };
                for item in input {
                    let item = item?;
                    self.tally.normalised(&item);
                    match &item.payload {
                        Err(why) => {
                            let why = why.clone();
                            self.tally.reject_locally(&item, &why)?;
                            self.progress.advance(1);
                        }
                        Ok(payload) => {
                            if batch.first().is_some_and(|b| {
                                is_csv_payload(&b.payload) != matches!(payload, Payload::Csv(_))
                            }) && !send(std::mem::take(&mut batch))
                            {
                                break;
                            }
                            batch.push(item);
                        }
                    }
                    if batch.len() == batch_size
                        && !send(std::mem::replace(
                            &mut batch,
                            Vec::with_capacity(batch_size),
                        ))
                    {
                        break;
                    }
                    while let Ok(done) = done_rx.try_recv() {
                        take(self, done, &mut failed);
                    }
                    if failed.is_some() {
                        return Ok(());
                    }
                }
                if !batch.is_empty() {
                    send(batch);
                }
                Ok(())
            })();
            drop(job_tx);
            for done in done_rx.iter() {
                take(self, done, &mut failed);
            }
            read?;
            failed.map_or(Ok(()), Err)
        })
    }

    /// Counts an answer, keeping the first failure.
    fn absorb_first(
        &mut self,
        batch: &[Item],
        answer: Result<Value, NodeError>,
        failed: &mut Option<anyhow::Error>,
    ) {
        if let Err(e) = self.absorb(batch, answer)
            && failed.is_none()
        {
            *failed = Some(e);
        }
    }

    /// Counts the node's answer to one batch.
    fn absorb(&mut self, batch: &[Item], answer: Result<Value, NodeError>) -> Result<()> {
        let answer = answer.map_err(|e| self.batch_failed(batch, e))?;
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
                    // A CSV row's answer lists the values normalised on
                    // reading too, which are counted apart (Tally::normalised).
                    let warnings = result["warnings"].as_array().map(Vec::as_slice);
                    let read_here = |w: &Value| {
                        is_csv_payload(&item.payload)
                            && w.as_str()
                                .is_some_and(|w| item.warnings.iter().any(|n| n == w))
                    };
                    if warnings.unwrap_or_default().iter().any(|w| !read_here(w)) {
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
            "{e}{hint}\nthe batch of {} records at {range} was not taken; nothing was sent after it but the batches already in flight: submitting the file again is safe (records already taken count as duplicates)",
            batch.len()
        )
    }
}

fn is_csv_payload(payload: &Result<Payload, String>) -> bool {
    matches!(payload, Ok(Payload::Csv(_)))
}

/// The batch as a request to `POST /v1/records`: JSON Lines, or CSV rows
/// under their file's header.
fn request_of(batch: &[Item], csv_rows: Option<&CsvRows>) -> Request {
    if let Some(csv) =
        csv_rows.filter(|_| batch.first().is_some_and(|i| is_csv_payload(&i.payload)))
    {
        let mut body = Vec::with_capacity(
            csv.header.len()
                + batch
                    .iter()
                    .map(|i| match &i.payload {
                        Ok(Payload::Csv(text)) => text.len(),
                        _ => 0,
                    })
                    .sum::<usize>(),
        );
        body.extend_from_slice(&csv.header);
        for item in batch {
            if let Ok(Payload::Csv(text)) = &item.payload {
                body.extend_from_slice(text);
            }
        }
        return Request {
            path: csv.path.clone(),
            content_type: "text/csv",
            body,
        };
    }
    let mut body = String::new();
    for item in batch {
        if let Some(line) = item.payload.as_ref().ok().and_then(Payload::json) {
            body.push_str(line);
            body.push('\n');
        }
    }
    Request {
        path: "/v1/records".to_owned(),
        content_type: "application/x-ndjson",
        body: body.into_bytes(),
    }
}

/// Requests in flight at once: the node groups concurrent batches into
/// one commit, so four keep it busy while this tool reads the file.
const IN_FLIGHT: usize = 4;

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
