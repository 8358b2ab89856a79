//! Subject profiles (信用档案) under the access rules of each record's public
//! attribute, and the query log (查询登记) that records every query.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use rongxin_protocol::catalog::{Catalog, FieldType, SubjectClass};
use rongxin_protocol::code::mask_resident_id;
use rongxin_protocol::entry::{Entry, Op};
use rongxin_protocol::record::Record;
use rongxin_protocol::value::{Date, FieldValue};
use serde::Serialize;
use serde_json::Value;

use crate::store::{QueryLogRow, Returned, Store, StoreError};

/// Most records one profile reads.
pub const MAX_PROFILE_RECORDS: usize = 10_000;

pub use rongxin_protocol::access::Access;

/// One record shown in a profile.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileRecord {
    /// Origin member id.
    pub origin: String,
    /// Seq of the entry holding this version.
    pub seq: u64,
    /// Version number.
    pub version: u32,
    /// `published` or `disputed`.
    pub state: &'static str,
    /// Last day of publicity, if the kind has a fixed end.
    pub publicity_until: Option<Date>,
    /// The kind's public attribute.
    pub public: &'static str,
    /// The record (masked for public callers).
    pub record: Value,
}

/// Counts of records held but not shown, by why.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Hidden {
    /// Revoked (credit repair, objection upheld, error).
    pub revoked: u64,
    /// Past their publicity period.
    pub expired: u64,
    /// Above the caller's access.
    pub not_authorised: u64,
}

/// A subject's profile.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    /// The subject code (masked for public callers when personal).
    pub subject: String,
    /// What the caller saw.
    pub access: Access,
    /// The day publicity periods were measured against.
    pub as_of: Date,
    /// Query log id.
    pub query_id: String,
    /// Records by kind code.
    pub records: BTreeMap<String, Vec<ProfileRecord>>,
    /// Records not shown.
    pub hidden: Hidden,
}

/// Builds the profile of `subject` (a canonical code) as seen with `access`
/// on day `today`.
pub fn profile(
    store: &Store,
    catalog: &Catalog,
    subject: &str,
    access: Access,
    today: Date,
) -> Result<Profile, StoreError> {
    let mut records: BTreeMap<String, Vec<ProfileRecord>> = BTreeMap::new();
    let mut hidden = Hidden::default();
    for key in store.subject_records(subject, MAX_PROFILE_RECORDS)? {
        let Some(state) = store.record(&key)? else {
            continue;
        };
        if state.revoked.is_some() {
            hidden.revoked += 1;
            continue;
        }
        let Some(signed) = store.entry(&state.origin, state.put_seq)? else {
            continue;
        };
        // Stored entries were verified before they were stored.
        let record = match Entry::decode(&signed.bytes) {
            Ok(Entry { op: Op::Put(r), .. }) => r,
            _ => continue,
        };
        let Some(kind) = catalog.kind(&record.kind) else {
            continue;
        };
        let until = kind.publicity_end(record.decision_date);
        if until.is_some_and(|u| u < today) {
            hidden.expired += 1;
            continue;
        }
        if !access.allows(kind.public) {
            hidden.not_authorised += 1;
            continue;
        }
        let shown = if access == Access::Public {
            masked(&record, catalog)
        } else {
            record
        };
        records
            .entry(shown.kind.clone())
            .or_default()
            .push(ProfileRecord {
                origin: state.origin.clone(),
                seq: state.put_seq,
                version: state.version,
                state: if state.open_objections.is_empty() {
                    "published"
                } else {
                    "disputed"
                },
                publicity_until: until,
                public: kind.public.as_str(),
                record: serde_json::to_value(&shown).unwrap_or(Value::Null),
            });
    }
    for list in records.values_mut() {
        list.sort_by(|a, b| {
            b.record["decision_date"]
                .as_str()
                .cmp(&a.record["decision_date"].as_str())
        });
    }
    let personal = subject.len() == 18
        && rongxin_protocol::code::parse_strict(
            rongxin_protocol::code::CodeKind::ResidentId,
            subject,
            catalog.legacy_codes(),
        )
        .is_ok();
    Ok(Profile {
        subject: if access == Access::Public && personal {
            mask_resident_id(subject)
        } else {
            subject.to_owned()
        },
        access,
        as_of: today,
        query_id: String::new(),
        records,
        hidden,
    })
}

/// A record with personal ID numbers masked: the subject's code when it is a
/// natural person, every `resident_id` field, and every `*_ZJHM` (证件号码) field.
pub fn masked(record: &Record, catalog: &Catalog) -> Record {
    let mut r = record.clone();
    if r.subject.class == SubjectClass::NaturalPerson {
        r.subject.code = mask_resident_id(&r.subject.code);
    }
    let kind = catalog.kind(&r.kind);
    for (name, value) in r.fields.iter_mut() {
        let is_id = name.ends_with("_ZJHM")
            || kind
                .and_then(|k| k.field(name))
                .is_some_and(|f| f.field_type == FieldType::ResidentId);
        if let (true, FieldValue::Text(t)) = (is_id, &*value) {
            *value = FieldValue::Text(mask_resident_id(t));
        }
    }
    r
}

/// Makes query ids: milliseconds and a counter, sortable.
#[derive(Debug, Default)]
pub struct QueryIds(AtomicU32);

impl QueryIds {
    /// The next id.
    pub fn next(&self, now_ms: i64) -> (u64, u32) {
        (
            u64::try_from(now_ms).unwrap_or(0),
            self.0.fetch_add(1, Ordering::Relaxed),
        )
    }
}

/// The text form of a query id.
pub fn query_id_text(id: (u64, u32)) -> String {
    format!("q-{}-{:06}", id.0, id.1)
}

/// Parses the text form of a query id.
pub fn parse_query_id(s: &str) -> Option<(u64, u32)> {
    let rest = s.strip_prefix("q-")?;
    let (ms, n) = rest.split_once('-')?;
    Some((ms.parse().ok()?, n.parse().ok()?))
}

/// The query log row of a profile answer (bounded: see [`QueryLogRow::new`]).
pub fn log_entry(
    profile: &Profile,
    subject: &str,
    who: &str,
    purpose: &str,
    remote: &str,
    time_ms: i64,
) -> QueryLogRow {
    let returned = profile.records.values().flatten().map(|r| Returned {
        origin: r.origin.clone(),
        seq: r.seq,
    });
    QueryLogRow::new(
        profile.query_id.clone(),
        time_ms,
        who,
        remote,
        subject,
        purpose,
        profile.access.as_str(),
        returned,
    )
}
