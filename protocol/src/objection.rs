//! Objections (异议): the state every node derives from an origin's
//! `ObjectionFiled` and `ObjectionResolved` entries, the due date the
//! federation's deadlines give, and the messages of the HTTP API and the
//! wire that file and resolve one (docs/api.md, docs/protocol.md §4).
//!
//! An objection is filed at any node (the window the subject walked into),
//! which keeps a receipt and routes the filing to the record's origin; the
//! origin signs `ObjectionFiled`, which replicates like every entry, and
//! later `ObjectionResolved`. Every node computes the same state from the
//! same entries with [`apply`].

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::calendar::{Calendar, CalendarError};
use crate::entry::{Entry, ObjectionGround, ObjectionOutcome, Op};
use crate::record::RecordKey;
use crate::roster::Deadlines;
use crate::value::Date;

/// Longest objection id, in characters.
pub const MAX_ID_CHARS: usize = 64;
/// Longest statement or explanation, in characters (an entry holds it).
pub const MAX_STATEMENT_CHARS: usize = crate::entry::MAX_OP_TEXT_CHARS;
/// Most attachment digests on one objection.
pub const MAX_ATTACHMENTS: usize = 16;

/// An objection as every node holding its origin's log knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Encode, Decode)]
pub struct ObjectionState {
    /// The record's origin, whose log holds the objection.
    pub origin: String,
    /// The objection id.
    pub id: String,
    /// The record objected to.
    pub key: RecordKey,
    /// The ground.
    pub ground: ObjectionGround,
    /// The objector's statement.
    pub statement: String,
    /// The node where it was filed.
    pub received_by: String,
    /// When it was filed there.
    pub received_on: Date,
    /// When the origin must have resolved it.
    pub due: Date,
    /// The seq of the `ObjectionFiled` entry.
    pub filed_seq: u64,
    /// The origin's decision, once signed.
    pub resolution: Option<Resolution>,
}

/// The origin's decision on an objection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Encode, Decode)]
pub struct Resolution {
    /// Upheld or rejected.
    pub outcome: ObjectionOutcome,
    /// The origin's explanation.
    pub explanation: String,
    /// The seq of the `ObjectionResolved` entry.
    pub seq: u64,
    /// When the origin signed it (China date).
    pub on: Option<Date>,
}

impl ObjectionState {
    /// The state name of the API: `open`, `upheld` or `rejected`.
    pub fn state(&self) -> CaseState {
        match &self.resolution {
            None => CaseState::Open,
            Some(r) => match r.outcome {
                ObjectionOutcome::Upheld => CaseState::Upheld,
                ObjectionOutcome::Rejected => CaseState::Rejected,
            },
        }
    }

    /// Open after its due date (`today` is the China date).
    pub fn overdue(&self, today: Date) -> bool {
        self.resolution.is_none() && today > self.due
    }
}

/// The objection state after `entry` (of the objection's origin), given
/// the state before (`None` when unknown). `None` when the entry is not
/// about an objection, or resolves one never filed.
pub fn apply(prev: Option<ObjectionState>, entry: &Entry) -> Option<ObjectionState> {
    match &entry.op {
        Op::ObjectionFiled(o) => Some(prev.unwrap_or(ObjectionState {
            origin: entry.origin.clone(),
            id: o.id.clone(),
            key: o.key.clone(),
            ground: o.ground,
            statement: o.statement.clone(),
            received_by: o.received_by.clone(),
            received_on: o.received_on,
            due: o.due,
            filed_seq: entry.seq,
            resolution: None,
        })),
        Op::ObjectionResolved(o) => prev.map(|mut p| {
            if p.resolution.is_none() {
                p.resolution = Some(Resolution {
                    outcome: o.outcome,
                    explanation: o.explanation.clone(),
                    seq: entry.seq,
                    on: u64::try_from(entry.time_ms)
                        .ok()
                        .and_then(crate::calendar::china_date),
                });
            }
            p
        }),
        _ => None,
    }
}

/// The objection id an entry concerns, if it concerns one.
pub fn objection_id(entry: &Entry) -> Option<&str> {
    match &entry.op {
        Op::ObjectionFiled(o) => Some(&o.id),
        Op::ObjectionResolved(o) => Some(&o.id),
        _ => None,
    }
}

/// The date by which an objection received on `received_on` must be
/// resolved: the roster's acceptance and verification limits together, in
/// working days of `calendar` (docs/calendar.md).
pub fn due_date(
    calendar: &Calendar,
    deadlines: &Deadlines,
    received_on: Date,
) -> Result<Date, CalendarError> {
    calendar.add_working_days(
        received_on,
        deadlines.objection_accept + deadlines.objection_verify,
    )
}

