//! Objections (异议处理) and credit-repair applications (信用修复): filing
//! at any node, routing to the record's origin, registration and decision
//! there (docs/operations.md, "Credit lifecycle"; docs/protocol.md §4.2).
//!
//! The node where a case is filed checks it, gives the filer a receipt and
//! keeps it durably (a `W` row of the store) before answering. The router
//! then sends it to the record's origin over the replication transport,
//! with backoff, until the origin answers that it signed `ObjectionFiled`
//! or `RepairFiled` (or refuses it for good); the origin's answer is
//! idempotent by id, so a filing sent twice (a lost answer, a restart) is
//! registered once. From that entry on, every node holding the origin's
//! log shows the case, and its decision when the origin signs it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use rongxin_protocol::calendar::{CalendarError, china_date};
use rongxin_protocol::entry::{Entry, ObjectionOutcome, Op, RepairOutcome};
use rongxin_protocol::objection::{
    self, CaseReceipt, CaseState, FileObjection, ObjectionFiling, ObjectionState, ObjectionView,
    RecordRef, ResolutionView,
};
use rongxin_protocol::record::{Record, RecordKey};
use rongxin_protocol::repair::{self, FileRepair, RepairFiling, RepairState, RepairView};
use rongxin_protocol::value::{Date, control_character};
use rongxin_protocol::wire::{Request, Response};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::ingest::{CommitError, Job, Outcome, Resolve, now_ms};
use crate::net::NetHandle;
use crate::shared::Shared;
use crate::store::{Durability, Filing, Receipt, Routed, Store, StoreError, WriteBatch};

/// Longest wait between two attempts to route one case.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// First wait after a failed attempt.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// How often the router looks for work when not woken.
const ROUTER_TICK: Duration = Duration::from_secs(1);
/// How long one routing request may take.
const ROUTE_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a request about an objection or a repair application was refused;
/// the HTTP layer maps each to its status in one place.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// The request is malformed (blank statement, bad id, …).
    #[error("{0}")]
    Invalid(String),
    /// The record named does not exist here.
    #[error("{0}")]
    UnknownRecord(String),
    /// The record is revoked, or the seq names an older version.
    #[error("{0}")]
    NotCurrent(String),
    /// The id names another case, or the case is decided.
    #[error("{0}")]
    Conflict(String),
    /// The record may not be repaired (yet): the message says from when.
    #[error("{0}")]
    NotRepairable(String),
    /// No such case here.
    #[error("{0}")]
    NotFound(String),
    /// Only the record's origin decides it.
    #[error("{what} {id} is about a record of {origin}; only {origin} decides it")]
    NotOrigin {
        /// `objection` or `repair application`.
        what: &'static str,
        /// The case.
        id: String,
        /// Its origin.
        origin: String,
    },
    /// A date falls outside the calendar.
    #[error("{0}")]
    Calendar(String),
    /// The commit failed: nothing was acknowledged.
    #[error(transparent)]
    Commit(#[from] CommitError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The objection and repair service of one node.
#[derive(Debug)]
pub struct Cases {
    store: Store,
    shared: Arc<Shared>,
    jobs: mpsc::Sender<Job>,
    net: NetHandle,
    /// Serialises filings: receipt numbers and id checks.
    filing: tokio::sync::Mutex<()>,
    /// Wakes the router after a filing.
    wake: Notify,
    /// Receipts not yet registered by their origins (loaded at start).
    pending: std::sync::Mutex<BTreeSet<String>>,
    /// Per receipt still routed: when to try next, the current backoff,
    /// and the last error.
    routing: std::sync::Mutex<HashMap<String, Attempt>>,
}

#[derive(Debug, Clone)]
struct Attempt {
    next: Instant,
    backoff: Duration,
    error: Option<String>,
}

/// The two kinds of case.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Objection,
    Repair,
}

impl Kind {
    fn what(self) -> &'static str {
        match self {
            Kind::Objection => "objection",
            Kind::Repair => "repair application",
        }
    }
}

/// A record version named by origin and seq, as this node holds it.
struct Named {
    key: RecordKey,
    record: Record,
    /// Whether it may be filed against: current, not revoked.
    current: Result<(), CaseError>,
}

