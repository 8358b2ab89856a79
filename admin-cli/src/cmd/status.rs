//! `rongxinctl status`: a node's identity, own log, replicas and versions
//! (GET /v1/admin/status) as a short summary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use serde_json::Value;

use crate::client::{Node, read_token};

/// Arguments of `rongxinctl status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The node's HTTP API, such as https://127.0.0.1:8102.
    #[arg(long)]
    node: String,
    /// File holding an admin or monitor token (owner-only permissions): the
    /// node's admin endpoints need one.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Print the node's JSON answer unchanged.
    #[arg(long)]
    json: bool,
}

/// Runs `rongxinctl status`.
pub fn run(args: StatusArgs) -> Result<ExitCode> {
    let node = Node::new(&args.node, Duration::from_secs(30))?;
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    let answer = node.get("/v1/admin/status", &[], token.as_deref())?;
    if args.json {
        println!("{}", answer.body.trim_end());
    } else {
        print!("{}", render(&answer.json()?, &node.url("")));
    }
    Ok(ExitCode::SUCCESS)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "?".to_owned(),
        other => other.to_string(),
    }
}

/// `3d 4h`, `2h 5m`, `42s`.
fn uptime(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// The readable status of the node at `url`.
pub fn render(s: &Value, url: &str) -> String {
    let mut out = format!(
        "{} {} ({}), role {} — {url}\n",
        text(&s["member"]),
        text(&s["name"]),
        text(&s["version"]),
        text(&s["role"]),
    );
    if let Some(up) = s["uptime_seconds"].as_u64() {
        out.push_str(&format!("  up        {}\n", uptime(up)));
    }
    let own = &s["own_log"];
    out.push_str(&format!(
        "  own log   {} entries, root {}\n",
        text(&own["size"]),
        text(&own["root"])
    ));
    if let Some(b) = s["store_bytes"].as_u64() {
        out.push_str(&format!("  store     {}\n", bytes(b)));
    }
    out.push_str(&format!(
        "  roster    version {} · catalog {}\n",
        text(&s["roster_version"]),
        text(&s["catalog_version"])
    ));
    let origins = s["origins"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    out.push_str(&format!("  origins   {} held\n", origins.len()));
    let width = origins
        .iter()
        .map(|o| text(&o["origin"]).len())
        .max()
        .unwrap_or(0);
    for o in origins {
        out.push_str(&format!(
            "    {:width$}  {}\n",
            text(&o["origin"]),
            text(&o["size"])
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn renders_a_status() {
        let s = json!({"member": "gulou", "role": "district", "name": "鼓楼区", "version": "0.1.0",
            "uptime_seconds": 11_520, "own_log": {"size": 18, "root": "abc=", "checkpoint": "…"},
            "origins": [{"origin": "city", "size": 4}, {"origin": "gulou", "size": 18}],
            "store_bytes": 3_145_728, "roster_version": 1, "catalog_version": "2026.1"});
        let text = render(&s, "http://127.0.0.1:8102");
        assert!(
            text.starts_with("gulou 鼓楼区 (0.1.0), role district — http://127.0.0.1:8102\n"),
            "{text}"
        );
        assert!(text.contains("  up        3h 12m\n"), "{text}");
        assert!(
            text.contains("  own log   18 entries, root abc=\n"),
            "{text}"
        );
        assert!(text.contains("  store     3.0 MiB\n"), "{text}");
        assert!(
            text.contains("  roster    version 1 · catalog 2026.1\n"),
            "{text}"
        );
        assert!(text.contains("    city   4\n    gulou  18\n"), "{text}");
        assert_eq!(uptime(42), "42s");
        assert_eq!(uptime(90_000), "1d 1h");
    }
}
