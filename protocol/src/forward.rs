//! The city → province request (docs/province-interface.md): one origin's
//! consecutive signed entries as `POST /v1/entries` carries them, defined
//! once for the city's forwarder and the province's receiver.
//!
//! A request's size is what the province's body limit counts, so the
//! forwarder cuts batches by [`request_len`], which is exact for the compact
//! JSON that `serde_json::to_vec` writes, not an estimate.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::entry::{MAX_ENTRY_BYTES, SignedEntry};

/// The only request format, and its version.
pub const FORMAT: &str = "rongxin-forward/1";
/// Most entries in one request.
pub const MAX_ENTRIES: usize = 1000;
/// The body limit the interface states (32 MiB); a province may agree a
/// different one with the city.
pub const INTERFACE_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// A `POST /v1/entries` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardRequest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The sender's name; must be its client certificate's CN.
    pub sender: String,
    /// Member id of the origin whose entries these are.
    pub origin: String,
    /// The origin's newest signed checkpoint note the sender holds.
    pub checkpoint: String,
    /// Consecutive entries in ascending seq order.
    pub entries: Vec<ForwardEntry>,
}

/// One entry of a forwarded batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardEntry {
    /// Position in the origin's log.
    pub seq: u64,
    /// Base64 of the exact signed entry bytes.
    pub entry: String,
    /// Base64 of the 64-byte Ed25519 signature.
    pub signature: String,
}

impl ForwardEntry {
    /// The item for `signed` at `seq`.
    pub fn new(seq: u64, signed: &SignedEntry) -> ForwardEntry {
        ForwardEntry {
            seq,
            entry: B64.encode(&signed.bytes),
            signature: B64.encode(signed.signature),
        }
    }

    /// Bytes of this item in a request's compact JSON.
    pub fn encoded_len(&self) -> usize {
        // Fixed keys and punctuation, then the values: the base64 strings
        // need no JSON escaping and seq is plain digits.
        const FIXED: usize = r#"{"seq":,"entry":"","signature":""}"#.len();
        FIXED + digits(self.seq) + self.entry.len() + self.signature.len()
    }
}

impl ForwardRequest {
    /// A request of `entries` from `sender` about `origin`.
    pub fn new(
        sender: &str,
        origin: &str,
        checkpoint: &str,
        entries: Vec<ForwardEntry>,
    ) -> ForwardRequest {
        ForwardRequest {
            format: FORMAT.to_owned(),
            sender: sender.to_owned(),
            origin: origin.to_owned(),
            checkpoint: checkpoint.to_owned(),
            entries,
        }
    }

    /// Bytes of this request without entries (`"entries":[]`).
    pub fn envelope_len(&self) -> usize {
        const FIXED: usize = r#"{"format":,"sender":,"origin":,"checkpoint":,"entries":[]}"#.len();
        FIXED
            + json_string_len(&self.format)
            + json_string_len(&self.sender)
            + json_string_len(&self.origin)
            + json_string_len(&self.checkpoint)
    }
}

/// Bytes of a request with an envelope of `envelope_len` and items of
/// `item_lens`: the envelope, the items and the commas between them.
pub fn request_len(envelope_len: usize, item_lens: impl IntoIterator<Item = usize>) -> usize {
    let (n, sum) = item_lens
        .into_iter()
        .fold((0usize, 0usize), |(n, s), l| (n + 1, s + l));
    envelope_len + sum + n.saturating_sub(1)
}

/// Bytes of an item carrying an entry of `entry_bytes` at `seq`.
pub fn item_len(seq: u64, entry_bytes: usize) -> usize {
    const FIXED: usize = r#"{"seq":,"entry":"","signature":""}"#.len();
    FIXED + digits(seq) + base64_len(entry_bytes) + base64_len(64)
}

/// The largest item any valid entry makes: an entry of [`MAX_ENTRY_BYTES`]
/// at the largest seq. A batch budget below one envelope plus this could
/// refuse an entry the node holds.
pub const fn max_item_len() -> usize {
    r#"{"seq":,"entry":"","signature":""}"#.len()
        + 20
        + base64_len(MAX_ENTRY_BYTES)
        + base64_len(64)
}

/// Length of padded standard base64 of `n` bytes.
pub const fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// Length of `s` as a JSON string, quotes and escapes included, as
/// `serde_json` writes it.
fn json_string_len(s: &str) -> usize {
    2 + s
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum::<usize>()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(seq: u64, len: usize) -> ForwardEntry {
        let signed = SignedEntry {
            bytes: (0..len).map(|i| i as u8).collect(),
            signature: [7; 64],
        };
        ForwardEntry::new(seq, &signed)
    }

    #[test]
    fn predicted_lengths_are_serde_json_lengths() {
        // A checkpoint note has newlines and may carry any text; the origin
        // and sender are plain ids but are measured the same way.
        let checkpoint = "city\n12\nq83+/Ab==\n\n— city Ab12\u{1}\"\\\t\n";
        for n in [0usize, 1, 2, 7] {
            let entries: Vec<ForwardEntry> = (0..n)
                .map(|i| entry(i as u64 * 997 + 9, i * 131 + 1))
                .collect();
            let lens: Vec<usize> = entries.iter().map(ForwardEntry::encoded_len).collect();
            for (e, l) in entries.iter().zip(&lens) {
                assert_eq!(serde_json::to_vec(e).unwrap().len(), *l);
                assert_eq!(item_len(e.seq, B64.decode(&e.entry).unwrap().len()), *l);
            }
            let req = ForwardRequest::new("city", "gulou", checkpoint, entries);
            let body = serde_json::to_vec(&req).unwrap();
            assert_eq!(
                request_len(req.envelope_len(), lens),
                body.len(),
                "{n} entries"
            );
        }
    }

    #[test]
    fn the_largest_item_is_bounded() {
        assert_eq!(base64_len(0), 0);
        assert_eq!(base64_len(1), 4);
        assert_eq!(base64_len(64), 88);
        assert_eq!(
            max_item_len(),
            item_len(u64::MAX, MAX_ENTRY_BYTES),
            "u64::MAX has 20 digits"
        );
        // 65,535 bytes of entry: 87,380 bytes of base64 and about 160 more.
        assert_eq!(max_item_len(), 87_380 + 88 + 20 + 34);
    }
}
