//! The node's configuration: a TOML file, checked completely before anything
//! starts. Every error names the key (or file) and says how to fix it.
//!
//! Paths in the file are relative to the file's own directory. Key files must
//! be readable by their owner only. Tokens are stored as SHA-256 hex digests,
//! never in clear (`rongxinctl token add` prints a token and its digest), in
//! this file or in the tokens file (`tokens_file`).

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rongxin_protocol::access::TokensFile;
use rongxin_protocol::calendar::Calendar;
use rongxin_protocol::catalog::Catalog;
use rongxin_protocol::note::{NoteSigner, NoteVerifier};
use rongxin_protocol::roster::{Member, SignedRoster};
use serde::Deserialize;

pub use crate::tokens::{Department, token_digest};
use crate::tokens::{Role, Token, TokenSource, Tokens, token_of_spec};
pub use rongxin_protocol::access::AgencyAccess;

/// Largest request body accepted unless the config says otherwise.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// A configuration problem, naming the key or file and the fix.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct ConfigError {
    /// The config file, or the file a key points at.
    pub path: String,
    /// What is wrong and what to do.
    pub problem: String,
}

fn err(path: &Path, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.display().to_string(),
        problem: problem.into(),
    }
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    member: String,
    data_dir: Option<PathBuf>,
    http_listen: String,
    p2p_listen: String,
    roster: PathBuf,
    root_key: PathBuf,
    catalog: PathBuf,
    #[serde(default)]
    calendar: Option<PathBuf>,
    signing_key: PathBuf,
    #[serde(default)]
    next_signing_keys: Vec<PathBuf>,
    transport_key: PathBuf,
    #[serde(default)]
    peers: Vec<String>,
    #[serde(default)]
    admin_token_sha256: Option<String>,
    #[serde(default)]
    tokens_file: Option<PathBuf>,
    #[serde(default)]
    max_body_bytes: Option<usize>,
    #[serde(default)]
    max_records_per_request: Option<usize>,
    #[serde(default)]
    commit_max_records: Option<usize>,
    #[serde(default)]
    objection_due: Option<String>,
    #[serde(default)]
    restore_timeout: Option<String>,
    #[serde(default)]
    departments: Vec<DepartmentFile>,
    #[serde(default)]
    agencies: Vec<AgencyFile>,
    #[serde(default)]
    forward: Option<ForwardFile>,
    #[serde(default)]
    tls: Option<TlsFile>,
    #[serde(default)]
    allow_plain_http: bool,
    #[serde(default)]
    ops_listen: Option<String>,
    #[serde(default)]
    limits: crate::http::limits::LimitsFile,
    #[serde(default)]
    query_log: crate::store::QueryLogFile,
    #[serde(default)]
    disk: crate::store::DiskFile,
    #[serde(default)]
    log: LogFile,
}

/// `[log]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogFile {
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    filter: Option<String>,
}

/// How the node logs (`[log]`): the format and the filter. `--log-format`
/// overrides the format, the `RONGXIN_LOG` environment variable the filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `json` (one object per line, for journald and log collectors) or text.
    pub json: Option<bool>,
    /// A `tracing` filter such as `info,rongxin_node::replica=debug`;
    /// re-read on SIGHUP.
    pub filter: Option<String>,
}

