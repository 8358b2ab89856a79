//! Answers of the node's HTTP API that other programs read (docs/api.md),
//! defined once: the node serialises them, `rongxinctl` and auditors
//! deserialise the same types.

use serde::{Deserialize, Serialize};

/// One entry of a range answer (`GET /v1/logs/{origin}/entries`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EntryItem {
    /// The caller may read it: the signed bytes and signature.
    Shown {
        /// Position in the log.
        seq: u64,
        /// The signed entry bytes, base64.
        entry: String,
        /// The origin's signature, base64.
        signature: String,
    },
    /// The caller may not read it: only its leaf hash.
    Withheld {
        /// Position in the log.
        seq: u64,
        /// The public attribute of the record it concerns.
        withheld: String,
        /// The least access that reads it: `conditional` or `government`.
        needs: String,
        /// The RFC 6962 leaf hash of the entry, base64.
        leaf_hash: String,
    },
}

impl EntryItem {
    /// Position in the log.
    pub fn seq(&self) -> u64 {
        match self {
            EntryItem::Shown { seq, .. } | EntryItem::Withheld { seq, .. } => *seq,
        }
    }
}

/// The answer of `GET /v1/logs/{origin}/entries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntriesAnswer {
    /// The log's origin.
    pub origin: String,
    /// The first seq of `entries`.
    pub from: u64,
    /// The log's size.
    pub size: u64,
    /// The entries, from `from` on, in order.
    pub entries: Vec<EntryItem>,
    /// Where the next range starts, when the log has entries past these.
    pub next: Option<u64>,
    /// Whether the byte cap stopped the answer before `limit` entries.
    pub truncated: bool,
    /// The query-log id of this read, when it returned non-public bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_id: Option<String>,
}

/// The answer of `GET /v1/logs/{origin}/consistency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyAnswer {
    /// The older size.
    pub from: u64,
    /// The newer size.
    pub to: u64,
    /// The RFC 6962 consistency proof, base64 hashes.
    pub proof: Vec<String>,
}

/// The answer of `GET /v1/admin/federation`: every roster member's view as
/// the answering node last heard it (its own row fresh), for operators'
/// consoles and `rongxinctl federation`. Readers ignore fields they do not
/// know, so a newer node may add some.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederationAnswer {
    /// Member id of the answering node.
    pub member: String,
    /// The answering node's clock, milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// A node not heard from for more than this many milliseconds is stale.
    pub stale_after_ms: u64,
    /// One row per roster member, in roster order.
    pub nodes: Vec<FederationNode>,
}

/// One member's row of [`FederationAnswer`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederationNode {
    /// Member id.
    pub member: String,
    /// Display name from the roster.
    pub name: String,
    /// Role from the roster (`district`, `city`, ...).
    #[serde(default)]
    pub role: String,
    /// The node software's version, as its newest view said; `null`:
    /// never heard.
    #[serde(default)]
    pub version: Option<String>,
    /// Whether its store took writes, as its newest view said; `null`:
    /// never heard.
    #[serde(default)]
    pub health: Option<crate::view::Health>,
    /// When the member made the newest view heard of it, milliseconds since
    /// the Unix epoch (its own clock); `null`: never heard. JSON field
    /// `heard`, as the console issue names it.
    #[serde(rename = "heard")]
    pub heard_ms: Option<u64>,
    /// Not heard for more than `stale_after_ms` (or never).
    pub stale: bool,
    /// What it holds of each origin, in ascending order of origin.
    pub origins: Vec<FederationOrigin>,
    /// When it last heard from each of its configured peers.
    pub peers: Vec<FederationPeer>,
    /// Origins it halted after equivocation.
    pub halted: Vec<String>,
}

/// What one member holds of one origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederationOrigin {
    /// Member id of the origin.
    pub origin: String,
    /// Entries held.
    pub held: u64,
    /// The largest size of the origin known from any view or checkpoint,
    /// minus `held`.
    pub lag: u64,
    /// How long the member has been behind: seconds since the origin
    /// signed the oldest entry the member does not hold (its entry `held`),
    /// on the answering node's clock; 0 when `lag` is 0; `null` when the
    /// answering node does not hold that entry either, so cannot tell when
    /// it was signed.
    #[serde(default)]
    pub lag_seconds: Option<u64>,
    /// The largest checkpoint size of the origin this member has seen.
    pub checkpoint: u64,
    /// On a node that forwards to the province (the city): entries of the
    /// origin forwarded; absent elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded: Option<u64>,
}

/// When a member last heard from one of its peers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederationPeer {
    /// Member id of the peer.
    pub member: String,
    /// Its last answer, milliseconds since the Unix epoch; `null`: none.
    pub last_contact_ms: Option<u64>,
}

