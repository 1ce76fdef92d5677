//! The low-level API of the seed's section 3: a server node's part of the
//! Mobile IPv6 signalling, under Rust names.
//!
//! | seed | here |
//! |---|---|
//! | `mip6_addr_passive` | [`Node::addr_passive`] |
//! | `mip6_addr_active` | [`Node::addr_active`] |
//! | `mip6_handoff_mark` | [`Node::handoff_mark`] |
//! | `mip6_handoff_start` | [`Node::handoff_start`] (= [`Node::handoff_prepare`] + [`Node::handoff_finish`]) |
//! | `mip6_handoff_clear` | [`Node::handoff_clear`] |
//!
//! A [`Node`] runs inside a tokio runtime: one task reads the Mobility
//! Header socket, one the peer channel (Home Tests arriving at the contact
//! node for another node travel on to it there), one keeps registrations
//! and bindings fresh.

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::cluster::peer_channel::{PeerCodec, PeerSocket};
use crate::config::Config;
use crate::dataplane::{self, FlowKey};
use crate::metrics::Metrics;
use crate::mipv6::binding_update::FlowBinding;
use crate::mipv6::bu_exchange::{self, BuExchange, Next, ATTEMPTS};
use crate::mipv6::client_kind::{ClientKind, ClientKinds};
use crate::mipv6::mh_socket::MhSocket;
use crate::mipv6::mn_ha_auth::{MnHaKey, TimestampSource};
use crate::mipv6::mobile_node::{
    self, AckKey, BindingRequest, HomeRegistration, Reply, ReplyError, Token, Tokens,
};
use crate::mipv6::param_problem::ParamProblemSocket;
use crate::mipv6::rr::{BindingKey, Cookie, KeygenToken, NonceIndex};
use crate::mipv6::seq::SeqNum;
use crate::mipv6::wire::{ba_status, MhType};

/// How long to wait for a reply before sending again.
const REPLY_TIMEOUT: Duration = Duration::from_millis(500);

/// What a handoff binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every connection of the client without a flow binding (the plain
    /// RFC 6275 binding; the seed's behaviour).
    Client,
    /// One TCP connection (RFC 6089 flow binding).
    Flow(FlowKey),
}

/// Why a low-level call failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The node name is not in the configuration.
    #[error("node `{0}` is not in the configuration")]
    UnknownNode(String),
    /// A socket or netlink call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// The data plane refused a change.
    #[error(transparent)]
    DataPlane(#[from] dataplane::DataPlaneError),
    /// No reply after every retry.
    #[error("no {what} from {peer} after {ATTEMPTS} attempts")]
    Timeout {
        /// The reply waited for.
        what: Awaited,
        /// Who should have answered.
        peer: Ipv6Addr,
    },
    /// The peer answered with a refusal.
    #[error("{peer} refused the binding update: status {status}")]
    Refused {
        /// Who refused.
        peer: Ipv6Addr,
        /// The Binding Acknowledgement status.
        status: u8,
    },
    /// A flow that is not a connection of this client to G.
    #[error("flow {0:?} is not a connection of the client to G")]
    BadFlow(FlowKey),
    /// A binding of all of a client's connections, for a client without a
    /// Mobile IPv6 agent: only single connections can be bound for it (at
    /// the home agent).
    #[error(
        "client {0} runs no Mobile IPv6 agent: only single connections can be bound for it \
         (at the home agent), not all of its connections"
    )]
    NoAgent(Ipv6Addr),
    /// A message could not be built (a bug).
    #[error("cannot build a message: {0}")]
    Build(String),
    /// This host's kernel cannot be a node (a feature or option missing).
    #[error(transparent)]
    Kernel(#[from] dataplane::KernelCheckError),
}

/// A reply a node waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Awaited {
    /// A Binding Acknowledgement (from the home agent or a client).
    BindingAck,
    /// A Home Test.
    HomeTest,
    /// A Care-of Test.
    CareOfTest,
}

impl std::fmt::Display for Awaited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Awaited::BindingAck => "binding acknowledgement",
            Awaited::HomeTest => "home test",
            Awaited::CareOfTest => "care-of test",
        })
    }
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> NodeError {
    move |source| NodeError::Io { what, source }
}

/// Messages between nodes on the peer channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum PeerMessage {
    /// A Home Test that reached this node (the contact) through the home
    /// agent, for whichever node sent the Home Test Init.
    HomeTest {
        /// The client that sent it.
        client: Ipv6Addr,
        /// The Mobility Header.
        mh: Vec<u8>,
    },
}

/// Return routability done ahead of the Binding Update (the seed's split
/// handoff): the tokens are held by the node, this is the receipt.
#[derive(Debug, Clone, Copy)]
pub struct Prepared {
    /// The client.
    pub client: Ipv6Addr,
    /// How long return routability took (zero when tokens were fresh).
    pub elapsed: Duration,
}