impl LogFile {
    fn check(&self) -> Result<LogConfig, String> {
        let json = match self.format.as_deref() {
            None => None,
            Some("json") => Some(true),
            Some("text") => Some(false),
            Some(other) => {
                return Err(format!(
                    "log.format = \"{other}\": write \"text\" or \"json\""
                ));
            }
        };
        if let Some(f) = &self.filter {
            tracing_subscriber::EnvFilter::try_new(f).map_err(|e| {
                format!(
                    "log.filter = \"{f}\" is not a filter ({e}): write levels such as \"info\" or \"warn,rongxin_node::replica=debug\""
                )
            })?;
        }
        Ok(LogConfig {
            json,
            filter: self.filter.clone(),
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert: PathBuf,
    key: PathBuf,
}

/// The API's TLS files.
#[derive(Debug, Clone)]
pub struct TlsPaths {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key (mode 0600).
    pub key: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForwardFile {
    url: String,
    #[serde(default)]
    ca: Option<PathBuf>,
    #[serde(default)]
    client_cert: Option<PathBuf>,
    #[serde(default)]
    client_key: Option<PathBuf>,
    #[serde(default)]
    batch: Option<usize>,
    #[serde(default)]
    max_batch_bytes: Option<usize>,
    #[serde(default)]
    allow_plain_http: bool,
    #[serde(default)]
    timeout: Option<String>,
}

/// Forwarding to the provincial platform (the city only).
#[derive(Debug, Clone)]
pub struct Forward {
    /// Base URL of the province, e.g. `https://province.example:9443`.
    pub url: String,
    /// PEM of the CA that issued the province's server certificate.
    pub ca_pem: Option<Vec<u8>>,
    /// PEM of this node's client certificate followed by its private key.
    pub identity_pem: Option<Vec<u8>>,
    /// Entries per request.
    pub batch: usize,
    /// Largest request body, in bytes, exactly as sent (`max_batch_bytes`).
    pub max_batch_bytes: usize,
    /// Timeout of one request.
    pub timeout: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DepartmentFile {
    #[serde(default)]
    id: Option<String>,
    name: String,
    token_sha256: String,
    jurisdictions: Vec<String>,
    kinds: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgencyFile {
    #[serde(default)]
    id: Option<String>,
    name: String,
    token_sha256: String,
    access: AgencyAccess,
}

/// A checked configuration with every referenced file loaded.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file this came from.
    pub source: PathBuf,
    /// This member's id.
    pub member: String,
    /// This member's roster entry.
    pub me: Member,
    /// Where the store lives.
    pub data_dir: PathBuf,
    /// HTTP API listen address.
    pub http_listen: SocketAddr,
    /// libp2p listen multiaddr (replication).
    pub p2p_listen: libp2p::Multiaddr,
    /// Members to connect to (replication).
    pub peers: Vec<String>,
    /// The verified roster.
    pub roster: SignedRoster,
    /// The federation root verifier key.
    pub root: NoteVerifier,
    /// The catalog the roster pins.
    pub catalog: Catalog,
    /// The working-day calendar (`calendar`, or the built-in one), checked
    /// against the roster's `calendar_digest`.
    pub calendar: Calendar,
    /// This member's signing key, named `<federation>/<member>`.
    pub signer: NoteSigner,
    /// Further signing keys this node holds for a key rotation
    /// (`next_signing_keys`): the node hands over to one when the roster
    /// lists it as the member's next key.
    pub next_signers: Vec<NoteSigner>,
    /// This member's libp2p transport key (protobuf encoding).
    pub transport_key: Vec<u8>,
    /// The bearer tokens as loaded (the node swaps in a new table on SIGHUP).
    pub tokens: Tokens,
    /// The tokens file, when configured.
    pub tokens_file: Option<PathBuf>,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Most records in one ingest request.
    pub max_records_per_request: usize,
    /// Most records one group commit takes.
    pub commit_max_records: usize,
    /// How long to wait at start for peers to report this node's own log.
    pub restore_timeout: Duration,
    /// Forwarding to the province, when configured.
    pub forward: Option<Forward>,
    /// HTTPS for the API; `None` serves plain HTTP (loopback, or `allow_plain_http`).
    pub tls: Option<TlsPaths>,
    /// A second, plain listener serving only `/healthz` and `/metrics`.
    pub ops_listen: Option<SocketAddr>,
    /// Connection, size, time and rate limits of the API.
    pub limits: crate::http::limits::Limits,
    /// The query log's budget and the free-space reserve (`[query_log]`, `[disk]`).
    pub store_limits: crate::store::StoreLimits,
    /// How the node logs (`[log]`).
    pub log: LogConfig,
}

impl Config {
    /// Reads and checks the config at `path`; `data_dir` overrides the file's.
    pub fn load(path: &Path, data_dir: Option<PathBuf>) -> Result<Config, ConfigError> {
        let text = fs::read_to_string(path).map_err(|e| {
            // A packaged node started before `init` wrote its config.
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                "; write it with rongxinctl init --member ID --roster roster.signed (docs/operations.md §1.4)"
            } else {
                ""
            };
            err(path, format!("cannot read the config file: {e}{hint}"))
        })?;
        let file: ConfigFile = toml::from_str(&text).map_err(|e| err(path, e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let rel = |p: &Path| base.join(p);

        let http_listen: SocketAddr = file.http_listen.parse().map_err(|_| {
            err(
                path,
                format!(
                    "http_listen = \"{}\" is not an address such as \"127.0.0.1:8102\"",
                    file.http_listen
                ),
            )
        })?;
        let p2p_listen: libp2p::Multiaddr = file.p2p_listen.parse().map_err(|_| {
            err(
                path,
                format!(
                    "p2p_listen = \"{}\" is not a multiaddr such as \"/ip4/127.0.0.1/tcp/7102\"",
                    file.p2p_listen
                ),
            )
        })?;
        let data_dir = match data_dir.or(file.data_dir.as_ref().map(|d| rel(d))) {
            Some(d) => d,
            None => {
                return Err(err(
                    path,
                    "data_dir is not set: set data_dir in the file or pass --data-dir",
                ));
            }
        };

        let root_path = rel(&file.root_key);
        let root = NoteVerifier::parse(read(&root_path)?.trim())
            .map_err(|e| err(&root_path, format!("root_key: {e}")))?;
        let roster_path = rel(&file.roster);
        let roster = SignedRoster::open(&read(&roster_path)?, &root).map_err(|e| {
            err(
                &roster_path,
                format!("roster: {e} (is it signed by the root key in root_key?)"),
            )
        })?;
        let member: Member = roster.roster.member(&file.member).cloned().ok_or_else(|| {
            err(
                path,
                format!(
                    "member = \"{}\" is not in the roster (version {}); members: {}",
                    file.member,
                    roster.roster.version,
                    roster
                        .roster
                        .members
                        .iter()
                        .map(|m| m.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;

        let catalog_path = rel(&file.catalog);
        let catalog_bytes = fs::read(&catalog_path)
            .map_err(|e| err(&catalog_path, format!("catalog: cannot read: {e}")))?;
        let digest = roster.roster.catalog_digest_of(&catalog_bytes);
        if digest != roster.roster.catalog_digest {
            return Err(err(
                &catalog_path,
                format!(
                    "catalog: this file's digest {digest} is not the roster's catalog_digest {}: use the catalog the roster was signed with",
                    roster.roster.catalog_digest
                ),
            ));
        }
        let catalog_text = String::from_utf8(catalog_bytes)
            .map_err(|_| err(&catalog_path, "catalog: not UTF-8"))?;
        let catalog = Catalog::from_toml_str(&catalog_text)
            .map_err(|e| err(&catalog_path, format!("catalog: {e}")))?;

        let calendar = load_calendar(file.calendar.as_deref().map(&rel), &roster.roster, path)?;

        let signing_path = rel(&file.signing_key);
        let signer = NoteSigner::parse(read_secret(&signing_path)?.trim())
            .map_err(|e| err(&signing_path, format!("signing_key: {e}")))?;
        let expected_name = roster.roster.log_origin(&member.id);
        if signer.name() != expected_name {
            return Err(err(
                &signing_path,
                format!(
                    "signing_key is named '{}', expected '{expected_name}'",
                    signer.name()
                ),
            ));
        }
        if member.key_index(signer.verifier().key()).is_none() {
            return Err(err(
                &signing_path,
                format!(
                    "signing_key is not one of the keys the roster lists for {} ({} suite): use that member's key, or have the root sign a roster with this one",
                    member.id, roster.roster.suite
                ),
            ));
        }
        let mut next_signers = Vec::new();
        for path in &file.next_signing_keys {
            let path = rel(path);
            let next = NoteSigner::parse(read_secret(&path)?.trim())
                .map_err(|e| err(&path, format!("next_signing_keys: {e}")))?;
            if next.name() != expected_name {
                return Err(err(
                    &path,
                    format!(
                        "next_signing_keys: the key is named '{}', expected '{expected_name}'",
                        next.name()
                    ),
                ));
            }
            if next.suite() != roster.roster.suite {
                return Err(err(
                    &path,
                    format!(
                        "next_signing_keys: an {} key, but the federation's suite is {}",
                        next.suite(),
                        roster.roster.suite
                    ),
                ));
            }
            next_signers.push(next);
        }
        let transport_path = rel(&file.transport_key);
        let transport_key = B64
            .decode(read_secret(&transport_path)?.trim())
            .map_err(|_| {
                err(
                    &transport_path,
                    "transport_key is not base64 (rongxinctl keygen writes it)",
                )
            })?;
        let keypair =
            libp2p::identity::Keypair::from_protobuf_encoding(&transport_key).map_err(|e| {
                err(
                    &transport_path,
                    format!("transport_key is not a libp2p key: {e}"),
                )
            })?;
        let peer_id = keypair.public().to_peer_id().to_base58();
        if peer_id != member.peer_id {
            return Err(err(
                &transport_path,
                format!(
                    "transport_key has peer id {peer_id}, the roster lists {} for {}",
                    member.peer_id, member.id
                ),
            ));
        }
        for p in &file.peers {
            if roster.roster.member(p).is_none() || *p == member.id {
                return Err(err(
                    path,
                    format!("peers: '{p}' is not another member of the roster"),
                ));
            }
        }

        let tokens_file = file.tokens_file.as_ref().map(|p| rel(p));
        let tokens = load_tokens(path, &file, tokens_file.as_deref(), &member, &catalog)?;
        if file.objection_due.is_some() {
            // Deadlines are the federation's, in working days: a per-node
            // setting would make nodes disagree on a due date.
            return Err(err(
                path,
                "objection_due is no longer a node setting: objection and repair deadlines are the roster's `deadlines`, in working days of the federation's calendar (docs/calendar.md); remove the key".to_owned(),
            ));
        }
        let restore_timeout = match &file.restore_timeout {
            None => Duration::from_secs(10),
            Some(s) => humantime::parse_duration(s).map_err(|e| {
                err(
                    path,
                    format!("restore_timeout = \"{s}\": {e} (write e.g. \"10s\")"),
                )
            })?,
        };
        let forward = match &file.forward {
            None => None,
            Some(f) => Some(load_forward(path, base, f, &member)?),
        };
        let tls = file.tls.as_ref().map(|t| TlsPaths {
            cert: rel(&t.cert),
            key: rel(&t.key),
        });
        if tls.is_none() && !http_listen.ip().is_loopback() && !file.allow_plain_http {
            return Err(err(
                path,
                format!(
                    "http_listen = \"{http_listen}\" is not a loopback address and there is no [tls] table: add [tls] cert and key files (docs/operations.md, security), or set allow_plain_http = true when a TLS-terminating proxy on a trusted network is in front"
                ),
            ));
        }
        if tls.is_some() && file.allow_plain_http {
            return Err(err(
                path,
                "allow_plain_http = true with a [tls] table: the API serves either HTTPS or plain HTTP; remove one",
            ));
        }
        let ops_listen = match &file.ops_listen {
            None => None,
            Some(a) => Some(a.parse::<SocketAddr>().map_err(|_| {
                err(
                    path,
                    format!("ops_listen = \"{a}\" is not an address such as \"127.0.0.1:9102\""),
                )
            })?),
        };
        let limits =
            crate::http::limits::Limits::from_file(&file.limits).map_err(|e| err(path, e))?;
        let log = file.log.check().map_err(|e| err(path, e))?;
        let store_limits = crate::store::StoreLimits {
            query_log: file.query_log.check().map_err(|e| err(path, e))?,
            disk: file.disk.check().map_err(|e| err(path, e))?,
        };
        let positive =
            |key: &str, v: Option<usize>, default: usize| -> Result<usize, ConfigError> {
                match v {
                    Some(0) => Err(err(path, format!("{key} must be at least 1"))),
                    Some(n) => Ok(n),
                    None => Ok(default),
                }
            };
        Ok(Config {
            source: path.to_owned(),
            member: member.id.clone(),
            me: member,
            data_dir,
            http_listen,
            p2p_listen,
            peers: file.peers,
            roster,
            root,
            catalog,
            calendar,
            signer,
            next_signers,
            transport_key,
            tokens,
            tokens_file,
            max_body_bytes: positive(
                "max_body_bytes",
                file.max_body_bytes,
                DEFAULT_MAX_BODY_BYTES,
            )?,
            max_records_per_request: positive(
                "max_records_per_request",
                file.max_records_per_request,
                10_000,
            )?,
            commit_max_records: positive("commit_max_records", file.commit_max_records, 4_096)?,
            restore_timeout,
            forward,
            tls,
            ops_listen,
            limits,
            store_limits,
            log,
        })
    }
}

fn load_forward(
    path: &Path,
    base: &Path,
    f: &ForwardFile,
    member: &Member,
) -> Result<Forward, ConfigError> {
    use rongxin_protocol::roster::Role;
    if member.role != Role::City {
        return Err(err(
            path,
            format!(
                "[forward] is for the city node; {} is a {:?} member: remove the section",
                member.id, member.role
            ),
        ));
    }
    let plain = f.url.starts_with("http://");
    if !f.url.starts_with("https://") && !plain {
        return Err(err(
            path,
            format!("forward.url = \"{}\" must start with https://", f.url),
        ));
    }
    if plain && !f.allow_plain_http {
        return Err(err(
            path,
            format!(
                "forward.url = \"{}\" is plain HTTP: the province link needs HTTPS with a client certificate (set allow_plain_http = true only for tests)",
                f.url
            ),
        ));
    }
    let read_file =
        |key: &str, p: &Option<PathBuf>, secret: bool| -> Result<Option<Vec<u8>>, ConfigError> {
            match p {
                None if plain => Ok(None),
                None => Err(err(
                    path,
                    format!("forward.{key} is required for an https:// url"),
                )),
                Some(p) => {
                    let full = base.join(p);
                    let text = if secret {
                        read_secret(&full)?
                    } else {
                        read(&full)?
                    };
                    if !text.contains("-----BEGIN") {
                        return Err(err(&full, format!("forward.{key} is not a PEM file")));
                    }
                    Ok(Some(text.into_bytes()))
                }
            }
        };
    let ca_pem = read_file("ca", &f.ca, false)?;
    let cert = read_file("client_cert", &f.client_cert, false)?;
    let key = read_file("client_key", &f.client_key, true)?;
    let identity_pem = match (cert, key) {
        (Some(mut c), Some(k)) => {
            c.push(b'\n');
            c.extend_from_slice(&k);
            Some(c)
        }
        _ => None,
    };
    let timeout = match &f.timeout {
        None => Duration::from_secs(30),
        Some(s) => humantime::parse_duration(s)
            .map_err(|e| err(path, format!("forward.timeout = \"{s}\": {e}")))?,
    };
    let batch = f.batch.unwrap_or(500);
    if batch == 0 || batch > 1000 {
        return Err(err(path, "forward.batch must be 1..=1000"));
    }
    let max_batch_bytes =
        crate::forward::check_max_batch_bytes(f.max_batch_bytes).map_err(|e| err(path, e))?;
    Ok(Forward {
        url: f.url.trim_end_matches('/').to_owned(),
        ca_pem,
        identity_pem,
        batch,
        max_batch_bytes,
        timeout,
    })
}

/// Checks a department's jurisdictions (owned by this member) and kinds
/// (catalog kinds, or `*`), naming `key` in the error.
fn check_department(
    path: &Path,
    key: &str,
    jurisdictions: &[String],
    kinds: &[String],
    member: &Member,
    catalog: &Catalog,
) -> Result<(), ConfigError> {
    for j in jurisdictions {
        if !member.jurisdictions.contains(j) {
            return Err(err(
                path,
                format!(
                    "{key}.jurisdictions: {j} is not owned by {} (owns {}): one number, one source",
                    member.id,
                    member.jurisdictions.join(", ")
                ),
            ));
        }
    }
    if jurisdictions.is_empty() {
        return Err(err(path, format!("{key}.jurisdictions is empty")));
    }
    if !kinds.iter().any(|k| k == "*") {
        for k in kinds {
            if catalog.kind(k).is_none() {
                return Err(err(
                    path,
                    format!("{key}.kinds: '{k}' is not a catalog kind (use \"*\" for all)"),
                ));
            }
        }
    }
    Ok(())
}

/// Every token: the config file's own, then the tokens file's.
fn load_tokens(
    path: &Path,
    file: &ConfigFile,
    tokens_file: Option<&Path>,
    member: &Member,
    catalog: &Catalog,
) -> Result<Tokens, ConfigError> {
    let mut sources = Vec::new();
    if let Some(d) = &file.admin_token_sha256 {
        sources.push(TokenSource {
            key: "admin_token_sha256".into(),
            sha256_hex: d.clone(),
            token: Token {
                id: "admin".into(),
                name: "admin".into(),
                role: Role::Admin,
                expires_ms: None,
            },
        });
    }
    for (i, d) in file.departments.iter().enumerate() {
        let key = format!("departments[{i}] ({})", d.name);
        check_department(path, &key, &d.jurisdictions, &d.kinds, member, catalog)?;
        let kinds = if d.kinds.iter().any(|k| k == "*") {
            None
        } else {
            Some(d.kinds.iter().cloned().collect())
        };
        sources.push(TokenSource {
            key: format!("{key}.token_sha256"),
            sha256_hex: d.token_sha256.clone(),
            token: Token {
                id: d.id.clone().unwrap_or_else(|| format!("department-{i}")),
                name: d.name.clone(),
                role: Role::Department(Department {
                    name: d.name.clone(),
                    jurisdictions: d.jurisdictions.iter().cloned().collect(),
                    kinds,
                }),
                expires_ms: None,
            },
        });
    }
    for (i, a) in file.agencies.iter().enumerate() {
        sources.push(TokenSource {
            key: format!("agencies[{i}] ({}).token_sha256", a.name),
            sha256_hex: a.token_sha256.clone(),
            token: Token {
                id: a.id.clone().unwrap_or_else(|| format!("agency-{i}")),
                name: a.name.clone(),
                role: Role::Agency(a.access),
                expires_ms: None,
            },
        });
    }
    if let Some(tf) = tokens_file {
        let text = read(tf)?;
        let parsed = TokensFile::parse(&text).map_err(|e| err(tf, format!("tokens_file: {e}")))?;
        for spec in &parsed.token {
            let key = format!("token '{}'", spec.id);
            if !spec.jurisdictions.is_empty() {
                check_department(tf, &key, &spec.jurisdictions, &spec.kinds, member, catalog)?;
            }
            let token = token_of_spec(spec).map_err(|e| err(tf, e))?;
            sources.push(TokenSource {
                key,
                sha256_hex: spec.sha256.clone(),
                token,
            });
        }
    }
    let tokens = Tokens::build(sources).map_err(|e| err(tokens_file.unwrap_or(path), e))?;
    if !tokens.has_role(rongxin_protocol::access::RoleName::Admin) {
        return Err(err(
            path,
            "no admin token: set admin_token_sha256, or add a token with role = \"admin\" to the tokens file (rongxinctl token add --role admin)",
        ));
    }
    Ok(tokens)
}

fn read(path: &Path) -> Result<String, ConfigError> {
    fs::read_to_string(path).map_err(|e| err(path, format!("cannot read: {e}")))
}

/// Refuses a key file that group or others can read, saying how to fix it.
pub fn check_secret_mode(path: &Path) -> Result<(), String> {
    let meta = fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "key file is readable by group or others (mode {mode:o}); run: chmod 600 {}",
            path.display()
        ));
    }
    Ok(())
}

fn read_secret(path: &Path) -> Result<String, ConfigError> {
    check_secret_mode(path).map_err(|e| err(path, e))?;
    read(path)
}

/// Loads the working-day calendar from `dir` (every `*.toml` in it), or the
/// built-in one, and checks it against the roster's `calendar_digest`.
/// `config` names the config file in errors about the built-in calendar.
fn load_calendar(
    dir: Option<PathBuf>,
    roster: &rongxin_protocol::roster::Roster,
    config: &Path,
) -> Result<Calendar, ConfigError> {
    let (files, shown) = match &dir {
        Some(dir) => {
            let entries = fs::read_dir(dir)
                .map_err(|e| err(dir, format!("calendar: cannot read the directory: {e}")))?;
            let mut files = Vec::new();
            for entry in entries {
                let p = entry
                    .map_err(|e| err(dir, format!("calendar: cannot list the directory: {e}")))?
                    .path();
                if p.extension().is_some_and(|e| e == "toml") {
                    let text = fs::read_to_string(&p)
                        .map_err(|e| err(&p, format!("calendar: cannot read: {e}")))?;
                    let name = p
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned();
                    files.push((name, text));
                }
            }
            (files, dir.as_path())
        }
        None => (
            rongxin_protocol::calendar::EMBEDDED
                .iter()
                .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
                .collect(),
            config,
        ),
    };
    let what = if dir.is_some() {
        "calendar"
    } else {
        "calendar (the built-in one: no `calendar` key)"
    };
    let calendar = Calendar::from_years(&files).map_err(|e| err(shown, format!("{what}: {e}")))?;
    let digest = Calendar::digest_of(roster.suite, &files);
    match &roster.calendar_digest {
        Some(pinned) if *pinned != digest => {
            return Err(err(
                shown,
                format!(
                    "{what}: its digest {digest} is not the roster's calendar_digest {pinned}: use the calendar the roster was signed with (docs/calendar.md)"
                ),
            ));
        }
        Some(_) => {}
        None => tracing::warn!(
            calendar = %shown.display(),
            "the roster pins no calendar_digest: this node counts working days on its own calendar, which other nodes may not share; sign a roster with `rongxinctl roster new --calendar`"
        ),
    }
    for y in calendar.sources().filter(|y| !y.verified) {
        tracing::warn!(
            year = y.year,
            source = %y.source,
            "working-day calendar year not verified against its source: deadlines in it may be off (docs/calendar.md)"
        );
    }
    Ok(calendar)
}
