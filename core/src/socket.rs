//! The seed's `GeckoServerSocket` and `GeckoSocket` (section 4.2): a
//! server socket that returns only the connections this node should
//! serve, and a connection that can be handed to another node while the
//! client keeps reading and writing.

use std::io::{self, Read, Write};
use std::net::{Ipv6Addr, Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::framework_core::{Core, GeckoError};
use crate::node::Arrival;
use crate::tcp::stream_offsets::{StreamBase, StreamOffsets};

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Served by this node.
    Serving,
    /// Frozen while a handoff runs.
    HandingOff,
    /// Served by another node now.
    Moved,
}

#[derive(Debug)]
struct PhaseCell {
    phase: Mutex<Phase>,
    changed: Condvar,
}

impl PhaseCell {
    fn get(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, p: Phase) {
        *self.phase.lock().unwrap_or_else(PoisonError::into_inner) = p;
        self.changed.notify_all();
    }

    /// Waits while a handoff runs; returns the phase after it.
    fn settled(&self) -> Phase {
        let mut p = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        while *p == Phase::HandingOff {
            p = self.changed.wait(p).unwrap_or_else(PoisonError::into_inner);
        }
        *p
    }
}

/// Sets the phase it holds when dropped.
struct Settle(Arc<PhaseCell>, Phase);

impl Drop for Settle {
    fn drop(&mut self) {
        self.0.set(self.1);
    }
}

fn moved() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the connection was handed off to another node",
    )
}

/// The seed's `GeckoSocket`: one client connection served by this node.
/// Implements [`Read`] and [`Write`], also on `&GeckoSocket` (like
/// `TcpStream`: one thread may read while another writes); reads and writes made while a
/// non-blocking handoff runs wait for it (or return `WouldBlock` in
/// non-blocking mode), and fail with `NotConnected` once the connection
/// is served elsewhere.
pub struct GeckoSocket {
    stream: Arc<TcpStream>,
    phase: Arc<PhaseCell>,
    core: Option<Arc<Core>>,
    handed_in: bool,
    recovered: Option<StreamOffsets>,
    base: StreamBase,
    nonblocking: AtomicBool,
    /// Counted in `gecko_connections_open` until moved or closed.
    counted: AtomicBool,
}

impl std::fmt::Debug for GeckoSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeckoSocket")
            .field("peer", &self.stream.peer_addr().ok())
            .field("phase", &self.phase.get())
            .field("handed_in", &self.handed_in)
            .field("recovered", &self.recovered)
            .finish()
    }
}

impl GeckoSocket {
    pub(crate) fn served(core: Arc<Core>, arrival: Arrival) -> GeckoSocket {
        core.opened();
        GeckoSocket {
            stream: arrival.stream,
            phase: Arc::new(PhaseCell {
                phase: Mutex::new(Phase::Serving),
                changed: Condvar::new(),
            }),
            core: Some(core),
            handed_in: arrival.handed_in,
            recovered: arrival.recovered,
            base: arrival.base,
            nonblocking: AtomicBool::new(false),
            counted: AtomicBool::new(true),
        }
    }

    /// `Socket.connect`: a plain outgoing connection from this host (not
    /// served by the distributed server: it cannot be handed off).
    pub fn connect(addr: SocketAddr) -> Result<GeckoSocket, GeckoError> {
        let stream = TcpStream::connect(addr).map_err(GeckoError::io("connecting"))?;
        Ok(Self::client(stream))
    }

    /// `Socket.bind` then `connect`: an outgoing connection from `local`.
    pub fn bind_connect(local: SocketAddr, addr: SocketAddr) -> Result<GeckoSocket, GeckoError> {
        let domain = socket2::Domain::for_address(addr);
        let s = socket2::Socket::new(domain, socket2::Type::STREAM, None)
            .map_err(GeckoError::io("creating a socket"))?;
        s.bind(&local.into()).map_err(GeckoError::io("binding"))?;
        s.connect(&addr.into())
            .map_err(GeckoError::io("connecting"))?;
        Ok(Self::client(s.into()))
    }

