//! The peer channel: authenticated, encrypted datagrams between server nodes.
//!
//! Every datagram is sealed with the cluster key (`security.cluster_key`)
//! using ChaCha20-Poly1305:
//!
//! ```text
//! version u8 | sender node index u16 | counter u64 | ciphertext | tag (16)
//! ```
//!
//! All integers are big-endian. The 11-byte header is the AEAD associated
//! data. The 96-bit nonce is `sender index (u32) | counter (u64)`, so two
//! nodes never share a nonce. The counter is `max(last + 1, nanoseconds since
//! the UNIX epoch)`: a restarted node starts above everything it sent before
//! (as long as its clock did not step back), and a receiver can refuse old
//! datagrams by time even after it restarted itself.
//!
//! A receiver drops (and its caller counts, by [`PeerRejection::reason`]) a
//! datagram without a valid tag, one it has already accepted, one older than
//! its replay window, and one whose counter lies more than `max_age` away from
//! its own clock. The tag is checked before anything else is looked at, so a
//! forged datagram never changes the receiver's state.
//!
//! [`PeerCodec`] is the sans-I/O core; [`PeerSocket`] runs it over UDP with
//! tokio and typed (`serde` + `postcard`) messages.
//!
//! Limits, by design: two nodes configured with the same index, or a node
//! whose clock stepped back across a restart, would reuse nonces; clocks of
//! the nodes must agree within `max_age`; a datagram replayed within `max_age`
//! of a receiver's restart is accepted once (its window was lost).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::UdpSocket;

use crate::config::Config;

/// The UDP port every node's peer channel listens on by default.
pub use crate::config::DEFAULT_PEER_PORT;

/// The datagram format version this code writes and reads.
pub const VERSION: u8 = 1;

/// Length of the cleartext (authenticated) header.
pub const HEADER_LEN: usize = 1 + 2 + 8;

/// Length of the Poly1305 tag that ends every datagram.
pub const TAG_LEN: usize = 16;

/// The largest plaintext one datagram carries (the largest UDP payload over
/// IPv4, 65507 bytes, less header and tag).
pub const MAX_PLAINTEXT: usize = 65507 - HEADER_LEN - TAG_LEN;

/// How far (either way) a datagram's counter may lie from the receiver's
/// clock unless [`PeerCodec::with_max_age`] says otherwise.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(30);

/// How many of a sender's most recent counters a receiver remembers: a
/// datagram overtaken by up to this many later ones is still accepted.
pub const REPLAY_WINDOW: usize = 64;

/// Rejection label of [`PeerSocket`]: the sender index does not belong to the
/// address the datagram came from.
pub const WRONG_SOURCE: &str = "wrong_source";

/// Rejection label of [`PeerSocket`]: the sender index is no configured peer.
pub const UNKNOWN_SENDER: &str = "unknown_sender";

/// Why a received datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum PeerRejection {
    /// Too short to hold a header and a tag, or (after a valid tag) a
    /// payload that does not decode as the expected message.
    #[error("malformed peer datagram")]
    Malformed,
    /// A format version this node does not speak.
    #[error("unknown peer datagram version")]
    UnknownVersion,
    /// The tag does not verify: not sealed with the cluster key, or altered.
    #[error("peer datagram fails authentication")]
    BadTag,
    /// Already accepted, or older than the sender's replay window.
    #[error("replayed peer datagram")]
    Replayed,
    /// The counter's time is more than the allowed age from this node's clock.
    #[error("stale peer datagram")]
    Stale,
    /// Sealed by this very node (a reflection).
    #[error("peer datagram from this node itself")]
    FromSelf,
}

impl PeerRejection {
    /// A short snake_case label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            PeerRejection::Malformed => "malformed",
            PeerRejection::UnknownVersion => "unknown_version",
            PeerRejection::BadTag => "bad_tag",
            PeerRejection::Replayed => "replayed",
            PeerRejection::Stale => "stale",
            PeerRejection::FromSelf => "from_self",
        }
    }
}

/// Why a message could not be sealed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The plaintext does not fit in one datagram.
    #[error("peer message of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// The plaintext's length.
        len: usize,
        /// [`MAX_PLAINTEXT`].
        max: usize,
    },
    /// The counter reached its end; sealing more would reuse a nonce.
    #[error("peer channel counter exhausted")]
    CounterExhausted,
    /// The message could not be serialised.
    #[error("cannot encode peer message: {0}")]
    Encode(#[from] postcard::Error),
}

