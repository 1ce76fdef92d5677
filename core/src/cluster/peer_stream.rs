//! The peer channel's stream form: typed messages between nodes over TCP,
//! for what does not fit a datagram or must not be lost (a handoff's TCP
//! state with its queues, the packets a flow lock captured).
//!
//! Each message is cut into frames sealed by the same [`PeerCodec`] as the
//! datagrams (ChaCha20-Poly1305 under the cluster key, counters checked
//! against replay), one codec for sending and one for receiving, so the
//! datagram channel's replay windows are not shared. A node keeps one
//! outgoing connection per peer, so a peer's frames reach us in the order
//! they were sealed. A connection from an address that is not the claimed
//! sender's is dropped.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::peer_channel::{claimed_sender, PeerCodec, SealError, MAX_PLAINTEXT};

/// Largest message accepted from a peer (a TCP state with full queues
/// fits many times over).
pub const MAX_MESSAGE: usize = 64 << 20;

/// Longest a small send may take (connecting included) before the
/// connection is dropped: a dead peer must not hold its caller. Large
/// messages get more time, at [`SEND_RATE`].
pub const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// The slowest rate a live peer is expected to take a message at.
pub const SEND_RATE: u64 = 10 << 20;

/// Plaintext per frame: one flag byte (1 = last frame of the message)
/// then the message's bytes.
const CHUNK: usize = MAX_PLAINTEXT - 1;

/// Errors of [`PeerStreams`].
#[derive(Debug, thiserror::Error)]
pub enum PeerStreamError {
    /// The listening socket could not be bound.
    #[error("cannot listen for peer streams on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The system's error.
        source: io::Error,
    },
    /// No address is known for this node.
    #[error("node {0} is not a known peer")]
    UnknownNode(u16),
    /// The message could not be encoded or sealed.
    #[error("cannot seal a message: {0}")]
    Seal(String),
    /// Connecting or writing to the peer failed.
    #[error("cannot send to node {node}: {source}")]
    Send {
        /// The destination node.
        node: u16,
        /// The system's error.
        source: io::Error,
    },
}

impl From<SealError> for PeerStreamError {
    fn from(e: SealError) -> Self {
        PeerStreamError::Seal(e.to_string())
    }
}

/// A message received from a peer: its node index and the message.
pub type Inbound<M> = (u16, M);

struct Shared {
    me: u16,
    seal: Mutex<PeerCodec>,
    open: Mutex<PeerCodec>,
    peers: HashMap<u16, SocketAddr>,
    /// Outgoing connections, one per peer, each behind a lock that keeps a
    /// message's frames together.
    out: Mutex<HashMap<u16, Arc<tokio::sync::Mutex<Option<OwnedWriteHalf>>>>>,
    rejected: Mutex<u64>,
}

/// Typed, authenticated, reliable messages to and from the other nodes.
/// Dropping it stops the listener.
pub struct PeerStreams {
    shared: Arc<Shared>,
    listener: JoinHandle<()>,
}

