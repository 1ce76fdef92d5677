//! [`SocketHandle`]: one client connection, until closed.

use std::io::{self, Read, Write};
use std::net::{Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, PoisonError};

use gecko::framework::GeckoFramework;
use gecko::socket::GeckoSocket;
use gecko::tcp::stream_offsets::StreamOffsets;

use super::Closable;
use crate::error::{BridgeError, ErrorKind};
use crate::timeout::Timeout;

/// A connection and what it needs, shared by the calls in flight.
#[derive(Clone)]
struct Conn {
    socket: Arc<GeckoSocket>,
    /// The framework whose runtime serves the connection (None for a plain
    /// outgoing connection): kept alive until the socket closes.
    _runtime: Option<Arc<GeckoFramework>>,
}

/// A connection served by this node (or a plain outgoing one): reads,
/// writes, timeouts, handoff. Used after [`close`](Self::close), every
/// call fails with `Closed` and `EBADF`.
pub struct SocketHandle {
    conn: Closable<Conn>,
    timeout: Mutex<Timeout>,
    handed_in: bool,
    recovered: Option<StreamOffsets>,
}

impl std::fmt::Debug for SocketHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketHandle")
            .field("socket", &self.conn.get().map(|c| c.socket))
            .finish()
    }
}

impl SocketHandle {
    /// A connection a server socket of `framework` accepted.
    pub(crate) fn served(socket: GeckoSocket, framework: Arc<GeckoFramework>) -> SocketHandle {
        SocketHandle::of(socket, Some(framework))
    }

    /// A plain outgoing connection from this host (the distributed server
    /// does not serve it: it cannot be handed off).
    pub fn connect(addr: SocketAddr) -> Result<SocketHandle, BridgeError> {
        Ok(SocketHandle::of(GeckoSocket::connect(addr)?, None))
    }

    fn of(socket: GeckoSocket, runtime: Option<Arc<GeckoFramework>>) -> SocketHandle {
        SocketHandle {
            handed_in: socket.handed_in(),
            recovered: socket.recovered(),
            conn: Closable::new(Conn {
                socket: Arc::new(socket),
                _runtime: runtime,
            }),
            timeout: Mutex::new(Timeout::Blocking),
        }
    }

    fn socket(&self) -> Result<Arc<GeckoSocket>, BridgeError> {
        self.conn
            .get()
            .map(|c| c.socket)
            .ok_or_else(BridgeError::closed_socket)
    }

