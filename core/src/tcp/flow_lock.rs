//! The network lock of a TCP handoff (DESIGN.md, "Handoff"): while a
//! server socket is frozen with TCP_REPAIR, the donor host drops the flow's
//! client->server packets (a socket in repair mode would still ack them),
//! and keeps a copy of each so that the acceptor can replay them into its
//! own stack: a lossless lock.
//!
//! ```text
//! table ip6 gecko_lock {
//!     set locked {
//!         type ipv6_addr . inet_service . inet_service
//!     }
//!     chain prerouting {
//!         type filter hook prerouting priority raw; policy accept;
//!         meta l4proto tcp ip6 saddr . tcp sport . tcp dport @locked drop
//!     }
//! }
//! ```
//!
//! The set holds `client address . client port . server port`: at
//! prerouting a packet's destination is still the node's care-of address
//! (G is the last segment of its SRH), so G is left out of the kernel's
//! key and checked in user space. `meta l4proto` and the `tcp` payload are
//! found past the SRH and other extension headers (the kernel's
//! `ipv6_find_hdr`).
//!
//! The copies come from an AF_PACKET socket, which sees packets before
//! netfilter. While nothing is locked its classic BPF filter refuses every
//! packet, so an idle node pays nothing; locking the first flow swaps in a
//! filter that passes TCP (possibly behind extension headers), before the
//! flow's set element exists, so no dropped packet goes uncopied.

use std::collections::{HashSet, VecDeque};
use std::io;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, MutexGuard};

use tokio::io::unix::AsyncFd;

use crate::checksum::upper_layer as upper_layer_checksum;
use crate::dataplane::netlink::{Netlink, NLM_F_CREATE};
use crate::dataplane::nf_tables::{
    self, concat_len, concat_type, Chain, Part, Set, IPPROTO_TCP, NFT_META_L4PROTO,
    NFT_MSG_DELSETELEM, NFT_MSG_NEWSETELEM, NFT_PAYLOAD_NETWORK_HEADER,
    NFT_PAYLOAD_TRANSPORT_HEADER, NFT_REG32_00, NF_DROP, NF_INET_LOCAL_OUT, NF_INET_PRE_ROUTING,
    NF_IP6_PRI_RAW, TYPE_INET_SERVICE, TYPE_IP6ADDR,
};
use crate::dataplane::{DataPlaneError, FlowKey};

/// The lock's table.
pub const TABLE: &str = "gecko_lock";
/// The lock's chain.
pub const CHAIN: &str = "prerouting";
/// The chain that keeps a frozen socket's packets from the client.
pub const OUTPUT_CHAIN: &str = "output";
/// The set of locked flows.
pub const SET: &str = "locked";
/// ip6 saddr, tcp sport, tcp dport.
const FIELD_LENS: [u32; 3] = [16, 2, 2];
const KEY_LEN: usize = concat_len(&FIELD_LENS);
const SET_ID: u32 = 1;

/// Largest packet read from the capture socket: a GSO packet on a veth
/// link can reach 64 KiB past its headers.
const CAPTURE_BUF: usize = 128 * 1024;
/// The capture socket's receive buffer: the copies wait there until read,
/// and an overflow would lose packets the lock dropped.
const CAPTURE_RCVBUF: libc::c_int = 8 << 20;
/// Hop limit of a replayed packet.
const REPLAY_HOP_LIMIT: u8 = 64;
/// Offset of the checksum in a TCP header.
const TCP_CHECKSUM_OFFSET: usize = 16;

const NEXTHDR_HOP: u8 = 0;
const NEXTHDR_ROUTING: u8 = 43;
const NEXTHDR_FRAGMENT: u8 = 44;
const NEXTHDR_DEST: u8 = 60;
const SRH_TYPE: u8 = 4;

/// Why locking, capturing or replaying failed.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// An nftables request failed (the table, or a flow's set element).
    #[error("flow lock: {0}")]
    Nftables(#[from] DataPlaneError),
    /// A socket call failed.
    #[error("flow lock: {op}: {error}")]
    Socket {
        /// What was being done.
        op: &'static str,
        /// What the OS said.
        #[source]
        error: io::Error,
    },
    /// `captured` was called outside a tokio runtime.
    #[error("flow lock: reading captured packets needs a tokio runtime")]
    NoRuntime,
    /// A segment to replay cannot be a TCP segment.
    #[error(
        "replay: {len}-byte segment of flow {flow:?} is not a TCP segment (20 to 65535 bytes)"
    )]
    BadSegment {
        /// The flow.
        flow: FlowKey,
        /// Its length.
        len: usize,
    },
}

