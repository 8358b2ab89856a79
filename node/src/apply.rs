//! How an entry changes the state of its record. Shared by the committer
//! (own entries) and replication (everyone else's), so every node derives the
//! same current state from the same log.

use rongxin_protocol::entry::{Entry, Op};

use crate::ingest::content_hash;
use crate::store::{RecordState, Revoked};

/// The record state after `entry`, given the state before it (`None` if the
/// record is unknown). Returns `None` when the entry changes nothing that is
/// indexed (an op on a record this node never saw a Put of). A key handover
/// concerns no record: callers skip it (it has no record key).
pub fn next_state(prev: Option<RecordState>, entry: &Entry) -> Option<RecordState> {
    match &entry.op {
        Op::Put(record) => Some(RecordState {
            origin: entry.origin.clone(),
            put_seq: entry.seq,
            version: prev.as_ref().map_or(1, |p| p.version + 1),
            content: content_hash(record),
            subject: record.subject.code.clone(),
            revoked: None,
            open_objections: prev.map(|p| p.open_objections).unwrap_or_default(),
        }),
        Op::Revoke(r) => prev.map(|mut p| {
            p.revoked = Some(Revoked {
                seq: entry.seq,
                reason: r.reason,
            });
            p
        }),
        Op::ObjectionFiled(o) => prev.map(|mut p| {
            if !p.open_objections.contains(&o.id) {
                p.open_objections.push(o.id.clone());
            }
            p
        }),
        Op::ObjectionResolved(o) => prev.map(|mut p| {
            p.open_objections.retain(|id| *id != o.id);
            p
        }),
        Op::KeyHandover(_) => prev,
    }
}
