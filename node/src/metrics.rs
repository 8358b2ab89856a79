//! Prometheus metrics of one node, in the text exposition format.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label of an ingest result.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// accepted | duplicate | rejected
    pub result: String,
}

/// Label of a log.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OriginLabel {
    /// Member id of the log's origin.
    pub origin: String,
}

/// Labels of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The matched route, such as /v1/records.
    pub route: String,
    /// The status code.
    pub status: String,
}

/// Label of a query's access level.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AccessLabel {
    /// public | conditional | government
    pub access: String,
}

/// Labels of a refusal by a limit.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    /// Which limit: connections, rate, uri, headers, time.
    pub limit: String,
    /// What it counted: total, per_address, address, token, request.
    pub scope: String,
}

/// Every metric of the node. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Records by ingest result.
    pub ingest_records: Family<ResultLabel, Counter>,
    /// Entries per log.
    pub log_size: Family<OriginLabel, Gauge>,
    /// Seconds per group commit (sign, apply, flush).
    pub commit_seconds: Histogram,
    /// Records per group commit.
    pub commit_batch_records: Histogram,
    /// Open HTTP connections of the API listener.
    pub http_connections: Gauge,
    /// Requests and connections refused by a limit.
    pub http_limited: Family<LimitLabels, Counter>,
    /// Bytes of the store on disk.
    pub store_bytes: Gauge,
    /// HTTP requests by route and status.
    pub http_requests: Family<RouteLabels, Counter>,
    /// Subject queries by access level.
    pub queries: Family<AccessLabel, Counter>,
    /// Entries appended to replica logs.
    pub replicated_entries: Counter,
    /// Replication lag in entries, per origin and peer.
    pub replication_lag: Family<LagLabels, Gauge>,
    /// Data refused from peers (bad signatures, gaps, non-owners, …), per peer.
    pub replication_refused: Family<PeerLabel, Counter>,
    /// Connections refused because the peer is not in the roster.
    pub refused_peers: Counter,
    /// Equivocations detected.
    pub equivocations: Counter,
    /// Version of the roster in force.
    pub roster_version: Gauge,
    /// Entries the province acknowledged, per origin (the forward cursor).
    pub forward_cursor: Family<OriginLabel, Gauge>,
    /// Objections registered and not yet resolved, per origin (set at each scrape).
    pub objections_open: Family<OriginLabel, Gauge>,
    /// Open objections past their due date, per origin (set at each scrape).
    pub objections_overdue: Family<OriginLabel, Gauge>,
    /// Double-publicity records published within the deadline (recomputed at a
    /// scrape when entries arrived, at most every minute).
    pub publication_on_time: Family<PublicationLabel, Gauge>,
    /// Double-publicity records published after the deadline.
    pub publication_late: Family<PublicationLabel, Gauge>,
    /// Repair applications registered and not yet decided, per origin.
    pub repairs_open: Family<OriginLabel, Gauge>,
    /// Undecided repair applications past their due date, per origin.
    pub repairs_overdue: Family<OriginLabel, Gauge>,
    /// Entries held but not yet acknowledged by the province, per origin.
    pub forward_lag: Family<OriginLabel, Gauge>,
    /// Failed forwarding attempts, per origin.
    pub forward_errors: Family<OriginLabel, Counter>,
    /// Entries acknowledged by the province.
    pub forwarded_entries: Counter,
    /// 1 while the store takes writes, 0 while it refuses them (disk full, failed write).
    pub store_writable: Gauge,
    /// Bytes of query log rows held (bounded by `[query_log] max_bytes`).
    pub query_log_bytes: Gauge,
    /// Entries forwarding stopped at because no request may carry them.
    pub forward_too_large: Family<OriginLabel, Counter>,
    /// Bytes free for the node on its data directory's file system.
    pub disk_free_bytes: Gauge,
    /// The free space below which the store refuses writes (`[disk] min_free_bytes`).
    pub disk_reserve_bytes: Gauge,
    /// 1 for an origin halted after equivocation, until an operator resumes it.
    pub origin_halted: Family<OriginLabel, Gauge>,
}

/// Labels of a replication lag.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LagLabels {
    /// The log's origin.
    pub origin: String,
    /// The peer compared with.
    pub peer: String,
}