#[derive(Debug, Default)]
struct ClientState {
    tokens: Tokens,
    /// The last sequence number the client accepted from this node (or
    /// this node learned).
    seq: Option<SeqNum>,
    /// The last sequence number this node sent the client (its BA may be
    /// on the way): the next BU takes a newer one.
    sent: Option<SeqNum>,
    /// Bindings this node holds at the client, refreshed before expiry.
    bound: HashMap<Scope, Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Ack {
    status: u8,
    sequence: SeqNum,
}

/// What a BA answers, beside who sent it: the home registration or a
/// client's plain binding, a client's flow binding (by its Binding ID), or
/// a flow registration at the home agent (by the flow it echoes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum AckFor {
    Plain,
    Bid(u16),
    Flow(FlowKey),
}

impl AckFor {
    fn of(bid: Option<u16>, flow: Option<FlowKey>) -> AckFor {
        match (flow, bid) {
            (Some(f), _) => AckFor::Flow(f),
            (None, Some(b)) => AckFor::Bid(b),
            (None, None) => AckFor::Plain,
        }
    }
}

/// A BU awaiting its BA.
struct AckWaiter {
    id: u64,
    key: Option<BindingKey>,
    tx: oneshot::Sender<Ack>,
}

#[derive(Default)]
struct State {
    clients: HashMap<Ipv6Addr, ClientState>,
    /// Test Inits in flight, by cookie (random, so a plain map key).
    home_tests: Waiters,
    care_of_tests: Waiters,
    /// BUs awaiting their BA, by peer and what the BA names, with the key
    /// the BA must carry.
    acks: HashMap<(Ipv6Addr, AckFor), AckWaiter>,
    /// Tells waiters apart (a later BU for the same binding replaces one).
    next_waiter: u64,
    locks: HashMap<Ipv6Addr, Arc<tokio::sync::Mutex<()>>>,
    /// Home registration: last sequence number, and whether to keep it up.
    reg_seq: Option<SeqNum>,
    registered: bool,
}

struct Inner {
    g: Ipv6Addr,
    care_of: Ipv6Addr,
    home_agent: Ipv6Addr,
    lifetime_units: u16,
    refresh: Duration,
    ha_key: MnHaKey,
    stamps: Mutex<TimestampSource>,
    /// One home registration at a time (a refresh may meet `addr_active`).
    registering: tokio::sync::Mutex<()>,
    mh: MhSocket,
    /// Where clients without an agent say so.
    param_problems: ParamProblemSocket,
    /// Which clients run an agent.
    kinds: Mutex<ClientKinds>,
    peers: PeerSocket,
    /// The other nodes' indices on the peer channel.
    others: Vec<u16>,
    state: Mutex<State>,
    metrics: Metrics,
}

/// One server node's signalling. Dropping it stops its tasks.
pub struct Node {
    inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Node {
    /// Starts the node called `name` in `config`, in the current network
    /// namespace, inside a tokio runtime: opens its sockets and serves its
    /// metrics on the configured address.
    pub async fn start(config: &Config, name: &str) -> Result<Node, NodeError> {
        let index = config
            .nodes
            .iter()
            .position(|n| n.name == name)
            .ok_or_else(|| NodeError::UnknownNode(name.to_string()))?;
        // Refused here, at once, rather than by the first packet that
        // cannot arrive.
        dataplane::KernelReport::get().check(dataplane::HostRole::Node, config.dataplane)?;
        let me = &config.nodes[index];
        let key: [u8; 32] = config
            .security
            .cluster_key
            .as_slice()
            .try_into()
            .map_err(|_| NodeError::Build("cluster key is not 32 octets".into()))?;
        let port = config.peer_port;
        let peer_addr = |a: Ipv6Addr| SocketAddr::V6(SocketAddrV6::new(a, port, 0, 0));
        let peers: Vec<(u16, SocketAddr)> = config
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .map(|(i, n)| (i as u16, peer_addr(n.address)))
            .collect();
        let others = peers.iter().map(|(i, _)| *i).collect();
        let codec = PeerCodec::new(&key, index as u16);
        let peers = PeerSocket::bind(peer_addr(me.address), codec, peers)
            .await
            .map_err(|e| NodeError::Build(format!("peer channel: {e}")))?;
        let metrics = Metrics::new();
        let inner = Arc::new(Inner {
            g: config.global_address,
            care_of: me.address,
            home_agent: config.home_agent.address,
            lifetime_units: (config.timers.binding_lifetime_secs / 4).min(u32::from(u16::MAX))
                as u16,
            refresh: Duration::from_secs(u64::from(config.timers.refresh_secs)),
            ha_key: MnHaKey::new(config.security.mn_ha_spi, &config.security.mn_ha_key)
                .map_err(|e| NodeError::Build(e.to_string()))?,
            stamps: Mutex::new(TimestampSource::new()),
            registering: tokio::sync::Mutex::new(()),
            mh: MhSocket::open().map_err(io("opening the Mobility Header socket"))?,
            param_problems: ParamProblemSocket::open()
                .map_err(io("opening the ICMPv6 socket for parameter problems"))?,
            kinds: Mutex::new(ClientKinds::new(
                config.route_optimization.mode,
                Duration::from_secs(u64::from(config.route_optimization.remember_secs)),
            )),
            peers,
            others,
            state: Mutex::new(State::default()),
            metrics: metrics.clone(),
        });
        let mut tasks = vec![
            tokio::spawn(mh_loop(inner.clone())),
            tokio::spawn(peer_loop(inner.clone())),
            tokio::spawn(refresh_loop(inner.clone())),
            tokio::spawn(no_agent_loop(inner.clone())),
        ];
        let addr = me.metrics;
        let (_, server) = crate::metrics::bind_and_serve(metrics, addr)
            .await
            .map_err(io("serving the node's metrics"))?;
        tasks.push(server);
        let receives: Vec<&str> = dataplane::Encap::ALL
            .into_iter()
            .filter(|e| dataplane::KernelReport::get().receives(*e))
            .map(|e| e.name())
            .collect();
        tracing::info!(node = name, care_of = %me.address, dataplane = %config.dataplane,
            receives = ?receives, "node started");
        Ok(Node { inner, tasks })
    }

    /// The node's own (care-of) address.
    pub fn care_of(&self) -> Ipv6Addr {
        self.inner.care_of
    }

    /// `mip6_addr_passive`: puts G on `lo` (no DAD) so that the node
    /// accepts traffic for G that reaches it.
    pub fn addr_passive(&self) -> Result<(), NodeError> {
        dataplane::home_plane::add_home_address(self.inner.g)?;
        Ok(())
    }

    /// `mip6_addr_active`: G on `lo`, then registration at the home agent
    /// as G's contact node, kept fresh until the node is dropped or
    /// [`Node::addr_inactive`] is called.
    pub async fn addr_active(&self) -> Result<(), NodeError> {
        self.addr_passive()?;
        register(&self.inner, self.inner.lifetime_units).await?;
        self.inner
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .registered = true;
        Ok(())
    }

    /// Deregisters at the home agent (lifetime zero) and stops refreshing.
    pub async fn addr_inactive(&self) -> Result<(), NodeError> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .registered = false;
        register(&self.inner, 0).await
    }

