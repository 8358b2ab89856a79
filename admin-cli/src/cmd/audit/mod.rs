//! `rongxinctl audit verify`: offline verification of a provenance bundle.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
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
}

/// Runs `rongxinctl audit`.
pub fn run(args: AuditArgs) -> Result<ExitCode> {
    let AuditCommand::Verify { bundle, root } = args.command;
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
                Op::ObjectionResolved(o) => {
                    format!("objection {} {:?} on {}", o.id, o.outcome, o.key)
                }
                Op::KeyHandover(h) => format!(
                    "key handover: the next entries are signed by {}",
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &h.key)
                ),
            };
            println!("OK {}", bundle.display());
            println!(
                "  origin      {} (roster version {}, federation {})",
                e.origin, v.roster_version, v.federation
            );
            println!("  entry       seq {} signed {} ms", e.seq, e.time_ms);
            println!("  op          {what}");
            println!(
                "  checkpoint  {} entries, root {}",
                v.checkpoint.size,
                hex_short(&v.checkpoint.root)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("FAILED {}: {e}", bundle.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

fn hex_short(h: &[u8; 32]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}