/// The date by which the origin must have registered (accepted) an
/// objection received on `received_on`.
pub fn accept_due(
    calendar: &Calendar,
    deadlines: &Deadlines,
    received_on: Date,
) -> Result<Date, CalendarError> {
    calendar.add_working_days(received_on, deadlines.objection_accept)
}

/// Why an objection or application id is not acceptable, if it is not: 1 to
/// [`MAX_ID_CHARS`] of ASCII letters, digits, `-`, `_` and `.`.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.chars().count() > MAX_ID_CHARS {
        return Err(format!(
            "an objection id has 1 to {MAX_ID_CHARS} characters, not {}",
            id.chars().count()
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "an objection id holds ASCII letters, digits, '-', '_' and '.' only, not {c:?}"
        ));
    }
    Ok(())
}

/// The record a case is about: `{"origin", "seq"}` (the entry of its
/// current version, as a profile shows it) or `{"key": {...}}` (its record
/// key, whose current version is meant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RecordRef {
    /// By the entry of its current version.
    At {
        /// The record's origin.
        origin: String,
        /// The seq of the entry that put its current version.
        seq: u64,
    },
    /// By its record key.
    Key {
        /// The record key.
        key: RecordKey,
    },
}

/// `POST /v1/objections`: file an objection at this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileObjection {
    /// The record, by origin and seq (as a profile or a bundle names it),
    /// or by its key.
    pub record: RecordRef,
    /// The ground, in snake case (`wrong`, `incomplete`, …).
    pub ground: ObjectionGround,
    /// The objector's statement: what is wrong and why.
    pub statement: String,
    /// The filer's own id for the objection, to retry safely; the node
    /// makes one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Digests of attachments kept by the filer (e.g. `sha256:…`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<String>,
}

/// The answer to `POST /v1/objections` and `POST /v1/repairs` (`202`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseReceipt {
    /// The objection id.
    pub id: String,
    /// The receipt number this node gave the filer.
    pub receipt: String,
    /// `received` until the origin has registered it.
    pub state: CaseState,
    /// The record's origin, which decides.
    pub origin: String,
    /// When the origin must have resolved it.
    pub due: Date,
}

/// The state of an objection or a repair application, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    /// Filed here; the origin has not registered it yet.
    Received,
    /// Registered by the origin (异议中); not yet resolved.
    Open,
    /// Resolved: the objection was right.
    Upheld,
    /// Resolved: the record stands.
    Rejected,
    /// The origin refused to register it (the record changed or was
    /// revoked before it arrived, the id was taken): the filer files again.
    Refused,
    /// A repair application granted: the record left publication.
    Granted,
}

impl CaseState {
    /// The name as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Received => "received",
            CaseState::Open => "open",
            CaseState::Upheld => "upheld",
            CaseState::Rejected => "rejected",
            CaseState::Refused => "refused",
            CaseState::Granted => "granted",
        }
    }
}

/// One objection as `GET /v1/objections/{id}` and the list answer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectionView {
    /// The objection id.
    pub id: String,
    /// Its state.
    pub state: CaseState,
    /// Open past its due date.
    pub overdue: bool,
    /// The record's origin.
    pub origin: String,
    /// The record.
    pub key: RecordKey,
    /// The record's issuing authority's credit code.
    pub authority: String,
    /// The ground.
    pub ground: ObjectionGround,
    /// The statement (shown to tokens that may read objections).
    pub statement: String,
    /// The node where it was filed.
    pub received_by: String,
    /// When.
    pub received_on: Date,
    /// When the origin must have resolved it.
    pub due: Date,
    /// The receipt number, at the node where it was filed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
    /// The seq of the `ObjectionFiled` entry, once signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filed_seq: Option<u64>,
    /// The decision, once signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<ResolutionView>,
    /// At the filing node, before registration: the last routing error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<String>,
}

/// A decision as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolutionView {
    /// Upheld or rejected.
    pub outcome: ObjectionOutcome,
    /// The origin's explanation.
    pub explanation: String,
    /// The seq of the `ObjectionResolved` entry.
    pub seq: u64,
    /// When the origin signed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<Date>,
}

impl From<&Resolution> for ResolutionView {
    fn from(r: &Resolution) -> ResolutionView {
        ResolutionView {
            outcome: r.outcome,
            explanation: r.explanation.clone(),
            seq: r.seq,
            on: r.on,
        }
    }
}

/// The answer of `GET /v1/objections`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectionList {
    /// The objections, oldest due date first.
    pub objections: Vec<ObjectionView>,
}

