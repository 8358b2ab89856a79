//! Pull-based replication over the [`crate::net`] transport.
//!
//! Every `SYNC_INTERVAL` the node asks each configured peer for its status
//! (roster version and one signed checkpoint per origin it holds). For each
//! origin where the peer's checkpoint is ahead, it fetches the missing entries
//! in bounded batches and hands each batch to the [`Replicator`], which
//! verifies and appends it atomically. Any node serves any origin it holds,
//! so records travel around a cut link through the city. State lives only in
//! the store, so sync resumes where it stopped after a restart or partition.
//!
//! The same machinery runs once at start for the node's own origin (restore
//! protection): if peers hold more of this node's own log than its disk does,
//! those entries are fetched and verified with its own key before the
//! committer may sign anything new.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};
use rongxin_protocol::checkpoint::SignedCheckpoint;
use rongxin_protocol::merkle;
use rongxin_protocol::roster::SignedRoster;
use rongxin_protocol::wire::{MAX_BATCH_ENTRIES, Request, Response};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::ingest::now_ms;
use crate::metrics::Metrics;
use crate::net::{Inbound, NetHandle};
use crate::replica::{Observation, ReplicaError, Replicator};
use crate::shared::Shared;
use crate::store::Store;
use rongxin_protocol::api::{MAX_REFUSALS, Refusal};

/// How often each peer is asked for its status.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(500);
/// Batches fetched at once across all peers (bounds memory: 16 MiB each at most).
const CONCURRENT_FETCHES: usize = 4;
/// Fetched batches of one origin (being verified, or verified) that may
/// wait for their append.
const FETCH_AHEAD: usize = 2;

/// A batch received and verified, waiting to be appended.
struct Fetched {
    from: u64,
    entries: Vec<rongxin_protocol::entry::SignedEntry>,
    verified: crate::replica::Verified,
}
/// A fetched batch whose signatures are being checked.
type Verifying = tokio::task::JoinHandle<Result<Fetched, ReplicaError>>;
/// Most entry bytes in one answer (the message limit is 16 MiB).
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;
/// Inbound requests answered at once.
const CONCURRENT_ANSWERS: usize = 4;

/// What this node knows about one peer's copy of one origin.
#[derive(Debug, Clone, Default)]
struct OriginView {
    peer_size: u64,
    /// When our copy last reached the peer's size (ms since epoch).
    level_ms: Option<i64>,
}

/// Most characters of a refusal's reason kept for the console.
const MAX_REFUSAL_REASON_CHARS: usize = 512;

/// What this node knows about one peer.
#[derive(Debug, Clone, Default)]
struct PeerView {
    peer_id: String,
    last_contact_ms: Option<i64>,
    last_error: Option<String>,
    origins: BTreeMap<String, OriginView>,
}

/// Replication state shared with the HTTP API.
#[derive(Debug, Default)]
pub struct SyncStatus {
    peers: Mutex<BTreeMap<String, PeerView>>,
    alarms: Mutex<Vec<String>>,
    /// The latest refusals, newest last (at most `MAX_REFUSALS`).
    refusals: Mutex<std::collections::VecDeque<Refusal>>,
    /// The latest verified view of each other member (docs/protocol.md §8.1).
    pub views: crate::views::Views,
    /// The forwarder's state, on a node that forwards to the province
    /// (reported in this node's view).
    pub forward: std::sync::OnceLock<Arc<crate::forward::ForwardStatus>>,
}

impl SyncStatus {
    fn update<R>(&self, member: &str, f: impl FnOnce(&mut PeerView) -> R) -> R {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        f(peers.entry(member.to_owned()).or_default())
    }

    /// Keeps a refusal for the console: a repeat of one it keeps moves to
    /// the end with its count raised; the oldest goes past the bound.
    fn note_refusal(&self, peer: &str, origin: &str, reason: String) {
        // A reason can quote what the peer sent (its error message): keep
        // a bounded prefix, so the console's answer stays bounded.
        let reason = if reason.chars().count() > MAX_REFUSAL_REASON_CHARS {
            let mut r: String = reason.chars().take(MAX_REFUSAL_REASON_CHARS).collect();
            r.push('…');
            r
        } else {
            reason
        };
        let now = u64::try_from(now_ms()).unwrap_or(0);
        let mut r = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        let same = r
            .iter()
            .position(|x| x.peer == peer && x.origin == origin && x.reason == reason);
        let item = match same.and_then(|i| r.remove(i)) {
            Some(mut x) => {
                x.count += 1;
                x.time_ms = now;
                x
            }
            None => Refusal {
                time_ms: now,
                first_ms: now,
                count: 1,
                peer: peer.to_owned(),
                origin: origin.to_owned(),
                reason,
            },
        };
        if r.len() == MAX_REFUSALS {
            r.pop_front();
        }
        r.push_back(item);
    }

