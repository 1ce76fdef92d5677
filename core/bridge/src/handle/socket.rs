//! [`SocketHandle`]: one client connection, until closed.

use std::io::{self, Read, Write};
use std::net::{Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, PoisonError};

use gecko::framework::GeckoFramework;
use gecko::socket::GeckoSocket;
use gecko::tcp::stream_offsets::StreamOffsets;

use super::Closable;
use crate::error::BridgeError;
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
        r.map_err(|e| self.io_error(e))
    }

    /// Writes some of `buf`; returns how much (as [`Self::read`] fails).
    pub fn write(&self, buf: &[u8]) -> Result<usize, BridgeError> {
        let socket = self.socket()?;
        let r = (&*socket).write(buf);
        r.map_err(|e| self.io_error(e))
    }

    /// A would-block of a socket with a timeout is that timeout's end.
    fn io_error(&self, e: io::Error) -> BridgeError {
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

    /// Sets how long reads and writes wait: the one place that sets the
    /// descriptor's blocking mode and both timeouts.
    pub fn set_timeout(&self, timeout: Timeout) -> Result<(), BridgeError> {
        let socket = self.socket()?;
        let per_call = match timeout {
            Timeout::After(d) => Some(d),
            Timeout::Blocking | Timeout::NonBlocking => None,
        };
        socket.set_nonblocking(timeout == Timeout::NonBlocking)?;
        socket.set_read_timeout(per_call)?;
        socket.set_write_timeout(per_call)?;
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
    /// off) once the calls in flight end; again, nothing happens. Waits for
    /// a handoff in flight.
    pub fn close(&self) {
        drop(self.conn.take());
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
    use crate::error::ErrorKind;

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
