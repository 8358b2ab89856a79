//! `rongxinctl audit`: what auditors run. `verify` checks a provenance
//! bundle offline; `log` fetches an origin's whole log and verifies it
//! (see [`log`]).

mod log;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::{Args, Subcommand};
use rongxin_protocol::bundle::Bundle;
use rongxin_protocol::entry::Op;

use crate::files::{read_text, read_verifier};

/// Arguments of `rongxinctl audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Verify a provenance bundle offline: the roster is signed by the root,
    /// names the origin's key and gives it the record's jurisdiction; the
    /// entry is signed by the origin; the checkpoint is signed by the origin;
    /// the entry is in the checkpoint's tree. Exits 0 only if all hold.
    Verify {
        /// The bundle (JSON, as served by GET /v1/records/{origin}/{seq}/bundle).
        bundle: PathBuf,
        /// The federation root verifier key (root.pub).
        #[arg(long)]
        root: PathBuf,
    },
    /// Fetch an origin's whole log from a node and verify it end to end
    /// against the signed roster: every entry's signature, the hash chain,
    /// ownership and records (docs/protocol.md §3.3), the Merkle root
    /// against the origin's signed checkpoint, and consistency with the
    /// checkpoints seen before. Resumes from a state file.
    ///
    /// Exits 0 when the whole log verified, 1 when it failed verification,
    /// 2 on errors (network, files, a state file that does not hold), 3 when
    /// it could not be fully verified (entries withheld, or stopped early).
    Log(log::LogArgs),
}

/// Runs `rongxinctl audit`.
pub fn run(args: AuditArgs) -> Result<ExitCode> {
    let (bundle, root) = match args.command {
        AuditCommand::Verify { bundle, root } => (bundle, root),
        AuditCommand::Log(a) => return log::run(a),
    };
    let root = read_verifier(&root)?;
    let text = read_text(&bundle)?;
    let parsed: Bundle = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a rongxin bundle", bundle.display()))?;
    match parsed.verify(&root) {
        Ok(v) => {
            let e = &v.entry;
            let what = match &e.op {
                Op::Put(r) => format!("put {} ({} {})", r.key(), r.subject.code, r.subject.name),
                Op::Revoke(r) => format!("revoke {} ({:?}: {})", r.key, r.reason, r.basis),
                Op::ObjectionFiled(o) => format!("objection {} filed on {}", o.id, o.key),
                Op::RepairFiled(r) => format!("repair application {} filed on {}", r.id, r.key),
                Op::RepairDecided(r) => {
                    format!(
                        "repair application {} {:?}: {}",
                        r.id, r.outcome, r.explanation
                    )
                }
                Op::ObjectionResolved(o) => {
                    format!("objection {} {:?} on {}", o.id, o.outcome, o.key)
                }
                Op::KeyHandover(h) => format!(
                    "key handover: the next entries are signed by {}",
                    B64.encode(&h.key)
                ),
            };
            println!("OK {}", bundle.display());
            println!(
                "  origin      {} (roster version {}, federation {})",
                e.origin, v.roster_version, v.federation
            );
            println!(
                "  entry       seq {} signed {}",
                e.seq,
                china_time(e.time_ms)
            );
            println!("  op          {what}");
            println!(
                "  checkpoint  {} entries, root {}",
                v.checkpoint.size,
                B64.encode(v.checkpoint.root)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("FAILED {}: {e}", bundle.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

/// A signing time (Unix milliseconds) as the federation's calendar reads
/// it: China Standard Time, UTC+8, whatever the auditor's own time zone
/// (deadlines are counted in it, protocol::calendar), with the raw value.
pub(crate) fn china_time(unix_ms: i64) -> String {
    let at = i128::from(unix_ms) * 1_000_000;
    let shown = time::OffsetDateTime::from_unix_timestamp_nanos(at)
        .ok()
        .and_then(|t| Some(t.to_offset(time::UtcOffset::from_hms(8, 0, 0).ok()?)))
        .and_then(|t| {
            let f = time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]"
            );
            t.format(&f).ok()
        });
    match shown {
        Some(s) => format!("{s} UTC+8 ({unix_ms} ms)"),
        None => format!("{unix_ms} ms since 1970 (not a date)"),
    }
}

#[cfg(test)]
mod tests {
    use super::china_time;

    #[test]
    fn signing_times_read_in_china_standard_time() {
        // 2026-12-03T23:26:58.346Z is the next morning in Fuzhou.
        assert_eq!(
            china_time(1_796_340_418_346),
            "2026-12-04 07:26:58.346 UTC+8 (1796340418346 ms)"
        );
        assert_eq!(china_time(0), "1970-01-01 08:00:00.000 UTC+8 (0 ms)");
        assert!(china_time(i64::MAX).contains("not a date"));
    }
}