    /// The latest refusals, newest first.
    pub fn refusals(&self) -> Vec<Refusal> {
        let r = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        r.iter().rev().cloned().collect()
    }

    fn alarm(&self, text: String) {
        let mut a = self.alarms.lock().unwrap_or_else(|p| p.into_inner());
        if !a.contains(&text) {
            a.push(text);
        }
    }

    /// Each configured peer's last answer (ms since the epoch).
    pub fn last_contacts(&self) -> Vec<(String, Option<i64>)> {
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers
            .iter()
            .map(|(m, v)| (m.clone(), v.last_contact_ms))
            .collect()
    }

    /// The largest size of `origin`'s log any peer reported.
    pub fn peer_max(&self, origin: &str) -> u64 {
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers
            .values()
            .filter_map(|v| v.origins.get(origin).map(|o| o.peer_size))
            .max()
            .unwrap_or(0)
    }

    /// Per origin and peer: held, peer's size, lag in entries and seconds, last contact.
    pub fn to_json(&self, store: &Store) -> Value {
        let now = now_ms();
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut rows = Vec::new();
        let mut peer_rows = Vec::new();
        for (member, view) in &peers {
            peer_rows.push(json!({
                "peer": member,
                "peer_id": view.peer_id,
                "last_contact_seconds": view.last_contact_ms.map(|t| (now - t) as f64 / 1000.0),
                "last_error": view.last_error,
            }));
            for (origin, o) in &view.origins {
                let held = store.log_state(origin).ok().flatten().map_or(0, |s| s.size);
                let lag = o.peer_size.saturating_sub(held);
                rows.push(json!({
                    "origin": origin,
                    "peer": member,
                    "held": held,
                    "peer_size": o.peer_size,
                    "lag_entries": lag,
                    "lag_seconds": if lag == 0 { 0.0 } else { o.level_ms.map_or(f64::NAN, |t| (now - t) as f64 / 1000.0) },
                    "last_contact_seconds": view.last_contact_ms.map(|t| (now - t) as f64 / 1000.0),
                }));
            }
        }
        json!({
            "peers": peer_rows,
            "origins": rows,
            "alarms": self.alarms.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        })
    }
}

/// The replication engine of one node.
#[derive(Debug)]
pub struct Sync {
    shared: Arc<Shared>,
    store: Store,
    replicator: Arc<Replicator>,
    net: NetHandle,
    metrics: Metrics,
    /// Replication state for status and metrics.
    pub status: Arc<SyncStatus>,
    fetches: Semaphore,
    /// The objection service, once the committer runs (filings routed
    /// here before are answered with an error, and sent again).
    pub cases: std::sync::OnceLock<Arc<crate::cases::Cases>>,
}

/// Who the transport lets in and whom it dials, from the roster in force.
#[derive(Debug, Clone, Default)]
pub struct PeerSets {
    /// Peer ids of every other roster member.
    pub allowed: HashSet<PeerId>,
    /// Configured peers with their roster addresses.
    pub dial: HashMap<PeerId, Vec<Multiaddr>>,
    /// Configured peers by member id.
    pub named: Vec<(String, PeerId)>,
}

/// The peer ids of every roster member, and the configured peers with addresses.
pub fn peer_sets(roster: &SignedRoster, me: &str, peers: &[String]) -> PeerSets {
    let allowed = roster
        .roster
        .members
        .iter()
        .filter(|m| m.id != me)
        .filter_map(|m| m.peer_id.parse::<PeerId>().ok())
        .collect();
    let mut dial = HashMap::new();
    let mut named = Vec::new();
    for id in peers {
        let Some(m) = roster.roster.member(id) else {
            continue;
        };
        let Ok(pid) = m.peer_id.parse::<PeerId>() else {
            continue;
        };
        dial.insert(
            pid,
            m.listen.iter().filter_map(|a| a.parse().ok()).collect(),
        );
        named.push((id.clone(), pid));
    }
    PeerSets {
        allowed,
        dial,
        named,
    }
}

