//! The receiver's configuration: a TOML file, checked completely before
//! anything starts. Every error names the key (or file) and says how to fix it.
//!
//! Paths in the file are relative to the file's own directory. The TLS key
//! must be readable by its owner only.
//!
//! ```toml
//! listen = "127.0.0.1:9443"          # HTTPS (mutual TLS) for the city's forwarder
//! admin_listen = "127.0.0.1:9444"    # plain HTTP, loopback only
//! data_dir = "/var/lib/rongxin/province"
//! roster = "roster.signed"           # the federation roster note …
//! root_key = "root.pub"              # … and the root key that signed it
//! catalog = "catalog.toml"           # must be the catalog the roster pins
//! tls_cert = "demo-certs/province.pem"
//! tls_key = "demo-certs/province.key"
//! client_ca = "demo-certs/ca.pem"    # the CA that issues the city's client certificate
//! accepted_senders = ["city"]        # client certificate CNs allowed (default ["city"])
//! max_body_bytes = 33554432          # largest request body (default 32 MiB, the interface's)
//! ```

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use rongxin_protocol::catalog::Catalog;
use rongxin_protocol::note::NoteVerifier;
use rongxin_protocol::roster::SignedRoster;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use crate::api::MAX_BODY_BYTES;

/// Smallest `max_body_bytes`: below this not even an empty request's
/// envelope fits. Limits this small exist for drills of the 413 path.
const MIN_BODY_BYTES: usize = 1024;
/// Largest `max_body_bytes`: a request is held in memory whole.
const MAX_BODY_BYTES_LIMIT: usize = 256 * 1024 * 1024;

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
    listen: String,
    admin_listen: String,
    data_dir: Option<PathBuf>,
    roster: PathBuf,
    root_key: PathBuf,
    catalog: PathBuf,
    tls_cert: PathBuf,
    tls_key: PathBuf,
    client_ca: PathBuf,
    accepted_senders: Option<Vec<String>>,
    max_body_bytes: Option<usize>,
}

/// A checked configuration with every referenced file loaded.
#[derive(Debug)]
pub struct Config {
    /// The config file this came from.
    pub source: PathBuf,
    /// HTTPS (mutual TLS) listen address for `POST /v1/entries`.
    pub listen: SocketAddr,
    /// Plain HTTP admin listen address (loopback).
    pub admin_listen: SocketAddr,
    /// Where the store lives.
    pub data_dir: PathBuf,
    /// The verified roster the entries are checked against.
    pub roster: SignedRoster,
    /// The catalog the roster pins.
    pub catalog: Catalog,
    /// The server certificate chain, leaf first.
    pub tls_cert: Vec<CertificateDer<'static>>,
    /// The server certificate's private key.
    pub tls_key: PrivateKeyDer<'static>,
    /// The CA certificates that issue accepted client certificates.
    pub client_ca: Vec<CertificateDer<'static>>,
    /// Client certificate subject CNs allowed to send.
    pub accepted_senders: Vec<String>,
    /// Largest `POST /v1/entries` body; larger ones are answered 413.
    pub max_body_bytes: usize,
}

impl Config {
    /// Reads and checks the config at `path`; `data_dir` overrides the file's.
    pub fn load(path: &Path, data_dir: Option<PathBuf>) -> Result<Config, ConfigError> {
        let text = fs::read_to_string(path)
            .map_err(|e| err(path, format!("cannot read the config file: {e}")))?;
        let file: ConfigFile = toml::from_str(&text).map_err(|e| err(path, e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let rel = |p: &Path| base.join(p);

        let addr = |key: &str, value: &str, example: &str| {
            value.parse::<SocketAddr>().map_err(|_| {
                err(
                    path,
                    format!("{key} = \"{value}\" is not an address such as \"{example}\""),
                )
            })
        };
        let listen = addr("listen", &file.listen, "127.0.0.1:9443")?;
        let admin_listen = addr("admin_listen", &file.admin_listen, "127.0.0.1:9444")?;
        if !admin_listen.ip().is_loopback() {
            return Err(err(
                path,
                format!(
                    "admin_listen = \"{admin_listen}\" is not a loopback address: the admin listener has no authentication, use 127.0.0.1 or [::1]"
                ),
            ));
        }
        let data_dir = match data_dir.or(file.data_dir.map(|d| rel(&d))) {
            Some(d) => d,
            None => {
                return Err(err(
                    path,
                    "data_dir is not set: set data_dir in the file or pass --data-dir",
                ));
            }
        };

        let root_path = rel(&file.root_key);
        let root = NoteVerifier::parse(read(&root_path, "root_key")?.trim())
            .map_err(|e| err(&root_path, format!("root_key: {e}")))?;
        let roster_path = rel(&file.roster);
        let roster = SignedRoster::open(&read(&roster_path, "roster")?, &root).map_err(|e| {
            err(
                &roster_path,
                format!("roster: {e} (is it signed by the root key in root_key?)"),
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

        let cert_path = rel(&file.tls_cert);
        let tls_cert = certificates(&cert_path, "tls_cert")?;
        let key_path = rel(&file.tls_key);
        check_private(&key_path, "tls_key")?;
        let tls_key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| {
            err(
                &key_path,
                format!("tls_key: no PEM private key (PKCS#8, PKCS#1 or SEC1) here: {e}"),
            )
        })?;
        let client_ca = certificates(&rel(&file.client_ca), "client_ca")?;

        let accepted_senders = file
            .accepted_senders
            .unwrap_or_else(|| vec!["city".to_owned()]);
        if accepted_senders.is_empty() {
            return Err(err(
                path,
                "accepted_senders is empty: no client could send; list the client certificate CNs allowed, such as [\"city\"]",
            ));
        }
        if let Some(bad) = accepted_senders.iter().find(|s| s.trim().is_empty()) {
            return Err(err(
                path,
                format!("accepted_senders: '{bad}' is empty; list client certificate CNs"),
            ));
        }

        let max_body_bytes = file.max_body_bytes.unwrap_or(MAX_BODY_BYTES);
        if !(MIN_BODY_BYTES..=MAX_BODY_BYTES_LIMIT).contains(&max_body_bytes) {
            return Err(err(
                path,
                format!(
                    "max_body_bytes = {max_body_bytes} is out of range: give {MIN_BODY_BYTES}..={MAX_BODY_BYTES_LIMIT} bytes, or omit it for the interface's {MAX_BODY_BYTES}"
                ),
            ));
        }

        Ok(Config {
            source: path.to_owned(),
            listen,
            admin_listen,
            data_dir,
            roster,
            catalog,
            tls_cert,
            tls_key,
            client_ca,
            accepted_senders,
            max_body_bytes,
        })
    }
}

fn read(path: &Path, key: &str) -> Result<String, ConfigError> {
    fs::read_to_string(path).map_err(|e| err(path, format!("{key}: cannot read: {e}")))
}

fn certificates(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| err(path, format!("{key}: cannot read PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(err(
            path,
            format!("{key}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file"),
        ));
    }
    Ok(certs)
}

/// Refuses a key file that group or others may read.
fn check_private(path: &Path, key: &str) -> Result<(), ConfigError> {
    let meta = fs::metadata(path).map_err(|e| err(path, format!("{key}: cannot read: {e}")))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(err(
            path,
            format!(
                "{key}: key file is readable by group or others (mode {mode:o}); run: chmod 600 {}",
                path.display()
            ),
        ));
    }
    Ok(())
}
