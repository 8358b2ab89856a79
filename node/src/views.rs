//! The federation view (docs/protocol.md §8.1): this node's signed report of
//! what it holds, the latest verified reports of the other members (asked
//! of each peer with its sync round, and relayed onward), and the matrix
//! `GET /v1/admin/federation` answers. Kept in memory only: reports are
//! refreshed every round, and a restarted node hears them again at once.

use std::collections::BTreeMap;
use std::sync::Mutex;

use rongxin_protocol::api::{FederationAnswer, FederationNode, FederationOrigin, FederationPeer};
use rongxin_protocol::view::{
    ForwardCursor, Health, NodeView, OriginHeld, PeerContact, SignedView,
};

use crate::ingest::now_ms;
use crate::shared::Shared;
use crate::store::{Store, StoreError};
use crate::sync::SyncStatus;

/// A member not heard from for longer than this is shown stale: 20 sync
/// rounds, room for a report relayed through the city under load.
pub const STALE_AFTER_MS: u64 = 10_000;

/// The latest verified view of each other member.
#[derive(Debug, Default)]
pub struct Views {
    latest: Mutex<BTreeMap<String, SignedView>>,
}

fn now() -> u64 {
    u64::try_from(now_ms()).unwrap_or(0)
}

impl Views {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, SignedView>> {
        self.latest.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `view` if it is newer than the one held of its member.
    fn keep(&self, view: SignedView) {
        let mut latest = self.lock();
        let newer = latest
            .get(&view.view.member)
            .is_none_or(|held| held.view.time_ms < view.view.time_ms);
        if newer {
            latest.insert(view.view.member.clone(), view);
        }
    }

    /// The views held of members of `roster`, for relaying (a member a
    /// newer roster removed is no longer relayed, so an answer never holds
    /// more views than the roster has members).
    pub fn notes(&self, roster: &rongxin_protocol::roster::Roster) -> Vec<String> {
        self.lock()
            .values()
            .filter(|v| roster.member(&v.view.member).is_some())
            .map(|v| v.note.clone())
            .collect()
    }

