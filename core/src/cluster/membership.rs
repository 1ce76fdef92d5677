//! Cluster membership: which configured nodes are live right now, and which
//! live node backs up which.
//!
//! The nodes of a distributed server are listed statically in the
//! configuration (`config.nodes`; a node's index is its position, and the
//! list is the ring). Which of them are live is decided at run time by SWIM
//! failure detection ([`foca`]): every node probes a random live node each
//! [`MembershipConfig::probe_period`], asks others to probe it indirectly
//! when it does not answer within [`MembershipConfig::probe_rtt`], suspects
//! it at the end of the period and declares it down after
//! [`MembershipConfig::suspect_to_down`] unless it refutes the suspicion.
//! Changes spread by gossip piggybacked on the probes.
//!
//! Transport: foca's datagrams travel inside the authenticated peer channel
//! ([`PeerSocket`]: ChaCha20-Poly1305, replay and source-address checks) on
//! its own UDP port, [`membership_port`] (`peer_port + 1`), because the
//! node's other peer channel socket holds `peer_port`. A datagram whose
//! SWIM header names another node than the one that sealed it is dropped.
//!
//! Identity: a member is its node index plus a generation (nanoseconds since
//! the UNIX epoch when it started, or one more than its previous one when it
//! renews itself), so a restarted or rejoining node is a new identity that
//! replaces the old one everywhere.
//!
//! Seeds: the configuration lists every node, so at start, and every
//! [`MembershipConfig::reannounce_period`] for configured nodes not seen
//! live, a node announces itself to them; nodes that start later or heal
//! after a partition are found that way.
//!
//! A node's backup is the next live node after it on the ring, wrapping
//! ([`next_live`], [`Membership::backup_of`]).

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::SocketAddr;
use std::num::{NonZeroU8, NonZeroUsize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use foca::{
    AccumulatingRuntime, Codec, Foca, Identity, NoCustomBroadcast, OwnedNotification,
    PeriodicParams, PostcardCodec, Timer,
};
use rand_09::rngs::SmallRng;
use rand_09::SeedableRng;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::cluster::peer_channel::{
    cluster_key, peer_addresses, PeerCodec, PeerConfigError, PeerSocket, PeerSocketError,
};
use crate::config::Config;

/// The membership socket listens on `peer_port` plus this (UDP), next to
/// the peer channel socket on `peer_port` itself.
pub const MEMBERSHIP_PORT_OFFSET: u16 = 1;

/// How many events a subscriber may fall behind before it misses some.
const EVENT_CAPACITY: usize = 256;

/// The largest SWIM datagram (before sealing): well under any link MTU.
const MAX_PACKET: usize = 1400;

/// How long a down identity is remembered, so that stale gossip about it
/// cannot bring it back; a node that comes back does so as a new identity.
const REMOVE_DOWN_AFTER: Duration = Duration::from_secs(3600);

/// The UDP port of the membership socket for this configuration:
/// `peer_port + 1` ([`MEMBERSHIP_PORT_OFFSET`]).
pub fn membership_port(config: &Config) -> Result<u16, MembershipError> {
    config
        .peer_port
        .checked_add(MEMBERSHIP_PORT_OFFSET)
        .ok_or(MembershipError::NoPort(config.peer_port))
}

/// The next node after `node` on a ring of `ring_len` nodes (indices
/// `0..ring_len`, wrapping) that is in `live`; `node` itself is never the
/// answer, and need not be live. `None` when no other node is live.
pub fn next_live(ring_len: usize, live: &[u16], node: u16) -> Option<u16> {
    let start = usize::from(node);
    (1..=ring_len)
        .map(|step| (start + step) % ring_len)
        .filter_map(|i| u16::try_from(i).ok())
        .find(|&i| i != node && live.contains(&i))
}

/// Timing of failure detection.
///
/// A crashed node is declared down after: the wait until some node probes
/// it (up to about two periods with three nodes), one `probe_period`, then
/// `suspect_to_down`; the first node to declare it gossips that at once.
/// With the defaults (70 / 30 / 110 ms) on links without delay, three nodes
/// on [::1] saw a crash after 190 to 320 ms, median about 230 ms (the
/// ignored test `detection_time_statistics`). A node stalled for less than
/// about `probe_period + suspect_to_down` (a loaded machine) is not
/// declared down: it refutes the suspicion when it runs again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipConfig {
    /// How often each node probes one other live node (round robin).
    pub probe_period: Duration,
    /// How long a direct probe waits for its answer before other nodes are
    /// asked to probe indirectly; less than `probe_period`.
    pub probe_rtt: Duration,
    /// How long a suspected node has to refute the suspicion before it is
    /// declared down.
    pub suspect_to_down: Duration,
    /// How many nodes are asked to probe indirectly (and are sent each
    /// round of gossip).
    pub indirect_probes: usize,
    /// How many times each membership update is piggybacked before it is
    /// dropped.
    pub max_transmissions: u8,
    /// How often pending updates are gossiped besides the probes (nothing
    /// is sent when there are none).
    pub gossip_period: Duration,
    /// How often this node announces itself to configured nodes it does not
    /// see live.
    pub reannounce_period: Duration,
}

impl Default for MembershipConfig {
    fn default() -> Self {
        MembershipConfig {
            probe_period: Duration::from_millis(70),
            probe_rtt: Duration::from_millis(30),
            suspect_to_down: Duration::from_millis(110),
            indirect_probes: 3,
            max_transmissions: 6,
            gossip_period: Duration::from_millis(20),
            reannounce_period: Duration::from_millis(500),
        }
    }
}

