//! Subject profiles (信用档案) under the access rules of each record's public
//! attribute, the rule of which log entries a reader may have whole, and the
//! query log (查询登记) that records every query and every read of content
//! that is not public.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use rongxin_protocol::catalog::{Catalog, FieldType, PublicAttribute, SubjectClass};
use rongxin_protocol::code::mask_resident_id;
use rongxin_protocol::entry::{Entry, Op};
use rongxin_protocol::record::{Record, RecordKey};
use rongxin_protocol::value::{Date, FieldValue};
use serde::Serialize;
use serde_json::Value;

use crate::store::{QueryLogRow, Returned, Store, StoreError, encode_key};

/// Most records of one subject a profile walks, over all its pages.
pub const MAX_PROFILE_RECORDS: usize = 10_000;
/// Records one profile page shows unless `limit` says otherwise.
pub const DEFAULT_PROFILE_LIMIT: usize = 100;
/// Most records one profile page shows.
pub const MAX_PROFILE_LIMIT: usize = 1000;

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
    /// Last day of publicity, if the kind has a fixed end (also `publicity.until`).
    pub publicity_until: Option<Date>,
    /// The record's tier and public window.
    pub publicity: rongxin_protocol::tier::PublicityWindow,
    /// The kind's public attribute.
    pub public: &'static str,
    /// The objections open on this version (异议中): id, state and due date.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub objections: Vec<ProfileObjection>,
    /// The record (masked for public callers).
    pub record: Value,
}

/// An open objection as a profile shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileObjection {
    /// The objection id.
    pub id: String,
    /// `open` (异议中).
    pub state: &'static str,
    /// When the origin must have resolved it.
    pub due: Date,
}

/// The open objections of a record, from the objection index.
pub fn open_objections(
    store: &Store,
    state: &crate::store::RecordState,
) -> Result<Vec<ProfileObjection>, StoreError> {
    let mut out = Vec::new();
    for id in &state.open_objections {
        if let Some(o) = store.objection(&state.origin, id)? {
            out.push(ProfileObjection {
                id: o.id.clone(),
                state: o.state().as_str(),
                due: o.due,
            });
        }
    }
    Ok(out)
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
    /// Records this page passed over without showing them.
    pub hidden: Hidden,
    /// Records on file about the subject (at most [`MAX_PROFILE_RECORDS`]),
    /// shown or not, over all pages.
    pub total: u64,
    /// Cursor of the next page (`?cursor=`), when the subject has records
    /// past this page.
    pub next: Option<String>,
}

/// Why a profile could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The cursor names no record of this subject.
    #[error(
        "cursor '{0}' is not a record of this subject; use the `next` of the previous page, or omit cursor for the first page"
    )]
    UnknownCursor(String),
}

/// Which page of a profile to build.
#[derive(Debug, Clone)]
pub struct ProfilePage {
    /// Most records to show (1..=[`MAX_PROFILE_LIMIT`]).
    pub limit: usize,
    /// The `next` of the previous page, if any.
    pub cursor: Option<String>,
}

/// The cursor that continues after `key`: the hex of its index encoding.
fn cursor_of(key: &RecordKey) -> String {
    hex::encode(encode_key(key))
}

