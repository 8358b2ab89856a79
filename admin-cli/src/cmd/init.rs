//! `rongxinctl init`: a district's node config from the roster the city signed.
//!
//! The member's keys were made on this machine (`rongxinctl keygen`) and their
//! public halves put in the roster by the city. `init` checks that the roster
//! is signed by the root key, that the member is in it and that the local keys
//! are the ones it lists, copies the roster, root key and catalog beside the
//! config, makes the first admin token in a tokens file, and writes a complete
//! config that `rongxin-node` loads. Everything is checked before anything is
//! written; an existing config is never overwritten without `--force`.

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Args;
use rongxin_protocol::access::RoleName;
use rongxin_protocol::roster::{Member, Role, SignedRoster};

use crate::cmd::token;
use crate::files::{read_secret, read_signer, read_text, read_verifier};

/// Where the package puts the catalog it ships.
const PACKAGED_CATALOG: &str = "/usr/share/rongxin/catalog.toml";

/// Arguments of `rongxinctl init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// This node's member id in the roster, such as gulou.
    #[arg(long)]
    member: String,
    /// The signed roster from the city credit center.
    #[arg(long)]
    roster: PathBuf,
    /// The federation's root verifier key [default: root.pub beside the
    /// roster, else /etc/rongxin/root.pub].
    #[arg(long)]
    root: Option<PathBuf>,
    /// The catalog the roster pins [default: catalog.toml beside the roster,
    /// else /usr/share/rongxin/catalog.toml].
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Directory holding this member's keys from `rongxinctl keygen`
    /// [default: keys/ beside the config, /etc/rongxin/keys].
    #[arg(long)]
    keys: Option<PathBuf>,
    /// The config file to write; the roster, root key and catalog are copied
    /// into its directory.
    #[arg(long, default_value = "/etc/rongxin/node.toml")]
    config_out: PathBuf,
    /// The node's data directory.
    #[arg(long, default_value = "/var/lib/rongxin/data")]
    data_dir: PathBuf,
    /// The tokens file (created with an admin token when it has none)
    /// [default: tokens/tokens.toml beside the config].
    #[arg(long)]
    tokens_file: Option<PathBuf>,
    /// API address to listen on [default: the member's `http` in the
    /// roster, else 0.0.0.0:8100].
    #[arg(long)]
    http_listen: Option<String>,
    /// Replication address to listen on [default: the member's first
    /// `listen` in the roster, else /ip4/0.0.0.0/tcp/7100].
    #[arg(long)]
    p2p_listen: Option<String>,
    /// The system user the node runs as: when run as root, files the node
    /// must read privately are given to it.
    #[arg(long, default_value = "rongxin")]
    user: String,
    /// Overwrite an existing config (and roster, root key, catalog copies).
    #[arg(long)]
    force: bool,
}

/// Everything `init` checked, ready to be written.
#[derive(Debug)]
struct Plan {
    member: Member,
    roster: SignedRoster,
    config: PathBuf,
    /// (source, destination) of the roster, root key and catalog.
    copies: Vec<(PathBuf, PathBuf)>,
    signing_key: PathBuf,
    transport_key: PathBuf,
    tokens_file: PathBuf,
    http_listen: SocketAddr,
    p2p_listen: String,
    peers: Vec<String>,
}

