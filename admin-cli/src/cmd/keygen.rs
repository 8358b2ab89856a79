//! `rongxinctl keygen`: a member's keys, or the federation root key.
//!
//! A member gets `signing.key` (C2SP signed-note signer key named
//! `<federation>/<member>`, mode 0600), `signing.pub` (its verifier key),
//! `transport.key` (libp2p Ed25519 keypair, protobuf encoding in base64, mode
//! 0600) and `peer_id`. The root gets `root.key` (mode 0600) and `root.pub`.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Args;
use ed25519_dalek::SigningKey;
use rand_core::OsRng;
use rongxin_protocol::note::NoteSigner;
use rongxin_protocol::roster::{is_federation_name, is_member_id};

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
    let seed = SigningKey::generate(&mut OsRng);
    if args.root {
        let signer = NoteSigner::new(&format!("{}/root", args.federation), seed)?;
        write_secret(
            &args.out.join("root.key"),
            signer.to_secret_string().as_bytes(),
        )?;
        write_public(
            &args.out.join("root.pub"),
            format!("{}\n", signer.verifier()).as_bytes(),
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
    let signer = NoteSigner::new(&format!("{}/{member}", args.federation), seed)?;
    let transport = libp2p_identity::Keypair::generate_ed25519();
    let peer_id = transport.public().to_peer_id().to_base58();
    let transport_bytes = transport
        .to_protobuf_encoding()
        .context("cannot encode the transport key")?;
    write_secret(
        &args.out.join("signing.key"),
        signer.to_secret_string().as_bytes(),
    )?;
    write_public(
        &args.out.join("signing.pub"),
        format!("{}\n", signer.verifier()).as_bytes(),
    )?;
    write_secret(
        &args.out.join("transport.key"),
        format!("{}\n", B64.encode(transport_bytes)).as_bytes(),
    )?;
    write_public(&args.out.join("peer_id"), format!("{peer_id}\n").as_bytes())?;
    println!("keys for {member} in {}", args.out.display());
    println!(
        "signing_key = \"{}\"",
        B64.encode(signer.verifier().key().as_bytes())
    );
    println!("peer_id = \"{peer_id}\"");
    Ok(ExitCode::SUCCESS)
}
