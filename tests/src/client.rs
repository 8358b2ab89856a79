//! A small blocking HTTP client for one node: raw requests that return
//! whatever the node answered (status and body, never an error for a 4xx),
//! and helpers for the calls tests make all the time.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rongxin_protocol::entry::SignedEntry;
use serde_json::{Value, json};

/// Largest response body read (entry pages of 1000 entries fit easily).
const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// An HTTP client bound to one node's address.
#[derive(Clone, Debug)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
    ops_token: String,
    /// The token [`Client::entries`] and [`Client::bundle`] read with: an
    /// auditor's, since entries of non-public records are withheld from
    /// anonymous readers.
    reader: Option<String>,
}

/// A node's answer.
#[derive(Clone, Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The Content-Type header, empty if absent.
    pub content_type: String,
    /// The body as text.
    pub body: String,
}

impl Reply {
    /// The body as JSON; panics (showing the body) if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {}",
                self.status, self.body
            )
        })
    }

    /// Panics unless the status is 200; returns the JSON body.
    pub fn ok_json(&self) -> Value {
        assert_eq!(self.status, 200, "expected 200, got: {}", self.body);
        self.json()
    }

    /// Checks the error shape `{"error": {"code", "message"}}` and the
    /// status; returns the message.
    pub fn expect_error(&self, status: u16, code: &str) -> String {
        assert_eq!(
            self.status, status,
            "expected {status} {code}, got {}: {}",
            self.status, self.body
        );
        let v = self.json();
        let err = v
            .get("error")
            .unwrap_or_else(|| panic!("no error object in {}", self.body));
        assert_eq!(err["code"], code, "error code in {}", self.body);
        let message = err["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message in {}", self.body));
        assert!(!message.trim().is_empty(), "empty error message");
        assert_eq!(
            err.as_object().map(|o| o.len()),
            Some(2),
            "error object has exactly code and message: {}",
            self.body
        );
        message.to_owned()
    }
}

/// The head of a log as `/v1/admin/status` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogHead {
    /// Entries.
    pub size: u64,
    /// Base64 root.
    pub root: String,
    /// Signed checkpoint note.
    pub checkpoint: String,
}

