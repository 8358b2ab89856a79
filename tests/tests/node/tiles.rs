//! The log as C2SP tlog-tiles (docs/protocol.md §4.1), read and proved by an
//! implementation that is not ours: Cloudflare's `tlog_tiles`, a port of
//! Go's `golang.org/x/mod/sumdb/tlog`, over plain HTTP GETs. Nothing here
//! uses Rongxin's Merkle, checkpoint or entry code, so a mistake the node
//! and the protocol crate share cannot hide; the tile paths are the ones
//! `tlog_tiles` formats, so the node's path parsing is checked too.
//!
//! [`TileLog`] and [`verify_all_tiles`] are also used by the crash and
//! disk tests.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use tlog_tiles::{
    Checkpoint, EMPTY_HASH, HASH_SIZE, Hash, HashReader, Tile, TileHashReader, TileReader,
    check_record, check_tree, prove_record, prove_tree, record_hash, stored_hash_index, tree_hash,
};

use crate::gulou;

/// C2SP tlog-tiles' fixed tile height: 256 hashes or entries per full tile.
const HEIGHT: u8 = 8;
const FULL: u32 = 1 << HEIGHT;

/// An answer to a GET, as bytes.
#[derive(Debug)]
pub struct Got {
    pub status: u16,
    pub cache_control: String,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Got {
    /// The `error.code` of a JSON error answer.
    fn error_code(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("error answer {} is not JSON: {e}", self.status));
        v["error"]["code"].as_str().unwrap_or_default().to_owned()
    }
}

/// One origin's log on one node, read as tiles over HTTP; a
/// [`TileReader`] for `tlog_tiles`, remembering every path it fetched.
#[derive(Debug)]
pub struct TileLog {
    agent: ureq::Agent,
    prefix: String,
    /// Entry bundles are read with it.
    token: Option<String>,
    fetched: RefCell<Vec<String>>,
}

/// The C2SP path of `tile` under the log's prefix, from `tlog_tiles`' own
/// path: it writes Go sumdb's `tile/<H>/<L>/<N>[.p/<W>]` (and `data` for the
/// level of record tiles), where C2SP fixes H at 8, leaves it out, and names
/// record tiles `entries`. `<N>[.p/<W>]` is taken as `tlog_tiles` spells it.
pub fn c2sp_path(tile: &Tile) -> String {
    let go = tile.path();
    let rest = go
        .strip_prefix("tile/8/")
        .unwrap_or_else(|| panic!("tlog_tiles path {go} is not of height 8"));
    match rest.strip_prefix("data/") {
        Some(n) => format!("tile/entries/{n}"),
        None => format!("tile/{rest}"),
    }
}

/// The entry bundle `tile/entries/<n>[.p/<w>]`.
pub fn entry_tile(n: u64, w: u32) -> Tile {
    Tile::new(HEIGHT, 0, n, w, true)
}

/// The signature bundle of the entry bundle `tile`.
pub fn signature_path(tile: &Tile) -> String {
    c2sp_path(tile).replacen("tile/entries/", "tile/signatures/", 1)
}

/// Splits an entry bundle into its entries as C2SP tlog-tiles says: each a
/// big-endian `u16` length, then that many bytes.
pub fn split_bundle(mut bundle: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    while !bundle.is_empty() {
        let [a, b, rest @ ..] = bundle else {
            return Err(format!("a length cut short after {} entries", out.len()));
        };
        let len = usize::from(u16::from_be_bytes([*a, *b]));
        if rest.len() < len {
            return Err(format!(
                "entry {} of {len} bytes, {} left",
                out.len(),
                rest.len()
            ));
        }
        out.push(&rest[..len]);
        bundle = &rest[len..];
    }
    Ok(out)
}

impl TileLog {
    /// `origin`'s log at `base` (`http://host:port`); entry bundles read with `token`.
    pub fn new(base: &str, origin: &str, token: Option<&str>) -> TileLog {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent();
        TileLog {
            agent,
            prefix: format!("{base}/v1/logs/{origin}/"),
            token: token.map(str::to_owned),
            fetched: RefCell::new(Vec::new()),
        }
    }

    /// `GET <prefix><path>` with `token`; panics only when the node cannot
    /// be reached.
    pub fn get(&self, path: &str, token: Option<&str>) -> Got {
        let mut req = self.agent.get(format!("{}{path}", self.prefix));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let mut resp = req
            .call()
            .unwrap_or_else(|e| panic!("GET {}{path}: {e}", self.prefix));
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let cache_control = header("cache-control");
        let content_type = header("content-type");
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap_or_else(|e| panic!("GET {}{path}: body: {e}", self.prefix));
        Got {
            status: resp.status().as_u16(),
            cache_control,
            content_type,
            body,
        }
    }