/// The answer of `GET /v1/admin/console`: the summaries the console page
/// shows beside the federation matrix, read from memory and from summaries
/// kept up to date in the background, never from a scan of the store per
/// request. Readers ignore fields they do not know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsoleAnswer {
    /// Member id of the answering node.
    pub member: String,
    /// Its display name from the roster.
    pub name: String,
    /// Its role from the roster.
    pub role: String,
    /// Its software version.
    pub version: String,
    /// Its clock, milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// Data from peers it refused lately, the latest refused first (at
    /// most [`MAX_REFUSALS`] different refusals; the count since start is
    /// in `/metrics`).
    pub refusals: Vec<Refusal>,
    /// Origins halted here after equivocation.
    pub halted: Vec<String>,
    /// Evidence stored here (equivocation, a compromised key, an entry too
    /// large to forward): the latest 50, oldest first.
    pub evidence: Vec<EvidenceSummary>,
    /// On a node that forwards to the province (the city): per origin, what
    /// was forwarded; empty elsewhere.
    pub forwarding: Vec<ForwardingRow>,
    /// Open and overdue objections and repair applications per origin.
    pub cases: Vec<CasesRow>,
    /// Publication timeliness per origin, authority and kind: the 50 worst
    /// rows, without their late records' keys, as last computed in the
    /// background (`GET /v1/admin/timeliness` answers every row with its
    /// keys, computed now, with filters).
    pub timeliness: Vec<crate::timeliness::TimelinessRow>,
    /// How many timeliness rows there are in all.
    #[serde(default)]
    pub timeliness_rows: u64,
    /// When those summaries were computed, milliseconds since the Unix
    /// epoch; `null`: not yet (shortly after start).
    pub summarized_ms: Option<u64>,
    /// The publication deadline in working days.
    pub deadline_working_days: u32,
    /// Today's submissions (China time) per member and department, as the
    /// tallies held here count them (this node's own, and its peers' as
    /// last asked): the most refused first, at most
    /// [`MAX_CONSOLE_SUBMISSIONS`] rows (`GET /v1/admin/evaluation` has
    /// any period, every row).
    #[serde(default)]
    pub submissions: Vec<SubmissionRow>,
}

/// Most recent refusals a node keeps for [`ConsoleAnswer`].
pub const MAX_REFUSALS: usize = 50;

/// Most submission rows in a [`ConsoleAnswer`].
pub const MAX_CONSOLE_SUBMISSIONS: usize = 50;

/// Data a node refused from a peer: the same refusal repeated (a peer
/// retries what it was refused every round) is one item with a count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// When last, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// When first, milliseconds since the Unix epoch.
    pub first_ms: u64,
    /// How many times (since the node started).
    pub count: u64,
    /// The peer that sent it.
    pub peer: String,
    /// The origin whose log it claimed to be.
    pub origin: String,
    /// Why it was refused.
    pub reason: String,
}

/// One piece of stored evidence, summarised (`GET /v1/admin/evidence` has
/// the signed statements).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceSummary {
    /// The origin it concerns.
    pub origin: String,
    /// What it shows (`equivocation`, `compromised-key`,
    /// `forward_entry_too_large`, ...).
    pub kind: String,
    /// When it was found, milliseconds since the Unix epoch, if recorded.
    pub detected_ms: Option<u64>,
    /// Why, or what to do.
    pub why: String,
}

/// How far one origin was forwarded to the province.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardingRow {
    /// The origin.
    pub origin: String,
    /// Entries of it held here.
    pub held: u64,
    /// Entries of it the province acknowledged.
    pub forwarded: u64,
    /// The last forwarding error, if the last try failed.
    pub last_error: Option<String>,
}

/// Objections and repair applications of one origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CasesRow {
    /// The origin whose records they concern.
    pub origin: String,
    /// Objections not yet resolved.
    pub objections_open: u64,
    /// Of those, past their due date.
    pub objections_overdue: u64,
    /// Repair applications not yet decided.
    pub repairs_open: u64,
    /// Of those, past their due date.
    pub repairs_overdue: u64,
}

/// The answer of `GET /v1/admin/evaluation`: the period's evaluation of
/// every district (origin) and every department (deciding authority, by
/// credit code) whose records this node holds (目标绩效考核).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluationAnswer {
    /// First day of the period (`YYYY-MM-DD`), if bounded.
    pub from: Option<String>,
    /// Last day of the period, if bounded.
    pub to: Option<String>,
    /// The China date the report was made (cases open past their due date
    /// on this day are overdue).
    pub today: String,
    /// The publication deadline in working days.
    pub deadline_working_days: u32,
    /// One row per origin, in ascending order.
    pub districts: Vec<EvaluationRow>,
    /// One row per origin and deciding authority, in ascending order.
    pub departments: Vec<EvaluationRow>,
    /// What each submitting department sent in the period and what was
    /// refused, and why: one row per member and department (the name its
    /// node's configuration gives the department's token), from the
    /// tallies this node holds (its own, and its peers' answers).
    #[serde(default)]
    pub submissions: Vec<SubmissionRow>,
}

