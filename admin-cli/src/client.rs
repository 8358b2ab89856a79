//! The node HTTP API as the tool uses it (docs/api.md): one blocking client
//! per command, and errors that say which URL failed and how.
//!
//! A node error body `{"error": {"code", "message"}}` becomes
//! [`NodeError::Status`] with the node's own message; a node that cannot be
//! reached becomes [`NodeError::Unreachable`], which reminds the operator to
//! check that the node runs and what its `http_listen` is.

use std::fmt;
use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use serde::Deserialize;
use ureq::Agent;

use crate::files::read_secret;

/// Largest answer body read (bundles and profiles are far smaller).
const MAX_ANSWER_BYTES: u64 = 64 << 20;

/// A node's HTTP API at one base URL.
#[derive(Debug, Clone)]
pub struct Node {
    base: String,
    agent: Agent,
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
    /// A client for the node at `url` (`http://host:port`, or just
    /// `host:port`), waiting at most `timeout` for each answer.
    pub fn new(url: &str, timeout: Duration) -> Result<Node> {
        let url = url.trim();
        let host = if let Some(rest) = url.strip_prefix("http://") {
            rest
        } else if url.starts_with("https://") {
            bail!(
                "--node {url}: rongxinctl speaks plain HTTP to the node's http_listen address; \
                 use http://…"
            );
        } else if url.contains("://") {
            bail!("--node {url}: only http:// URLs are supported");
        } else {
            url
        };
        let host = host.trim_end_matches('/');
        if host.is_empty() {
            bail!("--node needs a host and port, such as http://127.0.0.1:8102");
        }
        let base = format!("http://{host}");
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(timeout))
            .user_agent(concat!("rongxinctl/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Node {
            base,
            agent: config.new_agent(),
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
        finish(&url, req.call())
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
        finish(&url, result)
    }
}

fn finish(
    url: &str,
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Answer, NodeError> {
    let mut response = result.map_err(|e| NodeError::Unreachable {
        url: url.to_owned(),
        detail: transport_detail(&e),
    })?;
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
        assert!(Node::new("https://h:1", t).is_err());
        assert!(Node::new("ftp://h:1", t).is_err());
        assert!(Node::new("http://", t).is_err());
        assert_eq!(segment("91350100757384472D"), "91350100757384472D");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }
}
