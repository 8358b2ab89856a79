//! `rongxinctl replication`: per origin and peer, what a node holds, what the
//! peer has, the lag in entries and seconds, and when the peer last answered.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;
use serde_json::Value;

use crate::client::{Node, read_token};

/// Arguments of `rongxinctl replication`.
#[derive(Debug, Args)]
pub struct ReplicationArgs {
    /// The node's HTTP API, such as https://127.0.0.1:8100.
    #[arg(long)]
    node: String,
    /// File holding an admin or monitor token (owner-only permissions): the
    /// node's admin endpoints need one.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Print the replication part of the status JSON unchanged.
    #[arg(long)]
    json: bool,
}

/// Runs `rongxinctl replication`.
pub fn run(args: ReplicationArgs) -> Result<ExitCode> {
    let node = Node::new(&args.node, Duration::from_secs(30))?;
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    let status: Value = node
        .get("/v1/admin/status", &[], token.as_deref())?
        .json()?;
    let Some(rep) = status.get("replication").filter(|r| !r.is_null()) else {
        bail!(
            "{} does not report replication (an older node?)",
            node.url("")
        );
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(rep)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(rep, &status));
    Ok(ExitCode::SUCCESS)
}

fn secs(v: &Value) -> String {
    match v.as_f64() {
        Some(s) if s.is_finite() => format!("{s:.1}s"),
        _ => "-".to_owned(),
    }
}

/// The table: one row per origin and peer, then peers without contact and alarms.
pub fn render(rep: &Value, status: &Value) -> String {
    let mut out = format!(
        "{} ({}) replication\n{:<10} {:<10} {:>9} {:>9} {:>8} {:>9} {:>13}\n",
        status["member"].as_str().unwrap_or("?"),
        status["name"].as_str().unwrap_or(""),
        "origin",
        "peer",
        "held",
        "peer has",
        "lag",
        "lag time",
        "last contact"
    );
    let empty = Vec::new();
    let mut rows: Vec<&Value> = rep["origins"].as_array().unwrap_or(&empty).iter().collect();
    rows.sort_by_key(|r| {
        (
            r["origin"].as_str().unwrap_or("").to_owned(),
            r["peer"].as_str().unwrap_or("").to_owned(),
        )
    });
    for r in rows {
        out.push_str(&format!(
            "{:<10} {:<10} {:>9} {:>9} {:>8} {:>9} {:>13}\n",
            r["origin"].as_str().unwrap_or("?"),
            r["peer"].as_str().unwrap_or("?"),
            r["held"].as_u64().unwrap_or(0),
            r["peer_size"].as_u64().unwrap_or(0),
            r["lag_entries"].as_u64().unwrap_or(0),
            secs(&r["lag_seconds"]),
            secs(&r["last_contact_seconds"]),
        ));
    }
    for p in rep["peers"].as_array().unwrap_or(&empty) {
        if p["last_contact_seconds"].is_null() {
            out.push_str(&format!(
                "peer {} not reachable (no answer since this node started): {}\n",
                p["peer"].as_str().unwrap_or("?"),
                p["last_error"].as_str().unwrap_or("not asked yet")
            ));
        }
    }
    for a in rep["alarms"].as_array().unwrap_or(&empty) {
        out.push_str(&format!("ALARM: {}\n", a.as_str().unwrap_or("?")));
    }
    for h in status["halted_origins"].as_array().unwrap_or(&empty) {
        out.push_str(&format!(
            "HALTED: {} (equivocation; see /v1/admin/evidence)\n",
            h.as_str().unwrap_or("?")
        ));
    }
    out
}
