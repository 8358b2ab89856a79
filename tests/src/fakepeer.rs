//! A fake replication peer: the node's own transport
//! ([`rongxin_node::net::start`]: libp2p, TLS, yamux, `/rongxin/sync/1`)
//! under a roster member's transport key, answering requests from a script
//! the test sets and changes. With the key of a member that does not run as
//! a real node, it passes the roster gate and can serve crafted data; with a
//! fresh key it plays an intruder. Also builds signed logs and checkpoints
//! with keys the test holds ([`LogMaker`]).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use libp2p::{Multiaddr, PeerId, identity};
use rongxin_node::metrics::Metrics;
use rongxin_node::net::{Inbound, NetConfig};
use rongxin_protocol::checkpoint::Checkpoint;
use rongxin_protocol::entry::{Entry, Op, SignedEntry};
use rongxin_protocol::merkle::{self, Hash};
use rongxin_protocol::note::NoteSigner;
use rongxin_protocol::record::Record;
use rongxin_protocol::suite::Suite;
use rongxin_protocol::wire::{Request, Response};
use tokio_util::sync::CancellationToken;

use crate::federation::free_port;

/// How the fake answers one request.
pub type Script = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

#[derive(Default)]
struct State {
    script: Option<Script>,
    /// Requests received since the script was last set.
    seen: Vec<Request>,
}

/// A fake peer running on its own small tokio runtime. Stops when dropped.
pub struct FakePeer {
    runtime: Option<tokio::runtime::Runtime>,
    cancel: CancellationToken,
    peer_id: PeerId,
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for FakePeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FakePeer({} at {})", self.peer_id, self.addr)
    }
}

/// Parses a roster peer id.
pub fn peer_id(text: &str) -> PeerId {
    text.parse()
        .unwrap_or_else(|e| panic!("{text} is not a peer id: {e}"))
}

impl FakePeer {
    /// Starts a peer with `keypair` (protobuf encoding) listening on a free
    /// loopback port, letting in `allowed` and keeping connections to `dial`.
    /// Until a script is set it answers every request with an error.
    pub fn start(keypair: &[u8], allowed: &[PeerId], dial: &[(PeerId, Multiaddr)]) -> FakePeer {
        let keypair =
            identity::Keypair::from_protobuf_encoding(keypair).expect("a libp2p transport key");
        let peer_id = keypair.public().to_peer_id();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let cancel = CancellationToken::new();
        let state = Arc::new(Mutex::new(State::default()));
        let config = NetConfig {
            keypair,
            listen: format!("/ip4/127.0.0.1/tcp/{port}")
                .parse()
                .expect("a multiaddr"),
            allowed: allowed.iter().copied().collect::<HashSet<_>>(),
            dial: dial
                .iter()
                .map(|(p, a)| (*p, vec![a.clone()]))
                .collect::<HashMap<_, _>>(),
        };
        let (net, mut inbound, task) = {
            let _guard = runtime.enter();
            rongxin_node::net::start(config, Metrics::new(), cancel.clone())
                .expect("start the fake peer's transport")
        };
        runtime.spawn(task);
        let s = state.clone();
        runtime.spawn(async move {
            while let Some(Inbound {
                request, channel, ..
            }) = inbound.recv().await
            {
                let script = {
                    let mut st = s.lock().expect("fake peer lock");
                    st.seen.push(request.clone());
                    st.script.clone()
                };
                let response = match script {
                    Some(f) => f(&request),
                    None => Response::Error {
                        message: "no script yet".into(),
                    },
                };
                net.respond(channel, response).await;
            }
        });
        FakePeer {
            runtime: Some(runtime),
            cancel,
            peer_id,
            addr,
            state,
        }
    }

    /// The fake's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers with `script` from now on and forgets the requests seen.
    pub fn set_script(&self, script: impl Fn(&Request) -> Response + Send + Sync + 'static) {
        let mut st = self.state.lock().expect("fake peer lock");
        st.script = Some(Arc::new(script));
        st.seen.clear();
    }

    /// Requests seen since the script was set that `pred` selects.
    pub fn count(&self, pred: impl Fn(&Request) -> bool) -> usize {
        let st = self.state.lock().expect("fake peer lock");
        st.seen.iter().filter(|r| pred(r)).count()
    }

