//! `GET /v1/admin/backup`: an online backup of the node's store.

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rongxin_protocol::access::Access;
use tokio::sync::oneshot;

use super::logs::off_runtime;
use super::stream::ToBody;
use super::{ApiError, AppState, remote, require_admin};
use crate::ingest::now_ms;
use crate::query::{ContentRead, register_read};
use crate::store::backup::{BackupError, Progress};

/// `GET /v1/admin/backup` (admin token): the store as a backup archive
/// (`application/x-tar`, docs/operations.md "Backup and restore"), taken
/// while the node goes on ingesting and replicating. 409 while another
/// backup runs. The read is registered in the query log (it holds every
/// record, restricted ones too). A backup that fails part-way ends the
/// answer with an error, never with a complete-looking archive.
pub async fn get_backup(
    State(state): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = require_admin(&state, &headers)?;
    let member = state.config.member.clone();
    {
        let st = state.clone();
        let (who, remote) = (token.who(), remote(Some(addr)));
        let what = format!("backup:{member}");
        off_runtime(move || {
            Ok(register_read(
                &st.store,
                &st.query_ids,
                &ContentRead {
                    who: &who,
                    remote: &remote,
                    purpose: "backup",
                    access: Access::Government,
                    what: &what,
                    returned: &[],
                },
                now_ms(),
            )?)
        })
        .await?;
    }
    let (tx, rx) = super::stream::channel();
    let (begun_tx, begun_rx) = oneshot::channel::<Result<(), BackupError>>();
    let store = state.store.clone();
    let name = member.clone();
    tokio::task::spawn_blocking(move || {
        let mut begun = Some(begun_tx);
        let mut out = ToBody::new(tx.clone());
        let started = std::time::Instant::now();
        let result = store.backup(&mut out, &name, env!("CARGO_PKG_VERSION"), |_: Progress| {
            if let Some(b) = begun.take() {
                let _ = b.send(Ok(()));
            }
        });
        let result = result.and_then(|m| out.flush().map(|()| m).map_err(BackupError::Output));
        match result {
            Ok(m) => tracing::info!(
                logs = m.logs.len(),
                entries = m.logs.iter().map(|l| l.size).sum::<u64>(),
                keys = m.base_keys,
                journal_ops = m.journal_ops,
                seconds = started.elapsed().as_secs_f64(),
                "backup written"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "backup failed");
                match begun.take() {
                    Some(b) => drop(b.send(Err(e))),
                    None => drop(tx.blocking_send(Err(io::Error::other(e.to_string())))),
                }
            }
        }
    });
    match begun_rx.await {
        Ok(Ok(())) => {}
        Ok(Err(BackupError::Running)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "backup_running",
                BackupError::Running.to_string(),
            ));
        }
        Ok(Err(e)) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "backup_failed",
                e.to_string(),
            ));
        }
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the backup stopped before it began",
            ));
        }
    }
    let stream = super::stream::body(rx);
    let day = time::OffsetDateTime::now_utc().date();
    let file = format!("rongxin-backup-{member}-{day}.tar");
    let mut response = stream.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