/// Why a codec could not be built from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum PeerConfigError {
    /// `security.cluster_key` is not 32 bytes long.
    #[error("security.cluster_key must be 32 bytes, got {0}")]
    KeyLength(usize),
    /// The node index does not name a configured node.
    #[error("node index {index} is not configured ({count} nodes)")]
    NoSuchNode {
        /// The index asked for.
        index: u16,
        /// How many nodes the configuration has.
        count: usize,
    },
}

/// A datagram that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The sending node's index.
    pub sender: u16,
    /// The decrypted payload.
    pub plaintext: Vec<u8>,
}

/// The sans-I/O peer channel: seals outgoing and opens incoming datagrams
/// for one node.
pub struct PeerCodec {
    cipher: ChaCha20Poly1305,
    me: u16,
    last_counter: u64,
    max_age: Duration,
    windows: HashMap<u16, ReplayWindow>,
}

// The cipher holds the key: keep it out of logs.
impl fmt::Debug for PeerCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerCodec")
            .field("key", &"<redacted>")
            .field("me", &self.me)
            .field("last_counter", &self.last_counter)
            .field("max_age", &self.max_age)
            .field("senders", &self.windows.len())
            .finish()
    }
}

impl PeerCodec {
    /// A codec for node `me` using the cluster key.
    pub fn new(key: &[u8; 32], me: u16) -> Self {
        PeerCodec {
            cipher: ChaCha20Poly1305::new(&Key::from(*key)),
            me,
            last_counter: 0,
            max_age: DEFAULT_MAX_AGE,
            windows: HashMap::new(),
        }
    }

    /// A codec for node `me` (its index in `config.nodes`), keyed with
    /// `security.cluster_key`.
    pub fn from_config(config: &Config, me: u16) -> Result<Self, PeerConfigError> {
        let key = cluster_key(config)?;
        if usize::from(me) >= config.nodes.len() {
            return Err(PeerConfigError::NoSuchNode {
                index: me,
                count: config.nodes.len(),
            });
        }
        Ok(PeerCodec::new(&key, me))
    }

    /// The same codec accepting counters up to `max_age` from the clock.
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// This node's index.
    pub fn me(&self) -> u16 {
        self.me
    }

    /// Seals `plaintext` into one datagram from this node.
    pub fn seal(&mut self, plaintext: &[u8], now: SystemTime) -> Result<Vec<u8>, SealError> {
        let too_large = SealError::TooLarge {
            len: plaintext.len(),
            max: MAX_PLAINTEXT,
        };
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(too_large);
        }
        let next = self
            .last_counter
            .checked_add(1)
            .ok_or(SealError::CounterExhausted)?;
        let counter = next.max(nanos_since_epoch(now));
        self.last_counter = counter;

