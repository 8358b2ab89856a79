//! The backup archive of a node's store (docs/operations.md, "Backup and
//! restore"): what the node writes (`GET /v1/admin/backup`), what
//! `rongxinctl backup` verifies and what `rongxin-node restore` reads.
//!
//! A backup is a POSIX tar archive, so that `tar tvf` lists it:
//!
//! | member | content |
//! | --- | --- |
//! | `db/base` | every database key and value, read while the node kept writing ([`DbOp`] records) |
//! | `db/journal` | every database write the node made from the start of that read to the backup's end point, in order |
//! | `logs/<dir>/entries`, `offsets`, `signatures`, `hashes` | each log's four files, cut at the end point's commit point |
//! | `rongxin-backup.json` | the [`Manifest`], last: the end point and every other member's length and SHA-256 |
//!
//! The base read is not a snapshot (the node goes on writing during it);
//! applying the journal over it gives exactly the database at the end
//! point, because every write made after the read began is in the journal,
//! in the order it was made. Log files only grow, so their bytes up to the
//! end point's commit points are fixed by the time they are copied.

use serde::{Deserialize, Serialize};

/// The archive format this module describes.
pub const FORMAT: &str = "rongxin-backup/1";
/// Name of the manifest member.
pub const MANIFEST: &str = "rongxin-backup.json";
/// Largest manifest a reader takes (one line per log and per member: a
/// federation's manifest is a few kilobytes).
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;
/// Name of the base read of the database.
pub const DB_BASE: &str = "db/base";
/// Name of the journal of writes made during the backup.
pub const DB_JOURNAL: &str = "db/journal";
/// The four files of each log, in the order they are archived.
pub const LOG_FILES: [&str; 4] = ["entries", "offsets", "signatures", "hashes"];

/// What a backup holds, written as its last member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The store format of the node that made it (a restore needs the same).
    pub store_format: u32,
    /// The member whose store it is.
    pub member: String,
    /// The node's release (`rongxin-node --version`).
    pub node_version: String,
    /// When the end point was taken, milliseconds since the Unix epoch.
    pub taken_ms: i64,
    /// Keys in `db/base`.
    pub base_keys: u64,
    /// Writes in `db/journal`.
    pub journal_ops: u64,
    /// Each log at the end point.
    pub logs: Vec<ManifestLog>,
    /// Every other member of the archive.
    pub files: Vec<ManifestFile>,
}

/// One log at the backup's end point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestLog {
    /// The log's origin (member id).
    pub origin: String,
    /// Its directory under `logs/` in the archive.
    pub dir: String,
    /// Entries held.
    pub size: u64,
    /// Bytes of `entries` they take.
    pub entry_bytes: u64,
    /// RFC 6962 root of those entries, base64.
    pub root: String,
    /// The signed checkpoint held for `size` (empty if none yet).
    pub checkpoint: String,
}

/// One archive member and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// Path in the archive.
    pub path: String,
    /// Length in bytes.
    pub bytes: u64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
}

impl Manifest {
    /// The member at `path`.
    pub fn file(&self, path: &str) -> Option<&ManifestFile> {
        self.files.iter().find(|f| f.path == path)
    }

    /// Checks what does not need the members: the format, that every log
    /// names a plain directory and all four of its files, and that no path
    /// is listed twice.
    pub fn check(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!(
                "format '{}' is not {FORMAT}: made by another release",
                self.format
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for f in &self.files {
            if !is_member_path(&f.path) {
                return Err(format!("lists an unexpected member '{}'", f.path));
            }
            if !seen.insert(f.path.as_str()) {
                return Err(format!("lists '{}' twice", f.path));
            }
        }
        for p in [DB_BASE, DB_JOURNAL] {
            if self.file(p).is_none() {
                return Err(format!("does not list {p}"));
            }
        }
        for log in &self.logs {
            if !is_log_dir(&log.dir) {
                return Err(format!(
                    "log {} has directory '{}', which is not a plain name",
                    log.origin, log.dir
                ));
            }
            for name in LOG_FILES {
                let path = format!("logs/{}/{name}", log.dir);
                if self.file(&path).is_none() {
                    return Err(format!("log {} lacks {path}", log.origin));
                }
            }
        }
        Ok(())
    }
}

/// Whether `dir` is a log directory name the store makes: a member id, or
/// `x-` and hex.
pub fn is_log_dir(dir: &str) -> bool {
    !dir.is_empty()
        && dir.len() <= 140
        && dir
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether `path` may be a member of a backup (the manifest aside).
pub fn is_member_path(path: &str) -> bool {
    if path == DB_BASE || path == DB_JOURNAL {
        return true;
    }
    let mut parts = path.split('/');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("logs"), Some(dir), Some(name), None) if is_log_dir(dir) && LOG_FILES.contains(&name)
    )
}

