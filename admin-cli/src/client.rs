//! The node HTTP API as the tool uses it (docs/api.md): one blocking client
//! per command, and errors that say which URL failed and how.
//!
//! A node error body `{"error": {"code", "message"}}` becomes
//! [`NodeError::Status`] with the node's own message; a node that cannot be
//! reached becomes [`NodeError::Unreachable`], which reminds the operator to
//! check that the node runs and what its `http_listen` is.
//!
//! `https://` URLs are verified against one CA file (`--ca`, or the
//! `RONGXIN_CA` environment variable; set once by `main` through
//! [`set_ca`]), or without one against the public web roots that ship with
//! the tool. A failed handshake becomes [`NodeError::Tls`], which says what
//! to pass. TLS is rustls on the ring provider, as everywhere in Rongxin.

use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;
use ureq::Agent;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use crate::files::read_secret;

/// Largest answer body read (bundles and profiles are far smaller).
const MAX_ANSWER_BYTES: u64 = 64 << 20;

/// The CA file for `https://` nodes, from `--ca` or `RONGXIN_CA`.
static CA: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Sets the CA file every [`Node::new`] of this process verifies `https://`
/// nodes against. Only the first call counts (`main` makes it once).
pub fn set_ca(ca: Option<PathBuf>) {
    let _ = CA.set(ca);
}

/// A node's HTTP API at one base URL.
#[derive(Debug, Clone)]
pub struct Node {
    base: String,
    agent: Agent,
    trust: Trust,
}

/// What an `https://` node's certificate is checked against.
#[derive(Debug, Clone)]
enum Trust {
    /// Plain HTTP: nothing to check.
    Plain,
    /// The certificates of this CA file only.
    CaFile(PathBuf),
    /// The public web roots (webpki-roots), when no CA file is given.
    WebRoots,
}

/// Why a request to a node failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum NodeError {
    /// No HTTP answer: connection refused, name not found, timeout, ….
    Unreachable {
        /// The URL requested.
        url: String,
        /// What the transport said.
        detail: String,
    },
    /// The node answered with a 4xx or 5xx status.
    Status {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The node's error code (`unauthorized`, …), if it sent one.
        code: Option<String>,
        /// The node's message, or the start of its body.
        message: String,
    },
    /// The TLS handshake failed, or the two ends disagree about TLS.
    Tls {
        /// The URL requested.
        url: String,
        /// What went wrong and what to do about it.
        problem: String,
    },
    /// The node answered 2xx with a body this tool cannot read.
    BadAnswer {
        /// The URL requested.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeError::Unreachable { url, detail } => write!(
                f,
                "cannot reach the node at {url}: {detail}; check that the node is running and \
                 that --node matches the http_listen address in its config"
            ),
            NodeError::Status {
                url,
                status,
                code,
                message,
            } => match code {
                Some(code) => write!(f, "{url} answered {status} ({code}): {message}"),
                None => write!(f, "{url} answered {status}: {message}"),
            },
            NodeError::Tls { url, problem } => write!(f, "TLS with {url} failed: {problem}"),
            NodeError::BadAnswer { url, detail } => {
                write!(f, "{url} sent an answer rongxinctl cannot read: {detail}")
            }
        }
    }
}

impl std::error::Error for NodeError {}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: Option<String>,
    message: String,
}

/// An answer with a 2xx status.
#[derive(Debug)]
pub struct Answer {
    /// The URL requested.
    pub url: String,
    /// The body, as text.
    pub body: String,
}

impl Answer {
    /// The body read as JSON of type `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, NodeError> {
        serde_json::from_str(&self.body).map_err(|e| NodeError::BadAnswer {
            url: self.url.clone(),
            detail: format!("not the JSON expected: {e}"),
        })
    }
}

impl Node {
    /// A client for the node at `url` (`https://host:port`,
    /// `http://host:port`, or just `host:port` for plain HTTP), waiting at
    /// most `timeout` for each answer; `https://` is verified against the CA
    /// file set with [`set_ca`].
    pub fn new(url: &str, timeout: Duration) -> Result<Node> {
        Node::with_ca(url, timeout, CA.get().and_then(Option::as_deref))
    }

