//! Department tallies in the store (prefix `D`): what each department
//! submitted and what was refused, per member, China day and department
//! ([`rongxin_protocol::tally`]). This node's own rows are written by its
//! tally task; a peer's rows, as the peer answered them, by the sync task
//! that asked. One key per (member, day, department), so a row is replaced
//! whole, never incremented in place by two writers.

use rongxin_protocol::tally::{DayTally, Tally};
use rongxin_protocol::value::Date;

use super::{Store, StoreError, WriteBatch, decode, encode, prefixed};

/// Prefix: member, 0, day (`YYYY-MM-DD`), 0, department name.
const P_TALLY: u8 = b'D';

fn tally_key(member: &str, day: &str, department: &str) -> Vec<u8> {
    prefixed(P_TALLY, format!("{member}\0{day}\0{department}").as_bytes())
}

impl WriteBatch {
    /// Sets `member`'s tally of `department` on `day`.
    pub fn put_tally(&mut self, member: &str, row: &DayTally) {
        self.insert(
            tally_key(member, &row.day, &row.department),
            encode(&row.tally),
        );
    }
}

impl Store {
    /// `member`'s tally of `department` on `day`, if any.
    pub fn tally(
        &self,
        member: &str,
        day: Date,
        department: &str,
    ) -> Result<Option<Tally>, StoreError> {
        let k = tally_key(member, &day.to_string(), department);
        self.inner
            .tree
            .get(&k)?
            .map(|v| decode(&v, "tally", &k))
            .transpose()
    }

    /// The tallies of `member` (every member when `None`) of the days
    /// `from..=to` (either end open), as `(member, row)`, in order of
    /// member, day and department.
    pub fn tallies(
        &self,
        member: Option<&str>,
        from: Option<Date>,
        to: Option<Date>,
    ) -> Result<Vec<(String, DayTally)>, StoreError> {
        let prefix = match member {
            Some(m) => prefixed(P_TALLY, format!("{m}\0").as_bytes()),
            None => vec![P_TALLY],
        };
        // One member's rows are in day order: start at `from`.
        let start = match (member, from) {
            (Some(m), Some(f)) => tally_key(m, &f.to_string(), ""),
            _ => prefix.clone(),
        };
        let mut out = Vec::new();
        for kv in self.inner.tree.range(start..) {
            let (k, v) = kv?;
            if !k.starts_with(&prefix) {
                break;
            }
            let text = std::str::from_utf8(&k[1..])
                .map_err(|e| super::corrupt("tally key", &k, &e.to_string()))?;
            let mut parts = text.splitn(3, '\0');
            let (Some(m), Some(day), Some(department)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(super::corrupt(
                    "tally key",
                    &k,
                    "not member, day and department",
                ));
            };
            let date: Date = day
                .parse()
                .map_err(|e: rongxin_protocol::value::ValueError| {
                    super::corrupt("tally key", &k, &e.to_string())
                })?;
            if from.is_some_and(|f| date < f) || to.is_some_and(|t| date > t) {
                continue;
            }
            out.push((
                m.to_owned(),
                DayTally {
                    day: day.to_owned(),
                    department: department.to_owned(),
                    tally: decode(&v, "tally", &k)?,
                },
            ));
        }
        Ok(out)
    }
}
