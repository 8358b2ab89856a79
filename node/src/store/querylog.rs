//! The query log (查询登记) and its budget.
//!
//! Every answered profile query leaves one row, keyed by its query id
//! (time first, so rows are in time order). Anonymous callers decide how
//! many queries there are, so the log has a budget: rows older than
//! `[query_log] retention` are pruned in the background, and a row that
//! would take the log past `max_bytes` first prunes the oldest rows down
//! to 90% of it. A row's size is
//! bounded too: texts are cut and the list of returned records keeps at
//! most [`MAX_RETURNED`] of them, with a count of the rest.
//!
//! The budget counts the rows' keys and values (what the store holds for
//! them); the database files hold somewhat more while sled reclaims the
//! space of pruned rows.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use super::writer::Command;
use super::{Inner, P_QUERY, Store, StoreError, VALUE_VERSION, bincode_config, corrupt};

/// Retention unless `[query_log] retention` says otherwise.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(180 * 86_400);
/// Budget unless `[query_log] max_bytes` says otherwise.
pub const DEFAULT_MAX_BYTES: u64 = 1024 * 1024 * 1024;
/// Smallest budget accepted: a few hundred of the largest rows.
pub const MIN_MAX_BYTES: u64 = 1024 * 1024;
/// Most returned records a row names; the rest are counted.
pub const MAX_RETURNED: usize = 200;
/// Most characters of `purpose` a row keeps.
pub const MAX_PURPOSE_CHARS: usize = 500;
/// Most characters of `who`, `remote` and `subject` a row keeps.
pub const MAX_NAME_CHARS: usize = 200;
/// Rows removed per atomic batch while pruning.
const PRUNE_BATCH: usize = 1000;

/// The `[query_log]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryLogFile {
    #[serde(default)]
    retention: Option<String>,
    #[serde(default)]
    max_bytes: Option<u64>,
}

/// Checked `[query_log]` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLogConfig {
    /// Rows older than this are pruned.
    pub retention: Duration,
    /// Rows beyond this many bytes are pruned, oldest first.
    pub max_bytes: u64,
}