    /// Like [`Node::new`], with the CA file given here.
    pub fn with_ca(url: &str, timeout: Duration, ca: Option<&Path>) -> Result<Node> {
        let url = url.trim();
        let (scheme, host) = if let Some(rest) = url.strip_prefix("https://") {
            ("https", rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            ("http", rest)
        } else if url.contains("://") {
            bail!("--node {url}: only https:// and http:// URLs are supported");
        } else {
            ("http", url)
        };
        let host = host.trim_end_matches('/');
        if host.is_empty() {
            bail!("--node needs a host and port, such as https://127.0.0.1:8102");
        }
        let mut config = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(timeout))
            .user_agent(concat!("rongxinctl/", env!("CARGO_PKG_VERSION")));
        let trust = match (scheme, ca) {
            ("http", _) => Trust::Plain,
            (_, Some(ca)) => {
                config = config.tls_config(
                    TlsConfig::builder()
                        .root_certs(RootCerts::new_with_certs(&read_ca(ca)?))
                        .build(),
                );
                Trust::CaFile(ca.to_owned())
            }
            (_, None) => Trust::WebRoots,
        };
        Ok(Node {
            base: format!("{scheme}://{host}"),
            agent: config.build().new_agent(),
            trust,
        })
    }

    /// The full URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path` with optional query parameters and bearer token.
    pub fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
        token: Option<&str>,
    ) -> Result<Answer, NodeError> {
        let url = self.url(path);
        let mut req = self.agent.get(&url);
        for (k, v) in query {
            req = req.query(*k, *v);
        }
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        self.finish(&url, req.call())
    }

    /// `GET path` with a bearer token, its 2xx body copied to `out` as it
    /// arrives (`progress` hears the bytes so far); the bytes copied.
    pub fn download(
        &self,
        path: &str,
        token: &str,
        out: &mut dyn std::io::Write,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64, NodeError> {
        let url = self.url(path);
        let mut response = self
            .agent
            .get(&url)
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .map_err(|e| self.transport_error(&url, &e))?;
        if !response.status().is_success() {
            return read_answer(&url, response).map(|_| 0);
        }
        let broke = |e: std::io::Error| NodeError::Unreachable {
            url: url.clone(),
            detail: format!("the answer broke off: {e}"),
        };
        let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = reader.read(&mut buf).map_err(broke)?;
            if n == 0 {
                return Ok(total);
            }
            out.write_all(&buf[..n]).map_err(|e| NodeError::BadAnswer {
                url: url.clone(),
                detail: format!("cannot write it: {e}"),
            })?;
            total += n as u64;
            progress(total);
        }
    }

    /// `POST path` with a body of `content_type` and a bearer token.
    pub fn post(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
        token: &str,
    ) -> Result<Answer, NodeError> {
        let url = self.url(path);
        let result = self
            .agent
            .post(&url)
            .header("Authorization", format!("Bearer {token}"))
            .content_type(content_type)
            .send(body);
        self.finish(&url, result)
    }

    fn finish(
        &self,
        url: &str,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Answer, NodeError> {
        result
            .map_err(|e| self.transport_error(url, &e))
            .and_then(|r| read_answer(url, r))
    }

    /// The error for a request that got no HTTP answer, naming the TLS
    /// problem and its fix when there is one.
    fn transport_error(&self, url: &str, e: &ureq::Error) -> NodeError {
        let tls = |problem: String| NodeError::Tls {
            url: url.to_owned(),
            problem,
        };
        if let Some(r) = rustls_error(e) {
            let not_tls = matches!(
                r,
                rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. }
            );
            if not_tls {
                return tls(format!(
                    "the node did not answer in TLS ({r}); if its config has no [tls] \
                     table it serves plain HTTP: use http://"
                ));
            }
            let trusted_by = match &self.trust {
                Trust::CaFile(ca) => format!("the CA in {}", ca.display()),
                _ => "the public web roots (no --ca given)".to_owned(),
            };
            return match r {
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
                    tls(format!(
                        "the node's certificate is not trusted: it was not issued by \
                         {trusted_by}; pass --ca (or set RONGXIN_CA) with the CA that issued \
                         the node's certificate"
                    ))
                }
                rustls::Error::InvalidCertificate(c) => tls(format!(
                    "the node's certificate was refused ({c}); it must be valid now and name \
                     the host in --node, and be issued by {trusted_by}"
                )),
                other => tls(other.to_string()),
            };
        }
        if matches!(self.trust, Trust::Plain) && speaks_tls(e) {
            return tls(
                "the node closed the connection or answered something that is not HTTP; \
                 if its config has a [tls] table it serves HTTPS only: use https://… with \
                 --ca <the CA that issued its certificate>"
                    .to_owned(),
            );
        }
        NodeError::Unreachable {
            url: url.to_owned(),
            detail: transport_detail(e),
        }
    }
}