/// One submitting department's figures for the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionRow {
    /// The member whose node the department submits to.
    pub origin: String,
    /// The department, by its token's configured name.
    pub department: String,
    /// Records (JSON records, CSV rows) submitted.
    pub submitted: u64,
    /// Of those, signed.
    pub accepted: u64,
    /// Of those, already signed before: not signed again.
    pub duplicates: u64,
    /// Of those, refused.
    pub refused: u64,
    /// Why, by the field (or CSV column) of each refused record's first
    /// problem, with the first problem seen for it.
    pub reasons: Vec<crate::tally::Reason>,
}

/// One district's or department's figures for the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluationRow {
    /// The origin (district) whose log holds the records.
    pub origin: String,
    /// The deciding authority's credit code (department rows only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// District rows: records its departments submitted in the period, as
    /// the tallies held here count them (0 when none is held).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted: Option<u64>,
    /// District rows: of those, refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<u64>,
    /// Double-publicity records decided in the period and published.
    pub published: u64,
    /// Of those, signed within the deadline.
    pub on_time: u64,
    /// Of those, signed after it.
    pub late: u64,
    /// Objections received in the period about these records.
    pub objections: u64,
    /// Of those, resolved on or before their due date.
    pub objections_in_time: u64,
    /// Of those, resolved after their due date.
    pub objections_late: u64,
    /// Of those, still open past their due date.
    pub objections_overdue: u64,
    /// Repair applications received in the period about these records.
    pub repairs: u64,
    /// Of those, decided on or before their due date.
    pub repairs_in_time: u64,
    /// Of those, decided after their due date.
    pub repairs_late: u64,
    /// Of those, still undecided past their due date.
    pub repairs_overdue: u64,
}

impl EvaluationRow {
    /// On-time share of the published records; `None` when none.
    pub fn on_time_rate(&self) -> Option<f64> {
        let n = self.on_time + self.late;
        (n > 0).then(|| self.on_time as f64 / n as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn federation_answer_reads_as_docs_api_shows_it() {
        let text = r#"{"member": "city", "now_ms": 1764316812000, "stale_after_ms": 10000,
           "nodes": [{"member": "gulou", "name": "鼓楼区", "role": "district", "version": "0.1.0",
                      "health": "ok", "heard": 1764316811500, "stale": false,
                      "origins": [{"origin": "city", "held": 12, "lag": 0, "checkpoint": 12},
                                  {"origin": "gulou", "held": 40, "lag": 0, "checkpoint": 40}],
                      "peers": [{"member": "city", "last_contact_ms": 1764316811200}],
                      "halted": []},
                     {"member": "ftz", "name": "自贸区福州片区", "role": "district", "version": null,
                      "health": null, "heard": null, "stale": true,
                      "origins": [], "peers": [], "halted": []}]}"#;
        let a: FederationAnswer = serde_json::from_str(text).expect("parses");
        assert_eq!(a.nodes.len(), 2);
        assert_eq!(a.nodes[0].origins[1].held, 40);
        assert_eq!(a.nodes[0].origins[0].forwarded, None);
        assert!(a.nodes[1].stale && a.nodes[1].heard_ms.is_none());
        assert_eq!(a.nodes[0].health, Some(crate::view::Health::Ok));
        assert_eq!(a.nodes[1].version, None);
        let back: FederationAnswer =
            serde_json::from_str(&serde_json::to_string(&a).expect("serialises")).expect("parses");
        assert_eq!(back, a);
    }

    #[test]
    fn entries_answer_round_trips_as_docs_api_shows_it() {
        let text = r#"{"origin": "gulou", "from": 0, "size": 812,
            "entries": [{"seq": 0, "entry": "AAE=", "signature": "AAI="},
                        {"seq": 1, "withheld": "conditional", "needs": "conditional", "leaf_hash": "AAM="}],
            "next": 2, "truncated": false, "query_id": "q-1764316800000-000004"}"#;
        let a: EntriesAnswer = serde_json::from_str(text).expect("parses");
        assert_eq!(a.entries.len(), 2);
        assert!(matches!(a.entries[0], EntryItem::Shown { seq: 0, .. }));
        assert!(
            matches!(&a.entries[1], EntryItem::Withheld { needs, .. } if needs == "conditional")
        );
        assert_eq!(a.entries[1].seq(), 1);
        let back: EntriesAnswer =
            serde_json::from_str(&serde_json::to_string(&a).expect("serialises")).expect("parses");
        assert_eq!(back, a);
    }
}