    /// Stops refreshing the home registration without deregistering:
    /// another node took the contact role, and its registration replaced
    /// this one's.
    pub fn stop_registering(&self) {
        lock(&self.inner).registered = false;
    }

    /// `mip6_handoff_mark`: the latest Binding Update sequence number this
    /// node used for `client`, for the acceptor of a handoff.
    pub fn handoff_mark(&self, client: Ipv6Addr) -> Option<SeqNum> {
        let st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        st.clients.get(&client).and_then(|c| c.seq)
    }

    /// `mip6_handoff_start`: return routability (skipped while this node's
    /// tokens for `client` are fresh), then the Binding Update that points
    /// `scope` at this node, numbered after `donor_seq`. Returns once the
    /// client acknowledged: its kernel then steers the traffic here.
    pub async fn handoff_start(
        &self,
        client: Ipv6Addr,
        scope: Scope,
        donor_seq: Option<SeqNum>,
    ) -> Result<(), NodeError> {
        if let Err(e) = self.handoff_prepare(client).await {
            self.count_handoff(false);
            return Err(e);
        }
        self.handoff_finish(client, scope, donor_seq).await
    }

    fn count_handoff(&self, ok: bool) {
        self.inner.metrics.count(
            "gecko_handoffs_total",
            "Handoffs toward this node, by result",
            &[("result", if ok { "ok" } else { "failed" })],
            1,
        );
    }

    /// The first half of a split handoff: return routability only.
    /// For a client without an agent there is nothing to prepare (its
    /// binding goes to the home agent).
    pub async fn handoff_prepare(&self, client: Ipv6Addr) -> Result<Prepared, NodeError> {
        let t0 = Instant::now();
        if client_kind(&self.inner, client).await? == ClientKind::Agent {
            fresh_tokens(&self.inner, client, true).await?;
        }
        Ok(Prepared {
            client,
            elapsed: t0.elapsed(),
        })
    }

    /// The second half of a split handoff: the Binding Update.
    pub async fn handoff_finish(
        &self,
        client: Ipv6Addr,
        scope: Scope,
        donor_seq: Option<SeqNum>,
    ) -> Result<(), NodeError> {
        let lifetime = self.inner.lifetime_units;
        let result = bind(&self.inner, client, scope, donor_seq, lifetime).await;
        self.count_handoff(result.is_ok());
        result
    }

    /// `mip6_handoff_clear`: removes this node's binding at `client`: for
    /// [`Scope::Client`] every binding of G there (RFC 5648), so the
    /// client's traffic takes the home route to the contact node again.
    pub async fn handoff_clear(&self, client: Ipv6Addr, scope: Scope) -> Result<(), NodeError> {
        bind(&self.inner, client, scope, None, 0).await
    }

    /// Stops refreshing this node's binding for `scope` at `client`
    /// without telling the client: another node took the connection over
    /// and its binding replaced this one.
    pub fn release(&self, client: Ipv6Addr, scope: Scope) {
        if let Some(c) = lock(&self.inner).clients.get_mut(&client) {
            c.bound.remove(&scope);
        }
    }

