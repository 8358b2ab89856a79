//! Credit repair (信用修复, NDRC Order No. 36): the state every node
//! derives from an origin's `RepairFiled` and `RepairDecided` entries, the
//! decision's due date, and the messages of the HTTP API and the wire
//! (docs/api.md, docs/protocol.md §4.2).
//!
//! An application is filed at any node and routed to the record's origin
//! like an objection ([`crate::objection`]); the origin registers it
//! (`RepairFiled`) only once the record's minimum publicity period has
//! passed and its kind may be repaired, and decides it: a grant is the
//! record's `Revoke { reason: Repair }` followed by `RepairDecided`, in one
//! commit.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::calendar::{Calendar, CalendarError};
use crate::catalog::RecordKind;
use crate::entry::{Entry, Op, RepairOutcome};
use crate::objection::{CaseState, RecordRef};
use crate::record::RecordKey;
use crate::roster::Deadlines;
use crate::value::Date;

/// A repair application as every node holding its origin's log knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Encode, Decode)]
pub struct RepairState {
    /// The record's origin.
    pub origin: String,
    /// The application id.
    pub id: String,
    /// The record.
    pub key: RecordKey,
    /// How the conduct was corrected.
    pub statement: String,
    /// The public credit commitment it carries.
    pub commitment: String,
    /// The node where it was filed.
    pub received_by: String,
    /// When it was filed there.
    pub received_on: Date,
    /// When the origin must have decided it.
    pub due: Date,
    /// The seq of the `RepairFiled` entry.
    pub filed_seq: u64,
    /// The decision, once signed.
    pub decision: Option<Decision>,
}

/// The origin's decision on an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct Decision {
    /// Granted or rejected.
    pub outcome: RepairOutcome,
    /// Why.
    pub explanation: String,
    /// The seq of the `RepairDecided` entry.
    pub seq: u64,
    /// When the origin signed it (China date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<Date>,
}

impl RepairState {
    /// The state name of the API: `open`, `granted` or `rejected`.
    pub fn state(&self) -> CaseState {
        match &self.decision {
            None => CaseState::Open,
            Some(d) => match d.outcome {
                RepairOutcome::Granted => CaseState::Granted,
                RepairOutcome::Rejected => CaseState::Rejected,
            },
        }
    }

    /// Undecided after its due date (`today` is the China date).
    pub fn overdue(&self, today: Date) -> bool {
        self.decision.is_none() && today > self.due
    }
}