/// Runs `rongxinctl init`.
pub fn run(args: InitArgs) -> Result<ExitCode> {
    let plan = check(&args)?;
    let owner = service_user(&args.user);
    let mut todo = Vec::new();
    write(&args, &plan, owner, &mut todo)?;

    let m = &plan.member;
    println!(
        "wrote {} for {} ({}) from roster version {} of {}",
        plan.config.display(),
        m.id,
        m.name,
        plan.roster.roster.version,
        plan.roster.roster.federation
    );
    println!(
        "  http_listen {}   p2p_listen {}",
        plan.http_listen, plan.p2p_listen
    );
    println!("  peers {}", plan.peers.join(", "));
    println!("  data_dir {}", args.data_dir.display());
    if let Some((uid, _)) = owner {
        for key in [&plan.signing_key, &plan.transport_key] {
            if fs::metadata(key).map(|md| md.uid()).ok() != Some(uid) {
                todo.push(format!(
                    "the node runs as {user} and must read {key}: chown {user}: {key}",
                    user = args.user,
                    key = key.display()
                ));
            }
        }
    }
    todo.push(format!(
        "department systems and agencies: rongxinctl token add --file {} --role department --jurisdiction {} --kind '*' --id ID --name NAME --out FILE (docs/operations.md §3), then systemctl reload rongxin-node",
        plan.tokens_file.display(),
        m.jurisdictions.first().map_or("CODE", String::as_str)
    ));
    todo.push(format!(
        "firewall: {} to the other members' addresses only; {} to departments and agencies",
        plan.p2p_listen, plan.http_listen
    ));
    println!("Still to do before `systemctl start rongxin-node`:");
    for (i, t) in todo.iter().enumerate() {
        println!("  {}. {t}", i + 1);
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks the roster, the member, the keys and the output paths, writing nothing.
fn check(args: &InitArgs) -> Result<Plan> {
    let roster_dir = args
        .roster
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let beside_or = |name: &str, fallback: &str| {
        let beside = roster_dir.join(name);
        if beside.exists() {
            beside
        } else {
            PathBuf::from(fallback)
        }
    };
    let root_path = args
        .root
        .clone()
        .unwrap_or_else(|| beside_or("root.pub", "/etc/rongxin/root.pub"));
    let root = read_verifier(&root_path).with_context(|| {
        format!(
            "the root key: pass --root with the federation's root.pub from the city credit center (looked at {})",
            root_path.display()
        )
    })?;
    let note = read_text(&args.roster)?;
    let roster = SignedRoster::open(&note, &root).with_context(|| {
        format!(
            "{} does not verify against the root key {}: get the signed roster and root.pub from the city credit center again (rongxinctl roster verify {} --root {} says the same)",
            args.roster.display(),
            root_path.display(),
            args.roster.display(),
            root_path.display()
        )
    })?;
    let r = &roster.roster;
    let Some(member) = r.member(&args.member).cloned() else {
        bail!(
            "{}: member '{}' is not in this roster (version {}); its members: {}. Use one of them, or ask the city credit center for a roster that names {}",
            args.roster.display(),
            args.member,
            r.version,
            r.members
                .iter()
                .map(|m| m.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            args.member
        );
    };

    let catalog = args
        .catalog
        .clone()
        .unwrap_or_else(|| beside_or("catalog.toml", PACKAGED_CATALOG));
    let catalog_bytes = fs::read(&catalog).with_context(|| {
        format!(
            "cannot read the catalog {}: pass --catalog with the catalog.toml the roster was signed with",
            catalog.display()
        )
    })?;
    let digest = r.catalog_digest_of(&catalog_bytes);
    if digest != r.catalog_digest {
        bail!(
            "{}: its digest {digest} is not the roster's catalog_digest {}: pass --catalog with the catalog the city signed the roster with",
            catalog.display(),
            r.catalog_digest
        );
    }

    let config_dir = match args.config_out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let keys = args.keys.clone().unwrap_or_else(|| config_dir.join("keys"));
    let (signing_key, transport_key) = (keys.join("signing.key"), keys.join("transport.key"));
    check_keys(args, r, &member, &signing_key, &transport_key, &keys)?;

    if args.config_out.exists() && !args.force {
        bail!(
            "{} exists: init never overwrites a config; move it away, or pass --force to replace it",
            args.config_out.display()
        );
    }
    let mut copies = Vec::new();
    for (from, name) in [
        (&args.roster, "roster.signed"),
        (&root_path, "root.pub"),
        (&catalog, "catalog.toml"),
    ] {
        let to = config_dir.join(name);
        if let (Ok(a), Ok(b)) = (fs::canonicalize(from), fs::canonicalize(&to))
            && a == b
        {
            continue;
        }
        if to.exists() && !args.force && fs::read(&to).ok() != fs::read(from).ok() {
            bail!(
                "{} exists and differs from {}: move it away, or pass --force to replace it",
                to.display(),
                from.display()
            );
        }
        copies.push((from.clone(), to));
    }

    let http_listen = match &args.http_listen {
        Some(a) => a.clone(),
        None => member.http.clone().unwrap_or_else(|| "0.0.0.0:8100".into()),
    };
    let http_listen: SocketAddr = http_listen.parse().map_err(|_| {
        anyhow::anyhow!(
            "the API address '{http_listen}' (the roster's http for {}) is not an IP address and port: pass --http-listen, such as 0.0.0.0:8100",
            member.id
        )
    })?;
    let p2p_listen = match &args.p2p_listen {
        Some(a) => a.clone(),
        None => member
            .listen
            .first()
            .cloned()
            .unwrap_or_else(|| "/ip4/0.0.0.0/tcp/7100".into()),
    };
    if !(p2p_listen.starts_with("/ip4/") || p2p_listen.starts_with("/ip6/")) {
        bail!(
            "the replication address '{p2p_listen}' (the roster's listen for {}) cannot be listened on: pass --p2p-listen, such as /ip4/0.0.0.0/tcp/7100",
            member.id
        );
    }
    // The default topology (docs/operations.md §8): the city connects to
    // everyone, every other member to the city and the FTZ node.
    let peers = r
        .members
        .iter()
        .filter(|m| m.id != member.id)
        .filter(|m| member.role == Role::City || matches!(m.role, Role::City | Role::Ftz))
        .map(|m| m.id.clone())
        .collect();
    let tokens_file = args
        .tokens_file
        .clone()
        .unwrap_or_else(|| config_dir.join("tokens").join("tokens.toml"));
    Ok(Plan {
        member,
        roster,
        config: args.config_out.clone(),
        copies,
        signing_key,
        transport_key,
        tokens_file,
        http_listen,
        p2p_listen,
        peers,
    })
}

/// The local keys must be the ones the roster lists for the member.
fn check_keys(
    args: &InitArgs,
    r: &rongxin_protocol::roster::Roster,
    member: &Member,
    signing_key: &Path,
    transport_key: &Path,
    keys: &Path,
) -> Result<()> {
    if !signing_key.exists() || !transport_key.exists() {
        let suite = if r.suite == rongxin_protocol::suite::Suite::default() {
            String::new()
        } else {
            format!(" --suite {}", r.suite)
        };
        bail!(
            "no keys of {m} in {dir} (signing.key and transport.key): make them on this machine with\n  sudo -u {user} rongxinctl keygen --member {m}{suite} --out {dir}\n\
             then send the key and peer_id it prints (signing.pub and peer_id) to the city credit center, which must put them in the roster for {m} and sign it; run init again with that roster (or pass --keys DIR if the keys are elsewhere)",
            m = member.id,
            dir = keys.display(),
            user = args.user,
        );
    }
    let signer = read_signer(signing_key)?;
    let expected_name = r.log_origin(&member.id);
    if signer.name() != expected_name {
        bail!(
            "{}: the key is named '{}', the roster's member is '{expected_name}': use the keys made with rongxinctl keygen --member {}",
            signing_key.display(),
            signer.name(),
            member.id
        );
    }
    let local = signer.verifier().key();
    if member.key_index(local).is_none() {
        bail!(
            "{}: this signing key ({}) is not one the roster lists for {} ({}): use the keys whose public half was sent to the city, or have the city sign a roster with this key (its signing.pub)",
            signing_key.display(),
            local.to_base64(),
            member.id,
            member
                .keys
                .iter()
                .map(|k| k.key.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let transport = B64
        .decode(read_secret(transport_key)?.trim())
        .map_err(|_| {
            anyhow::anyhow!(
                "{} is not base64 (rongxinctl keygen writes it)",
                transport_key.display()
            )
        })?;
    let keypair = libp2p_identity::Keypair::from_protobuf_encoding(&transport)
        .with_context(|| format!("{} is not a libp2p key", transport_key.display()))?;
    let peer_id = keypair.public().to_peer_id().to_base58();
    if peer_id != member.peer_id {
        bail!(
            "{}: this transport key has peer id {peer_id}, the roster lists {} for {}: use the keys whose peer_id was sent to the city, or have the city sign a roster with this peer id",
            transport_key.display(),
            member.peer_id,
            member.id
        );
    }
    Ok(())
}

/// The service user's uid and gid, when this runs as root and the user
/// exists (a machine with the package installed).
fn service_user(user: &str) -> Option<(u32, u32)> {
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() > 3 && f[0] == user {
            Some((f[2].parse().ok()?, f[3].parse().ok()?))
        } else {
            None
        }
    })
}

/// Writes the copies, the tokens file (with an admin token when it has
/// none) and the config.
fn write(
    args: &InitArgs,
    plan: &Plan,
    owner: Option<(u32, u32)>,
    todo: &mut Vec<String>,
) -> Result<()> {
    if let Some(dir) = plan.config.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    for (from, to) in &plan.copies {
        fs::copy(from, to)
            .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
        fs::set_permissions(to, fs::Permissions::from_mode(0o644))
            .with_context(|| format!("cannot chmod {}", to.display()))?;
    }

    let tokens_dir = plan
        .tokens_file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned();
    if !tokens_dir.exists() {
        fs::create_dir_all(&tokens_dir)
            .with_context(|| format!("cannot create {}", tokens_dir.display()))?;
        fs::set_permissions(&tokens_dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot chmod {}", tokens_dir.display()))?;
    }
    let has_admin = token::load(&plan.tokens_file)?
        .is_some_and(|f| f.token.iter().any(|t| t.role == RoleName::Admin));
    let admin_token = tokens_dir.join("admin.token");
    if !has_admin {
        token::add_quietly(token::AddArgs {
            file: plan.tokens_file.clone(),
            id: "admin".into(),
            role: "admin".into(),
            name: format!("{} operations", plan.member.id),
            expires: None,
            jurisdictions: Vec::new(),
            kinds: Vec::new(),
            access: None,
            out: admin_token.clone(),
        })?;
        println!(
            "admin token written to {} (its digest is in {})",
            admin_token.display(),
            plan.tokens_file.display()
        );
    }
    if let Some((uid, gid)) = owner {
        for p in [&tokens_dir, &plan.tokens_file, &admin_token] {
            if p.exists() {
                std::os::unix::fs::chown(p, Some(uid), Some(gid))
                    .with_context(|| format!("cannot chown {} to {}", p.display(), args.user))?;
            }
        }
    }

    let text = config_text(args, plan, todo);
    let tmp = plan.config.with_extension("toml.tmp");
    fs::write(&tmp, &text).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644))
        .and_then(|()| fs::rename(&tmp, &plan.config))
        .with_context(|| format!("cannot write {}", plan.config.display()))?;
    Ok(())
}

/// A TOML string literal.
fn q(s: impl AsRef<str>) -> String {
    toml::Value::String(s.as_ref().to_owned()).to_string()
}

fn abs(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_owned())
        .display()
        .to_string()
}

/// The config file's text; adds what the operator must still do to `todo`.
fn config_text(args: &InitArgs, plan: &Plan, todo: &mut Vec<String>) -> String {
    let m = &plan.member;
    let r = &plan.roster.roster;
    let dir = plan
        .config
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let in_dir = |name: &str| q(abs(&dir.join(name)));
    let peers = plan.peers.iter().map(q).collect::<Vec<_>>().join(", ");
    let mut t = format!(
        "# rongxin-node config of {name} ({id}), written by `rongxinctl init` from\n\
         # roster version {version} of {federation}. Every key: docs/operations.md §3\n\
         # (/usr/share/doc/rongxin/operations.md). The node checks all of it before it\n\
         # starts and names the key and the fix; `systemctl reload rongxin-node` re-reads\n\
         # tokens, TLS files and next_signing_keys.\n\n\
         member = {qid}\n\
         data_dir = {data_dir}\n\
         # The API: departments submit here, agencies and the public query here.\n\
         http_listen = {http}\n\
         # Replication with the other members (libp2p); open it to them only.\n\
         p2p_listen = {p2p}\n\
         # The default topology: the city connects to everyone, the others to the\n\
         # city and the FTZ node (docs/operations.md §8).\n\
         peers = [{peers}]\n\
         # A plain listener for Prometheus with only /healthz and /metrics:\n\
         # ops_listen = \"127.0.0.1:9102\"\n\n\
         roster = {roster}\n\
         root_key = {root}\n\
         catalog = {catalog}\n\
         signing_key = {signing}\n\
         transport_key = {transport}\n\
         # During a key rotation (docs/operations.md §2):\n\
         # next_signing_keys = [\"{keys_dir}/signing-2.key\"]\n\n\
         # Admin, monitor, department and agency tokens, managed with\n\
         # rongxinctl token add|revoke|list --file {tokens_plain}\n\
         tokens_file = {tokens}\n",
        name = m.name,
        id = m.id,
        version = r.version,
        federation = r.federation,
        qid = q(&m.id),
        data_dir = q(abs(&args.data_dir)),
        http = q(plan.http_listen.to_string()),
        p2p = q(&plan.p2p_listen),
        roster = in_dir("roster.signed"),
        root = in_dir("root.pub"),
        catalog = in_dir("catalog.toml"),
        signing = q(abs(&plan.signing_key)),
        transport = q(abs(&plan.transport_key)),
        keys_dir = plan.signing_key.parent().map(abs).unwrap_or_default(),
        tokens_plain = abs(&plan.tokens_file),
        tokens = q(abs(&plan.tokens_file)),
    );
    let jurisdictions = m.jurisdictions.iter().map(q).collect::<Vec<_>>().join(", ");
    t.push_str(&format!(
        "\n# Department systems are best added to the tokens file (rongxinctl token add\n\
         # --role department); inline they read as below. {id} owns [{jurisdictions}].\n\
         # [[departments]]\n\
         # name = \"...\"\n\
         # token_sha256 = \"...\"\n\
         # jurisdictions = [{jurisdictions}]\n\
         # kinds = [\"*\"]\n",
        id = m.id,
    ));
    if plan.http_listen.ip().is_loopback() {
        t.push_str(
            "\n# The API listens on loopback only, so it may serve plain HTTP. Before\n\
             # listening on another address, add its certificate (docs/operations.md §11):\n\
             # [tls]\n\
             # cert = \"/etc/rongxin/tls/node.pem\"\n\
             # key = \"/etc/rongxin/tls/node.key\"\n",
        );
    } else {
        let (cert, key) = (
            dir.join("tls").join("node.pem"),
            dir.join("tls").join("node.key"),
        );
        t.push_str(&format!(
            "\n# HTTPS for the API (docs/operations.md §11): the certificate chain for\n\
             # {http}, leaf first, and its key (mode 0600, readable by the node's user).\n\
             # Renew by replacing both files and reloading.\n\
             [tls]\n\
             cert = {qcert}\n\
             key = {qkey}\n",
            http = plan.http_listen,
            qcert = q(abs(&cert)),
            qkey = q(abs(&key)),
        ));
        if !cert.exists() || !key.exists() {
            todo.push(format!(
                "HTTPS: put the API's certificate chain in {} and its key in {} (mode 0600, owned by {})",
                abs(&cert),
                abs(&key),
                args.user
            ));
        }
    }
    t
}
