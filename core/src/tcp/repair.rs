//! Moving an established TCP connection (IPv6) between sockets with Linux
//! TCP_REPAIR, after CRIU's `soccr`.
//!
//! The donor [`freeze`]s its socket (repair mode: the application can no
//! longer move data, closing sends nothing), [`dump`]s a [`TcpState`] and
//! either [`close_silently`] (handoff done) or [`unfreeze`]s it (handoff
//! failed). The receiver [`restore`]s the state into a new socket, still
//! frozen, and [`Restored::thaw`]s it once the flow reaches it.
//!
//! Repair mode does not stop the stack: segments from the peer are still
//! processed (ACKs move `snd_una`, data lands in the receive queue) while a
//! socket is frozen. A consistent dump therefore needs the flow locked
//! (packets from the peer dropped) from the freeze until the restored socket
//! thaws; [`dump`] reports a queue that changed under it.

use std::io;
use std::mem::size_of;
use std::net::SocketAddrV6;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use nix::libc;
use nix::sys::socket::{getpeername, getsockname, SockaddrIn6};
use serde::{Deserialize, Serialize};

// Kernel ABI values (include/uapi/linux/tcp.h, sockios.h, asm/socket.h)
// that the libc crate does not export for every target.
const TCP_REPAIR_ON: libc::c_int = 1;
const TCP_REPAIR_OFF: libc::c_int = 0;
const TCP_REPAIR_OFF_NO_WP: libc::c_int = -1;
const TCP_NO_QUEUE: libc::c_int = 0;
const TCP_RECV_QUEUE: libc::c_int = 1;
const TCP_SEND_QUEUE: libc::c_int = 2;
const TCPI_OPT_TIMESTAMPS: u8 = 1;
const TCPI_OPT_SACK: u8 = 2;
const TCPI_OPT_WSCALE: u8 = 4;
const TCPOPT_MAXSEG: u32 = 2;
const TCPOPT_WINDOW: u32 = 3;
const TCPOPT_SACK_PERM: u32 = 4;
const TCPOPT_TIMESTAMP: u32 = 8;
const TCP_MAX_WSCALE: u8 = 14;
const TCP_STATE_ESTABLISHED: u8 = 1;
const SIOCINQ: u64 = 0x541B;
const SIOCOUTQ: u64 = 0x5411;
const SIOCOUTQNSD: u64 = 0x894B;
const SO_SNDBUFFORCE: libc::c_int = 32;
const SO_RCVBUFFORCE: libc::c_int = 33;

/// Largest write used to refill a queue in repair mode; halved on ENOMEM
/// (the receive queue is refilled one skb per write, as in soccr).
const REFILL_CHUNK: usize = 256 * 1024;
/// Room added to the buffers of a restored socket above its queued bytes
/// (skb overhead is counted against the buffers too).
const BUF_SLACK: usize = 256 * 1024;

/// `struct tcp_repair_window`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct RawRepairWindow {
    snd_wl1: u32,
    snd_wnd: u32,
    max_window: u32,
    rcv_wnd: u32,
    rcv_wup: u32,
}

/// `struct tcp_repair_opt`.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawRepairOpt {
    opt_code: u32,
    opt_val: u32,
}

/// Errors of TCP_REPAIR operations.
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    /// A system call failed.
    #[error("{op}: {source}")]
    Sys {
        /// What was being done.
        op: &'static str,
        /// The kernel's answer.
        source: io::Error,
    },
    /// The socket is not an established TCP connection.
    #[error("the socket is not an established TCP connection")]
    NotEstablished,
    /// The socket is not in repair mode: freeze it first.
    #[error("the socket is not frozen (TCP_REPAIR is off)")]
    NotFrozen,
    /// The connection is not over IPv6.
    #[error("the connection is not over IPv6")]
    NotIpv6,
    /// A serialised or given state is not valid.
    #[error("malformed TCP state: {0}")]
    Malformed(String),
    /// A queue did not hold what its length said while it was dumped: the
    /// peer's packets were still reaching the socket (lock the flow first).
    #[error("the {queue} queue changed during the dump: {expected} bytes expected, {got} read")]
    QueueChanged {
        /// `"receive"` or `"send"`.
        queue: &'static str,
        /// Length reported by the kernel.
        expected: usize,
        /// Bytes actually peeked.
        got: usize,
    },
    /// [`close_silently`] was given a socket it could not check to be
    /// frozen: closing it could send a FIN or a RST, so it is handed back
    /// open, in `fd`.
    #[error("refusing to close a socket not known to be frozen ({cause}); it is handed back open")]
    CloseRefused {
        /// The socket, still open.
        fd: OwnedFd,
        /// Why it was refused ([`RepairError::NotFrozen`] or the failed check).
        #[source]
        cause: Box<RepairError>,
    },
}

/// `struct tcp_repair_window`: the send and receive windows of a connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairWindow {
    /// Sequence number of the segment that last updated the send window.
    pub snd_wl1: u32,
    /// Send window (what the peer last offered, scaled).
    pub snd_wnd: u32,
    /// Largest window the peer has offered.
    pub max_window: u32,
    /// Receive window last advertised.
    pub rcv_wnd: u32,
    /// `rcv_nxt` when the receive window was last advertised.
    pub rcv_wup: u32,
}

impl From<RawRepairWindow> for RepairWindow {
    fn from(w: RawRepairWindow) -> Self {
        RepairWindow {
            snd_wl1: w.snd_wl1,
            snd_wnd: w.snd_wnd,
            max_window: w.max_window,
            rcv_wnd: w.rcv_wnd,
            rcv_wup: w.rcv_wup,
        }
    }
}

