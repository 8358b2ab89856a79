//! `rongxinctl timeliness`: publication timeliness (双公示 七日内) per
//! origin, authority and kind, worst first (`GET /v1/admin/timeliness`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use rongxin_protocol::timeliness::TimelinessAnswer;

use crate::client::{Node, read_token};

/// Arguments of `rongxinctl timeliness`.
#[derive(Debug, Args)]
pub struct TimelinessArgs {
    /// The node's HTTP API (the city sees every origin).
    #[arg(long)]
    node: String,
    /// File holding an admin or monitor token.
    #[arg(long)]
    token_file: PathBuf,
    /// Only records of this origin.
    #[arg(long)]
    origin: Option<String>,
    /// Only records of this authority (credit code).
    #[arg(long)]
    authority: Option<String>,
    /// First decision date counted (YYYY-MM-DD).
    #[arg(long)]
    from: Option<String>,
    /// Last decision date counted (YYYY-MM-DD).
    #[arg(long)]
    to: Option<String>,
    /// Print the JSON answer.
    #[arg(long)]
    json: bool,
}

/// Runs `rongxinctl timeliness`.
pub fn run(a: TimelinessArgs) -> Result<ExitCode> {
    let node = Node::new(&a.node, Duration::from_secs(120))?;
    let token = read_token(&a.token_file)?;
    let mut query = Vec::new();
    for (k, v) in [
        ("origin", &a.origin),
        ("authority", &a.authority),
        ("from", &a.from),
        ("to", &a.to),
    ] {
        if let Some(v) = v {
            query.push((k, v.as_str()));
        }
    }
    let answer = node.get("/v1/admin/timeliness", &query, Some(&token))?;
    if a.json {
        println!("{}", answer.body);
        return Ok(ExitCode::SUCCESS);
    }
    let t: TimelinessAnswer = answer.json()?;
    println!(
        "Published within {} working days of the decision (worst first):",
        t.deadline_working_days
    );
    println!(
        "{:<10} {:<20} {:<8} {:>8} {:>6} {:>8}",
        "origin", "authority", "kind", "on time", "late", "on-time"
    );
    for r in &t.rows {
        println!(
            "{:<10} {:<20} {:<8} {:>8} {:>6} {:>7.1}%{}",
            r.origin,
            r.authority,
            r.kind,
            r.on_time,
            r.late,
            100.0 * r.on_time_rate(),
            if r.unmeasured > 0 {
                format!("  ({} outside the calendar)", r.unmeasured)
            } else {
                String::new()
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
