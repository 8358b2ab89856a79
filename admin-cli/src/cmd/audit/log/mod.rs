//! `rongxinctl audit log --node URL ORIGIN`: fetch an origin's whole log
//! from any node and verify it end to end, trusting only the root key (and
//! through it the roster and the catalog it pins), never the node.
//!
//! Order of work: open the node's checkpoint with the roster; when a state
//! file holds a verified prefix, check the checkpoint is consistent with it
//! (and with the checkpoint seen last time) by consistency proofs; verify
//! the entries from there to the checkpoint's size, fetched a few pages
//! ahead on another thread ([`fetch`]), with [`verifier::Verifier`]; close
//! the head against the checkpoint; fetch the checkpoint once more and, if
//! the log grew meanwhile, check the newer one is consistent too. The state
//! file ([`state`]) is rewritten every [`SAVE_EVERY`] entries and at the end.

mod fetch;
mod state;
mod verifier;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rongxin_protocol::checkpoint::Checkpoint;
use rongxin_protocol::merkle::{self, CompactTree};
use rongxin_protocol::roster::Roster;

use crate::client::{Node, read_token};
use crate::local;
use fetch::LogSource;
use state::AuditState;
use verifier::{Failure, Verifier};

/// Entries verified between two writes of the state file.
const SAVE_EVERY: u64 = 16_384;
/// How often progress is printed when standard error is not a terminal.
const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Exit status: the log was found bad.
const EXIT_FAILED: u8 = 1;
/// Exit status: verification did not cover the whole log.
const EXIT_INCOMPLETE: u8 = 3;

/// Arguments of `rongxinctl audit log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Any node that holds the log (the origin's own, or a replica), such
    /// as `https://gulou.example:8102`. Nothing it says is trusted.
    #[arg(long)]
    node: String,
    /// The origin's member id, such as gulou.
    origin: String,
    /// The signed roster: gives each position of the log its key.
    #[arg(long, default_value = local::DEFAULT_ROSTER)]
    roster: PathBuf,
    /// The federation root verifier key that signed the roster.
    #[arg(long, default_value = local::DEFAULT_ROOT)]
    root: PathBuf,
    /// The catalog file; it must be the one the roster pins (catalog_digest).
    #[arg(long, default_value = local::DEFAULT_CATALOG)]
    catalog: PathBuf,
    /// A token file (auditor, admin, or agency) that reads non-public
    /// entries: without one they are withheld and cannot be verified.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Why you read the log (recorded in the node's query log, 查询登记).
    #[arg(long)]
    purpose: Option<String>,
    /// The resume state file. Default:
    /// `$XDG_CACHE_HOME/rongxin/audit/FEDERATION/ORIGIN.state` (else under
    /// `~/.cache`; else `./rongxin-audit-ORIGIN.state`).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Ignore the state file and verify from the first entry.
    #[arg(long)]
    restart: bool,
    /// Entries per request (1..=1000, the node's most).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1000))]
    page: u64,
    /// Stop (saving the state) after verifying this many entries in this run.
    #[arg(long, hide = true)]
    stop_after: Option<u64>,
}