impl From<RepairWindow> for RawRepairWindow {
    fn from(w: RepairWindow) -> Self {
        RawRepairWindow {
            snd_wl1: w.snd_wl1,
            snd_wnd: w.snd_wnd,
            max_window: w.max_window,
            rcv_wnd: w.rcv_wnd,
            rcv_wup: w.rcv_wup,
        }
    }
}

/// Compact serialisable state of a frozen TCP connection (serde; postcard
/// encoding). Addresses go on the wire as 16 octets and a port (flow label
/// and scope are not kept); integers as varints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpState {
    /// This side's address (G and the service port on a node).
    pub local: SocketAddrV6,
    /// The peer (client).
    pub peer: SocketAddrV6,
    /// Sequence number of `send_queue[0]`.
    pub snd_una: u32,
    /// Next sequence number expected from the peer (after `recv_queue`).
    pub rcv_nxt: u32,
    /// Windows (`TCP_REPAIR_WINDOW`).
    pub window: RepairWindow,
    /// MSS clamp (`TCP_MAXSEG` of the frozen socket).
    pub mss: u16,
    /// Window scale of the peer (applied to windows it sends).
    pub snd_wscale: u8,
    /// Window scale of this side.
    pub rcv_wscale: u8,
    /// SACK negotiated.
    pub sack: bool,
    /// TCP timestamps negotiated.
    pub timestamps: bool,
    /// `TCP_TIMESTAMP` value, so the restored socket keeps the clock the
    /// peer has seen (the kernel turns it into an offset).
    pub ts_val: u32,
    /// Sent-but-unacknowledged bytes, then unsent bytes.
    #[serde(with = "bytes")]
    pub send_queue: Vec<u8>,
    /// How many bytes at the end of `send_queue` were never sent.
    pub unsent: u32,
    /// Received bytes the application has not read.
    #[serde(with = "bytes")]
    pub recv_queue: Vec<u8>,
}

impl TcpState {
    /// The connection this state was dumped from.
    pub fn flow(&self) -> crate::dataplane::FlowKey {
        crate::dataplane::FlowKey {
            client: *self.peer.ip(),
            client_port: self.peer.port(),
            server: *self.local.ip(),
            server_port: self.local.port(),
        }
    }

    /// Postcard encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain integers and byte strings into a Vec cannot
        // fail; an empty buffer would only show up as a failed restore.
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes [`TcpState::to_bytes`] output; malformed input (truncated,
    /// trailing bytes, inconsistent fields) is an error, never a panic.
    pub fn from_bytes(b: &[u8]) -> Result<TcpState, RepairError> {
        let (state, rest): (TcpState, _) =
            postcard::take_from_bytes(b).map_err(|e| RepairError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(RepairError::Malformed(format!(
                "{} trailing bytes",
                rest.len()
            )));
        }
        state.validate()?;
        Ok(state)
    }

    /// Bytes of the send queue that the peer may already have seen.
    fn sent(&self) -> &[u8] {
        &self.send_queue[..self.send_queue.len() - self.unsent as usize]
    }

    /// Checks what the kernel would reject, or what would make restore panic.
    fn validate(&self) -> Result<(), RepairError> {
        let bad = |m: String| Err(RepairError::Malformed(m));
        if self.unsent as usize > self.send_queue.len() {
            return bad(format!(
                "{} unsent bytes in a send queue of {}",
                self.unsent,
                self.send_queue.len()
            ));
        }
        if u32::try_from(self.send_queue.len()).is_err()
            || u32::try_from(self.recv_queue.len()).is_err()
        {
            return bad("queue longer than the sequence space".into());
        }
        if self.snd_wscale > TCP_MAX_WSCALE || self.rcv_wscale > TCP_MAX_WSCALE {
            return bad(format!(
                "window scales {}/{} above {TCP_MAX_WSCALE}",
                self.snd_wscale, self.rcv_wscale
            ));
        }
        if self.mss == 0 {
            return bad("MSS 0".into());
        }
        if self.local.port() == 0 || self.peer.port() == 0 {
            return bad("port 0".into());
        }
        Ok(())
    }
}

/// Byte strings as one length-prefixed run (serde's default for `Vec<u8>`
/// goes byte by byte).
mod bytes {
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_byte_buf(BytesVisitor)
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a byte string")
        }

        fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut v = Vec::new();
            while let Some(b) = seq.next_element()? {
                v.push(b);
            }
            Ok(v)
        }
    }
}

fn sys(op: &'static str) -> RepairError {
    RepairError::Sys {
        op,
        source: io::Error::last_os_error(),
    }
}

fn set_opt<T: Copy>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    val: &T,
    op: &'static str,
) -> Result<(), RepairError> {
    crate::sockopt::set(fd, level, name, val).map_err(|source| RepairError::Sys { op, source })
}

fn set_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    val: libc::c_int,
    op: &'static str,
) -> Result<(), RepairError> {
    set_opt(fd, level, name, &val, op)
}

/// getsockopt into a `T` (plain integers only) that starts as `init`.
fn get_opt<T: Copy>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    init: T,
    op: &'static str,
) -> Result<T, RepairError> {
    crate::sockopt::get(fd, level, name, init).map_err(|source| RepairError::Sys { op, source })
}

fn ioctl_len(fd: RawFd, req: u64, op: &'static str) -> Result<usize, RepairError> {
    let mut val: libc::c_int = 0;
    // SAFETY: these ioctls write one int to the pointer given.
    let r = unsafe { libc::ioctl(fd, req as _, &mut val as *mut libc::c_int) };
    if r < 0 {
        return Err(sys(op));
    }
    usize::try_from(val).map_err(|_| RepairError::Malformed(format!("{op}: negative length")))
}

fn tcp_info(fd: RawFd) -> Result<libc::tcp_info, RepairError> {
    // SAFETY: the caller holds the descriptor open for this call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    super::info::tcp_info(fd).map_err(|source| RepairError::Sys {
        op: "reading TCP_INFO",
        source,
    })
}

