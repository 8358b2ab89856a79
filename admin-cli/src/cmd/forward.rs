//! `rongxinctl forward`: the city's forwarding to the province, per origin:
//! forwarded up to, held, lag in entries and seconds, last success, last error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;
use serde_json::Value;

use crate::client::{Node, read_token};

/// Arguments of `rongxinctl forward`.
#[derive(Debug, Args)]
pub struct ForwardArgs {
    /// The city node's HTTP API, such as https://127.0.0.1:8100.
    #[arg(long)]
    node: String,
    /// File holding an admin or monitor token (owner-only permissions): the
    /// node's admin endpoints need one.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Print the forwarding part of the status JSON unchanged.
    #[arg(long)]
    json: bool,
}

/// Runs `rongxinctl forward`.
pub fn run(args: ForwardArgs) -> Result<ExitCode> {
    let node = Node::new(&args.node, Duration::from_secs(30))?;
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    let status: Value = node
        .get("/v1/admin/status", &[], token.as_deref())?
        .json()?;
    let Some(rows) = status.get("forward").and_then(Value::as_array) else {
        bail!(
            "{} does not forward to the province (no [forward] section in its config)",
            node.url("")
        );
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    let secs = |v: &Value| match v.as_f64() {
        Some(s) if s.is_finite() => format!("{s:.1}s"),
        _ => "-".to_owned(),
    };
    println!(
        "{:<10} {:>10} {:>9} {:>8} {:>9} {:>13}  last error",
        "origin", "forwarded", "held", "lag", "lag time", "last success"
    );
    let mut failing = false;
    for r in rows {
        let err = r["last_error"].as_str().unwrap_or("");
        failing |= !err.is_empty();
        println!(
            "{:<10} {:>10} {:>9} {:>8} {:>9} {:>13}  {}",
            r["origin"].as_str().unwrap_or("?"),
            r["forwarded"].as_u64().unwrap_or(0),
            r["held"].as_u64().unwrap_or(0),
            r["lag_entries"].as_u64().unwrap_or(0),
            secs(&r["lag_seconds"]),
            secs(&r["last_success_seconds"]),
            err
        );
    }
    Ok(if failing {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
