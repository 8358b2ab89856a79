//! An entry no request may carry: the evidence kept when an origin's
//! forwarding stops at one. Every entry the city holds was verified, so
//! within the province's limit it must get through; one that cannot is a
//! misconfiguration of a limit (the city's budget or the province's body
//! limit) that an operator must fix. Retrying it on the usual backoff would
//! only hammer the province, so the forwarder stops there, reports it once
//! and keeps this as evidence (`GET /v1/admin/evidence`).

use std::fmt;

use rongxin_protocol::forward::INTERFACE_MAX_BODY_BYTES;
use serde::{Deserialize, Serialize};

/// `kind` of this evidence among the node's evidence.
pub const KIND: &str = "forward_entry_too_large";
/// Version of the stored value.
pub const VERSION: u32 = 1;

/// Which limit the entry is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Limit {
    /// This node's `forward.max_batch_bytes`.
    #[serde(rename = "forward.max_batch_bytes")]
    Configured,
    /// The province's body limit: it answered 413 to the entry alone.
    #[serde(rename = "province")]
    Province,
}

/// Evidence that `origin`'s forwarding stopped at entry `seq`, stored
/// versioned (`version`) beside equivocation evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TooLarge {
    /// [`VERSION`].
    pub version: u32,
    /// [`KIND`].
    pub kind: String,
    /// The origin whose forwarding stopped.
    pub origin: String,
    /// The entry it stopped at.
    pub seq: u64,
    /// The entry's signed bytes.
    pub entry_bytes: u64,
    /// The request carrying the entry alone, in bytes, exactly as sent.
    pub request_bytes: u64,
    /// Which limit refused it.
    pub limit: Limit,
    /// That limit in bytes, when known (the province states it in its 413).
    pub limit_bytes: Option<u64>,
    /// When it was found, in ms since the epoch.
    pub detected_ms: i64,
    /// What the operator should do.
    pub fix: String,
}

impl TooLarge {
    /// The evidence for `origin` entry `seq`, over `limit`.
    pub fn new(
        origin: &str,
        seq: u64,
        entry_bytes: usize,
        request_bytes: usize,
        limit: Limit,
        limit_bytes: Option<usize>,
        retry: std::time::Duration,
    ) -> TooLarge {
        let fix = match limit {
            Limit::Configured => format!(
                "raise forward.max_batch_bytes to at least {request_bytes} (no more than the province accepts; the interface states {INTERFACE_MAX_BODY_BYTES}) and restart the city node"
            ),
            Limit::Province => format!(
                "the province's body limit is smaller than one entry: agree with the province a limit of at least {request_bytes} bytes (the interface states {INTERFACE_MAX_BODY_BYTES}; rongxin-province: max_body_bytes); the city tries this entry again every {}",
                humantime::format_duration(retry)
            ),
        };
        TooLarge {
            version: VERSION,
            kind: KIND.to_owned(),
            origin: origin.to_owned(),
            seq,
            entry_bytes: entry_bytes as u64,
            request_bytes: request_bytes as u64,
            limit,
            limit_bytes: limit_bytes.map(|b| b as u64),
            detected_ms: crate::ingest::now_ms(),
            fix,
        }
    }

    /// Whether `other` (as stored) reports the same stop.
    pub fn same_as(&self, other: &serde_json::Value) -> bool {
        serde_json::from_value::<TooLarge>(other.clone()).is_ok_and(|o| {
            o.kind == self.kind
                && o.origin == self.origin
                && o.seq == self.seq
                && o.limit == self.limit
                && o.limit_bytes == self.limit_bytes
        })
    }
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let over = match (self.limit, self.limit_bytes) {
            (Limit::Configured, Some(b)) => format!("forward.max_batch_bytes = {b}"),
            (Limit::Configured, None) => "forward.max_batch_bytes".to_owned(),
            (Limit::Province, Some(b)) => format!("the province's body limit of {b} bytes (413)"),
            (Limit::Province, None) => "the province's body limit (413)".to_owned(),
        };
        write!(
            f,
            "{} entry {} ({} bytes signed) needs a request of {} bytes, over {over}: forwarding of {} stops at it; fix: {}",
            self.origin, self.seq, self.entry_bytes, self.request_bytes, self.origin, self.fix
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use super::*;

    #[test]
    fn stored_form_is_versioned_and_names_the_limit() {
        let t = TooLarge::new(
            "gulou",
            7,
            300_000,
            400_123,
            Limit::Province,
            Some(65_536),
            Duration::from_secs(600),
        );
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["kind"], KIND);
        assert_eq!(v["limit"], "province");
        assert_eq!(v["limit_bytes"], 65_536);
        assert!(t.same_as(&v));
        let mut other = v.clone();
        other["seq"] = 8.into();
        assert!(!t.same_as(&other));
        assert!(!t.same_as(&serde_json::json!({"kind": "equivocation"})));
        let text = t.to_string();
        assert!(text.contains("gulou entry 7"), "{text}");
        assert!(text.contains("65536"), "{text}");
        assert!(text.contains("400123"), "{text}");
        assert!(text.contains("10m"), "{text}");
        let c = TooLarge::new("gulou", 7, 1, 2, Limit::Configured, Some(1), Duration::ZERO);
        assert_eq!(
            serde_json::to_value(&c).unwrap()["limit"],
            "forward.max_batch_bytes"
        );
        assert!(c.fix.contains("raise forward.max_batch_bytes"), "{}", c.fix);
    }
}