/// Whether the socket is in repair mode. TCP_REPAIR_WINDOW can only be read
/// in repair mode (EPERM otherwise), on every kernel since 4.8.
fn is_frozen(fd: RawFd) -> Result<bool, RepairError> {
    match get_opt(
        fd,
        libc::SOL_TCP,
        libc::TCP_REPAIR_WINDOW,
        RawRepairWindow::default(),
        "checking repair mode",
    ) {
        Ok(_) => Ok(true),
        Err(RepairError::Sys { source, .. }) if source.raw_os_error() == Some(libc::EPERM) => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Puts the socket in repair mode (`TCP_REPAIR` = 1): from now on it sends
/// nothing by itself on close, and its queues can be read and set.
/// Needs CAP_NET_ADMIN; the socket must be established (or closed).
pub fn freeze(fd: BorrowedFd<'_>) -> Result<(), RepairError> {
    set_int(
        fd.as_raw_fd(),
        libc::SOL_TCP,
        libc::TCP_REPAIR,
        TCP_REPAIR_ON,
        "turning TCP_REPAIR on",
    )
}

/// Leaves repair mode (`TCP_REPAIR` = 0) on a socket that stays with this
/// host: the donor's way back when a handoff fails. The kernel sends a
/// window probe, so the peer's answer brings the socket up to date.
pub fn unfreeze(fd: BorrowedFd<'_>) -> Result<(), RepairError> {
    leave_repair(fd, TCP_REPAIR_OFF)
}

/// Leaves repair mode. The kernel then clears the socket's SO_REUSEADDR
/// (`sk_reuse = SK_NO_REUSE`), and one such connection left behind by a
/// process that died keeps the next process from listening on its port:
/// it is set again.
fn leave_repair(fd: BorrowedFd<'_>, how: libc::c_int) -> Result<(), RepairError> {
    let raw = fd.as_raw_fd();
    set_int(
        raw,
        libc::SOL_TCP,
        libc::TCP_REPAIR,
        how,
        "turning TCP_REPAIR off",
    )?;
    set_int(
        raw,
        libc::SOL_SOCKET,
        libc::SO_REUSEADDR,
        1,
        "setting SO_REUSEADDR",
    )
}

/// Leaves repair mode without the window probe (`TCP_REPAIR_OFF_NO_WP`):
/// for a socket frozen only to read its state, whose peer needs no news.
pub fn unfreeze_quietly(fd: BorrowedFd<'_>) -> Result<(), RepairError> {
    leave_repair(fd, TCP_REPAIR_OFF_NO_WP)
}

/// Reads the state of a frozen, established IPv6 connection: addresses,
/// sequence numbers, windows, options and both queues (peeked: the socket
/// is left as it was, repair queue reset to none).
pub fn dump(fd: BorrowedFd<'_>) -> Result<TcpState, RepairError> {
    let raw = fd.as_raw_fd();
    if !is_frozen(raw)? {
        return Err(RepairError::NotFrozen);
    }
    let info = tcp_info(raw)?;
    if info.tcpi_state != TCP_STATE_ESTABLISHED {
        return Err(RepairError::NotEstablished);
    }
    let local: SockaddrIn6 = getsockname(raw).map_err(|_| RepairError::NotIpv6)?;
    let peer: SockaddrIn6 = getpeername(raw).map_err(|_| RepairError::NotIpv6)?;

    let outq = ioctl_len(raw, SIOCOUTQ, "reading the send queue length")?;
    let unsent = ioctl_len(raw, SIOCOUTQNSD, "reading the unsent length")?;
    let inq = ioctl_len(raw, SIOCINQ, "reading the receive queue length")?;
    if unsent > outq {
        return Err(RepairError::QueueChanged {
            queue: "send",
            expected: outq,
            got: unsent,
        });
    }

    let mss: libc::c_int = get_opt(
        raw,
        libc::SOL_TCP,
        libc::TCP_MAXSEG,
        0,
        "reading TCP_MAXSEG",
    )?;
    let options = info.tcpi_options;
    let timestamps = options & TCPI_OPT_TIMESTAMPS != 0;
    let (snd_wscale, rcv_wscale) = if options & TCPI_OPT_WSCALE != 0 {
        // Two 4-bit fields: snd_wscale in the low bits (little endian bitfield).
        (
            info.tcpi_snd_rcv_wscale & 0x0f,
            info.tcpi_snd_rcv_wscale >> 4,
        )
    } else {
        (0, 0)
    };
    let ts_val = if timestamps {
        get_opt::<u32>(
            raw,
            libc::SOL_TCP,
            libc::TCP_TIMESTAMP,
            0,
            "reading TCP_TIMESTAMP",
        )?
    } else {
        0
    };
    let window = get_opt(
        raw,
        libc::SOL_TCP,
        libc::TCP_REPAIR_WINDOW,
        RawRepairWindow::default(),
        "reading TCP_REPAIR_WINDOW",
    )?;

    let (rcv_nxt, recv_queue) = peek_queue(raw, TCP_RECV_QUEUE, inq)?;
    let (write_seq, send_queue) = peek_queue(raw, TCP_SEND_QUEUE, outq)?;
    set_int(
        raw,
        libc::SOL_TCP,
        libc::TCP_REPAIR_QUEUE,
        TCP_NO_QUEUE,
        "resetting the repair queue",
    )?;

    let state = TcpState {
        local: local.into(),
        peer: peer.into(),
        snd_una: write_seq.wrapping_sub(outq as u32),
        rcv_nxt,
        window: window.into(),
        // The clamp, not the current segment size: that is the clamp less
        // the timestamp option, and restoring it as the clamp would lose
        // 12 bytes at every handoff.
        mss: u16::try_from(
            mss.max(info.tcpi_snd_mss as libc::c_int + if timestamps { 12 } else { 0 }),
        )
        .unwrap_or(u16::MAX),
        snd_wscale,
        rcv_wscale,
        sack: options & TCPI_OPT_SACK != 0,
        timestamps,
        ts_val,
        send_queue,
        unsent: unsent as u32,
        recv_queue,
    };
    tracing::debug!(
        local = %state.local, peer = %state.peer, sent = state.sent().len(),
        unsent, recv = inq, "dumped TCP state"
    );
    Ok(state)
}

/// Selects a repair queue, reads its sequence number (the end of the queue:
/// `rcv_nxt` or `write_seq`) and peeks its `len` bytes.
fn peek_queue(fd: RawFd, queue: libc::c_int, len: usize) -> Result<(u32, Vec<u8>), RepairError> {
    let name = if queue == TCP_RECV_QUEUE {
        "receive"
    } else {
        "send"
    };
    set_int(
        fd,
        libc::SOL_TCP,
        libc::TCP_REPAIR_QUEUE,
        queue,
        "selecting a repair queue",
    )?;
    let seq: u32 = get_opt(
        fd,
        libc::SOL_TCP,
        libc::TCP_QUEUE_SEQ,
        0,
        "reading TCP_QUEUE_SEQ",
    )?;
    // One byte more than expected, to see a queue that grew.
    let mut buf = vec![0u8; len + 1];
    let got = if len == 0 {
        0
    } else {
        // SAFETY: buf has len + 1 writable bytes.
        let r = unsafe {
            libc::recv(
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if r < 0 {
            return Err(sys("peeking a queue"));
        }
        r as usize
    };
    if got != len {
        return Err(RepairError::QueueChanged {
            queue: name,
            expected: len,
            got,
        });
    }
    buf.truncate(len);
    Ok((seq, buf))
}

/// A socket rebuilt from a [`TcpState`], still frozen; the unsent bytes are
/// held back until [`Restored::thaw`].
#[derive(Debug)]
pub struct Restored {
    fd: OwnedFd,
    unsent: Vec<u8>,
}

impl Restored {
    /// The frozen socket.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Leaves repair mode (the kernel sends a window probe, whose answer
    /// tells the socket what the peer has), makes the socket blocking and
    /// writes the unsent bytes with ordinary sends, all of them, blocking
    /// until written. Returns the live socket.
    pub fn thaw(self) -> Result<OwnedFd, RepairError> {
        let raw = self.fd.as_raw_fd();
        unfreeze(self.fd.as_fd())?;
        set_blocking(raw)?;
        let mut off = 0;
        while off < self.unsent.len() {
            let rest = &self.unsent[off..];
            // SAFETY: rest is a live slice of rest.len() bytes.
            let r =
                unsafe { libc::send(raw, rest.as_ptr().cast(), rest.len(), libc::MSG_NOSIGNAL) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(RepairError::Sys {
                    op: "writing the unsent bytes",
                    source: e,
                });
            }
            off += r as usize;
        }
        Ok(self.fd)
    }
}

fn set_blocking(fd: RawFd) -> Result<(), RepairError> {
    // SAFETY: fcntl on an fd we own, integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(sys("reading the file flags"));
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(sys("making the socket blocking"));
    }
    Ok(())
}

/// Makes sure a buffer holds `need` bytes: forced above the sysctl limits
/// (we are root) only when the default is too small, since a set buffer
/// loses the kernel's autotuning.
fn ensure_buf(
    fd: RawFd,
    name: libc::c_int,
    force: libc::c_int,
    need: usize,
    op: &'static str,
) -> Result<(), RepairError> {
    let want = need + BUF_SLACK;
    let have: libc::c_int = get_opt(fd, libc::SOL_SOCKET, name, 0, op)?;
    // Forcing a size turns the kernel's buffer autotuning off for good:
    // only when the queue would not fit.
    if need == 0 || usize::try_from(have).unwrap_or(0) >= want {
        return Ok(());
    }
    // The kernel doubles the value given (bookkeeping overhead). Just what
    // the queue needs: a larger buffer would let the queue grow, and the
    // next handoff of the connection force a larger one still.
    let val = libc::c_int::try_from(want.div_ceil(2)).unwrap_or(libc::c_int::MAX);
    set_int(fd, libc::SOL_SOCKET, force, val, op)
}

/// Rebuilds the connection in a new socket: repair mode, SO_REUSEADDR,
/// bound to `state.local` (the address must exist on the host: G on `lo`),
/// queue sequence numbers, `connect()` (no SYN in repair mode), options,
/// timestamp offset, receive queue and the sent part of the send queue,
/// windows. The socket stays frozen (nothing is sent) until
/// [`Restored::thaw`]; its buffers are forced large enough for the queues.
pub fn restore(state: &TcpState) -> Result<Restored, RepairError> {
    state.validate()?;
    // Non-blocking while refilling: a full buffer must fail, not hang.
    // SAFETY: plain socket(2) call.
    let raw = unsafe {
        libc::socket(
            libc::AF_INET6,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            libc::IPPROTO_TCP,
        )
    };
    if raw < 0 {
        return Err(sys("opening a TCP socket"));
    }
    // SAFETY: raw is a new descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let tcp = libc::SOL_TCP;

    // SO_REUSEADDR before TCP_REPAIR: repair mode sets the stronger "force
    // reuse" (bind despite a listener on the port), which SO_REUSEADDR
    // would overwrite.
    set_int(
        raw,
        libc::SOL_SOCKET,
        libc::SO_REUSEADDR,
        1,
        "setting SO_REUSEADDR",
    )?;
    freeze(fd.as_fd())?;
    ensure_buf(
        raw,
        libc::SO_SNDBUF,
        SO_SNDBUFFORCE,
        state.send_queue.len(),
        "sizing the send buffer",
    )?;
    ensure_buf(
        raw,
        libc::SO_RCVBUF,
        SO_RCVBUFFORCE,
        state.recv_queue.len(),
        "sizing the receive buffer",
    )?;
    nix::sys::socket::bind(raw, &SockaddrIn6::from(state.local)).map_err(|e| RepairError::Sys {
        op: "binding to the local address",
        source: e.into(),
    })?;

    // Queue sequence numbers are those of the queues' starts; refilling
    // the queues moves them to rcv_nxt and write_seq.
    let recv_start = state.rcv_nxt.wrapping_sub(state.recv_queue.len() as u32);
    select_queue(raw, TCP_RECV_QUEUE)?;
    set_opt(
        raw,
        tcp,
        libc::TCP_QUEUE_SEQ,
        &recv_start,
        "setting the receive sequence",
    )?;
    select_queue(raw, TCP_SEND_QUEUE)?;
    set_opt(
        raw,
        tcp,
        libc::TCP_QUEUE_SEQ,
        &state.snd_una,
        "setting the send sequence",
    )?;
    // connect() sizes segments from the clamp it sets itself (the IPv6
    // minimum MTU: no SYN-ACK will raise it in repair mode), before
    // TCP_REPAIR_OPTIONS can; a user MSS replaces that clamp at connect.
    set_int(
        raw,
        tcp,
        libc::TCP_MAXSEG,
        // The kernel takes at most MAX_TCP_WINDOW (loopback's MSS is larger).
        libc::c_int::from(state.mss.min(32767)),
        "setting the segment size",
    )?;

    nix::sys::socket::connect(raw, &SockaddrIn6::from(state.peer)).map_err(|e| {
        RepairError::Sys {
            op: "connecting in repair mode",
            source: e.into(),
        }
    })?;

    let mut opts = Vec::with_capacity(4);
    if state.sack {
        opts.push(RawRepairOpt {
            opt_code: TCPOPT_SACK_PERM,
            opt_val: 0,
        });
    }
    if state.snd_wscale != 0 || state.rcv_wscale != 0 {
        opts.push(RawRepairOpt {
            opt_code: TCPOPT_WINDOW,
            opt_val: u32::from(state.snd_wscale) | (u32::from(state.rcv_wscale) << 16),
        });
    }
    if state.timestamps {
        opts.push(RawRepairOpt {
            opt_code: TCPOPT_TIMESTAMP,
            opt_val: 0,
        });
    }
    opts.push(RawRepairOpt {
        opt_code: TCPOPT_MAXSEG,
        opt_val: u32::from(state.mss),
    });
    crate::sockopt::set_slice(raw, tcp, libc::TCP_REPAIR_OPTIONS, &opts).map_err(|source| {
        RepairError::Sys {
            op: "setting TCP_REPAIR_OPTIONS",
            source,
        }
    })?;
    if state.timestamps {
        set_opt(
            raw,
            tcp,
            libc::TCP_TIMESTAMP,
            &state.ts_val,
            "setting TCP_TIMESTAMP",
        )?;
    }

    select_queue(raw, TCP_RECV_QUEUE)?;
    refill(raw, &state.recv_queue, "refilling the receive queue")?;
    select_queue(raw, TCP_SEND_QUEUE)?;
    refill(raw, state.sent(), "refilling the send queue")?;
    select_queue(raw, TCP_NO_QUEUE)?;

    // Last: the kernel checks the windows against rcv_nxt, which the
    // receive queue refill has just moved.
    set_opt(
        raw,
        tcp,
        libc::TCP_REPAIR_WINDOW,
        &RawRepairWindow::from(state.window),
        "setting TCP_REPAIR_WINDOW",
    )?;
    tracing::debug!(local = %state.local, peer = %state.peer, "restored TCP state");
    Ok(Restored {
        fd,
        unsent: state.send_queue[state.sent().len()..].to_vec(),
    })
}

fn select_queue(fd: RawFd, queue: libc::c_int) -> Result<(), RepairError> {
    set_int(
        fd,
        libc::SOL_TCP,
        libc::TCP_REPAIR_QUEUE,
        queue,
        "selecting a repair queue",
    )
}

/// Writes `data` into the selected repair queue. The receive queue takes one
/// linear-ish skb per write, which may be too large to allocate: the chunk
/// is halved on ENOMEM, as soccr does.
fn refill(fd: RawFd, data: &[u8], op: &'static str) -> Result<(), RepairError> {
    let mut chunk = REFILL_CHUNK;
    let mut off = 0;
    while off < data.len() {
        let part = &data[off..data.len().min(off + chunk)];
        // SAFETY: part is a live slice of part.len() bytes.
        let r = unsafe { libc::send(fd, part.as_ptr().cast(), part.len(), libc::MSG_NOSIGNAL) };
        if r <= 0 {
            let e = io::Error::last_os_error();
            let retry = matches!(
                e.raw_os_error(),
                Some(libc::ENOMEM) | Some(libc::EMSGSIZE) | Some(libc::ENOBUFS)
            );
            if r < 0 && e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            if (retry || r == 0) && chunk > 1024 {
                chunk /= 2;
                continue;
            }
            return Err(RepairError::Sys { op, source: e });
        }
        off += r as usize;
    }
    Ok(())
}

/// Ends a frozen socket's connection here without a word to the peer
/// (`connect(AF_UNSPEC)`, which repair mode keeps from sending a RST): the
/// threads blocked on it wake with `ECONNABORTED`, and whatever they do
/// next fails. Unlike `shutdown`, nothing is queued that a later close or
/// timer could send. The socket must be frozen.
pub fn disconnect_quietly(fd: BorrowedFd<'_>) -> Result<(), RepairError> {
    let raw = fd.as_raw_fd();
    if !is_frozen(raw)? {
        return Err(RepairError::NotFrozen);
    }
    // SAFETY: a zeroed sockaddr with family AF_UNSPEC and its size.
    let rc = unsafe {
        let mut addr: libc::sockaddr = std::mem::zeroed();
        addr.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
        libc::connect(raw, &addr, size_of::<libc::sockaddr>() as libc::socklen_t)
    };
    if rc < 0 {
        return Err(sys("disconnecting the frozen socket"));
    }
    Ok(())
}

/// Closes a frozen socket: repair mode makes the kernel drop it without a
/// FIN or a RST, so the peer keeps the connection (now served elsewhere).
/// The socket must be frozen and `fd` its last descriptor. If it is not
/// frozen (or that cannot be checked), nothing is closed: the error
/// [`RepairError::CloseRefused`] hands the socket back, open.
pub fn close_silently(fd: OwnedFd) -> Result<(), RepairError> {
    let cause = match is_frozen(fd.as_raw_fd()) {
        Ok(true) => None,
        Ok(false) => Some(RepairError::NotFrozen),
        Err(e) => Some(e),
    };
    if let Some(cause) = cause {
        return Err(RepairError::CloseRefused {
            fd,
            cause: Box::new(cause),
        });
    }
    // SAFETY: we own the descriptor and give it up here.
    if unsafe { libc::close(fd.into_raw_fd()) } < 0 {
        return Err(sys("closing the frozen socket"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gecko_netns::netns;
    use rand::{RngCore, SeedableRng};
    use sha2::{Digest, Sha256};
    use std::fs::File;
    use std::io::{Read, Write};
    use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream};
    use std::process::Command;
    use std::time::{Duration, Instant};

    const SERVER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x77, 0, 0, 0, 0, 1);
    const CLIENT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x77, 0, 0, 0, 0, 2);
    const PORT: u16 = 8080;

    /// A namespace of its own with `lo` up and the two addresses on it;
    /// deleted on drop, also when the test fails.
    struct Ns {
        name: String,
        file: File,
    }

    impl Ns {
        /// The test's namespace, or None (the test then returns) where
        /// `gecko_netns::root_test` says it cannot run.
        fn new(tag: &str) -> Option<Ns> {
            if !gecko_netns::root_test(&format!("repair::{tag}")) {
                return None;
            }
            let name = format!("gecko-t-repair-{tag}");
            let _ = netns::delete(&name);
            netns::create(&name).expect("creating the namespace (root needed)");
            let file = netns::open(&name).unwrap();
            let ns = Ns { name, file };
            ns.ip(&["link", "set", "lo", "up"]);
            for a in [SERVER, CLIENT] {
                ns.ip(&[
                    "-6",
                    "addr",
                    "add",
                    &format!("{a}/128"),
                    "dev",
                    "lo",
                    "nodad",
                ]);
            }
            Some(ns)
        }

        fn ip(&self, args: &[&str]) {
            let st = Command::new("ip")
                .arg("-n")
                .arg(&self.name)
                .args(args)
                .status()
                .unwrap();
            assert!(st.success(), "ip {args:?} failed");
        }

        fn nft(&self, script: &str) {
            let st = Command::new("ip")
                .args(["netns", "exec", &self.name, "nft", script])
                .status()
                .unwrap();
            assert!(st.success(), "nft {script} failed");
        }

        fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
            netns::run_in(&self.file, f).expect("test body failed inside the namespace")
        }
    }

    impl Drop for Ns {
        fn drop(&mut self) {
            let _ = netns::delete(&self.name);
        }
    }

    fn random(len: usize, seed: u64) -> Vec<u8> {
        let mut v = vec![0; len];
        rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut v);
        v
    }

    fn sha(b: &[u8]) -> [u8; 32] {
        Sha256::digest(b).into()
    }

    /// A connected pair: (client, server side), the listener's socket having
    /// a receive buffer of `rcvbuf` bytes (forced) if given.
    fn pair(rcvbuf: Option<usize>) -> (TcpStream, TcpStream) {
        let l = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None).unwrap();
        l.set_reuse_address(true).unwrap();
        if let Some(n) = rcvbuf {
            set_int(
                l.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_RCVBUFFORCE,
                n as libc::c_int,
                "rcvbuf",
            )
            .unwrap();
        }
        l.bind(&SocketAddr::from((SERVER, PORT)).into()).unwrap();
        l.listen(4).unwrap();
        let listener: TcpListener = l.into();
        let c = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None).unwrap();
        c.bind(&SocketAddr::from((CLIENT, 0)).into()).unwrap();
        c.connect(&SocketAddr::from((SERVER, PORT)).into()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let client: TcpStream = c.into();
        for s in [&client, &server] {
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
        }
        (client, server)
    }

    fn wait_inq(s: &TcpStream, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = ioctl_len(s.as_raw_fd(), SIOCINQ, "inq").unwrap();
            if got == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "receive queue holds {got}, not {n}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Writes without blocking until `data` is all queued or the buffer is
    /// full; returns how much was taken.
    fn write_nonblocking(s: &TcpStream, data: &[u8]) -> usize {
        s.set_nonblocking(true).unwrap();
        let mut off = 0;
        let mut w = s;
        while off < data.len() {
            match w.write(&data[off..]) {
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("write: {e}"),
            }
        }
        s.set_nonblocking(false).unwrap();
        off
    }

    #[test]
    fn handoff_round_trip_is_byte_exact() {
        let Some(ns) = Ns::new("rt") else {
            return;
        };
        ns.run(|| {
            let (client, server) = pair(Some(4 << 20));
            let c2s = random(300_000, 1);
            let s2c_all = random(4 << 20, 2);
            let mut cw = client.try_clone().unwrap();
            let c2s_w = c2s.clone();
            let writer = std::thread::spawn(move || cw.write_all(&c2s_w));
            wait_inq(&server, c2s.len());
            writer.join().unwrap().unwrap();

            // The flow lock of a real handoff, and a way to leave
            // sent-but-unacked bytes: nothing from the client reaches the
            // server side until the restored socket is ready.
            let cport = client.local_addr().unwrap().port();
            ns.nft(&format!(
                "add table ip6 repair_t; add chain ip6 repair_t in {{ type filter hook input priority 0; }}; \
                 add rule ip6 repair_t in tcp sport {cport} tcp dport {PORT} drop"
            ));
            set_int(server.as_raw_fd(), libc::SOL_SOCKET, SO_SNDBUFFORCE, 8 << 20, "sndbuf").unwrap();
            let n = write_nonblocking(&server, &s2c_all);
            let s2c = &s2c_all[..n];
            std::thread::sleep(Duration::from_millis(300));

            let mss_before = tcp_info(server.as_raw_fd()).unwrap().tcpi_snd_mss;
            freeze(server.as_fd()).unwrap();
            let state = dump(server.as_fd()).unwrap();
            let sent = state.send_queue.len() - state.unsent as usize;
            println!(
                "written {n}, send queue {} (sent-unacked {sent}, unsent {}), recv queue {}",
                state.send_queue.len(),
                state.unsent,
                state.recv_queue.len()
            );
            assert!(state.unsent > 0, "no unsent bytes");
            assert!(sent > 0, "no sent-but-unacked bytes");
            assert_eq!(state.recv_queue, c2s, "receive queue is not what the client sent");
            assert_eq!(state.send_queue, s2c[n - state.send_queue.len()..]);
            assert!(state.timestamps, "timestamps were not negotiated");
            assert_eq!(state.local, SocketAddrV6::new(SERVER, PORT, 0, 0));
            assert_eq!(state.peer, SocketAddrV6::new(CLIENT, cport, 0, 0));
            let wire = state.to_bytes();
            let state = TcpState::from_bytes(&wire).unwrap();

            close_silently(OwnedFd::from(server)).unwrap();
            let restored = restore(&state).unwrap();
            ns.nft("delete table ip6 repair_t");

            // The client reads everything while thaw writes the unsent part.
            let more = random(100_000, 3);
            let more_w = more.clone();
            let want = sha(s2c);
            let mut c = client;
            let reader = std::thread::spawn(move || -> io::Result<()> {
                let mut got = vec![0; n];
                c.read_exact(&mut got)?;
                assert_eq!(sha(&got), want, "client read other bytes than the server wrote");
                c.write_all(&more_w)?;
                c.shutdown(std::net::Shutdown::Write)?;
                // Nothing more until the server's deliberate shutdown.
                let mut rest = Vec::new();
                c.read_to_end(&mut rest)?;
                assert!(rest.is_empty(), "{} unexpected bytes", rest.len());
                Ok(())
            });
            let live = restored.thaw().unwrap();
            let info = tcp_info(live.as_raw_fd()).unwrap();
            assert_eq!(info.tcpi_state, TCP_STATE_ESTABLISHED);
            assert!(info.tcpi_options & TCPI_OPT_TIMESTAMPS != 0, "timestamps lost");
            // Segments as large as before (not sized for the IPv6 minimum
            // MTU), up to the largest MSS a socket option can set.
            let want = mss_before.min(32767 - 12);
            assert!(
                info.tcpi_snd_mss >= want,
                "segment size {} after the handoff, {mss_before} before",
                info.tcpi_snd_mss
            );
            let ts: u32 = get_opt(live.as_raw_fd(), libc::SOL_TCP, libc::TCP_TIMESTAMP, 0, "ts").unwrap();
            let ahead = ts.wrapping_sub(state.ts_val);
            println!("timestamp clock moved {ahead} across the handoff");
            assert!(ahead < 60_000_000, "timestamp clock jumped: {} -> {ts}", state.ts_val);

            let mut live = TcpStream::from(live);
            live.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut got = Vec::new();
            live.read_to_end(&mut got).unwrap();
            let mut expect = c2s.clone();
            expect.extend_from_slice(&more);
            assert_eq!(got.len(), expect.len());
            assert_eq!(sha(&got), sha(&expect), "server read other bytes than the client wrote");
            live.shutdown(std::net::Shutdown::Write).unwrap();
            reader.join().unwrap().expect("client side failed (RST or early FIN?)");
        });
    }

    #[test]
    fn unfreeze_after_dump_keeps_the_connection() {
        let Some(ns) = Ns::new("unfreeze") else {
            return;
        };
        ns.run(|| {
            let (client, server) = pair(None);
            let c2s = random(50_000, 4);
            (&client).write_all(&c2s).unwrap();
            wait_inq(&server, c2s.len());
            let s2c_all = random(1 << 20, 5);
            let n = write_nonblocking(&server, &s2c_all);

            freeze(server.as_fd()).unwrap();
            let state = dump(server.as_fd()).unwrap();
            assert_eq!(state.recv_queue, c2s);
            unfreeze(server.as_fd()).unwrap();
            assert!(matches!(dump(server.as_fd()), Err(RepairError::NotFrozen)));

            let s2c_more = random(200_000, 6);
            let c2s_more = random(10_000, 7);
            let (want_c, more_c) = (sha(&[&s2c_all[..n], &s2c_more].concat()), c2s_more.clone());
            let total = n + s2c_more.len();
            let mut c = client;
            let reader = std::thread::spawn(move || -> io::Result<()> {
                let mut got = vec![0; total];
                c.read_exact(&mut got)?;
                assert_eq!(sha(&got), want_c);
                c.write_all(&more_c)?;
                Ok(())
            });
            let mut s = server;
            s.write_all(&s2c_more).unwrap();
            let mut got = vec![0; c2s.len() + c2s_more.len()];
            s.read_exact(&mut got).unwrap();
            assert_eq!(sha(&got), sha(&[c2s, c2s_more].concat()));
            reader.join().unwrap().unwrap();
        });
    }

    #[test]
    fn quiet_disconnect_wakes_the_reader_and_tells_the_peer_nothing() {
        let Some(ns) = Ns::new("quiet") else {
            return;
        };
        ns.run(|| {
            let (client, server) = pair(None);
            let server = std::sync::Arc::new(server);
            let blocked = std::sync::Arc::clone(&server);
            let reader = std::thread::spawn(move || (&*blocked).read(&mut [0u8; 16]));
            std::thread::sleep(Duration::from_millis(100));
            assert!(matches!(
                disconnect_quietly(client.as_fd()),
                Err(RepairError::NotFrozen)
            ));
            freeze(server.as_fd()).unwrap();
            disconnect_quietly(server.as_fd()).unwrap();
            let woken = reader.join().unwrap();
            assert!(
                woken.is_err() || woken.as_ref().is_ok_and(|n| *n == 0),
                "{woken:?}"
            );
            drop(server);
            // No FIN, no RST: the client's read just times out.
            client
                .set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let e = (&client).read(&mut [0u8; 16]).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e}");
        });
    }

    #[test]
    fn misuse_is_refused() {
        let Some(ns) = Ns::new("misuse") else {
            return;
        };
        ns.run(|| {
            let (client, server) = pair(None);
            assert!(matches!(dump(server.as_fd()), Err(RepairError::NotFrozen)));
            let fd = match close_silently(OwnedFd::from(server)) {
                Err(RepairError::CloseRefused { fd, cause }) => {
                    assert!(matches!(*cause, RepairError::NotFrozen));
                    fd
                }
                other => panic!("close_silently on a live socket: {other:?}"),
            };
            // Handed back open: the connection still works.
            let mut s = TcpStream::from(fd);
            s.write_all(b"still here").unwrap();
            let mut buf = [0; 10];
            (&client).read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"still here");
            // The listener's socket is not a connection.
            let l = TcpListener::bind(SocketAddr::from((SERVER, PORT + 1))).unwrap();
            freeze(l.as_fd()).expect_err("a listener cannot be frozen");
        });
    }

    #[test]
    fn state_without_payload_is_small() {
        let Some(ns) = Ns::new("size") else {
            return;
        };
        let state = ns.run(|| {
            let (_client, server) = pair(None);
            freeze(server.as_fd()).unwrap();
            let state = dump(server.as_fd()).unwrap();
            unfreeze(server.as_fd()).unwrap();
            state
        });
        assert!(state.send_queue.is_empty() && state.recv_queue.is_empty());
        let len = state.to_bytes().len();
        println!("serialised TCP state without payload: {len} bytes ({state:?})");
        assert!(len <= 128, "{len} bytes");
        // The worst case of every varint stays under the bound as well.
        let worst = TcpState {
            local: SocketAddrV6::new(Ipv6Addr::from([0xff; 16]), u16::MAX, 0, 0),
            peer: SocketAddrV6::new(Ipv6Addr::from([0xff; 16]), u16::MAX, 0, 0),
            snd_una: u32::MAX,
            rcv_nxt: u32::MAX,
            window: RepairWindow {
                snd_wl1: u32::MAX,
                snd_wnd: u32::MAX,
                max_window: u32::MAX,
                rcv_wnd: u32::MAX,
                rcv_wup: u32::MAX,
            },
            mss: u16::MAX,
            snd_wscale: 14,
            rcv_wscale: 14,
            sack: true,
            timestamps: true,
            ts_val: u32::MAX,
            send_queue: vec![],
            unsent: 0,
            recv_queue: vec![],
        };
        let worst_len = worst.to_bytes().len();
        println!("worst case without payload: {worst_len} bytes");
        assert!(worst_len <= 128);
        assert_eq!(TcpState::from_bytes(&worst.to_bytes()).unwrap(), worst);
    }

    fn sample() -> TcpState {
        TcpState {
            local: SocketAddrV6::new(SERVER, PORT, 0, 0),
            peer: SocketAddrV6::new(CLIENT, 40000, 0, 0),
            snd_una: 1,
            rcv_nxt: 2,
            window: RepairWindow::default(),
            mss: 1388,
            snd_wscale: 7,
            rcv_wscale: 7,
            sack: true,
            timestamps: true,
            ts_val: 12345,
            send_queue: b"hello world".to_vec(),
            unsent: 5,
            recv_queue: b"abc".to_vec(),
        }
    }

    #[test]
    fn malformed_states_are_errors() {
        let good = sample().to_bytes();
        assert_eq!(TcpState::from_bytes(&good).unwrap(), sample());
        for cut in 0..good.len() {
            assert!(
                TcpState::from_bytes(&good[..cut]).is_err(),
                "a state cut to {cut} bytes decoded"
            );
        }
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(
            TcpState::from_bytes(&long),
            Err(RepairError::Malformed(_))
        ));
        let mut bad = sample();
        bad.unsent = 12;
        assert!(TcpState::from_bytes(&bad.to_bytes()).is_err());
        assert!(restore(&bad).is_err());
        let mut bad = sample();
        bad.rcv_wscale = 15;
        assert!(TcpState::from_bytes(&bad.to_bytes()).is_err());
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            if let Ok(s) = TcpState::from_bytes(&b) {
                proptest::prop_assert!(s.unsent as usize <= s.send_queue.len());
                proptest::prop_assert_eq!(TcpState::from_bytes(&s.to_bytes()).ok(), Some(s));
            }
        }

        #[test]
        fn mutated_states_never_panic(i in 0usize..64, v in proptest::num::u8::ANY) {
            let mut b = sample().to_bytes();
            let i = i % b.len();
            b[i] = v;
            let _ = TcpState::from_bytes(&b);
        }
    }
}