impl Cases {
    /// The service, over the node's store, committer queue and transport.
    pub fn new(
        store: Store,
        shared: Arc<Shared>,
        jobs: mpsc::Sender<Job>,
        net: NetHandle,
    ) -> Result<Cases, StoreError> {
        let pending = store
            .receipts()?
            .into_iter()
            .filter(|r| r.routed == Routed::Pending)
            .map(|r| r.id)
            .collect();
        Ok(Cases {
            store,
            shared,
            jobs,
            net,
            filing: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            pending: std::sync::Mutex::new(pending),
            routing: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Today in Fuzhou (UTC+8).
    pub fn today() -> Date {
        china_date(u64::try_from(now_ms()).unwrap_or(0))
            .or_else(|| Date::new(1970, 1, 1))
            .unwrap_or_else(|| unreachable!("1970-01-01 is a date"))
    }

    /// The due date of a case of `kind` received on `on`, or why there is
    /// none.
    fn due(&self, kind: Kind, on: Date) -> Result<Date, CaseError> {
        let deadlines = self.shared.roster().roster.deadlines;
        let cal = &self.shared.calendar;
        let due: Result<Date, CalendarError> = match kind {
            Kind::Objection => objection::due_date(cal, &deadlines, on),
            Kind::Repair => repair::due_date(cal, &deadlines, on),
        };
        due.map_err(|e| {
            CaseError::Calendar(format!(
                "the due date of {} received on {on} cannot be computed: {e}; the federation's calendar must cover it (docs/calendar.md)",
                match kind {
                    Kind::Objection => "an objection",
                    Kind::Repair => "a repair application",
                }
            ))
        })
    }

    /// Files an objection at this node for the token `filed_by`: checks
    /// it, keeps its receipt durably and wakes the router. Filing the same
    /// objection again (same id and content) answers the same receipt.
    pub async fn file_objection(
        &self,
        req: FileObjection,
        filed_by: &str,
    ) -> Result<CaseReceipt, CaseError> {
        let statement = with_attachments(
            &req.statement,
            "say what is wrong with the record and why",
            &req.attachments,
        )?;
        let filing = Filing::Objection {
            ground: req.ground,
            statement,
        };
        let (origin, seq) = self.locate(&req.record)?;
        let named = self.named(&origin, seq)?;
        self.take(req.id, &origin, seq, named, filing, filed_by)
            .await
    }

    /// The origin and current seq of the record `r` names.
    fn locate(&self, r: &RecordRef) -> Result<(String, u64), CaseError> {
        match r {
            RecordRef::At { origin, seq } => Ok((origin.clone(), *seq)),
            RecordRef::Key { key } => match self.store.record(key)? {
                Some(state) => Ok((state.origin, state.put_seq)),
                None => Err(CaseError::UnknownRecord(format!(
                    "no record {key} at this node"
                ))),
            },
        }
    }

    /// Files a credit-repair application at this node (see
    /// [`Cases::file_objection`]); refused at once when the record may not
    /// be repaired yet, with the first date it may.
    pub async fn file_repair(
        &self,
        req: FileRepair,
        filed_by: &str,
    ) -> Result<CaseReceipt, CaseError> {
        let statement = with_attachments(
            &req.statement,
            "say how the conduct was corrected",
            &req.attachments,
        )?;
        let commitment = one_line(
            "commitment",
            &req.commitment,
            "name the credit commitment: its XYCN record's key or the document's reference",
        )?;
        let (origin, seq) = self.locate(&req.record)?;
        let named = self.named(&origin, seq)?;
        self.repairable(&named.record)
            .map_err(CaseError::NotRepairable)?;
        let filing = Filing::Repair {
            statement,
            commitment,
        };
        self.take(req.id, &origin, seq, named, filing, filed_by)
            .await
    }

    /// Why `record` may not be repaired today, if it may not.
    fn repairable(&self, record: &Record) -> Result<(), String> {
        let Some(kind) = self.shared.catalog.kind(&record.kind) else {
            return Err(format!("kind {} is not in the catalog", record.kind));
        };
        match repair::not_repairable(kind, record.decision_date, Self::today()) {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }

    /// The receipt of a case: an earlier identical one, or a new one kept
    /// durably before the answer.
    async fn take(
        &self,
        id: Option<String>,
        origin: &str,
        seq: u64,
        named: Named,
        filing: Filing,
        filed_by: &str,
    ) -> Result<CaseReceipt, CaseError> {
        if let Some(id) = &id {
            objection::check_id(id).map_err(CaseError::Invalid)?;
        }
        let received_ms = now_ms();
        let received_on = Self::today();
        let kind = match filing {
            Filing::Objection { .. } => Kind::Objection,
            Filing::Repair { .. } => Kind::Repair,
        };
        let due = self.due(kind, received_on)?;
        let _guard = self.filing.lock().await;
        if let Some(id) = &id {
            if let Some(r) = self.store.receipt(id)? {
                if r.origin == origin && r.seq == seq && r.filing == filing {
                    return Ok(self.receipt_answer(&r));
                }
                return Err(CaseError::Conflict(format!(
                    "id {id} was filed here already (receipt {}, {}) with other content; choose another id",
                    r.receipt,
                    r.filing.what()
                )));
            }
            let taken = match &filing {
                Filing::Objection { .. } => self.store.objection(origin, id)?.map(|o| o.filed_seq),
                Filing::Repair { .. } => self.store.repair(origin, id)?.map(|r| r.filed_seq),
            };
            if let Some(at) = taken {
                return Err(CaseError::Conflict(format!(
                    "{} id {id} is already registered by {origin} at seq {at}; choose another id",
                    filing.what()
                )));
            }
        }
        named.current?;
        let day = format!(
            "{:04}{:02}{:02}",
            received_on.year(),
            received_on.month(),
            received_on.day()
        );
        let n = self.store.receipt_counter(&day)? + 1;
        let number = format!("{}-{day}-{n:04}", self.shared.member);
        let receipt = Receipt {
            id: id.unwrap_or_else(|| number.clone()),
            receipt: number,
            origin: origin.to_owned(),
            key: named.key,
            seq,
            filing,
            filed_by: filed_by.to_owned(),
            received_on,
            received_ms,
            due,
            routed: Routed::Pending,
        };
        let mut batch = WriteBatch::default();
        batch.put_receipt(&receipt);
        batch.put_receipt_counter(&day, n);
        self.store.commit(batch, Durability::Durable).await?;
        tracing::info!(id = %receipt.id, receipt = %receipt.receipt, what = receipt.filing.what(), origin = %receipt.origin, record = %receipt.key, "received");
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(receipt.id.clone());
        self.wake.notify_one();
        Ok(self.receipt_answer(&receipt))
    }

    fn receipt_answer(&self, r: &Receipt) -> CaseReceipt {
        let registered = match r.filing {
            Filing::Objection { .. } => self
                .store
                .objection(&r.origin, &r.id)
                .ok()
                .flatten()
                .map(|o| o.state()),
            Filing::Repair { .. } => self
                .store
                .repair(&r.origin, &r.id)
                .ok()
                .flatten()
                .map(|a| a.state()),
        };
        CaseReceipt {
            id: r.id.clone(),
            receipt: r.receipt.clone(),
            state: registered.unwrap_or(match r.routed {
                Routed::Refused(_) => CaseState::Refused,
                Routed::Registered(_) => CaseState::Open,
                Routed::Pending => CaseState::Received,
            }),
            origin: r.origin.clone(),
            due: r.due,
        }
    }

    /// The record version `origin/seq` as this node holds it.
    fn named(&self, origin: &str, seq: u64) -> Result<Named, CaseError> {
        if self.shared.roster().roster.member(origin).is_none() {
            return Err(CaseError::UnknownRecord(format!(
                "record.origin '{origin}' is not a member of the federation"
            )));
        }
        let Some(signed) = self.store.entry(origin, seq)? else {
            return Err(CaseError::UnknownRecord(format!(
                "no entry {origin}/{seq} at this node: name a record by its origin and the seq of its current version, as a profile shows them"
            )));
        };
        let record = match Entry::decode(&signed.bytes) {
            Ok(Entry {
                op: Op::Put(record),
                ..
            }) => record,
            _ => {
                return Err(CaseError::UnknownRecord(format!(
                    "entry {origin}/{seq} is not a record version (it revokes, or registers a case): name the record's own entry"
                )));
            }
        };
        let key = record.key();
        let Some(state) = self.store.record(&key)? else {
            return Err(CaseError::UnknownRecord(format!(
                "no record {key} at this node"
            )));
        };
        let current = if let Some(r) = state.revoked {
            Err(CaseError::NotCurrent(format!(
                "record {key} was revoked at {origin}/{}; it is no longer published",
                r.seq
            )))
        } else if state.put_seq != seq {
            Err(CaseError::NotCurrent(format!(
                "{origin}/{seq} is not the current version of record {key}: its current version is {origin}/{}; name that one",
                state.put_seq
            )))
        } else {
            Ok(())
        };
        Ok(Named {
            key,
            record,
            current,
        })
    }

    /// Runs the router until cancelled: sends every receipt not yet
    /// registered to its origin, with backoff per receipt.
    pub async fn route(self: Arc<Self>, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(ROUTER_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
                _ = self.wake.notified() => {}
            }
            let now = Instant::now();
            let due: Vec<String> = {
                let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                let routing = self.routing.lock().unwrap_or_else(|p| p.into_inner());
                pending
                    .iter()
                    .filter(|id| routing.get(*id).is_none_or(|a| a.next <= now))
                    .cloned()
                    .collect()
            };
            for id in due {
                if cancel.is_cancelled() {
                    return;
                }
                match self.store.receipt(&id) {
                    Ok(Some(r)) if r.routed == Routed::Pending => self.route_one(r).await,
                    Ok(_) => self.settled(&id),
                    Err(e) => tracing::error!(%id, error = %e, "cannot read a receipt"),
                }
            }
        }
    }

    fn settled(&self, id: &str) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        self.routing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    async fn route_one(&self, r: Receipt) {
        let me = self.shared.member.clone();
        let local = r.origin == me;
        let answer = match &r.filing {
            Filing::Objection { ground, statement } => {
                let f = ObjectionFiling {
                    id: r.id.clone(),
                    key: r.key.clone(),
                    seq: r.seq,
                    ground: *ground,
                    statement: statement.clone(),
                    received_by: me,
                    received_on: r.received_on,
                };
                if local {
                    self.register_objection(f).await
                } else {
                    self.send(&r.origin, Request::FileObjection(f)).await
                }
            }
            Filing::Repair {
                statement,
                commitment,
            } => {
                let f = RepairFiling {
                    id: r.id.clone(),
                    key: r.key.clone(),
                    seq: r.seq,
                    statement: statement.clone(),
                    commitment: commitment.clone(),
                    received_by: me,
                    received_on: r.received_on,
                };
                if local {
                    self.register_repair(f).await
                } else {
                    self.send(&r.origin, Request::FileRepair(f)).await
                }
            }
        };
        let routed = match answer {
            Response::Registered { seq } => Routed::Registered(seq),
            Response::NotRegistered { reason } => Routed::Refused(reason),
            Response::Error { message } => return self.failed(&r, message),
            other => return self.failed(&r, format!("unexpected answer {other:?}")),
        };
        let mut updated = r.clone();
        updated.routed = routed.clone();
        let mut batch = WriteBatch::default();
        batch.put_receipt(&updated);
        match self.store.commit(batch, Durability::Durable).await {
            Ok(()) => {
                self.settled(&r.id);
                match routed {
                    Routed::Registered(seq) => {
                        tracing::info!(id = %r.id, what = r.filing.what(), origin = %r.origin, seq, "registered by its origin")
                    }
                    Routed::Refused(why) => {
                        tracing::warn!(id = %r.id, what = r.filing.what(), origin = %r.origin, reason = %why, "refused by its origin")
                    }
                    Routed::Pending => {}
                }
            }
            // Sent again later: the origin answers the same.
            Err(e) => self.failed(&r, format!("cannot record the origin's answer: {e}")),
        }
    }

    fn failed(&self, r: &Receipt, error: String) {
        let mut routing = self.routing.lock().unwrap_or_else(|p| p.into_inner());
        let a = routing.entry(r.id.clone()).or_insert(Attempt {
            next: Instant::now(),
            backoff: FIRST_BACKOFF / 2,
            error: None,
        });
        a.backoff = (a.backoff * 2).min(MAX_BACKOFF);
        a.next = Instant::now() + a.backoff;
        tracing::debug!(id = %r.id, origin = %r.origin, error = %error, retry_in = ?a.backoff, "not routed yet");
        a.error = Some(error);
    }

    /// Sends a filing to the origin's node, dialling it at its roster
    /// addresses when not connected.
    async fn send(&self, origin: &str, request: Request) -> Response {
        let roster = self.shared.roster();
        let Some(m) = roster.roster.member(origin) else {
            return Response::Error {
                message: format!("{origin} is not in the roster in force"),
            };
        };
        let Ok(peer) = m.peer_id.parse::<PeerId>() else {
            return Response::Error {
                message: format!("{origin}'s peer id in the roster does not parse"),
            };
        };
        let addrs = m.listen.iter().filter_map(|a| a.parse().ok()).collect();
        drop(roster);
        match tokio::time::timeout(ROUTE_TIMEOUT, self.net.reach(peer, addrs, request)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Response::Error {
                message: format!("{origin}: {e}"),
            },
            Err(_) => Response::Error {
                message: format!("{origin} did not answer in {ROUTE_TIMEOUT:?}"),
            },
        }
    }

    /// Answers a filing routed here by `peer` (the transport proved its
    /// identity): checks that it comes from the node it names, then
    /// registers it.
    pub async fn receive(&self, peer: PeerId, request: Request) -> Response {
        let received_by = match &request {
            Request::FileObjection(f) => &f.received_by,
            Request::FileRepair(f) => &f.received_by,
            _ => {
                return Response::Error {
                    message: "not a filing".into(),
                };
            }
        };
        let sender = self
            .shared
            .roster()
            .roster
            .members
            .iter()
            .find(|m| m.peer_id == peer.to_base58())
            .map(|m| m.id.clone());
        if sender.as_deref() != Some(received_by.as_str()) {
            return Response::NotRegistered {
                reason: format!(
                    "the filing says it was received by {received_by}, but it was sent by {}",
                    sender.unwrap_or_else(|| format!("peer {peer}"))
                ),
            };
        }
        match request {
            Request::FileObjection(f) => self.register_objection(f).await,
            Request::FileRepair(f) => self.register_repair(f).await,
            _ => unreachable!("matched above"),
        }
    }

    /// The checks of a routed filing common to both kinds: its id, texts
    /// and received date; answers the refusal, if any.
    fn check_routed(&self, id: &str, texts: &[&str], received_on: Date) -> Option<Response> {
        let refused = |reason: String| Some(Response::NotRegistered { reason });
        if let Err(e) = objection::check_id(id) {
            return refused(e);
        }
        if texts
            .iter()
            .any(|t| t.trim().is_empty() || t.chars().count() > objection::MAX_STATEMENT_CHARS)
        {
            return refused(format!(
                "a statement is blank or longer than {} characters",
                objection::MAX_STATEMENT_CHARS
            ));
        }
        let today = Self::today();
        if received_on > today.add(0, 0, 1).unwrap_or(today) {
            return refused(format!(
                "received_on {received_on} is after today ({today}) at {}",
                self.shared.member
            ));
        }
        None
    }

    /// Signs `ObjectionFiled` for a filing of one of this node's records.
    async fn register_objection(&self, filing: ObjectionFiling) -> Response {
        if let Some(r) = self.check_routed(&filing.id, &[&filing.statement], filing.received_on) {
            return r;
        }
        let due = match self.due(Kind::Objection, filing.received_on) {
            Ok(d) => d,
            Err(e) => {
                return Response::NotRegistered {
                    reason: e.to_string(),
                };
            }
        };
        let (reply, rx) = oneshot::channel();
        self.commit_filing(Job::FileObjection { filing, due, reply }, rx)
            .await
    }

    /// Signs `RepairFiled` for an application about one of this node's
    /// records, once the record may be repaired.
    async fn register_repair(&self, filing: RepairFiling) -> Response {
        if let Some(r) = self.check_routed(
            &filing.id,
            &[&filing.statement, &filing.commitment],
            filing.received_on,
        ) {
            return r;
        }
        let refused = |reason: String| Response::NotRegistered { reason };
        // The rules of repair need the record itself (kind, decision date).
        match self.store.record(&filing.key) {
            Ok(Some(state)) if state.origin == self.shared.member => {
                let record = match self.store.entry(&state.origin, state.put_seq) {
                    Ok(Some(signed)) => match Entry::decode(&signed.bytes) {
                        Ok(Entry { op: Op::Put(r), .. }) => r,
                        _ => return refused(format!("record {} is not readable", filing.key)),
                    },
                    Ok(None) => return refused(format!("record {} is not readable", filing.key)),
                    Err(e) => {
                        return Response::Error {
                            message: e.to_string(),
                        };
                    }
                };
                if let Err(why) = self.repairable(&record) {
                    return refused(why);
                }
            }
            // The committer names what is wrong (unknown, not ours).
            Ok(_) => {}
            Err(e) => {
                return Response::Error {
                    message: e.to_string(),
                };
            }
        }
        let due = match self.due(Kind::Repair, filing.received_on) {
            Ok(d) => d,
            Err(e) => return refused(e.to_string()),
        };
        let (reply, rx) = oneshot::channel();
        self.commit_filing(Job::FileRepair { filing, due, reply }, rx)
            .await
    }

    async fn commit_filing(
        &self,
        job: Job,
        rx: oneshot::Receiver<Result<Outcome, CommitError>>,
    ) -> Response {
        let stopping = || Response::Error {
            message: "the node is stopping".into(),
        };
        if self.jobs.send(job).await.is_err() {
            return stopping();
        }
        match rx.await {
            Ok(Ok(Outcome::Accepted { seq } | Outcome::Duplicate { seq })) => {
                Response::Registered { seq }
            }
            Ok(Ok(Outcome::Rejected(why))) => Response::NotRegistered {
                reason: why.to_string(),
            },
            Ok(Err(e)) => Response::Error {
                message: e.to_string(),
            },
            Err(_) => stopping(),
        }
    }

    /// Where the case `id` of `kind` is decided when not here: its
    /// origin's name as the indexes or a receipt know it.
    fn elsewhere(&self, kind: Kind, id: &str) -> Result<CaseError, CaseError> {
        let me = &self.shared.member;
        let what = kind.what();
        let origin = match kind {
            Kind::Objection => self.store.objection_any(id)?.map(|o| o.origin),
            Kind::Repair => self
                .store
                .repairs(None)?
                .into_iter()
                .find(|r| r.id == id)
                .map(|r| r.origin),
        }
        .or_else(|| {
            self.store
                .receipt(id)
                .ok()
                .flatten()
                .map(|r| r.origin)
                .filter(|o| o != me)
        });
        Ok(match origin {
            Some(origin) if origin != *me => CaseError::NotOrigin {
                what,
                id: id.to_owned(),
                origin,
            },
            _ => CaseError::NotFound(format!("no {what} {id} registered in {me}'s log")),
        })
    }

    /// Resolves an objection of this node's log.
    pub async fn resolve(&self, resolve: Resolve) -> Result<(u64, Option<u64>), CaseError> {
        let me = &self.shared.member;
        let id = resolve.id.clone();
        match self.store.objection(me, &id)? {
            Some(o) => {
                if let Some(r) = &o.resolution {
                    return Err(CaseError::Conflict(format!(
                        "objection {id} was already resolved ({}) at {me}/{}",
                        match r.outcome {
                            ObjectionOutcome::Upheld => "upheld",
                            ObjectionOutcome::Rejected => "rejected",
                        },
                        r.seq
                    )));
                }
            }
            None => return Err(self.elsewhere(Kind::Objection, &id)?),
        }
        free_text("explanation", &resolve.explanation, "say why")?;
        if resolve.outcome == ObjectionOutcome::Rejected
            && (resolve.correction.is_some() || resolve.revoke)
        {
            return Err(CaseError::Invalid(
                "a rejected objection leaves the record as it is: send no correction and no revoke"
                    .into(),
            ));
        }
        if resolve.correction.is_some() && resolve.revoke {
            return Err(CaseError::Invalid(
                "an upheld objection either corrects the record or revokes it, not both".into(),
            ));
        }
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::ResolveObjection { resolve, reply })
            .await
            .map_err(|_| CommitError::Stopping)?;
        decided(rx.await.map_err(|_| CommitError::Stopping)??)
    }

    /// Decides a repair application of this node's log.
    pub async fn decide(
        &self,
        id: &str,
        outcome: RepairOutcome,
        explanation: &str,
    ) -> Result<(u64, Option<u64>), CaseError> {
        let me = &self.shared.member;
        match self.store.repair(me, id)? {
            Some(a) => {
                if let Some(d) = &a.decision {
                    return Err(CaseError::Conflict(format!(
                        "repair application {id} was already decided ({}) at {me}/{}",
                        match d.outcome {
                            RepairOutcome::Granted => "granted",
                            RepairOutcome::Rejected => "rejected",
                        },
                        d.seq
                    )));
                }
            }
            None => return Err(self.elsewhere(Kind::Repair, id)?),
        }
        free_text("explanation", explanation, "say why")?;
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::DecideRepair {
                id: id.to_owned(),
                outcome,
                explanation: explanation.trim().to_owned(),
                reply,
            })
            .await
            .map_err(|_| CommitError::Stopping)?;
        decided(rx.await.map_err(|_| CommitError::Stopping)??)
    }

    fn routing_error(&self, id: &str) -> Option<String> {
        self.routing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .and_then(|a| a.error.clone())
    }

    /// The state a receipt shows before its origin's entry is held here.
    fn receipt_state(
        &self,
        r: &Receipt,
        today: Date,
    ) -> (CaseState, bool, Option<u64>, Option<String>) {
        let (state, filed_seq, routing) = match &r.routed {
            Routed::Pending => (CaseState::Received, None, self.routing_error(&r.id)),
            // Registered by the origin, not yet replicated here.
            Routed::Registered(seq) => (CaseState::Open, Some(*seq), None),
            Routed::Refused(why) => (CaseState::Refused, None, Some(why.clone())),
        };
        let overdue = matches!(state, CaseState::Received | CaseState::Open) && today > r.due;
        (state, overdue, filed_seq, routing)
    }

    /// One objection by id: from the index of the logs held, or this
    /// node's receipt while its origin's entry is not held here.
    pub fn view(&self, id: &str) -> Result<Option<ObjectionView>, CaseError> {
        let receipt = self
            .store
            .receipt(id)?
            .filter(|r| matches!(r.filing, Filing::Objection { .. }));
        let state = match &receipt {
            Some(r) => self.store.objection(&r.origin, id)?,
            None => self.store.objection_any(id)?,
        };
        let today = Self::today();
        Ok(match (state, receipt) {
            (Some(o), r) => Some(objection_view(&o, r.as_ref(), today)),
            (None, Some(r)) => self.objection_receipt_view(&r, today),
            (None, None) => None,
        })
    }

    /// Every objection this node knows, in `state` (`open`, `overdue`,
    /// `received`, `upheld`, `rejected`, `refused`; all when `None`), of
    /// `origin` and of `authority` when given, oldest due date first.
    pub fn list(
        &self,
        state: Option<&str>,
        origin: Option<&str>,
        authority: Option<&str>,
    ) -> Result<Vec<ObjectionView>, CaseError> {
        let today = Self::today();
        let receipts = self.receipts_by_id()?;
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for o in self.store.objections(origin)? {
            let r = receipts
                .get(&o.id)
                .filter(|r| r.origin == o.origin && matches!(r.filing, Filing::Objection { .. }));
            seen.insert(o.id.clone());
            out.push(objection_view(&o, r, today));
        }
        for r in receipts.values() {
            if !seen.contains(&r.id) && origin.is_none_or(|o| o == r.origin) {
                out.extend(self.objection_receipt_view(r, today));
            }
        }
        out.retain(|v| {
            keep(state, v.state, v.overdue) && authority.is_none_or(|a| v.authority == a)
        });
        out.sort_by(|a, b| (a.due, &a.origin, &a.id).cmp(&(b.due, &b.origin, &b.id)));
        Ok(out)
    }

    fn receipts_by_id(&self) -> Result<HashMap<String, Receipt>, CaseError> {
        Ok(self
            .store
            .receipts()?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect())
    }

    fn objection_receipt_view(&self, r: &Receipt, today: Date) -> Option<ObjectionView> {
        let Filing::Objection { ground, statement } = &r.filing else {
            return None;
        };
        let (state, overdue, filed_seq, routing) = self.receipt_state(r, today);
        Some(ObjectionView {
            id: r.id.clone(),
            state,
            overdue,
            origin: r.origin.clone(),
            key: r.key.clone(),
            authority: r.key.authority_code.clone(),
            ground: *ground,
            statement: statement.clone(),
            received_by: self.shared.member.clone(),
            received_on: r.received_on,
            due: r.due,
            receipt: Some(r.receipt.clone()),
            filed_seq,
            resolution: None,
            routing,
        })
    }

    /// One repair application by id (see [`Cases::view`]).
    pub fn repair_view(&self, id: &str) -> Result<Option<RepairView>, CaseError> {
        let receipt = self
            .store
            .receipt(id)?
            .filter(|r| matches!(r.filing, Filing::Repair { .. }));
        let state = match &receipt {
            Some(r) => self.store.repair(&r.origin, id)?,
            None => self.store.repairs(None)?.into_iter().find(|a| a.id == id),
        };
        let today = Self::today();
        Ok(match (state, receipt) {
            (Some(a), r) => Some(repair_view(&a, r.as_ref(), today)),
            (None, Some(r)) => self.repair_receipt_view(&r, today),
            (None, None) => None,
        })
    }

    /// Every repair application this node knows (see [`Cases::list`];
    /// states `received`, `open`, `overdue`, `granted`, `rejected`,
    /// `refused`).
    pub fn repair_list(
        &self,
        state: Option<&str>,
        origin: Option<&str>,
        authority: Option<&str>,
    ) -> Result<Vec<RepairView>, CaseError> {
        let today = Self::today();
        let receipts = self.receipts_by_id()?;
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for a in self.store.repairs(origin)? {
            let r = receipts
                .get(&a.id)
                .filter(|r| r.origin == a.origin && matches!(r.filing, Filing::Repair { .. }));
            seen.insert(a.id.clone());
            out.push(repair_view(&a, r, today));
        }
        for r in receipts.values() {
            if !seen.contains(&r.id) && origin.is_none_or(|o| o == r.origin) {
                out.extend(self.repair_receipt_view(r, today));
            }
        }
        out.retain(|v| {
            keep(state, v.state, v.overdue) && authority.is_none_or(|a| v.authority == a)
        });
        out.sort_by(|a, b| (a.due, &a.origin, &a.id).cmp(&(b.due, &b.origin, &b.id)));
        Ok(out)
    }

    fn repair_receipt_view(&self, r: &Receipt, today: Date) -> Option<RepairView> {
        let Filing::Repair {
            statement,
            commitment,
        } = &r.filing
        else {
            return None;
        };
        let (state, overdue, filed_seq, routing) = self.receipt_state(r, today);
        Some(RepairView {
            id: r.id.clone(),
            state,
            overdue,
            origin: r.origin.clone(),
            key: r.key.clone(),
            authority: r.key.authority_code.clone(),
            statement: statement.clone(),
            commitment: commitment.clone(),
            received_by: self.shared.member.clone(),
            received_on: r.received_on,
            due: r.due,
            receipt: Some(r.receipt.clone()),
            filed_seq,
            decision: None,
            routing,
        })
    }

    /// Per origin: objections open and overdue, repair applications open
    /// and overdue (for `/metrics`).
    pub fn counts(&self) -> Result<Vec<(String, [u64; 4])>, CaseError> {
        let today = Self::today();
        let mut by: std::collections::BTreeMap<String, [u64; 4]> = Default::default();
        for o in self.store.objections(None)? {
            let c = by.entry(o.origin.clone()).or_default();
            if o.resolution.is_none() {
                c[0] += 1;
                c[1] += u64::from(o.overdue(today));
            }
        }
        for a in self.store.repairs(None)? {
            let c = by.entry(a.origin.clone()).or_default();
            if a.decision.is_none() {
                c[2] += 1;
                c[3] += u64::from(a.overdue(today));
            }
        }
        Ok(by.into_iter().collect())
    }
}

/// Whether a case in `state` (`overdue` past its due date) is listed under
/// the filter `wanted`.
fn keep(wanted: Option<&str>, state: CaseState, overdue: bool) -> bool {
    match wanted {
        None | Some("all") => true,
        Some("overdue") => overdue,
        Some(s) => state.as_str() == s,
    }
}

/// The seqs of a signed decision, or why it was refused.
fn decided(answer: (Outcome, Option<u64>)) -> Result<(u64, Option<u64>), CaseError> {
    match answer {
        (Outcome::Accepted { seq }, other) => Ok((seq, other)),
        (Outcome::Duplicate { seq }, _) => Err(CaseError::Conflict(format!(
            "the correction is identical to the record's version at seq {seq}"
        ))),
        (Outcome::Rejected(why), _) => Err(CaseError::Conflict(why.to_string())),
    }
}

fn objection_view(o: &ObjectionState, r: Option<&Receipt>, today: Date) -> ObjectionView {
    ObjectionView {
        id: o.id.clone(),
        state: o.state(),
        overdue: o.overdue(today),
        origin: o.origin.clone(),
        key: o.key.clone(),
        authority: o.key.authority_code.clone(),
        ground: o.ground,
        statement: o.statement.clone(),
        received_by: o.received_by.clone(),
        received_on: o.received_on,
        due: o.due,
        receipt: r.map(|r| r.receipt.clone()),
        filed_seq: Some(o.filed_seq),
        resolution: o.resolution.as_ref().map(ResolutionView::from),
        routing: None,
    }
}

fn repair_view(a: &RepairState, r: Option<&Receipt>, today: Date) -> RepairView {
    RepairView {
        id: a.id.clone(),
        state: a.state(),
        overdue: a.overdue(today),
        origin: a.origin.clone(),
        key: a.key.clone(),
        authority: a.key.authority_code.clone(),
        statement: a.statement.clone(),
        commitment: a.commitment.clone(),
        received_by: a.received_by.clone(),
        received_on: a.received_on,
        due: a.due,
        receipt: r.map(|r| r.receipt.clone()),
        filed_seq: Some(a.filed_seq),
        decision: a.decision.clone(),
        routing: None,
    }
}

/// A free text (statement, explanation): not blank (else `hint` says what
/// to write), no control character but line breaks and tabs, at most the
/// entry's text limit.
fn free_text(what: &str, text: &str, hint: &str) -> Result<String, CaseError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(CaseError::Invalid(format!("{what} is blank: {hint}")));
    }
    if let Some((at, c)) = control_character(t, true) {
        return Err(CaseError::Invalid(format!(
            "{what} holds the control character U+{:04X} at character {at}",
            u32::from(c)
        )));
    }
    if t.chars().count() > objection::MAX_STATEMENT_CHARS {
        return Err(CaseError::Invalid(format!(
            "{what} has {} characters; at most {}",
            t.chars().count(),
            objection::MAX_STATEMENT_CHARS
        )));
    }
    Ok(t.to_owned())
}