    fn client(stream: TcpStream) -> GeckoSocket {
        GeckoSocket {
            stream: Arc::new(stream),
            phase: Arc::new(PhaseCell {
                phase: Mutex::new(Phase::Serving),
                changed: Condvar::new(),
            }),
            core: None,
            handed_in: false,
            recovered: None,
            base: StreamBase::default(),
            nonblocking: AtomicBool::new(false),
            counted: AtomicBool::new(false),
        }
    }

    /// True when this connection came from another node by a handoff.
    pub fn handed_in(&self) -> bool {
        self.handed_in
    }

    /// Set when this connection was recovered after the node that served
    /// it crashed: the bytes it had carried each way since it opened. The
    /// application resumes its stream at these offsets (the client has
    /// acknowledged `sent` bytes and sent `received`), or calls
    /// [`Self::reset`].
    pub fn recovered(&self) -> Option<StreamOffsets> {
        self.recovered
    }

    /// The application's position in the connection: bytes written into
    /// it and bytes read from it since it opened, whichever nodes served
    /// it (a connection handed in resumes where the last node left it).
    pub fn position(&self) -> Result<StreamOffsets, GeckoError> {
        if self.phase.settled() == Phase::Moved {
            return Err(GeckoError::Moved);
        }
        self.base
            .position(self.stream.as_fd())
            .map_err(GeckoError::io("reading the connection's counters"))
    }

    /// Closes the connection with a reset (the client's read fails at once
    /// instead of seeing the end of a stream): for a recovered connection
    /// the application cannot resume.
    pub fn reset(self) {
        self.arm_reset();
        drop(self)
    }

    /// Makes the connection's close a reset (`SO_LINGER` 0): for owners
    /// that share the socket and close it when the last user lets go.
    pub fn arm_reset(&self) {
        if let Err(e) = crate::sockopt::set_reset_on_close(self.stream.as_fd()) {
            tracing::warn!(error = %e, "cannot arm a reset; closing");
        }
    }

    /// True once the connection is served by another node.
    pub fn is_moved(&self) -> bool {
        self.phase.get() == Phase::Moved
    }

