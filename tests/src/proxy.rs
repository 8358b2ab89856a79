//! A fault-injecting TCP proxy for replication links: it listens on a
//! loopback port the test owns (so the port can be written into a roster
//! before any node runs), forwards each connection to a target that can be
//! set and changed later (a node's p2p port, which may change on restart),
//! and can be **cut**: every open connection is closed and new ones are
//! accepted and closed at once, like a link that drops everything, until it
//! is **healed**.
//!
//! One thread accepts; each forwarded connection has two copying threads.
//! Everything stops when the proxy is dropped.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// A TCP proxy on `127.0.0.1`.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    name: String,
    target: Mutex<Option<SocketAddr>>,
    cut: AtomicBool,
    stop: AtomicBool,
    /// Both ends of every open forwarded connection (closed by a cut).
    open: Mutex<Vec<(u64, TcpStream)>>,
    next_id: AtomicU64,
    accepted: AtomicU64,
    forwarded: AtomicU64,
    dropped: AtomicU64,
}

impl Proxy {
    /// Binds a free loopback port; `name` is for diagnostics.
    pub fn new(name: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a proxy port");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            name: name.to_owned(),
            ..Shared::default()
        });
        let s = shared.clone();
        thread::Builder::new()
            .name(format!("proxy-{name}"))
            .spawn(move || accept_loop(listener, s))
            .expect("spawn the proxy thread");
        Proxy { addr, shared }
    }

    /// Where the proxy listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy's address as a libp2p multiaddr, for a roster's `listen`.
    pub fn multiaddr(&self) -> String {
        format!("/ip4/127.0.0.1/tcp/{}", self.addr.port())
    }

    /// Forwards new connections to `target` (`None`: closes them at once).
    pub fn set_target(&self, target: Option<SocketAddr>) {
        *self.shared.target.lock().expect("proxy lock") = target;
    }

    /// Cuts the link: closes every open connection and refuses new ones.
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        self.shared.close_all();
    }

    /// Heals the link: new connections are forwarded again.
    pub fn heal(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
    }

    /// Whether the link is cut.
    pub fn is_cut(&self) -> bool {
        self.shared.cut.load(Ordering::SeqCst)
    }

    /// Connections forwarded and still open.
    pub fn open_connections(&self) -> usize {
        self.shared.open.lock().expect("proxy lock").len() / 2
    }

    /// Connections accepted so far (forwarded or not).
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections accepted and closed at once (cut, or no target reachable).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::SeqCst)
    }

    /// Connections forwarded so far.
    pub fn forwarded(&self) -> u64 {
        self.shared.forwarded.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.close_all();
        // Wake the accepting thread so it sees `stop`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

impl Shared {
    fn close_all(&self) {
        for (_, s) in self.open.lock().expect("proxy lock").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn register(&self, streams: [&TcpStream; 2]) -> io::Result<u64> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let mut open = self.open.lock().expect("proxy lock");
        // A cut that raced with this connection wins.
        if self.cut.load(Ordering::SeqCst) || self.stop.load(Ordering::SeqCst) {
            return Err(io::Error::other("cut"));
        }
        for s in streams {
            open.push((id, s.try_clone()?));
        }
        Ok(id)
    }

    fn unregister(&self, id: u64) {
        self.open
            .lock()
            .expect("proxy lock")
            .retain(|(i, _)| *i != id);
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = conn else { continue };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let s = shared.clone();
        let spawned = thread::Builder::new()
            .name(format!("proxy-{}-conn", shared.name))
            .spawn(move || forward(client, s));
        if spawned.is_err() {
            shared.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn forward(client: TcpStream, shared: Arc<Shared>) {
    let target = *shared.target.lock().expect("proxy lock");
    let upstream = match target {
        Some(t) if !shared.cut.load(Ordering::SeqCst) => {
            TcpStream::connect_timeout(&t, Duration::from_secs(2)).ok()
        }
        _ => None,
    };
    let Some(upstream) = upstream else {
        shared.dropped.fetch_add(1, Ordering::SeqCst);
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let Ok(id) = shared.register([&client, &upstream]) else {
        shared.dropped.fetch_add(1, Ordering::SeqCst);
        let _ = client.shutdown(Shutdown::Both);
        let _ = upstream.shutdown(Shutdown::Both);
        return;
    };
    shared.forwarded.fetch_add(1, Ordering::SeqCst);
    let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
        shared.unregister(id);
        return;
    };
    let back = thread::Builder::new()
        .name(format!("proxy-{}-back", shared.name))
        .spawn(move || pipe(u2, c2));
    pipe(client, upstream);
    if let Ok(t) = back {
        let _ = t.join();
    }
    shared.unregister(id);
}

/// Copies `from` to `to` until either side ends, then closes both.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