/// Records as JSON Lines.
pub fn ndjson(records: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        out.extend_from_slice(r.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

/// Percent-encodes a query value.
pub fn encode_query(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// A client for the node at `addr`.
    pub fn new(addr: SocketAddr) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent();
        Client {
            base: format!("http://{addr}"),
            agent,
            ops_token: crate::generate::ADMIN_TOKEN.to_owned(),
            reader: None,
        }
    }

    /// This client with `token` for the operations endpoints.
    pub fn with_ops_token(mut self, token: &str) -> Client {
        token.clone_into(&mut self.ops_token);
        self
    }

    /// The token the operations endpoints (status, metrics, evidence) are read with.
    pub fn ops_token(&self) -> &str {
        &self.ops_token
    }

    /// This client, reading entries and bundles with `token` (an auditor's).
    pub fn with_reader(mut self, token: impl Into<String>) -> Client {
        self.reader = Some(token.into());
        self
    }

    /// The token entries and bundles are read with, if any.
    pub fn reader(&self) -> Option<&str> {
        self.reader.as_deref()
    }

    /// The base URL, `http://127.0.0.1:port`.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn reply(mut resp: ureq::http::Response<ureq::Body>) -> Result<Reply, ureq::Error> {
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_string()?;
        Ok(Reply {
            status,
            content_type,
            body,
        })
    }

    /// `GET path` (path includes any query), with an optional bearer token.
    pub fn try_get(&self, path: &str, token: Option<&str>) -> Result<Reply, ureq::Error> {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        Self::reply(req.call()?)
    }

    /// `GET path`; panics if the node cannot be reached.
    pub fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.try_get(path, token)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// `POST path` with an optional token and content type.
    pub fn try_post(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Reply, ureq::Error> {
        let mut req = self.agent.post(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        Self::reply(req.send(body)?)
    }

    /// `POST path`; panics if the node cannot be reached.
    pub fn post(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Reply {
        self.try_post(path, token, content_type, body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// `POST /v1/records` of `records` as JSON Lines.
    pub fn try_submit(&self, token: &str, records: &[Value]) -> Result<Reply, ureq::Error> {
        self.try_post(
            "/v1/records",
            Some(token),
            Some("application/x-ndjson"),
            &ndjson(records),
        )
    }

    /// `POST /v1/records` as JSON Lines; asserts 200 and returns the answer.
    pub fn submit(&self, token: &str, records: &[Value]) -> Value {
        self.try_submit(token, records)
            .unwrap_or_else(|e| panic!("POST /v1/records: {e}"))
            .ok_json()
    }

    /// Submits records that must all be accepted; returns their seqs in order.
    pub fn submit_accepted(&self, token: &str, records: &[Value]) -> Vec<u64> {
        let answer = self.submit(token, records);
        assert_eq!(
            answer["accepted"],
            records.len(),
            "not all accepted: {answer:#}"
        );
        seqs(&answer)
    }

    /// `POST /v1/records/revoke`.
    pub fn revoke(&self, token: &str, key: &Value, reason: &str, basis: &str) -> Reply {
        let body = json!({"key": key, "reason": reason, "basis": basis});
        self.post(
            "/v1/records/revoke",
            Some(token),
            Some("application/json"),
            body.to_string().as_bytes(),
        )
    }

    /// `GET /v1/subjects/{code}?purpose=…`.
    pub fn profile(&self, code: &str, token: Option<&str>, purpose: &str) -> Reply {
        self.get(
            &format!(
                "/v1/subjects/{}?purpose={}",
                encode_query(code),
                encode_query(purpose)
            ),
            token,
        )
    }

    /// `GET /v1/admin/status`.
    pub fn status(&self) -> Value {
        self.get("/v1/admin/status", Some(&self.ops_token))
            .ok_json()
    }

    /// The own log's head from `/v1/admin/status`.
    pub fn own_log(&self) -> LogHead {
        let s = self.status();
        let own = &s["own_log"];
        LogHead {
            size: own["size"].as_u64().expect("own_log.size"),
            root: own["root"].as_str().expect("own_log.root").to_owned(),
            checkpoint: own["checkpoint"]
                .as_str()
                .expect("own_log.checkpoint")
                .to_owned(),
        }
    }

    /// `GET /v1/logs/{origin}/checkpoint` (the signed note).
    pub fn checkpoint_note(&self, origin: &str) -> String {
        let r = self.get(&format!("/v1/logs/{origin}/checkpoint"), None);
        assert_eq!(r.status, 200, "checkpoint of {origin}: {}", r.body);
        r.body
    }

    /// Every entry of `origin`'s log from `from` up to `to` (exclusive),
    /// fetched in pages of up to 1000 with the reader token; panics on an
    /// entry served without its bytes.
    pub fn entries(&self, origin: &str, from: u64, to: u64) -> Vec<SignedEntry> {
        let mut out = Vec::new();
        let mut next = from;
        while next < to {
            let limit = (to - next).min(1000);
            let page = self
                .get(
                    &format!("/v1/logs/{origin}/entries?from={next}&limit={limit}"),
                    self.reader(),
                )
                .ok_json();
            let list = page["entries"].as_array().expect("entries array");
            assert!(
                !list.is_empty(),
                "no entries from {next} of {origin} (wanted up to {to})"
            );
            for e in list {
                assert_eq!(e["seq"], next, "entries answer out of order");
                assert!(
                    e.get("withheld").is_none(),
                    "entry {next} of {origin} withheld from this client's reader token: {e}"
                );
                let bytes = B64
                    .decode(e["entry"].as_str().expect("entry"))
                    .expect("entry base64");
                let signature: [u8; 64] = B64
                    .decode(e["signature"].as_str().expect("signature"))
                    .expect("signature base64")
                    .try_into()
                    .expect("64-byte signature");
                out.push(SignedEntry { bytes, signature });
                next += 1;
            }
        }
        out
    }

    /// `GET /v1/records/{origin}/{seq}/bundle` with the reader token.
    pub fn bundle(&self, origin: &str, seq: u64) -> Reply {
        self.get(&format!("/v1/records/{origin}/{seq}/bundle"), self.reader())
    }

    /// `GET /metrics` as text.
    pub fn metrics(&self) -> String {
        let r = self.get("/metrics", Some(&self.ops_token));
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }
}

/// The seqs of an ingest answer's results, in order (panics on a rejected one).
pub fn seqs(answer: &Value) -> Vec<u64> {
    answer["results"]
        .as_array()
        .expect("results array")
        .iter()
        .map(|r| {
            r["seq"]
                .as_u64()
                .unwrap_or_else(|| panic!("result without seq: {r}"))
        })
        .collect()
}

/// The statuses of an ingest answer's results, in order.
pub fn statuses(answer: &Value) -> Vec<String> {
    answer["results"]
        .as_array()
        .expect("results array")
        .iter()
        .map(|r| r["status"].as_str().unwrap_or("").to_owned())
        .collect()
}