fn origin_of(shared: &Shared, note: &str) -> Option<String> {
    let text = rongxin_protocol::note::parse_note(note).ok()?.text;
    let line = text.lines().next()?;
    let federation = shared.roster().roster.federation.clone();
    line.strip_prefix(&format!("{federation}/"))
        .map(str::to_owned)
}

impl Sync {
    /// A sync engine over `net`.
    pub fn new(
        shared: Arc<Shared>,
        store: Store,
        replicator: Arc<Replicator>,
        net: NetHandle,
        metrics: Metrics,
    ) -> Sync {
        Sync {
            shared,
            store,
            replicator,
            net,
            metrics,
            status: Arc::new(SyncStatus::default()),
            fetches: Semaphore::new(CONCURRENT_FETCHES),
            cases: std::sync::OnceLock::new(),
        }
    }

    /// Answers peers' requests until the stream ends.
    pub async fn serve(self: Arc<Self>, mut inbound: mpsc::Receiver<Inbound>) {
        let slots = Arc::new(Semaphore::new(CONCURRENT_ANSWERS));
        while let Some(req) = inbound.recv().await {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            let this = self.clone();
            tokio::spawn(async move {
                let Inbound {
                    peer,
                    request,
                    channel,
                } = req;
                let store = this.store.clone();
                let shared = this.shared.clone();
                let response = match request {
                    request @ (Request::FileObjection(_) | Request::FileRepair(_)) => {
                        match this.cases.get() {
                            Some(c) => c.receive(peer, request).await,
                            None => Response::Error {
                                message: "this node is starting; send the objection again".into(),
                            },
                        }
                    }
                    Request::View => {
                        let status = this.status.clone();
                        tokio::task::spawn_blocking(move || {
                            let mut reports: Vec<String> =
                                crate::views::signed_own_view(&store, &shared, &status)
                                    .map(|v| v.note)
                                    .into_iter()
                                    .collect();
                            reports.extend(status.views.notes(&shared.roster().roster));
                            Response::View { reports }
                        })
                        .await
                        .unwrap_or_else(|e| Response::Error {
                            message: e.to_string(),
                        })
                    }
                    request => {
                        tokio::task::spawn_blocking(move || answer(&store, &shared, request))
                            .await
                            .unwrap_or_else(|e| Response::Error {
                                message: e.to_string(),
                            })
                    }
                };
                tracing::trace!(%peer, "answered");
                this.net.respond(channel, response).await;
                drop(permit);
            });
        }
    }

    /// Syncs with `member` (at `peer`) every [`SYNC_INTERVAL`] until cancelled.
    /// `own_running` says the committer owns this node's own log.
    pub async fn peer_loop(
        self: Arc<Self>,
        member: String,
        peer: PeerId,
        cancel: CancellationToken,
    ) {
        self.status
            .update(&member, |v| v.peer_id = peer.to_base58());
        let mut tick = tokio::time::interval(SYNC_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The peer's departments' tallies: asked once it answers, then
        // every few rounds.
        let mut tallies: Option<(Instant, rongxin_protocol::value::Date)> = None;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let result = tokio::select! {
                _ = cancel.cancelled() => return,
                r = self.sync_with(&member, peer, false) => r,
            };
            if let Err(e) = result {
                tracing::debug!(peer = %member, error = %e, "sync round failed");
                self.status
                    .update(&member, |v| v.last_error = Some(e.to_string()));
                continue;
            }
            let today = crate::cases::Cases::today();
            if tallies.is_none_or(|(at, _)| at.elapsed() >= crate::tally::ASK_EVERY) {
                let since = match tallies {
                    Some((_, since)) => since,
                    None => crate::tally::first_day_to_ask(&self.store, &member, today),
                };
                let next = tokio::select! {
                    _ = cancel.cancelled() => return,
                    n = crate::tally::ask(&self.net, &self.store, &member, peer, since, today) => n,
                };
                tallies = Some((Instant::now(), next));
            }
        }
    }