/// `POST /v1/objections/{id}/resolve`, at the record's origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveObjection {
    /// `upheld` or `rejected`.
    pub outcome: ObjectionOutcome,
    /// Why; for an upheld objection, what was corrected.
    pub explanation: String,
    /// Upheld: the corrected record, in the form `POST /v1/records`
    /// takes, signed as the record's next version in the same commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correction: Option<serde_json::Value>,
    /// Upheld: revoke the record (reason `objection_upheld`) instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revoke: bool,
}

/// The answer to a resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveAnswer {
    /// The objection id.
    pub id: String,
    /// Its state now.
    pub state: CaseState,
    /// The seq of the `ObjectionResolved` entry.
    pub seq: u64,
    /// The seq of the correction or revocation signed with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correction_seq: Option<u64>,
}

/// A filing routed from the receiving node to the origin
/// (`Request::FileObjection`, docs/protocol.md §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct ObjectionFiling {
    /// The objection id (idempotency key at the origin).
    pub id: String,
    /// The record.
    pub key: RecordKey,
    /// The seq of the record's version objected to.
    pub seq: u64,
    /// The ground.
    pub ground: ObjectionGround,
    /// The statement.
    pub statement: String,
    /// The receiving node (must be the peer that sends it).
    pub received_by: String,
    /// When it was received.
    pub received_on: Date,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{ObjectionFiled, ObjectionResolved};

    fn key() -> RecordKey {
        RecordKey {
            kind: "XZCF".into(),
            jurisdiction: "350102".into(),
            authority_code: "11350102003612345X".into(),
            record_no: "1".into(),
        }
    }

    fn entry(seq: u64, op: Op) -> Entry {
        Entry {
            origin: "gulou".into(),
            seq,
            prev_hash: [0; 32],
            time_ms: 1_767_225_600_000,
            op,
        }
    }

    fn filed(statement: &str) -> Op {
        let d: Date = "2026-01-05".parse().unwrap();
        Op::ObjectionFiled(ObjectionFiled {
            id: "o1".into(),
            key: key(),
            ground: ObjectionGround::Wrong,
            statement: statement.into(),
            received_by: "taijiang".into(),
            received_on: d,
            due: "2026-01-19".parse().unwrap(),
        })
    }

    fn resolved(outcome: ObjectionOutcome) -> Op {
        Op::ObjectionResolved(ObjectionResolved {
            id: "o1".into(),
            key: key(),
            outcome,
            explanation: "checked".into(),
        })
    }

    #[test]
    fn filed_then_resolved_once() {
        let s = apply(None, &entry(3, filed("wrong date"))).unwrap();
        assert_eq!(s.state(), CaseState::Open);
        assert_eq!(s.filed_seq, 3);
        let today: Date = "2026-01-20".parse().unwrap();
        assert!(s.overdue(today));
        assert!(!s.overdue("2026-01-19".parse().unwrap()));
        let s = apply(Some(s), &entry(4, resolved(ObjectionOutcome::Rejected))).unwrap();
        assert_eq!(s.state(), CaseState::Rejected);
        assert!(!s.overdue(today));
        // A second resolution does not change the first.
        let s = apply(Some(s), &entry(5, resolved(ObjectionOutcome::Upheld))).unwrap();
        assert_eq!(s.state(), CaseState::Rejected);
        assert_eq!(s.resolution.as_ref().unwrap().seq, 4);
        // Filing again keeps the first filing.
        let s2 = apply(Some(s.clone()), &entry(6, filed("other"))).unwrap();
        assert_eq!(s2, s);
    }

    #[test]
    fn resolving_an_unknown_objection_is_nothing() {
        assert!(apply(None, &entry(1, resolved(ObjectionOutcome::Upheld))).is_none());
    }

    #[test]
    fn due_dates_count_working_days() {
        let cal = Calendar::embedded().unwrap();
        let d = Deadlines::default();
        // Friday 2025-09-26 + 12 working days: the National Day holiday
        // (10-01..10-08) is skipped and the make-up Saturday 09-28 and
        // 10-11 count.
        let due = due_date(&cal, &d, "2025-09-26".parse().unwrap()).unwrap();
        assert_eq!(
            cal.working_days_between("2025-09-26".parse().unwrap(), due)
                .unwrap(),
            12
        );
        assert!(cal.is_working_day(due).unwrap());
        assert!(due_date(&cal, &d, "2031-01-02".parse().unwrap()).is_err());
    }

    #[test]
    fn ids_are_checked() {
        assert!(check_id("gulou-20260105-0001").is_ok());
        assert!(check_id("").is_err());
        assert!(check_id("a b").is_err());
        assert!(check_id(&"x".repeat(65)).is_err());
    }
}