    /// `getpeername`: the client's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    /// The local address (G and the service port).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// Blocking (the default) or non-blocking reads and writes.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.stream.set_nonblocking(nonblocking)?;
        self.nonblocking.store(nonblocking, Ordering::Relaxed);
        Ok(())
    }

    /// Write timeout for blocking writes.
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.stream.set_write_timeout(t)
    }

    /// Read timeout for blocking reads.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(t)
    }

    /// Ends the connection while other threads may still hold the socket:
    /// their blocked reads see the end of the stream and their writes fail,
    /// as a `close` from another thread does in Java or C++. A FIN to the
    /// client, as [`close`](Self::close) sends; nothing once the connection
    /// moved. Waits for a handoff in flight, and holds the phase meanwhile
    /// so that none starts on a connection being closed.
    pub fn shutdown(&self) {
        let phase = self
            .phase
            .phase
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let phase = self
            .phase
            .changed
            .wait_while(phase, |p| *p == Phase::HandingOff)
            .unwrap_or_else(PoisonError::into_inner);
        if *phase == Phase::Serving {
            // Its FIN is the application's: past the node fence.
            crate::dataplane::node_fence::mark_closing(self.stream.as_fd());
            if let Err(e) = self.stream.shutdown(Shutdown::Both) {
                tracing::debug!(error = %e, "shutdown of a closing connection");
            }
        }
    }

    /// Closes the connection (a FIN to the client, unless it was handed
    /// off: then nothing is sent).
    pub fn close(self) {
        drop(self)
    }

    /// `handoff`: hands the connection to the node the policy selects.
    /// Blocking: returns once the connection is served there (`Ok(true)`)
    /// or stayed here (`Ok(false)`: the policy kept it, or every handoff
    /// failed; the policy was told). Non-blocking: returns at once with
    /// `Ok(true)`; a failed attempt retries with the policy's next choice.
    pub fn handoff(&self, nonblocking: bool) -> Result<bool, GeckoError> {
        self.start_handoff(None, nonblocking)
    }

    /// `handoff(target)`: hands the connection to node `target`. A
    /// failure leaves the connection here and is returned (blocking) or
    /// logged (non-blocking); the policy is told in both cases.
    pub fn handoff_to(&self, target: Ipv6Addr, nonblocking: bool) -> Result<bool, GeckoError> {
        self.start_handoff(Some(target), nonblocking)
    }

    fn start_handoff(
        &self,
        target: Option<Ipv6Addr>,
        nonblocking: bool,
    ) -> Result<bool, GeckoError> {
        let core = self.core.clone().ok_or(GeckoError::NotServed)?;
        {
            let mut p = self
                .phase
                .phase
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match *p {
                Phase::Serving => *p = Phase::HandingOff,
                Phase::HandingOff => return Err(GeckoError::Busy),
                Phase::Moved => return Err(GeckoError::Moved),
            }
        }
        let stream = self.stream.clone();
        // Settles the phase however the job ends, even dropped unpolled
        // (the framework stopping): nothing may wait on it for ever.
        let settle = Settle(self.phase.clone(), Phase::Serving);
        let job = {
            let core = core.clone();
            async move {
                let mut settle = settle;
                let result = core.place(stream.clone(), target).await;
                if let Ok(true) = result {
                    release(&stream);
                    settle.1 = Phase::Moved;
                }
                result
            }
        };
        if nonblocking {
            core.spawn(async move {
                if let Err(e) = job.await {
                    tracing::info!(error = %e, "non-blocking handoff failed");
                }
            });
            return Ok(true);
        }
        let moved = core
            .block_on(job)
            .inspect_err(|_| self.phase.set(Phase::Serving))??;
        if moved {
            self.uncount();
        }
        Ok(moved)
    }

    fn uncount(&self) {
        if self.counted.swap(false, Ordering::Relaxed) {
            if let Some(core) = &self.core {
                core.closed();
            }
        }
    }

    /// Runs `op` on the stream unless the connection is frozen or gone.
    fn io<T>(
        &self,
        mut op: impl FnMut(&TcpStream) -> io::Result<T>,
        eof: impl Fn(&T) -> bool,
    ) -> io::Result<T> {
        loop {
            let nonblocking = self.nonblocking.load(Ordering::Relaxed);
            let before = if nonblocking {
                match self.phase.get() {
                    Phase::HandingOff => return Err(io::ErrorKind::WouldBlock.into()),
                    p => p,
                }
            } else {
                self.phase.settled()
            };
            if before == Phase::Moved {
                self.uncount();
                return Err(moved());
            }
            let r = op(&self.stream);
            // A frozen socket refuses reads and writes (EINVAL), and a
            // departed one reads as ended: neither is the application's.
            match self.phase.get() {
                Phase::Serving => return r,
                Phase::Moved => {
                    if matches!(&r, Ok(v) if !eof(v)) {
                        return r;
                    }
                    self.uncount();
                    return Err(moved());
                }
                Phase::HandingOff => match r {
                    Ok(v) if !eof(&v) => return Ok(v),
                    _ if nonblocking => return Err(io::ErrorKind::WouldBlock.into()),
                    _ => continue,
                },
            }
        }
    }
}