impl MembershipConfig {
    /// Checks the settings and turns them into foca's.
    fn foca_config(&self) -> Result<foca::Config, MembershipError> {
        let nonzero = [
            (self.probe_rtt, "probe_rtt must not be zero"),
            (self.suspect_to_down, "suspect_to_down must not be zero"),
            (self.gossip_period, "gossip_period must not be zero"),
            (self.reannounce_period, "reannounce_period must not be zero"),
        ];
        if let Some((_, why)) = nonzero.iter().find(|(d, _)| d.is_zero()) {
            return Err(MembershipError::Settings(why));
        }
        if self.probe_period <= self.probe_rtt {
            return Err(MembershipError::Settings(
                "probe_period must be longer than probe_rtt",
            ));
        }
        let indirect = NonZeroUsize::new(self.indirect_probes).ok_or(MembershipError::Settings(
            "indirect_probes must not be zero",
        ))?;
        let max_transmissions = NonZeroU8::new(self.max_transmissions).ok_or(
            MembershipError::Settings("max_transmissions must not be zero"),
        )?;
        let max_packet_size =
            NonZeroUsize::new(MAX_PACKET).ok_or(MembershipError::Settings("packet size"))?;
        Ok(foca::Config {
            probe_period: self.probe_period,
            probe_rtt: self.probe_rtt,
            num_indirect_probes: indirect,
            max_transmissions,
            suspect_to_down_after: self.suspect_to_down,
            remove_down_after: REMOVE_DOWN_AFTER,
            max_packet_size,
            // A node declared down (a false positive, a healed partition)
            // learns it at once and rejoins under a renewed identity.
            notify_down_members: true,
            // The configured seed list is re-announced instead.
            periodic_announce: None,
            periodic_announce_to_down_members: None,
            // Suspicions reach the suspect fast enough to be refuted, and
            // downs spread without waiting for the next probes.
            periodic_gossip: Some(PeriodicParams {
                frequency: self.gossip_period,
                num_members: indirect,
            }),
        })
    }
}

/// How many copies of each SWIM datagram are sent.
const REDUNDANCY: usize = 3;

/// A change of the live set seen by this node (never about itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberEvent {
    /// The node joined, or came back.
    Up(u16),
    /// The node failed or left. A node seen restarting (a new identity
    /// replacing a live one) gives `Down` then `Up`.
    Down(u16),
    /// The others declared this node down (it was cut off or stalled) and
    /// it rejoined under a new identity: its backup may be recovering its
    /// connections now.
    Evicted,
}