/// What one run established, for the verdict.
struct Run {
    origin: String,
    state_path: PathBuf,
    resumed_at: Option<u64>,
    /// Checkpoints checked consistent with the one verified against, and
    /// where each was seen.
    consistent: Vec<(u64, &'static str)>,
}

/// Runs `rongxinctl audit log`.
pub fn run(args: LogArgs) -> Result<ExitCode> {
    let signed = local::roster(&args.roster, &args.root)?;
    let roster = &signed.roster;
    let (catalog, catalog_bytes) = local::catalog(&args.catalog)?;
    let digest = roster.catalog_digest_of(&catalog_bytes);
    if digest != roster.catalog_digest {
        bail!(
            "{} is not the catalog the roster pins ({}, this file is {digest}); records can only \
             be checked against the pinned one: pass --catalog with it (GET /v1/catalog on any \
             node serves it)",
            args.catalog.display(),
            roster.catalog_digest
        );
    }
    let origin = args.origin.as_str();
    if roster.member(origin).is_none() {
        bail!(
            "'{origin}' is not a member of the roster {} (federation {}, version {})",
            args.roster.display(),
            roster.federation,
            roster.version
        );
    }
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    let node = Node::new(&args.node, Duration::from_secs(120))?;
    let source = LogSource::new(node, origin, token, args.purpose.clone());
    let state_path = args
        .state
        .clone()
        .unwrap_or_else(|| state::default_path(&roster.federation, origin));
    let saved = if args.restart {
        None
    } else {
        AuditState::load(&state_path)?
    };
    let mut run = Run {
        origin: origin.to_owned(),
        state_path: state_path.clone(),
        resumed_at: None,
        consistent: Vec::new(),
    };
    let suite = roster.suite;
    let refused = |why: String| {
        anyhow!(
            "the state file {} does not hold: {why}; it was damaged or edited, or is another \
             log's: pass --restart to verify from the start (or --state for another file)",
            state_path.display()
        )
    };
    let mut verifier = match &saved {
        Some(s) => {
            let r = s
                .check(&roster.federation, origin, suite)
                .map_err(refused)?;
            Verifier::new(
                origin,
                roster,
                &catalog,
                r.tree,
                r.last_leaf,
                &s.key_starts,
                s.withheld.clone(),
            )
        }
        None => Verifier::new(
            origin,
            roster,
            &catalog,
            CompactTree::new(suite),
            [0; 32],
            &[],
            Vec::new(),
        ),
    }
    .map_err(|e| anyhow!(e))?;

    // The checkpoint to verify against.
    let note = source.checkpoint_note()?;
    let (target, key_index) = match roster.open_checkpoint_at(origin, &note, verifier.starts()) {
        Ok((cp, k)) => (cp, k),
        Err(e) => {
            return Ok(failed(
                &run,
                &Failure {
                    at: None,
                    reason: format!("the node's checkpoint is not signed by {origin}'s key: {e}"),
                },
            ));
        }
    };
    let cp = target.checkpoint.clone();

    // A resumed prefix: the node's log must extend it.
    if let Some(s) = &saved {
        let verified = Checkpoint {
            origin: cp.origin.clone(),
            size: verifier.size(),
            root: verifier.tree().root(),
        };
        let (before, _) = roster
            .open_checkpoint_at(origin, &s.checkpoint, verifier.starts())
            .map_err(|e| {
                refused(format!(
                    "its checkpoint is not signed by {origin}'s key: {e}"
                ))
            })?;
        for (old, what) in [(&verified, "verified"), (&before.checkpoint, "seen")] {
            if old.size > cp.size {
                bail!(
                    "the node's checkpoint of {origin} covers {} entries, fewer than the {} {what} \
                     before (state file {}); it may be a replica that lags: try the origin's own node",
                    cp.size,
                    old.size,
                    state_path.display()
                );
            }
            if let Err(f) = check_consistent(&source, suite, old, &cp) {
                return Ok(failed(
                    &run,
                    &Failure {
                        at: None,
                        reason: format!(
                            "the node's log is not the one {what} before (state file {}): {}",
                            state_path.display(),
                            f.reason
                        ),
                    },
                ));
            }
        }
        run.consistent
            .push((before.checkpoint.size, "in an earlier run"));
        if verifier.size() > 0 {
            run.resumed_at = Some(verifier.size());
            eprintln!(
                "resuming {origin} at entry {} from {} (consistent with the node's checkpoint of size {})",
                thousands(verifier.size()),
                state_path.display(),
                thousands(cp.size)
            );
        }
    }

    // The entries.
    let stop = interrupt_flag();
    let started = Instant::now();
    let first = verifier.size();
    let until = args
        .stop_after
        .map_or(cp.size, |n| cp.size.min(first.saturating_add(n)));
    let mut progress = Progress::new(first, cp.size);
    let mut pages = source.prefetch(first, until, args.page);
    let mut saved_at = first;
    let save = |v: &Verifier<'_>, note: &str| save_state(v, roster, origin, note, &state_path);
    while verifier.size() < until {
        let page = match pages.next_page() {
            Some(p) => p?,
            None => bail!(
                "the fetch of {origin}'s entries stopped at {}",
                verifier.size()
            ),
        };
        let n = page.items.len() as u64;
        if let Err(f) = verifier.apply(page) {
            progress.finish();
            return Ok(failed(&run, &f));
        }
        progress.advance(n);
        if verifier.size() - saved_at >= SAVE_EVERY {
            save(&verifier, &target.note)?;
            saved_at = verifier.size();
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
    }
    drop(pages);
    progress.finish();
    let done = verifier.size() - first;
    let secs = started.elapsed().as_secs_f64().max(0.001);
    eprintln!(
        "{} entries in {secs:.1} s ({:.0} entries/s)",
        thousands(done),
        done as f64 / secs
    );
    if verifier.size() < cp.size {
        save(&verifier, &target.note)?;
        println!(
            "STOPPED {origin} at entry {}: {} of {} entries verified; state saved in {}, run again to resume",
            thousands(verifier.size()),
            thousands(verifier.size()),
            thousands(cp.size),
            state_path.display()
        );
        return Ok(ExitCode::from(EXIT_INCOMPLETE));
    }

    // The head against the checkpoint, and the key that signed it.
    if let Err(e) = verifier.head().close(&cp) {
        let reason = format!(
            "the {} entries give the root {}, but their checkpoint says {} ({e})",
            thousands(verifier.size()),
            B64.encode(verifier.head().root()),
            B64.encode(cp.root)
        );
        return Ok(failed(&run, &Failure { at: None, reason }));
    }
    let due = verifier.starts().index_at(cp.size.saturating_sub(1));
    if cp.size > 0 && due != key_index {
        let reason = format!(
            "its checkpoint of size {} is signed by {origin}'s key {}, but the log gives position {} to key {}",
            cp.size,
            key_index + 1,
            cp.size - 1,
            due + 1
        );
        return Ok(failed(&run, &Failure { at: None, reason }));
    }

    // A newer checkpoint: the log must have grown from the one verified.
    let mut newest = target.note.clone();
    if let Ok(note) = source.checkpoint_note()
        && note != target.note
    {
        match roster.open_checkpoint_at(origin, &note, verifier.starts()) {
            Ok((later, _)) if later.checkpoint.size >= cp.size => {
                if let Err(f) = check_consistent(&source, suite, &cp, &later.checkpoint) {
                    return Ok(failed(&run, &f));
                }
                run.consistent
                    .push((later.checkpoint.size, "at the end of this run"));
                newest = later.note;
            }
            Ok(_) => {
                eprintln!("note: the node now serves an older checkpoint of {origin}; ignored")
            }
            Err(e) => {
                let reason =
                    format!("the node's newer checkpoint is not signed by {origin}'s key: {e}");
                return Ok(failed(&run, &Failure { at: None, reason }));
            }
        }
    }
    save(&verifier, &newest)?;
    Ok(verdict(&run, &verifier, &cp, key_index))
}

/// Fetches and checks the consistency proof from `old` to `new`.
fn check_consistent(
    source: &LogSource,
    suite: merkle::Suite,
    old: &Checkpoint,
    new: &Checkpoint,
) -> Result<(), Failure> {
    let proof = if old.size == 0 || old.size == new.size {
        Vec::new()
    } else {
        source
            .consistency(old.size, new.size)
            .map_err(|e| Failure {
                at: None,
                reason: format!(
                    "no consistency proof from size {} to {}: {e:#}",
                    old.size, new.size
                ),
            })?
    };
    merkle::verify_consistency(suite, old.size, new.size, &old.root, &new.root, &proof).map_err(|e| Failure {
        at: None,
        reason: format!(
            "the checkpoint of size {} (root {}) is not consistent with the one of size {} (root {}): {e}",
            new.size,
            B64.encode(new.root),
            old.size,
            B64.encode(old.root)
        ),
    })
}

fn save_state(
    v: &Verifier<'_>,
    roster: &Roster,
    origin: &str,
    checkpoint: &str,
    path: &std::path::Path,
) -> Result<()> {
    AuditState {
        version: state::STATE_VERSION,
        federation: roster.federation.clone(),
        origin: origin.to_owned(),
        suite: roster.suite,
        size: v.size(),
        root: B64.encode(v.tree().root()),
        last_leaf: B64.encode(v.last_leaf()),
        frontier: v.tree().frontier().iter().map(|h| B64.encode(h)).collect(),
        key_starts: v.starts().known(),
        withheld: v.withheld().to_vec(),
        checkpoint: checkpoint.to_owned(),
    }
    .save(path)
}

fn failed(run: &Run, f: &Failure) -> ExitCode {
    match f.at {
        Some(at) => println!("FAILED {} at entry {at}: {}", run.origin, f.reason),
        None => println!("FAILED {}: {}", run.origin, f.reason),
    }
    ExitCode::from(EXIT_FAILED)
}

fn verdict(run: &Run, v: &Verifier<'_>, cp: &Checkpoint, key_index: usize) -> ExitCode {
    let mut tail = String::new();
    for (size, when) in &run.consistent {
        tail.push_str(&format!(
            "; consistent with the checkpoint of size {} seen {when}",
            thousands(*size)
        ));
    }
    if let Some(at) = run.resumed_at {
        tail.push_str(&format!(
            "; resumed at entry {} from {}",
            thousands(at),
            run.state_path.display()
        ));
    }
    let root = B64.encode(cp.root);
    let signed = format!(
        "root {root} matches its checkpoint of size {} signed by key {}",
        thousands(cp.size),
        key_index + 1
    );
    let withheld: u64 = v.withheld().iter().map(|(a, b)| b - a + 1).sum();
    if withheld == 0 {
        println!(
            "OK {}: {} entries verified (signatures, chain, ownership, records), {signed}{tail}",
            run.origin,
            thousands(cp.size)
        );
        return ExitCode::SUCCESS;
    }
    let needs = if v.needs().is_empty() {
        "conditional or government".to_owned()
    } else {
        v.needs().iter().cloned().collect::<Vec<_>>().join(" or ")
    };
    println!(
        "INCOMPLETE {}: {} entries, {signed}, but {} of them were withheld from this reader and are \
         NOT verified (their signatures, chain links, ownership and records): seqs {}; rerun with \
         --token-file of a token that reads them ({needs} access: an auditor's, an admin's, or an \
         agency's with that access){tail}",
        run.origin,
        thousands(cp.size),
        thousands(withheld),
        ranges(v.withheld())
    );
    ExitCode::from(EXIT_INCOMPLETE)
}

/// Inclusive ranges as `3, 5-9, 12`, the first 20 of them.
fn ranges(list: &[(u64, u64)]) -> String {
    const SHOWN: usize = 20;
    let mut parts: Vec<String> = list
        .iter()
        .take(SHOWN)
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    if list.len() > SHOWN {
        parts.push(format!("… ({} ranges in all)", list.len()));
    }
    parts.join(", ")
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Set by Ctrl-C or SIGTERM: the loop stops after the page in hand and
/// saves the state.
fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&flag);
    if ctrlc::set_handler(move || set.store(true, Ordering::SeqCst)).is_err() {
        eprintln!("note: cannot catch Ctrl-C; an interrupted run resumes from the last save");
    }
    flag
}

/// Progress on standard error: a bar with entries/s on a terminal, a line
/// every few seconds otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    first: u64,
    done: u64,
    total: u64,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    fn new(done: u64, total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_position(done);
            bar.reset_eta();
            if let Ok(style) = ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} entries ({per_sec}, eta {eta})",
            ) {
                bar.set_style(style);
            }
            bar
        });
        let now = Instant::now();
        Progress {
            bar,
            first: done,
            done,
            total,
            started: now,
            last_line: now,
        }
    }

    fn advance(&mut self, n: u64) {
        self.done += n;
        match &self.bar {
            Some(bar) => bar.inc(n),
            None if self.last_line.elapsed() >= PLAIN_PROGRESS_EVERY => {
                self.last_line = Instant::now();
                let secs = self.started.elapsed().as_secs_f64().max(0.001);
                eprintln!(
                    "audit log: {}/{} entries ({:.0} entries/s)",
                    thousands(self.done),
                    thousands(self.total),
                    (self.done - self.first) as f64 / secs
                );
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_ranges_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(ranges(&[(3, 3), (5, 9)]), "3, 5-9");
    }
}
