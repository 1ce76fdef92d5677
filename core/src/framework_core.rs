//! What a framework and its sockets share: the error type of the API and
//! the node's serving core (runtime, handoff engine, policy, counters).
//! Apart from `framework` so that `socket` can use it without importing
//! the framework that makes sockets.

use std::collections::HashMap;
use std::future::Future;
use std::net::{Ipv6Addr, SocketAddr, TcpStream};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::config::ConfigError;
use crate::dataplane::FlowKey;
use crate::lowlevel::{NodeError, Scope};
use crate::metrics::{Counter, Gauge};
use crate::node::{HandoffError, Listeners, Runtime};
use crate::policy::{ClientInfo, GeckoPolicy};

/// Why a framework call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GeckoError {
    /// The configuration file is bad.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The local address is not a node of the configuration.
    #[error("{0} is not the address of a node in the configuration")]
    NotANode(Ipv6Addr),
    /// The network interface does not exist.
    #[error("no network interface `{0}` on this host")]
    NoInterface(String),
    /// Signalling failed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// A handoff failed; the connection stayed here.
    #[error(transparent)]
    Handoff(#[from] HandoffError),
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// The data plane refused a change (the node fence).
    #[error(transparent)]
    DataPlane(#[from] crate::dataplane::DataPlaneError),
    /// Joining, leaving or starting the membership failed.
    #[error(transparent)]
    Membership(#[from] crate::cluster::membership::MembershipError),
    /// The framework's metrics could not be registered.
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    /// A task on the framework's runtime failed (it panicked or was
    /// cancelled).
    #[error("a task of the framework's runtime failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// A server socket on this port exists already.
    #[error("a server socket on port {0} exists already")]
    PortInUse(u16),
    /// The server socket or the framework is closed.
    #[error("closed")]
    Closed,
    /// A blocking call was made from inside an async runtime.
    #[error("blocking call from inside an async runtime: use the async form")]
    InAsyncContext,
    /// A handoff of this connection is running already.
    #[error("a handoff of this connection is running already")]
    Busy,
    /// The connection is served by another node now.
    #[error("the connection was handed off to another node")]
    Moved,
    /// Only connections accepted through a server socket can move.
    #[error("this socket is not served by the distributed server")]
    NotServed,
}

impl GeckoError {
    pub(crate) fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> GeckoError {
        move |source| GeckoError::Io { what, source }
    }
}

/// What the framework's parts share.
pub(crate) struct Core {
    pub(crate) rt: tokio::runtime::Handle,
    pub(crate) engine: Arc<Runtime>,
    pub(crate) policy: RwLock<Arc<dyn GeckoPolicy>>,
    pub(crate) listeners: Listeners,
    pub(crate) listen_tasks: std::sync::Mutex<HashMap<u16, tokio::task::JoinHandle<()>>>,
    pub(crate) split: AtomicBool,
    pub(crate) accepted: Counter,
    pub(crate) open: Gauge,
}

impl Core {
    pub(crate) fn opened(&self) {
        self.open.inc();
    }

    pub(crate) fn closed(&self) {
        self.open.dec();
    }

    pub(crate) fn count_accepted(&self) {
        self.accepted.inc();
    }

    pub(crate) fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        self.rt.spawn(fut);
    }

    /// Runs `fut` on the runtime's threads (so sockets it opens live in
    /// the framework's network namespace, whatever the caller's) and waits
    /// for it from an application thread.
    pub(crate) fn block_on<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, GeckoError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(GeckoError::InAsyncContext);
        }
        self.rt
            .block_on(self.rt.spawn(fut))
            .map_err(GeckoError::Task)
    }

    /// Waits for `fut` on the calling thread (for futures that open no
    /// sockets).
    pub(crate) fn wait<T>(&self, fut: impl Future<Output = T>) -> Result<T, GeckoError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(GeckoError::InAsyncContext);
        }
        Ok(self.rt.block_on(fut))
    }

    /// Asks the policy, off the runtime's threads (user code may block or
    /// panic: a panic counts as "keep it here").
    async fn select(&self, info: ClientInfo) -> Option<Ipv6Addr> {
        let policy = self
            .policy
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let choice = tokio::task::spawn_blocking(move || {
            std::panic::catch_unwind(AssertUnwindSafe(|| policy.select_target(&info)))
        })
        .await;
        match choice {
            Ok(Ok(t)) => t,
            _ => {
                tracing::error!("the policy's select_target panicked; keeping the connection");
                None
            }
        }
    }

    fn notify_failed(&self, target: Ipv6Addr) {
        let policy = self
            .policy
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        self.rt.spawn_blocking(move || {
            let r =
                std::panic::catch_unwind(AssertUnwindSafe(|| policy.notify_failed_handoff(target)));
            if r.is_err() {
                tracing::error!("the policy's notify_failed_handoff panicked");
            }
        });
    }

    /// Hands `stream` to `target`, or to the policy's choice (retrying
    /// with its next choice after a failure). `Ok(true)`: served elsewhere
    /// now (the caller closes its descriptors); `Ok(false)`: stays here.
    pub(crate) async fn place(
        &self,
        stream: Arc<TcpStream>,
        target: Option<Ipv6Addr>,
    ) -> Result<bool, GeckoError> {
        let stream = &*stream;
        let split = self.split.load(Ordering::Relaxed);
        if let Some(t) = target {
            if t == self.engine.address() {
                return Ok(false);
            }
            return match self.engine.hand_off(stream, t, split).await {
                Ok(()) => Ok(true),
                Err(e) => {
                    self.notify_failed(t);
                    Err(e.into())
                }
            };
        }
        let peer = match stream.peer_addr() {
            Ok(SocketAddr::V6(p)) => p,
            _ => return Ok(false),
        };
        let mut failed = Vec::new();
        for _ in 0..self.engine.node_count() {
            let info = self.engine.client_info(peer, &failed);
            let Some(t) = self.select(info).await else {
                return Ok(false);
            };
            if t == self.engine.address() {
                return Ok(false);
            }
            if self.engine.index_of(t).is_none() {
                tracing::warn!(target = %t, "the policy chose an address that is not a node");
                return Ok(false);
            }
            match self.engine.hand_off(stream, t, split).await {
                Ok(()) => return Ok(true),
                Err(e) => {
                    tracing::info!(target = %t, error = %e, "handoff failed; asking the policy again");
                    self.notify_failed(t);
                    failed.push(t);
                }
            }
        }
        Ok(false)
    }

    /// A connection served here closed: its flow binding, if this node
    /// holds one, is removed at the client.
    pub(crate) fn forget_flow(&self, flow: FlowKey) {
        {
            let _enter = self.rt.enter();
            self.engine.unserve(flow, None);
        }
        let node = self.engine.node().clone();
        let scope = Scope::Flow(flow);
        if node.holds_binding(flow.client, scope) {
            node.release(flow.client, scope);
            self.rt.spawn(async move {
                if let Err(e) = node.handoff_clear(flow.client, scope).await {
                    tracing::debug!(?flow, error = %e, "clearing a closed connection's binding");
                }
            });
        }
    }

    pub(crate) fn close_port(&self, port: u16) {
        self.listeners
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&port);
        if let Some(t) = self
            .listen_tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&port)
        {
            t.abort();
            // Its listener closes when the task ends: wait for that (off
            // the runtime), so that the port can be listened on again at
            // once.
            if tokio::runtime::Handle::try_current().is_err() {
                let _ = self.rt.block_on(t);
            }
        }
    }
}
