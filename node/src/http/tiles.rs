//! Each log as [C2SP tlog-tiles](https://c2sp.org/tlog-tiles), read-only,
//! under `GET /v1/logs/{origin}/`:
//!
//! | path | content | who |
//! | --- | --- | --- |
//! | `tile/<L>/<N>[.p/<W>]` | hash tile: the level-`8L` hashes `256N..256N+W` | anyone |
//! | `tile/entries/<N>[.p/<W>]` | entry bundle: entries `256N..256N+W`, each with its `u16` length | who may read every entry in it ([`crate::query::entry_rule`]) |
//! | `tile/signatures/<N>[.p/<W>]` | the 64-byte signatures of those entries, in order (Rongxin's) | anyone |
//!
//! `<N>` is written as the spec says: groups of three digits, all but the
//! last prefixed with `x` (`1234067` is `x001/x234/067`). A tile the log
//! does not hold yet is 404. Tiles never change once served, so they carry
//! immutable cache headers; an entry bundle that needs a token is marked
//! `private`, so that a shared cache in front of the node never serves it
//! to someone else. Reads of non-public entries are registered in the query
//! log, as every other read of them is.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::extract::Path;
use super::logs::off_runtime;
use super::{ApiError, AppState, reader, remote};
use crate::ingest::now_ms;
use crate::query::{ContentRead, entry_rule, register_read, who_may_read};
use crate::store::{TILE_WIDTH, files::split_bundle};

/// Which tile a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileKind {
    /// A hash tile at this tile level.
    Hashes(u8),
    /// An entry bundle.
    Entries,
    /// The signatures of an entry bundle.
    Signatures,
}

/// A tile named by a tlog-tiles path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TilePath {
    /// What kind.
    pub kind: TileKind,
    /// Its index.
    pub index: u64,
    /// Its width: 256 for a full tile.
    pub width: u64,
}

impl TilePath {
    /// Parses the part of the path after `tile/`; `None` when it is not a
    /// tile path (every malformed one, never a panic).
    pub fn parse(path: &str) -> Option<TilePath> {
        let mut parts: Vec<&str> = path.split('/').collect();
        let kind = match parts.first()? {
            &"entries" => TileKind::Entries,
            &"signatures" => TileKind::Signatures,
            l if l.len() == 1 && l.as_bytes()[0].is_ascii_digit() => {
                let level = l.parse::<u8>().ok()?;
                // Level 7 tiles already reach past 2^63 leaves.
                if level > 7 {
                    return None;
                }
                TileKind::Hashes(level)
            }
            _ => return None,
        };
        parts.remove(0);
        // A partial tile ends in `<last group>.p/<W>`.
        let mut width = TILE_WIDTH;
        if parts.len() >= 2 && parts[parts.len() - 2].ends_with(".p") {
            let w = parts.pop()?;
            if w.is_empty()
                || w.len() > 3
                || !w.bytes().all(|b| b.is_ascii_digit())
                || w.starts_with('0')
            {
                return None;
            }
            width = w.parse().ok()?;
            if width == 0 || width >= TILE_WIDTH {
                return None;
            }
            let last = parts.pop()?;
            parts.push(last.strip_suffix(".p")?);
        }
        let (last, groups) = parts.split_last()?;
        // At most 7 groups: 3·7 = 21 digits > u64, so the parse bounds it.
        if groups.len() > 6 {
            return None;
        }
        let mut digits = String::with_capacity(3 * parts.len());
        for g in groups {
            digits.push_str(three_digits(g.strip_prefix('x')?)?);
        }
        digits.push_str(three_digits(last)?);
        let index = digits.parse::<u64>().ok()?;
        // One spelling per index: no leading zero groups.
        if !groups.is_empty() && groups[0] == "x000" {
            return None;
        }
        Some(TilePath { kind, index, width })
    }
}

fn three_digits(g: &str) -> Option<&str> {
    (g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit())).then_some(g)
}

/// The cache header of a tile: immutable once served; `private` when
/// only some callers may see it.
fn cache(public: bool, full: bool) -> &'static str {
    match (public, full) {
        (true, true) => "public, max-age=31536000, immutable",
        (true, false) => "public, max-age=3600, immutable",
        (false, true) => "private, max-age=31536000, immutable",
        (false, false) => "private, max-age=3600, immutable",
    }
}

