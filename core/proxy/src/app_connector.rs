//! Connections from the proxy to its node's local application.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Why the local application could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum AppConnectError {
    /// Nothing listens on the application's port (it is down or restarting).
    #[error("the application at {addr} refused the connection")]
    Refused {
        /// Where the application should listen.
        addr: SocketAddr,
    },
    /// The application did not complete the handshake in time (its listen
    /// backlog is full, or it hangs).
    #[error("the application at {addr} did not answer within {timeout:?}")]
    TimedOut {
        /// Where the application should listen.
        addr: SocketAddr,
        /// How long the proxy waited.
        timeout: Duration,
    },
    /// Any other failure (out of descriptors, no route).
    #[error("connecting to the application at {addr}: {source}")]
    Io {
        /// Where the application should listen.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Opens connections to the application at one address.
#[derive(Debug, Clone)]
pub struct AppConnector {
    addr: SocketAddr,
    timeout: Duration,
}

impl AppConnector {
    /// Connects to `addr`, giving up after `timeout`.
    pub fn new(addr: SocketAddr, timeout: Duration) -> AppConnector {
        AppConnector { addr, timeout }
    }

    /// The application's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A new connection to the application: non-blocking, with Nagle's
    /// algorithm off (the relay passes on what arrives at once; short
    /// requests must not wait for an ACK on either hop).
    pub async fn connect(&self) -> Result<TcpStream, AppConnectError> {
        let addr = self.addr;
        let stream =
            match tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(addr)).await {
                Err(_) => {
                    return Err(AppConnectError::TimedOut {
                        addr,
                        timeout: self.timeout,
                    })
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    return Err(AppConnectError::Refused { addr })
                }
                Ok(Err(source)) => return Err(AppConnectError::Io { addr, source }),
                Ok(Ok(s)) => s,
            };
        let io = |source| AppConnectError::Io { addr, source };
        stream.set_nodelay(true).map_err(io)?;
        // Non-blocking stays set: the relay registers it with its runtime.
        stream.into_std().map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refused_and_reached() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let c = AppConnector::new(addr, Duration::from_secs(2));
        assert_eq!(c.addr(), addr);
        let s = c.connect().await.expect("reaches a listener");
        assert_eq!(s.peer_addr().unwrap(), addr);
        drop(l);
        match c.connect().await {
            Err(AppConnectError::Refused { addr: a }) => assert_eq!(a, addr),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
