//! The replication transport: libp2p over TCP, secured with TLS 1.3
//! (libp2p-tls on rustls), multiplexed with yamux, carrying the
//! request-response protocol `/rongxin/sync/1` (see [`codec`]).
//!
//! One task owns the Swarm (started by [`start`]); everything else talks to it through a
//! cloneable [`NetHandle`] over a bounded channel. Only peers whose peer id
//! the roster lists may connect: the allow-list behaviour refuses every other
//! connection right after the TLS handshake proves the peer's identity, and
//! each refusal is logged and counted. Configured peers are dialled and
//! redialled with backoff while the node runs.

pub mod codec;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, allow_block_list, identity};
use rongxin_protocol::wire::{Request, Response};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use codec::{PROTOCOL, WireCodec};

/// Requests from peers waiting to be answered; past this, new ones are refused.
const INBOUND_QUEUE: usize = 64;
/// Commands waiting for the Swarm task.
const COMMAND_QUEUE: usize = 256;
/// How long a request may take before it fails.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A transport failure.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The request failed on the wire (timeout, connection lost, refused).
    #[error("request to {peer} failed: {why}")]
    Request {
        /// The peer.
        peer: PeerId,
        /// Why.
        why: String,
    },
    /// The transport is shutting down.
    #[error("the network task has stopped")]
    Stopped,
}

/// A request from a peer, with the channel to answer on.
#[derive(Debug)]
pub struct Inbound {
    /// Who asked.
    pub peer: PeerId,
    /// What.
    pub request: Request,
    /// Where the answer goes (through [`NetHandle::respond`]).
    pub channel: ResponseChannel<Response>,
}

#[derive(Debug)]
enum Command {
    Request {
        peer: PeerId,
        /// Where to dial the peer when not connected (empty: do not dial).
        addrs: Vec<Multiaddr>,
        request: Box<Request>,
        reply: oneshot::Sender<Result<Response, NetError>>,
    },
    Respond {
        channel: ResponseChannel<Response>,
        response: Response,
    },
    SetPeers {
        allowed: HashSet<PeerId>,
        dial: HashMap<PeerId, Vec<Multiaddr>>,
    },
}

/// Talks to the Swarm task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct NetHandle {
    commands: mpsc::Sender<Command>,
    local: PeerId,
}

impl NetHandle {
    /// This node's peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local
    }

    /// Sends `request` to `peer` and waits for the answer.
    pub async fn request(&self, peer: PeerId, request: Request) -> Result<Response, NetError> {
        self.reach(peer, Vec::new(), request).await
    }

    /// Sends `request` to `peer`, dialling it at `addrs` first when not
    /// connected (a member this node does not keep connected to, such as
    /// the origin of a record objected to here), and waits for the answer.
    pub async fn reach(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: Request,
    ) -> Result<Response, NetError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Request {
                peer,
                addrs,
                request: Box::new(request),
                reply,
            })
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)?
    }

    /// Answers an inbound request.
    pub async fn respond(&self, channel: ResponseChannel<Response>, response: Response) {
        // If the task has stopped, the peer's request fails; nothing to do.
        let _ = self
            .commands
            .send(Command::Respond { channel, response })
            .await;
    }

    /// Replaces the allowed peer set (the roster's peer ids) and the peers to
    /// keep connected to, closing connections of peers no longer allowed.
    pub async fn set_peers(&self, allowed: HashSet<PeerId>, dial: HashMap<PeerId, Vec<Multiaddr>>) {
        let _ = self
            .commands
            .send(Command::SetPeers { allowed, dial })
            .await;
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    allow: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    rr: request_response::Behaviour<WireCodec>,
}

/// What the transport needs to start.
#[derive(Debug)]
pub struct NetConfig {
    /// The transport identity (its peer id is in the roster).
    pub keypair: identity::Keypair,
    /// Where to listen.
    pub listen: Multiaddr,
    /// Peer ids allowed to connect (every roster member).
    pub allowed: HashSet<PeerId>,
    /// Peers to keep connected to, with their addresses.
    pub dial: HashMap<PeerId, Vec<Multiaddr>>,
}

