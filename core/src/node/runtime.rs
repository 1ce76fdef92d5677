//! The node's runtime (`Runtime`): the state of one server node in the
//! cluster and the tasks around it: the handoff donor and acceptor, the
//! peer inbox, the flow lock's captures, housekeeping and load reports.
//! Mirroring and recovery are `impl` blocks of it in their own files.

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use super::messages::{Message, Refusal};
use crate::cluster::failover_metrics::FailoverMetrics;
use crate::cluster::membership::Membership;
use crate::cluster::mirror_store::{MirrorRecord, MirrorStore, Served};
use crate::cluster::peer_channel::PeerCodec;
use crate::cluster::peer_stream::{PeerStreamError, PeerStreams};
use crate::config::Config;
use crate::dataplane::FlowKey;
use crate::lowlevel::{Node, NodeError, Scope};
use crate::metrics::{Counter, Gauge, Histogram, DURATION_BUCKETS};
use crate::node::recovery::{Claims, Recovering};
use crate::policy::{ClientInfo, NodeView};
use crate::tcp::ack_probe::ProbeSender;
use crate::tcp::flow_lock::{Captured, FlowLock, LockError, Replayer};
use crate::tcp::repair::{self, RepairError, TcpState};
use crate::tcp::stream_offsets::{StreamBase, StreamOffsets};

use super::crash_point::{self, CrashPoint};
pub(crate) use super::route_table::Route;
use super::route_table::{Next, RouteTable};
use super::silent_acceptor::{self, Holder, Verdict};
use super::takeover::{Failure, Source, Step, Takeover, Undo};

/// How long a donor waits for the acceptor's outcome. Longer than the
/// acceptor's own deadline, so that the acceptor gives up first.
pub const OUTCOME_TIMEOUT: Duration = Duration::from_secs(4);
/// The acceptor's deadline for return routability and Binding Update.
pub const ACCEPT_DEADLINE: Duration = Duration::from_secs(3);
/// How long a split handoff's donor waits for return routability.
pub const PREPARE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a flow stays locked at a node after it left, so packets the
/// client sent before its binding changed still reach the new holder
/// instead of meeting a reset here.
pub const GRACE: Duration = Duration::from_secs(2);
/// Captured packets of a flow whose offer never came are dropped after this.
const ORPHAN: Duration = Duration::from_secs(10);
/// How often load is reported to the other nodes.
pub const LOAD_EVERY: Duration = Duration::from_millis(200);
/// A node whose report is older than this is not offered to policies.
const LOAD_STALE: Duration = Duration::from_secs(2);

/// Why a handoff failed. The connection stays where it was in every case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandoffError {
    /// The target is not a node of the configuration.
    #[error("{0} is not a node of the distributed server")]
    UnknownTarget(Ipv6Addr),
    /// The target is this node.
    #[error("the connection is already served by this node")]
    SelfTarget,
    /// Freezing, dumping or restoring the TCP state failed.
    #[error(transparent)]
    Repair(#[from] RepairError),
    /// The flow lock failed.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The peer channel failed.
    #[error(transparent)]
    Peer(#[from] PeerStreamError),
    /// Signalling failed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The acceptor refused or failed.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The configuration's cluster key is not 32 octets.
    #[error("the cluster key is not 32 octets")]
    BadClusterKey,
    /// The handoff metrics could not be registered.
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    /// No answer in time.
    #[error("no answer from the acceptor within {0:?}")]
    Timeout(Duration),
    /// The acceptor was declared down before it answered.
    #[error("the acceptor was declared down before it answered")]
    AcceptorDown,
    /// A socket call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The cause.
        source: std::io::Error,
    },
}

/// A connection that arrived at this node: accepted here, or handed in.
#[derive(Debug)]
pub struct Arrival {
    /// The live socket.
    pub stream: Arc<std::net::TcpStream>,
    /// Where the socket's byte counters start in the connection's streams.
    pub base: StreamBase,
    /// True when it came from another node.
    pub handed_in: bool,
    /// Set when the backup recovered it after its node crashed: where the
    /// stream stood then.
    pub recovered: Option<StreamOffsets>,
}

/// Where a node's server sockets take their connections, by port.
pub type Listeners = Arc<RwLock<HashMap<u16, mpsc::UnboundedSender<Arrival>>>>;

#[derive(Debug, Default)]
pub(crate) struct Load {
    connections: u32,
    available: bool,
    at: Option<Instant>,
    rtts: HashMap<Ipv6Addr, u32>,
}

/// Counters of the engine.
struct RuntimeMetrics {
    out: Counter,
    into: Counter,
    failures: Counter,
    seconds: Histogram,
}

/// The engine of one node. Lives in the node's runtime.
pub struct Runtime {
    pub(crate) node: Arc<Node>,
    pub(crate) me: u16,
    nodes: Vec<Ipv6Addr>,
    pub(crate) streams: PeerStreams,
    pub(crate) lock: FlowLock,
    replayer: Replayer,
    listeners: Listeners,
    /// Everything of the runtime that changes, behind one lock.
    state: Mutex<State>,
    connections: Gauge,
    joined: std::sync::atomic::AtomicBool,
    metrics: RuntimeMetrics,
    /// Which nodes are alive, and who backs up whom.
    pub(crate) membership: Arc<Membership>,
    pub(crate) mirror_every: u64,
    pub(crate) probes: ProbeSender,
    pub(crate) failover: FailoverMetrics,
    /// Contact-node order: the configured contact, then its backups.
    pub(crate) contact_order: Vec<u16>,
    pub(crate) is_contact: std::sync::atomic::AtomicBool,
    /// How many times the cluster declared this node down while it lived
    /// (it fenced its connections then): a handoff or recovery begun
    /// before a fence must not bring a connection back to life here.
    pub(crate) fences: std::sync::atomic::AtomicU64,
}