/// One database write in `db/base` or `db/journal`: `P`, key length
/// (u32 BE), key, value length (u32 BE), value for an insert; `D`, key
/// length, key for a removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbOp<'a> {
    /// Set `key` to `value`.
    Put(&'a [u8], &'a [u8]),
    /// Remove `key`.
    Delete(&'a [u8]),
}

/// Why a `db/` member does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbOpError {
    /// It ends inside a record.
    #[error("ends inside a record at byte {0}")]
    Truncated(usize),
    /// A record starts with neither `P` nor `D`.
    #[error("unknown record type {1:#04x} at byte {0}")]
    Tag(usize, u8),
}

impl DbOp<'_> {
    /// Appends the record to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes();
        match self {
            DbOp::Put(k, v) => {
                out.push(b'P');
                out.extend_from_slice(&len(k.len()));
                out.extend_from_slice(k);
                out.extend_from_slice(&len(v.len()));
                out.extend_from_slice(v);
            }
            DbOp::Delete(k) => {
                out.push(b'D');
                out.extend_from_slice(&len(k.len()));
                out.extend_from_slice(k);
            }
        }
    }

    /// Reads the record at the start of `bytes`, with what follows it;
    /// `None` at the end. `at` is where `bytes` starts, for errors.
    pub fn decode(bytes: &[u8], at: usize) -> Result<Option<(DbOp<'_>, &[u8])>, DbOpError> {
        let Some((&tag, rest)) = bytes.split_first() else {
            return Ok(None);
        };
        let field = |b: &'_ [u8], pos: usize| -> Result<(usize, usize), DbOpError> {
            let n: [u8; 4] = b
                .get(..4)
                .and_then(|s| s.try_into().ok())
                .ok_or(DbOpError::Truncated(pos))?;
            let n = u32::from_be_bytes(n) as usize;
            if b.len() - 4 < n {
                return Err(DbOpError::Truncated(pos));
            }
            Ok((4, n))
        };
        let (skip, klen) = field(rest, at + 1)?;
        let key = &rest[skip..skip + klen];
        let rest = &rest[skip + klen..];
        match tag {
            b'D' => Ok(Some((DbOp::Delete(key), rest))),
            b'P' => {
                let (skip, vlen) = field(rest, at + 5 + klen)?;
                Ok(Some((
                    DbOp::Put(key, &rest[skip..skip + vlen]),
                    &rest[skip + vlen..],
                )))
            }
            other => Err(DbOpError::Tag(at, other)),
        }
    }

    /// Bytes the record takes.
    pub fn encoded_len(&self) -> usize {
        match self {
            DbOp::Put(k, v) => 9 + k.len() + v.len(),
            DbOp::Delete(k) => 5 + k.len(),
        }
    }
}

/// Every record of a `db/` member, in order.
pub fn db_ops(bytes: &[u8]) -> impl Iterator<Item = Result<DbOp<'_>, DbOpError>> {
    let mut rest = bytes;
    let mut at = 0;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        match DbOp::decode(rest, at) {
            Ok(Some((op, next))) => {
                at += op.encoded_len();
                rest = next;
                Some(Ok(op))
            }
            Ok(None) => None,
            Err(e) => {
                failed = true;
                Some(Err(e))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_ops_round_trip_and_refuse_damage() {
        let mut bytes = Vec::new();
        DbOp::Put(b"Rkey", b"value").encode(&mut bytes);
        DbOp::Delete(b"Qold").encode(&mut bytes);
        DbOp::Put(b"", b"").encode(&mut bytes);
        let ops: Vec<_> = db_ops(&bytes).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            ops,
            vec![
                DbOp::Put(b"Rkey", b"value"),
                DbOp::Delete(b"Qold"),
                DbOp::Put(b"", b"")
            ]
        );
        // Cut anywhere inside the last record but at its start: truncated.
        for cut in 1..9 {
            let short = &bytes[..bytes.len() - cut];
            let last = db_ops(short).last().unwrap();
            assert!(matches!(last, Err(DbOpError::Truncated(_))), "{cut}");
        }
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(db_ops(&bad).next().unwrap(), Err(DbOpError::Tag(0, b'X')));
        // A huge length does not panic.
        let huge = [b'P', 0xff, 0xff, 0xff, 0xff, 1];
        assert!(matches!(
            db_ops(&huge).next().unwrap(),
            Err(DbOpError::Truncated(1))
        ));
    }

    #[test]
    fn member_paths() {
        assert!(is_member_path("db/base"));
        assert!(is_member_path("logs/gulou/entries"));
        assert!(is_member_path("logs/x-72fa/hashes"));
        for bad in [
            "logs/../entries",
            "logs/gulou/../../etc/passwd",
            "/etc/passwd",
            "logs/Gulou/entries",
            "logs/gulou/other",
            "logs/gulou/entries/x",
            "db/other",
            "rongxin-backup.json",
        ] {
            assert!(!is_member_path(bad), "{bad}");
        }
    }
}