/// Errors of [`Membership`].
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    /// The membership socket could not be bound, or sending failed.
    #[error(transparent)]
    Socket(#[from] PeerSocketError),
    /// The cluster key or the node index does not fit the configuration.
    #[error(transparent)]
    Config(#[from] PeerConfigError),
    /// A [`MembershipConfig`] value is out of range.
    #[error("invalid membership settings: {0}")]
    Settings(&'static str),
    /// `peer_port + 1` does not exist.
    #[error("peer_port {0} leaves no port for membership (peer_port + 1)")]
    NoPort(u16),
    /// The SWIM protocol refused an operation.
    #[error("membership protocol: {0}")]
    Protocol(#[from] foca::Error),
    /// The membership task is gone (it cannot stop while the handle lives,
    /// unless it panicked).
    #[error("the membership task has stopped")]
    Stopped,
}

/// A member's identity: its node index and a generation that grows with
/// each (re)start or rejoin, so the newest identity of a node wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct NodeId {
    index: u16,
    generation: u64,
}

impl Identity for NodeId {
    type Addr = u16;

    // Declared down while still running: come back as the next generation.
    fn renew(&self) -> Option<Self> {
        Some(NodeId {
            index: self.index,
            generation: self.generation.checked_add(1)?,
        })
    }

    fn addr(&self) -> u16 {
        self.index
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.generation > adversary.generation
    }
}

/// The SWIM bytes inside a sealed peer-channel datagram.
#[derive(Debug, Serialize, Deserialize)]
struct SwimDatagram(Vec<u8>);

/// What the task and the handle share.
#[derive(Debug)]
struct Shared {
    me: u16,
    /// Ring length: one more than the highest configured index.
    ring_len: usize,
    view: Mutex<View>,
    events: broadcast::Sender<MemberEvent>,
    failures: AtomicU64,
    socket: Arc<PeerSocket>,
}

/// This node's view of the cluster.
#[derive(Debug)]
struct View {
    /// False after [`Membership::leave`] until [`Membership::join`].
    joined: bool,
    /// Other nodes seen live, with their current identity.
    others: BTreeMap<u16, NodeId>,
}

impl Shared {
    fn view(&self) -> MutexGuard<'_, View> {
        // The view is plain data, consistent after every statement.
        self.view.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn live(&self) -> Vec<u16> {
        let view = self.view();
        let mut live: Vec<u16> = view.others.keys().copied().collect();
        if view.joined {
            live.push(self.me);
            live.sort_unstable();
        }
        live
    }
}

/// This node's membership in the cluster: a running SWIM member and its
/// current view. Dropping it stops the member at once, without leaving (the
/// others see a crash).
#[derive(Debug)]
pub struct Membership {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

/// Requests from the handle to the task.
#[derive(Debug)]
enum Command {
    Join(oneshot::Sender<Result<(), MembershipError>>),
    Leave(oneshot::Sender<Result<(), MembershipError>>),
}

impl Membership {
    /// Binds `local` and starts node `me`, which knows the other configured
    /// nodes at `peers` (index, membership address; an entry for `me` is
    /// ignored), and announces itself to them.
    pub async fn start(
        me: u16,
        local: SocketAddr,
        key: &[u8; 32],
        peers: Vec<(u16, SocketAddr)>,
        cfg: MembershipConfig,
    ) -> Result<Arc<Membership>, MembershipError> {
        let foca_config = cfg.foca_config()?;
        let peers: Vec<(u16, SocketAddr)> = peers.into_iter().filter(|(i, _)| *i != me).collect();
        let ring_len = peers
            .iter()
            .map(|(i, _)| *i)
            .chain([me])
            .max()
            .map_or(1, |m| usize::from(m) + 1);
        let peer_indices: Vec<u16> = peers.iter().map(|(i, _)| *i).collect();
        let socket = Arc::new(PeerSocket::bind(local, PeerCodec::new(key, me), peers).await?);
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let shared = Arc::new(Shared {
            me,
            ring_len,
            view: Mutex::new(View {
                joined: true,
                others: BTreeMap::new(),
            }),
            events,
            failures: AtomicU64::new(0),
            socket: Arc::clone(&socket),
        });
        let identity = NodeId {
            index: me,
            generation: now_nanos(),
        };
        let foca = Foca::new(
            identity,
            foca_config,
            SmallRng::seed_from_u64(rand::random()),
            PostcardCodec,
        );
        let driver = Driver {
            foca,
            runtime: AccumulatingRuntime::new(),
            timers: BinaryHeap::new(),
            next_seq: 0,
            socket,
            shared: Arc::clone(&shared),
            peers: peer_indices,
        };
        let (commands, command_rx) = mpsc::unbounded_channel();
        tracing::info!(node = me, %local, generation = identity.generation, "membership: started");
        let task = tokio::spawn(driver.run(command_rx, cfg.reannounce_period));
        Ok(Arc::new(Membership {
            shared,
            commands,
            task,
        }))
    }

    /// Starts node `me` of `config`: binds `[its address]:`[`membership_port`]
    /// and knows every other node at its address and that port; keyed with
    /// `security.cluster_key`.
    pub async fn from_config(
        config: &Config,
        me: u16,
        cfg: MembershipConfig,
    ) -> Result<Arc<Membership>, MembershipError> {
        let key = cluster_key(config)?;
        let port = membership_port(config)?;
        let node = config
            .nodes
            .get(usize::from(me))
            .ok_or(PeerConfigError::NoSuchNode {
                index: me,
                count: config.nodes.len(),
            })?;
        let local = SocketAddr::new(node.address.into(), port);
        Membership::start(me, local, &key, peer_addresses(config, port), cfg).await
    }

    /// This node's index.
    pub fn me(&self) -> u16 {
        self.shared.me
    }

    /// The live nodes, sorted; this node is among them while joined.
    pub fn live(&self) -> Vec<u16> {
        self.shared.live()
    }

    /// Whether `node` is live (this node: whether it is joined).
    pub fn is_live(&self, node: u16) -> bool {
        let view = self.shared.view();
        if node == self.shared.me {
            view.joined
        } else {
            view.others.contains_key(&node)
        }
    }

    /// The backup of `node`: the next live node after it on the ring
    /// (`node` itself need not be live); `None` without another live node.
    pub fn backup_of(&self, node: u16) -> Option<u16> {
        next_live(self.shared.ring_len, &self.live(), node)
    }

    /// This node's backup.
    pub fn my_backup(&self) -> Option<u16> {
        self.backup_of(self.shared.me)
    }

    /// The configured nodes whose backup is `node` (those whose connections
    /// `node` holds), live or not, sorted.
    pub fn backed_up_by(&self, node: u16) -> Vec<u16> {
        let live = self.live();
        (0..self.shared.ring_len)
            .filter_map(|i| u16::try_from(i).ok())
            .filter(|&i| i != node && next_live(self.shared.ring_len, &live, i) == Some(node))
            .collect()
    }

    /// The changes of the live set from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<MemberEvent> {
        self.shared.events.subscribe()
    }

    /// Announces this node to every configured peer (done at start too).
    /// After [`Self::leave`], re-enters the cluster under a new identity.
    pub async fn join(&self) -> Result<(), MembershipError> {
        self.request(Command::Join).await
    }

    /// Leaves the cluster gracefully: the others are told, and see this node
    /// down without waiting for failure detection. Until [`Self::join`],
    /// this node takes no part (it ignores what it receives).
    pub async fn leave(&self) -> Result<(), MembershipError> {
        self.request(Command::Leave).await
    }

    /// How many `Down` events about other nodes this node has seen.
    pub fn failures_detected(&self) -> u64 {
        self.shared.failures.load(Ordering::Relaxed)
    }

    /// Datagrams the membership socket dropped, by reason (see
    /// [`PeerSocket::rejected`]).
    pub fn rejected(&self) -> BTreeMap<&'static str, u64> {
        self.shared.socket.rejected()
    }

    async fn request(
        &self,
        make: fn(oneshot::Sender<Result<(), MembershipError>>) -> Command,
    ) -> Result<(), MembershipError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .map_err(|_| MembershipError::Stopped)?;
        rx.await.map_err(|_| MembershipError::Stopped)?
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A timer foca asked for.
struct Scheduled {
    at: Instant,
    seq: u64,
    timer: Timer<NodeId>,
}

// Earliest first in a max-heap; equal deadlines in submission order.
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Scheduled {}

/// The task that runs foca: datagrams, timers, commands in; datagrams,
/// view changes and events out.
struct Driver {
    foca: Foca<NodeId, PostcardCodec, SmallRng, NoCustomBroadcast>,
    runtime: AccumulatingRuntime<NodeId>,
    timers: BinaryHeap<Scheduled>,
    next_seq: u64,
    socket: Arc<PeerSocket>,
    shared: Arc<Shared>,
    /// Every other configured node.
    peers: Vec<u16>,
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>, reannounce: Duration) {
        self.announce(false);
        self.flush().await;
        let mut reannounce = tokio::time::interval_at(Instant::now() + reannounce, reannounce);
        reannounce.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let next_timer = self.timers.peek().map(|s| s.at);
            let mut reply = None;
            // Biased: queued datagrams (acks) are handled before timers that
            // fell due meanwhile, so a stall of this task does not turn
            // answered probes into suspicions.
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    // The handle is gone.
                    None => return,
                    Some(Command::Join(tx)) => reply = Some((tx, self.join())),
                    Some(Command::Leave(tx)) => reply = Some((tx, self.leave())),
                },
                received = self.socket.recv::<SwimDatagram>() => match received {
                    Ok((from, SwimDatagram(bytes))) => self.datagram(from, &bytes),
                    Err(e) => {
                        tracing::warn!(error = %e, "membership: receive failed");
                        // Do not spin on a persistent socket error.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                () = sleep_until(next_timer) => self.fire_timers(),
                _ = reannounce.tick() => self.announce(true),
            }
            self.flush().await;
            if let Some((tx, result)) = reply {
                // The caller may have given up waiting: nothing to do then.
                let _ = tx.send(result);
            }
        }
    }

    fn joined(&self) -> bool {
        self.shared.view().joined
    }

    /// Announces this node to the configured peers (only those not seen
    /// live when `only_missing`).
    fn announce(&mut self, only_missing: bool) {
        if !self.joined() {
            return;
        }
        let live = self.shared.live();
        for &peer in &self.peers {
            if only_missing && live.contains(&peer) {
                continue;
            }
            // An announce is accepted by any identity of the node.
            let dst = NodeId {
                index: peer,
                generation: 0,
            };
            if let Err(e) = self.foca.announce(dst, &mut self.runtime) {
                tracing::debug!(peer, error = %e, "membership: announce failed");
            }
        }
    }

    fn join(&mut self) -> Result<(), MembershipError> {
        if !self.joined() {
            let old = *self.foca.identity();
            let new = NodeId {
                index: old.index,
                generation: now_nanos().max(old.generation.saturating_add(1)),
            };
            self.foca.change_identity(new, &mut self.runtime)?;
            self.shared.view().joined = true;
            tracing::info!(
                node = new.index,
                generation = new.generation,
                "membership: rejoining"
            );
        }
        self.announce(false);
        Ok(())
    }

    fn leave(&mut self) -> Result<(), MembershipError> {
        if !self.joined() {
            return Ok(());
        }
        self.foca.leave_cluster(&mut self.runtime)?;
        self.shared.view().joined = false;
        tracing::info!(node = self.shared.me, "membership: left the cluster");
        Ok(())
    }

    fn datagram(&mut self, from: u16, bytes: &[u8]) {
        // A node left takes no part: in particular it must not renew its
        // identity when told it is down.
        if !self.joined() {
            return;
        }
        // The peer channel authenticated `from`; the SWIM header must agree,
        // or one node could speak for another.
        match Codec::<NodeId>::decode_header(&mut PostcardCodec, bytes) {
            Ok(header) if header.src.index == from => {}
            Ok(header) => {
                tracing::warn!(
                    from,
                    claimed = header.src.index,
                    "membership: dropped a datagram speaking for another node"
                );
                return;
            }
            Err(e) => {
                tracing::debug!(from, error = %e, "membership: dropped a malformed datagram");
                return;
            }
        }
        if let Err(e) = self.foca.handle_data(bytes, &mut self.runtime) {
            tracing::debug!(from, error = %e, "membership: datagram refused");
        }
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        let mut due = Vec::new();
        while self.timers.peek().is_some_and(|s| s.at <= now) {
            if let Some(s) = self.timers.pop() {
                due.push(s.timer);
            }
        }
        // foca's order for timers due together (after a stall): indirect
        // probes before the next probe, as it recommends.
        due.sort();
        for timer in due {
            if let Err(e) = self.foca.handle_timer(timer, &mut self.runtime) {
                tracing::debug!(error = %e, "membership: timer refused");
            }
        }
    }

    /// Carries out what foca asked for: view changes, timers, datagrams.
    async fn flush(&mut self) {
        while self.runtime.backlog() > 0 {
            let mut spread = false;
            while let Some(notification) = self.runtime.to_notify() {
                spread |= self.notified(notification);
            }
            if spread {
                // Tell others of a failure now rather than with the next probe.
                if let Err(e) = self.foca.gossip(&mut self.runtime) {
                    tracing::debug!(error = %e, "membership: gossip failed");
                }
            }
            while let Some((after, timer)) = self.runtime.to_schedule() {
                self.timers.push(Scheduled {
                    at: Instant::now() + after,
                    seq: self.next_seq,
                    timer,
                });
                self.next_seq += 1;
            }
            while let Some((to, data)) = self.runtime.to_send() {
                let msg = SwimDatagram(data.to_vec());
                // Each datagram goes out three times (sealed apart, so all
                // pass the replay check; foca takes duplicates in its
                // stride): a lossy link costs a probe round trip much less
                // often, and so a false suspicion. With 5% loss on each of
                // the 4 links a round trip crosses, 19% of single probes
                // fail, 2% of doubled ones, 0.2% of tripled ones (doubled,
                // a two-node cluster under 5% loss still saw evictions).
                for _ in 0..REDUNDANCY {
                    if let Err(e) = self.socket.send_to(to.index, &msg).await {
                        // A cut link or a vanished node: failure detection copes.
                        tracing::debug!(node = to.index, error = %e, "membership: send failed");
                    }
                }
            }
        }
    }

    /// Applies one notification; true when this node just detected a failure.
    fn notified(&mut self, notification: OwnedNotification<NodeId>) -> bool {
        let me = self.shared.me;
        match notification {
            OwnedNotification::MemberUp(id) if id.index != me => {
                let before = self.shared.view().others.insert(id.index, id);
                if before.is_none() {
                    tracing::info!(node = id.index, generation = id.generation, "member up");
                    self.emit(MemberEvent::Up(id.index));
                }
                false
            }
            OwnedNotification::MemberDown(id) if id.index != me => {
                let removed = {
                    let mut view = self.shared.view();
                    let current = view.others.get(&id.index) == Some(&id);
                    if current {
                        view.others.remove(&id.index);
                    }
                    current
                };
                if removed {
                    tracing::info!(node = id.index, generation = id.generation, "member down");
                    self.down(id.index);
                }
                removed
            }
            OwnedNotification::Rename(old, new) if new.index != me => {
                let restarted = {
                    let mut view = self.shared.view();
                    let live = view.others.get(&old.index) == Some(&old);
                    if live {
                        view.others.insert(new.index, new);
                    }
                    live
                };
                // A live node replaced by a newer identity restarted: what it
                // held is gone, as if it had failed and come back.
                if restarted {
                    tracing::info!(
                        node = new.index,
                        generation = new.generation,
                        "member restarted"
                    );
                    self.down(new.index);
                    self.emit(MemberEvent::Up(new.index));
                }
                false
            }
            OwnedNotification::Rejoin(id) => {
                tracing::warn!(
                    generation = id.generation,
                    "membership: the cluster declared this node down; rejoined"
                );
                self.emit(MemberEvent::Evicted);
                false
            }
            OwnedNotification::Defunct if self.joined() => {
                tracing::warn!("membership: this node is down and cannot rejoin");
                false
            }
            OwnedNotification::Idle => {
                tracing::info!("membership: no other node is live");
                false
            }
            other => {
                tracing::debug!(notification = ?other, "membership");
                false
            }
        }
    }

    fn down(&self, node: u16) {
        self.shared.failures.fetch_add(1, Ordering::Relaxed);
        self.emit(MemberEvent::Down(node));
    }

    fn emit(&self, event: MemberEvent) {
        // No subscriber is fine.
        let _ = self.shared.events.send(event);
    }
}