    /// One round with one peer. With `own_only`, only this node's own log is
    /// fetched (restore protection); otherwise every other origin is.
    /// Returns whether the peer answered.
    async fn sync_with(&self, member: &str, peer: PeerId, own_only: bool) -> Result<(), SyncError> {
        let resp =
            self.net
                .request(peer, Request::Status)
                .await
                .map_err(|e| SyncError::Transport {
                    member: member.to_owned(),
                    error: e.to_string(),
                })?;
        let Response::Status {
            roster_version,
            checkpoints,
        } = resp
        else {
            return Err(SyncError::Unexpected {
                member: member.to_owned(),
                asked: "Status",
            });
        };
        self.status.update(member, |v| {
            v.last_contact_ms = Some(now_ms());
            v.last_error = None;
        });
        if !own_only && roster_version > self.shared.roster().roster.version {
            self.fetch_roster(member, peer).await;
        }
        // Before any fetching, so that a long catch-up does not hold up
        // what the console shows.
        if !own_only {
            self.exchange_views(member, peer).await;
        }
        let me = self.shared.member.clone();
        for note in checkpoints {
            let Some(origin) = origin_of(&self.shared, &note) else {
                continue;
            };
            // Honest peers keep the logs of members a newer roster removed:
            // nothing to fetch, and no fault of the peer's to count.
            if self.shared.roster().roster.member(&origin).is_none() {
                continue;
            }
            if (origin == me) != own_only {
                if origin == me {
                    self.check_own(member, &note);
                }
                continue;
            }
            let replicator = self.replicator.clone();
            let (o, n) = (origin.clone(), note.clone());
            let observed = tokio::task::spawn_blocking(move || replicator.observe(&o, &n))
                .await
                .map_err(|e| SyncError::Task(e.to_string()))?;
            match observed {
                Ok(Observation::UpToDate { peer_size }) => self.mark(member, &origin, peer_size),
                Ok(Observation::Behind { target, .. }) => {
                    let held = target_held(&self.store, &origin);
                    self.mark(member, &origin, target.checkpoint.size);
                    if let Err(e) = self.fetch(member, peer, &origin, held, target).await {
                        self.refused(member, &origin, e);
                    }
                }
                Err(e) => self.refused(member, &origin, e),
            }
        }
        Ok(())
    }

    /// Asks `peer` for its view and the views it holds of others, and keeps
    /// those that verify (docs/protocol.md §8.1). A peer that does not know
    /// the request answers `Error`: nothing to keep.
    async fn exchange_views(&self, member: &str, peer: PeerId) {
        let Ok(Response::View { reports }) = self.net.request(peer, Request::View).await else {
            return;
        };
        let (store, shared, status) =
            (self.store.clone(), self.shared.clone(), self.status.clone());
        let from = member.to_owned();
        let _ = tokio::task::spawn_blocking(move || {
            status.views.receive(&store, &shared, &from, &reports)
        })
        .await;
    }

    fn mark(&self, member: &str, origin: &str, peer_size: u64) {
        let held = target_held(&self.store, origin);
        let now = now_ms();
        let lag = self.status.update(member, |v| {
            let o = v.origins.entry(origin.to_owned()).or_default();
            o.peer_size = peer_size;
            if held >= o.peer_size {
                o.level_ms = Some(now);
            }
            o.peer_size.saturating_sub(held)
        });
        self.metrics.set_lag(origin, member, lag);
    }

    fn refused(&self, member: &str, origin: &str, e: ReplicaError) {
        match &e {
            ReplicaError::Stale(_) => {}
            ReplicaError::Halted(_) => self.status.alarm(format!(
                "{origin} is halted after equivocation: see /v1/admin/evidence"
            )),
            ReplicaError::Equivocation { .. } => {
                self.status.note_refusal(member, origin, e.to_string());
                self.status
                    .alarm(format!("{e}; evidence stored, see /v1/admin/evidence"));
            }
            ReplicaError::Refused { .. } | ReplicaError::Invalid { .. } => {
                self.status.note_refusal(member, origin, e.to_string());
                self.metrics.count_refused(member);
                tracing::warn!(peer = %member, %origin, error = %e, "refused data from peer");
            }
            ReplicaError::Store(_) => {
                tracing::error!(peer = %member, %origin, error = %e, "store error while replicating")
            }
        }
    }