    /// `path`, which must answer 200 with `len` bytes.
    fn get_exact(&self, path: &str, token: Option<&str>, len: usize) -> Result<Vec<u8>, String> {
        let got = self.get(path, token);
        if got.status != 200 {
            return Err(format!(
                "{path}: {} {}",
                got.status,
                String::from_utf8_lossy(&got.body)
            ));
        }
        if len != usize::MAX && got.body.len() != len {
            return Err(format!("{path}: {} bytes, not {len}", got.body.len()));
        }
        Ok(got.body)
    }

    /// The latest checkpoint, parsed by `tlog_tiles` from the note's text
    /// (everything up to the last blank line). The note's signature is not
    /// checked here: the other tests open every checkpoint with the roster's key.
    pub fn checkpoint(&self) -> Checkpoint {
        let got = self.get("checkpoint", None);
        assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
        let note = String::from_utf8(got.body).expect("the checkpoint note is UTF-8");
        let end = note
            .rfind("\n\n")
            .unwrap_or_else(|| panic!("no blank line in the note:\n{note}"));
        let text = &note[..=end];
        let cp = Checkpoint::from_bytes(text.as_bytes())
            .unwrap_or_else(|e| panic!("tlog_tiles refuses the checkpoint ({e}):\n{note}"));
        assert_eq!(cp.to_bytes(), text.as_bytes(), "not canonical:\n{note}");
        assert!(cp.extension().is_empty(), "extension lines:\n{note}");
        cp
    }

    /// The entries of the entry bundle `tile`, split.
    pub fn entries(&self, tile: &Tile) -> Result<Vec<Vec<u8>>, String> {
        let path = c2sp_path(tile);
        let body = self.get_exact(&path, self.token.as_deref(), usize::MAX)?;
        let entries = split_bundle(&body).map_err(|e| format!("{path}: {e}"))?;
        if entries.len() != tile.width() as usize {
            return Err(format!(
                "{path}: {} entries, not {}",
                entries.len(),
                tile.width()
            ));
        }
        Ok(entries.into_iter().map(<[u8]>::to_vec).collect())
    }

    /// Every path fetched so far, and forgets them.
    pub fn take_fetched(&self) -> Vec<String> {
        self.fetched.take()
    }
}

impl TileReader for TileLog {
    fn height(&self) -> u8 {
        HEIGHT
    }

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        tiles
            .iter()
            .map(|t| {
                let path = c2sp_path(t);
                self.fetched.borrow_mut().push(path.clone());
                self.get_exact(&path, None, t.width() as usize * HASH_SIZE)
                    .map_err(tlog_tiles::Error::InvalidInput)
            })
            .collect()
    }

    fn save_tiles(&self, _tiles: &[Tile], _data: &[Vec<u8>]) {}
}

/// Hashes read straight from fetched hash tiles, with nothing authenticated:
/// what the tiles themselves say.
struct FetchedTiles<'a> {
    size: u64,
    tiles: &'a HashMap<Tile, Vec<u8>>,
}

impl HashReader for FetchedTiles<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&x| {
                let tile = Tile::from_index(HEIGHT, x)
                    .parent(0, self.size)
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)?;
                let data = self
                    .tiles
                    .get(&tile)
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)?;
                tile.hash_at_index(data, x)
            })
            .collect()
    }
}

/// What [`verify_all_tiles`] read.
#[derive(Debug)]
pub struct TiledLog {
    /// Every entry's bytes, from the entry bundles.
    pub entries: Vec<Vec<u8>>,
    /// Tiles fetched: hash tiles, entry and signature bundles.
    pub tiles: usize,
}