fn socket_error(op: &'static str) -> impl FnOnce(io::Error) -> LockError {
    move |error| LockError::Socket { op, error }
}

/// One client->server TCP segment the lock dropped (and copied).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Captured {
    /// Its flow; `server` is G, the packet's final destination (the last
    /// segment of its SRH, or its destination without one).
    pub flow: FlowKey,
    /// The TCP header and payload as received (the checksum may be a
    /// partial one, left for an offload that never happened).
    pub segment: Vec<u8>,
}

/// What `lock` and `unlock` change together.
struct State {
    nl: Netlink,
    locked: HashSet<FlowKey>,
}

/// The packet socket's descriptor, owned by `FlowLock` and watched by
/// tokio.
struct PacketFd(RawFd);

impl AsRawFd for PacketFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// The network lock of this host (the namespace of the thread that opened
/// it): table `ip6 gecko_lock` and an AF_PACKET capture socket. Dropping
/// it deletes the table.
pub struct FlowLock {
    state: Mutex<State>,
    /// Copies read off the socket by `unlock` (it drains the socket so that
    /// nothing dropped before the unlock is lost), for `captured`.
    pending: Mutex<VecDeque<Captured>>,
    wake: tokio::sync::Notify,
    buf: Mutex<Vec<u8>>,
    /// Declared before `packet`: deregistered before the descriptor closes.
    reader: tokio::sync::OnceCell<AsyncFd<PacketFd>>,
    packet: OwnedFd,
}

impl std::fmt::Debug for FlowLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowLock")
            .field("fd", &self.packet.as_raw_fd())
            .finish_non_exhaustive()
    }
}

impl FlowLock {
    /// Creates table `ip6 gecko_lock` (replacing a stale one) with a
    /// filter chain on the prerouting hook at raw priority (-300), the set
    /// `locked` of `client address . client port . server port` and the
    /// rule `meta l4proto tcp ip6 saddr . tcp sport . tcp dport @locked
    /// drop`; opens the AF_PACKET capture socket (ETH_P_IPV6, all
    /// interfaces, PACKET_IGNORE_OUTGOING) with a BPF filter that refuses
    /// everything until a flow is locked. The first `captured` registers
    /// the socket with the tokio runtime it runs on.
    pub fn open() -> Result<FlowLock, LockError> {
        let packet = open_capture()?;
        let mut nl = Netlink::open(netlink_sys::constants::NETLINK_NETFILTER)?;
        nf_tables::delete_table(&mut nl, TABLE)?;
        let parts = [
            nf_tables::new_table(TABLE),
            nf_tables::new_chain(&Chain {
                table: TABLE,
                name: CHAIN,
                hook: NF_INET_PRE_ROUTING,
                priority: NF_IP6_PRI_RAW,
                kind: "filter",
            }),
            nf_tables::new_set(&Set {
                table: TABLE,
                name: SET,
                id: SET_ID,
                key_type: concat_type(&[TYPE_IP6ADDR, TYPE_INET_SERVICE, TYPE_INET_SERVICE]),
                field_lens: &FIELD_LENS,
                data: None,
                userdata: nf_tables::set_userdata(None),
            }),
            nf_tables::new_rule(TABLE, CHAIN, rule_exprs),
            nf_tables::new_chain(&Chain {
                table: TABLE,
                name: OUTPUT_CHAIN,
                hook: NF_INET_LOCAL_OUT,
                priority: NF_IP6_PRI_RAW,
                kind: "filter",
            }),
            nf_tables::new_rule(TABLE, OUTPUT_CHAIN, output_rule_exprs),
        ];
        nf_tables::send_batch(&mut nl, "creating the flow lock's nftables table", &parts)?;
        tracing::debug!(table = TABLE, "flow lock ready");
        Ok(FlowLock {
            state: Mutex::new(State {
                nl,
                locked: HashSet::new(),
            }),
            pending: Mutex::new(VecDeque::new()),
            wake: tokio::sync::Notify::new(),
            buf: Mutex::new(vec![0; CAPTURE_BUF]),
            reader: tokio::sync::OnceCell::new(),
            packet,
        })
    }

