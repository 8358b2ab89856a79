//! The store's background work: the disk probe and the query log pruner.

use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::{Store, StoreLimits, disk::PROBE_EVERY};
use crate::metrics::Metrics;

/// Probes the disk every [`PROBE_EVERY`] (so `/healthz` and writes see a
/// full disk, and its end, without waiting for a write to fail; the
/// free-space and halted-origin gauges follow) and prunes
/// the query log every [`super::QueryLogConfig::prune_every`], until
/// `cancel`.
pub async fn maintain(
    store: Store,
    metrics: Metrics,
    limits: StoreLimits,
    cancel: CancellationToken,
) {
    let prune_every = limits.query_log.prune_every();
    let mut tick = tokio::time::interval(PROBE_EVERY.min(prune_every));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune: Option<Instant> = None;
    let mut halted: Vec<String> = Vec::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let prune = last_prune.is_none_or(|t| t.elapsed() >= prune_every);
        if prune {
            last_prune = Some(Instant::now());
        }
        let s = store.clone();
        let work = tokio::task::spawn_blocking(move || {
            let down = s.probe();
            let pruned = if prune && down.is_none() {
                Some(s.prune_query_log(crate::ingest::now_ms()))
            } else {
                None
            };
            (down, pruned, s.disk_space(), s.halted_origins())
        })
        .await;
        let Ok((down, pruned, space, now_halted)) = work else {
            continue;
        };
        metrics.store_writable.set(i64::from(down.is_none()));
        if let Some((free, reserve)) = space {
            metrics
                .disk_free_bytes
                .set(i64::try_from(free).unwrap_or(i64::MAX));
            metrics
                .disk_reserve_bytes
                .set(i64::try_from(reserve).unwrap_or(i64::MAX));
        }
        if let Ok(now_halted) = now_halted {
            metrics.set_halted(&halted, &now_halted);
            halted = now_halted;
        }
        match pruned {
            Some(Ok(expired)) if expired > 0 => {
                tracing::info!(expired, "query log rows past their retention pruned");
            }
            Some(Err(e)) => tracing::warn!(error = %e, "query log not pruned"),
            _ => {}
        }
        let usage = store.query_log_usage();
        metrics
            .query_log_bytes
            .set(i64::try_from(usage.bytes).unwrap_or(i64::MAX));
    }
}
