//! rongxin-node: one member of the Rongxin federation.
//!
//! The daemon is this library: [`Node::start`] opens the store, starts the
//! committer (the one writer of the node's own log) and the HTTP API, and
//! returns a [`NodeHandle`]; [`NodeHandle::shutdown`] stops accepting, lets
//! in-flight commits finish, flushes, and returns. `main.rs` only parses
//! flags, loads the config and waits for a signal; tests start nodes the
//! same way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub mod config;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod query;
pub mod store;

use config::Config;
use ingest::Committer;
use metrics::Metrics;
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
    cancel: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    committer: std::thread::JoinHandle<()>,
    store: Store,
}

impl Node {
    /// Opens the store, starts the committer and the HTTP API.
    pub async fn start(config: Config) -> Result<NodeHandle> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create data_dir {}", config.data_dir.display()))?;
        let store = Store::open(&config.data_dir)
            .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))?;
        let metrics = Metrics::new();
        for (origin, s) in store.log_states()? {
            metrics.set_log_size(&origin, s.size);
        }
        let committer = Committer::open(
            store.clone(),
            &config.member,
            config.signer.clone(),
            config.roster.roster.log_origin(&config.member),
            config.commit_max_records,
            metrics.clone(),
        )?;
        let own_size = committer.size();
        let (jobs, rx) = mpsc::channel(JOB_QUEUE);
        let committer = std::thread::Builder::new()
            .name("committer".into())
            .spawn(move || committer.run(rx))
            .context("cannot start the committer thread")?;

        let listener = tokio::net::TcpListener::bind(config.http_listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on http_listen = {} (is another node using the port?)",
                    config.http_listen
                )
            })?;
        let http_addr = listener.local_addr()?;
        tracing::info!(member = %config.member, %http_addr, own_log = own_size, data_dir = %config.data_dir.display(), "node started");
        let state = Arc::new(http::AppState {
            config,
            store: store.clone(),
            jobs,
            metrics,
            started: Instant::now(),
            query_ids: query::QueryIds::default(),
        });
        let app = http::router(state).into_make_service_with_connect_info::<SocketAddr>();
        let cancel = CancellationToken::new();
        let server = tokio::spawn(
            axum::serve(listener, app)
                .with_graceful_shutdown(cancel.clone().cancelled_owned())
                .into_future(),
        );
        Ok(NodeHandle {
            http_addr,
            cancel,
            server,
            committer,
            store,
        })
    }
}

impl NodeHandle {
    /// The address the HTTP API listens on.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Stops accepting requests, waits for in-flight ones (and their
    /// commits) to finish, then flushes the store.
    pub async fn shutdown(self) -> Result<()> {
        self.cancel.cancel();
        match tokio::time::timeout(Duration::from_secs(30), self.server).await {
            Ok(joined) => joined
                .context("HTTP server task failed")?
                .context("HTTP server failed")?,
            Err(_) => tracing::warn!("HTTP requests still open after 30 s; closing them"),
        }
        // The server held the last job senders: the committer drains its
        // queue and stops.
        let committer = self.committer;
        tokio::task::spawn_blocking(move || committer.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the committer thread panicked"))?;
        self.store.flush().await?;
        tracing::info!("node stopped; store flushed");
        Ok(())
    }
}
