//! Objections (异议处理): filing at any node, routing to the record's
//! origin, registration and resolution there (docs/operations.md, "Credit
//! lifecycle"; docs/protocol.md §4.2).
//!
//! The node where an objection is filed checks it, gives the filer a
//! receipt and keeps it durably (a `W` row of the store) before answering.
//! The router then sends it to the record's origin over the replication
//! transport, with backoff, until the origin answers that it signed
//! `ObjectionFiled` (or refuses it for good); the origin's answer is
//! idempotent by objection id, so a filing sent twice (a lost answer, a
//! restart) is registered once. From the `ObjectionFiled` entry on, every
//! node holding the origin's log shows the record as under objection.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use rongxin_protocol::calendar::{Calendar, china_date};
use rongxin_protocol::entry::{Entry, ObjectionOutcome, Op};
use rongxin_protocol::objection::{
    self, FileObjection, ObjectionFiling, ObjectionReceipt, ObjectionState, ObjectionStateName,
    ObjectionView, ResolutionView,
};
use rongxin_protocol::value::{Date, control_character};
use rongxin_protocol::wire::{Request, Response};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::ingest::{CommitError, Job, Outcome, Resolve, now_ms};
use crate::net::NetHandle;
use crate::shared::Shared;
use crate::store::{Durability, Receipt, Routed, Store, StoreError, WriteBatch};

/// Longest wait between two attempts to route one objection.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// First wait after a failed attempt.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// How often the router looks for work when not woken.
const ROUTER_TICK: Duration = Duration::from_secs(1);
/// How long one routing request may take.
const ROUTE_TIMEOUT: Duration = Duration::from_secs(15);