        let mut datagram = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        datagram.push(VERSION);
        datagram.extend_from_slice(&self.me.to_be_bytes());
        datagram.extend_from_slice(&counter.to_be_bytes());
        datagram.extend_from_slice(plaintext);
        let (header, body) = datagram.split_at_mut(HEADER_LEN);
        // Only an over-long message fails, and the length was checked above.
        let tag = self
            .cipher
            .encrypt_inout_detached(&nonce(self.me, counter), header, body.into())
            .map_err(|_| too_large)?;
        datagram.extend_from_slice(tag.as_slice());
        Ok(datagram)
    }

    /// Checks and decrypts one received datagram.
    pub fn open(&mut self, datagram: &[u8], now: SystemTime) -> Result<Opened, PeerRejection> {
        let Header { sender, counter } = Header::parse(datagram)?;
        if datagram.len() < HEADER_LEN + TAG_LEN {
            return Err(PeerRejection::Malformed);
        }
        let (header, rest) = datagram.split_at(HEADER_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| PeerRejection::Malformed)?;
        let mut plaintext = ciphertext.to_vec();
        self.cipher
            .decrypt_inout_detached(
                &nonce(sender, counter),
                header,
                plaintext.as_mut_slice().into(),
                &Tag::from(tag),
            )
            .map_err(|_| PeerRejection::BadTag)?;

        // Authentic from here on: the header is what the sender wrote.
        if sender == self.me {
            return Err(PeerRejection::FromSelf);
        }
        let window = self.windows.entry(sender).or_default();
        if !window.is_fresh(counter) {
            return Err(PeerRejection::Replayed);
        }
        let age = u128::from(nanos_since_epoch(now).abs_diff(counter));
        if age > self.max_age.as_nanos() {
            return Err(PeerRejection::Stale);
        }
        window.accept(counter);
        Ok(Opened { sender, plaintext })
    }

    /// Seals a typed message (postcard-encoded).
    pub fn seal_msg<M: Serialize + ?Sized>(
        &mut self,
        msg: &M,
        now: SystemTime,
    ) -> Result<Vec<u8>, SealError> {
        let bytes = postcard::to_allocvec(msg)?;
        self.seal(&bytes, now)
    }

    /// Opens a datagram holding a typed message; a payload that does not
    /// decode exactly (trailing bytes included) is [`PeerRejection::Malformed`].
    pub fn open_msg<M: DeserializeOwned>(
        &mut self,
        datagram: &[u8],
        now: SystemTime,
    ) -> Result<(u16, M), PeerRejection> {
        let opened = self.open(datagram, now)?;
        match postcard::take_from_bytes::<M>(&opened.plaintext) {
            Ok((msg, [])) => Ok((opened.sender, msg)),
            Ok(_) | Err(_) => Err(PeerRejection::Malformed),
        }
    }
}

/// The sender index a datagram claims, before any authentication: only for
/// cheap routing and source checks; [`PeerCodec::open`] decides.
pub fn claimed_sender(datagram: &[u8]) -> Option<u16> {
    Header::parse(datagram).ok().map(|h| h.sender)
}

/// The cleartext header.
struct Header {
    sender: u16,
    counter: u64,
}

impl Header {
    fn parse(datagram: &[u8]) -> Result<Header, PeerRejection> {
        let version = *datagram.first().ok_or(PeerRejection::Malformed)?;
        if version != VERSION {
            return Err(PeerRejection::UnknownVersion);
        }
        let sender: [u8; 2] = datagram
            .get(1..3)
            .and_then(|b| b.try_into().ok())
            .ok_or(PeerRejection::Malformed)?;
        let counter: [u8; 8] = datagram
            .get(3..HEADER_LEN)
            .and_then(|b| b.try_into().ok())
            .ok_or(PeerRejection::Malformed)?;
        Ok(Header {
            sender: u16::from_be_bytes(sender),
            counter: u64::from_be_bytes(counter),
        })
    }
}

/// The nonce: sender index (u32 BE) | counter (u64 BE).
fn nonce(sender: u16, counter: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(&u32::from(sender).to_be_bytes());
    n[4..].copy_from_slice(&counter.to_be_bytes());
    Nonce::from(n)
}

/// Nanoseconds since the UNIX epoch; 0 before it, saturating far after it.
fn nanos_since_epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// One sender's replay window: its [`REPLAY_WINDOW`] highest accepted
/// counters. Counters are timestamps in nanoseconds, hence sparse: a bitmap
/// indexed by counter distance (IPsec, WireGuard) would cover only 64 ns, so
/// this keeps the counters themselves and covers 64 datagrams instead.
#[derive(Debug, Default)]
struct ReplayWindow {
    recent: BTreeSet<u64>,
}

impl ReplayWindow {
    /// True when `counter` was never accepted and is not below the window.
    /// Every counter ever dropped from the set is at most its lowest, so
    /// nothing accepted before passes again.
    fn is_fresh(&self, counter: u64) -> bool {
        if self.recent.contains(&counter) {
            return false;
        }
        match self.recent.first() {
            Some(&lowest) if self.recent.len() >= REPLAY_WINDOW => counter > lowest,
            _ => true,
        }
    }

    /// Records `counter` (checked with [`Self::is_fresh`]).
    fn accept(&mut self, counter: u64) {
        self.recent.insert(counter);
        if self.recent.len() > REPLAY_WINDOW {
            self.recent.pop_first();
        }
    }
}