    /// Drops the client->server packets of `flow` from now on, keeping a
    /// copy of each for `captured`. Locking a locked flow does nothing.
    pub fn lock(&self, flow: &FlowKey) -> Result<(), LockError> {
        let mut state = lock(&self.state);
        if state.locked.contains(flow) {
            return Ok(());
        }
        // Capture first: a packet dropped must already be copied.
        let first = state.locked.is_empty();
        if first {
            set_filter(&self.packet, CAPTURE_TCP)?;
        }
        let add = Part::new(NFT_MSG_NEWSETELEM, NLM_F_CREATE, |b| {
            nf_tables::push_element(b, TABLE, SET, &key_bytes(flow), None)
        });
        let op = format!("locking flow {flow:?}");
        if let Err(e) = nf_tables::send_batch(&mut state.nl, &op, &[add]) {
            if first {
                let _ = set_filter(&self.packet, CAPTURE_NOTHING);
            }
            return Err(e.into());
        }
        state.locked.insert(*flow);
        tracing::debug!(?flow, "flow locked");
        Ok(())
    }

    /// Lets the packets of `flow` through again. The copies of packets
    /// dropped before are still handed out by `captured`. Unlocking a flow
    /// that is not locked does nothing.
    pub fn unlock(&self, flow: &FlowKey) -> Result<(), LockError> {
        let mut state = lock(&self.state);
        if !state.locked.contains(flow) {
            return Ok(());
        }
        // Another locked flow may differ only by G, which the kernel's key
        // leaves out: its element stays.
        let shared = state
            .locked
            .iter()
            .any(|f| f != flow && key_bytes(f) == key_bytes(flow));
        if !shared {
            let del = Part::new(NFT_MSG_DELSETELEM, 0, |b| {
                nf_tables::push_element(b, TABLE, SET, &key_bytes(flow), None)
            });
            let op = format!("unlocking flow {flow:?}");
            match nf_tables::send_batch(&mut state.nl, &op, &[del]) {
                Err(e) if e.errno() != Some(nix::errno::Errno::ENOENT) => return Err(e.into()),
                _ => {}
            }
        }
        // Every packet the element dropped was queued on the socket before
        // it reached netfilter: take them now, while the flow still counts
        // as locked.
        self.drain(&state.locked)?;
        state.locked.remove(flow);
        if state.locked.is_empty() {
            set_filter(&self.packet, CAPTURE_NOTHING)?;
        }
        tracing::debug!(?flow, "flow unlocked");
        Ok(())
    }

    /// Whether `flow` is locked.
    pub fn is_locked(&self, flow: &FlowKey) -> bool {
        lock(&self.state).locked.contains(flow)
    }

    /// The next captured client->server TCP segment of a locked flow (or of
    /// a flow unlocked since it was dropped). IPv6 extension headers are
    /// parsed (SRH, hop-by-hop, destination options); fragments and other
    /// traffic are ignored. Cancel-safe: a segment is only taken off the
    /// socket when it is returned.
    pub async fn captured(&self) -> Result<Captured, LockError> {
        let reader = self
            .reader
            .get_or_try_init(|| async {
                tokio::runtime::Handle::try_current().map_err(|_| LockError::NoRuntime)?;
                // SAFETY: the descriptor stays open while the AsyncFd
                // lives: `FlowLock` owns it and drops `reader` first.
                unsafe {
                    AsyncFd::register_with_interest(
                        PacketFd(self.packet.as_raw_fd()),
                        tokio::io::Interest::READABLE,
                    )
                }
                .map_err(|e| socket_error("watching the capture socket")(e.into()))
            })
            .await?;
        loop {
            if let Some(c) = lock(&self.pending).pop_front() {
                return Ok(c);
            }
            let mut guard = tokio::select! {
                ready = reader.readable() => ready.map_err(socket_error("waiting on the capture socket"))?,
                () = self.wake.notified() => continue,
            };
            let got = guard.try_io(|fd| {
                let mut buf = lock(&self.buf);
                let n = receive(fd.get_ref().0, &mut buf)?;
                Ok(n.and_then(|n| parse(&buf[..n])))
            });
            match got {
                Ok(Ok(Some(c))) if self.is_locked(&c.flow) => return Ok(c),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(socket_error("reading the capture socket")(e)),
                Err(_would_block) => {}
            }
        }
    }

