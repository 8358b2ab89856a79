//! `rongxinctl backup --node URL --token-file FILE --out FILE`: an online
//! backup of a running node (`GET /v1/admin/backup`), written to a file and
//! then verified on its own, without the node's code: every member against
//! the manifest's digest, every database record's framing, and every log's
//! entries against their positions, their chain, the Merkle hashes and
//! root the archive holds and the signed checkpoint's size and root.
//! `rongxin-node restore --from FILE --data-dir DIR` restores it.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rongxin_protocol::backup::{self as archive, DB_BASE, DB_JOURNAL, MANIFEST, Manifest};
use rongxin_protocol::checkpoint::Checkpoint;
use rongxin_protocol::entry::Entry;
use rongxin_protocol::merkle::{CompactTree, Hash, Suite, leaf_hash};
use sha2::{Digest as _, Sha256};

use crate::client::{Node, read_token};

/// Arguments of `rongxinctl backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The node's HTTP API.
    #[arg(long, required_unless_present = "verify")]
    node: Option<String>,
    /// File holding an admin token.
    #[arg(long, required_unless_present = "verify")]
    token_file: Option<PathBuf>,
    /// The archive to write (refused if it exists).
    #[arg(long, required_unless_present = "verify", conflicts_with = "verify")]
    out: Option<PathBuf>,
    /// Only verify an existing archive.
    #[arg(long, value_name = "FILE")]
    verify: Option<PathBuf>,
}

/// Runs `rongxinctl backup`.
pub fn run(a: BackupArgs) -> Result<ExitCode> {
    if let Some(file) = &a.verify {
        let v = verify_file(file)?;
        println!("{}", v.summary(file));
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(url), Some(token_file), Some(out)) = (&a.node, &a.token_file, &a.out) else {
        bail!("--node, --token-file and --out are required to take a backup");
    };
    if out.exists() {
        bail!(
            "{} exists: give a new file name (backups are never overwritten)",
            out.display()
        );
    }
    let token = read_token(token_file)?;
    // A large store takes a while; the node keeps the connection busy.
    let node = Node::new(url, Duration::from_secs(24 * 3600))?;
    let partial = partial_path(out);
    let file =
        File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} backup {bytes} ({bytes_per_sec}) {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let fetched = node.download("/v1/admin/backup", &token, &mut writer, &mut |n| {
        bar.set_position(n);
    });
    bar.finish_and_clear();
    let written = fetched.map_err(anyhow::Error::from).and_then(|n| {
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(n)
    });
    let bytes = match written {
        Ok(n) => n,
        Err(e) => {
            let _ = fs::remove_file(&partial);
            return Err(e.context(format!("the backup from {url} failed; nothing was kept")));
        }
    };
    let verified = match verify_file(&partial) {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_file(&partial);
            return Err(e.context(format!(
                "the {bytes}-byte archive from {url} does not verify; nothing was kept"
            )));
        }
    };
    fs::rename(&partial, out).with_context(|| format!("cannot rename to {}", out.display()))?;
    println!("{}", verified.summary(out));
    println!(
        "restore it with: rongxin-node restore --from {} --data-dir <a new data directory>",
        crate::shell::shown(out)
    );
    Ok(ExitCode::SUCCESS)
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_owned();
    name.push(".partial");
    out.with_file_name(name)
}

/// What the verification of an archive found.
#[derive(Debug)]
pub struct Verified {
    /// The archive's manifest.
    pub manifest: Manifest,
    /// Archive bytes.
    pub bytes: u64,
    /// Database records (base and journal).
    pub db_records: u64,
}

impl Verified {
    fn summary(&self, file: &Path) -> String {
        let m = &self.manifest;
        let entries: u64 = m.logs.iter().map(|l| l.size).sum();
        format!(
            "{}: {}'s store as of {}, {} bytes; verified: {} members against their SHA-256, {} database records, {} logs with {entries} entries (positions, chain, Merkle hashes, roots, checkpoints)",
            file.display(),
            m.member,
            crate::cmd::audit::china_time(m.taken_ms),
            self.bytes,
            m.files.len(),
            self.db_records,
            m.logs.len()
        )
    }
}

/// What one member gave when read.
#[derive(Debug, Default)]
struct Read1 {
    bytes: u64,
    sha256: String,
}

/// What one log's members gave when read, to compare at the end.
#[derive(Debug, Default)]
struct LogRead {
    /// From `entries`: count, root, and the digests the other three
    /// members must have.
    entries: Option<EntriesRead>,
    offsets: Option<Read1>,
    signatures: Option<Read1>,
    hashes: Option<Read1>,
}

#[derive(Debug)]
struct EntriesRead {
    origin: String,
    count: u64,
    root: Hash,
    suite: Option<Suite>,
    offsets_sha256: String,
    hashes_sha256: String,
    hashes_count: u64,
}

