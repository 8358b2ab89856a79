//! `rongxinctl token new`: a random bearer token and the SHA-256 digest the
//! node's config stores in its place.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::{Args, Subcommand};
use rand_core::{OsRng, RngCore as _};
use sha2::{Digest as _, Sha256};

use crate::files::write_secret;

/// Arguments of `rongxinctl token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Make a token: write it to a file only the owner can read (for the
    /// department system or agency) and print the `token_sha256` line for the
    /// node's config.
    New {
        /// File to write the token to (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs `rongxinctl token`.
pub fn run(args: TokenArgs) -> Result<ExitCode> {
    let TokenCommand::New { out } = args.command;
    let mut raw = [0u8; 24];
    OsRng.fill_bytes(&mut raw);
    let token = URL_SAFE_NO_PAD.encode(raw);
    write_secret(&out, format!("{token}\n").as_bytes())?;
    let digest: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!("token written to {}", out.display());
    println!("token_sha256 = \"{digest}\"");
    Ok(ExitCode::SUCCESS)
}