    /// True while this node keeps a binding for `scope` at `client` fresh.
    pub fn holds_binding(&self, client: Ipv6Addr, scope: Scope) -> bool {
        lock(&self.inner)
            .clients
            .get(&client)
            .is_some_and(|c| c.bound.contains_key(&scope))
    }

    /// Drops the keygen tokens held for `client`, so that the next handoff
    /// runs return routability again (benchmarks; a client that restarted).
    pub fn forget_tokens(&self, client: Ipv6Addr) {
        if let Some(c) = lock(&self.inner).clients.get_mut(&client) {
            c.tokens = Tokens::default();
        }
    }

    /// The node's metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Whom `client`'s bindings go to, learning it if need be (return
    /// routability: an answer, a parameter problem, or silence).
    pub async fn client_kind(&self, client: Ipv6Addr) -> Result<ClientKind, NodeError> {
        client_kind(&self.inner, client).await
    }
}

fn lock(inner: &Inner) -> std::sync::MutexGuard<'_, State> {
    inner.state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends the home registration and waits for an accepting BA.
async fn register(inner: &Arc<Inner>, lifetime: u16) -> Result<(), NodeError> {
    let _one = inner.registering.lock().await;
    let ha = inner.home_agent;
    for _ in 0..ATTEMPTS {
        let seq = {
            let mut st = lock(inner);
            let seq = st.reg_seq.map_or(SeqNum(rand::random()), SeqNum::next);
            st.reg_seq = Some(seq);
            seq
        };
        let mh = home_registration(inner, seq, lifetime, None)?;
        match exchange_ack(inner, ha, &mh, inner.g, None).await? {
            Some(a) if a.status < 128 => {
                tracing::info!(%ha, lifetime, "registered at the home agent");
                return Ok(());
            }
            Some(a) if a.status == ba_status::SEQ_OUT_OF_WINDOW => {
                lock(inner).reg_seq = Some(a.sequence);
            }
            Some(a) => {
                return Err(NodeError::Refused {
                    peer: ha,
                    status: a.status,
                })
            }
            None => {}
        }
    }
    Err(NodeError::Timeout {
        what: Awaited::BindingAck,
        peer: ha,
    })
}

/// A registration at the home agent, of G (`flow` None) or of one flow,
/// stamped now and signed with the MN-HA key.
fn home_registration(
    inner: &Inner,
    sequence: SeqNum,
    lifetime: u16,
    flow: Option<FlowBinding>,
) -> Result<Vec<u8>, NodeError> {
    let timestamp = inner
        .stamps
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .stamp(SystemTime::now());
    let reg = HomeRegistration {
        home: inner.g,
        home_agent: inner.home_agent,
        care_of: inner.care_of,
        sequence,
        lifetime,
        timestamp,
        flow,
    };
    mobile_node::home_registration(&reg, &inner.ha_key).map_err(|e| NodeError::Build(e.to_string()))
}

/// Sends `mh` (from `src`) to `peer` and waits for its BA; `None` on timeout.
/// `key`: the Kbm the BA of a correspondent must be signed with (`None`
/// for the home agent, whose BA carries the MN-HA authenticator).
async fn exchange_ack(
    inner: &Arc<Inner>,
    peer: Ipv6Addr,
    mh: &[u8],
    src: Ipv6Addr,
    key: Option<BindingKey>,
) -> Result<Option<Ack>, NodeError> {
    let pending = send_for_ack(inner, (peer, AckFor::Plain), mh, src, key).await;
    Ok(pending.wait(inner).await)
}

/// A BU sent, its BA not yet read.
struct PendingAck {
    binding: (Ipv6Addr, AckFor),
    id: u64,
    rx: oneshot::Receiver<Ack>,
}

impl PendingAck {
    /// The BA, or `None` after [`REPLY_TIMEOUT`].
    async fn wait(self, inner: &Inner) -> Option<Ack> {
        let got = tokio::time::timeout(REPLY_TIMEOUT, self.rx).await;
        let mut st = lock(inner);
        if st.acks.get(&self.binding).is_some_and(|w| w.id == self.id) {
            st.acks.remove(&self.binding);
        }
        got.ok().and_then(Result::ok)
    }
}

/// Sends `mh` (from `src`) to the peer of `binding` (peer, Binding ID)
/// and registers for its BA; `key`: the Kbm the BA of a correspondent
/// must be signed with (`None` for the home agent, whose BA carries the
/// MN-HA authenticator).
async fn send_for_ack(
    inner: &Arc<Inner>,
    binding: (Ipv6Addr, AckFor),
    mh: &[u8],
    src: Ipv6Addr,
    key: Option<BindingKey>,
) -> PendingAck {
    let (tx, rx) = oneshot::channel();
    let id = {
        let mut st = lock(inner);
        st.next_waiter += 1;
        let id = st.next_waiter;
        st.acks.insert(binding, AckWaiter { id, key, tx });
        id
    };
    // A send refused on the way out (a firewall's drop: EPERM; a link
    // down) is a lost message: the caller's retries cover it.
    match inner.mh.send(mh, src, binding.0, None).await {
        Ok(_) => count(inner, "sent", mh),
        Err(e) => tracing::debug!(peer = %binding.0, error = %e, "sending a binding update"),
    }
    PendingAck { binding, id, rx }
}

