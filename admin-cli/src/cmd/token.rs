//! `rongxinctl token`: bearer tokens for a node.
//!
//! `token new` makes a random token and prints its SHA-256 for the config's
//! inline tables. `token add|revoke|list` manage the node's tokens file
//! (`tokens_file` in its config, schema in `rongxin_protocol::access`): the
//! token itself goes only to a new owner-only file for its holder; the tokens
//! file keeps the digest. The file is replaced atomically (a temporary file
//! renamed over it), so a node reloading on SIGHUP never reads half of it.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::{Args, Subcommand};
use getrandom::SysRng;
use getrandom::rand_core::{Rng as _, UnwrapErr};
use rongxin_protocol::access::{AgencyAccess, RoleName, TokenSpec, TokensFile};
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
    /// Make a token: write it to a file only the owner can read and print the
    /// `token_sha256` line for the node's config (inline tokens).
    New {
        /// File to write the token to (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Make a token and add its digest to a tokens file (created if missing).
    Add(AddArgs),
    /// Remove a token from a tokens file by its id.
    Revoke {
        /// The tokens file (`tokens_file` in the node's config).
        #[arg(long)]
        file: PathBuf,
        /// The id of the token to remove.
        #[arg(long)]
        id: String,
    },
    /// Show the tokens of a tokens file: id, role, name, expiry.
    List {
        /// The tokens file (`tokens_file` in the node's config).
        #[arg(long)]
        file: PathBuf,
    },
}

/// Arguments of `rongxinctl token add` (also built by `rongxinctl init`
/// for the node's first admin token).
#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// The tokens file (`tokens_file` in the node's config); created if missing.
    #[arg(long)]
    pub(crate) file: PathBuf,
    /// Unique id of the token (A-Z, a-z, 0-9, '-', '_', '.'), named in logs and the query log.
    #[arg(long)]
    pub(crate) id: String,
    /// What the token may do.
    #[arg(long, value_parser = ["admin", "monitor", "auditor", "department", "agency"])]
    pub(crate) role: String,
    /// Who holds it (a department system, an agency, a person).
    #[arg(long)]
    pub(crate) name: String,
    /// When the token stops working, RFC 3339 (e.g. 2027-06-30T00:00:00+08:00).
    #[arg(long)]
    pub(crate) expires: Option<String>,
    /// Department tokens: a jurisdiction (division code) it submits for; repeat for more.
    #[arg(long = "jurisdiction")]
    pub(crate) jurisdictions: Vec<String>,
    /// Department tokens: a catalog kind it submits, `*` for every kind; repeat for more.
    #[arg(long = "kind")]
    pub(crate) kinds: Vec<String>,
    /// Agency tokens: what it unlocks.
    #[arg(long, value_parser = ["conditional", "government"])]
    pub(crate) access: Option<String>,
    /// File to write the new token to, for its holder (mode 0600, never overwritten).
    #[arg(long)]
    pub(crate) out: PathBuf,
}

