//! `rongxinctl keygen`: a member's keys, or the federation root key.
//!
//! A member gets `signing.key` (C2SP signed-note signer key named
//! `<federation>/<member>`, mode 0600), `signing.pub` (its verifier key),
//! `transport.key` (libp2p Ed25519 keypair, protobuf encoding in base64, mode
//! 0600) and `peer_id`. The root gets `root.key` (mode 0600) and `root.pub`.
//! Signing keys are of the federation's suite (`--suite`); the transport key
//! is always libp2p's Ed25519.
//!
//! For a key rotation, `--signing-only --name signing-2` writes just a new
//! signing key pair (`signing-2.key`, `signing-2.pub`) beside the old ones.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Args;
use getrandom::SysRng;
use getrandom::rand_core::UnwrapErr;
use rongxin_protocol::note::NoteSigner;
use rongxin_protocol::roster::{is_federation_name, is_member_id};
use rongxin_protocol::suite::{SecretKey, Suite};

use crate::files::{write_public, write_secret};

/// Arguments of `rongxinctl keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Directory to write the key files into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Member id the keys are for, such as gulou.
    #[arg(long, required_unless_present = "root", conflicts_with = "root")]
    member: Option<String>,
    /// Generate the federation root key instead of a member's keys.
    #[arg(long)]
    root: bool,
    /// Federation name: log origins and key names are FEDERATION/MEMBER.
    #[arg(long, default_value = "rongxin.fuzhou")]
    federation: String,
    /// Signature suite of the federation: ed25519-sha256 or sm2-sm3.
    #[arg(long, default_value = "ed25519-sha256")]
    suite: Suite,
    /// Write only a new signing key pair (for a key rotation), not the
    /// transport key and peer id.
    #[arg(long, requires = "member")]
    signing_only: bool,
    /// File name (without extension) of the signing key pair.
    #[arg(long, default_value = "signing")]
    name: String,
}

/// Runs `rongxinctl keygen`.
pub fn run(args: KeygenArgs) -> Result<ExitCode> {
    if !is_federation_name(&args.federation) {
        bail!(
            "--federation '{}' must be lower-case letters, digits, '.' and '-'",
            args.federation
        );
    }
    fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    if args.root {
        let signer = write_signing_key(
            &args.out,
            "root",
            &format!("{}/root", args.federation),
            args.suite,
        )?;
        println!("root key: {}", args.out.join("root.key").display());
        println!("root.pub: {}", signer.verifier());
        println!("Keep root.key offline; give root.pub to every node and auditor.");
        return Ok(ExitCode::SUCCESS);
    }
    let member = args.member.unwrap_or_default();
    if !is_member_id(&member) || member == "root" {
        bail!(
            "--member '{member}' must be 2-32 lower-case letters, digits or '-' (and not 'root')"
        );
    }
    if args.name.is_empty()
        || !args
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        bail!("--name '{}' must be letters, digits and '-'", args.name);
    }
    let (secret_path, public_path) = (
        args.out.join(format!("{}.key", args.name)),
        args.out.join(format!("{}.pub", args.name)),
    );
    let key_name = format!("{}/{member}", args.federation);
    if args.signing_only {
        if secret_path.exists() {
            bail!(
                "{} exists: pick another --name for the new key (such as signing-2)",
                secret_path.display()
            );
        }
        let signer = write_signing_key(&args.out, &args.name, &key_name, args.suite)?;
        println!(
            "new {} signing key for {member}: {}",
            args.suite,
            secret_path.display()
        );
        println!("key = \"{}\"", signer.verifier().key().to_base64());
        println!(
            "Next: the city adds it to the roster (rongxinctl roster add-key DRAFT --member {member} --key {} --from POSITION), signs and distributes it.",
            public_path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let transport = libp2p_identity::Keypair::generate_ed25519();
    let peer_id = transport.public().to_peer_id().to_base58();
    let transport_bytes = transport
        .to_protobuf_encoding()
        .context("cannot encode the transport key")?;
    let signer = write_signing_key(&args.out, &args.name, &key_name, args.suite)?;
    write_secret(
        &args.out.join("transport.key"),
        format!("{}\n", B64.encode(transport_bytes)).as_bytes(),
    )?;
    write_public(&args.out.join("peer_id"), format!("{peer_id}\n").as_bytes())?;
    println!("keys for {member} in {}", args.out.display());
    println!(
        "key = \"{}\" ({})",
        signer.verifier().key().to_base64(),
        args.suite
    );
    println!("peer_id = \"{peer_id}\"");
    Ok(ExitCode::SUCCESS)
}

/// Generates a signing key of `suite` named `name` (`<federation>/<member>`
/// or `<federation>/root`) and writes it as `<stem>.key` (the signer key,
/// mode 0600) and `<stem>.pub` (its verifier key) in `dir`, which must exist.
pub(crate) fn write_signing_key(
    dir: &Path,
    stem: &str,
    name: &str,
    suite: Suite,
) -> Result<NoteSigner> {
    let signer = NoteSigner::new(name, SecretKey::generate(suite, &mut UnwrapErr(SysRng)))?;
    write_secret(
        &dir.join(format!("{stem}.key")),
        signer.to_secret_string().as_bytes(),
    )?;
    write_public(
        &dir.join(format!("{stem}.pub")),
        format!("{}\n", signer.verifier()).as_bytes(),
    )?;
    Ok(signer)
}
