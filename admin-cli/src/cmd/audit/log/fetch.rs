//! What `audit log` reads from the node: checkpoint notes, consistency
//! proofs, and entry pages fetched on a thread of their own, ahead of the
//! verifier, through a bounded channel.
//!
//! It reads the JSON range API (`GET /v1/logs/{origin}/entries`) rather than
//! the C2SP tiles: an entry bundle tile is refused whole when the caller may
//! not read one entry in it, whereas a range answer still carries the leaf
//! hash of each withheld entry, so the tree can be checked and the verdict
//! can name exactly which entries were not verified.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use anyhow::{Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rongxin_protocol::api::{ConsistencyAnswer, EntriesAnswer, EntryItem};
use rongxin_protocol::entry::SignedEntry;
use rongxin_protocol::merkle::Hash;

use crate::client::{Node, NodeError, segment};

/// Pages fetched ahead of the verifier: enough to hide a request's latency,
/// few enough that memory stays at a few pages of entries.
const PAGES_AHEAD: usize = 3;

/// One entry as served.
#[derive(Debug)]
pub enum Item {
    /// The bytes and signature.
    Shown(SignedEntry),
    /// Withheld from this caller: only its leaf hash, and the least access
    /// that would read it.
    Withheld {
        /// The RFC 6962 leaf hash the node gives.
        leaf_hash: Hash,
        /// `conditional` or `government`.
        needs: String,
    },
}

/// Consecutive entries from `from` on.
#[derive(Debug)]
pub struct Page {
    /// Position of the first item.
    pub from: u64,
    /// The items, in log order.
    pub items: Vec<Item>,
}

/// One origin's log on one node, as the auditor reads it.
#[derive(Debug, Clone)]
pub struct LogSource {
    node: Node,
    origin: String,
    token: Option<String>,
    purpose: Option<String>,
}

impl LogSource {
    /// `origin`'s log on `node`, read with `token` (if any) for `purpose`.
    pub fn new(
        node: Node,
        origin: &str,
        token: Option<String>,
        purpose: Option<String>,
    ) -> LogSource {
        LogSource {
            node,
            origin: origin.to_owned(),
            token,
            purpose,
        }
    }

    fn path(&self, tail: &str) -> String {
        format!("/v1/logs/{}/{tail}", segment(&self.origin))
    }

    /// The newest checkpoint note the node holds (unverified).
    pub fn checkpoint_note(&self) -> Result<String, NodeError> {
        Ok(self.node.get(&self.path("checkpoint"), &[], None)?.body)
    }

    /// The consistency proof from tree size `from` to `to` (unverified).
    pub fn consistency(&self, from: u64, to: u64) -> Result<Vec<Hash>> {
        let (f, t) = (from.to_string(), to.to_string());
        let answer = self
            .node
            .get(&self.path("consistency"), &[("from", &f), ("to", &t)], None)?;
        let proof: ConsistencyAnswer = answer.json()?;
        if proof.from != from || proof.to != to {
            bail!(
                "{} answered a proof from {} to {}, not the one asked for",
                answer.url,
                proof.from,
                proof.to
            );
        }
        proof
            .proof
            .iter()
            .map(|h| {
                decode_hash(h)
                    .ok_or_else(|| bad(&answer.url, "a proof hash is not base64 of 32 bytes"))
            })
            .collect::<Result<_, _>>()
            .map_err(Into::into)
    }

    /// One page of at most `limit` entries from `from`, checked to be the
    /// consecutive entries of this origin from `from` on, at least one.
    pub fn page(&self, from: u64, limit: u64) -> Result<Page, NodeError> {
        let (f, l) = (from.to_string(), limit.to_string());
        let mut query = vec![("from", f.as_str()), ("limit", l.as_str())];
        if let Some(p) = &self.purpose {
            query.push(("purpose", p));
        }
        let answer = self
            .node
            .get(&self.path("entries"), &query, self.token.as_deref())?;
        let page: EntriesAnswer = answer.json()?;
        if page.origin != self.origin || page.from != from {
            return Err(bad(
                &answer.url,
                "the answer is for another origin or position",
            ));
        }
        if page.entries.is_empty() {
            return Err(bad(
                &answer.url,
                &format!("no entries from {from} on, though the log's checkpoint covers them"),
            ));
        }
        let mut items = Vec::with_capacity(page.entries.len());
        for (at, item) in (from..).zip(page.entries) {
            if item.seq() != at {
                return Err(bad(
                    &answer.url,
                    &format!("entry {} where {at} was due", item.seq()),
                ));
            }
            items.push(match item {
                EntryItem::Shown {
                    entry, signature, ..
                } => {
                    let bytes = B64
                        .decode(entry)
                        .map_err(|_| bad(&answer.url, &format!("entry {at} is not base64")))?;
                    let signature = B64
                        .decode(signature)
                        .ok()
                        .and_then(|s| <[u8; 64]>::try_from(s).ok())
                        .ok_or_else(|| {
                            bad(
                                &answer.url,
                                &format!("the signature of entry {at} is not base64 of 64 bytes"),
                            )
                        })?;
                    Item::Shown(SignedEntry { bytes, signature })
                }
                EntryItem::Withheld {
                    leaf_hash, needs, ..
                } => Item::Withheld {
                    leaf_hash: decode_hash(&leaf_hash).ok_or_else(|| {
                        bad(
                            &answer.url,
                            &format!("the leaf hash of entry {at} is not base64 of 32 bytes"),
                        )
                    })?,
                    needs,
                },
            });
        }
        Ok(Page { from, items })
    }

    /// Fetches entries `from..to` on a thread of its own, a few pages ahead
    /// of the caller, who receives them in order. The thread stops at the
    /// first error (sent as the last message) or when the receiver is
    /// dropped.
    pub fn prefetch(&self, from: u64, to: u64, limit: u64) -> Prefetch {
        let (tx, rx) = sync_channel(PAGES_AHEAD);
        let source = self.clone();
        let thread = std::thread::spawn(move || source.fetch_all(from, to, limit, &tx));
        Prefetch {
            rx,
            thread: Some(thread),
        }
    }

    fn fetch_all(
        &self,
        mut from: u64,
        to: u64,
        limit: u64,
        tx: &SyncSender<Result<Page, NodeError>>,
    ) {
        while from < to {
            let page = self.page(from, limit.min(to - from));
            let stop = match &page {
                Ok(p) => {
                    from += p.items.len() as u64;
                    false
                }
                Err(_) => true,
            };
            if tx.send(page).is_err() || stop {
                return;
            }
        }
    }
}

/// Pages arriving from the fetch thread.
#[derive(Debug)]
pub struct Prefetch {
    rx: Receiver<Result<Page, NodeError>>,
    thread: Option<JoinHandle<()>>,
}

impl Prefetch {
    /// The next page; `None` once all were received.
    pub fn next_page(&mut self) -> Option<Result<Page, NodeError>> {
        self.rx.recv().ok()
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        // Unblock the thread (its next send fails), then wait for it: at
        // most the request in flight.
        let (_, dead) = sync_channel(0);
        drop(std::mem::replace(&mut self.rx, dead));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn decode_hash(text: &str) -> Option<Hash> {
    B64.decode(text).ok().and_then(|h| h.try_into().ok())
}

fn bad(url: &str, detail: &str) -> NodeError {
    NodeError::BadAnswer {
        url: url.to_owned(),
        detail: detail.to_owned(),
    }
}