    /// A peer's checkpoint of our own log while the committer runs: only
    /// compared. A peer ahead of us, or disagreeing, means our history forked.
    fn check_own(&self, member: &str, note: &str) {
        let roster = self.shared.roster();
        let me = &self.shared.member;
        let starts = match (roster.roster.member(me), self.store.key_starts(me)) {
            (Some(m), Ok(learned)) => m.key_starts_with(&learned),
            _ => return,
        };
        let Ok((cp, _)) = roster.roster.open_checkpoint_at(me, note, &starts) else {
            return;
        };
        let Ok(Some(ours)) = self.store.log_state(&self.shared.member) else {
            return;
        };
        let s = cp.checkpoint.size;
        let consistent = if s > ours.size {
            false
        } else if s == ours.size {
            cp.checkpoint.root == ours.root
        } else {
            merkle::tree_root(
                s,
                &self.store.hashes(&self.shared.member, roster.roster.suite),
            )
            .is_ok_and(|r| r == cp.checkpoint.root)
        };
        if !consistent {
            let text = format!(
                "{member} holds a checkpoint of this node's own log (size {s}) that this node's log (size {}) does not match: this node's history forked (restored from an old backup?)",
                ours.size
            );
            tracing::error!("{text}");
            self.status.alarm(text);
        }
    }

    /// Fetches `origin`'s entries from `held` up to `target` in batches.
    ///
    /// A pipeline of four stages: requests, signature checks, appends and
    /// the store's writer. While batch k is written, batch k+1 is being
    /// checked against the log and handed to the writer, k+2 verified and
    /// k+3 requested, so the peer, the network, the disk and both cores
    /// work at once. At most [`FETCH_AHEAD`] fetched batches (being verified
    /// or verified) wait for the append, and [`crate::replica::IN_FLIGHT`]
    /// for the writer. A refusal ends the round after every good batch
    /// before it was stored.
    async fn fetch(
        &self,
        member: &str,
        peer: PeerId,
        origin: &str,
        held: u64,
        target: SignedCheckpoint,
    ) -> Result<(), ReplicaError> {
        let goal = target.checkpoint.size;
        let target = Arc::new(target);
        let (tx, mut rx) = mpsc::channel::<Result<Verifying, ReplicaError>>(FETCH_AHEAD);
        let producer = async {
            let mut next = held;
            while next < goal {
                // The next request goes out while this batch is verified.
                let batch = self
                    .request_batch(member, peer, origin, next, goal)
                    .await
                    .map(|(from, entries)| {
                        next = from + entries.len() as u64;
                        let replicator = self.replicator.clone();
                        let o = origin.to_owned();
                        tokio::task::spawn_blocking(move || {
                            let verified = replicator.verify(&o, from, &entries)?;
                            Ok(Fetched {
                                from,
                                entries,
                                verified,
                            })
                        })
                    });
                let failed = batch.is_err();
                if tx.send(batch).await.is_err() || failed {
                    break;
                }
            }
            drop(tx);
            // Done: the appends decide when the round ends.
            std::future::pending::<()>().await;
        };
        let joined = |e: tokio::task::JoinError| ReplicaError::Refused {
            origin: origin.to_owned(),
            why: e.to_string(),
        };
        let consumer = async {
            let appended = async {
                while let Some(batch) = rx.recv().await {
                    let Fetched {
                        from,
                        entries,
                        verified,
                    } = batch?.await.map_err(joined)??;
                    let replicator = self.replicator.clone();
                    let (o, t) = (origin.to_owned(), target.clone());
                    tokio::task::spawn_blocking(move || {
                        replicator.append_verified(&o, from, &entries, &verified, &t)
                    })
                    .await
                    .map_err(joined)??;
                    self.mark(member, origin, goal);
                }
                Ok(())
            }
            .await;
            // The round ends once the batches handed to the writer are in:
            // a failure among them is the round's, and the next round
            // starts from what the store holds.
            let replicator = self.replicator.clone();
            let o = origin.to_owned();
            let settled = tokio::task::spawn_blocking(move || replicator.settle(&o))
                .await
                .map_err(joined)
                .and_then(|r| r);
            if settled.is_ok() {
                self.mark(member, origin, goal);
            }
            appended.and(settled)
        };
        tokio::select! {
            r = consumer => r,
            () = producer => Ok(()),
        }
    }

