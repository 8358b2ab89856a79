//! rongxin-node: one member of the Rongxin federation.
//!
//! The daemon is this library: [`Node::start`] opens the store, starts the
//! replication transport, restores the node's own log from peers if they hold
//! more of it (restore protection), starts the committer (the one writer of
//! the node's own log), the sync loops and the HTTP API, and returns a
//! [`NodeHandle`]; [`NodeHandle::shutdown`] stops accepting, lets in-flight
//! commits finish, flushes, and returns. `main.rs` only parses flags, loads
//! the config and waits for a signal; tests start nodes the same way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow};
use rongxin_protocol::roster::SignedRoster;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub mod cases;
pub mod config;
mod evaluation;
pub mod forward;
mod http;
pub mod ingest;
pub mod metrics;
pub mod net;
mod query;
pub mod replica;
pub mod shared;
pub mod store;
mod summary;
mod sync;
mod tally;
pub mod timeliness;
pub mod tokens;
mod views;

use config::Config;
use ingest::Committer;
use metrics::Metrics;
use shared::Shared;
use store::Store;

/// Jobs that may wait for the committer; handlers wait for room beyond it.
const JOB_QUEUE: usize = 256;

/// Starts nodes.
#[derive(Debug)]
pub struct Node;

/// A running node.
#[derive(Debug)]
pub struct NodeHandle {
    http_addr: SocketAddr,
    ops_addr: Option<SocketAddr>,
    state: Arc<http::AppState>,
    tls: Option<Arc<http::server::Tls>>,
    cancel: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    ops_server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    network: tokio::task::JoinHandle<()>,
    committer: std::thread::JoinHandle<()>,
    store: Store,
    tallies: Arc<tally::Tallies>,
}

/// The newer of the configured roster and the newest one received from peers.
fn roster_in_force(config: &Config, store: &Store) -> Result<SignedRoster> {
    let mut roster = config.roster.clone();
    if let Some(note) = store.roster()? {
        match SignedRoster::open(&note, &config.root) {
            Ok(r) if r.supersedes(&roster) => roster = r,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "ignoring a stored roster that does not verify"),
        }
    }
    let me = roster.roster.member(&config.member).ok_or_else(|| {
        anyhow!(
            "{} is not a member of the roster in force (version {})",
            config.member,
            roster.roster.version
        )
    })?;
    if me.key_index(config.signer.verifier().key()).is_none() {
        return Err(anyhow!(
            "the roster in force (version {}) does not list this node's signing key for {}: install the key it names, or have the root sign a roster with this one",
            roster.roster.version,
            config.member
        ));
    }
    Ok(roster)
}