impl Default for QueryLogConfig {
    fn default() -> QueryLogConfig {
        QueryLogConfig {
            retention: DEFAULT_RETENTION,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

impl QueryLogFile {
    /// The checked settings, or what is wrong with them (naming the key).
    pub fn check(&self) -> Result<QueryLogConfig, String> {
        let retention = match &self.retention {
            None => DEFAULT_RETENTION,
            Some(s) => humantime::parse_duration(s).map_err(|e| {
                format!("query_log.retention = \"{s}\": {e} (write e.g. \"180days\")")
            })?,
        };
        if retention < Duration::from_secs(1) {
            return Err("query_log.retention must be at least 1s".into());
        }
        let max_bytes = self.max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
        if max_bytes < MIN_MAX_BYTES {
            return Err(format!(
                "query_log.max_bytes = {max_bytes} is below the smallest budget, {MIN_MAX_BYTES} bytes"
            ));
        }
        Ok(QueryLogConfig {
            retention,
            max_bytes,
        })
    }
}

impl QueryLogConfig {
    /// How often the pruner runs: a tenth of the retention, at most every
    /// minute, so no row outlives its retention by more than that.
    pub fn prune_every(&self) -> Duration {
        (self.retention / 10).clamp(Duration::from_millis(200), Duration::from_secs(60))
    }
}

/// A record a query returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct Returned {
    /// Its origin.
    pub origin: String,
    /// Seq of the entry shown.
    pub seq: u64,
}

/// One row of the query log (version 1 of its stored form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct QueryLogRow {
    /// Query id (`q-<ms>-<n>`), as the answer named it.
    pub query_id: String,
    /// When, ms since the Unix epoch.
    pub time_ms: i64,
    /// Who asked: `anonymous`, `agency:<name>`, `department:<name>`, `admin`.
    pub who: String,
    /// The client's address.
    pub remote: String,
    /// The subject asked about (canonical code, unmasked).
    pub subject: String,
    /// The purpose given.
    pub purpose: String,
    /// The access the caller had.
    pub access: String,
    /// Records returned (at most [`MAX_RETURNED`]).
    pub returned: Vec<Returned>,
    /// Records returned beyond those listed.
    #[serde(default)]
    pub returned_more: u64,
}

impl QueryLogRow {
    /// A row with every text cut to its bound and at most [`MAX_RETURNED`]
    /// returned records listed.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        query_id: String,
        time_ms: i64,
        who: &str,
        remote: &str,
        subject: &str,
        purpose: &str,
        access: &str,
        returned: impl Iterator<Item = Returned>,
    ) -> QueryLogRow {
        let mut listed = Vec::new();
        let mut more = 0u64;
        for r in returned {
            if listed.len() < MAX_RETURNED {
                listed.push(r);
            } else {
                more += 1;
            }
        }
        let cut = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        QueryLogRow {
            query_id,
            time_ms,
            who: cut(who, MAX_NAME_CHARS),
            remote: cut(remote, MAX_NAME_CHARS),
            subject: cut(subject, MAX_NAME_CHARS),
            purpose: cut(purpose, MAX_PURPOSE_CHARS),
            access: cut(access, MAX_NAME_CHARS),
            returned: listed,
            returned_more: more,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = vec![VALUE_VERSION];
        out.extend(bincode::encode_to_vec(self, bincode_config()).unwrap_or_default());
        out
    }

    /// Decodes a stored row: version 1, or the JSON rows written before
    /// rows were versioned (read as they are; they age out like the rest).
    fn decode(v: &[u8], key: &[u8]) -> Result<QueryLogRow, StoreError> {
        match v.split_first() {
            Some((&VALUE_VERSION, body)) => bincode::decode_from_slice(body, bincode_config())
                .map(|(r, _)| r)
                .map_err(|e| corrupt("query log row", key, &e.to_string())),
            Some((b'{', _)) => serde_json::from_slice(v)
                .map_err(|e| corrupt("query log row (JSON)", key, &e.to_string())),
            _ => Err(corrupt("query log row", key, "unknown value version")),
        }
    }
}

/// How much of its budget the query log uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QueryLogUsage {
    /// Rows held.
    pub rows: u64,
    /// Bytes of their keys and values.
    pub bytes: u64,
    /// The budget.
    pub max_bytes: u64,
    /// The retention, seconds.
    pub retention_seconds: u64,
}

/// The query log's running totals (counted once at open).
#[derive(Debug)]
pub(super) struct Budget {
    config: QueryLogConfig,
    rows: AtomicU64,
    bytes: AtomicU64,
    /// Held by whoever inserts or removes rows, so the totals match them.
    lock: Mutex<()>,
}

impl Budget {
    /// Counts the rows `tree` holds.
    pub(super) fn count(tree: &sled::Tree, config: QueryLogConfig) -> Result<Budget, StoreError> {
        let (mut rows, mut bytes) = (0u64, 0u64);
        for kv in tree.scan_prefix([P_QUERY]) {
            let (k, v) = kv?;
            rows += 1;
            bytes += (k.len() + v.len()) as u64;
        }
        Ok(Budget {
            config,
            rows: AtomicU64::new(rows),
            bytes: AtomicU64::new(bytes),
            lock: Mutex::new(()),
        })
    }
}

fn query_key(id: (u64, u32)) -> Vec<u8> {
    let mut k = vec![P_QUERY];
    k.extend_from_slice(&id.0.to_be_bytes());
    k.extend_from_slice(&id.1.to_be_bytes());
    k
}

impl Store {
    /// Appends to the query log (查询登记) and returns once the row is
    /// durable, first pruning the oldest rows if this one would take the
    /// log over budget; so the rows never take more than `max_bytes`.
    /// Refused while the store is not writable.
    pub async fn log_query(&self, id: (u64, u32), row: QueryLogRow) -> Result<(), StoreError> {
        self.ask(|reply| Command::Query {
            id,
            row: Box::new(row),
            reply,
        })
        .await?
    }

    /// [`Store::log_query`] from a thread that may block.
    pub fn log_query_blocking(&self, id: (u64, u32), row: QueryLogRow) -> Result<(), StoreError> {
        self.ask_blocking(|reply| Command::Query {
            id,
            row: Box::new(row),
            reply,
        })?
    }