/// Builds one page of the profile of `subject` (a canonical code) as seen
/// with `access` on day `today`. The page walks the subject's index after
/// the cursor until it has shown `page.limit` records; hidden records are
/// counted from the record state and the kind alone, so a record the
/// caller may not see is never read.
pub fn profile(
    store: &Store,
    catalog: &Catalog,
    subject: &str,
    access: Access,
    today: Date,
    page: &ProfilePage,
) -> Result<Profile, ProfileError> {
    let mut records: BTreeMap<String, Vec<ProfileRecord>> = BTreeMap::new();
    let mut hidden = Hidden::default();
    let keys = store.subject_records(subject, MAX_PROFILE_RECORDS)?;
    let start = match &page.cursor {
        None => 0,
        Some(c) => {
            keys.iter()
                .position(|k| cursor_of(k) == *c)
                .ok_or_else(|| ProfileError::UnknownCursor(c.clone()))?
                + 1
        }
    };
    let mut shown_count = 0usize;
    let mut next = None;
    for (i, key) in keys.iter().enumerate().skip(start) {
        if shown_count == page.limit {
            next = i.checked_sub(1).and_then(|p| keys.get(p)).map(cursor_of);
            break;
        }
        let Some(state) = store.record(key)? else {
            continue;
        };
        if state.revoked.is_some() {
            hidden.revoked += 1;
            continue;
        }
        let Some(kind) = catalog.kind(&key.kind) else {
            continue;
        };
        if !access.allows(kind.public) {
            hidden.not_authorised += 1;
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
        let window = rongxin_protocol::tier::PublicityWindow::of(kind, &record);
        let until = window.until;
        if until.is_some_and(|u| u < today) {
            hidden.expired += 1;
            continue;
        }
        let shown = if access.masks_ids() {
            masked(&record, catalog)
        } else {
            record
        };
        shown_count += 1;
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
                publicity: window,
                public: kind.public.as_str(),
                objections: open_objections(store, &state)?,
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
    let personal = rongxin_protocol::person::is_document_code(subject)
        || subject.len() == 18
            && rongxin_protocol::code::parse_strict(
                rongxin_protocol::code::CodeKind::ResidentId,
                subject,
                catalog.legacy_codes(),
            )
            .is_ok();
    Ok(Profile {
        subject: if access.masks_ids() && personal {
            rongxin_protocol::person::mask(subject)
        } else {
            subject.to_owned()
        },
        access,
        as_of: today,
        query_id: String::new(),
        records,
        hidden,
        total: keys.len() as u64,
        next,
    })
}

/// Who may have one log entry's bytes: the public attribute of the record
/// it concerns, and the least read access that may see them whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRule {
    /// The public attribute of the record's kind.
    pub attribute: PublicAttribute,
    /// The least access that gets the bytes.
    pub needs: Access,
}

impl EntryRule {
    /// Whether a reader with `access` gets the bytes.
    pub fn allows(self, access: Access) -> bool {
        access >= self.needs
    }

    /// Whether serving the bytes is a read of non-public content, to be
    /// registered in the query log.
    pub fn registered(self) -> bool {
        self.needs > Access::Public
    }
}

/// The least access that may see records of attribute `a`.
fn needs_for(a: PublicAttribute) -> Access {
    match a {
        PublicAttribute::Public => Access::Public,
        PublicAttribute::Conditional => Access::Conditional,
        PublicAttribute::Restricted => Access::Government,
    }
}

/// The rule for one entry (docs/api.md, "Who may read what"). The signed
/// bytes cannot be masked, so an entry is served whole or not at all:
///
/// - a Put follows its kind's attribute, and needs at least conditional
///   access when it carries a personal ID number (a natural person's code
///   or an ID field), which public readers only ever see masked;
/// - a Revoke names the record's key and the basis, not the subject, and
///   follows the kind's attribute;
/// - objection steps carry the objector's statement or the origin's
///   explanation, free text about a person, and need at least conditional
///   access;
/// - bytes that do not decode, or a kind the catalog does not know, need
///   government access (they are not served blind).
pub fn entry_rule(bytes: &[u8], catalog: &Catalog) -> EntryRule {
    let Ok(entry) = Entry::decode(bytes) else {
        return EntryRule {
            attribute: PublicAttribute::Restricted,
            needs: Access::Government,
        };
    };
    // A key handover names a public key and no one's data: anyone may read it.
    let Some(key) = entry.record_key() else {
        return EntryRule {
            attribute: PublicAttribute::Public,
            needs: Access::Public,
        };
    };
    let Some(kind) = catalog.kind(&key.kind) else {
        return EntryRule {
            attribute: PublicAttribute::Restricted,
            needs: Access::Government,
        };
    };
    let by_kind = needs_for(kind.public);
    let needs = match &entry.op {
        Op::Put(record) if masked(record, catalog) != *record => by_kind.max(Access::Conditional),
        Op::Put(_) | Op::Revoke(_) => by_kind,
        Op::ObjectionFiled(_)
        | Op::ObjectionResolved(_)
        | Op::RepairFiled(_)
        | Op::RepairDecided(_) => by_kind.max(Access::Conditional),
        Op::KeyHandover(_) => Access::Public,
    };
    EntryRule {
        attribute: kind.public,
        needs,
    }
}

/// What a token of each kind needs to read content that needs `needs`:
/// the words an error message uses.
pub fn who_may_read(needs: Access) -> &'static str {
    match needs {
        Access::Public => "anyone",
        Access::Conditional => {
            "an agency token with conditional or government access, an auditor token or an admin token"
        }
        Access::Government => {
            "an agency token with government access, an auditor token or an admin token"
        }
    }
}