/// The cluster key of `config` (`security.cluster_key`), 32 bytes.
pub fn cluster_key(config: &Config) -> Result<[u8; 32], PeerConfigError> {
    config
        .security
        .cluster_key
        .as_slice()
        .try_into()
        .map_err(|_| PeerConfigError::KeyLength(config.security.cluster_key.len()))
}

/// The peer addresses of every configured node (index in `config.nodes`,
/// its address, `port`), for [`PeerSocket::bind`].
pub fn peer_addresses(config: &Config, port: u16) -> Vec<(u16, SocketAddr)> {
    config
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            Some((
                u16::try_from(i).ok()?,
                SocketAddr::new(n.address.into(), port),
            ))
        })
        .collect()
}

/// Errors of [`PeerSocket`].
#[derive(Debug, thiserror::Error)]
pub enum PeerSocketError {
    /// The UDP socket could not be bound.
    #[error("cannot bind the peer channel to {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The system's error.
        source: io::Error,
    },
    /// No address is known for this node.
    #[error("node {0} is not a known peer")]
    UnknownNode(u16),
    /// The message could not be sealed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// Sending a datagram failed.
    #[error("cannot send to node {node} at {addr}: {source}")]
    Send {
        /// The destination node.
        node: u16,
        /// Its address.
        addr: SocketAddr,
        /// The system's error.
        source: io::Error,
    },
    /// Receiving failed, or the socket's address could not be read.
    #[error("peer channel socket: {0}")]
    Socket(#[source] io::Error),
}

/// The peer channel over UDP: typed messages to and from other nodes.
#[derive(Debug)]
pub struct PeerSocket {
    socket: UdpSocket,
    codec: Mutex<PeerCodec>,
    peers: RwLock<BTreeMap<u16, SocketAddr>>,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
}

impl PeerSocket {
    /// Binds `local` (usually `[node address]:`[`DEFAULT_PEER_PORT`]) for the
    /// node of `codec`, which knows its peers at `peers` (node index,
    /// address; see [`peer_addresses`]).
    pub async fn bind(
        local: SocketAddr,
        codec: PeerCodec,
        peers: Vec<(u16, SocketAddr)>,
    ) -> Result<Self, PeerSocketError> {
        let socket = UdpSocket::bind(local)
            .await
            .map_err(|source| PeerSocketError::Bind {
                addr: local,
                source,
            })?;
        Ok(PeerSocket {
            socket,
            codec: Mutex::new(codec),
            peers: RwLock::new(peers.into_iter().collect()),
            rejected: Mutex::new(BTreeMap::new()),
        })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> Result<SocketAddr, PeerSocketError> {
        self.socket.local_addr().map_err(PeerSocketError::Socket)
    }

    /// Sets (or changes) the address of node `node`.
    pub fn set_peer(&self, node: u16, addr: SocketAddr) {
        self.peers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(node, addr);
    }

    /// Seals `msg` and sends it to node `node`.
    pub async fn send_to<M: Serialize + ?Sized>(
        &self,
        node: u16,
        msg: &M,
    ) -> Result<(), PeerSocketError> {
        let addr = self.peer(node).ok_or(PeerSocketError::UnknownNode(node))?;
        let datagram = self.codec().seal_msg(msg, SystemTime::now())?;
        self.socket
            .send_to(&datagram, addr)
            .await
            .map_err(|source| PeerSocketError::Send { node, addr, source })?;
        Ok(())
    }

    /// Waits for the next genuine message; every datagram dropped on the way
    /// is counted (see [`Self::rejected`]) and logged at debug level.
    pub async fn recv<M: DeserializeOwned>(&self) -> Result<(u16, M), PeerSocketError> {
        let mut buf = vec![0u8; 65536];
        loop {
            let (len, from) = self
                .socket
                .recv_from(&mut buf)
                .await
                .map_err(PeerSocketError::Socket)?;
            let datagram = &buf[..len];
            if let Some(reason) = self.source_mismatch(datagram, from) {
                self.count(reason, from);
                continue;
            }
            match self.codec().open_msg::<M>(datagram, SystemTime::now()) {
                Ok(received) => return Ok(received),
                Err(rejection) => self.count(rejection.reason(), from),
            }
        }
    }

    /// Dropped datagrams so far, by reason: the labels of
    /// [`PeerRejection::reason`] plus [`WRONG_SOURCE`] and [`UNKNOWN_SENDER`].
    pub fn rejected(&self) -> BTreeMap<&'static str, u64> {
        self.rejected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn peer(&self, node: u16) -> Option<SocketAddr> {
        self.peers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&node)
            .copied()
    }