    /// `Status` requests seen since the script was set.
    pub fn status_requests(&self) -> usize {
        self.count(|r| matches!(r, Request::Status))
    }

    /// `Entries` requests seen since the script was set.
    pub fn entries_requests(&self) -> usize {
        self.count(|r| matches!(r, Request::Entries { .. }))
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
        }
    }
}

/// A script that answers `Status` with `checkpoints` and `Entries` of
/// `origin` with what `entries(from, limit)` returns (other origins: an
/// error); `Roster` with nothing newer.
pub fn serve(
    roster_version: u64,
    checkpoints: Vec<String>,
    origin: &str,
    entries: impl Fn(u64, u32) -> Vec<SignedEntry> + Send + Sync + 'static,
) -> impl Fn(&Request) -> Response + Send + Sync + 'static {
    let origin = origin.to_owned();
    move |req| match req {
        Request::Status => Response::Status {
            roster_version,
            checkpoints: checkpoints.clone(),
        },
        Request::Entries {
            origin: o,
            from,
            limit,
        } if *o == origin => Response::Entries {
            origin: o.clone(),
            from: *from,
            entries: entries(*from, *limit),
        },
        Request::Roster { .. } => Response::Roster { note: None },
        _ => Response::Error {
            message: "not served by this fake".into(),
        },
    }
}

/// Signs entries and checkpoints of one origin with a key the test holds.
#[derive(Debug)]
pub struct LogMaker {
    origin: String,
    checkpoint_origin: String,
    signer: NoteSigner,
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl LogMaker {
    /// Entries claiming `origin`, signed by `signer`, checkpoints named
    /// `<federation>/<origin>` (signed by `signer` too, whoever it is).
    pub fn new(federation: &str, origin: &str, signer: &NoteSigner) -> LogMaker {
        let checkpoint_origin = format!("{federation}/{origin}");
        let signer = NoteSigner::new(&checkpoint_origin, signer.secret().clone())
            .expect("a signer under the origin's name");
        LogMaker {
            origin: origin.to_owned(),
            checkpoint_origin,
            signer,
        }
    }

    /// The suite of the maker's key, whose hash chains and roots its log.
    pub fn suite(&self) -> Suite {
        self.signer.suite()
    }

    /// Entry `seq` after an entry with leaf hash `prev`, putting `record`.
    pub fn entry(&self, seq: u64, prev: Hash, record: Record) -> SignedEntry {
        Entry {
            origin: self.origin.clone(),
            seq,
            prev_hash: prev,
            time_ms: now_ms(),
            op: Op::Put(record),
        }
        .sign(self.signer.secret())
        .expect("sign an entry")
    }

    /// A chained log putting `records`, from seq 0.
    pub fn log(&self, records: Vec<Record>) -> Vec<SignedEntry> {
        let mut prev = [0; 32];
        let mut out = Vec::new();
        for (seq, r) in records.into_iter().enumerate() {
            let e = self.entry(seq as u64, prev, r);
            prev = e.leaf_hash(self.suite());
            out.push(e);
        }
        out
    }

    /// The same entry bytes, signed by this maker's key instead.
    pub fn resign(&self, entry: &SignedEntry) -> SignedEntry {
        SignedEntry {
            bytes: entry.bytes.clone(),
            signature: self.signer.secret().sign(&entry.bytes),
        }
    }

    /// A signed checkpoint note for exactly `entries`.
    pub fn checkpoint(&self, entries: &[SignedEntry]) -> String {
        Checkpoint {
            origin: self.checkpoint_origin.clone(),
            size: entries.len() as u64,
            root: root(self.suite(), entries),
        }
        .sign(&self.signer)
        .expect("sign a checkpoint")
        .note
    }
}

/// The RFC 6962 root of `entries` with the hash of `suite`.
pub fn root(suite: Suite, entries: &[SignedEntry]) -> Hash {
    if entries.is_empty() {
        merkle::empty_root(suite)
    } else {
        merkle::root_of(
            suite,
            &entries
                .iter()
                .map(|e| e.leaf_hash(suite))
                .collect::<Vec<_>>(),
        )
    }
}