impl Node {
    /// Opens the store, starts replication, restores the own log from peers
    /// when needed, then starts the committer and the HTTP API.
    pub async fn start(config: Config) -> Result<NodeHandle> {
        // The TLS files are checked before anything else starts.
        let tls = match &config.tls {
            Some(t) => Some(Arc::new(http::server::Tls::load(&t.cert, &t.key)?)),
            None => None,
        };
        if tls.is_none() && !config.http_listen.ip().is_loopback() {
            tracing::warn!(http_listen = %config.http_listen, "serving the API over plain HTTP on a non-loopback address (allow_plain_http = true): tokens and records cross the network in clear unless a TLS proxy is in front");
        }
        let mut limits = config.limits.clone();
        let files = http::server::raise_file_limit();
        // Keep room for the store, peers and the province below the file limit.
        let room = usize::try_from(files.saturating_sub(256))
            .unwrap_or(usize::MAX)
            .max(16);
        if limits.max_connections > room {
            tracing::warn!(
                max_connections = limits.max_connections,
                file_limit = files,
                lowered_to = room,
                "limits.max_connections is above what the open-file limit allows; lowered (raise LimitNOFILE to allow more)"
            );
            limits.max_connections = room;
            limits.max_connections_per_address = limits.max_connections_per_address.min(room);
        }
        let limits = Arc::new(limits);
        store::disk::private_dir(&config.data_dir)
            .with_context(|| format!("cannot create data_dir {}", config.data_dir.display()))?;
        let store = Store::open_with(&config.data_dir, config.store_limits)
            .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))?;
        let metrics = Metrics::new();
        for (origin, s) in store.log_states()? {
            metrics.set_log_size(&origin, s.size);
        }
        let roster = roster_in_force(&config, &store)?;
        metrics
            .roster_version
            .set(i64::try_from(roster.roster.version).unwrap_or(i64::MAX));
        let shared = Arc::new(Shared::new(
            roster,
            config.root.clone(),
            config.catalog.clone(),
            config.member.clone(),
            config.calendar.clone(),
            std::iter::once(config.signer.clone())
                .chain(config.next_signers.iter().cloned())
                .collect(),
        ));
        let cancel = CancellationToken::new();
        tokio::spawn(store::maintain(
            store.clone(),
            metrics.clone(),
            config.store_limits,
            cancel.child_token(),
        ));

        // Replication transport and the server side of sync.
        let keypair = libp2p::identity::Keypair::from_protobuf_encoding(&config.transport_key)
            .context("transport_key is not a libp2p key")?;
        let sync::PeerSets {
            allowed,
            dial,
            named,
        } = sync::peer_sets(&shared.roster(), &config.member, &config.peers);
        let (net, inbound, net_task) = net::start(
            net::NetConfig {
                keypair,
                listen: config.p2p_listen.clone(),
                allowed,
                dial,
            },
            metrics.clone(),
            cancel.child_token(),
        )
        .with_context(|| {
            format!(
                "cannot listen for replication on p2p_listen = {}",
                config.p2p_listen
            )
        })?;
        let network = tokio::spawn(net_task);
        let replicator = Arc::new(replica::Replicator::new(
            store.clone(),
            shared.clone(),
            metrics.clone(),
        ));
        let sync = Arc::new(sync::Sync::new(
            shared.clone(),
            store.clone(),
            replicator.clone(),
            net.clone(),
            metrics.clone(),
        ));
        tokio::spawn(sync.clone().serve(inbound));

        // Restore protection: nothing is signed before peers had their say.
        let answered = sync
            .restore_own_log(&named, config.restore_timeout)
            .await
            .map_err(|e| anyhow!("restore protection: {e}"))?;
        if !named.is_empty() && answered == 0 {
            tracing::warn!(
                timeout = ?config.restore_timeout,
                "no peer answered before restore_timeout; starting without learning this node's latest checkpoint from peers"
            );
        }
        replicator.reset();

        let committer = {
            let (store, signer, shared, metrics) = (
                store.clone(),
                config.signer.clone(),
                shared.clone(),
                metrics.clone(),
            );
            let max = config.commit_max_records;
            tokio::task::spawn_blocking(move || {
                Committer::open(store, signer, shared, max, metrics)
            })
            .await
            .context("the committer's start panicked")??
        };
        let own_size = committer.size();
        let (jobs, rx) = mpsc::channel(JOB_QUEUE);
        let committer = std::thread::Builder::new()
            .name("committer".into())
            .spawn(move || committer.run(rx))
            .context("cannot start the committer thread")?;

        for (member, peer) in named {
            tokio::spawn(sync.clone().peer_loop(member, peer, cancel.child_token()));
        }
        let cases = Arc::new(cases::Cases::new(
            store.clone(),
            shared.clone(),
            jobs.clone(),
            net.clone(),
        )?);
        let _ = sync.cases.set(cases.clone());
        tokio::spawn(cases.clone().route(cancel.child_token()));
        let summaries = Arc::new(summary::Summaries::default());
        tokio::spawn(summary::run(
            summaries.clone(),
            store.clone(),
            shared.clone(),
            cases.clone(),
            cancel.child_token(),
        ));

        let tallies = Arc::new(tally::Tallies::default());
        tokio::spawn(tally::run(
            tallies.clone(),
            store.clone(),
            config.member.clone(),
            cancel.child_token(),
        ));

        let forward = match &config.forward {
            Some(f) => {
                let fw = Arc::new(
                    forward::Forwarder::new(store.clone(), f.clone(), config.member.clone(), metrics.clone())
                        .context("cannot set up forwarding to the province (check forward.ca, client_cert, client_key)")?,
                );
                tracing::info!(url = %f.url, "forwarding to the province");
                let status = fw.status.clone();
                let _ = sync.status.forward.set(status.clone());
                tokio::spawn(fw.run(cancel.child_token()));
                Some(status)
            }
            None => None,
        };
        tokio::spawn(follow_roster(
            shared.clone(),
            net.clone(),
            config.peers.clone(),
            cancel.child_token(),
        ));

        let listener = tokio::net::TcpListener::bind(config.http_listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on http_listen = {} (is another node using the port?)",
                    config.http_listen
                )
            })?;
        let http_addr = listener.local_addr()?;
        let ops_listener = match config.ops_listen {
            Some(a) => Some(tokio::net::TcpListener::bind(a).await.with_context(|| {
                format!("cannot listen on ops_listen = {a} (is another process using the port?)")
            })?),
            None => None,
        };
        let ops_addr = ops_listener.as_ref().map(|l| l.local_addr()).transpose()?;
        tracing::info!(member = %config.member, %http_addr, https = tls.is_some(), ops = ?ops_addr, p2p = %config.p2p_listen, own_log = own_size, data_dir = %config.data_dir.display(), "node started");
        let state = Arc::new(http::AppState {
            rate: http::limits::RateLimits::new(&limits),
            limits: limits.clone(),
            tokens: std::sync::RwLock::new(Arc::new(config.tokens.clone())),
            config,
            store: store.clone(),
            jobs,
            metrics,
            started: Instant::now(),
            query_ids: query::QueryIds::default(),
            shared,
            sync: Some(sync.status.clone()),
            replicator: Some(replicator.clone()),
            forward,
            cases,
            timeliness: Default::default(),
            summaries,
            tallies: tallies.clone(),
        });
        let server = tokio::spawn(http::server::serve(
            listener,
            http::router(state.clone()),
            tls.clone(),
            limits.clone(),
            state.metrics.clone(),
            cancel.clone(),
        ));
        let ops_server = ops_listener.map(|l| {
            tokio::spawn(http::server::serve(
                l,
                http::ops_router(state.clone()),
                None,
                limits,
                state.metrics.clone(),
                cancel.clone(),
            ))
        });
        Ok(NodeHandle {
            ops_server,
            http_addr,
            ops_addr,
            state,
            tls,
            cancel,
            server,
            network,
            committer,
            store,
            tallies,
        })
    }
}