    /// Verifies the view notes a peer sent and keeps the newest of each
    /// member; returns how many were refused. This node's own view, and
    /// members the roster in force lacks, are skipped.
    pub fn receive(&self, store: &Store, shared: &Shared, from: &str, reports: &[String]) -> usize {
        let roster = shared.roster();
        if reports.len() > roster.roster.members.len() {
            tracing::warn!(peer = %from, n = reports.len(), "refused a view answer with more views than members");
            return reports.len();
        }
        let now = now();
        let mut refused = 0;
        for note in reports {
            let opened = SignedView::open(
                note,
                &roster.roster,
                |m| store.key_starts(m).unwrap_or_default(),
                now,
            );
            match opened {
                Ok(v) if v.view.member == shared.member => {}
                Ok(v) => self.keep(v),
                Err(e) => {
                    refused += 1;
                    tracing::warn!(peer = %from, error = %e, "refused a node view");
                }
            }
        }
        refused
    }
}

/// This node's view now.
pub fn own_view(
    store: &Store,
    shared: &Shared,
    status: &SyncStatus,
) -> Result<NodeView, StoreError> {
    let roster = shared.roster();
    let known = |id: &str| roster.roster.member(id).is_some();
    let origins = store
        .log_states()?
        .into_iter()
        .filter(|(o, _)| known(o))
        .map(|(origin, s)| {
            let seen = if origin == shared.member {
                s.size
            } else {
                status.peer_max(&origin).max(s.size)
            };
            OriginHeld {
                origin,
                held: s.size,
                checkpoint: seen,
            }
        })
        .collect();
    let peers = status
        .last_contacts()
        .into_iter()
        .filter(|(m, _)| known(m))
        .map(|(member, t)| PeerContact {
            member,
            last_contact_ms: t.and_then(|t| u64::try_from(t).ok()),
        })
        .collect();
    let mut halted: Vec<String> = store
        .halted_origins()?
        .into_iter()
        .filter(|o| known(o))
        .collect();
    halted.sort();
    halted.dedup();
    let forward = status
        .forward
        .get()
        .map(|f| f.cursors())
        .unwrap_or_default()
        .into_iter()
        .filter(|(o, _)| known(o))
        .map(|(origin, cursor)| ForwardCursor { origin, cursor })
        .collect();
    Ok(NodeView {
        member: shared.member.clone(),
        time_ms: now(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        health: if store.writable().is_ok() {
            Health::Ok
        } else {
            Health::Unwritable
        },
        origins,
        peers,
        halted,
        forward,
    })
}

/// This node's view, signed with the key of its checkpoint of its own
/// log's size (docs/protocol.md §6.1); `None` (logged) if it holds no such
/// key or the store cannot be read.
pub fn signed_own_view(store: &Store, shared: &Shared, status: &SyncStatus) -> Option<SignedView> {
    let signed = (|| -> Result<SignedView, String> {
        let view = own_view(store, shared, status).map_err(|e| e.to_string())?;
        let roster = shared.roster();
        let me = roster
            .roster
            .member(&shared.member)
            .ok_or("this node is not in the roster in force")?;
        let learned = store
            .key_starts(&shared.member)
            .map_err(|e| e.to_string())?;
        let index = me
            .key_starts_with(&learned)
            .index_at(view.own_size().saturating_sub(1));
        let key = me
            .key(roster.roster.suite, index)
            .map_err(|e| e.to_string())?;
        let signer = shared
            .signer_for(&key)
            .ok_or("this node does not hold the key of its latest checkpoint")?;
        view.sign(&roster.roster.federation, &signer)
            .map_err(|e| e.to_string())
    })();
    signed
        .inspect_err(|e| tracing::warn!(error = %e, "cannot sign this node's view"))
        .ok()
}

/// When `origin` signed its entry `seq`, if this node holds it (the entry
/// is checked against its stored leaf hash as it is read; its time is the
/// one its origin signed).
fn entry_time_ms(store: &Store, origin: &str, seq: u64) -> Option<u64> {
    let entry = store
        .entry(origin, seq)
        .inspect_err(|e| tracing::debug!(origin, seq, error = %e, "cannot read entry for lag"))
        .ok()??;
    let entry = rongxin_protocol::entry::Entry::decode(&entry.bytes).ok()?;
    u64::try_from(entry.time_ms).ok()
}

/// The federation matrix: one row per roster member, this node's fresh.
/// A member's lag in seconds is the age, on this node's clock, of the
/// oldest entry of the origin it does not hold.
pub fn matrix(
    store: &Store,
    shared: &Shared,
    status: Option<&SyncStatus>,
) -> Result<FederationAnswer, StoreError> {
    let empty = SyncStatus::default();
    let status = status.unwrap_or(&empty);
    let now = now();
    let roster = shared.roster();
    let mut views: BTreeMap<String, NodeView> = status
        .views
        .lock()
        .values()
        .filter(|v| roster.roster.member(&v.view.member).is_some())
        .map(|v| (v.view.member.clone(), v.view.clone()))
        .collect();
    views.insert(shared.member.clone(), own_view(store, shared, status)?);
    // The largest size of each origin anyone reported.
    let mut largest: BTreeMap<&str, u64> = BTreeMap::new();
    for v in views.values() {
        for o in &v.origins {
            let l = largest.entry(o.origin.as_str()).or_default();
            *l = (*l).max(o.held).max(o.checkpoint);
        }
    }
    // When the origin signed each oldest missing entry this node holds,
    // read once per (origin, seq) however many members miss it.
    let mut signed_at: BTreeMap<(String, u64), Option<u64>> = BTreeMap::new();
    let mut lag_seconds = |origin: &str, held: u64, lag: u64| -> Option<u64> {
        if lag == 0 {
            return Some(0);
        }
        let at = *signed_at
            .entry((origin.to_owned(), held))
            .or_insert_with(|| entry_time_ms(store, origin, held));
        at.map(|t| now.saturating_sub(t) / 1000)
    };
    let nodes = roster
        .roster
        .members
        .iter()
        .map(|m| {
            let v = views.get(&m.id);
            let heard_ms = v.map(|v| v.time_ms);
            FederationNode {
                member: m.id.clone(),
                name: m.name.clone(),
                role: m.role.as_str().to_owned(),
                version: v.map(|v| v.version.clone()),
                health: v.map(|v| v.health),
                heard_ms,
                stale: heard_ms.is_none_or(|t| now.saturating_sub(t) > STALE_AFTER_MS),
                origins: v
                    .map(|v| {
                        v.origins
                            .iter()
                            .map(|o| {
                                let lag = largest
                                    .get(o.origin.as_str())
                                    .map_or(0, |l| l.saturating_sub(o.held));
                                FederationOrigin {
                                    origin: o.origin.clone(),
                                    held: o.held,
                                    lag,
                                    lag_seconds: lag_seconds(&o.origin, o.held, lag),
                                    checkpoint: o.checkpoint,
                                    forwarded: v
                                        .forward
                                        .iter()
                                        .find(|f| f.origin == o.origin)
                                        .map(|f| f.cursor),
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                peers: v
                    .map(|v| {
                        v.peers
                            .iter()
                            .map(|p| FederationPeer {
                                member: p.member.clone(),
                                last_contact_ms: p.last_contact_ms,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                halted: v.map(|v| v.halted.clone()).unwrap_or_default(),
            }
        })
        .collect();
    Ok(FederationAnswer {
        member: shared.member.clone(),
        now_ms: now,
        stale_after_ms: STALE_AFTER_MS,
        nodes,
    })
}