/// Reads the certificates of a CA file (PEM), refusing a file without one.
fn read_ca(path: &Path) -> Result<Vec<Certificate<'static>>> {
    let pem = std::fs::read(path).with_context(|| {
        format!(
            "CA file {} (--ca or RONGXIN_CA): cannot read it",
            path.display()
        )
    })?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => bail!(
                "CA file {} (--ca or RONGXIN_CA): not a PEM file: {e}",
                path.display()
            ),
        }
    }
    if certs.is_empty() {
        bail!(
            "CA file {} (--ca or RONGXIN_CA): no certificate in it; it must hold the PEM certificate \
             (-----BEGIN CERTIFICATE-----) of the CA that issued the node's certificate",
            path.display()
        );
    }
    Ok(certs)
}

/// The rustls error behind a failed request, if TLS is what failed.
fn rustls_error(e: &ureq::Error) -> Option<&rustls::Error> {
    match e {
        ureq::Error::Rustls(r) => Some(r),
        ureq::Error::Io(io) => io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()),
        _ => None,
    }
}

/// Whether a plain-HTTP request failed the way it does against a TLS-only
/// listener: the server sends a TLS alert (not HTTP) or hangs up.
fn speaks_tls(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Protocol(_) => true,
        ureq::Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
        ),
        _ => false,
    }
}

fn read_answer(
    url: &str,
    mut response: ureq::http::Response<ureq::Body>,
) -> Result<Answer, NodeError> {
    let status = response.status().as_u16();
    let mut bytes = Vec::new();
    response
        .body_mut()
        .as_reader()
        .take(MAX_ANSWER_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| NodeError::Unreachable {
            url: url.to_owned(),
            detail: format!("the answer broke off: {e}"),
        })?;
    let body = String::from_utf8_lossy(&bytes).into_owned();
    if (200..300).contains(&status) {
        return Ok(Answer {
            url: url.to_owned(),
            body,
        });
    }
    let (code, message) = match serde_json::from_str::<ErrorBody>(&body) {
        Ok(e) => (e.error.code, e.error.message),
        Err(_) if body.trim().is_empty() => (None, "(no message)".to_owned()),
        Err(_) => (None, body.trim().chars().take(300).collect()),
    };
    Err(NodeError::Status {
        url: url.to_owned(),
        status,
        code,
        message,
    })
}

fn transport_detail(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused".to_owned()
        }
        ureq::Error::HostNotFound => "host not found".to_owned(),
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        other => other.to_string(),
    }
}

/// Reads a bearer token from `path` (owner-only permissions, surrounding
/// whitespace trimmed), refusing an empty file.
pub fn read_token(path: &Path) -> Result<String> {
    let token = read_secret(path)?.trim().to_owned();
    if token.is_empty() {
        bail!("token file {} is empty", path.display());
    }
    Ok(token)
}

/// Percent-encodes one URL path segment (subject codes, origins).
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        let t = Duration::from_secs(1);
        assert_eq!(
            Node::new("127.0.0.1:8102", t).unwrap().url("/x"),
            "http://127.0.0.1:8102/x"
        );
        assert_eq!(
            Node::new("http://h:1/", t).unwrap().url("/v1/catalog"),
            "http://h:1/v1/catalog"
        );
        assert_eq!(
            Node::new("https://h:1/", t).unwrap().url("/v1/catalog"),
            "https://h:1/v1/catalog"
        );
        assert!(Node::new("ftp://h:1", t).is_err());
        assert!(Node::new("http://", t).is_err());
        assert_eq!(segment("91350100757384472D"), "91350100757384472D");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }
}