/// The runtime's mutable state, behind one lock so that no lock order
/// exists to get wrong. The lock is never held across an `.await`, nor
/// across a call that takes it again (`Runtime::state` is not reentrant).
#[derive(Default)]
pub(crate) struct State {
    /// Where packets the flow lock catches go, by flow.
    pub routes: RouteTable,
    /// Donors waiting for an outcome or a prepare answer, by handoff id.
    pub waiting: HashMap<u64, oneshot::Sender<Message>>,
    /// Handoffs their donor gave up, by id, with when.
    pub aborted: HashMap<u64, Instant>,
    /// The other nodes' last load reports (and this node's own RTTs).
    pub loads: HashMap<u16, Load>,
    /// RTTs this node measured, not yet reported.
    pub rtt_news: HashMap<Ipv6Addr, u32>,
    /// The runtime's tasks, ended with it.
    pub tasks: Vec<JoinHandle<()>>,
    /// The connections this node serves, for mirroring.
    pub served: HashMap<FlowKey, Served>,
    /// The connections of the nodes this node backs up.
    pub mirrors: MirrorStore,
    /// The node this node mirrors to, as of the last mirror round.
    pub mirroring_to: Option<u16>,
    /// Claims waiting for answers, by question id.
    pub claims: HashMap<u64, ClaimAnswers>,
    /// Connections a recovery here is about (see [`Recovering`]).
    pub recovering: HashMap<FlowKey, Recovering>,
}

/// Where the answers to one claim question go: (node, flows it serves).
pub(crate) type ClaimAnswers = mpsc::UnboundedSender<(u16, Claims)>;

impl Drop for Runtime {
    fn drop(&mut self) {
        for t in self
            .state
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .tasks
            .iter()
        {
            t.abort();
        }
    }
}

/// The flow of a connected socket seen from the server side.
pub fn flow_of_socket(stream: &std::net::TcpStream) -> Result<FlowKey, HandoffError> {
    FlowKey::of_socket(stream).map_err(|source| HandoffError::Io {
        what: "reading the socket's addresses",
        source,
    })
}