/// A reference on one line (the credit commitment).
fn one_line(what: &str, text: &str, hint: &str) -> Result<String, CaseError> {
    let t = free_text(what, text, hint)?;
    if t.contains(['\n', '\r', '\t']) {
        return Err(CaseError::Invalid(format!(
            "{what} is a reference on one line (the commitment record's key or document number)"
        )));
    }
    Ok(t)
}

/// The statement as signed: the filer's text, trimmed, with the
/// attachments' digests on lines of their own, so the origin signs them.
fn with_attachments(text: &str, hint: &str, attachments: &[String]) -> Result<String, CaseError> {
    let what = "statement";
    let mut out = free_text(what, text, hint)?;
    if attachments.len() > objection::MAX_ATTACHMENTS {
        return Err(CaseError::Invalid(format!(
            "{} attachments; at most {} digests",
            attachments.len(),
            objection::MAX_ATTACHMENTS
        )));
    }
    for a in attachments {
        let ok = a.split_once(':').is_some_and(|(alg, hex)| {
            !alg.is_empty()
                && alg.len() <= 16
                && alg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && (16..=128).contains(&hex.len())
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
        });
        if !ok {
            return Err(CaseError::Invalid(format!(
                "attachment '{}' is not a digest such as sha256:<hex>",
                a.chars().take(80).collect::<String>()
            )));
        }
        out.push_str("\n附件 attachment: ");
        out.push_str(a);
    }
    if out.chars().count() > objection::MAX_STATEMENT_CHARS {
        return Err(CaseError::Invalid(format!(
            "{what} and attachments take {} characters; at most {}",
            out.chars().count(),
            objection::MAX_STATEMENT_CHARS
        )));
    }
    Ok(out)
}
