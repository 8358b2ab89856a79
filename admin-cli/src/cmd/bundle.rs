//! `rongxinctl bundle`: fetch the provenance bundle of one log entry from a
//! node, for `rongxinctl audit verify` (which trusts only the root key).
//! Bundles of records that are not public, or that carry a personal ID
//! number, are served only with a token that may read them (an auditor's,
//! an agency's with the right access, the admin's); the node registers
//! each such read in its query log.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Args;
use rongxin_protocol::bundle::Bundle;

use crate::client::{Node, NodeError, read_token, segment};
use crate::files::{read_verifier, write_public};
use crate::local::DEFAULT_ROOT;
use crate::shell;

/// Arguments of `rongxinctl bundle`.
#[derive(Debug, Args)]
pub struct BundleArgs {
    /// The node's HTTP API, such as http://127.0.0.1:8102.
    #[arg(long)]
    node: String,
    /// The entry's origin member id, such as gulou.
    origin: String,
    /// The entry's position in the origin's log.
    seq: u64,
    /// Write the bundle to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// A token file (auditor, agency or admin): needed for entries of
    /// non-public records and of records with personal ID numbers.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Why you read it (recorded in the node's query log, 查询登记).
    #[arg(long)]
    purpose: Option<String>,
}

/// Runs `rongxinctl bundle`.
pub fn run(args: BundleArgs) -> Result<ExitCode> {
    let node = Node::new(&args.node, Duration::from_secs(60))?;
    let path = format!("/v1/records/{}/{}/bundle", segment(&args.origin), args.seq);
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    let query: Vec<(&str, &str)> = args
        .purpose
        .as_deref()
        .map(|p| ("purpose", p))
        .into_iter()
        .collect();
    let answer = node.get(&path, &query, token.as_deref())?;
    // Only a check that it is a bundle at all: verification is audit
    // verify's job, offline, against the root key.
    let bundle: Bundle = serde_json::from_str(&answer.body).map_err(|e| NodeError::BadAnswer {
        url: answer.url.clone(),
        detail: format!("not a rongxin bundle: {e}"),
    })?;
    let mut text = answer.body;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    match &args.out {
        Some(out) => {
            write_public(out, text.as_bytes())?;
            eprintln!(
                "wrote the bundle of {} #{} to {}; check it with: {} audit verify {} --root {}",
                bundle.origin,
                bundle.leaf_index,
                out.display(),
                shell::program(),
                shell::shown(out),
                root_hint(&bundle)
            );
        }
        None => std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .context("cannot write to standard output")?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The `--root` to suggest for `bundle`: the example federation's root key
/// when it is here (relative to the current directory) and verifies the
/// bundle, else a placeholder and what to put there.
fn root_hint(bundle: &Bundle) -> String {
    let example = std::path::Path::new(DEFAULT_ROOT);
    match read_verifier(example) {
        Ok(root) if bundle.verify(&root).is_ok() => shell::shown(example),
        _ => "ROOT_KEY_FILE, the federation's root verifier key (root.pub)".to_owned(),
    }
}