impl Runtime {
    /// Starts the engine of node `me` (index in `config.nodes`): the peer
    /// streams, the flow lock and the tasks that route captured packets,
    /// answer offers and report load.
    pub async fn start(
        config: &Config,
        me: u16,
        node: Arc<Node>,
        listeners: Listeners,
        connections: Gauge,
        membership: Arc<Membership>,
    ) -> Result<Arc<Runtime>, HandoffError> {
        let key: [u8; 32] = config
            .security
            .cluster_key
            .as_slice()
            .try_into()
            .map_err(|_| HandoffError::BadClusterKey)?;
        let port = config.peer_port;
        let nodes: Vec<Ipv6Addr> = config.nodes.iter().map(|n| n.address).collect();
        let peers = nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != usize::from(me))
            .map(|(i, a)| (i as u16, SocketAddr::new((*a).into(), port)))
            .collect();
        let local = SocketAddr::new(nodes[usize::from(me)].into(), port);
        let (streams, inbox) = PeerStreams::bind::<Message>(
            local,
            PeerCodec::new(&key, me),
            PeerCodec::new(&key, me),
            peers,
        )
        .await?;
        let m = node.metrics().clone();
        let counter = |direction| {
            m.counter(
                "gecko_handoffs_total",
                "Connections handed off, by direction",
                &[("direction", direction)],
            )
        };
        let bad = HandoffError::Metrics;
        let metrics = RuntimeMetrics {
            out: counter("out").map_err(bad)?,
            into: counter("in").map_err(bad)?,
            failures: m
                .counter(
                    "gecko_handoff_failures_total",
                    "Handoffs from this node that failed (the connection stayed)",
                    &[],
                )
                .map_err(bad)?,
            seconds: m
                .histogram(
                    "gecko_handoff_seconds",
                    "Handoffs from this node: freeze to the acceptor's outcome",
                    &[],
                    DURATION_BUCKETS,
                )
                .map_err(bad)?,
        };
        let failover = FailoverMetrics::register(&m).map_err(bad)?;
        let index_of_name = |name: &str| {
            config
                .nodes
                .iter()
                .position(|n| n.name == name)
                .map(|i| i as u16)
        };
        let contact_order: Vec<u16> = std::iter::once(&config.contact.node)
            .chain(&config.contact.backups)
            .filter_map(|n| index_of_name(n))
            .collect();
        let is_contact = contact_order.first() == Some(&me);
        failover.contact.set(i64::from(is_contact));
        let engine = Arc::new(Runtime {
            membership,
            mirror_every: config.failover.mirror_every_bytes,
            probes: ProbeSender::open()?,
            failover,
            contact_order,
            is_contact: std::sync::atomic::AtomicBool::new(is_contact),
            fences: std::sync::atomic::AtomicU64::new(0),
            node,
            me,
            nodes,
            streams,
            lock: FlowLock::open()?,
            replayer: Replayer::open()?,
            listeners,
            state: Mutex::new(State::default()),
            connections,
            joined: std::sync::atomic::AtomicBool::new(true),
            metrics,
        });
        // The tasks hold weak references: dropping the engine ends them.
        let weak = Arc::downgrade(&engine);
        let tasks = vec![
            tokio::spawn(inbox_loop(weak.clone(), inbox)),
            tokio::spawn(capture_loop(weak.clone())),
            tokio::spawn(housekeeping_loop(weak.clone())),
            tokio::spawn(crate::node::mirroring::run(weak.clone())),
            tokio::spawn(crate::node::recovery::watch(weak)),
        ];
        engine.state().tasks = tasks;
        Ok(engine)
    }

    /// The runtime's state, locked (never across an await; not reentrant).
    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many nodes the distributed server has.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Whether this node offers itself to the others' policies.
    pub fn set_joined(&self, joined: bool) {
        self.joined
            .store(joined, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether this node takes part in serving.
    pub fn is_joined(&self) -> bool {
        self.joined.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The node's signalling.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// This node's address.
    pub fn address(&self) -> Ipv6Addr {
        self.nodes[usize::from(self.me)]
    }

    /// The index of the node at `address`.
    pub fn index_of(&self, address: Ipv6Addr) -> Option<u16> {
        self.nodes
            .iter()
            .position(|a| *a == address)
            .map(|i| i as u16)
    }

    /// What a policy sees for `client`; `failed` nodes are marked
    /// unavailable.
    pub fn client_info(&self, client: SocketAddrV6, failed: &[Ipv6Addr]) -> ClientInfo {
        let now = Instant::now();
        let st = self.state();
        let loads = &st.loads;
        let own_rtt = st.rtt_news.get(client.ip()).copied();
        let nodes = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let (connections, fresh, rtt) = if i == usize::from(self.me) {
                    let own = self.connections.get().max(0) as u32;
                    let rtt = own_rtt.or_else(|| {
                        loads
                            .get(&self.me)
                            .and_then(|l| l.rtts.get(client.ip()).copied())
                    });
                    (
                        own,
                        self.joined.load(std::sync::atomic::Ordering::Relaxed),
                        rtt,
                    )
                } else {
                    match loads.get(&(i as u16)) {
                        Some(l) => (
                            l.connections,
                            l.available && l.at.is_some_and(|t| now.duration_since(t) < LOAD_STALE),
                            l.rtts.get(client.ip()).copied(),
                        ),
                        None => (0, false, None),
                    }
                };
                NodeView {
                    address: *a,
                    connections,
                    rtt: rtt.map(|us| Duration::from_micros(u64::from(us))),
                    available: fresh
                        && !failed.contains(a)
                        && (i == usize::from(self.me) || self.membership.is_live(i as u16)),
                }
            })
            .collect();
        ClientInfo {
            address: *client.ip(),
            port: client.port(),
            local: self.address(),
            nodes,
        }
    }

    /// Records this node's round-trip time to a client (from a socket's
    /// TCP_INFO), for proximity.
    pub fn note_rtt(&self, client: Ipv6Addr, rtt: Duration) {
        let us = u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX);
        let mut st = self.state();
        if st.rtt_news.len() < 4096 {
            st.rtt_news.insert(client, us);
        }
        st.loads.entry(self.me).or_default().rtts.insert(client, us);
    }

    /// This node's index.
    pub fn me(&self) -> u16 {
        self.me
    }

    /// The nodes that may be the contact, in order of preference.
    pub(crate) fn contact_order(&self) -> &[u16] {
        &self.contact_order
    }

    /// Whether this node is the contact now.
    pub fn is_contact(&self) -> bool {
        self.is_contact.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn set_contact(&self, contact: bool) {
        self.is_contact
            .store(contact, std::sync::atomic::Ordering::Relaxed);
        self.failover.contact.set(i64::from(contact));
    }

    /// Where a listener for `port` takes its connections.
    pub(crate) fn sink(&self, port: u16) -> Option<mpsc::UnboundedSender<Arrival>> {
        self.listeners
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&port)
            .cloned()
    }

    /// Moves the connection of `stream` to node `target`. `split`: return
    /// routability first, while this node still serves. On success the
    /// socket is left frozen: closing it then sends nothing, and the caller
    /// must close it (every descriptor of it). On failure it serves again.
    pub async fn hand_off(
        self: &Arc<Self>,
        stream: &std::net::TcpStream,
        target: Ipv6Addr,
        split: bool,
    ) -> Result<(), HandoffError> {
        let to = self
            .index_of(target)
            .ok_or(HandoffError::UnknownTarget(target))?;
        if to == self.me {
            return Err(HandoffError::SelfTarget);
        }
        let flow = flow_of_socket(stream)?;
        let id: u64 = rand::random();
        let t0 = Instant::now();
        let result = self.donate(stream, flow, to, id, split).await;
        match &result {
            Ok(()) => {
                self.metrics.out.inc();
                self.metrics.seconds.observe(t0.elapsed());
                // Count it at the target until its next report, so that a
                // burst of placements does not all go to one node.
                if let Some(l) = self.state().loads.get_mut(&to) {
                    l.connections += 1;
                }
            }
            Err(e) => {
                self.metrics.failures.inc();
                tracing::info!(me = self.me, port = flow.client_port, %target, error = %e, "handoff failed; the connection stays here");
            }
        }
        result
    }

    async fn donate(
        self: &Arc<Self>,
        stream: &std::net::TcpStream,
        flow: FlowKey,
        to: u16,
        id: u64,
        split: bool,
    ) -> Result<(), HandoffError> {
        if split {
            let rx = self.wait_for(id);
            self.streams
                .send(
                    to,
                    &Message::Prepare {
                        id,
                        client: flow.client,
                    },
                )
                .await
                .inspect_err(|_| self.stop_waiting(id))?;
            match tokio::time::timeout(PREPARE_TIMEOUT, rx).await {
                Ok(Ok(Message::Prepared { ok: true, .. })) => {}
                Ok(_) => return Err(Refusal::ReturnRoutability.into()),
                Err(_) => {
                    self.stop_waiting(id);
                    return Err(HandoffError::Timeout(PREPARE_TIMEOUT));
                }
            }
        }
        // Step 1: lock, then freeze; packets dropped from here on go to A.
        self.set_route(
            flow,
            Route::Forward {
                to,
                copies: Some(Vec::new()),
                until: None,
            },
        );
        if let Err(e) = self.lock.lock(&flow) {
            self.remove_route(&flow);
            return Err(e.into());
        }
        let fences = self.fences();
        let fd = stream.as_fd();
        let base = self
            .state()
            .served
            .get(&flow)
            .map(|s| s.base)
            .unwrap_or_default();
        let dumped = repair::freeze(fd).and_then(|()| base.dump_with_edges(fd));
        let (state, edges) = match dumped {
            Ok(s) => s,
            Err(e) => {
                self.restore_here(stream, flow, false, fences).await;
                return Err(e.into());
            }
        };
        // Step 2.
        let t_dumped = Instant::now();
        let donor_seq = self.node.handoff_mark(flow.client);
        let record = MirrorRecord::dumped(&state, edges, donor_seq.map(|q| q.0));
        let rx = self.wait_for(id);
        let offer = Message::Offer {
            id,
            state: state.to_bytes(),
            donor_seq,
            edges,
        };
        crash_point::reached(CrashPoint::BeforeOffer, || self.forwarded_any(&flow)).await;
        if let Err(e) = self.streams.send(to, &offer).await {
            self.stop_waiting(id);
            self.restore_here(stream, flow, false, fences).await;
            return Err(e.into());
        }
        crash_point::reached(CrashPoint::AfterOffer, || true).await;
        // The acceptor's backup gets the connection's record now, not at
        // the outcome: an acceptor that took the connection in and served
        // it can die before its outcome and its own record leave (under
        // loss, both in flight), and then nobody else would hold one.
        self.tell_backup_of(to, record);
        tracing::debug!(
            me = self.me,
            port = flow.client_port,
            to,
            send = ?t_dumped.elapsed(),
            queued = state.send_queue.len() + state.recv_queue.len(),
            ?edges,
            "offer sent"
        );
        // Steps 3-6 happen at A. An acceptor declared down will not
        // answer: its connection may need this node's decision now (its
        // backup waits for it before recovering).
        let outcome = tokio::select! {
            got = tokio::time::timeout(OUTCOME_TIMEOUT, rx) => got.ok().and_then(Result::ok),
            () = self.until_down(to) => None,
        };
        match outcome {
            Some(Message::Outcome { ok: true, .. }) => {
                // Step 7: later packets still go to A for a while.
                self.set_route(
                    flow,
                    Route::Forward {
                        to,
                        copies: None,
                        until: Some(Instant::now() + GRACE),
                    },
                );
                self.node.release(flow.client, Scope::Flow(flow));
                self.unserve(flow, Some(edges.sent + edges.received));
                Ok(())
            }
            Some(Message::Outcome {
                maybe_bound,
                reason,
                ..
            }) => {
                self.restore_here(stream, flow, maybe_bound, fences).await;
                Err(reason
                    .unwrap_or_else(|| Refusal::Failed("no reason given".into()))
                    .into())
            }
            Some(_) => {
                self.restore_here(stream, flow, true, fences).await;
                Err(Refusal::UnexpectedAnswer.into())
            }
            None => {
                self.stop_waiting(id);
                // A may still be at work: tell it to stand down (unless it
                // is down: the send would wait out its timeout), and win
                // the binding back in any case.
                if self.membership.is_live(to) {
                    let _ = self.streams.send(to, &Message::Abort { id }).await;
                }
                let kept = self
                    .reclaim_after_silence(stream, (flow, to), (&state, edges), t_dumped, fences)
                    .await;
                // A connection left to another node has moved: the caller
                // must not use this socket again.
                match kept {
                    Kept::Here if !self.membership.is_live(to) => Err(HandoffError::AcceptorDown),
                    Kept::Here => Err(HandoffError::Timeout(OUTCOME_TIMEOUT)),
                    Kept::Elsewhere => Ok(()),
                }
            }
        }
    }

    /// The failure path of a donor: bind the flow back here if the client
    /// may have been told otherwise, thaw, replay what was captured, unlock.
    /// If this node was fenced since the handoff began (`fences`), the
    /// connection is its backup's now: it is ended here without a word.
    async fn restore_here(
        &self,
        stream: &std::net::TcpStream,
        flow: FlowKey,
        rebind: bool,
        fences: u64,
    ) {
        if self.fenced_since(fences) {
            tracing::warn!(
                ?flow,
                "fenced during a handoff: the connection is left to the backup"
            );
            self.end_quietly(stream, flow);
            return;
        }
        if rebind {
            let scope = Scope::Flow(flow);
            if let Err(e) = self.node.handoff_start(flow.client, scope, None).await {
                tracing::error!(?flow, error = %e, "cannot bind the flow back to this node");
            }
        }
        if let Err(e) = repair::unfreeze(stream.as_fd()) {
            tracing::error!(?flow, error = %e, "cannot thaw the socket after a failed handoff");
        }
        let copies = self.go_live(flow);
        self.replay(&copies);
    }

    /// An offer left for `to`: the connection's record as frozen here goes
    /// to `to`'s backup too. `to` mirrors it itself once it took it in,
    /// but a message in flight dies with its node (its kernel resets the
    /// stream), and without a record nobody would recover the connection.
    fn tell_backup_of(self: &Arc<Self>, to: u16, record: MirrorRecord) {
        let Some(backup) = self.membership.backup_of(to) else {
            return;
        };
        if backup == self.me {
            let mut st = self.state();
            let m = &mut st.mirrors;
            m.offer(to, vec![record]);
            self.failover.mirrored.set(m.len() as i64);
            return;
        }
        let e = self.clone();
        tokio::spawn(async move {
            let msg = Message::MirrorOf {
                origin: to,
                records: vec![record],
            };
            let size = postcard::to_allocvec(&msg).map_or(0, |b| b.len() as u64);
            match e.streams.send(backup, &msg).await {
                Ok(()) => e.failover.mirror_bytes.inc_by(size),
                Err(err) => tracing::debug!(backup, error = %err, "telling an acceptor's backup"),
            }
        });
    }

    /// Whether the lock caught a packet of `flow` and sent it on.
    fn forwarded_any(&self, flow: &FlowKey) -> bool {
        matches!(
            self.state().routes.get(flow),
            Some(Route::Forward { copies: Some(c), .. }) if !c.is_empty()
        )
    }

    /// Ends a frozen connection here without a word to the client (another
    /// node serves it, or will), and lifts its route and lock.
    fn end_quietly(&self, stream: &std::net::TcpStream, flow: FlowKey) {
        if let Err(e) = repair::disconnect_quietly(stream.as_fd()) {
            tracing::error!(?flow, error = %e, "cannot end a connection quietly");
        }
        self.take_route(&flow);
        if let Err(e) = self.lock.unlock(&flow) {
            tracing::error!(?flow, error = %e, "cannot unlock the flow");
        }
    }

    /// The failure path of a donor whose acceptor never answered: it may
    /// have died after it took the connection and served it a while, or
    /// live on with it (its outcome lost), or have handed it on. The other
    /// nodes are asked first: if one serves it, or recovers it from the
    /// acceptor's record, it is ended quietly here. Otherwise the flow is
    /// bound back here; then the client is probed: if it has received no
    /// byte past what this frozen socket holds, the socket
    /// resumes as after any failed handoff. If it has, the acceptor moved
    /// the stream on and this socket cannot resume it: it is ended quietly
    /// and left to the acceptor's backup, which recovers the connection
    /// from its mirror (or resets it). (Bytes the acceptor may have taken
    /// from the client are not checked: its answer cannot tell them from
    /// bytes still in flight.)
    async fn reclaim_after_silence(
        self: &Arc<Self>,
        stream: &std::net::TcpStream,
        (flow, to): (FlowKey, u16),
        (state, edges): (&TcpState, StreamOffsets),
        dumped_at: Instant,
        fences: u64,
    ) -> Kept {
        if silent_acceptor::on_silence(self.fenced_since(fences)) == Verdict::ResumeNow {
            self.restore_here(stream, flow, false, fences).await;
            return Kept::Here;
        }
        let holder = self.holder_elsewhere(flow, to).await;
        if silent_acceptor::on_holder(holder) == Verdict::LeaveElsewhere {
            tracing::warn!(
                ?flow,
                ?holder,
                "the silent acceptor took the connection: it is served elsewhere"
            );
            self.end_quietly(stream, flow);
            self.unserve(flow, Some(edges.sent + edges.received));
            return Kept::Elsewhere;
        }
        let bind = self
            .node
            .handoff_start(flow.client, Scope::Flow(flow), None);
        match tokio::time::timeout(ACCEPT_DEADLINE, bind).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(?flow, error = %e, "cannot bind the flow back to this node")
            }
            Err(_) => tracing::error!(?flow, "binding the flow back to this node timed out"),
        }
        // The client's answer is caught beside what the lock kept so far.
        let kept = match self.take_route(&flow) {
            Some(Route::Forward {
                copies: Some(c), ..
            }) => c,
            _ => Vec::new(),
        };
        self.set_route(
            flow,
            Route::Hold {
                packets: kept,
                since: Instant::now(),
                taking_in: true,
            },
        );
        let ts_now = || {
            let elapsed = dumped_at.elapsed().as_millis() as u32;
            state.timestamps.then(|| state.ts_val.wrapping_add(elapsed))
        };
        let held_to = state.snd_una.wrapping_add(state.send_queue.len() as u32);
        let answer =
            crate::node::recovery::probe_client(self, &flow, state.snd_una, state.rcv_nxt, ts_now)
                .await;
        let client_rcv_nxt = match answer {
            Ok(client) => Some(client.rcv_nxt),
            Err(e) => {
                tracing::info!(?flow, error = %e, "no answer from the client: resuming");
                None
            }
        };
        if silent_acceptor::after_probe(client_rcv_nxt, held_to) == Verdict::LeaveElsewhere {
            tracing::warn!(
                ?flow,
                ?client_rcv_nxt,
                held_to,
                "the silent acceptor served the connection: left to its backup"
            );
            self.end_quietly(stream, flow);
            self.unserve(flow, Some(edges.sent + edges.received));
            return Kept::Elsewhere;
        }
        if let Err(e) = repair::unfreeze(stream.as_fd()) {
            tracing::error!(?flow, error = %e, "cannot thaw the socket after a failed handoff");
        }
        let copies = self.go_live(flow);
        self.replay(&copies);
        Kept::Here
    }

    /// Who else holds `flow`: the acceptor, whose outcome was lost, or a
    /// node it handed the connection on to, serving it; or the acceptor's
    /// backup (maybe this node), recovering it from the acceptor's own
    /// record, which exists only if the acceptor took the connection in,
    /// and so may have taken bytes from the client that this node's frozen
    /// socket lacks. A handoff of it still open elsewhere is waited for,
    /// up to [`ACCEPT_DEADLINE`]. The acceptor `to` is asked even if
    /// declared down: it may live on, serving, until it hears so.
    async fn holder_elsewhere(self: &Arc<Self>, flow: FlowKey, to: u16) -> Holder {
        let until = Instant::now() + ACCEPT_DEADLINE;
        loop {
            let claims = crate::node::recovery::claimed_elsewhere(self, &[flow], &[to]).await;
            if claims.served.contains(&flow) {
                return Holder::Serving;
            }
            let recovering_here = self.state().recovering.contains_key(&flow);
            if claims.recovering.contains(&flow) || recovering_here {
                return Holder::Recovering;
            }
            if !claims.pending.contains(&flow) || Instant::now() >= until {
                return Holder::Nobody;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Returns once `to` is declared down (polled: a handoff's wait is
    /// seconds long, a poll costs a lock).
    async fn until_down(&self, to: u16) {
        while self.membership.is_live(to) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many times this node has been fenced so far.
    pub(crate) fn fences(&self) -> u64 {
        self.fences.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether this node was fenced since [`Runtime::fences`] read `before`.
    pub(crate) fn fenced_since(&self, before: u64) -> bool {
        self.fences() != before
    }

    /// A take-over's claim: the flow's packets wait in a Hold route (those
    /// a donor forwarded already stay), which a backup's claim then sees.
    pub(crate) fn hold_for_takeover(&self, flow: FlowKey) {
        let mut st = self.state();
        let routes = &mut st.routes;
        match routes.get_mut(&flow) {
            Some(Route::Hold { taking_in, .. }) => *taking_in = true,
            _ => {
                routes.insert(
                    flow,
                    Route::Hold {
                        packets: Vec::new(),
                        since: Instant::now(),
                        taking_in: true,
                    },
                );
            }
        }
    }

    /// Carries out what undoes a failed take-over (`takeover::Failure`):
    /// `donor` is the node a handoff came from, `client_rcv_nxt` the
    /// client's next expected sequence number once a probe told it.
    pub(crate) async fn undo_takeover(
        &self,
        flow: FlowKey,
        failure: &Failure,
        donor: Option<u16>,
        client_rcv_nxt: Option<u32>,
    ) {
        for undo in &failure.undo {
            match undo {
                Undo::DropRoute => {
                    self.take_route(&flow);
                }
                Undo::ReturnToDonor => {
                    // The donor serves again: what this lock caught goes
                    // back to it.
                    let held = match self.take_route(&flow) {
                        Some(Route::Hold { packets, .. }) => packets,
                        _ => Vec::new(),
                    };
                    self.node.release(flow.client, Scope::Flow(flow));
                    let Some(donor) = donor else { continue };
                    self.set_route(
                        flow,
                        Route::Forward {
                            to: donor,
                            copies: None,
                            until: Some(Instant::now() + GRACE),
                        },
                    );
                    for p in held {
                        let _ = self.streams.send(donor, &Message::Captured(p)).await;
                    }
                }
                Undo::Unlock => {
                    if let Err(e) = self.lock.unlock(&flow) {
                        tracing::warn!(?flow, error = %e, "unlocking a flow not taken over");
                    }
                }
                Undo::ResetClient => {
                    if let Some(rcv_nxt) = client_rcv_nxt {
                        let segment = crate::tcp::ack_probe::reset_segment(&flow, rcv_nxt);
                        let _ = self.probes.send(&flow, &segment);
                    }
                }
            }
        }
    }

    /// The connection of `flow` is served here from now on: its packets
    /// are replayed as they come, the lock is lifted, and the packets the
    /// route kept so far are returned for replay.
    pub(crate) fn go_live(&self, flow: FlowKey) -> Vec<Captured> {
        let kept = match self.take_route(&flow) {
            Some(Route::Forward {
                copies: Some(c), ..
            }) => c,
            Some(Route::Hold { packets, .. }) => packets,
            _ => Vec::new(),
        };
        self.set_route(
            flow,
            Route::Live {
                until: Instant::now() + GRACE,
            },
        );
        if let Err(e) = self.lock.unlock(&flow) {
            tracing::error!(?flow, error = %e, "cannot unlock the flow");
        }
        kept
    }

    pub(crate) fn replay(&self, packets: &[Captured]) {
        for p in packets {
            if let Err(e) = self.replayer.replay(p) {
                tracing::warn!(error = %e, "replaying a captured packet");
            }
        }
    }

    fn wait_for(&self, id: u64) -> oneshot::Receiver<Message> {
        let (tx, rx) = oneshot::channel();
        self.state().waiting.insert(id, tx);
        rx
    }

    fn stop_waiting(&self, id: u64) {
        self.state().waiting.remove(&id);
    }

    pub(crate) fn set_route(&self, flow: FlowKey, route: Route) {
        self.state().routes.insert(flow, route);
    }

    pub(crate) fn take_route(&self, flow: &FlowKey) -> Option<Route> {
        self.state().routes.remove(flow)
    }

    fn remove_route(&self, flow: &FlowKey) {
        self.take_route(flow);
    }

    /// Routes one captured packet (from the local lock, or from peer
    /// `from`).
    async fn route_packet(&self, packet: Captured, from: Option<u16>) {
        let next = self
            .state()
            .routes
            .route_packet(&packet, from, Instant::now());
        match next {
            Next::Send(to) => {
                if let Err(e) = self.streams.send(to, &Message::Captured(packet)).await {
                    tracing::warn!(to, error = %e, "forwarding a captured packet");
                }
            }
            Next::Replay => self.replay(std::slice::from_ref(&packet)),
            Next::Drop => {}
        }
    }

    /// Acceptor, steps 3-6.
    async fn take_in(
        self: &Arc<Self>,
        from: u16,
        id: u64,
        state: &[u8],
        donor_seq: Option<crate::mipv6::seq::SeqNum>,
        edges: StreamOffsets,
    ) {
        let (ok, maybe_bound, reason) = match self
            .accept_offer(from, id, state, donor_seq, edges)
            .await
        {
            Ok(()) => {
                // Serving a while first: the client gets bytes its donor
                // never had.
                let served_at = Instant::now();
                for point in [
                    CrashPoint::BeforeOutcome,
                    CrashPoint::UnmirroredBeforeOutcome,
                ] {
                    crash_point::reached(point, || {
                        served_at.elapsed() > Duration::from_millis(200)
                    })
                    .await;
                }
                (true, false, None)
            }
            Err((maybe_bound, e)) => {
                tracing::info!(me = self.me, from, id, error = %e, "refusing a handed-off connection");
                let refusal = match e {
                    HandoffError::Refused(r) => r,
                    other => Refusal::Failed(other.to_string()),
                };
                (false, maybe_bound, Some(refusal))
            }
        };
        let outcome = Message::Outcome {
            id,
            ok,
            maybe_bound,
            reason,
        };
        if ok && crash_point::first_time(CrashPoint::LostOutcome) {
            tracing::warn!(from, id, "dropping this outcome on purpose");
        } else if let Err(e) = self.streams.send(from, &outcome).await {
            tracing::warn!(from, error = %e, "cannot report a handoff's outcome");
        }
        if ok {
            crash_point::reached(CrashPoint::BeforeMirror, || true).await;
        }
    }

    async fn accept_offer(
        self: &Arc<Self>,
        donor: u16,
        id: u64,
        state: &[u8],
        donor_seq: Option<crate::mipv6::seq::SeqNum>,
        edges: StreamOffsets,
    ) -> Result<(), (bool, HandoffError)> {
        let state = TcpState::from_bytes(state).map_err(|e| (false, e.into()))?;
        let flow = state.flow();
        let sink = self
            .listeners
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&flow.server_port)
            .cloned()
            .ok_or_else(|| (false, Refusal::NoServerSocket(flow.server_port).into()))?;
        // A donor already known down is its backup's to recover (it may
        // have done so already, while this offer was delayed under loss):
        // once the Hold route below is set, a backup's claim sees it.
        // (Outside the membership, nobody recovers: nothing to refuse.)
        if self.membership.is_live(self.me) && !self.membership.is_live(donor) {
            return Err((false, Refusal::DonorDown.into()));
        }
        // The take-over pipeline (see `takeover`) orders the steps and
        // says what undoes a failed one; this driver performs them.
        let mut t = Takeover::new(Source::Handoff);
        let fences = self.fences();
        let t0 = Instant::now();
        let mut restored = None;
        let (mut t_restored, mut t_bound) = (Duration::ZERO, Duration::ZERO);
        let mut base = None;
        let mut stream = None;
        while let Some(step) = t.step() {
            let result: Result<(), (bool, HandoffError)> = match step {
                Step::Hold => {
                    self.hold_for_takeover(flow);
                    Ok(())
                }
                Step::Restore => restore_when_free(&state)
                    .await
                    .map(|r| {
                        restored = Some(r);
                        t_restored = t0.elapsed();
                    })
                    .map_err(|e| (false, e.into())),
                Step::Lock => self.lock.lock(&flow).map_err(|e| (false, e.into())),
                Step::Bind => {
                    let bound = tokio::time::timeout(
                        ACCEPT_DEADLINE,
                        self.node
                            .handoff_start(flow.client, Scope::Flow(flow), donor_seq),
                    )
                    .await;
                    t_bound = t0.elapsed();
                    match bound {
                        Ok(Ok(())) => Ok(()),
                        // The client may have taken the BU whose BA was lost.
                        Ok(Err(e)) => Err((
                            matches!(
                                e,
                                NodeError::Timeout {
                                    what: crate::lowlevel::Awaited::BindingAck,
                                    ..
                                }
                            ),
                            e.into(),
                        )),
                        Err(_) => Err((true, HandoffError::Timeout(ACCEPT_DEADLINE))),
                    }
                }
                Step::Confirm => {
                    let aborted = self.state().aborted.remove(&id).is_some();
                    if self.fenced_since(fences) {
                        Err((true, Refusal::AcceptorFenced.into()))
                    } else if aborted {
                        Err((true, Refusal::DonorGaveUp.into()))
                    } else {
                        Ok(())
                    }
                }
                Step::GoLive => {
                    // The frozen socket is the live one now: what it
                    // receives or sends is the connection's. Counters are
                    // read while frozen: once thawed, acks move them.
                    match restored.take() {
                        Some(frozen) => {
                            base = Some(StreamBase::restored(frozen.as_fd(), edges).unwrap_or(
                                StreamBase {
                                    acked: edges.sent,
                                    received: edges.received,
                                },
                            ));
                            let held = self.go_live(flow);
                            frozen
                                .thaw()
                                .map(|fd| {
                                    self.replay(&held);
                                    stream = Some(fd);
                                })
                                .map_err(|e| (true, e.into()))
                        }
                        None => Err((
                            true,
                            Refusal::Failed("nothing restored to go live".into()).into(),
                        )),
                    }
                }
                // Serving comes after the loop: it cannot fail. A handoff's
                // state is complete: there is no client to probe.
                Step::Serve | Step::Probe => Ok(()),
            };
            match result {
                Ok(()) => t.done(),
                Err((may_have_taken, e)) => {
                    let failure = t.failed(may_have_taken);
                    // Dropping a frozen socket closes it silently.
                    drop(restored.take());
                    self.state().aborted.remove(&id);
                    self.undo_takeover(flow, &failure, Some(donor), None).await;
                    return Err((failure.maybe_bound, e));
                }
            }
        }
        let (Some(fd), Some(base)) = (stream, base) else {
            return Err((
                true,
                Refusal::Failed("not live after the take-over".into()).into(),
            ));
        };
        tracing::debug!(
            me = self.me,
            from = donor,
            port = flow.client_port,
            ?t_restored,
            ?t_bound,
            thawed = ?t0.elapsed(),
            queued = state.send_queue.len() + state.recv_queue.len(),
            ?edges,
            ?base,
            "handed in"
        );
        self.metrics.into.inc();
        let stream = Arc::new(std::net::TcpStream::from(fd));
        if let Some(rtt) = crate::tcp::info::rtt(stream.as_fd()) {
            self.note_rtt(flow.client, rtt);
        }
        let mut served = Served::new(Arc::downgrade(&stream), base, &state, edges);
        if crash_point::is_armed(CrashPoint::BeforeMirror)
            || crash_point::is_armed(CrashPoint::UnmirroredBeforeOutcome)
        {
            // Served but never mirrored (not even by the periodic round):
            // this node crashes before or after its outcome leaves.
            served.mirrored = Some(u64::MAX);
            self.state().served.insert(flow, served);
        } else {
            self.serve(flow, served);
        }
        // A server socket that closed meanwhile: the connection is closed
        // with it, as any unaccepted connection would be.
        let _ = sink.send(Arrival {
            stream,
            base,
            handed_in: true,
            recovered: None,
        });
        Ok(())
    }
}

/// Restores `state`, waiting a little while this node's own socket of the
/// same connection is still being closed: a connection that just left
/// may come straight back, before the donor side released it.
pub(crate) async fn restore_when_free(state: &TcpState) -> Result<repair::Restored, RepairError> {
    let mut tries = 0;
    loop {
        match repair::restore(state) {
            Err(RepairError::Sys { source, .. })
                if source.raw_os_error() == Some(libc::EADDRNOTAVAIL) && tries < 100 =>
            {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            r => return r,
        }
    }
}

/// Answers what other nodes send.
async fn inbox_loop(
    engine: std::sync::Weak<Runtime>,
    mut inbox: mpsc::UnboundedReceiver<(u16, Message)>,
) {
    while let Some((from, msg)) = inbox.recv().await {
        let Some(e) = engine.upgrade() else { return };
        match msg {
            Message::Prepare { id, client } => {
                tokio::spawn(async move {
                    let ok = e.node.handoff_prepare(client).await.is_ok();
                    let _ = e.streams.send(from, &Message::Prepared { id, ok }).await;
                });
            }
            Message::Offer {
                id,
                state,
                donor_seq,
                edges,
            } => {
                tokio::spawn(async move { e.take_in(from, id, &state, donor_seq, edges).await });
            }
            Message::Mirror { records, replace } => {
                let mut st = e.state();
                let m = &mut st.mirrors;
                m.update(from, records, replace);
                e.failover.mirrored.set(m.len() as i64);
            }
            Message::MirrorOf { origin, records } => {
                let mut st = e.state();
                let m = &mut st.mirrors;
                m.offer(origin, records);
                e.failover.mirrored.set(m.len() as i64);
            }
            Message::MirrorGone { gone } => {
                let mut st = e.state();
                let m = &mut st.mirrors;
                m.remove(from, &gone);
                e.failover.mirrored.set(m.len() as i64);
            }
            Message::Claim { id, flows } => {
                let claims = e.answer_claim(&flows);
                tokio::spawn(async move {
                    let answer = Message::Claimed {
                        id,
                        flows: claims.served.into_iter().collect(),
                        pending: claims.pending.into_iter().collect(),
                        recovering: claims.recovering.into_iter().collect(),
                    };
                    let _ = e.streams.send(from, &answer).await;
                });
            }
            Message::Claimed {
                id,
                flows,
                pending,
                recovering,
            } => {
                let waiter = e.state().claims.get(&id).cloned();
                if let Some(tx) = waiter {
                    let _ = tx.send((
                        from,
                        Claims {
                            served: flows.into_iter().collect(),
                            pending: pending.into_iter().collect(),
                            recovering: recovering.into_iter().collect(),
                        },
                    ));
                }
            }
            Message::Captured(packet) => e.route_packet(packet, Some(from)).await,
            reply @ (Message::Prepared { id, .. } | Message::Outcome { id, .. }) => {
                let waiter = e.state().waiting.remove(&id);
                match waiter {
                    Some(tx) => {
                        let _ = tx.send(reply);
                    }
                    None => tracing::debug!(from, id, "late handoff answer"),
                }
            }
            Message::Abort { id } => {
                e.state().aborted.insert(id, Instant::now());
            }
            Message::Load {
                connections,
                available,
                rtts,
            } => {
                let mut st = e.state();
                let loads = &mut st.loads;
                let l = loads.entry(from).or_default();
                l.connections = connections;
                l.available = available;
                l.at = Some(Instant::now());
                for (client, us) in rtts {
                    if l.rtts.len() < 65536 || l.rtts.contains_key(&client) {
                        l.rtts.insert(client, us);
                    }
                }
            }
        }
    }
}

/// Where a donor's connection is served after its acceptor fell silent.
enum Kept {
    /// Here: the handoff failed.
    Here,
    /// On another node (or by the acceptor's backup): it has left.
    Elsewhere,
}

/// Routes what the local lock captures.
async fn capture_loop(engine: std::sync::Weak<Runtime>) {
    loop {
        let Some(e) = engine.upgrade() else { return };
        // Only the wait holds the engine; a short timeout lets a dropped
        // engine end this task.
        match tokio::time::timeout(Duration::from_millis(200), e.lock.captured()).await {
            Ok(Ok(packet)) => e.route_packet(packet, None).await,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "flow lock capture");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(_) => {}
        }
    }
}

/// Expires routes and locks past their grace, and reports load.
async fn housekeeping_loop(engine: std::sync::Weak<Runtime>) {
    let mut tick = tokio::time::interval(LOAD_EVERY);
    loop {
        tick.tick().await;
        let Some(e) = engine.upgrade() else { return };
        let now = Instant::now();
        let unlock = e.state().routes.expire(now, ORPHAN);
        for flow in unlock {
            if let Err(err) = e.lock.unlock(&flow) {
                tracing::warn!(?flow, error = %err, "unlocking a departed flow");
            }
        }
        e.state()
            .aborted
            .retain(|_, t| now.duration_since(*t) < ORPHAN);
        let rtts: Vec<_> = e.state().rtt_news.drain().collect();
        let load = Message::Load {
            connections: e.connections.get().max(0) as u32,
            available: e.joined.load(std::sync::atomic::Ordering::Relaxed),
            rtts,
        };
        for to in 0..e.nodes.len() as u16 {
            if to != e.me {
                let (e, load) = (e.clone(), load.clone());
                // One task per peer: a dead one must not delay the others.
                tokio::spawn(async move {
                    if let Err(err) = e.streams.send(to, &load).await {
                        tracing::debug!(to, error = %err, "load report");
                    }
                });
            }
        }
    }
}