    /// Moves the queued copies of `locked` flows into `pending`.
    fn drain(&self, locked: &HashSet<FlowKey>) -> Result<(), LockError> {
        let mut buf = lock(&self.buf);
        let mut pending = lock(&self.pending);
        let before = pending.len();
        loop {
            match receive(self.packet.as_raw_fd(), &mut buf) {
                Ok(Some(n)) => {
                    if let Some(c) = parse(&buf[..n]).filter(|c| locked.contains(&c.flow)) {
                        pending.push_back(c);
                    }
                }
                Ok(None) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(socket_error("draining the capture socket")(e)),
            }
        }
        if pending.len() > before {
            self.wake.notify_one();
        }
        Ok(())
    }
}

impl Drop for FlowLock {
    fn drop(&mut self) {
        let state = self
            .state
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(e) = nf_tables::delete_table(&mut state.nl, TABLE) {
            tracing::warn!(error = %e, "could not delete the flow lock's nftables table");
        }
    }
}

/// A mutex whose holder panicked still guards consistent data here.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `meta l4proto tcp ip6 saddr . tcp sport . tcp dport @locked drop`.
fn rule_exprs(b: &mut Vec<u8>) {
    flow_rule(b, false)
}

/// `ip6 daddr . tcp dport . tcp sport @locked drop`, on output: a frozen
/// socket still transmits (pacing and retransmission timers run in repair
/// mode), and what it sends after the dump must not reach the client, or
/// the client would hold bytes the restored socket believes unsent.
/// Packets marked [`PROBE_MARK`] pass: the recovery probe is sent while
/// the flow is locked, to learn the client's state.
fn output_rule_exprs(b: &mut Vec<u8>) {
    nf_tables::push_meta_equals(b, nf_tables::NFT_META_MARK, &[0; 4]);
    flow_rule(b, true)
}

/// The socket mark of packets a node sends to a locked flow's client on
/// purpose (the recovery probe), past the lock's output rule.
pub const PROBE_MARK: u32 = 0x6563_6b6f;

/// Client address . client port . server port, read from the source side
/// of a packet from the client or the destination side of one to it.
fn flow_rule(b: &mut Vec<u8>, to_client: bool) {
    // Client address in registers 00-03, client port in 04, server port in 05.
    const ADDR: u32 = NFT_REG32_00;
    const CLIENT_PORT: u32 = NFT_REG32_00 + 4;
    const SERVER_PORT: u32 = NFT_REG32_00 + 5;
    let (addr_at, client_port_at, server_port_at) = if to_client { (24, 2, 0) } else { (8, 0, 2) };
    nf_tables::push_meta_equals(b, NFT_META_L4PROTO, &[IPPROTO_TCP]);
    nf_tables::push_payload(b, NFT_PAYLOAD_NETWORK_HEADER, addr_at, 16, ADDR);
    nf_tables::push_payload(
        b,
        NFT_PAYLOAD_TRANSPORT_HEADER,
        client_port_at,
        2,
        CLIENT_PORT,
    );
    nf_tables::push_payload(
        b,
        NFT_PAYLOAD_TRANSPORT_HEADER,
        server_port_at,
        2,
        SERVER_PORT,
    );
    nf_tables::push_lookup(b, SET, SET_ID, ADDR, None);
    nf_tables::push_verdict(b, NF_DROP);
}

/// The set's key for `flow`: client address . client port . server port,
/// ports in network order, each field zero-padded to 4 bytes.
fn key_bytes(flow: &FlowKey) -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    key[0..16].copy_from_slice(&flow.client.octets());
    key[16..18].copy_from_slice(&flow.client_port.to_be_bytes());
    key[20..22].copy_from_slice(&flow.server_port.to_be_bytes());
    key
}

/// A classic BPF program.
type Filter = &'static [libc::sock_filter];