/// Verifies the archive `file` on its own (see the module docs).
pub fn verify_file(file: &Path) -> Result<Verified> {
    let f = File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let bytes = f.metadata().map(|m| m.len()).unwrap_or(0);
    verify(BufReader::with_capacity(1 << 20, f), bytes)
        .with_context(|| format!("{} is not a sound backup", file.display()))
}

fn verify(reader: impl Read, bytes: u64) -> Result<Verified> {
    let mut tar = tar::Archive::new(reader);
    let mut members: std::collections::BTreeMap<String, Read1> = Default::default();
    let mut logs: std::collections::BTreeMap<String, LogRead> = Default::default();
    let mut manifest: Option<Manifest> = None;
    let mut db_records = 0u64;
    for entry in tar.entries().context("not a tar archive")? {
        let mut entry = entry.context("the archive is damaged")?;
        let path = entry
            .path()
            .ok()
            .and_then(|p| p.to_str().map(str::to_owned))
            .context("a member's path is not UTF-8")?;
        if manifest.is_some() {
            bail!("member {path} follows {MANIFEST}, which must be last");
        }
        if path == MANIFEST {
            let mut text = Vec::new();
            (&mut entry)
                .take(archive::MAX_MANIFEST_BYTES + 1)
                .read_to_end(&mut text)?;
            if text.len() as u64 > archive::MAX_MANIFEST_BYTES {
                bail!(
                    "{MANIFEST} is larger than {} bytes: not a Rongxin backup",
                    archive::MAX_MANIFEST_BYTES
                );
            }
            manifest = Some(
                serde_json::from_slice(&text)
                    .with_context(|| format!("{MANIFEST} does not parse"))?,
            );
            continue;
        }
        if !archive::is_member_path(&path) {
            bail!("unexpected member '{path}'");
        }
        if members.contains_key(&path) {
            bail!("member {path} appears twice");
        }
        let mut hashing = HashingReader::new(&mut entry);
        if path == DB_BASE || path == DB_JOURNAL {
            db_records += db_records_of(&mut hashing).with_context(|| path.clone())?;
        } else {
            let mut parts = path.split('/').skip(1);
            let (dir, name) = (
                parts.next().unwrap_or_default().to_owned(),
                parts.next().unwrap_or_default(),
            );
            let log = logs.entry(dir).or_default();
            if name == "entries" {
                log.entries = Some(read_entries(&mut hashing).with_context(|| path.clone())?);
            } else {
                io::copy(&mut hashing, &mut io::sink())?;
            }
            let done = hashing.done_ref();
            let slot = match name {
                "offsets" => Some(&mut log.offsets),
                "signatures" => Some(&mut log.signatures),
                "hashes" => Some(&mut log.hashes),
                _ => None,
            };
            if let Some(slot) = slot {
                *slot = Some(done);
            }
        }
        members.insert(path, hashing.done());
    }
    let manifest = manifest.with_context(|| {
        format!("the archive has no {MANIFEST}: it is cut short or not a Rongxin backup")
    })?;
    manifest
        .check()
        .map_err(|why| anyhow::anyhow!("{MANIFEST} {why}"))?;
    for f in &manifest.files {
        let Some(got) = members.remove(&f.path) else {
            bail!("member {} is missing", f.path);
        };
        if got.bytes != f.bytes || got.sha256 != f.sha256 {
            bail!(
                "member {} does not match the manifest ({} bytes, SHA-256 {}; the manifest says {} bytes, {})",
                f.path,
                got.bytes,
                got.sha256,
                f.bytes,
                f.sha256
            );
        }
    }
    if let Some(extra) = members.keys().next() {
        bail!("member {extra} is not in the manifest");
    }
    for log in &manifest.logs {
        let what = format!("log {}", log.origin);
        let read = logs
            .remove(&log.dir)
            .with_context(|| format!("{what}: its files are missing"))?;
        let e = read
            .entries
            .with_context(|| format!("{what}: no entries member"))?;
        if e.count != log.size {
            bail!(
                "{what}: {} entries archived, the manifest says {}",
                e.count,
                log.size
            );
        }
        if e.count > 0 && e.origin != log.origin {
            bail!("{what}: its entries are {}'s", e.origin);
        }
        if e.count > 0 && B64.encode(e.root) != log.root {
            bail!(
                "{what}: the entries give root {}, the manifest says {}",
                B64.encode(e.root),
                log.root
            );
        }
        let same = |member: &Option<Read1>, sha: &str, bytes: u64, name: &str| -> Result<()> {
            match member {
                Some(m) if m.sha256 == sha && m.bytes == bytes => Ok(()),
                Some(_) => bail!("{what}: its {name} are not those its entries give"),
                None => bail!("{what}: no {name} member"),
            }
        };
        same(&read.offsets, &e.offsets_sha256, 8 * e.count, "offsets")?;
        same(
            &read.hashes,
            &e.hashes_sha256,
            32 * e.hashes_count,
            "Merkle hashes",
        )?;
        match &read.signatures {
            Some(s) if s.bytes == 64 * e.count => {}
            _ => bail!("{what}: its signatures are not one per entry"),
        }
        if !log.checkpoint.is_empty() {
            let cp = Checkpoint::parse_body(&log.checkpoint)
                .map_err(|err| anyhow::anyhow!("{what}: its checkpoint does not parse: {err}"))?;
            if cp.origin.rsplit('/').next() != Some(log.origin.as_str())
                || cp.size != log.size
                || cp.root != e.root
            {
                bail!(
                    "{what}: its checkpoint ({}, size {}) is not of the archived entries",
                    cp.origin,
                    cp.size
                );
            }
        }
    }
    if let Some(dir) = logs.keys().next() {
        bail!("the archive holds files of logs/{dir}, which the manifest does not list");
    }
    Ok(Verified {
        manifest,
        bytes,
        db_records,
    })
}

