//! The HTTP server: accepts connections, applies the connection limits,
//! terminates TLS, and serves the router over HTTP/1.1.
//!
//! axum's own `serve` has no TLS, no header timeout and no connection cap,
//! and an anonymous client could hold a socket open for ever; so the node
//! runs its own accept loop over hyper:
//! - at most `max_connections` open at once, and `max_connections_per_address`
//!   from one client address; a connection over either cap is answered with
//!   a JSON 503 (plain HTTP) or closed (HTTPS) at once, and counted;
//! - a client has `header_timeout` to send each request's headers, which also
//!   bounds how long an idle keep-alive connection stays open;
//! - with TLS, each new connection takes the certificate in force when it
//!   arrives, so a reload (SIGHUP) changes the certificate without dropping
//!   the connections already open.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower_service::Service as _;

use super::limits::Limits;
use crate::metrics::Metrics;

/// Refusals of connections over a cap being answered at once, at most.
const MAX_REFUSALS_IN_FLIGHT: usize = 256;

/// hyper's default read buffer (about 400 KiB).
const HYPER_READ_BUFFER: usize = 400 * 1024;

/// The TLS files of the API and the server config made from them.
#[derive(Debug)]
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<ServerConfig>>,
}

/// A TLS file problem, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct TlsError {
    /// The certificate or key file.
    pub path: String,
    /// What is wrong and the fix.
    pub problem: String,
}

fn tls_err(path: &Path, problem: impl Into<String>) -> TlsError {
    TlsError {
        path: path.display().to_string(),
        problem: problem.into(),
    }
}

impl Tls {
    /// Loads the certificate chain and key; both must parse and match.
    pub fn load(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        let config = server_config(cert, key)?;
        Ok(Tls {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: RwLock::new(Arc::new(config)),
        })
    }

    /// Whether these are the files this was loaded from.
    pub fn is_for(&self, cert: &Path, key: &Path) -> bool {
        self.cert == cert && self.key == key
    }

    /// Re-reads the files; on error the certificate in force stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = server_config(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
        Ok(())
    }

    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls_err(cert, format!("tls.cert: cannot read: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_err(cert, format!("tls.cert: not a PEM certificate chain: {e}")))?;
    if certs.is_empty() {
        return Err(tls_err(
            cert,
            "tls.cert: no CERTIFICATE block in the file (it must hold the node's certificate, then any intermediates)",
        ));
    }
    crate::config::check_secret_mode(key).map_err(|e| tls_err(key, e))?;
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| tls_err(key, format!("tls.key: not a PEM private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| tls_err(cert, format!("TLS setup: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| {
            tls_err(
                key,
                format!("tls.key does not match tls.cert, or is unsupported: {e}"),
            )
        })
        .map(|mut c| {
            c.alpn_protocols = vec![b"http/1.1".to_vec()];
            c
        })
}

/// Open connections, in all and per client address.
#[derive(Debug, Default)]
struct Conns {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// A connection slot, given back when the connection ends.
#[derive(Debug)]
struct Slot {
    conns: Arc<Mutex<Conns>>,
    ip: IpAddr,
    metrics: Metrics,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.per_address.remove(&self.ip);
            }
        }
        self.metrics.http_connections.set(c.total as i64);
    }
}

/// Why a connection was not taken.
#[derive(Debug, Clone, Copy)]
enum Full {
    Total,
    Address,
}

fn take_slot(
    conns: &Arc<Mutex<Conns>>,
    ip: IpAddr,
    limits: &Limits,
    metrics: &Metrics,
) -> Result<Slot, Full> {
    let mut c = conns.lock().unwrap_or_else(|p| p.into_inner());
    if c.total >= limits.max_connections {
        return Err(Full::Total);
    }
    let mine = c.per_address.entry(ip).or_default();
    if *mine >= limits.max_connections_per_address {
        return Err(Full::Address);
    }
    *mine += 1;
    c.total += 1;
    metrics.http_connections.set(c.total as i64);
    Ok(Slot {
        conns: conns.clone(),
        ip,
        metrics: metrics.clone(),
    })
}

/// Serves `router` on `listener` until `cancel`, then lets open requests
/// finish (connections are closed after their current request).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<Tls>>,
    limits: Arc<Limits>,
    metrics: Metrics,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let conns = Arc::new(Mutex::new(Conns::default()));
    // Refusals are answered by short-lived tasks that hold a socket each;
    // past this many at once a refused connection is just closed, so a
    // flood of connections cannot pile up sockets here.
    let refusals = Arc::new(tokio::sync::Semaphore::new(MAX_REFUSALS_IN_FLIGHT));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, addr) = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off briefly rather than spin.
                    tracing::warn!(error = %e, "cannot accept an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let slot = match take_slot(&conns, addr.ip(), &limits, &metrics) {
            Ok(s) => s,
            Err(full) => {
                let why = match full {
                    Full::Total => "total",
                    Full::Address => "per_address",
                };
                metrics.count_limited("connections", why);
                if tls.is_none()
                    && let Ok(permit) = refusals.clone().try_acquire_owned()
                {
                    tokio::spawn(async move {
                        refuse_connection(stream, full).await;
                        drop(permit);
                    });
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let tls = tls.clone();
        let limits = limits.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(addr));
                let mut router = router.clone();
                async move { router.call(req).await }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                // Room to parse headers past the limit, so that the limit is
                // answered with a JSON 431 (limits::enforce), and hyper's
                // default read buffer for bodies; beyond it hyper closes
                // the connection with a bare 431.
                .max_buf_size((limits.max_header_bytes * 2).max(HYPER_READ_BUFFER));
            let result = match tls {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), svc);
                    watcher.watch(conn).await
                }
                Some(tls) => {
                    let handshake =
                        tokio::time::timeout(limits.header_timeout, tls.acceptor().accept(stream))
                            .await;
                    let stream = match handshake {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%addr, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%addr, "TLS handshake timed out");
                            return;
                        }
                    };
                    let conn = builder.serve_connection(TokioIo::new(stream), svc);
                    watcher.watch(conn).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%addr, error = %e, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The answer to a connection over a cap: a JSON 503 with Retry-After, then close.
async fn refuse_connection(mut stream: TcpStream, full: Full) {
    let message = match full {
        Full::Total => {
            "the node has as many open connections as it allows (limits.max_connections); retry shortly"
        }
        Full::Address => {
            "this client address has as many open connections as the node allows (limits.max_connections_per_address); close idle connections or retry shortly"
        }
    };
    let body = serde_json::json!({"error": {"code": "too_many_connections", "message": message}})
        .to_string();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), write).await;
}

/// Raises the soft limit of open files to the hard limit, and returns the
/// soft limit in force, so the connection cap can stay below it.
pub fn raise_file_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let lim = getrlimit(Resource::Nofile);
    if let (Some(cur), Some(max)) = (lim.current, lim.maximum)
        && cur < max
    {
        let raised = rustix::process::Rlimit {
            current: Some(max),
            maximum: Some(max),
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return max;
        }
        return cur;
    }
    lim.current.unwrap_or(u64::MAX)
}