const fn insn(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

const BPF_LDB_ABS: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
const BPF_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K

/// `ret 0`: the socket queues nothing.
const CAPTURE_NOTHING: Filter = &[insn(BPF_RET_K, 0, 0, 0)];
/// IPv6 packets whose first next header is TCP or one of the extension
/// headers a locked flow's packets carry (offsets from the network header:
/// the socket is SOCK_DGRAM). User space does the rest.
const CAPTURE_TCP: Filter = &[
    insn(BPF_LDB_ABS, 0, 0, 6),
    insn(BPF_JEQ_K, 4, 0, IPPROTO_TCP as u32),
    insn(BPF_JEQ_K, 3, 0, NEXTHDR_ROUTING as u32),
    insn(BPF_JEQ_K, 2, 0, NEXTHDR_HOP as u32),
    insn(BPF_JEQ_K, 1, 0, NEXTHDR_DEST as u32),
    insn(BPF_RET_K, 0, 0, 0),
    insn(BPF_RET_K, 0, 0, CAPTURE_BUF as u32),
];

/// Replaces the socket's filter (atomically, SO_ATTACH_FILTER).
fn set_filter(fd: &OwnedFd, filter: Filter) -> Result<(), LockError> {
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    crate::sockopt::set(
        fd.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_ATTACH_FILTER,
        &prog,
    )
    .map_err(socket_error("swapping the capture socket's filter"))
}

/// The capture socket: made with protocol 0 (it receives nothing) and
/// bound to ETH_P_IPV6 only once its drop-all filter is on, so no packet
/// slips in before.
fn open_capture() -> Result<OwnedFd, LockError> {
    // SAFETY: plain socket(2); the descriptor is owned right after.
    let raw = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if raw < 0 {
        return Err(socket_error("opening the AF_PACKET capture socket")(
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    set_filter(&fd, CAPTURE_NOTHING)?;
    let one: libc::c_int = 1;
    crate::sockopt::set(raw, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, &one)
        .map_err(socket_error("setting PACKET_IGNORE_OUTGOING"))?;
    // FORCE passes rmem_max (we are root); fall back to what is allowed.
    if crate::sockopt::set(raw, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &CAPTURE_RCVBUF).is_err() {
        crate::sockopt::set(raw, libc::SOL_SOCKET, libc::SO_RCVBUF, &CAPTURE_RCVBUF)
            .map_err(socket_error("sizing the capture socket's buffer"))?;
    }
    // SAFETY: sockaddr_ll is plain data; all zero is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = (libc::ETH_P_IPV6 as u16).to_be();
    addr.sll_ifindex = 0; // every interface
                          // SAFETY: `addr` is a valid sockaddr_ll of the length given.
    let rc = unsafe {
        libc::bind(
            raw,
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(socket_error("binding the capture socket to ETH_P_IPV6")(
            io::Error::last_os_error(),
        ));
    }
    Ok(fd)
}

/// Reads one packet: its length, or None for one to skip (truncated, or
/// not addressed to this host).
fn receive(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: sockaddr_ll is plain data; all zero is a valid value.
    let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut from_len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `buf` and `from` are valid for the lengths given.
    let n = unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_TRUNC | libc::MSG_DONTWAIT,
            (&mut from as *mut libc::sockaddr_ll).cast(),
            &mut from_len,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    if n > buf.len() {
        tracing::warn!(len = n, "flow lock: captured packet too long, skipped");
        return Ok(None);
    }
    if from.sll_pkttype == libc::PACKET_OTHERHOST {
        return Ok(None);
    }
    Ok(Some(n))
}

/// The flow and TCP segment of an IPv6 packet (`packet` starts at the IPv6
/// header): None for anything else, fragments, or garbage.
fn parse(packet: &[u8]) -> Option<Captured> {
    if packet.len() < 40 || packet[0] >> 4 != 6 {
        return None;
    }
    let payload_len = usize::from(u16::from_be_bytes([packet[4], packet[5]]));
    // A payload length of 0 is a jumbogram or a GSO packet: take all.
    let end = if payload_len == 0 {
        packet.len()
    } else {
        40 + payload_len
    };
    let packet = packet.get(..end)?;
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&packet[8..24]).ok()?);
    let mut dst = Ipv6Addr::from(<[u8; 16]>::try_from(&packet[24..40]).ok()?);
    let mut next = packet[6];
    let mut at = 40;
    loop {
        match next {
            IPPROTO_TCP => break,
            NEXTHDR_HOP | NEXTHDR_DEST | NEXTHDR_ROUTING => {
                let hdr = packet.get(at..at + 8)?;
                let len = (usize::from(hdr[1]) + 1) * 8;
                let ext = packet.get(at..at + len)?;
                if next == NEXTHDR_ROUTING && ext[2] == SRH_TYPE {
                    // Segment 0 is the final destination; last entry
                    // (ext[4]) says how many segments the list holds.
                    let last = usize::from(ext[4]);
                    if 8 + (last + 1) * 16 > len {
                        return None;
                    }
                    dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ext[8..24]).ok()?);
                }
                next = ext[0];
                at += len;
            }
            // A fragment's TCP header may be in another fragment; the
            // flow's own packets are never fragmented (MTU set for the SRH).
            NEXTHDR_FRAGMENT => return None,
            // ESP, AH and anything else are not ours.
            _ => return None,
        }
    }
    let segment = packet.get(at..)?;
    let header_len = usize::from(segment.get(12)? >> 4) * 4;
    if header_len < 20 || segment.len() < header_len {
        return None;
    }
    Some(Captured {
        flow: FlowKey {
            client: src,
            client_port: u16::from_be_bytes([segment[0], segment[1]]),
            server: dst,
            server_port: u16::from_be_bytes([segment[2], segment[3]]),
        },
        segment: segment.to_vec(),
    })
}

/// The TCP checksum of `segment` (header and payload) from `src` to
/// `dst`, computed as if its checksum field were zero.
pub fn tcp_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, segment: &[u8]) -> u16 {
    upper_layer_checksum(segment, src, dst, IPPROTO_TCP, TCP_CHECKSUM_OFFSET)
}