fn count(inner: &Inner, direction: &'static str, mh: &[u8]) {
    let label = MhType::name_of(mh.get(2).copied().unwrap_or(255));
    inner.metrics.count(
        "gecko_messages_total",
        "Mobility Header messages sent and received",
        &[("direction", direction), ("type", label)],
        1,
    );
}

/// Makes sure fresh home and care-of tokens for `client` are held,
/// running the tests that are needed (both at once).
async fn fresh_tokens(
    inner: &Arc<Inner>,
    client: Ipv6Addr,
    need_care_of: bool,
) -> Result<(Token, Option<Token>), NodeError> {
    let now = Instant::now();
    let held = lock(inner)
        .clients
        .get(&client)
        .map(|c| c.tokens)
        .unwrap_or_default();
    let home = held.fresh_home(now);
    let care_of = held.fresh_care_of(now);
    let home_fut = async {
        match home {
            Some(t) => Ok(t),
            None => test(inner, client, true).await,
        }
    };
    let care_of_fut = async {
        match (care_of, need_care_of) {
            (Some(t), _) => Ok(Some(t)),
            (None, true) => test(inner, client, false).await.map(Some),
            (None, false) => Ok(None),
        }
    };
    let (home, care_of) = tokio::try_join!(home_fut, care_of_fut)?;
    let mut st = lock(inner);
    let c = st.clients.entry(client).or_default();
    c.tokens.home = Some(home);
    if care_of.is_some() {
        c.tokens.care_of = care_of;
    }
    Ok((home, care_of))
}

/// One Home Test Init (from G) or Care-of Test Init (from the node's own
/// address) and its answer.
async fn test(inner: &Arc<Inner>, client: Ipv6Addr, home: bool) -> Result<Token, NodeError> {
    let src = if home { inner.g } else { inner.care_of };
    for _ in 0..ATTEMPTS {
        let cookie = Cookie::random();
        let mh = mobile_node::test_init(home, cookie, &src, &client)
            .map_err(|e| NodeError::Build(e.to_string()))?;
        let (tx, rx) = oneshot::channel();
        {
            let mut st = lock(inner);
            let pending = if home {
                &mut st.home_tests
            } else {
                &mut st.care_of_tests
            };
            pending.insert(cookie.0, (client, tx));
        }
        // A send refused on the way out is a lost message: retried.
        match inner.mh.send(&mh, src, client, None).await {
            Ok(_) => count(inner, "sent", &mh),
            Err(e) => tracing::debug!(%client, error = %e, "sending a test init"),
        }
        let got = tokio::time::timeout(REPLY_TIMEOUT, rx).await;
        let mut st = lock(inner);
        let pending = if home {
            &mut st.home_tests
        } else {
            &mut st.care_of_tests
        };
        pending.remove(&cookie.0);
        drop(st);
        if let Ok(Ok(token)) = got {
            return Ok(token);
        }
        if known_kind(inner, client) == Some(ClientKind::NoAgent) {
            return Err(NodeError::NoAgent(client));
        }
    }
    Err(NodeError::Timeout {
        what: if home {
            Awaited::HomeTest
        } else {
            Awaited::CareOfTest
        },
        peer: client,
    })
}

/// What this node knows of `client`'s kind now, without asking.
fn known_kind(inner: &Inner, client: Ipv6Addr) -> Option<ClientKind> {
    inner
        .kinds
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .kind(client, Instant::now())
}

/// Records `client`'s kind, counting what it was learned from.
fn learn_kind(inner: &Inner, client: Ipv6Addr, kind: ClientKind, by: &'static str) {
    let changed =
        inner
            .kinds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .learn(client, kind, Instant::now());
    if changed {
        tracing::info!(%client, kind = kind.label(), by, "client kind learned");
        inner.metrics.count(
            "gecko_clients_learned_total",
            "Clients found to run an agent or none, by what told",
            &[("kind", kind.label()), ("by", by)],
            1,
        );
    }
}

/// Whom `client`'s bindings go to: forced by the configuration, known, or
/// learned now by return routability. Tokens it brings are kept for the
/// Binding Update that follows.
async fn client_kind(inner: &Arc<Inner>, client: Ipv6Addr) -> Result<ClientKind, NodeError> {
    if let Some(kind) = known_kind(inner, client) {
        return Ok(kind);
    }
    // One probe per client at a time: the many bindings of a recovery
    // wait for it rather than flood the client with test inits (whose
    // lost answers would read as silence).
    let lock_of = lock(inner).locks.entry(client).or_default().clone();
    let _one = lock_of.lock().await;
    if let Some(kind) = known_kind(inner, client) {
        return Ok(kind);
    }
    match fresh_tokens(inner, client, true).await {
        Ok(_) => {
            learn_kind(inner, client, ClientKind::Agent, "answer");
            Ok(ClientKind::Agent)
        }
        // The parameter-problem loop has recorded it.
        Err(NodeError::NoAgent(_)) => Ok(ClientKind::NoAgent),
        // Silence: a host whose firewall drops unknown protocols and
        // their errors alike. The home agent's way works for any client.
        Err(NodeError::Timeout {
            what: Awaited::HomeTest | Awaited::CareOfTest,
            ..
        }) => {
            learn_kind(inner, client, ClientKind::NoAgent, "silence");
            Ok(ClientKind::NoAgent)
        }
        Err(e) => Err(e),
    }
}