    /// Removes the rows older than the retention at `now_ms` (blocking).
    pub fn prune_query_log(&self, now_ms: i64) -> Result<u64, StoreError> {
        self.ask_blocking(|reply| Command::Prune { now_ms, reply })?
    }

    /// The newest query log rows, before `before` if given.
    pub fn queries(
        &self,
        limit: usize,
        before: Option<(u64, u32)>,
    ) -> Result<Vec<QueryLogRow>, StoreError> {
        let end = before.map_or(vec![P_QUERY + 1], query_key);
        let mut out = Vec::new();
        for kv in self.inner.tree.range(vec![P_QUERY]..end).rev().take(limit) {
            let (k, v) = kv?;
            out.push(QueryLogRow::decode(&v, &k)?);
        }
        Ok(out)
    }

    /// How much of its budget the query log uses.
    pub fn query_log_usage(&self) -> QueryLogUsage {
        let b = &self.inner.qlog;
        let _one = b.lock.lock().unwrap_or_else(|p| p.into_inner());
        QueryLogUsage {
            rows: b.rows.load(Ordering::Relaxed),
            bytes: b.bytes.load(Ordering::Relaxed),
            max_bytes: b.config.max_bytes,
            retention_seconds: b.config.retention.as_secs(),
        }
    }
}

impl Inner {
    /// Appends to the query log (查询登记), first pruning the oldest rows
    /// if this one would take the log over budget; so the rows never take
    /// more than `max_bytes`. Refused while the store is not writable.
    pub(super) fn log_query(&self, id: (u64, u32), row: &QueryLogRow) -> Result<(), StoreError> {
        self.writing()?;
        let k = query_key(id);
        let v = row.encode();
        let size = (k.len() + v.len()) as u64;
        let b = &self.qlog;
        // Inserts and prunes one at a time: the totals stay exact and the
        // budget holds at every instant. An insert is a few microseconds.
        let _one = b.lock.lock().unwrap_or_else(|p| p.into_inner());
        let max = b.config.max_bytes;
        let bytes = b.bytes.load(Ordering::Relaxed);
        if bytes + size > max {
            // Down to 90%, so that pruning is not a step of every query.
            let mut over = (bytes + size).saturating_sub(max / 10 * 9);
            loop {
                let n = self.prune_batch(|k, v| {
                    let take = over > 0;
                    over = over.saturating_sub((k.len() + v.len()) as u64);
                    take
                })?;
                if n < PRUNE_BATCH as u64 {
                    break;
                }
            }
        }
        let old = self.wrote(self.tree.insert(&k, v.as_slice()))?;
        self.journal_writes([(k.as_slice(), Some(v.as_slice()))]);
        if let Some(old) = old {
            // The same id twice (the clock stepped back): one row replaced.
            b.rows.fetch_sub(1, Ordering::Relaxed);
            b.bytes.fetch_sub(13 + old.len() as u64, Ordering::Relaxed);
        }
        b.rows.fetch_add(1, Ordering::Relaxed);
        b.bytes.fetch_add(size, Ordering::Relaxed);
        Ok(())
    }