    /// Requests `origin`'s entries from `held` (toward `goal`): where the
    /// answer starts, and its entries (not empty).
    async fn request_batch(
        &self,
        member: &str,
        peer: PeerId,
        origin: &str,
        held: u64,
        goal: u64,
    ) -> Result<(u64, Vec<rongxin_protocol::entry::SignedEntry>), ReplicaError> {
        let refused = |why: String| ReplicaError::Refused {
            origin: origin.to_owned(),
            why,
        };
        let resp = {
            let _permit = self
                .fetches
                .acquire()
                .await
                .map_err(|_| ReplicaError::Stale(origin.to_owned()))?;
            let limit = u32::try_from((goal - held).min(u64::from(MAX_BATCH_ENTRIES)))
                .unwrap_or(MAX_BATCH_ENTRIES);
            self.net
                .request(
                    peer,
                    Request::Entries {
                        origin: origin.to_owned(),
                        from: held,
                        limit,
                    },
                )
                .await
                .map_err(|e| refused(e.to_string()))?
        };
        let (from, entries) = match resp {
            Response::Entries {
                origin: o,
                from,
                entries,
            } if o == origin => (from, entries),
            Response::Error { message } => return Err(refused(message)),
            _ => return Err(refused("an answer of the wrong kind".into())),
        };
        tracing::debug!(peer = %member, %origin, asked = held, got_from = from, n = entries.len(), "batch received");
        if entries.is_empty() {
            return Err(refused(format!("{member} sent no entries from {held}")));
        }
        Ok((from, entries))
    }

    async fn fetch_roster(&self, member: &str, peer: PeerId) {
        let have = self.shared.roster().roster.version;
        let Ok(Response::Roster { note: Some(note) }) = self
            .net
            .request(peer, Request::Roster { have_version: have })
            .await
        else {
            return;
        };
        match SignedRoster::open(&note, &self.shared.root) {
            Ok(r) => {
                let version = r.roster.version;
                if self.shared.adopt(r) {
                    let mut batch = crate::store::WriteBatch::default();
                    batch.put_roster(&note);
                    let stored = self
                        .store
                        .commit(batch, crate::store::Durability::Durable)
                        .await;
                    if let Err(e) = stored {
                        tracing::error!(error = %e, "cannot store the new roster");
                    }
                    tracing::info!(version, from = %member, "adopted a newer roster");
                    self.metrics
                        .roster_version
                        .set(i64::try_from(version).unwrap_or(i64::MAX));
                }
            }
            Err(e) => {
                self.metrics.count_refused(member);
                tracing::warn!(peer = %member, error = %e, "refused a roster that does not verify with the root key");
            }
        }
    }

    /// Restore protection: before the committer signs anything, fetches this
    /// node's own entries that peers hold beyond its disk. Waits up to
    /// `timeout` for at least one peer to answer; returns how many peers did.
    pub async fn restore_own_log(
        &self,
        peers: &[(String, PeerId)],
        timeout: Duration,
    ) -> Result<usize, RestoreError> {
        if peers.is_empty() {
            return Ok(0);
        }
        let deadline = Instant::now() + timeout;
        let mut answered = HashSet::new();
        let me = self.shared.member.clone();
        let caught_up = || target_held(&self.store, &me) >= self.status.peer_max(&me);
        while Instant::now() < deadline && (answered.len() < peers.len() || !caught_up()) {
            for (member, peer) in peers {
                if answered.contains(member) && caught_up() {
                    continue;
                }
                if self.sync_with(member, *peer, true).await.is_ok() {
                    answered.insert(member.clone());
                }
            }
            if self.store.halted(&me).unwrap_or(false) {
                return Err(RestoreError::Forked);
            }
            // One answer suffices once the others had a fair chance.
            if !answered.is_empty() && caught_up() && Instant::now() + timeout / 2 > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Never sign over positions a peer has seen: if peers hold more of
        // this node's own log than could be fetched and verified, refuse.
        let (held, seen) = (target_held(&self.store, &me), self.status.peer_max(&me));
        if held < seen {
            return Err(RestoreError::Behind { held, seen });
        }
        Ok(answered.len())
    }
}

/// Why a sync round with a peer ended early.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The request did not reach the peer, or its answer did not come back.
    #[error("{member}: {error}")]
    Transport {
        /// The peer.
        member: String,
        /// The transport's error.
        error: String,
    },
    /// The peer answered with another message than the one asked for.
    #[error("{member} answered {asked} with something else")]
    Unexpected {
        /// The peer.
        member: String,
        /// The request.
        asked: &'static str,
    },
    /// A blocking task failed (the node is stopping).
    #[error("a replication task stopped: {0}")]
    Task(String),
}