/// Sends captured segments into this host's own stack (the namespace of
/// the thread that opened it).
#[derive(Debug)]
pub struct Replayer {
    socket: socket2::Socket,
}

impl Replayer {
    /// Opens a raw IPv6 socket of protocol IPPROTO_RAW (the IPv6 header
    /// comes with each packet).
    pub fn open() -> Result<Replayer, LockError> {
        let socket = socket2::Socket::new(
            socket2::Domain::IPV6,
            socket2::Type::RAW,
            Some(socket2::Protocol::from(libc::IPPROTO_RAW)),
        )
        .map_err(socket_error("opening the raw IPv6 replay socket"))?;
        Ok(Replayer { socket })
    }

    /// Sends `captured.segment` into this host's stack as if it came from
    /// the flow's client to its server (G): a fresh IPv6 header, the TCP
    /// checksum recomputed.
    pub fn replay(&self, captured: &Captured) -> Result<(), LockError> {
        let flow = captured.flow;
        let packet = replay_packet(captured).ok_or(LockError::BadSegment {
            flow,
            len: captured.segment.len(),
        })?;
        let to = SocketAddrV6::new(flow.server, 0, 0, 0);
        self.socket
            .send_to(&packet, &to.into())
            .map_err(socket_error("sending a replayed segment"))?;
        Ok(())
    }
}

/// The IPv6 packet that replays `captured`, or None if its segment cannot
/// be TCP.
fn replay_packet(captured: &Captured) -> Option<Vec<u8>> {
    ipv6_tcp_packet(
        captured.flow.client,
        captured.flow.server,
        &captured.segment,
    )
}

/// An IPv6 packet from `src` to `dst` around the TCP `segment`, with its
/// checksum computed; None if `segment` cannot be TCP.
pub(crate) fn ipv6_tcp_packet(src: Ipv6Addr, dst: Ipv6Addr, segment: &[u8]) -> Option<Vec<u8>> {
    if segment.len() < 20 || segment.len() > usize::from(u16::MAX) {
        return None;
    }
    let mut packet = Vec::with_capacity(40 + segment.len());
    packet.extend_from_slice(&[0x60, 0, 0, 0]);
    packet.extend_from_slice(&(segment.len() as u16).to_be_bytes());
    packet.extend_from_slice(&[IPPROTO_TCP, REPLAY_HOP_LIMIT]);
    packet.extend_from_slice(&src.octets());
    packet.extend_from_slice(&dst.octets());
    packet.extend_from_slice(segment);
    let sum = tcp_checksum(&src, &dst, segment);
    packet[40 + TCP_CHECKSUM_OFFSET..40 + TCP_CHECKSUM_OFFSET + 2]
        .copy_from_slice(&sum.to_be_bytes());
    Some(packet)
}

#[cfg(test)]
mod tests;