/// Keeps the transport's allow-list and dial set in step with the roster in force.
async fn follow_roster(
    shared: Arc<Shared>,
    net: net::NetHandle,
    peers: Vec<String>,
    cancel: CancellationToken,
) {
    let mut version = shared.roster().roster.version;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let roster = shared.roster();
        if roster.roster.version != version {
            version = roster.roster.version;
            let sets = sync::peer_sets(&roster, &shared.member, &peers);
            net.set_peers(sets.allowed, sets.dial).await;
            tracing::info!(version, "roster changed: peer allow-list updated");
        }
    }
}

impl NodeHandle {
    /// The address the HTTP API listens on.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The address of the operations listener, when configured.
    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops_addr
    }

    /// Reloads what can change without a restart: the tokens (the config's
    /// and the tokens file's) and the TLS certificate and key. The config
    /// file is checked whole first; on any error nothing changes. Open
    /// connections keep going; new ones use the new certificate. Answers
    /// the file's `[log]`, whose filter the binary puts in force.
    pub fn reload(&self) -> Result<config::LogConfig> {
        let source = &self.state.config.source;
        let fresh = Config::load(source, Some(self.state.config.data_dir.clone()))
            .map_err(|e| anyhow!("reload refused, nothing changed: {e}"))?;
        let same_files = match (&fresh.tls, &self.tls) {
            (None, None) => true,
            (Some(f), Some(t)) => t.is_for(&f.cert, &f.key),
            _ => false,
        };
        if !same_files {
            return Err(anyhow!(
                "reload refused, nothing changed: adding or removing [tls], or naming other files in it, needs a restart (a reload re-reads the same files)"
            ));
        }
        if let Some(tls) = &self.tls {
            tls.reload()
                .map_err(|e| anyhow!("reload refused, nothing changed: {e}"))?;
        }
        let counts = fresh.tokens.count_by_role();
        *self.state.tokens.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh.tokens);
        let signers: Vec<_> = std::iter::once(fresh.signer.clone())
            .chain(fresh.next_signers.iter().cloned())
            .collect();
        let keys = signers.len();
        self.state.shared.set_signers(signers);
        tracing::info!(tokens = ?counts, tls = self.tls.is_some(), signing_keys = keys, "reloaded tokens, TLS files and signing keys");
        Ok(fresh.log)
    }

    /// Resolves when the store needs opening again to take writes (sled
    /// refuses every write after an I/O error even once space is back):
    /// the caller shuts the node down and starts it again.
    pub async fn store_failed(&self) {
        self.store.reopen_wanted().await;
    }

    /// Stops accepting requests, waits for in-flight ones (and their
    /// commits) to finish, stops replication, then flushes the store.
    pub async fn shutdown(self) -> Result<()> {
        self.cancel.cancel();
        match tokio::time::timeout(Duration::from_secs(30), self.server).await {
            Ok(joined) => joined
                .context("HTTP server task failed")?
                .context("HTTP server failed")?,
            Err(_) => tracing::warn!("HTTP requests still open after 30 s; closing them"),
        }
        if let Some(ops) = self.ops_server {
            let _ = tokio::time::timeout(Duration::from_secs(5), ops).await;
        }
        // The servers and this handle held the last job senders (in the
        // API's state): the committer drains its queue and stops.
        let member = self.state.config.member.clone();
        drop(self.state);
        let committer = self.committer;
        tokio::task::spawn_blocking(move || committer.join())
            .await?
            .map_err(|_| anyhow!("the committer thread panicked"))?;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.network).await;
        if let Err(e) = self.tallies.write(&self.store, &member).await {
            tracing::warn!(error = %e, "cannot write the last submission tallies");
        }
        self.store.flush().await?;
        tracing::info!("node stopped; store flushed");
        Ok(())
    }
}
