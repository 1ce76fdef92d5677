//! [`ServerSocketHandle`]: the connections this node serves on one port,
//! until closed (by itself or by its framework).

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gecko::framework::GeckoFramework;
use gecko::socket::GeckoServerSocket;

use super::{Closable, Dependent, SocketHandle};
use crate::error::BridgeError;
use crate::timeout::{Timeout, WaitError};

/// How often a blocking accept returns to the binding (to run its signal
/// handlers) and sees a `close` from another thread.
pub const ACCEPT_SLICE: Duration = Duration::from_millis(100);

/// What a server socket handle and its framework share: the framework
/// closes it through a weak reference.
pub(crate) struct ServerState {
    /// The server socket and the framework whose runtime it needs.
    inner: Closable<(Arc<GeckoServerSocket>, Arc<GeckoFramework>)>,
    port: u16,
}

impl Dependent for ServerState {
    /// Stops listening; an accept waiting elsewhere ends at its next
    /// wake-up with `Closed`.
    fn close(&self) {
        drop(self.inner.take());
    }
}

/// A server socket of a framework. Used after [`close`](Self::close) (or
/// the framework's), every call fails with `Closed` and `EBADF`.
pub struct ServerSocketHandle {
    state: Arc<ServerState>,
    /// How long `accept` waits by default.
    timeout: Mutex<Timeout>,
}

impl std::fmt::Debug for ServerSocketHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSocketHandle")
            .field("port", &self.state.port)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl ServerSocketHandle {
    /// The handle and the state its framework keeps (weakly) to close it.
    pub(crate) fn new(
        server: GeckoServerSocket,
        framework: Arc<GeckoFramework>,
    ) -> (ServerSocketHandle, Arc<ServerState>) {
        let state = Arc::new(ServerState {
            port: server.port(),
            inner: Closable::new((Arc::new(server), framework)),
        });
        let handle = ServerSocketHandle {
            state: state.clone(),
            timeout: Mutex::new(Timeout::Blocking),
        };
        (handle, state)
    }

    fn get(&self) -> Result<(Arc<GeckoServerSocket>, Arc<GeckoFramework>), BridgeError> {
        self.state
            .inner
            .get()
            .ok_or_else(BridgeError::closed_socket)
    }

    /// The next connection, waiting up to `timeout` (None: the handle's,
    /// [`Self::set_timeout`]), in slices of [`ACCEPT_SLICE`] with `between`
    /// run after each (see [`Timeout::wait_in_slices`]). Call it with the
    /// language's lock released; `between` takes it if it needs to.
    pub fn accept<E>(
        &self,
        timeout: Option<Timeout>,
        between: impl FnMut() -> Result<(), E>,
    ) -> Result<SocketHandle, WaitError<E>> {
        let timeout = timeout.unwrap_or_else(|| self.timeout());
        // Each slice asks the handle anew: a close() ends the wait.
        timeout.wait_in_slices(ACCEPT_SLICE, |slice| self.accept_timeout(slice), between)
    }

    /// The next connection, or None after `wait`.
    pub fn accept_timeout(&self, wait: Duration) -> Result<Option<SocketHandle>, BridgeError> {
        let (server, framework) = self.get()?;
        let got = server.accept_timeout(wait)?;
        Ok(got.map(|s| SocketHandle::served(s, framework)))
    }

    /// The async form of accept (cancel-safe: a connection is never lost
    /// to a dropped future). Needs no runtime of the caller's.
    pub fn accept_async(
        &self,
    ) -> impl Future<Output = Result<SocketHandle, BridgeError>> + Send + 'static {
        let got = self.get();
        async move {
            let (server, framework) = got?;
            let socket = server.accept_async().await?;
            Ok(SocketHandle::served(socket, framework))
        }
    }

    /// Sets how long `accept` waits by default.
    pub fn set_timeout(&self, timeout: Timeout) {
        *self.timeout.lock().unwrap_or_else(PoisonError::into_inner) = timeout;
    }

    /// How long `accept` waits by default.
    pub fn timeout(&self) -> Timeout {
        *self.timeout.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The port served at G.
    pub fn port(&self) -> u16 {
        self.state.port
    }

    /// True once closed, by [`Self::close`] or the framework's.
    pub fn is_closed(&self) -> bool {
        self.state.inner.is_closed()
    }

    /// Stops serving the port on this node (the port is free again once
    /// the accepts in flight end); again, nothing happens.
    pub fn close(&self) {
        self.state.close();
    }
}
