//! The entries listener: accepts TCP, runs the mutual-TLS handshake, and
//! serves HTTP/1.1 on each connection with hyper, handing requests to the
//! entries router together with the client's identity and the fault action.
//!
//! Serving connections here rather than through `axum::serve` gives two
//! things axum cannot: the client certificate of each connection, and a real
//! dropped connection for the `drop` fault — the connection's service fails,
//! so hyper closes the socket without writing any answer.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower_service::Service as _;

use crate::api::ClientIdentity;
use crate::faults::{FaultAction, Faults};
use crate::tls::common_name;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The error that makes hyper drop a connection without answering.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by fault injection")]
struct Dropped;

/// Serves `router` over TLS on `listener` until `cancel`, then drains
/// in-flight requests (for at most ten seconds).
pub async fn serve_tls(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: axum::Router,
    faults: Arc<Faults>,
    cancel: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    loop {
        let (tcp, peer) = tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let faults = faults.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::warn!(%peer, error = %e, "TLS handshake refused");
                    return;
                }
                Err(_) => {
                    tracing::warn!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            // The verifier admitted only certificates with an accepted CN.
            let Some(cn) = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(common_name)
            else {
                tracing::warn!(%peer, "TLS client without a certificate CN; closing");
                return;
            };
            tracing::debug!(%peer, client = %cn, "TLS client connected");
            let identity = ClientIdentity { cn };
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                handle(router.clone(), faults.clone(), identity.clone(), req)
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(tls), service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish in time; closing them");
    }
}

async fn handle(
    mut router: axum::Router,
    faults: Arc<Faults>,
    identity: ClientIdentity,
    mut req: Request<Incoming>,
) -> Result<axum::response::Response, Dropped> {
    let action = if req.method() == Method::POST && req.uri().path() == "/v1/entries" {
        faults.take()
    } else {
        FaultAction::None
    };
    if action == FaultAction::Drop {
        tracing::warn!(client = %identity.cn, "fault injection: dropping the connection without an answer");
        return Err(Dropped);
    }
    req.extensions_mut().insert(identity);
    req.extensions_mut().insert(action);
    match router.call(req).await {
        Ok(resp) => Ok(resp),
        Err(never) => match never {},
    }
}
