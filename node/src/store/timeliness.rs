//! Publication timeliness in the store (prefix `T`): the first versions of
//! the double-publicity records of the logs held, measured, written in the
//! batch that appends their entries. One row holds up to
//! [`MAX_GROUP`] records of one origin, keyed by the origin and the first
//! one's seq: rows are appended in key order, and a commit of a thousand
//! records costs a handful of sled inserts rather than a thousand (each
//! sled insert copies the tree leaf it lands in).
//!
//! Stores written before grouping hold one record per row (value version
//! 1); both are read.

use bincode::{Decode, Encode};
use rongxin_protocol::record::RecordKey;
use rongxin_protocol::timeliness::Measured;

use super::{Store, StoreError, WriteBatch, bincode_config, corrupt, decode, log_key};

/// Prefix: origin, 0, seq (u64 BE) of the row's first record.
const P_TIMELY: u8 = b'T';

/// Value version of a row holding a group ([`Group`]); 1 is one [`Timely`].
const GROUP_VERSION: u8 = 2;

/// Most records in one row: about 10 KB of value.
const MAX_GROUP: usize = 128;

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

/// A row of several records of one origin, in seq order.
#[derive(Debug, Encode, Decode)]
struct Group {
    origin: String,
    records: Vec<(u64, RecordKey, Measured)>,
}

impl WriteBatch {
    /// Keeps the measurements of records' first versions: per origin in
    /// seq order, up to 128 to a row.
    pub fn put_timely(&mut self, mut rows: Vec<Timely>) {
        rows.sort_by(|a, b| (&a.origin, a.seq).cmp(&(&b.origin, b.seq)));
        let mut rows = rows.into_iter().peekable();
        while let Some(first) = rows.next() {
            let key = log_key(P_TIMELY, &first.origin, first.seq);
            let mut group = Group {
                records: vec![(first.seq, first.key, first.measured)],
                origin: first.origin,
            };
            while group.records.len() < MAX_GROUP
                && let Some(next) = rows.next_if(|r| r.origin == group.origin)
            {
                group.records.push((next.seq, next.key, next.measured));
            }
            let mut value = vec![GROUP_VERSION];
            value.extend(bincode::encode_to_vec(&group, bincode_config()).unwrap_or_default());
            self.insert(key, value);
        }
    }
}

impl Store {
    /// The measured records of `origin` (every origin when `None`), per
    /// origin in seq order.
    pub fn timely(
        &self,
        origin: Option<&str>,
    ) -> impl Iterator<Item = Result<Timely, StoreError>> + '_ {
        let mut prefix = vec![P_TIMELY];
        if let Some(o) = origin {
            prefix.extend_from_slice(o.as_bytes());
            prefix.push(0);
        }
        self.inner
            .tree
            .scan_prefix(prefix)
            .flat_map(|kv| -> Vec<Result<Timely, StoreError>> {
                match kv
                    .map_err(StoreError::from)
                    .and_then(|(k, v)| read_row(&k, &v))
                {
                    Ok(rows) => rows.into_iter().map(Ok).collect(),
                    Err(e) => vec![Err(e)],
                }
            })
    }
}

/// The records of one row, of either version.
fn read_row(key: &[u8], value: &[u8]) -> Result<Vec<Timely>, StoreError> {
    let Some((&GROUP_VERSION, body)) = value.split_first() else {
        return decode(value, "timeliness", key).map(|t: Timely| vec![t]);
    };
    let (group, _): (Group, _) = bincode::decode_from_slice(body, bincode_config())
        .map_err(|e| corrupt("timeliness", key, &e.to_string()))?;
    let Group { origin, records } = group;
    Ok(records
        .into_iter()
        .map(|(seq, key, measured)| Timely {
            origin: origin.clone(),
            seq,
            key,
            measured,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use rongxin_protocol::value::Date;

    use super::super::{Durability, encode};
    use super::*;

    fn row(origin: &str, seq: u64) -> Timely {
        let day = Date::new(2026, 3, 2).expect("a date");
        Timely {
            origin: origin.to_owned(),
            seq,
            key: RecordKey {
                kind: "XK".into(),
                jurisdiction: "350102".into(),
                authority_code: "11350102MB01234562".into(),
                record_no: format!("许〔2026〕{seq}号"),
            },
            measured: Measured {
                decided: day,
                published: day,
                working_days: Some(u32::try_from(seq % 9).expect("small")),
            },
        }
    }

    /// Rows are grouped per origin, at most MAX_GROUP to a row, and read
    /// back in seq order with the one-record rows of older stores.
    #[test]
    fn rows_are_grouped_per_origin_and_older_rows_still_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("open");
        let mut b = WriteBatch::default();
        // An older store's row: one record, value version 1.
        let old = row("gulou", 0);
        b.insert(log_key(P_TIMELY, "gulou", 0), encode(&old));
        store
            .commit_blocking(b, Durability::Applied)
            .expect("commit");
        let mut rows: Vec<Timely> = (1..=300).map(|s| row("gulou", s)).collect();
        rows.extend((5..8).map(|s| row("mawei", s)));
        rows.reverse();
        let mut b = WriteBatch::default();
        b.put_timely(rows);
        // 300 gulou records in three rows, 3 of mawei's in one.
        assert_eq!(b.ops.len(), 4);
        store
            .commit_blocking(b, Durability::Applied)
            .expect("commit");
        let gulou: Vec<Timely> = store
            .timely(Some("gulou"))
            .collect::<Result<_, _>>()
            .expect("read");
        assert_eq!(gulou.len(), 301);
        assert!(gulou.iter().enumerate().all(|(i, t)| t.seq == i as u64));
        assert_eq!(gulou[0], old);
        assert_eq!(gulou[200], row("gulou", 200));
        let all = store.timely(None).count();
        assert_eq!(all, 304);
        // A damaged row is an error naming it, not a silent gap.
        let mut b = WriteBatch::default();
        b.insert(log_key(P_TIMELY, "mawei", 9), vec![GROUP_VERSION, 0xff]);
        store
            .commit_blocking(b, Durability::Applied)
            .expect("commit");
        let e = store
            .timely(Some("mawei"))
            .find_map(Result::err)
            .expect("an error");
        assert!(e.to_string().contains("timeliness"), "{e}");
    }
}
