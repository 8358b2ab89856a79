//! `rongxinctl roster`: build the roster as a TOML draft, sign it with the
//! root key, and verify or show a signed roster.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use rongxin_protocol::calendar::{self, Calendar};
use rongxin_protocol::catalog::Catalog;
use rongxin_protocol::note::NoteSigner;
use rongxin_protocol::roster::{
    Deadlines, Member, MemberKey, Role, Roster, RosterPushed, SignedRoster,
};
use rongxin_protocol::suite::Suite;
use rongxin_protocol::value::Date;

use crate::client::{Node, read_token};
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
        /// The catalog every member uses; its hash is pinned in the roster.
        #[arg(long)]
        catalog: PathBuf,
        /// Signature suite of the federation: ed25519-sha256 or sm2-sm3.
        #[arg(long, default_value = "ed25519-sha256")]
        suite: Suite,
        /// Directory of the working-day calendar's year files (YYYY.toml)
        /// every member uses; its hash is pinned in the roster. Default:
        /// the calendar built into rongxin-node (config-examples/calendar).
        #[arg(long)]
        calendar: Option<PathBuf>,
    },
    /// Add a new signing key to a member's key history in a draft. Without
    /// --from (a rotation) the key is pending: the member's node hands over
    /// to it in its own log as soon as it holds it and adopts the roster.
    /// With --from the key signs from that position on; --compromised (which
    /// needs --from) marks the key it replaces compromised.
    AddKey {
        /// The draft.
        roster: PathBuf,
        /// Member id, such as gulou.
        #[arg(long)]
        member: String,
        /// The new key's verifier key file (signing-2.pub from rongxinctl keygen --signing-only).
        #[arg(long)]
        key: PathBuf,
        /// First position of the member's log the new key signs (for a
        /// compromise: the member's log size when its node stopped signing
        /// with the old key; rongxinctl status shows it).
        #[arg(long)]
        from: Option<u64>,
        /// Mark the key being replaced as compromised (needs --from).
        #[arg(long, requires = "from")]
        compromised: bool,
        /// Also raise the draft's version by one.
        #[arg(long)]
        bump_version: bool,
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
    /// Pin a new catalog or working-day calendar in a draft (after the
    /// catalog changed, or a year's holiday notice was entered): recomputes
    /// the draft's catalog_digest and calendar_digest.
    Pin {
        /// The draft.
        roster: PathBuf,
        /// The catalog every member uses.
        #[arg(long)]
        catalog: PathBuf,
        /// Directory of the calendar's year files; default: the calendar
        /// built into rongxin-node.
        #[arg(long)]
        calendar: Option<PathBuf>,
        /// Also raise the draft's version by one.
        #[arg(long)]
        bump_version: bool,
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
    /// Give a signed roster to a running node, which puts it in force at once
    /// and passes it to its peers (no restart anywhere).
    Push {
        /// The signed roster.
        roster: PathBuf,
        /// A node's HTTP API, such as https://127.0.0.1:8100.
        #[arg(long)]
        node: String,
        /// File holding the node's admin token.
        #[arg(long)]
        token_file: PathBuf,
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
            suite,
            calendar,
        } => {
            let draft = Roster {
                federation,
                version,
                suite,
                valid_from,
                valid_until,
                catalog_digest: catalog_digest(suite, &catalog)?,
                calendar_digest: Some(calendar_digest(suite, calendar.as_deref())?),
                deadlines: Deadlines::default(),
                members: Vec::new(),
            };
            save_draft(&out, &draft)?;
            println!(
                "roster draft {} (version {version}, suite {suite}) written",
                out.display()
            );
        }
        RosterCommand::AddKey {
            roster,
            member,
            key,
            from,
            compromised,
            bump_version,
        } => {
            let mut draft = load_draft(&roster)?;
            let verifier = read_verifier(&key)?;
            let expected = format!("{}/{member}", draft.federation);
            if verifier.name() != expected {
                bail!(
                    "{} is named '{}', expected '{expected}'",
                    key.display(),
                    verifier.name()
                );
            }
            if verifier.suite() != draft.suite {
                bail!(
                    "{} is an {} key, the roster's suite is {}: generate it with --suite {}",
                    key.display(),
                    verifier.suite(),
                    draft.suite,
                    draft.suite
                );
            }
            let m = draft
                .members
                .iter_mut()
                .find(|m| m.id == member)
                .with_context(|| format!("{} has no member '{member}'", roster.display()))?;
            if let (Some(from), Some(last)) = (from, m.keys.last().and_then(|k| k.from))
                && from <= last
            {
                bail!(
                    "--from {from} must be after the position the current key starts at ({last})"
                );
            }
            if let Some(k) = m.keys.last_mut() {
                k.compromised |= compromised;
            }
            m.keys.push(MemberKey {
                key: verifier.key().to_base64(),
                from,
                compromised: false,
            });
            if bump_version {
                draft.version += 1;
            }
            draft
                .validate()
                .with_context(|| format!("{} would not be valid", roster.display()))?;
            save_draft(&roster, &draft)?;
            println!(
                "{member}: key {} {}{} (draft version {})",
                m_keys_len(&draft, &member),
                from.map_or_else(
                    || "is pending: the node hands over to it in its log once it holds it"
                        .to_owned(),
                    |f| format!("signs from position {f}")
                ),
                if compromised {
                    "; the key before it is marked compromised"
                } else {
                    ""
                },
                draft.version
            );
            println!(
                "Next: rongxinctl roster sign {} --root-key root.key --out roster.signed, then rongxinctl roster push roster.signed --node URL --token-file admin.token (any one node: the federation spreads it).",
                roster.display()
            );
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
            if verifier.suite() != draft.suite {
                bail!(
                    "{} is an {} key, the roster's suite is {}: generate the member's keys with --suite {}",
                    keys.join("signing.pub").display(),
                    verifier.suite(),
                    draft.suite,
                    draft.suite
                );
            }
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
                peer_id,
                listen,
                http,
                keys: vec![MemberKey {
                    key: verifier.key().to_base64(),
                    from: Some(0),
                    compromised: false,
                }],
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
            sign_draft(&draft, &root, &out)
                .with_context(|| format!("{} cannot be signed", roster.display()))?;
            println!(
                "signed roster version {} ({} members) written to {}",
                draft.version,
                draft.members.len(),
                out.display()
            );
        }
        RosterCommand::Pin {
            roster,
            catalog,
            calendar,
            bump_version,
        } => {
            let mut draft = load_draft(&roster)?;
            draft.catalog_digest = catalog_digest(draft.suite, &catalog)?;
            draft.calendar_digest = Some(calendar_digest(draft.suite, calendar.as_deref())?);
            if bump_version {
                draft.version += 1;
            }
            draft
                .validate()
                .with_context(|| format!("{} would not be valid", roster.display()))?;
            save_draft(&roster, &draft)?;
            println!(
                "{}: catalog {}, calendar {} (draft version {}); sign it with rongxinctl roster sign",
                roster.display(),
                draft.catalog_digest,
                draft.calendar_digest.as_deref().unwrap_or_default(),
                draft.version
            );
        }
        RosterCommand::Verify {
            roster,
            root,
            catalog,
        } => {
            let signed = open(&roster, &root)?;
            if let Some(catalog) = catalog {
                let digest = catalog_digest(signed.roster.suite, &catalog)?;
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
        RosterCommand::Push {
            roster,
            node,
            token_file,
        } => {
            let note = read_text(&roster)?;
            let token = read_token(&token_file)?;
            let node = Node::new(&node, Duration::from_secs(30))?;
            let answer: RosterPushed = node
                .post(
                    "/v1/admin/roster",
                    "text/plain; charset=utf-8",
                    note.as_bytes(),
                    &token,
                )?
                .json()?;
            if answer.adopted {
                println!(
                    "{} put roster version {} in force; its peers take it from there",
                    node.url(""),
                    answer.version
                );
            } else {
                println!(
                    "{} already has roster version {} in force; version {} changed nothing",
                    node.url(""),
                    answer.in_force,
                    answer.version
                );
            }
        }
        RosterCommand::Show { roster, root } => {
            let r = open(&roster, &root)?.roster;
            println!(
                "federation {} version {} suite {} valid {} to {} catalog {}",
                r.federation, r.version, r.suite, r.valid_from, r.valid_until, r.catalog_digest
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
                if m.keys.len() > 1 {
                    for (i, k) in m.keys.iter().enumerate() {
                        let until = m
                            .key_range(i)
                            .and_then(|(_, until)| until)
                            .map_or("on".to_owned(), |u| format!("to {}", u - 1));
                        println!(
                            "{:<10} key {}: positions {} {until}{} {}",
                            "",
                            i + 1,
                            k.from
                                .map_or("(pending: from its handover)".to_owned(), |f| f
                                    .to_string()),
                            if k.compromised { " COMPROMISED" } else { "" },
                            k.key
                        );
                    }
                }
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

fn m_keys_len(draft: &Roster, member: &str) -> usize {
    draft.member(member).map_or(0, |m| m.keys.len())
}

/// Signs `draft` with the root key and writes the signed roster note to `out`.
pub(crate) fn sign_draft(draft: &Roster, root: &NoteSigner, out: &Path) -> Result<SignedRoster> {
    let signed = draft.sign(root)?;
    write_public(out, signed.note.as_bytes())?;
    Ok(signed)
}

/// The digest of the catalog file at `path` in `suite`, as a roster pins
/// it; the file must be a valid catalog.
pub(crate) fn catalog_digest(suite: Suite, path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text =
        std::str::from_utf8(&bytes).with_context(|| format!("{} is not UTF-8", path.display()))?;
    Catalog::from_toml_str(text)
        .with_context(|| format!("{} is not a valid catalog", path.display()))?;
    Ok(suite.file_digest(&bytes))
}

/// The digest of the calendar in `dir` (or of the built-in one), after
/// checking that it loads.
pub(crate) fn calendar_digest(suite: Suite, dir: Option<&Path>) -> Result<String> {
    let files = match dir {
        Some(dir) => read_calendar_dir(dir)?,
        None => calendar::EMBEDDED
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect(),
    };
    Calendar::from_years(&files).context("the working-day calendar does not load")?;
    Ok(Calendar::digest_of(suite, &files))
}

/// The `*.toml` year files of a calendar directory, with their names.
fn read_calendar_dir(dir: &Path) -> Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the calendar directory {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            files.push((name, read_text(&path)?));
        }
    }
    Ok(files)
}

fn load_draft(path: &Path) -> Result<Roster> {
    toml::from_str(&read_text(path)?)
        .with_context(|| format!("{} is not a roster draft", path.display()))
}

/// Writes `draft` as a roster draft (TOML) to `path`.
pub(crate) fn save_draft(path: &Path, draft: &Roster) -> Result<()> {
    let text = toml::to_string(draft).context("cannot write the roster as TOML")?;
    write_public(path, text.as_bytes())
}