/// Why restore protection does not let the committer start.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// Peers hold another history of this node's own log.
    #[error(
        "peers hold a history of this node's own log that differs from its disk (evidence in /v1/admin/evidence); restore the latest backup or ask the city"
    )]
    Forked,
    /// Peers hold more of the own log than could be fetched and verified.
    #[error(
        "peers hold {seen} entries of this node's own log, but only {held} could be fetched and verified before restore_timeout; not signing anything over them: check the log for refused data and restart"
    )]
    Behind {
        /// Entries held now.
        held: u64,
        /// The most a peer holds.
        seen: u64,
    },
}

/// Entries of `origin` held now.
fn target_held(store: &Store, origin: &str) -> u64 {
    store.log_state(origin).ok().flatten().map_or(0, |s| s.size)
}

/// Answers one peer request from the store.
fn answer(store: &Store, shared: &Shared, request: Request) -> Response {
    let result = (|| -> Result<Response, String> {
        Ok(match request {
            Request::Status => {
                let checkpoints = store
                    .log_states()
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .filter(|(_, s)| !s.checkpoint.is_empty())
                    .map(|(_, s)| s.checkpoint)
                    .collect();
                Response::Status {
                    roster_version: shared.roster().roster.version,
                    checkpoints,
                }
            }
            Request::Entries {
                origin,
                from,
                limit,
            } => {
                let mut entries = store
                    .entries(&origin, from, u64::from(limit))
                    .map_err(|e| e.to_string())?;
                // Cut the batch by bytes too, so the answer fits in a message.
                let mut bytes = 0usize;
                let keep = entries
                    .iter()
                    .take_while(|e| {
                        bytes += e.bytes.len() + 80;
                        bytes <= MAX_ANSWER_BYTES
                    })
                    .count()
                    .max(1);
                entries.truncate(keep);
                Response::Entries {
                    origin,
                    from,
                    entries,
                }
            }
            Request::Consistency {
                origin,
                old_size,
                new_size,
            } => {
                let suite = shared.roster().roster.suite;
                let proof =
                    merkle::consistency_proof(old_size, new_size, &store.hashes(&origin, suite))
                        .map_err(|e| e.to_string())?;
                Response::Consistency { proof }
            }
            Request::Roster { have_version } => {
                let r = shared.roster();
                Response::Roster {
                    note: (r.roster.version > have_version).then(|| r.note.clone()),
                }
            }
            Request::Tallies { since } => {
                let since: rongxin_protocol::value::Date = since
                    .parse()
                    .map_err(|e| format!("since is not a date: {e}"))?;
                let mut days: Vec<_> = store
                    .tallies(Some(&shared.member), Some(since), None)
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(|(_, row)| row)
                    .collect();
                days.truncate(rongxin_protocol::tally::MAX_TALLY_ROWS);
                Response::Tallies { days }
            }
            // Answered by the case service (`serve`).
            Request::FileObjection(_) | Request::FileRepair(_) | Request::View => Response::Error {
                message: "filings and views are not answered here".into(),
            },
        })
    })();
    result.unwrap_or_else(|message| Response::Error { message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_repeat_as_one_item_and_stay_bounded() {
        let s = SyncStatus::default();
        s.note_refusal("mawei", "lianjiang", "bad signature".into());
        s.note_refusal("gulou", "gulou", "gap".into());
        s.note_refusal("mawei", "lianjiang", "bad signature".into());
        let r = s.refusals();
        assert_eq!(r.len(), 2);
        // The repeat moved to the front (latest first), counted twice.
        assert_eq!((r[0].peer.as_str(), r[0].count), ("mawei", 2));
        assert!(r[0].first_ms <= r[0].time_ms);
        assert_eq!((r[1].peer.as_str(), r[1].count), ("gulou", 1));
        for i in 0..MAX_REFUSALS + 10 {
            s.note_refusal("mawei", "lianjiang", format!("entry {i} bad"));
        }
        let r = s.refusals();
        assert_eq!(r.len(), MAX_REFUSALS);
        assert_eq!(r[0].reason, format!("entry {} bad", MAX_REFUSALS + 9));
        assert!(r.iter().all(|x| x.peer == "mawei" && x.count == 1));
        // A peer's long error message is cut.
        s.note_refusal("mawei", "lianjiang", "x".repeat(100_000));
        let long = &s.refusals()[0].reason;
        assert_eq!(long.chars().count(), MAX_REFUSAL_REASON_CHARS + 1);
        assert!(long.ends_with('…'));
    }
}