    /// Removes the rows older than the retention at `now_ms`, one batch
    /// at a time so that queries are not held up behind a long pruning.
    /// Writes nothing while the store is not writable (a removal is a
    /// write too).
    pub(super) fn prune_query_log(&self, now_ms: i64) -> Result<u64, StoreError> {
        let retention_ms =
            u64::try_from(self.qlog.config.retention.as_millis()).unwrap_or(u64::MAX);
        let cutoff = u64::try_from(now_ms)
            .unwrap_or(0)
            .saturating_sub(retention_ms);
        let mut removed = 0;
        loop {
            let _one = self.qlog.lock.lock().unwrap_or_else(|p| p.into_inner());
            let n = self.prune_batch(|k, _| {
                k.get(1..9)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes)
                    .is_some_and(|ms| ms < cutoff)
            })?;
            removed += n;
            if n < PRUNE_BATCH as u64 {
                return Ok(removed);
            }
        }
    }

    /// Removes up to [`PRUNE_BATCH`] rows from the oldest on, while `take`
    /// says so, in one atomic batch; returns how many. The caller holds
    /// the query log's lock.
    fn prune_batch(&self, mut take: impl FnMut(&[u8], &[u8]) -> bool) -> Result<u64, StoreError> {
        let mut batch = sled::Batch::default();
        let mut removed = Vec::new();
        let (mut rows, mut bytes) = (0u64, 0u64);
        for kv in self.tree.scan_prefix([P_QUERY]).take(PRUNE_BATCH) {
            let (k, v) = kv?;
            if !take(&k, &v) {
                break;
            }
            rows += 1;
            bytes += (k.len() + v.len()) as u64;
            removed.push(k.clone());
            batch.remove(k);
        }
        if rows == 0 {
            return Ok(0);
        }
        self.writing()?;
        self.wrote(self.tree.apply_batch(batch))?;
        self.journal_writes(removed.iter().map(|k| (k.as_ref(), None)));
        self.qlog.rows.fetch_sub(rows, Ordering::Relaxed);
        self.qlog.bytes.fetch_sub(bytes, Ordering::Relaxed);
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: u32, returned: usize) -> QueryLogRow {
        QueryLogRow::new(
            format!("q-{n}"),
            i64::from(n),
            "anonymous",
            "127.0.0.1:9",
            "91350100M000100Y43",
            &"为什么".repeat(400),
            "public",
            (0..returned as u64).map(|seq| Returned {
                origin: "gulou".into(),
                seq,
            }),
        )
    }

    /// Rows are cut to their bounds; the budget holds after every insert;
    /// the oldest rows go first; the retention prunes by age.
    #[test]
    fn rows_are_bounded_and_the_budget_holds() {
        let dir = tempfile::tempdir().expect("temp dir");
        let limits = super::super::StoreLimits {
            query_log: QueryLogConfig {
                retention: Duration::from_secs(10),
                max_bytes: MIN_MAX_BYTES,
            },
            disk: super::super::DiskConfig { min_free_bytes: 0 },
        };
        let store = Store::open_with(dir.path(), limits).expect("open");
        let r = row(0, 1000);
        assert_eq!(r.returned.len(), MAX_RETURNED);
        assert_eq!(r.returned_more, 800);
        assert_eq!(r.purpose.chars().count(), MAX_PURPOSE_CHARS);
        for n in 0..1000 {
            store
                .log_query_blocking((u64::from(n), n), row(n, 300))
                .expect("log");
            let u = store.query_log_usage();
            assert!(u.bytes <= MIN_MAX_BYTES, "{u:?} after row {n}");
        }
        let u = store.query_log_usage();
        let held = store.queries(1000, None).expect("read");
        assert_eq!(held.len() as u64, u.rows);
        assert!(u.rows < 1000);
        // Newest first, and the newest kept.
        assert_eq!(held[0].query_id, "q-999");
        let oldest = held.last().expect("rows").time_ms;
        assert!(oldest > 0);
        // 10 s after the newest row, every other row is past its retention.
        let removed = store.prune_query_log(999 + 10_000).expect("prune");
        assert_eq!(removed, u.rows - 1, "all but the row at 999 ms");
        assert_eq!(store.query_log_usage().rows, 1);
    }

    /// Rows written as JSON before rows were versioned still read.
    #[test]
    fn json_rows_of_the_previous_format_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("open");
        let old = serde_json::json!({"query_id": "q-5-000001", "time_ms": 5, "who": "anonymous",
            "remote": "127.0.0.1:9", "subject": "s", "purpose": "p", "access": "public",
            "returned": [{"origin": "gulou", "seq": 3}]});
        store
            .inner
            .tree
            .insert(query_key((5, 1)), serde_json::to_vec(&old).expect("json"))
            .expect("insert");
        let rows = store.queries(10, None).expect("read");
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0].returned,
            vec![Returned {
                origin: "gulou".into(),
                seq: 3
            }]
        );
        assert_eq!(rows[0].returned_more, 0);
    }
}