/// A record with personal ID numbers masked: the subject's code when it is a
/// natural person, every `resident_id` field, and every `*_ZJHM` (证件号码) field.
pub fn masked(record: &Record, catalog: &Catalog) -> Record {
    let mut r = record.clone();
    if r.subject.class == SubjectClass::NaturalPerson {
        r.subject.code = rongxin_protocol::person::mask(&r.subject.code);
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

/// Most characters of a stated purpose kept in the query log.
pub const MAX_PURPOSE_CHARS: usize = 500;

/// A read of content that is not public (entry bytes, a bundle), to register
/// like a query.
#[derive(Debug, Clone)]
pub struct ContentRead<'a> {
    /// The reader, as [`crate::tokens::Token::who`] names it.
    pub who: &'a str,
    /// The remote address.
    pub remote: &'a str,
    /// The purpose the reader gave (`?purpose=`) as sent; trimmed and cut
    /// to [`MAX_PURPOSE_CHARS`] here.
    pub purpose: &'a str,
    /// The reader's access.
    pub access: Access,
    /// What was read, in the `subject` column: the record's subject code
    /// for a bundle, `log:<origin>` for a range of entries.
    pub what: &'a str,
    /// The (origin, seq) of every entry whose bytes were returned.
    pub returned: &'a [(String, u64)],
}

/// Registers `read` in the query log under a new query id, in the same row
/// shape as a profile query; returns the id's text.
pub fn register_read(
    store: &Store,
    ids: &QueryIds,
    read: &ContentRead<'_>,
    time_ms: i64,
) -> Result<String, StoreError> {
    let id = ids.next(time_ms);
    let query_id = query_id_text(id);
    let returned = read.returned.iter().map(|(origin, seq)| Returned {
        origin: origin.clone(),
        seq: *seq,
    });
    let purpose: String = read
        .purpose
        .trim()
        .chars()
        .take(MAX_PURPOSE_CHARS)
        .collect();
    let row = QueryLogRow::new(
        query_id.clone(),
        time_ms,
        read.who,
        read.remote,
        read.what,
        &purpose,
        read.access.as_str(),
        returned,
    );
    store.log_query_blocking(id, row)?;
    Ok(query_id)
}

#[cfg(test)]
mod tests {
    use rongxin_protocol::catalog::Catalog;
    use rongxin_protocol::entry::{
        ObjectionFiled, ObjectionGround, ObjectionOutcome, ObjectionResolved, Revoke, RevokeReason,
    };
    use rongxin_protocol::record::{Authority, Subject};

    use super::*;

    fn catalog() -> Catalog {
        Catalog::from_toml_str(include_str!("../../config-examples/catalog.toml"))
            .expect("example catalog")
    }

    fn day() -> Date {
        Date::new(2026, 3, 1).expect("a real day")
    }

    fn record(kind: &str, class: SubjectClass, code: &str) -> Record {
        Record {
            kind: kind.into(),
            jurisdiction: "350102".into(),
            record_no: "榕鼓测〔2026〕1号".into(),
            subject: Subject {
                class,
                code: code.into(),
                name: "某某".into(),
            },
            authority: Authority {
                name: "福州市鼓楼区市场监督管理局".into(),
                code: "11350102MAB8MXML65".into(),
            },
            decision_date: day(),
            fields: BTreeMap::new(),
        }
    }

    fn bytes(op: Op) -> Vec<u8> {
        Entry {
            origin: "gulou".into(),
            seq: 1,
            prev_hash: [7; 32],
            time_ms: 1_780_000_000_000,
            op,
        }
        .to_bytes(rongxin_protocol::suite::Suite::Ed25519Sha256)
        .expect("encodes")
    }

    fn rule(op: Op) -> (PublicAttribute, Access) {
        let r = entry_rule(&bytes(op), &catalog());
        (r.attribute, r.needs)
    }

    const FIRM: &str = "91350100757384472D";
    const PERSON: &str = "11010519491231002X";

    #[test]
    fn puts_follow_the_kind_and_personal_ids() {
        use PublicAttribute as A;
        let firm = |kind| Op::Put(record(kind, SubjectClass::LegalPerson, FIRM));
        assert_eq!(rule(firm("CF")), (A::Public, Access::Public));
        assert_eq!(rule(firm("GJJQJ")), (A::Conditional, Access::Conditional));
        assert_eq!(rule(firm("FXFL")), (A::Restricted, Access::Government));
        let person = Op::Put(record("DDMF", SubjectClass::NaturalPerson, PERSON));
        assert_eq!(rule(person), (A::Public, Access::Conditional));
        let mut with_id = record("CF", SubjectClass::LegalPerson, FIRM);
        with_id
            .fields
            .insert("FR_ZJHM".into(), FieldValue::Text(PERSON.into()));
        assert_eq!(rule(Op::Put(with_id)), (A::Public, Access::Conditional));
        // Unknown kinds and bytes that do not decode are not served blind.
        assert_eq!(rule(firm("NOSUCH")), (A::Restricted, Access::Government));
        let r = entry_rule(b"not an entry", &catalog());
        assert_eq!(r.needs, Access::Government);
        assert!(!r.allows(Access::Conditional) && r.allows(Access::Government));
    }

    #[test]
    fn revokes_follow_the_kind_and_objection_steps_need_conditional() {
        use PublicAttribute as A;
        let key = |kind| record(kind, SubjectClass::LegalPerson, FIRM).key();
        let revoke = |kind| {
            Op::Revoke(Revoke {
                key: key(kind),
                reason: RevokeReason::Repair,
                basis: "榕鼓信修〔2026〕1号".into(),
            })
        };
        assert_eq!(rule(revoke("CF")), (A::Public, Access::Public));
        assert_eq!(rule(revoke("FXFL")), (A::Restricted, Access::Government));
        let filed = |kind| {
            Op::ObjectionFiled(ObjectionFiled {
                id: "obj-1".into(),
                key: key(kind),
                ground: ObjectionGround::Wrong,
                statement: "本人未受过该处罚".into(),
                received_by: "gulou".into(),
                received_on: day(),
                due: day(),
            })
        };
        assert_eq!(rule(filed("CF")), (A::Public, Access::Conditional));
        assert_eq!(rule(filed("FXFL")), (A::Restricted, Access::Government));
        let resolved = Op::ObjectionResolved(ObjectionResolved {
            id: "obj-1".into(),
            key: key("CF"),
            outcome: ObjectionOutcome::Rejected,
            explanation: "经核实，记录无误".into(),
        });
        assert_eq!(rule(resolved), (A::Public, Access::Conditional));
    }

    #[test]
    fn only_reads_above_public_are_registered() {
        let public = EntryRule {
            attribute: PublicAttribute::Public,
            needs: Access::Public,
        };
        assert!(!public.registered() && public.allows(Access::Public));
        let conditional = EntryRule {
            attribute: PublicAttribute::Public,
            needs: Access::Conditional,
        };
        assert!(conditional.registered());
        assert!(!conditional.allows(Access::Public) && conditional.allows(Access::Conditional));
    }
}