/// After a successful handoff: wakes readers blocked on the frozen socket
/// and swaps the application's descriptor for an unconnected socket, so
/// the frozen one is closed (silently) as soon as nothing uses it.
fn release(stream: &TcpStream) {
    // Shutting the read side of a frozen socket sends nothing.
    let _ = stream.shutdown(Shutdown::Read);
    match socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None) {
        Ok(placeholder) => {
            // SAFETY: both descriptors are open; dup2 replaces the second
            // atomically and the stream keeps owning that number.
            unsafe { libc::dup2(placeholder.as_raw_fd(), stream.as_raw_fd()) };
        }
        Err(e) => tracing::warn!(error = %e, "cannot release a handed-off socket"),
    }
}

impl Read for &GeckoSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let empty = buf.is_empty();
        self.io(|mut s| s.read(buf), |n| *n == 0 && !empty)
    }
}

impl Write for &GeckoSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.io(|mut s| s.write(buf), |_| false)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for GeckoSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for GeckoSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for GeckoSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }
}

impl AsFd for GeckoSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

impl Drop for GeckoSocket {
    fn drop(&mut self) {
        // A handoff in flight uses the descriptor: let it end first.
        let phase = self.phase.settled();
        self.uncount();
        if phase == Phase::Serving {
            // Its FIN (or reset) is the application's: past the node fence.
            crate::dataplane::node_fence::mark_closing(self.stream.as_fd());
            if let (Some(core), Ok(SocketAddr::V6(peer)), Ok(SocketAddr::V6(local))) = (
                &self.core,
                self.stream.peer_addr(),
                self.stream.local_addr(),
            ) {
                core.forget_flow(crate::dataplane::FlowKey {
                    client: *peer.ip(),
                    client_port: peer.port(),
                    server: *local.ip(),
                    server_port: local.port(),
                });
            }
        }
    }
}

/// The seed's `GeckoServerSocket`: the connections this node serves on
/// one port, whether accepted here or handed in by another node.
pub struct GeckoServerSocket {
    core: Arc<Core>,
    port: u16,
    arrivals: tokio::sync::Mutex<mpsc::UnboundedReceiver<Arrival>>,
}

impl std::fmt::Debug for GeckoServerSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeckoServerSocket")
            .field("port", &self.port)
            .finish()
    }
}

impl GeckoServerSocket {
    pub(crate) fn new(
        core: Arc<Core>,
        port: u16,
        arrivals: mpsc::UnboundedReceiver<Arrival>,
    ) -> Self {
        GeckoServerSocket {
            core,
            port,
            arrivals: tokio::sync::Mutex::new(arrivals),
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `accept`: waits for the next connection this node serves. Not to be
    /// called from inside an async runtime (use [`Self::accept_async`]).
    pub fn accept(&self) -> Result<GeckoSocket, GeckoError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(GeckoError::InAsyncContext);
        }
        let arrival = self.arrivals.blocking_lock().blocking_recv();
        self.accepted(arrival)
    }

    /// Like [`Self::accept`], giving up after `timeout` (`Ok(None)`).
    pub fn accept_timeout(&self, timeout: Duration) -> Result<Option<GeckoSocket>, GeckoError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(GeckoError::InAsyncContext);
        }
        let waited = self.core.wait(async move {
            let mut rx = self.arrivals.lock().await;
            tokio::time::timeout(timeout, rx.recv()).await
        });
        match waited? {
            Ok(arrival) => self.accepted(arrival).map(Some),
            Err(_) => Ok(None),
        }
    }

    /// The async form of [`Self::accept`].
    pub async fn accept_async(&self) -> Result<GeckoSocket, GeckoError> {
        let arrival = self.arrivals.lock().await.recv().await;
        self.accepted(arrival)
    }

    fn accepted(&self, arrival: Option<Arrival>) -> Result<GeckoSocket, GeckoError> {
        let arrival = arrival.ok_or(GeckoError::Closed)?;
        self.core.count_accepted();
        Ok(GeckoSocket::served(self.core.clone(), arrival))
    }
}

impl Drop for GeckoServerSocket {
    fn drop(&mut self) {
        self.core.close_port(self.port);
    }
}
