//! `rongxinctl code check`: validate subject codes the way ingest does.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};
use rongxin_protocol::catalog::Catalog;
use rongxin_protocol::code::{self, CodeKind, CodeStatus, LegacyCodes};
use rongxin_protocol::person;

use crate::files::read_text;

/// Arguments of `rongxinctl code`.
#[derive(Debug, Args)]
pub struct CodeArgs {
    #[command(subcommand)]
    command: CodeCommand,
}

#[derive(Debug, Subcommand)]
enum CodeCommand {
    /// Print one line per code: the code, then valid, legacy, or invalid and the reason.
    /// Exits 0 only when no code is invalid.
    Check {
        /// Codes to check (unified social credit codes, resident ID numbers, or
        /// another identity document as `PASSPORT:E12345678`, `HKMO:…`, `TWN:…`, `FPR:…`).
        #[arg(required = true)]
        codes: Vec<String>,
        /// What the codes are; by default each is recognised by its form.
        #[arg(long, value_enum, default_value_t = KindArg::Auto)]
        kind: KindArg,
        /// Catalog whose legacy allow-list (Fujian pilot codes) applies.
        #[arg(long)]
        catalog: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum KindArg {
    Auto,
    Uscc,
    ResidentId,
}

/// Runs `rongxinctl code`.
pub fn run(args: CodeArgs) -> Result<ExitCode> {
    let CodeCommand::Check {
        codes,
        kind,
        catalog,
    } = args.command;
    let legacy = match catalog {
        Some(path) => {
            let catalog = Catalog::from_toml_str(&read_text(&path)?)
                .with_context(|| format!("{} is not a valid catalog", path.display()))?;
            catalog.legacy_codes().clone()
        }
        None => LegacyCodes::empty(),
    };
    let mut any_invalid = false;
    for input in &codes {
        // A person named by another document than the resident ID card:
        // `PASSPORT:E12345678` and the like, checked by that document's format.
        if matches!(kind, KindArg::Auto) && person::is_document_code(input) {
            match person::parse(input, &legacy) {
                Ok(id) if id.code == *input => println!("{input} valid ({})", id.document),
                Ok(id) => println!("{input} valid ({}; normalised to {})", id.document, id.code),
                Err(e) => {
                    any_invalid = true;
                    println!("{input} invalid: {e}");
                }
            }
            continue;
        }
        let result = match kind {
            KindArg::Auto => code::detect(input, &legacy),
            KindArg::Uscc => code::parse(CodeKind::Uscc, input, &legacy),
            KindArg::ResidentId => code::parse(CodeKind::ResidentId, input, &legacy),
        };
        match result {
            Ok(check) => {
                let status = match check.status {
                    CodeStatus::Valid => "valid",
                    CodeStatus::Legacy => "legacy",
                };
                let mut notes: Vec<String> =
                    check.warnings.iter().map(ToString::to_string).collect();
                if check.code != *input {
                    notes.push(format!("normalised to {}", check.code));
                }
                if notes.is_empty() {
                    println!("{input} {status}");
                } else {
                    println!("{input} {status} ({})", notes.join("; "));
                }
            }
            Err(e) => {
                any_invalid = true;
                println!("{input} invalid: {e}");
            }
        }
    }
    Ok(if any_invalid {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
