//! `rongxinctl roster`: build the roster as a TOML draft, sign it with the
//! root key, and verify or show a signed roster.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::{Args, Subcommand, ValueEnum};
use rongxin_protocol::catalog::Catalog;
use rongxin_protocol::roster::{Member, Role, Roster, SignedRoster};
use rongxin_protocol::value::Date;

use crate::files::{read_signer, read_text, read_verifier, write_public};

/// Arguments of `rongxinctl roster`.
#[derive(Debug, Args)]
pub struct RosterArgs {
    #[command(subcommand)]
    command: RosterCommand,
}

#[derive(Debug, Subcommand)]
enum RosterCommand {
    /// Start a roster draft (TOML) with no members.
    New {
        /// Draft file to create.
        #[arg(long)]
        out: PathBuf,
        /// Federation name.
        #[arg(long, default_value = "rongxin.fuzhou")]
        federation: String,
        /// Roster version; must exceed the version in force.
        #[arg(long, default_value_t = 1)]
        version: u64,
        /// First day in force (YYYY-MM-DD).
        #[arg(long)]
        valid_from: Date,
        /// Last day in force (YYYY-MM-DD).
        #[arg(long)]
        valid_until: Date,
        /// The catalog every member uses; its SHA-256 is pinned in the roster.
        #[arg(long)]
        catalog: PathBuf,
    },
    /// Add a member to a draft, reading its public keys from its key directory.
    AddMember {
        /// The draft.
        roster: PathBuf,
        /// Member id, such as gulou.
        #[arg(long)]
        id: String,
        /// Display name, such as 鼓楼区.
        #[arg(long)]
        name: String,
        /// Role.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// A jurisdiction the member owns (repeat for several).
        #[arg(long = "jurisdiction")]
        jurisdictions: Vec<String>,
        /// The member's key directory (from rongxinctl keygen).
        #[arg(long)]
        keys: PathBuf,
        /// libp2p listen address (repeat for several).
        #[arg(long = "listen")]
        listen: Vec<String>,
        /// HTTP API address, for operators.
        #[arg(long)]
        http: Option<String>,
    },
    /// Sign a draft with the root key, producing the signed roster note.
    Sign {
        /// The draft.
        roster: PathBuf,
        /// The root signer key (root.key).
        #[arg(long)]
        root_key: PathBuf,
        /// Signed roster file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify a signed roster against the root key (and a catalog file).
    Verify {
        /// The signed roster.
        roster: PathBuf,
        /// The root verifier key (root.pub).
        #[arg(long)]
        root: PathBuf,
        /// A catalog file that must match the roster's catalog digest.
        #[arg(long)]
        catalog: Option<PathBuf>,
    },
    /// Verify and print a signed roster as a table.
    Show {
        /// The signed roster.
        roster: PathBuf,
        /// The root verifier key (root.pub).
        #[arg(long)]
        root: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoleArg {
    District,
    Ftz,
    City,
}

/// Runs `rongxinctl roster`.
pub fn run(args: RosterArgs) -> Result<ExitCode> {
    match args.command {
        RosterCommand::New {
            out,
            federation,
            version,
            valid_from,
            valid_until,
            catalog,
        } => {
            let draft = Roster {
                federation,
                version,
                valid_from,
                valid_until,
                catalog_digest: catalog_digest(&catalog)?,
                members: Vec::new(),
            };
            save_draft(&out, &draft)?;
            println!("roster draft {} (version {version}) written", out.display());
        }
        RosterCommand::AddMember {
            roster,
            id,
            name,
            role,
            jurisdictions,
            keys,
            listen,
            http,
        } => {
            let mut draft = load_draft(&roster)?;
            if draft.member(&id).is_some() {
                bail!("{} already has a member '{id}'", roster.display());
            }
            let verifier = read_verifier(&keys.join("signing.pub"))?;
            let expected = format!("{}/{id}", draft.federation);
            if verifier.name() != expected {
                bail!(
                    "{} is named '{}', expected '{expected}': generate the keys with --member {id}",
                    keys.join("signing.pub").display(),
                    verifier.name()
                );
            }
            let peer_id = read_text(&keys.join("peer_id"))?.trim().to_owned();
            draft.members.push(Member {
                id: id.clone(),
                name,
                role: match role {
                    RoleArg::District => Role::District,
                    RoleArg::Ftz => Role::Ftz,
                    RoleArg::City => Role::City,
                },
                jurisdictions,
                signing_key: B64.encode(verifier.key().as_bytes()),
                peer_id,
                listen,
                http,
            });
            save_draft(&roster, &draft)?;
            println!("added {id} to {}", roster.display());
        }
        RosterCommand::Sign {
            roster,
            root_key,
            out,
        } => {
            let draft = load_draft(&roster)?;
            let root = read_signer(&root_key)?;
            let signed = draft
                .sign(&root)
                .with_context(|| format!("{} cannot be signed", roster.display()))?;
            write_public(&out, signed.note.as_bytes())?;
            println!(
                "signed roster version {} ({} members) written to {}",
                draft.version,
                draft.members.len(),
                out.display()
            );
        }
        RosterCommand::Verify {
            roster,
            root,
            catalog,
        } => {
            let signed = open(&roster, &root)?;
            if let Some(catalog) = catalog {
                let digest = catalog_digest(&catalog)?;
                if digest != signed.roster.catalog_digest {
                    println!(
                        "FAILED {}: {} has digest {digest}, the roster pins {}",
                        roster.display(),
                        catalog.display(),
                        signed.roster.catalog_digest
                    );
                    return Ok(ExitCode::FAILURE);
                }
            }
            println!(
                "OK {}: version {}, {} members, valid {} to {}",
                roster.display(),
                signed.roster.version,
                signed.roster.members.len(),
                signed.roster.valid_from,
                signed.roster.valid_until
            );
        }
        RosterCommand::Show { roster, root } => {
            let r = open(&roster, &root)?.roster;
            println!(
                "federation {} version {} valid {} to {} catalog {}",
                r.federation, r.version, r.valid_from, r.valid_until, r.catalog_digest
            );
            println!(
                "{:<10} {:<8} {:<16} {:<24} peer id",
                "id", "role", "name", "jurisdictions"
            );
            for m in &r.members {
                println!(
                    "{:<10} {:<8} {:<16} {:<24} {}",
                    m.id,
                    format!("{:?}", m.role).to_lowercase(),
                    m.name,
                    m.jurisdictions.join(","),
                    m.peer_id
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn open(roster: &Path, root: &Path) -> Result<SignedRoster> {
    let root = read_verifier(root)?;
    let note = read_text(roster)?;
    SignedRoster::open(&note, &root)
        .with_context(|| format!("{} does not verify", roster.display()))
}

fn catalog_digest(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text =
        std::str::from_utf8(&bytes).with_context(|| format!("{} is not UTF-8", path.display()))?;
    Catalog::from_toml_str(text)
        .with_context(|| format!("{} is not a valid catalog", path.display()))?;
    Ok(format!("sha256:{}", hex_lower(&Catalog::digest(&bytes))))
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn load_draft(path: &Path) -> Result<Roster> {
    toml::from_str(&read_text(path)?)
        .with_context(|| format!("{} is not a roster draft", path.display()))
}

fn save_draft(path: &Path, draft: &Roster) -> Result<()> {
    let text = toml::to_string(draft).context("cannot write the roster as TOML")?;
    write_public(path, text.as_bytes())
}