/// Sends the Binding Update for `scope` with `lifetime` (0 removes) and
/// waits for its BA: at the client if it runs an agent, else (one
/// connection) at the home agent.
async fn bind(
    inner: &Arc<Inner>,
    client: Ipv6Addr,
    scope: Scope,
    donor_seq: Option<SeqNum>,
    lifetime: u16,
) -> Result<(), NodeError> {
    if let Scope::Flow(f) = scope {
        if f.client != client || f.server != inner.g {
            return Err(NodeError::BadFlow(f));
        }
    }
    if client_kind(inner, client).await? == ClientKind::Agent {
        return bind_at_client(inner, client, scope, donor_seq, lifetime).await;
    }
    match (scope, lifetime) {
        (Scope::Flow(f), _) => bind_at_home_agent(inner, f, donor_seq, lifetime).await,
        // Removing all of this node's bindings for the client: each flow's.
        (Scope::Client, 0) => {
            let flows: Vec<FlowKey> = lock(inner)
                .clients
                .get(&client)
                .map(|c| {
                    c.bound
                        .keys()
                        .filter_map(|s| match s {
                            Scope::Flow(f) => Some(*f),
                            Scope::Client => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            for f in flows {
                bind_at_home_agent(inner, f, None, 0).await?;
            }
            Ok(())
        }
        (Scope::Client, _) => Err(NodeError::NoAgent(client)),
    }
}

/// The flow binding `f` stands for (Gecko nodes use the client's port as
/// its Binding ID).
fn flow_binding(f: FlowKey) -> FlowBinding {
    FlowBinding {
        bid: f.client_port,
        fid: f.client_port.max(1),
        flow: f,
    }
}

/// Records an accepted binding change: the sequence number, and whether
/// to keep the binding fresh.
fn settled(inner: &Inner, client: Ipv6Addr, scope: Scope, lifetime: u16, seq: SeqNum) {
    let mut st = lock(inner);
    let c = st.clients.entry(client).or_default();
    c.seq = Some(bu_exchange::latest(c.seq, seq));
    match (lifetime, scope) {
        (0, Scope::Client) => c.bound.clear(),
        (0, s) => {
            c.bound.remove(&s);
        }
        (_, s) => {
            c.bound.insert(s, Instant::now() + inner.refresh);
        }
    }
}

/// The end of an exchange whose last answer said `next` (anything but
/// "send again").
fn finish(next: Next, peer: Ipv6Addr) -> Result<(), NodeError> {
    match next {
        Next::Done | Next::ReplacedElsewhere => Ok(()),
        Next::Refused(status) => Err(NodeError::Refused { peer, status }),
        Next::GiveUp | Next::Again { .. } => Err(NodeError::Timeout {
            what: Awaited::BindingAck,
            peer,
        }),
    }
}

/// A flow registration at the home agent for one connection of a client
/// without an agent: signed with the MN-HA key like the home
/// registration, numbered in the client's sequence (a donor's number
/// passes on in a handoff, as for a client's own binding).
async fn bind_at_home_agent(
    inner: &Arc<Inner>,
    flow: FlowKey,
    donor_seq: Option<SeqNum>,
    lifetime: u16,
) -> Result<(), NodeError> {
    let client = flow.client;
    let ha = inner.home_agent;
    let lock_of = lock(inner).locks.entry(client).or_default().clone();
    let mut exchange = BuExchange::new(lifetime, donor_seq);
    loop {
        let (seq, pending) = {
            let _guard = lock_of.lock().await;
            let seq = take_seq(inner, client, exchange.floor());
            let mh = home_registration(inner, seq, lifetime, Some(flow_binding(flow)))?;
            let pending = send_for_ack(inner, (ha, AckFor::Flow(flow)), &mh, inner.g, None).await;
            (seq, pending)
        };
        let ack = pending.wait(inner).await;
        tracing::debug!(?flow, lifetime, status = ?ack.as_ref().map(|a| a.status), "flow registration");
        match exchange.on_answer(ack.map(|a| (a.status, a.sequence))) {
            Next::Again { .. } => continue,
            Next::Done => {
                settled(inner, client, Scope::Flow(flow), lifetime, seq);
                return Ok(());
            }
            next => return finish(next, ha),
        }
    }
}

/// Sends the Binding Update for `scope` with `lifetime` (0 removes) to
/// `client`'s agent and waits for its BA, handling the two refusals a node
/// can cure: an old sequence number (135: go past the one the BA reports)
/// and expired nonces (136-138: new tokens).
async fn bind_at_client(
    inner: &Arc<Inner>,
    client: Ipv6Addr,
    scope: Scope,
    donor_seq: Option<SeqNum>,
    lifetime: u16,
) -> Result<(), NodeError> {
    let flow = match scope {
        Scope::Client => None,
        Scope::Flow(f) => Some(flow_binding(f)),
    };
    let lock_of = lock(inner).locks.entry(client).or_default().clone();
    let ack_for = AckFor::of(flow.as_ref().map(|f| f.bid), None);
    // What to do with each answer is decided by the sans-I/O exchange.
    let mut exchange = BuExchange::new(lifetime, donor_seq);
    loop {
        let t0 = Instant::now();
        // Numbers are taken, and their BUs sent, in order (the client
        // accepts only a number newer than the last it accepted); the BAs
        // are awaited outside the lock, so a client's BUs are pipelined.
        let (seq, pending, waited, tokens) = {
            let _guard = lock_of.lock().await;
            let waited = t0.elapsed();
            let t1 = Instant::now();
            let (home, care_of) = fresh_tokens(inner, client, lifetime != 0).await?;
            let tokens = t1.elapsed();
            let seq = take_seq(inner, client, exchange.floor());
            let req = BindingRequest {
                home: inner.g,
                correspondent: client,
                care_of: inner.care_of,
                sequence: seq,
                lifetime,
                flow,
            };
            let mh = mobile_node::binding_update(&req, &home, care_of.as_ref())
                .map_err(|e| NodeError::Build(e.to_string()))?;
            let key = mobile_node::binding_key(&home, care_of.as_ref(), lifetime == 0);
            let pending = send_for_ack(inner, (client, ack_for), &mh, inner.g, Some(key)).await;
            (seq, pending, waited, tokens)
        };
        let t2 = Instant::now();
        let ack = pending.wait(inner).await;
        tracing::debug!(%client, ?waited, ?tokens, exchange = ?t2.elapsed(), status = ?ack.as_ref().map(|a| a.status), "binding update");
        match exchange.on_answer(ack.map(|a| (a.status, a.sequence))) {
            Next::Done => {
                settled(inner, client, scope, lifetime, seq);
                return Ok(());
            }
            Next::Again { new_tokens } => {
                if new_tokens {
                    if let Some(c) = lock(inner).clients.get_mut(&client) {
                        c.tokens = Tokens::default();
                    }
                }
            }
            next => return finish(next, client),
        }
    }
}

/// Reads the parameter problems of clients without an agent for ever:
/// each is remembered, and its return routability stops waiting at once.
async fn no_agent_loop(inner: Arc<Inner>) {
    loop {
        match inner.param_problems.recv().await {
            Ok(found) => {
                learn_kind(&inner, found.client, ClientKind::NoAgent, "param_problem");
                let mut st = lock(&inner);
                // Dropping a waiter's sender wakes its test, which then
                // finds the client's kind.
                st.home_tests.retain(|_, (c, _)| *c != found.client);
                st.care_of_tests.retain(|_, (c, _)| *c != found.client);
            }
            Err(e) => {
                tracing::warn!(error = %e, "ICMPv6 socket");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Takes the sequence number for the next BU to `client`: the one after
/// the newest this node sent or learned, or after `floor` (the number the
/// client last accepted, as a donor or the client said it) unless this
/// node's own are just ahead of it (BUs of this node in flight).
fn take_seq(inner: &Inner, client: Ipv6Addr, floor: Option<SeqNum>) -> SeqNum {
    let mut st = lock(inner);
    let c = st.clients.entry(client).or_default();
    let seq =
        bu_exchange::next_sequence(c.seq, c.sent, floor).unwrap_or_else(|| SeqNum(rand::random()));
    c.sent = Some(seq);
    seq
}

/// Reads the Mobility Header socket for ever.
async fn mh_loop(inner: Arc<Inner>) {
    let mut buf = vec![0u8; 2048];
    loop {
        match inner.mh.recv(&mut buf).await {
            Ok(r) => {
                let mh = &buf[..r.len];
                count(&inner, "received", mh);
                on_message(&inner, r.src, r.dst, mh, true).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "mobility header socket");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Reads the peer channel for ever.
async fn peer_loop(inner: Arc<Inner>) {
    loop {
        match inner.peers.recv::<PeerMessage>().await {
            Ok((from, PeerMessage::HomeTest { client, mh })) => {
                tracing::trace!(from, %client, "home test relayed");
                on_message(&inner, client, inner.g, &mh, false).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "peer channel");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn rejected(inner: &Inner, reason: &'static str) {
    inner.metrics.count(
        "gecko_messages_rejected_total",
        "Messages dropped, by reason",
        &[("reason", reason)],
        1,
    );
}

/// Reads a message from `src`: a BA must carry the key of a BU awaiting
/// its answer there (BUs to one client are pipelined, and new tokens may
/// give them different keys: each is tried).
fn read_reply(inner: &Inner, src: Ipv6Addr, dst: Ipv6Addr, mh: &[u8]) -> Result<Reply, ReplyError> {
    if src == inner.home_agent {
        return mobile_node::read_reply(mh, &src, &dst, &inner.g, AckKey::HomeAgent(&inner.ha_key));
    }
    let keys: Vec<BindingKey> = lock(inner)
        .acks
        .iter()
        .filter(|((peer, _), _)| *peer == src)
        .filter_map(|(_, w)| w.key.clone())
        .collect();
    if keys.is_empty() {
        return mobile_node::read_reply(mh, &src, &dst, &inner.g, AckKey::None);
    }
    let mut result = Err(ReplyError::BadAuthenticator);
    for k in &keys {
        result = mobile_node::read_reply(mh, &src, &dst, &inner.g, AckKey::Correspondent(k));
        if !matches!(result, Err(ReplyError::BadAuthenticator)) {
            break;
        }
    }
    result
}

/// Handles one message; `relay` says whether a Home Test not meant for this
/// node goes on to the other nodes (not when it came from one).
async fn on_message(inner: &Arc<Inner>, src: Ipv6Addr, dst: Ipv6Addr, mh: &[u8], relay: bool) {
    let reply = match read_reply(inner, src, dst, mh) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(%src, error = %e, "message dropped");
            rejected(
                inner,
                match e {
                    ReplyError::BadAuthenticator => "bad_authenticator",
                    _ => "malformed",
                },
            );
            return;
        }
    };
    match reply {
        Reply::HomeTest {
            cookie,
            index,
            token,
        } => {
            let waiter = take_waiter(&mut lock(inner).home_tests, &cookie, src);
            match waiter {
                Some(tx) => deliver(tx, index, token),
                None if relay && dst == inner.g => {
                    let msg = PeerMessage::HomeTest {
                        client: src,
                        mh: mh.to_vec(),
                    };
                    // The cookie says nothing of its sender: every other
                    // node hears it, the one waiting for it takes it.
                    for node in &inner.others {
                        if let Err(e) = inner.peers.send_to(*node, &msg).await {
                            tracing::warn!(node, error = %e, "relaying a home test");
                        }
                    }
                }
                None => rejected(inner, "unexpected"),
            }
        }
        Reply::CareOfTest {
            cookie,
            index,
            token,
        } => {
            let waiter = take_waiter(&mut lock(inner).care_of_tests, &cookie, src);
            match waiter {
                Some(tx) => deliver(tx, index, token),
                None => rejected(inner, "unexpected"),
            }
        }
        Reply::BindingAck {
            status,
            sequence,
            bid,
            flow,
            ..
        } => {
            let waiter = lock(inner).acks.remove(&(src, AckFor::of(bid, flow)));
            match waiter {
                Some(w) => {
                    let _ = w.tx.send(Ack { status, sequence });
                }
                None => rejected(inner, "unexpected"),
            }
        }
        Reply::RefreshRequest => {}
    }
}

type Waiters = HashMap<[u8; 8], (Ipv6Addr, oneshot::Sender<Token>)>;

/// The handoff waiting for a test with `cookie` from `client`; a reply from
/// anyone else leaves it waiting.
fn take_waiter(
    pending: &mut Waiters,
    cookie: &Cookie,
    client: Ipv6Addr,
) -> Option<oneshot::Sender<Token>> {
    match pending.get(&cookie.0) {
        Some((c, _)) if *c == client => pending.remove(&cookie.0).map(|(_, tx)| tx),
        _ => None,
    }
}

fn deliver(tx: oneshot::Sender<Token>, index: NonceIndex, token: KeygenToken) {
    // The handoff may have given up meanwhile: nothing to do then.
    let _ = tx.send(Token {
        index,
        token,
        received: Instant::now(),
    });
}

/// Keeps the home registration and this node's client bindings fresh.
async fn refresh_loop(inner: Arc<Inner>) {
    let mut last_reg = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut peer_rejections: HashMap<&'static str, u64> = HashMap::new();
    let mut last_prune = Instant::now();
    loop {
        tick.tick().await;
        if last_prune.elapsed() >= Duration::from_secs(60) {
            last_prune = Instant::now();
            let mut kinds = inner.kinds.lock().unwrap_or_else(|e| e.into_inner());
            kinds.prune(last_prune);
        }
        // The peer channel counts what it drops; mirror that here.
        for (reason, n) in inner.peers.rejected() {
            let seen = peer_rejections.entry(reason).or_default();
            if n > *seen {
                inner.metrics.count(
                    "gecko_peer_messages_rejected_total",
                    "Peer-channel datagrams dropped, by reason",
                    &[("reason", reason)],
                    n - *seen,
                );
                *seen = n;
            }
        }
        let now = Instant::now();
        let (registered, due) = {
            let st = lock(&inner);
            let due: Vec<(Ipv6Addr, Scope)> = st
                .clients
                .iter()
                .flat_map(|(c, s)| {
                    s.bound
                        .iter()
                        .filter(|(_, at)| **at <= now)
                        .map(move |(scope, _)| (*c, *scope))
                })
                .collect();
            (st.registered, due)
        };
        if registered && now.duration_since(last_reg) >= inner.refresh {
            last_reg = now;
            if let Err(e) = register(&inner, inner.lifetime_units).await {
                tracing::warn!(error = %e, "home registration refresh");
            }
        }
        for (client, scope) in due {
            if let Err(e) = bind(&inner, client, scope, None, inner.lifetime_units).await {
                tracing::warn!(%client, error = %e, "binding refresh");
            }
        }
    }
}