/// Counts the records of a `db/` member, checking their framing.
fn db_records_of(r: &mut impl Read) -> Result<u64> {
    let mut n = 0u64;
    let mut tag = [0u8; 1];
    loop {
        if r.read(&mut tag)? == 0 {
            return Ok(n);
        }
        let fields = match tag[0] {
            b'P' => 2,
            b'D' => 1,
            other => bail!("record {n} has unknown type {other:#04x}"),
        };
        for _ in 0..fields {
            let mut len = [0u8; 4];
            r.read_exact(&mut len)
                .with_context(|| format!("record {n} is cut short"))?;
            let len = u64::from(u32::from_be_bytes(len));
            let skipped = io::copy(&mut r.by_ref().take(len), &mut io::sink())?;
            if skipped != len {
                bail!("record {n} is cut short");
            }
        }
        n += 1;
    }
}

/// Reads a log's `entries` member: each entry's position and chain, the
/// Merkle tree they make, and what `offsets` and `hashes` must then be.
fn read_entries(r: &mut impl Read) -> Result<EntriesRead> {
    let mut out = EntriesRead {
        origin: String::new(),
        count: 0,
        root: [0; 32],
        suite: None,
        offsets_sha256: String::new(),
        hashes_sha256: String::new(),
        hashes_count: 0,
    };
    let mut offsets = Sha256::new();
    let mut hashes = Sha256::new();
    let mut tree: Option<CompactTree> = None;
    let mut prev: Hash = [0; 32];
    let mut at = 0u64;
    let mut len = [0u8; 2];
    let mut bytes = Vec::new();
    loop {
        if r.read(&mut len[..1])? == 0 {
            break;
        }
        r.read_exact(&mut len[1..])
            .with_context(|| format!("entry {} is cut short", out.count))?;
        let n = u16::from_be_bytes(len) as usize;
        bytes.resize(n, 0);
        r.read_exact(&mut bytes)
            .with_context(|| format!("entry {} is cut short", out.count))?;
        let seq = out.count;
        let suite = match out.suite {
            Some(s) => s,
            None => {
                let s = Entry::suite_of(&bytes).map_err(|e| anyhow::anyhow!("entry 0: {e}"))?;
                out.suite = Some(s);
                tree = Some(CompactTree::new(s));
                s
            }
        };
        let entry = Entry::decode(&bytes).map_err(|e| anyhow::anyhow!("entry {seq}: {e}"))?;
        if seq == 0 {
            out.origin = entry.origin.clone();
        }
        if entry.origin != out.origin || entry.seq != seq {
            bail!("entry {seq} says it is {}/{}", entry.origin, entry.seq);
        }
        if entry.prev_hash != prev {
            bail!(
                "entry {seq} does not chain to entry {}",
                seq.saturating_sub(1)
            );
        }
        prev = leaf_hash(suite, &bytes);
        offsets.update(at.to_be_bytes());
        at += 2 + n as u64;
        if let Some(t) = tree.as_mut() {
            for (_, h) in t
                .append(prev)
                .map_err(|e| anyhow::anyhow!("entry {seq}: {e}"))?
            {
                hashes.update(h);
                out.hashes_count += 1;
            }
        }
        out.count += 1;
    }
    out.root = match &tree {
        Some(t) => t.root(),
        None => [0; 32],
    };
    out.offsets_sha256 = hex::encode(offsets.finalize());
    out.hashes_sha256 = hex::encode(hashes.finalize());
    Ok(out)
}

/// Hashes and counts what is read through it.
struct HashingReader<R> {
    inner: R,
    hash: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hash: Sha256::new(),
            bytes: 0,
        }
    }

    fn done_ref(&self) -> Read1 {
        Read1 {
            bytes: self.bytes,
            sha256: hex::encode(self.hash.clone().finalize()),
        }
    }

    fn done(self) -> Read1 {
        Read1 {
            bytes: self.bytes,
            sha256: hex::encode(self.hash.finalize()),
        }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}
