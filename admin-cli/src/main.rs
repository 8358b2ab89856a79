//! `rongxinctl`: the operator and auditor tool of Rongxin.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod files;

/// Rongxin (榕信) operator and auditor tool.
#[derive(Debug, Parser)]
#[command(name = "rongxinctl", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check unified social credit codes and resident ID numbers.
    Code(cmd::code::CodeArgs),
    /// Generate a member's signing and transport keys, or the federation root key.
    Keygen(cmd::keygen::KeygenArgs),
    /// Create, extend, sign, verify and show the roster.
    Roster(cmd::roster::RosterArgs),
    /// Offline verification for auditors.
    Audit(cmd::audit::AuditArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Code(a) => cmd::code::run(a),
        Command::Keygen(a) => cmd::keygen::run(a),
        Command::Roster(a) => cmd::roster::run(a),
        Command::Audit(a) => cmd::audit::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
