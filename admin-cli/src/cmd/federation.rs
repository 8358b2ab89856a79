//! `rongxinctl federation`: the whole federation as one node sees it, from
//! the members' signed views it heard directly or relayed
//! (`GET /v1/admin/federation`): per node and origin, entries held and lag.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use rongxin_protocol::api::FederationAnswer;

use crate::client::{Node, read_token};

/// Arguments of `rongxinctl federation`.
#[derive(Debug, Args)]
pub struct FederationArgs {
    /// The node's HTTP API (any member; the city sees everyone), such as
    /// https://127.0.0.1:8100.
    #[arg(long)]
    node: String,
    /// File holding an admin or monitor token (owner-only permissions).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Print the node's answer (docs/api.md) unchanged.
    #[arg(long)]
    json: bool,
}

/// Runs `rongxinctl federation`.
pub fn run(args: FederationArgs) -> Result<ExitCode> {
    let node = Node::new(&args.node, Duration::from_secs(30))?;
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    let answer: FederationAnswer = node
        .get("/v1/admin/federation", &[], token.as_deref())?
        .json()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print!("{}", render(&answer));
    }
    Ok(ExitCode::SUCCESS)
}

/// The table: one block per node, one row per origin it holds; a stale
/// node is marked with when it was last heard.
pub fn render(a: &FederationAnswer) -> String {
    let mut out = format!(
        "federation as {} sees it (a node not heard for {:.0}s is STALE; behind: age of the oldest entry not held)\n{:<12} {:<12} {:>10} {:>8} {:>9} {:>10} {:>10}\n",
        a.member,
        a.stale_after_ms as f64 / 1000.0,
        "node",
        "origin",
        "held",
        "lag",
        "behind",
        "checkpoint",
        "forwarded"
    );
    for n in &a.nodes {
        let heard = match n.heard_ms {
            Some(t) => format!(
                "last heard {:.1}s ago, {}",
                a.now_ms.saturating_sub(t) as f64 / 1000.0,
                super::audit::china_time(i64::try_from(t).unwrap_or(i64::MAX))
            ),
            None => "never heard".to_owned(),
        };
        if n.stale {
            out.push_str(&format!("{:<12} STALE: {heard}\n", n.member));
        }
        if n.health == Some(rongxin_protocol::view::Health::Unwritable) {
            out.push_str(&format!(
                "{:<12} STORE NOT WRITABLE (disk full or failing; see its /healthz)\n",
                n.member
            ));
        }
        let mut first = !n.stale;
        for o in &n.origins {
            out.push_str(&format!(
                "{:<12} {:<12} {:>10} {:>8} {:>9} {:>10} {:>10}\n",
                if first { n.member.as_str() } else { "" },
                o.origin,
                o.held,
                o.lag,
                o.lag_seconds.map_or("?".to_owned(), behind),
                o.checkpoint,
                o.forwarded.map_or("-".to_owned(), |f| f.to_string())
            ));
            first = false;
        }
        if n.origins.is_empty() && !n.stale {
            out.push_str(&format!("{:<12} (holds no log)\n", n.member));
        }
        for h in &n.halted {
            out.push_str(&format!(
                "{:<12} HALTED {h} (equivocation; see its /v1/admin/evidence)\n",
                ""
            ));
        }
    }
    out
}

/// A lag in seconds as people read it: `0s`, `45s`, `12m05s`, `3h20m`,
/// `2d04h`.
fn behind(s: u64) -> String {
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rongxin_protocol::api::{FederationNode, FederationOrigin};

    #[test]
    fn stale_nodes_show_when_they_were_last_heard() {
        let row = |member: &str, heard: Option<u64>, stale: bool| FederationNode {
            member: member.into(),
            name: member.into(),
            role: "district".into(),
            version: heard.map(|_| "0.1.0".into()),
            health: heard.map(|_| {
                if member == "gulou" {
                    rongxin_protocol::view::Health::Unwritable
                } else {
                    rongxin_protocol::view::Health::Ok
                }
            }),
            heard_ms: heard,
            stale,
            origins: if heard.is_some() {
                vec![FederationOrigin {
                    origin: "city".into(),
                    held: 3,
                    lag: if stale { 2 } else { 0 },
                    lag_seconds: Some(if stale { 3_725 } else { 0 }),
                    checkpoint: 5,
                    forwarded: (member == "city").then_some(2),
                }]
            } else {
                vec![]
            },
            peers: vec![],
            halted: vec![],
        };
        let a = FederationAnswer {
            member: "city".into(),
            now_ms: 1_764_316_812_000,
            stale_after_ms: 10_000,
            nodes: vec![
                row("city", Some(1_764_316_812_000), false),
                row("gulou", Some(1_764_316_800_000), true),
                row("ftz", None, true),
            ],
        };
        let text = render(&a);
        assert!(
            text.contains(
                "\ncity         city                  3        0        0s          5          2\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("gulou        STALE: last heard 12.0s ago, 2025-11-28 16:00:00.000 UTC+8 (1764316800000 ms)\ngulou        STORE NOT WRITABLE (disk full or failing; see its /healthz)\n             city                  3        2     1h02m          5          -\n"),
            "{text}"
        );
        assert!(
            text.ends_with("ftz          STALE: never heard\n"),
            "{text}"
        );
    }

    #[test]
    fn lag_in_seconds_reads_in_the_largest_units_that_matter() {
        assert_eq!(behind(0), "0s");
        assert_eq!(behind(59), "59s");
        assert_eq!(behind(60), "1m00s");
        assert_eq!(behind(725), "12m05s");
        assert_eq!(behind(3_600), "1h00m");
        assert_eq!(behind(86_399), "23h59m");
        assert_eq!(behind(190_000), "2d04h");
    }
}