/// Labels of a publication-timeliness figure.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PublicationLabel {
    /// The origin that signed the records.
    pub origin: String,
    /// The deciding authority's credit code.
    pub authority: String,
    /// The catalog kind.
    pub kind: String,
}

/// Label of a peer.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabel {
    /// The peer's member id.
    pub peer: String,
}

impl Metrics {
    /// A fresh set of metrics, registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("rongxin");
        let ingest_records = Family::<ResultLabel, Counter>::default();
        registry.register(
            "ingest_records",
            "Records submitted, by result",
            ingest_records.clone(),
        );
        let log_size = Family::<OriginLabel, Gauge>::default();
        registry.register("log_size", "Entries held per origin log", log_size.clone());
        let objections_open = Family::<OriginLabel, Gauge>::default();
        registry.register(
            "objections_open",
            "Objections registered by their origin and not yet resolved, per origin",
            objections_open.clone(),
        );
        let objections_overdue = Family::<OriginLabel, Gauge>::default();
        registry.register(
            "objections_overdue",
            "Open objections past their due date (working days, roster deadlines), per origin",
            objections_overdue.clone(),
        );
        let publication_on_time = Family::<PublicationLabel, Gauge>::default();
        registry.register(
            "publication_on_time",
            "Double-publicity records first signed within deadlines.publication working days of their decision (recomputed at a scrape when entries arrived, at most every minute)",
            publication_on_time.clone(),
        );
        let publication_late = Family::<PublicationLabel, Gauge>::default();
        registry.register(
            "publication_late",
            "Double-publicity records first signed after deadlines.publication working days of their decision (recomputed at a scrape when entries arrived, at most every minute)",
            publication_late.clone(),
        );
        let repairs_open = Family::<OriginLabel, Gauge>::default();
        registry.register(
            "repairs_open",
            "Credit-repair applications registered by their origin and not yet decided, per origin",
            repairs_open.clone(),
        );
        let repairs_overdue = Family::<OriginLabel, Gauge>::default();
        registry.register(
            "repairs_overdue",
            "Undecided credit-repair applications past their due date (working days, roster deadlines), per origin",
            repairs_overdue.clone(),
        );
        let commit_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "commit_seconds",
            "Duration of a group commit (sign, apply, flush)",
            commit_seconds.clone(),
        );
        let commit_batch_records = Histogram::new(exponential_buckets(1.0, 4.0, 8));
        registry.register(
            "commit_batch_records",
            "Records per group commit",
            commit_batch_records.clone(),
        );
        let store_bytes = Gauge::default();
        registry.register(
            "store_bytes",
            "Bytes of the store on disk",
            store_bytes.clone(),
        );
        let http_requests = Family::<RouteLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            http_requests.clone(),
        );
        let queries = Family::<AccessLabel, Counter>::default();
        registry.register(
            "queries",
            "Subject profile queries by access level",
            queries.clone(),
        );
        let replicated_entries = Counter::default();
        registry.register(
            "replicated_entries",
            "Entries appended to replica logs",
            replicated_entries.clone(),
        );
        let replication_lag = Family::<LagLabels, Gauge>::default();
        registry.register(
            "replication_lag_entries",
            "Entries a peer holds that this node lacks, per origin and peer",
            replication_lag.clone(),
        );
        let replication_refused = Family::<PeerLabel, Counter>::default();
        registry.register(
            "replication_refused",
            "Data refused from peers, per peer",
            replication_refused.clone(),
        );
        let refused_peers = Counter::default();
        registry.register(
            "refused_peers",
            "Connections refused because the peer is not in the roster",
            refused_peers.clone(),
        );
        let equivocations = Counter::default();
        registry.register(
            "equivocations",
            "Equivocations detected (evidence stored, origin halted)",
            equivocations.clone(),
        );
        let roster_version = Gauge::default();
        registry.register(
            "roster_version",
            "Version of the roster in force",
            roster_version.clone(),
        );
        let forward_cursor = Family::<OriginLabel, Gauge>::default();
        registry.register(
            "forward_cursor",
            "Entries the province acknowledged, per origin",
            forward_cursor.clone(),
        );
        let forward_lag = Family::<OriginLabel, Gauge>::default();
        registry.register(
            "forward_lag_entries",
            "Entries held but not yet acknowledged by the province",
            forward_lag.clone(),
        );
        let forward_errors = Family::<OriginLabel, Counter>::default();
        registry.register(
            "forward_errors",
            "Failed forwarding attempts, per origin",
            forward_errors.clone(),
        );
        let forwarded_entries = Counter::default();
        registry.register(
            "forwarded_entries",
            "Entries acknowledged by the province",
            forwarded_entries.clone(),
        );
        let http_connections = Gauge::default();
        registry.register(
            "http_connections",
            "Open HTTP connections of the API listener",
            http_connections.clone(),
        );
        let http_limited = Family::<LimitLabels, Counter>::default();
        registry.register(
            "http_limited",
            "Requests and connections refused by a limit (docs/operations.md, limits)",
            http_limited.clone(),
        );
        let store_writable = Gauge::default();
        store_writable.set(1);
        registry.register(
            "store_writable",
            "1 while the store takes writes, 0 while it refuses them (see /healthz for why)",
            store_writable.clone(),
        );
        let disk_free_bytes = Gauge::default();
        registry.register(
            "disk_free_bytes",
            "Bytes free for the node on its data directory's file system",
            disk_free_bytes.clone(),
        );
        let disk_reserve_bytes = Gauge::default();
        registry.register(
            "disk_reserve_bytes",
            "Free space below which the store refuses writes ([disk] min_free_bytes)",
            disk_reserve_bytes.clone(),
        );
        let origin_halted = Family::<OriginLabel, Gauge>::default();
        registry.register(
            "origin_halted",
            "1 for an origin halted after equivocation, until an operator resumes it",
            origin_halted.clone(),
        );
        let query_log_bytes = Gauge::default();
        registry.register(
            "query_log_bytes",
            "Bytes of query log rows held, bounded by [query_log] max_bytes",
            query_log_bytes.clone(),
        );
        let forward_too_large = Family::<OriginLabel, Counter>::default();
        registry.register(
            "forward_entries_too_large",
            "Times forwarding stopped at an entry no request within the size limit can carry, per origin",
            forward_too_large.clone(),
        );
        Metrics {
            forward_too_large,
            disk_free_bytes,
            disk_reserve_bytes,
            origin_halted,
            registry: Arc::new(registry),
            http_connections,
            http_limited,
            forward_cursor,
            forward_lag,
            forward_errors,
            forwarded_entries,
            replicated_entries,
            replication_lag,
            replication_refused,
            refused_peers,
            equivocations,
            roster_version,
            ingest_records,
            log_size,
            objections_open,
            objections_overdue,
            repairs_open,
            repairs_overdue,
            publication_on_time,
            publication_late,
            commit_seconds,
            commit_batch_records,
            store_bytes,
            http_requests,
            queries,
            store_writable,
            query_log_bytes,
        }
    }

    /// Sets the halted gauge of every origin in `was` or `now`: 1 for those
    /// in `now`, 0 for those resumed since.
    pub fn set_halted(&self, was: &[String], now: &[String]) {
        for origin in was.iter().chain(now) {
            self.origin_halted
                .get_or_create(&OriginLabel {
                    origin: origin.clone(),
                })
                .set(i64::from(now.contains(origin)));
        }
    }

    /// Sets the size gauge of a log.
    pub fn set_log_size(&self, origin: &str, size: u64) {
        self.log_size
            .get_or_create(&OriginLabel {
                origin: origin.to_owned(),
            })
            .set(i64::try_from(size).unwrap_or(i64::MAX));
    }

    /// Counts ingest results.
    pub fn count_ingest(&self, result: &str, n: u64) {
        self.ingest_records
            .get_or_create(&ResultLabel {
                result: result.to_owned(),
            })
            .inc_by(n);
    }

    /// Sets the lag gauge of one origin against one peer.
    pub fn set_lag(&self, origin: &str, peer: &str, lag: u64) {
        self.replication_lag
            .get_or_create(&LagLabels {
                origin: origin.to_owned(),
                peer: peer.to_owned(),
            })
            .set(i64::try_from(lag).unwrap_or(i64::MAX));
    }

    /// Sets an origin's forward cursor and lag.
    pub fn set_forward(&self, origin: &str, cursor: u64, lag: u64) {
        let l = OriginLabel {
            origin: origin.to_owned(),
        };
        self.forward_cursor
            .get_or_create(&l)
            .set(i64::try_from(cursor).unwrap_or(i64::MAX));
        self.forward_lag
            .get_or_create(&l)
            .set(i64::try_from(lag).unwrap_or(i64::MAX));
    }

    /// Counts a failed forwarding attempt.
    pub fn count_forward_error(&self, origin: &str) {
        self.forward_errors
            .get_or_create(&OriginLabel {
                origin: origin.to_owned(),
            })
            .inc();
    }

    /// Counts a refusal by a limit.
    pub fn count_limited(&self, limit: &str, scope: &str) {
        self.http_limited
            .get_or_create(&LimitLabels {
                limit: limit.to_owned(),
                scope: scope.to_owned(),
            })
            .inc();
    }

    /// Counts data refused from a peer.
    pub fn count_refused(&self, peer: &str) {
        self.replication_refused
            .get_or_create(&PeerLabel {
                peer: peer.to_owned(),
            })
            .inc();
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every metric family with one sample, so that the exposition names
    /// them all (an empty family prints nothing).
    fn every_family() -> Metrics {
        let m = Metrics::new();
        let origin = || OriginLabel {
            origin: "gulou".into(),
        };
        m.set_log_size("gulou", 1);
        m.count_ingest("accepted", 1);
        m.set_lag("gulou", "taijiang", 1);
        m.set_forward("gulou", 1, 1);
        m.count_forward_error("gulou");
        m.count_limited("rate", "peer");
        m.count_refused("taijiang");
        m.set_halted(&[], &["gulou".to_owned()]);
        m.forward_too_large.get_or_create(&origin()).inc();
        for family in [
            &m.objections_open,
            &m.objections_overdue,
            &m.repairs_open,
            &m.repairs_overdue,
        ] {
            family.get_or_create(&origin()).set(1);
        }
        let publication = PublicationLabel {
            origin: "gulou".into(),
            authority: "11350102MB0000007X".into(),
            kind: "XK".into(),
        };
        m.publication_on_time.get_or_create(&publication).set(1);
        m.publication_late.get_or_create(&publication).set(1);
        m.http_requests
            .get_or_create(&RouteLabels {
                route: "/".into(),
                status: "200".into(),
            })
            .inc();
        m.queries
            .get_or_create(&AccessLabel {
                access: "public".into(),
            })
            .inc();
        m
    }

    /// The names a scrape carries: gauges as declared, counters with
    /// `_total`, histograms with their series.
    fn exported(text: &str) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for line in text.lines() {
            let mut w = line.split_whitespace();
            if (w.next(), w.next()) != (Some("#"), Some("TYPE")) {
                continue;
            }
            let (Some(name), Some(kind)) = (w.next(), w.next()) else {
                continue;
            };
            match kind {
                "counter" => {
                    names.insert(format!("{name}_total"));
                }
                "histogram" => {
                    for suffix in ["_bucket", "_sum", "_count"] {
                        names.insert(format!("{name}{suffix}"));
                    }
                }
                _ => {
                    names.insert(name.to_owned());
                }
            }
        }
        names
    }

    /// The shipped alert rules and Grafana dashboard name only metrics the
    /// node exports: the console, the alerts and the dashboard read the
    /// same figures, and a renamed metric fails here, not at the city.
    #[test]
    fn alert_rules_and_dashboard_name_exported_metrics() {
        let exported = exported(&every_family().render());
        assert!(exported.contains("rongxin_origin_halted"), "{exported:?}");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config-examples");
        for file in [
            "prometheus/rongxin-rules.yml",
            "grafana/rongxin-dashboard.json",
        ] {
            let text = std::fs::read_to_string(root.join(file)).expect(file);
            let mut named = BTreeSet::new();
            for (i, _) in text.match_indices("rongxin_") {
                let name: String = text[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                assert!(
                    exported.contains(&name),
                    "{file} names {name}, which the node does not export; it exports {exported:?}"
                );
                named.insert(name);
            }
            assert!(named.len() >= 10, "{file} names only {named:?}");
        }
    }

    #[test]
    fn halted_gauges_follow_resumes() {
        let m = Metrics::new();
        m.set_halted(&[], &["mawei".to_owned()]);
        assert!(
            m.render()
                .contains("rongxin_origin_halted{origin=\"mawei\"} 1")
        );
        m.set_halted(&["mawei".to_owned()], &[]);
        assert!(
            m.render()
                .contains("rongxin_origin_halted{origin=\"mawei\"} 0")
        );
    }
}