/// Why an objection request was refused; the HTTP layer maps each to its
/// status in one place (`http/objections.rs`).
#[derive(Debug, thiserror::Error)]
pub enum ObjectionError {
    /// The request is malformed (blank statement, bad id, …).
    #[error("{0}")]
    Invalid(String),
    /// The record named does not exist here.
    #[error("{0}")]
    UnknownRecord(String),
    /// The record is revoked, or the seq names an older version.
    #[error("{0}")]
    NotCurrent(String),
    /// The id names another objection, or the objection is resolved.
    #[error("{0}")]
    Conflict(String),
    /// No such objection here.
    #[error("{0}")]
    NotFound(String),
    /// Only the record's origin resolves it.
    #[error("objection {id} is about a record of {origin}; only {origin} resolves it")]
    NotOrigin {
        /// The objection.
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

/// The objection service of one node.
#[derive(Debug)]
pub struct Objections {
    store: Store,
    shared: Arc<Shared>,
    calendar: Calendar,
    jobs: mpsc::Sender<Job>,
    net: NetHandle,
    /// Serialises filings: receipt numbers and id checks.
    filing: tokio::sync::Mutex<()>,
    /// Wakes the router after a filing.
    wake: Notify,
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

impl Objections {
    /// The service, over the node's store, committer queue and transport.
    pub fn new(
        store: Store,
        shared: Arc<Shared>,
        calendar: Calendar,
        jobs: mpsc::Sender<Job>,
        net: NetHandle,
    ) -> Objections {
        Objections {
            store,
            shared,
            calendar,
            jobs,
            net,
            filing: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            routing: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Today in Fuzhou.
    pub fn today() -> Date {
        china_date(u64::try_from(now_ms()).unwrap_or(0)).unwrap_or_else(|| {
            // Unreachable for any clock after 1970.
            Date::new(1970, 1, 1).unwrap_or_else(|| unreachable!())
        })
    }

    /// The due date of an objection received on `on`, or why there is none.
    fn due(&self, on: Date) -> Result<Date, ObjectionError> {
        let deadlines = self.shared.roster().roster.deadlines;
        objection::due_date(&self.calendar, &deadlines, on).map_err(|e| {
            ObjectionError::Calendar(format!(
                "the due date of an objection received on {on} cannot be computed: {e}; the federation's calendar must cover it (docs/calendar.md)"
            ))
        })
    }

    /// Files an objection at this node for the token `filed_by`: checks
    /// it, keeps its receipt durably and wakes the router. Filing the same
    /// objection again (same id and content) answers the same receipt.
    pub async fn file(
        &self,
        req: FileObjection,
        filed_by: &str,
    ) -> Result<ObjectionReceipt, ObjectionError> {
        let statement = statement_of(&req)?;
        if let Some(id) = &req.id {
            objection::check_id(id).map_err(ObjectionError::Invalid)?;
        }
        let origin = req.record.origin.clone();
        if self.shared.roster().roster.member(&origin).is_none() {
            return Err(ObjectionError::UnknownRecord(format!(
                "record.origin '{origin}' is not a member of the federation"
            )));
        }
        let (key, current) = self.current_record(&origin, req.record.seq)?;
        let received_ms = now_ms();
        let received_on = Self::today();
        let due = self.due(received_on)?;
        let _guard = self.filing.lock().await;
        if let Some(id) = &req.id
            && let Some(r) = self.store.receipt(id)?
        {
            let same = r.origin == origin
                && r.seq == req.record.seq
                && r.ground == req.ground
                && r.statement == statement;
            if !same {
                return Err(ObjectionError::Conflict(format!(
                    "objection id {id} was filed here already (receipt {}) with other content; choose another id",
                    r.receipt
                )));
            }
            return Ok(self.receipt_answer(&r));
        }
        if let Some(id) = &req.id
            && let Some(o) = self.store.objection(&origin, id)?
        {
            return Err(ObjectionError::Conflict(format!(
                "objection id {id} is already registered by {origin} (filed at {}, seq {}); choose another id",
                o.received_by, o.filed_seq
            )));
        }
        if let Err(why) = current {
            return Err(why);
        }
        let day = format!(
            "{:04}{:02}{:02}",
            received_on.year(),
            received_on.month(),
            received_on.day()
        );
        let n = self.store.receipt_counter(&day)? + 1;
        let number = format!("{}-{day}-{n:04}", self.shared.member);
        let receipt = Receipt {
            id: req.id.clone().unwrap_or_else(|| number.clone()),
            receipt: number,
            origin,
            key,
            seq: req.record.seq,
            ground: req.ground,
            statement,
            attachments: req.attachments,
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
        tracing::info!(id = %receipt.id, receipt = %receipt.receipt, origin = %receipt.origin, record = %receipt.key, "objection received");
        self.wake.notify_one();
        Ok(self.receipt_answer(&receipt))
    }

    fn receipt_answer(&self, r: &Receipt) -> ObjectionReceipt {
        let state = match self.store.objection(&r.origin, &r.id) {
            Ok(Some(o)) => o.state(),
            _ => match r.routed {
                Routed::Refused(_) => ObjectionStateName::Refused,
                _ => ObjectionStateName::Received,
            },
        };
        ObjectionReceipt {
            id: r.id.clone(),
            receipt: r.receipt.clone(),
            state,
            origin: r.origin.clone(),
            due: r.due,
        }
    }

    /// The key of the record `origin/seq` if that entry put it; the inner
    /// result says whether it is current (not revoked, not superseded).
    #[allow(clippy::type_complexity)]
    fn current_record(
        &self,
        origin: &str,
        seq: u64,
    ) -> Result<
        (
            rongxin_protocol::record::RecordKey,
            Result<(), ObjectionError>,
        ),
        ObjectionError,
    > {
        let Some(signed) = self.store.entry(origin, seq)? else {
            return Err(ObjectionError::UnknownRecord(format!(
                "no entry {origin}/{seq} at this node: name a record by its origin and the seq of its current version, as a profile shows them"
            )));
        };
        let key = match Entry::decode(&signed.bytes) {
            Ok(Entry {
                op: Op::Put(record),
                ..
            }) => record.key(),
            _ => {
                return Err(ObjectionError::UnknownRecord(format!(
                    "entry {origin}/{seq} is not a record version (it revokes, or registers an objection): name the record's own entry"
                )));
            }
        };
        let Some(state) = self.store.record(&key)? else {
            return Err(ObjectionError::UnknownRecord(format!(
                "no record {key} at this node"
            )));
        };
        let current = if let Some(r) = state.revoked {
            Err(ObjectionError::NotCurrent(format!(
                "record {key} was revoked at {origin}/{}; it is no longer published",
                r.seq
            )))
        } else if state.put_seq != seq {
            Err(ObjectionError::NotCurrent(format!(
                "{origin}/{seq} is not the current version of record {key}: its current version is {origin}/{}; object to that one",
                state.put_seq
            )))
        } else {
            Ok(())
        };
        Ok((key, current))
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
            let pending = match self.store.receipts() {
                Ok(r) => r
                    .into_iter()
                    .filter(|r| r.routed == Routed::Pending)
                    .collect::<Vec<_>>(),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the objection receipts");
                    continue;
                }
            };
            for r in pending {
                if cancel.is_cancelled() {
                    return;
                }
                let due = self
                    .routing
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&r.id)
                    .is_none_or(|a| a.next <= Instant::now());
                if due {
                    self.route_one(r).await;
                }
            }
        }
    }

    async fn route_one(&self, r: Receipt) {
        let filing = ObjectionFiling {
            id: r.id.clone(),
            key: r.key.clone(),
            seq: r.seq,
            ground: r.ground,
            statement: r.statement.clone(),
            received_by: self.shared.member.clone(),
            received_on: r.received_on,
        };
        let answer = if r.origin == self.shared.member {
            self.register(filing).await
        } else {
            self.send(&r.origin, filing).await
        };
        let routed = match answer {
            Response::ObjectionFiled { seq } => Routed::Registered(seq),
            Response::ObjectionRefused { reason } => Routed::Refused(reason),
            Response::Error { message } => return self.failed(&r, message),
            other => return self.failed(&r, format!("unexpected answer {other:?}")),
        };
        let mut updated = r.clone();
        updated.routed = routed.clone();
        let mut batch = WriteBatch::default();
        batch.put_receipt(&updated);
        match self.store.commit(batch, Durability::Durable).await {
            Ok(()) => {
                self.routing
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&r.id);
                match routed {
                    Routed::Registered(seq) => {
                        tracing::info!(id = %r.id, origin = %r.origin, seq, "objection registered by its origin")
                    }
                    Routed::Refused(why) => {
                        tracing::warn!(id = %r.id, origin = %r.origin, reason = %why, "objection refused by its origin")
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
        tracing::debug!(id = %r.id, origin = %r.origin, error = %error, retry_in = ?a.backoff, "objection not routed yet");
        a.error = Some(error);
    }

    /// Sends a filing to the origin's node, dialling it at its roster
    /// addresses when not connected.
    async fn send(&self, origin: &str, filing: ObjectionFiling) -> Response {
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
        match tokio::time::timeout(
            ROUTE_TIMEOUT,
            self.net.reach(peer, addrs, Request::FileObjection(filing)),
        )
        .await
        {
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
    /// identity): checks that it comes from the node it names, then signs
    /// `ObjectionFiled`.
    pub async fn receive(&self, peer: PeerId, filing: ObjectionFiling) -> Response {
        let sender = self
            .shared
            .roster()
            .roster
            .members
            .iter()
            .find(|m| m.peer_id == peer.to_base58())
            .map(|m| m.id.clone());
        if sender.as_deref() != Some(filing.received_by.as_str()) {
            return Response::ObjectionRefused {
                reason: format!(
                    "the filing says it was received by {}, but it was sent by {}",
                    filing.received_by,
                    sender.unwrap_or_else(|| format!("peer {peer}"))
                ),
            };
        }
        self.register(filing).await
    }

    /// Signs `ObjectionFiled` for a filing of one of this node's records.
    async fn register(&self, filing: ObjectionFiling) -> Response {
        let refused = |reason: String| Response::ObjectionRefused { reason };
        if let Err(e) = objection::check_id(&filing.id) {
            return refused(e);
        }
        if filing.statement.trim().is_empty()
            || filing.statement.chars().count() > objection::MAX_STATEMENT_CHARS
        {
            return refused(format!(
                "the statement must say what is wrong (1 to {} characters)",
                objection::MAX_STATEMENT_CHARS
            ));
        }
        let today = Self::today();
        if filing.received_on > today.add(0, 0, 1).unwrap_or(today) {
            return refused(format!(
                "received_on {} is after today ({today}) at {}",
                filing.received_on, self.shared.member
            ));
        }
        let due = match self.due(filing.received_on) {
            Ok(d) => d,
            Err(e) => return refused(e.to_string()),
        };
        let (reply, rx) = oneshot::channel();
        if self
            .jobs
            .send(Job::FileObjection { filing, due, reply })
            .await
            .is_err()
        {
            return Response::Error {
                message: "the node is stopping".into(),
            };
        }
        match rx.await {
            Ok(Ok(Outcome::Accepted { seq } | Outcome::Duplicate { seq })) => {
                Response::ObjectionFiled { seq }
            }
            Ok(Ok(Outcome::Rejected(why))) => refused(why.to_string()),
            Ok(Err(e)) => Response::Error {
                message: e.to_string(),
            },
            Err(_) => Response::Error {
                message: "the node is stopping".into(),
            },
        }
    }

    /// Resolves an objection of this node's log.
    pub async fn resolve(
        &self,
        id: &str,
        resolve: Resolve,
    ) -> Result<(u64, Option<u64>), ObjectionError> {
        let me = &self.shared.member;
        match self.store.objection(me, id)? {
            Some(o) => {
                if let Some(r) = &o.resolution {
                    return Err(ObjectionError::Conflict(format!(
                        "objection {id} was already resolved ({:?}) at {me}/{}",
                        r.outcome, r.seq
                    )));
                }
            }
            None => {
                if let Some(o) = self.store.objection_any(id)? {
                    return Err(ObjectionError::NotOrigin {
                        id: id.to_owned(),
                        origin: o.origin,
                    });
                }
                if let Some(r) = self.store.receipt(id)?
                    && r.origin != *me
                {
                    return Err(ObjectionError::NotOrigin {
                        id: id.to_owned(),
                        origin: r.origin,
                    });
                }
                return Err(ObjectionError::NotFound(format!(
                    "no objection {id} registered in {me}'s log"
                )));
            }
        }
        if resolve.explanation.trim().is_empty()
            || resolve.explanation.chars().count() > objection::MAX_STATEMENT_CHARS
        {
            return Err(ObjectionError::Invalid(format!(
                "explanation must say why (1 to {} characters)",
                objection::MAX_STATEMENT_CHARS
            )));
        }
        if resolve.outcome == ObjectionOutcome::Rejected
            && (resolve.correction.is_some() || resolve.revoke)
        {
            return Err(ObjectionError::Invalid(
                "a rejected objection leaves the record as it is: send no correction and no revoke"
                    .into(),
            ));
        }
        if resolve.correction.is_some() && resolve.revoke {
            return Err(ObjectionError::Invalid(
                "an upheld objection either corrects the record or revokes it, not both".into(),
            ));
        }
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::ResolveObjection { resolve, reply })
            .await
            .map_err(|_| CommitError::Stopping)?;
        match rx.await.map_err(|_| CommitError::Stopping)?? {
            (Outcome::Accepted { seq }, correction) => Ok((seq, correction)),
            (Outcome::Duplicate { seq }, _) => Err(ObjectionError::Conflict(format!(
                "the correction is identical to the record's version at seq {seq}"
            ))),
            (Outcome::Rejected(why), _) => Err(ObjectionError::Conflict(why.to_string())),
        }
    }

    /// One objection by id: from the index of the logs held, or this
    /// node's receipt while its origin has not registered it.
    pub fn view(&self, id: &str) -> Result<Option<ObjectionView>, ObjectionError> {
        let receipt = self.store.receipt(id)?;
        let state = match &receipt {
            Some(r) => self.store.objection(&r.origin, id)?,
            None => self.store.objection_any(id)?,
        };
        let today = Self::today();
        Ok(match (state, receipt) {
            (Some(o), r) => Some(self.view_of(&o, r.as_ref(), today)),
            (None, Some(r)) => Some(self.receipt_view(&r, today)),
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
    ) -> Result<Vec<ObjectionView>, ObjectionError> {
        let today = Self::today();
        let receipts: HashMap<String, Receipt> = self
            .store
            .receipts()?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for o in self.store.objections(origin)? {
            let r = receipts.get(&o.id).filter(|r| r.origin == o.origin);
            if r.is_some() {
                seen.insert(o.id.clone());
            }
            out.push(self.view_of(&o, r, today));
        }
        for r in receipts.values() {
            if seen.contains(&r.id) || origin.is_some_and(|o| o != r.origin) {
                continue;
            }
            // Registered but not replicated here yet: shown from the receipt.
            out.push(self.receipt_view(r, today));
        }
        out.retain(|v| {
            let state_ok = match state {
                None | Some("all") => true,
                Some("overdue") => v.overdue,
                Some(s) => v.state.as_str() == s,
            };
            state_ok && authority.is_none_or(|a| v.authority == a)
        });
        out.sort_by(|a, b| (a.due, &a.origin, &a.id).cmp(&(b.due, &b.origin, &b.id)));
        Ok(out)
    }

    fn view_of(&self, o: &ObjectionState, r: Option<&Receipt>, today: Date) -> ObjectionView {
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

    fn receipt_view(&self, r: &Receipt, today: Date) -> ObjectionView {
        let (state, filed_seq, routing) = match &r.routed {
            Routed::Pending => (
                ObjectionStateName::Received,
                None,
                self.routing
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&r.id)
                    .and_then(|a| a.error.clone()),
            ),
            // Registered by the origin, not yet replicated here.
            Routed::Registered(seq) => (ObjectionStateName::Open, Some(*seq), None),
            Routed::Refused(why) => (ObjectionStateName::Refused, None, Some(why.clone())),
        };
        ObjectionView {
            id: r.id.clone(),
            state,
            overdue: matches!(
                state,
                ObjectionStateName::Received | ObjectionStateName::Open
            ) && today > r.due,
            origin: r.origin.clone(),
            key: r.key.clone(),
            authority: r.key.authority_code.clone(),
            ground: r.ground,
            statement: r.statement.clone(),
            received_by: self.shared.member.clone(),
            received_on: r.received_on,
            due: r.due,
            receipt: Some(r.receipt.clone()),
            filed_seq,
            resolution: None,
            routing,
        }
    }

    /// Counts of objections open and overdue per origin (for `/metrics`).
    pub fn counts(&self) -> Result<Vec<(String, u64, u64)>, ObjectionError> {
        let today = Self::today();
        let mut by: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
        for o in self.store.objections(None)? {
            let c = by.entry(o.origin.clone()).or_default();
            if o.resolution.is_none() {
                c.0 += 1;
                if o.overdue(today) {
                    c.1 += 1;
                }
            }
        }
        Ok(by.into_iter().map(|(o, (a, b))| (o, a, b)).collect())
    }
}

/// The statement as signed: the filer's text, trimmed, with the
/// attachments' digests on lines of their own, so the origin signs them.
fn statement_of(req: &FileObjection) -> Result<String, ObjectionError> {
    let text = req.statement.trim();
    if text.is_empty() {
        return Err(ObjectionError::Invalid(
            "statement is blank: say what is wrong with the record and why".into(),
        ));
    }
    if let Some((at, c)) = control_character(text, true) {
        return Err(ObjectionError::Invalid(format!(
            "statement holds the control character U+{:04X} at character {at}",
            u32::from(c)
        )));
    }
    if req.attachments.len() > objection::MAX_ATTACHMENTS {
        return Err(ObjectionError::Invalid(format!(
            "{} attachments; at most {} digests",
            req.attachments.len(),
            objection::MAX_ATTACHMENTS
        )));
    }
    let mut out = text.to_owned();
    for a in &req.attachments {
        let ok = a.split_once(':').is_some_and(|(alg, hex)| {
            !alg.is_empty()
                && alg.len() <= 16
                && alg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && (16..=128).contains(&hex.len())
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
        });
        if !ok {
            return Err(ObjectionError::Invalid(format!(
                "attachment '{}' is not a digest such as sha256:<hex>",
                a.chars().take(80).collect::<String>()
            )));
        }
        out.push_str("\n附件 attachment: ");
        out.push_str(a);
    }
    if out.chars().count() > objection::MAX_STATEMENT_CHARS {
        return Err(ObjectionError::Invalid(format!(
            "statement and attachments take {} characters; at most {}",
            out.chars().count(),
            objection::MAX_STATEMENT_CHARS
        )));
    }
    Ok(out)
}