/// Builds the Swarm and starts listening. Returns the handle, the stream of
/// inbound requests, and the task to spawn.
pub fn start(
    config: NetConfig,
    metrics: Metrics,
    cancel: CancellationToken,
) -> anyhow::Result<(
    NetHandle,
    mpsc::Receiver<Inbound>,
    impl Future<Output = ()> + Send + 'static,
)> {
    let local = config.keypair.public().to_peer_id();
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(config.keypair)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default().nodelay(true),
            libp2p::tls::Config::new,
            libp2p::yamux::Config::default,
        )?
        .with_behaviour(|_| Behaviour {
            allow: allow_block_list::Behaviour::default(),
            rr: request_response::Behaviour::new(
                [(PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(REQUEST_TIMEOUT)
                    .with_max_concurrent_streams(64),
            ),
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    for p in &config.allowed {
        swarm.behaviour_mut().allow.allow_peer(*p);
    }
    swarm.listen_on(config.listen.clone())?;
    let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
    let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_QUEUE);
    let task = EventLoop {
        swarm,
        commands: command_rx,
        inbound: inbound_tx,
        pending: HashMap::new(),
        dial: config.dial,
        next_dial: HashMap::new(),
        metrics,
    }
    .run(cancel);
    Ok((NetHandle { commands, local }, inbound_rx, task))
}

struct EventLoop {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    inbound: mpsc::Sender<Inbound>,
    pending: HashMap<OutboundRequestId, oneshot::Sender<Result<Response, NetError>>>,
    dial: HashMap<PeerId, Vec<Multiaddr>>,
    /// Backoff per peer: when to dial next, and the current delay.
    next_dial: HashMap<PeerId, (Instant, Duration)>,
    metrics: Metrics,
}

impl EventLoop {
    async fn run(mut self, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                cmd = self.commands.recv() => match cmd {
                    Some(c) => self.command(c),
                    None => break,
                },
                event = self.swarm.select_next_some() => self.event(event),
                _ = tick.tick() => self.redial(),
            }
        }
        tracing::info!("network stopped");
    }

    fn redial(&mut self) {
        let now = Instant::now();
        let peers: Vec<PeerId> = self.dial.keys().copied().collect();
        for peer in peers {
            if self.swarm.is_connected(&peer) {
                continue;
            }
            let (at, delay) = self
                .next_dial
                .get(&peer)
                .copied()
                .unwrap_or((now, Duration::from_millis(250)));
            if at > now {
                continue;
            }
            let addrs = self.dial.get(&peer).cloned().unwrap_or_default();
            let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                .addresses(addrs)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, error = %e, "dial not started");
            }
            // Capped exponential backoff, reset on connection.
            let next = (delay * 2).min(Duration::from_secs(10));
            self.next_dial.insert(peer, (now + delay, next));
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Request {
                peer,
                addrs,
                request,
                reply,
            } => {
                if !self.swarm.is_connected(&peer) && !addrs.is_empty() {
                    // request-response dials the peer at the addresses known.
                    for a in addrs {
                        self.swarm.add_peer_address(peer, a);
                    }
                } else if !self.swarm.is_connected(&peer) {
                    let _ = reply.send(Err(NetError::Request {
                        peer,
                        why: "not connected".into(),
                    }));
                    return;
                }
                let id = self.swarm.behaviour_mut().rr.send_request(&peer, *request);
                self.pending.insert(id, reply);
            }
            Command::Respond { channel, response } => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .rr
                    .send_response(channel, response);
            }
            Command::SetPeers { allowed, dial } => {
                let current: Vec<PeerId> = self
                    .swarm
                    .behaviour()
                    .allow
                    .allowed_peers()
                    .iter()
                    .copied()
                    .collect();
                for p in current.iter().filter(|p| !allowed.contains(p)) {
                    self.swarm.behaviour_mut().allow.disallow_peer(*p);
                    tracing::warn!(peer = %p, "peer no longer in the roster: disconnected");
                }
                for p in allowed {
                    self.swarm.behaviour_mut().allow.allow_peer(p);
                }
                self.dial = dial;
            }
        }
    }

    fn event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "replication listening")
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                // The backoff is reset only once the peer talks over the
                // connection (see `rr_event`): a peer that refuses us right
                // after the handshake must not be redialled every tick.
                tracing::info!(peer = %peer_id, address = %endpoint.get_remote_address(), "peer connected");
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                cause,
                num_established: 0,
                ..
            } => tracing::info!(peer = %peer_id, cause = ?cause, "peer disconnected"),
            SwarmEvent::IncomingConnectionError {
                peer_id,
                error,
                send_back_addr,
                ..
            } => {
                if matches!(error, libp2p::swarm::ListenError::Denied { .. }) {
                    self.metrics.refused_peers.inc();
                    tracing::warn!(peer = ?peer_id, address = %send_back_addr, "refused a connection from a peer not in the roster");
                } else {
                    tracing::debug!(peer = ?peer_id, error = %error, "incoming connection failed");
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                if matches!(error, libp2p::swarm::DialError::Denied { .. }) {
                    self.metrics.refused_peers.inc();
                    tracing::warn!(peer = ?peer_id, "refused to connect to a peer not in the roster");
                } else {
                    tracing::debug!(peer = ?peer_id, error = %error, "dial failed");
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Rr(ev)) => self.rr_event(ev),
            _ => {}
        }
    }

    fn rr_event(&mut self, ev: request_response::Event<Request, Response>) {
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    self.next_dial.remove(&peer);
                    if self
                        .inbound
                        .try_send(Inbound {
                            peer,
                            request,
                            channel,
                        })
                        .is_err()
                    {
                        // Dropping the channel fails the peer's request; it retries later.
                        tracing::warn!(%peer, "too many requests waiting; refused one");
                    }
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    self.next_dial.remove(&peer);
                    if let Some(reply) = self.pending.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Err(NetError::Request {
                        peer,
                        why: error.to_string(),
                    }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, error = %error, "answering a peer failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }
}