/// Sleeps until `at`, or forever without a deadline.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Nanoseconds since the UNIX epoch: a fresh generation above any earlier
/// start of this node (as long as the clock did not step back).
fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv6Addr, UdpSocket as StdUdpSocket};
    use std::time::Instant as StdInstant;

    const KEY: [u8; 32] = [5; 32];
    const WAIT: Duration = Duration::from_secs(2);

    /// Distinct free UDP ports on [::1]: all bound at once, then released.
    fn free_ports(n: usize) -> Vec<u16> {
        let sockets: Vec<StdUdpSocket> = (0..n)
            .map(|_| StdUdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).unwrap())
            .collect();
        sockets
            .iter()
            .map(|s| s.local_addr().unwrap().port())
            .collect()
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port)
    }

    fn all_peers(ports: &[u16]) -> Vec<(u16, SocketAddr)> {
        ports
            .iter()
            .enumerate()
            .map(|(i, &p)| (i as u16, addr(p)))
            .collect()
    }

    /// Node `me` of the cluster at `ports`, keyed with `key`.
    async fn node(me: u16, ports: &[u16], key: &[u8; 32]) -> Arc<Membership> {
        node_with(me, ports, key, MembershipConfig::default()).await
    }

    async fn node_with(
        me: u16,
        ports: &[u16],
        key: &[u8; 32],
        cfg: MembershipConfig,
    ) -> Arc<Membership> {
        Membership::start(me, addr(ports[usize::from(me)]), key, all_peers(ports), cfg)
            .await
            .unwrap()
    }

    async fn cluster(n: usize) -> (Vec<u16>, Vec<Arc<Membership>>) {
        cluster_with(n, MembershipConfig::default()).await
    }

    async fn cluster_with(n: usize, cfg: MembershipConfig) -> (Vec<u16>, Vec<Arc<Membership>>) {
        let ports = free_ports(n);
        let mut nodes = Vec::new();
        for i in 0..n {
            nodes.push(node_with(i as u16, &ports, &KEY, cfg.clone()).await);
        }
        (ports, nodes)
    }

    /// The default settings, or those of `MEMBERSHIP_TIMING` =
    /// `probe_period,probe_rtt,suspect_to_down` in milliseconds (for tuning
    /// with the ignored tests below).
    fn timing_from_env() -> MembershipConfig {
        let mut cfg = MembershipConfig::default();
        if let Ok(text) = std::env::var("MEMBERSHIP_TIMING") {
            let ms: Vec<u64> = text.split(',').map(|v| v.trim().parse().unwrap()).collect();
            cfg.probe_period = Duration::from_millis(ms[0]);
            cfg.probe_rtt = Duration::from_millis(ms[1]);
            cfg.suspect_to_down = Duration::from_millis(ms[2]);
        }
        cfg
    }

    /// Polls `cond` until it holds or `limit` passes; true if it held.
    async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
        let end = StdInstant::now() + limit;
        loop {
            if cond() {
                return true;
            }
            if StdInstant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn converged(nodes: &[Arc<Membership>], live: &[u16], limit: Duration) -> bool {
        eventually(limit, || nodes.iter().all(|m| m.live() == live)).await
    }

    /// Waits for `event` on `rx` (other events are skipped); the time it
    /// took, or `None` after `limit`.
    async fn wait_event(
        rx: &mut broadcast::Receiver<MemberEvent>,
        event: MemberEvent,
        limit: Duration,
    ) -> Option<Duration> {
        let start = StdInstant::now();
        let end = start + limit;
        loop {
            let left = end.checked_duration_since(StdInstant::now())?;
            match tokio::time::timeout(left, rx.recv()).await {
                Ok(Ok(e)) if e == event => return Some(start.elapsed()),
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => return None,
            }
        }
    }

    /// Events received so far, without waiting.
    fn drain(rx: &mut broadcast::Receiver<MemberEvent>) -> Vec<MemberEvent> {
        let mut events = Vec::new();
        while let Ok(e) = rx.try_recv() {
            events.push(e);
        }
        events
    }

    #[test]
    fn next_live_cases() {
        assert_eq!(next_live(3, &[0, 1, 2], 0), Some(1));
        assert_eq!(next_live(3, &[0, 1, 2], 2), Some(0));
        assert_eq!(next_live(3, &[0, 2], 0), Some(2));
        assert_eq!(next_live(3, &[0, 2], 1), Some(2));
        assert_eq!(next_live(3, &[0, 2], 2), Some(0));
        // Never the node itself.
        assert_eq!(next_live(3, &[1], 1), None);
        assert_eq!(next_live(3, &[], 0), None);
        assert_eq!(next_live(1, &[0], 0), None);
        assert_eq!(next_live(0, &[], 0), None);
        // Wraps past several dead nodes.
        assert_eq!(next_live(5, &[1, 4], 4), Some(1));
        assert_eq!(next_live(5, &[1], 3), Some(1));
        // Unsorted input, and indices outside the ring, are fine.
        assert_eq!(next_live(4, &[3, 0, 2], 0), Some(2));
        assert_eq!(next_live(4, &[9, 2], 2), None);
    }

    #[test]
    fn settings_are_checked() {
        let good = MembershipConfig::default();
        assert!(good.foca_config().is_ok());
        let cases = [
            MembershipConfig {
                probe_rtt: good.probe_period,
                ..good.clone()
            },
            MembershipConfig {
                probe_rtt: Duration::ZERO,
                ..good.clone()
            },
            MembershipConfig {
                suspect_to_down: Duration::ZERO,
                ..good.clone()
            },
            MembershipConfig {
                indirect_probes: 0,
                ..good.clone()
            },
            MembershipConfig {
                max_transmissions: 0,
                ..good.clone()
            },
            MembershipConfig {
                reannounce_period: Duration::ZERO,
                ..good.clone()
            },
        ];
        for bad in cases {
            assert!(
                matches!(bad.foca_config(), Err(MembershipError::Settings(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn identities_renew_and_win() {
        let a = NodeId {
            index: 3,
            generation: 10,
        };
        let b = a.renew().unwrap();
        assert_eq!((b.index, b.generation), (3, 11));
        assert_eq!(b.addr(), a.addr());
        assert!(b.win_addr_conflict(&a));
        assert!(!a.win_addr_conflict(&b));
        let last = NodeId {
            index: 3,
            generation: u64::MAX,
        };
        assert_eq!(last.renew(), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn three_members_converge() {
        let (_ports, nodes) = cluster(3).await;
        assert!(
            converged(&nodes, &[0, 1, 2], WAIT).await,
            "views: {:?}",
            nodes.iter().map(|m| m.live()).collect::<Vec<_>>()
        );
        for m in &nodes {
            assert_eq!(m.backup_of(0), Some(1));
            assert_eq!(m.backup_of(1), Some(2));
            assert_eq!(m.backup_of(2), Some(0));
            assert_eq!(m.backed_up_by(1), vec![0]);
            assert_eq!(m.backed_up_by(0), vec![2]);
            assert!(m.is_live(0) && m.is_live(1) && m.is_live(2));
            assert_eq!(m.failures_detected(), 0);
        }
        assert_eq!(nodes[2].my_backup(), Some(0));
        assert_eq!(nodes[1].me(), 1);
        // Stable: no false positive while idle for a few detection times.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        for m in &nodes {
            assert_eq!(m.live(), vec![0, 1, 2]);
            assert_eq!(m.failures_detected(), 0);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn crashed_member_is_detected_down() {
        let (_ports, mut nodes) = cluster(3).await;
        assert!(converged(&nodes, &[0, 1, 2], WAIT).await);
        let mut rx0 = nodes[0].subscribe();
        let mut rx1 = nodes[1].subscribe();

        // A crash: no leave, the socket just goes away.
        drop(nodes.pop());
        let t0 = StdInstant::now();
        wait_event(&mut rx0, MemberEvent::Down(2), WAIT)
            .await
            .expect("node 0 saw Down(2)");
        let d0 = t0.elapsed();
        wait_event(&mut rx1, MemberEvent::Down(2), WAIT)
            .await
            .expect("node 1 saw Down(2)");
        let detected = t0.elapsed();
        println!("crash detection: node 0 after {d0:?}, both after {detected:?}");
        assert!(detected < Duration::from_secs(2));
        for m in &nodes {
            assert_eq!(m.live(), vec![0, 1]);
            assert!(!m.is_live(2));
            assert_eq!(m.backup_of(1), Some(0));
            assert_eq!(m.backup_of(2), Some(0));
            assert_eq!(m.backup_of(0), Some(1));
            assert_eq!(m.backed_up_by(0), vec![1, 2]);
            assert_eq!(m.failures_detected(), 1);
        }
    }

    /// Starts node `me` again once its dropped predecessor's task has
    /// released the port (an aborted task is dropped shortly after).
    async fn restart(me: u16, ports: &[u16]) -> Arc<Membership> {
        for _ in 0..100 {
            let started = Membership::start(
                me,
                addr(ports[usize::from(me)]),
                &KEY,
                all_peers(ports),
                MembershipConfig::default(),
            )
            .await;
            match started {
                Ok(m) => return m,
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        panic!("node {me}'s port stays busy");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn restarted_member_comes_back() {
        let (ports, mut nodes) = cluster(3).await;
        assert!(converged(&nodes, &[0, 1, 2], WAIT).await);
        let mut rx: Vec<_> = nodes[..2].iter().map(|m| m.subscribe()).collect();

        // Restarted after it was seen down: a new identity, seen up.
        drop(nodes.pop());
        for r in &mut rx {
            assert!(wait_event(r, MemberEvent::Down(2), WAIT).await.is_some());
        }
        nodes.push(restart(2, &ports).await);
        for r in &mut rx {
            assert!(wait_event(r, MemberEvent::Up(2), WAIT).await.is_some());
        }
        assert!(converged(&nodes, &[0, 1, 2], WAIT).await);

        // Restarted at once, before failure detection could notice: the
        // newer identity replaces the live one, seen as down then up.
        drop(nodes.pop());
        nodes.push(restart(2, &ports).await);
        for r in &mut rx {
            assert!(wait_event(r, MemberEvent::Down(2), WAIT).await.is_some());
            assert!(wait_event(r, MemberEvent::Up(2), WAIT).await.is_some());
        }
        assert!(converged(&nodes, &[0, 1, 2], WAIT).await);
        assert_eq!(nodes[0].failures_detected(), 2);
        assert_eq!(nodes[1].failures_detected(), 2);
        assert_eq!(nodes[2].failures_detected(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn leave_then_join_again() {
        let (_ports, nodes) = cluster(3).await;
        assert!(converged(&nodes, &[0, 1, 2], WAIT).await);
        let mut rx0 = nodes[0].subscribe();
        let mut rx1 = nodes[1].subscribe();

        nodes[2].leave().await.unwrap();
        assert!(!nodes[2].is_live(2));
        assert_eq!(nodes[2].live(), vec![0, 1]);
        let d0 = wait_event(&mut rx0, MemberEvent::Down(2), WAIT).await;
        let d1 = wait_event(&mut rx1, MemberEvent::Down(2), WAIT).await;
        println!("leave seen after {d0:?} / {d1:?}");
        assert!(d0.is_some() && d1.is_some());
        // Left means left: it does not come back by itself.
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(converged(&nodes[..2], &[0, 1], Duration::ZERO).await);
        assert!(drain(&mut rx0).is_empty());
        nodes[2].leave().await.unwrap();

        nodes[2].join().await.unwrap();
        assert!(nodes[2].is_live(2));
        assert!(wait_event(&mut rx0, MemberEvent::Up(2), WAIT)
            .await
            .is_some());
        assert!(wait_event(&mut rx1, MemberEvent::Up(2), WAIT)
            .await
            .is_some());
        assert!(converged(&nodes, &[0, 1, 2], WAIT).await);
        assert_eq!(nodes[0].failures_detected(), 1);
        assert_eq!(nodes[1].failures_detected(), 1);
        // Joining while joined just announces again.
        nodes[2].join().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(converged(&nodes, &[0, 1, 2], Duration::ZERO).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn outsiders_and_impostors_are_ignored() {
        let ports = free_ports(3);
        let n0 = node(0, &ports, &KEY).await;
        let n1 = node(1, &ports, &KEY).await;
        // Node 2 runs with the wrong key: it announces itself again and again.
        let wrong = node(2, &ports, &[6; 32]).await;
        let mut rx0 = n0.subscribe();
        let pair = [Arc::clone(&n0), Arc::clone(&n1)];
        assert!(converged(&pair, &[0, 1], WAIT).await);
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert!(converged(&pair, &[0, 1], Duration::ZERO).await);
        // Up(1) may have come before the subscription: nothing else did.
        let events = drain(&mut rx0);
        assert!(
            events.iter().all(|e| *e == MemberEvent::Up(1)),
            "{events:?}"
        );
        assert_eq!(wrong.live(), vec![2]);
        assert!(n0.rejected().get("bad_tag").copied().unwrap_or(0) >= 2);
        // Both ways: node 2 refuses the others' re-announces too.
        assert!(wrong.rejected().get("bad_tag").copied().unwrap_or(0) >= 2);
        assert_eq!(n0.failures_detected(), 0);
        drop(wrong);

        // From node 2's address with the right key, but speaking for node 1
        // under a newer identity (accepted, that would restart node 1 in
        // node 0's view), then garbage.
        // The aborted task releases node 2's port as soon as it is dropped.
        let mut raw = None;
        for _ in 0..100 {
            match PeerSocket::bind(addr(ports[2]), PeerCodec::new(&KEY, 2), all_peers(&ports)).await
            {
                Ok(s) => {
                    raw = Some(s);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        let raw = raw.expect("node 2's port is free again");
        let header = |src: u16, generation: u64| foca::Header {
            src: NodeId {
                index: src,
                generation,
            },
            src_incarnation: 0,
            dst: NodeId {
                index: 0,
                generation: 0,
            },
            message: foca::Message::Announce,
        };
        let encode = |h: &foca::Header<NodeId>| {
            let mut buf = Vec::new();
            Codec::<NodeId>::encode_header(&mut PostcardCodec, h, &mut buf).unwrap();
            SwimDatagram(buf)
        };
        raw.send_to(0, &encode(&header(1, u64::MAX))).await.unwrap();
        raw.send_to(0, &SwimDatagram(vec![0xff; 40])).await.unwrap();
        raw.send_to(0, &SwimDatagram(Vec::new())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(drain(&mut rx0), vec![]);
        assert!(converged(&pair, &[0, 1], Duration::ZERO).await);

        // The same path with an honest header is accepted: node 0 sees
        // node 2 up (and later down, since nothing answers its probes).
        raw.send_to(0, &encode(&header(2, now_nanos())))
            .await
            .unwrap();
        assert!(wait_event(&mut rx0, MemberEvent::Up(2), WAIT)
            .await
            .is_some());
        assert!(wait_event(&mut rx0, MemberEvent::Down(2), WAIT)
            .await
            .is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn from_config_binds_membership_port() {
        let text = include_str!("../../../examples/gecko.toml");
        let mut config = Config::parse(text, std::path::Path::new("gecko.toml")).unwrap();
        let port = free_ports(1)[0];
        config.peer_port = port - 1;
        config.nodes[0].address = Ipv6Addr::LOCALHOST;
        assert_eq!(membership_port(&config).unwrap(), port);
        // The other nodes' addresses are unreachable here: node 0 is alone.
        let m = Membership::from_config(&config, 0, MembershipConfig::default())
            .await
            .unwrap();
        assert_eq!(m.live(), vec![0]);
        assert_eq!(m.my_backup(), None);
        // Node 0 is the backup of every other (dead) node.
        let others: Vec<u16> = (1..config.nodes.len() as u16).collect();
        assert_eq!(m.backed_up_by(0), others);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(m.live(), vec![0]);

        let count = config.nodes.len() as u16;
        assert!(matches!(
            Membership::from_config(&config, count, MembershipConfig::default()).await,
            Err(MembershipError::Config(PeerConfigError::NoSuchNode { .. }))
        ));
        let mut short = config.clone();
        short.security.cluster_key.pop();
        assert!(matches!(
            Membership::from_config(&short, 0, MembershipConfig::default()).await,
            Err(MembershipError::Config(PeerConfigError::KeyLength(31)))
        ));
        config.peer_port = u16::MAX;
        assert!(matches!(
            membership_port(&config),
            Err(MembershipError::NoPort(u16::MAX))
        ));
    }

    /// Crash-detection statistics over repeated trials (10 unless
    /// `MEMBERSHIP_TRIALS` says otherwise) with the default settings (or
    /// `MEMBERSHIP_TIMING`): `cargo test -p gecko --lib
    /// membership::tests::detection_time_statistics -- --ignored --nocapture`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn detection_time_statistics() {
        let trials: usize = std::env::var("MEMBERSHIP_TRIALS")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(10);
        let cfg = timing_from_env();
        println!("{cfg:?}");
        let mut first = Vec::new();
        let mut all = Vec::new();
        for trial in 0..trials {
            let (_ports, mut nodes) = cluster_with(3, cfg.clone()).await;
            assert!(converged(&nodes, &[0, 1, 2], WAIT).await);
            // Crash at a random point of the probe cycle.
            let settle = 300 + rand::random::<u64>() % 200;
            tokio::time::sleep(Duration::from_millis(settle)).await;
            let mut rx: Vec<_> = nodes[..2].iter().map(|m| m.subscribe()).collect();
            drop(nodes.pop());
            let t0 = StdInstant::now();
            let mut times = Vec::new();
            for r in &mut rx {
                let left = WAIT.saturating_sub(t0.elapsed());
                wait_event(r, MemberEvent::Down(2), left)
                    .await
                    .expect("Down(2) seen");
                times.push(t0.elapsed());
            }
            // The receivers were polled in turn: the first one's time is
            // its own, the second one's an upper bound.
            let (a, b) = (times[0], times[1]);
            println!("trial {trial}: node0 {a:?}, node1 <= {b:?}");
            first.push(a.min(b));
            all.push(a.max(b));
            let falsely = nodes.iter().map(|m| m.failures_detected()).sum::<u64>();
            assert_eq!(falsely, 2, "only node 2 went down");
        }
        let stats = |v: &mut Vec<Duration>| {
            v.sort();
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            format!(
                "min {:.0} ms, median {:.0} ms, p90 {:.0} ms, max {:.0} ms",
                ms(v[0]),
                ms(v[v.len() / 2]),
                ms(v[(v.len() * 9 / 10).min(v.len() - 1)]),
                ms(v[v.len() - 1])
            )
        };
        println!("first node to see Down: {}", stats(&mut first));
        println!("both nodes see Down:    {}", stats(&mut all));
    }

    /// No false positive over a soak (`MEMBERSHIP_SOAK_SECS`, 20 s by
    /// default) while busy threads (`MEMBERSHIP_LOAD_THREADS`, 4 by default)
    /// compete for the CPU with the members: `cargo test -p gecko --lib
    /// membership::tests::no_false_positive_under_load -- --ignored --nocapture`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn no_false_positive_under_load() {
        use std::sync::atomic::AtomicBool;
        let env = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        // RUST_LOG=foca=debug,gecko=info shows why a node was declared down.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let secs = env("MEMBERSHIP_SOAK_SECS", 20);
        let threads = env("MEMBERSHIP_LOAD_THREADS", 4);
        let cfg = timing_from_env();
        println!("{cfg:?}, {threads} busy threads, {secs} s");
        let (_ports, nodes) = cluster_with(3, cfg).await;
        assert!(converged(&nodes, &[0, 1, 2], WAIT).await);
        let stop = Arc::new(AtomicBool::new(false));
        let busy: Vec<_> = (0..threads)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        stop.store(true, Ordering::Relaxed);
        for b in busy {
            b.join().unwrap();
        }
        let failures: Vec<u64> = nodes.iter().map(|m| m.failures_detected()).collect();
        println!("false Down events per node: {failures:?}");
        assert_eq!(failures, vec![0, 0, 0]);
        assert!(converged(&nodes, &[0, 1, 2], Duration::ZERO).await);
    }
}
