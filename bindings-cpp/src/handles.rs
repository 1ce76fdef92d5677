//! The objects C++ owns (each a `Box` in a C++ object): a framework, a
//! server socket, a socket, over the bridge's handles. C++ may call them
//! from several threads; `close` from one ends the waits of the others.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use gecko_bridge::{
    BridgeError, ErrorKind, FrameworkHandle, ServerSocketHandle, SocketHandle, StreamOffsets,
    Timeout, WaitError,
};

use crate::address::{address, ipv6};
use crate::error::{guard, invalid, Failure};
use crate::ffi::{Address, MaybeOffsets, Offsets, SocketAddress};
use crate::live_count::Counted;
use crate::policy::Policy;

pub(crate) fn init_logging(filter: &str) -> Result<(), Failure> {
    let filter = (!filter.is_empty()).then_some(filter);
    gecko_bridge::logging::init(filter)
        .map_err(|e| Failure(BridgeError::new(ErrorKind::InvalidArgument, e.to_string())))
}

/// A running node.
#[derive(Debug)]
pub struct Framework {
    handle: FrameworkHandle,
    _count: Counted,
}

pub(crate) fn framework_new(
    local: &[u8],
    config: &str,
    interface: &str,
) -> Result<Box<Framework>, Failure> {
    guard(|| {
        let local = ipv6(local, "local address")?;
        // The core's events go to stderr unless the program chose first.
        let _ = gecko_bridge::logging::init(None);
        let handle = FrameworkHandle::new(local, Path::new(config), interface)?;
        Ok(Box::new(Framework {
            handle,
            _count: Counted::new(),
        }))
    })
}

impl Framework {
    pub(crate) fn local_address(&self) -> Result<Address, Failure> {
        Ok(address(self.handle.local_address()?))
    }

    pub(crate) fn global_address(&self) -> Result<Address, Failure> {
        Ok(address(self.handle.global_address()?))
    }

    pub(crate) fn service_port(&self) -> Result<u16, Failure> {
        Ok(self.handle.service_port()?)
    }

    pub(crate) fn set_policy(&self, policy: &Policy) -> Result<(), Failure> {
        Ok(self.handle.set_policy(policy.shared())?)
    }

    pub(crate) fn set_split_handoff(&self, split: bool) -> Result<(), Failure> {
        Ok(self.handle.set_split_handoff(split)?)
    }

    pub(crate) fn server_socket(&self, port: i32) -> Result<Box<ServerSocket>, Failure> {
        guard(|| {
            let port = match port {
                -1 => None,
                p => Some(
                    u16::try_from(p)
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| invalid(format!("port out of range: {p}")))?,
                ),
            };
            Ok(Box::new(ServerSocket {
                handle: self.handle.server_socket(port)?,
                _count: Counted::new(),
            }))
        })
    }

    pub(crate) fn join_replica_network(&self) -> Result<(), Failure> {
        guard(|| Ok(self.handle.join_replica_network()?))
    }

    pub(crate) fn leave_replica_network(&self) -> Result<(), Failure> {
        guard(|| Ok(self.handle.leave_replica_network()?))
    }

    pub(crate) fn close(&self) {
        self.handle.close();
    }
}

/// The connections of one port.
#[derive(Debug)]
pub struct ServerSocket {
    handle: ServerSocketHandle,
    _count: Counted,
}

impl ServerSocket {
    pub(crate) fn accept(&self, timeout_ms: i64) -> Result<Box<Socket>, Failure> {
        guard(|| {
            let timeout = match timeout_ms {
                -1 => Timeout::Blocking,
                ms if ms >= 0 => Timeout::After(Duration::from_millis(ms.unsigned_abs())),
                ms => return Err(invalid(format!("timeout can't be negative: {ms} ms"))),
            };
            match self
                .handle
                .accept(Some(timeout), || Ok::<(), std::convert::Infallible>(()))
            {
                Ok(socket) => Ok(Box::new(Socket::of(socket))),
                Err(WaitError::Failed(e)) => Err(e.into()),
                Err(WaitError::Stopped(never)) => match never {},
            }
        })
    }

    pub(crate) fn port(&self) -> u16 {
        self.handle.port()
    }

    pub(crate) fn close(&self) {
        self.handle.close();
    }
}

/// One connection.
#[derive(Debug)]
pub struct Socket {
    handle: SocketHandle,
    _count: Counted,
}

fn offsets(o: StreamOffsets) -> Offsets {
    Offsets {
        sent: o.sent,
        received: o.received,
    }
}

fn socket_address(a: SocketAddr) -> SocketAddress {
    match a {
        SocketAddr::V6(a) => SocketAddress {
            address: address(*a.ip()),
            port: a.port(),
            scope_id: a.scope_id(),
        },
        SocketAddr::V4(a) => SocketAddress {
            address: address(a.ip().to_ipv6_mapped()),
            port: a.port(),
            scope_id: 0,
        },
    }
}

impl Socket {
    pub(crate) fn of(handle: SocketHandle) -> Socket {
        Socket {
            handle,
            _count: Counted::new(),
        }
    }

    pub(crate) fn read(&self, buf: &mut [u8]) -> Result<usize, Failure> {
        Ok(self.handle.read(buf)?)
    }

    pub(crate) fn write(&self, buf: &[u8]) -> Result<usize, Failure> {
        Ok(self.handle.write(buf)?)
    }

    pub(crate) fn set_nonblocking(&self, nonblocking: bool) -> Result<(), Failure> {
        let t = if nonblocking {
            Timeout::NonBlocking
        } else {
            Timeout::Blocking
        };
        Ok(self.handle.set_timeout(t)?)
    }

    pub(crate) fn handoff(&self, target: &[u8], nonblocking: bool) -> Result<bool, Failure> {
        guard(|| {
            let target = if target.is_empty() {
                None
            } else {
                Some(ipv6(target, "target")?)
            };
            Ok(self.handle.handoff(target, nonblocking)?)
        })
    }

    pub(crate) fn peer(&self) -> Result<SocketAddress, Failure> {
        Ok(socket_address(self.handle.peer_addr()?))
    }

    pub(crate) fn local(&self) -> Result<SocketAddress, Failure> {
        Ok(socket_address(self.handle.local_addr()?))
    }

    pub(crate) fn position(&self) -> Result<Offsets, Failure> {
        Ok(offsets(self.handle.position()?))
    }

    pub(crate) fn recovered(&self) -> MaybeOffsets {
        match self.handle.recovered() {
            Some(o) => MaybeOffsets {
                some: true,
                offsets: offsets(o),
            },
            None => MaybeOffsets {
                some: false,
                offsets: Offsets {
                    sent: 0,
                    received: 0,
                },
            },
        }
    }

    pub(crate) fn handed_in(&self) -> bool {
        self.handle.handed_in()
    }

    pub(crate) fn is_moved(&self) -> Result<bool, Failure> {
        Ok(self.handle.is_moved()?)
    }

    pub(crate) fn fd(&self) -> i32 {
        self.handle.raw_fd().unwrap_or(-1)
    }

    pub(crate) fn close(&self) {
        self.handle.close();
    }

    pub(crate) fn reset(&self) -> Result<(), Failure> {
        Ok(self.handle.reset()?)
    }
}