    /// Up to `buf.len()` bytes; 0 once the client closed. Fails with
    /// `Timeout` after the socket's timeout, `Interrupted` on a signal.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, BridgeError> {
        let socket = self.socket()?;
        let r = (&*socket).read(buf);
        r.map_err(|e| self.io_error(&socket, e))
    }

    /// Writes some of `buf`; returns how much (as [`Self::read`] fails).
    pub fn write(&self, buf: &[u8]) -> Result<usize, BridgeError> {
        let socket = self.socket()?;
        let r = (&*socket).write(buf);
        r.map_err(|e| self.io_error(&socket, e))
    }

    /// A would-block of a socket with a timeout is that timeout's end; a
    /// failure of a connection served elsewhere now is `Moved`.
    fn io_error(&self, socket: &GeckoSocket, e: io::Error) -> BridgeError {
        if e.kind() == io::ErrorKind::NotConnected && socket.is_moved() {
            return BridgeError::new(ErrorKind::Moved, e.to_string());
        }
        let timed = matches!(self.timeout(), Timeout::After(_));
        if timed
            && matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            )
        {
            return BridgeError::timed_out();
        }
        e.into()
    }

    /// Sets how long reads and writes wait.
    pub fn set_timeout(&self, timeout: Timeout) -> Result<(), BridgeError> {
        self.apply_timeout(timeout, true)
    }

    /// Sets how long reads wait, and the blocking mode of both reads and
    /// writes; blocking writes wait for ever (Java's `setSoTimeout`).
    pub fn set_read_timeout(&self, timeout: Timeout) -> Result<(), BridgeError> {
        self.apply_timeout(timeout, false)
    }

    /// The one place that sets the descriptor's blocking mode and
    /// timeouts; writes get the read timeout if `writes_too`.
    fn apply_timeout(&self, timeout: Timeout, writes_too: bool) -> Result<(), BridgeError> {
        let socket = self.socket()?;
        let per_call = match timeout {
            Timeout::After(d) => Some(d),
            Timeout::Blocking | Timeout::NonBlocking => None,
        };
        socket.set_nonblocking(timeout == Timeout::NonBlocking)?;
        socket.set_read_timeout(per_call)?;
        socket.set_write_timeout(per_call.filter(|_| writes_too))?;
        *self.timeout.lock().unwrap_or_else(PoisonError::into_inner) = timeout;
        Ok(())
    }

    /// The timeout [`Self::set_timeout`] set (also after close).
    pub fn timeout(&self) -> Timeout {
        *self.timeout.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands the connection to `target` or to the policy's choice (see
    /// `GeckoSocket::handoff`): true once served there.
    pub fn handoff(
        &self,
        target: Option<Ipv6Addr>,
        nonblocking: bool,
    ) -> Result<bool, BridgeError> {
        let socket = self.socket()?;
        let moved = match target {
            Some(t) => socket.handoff_to(t, nonblocking),
            None => socket.handoff(nonblocking),
        };
        Ok(moved?)
    }

    /// Bytes written into and read from the connection since it opened,
    /// on whichever nodes served it.
    pub fn position(&self) -> Result<StreamOffsets, BridgeError> {
        Ok(self.socket()?.position()?)
    }

    /// For a connection recovered after its node crashed: where to resume.
    pub fn recovered(&self) -> Option<StreamOffsets> {
        self.recovered
    }

    /// True when the connection came from another node by a handoff.
    pub fn handed_in(&self) -> bool {
        self.handed_in
    }

    /// True once another node serves the connection.
    pub fn is_moved(&self) -> Result<bool, BridgeError> {
        Ok(self.socket()?.is_moved())
    }

    /// The client's address.
    pub fn peer_addr(&self) -> Result<SocketAddr, BridgeError> {
        Ok(self.socket()?.peer_addr()?)
    }

    /// G and the port.
    pub fn local_addr(&self) -> Result<SocketAddr, BridgeError> {
        Ok(self.socket()?.local_addr()?)
    }

    /// The descriptor for a language's event loop (None once closed). Read
    /// and write through the handle: a handoff replaces what it refers to.
    pub fn raw_fd(&self) -> Option<RawFd> {
        self.conn.get().map(|c| c.socket.as_raw_fd())
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }

    /// Closes the connection (a FIN to the client unless it was handed
    /// off); again, nothing happens. Reads and writes blocked in other
    /// threads end (a read sees the end of the stream, a write fails), as
    /// Java's and C++'s `close` from another thread ends them; the
    /// descriptor is closed once those calls return. Waits for a handoff in
    /// flight.
    pub fn close(&self) {
        if let Some(conn) = self.conn.take() {
            if Arc::strong_count(&conn.socket) > 1 {
                conn.socket.shutdown();
            }
        }
    }

    /// Closes the connection with a reset (for a recovered connection the
    /// application cannot resume).
    pub fn reset(&self) -> Result<(), BridgeError> {
        let conn = self.conn.take().ok_or_else(BridgeError::closed_socket)?;
        conn.socket.arm_reset();
        drop(conn);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    use super::*;

    /// A handle on one end of a loopback connection and the other end.
    fn pair() -> (SocketHandle, std::net::TcpStream) {
        let listener = TcpListener::bind("[::1]:0")
            .or_else(|_| TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let handle = SocketHandle::connect(listener.local_addr().unwrap()).unwrap();
        let (peer, _) = listener.accept().unwrap();
        (handle, peer)
    }

    #[test]
    fn reads_writes_and_timeouts_go_through_the_handle() {
        let (s, mut peer) = pair();
        assert_eq!(s.write(b"ping").unwrap(), 4);
        let mut buf = [0u8; 4];
        peer.read_exact(&mut buf).unwrap();
        peer.write_all(b"pong").unwrap();
        assert_eq!(s.read(&mut buf).unwrap(), 4);
        assert_eq!(&buf, b"pong");

        s.set_timeout(Timeout::After(Duration::from_millis(50)))
            .unwrap();
        let start = Instant::now();
        let e = s.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(start.elapsed() >= Duration::from_millis(40));

        s.set_timeout(Timeout::NonBlocking).unwrap();
        let e = s.read(&mut buf).unwrap_err();
        assert_eq!((e.kind(), e.errno()), (ErrorKind::Io, Some(libc::EAGAIN)));
        assert_eq!(s.timeout(), Timeout::NonBlocking);

        // A plain connection cannot move.
        let e = s.handoff(None, false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Usage);
        assert!(!s.is_moved().unwrap() && !s.handed_in() && s.recovered().is_none());
    }

    #[test]
    fn use_after_close_is_closed_with_ebadf_and_close_is_idempotent() {
        let (s, mut peer) = pair();
        assert!(s.raw_fd().is_some());
        s.close();
        s.close();
        assert!(s.is_closed() && s.raw_fd().is_none());
        let mut buf = [0u8; 1];
        assert_eq!(peer.read(&mut buf).unwrap(), 0, "the client sees the end");
        let errors = [
            s.read(&mut buf).unwrap_err(),
            s.write(b"x").unwrap_err(),
            s.handoff(None, false).unwrap_err(),
            s.position().unwrap_err(),
            s.is_moved().unwrap_err(),
            s.peer_addr().unwrap_err(),
            s.local_addr().unwrap_err(),
            s.set_timeout(Timeout::Blocking).unwrap_err(),
            s.reset().unwrap_err(),
        ];
        for e in errors {
            assert_eq!(
                (e.kind(), e.errno()),
                (ErrorKind::Closed, Some(libc::EBADF))
            );
        }
    }

    #[test]
    fn close_from_another_thread_ends_a_blocked_read_and_a_blocked_write() {
        let (s, mut peer) = pair();
        let s = Arc::new(s);
        let reader = {
            let s = Arc::clone(&s);
            std::thread::spawn(move || s.read(&mut [0u8; 16]))
        };
        let writer = {
            let s = Arc::clone(&s);
            // The peer never reads: the writes fill both buffers, then block.
            std::thread::spawn(move || loop {
                if let Err(e) = s.write(&[7u8; 1 << 16]) {
                    return e;
                }
            })
        };
        std::thread::sleep(Duration::from_millis(300));
        assert!(!reader.is_finished() && !writer.is_finished());
        s.close();
        assert_eq!(reader.join().unwrap().unwrap(), 0, "the read sees the end");
        let e = writer.join().unwrap();
        // The blocked write fails, or ends short and the next finds it closed.
        assert!(matches!(e.kind(), ErrorKind::Io | ErrorKind::Closed), "{e}");
        assert!(s.is_closed());
        // The client sees the end of the stream after the bytes written.
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut sink = Vec::new();
        peer.read_to_end(&mut sink).unwrap();
        assert!(sink.iter().all(|&b| b == 7));
    }

    #[test]
    fn a_read_timeout_leaves_writes_blocking() {
        let (s, _peer) = pair();
        s.set_read_timeout(Timeout::After(Duration::from_millis(50)))
            .unwrap();
        let e = s.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        let timeout = |opt| {
            let mut tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            };
            let mut len = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
            // SAFETY: `tv` and `len` are valid for writing, `len` is
            // `tv`'s size, and the descriptor is open while `s` is.
            let rc = unsafe {
                libc::getsockopt(
                    s.raw_fd().unwrap(),
                    libc::SOL_SOCKET,
                    opt,
                    (&raw mut tv).cast(),
                    &mut len,
                )
            };
            assert_eq!(rc, 0);
            Duration::from_micros(tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64)
        };
        // The kernel keeps timeouts in jiffies: 50 ms may read back longer.
        let about_50ms = |d: Duration| (50..70).contains(&d.as_millis());
        assert!(about_50ms(timeout(libc::SO_RCVTIMEO)));
        assert_eq!(timeout(libc::SO_SNDTIMEO), Duration::ZERO);
        s.set_timeout(Timeout::After(Duration::from_millis(50)))
            .unwrap();
        assert!(about_50ms(timeout(libc::SO_SNDTIMEO)));
    }

    #[test]
    fn a_reset_closes_with_a_reset() {
        let (s, mut peer) = pair();
        s.reset().unwrap();
        assert!(s.is_closed());
        let mut buf = [0u8; 1];
        let e = peer.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
    }

    #[test]
    fn handles_are_send_and_sync() {
        fn both<T: Send + Sync>() {}
        both::<SocketHandle>();
        both::<super::super::ServerSocketHandle>();
        both::<super::super::FrameworkHandle>();
    }
}