/// The application state after `entry` (of the application's origin),
/// given the state before. `None` when the entry is not about an
/// application, or decides one never filed.
pub fn apply(prev: Option<RepairState>, entry: &Entry) -> Option<RepairState> {
    match &entry.op {
        Op::RepairFiled(r) => Some(prev.unwrap_or(RepairState {
            origin: entry.origin.clone(),
            id: r.id.clone(),
            key: r.key.clone(),
            statement: r.statement.clone(),
            commitment: r.commitment.clone(),
            received_by: r.received_by.clone(),
            received_on: r.received_on,
            due: r.due,
            filed_seq: entry.seq,
            decision: None,
        })),
        Op::RepairDecided(r) => prev.map(|mut p| {
            if p.decision.is_none() {
                p.decision = Some(Decision {
                    outcome: r.outcome,
                    explanation: r.explanation.clone(),
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

/// The application id an entry concerns, if it concerns one.
pub fn repair_id(entry: &Entry) -> Option<&str> {
    match &entry.op {
        Op::RepairFiled(r) => Some(&r.id),
        Op::RepairDecided(r) => Some(&r.id),
        _ => None,
    }
}

/// The date by which an application received on `received_on` must be
/// decided: the roster's `repair_decide` working days (国办发〔2025〕22号:
/// 3) of `calendar`.
pub fn due_date(
    calendar: &Calendar,
    deadlines: &Deadlines,
    received_on: Date,
) -> Result<Date, CalendarError> {
    calendar.add_working_days(received_on, deadlines.repair_decide)
}

/// Why a record of `kind` decided on `decision_date` may not be repaired
/// on `today`, if it may not: its kind has no fixed end of publicity
/// (licences, court lists, honours and commitments are not repaired; they
/// end by the deciding organ's own act), or its minimum publicity period
/// (`earliest_repair`) has not passed.
pub fn not_repairable(kind: &RecordKind, decision_date: Date, today: Date) -> Option<String> {
    if kind.publicity.max.is_none() {
        return Some(format!(
            "records of kind {} ({}) are not repaired: the kind has no fixed end of publicity in the catalog, so the deciding organ ends it by revoking the record",
            kind.code, kind.name
        ));
    }
    match kind.earliest_repair(decision_date) {
        Some(first) if today >= first => None,
        Some(first) => Some(format!(
            "the record, decided on {decision_date}, is within the minimum publicity period of kind {} ({}): credit repair may be applied for from {first} on",
            kind.code, kind.name
        )),
        None => Some("the record's minimum publicity period does not end".into()),
    }
}

/// `POST /v1/repairs`: apply for credit repair at this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRepair {
    /// The record, by origin and seq.
    pub record: RecordRef,
    /// How the conduct was corrected (整改情况).
    pub statement: String,
    /// The subject's public credit commitment: the key of its XYCN record
    /// (`XYCN/<jurisdiction>/<authority>/<record_no>`), or the reference
    /// of the commitment document.
    pub commitment: String,
    /// The filer's own id for the application, to retry safely; the node
    /// makes one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Digests of attachments kept by the filer (e.g. `sha256:…`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<String>,
}

/// One application as `GET /v1/repairs/{id}` and the list answer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairView {
    /// The application id.
    pub id: String,
    /// Its state: `received`, `open`, `granted`, `rejected` or `refused`.
    pub state: CaseState,
    /// Undecided past its due date.
    pub overdue: bool,
    /// The record's origin.
    pub origin: String,
    /// The record.
    pub key: RecordKey,
    /// The record's issuing authority's credit code.
    pub authority: String,
    /// How the conduct was corrected.
    pub statement: String,
    /// The credit commitment.
    pub commitment: String,
    /// The node where it was filed.
    pub received_by: String,
    /// When.
    pub received_on: Date,
    /// When the origin must have decided it.
    pub due: Date,
    /// The receipt number, at the node where it was filed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
    /// The seq of the `RepairFiled` entry, once signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filed_seq: Option<u64>,
    /// The decision, once signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// At the filing node, before registration: the last routing error,
    /// or why the origin refused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<String>,
}

/// The answer of `GET /v1/repairs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairList {
    /// The applications, oldest due date first.
    pub repairs: Vec<RepairView>,
}

/// `POST /v1/repairs/{id}/decide`, at the record's origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideRepair {
    /// `granted` or `rejected`.
    pub outcome: RepairOutcome,
    /// Why (the decision document's number and reasons).
    pub explanation: String,
}

/// The answer to a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecideAnswer {
    /// The application id.
    pub id: String,
    /// Its state now.
    pub state: CaseState,
    /// The seq of the `RepairDecided` entry.
    pub seq: u64,
    /// For a grant, the seq of the record's revocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_seq: Option<u64>,
}

/// An application routed from the receiving node to the origin
/// (`Request::FileRepair`, docs/protocol.md §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct RepairFiling {
    /// The application id (idempotency key at the origin).
    pub id: String,
    /// The record.
    pub key: RecordKey,
    /// The seq of the record's version concerned.
    pub seq: u64,
    /// How the conduct was corrected.
    pub statement: String,
    /// The credit commitment.
    pub commitment: String,
    /// The receiving node (must be the peer that sends it).
    pub received_by: String,
    /// When it was received.
    pub received_on: Date,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{RepairDecided, RepairFiled};

    fn key() -> RecordKey {
        RecordKey {
            kind: "CF".into(),
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

    #[test]
    fn filed_then_decided_once() {
        let filed = Op::RepairFiled(RepairFiled {
            id: "r1".into(),
            key: key(),
            statement: "已整改".into(),
            commitment: "承诺书".into(),
            received_by: "taijiang".into(),
            received_on: "2026-06-01".parse().unwrap(),
            due: "2026-06-04".parse().unwrap(),
        });
        let decided = |outcome| {
            Op::RepairDecided(RepairDecided {
                id: "r1".into(),
                key: key(),
                outcome,
                explanation: "x".into(),
            })
        };
        let s = apply(None, &entry(5, filed)).unwrap();
        assert_eq!(s.state(), CaseState::Open);
        assert!(s.overdue("2026-06-05".parse().unwrap()));
        let s = apply(Some(s), &entry(7, decided(RepairOutcome::Granted))).unwrap();
        assert_eq!(s.state(), CaseState::Granted);
        let s = apply(Some(s), &entry(8, decided(RepairOutcome::Rejected))).unwrap();
        assert_eq!(s.decision.unwrap().seq, 7, "the first decision stands");
        assert!(apply(None, &entry(9, decided(RepairOutcome::Rejected))).is_none());
    }

    #[test]
    fn repair_waits_for_the_minimum_period_and_needs_a_fixed_end() {
        let catalog = crate::catalog::Catalog::from_toml_str(include_str!(
            "../../config-examples/catalog.toml"
        ))
        .unwrap();
        // 一般 penalties: at least 3 months public, at most 1 year.
        let cf = catalog.kind("CF").unwrap();
        let decided: Date = "2026-01-31".parse().unwrap();
        let why = not_repairable(cf, decided, "2026-04-29".parse().unwrap()).unwrap();
        assert!(why.contains("from 2026-04-30"), "{why}");
        assert!(not_repairable(cf, decided, "2026-04-30".parse().unwrap()).is_none());
        // Licences have no fixed end: never repaired.
        let xk = catalog.kind("XK").unwrap();
        assert!(
            not_repairable(xk, decided, "2030-01-01".parse().unwrap())
                .unwrap()
                .contains("not repaired")
        );
    }
}