/// `GET /v1/logs/{origin}/tile/{*path}`.
pub async fn get_tile(
    State(state): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((origin, path)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let tile = TilePath::parse(&path).ok_or_else(|| {
        ApiError::not_found(format!(
            "'tile/{path}' is not a tile path: tile/<L>/<N>[.p/<W>], tile/entries/<N>[.p/<W>] or tile/signatures/<N>[.p/<W>], with N in 3-digit groups (x001/x234/067), as https://c2sp.org/tlog-tiles says"
        ))
    })?;
    let (access, who, _) = reader(&state, &headers)?;
    let remote = remote(Some(addr));
    let missing = {
        let origin = origin.clone();
        move || {
            ApiError::not_found(format!(
                "this node holds no tile/{path} of '{origin}' (yet): a partial tile of another width, or a tile past the log's size"
            ))
        }
    };
    let full = tile.width == TILE_WIDTH;
    off_runtime(move || {
        let store = &state.store;
        let o = origin.clone();
        let (body, public) = match tile.kind {
            TileKind::Hashes(level) => {
                let suite = state.shared.roster().roster.suite;
                let body = store
                    .hash_tile(&o, level, tile.index, tile.width, suite)?
                    .ok_or_else(missing)?;
                (body, true)
            }
            TileKind::Signatures => {
                let body = store
                    .signature_bundle(&o, tile.index, tile.width)?
                    .ok_or_else(missing)?;
                (body, true)
            }
            TileKind::Entries => {
                let body = store
                    .entry_bundle(&o, tile.index, tile.width)?
                    .ok_or_else(missing)?;
                let catalog = &state.shared.catalog;
                let first = tile.index * TILE_WIDTH;
                let mut returned = Vec::new();
                let mut public = true;
                for (seq, bytes) in (first..).zip(split_bundle(&body).unwrap_or_default()) {
                    let rule = entry_rule(bytes, catalog);
                    if !rule.allows(access) {
                        return Err(ApiError::forbidden(format!(
                            "entry {seq} of this bundle is a {} record: its bytes are for {}; the bundle is served whole or not at all (hash tiles and signatures are public)",
                            rule.attribute.as_str(),
                            who_may_read(rule.needs)
                        )));
                    }
                    if rule.registered() {
                        public = false;
                        returned.push((o.clone(), seq));
                    }
                }
                if !returned.is_empty() {
                    let read = ContentRead {
                        who: &who,
                        remote: &remote,
                        purpose: "",
                        access,
                        what: &format!("log:{o}"),
                        returned: &returned,
                    };
                    register_read(store, &state.query_ids, &read, now_ms())?;
                }
                (body, public)
            }
        };
        Ok((
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (header::CACHE_CONTROL, cache(public, full)),
            ],
            body,
        )
            .into_response())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_paths_parse_as_the_spec_spells_them() {
        let t = |kind, index, width| Some(TilePath { kind, index, width });
        assert_eq!(TilePath::parse("0/000"), t(TileKind::Hashes(0), 0, 256));
        assert_eq!(
            TilePath::parse("1/x001/x234/067"),
            t(TileKind::Hashes(1), 1_234_067, 256)
        );
        assert_eq!(
            TilePath::parse("entries/x001/x234/067.p/8"),
            t(TileKind::Entries, 1_234_067, 8)
        );
        assert_eq!(
            TilePath::parse("signatures/005.p/255"),
            t(TileKind::Signatures, 5, 255)
        );
        for bad in [
            "",
            "0",
            "0/",
            "0/1",
            "0/0001",
            "0/x000/001",
            "8/000",
            "00/000",
            "0/000.p/0",
            "0/000.p/256",
            "0/000.p/08",
            "0/000.p/",
            "0/000.p",
            "entries/000.p/1/2",
            "x/000",
            "0/x1/000",
            "0/001/002",
            "0/x001/x002/x003/x004/x005/x006/x007/008",
            "0/999/",
            "entries",
            "0/-01",
        ] {
            assert_eq!(TilePath::parse(bad), None, "{bad}");
        }
    }
}