/// Fetches every tile a tree of `cp`'s size has (every full and partial
/// hash tile at every level, `tlog_tiles`' `Tile::new_tiles`), every entry
/// and signature bundle, and checks with `tlog_tiles` only that they are
/// one tree: each entry's leaf hash is its level-0 tile's hash, each full
/// tile hashes to its hash in the tile above, the tree hash computed from
/// the tiles is the checkpoint's root, and `tlog_tiles`' own authenticated
/// reader ([`TileHashReader`]) agrees.
pub fn verify_all_tiles(log: &TileLog, cp: &Checkpoint) -> Result<TiledLog, String> {
    let size = cp.size();
    let root = *cp.hash();
    let mut data: HashMap<Tile, Vec<u8>> = HashMap::new();
    let all = Tile::new_tiles(HEIGHT, 0, size);
    for t in &all {
        let body = log.get_exact(&c2sp_path(t), None, t.width() as usize * HASH_SIZE)?;
        data.insert(*t, body);
    }
    // Full tiles under another: their subtree hash is the parent's hash.
    for t in all.iter().filter(|t| t.width() == FULL) {
        if let Some(p) = t.parent(1, size) {
            let x = stored_hash_index(p.level() * HEIGHT, t.level_index());
            let above = p
                .hash_at_index(&data[&p], x)
                .map_err(|e| format!("{}: {e}", c2sp_path(&p)))?;
            if above != Tile::subtree_hash(&data[t]) {
                return Err(format!(
                    "{} does not hash to its hash in {}",
                    c2sp_path(t),
                    c2sp_path(&p)
                ));
            }
        }
    }
    let computed = tree_hash(size, &FetchedTiles { size, tiles: &data })
        .map_err(|e| format!("tree hash from the tiles: {e}"))?;
    if computed != root {
        return Err(format!(
            "the tiles' tree hash is {computed}, the checkpoint of size {size} says {root}"
        ));
    }
    if size == 0 && root != EMPTY_HASH {
        return Err(format!("the empty tree's root is {root}"));
    }
    let authenticated = tree_hash(size, &TileHashReader::new(size, root, log))
        .map_err(|e| format!("tlog_tiles' TileHashReader: {e}"))?;
    if authenticated != root {
        return Err(format!("TileHashReader's tree hash is {authenticated}"));
    }
    // Entry bundles and signatures: the level-0 tiles' widths.
    let mut entries = Vec::with_capacity(size as usize);
    let mut fetched = all.len();
    for t in all.iter().filter(|t| t.level() == 0) {
        let bundle = entry_tile(t.level_index(), t.width());
        let got = log.entries(&bundle)?;
        for (i, (e, leaf)) in got.iter().zip(data[t].chunks(HASH_SIZE)).enumerate() {
            if record_hash(e).0 != leaf {
                return Err(format!(
                    "entry {} of {} is not the leaf hash in {}",
                    i,
                    c2sp_path(&bundle),
                    c2sp_path(t)
                ));
            }
        }
        entries.extend(got);
        log.get_exact(&signature_path(&bundle), None, t.width() as usize * 64)?;
        fetched += 2;
    }
    if entries.len() as u64 != size {
        return Err(format!("{} entries in bundles, size {size}", entries.len()));
    }
    Ok(TiledLog {
        entries,
        tiles: fetched,
    })
}

/// `origin`'s log on `client`'s node read as tiles alone (entry bundles
/// with `token`) and verified by [`verify_all_tiles`] against its latest
/// checkpoint; panics saying what did not verify.
pub fn verify_tiles_of(
    client: &rongxin_tests::Client,
    origin: &str,
    token: &str,
) -> (Checkpoint, TiledLog) {
    let log = TileLog::new(client.base(), origin, Some(token));
    let cp = log.checkpoint();
    let tiled = verify_all_tiles(&log, &cp).unwrap_or_else(|e| {
        panic!(
            "the tiles of {origin}'s log of {} do not verify: {e}",
            cp.size()
        )
    });
    (cp, tiled)
}