impl Drop for PeerStreams {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PeerStreams {
    /// Listens on `local` (the node's address and the peer port) for the
    /// node of `seal`/`open` (two codecs of the same node and key), whose
    /// peers are at `peers` (index, address; the port is the peer port).
    /// Messages received are delivered, in order per peer, to the returned
    /// channel.
    pub async fn bind<M: DeserializeOwned + Send + 'static>(
        local: SocketAddr,
        seal: PeerCodec,
        open: PeerCodec,
        peers: Vec<(u16, SocketAddr)>,
    ) -> Result<(PeerStreams, mpsc::UnboundedReceiver<Inbound<M>>), PeerStreamError> {
        let listener = TcpListener::bind(local)
            .await
            .map_err(|source| PeerStreamError::Bind {
                addr: local,
                source,
            })?;
        let shared = Arc::new(Shared {
            me: seal.me(),
            seal: Mutex::new(seal),
            open: Mutex::new(open),
            peers: peers.into_iter().collect(),
            out: Mutex::new(HashMap::new()),
            rejected: Mutex::new(0),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let listener = tokio::spawn(accept_loop(listener, shared.clone(), tx));
        Ok((PeerStreams { shared, listener }, rx))
    }

    /// This node's index.
    pub fn me(&self) -> u16 {
        self.shared.me
    }

    /// Frames dropped so far (forged, replayed, from the wrong address).
    pub fn rejected(&self) -> u64 {
        *self
            .shared
            .rejected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends `msg` to node `node`, connecting first if needed. Returns once
    /// the message is written to the connection (not once it is read).
    pub async fn send<M: Serialize + ?Sized>(
        &self,
        node: u16,
        msg: &M,
    ) -> Result<(), PeerStreamError> {
        let addr = *self
            .shared
            .peers
            .get(&node)
            .ok_or(PeerStreamError::UnknownNode(node))?;
        let bytes = postcard::to_allocvec(msg).map_err(|e| PeerStreamError::Seal(e.to_string()))?;
        let slot = self
            .shared
            .out
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(node)
            .or_default()
            .clone();
        let mut conn = slot.lock().await;
        let send_err = |source| PeerStreamError::Send { node, source };
        let limit = SEND_TIMEOUT + Duration::from_millis(bytes.len() as u64 * 1000 / SEND_RATE);
        // A lost SYN (or segment) outlasts the limit: one more try on a
        // fresh connection. The frame that timed out was not whole, so the
        // peer cannot read it twice.
        for attempt in 0..2 {
            let sent =
                tokio::time::timeout(limit, self.send_on(&mut conn, addr, node, &bytes)).await;
            match sent {
                Ok(r) => return r,
                Err(_) => {
                    *conn = None;
                    tracing::debug!(node, attempt, "sending to a peer timed out");
                }
            }
        }
        Err(send_err(io::ErrorKind::TimedOut.into()))
    }

    async fn send_on(
        &self,
        conn: &mut Option<OwnedWriteHalf>,
        addr: SocketAddr,
        node: u16,
        bytes: &[u8],
    ) -> Result<(), PeerStreamError> {
        let send_err = |source| PeerStreamError::Send { node, source };
        if conn.is_none() {
            let stream = TcpStream::connect(addr).await.map_err(send_err)?;
            stream.set_nodelay(true).map_err(send_err)?;
            let (_, write) = stream.into_split();
            *conn = Some(write);
        }
        // Sealed under the connection's lock, so counters go out in order.
        let frames = self.seal_frames(bytes)?;
        let Some(write) = conn.as_mut() else {
            return Err(send_err(io::ErrorKind::NotConnected.into()));
        };
        if let Err(e) = write.write_all(&frames).await {
            // The next message connects afresh.
            *conn = None;
            return Err(send_err(e));
        }
        Ok(())
    }

    fn seal_frames(&self, bytes: &[u8]) -> Result<Vec<u8>, PeerStreamError> {
        let mut codec = self
            .shared
            .seal
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = SystemTime::now();
        let mut out = Vec::with_capacity(bytes.len() + 64);
        let mut chunks = bytes.chunks(CHUNK).peekable();
        if chunks.peek().is_none() {
            push_frame(&mut out, &codec.seal(&[1], now)?);
        }
        let mut plain = Vec::with_capacity(CHUNK.min(bytes.len()) + 1);
        while let Some(chunk) = chunks.next() {
            plain.clear();
            plain.push(u8::from(chunks.peek().is_none()));
            plain.extend_from_slice(chunk);
            push_frame(&mut out, &codec.seal(&plain, now)?);
        }
        Ok(out)
    }
}

fn push_frame(out: &mut Vec<u8>, sealed: &[u8]) {
    out.extend_from_slice(&(sealed.len() as u32).to_be_bytes());
    out.extend_from_slice(sealed);
}

async fn accept_loop<M: DeserializeOwned + Send + 'static>(
    listener: TcpListener,
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Inbound<M>>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, from)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(read_loop(stream, from, shared.clone(), tx.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "peer stream listener");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Reads one peer's connection until it ends or misbehaves.
async fn read_loop<M: DeserializeOwned>(
    mut stream: TcpStream,
    from: SocketAddr,
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Inbound<M>>,
) {
    let reject = |why: &str| {
        *shared
            .rejected
            .lock()
            .unwrap_or_else(PoisonError::into_inner) += 1;
        tracing::warn!(%from, why, "peer stream dropped");
    };
    let mut message = Vec::new();
    let mut frame = Vec::new();
    loop {
        let mut len = [0u8; 4];
        if stream.read_exact(&mut len).await.is_err() {
            return;
        }
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_PLAINTEXT + 64 {
            return reject("oversized frame");
        }
        frame.resize(len, 0);
        if stream.read_exact(&mut frame).await.is_err() {
            return;
        }
        let sender = claimed_sender(&frame);
        let known = sender.and_then(|s| shared.peers.get(&s));
        if !matches!(known, Some(a) if same_host(*a, from)) {
            return reject("wrong source");
        }
        let opened = shared
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open(&frame, SystemTime::now());
        let opened = match opened {
            Ok(o) => o,
            Err(e) => return reject(e.reason()),
        };
        let Some((&last, body)) = opened.plaintext.split_first() else {
            return reject("empty frame");
        };
        if message.len() + body.len() > MAX_MESSAGE {
            return reject("oversized message");
        }
        message.extend_from_slice(body);
        if last == 1 {
            match postcard::from_bytes::<M>(&message) {
                Ok(m) => {
                    if tx.send((opened.sender, m)).is_err() {
                        return;
                    }
                }
                Err(_) => return reject("malformed message"),
            }
            message.clear();
        }
    }
}

fn same_host(expected: SocketAddr, from: SocketAddr) -> bool {
    let canon = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    canon(expected.ip()) == canon(from.ip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    const KEY: [u8; 32] = [9; 32];

    fn codecs(me: u16) -> (PeerCodec, PeerCodec) {
        (PeerCodec::new(&KEY, me), PeerCodec::new(&KEY, me))
    }

    async fn pair() -> (
        (PeerStreams, mpsc::UnboundedReceiver<Inbound<Vec<u8>>>),
        (PeerStreams, mpsc::UnboundedReceiver<Inbound<Vec<u8>>>),
    ) {
        // Loopback only: two listeners on ephemeral ports found first.
        let free = || {
            let l = std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).expect("bind");
            l.local_addr().expect("addr")
        };
        let (a_addr, b_addr) = (free(), free());
        let (s0, o0) = codecs(0);
        let (s1, o1) = codecs(1);
        let a = PeerStreams::bind(a_addr, s0, o0, vec![(1, b_addr)])
            .await
            .expect("bind a");
        let b = PeerStreams::bind(b_addr, s1, o1, vec![(0, a_addr)])
            .await
            .expect("bind b");
        (a, b)
    }

    #[tokio::test]
    async fn messages_arrive_whole_and_in_order() {
        let ((a, _ra), (_b, mut rb)) = pair().await;
        let big: Vec<u8> = (0..3 * MAX_PLAINTEXT + 17).map(|i| i as u8).collect();
        for msg in [vec![], vec![1, 2, 3], big.clone(), vec![4]] {
            a.send(1, &msg).await.expect("send");
        }
        for want in [vec![], vec![1, 2, 3], big, vec![4]] {
            let (from, got) = rb.recv().await.expect("message");
            assert_eq!(from, 0);
            assert_eq!(got, want);
        }
    }

    #[tokio::test]
    async fn unknown_peer_is_an_error() {
        let ((a, _ra), _b) = pair().await;
        assert!(matches!(
            a.send(7, &vec![1u8]).await,
            Err(PeerStreamError::UnknownNode(7))
        ));
    }

    #[tokio::test]
    async fn forged_and_replayed_frames_are_dropped() {
        let ((a, _ra), (b, mut rb)) = pair().await;
        // A frame sealed under another key: dropped, connection closed.
        let mut forger = PeerCodec::new(&[1; 32], 0);
        let sealed = forger.seal(&[1, 0], SystemTime::now()).expect("seal");
        let target = a.shared.peers.get(&1).copied().expect("b's address");
        let mut s = TcpStream::connect(target).await.expect("connect");
        let mut frame = Vec::new();
        push_frame(&mut frame, &sealed);
        s.write_all(&frame).await.expect("write");
        // A genuine frame sent twice: the copy is dropped.
        let genuine = a
            .seal_frames(&postcard::to_allocvec(&vec![5u8]).unwrap())
            .unwrap();
        let mut s2 = TcpStream::connect(target).await.expect("connect");
        s2.write_all(&genuine).await.expect("write");
        s2.write_all(&genuine).await.expect("write");
        let (_, got) = rb.recv().await.expect("genuine message");
        assert_eq!(got, vec![5]);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(rb.try_recv().is_err(), "forged or replayed frame delivered");
        assert_eq!(b.rejected(), 2);
    }
}