/// Runs `rongxinctl token`.
pub fn run(args: TokenArgs) -> Result<ExitCode> {
    match args.command {
        TokenCommand::New { out } => {
            let (token, digest) = new_token();
            write_secret(&out, format!("{token}\n").as_bytes())?;
            println!("token written to {}", out.display());
            println!("token_sha256 = \"{digest}\"");
        }
        TokenCommand::Add(a) => add(a)?,
        TokenCommand::Revoke { file, id } => revoke(&file, &id)?,
        TokenCommand::List { file } => list(&file)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// A random token (24 bytes, URL-safe base64) and its SHA-256 in hex.
fn new_token() -> (String, String) {
    let mut raw = [0u8; 24];
    UnwrapErr(SysRng).fill_bytes(&mut raw);
    let token = URL_SAFE_NO_PAD.encode(raw);
    let digest = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (token, digest)
}

const RELOAD_HINT: &str = "reload the node to apply it: systemctl reload rongxin-node, or kill -HUP <pid of rongxin-node>";

fn add(a: AddArgs) -> Result<()> {
    let (file, out) = (a.file.clone(), a.out.clone());
    let added = add_quietly(a)?;
    println!(
        "added token '{}' ({}, {}) to {}",
        added.id,
        added.role.as_str(),
        added.name,
        file.display()
    );
    println!(
        "the token is in {} (give it to its holder; it is not stored anywhere else)",
        out.display()
    );
    println!("{RELOAD_HINT}");
    Ok(())
}

/// Adds a new token to the tokens file `a.file` (created if missing) and
/// writes the token to `a.out`, printing nothing; returns what was added.
pub(crate) fn add_quietly(a: AddArgs) -> Result<TokenSpec> {
    let _lock = FileLock::take(&a.file)?;
    let mut file = load(&a.file)?.unwrap_or_default();
    if file.token.iter().any(|t| t.id == a.id) {
        bail!(
            "{}: a token with id '{}' is already there; revoke it first \
             (rongxinctl token revoke --file {} --id {}) or choose another id",
            a.file.display(),
            a.id,
            a.file.display(),
            a.id
        );
    }
    let (token, digest) = new_token();
    let spec = TokenSpec {
        id: a.id,
        role: role_of(&a.role)?,
        name: a.name,
        sha256: digest,
        expires: a.expires,
        jurisdictions: a.jurisdictions,
        kinds: a.kinds,
        access: a.access.as_deref().map(access_of).transpose()?,
    };
    spec.check()
        .map_err(|e| anyhow::anyhow!("nothing was written: {e}"))?;
    if let Ok(Some(ms)) = spec.expires_ms()
        && ms <= now_ms()
    {
        bail!(
            "--expires {}: that time has passed; nothing was written",
            spec.expires.as_deref().unwrap_or_default()
        );
    }
    file.token.push(spec);
    // Everything is checked; only now does anything reach the disk. The
    // secret first: if the tokens file cannot be written it is removed again,
    // so a failed add leaves neither a token nor a digest behind.
    write_secret(&a.out, format!("{token}\n").as_bytes())?;
    if let Err(e) = replace(&a.file, &file) {
        let _ = fs::remove_file(&a.out);
        return Err(e);
    }
    file.token.last().cloned().context("the token just added")
}

fn revoke(path: &Path, id: &str) -> Result<()> {
    let _lock = FileLock::take(path)?;
    let Some(mut file) = load(path)? else {
        bail!("{}: no such tokens file", path.display());
    };
    if !file.token.iter().any(|t| t.id == id) {
        let ids: Vec<&str> = file.token.iter().map(|t| t.id.as_str()).collect();
        bail!(
            "{}: no token with id '{id}'; the file has {}",
            path.display(),
            if ids.is_empty() {
                "no tokens".to_owned()
            } else {
                format!("ids {}", ids.join(", "))
            }
        );
    }
    file.token.retain(|t| t.id != id);
    replace(path, &file)?;
    println!("revoked token '{id}' in {}", path.display());
    println!("{RELOAD_HINT}");
    Ok(())
}

fn list(path: &Path) -> Result<()> {
    let Some(file) = load(path)? else {
        bail!("{}: no such tokens file", path.display());
    };
    if file.token.is_empty() {
        println!("{}: no tokens", path.display());
        return Ok(());
    }
    let now_ms = now_ms();
    println!(
        "{:<20} {:<10} {:<28} {:<11} expires",
        "id", "role", "name", "sha256"
    );
    for t in &file.token {
        let expiry = match (t.expires.as_deref(), t.expires_ms()) {
            (None, _) => "never".to_owned(),
            (Some(e), Ok(Some(ms))) if ms <= now_ms => format!("{e} (expired)"),
            (Some(e), _) => e.to_owned(),
        };
        // A prefix tells tokens apart without handing out the whole digest.
        let short: String = t.sha256.chars().take(8).collect();
        println!(
            "{:<20} {:<10} {:<28} {:<11} {expiry}",
            t.id,
            t.role.as_str(),
            t.name,
            format!("{short}…"),
        );
    }
    Ok(())
}

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

fn role_of(s: &str) -> Result<RoleName> {
    Ok(match s {
        "admin" => RoleName::Admin,
        "monitor" => RoleName::Monitor,
        "auditor" => RoleName::Auditor,
        "department" => RoleName::Department,
        "agency" => RoleName::Agency,
        other => bail!("--role {other}: expected admin, monitor, auditor, department or agency"),
    })
}

fn access_of(s: &str) -> Result<AgencyAccess> {
    Ok(match s {
        "conditional" => AgencyAccess::Conditional,
        "government" => AgencyAccess::Government,
        other => bail!("--access {other}: expected conditional or government"),
    })
}

/// The tokens file, `None` when it does not exist.
pub(crate) fn load(path: &Path) -> Result<Option<TokensFile>> {
    match fs::read_to_string(path) {
        Ok(text) => TokensFile::parse(&text)
            .map(Some)
            .with_context(|| format!("{} is not a valid tokens file", path.display())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes `file` to a temporary file next to `path` (mode 0600), syncs it
/// and renames it over `path`, so readers see the old or the new file whole.
fn replace(path: &Path, file: &TokensFile) -> Result<()> {
    let text = file.to_toml();
    // What the node will parse must parse: never write a file it refuses.
    TokensFile::parse(&text).with_context(|| {
        format!(
            "internal error: the new {} would not parse; nothing was written",
            path.display()
        )
    })?;
    let tmp = sibling(path, ".tmp");
    let _ = fs::remove_file(&tmp);
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    // The rename itself is durable only once the directory is synced.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync directory {}", dir.display()))?;
    }
    Ok(())
}

/// `path` with `suffix` appended to its file name, in the same directory
/// (so that a rename from it is atomic).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// A lock file beside the tokens file, held while one command reads,
/// changes and replaces it, so two concurrent `token add`s cannot lose one.
struct FileLock(PathBuf);

impl FileLock {
    fn take(path: &Path) -> Result<FileLock> {
        let lock = sibling(path, ".lock");
        match OpenOptions::new().write(true).create_new(true).open(&lock) {
            Ok(_) => Ok(FileLock(lock)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => bail!(
                "{} exists: another rongxinctl token command is changing {}; \
                 if none is running, remove the lock file and retry",
                lock.display(),
                path.display()
            ),
            Err(e) => Err(e).with_context(|| format!("cannot create {}", lock.display())),
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}