/// 700 entries (level-0 tiles 000 and 001 full, 002.p/188; level-1 tile
/// 000.p/2), grown to 1000: `tlog_tiles` computes the root from the tiles
/// it asks for, proves inclusion of entries taken from the bundles and the
/// consistency of the two checkpoints, all against the node's checkpoints.
#[test]
fn tlog_tiles_proves_the_log_from_its_tiles() {
    let (fed, node, records) = gulou();
    let token = fed.token("gulou");
    let c = node.client();
    let firm = records.legal_person("gulou");
    // A restricted record at seq 3: entry bundle 000 is for government readers.
    let mut batch = records.batch("gulou", 699);
    batch.insert(3, records.about("gulou", "FXFL", &firm));
    c.submit_accepted(&token, &batch);
    let government = fed.token("government");
    let log = TileLog::new(c.base(), "gulou", Some(&government));

    let cp = log.checkpoint();
    assert_eq!(cp.size(), 700);
    assert!(cp.origin().ends_with("/gulou"), "{}", cp.origin());
    let root = *cp.hash();
    let reader = TileHashReader::new(700, root, &log);
    assert_eq!(tree_hash(700, &reader).expect("tree hash"), root);
    let fetched = log.take_fetched();
    for p in ["tile/1/000.p/2", "tile/0/002.p/188"] {
        assert!(fetched.iter().any(|f| f == p), "{p} not in {fetched:?}");
    }

    // Inclusion of entries read from the bundles, in full and partial tiles.
    for n in [0u64, 3, 255, 256, 511, 512, 600, 699] {
        let w = if n < 512 { FULL } else { 188 };
        let entries = log.entries(&entry_tile(n / 256, w)).expect("bundle");
        let leaf = record_hash(&entries[(n % 256) as usize]);
        let proof = prove_record(700, n, &reader).expect("prove_record");
        check_record(&proof, 700, root, n, leaf)
            .unwrap_or_else(|e| panic!("entry {n} is not in the checkpoint's tree: {e}"));
        assert!(check_record(&proof, 700, root, n, record_hash(b"another entry")).is_err());
        assert!(check_record(&proof, 700, root, (n + 1) % 700, leaf).is_err());
    }
    let all = verify_all_tiles(&log, &cp).expect("every tile");
    assert_eq!(all.entries.len(), 700);

    // A narrower partial tile is a prefix of the current one; full tiles
    // are immutable; nothing past the log's size is served.
    let anon = |p: &str| log.get(p, None);
    let wide = anon("tile/0/002.p/188");
    let narrow = anon("tile/0/002.p/10");
    assert_eq!(narrow.status, 200);
    assert_eq!(narrow.body[..], wide.body[..10 * HASH_SIZE]);
    let sigs = anon("tile/signatures/002.p/188");
    let few = anon("tile/signatures/002.p/7");
    assert_eq!((sigs.status, few.status), (200, 200));
    assert_eq!(few.body[..], sigs.body[..7 * 64]);
    let bundle = log.get("tile/entries/002.p/188", Some(&government));
    let part = log.get("tile/entries/002.p/5", Some(&government));
    assert_eq!((bundle.status, part.status), (200, 200));
    assert!(bundle.body.starts_with(&part.body));
    for p in ["tile/0/000", "tile/0/001", "tile/signatures/000"] {
        let got = anon(p);
        assert_eq!(got.status, 200, "{p}");
        assert_eq!(got.content_type, "application/octet-stream", "{p}");
        assert!(got.cache_control.contains("immutable"), "{p}: {got:?}");
        assert!(got.cache_control.contains("public"), "{p}: {got:?}");
    }
    assert!(anon("tile/0/002.p/188").cache_control.contains("immutable"));
    for p in [
        "tile/0/002",
        "tile/0/002.p/189",
        "tile/0/003",
        "tile/0/003.p/1",
        "tile/1/000",
        "tile/1/000.p/3",
        "tile/2/000.p/1",
        "tile/entries/002",
        "tile/entries/002.p/189",
        "tile/signatures/003.p/1",
    ] {
        let got = anon(p);
        assert_eq!(got.status, 404, "{p} past the end of a log of 700");
    }

    // Entry bundle 000 holds a restricted record: whole or not at all.
    let refused = anon("tile/entries/000");
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(refused.error_code(), "forbidden");
    let by_government = log.get("tile/entries/000", Some(&government));
    let by_admin = log.get("tile/entries/000", Some(&fed.token("admin")));
    assert_eq!((by_government.status, by_admin.status), (200, 200));
    assert_eq!(by_government.body, by_admin.body);
    assert!(by_admin.cache_control.contains("private"), "{by_admin:?}");
    assert!(by_admin.cache_control.contains("immutable"), "{by_admin:?}");

    // Grow to 1000: the old checkpoint's tiles are still served (002.p/188
    // is now narrower than 002), and tlog_tiles proves 700 ⊑ 1000.
    c.submit_accepted(&token, &records.batch("gulou", 300));
    let cp2 = log.checkpoint();
    assert_eq!(cp2.size(), 1000);
    let root2 = *cp2.hash();
    assert_eq!(
        tree_hash(700, &TileHashReader::new(700, root, &log)).expect("old tree"),
        root
    );
    let reader2 = TileHashReader::new(1000, root2, &log);
    let proof = prove_tree(1000, 700, &reader2).expect("prove_tree");
    check_tree(&proof, 1000, root2, 700, root).expect("700 is a prefix of 1000");
    assert!(check_tree(&proof, 1000, root2, 700, record_hash(b"x")).is_err());
    // The node's own consistency proof checks with tlog_tiles too.
    let v = c
        .get("/v1/logs/gulou/consistency?from=700&to=1000", None)
        .ok_json();
    let theirs: Vec<Hash> = v["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(|h| Hash::parse_hash(h.as_str().expect("base64")).expect("hash"))
        .collect();
    assert_eq!(theirs, proof, "the node's proof is tlog_tiles' proof");
    check_tree(&theirs, 1000, root2, 700, root).expect("the node's proof");
    let all = verify_all_tiles(&log, &cp2).expect("every tile at 1000");
    assert_eq!(
        all.entries[..700],
        verify_all_tiles(&log, &cp).expect("at 700").entries[..]
    );
}