    // The codec's state stays consistent even if a holder panicked, so a
    // poisoned lock is simply taken over.
    fn codec(&self) -> MutexGuard<'_, PeerCodec> {
        self.codec.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checked before the codec so that a datagram from the wrong place
    /// never reaches a replay window. Datagrams whose header does not parse
    /// are left to the codec to classify.
    fn source_mismatch(&self, datagram: &[u8], from: SocketAddr) -> Option<&'static str> {
        let sender = claimed_sender(datagram)?;
        if sender == self.codec().me() {
            return None;
        }
        match self.peer(sender) {
            None => Some(UNKNOWN_SENDER),
            Some(expected) if !same_endpoint(expected, from) => Some(WRONG_SOURCE),
            Some(_) => None,
        }
    }

    fn count(&self, reason: &'static str, from: SocketAddr) {
        tracing::debug!(%from, reason, "peer channel: dropped a datagram");
        *self
            .rejected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(reason)
            .or_insert(0) += 1;
    }
}

/// Same IP (IPv4-mapped IPv6 seen as IPv4) and port; flow label and scope
/// of a received address are not part of a peer's identity.
fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    a.ip().to_canonical() == b.ip().to_canonical() && a.port() == b.port()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    const KEY: [u8; 32] = [7; 32];

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    #[test]
    fn round_trip() {
        let mut a = PeerCodec::new(&KEY, 1);
        let mut b = PeerCodec::new(&KEY, 2);
        let d = a.seal(b"hello", t(0)).unwrap();
        assert_eq!(d.len(), HEADER_LEN + 5 + TAG_LEN);
        assert_eq!(d[0], VERSION);
        assert_eq!(claimed_sender(&d), Some(1));
        // Encrypted: the plaintext does not show.
        assert!(!d.windows(5).any(|w| w == b"hello"));
        let o = b.open(&d, t(0)).unwrap();
        assert_eq!(o.sender, 1);
        assert_eq!(o.plaintext, b"hello");
        // Empty payloads work too.
        let e = a.seal(b"", t(0)).unwrap();
        assert_eq!(b.open(&e, t(0)).unwrap().plaintext, b"");
    }

    #[test]
    fn counter_is_time_and_strictly_increasing() {
        let mut a = PeerCodec::new(&KEY, 1);
        let d1 = a.seal(b"x", t(5)).unwrap();
        let d2 = a.seal(b"x", t(5)).unwrap();
        let d3 = a.seal(b"x", t(4)).unwrap(); // the clock stepped back
        let c = |d: &[u8]| u64::from_be_bytes(d[3..11].try_into().unwrap());
        assert_eq!(c(&d1), nanos_since_epoch(t(5)));
        assert_eq!(c(&d2), c(&d1) + 1);
        assert_eq!(c(&d3), c(&d2) + 1);
        // A restarted sender starts above what it sent before.
        let mut restarted = PeerCodec::new(&KEY, 1);
        assert!(c(&restarted.seal(b"x", t(6)).unwrap()) > c(&d3));
    }

    #[test]
    fn tampering_anywhere_is_bad_tag() {
        let mut a = PeerCodec::new(&KEY, 1);
        let d = a.seal(b"payload", t(0)).unwrap();
        // Every byte after the version (header, ciphertext, tag).
        for i in 1..d.len() {
            let mut bad = d.clone();
            bad[i] ^= 0x01;
            let mut b = PeerCodec::new(&KEY, 2);
            let got = b.open(&bad, t(0));
            // Flipping the sender to our own index still needs a valid tag.
            assert_eq!(got, Err(PeerRejection::BadTag), "byte {i}");
        }
    }

    #[test]
    fn wrong_key_is_bad_tag_and_leaves_window_alone() {
        let mut b = PeerCodec::new(&KEY, 2);
        let mut genuine = PeerCodec::new(&KEY, 1);
        let mut forger = PeerCodec::new(&[9; 32], 1);
        // A forgery far in the future would push the window past everything.
        let forged = forger.seal(b"evil", t(10)).unwrap();
        assert_eq!(b.open(&forged, t(10)), Err(PeerRejection::BadTag));
        let d = genuine.seal(b"good", t(9)).unwrap();
        assert_eq!(b.open(&d, t(10)).unwrap().plaintext, b"good");
        // Enough forgeries to fill a window leave it alone as well.
        let mut forged_many = PeerCodec::new(&[9; 32], 1);
        for _ in 0..(REPLAY_WINDOW + 5) {
            let f = forged_many.seal(b"evil", t(10)).unwrap();
            assert_eq!(b.open(&f, t(10)), Err(PeerRejection::BadTag));
        }
        let later = genuine.seal(b"later", t(10)).unwrap();
        assert_eq!(b.open(&later, t(10)).unwrap().plaintext, b"later");
    }

    #[test]
    fn replay_is_rejected() {
        let mut a = PeerCodec::new(&KEY, 1);
        let mut b = PeerCodec::new(&KEY, 2);
        let d = a.seal(b"once", t(0)).unwrap();
        assert!(b.open(&d, t(0)).is_ok());
        assert_eq!(b.open(&d, t(0)), Err(PeerRejection::Replayed));
        assert_eq!(b.open(&d, t(1)), Err(PeerRejection::Replayed));
    }

    #[test]
    fn out_of_order_within_window_accepted_once() {
        let mut a = PeerCodec::new(&KEY, 1);
        let mut b = PeerCodec::new(&KEY, 2);
        // Spaced in time as real traffic is: counters far apart.
        let ds: Vec<_> = (0..REPLAY_WINDOW as u64)
            .map(|i| a.seal(&[i as u8], t(0) + Duration::from_millis(i)).unwrap())
            .collect();
        let now = t(1);
        // The newest first, then the rest backwards: each overtaken by up to 63.
        for d in ds.iter().rev() {
            assert!(b.open(d, now).is_ok());
        }
        for d in &ds {
            assert_eq!(b.open(d, now), Err(PeerRejection::Replayed));
        }
    }

    #[test]
    fn older_than_window_is_replayed() {
        let mut a = PeerCodec::new(&KEY, 1);
        let mut b = PeerCodec::new(&KEY, 2);
        let late = a.seal(b"late", t(0)).unwrap();
        for i in 0..REPLAY_WINDOW as u64 {
            let d = a.seal(b"x", t(0) + Duration::from_millis(i + 1)).unwrap();
            assert!(b.open(&d, t(1)).is_ok());
        }
        // Never seen, but below all 64 remembered counters.
        assert_eq!(b.open(&late, t(1)), Err(PeerRejection::Replayed));
        // Another sender has its own window.
        let mut c = PeerCodec::new(&KEY, 3);
        assert!(b.open(&c.seal(b"c", t(0)).unwrap(), t(1)).is_ok());
    }

    #[test]
    fn stale_and_future_counters_are_rejected() {
        let mut a = PeerCodec::new(&KEY, 1);
        let mut b = PeerCodec::new(&KEY, 2);
        let old = a.seal(b"old", t(0)).unwrap();
        assert_eq!(b.open(&old, t(60)), Err(PeerRejection::Stale));
        // Not recorded: the window did not move.
        let mut a2 = PeerCodec::new(&KEY, 1);
        let future = a2.seal(b"future", t(120)).unwrap();
        assert_eq!(b.open(&future, t(60)), Err(PeerRejection::Stale));
        let mut a3 = PeerCodec::new(&KEY, 1);
        let fresh = a3.seal(b"fresh", t(55)).unwrap();
        assert!(b.open(&fresh, t(60)).is_ok());
        // A tighter limit.
        let mut strict = PeerCodec::new(&KEY, 2).with_max_age(Duration::from_secs(1));
        let d = a3.seal(b"x", t(55)).unwrap();
        assert_eq!(strict.open(&d, t(57)), Err(PeerRejection::Stale));
    }

    #[test]
    fn short_unknown_and_own_datagrams() {
        let mut a = PeerCodec::new(&KEY, 1);
        let mut b = PeerCodec::new(&KEY, 2);
        let d = a.seal(b"x", t(0)).unwrap();
        for len in [0, 1, 5, HEADER_LEN, HEADER_LEN + TAG_LEN - 1] {
            assert_eq!(
                b.open(&d[..len], t(0)),
                Err(PeerRejection::Malformed),
                "{len}"
            );
        }
        let mut v2 = d.clone();
        v2[0] = 2;
        assert_eq!(b.open(&v2, t(0)), Err(PeerRejection::UnknownVersion));
        assert_eq!(a.open(&d, t(0)), Err(PeerRejection::FromSelf));
        // The truncations did not consume the counter.
        assert!(b.open(&d, t(0)).is_ok());
    }

    #[test]
    fn reasons_are_snake_case_labels() {
        use PeerRejection::*;
        let all = [Malformed, UnknownVersion, BadTag, Replayed, Stale, FromSelf];
        let labels: BTreeSet<_> = all.iter().map(|r| r.reason()).collect();
        assert_eq!(labels.len(), all.len());
        assert!(labels.contains("bad_tag") && labels.contains("replayed"));
        for l in labels {
            assert!(l.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{l}");
        }
    }

    #[test]
    fn too_large_is_refused() {
        let mut a = PeerCodec::new(&KEY, 1);
        assert!(a.seal(&vec![0; MAX_PLAINTEXT], t(0)).is_ok());
        assert!(matches!(
            a.seal(&vec![0; MAX_PLAINTEXT + 1], t(0)),
            Err(SealError::TooLarge { .. })
        ));
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Sample {
        Ping(u32),
        State {
            conn: u64,
            bytes: Vec<u8>,
            note: String,
        },
        Bye,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Other {
        a: u64,
        b: u64,
        c: u64,
    }

    #[test]
    fn typed_messages_round_trip() {
        let mut a = PeerCodec::new(&KEY, 1);
        let mut b = PeerCodec::new(&KEY, 2);
        let msgs = [
            Sample::Ping(7),
            Sample::State {
                conn: u64::MAX,
                bytes: vec![1, 2, 3],
                note: "frozen".into(),
            },
            Sample::Bye,
        ];
        for m in &msgs {
            let d = a.seal_msg(m, t(0)).unwrap();
            assert_eq!(b.open_msg::<Sample>(&d, t(0)), Ok((1, m.clone())));
        }
        // Valid tag, wrong type: malformed.
        let d = a.seal_msg(&Sample::Bye, t(0)).unwrap();
        assert_eq!(b.open_msg::<Other>(&d, t(0)), Err(PeerRejection::Malformed));
        // Trailing bytes after a whole message: malformed.
        let mut bytes = postcard::to_allocvec(&Sample::Ping(1)).unwrap();
        bytes.push(0);
        let d = a.seal(&bytes, t(0)).unwrap();
        assert_eq!(
            b.open_msg::<Sample>(&d, t(0)),
            Err(PeerRejection::Malformed)
        );
    }

    #[test]
    fn codec_from_example_config() {
        let text = include_str!("../../../examples/gecko.toml");
        let config = Config::parse(text, std::path::Path::new("gecko.toml")).unwrap();
        let mut a = PeerCodec::from_config(&config, 0).unwrap();
        let mut b = PeerCodec::from_config(&config, 1).unwrap();
        let d = a.seal(b"hi", SystemTime::now()).unwrap();
        assert_eq!(b.open(&d, SystemTime::now()).unwrap().sender, 0);
        let count = config.nodes.len();
        assert!(matches!(
            PeerCodec::from_config(&config, count as u16),
            Err(PeerConfigError::NoSuchNode { .. })
        ));
        let peers = peer_addresses(&config, DEFAULT_PEER_PORT);
        assert_eq!(peers.len(), count);
        assert_eq!(
            peers[1].1,
            SocketAddr::new(config.nodes[1].address.into(), DEFAULT_PEER_PORT)
        );
        let mut short = config.clone();
        short.security.cluster_key.pop();
        assert!(matches!(
            PeerCodec::from_config(&short, 0),
            Err(PeerConfigError::KeyLength(31))
        ));
    }

    proptest! {
        #[test]
        fn random_bytes_never_open(bytes in proptest::collection::vec(any::<u8>(), 0..200),
                                   version_one in any::<bool>()) {
            let mut bytes = bytes;
            if version_one && !bytes.is_empty() {
                bytes[0] = VERSION;
            }
            let mut b = PeerCodec::new(&KEY, 2);
            prop_assert!(b.open(&bytes, t(0)).is_err());
            prop_assert!(b.open_msg::<Sample>(&bytes, t(0)).is_err());
        }
    }

    /// Two nodes and an on-path attacker, all real UDP sockets on loopback.
    #[tokio::test]
    async fn sockets_deliver_and_drop_attacks() {
        use tokio::time::timeout;
        let wait = Duration::from_secs(5);
        let lo: SocketAddr = "[::1]:0".parse().unwrap();
        let a = PeerSocket::bind(lo, PeerCodec::new(&KEY, 0), vec![])
            .await
            .unwrap();
        let b = PeerSocket::bind(lo, PeerCodec::new(&KEY, 1), vec![])
            .await
            .unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        assert_ne!(a_addr.port(), b_addr.port());
        a.set_peer(1, b_addr);
        b.set_peer(0, a_addr);

        // Both ways, directly.
        a.send_to(1, &Sample::Ping(1)).await.unwrap();
        let got = timeout(wait, b.recv::<Sample>()).await.unwrap().unwrap();
        assert_eq!(got, (0, Sample::Ping(1)));
        b.send_to(0, &Sample::Bye).await.unwrap();
        let got = timeout(wait, a.recv::<Sample>()).await.unwrap().unwrap();
        assert_eq!(got, (1, Sample::Bye));
        assert!(matches!(
            a.send_to(9, &Sample::Bye).await,
            Err(PeerSocketError::UnknownNode(9))
        ));

        // Now the path between them runs through a relay the attacker holds:
        // each node knows the other at the relay's address.
        let relay = UdpSocket::bind(lo).await.unwrap();
        let relay_addr = relay.local_addr().unwrap();
        a.set_peer(1, relay_addr);
        b.set_peer(0, relay_addr);
        let mut buf = vec![0u8; 65536];

        a.send_to(1, &Sample::Ping(2)).await.unwrap();
        let (n, from) = timeout(wait, relay.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(from, a_addr);
        let captured = buf[..n].to_vec();
        relay.send_to(&captured, b_addr).await.unwrap();
        let got = timeout(wait, b.recv::<Sample>()).await.unwrap().unwrap();
        assert_eq!(got, (0, Sample::Ping(2)));

        // The other way through the relay.
        b.send_to(0, &Sample::Ping(3)).await.unwrap();
        let (n, _) = timeout(wait, relay.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        relay.send_to(&buf[..n], a_addr).await.unwrap();
        let got = timeout(wait, a.recv::<Sample>()).await.unwrap().unwrap();
        assert_eq!(got, (1, Sample::Ping(3)));

        // Attacks: the captured datagram again; one sealed without the
        // cluster key claiming to be node 0; the captured datagram from a
        // socket that is not where node 0 lives; a claimed sender nobody
        // configured.
        relay.send_to(&captured, b_addr).await.unwrap();
        let mut keyless = PeerCodec::new(&[0; 32], 0);
        let forged = keyless.seal_msg(&Sample::Bye, SystemTime::now()).unwrap();
        relay.send_to(&forged, b_addr).await.unwrap();
        let outsider = UdpSocket::bind(lo).await.unwrap();
        outsider.send_to(&captured, b_addr).await.unwrap();
        let unknown = keyless.seal_msg(&Sample::Bye, SystemTime::now()).unwrap();
        let mut unknown = unknown;
        unknown[1..3].copy_from_slice(&42u16.to_be_bytes());
        relay.send_to(&unknown, b_addr).await.unwrap();

        // A genuine message after them is the next one delivered.
        a.send_to(1, &Sample::Ping(4)).await.unwrap();
        let (n, _) = timeout(wait, relay.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        relay.send_to(&buf[..n], b_addr).await.unwrap();
        let got = timeout(wait, b.recv::<Sample>()).await.unwrap().unwrap();
        assert_eq!(got, (0, Sample::Ping(4)));

        let expected: BTreeMap<&'static str, u64> = [
            ("bad_tag", 1),
            ("replayed", 1),
            (UNKNOWN_SENDER, 1),
            (WRONG_SOURCE, 1),
        ]
        .into_iter()
        .collect();
        assert_eq!(b.rejected(), expected);
        assert!(a.rejected().is_empty());
    }
}
