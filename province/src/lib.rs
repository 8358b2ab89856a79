//! rongxin-province: the provincial platform receiver of the Rongxin
//! federation (docs/province-interface.md).
//!
//! The city node forwards every verified entry of every origin here over
//! mutual TLS. The receiver verifies provenance itself against the roster —
//! the origin's signature, the seqs and hash chain, jurisdiction ownership,
//! catalog validity and the checkpoint's Merkle root — de-duplicates by
//! `(origin, seq)`, and acknowledges only what is durably stored. An admin
//! listener on loopback shows what is held and injects faults for drills.
//!
//! The daemon is this library: [`Province::start`] opens the store and starts
//! both listeners; [`ProvinceHandle::shutdown`] stops accepting, lets
//! in-flight requests finish, flushes and returns. `main.rs` only parses
//! flags, loads the config and waits for a signal; tests start it the same way.
//!
//! Modules: [`config`] (the checked TOML), [`store`] (sled), [`receive`]
//! (verification and de-duplication), [`api`] (`POST /v1/entries`),
//! [`server`] (TLS connections and the drop fault), [`tls`] (mutual TLS on
//! ring), [`admin`] (the loopback listener), [`faults`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

pub mod admin;
pub mod api;
pub mod config;
pub mod demo_certs;
pub mod faults;
pub mod receive;
pub mod server;
pub mod store;
pub mod tls;

use config::Config;
use faults::Faults;
use receive::Receiver;
use store::{Store, StoreError};

/// Why the receiver could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvinceError {
    /// The data directory could not be created.
    #[error("cannot create data_dir {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The store could not be opened or flushed.
    #[error("store in {path}: {source}")]
    Store {
        /// The data directory.
        path: PathBuf,
        /// Why.
        source: StoreError,
    },
    /// The TLS configuration is unusable.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// A listener could not be bound.
    #[error("cannot listen on {key} = {addr}: {source}")]
    Bind {
        /// The config key.
        key: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A server task failed.
    #[error("{0} task failed: {1}")]
    Task(&'static str, String),
}

/// Starts receivers.
#[derive(Debug)]
pub struct Province;

/// A running receiver.
#[derive(Debug)]
pub struct ProvinceHandle {
    addr: SocketAddr,
    admin_addr: SocketAddr,
    data_dir: PathBuf,
    cancel: CancellationToken,
    entries_task: tokio::task::JoinHandle<()>,
    admin_task: tokio::task::JoinHandle<std::io::Result<()>>,
    store: Store,
}

impl Province {
    /// Opens the store and starts the entries (TLS) and admin listeners.
    pub async fn start(config: Config) -> Result<ProvinceHandle, ProvinceError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| ProvinceError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let store = Store::open(&config.data_dir).map_err(|source| ProvinceError::Store {
            path: config.data_dir.clone(),
            source,
        })?;
        let tls = tls::server_config(&config)?;
        let bind = |key: &'static str, addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| ProvinceError::Bind { key, addr, source })
        };
        let listener = bind("listen", config.listen).await?;
        let admin_listener = bind("admin_listen", config.admin_listen).await?;
        let local = |l: &TcpListener, key: &'static str, addr: SocketAddr| {
            l.local_addr()
                .map_err(|source| ProvinceError::Bind { key, addr, source })
        };
        let addr = local(&listener, "listen", config.listen)?;
        let admin_addr = local(&admin_listener, "admin_listen", config.admin_listen)?;

        let receiver = Arc::new(Receiver::new(
            store.clone(),
            config.roster.roster.clone(),
            config.catalog.clone(),
        ));
        let faults = Arc::new(Faults::default());
        let cancel = CancellationToken::new();

        let entries_router = api::router(api::EntriesState {
            receiver: receiver.clone(),
            max_body_bytes: config.max_body_bytes,
        });
        let entries_task = tokio::spawn(server::serve_tls(
            listener,
            TlsAcceptor::from(tls),
            entries_router,
            faults.clone(),
            cancel.clone(),
        ));
        let admin_router = admin::router(admin::AdminState { receiver, faults });
        let admin_cancel = cancel.clone();
        let admin_task = tokio::spawn(async move {
            axum::serve(admin_listener, admin_router)
                .with_graceful_shutdown(admin_cancel.cancelled_owned())
                .await
        });
        tracing::info!(
            %addr,
            %admin_addr,
            data_dir = %config.data_dir.display(),
            roster_version = config.roster.roster.version,
            accepted_senders = ?config.accepted_senders,
            max_body_bytes = config.max_body_bytes,
            "province receiver started"
        );
        Ok(ProvinceHandle {
            addr,
            admin_addr,
            data_dir: config.data_dir,
            cancel,
            entries_task,
            admin_task,
            store,
        })
    }
}

impl ProvinceHandle {
    /// The address of the entries (HTTPS) listener.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the admin (HTTP) listener.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Stops accepting, lets in-flight requests finish, flushes the store.
    pub async fn shutdown(self) -> Result<(), ProvinceError> {
        self.cancel.cancel();
        self.entries_task
            .await
            .map_err(|e| ProvinceError::Task("entries listener", e.to_string()))?;
        match self.admin_task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(ProvinceError::Task("admin listener", e.to_string())),
            Err(e) => return Err(ProvinceError::Task("admin listener", e.to_string())),
        }
        let store = self.store;
        tokio::task::spawn_blocking(move || store.flush())
            .await
            .map_err(|e| ProvinceError::Task("flush", e.to_string()))?
            .map_err(|source| ProvinceError::Store {
                path: self.data_dir.clone(),
                source,
            })?;
        tracing::info!("province receiver stopped; store flushed");
        Ok(())
    }
}
