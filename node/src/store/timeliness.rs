//! Publication timeliness in the store (prefix `T`): one row per first
//! version of a double-publicity record of the logs held, written in the
//! batch that appends its entry. Keyed by origin and seq, so that rows are
//! appended in order (cheap for sled, unlike a random key per record).

use bincode::{Decode, Encode};
use rongxin_protocol::record::RecordKey;
use rongxin_protocol::timeliness::Measured;

use super::{Store, StoreError, WriteBatch, decode, encode, log_key};

/// Prefix: origin, 0, seq (u64 BE).
const P_TIMELY: u8 = b'T';

/// One measured record.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Timely {
    /// The origin that signed it.
    pub origin: String,
    /// The seq of its first version.
    pub seq: u64,
    /// The record.
    pub key: RecordKey,
    /// Decision date, publication date, working days between.
    pub measured: Measured,
}

impl WriteBatch {
    /// Keeps the measurement of a record's first version.
    pub fn put_timely(&mut self, row: &Timely) {
        self.insert(log_key(P_TIMELY, &row.origin, row.seq), encode(row));
    }
}

impl Store {
    /// The measured records of `origin` (every origin when `None`).
    pub fn timely(
        &self,
        origin: Option<&str>,
    ) -> impl Iterator<Item = Result<Timely, StoreError>> + '_ {
        let mut prefix = vec![P_TIMELY];
        if let Some(o) = origin {
            prefix.extend_from_slice(o.as_bytes());
            prefix.push(0);
        }
        self.inner.tree.scan_prefix(prefix).map(|kv| {
            let (k, v) = kv?;
            decode(&v, "timeliness", &k)
        })
    }
}
