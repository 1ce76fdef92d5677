//! The seed's `GeckoFramework` (section 4.2): one server node of a
//! distributed server, inside the application.
//!
//! It runs a tokio runtime of its own (two worker threads) that holds the
//! node's signalling, the contact-node role where the configuration says
//! so, the handoff engine and the server sockets' listeners. The
//! application's threads call in through blocking methods; async callers
//! use the `_async` forms.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::cluster::membership::{Membership, MembershipConfig};
use crate::config::Config;
use crate::dataplane::node_fence::NodeFence;
use crate::dataplane::FlowKey;
use crate::lowlevel::Node;
use crate::metrics::Metrics;
use crate::node::{Arrival, Listeners, Runtime};
use crate::policy::{GeckoPolicy, RandomPolicy};
use crate::socket::GeckoServerSocket;

pub(crate) use crate::framework_core::Core;
pub use crate::framework_core::GeckoError;

/// The seed's `GeckoFramework`: this process is one node of the
/// distributed server. Dropping it stops the node (connections already
/// accepted stay open).
pub struct GeckoFramework {
    core: Arc<Core>,
    /// Silences this host toward clients if the process dies.
    _fence: NodeFence,
    config: Config,
    node: Arc<Node>,
    // Last: dropped after everything that runs on it.
    rt: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for GeckoFramework {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeckoFramework")
            .field("local", &self.core.engine.address())
            .finish()
    }
}

impl Drop for GeckoFramework {
    fn drop(&mut self) {
        for (_, t) in self
            .core
            .listen_tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
        {
            t.abort();
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

impl GeckoFramework {
    /// `GeckoFramework(localAddress, configFile, interface)`: starts the
    /// node whose address is `local_address` in the configuration at
    /// `config_path`; `interface` is the node's network link. The node
    /// registers as G's contact if the configuration names it, else holds
    /// G passively. The policy is [`RandomPolicy`] until set.
    pub fn new(
        local_address: Ipv6Addr,
        config_path: impl AsRef<Path>,
        interface: &str,
    ) -> Result<GeckoFramework, GeckoError> {
        let config = Config::load(config_path)?;
        let me = config
            .nodes
            .iter()
            .position(|n| n.address == local_address)
            .ok_or(GeckoError::NotANode(local_address))?;
        if nix::net::if_::if_nametoindex(interface).is_err() {
            return Err(GeckoError::NoInterface(interface.to_string()));
        }
        let name = config.nodes[me].name.clone();
        let contact = config.contact.node == name;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("gecko-{name}"))
            .enable_all()
            .build()
            .map_err(GeckoError::io("starting the framework's runtime"))?;
        let listeners: Listeners = Arc::default();
        let (core, node, fence) = rt.block_on(async {
            let fence = NodeFence::install(config.global_address)?;
            let node = Arc::new(Node::start(&config, &name).await?);
            if contact {
                node.addr_active().await?;
            } else {
                node.addr_passive()?;
            }
            let m = node.metrics().clone();
            let bad = GeckoError::Metrics;
            let open = m
                .gauge(
                    "gecko_connections_open",
                    "Connections this node serves now",
                    &[],
                )
                .map_err(bad)?;
            let accepted = m
                .counter(
                    "gecko_connections_accepted_total",
                    "Connections accept() returned on this node",
                    &[],
                )
                .map_err(bad)?;
            let f = &config.failover;
            let detection = MembershipConfig {
                probe_period: Duration::from_millis(f.probe_period_ms),
                probe_rtt: Duration::from_millis(f.probe_rtt_ms),
                suspect_to_down: Duration::from_millis(f.suspect_ms),
                ..MembershipConfig::default()
            };
            let membership = Membership::from_config(&config, me as u16, detection).await?;
            let engine = Runtime::start(
                &config,
                me as u16,
                node.clone(),
                listeners.clone(),
                open.clone(),
                membership,
            )
            .await?;
            let core = Arc::new(Core {
                rt: tokio::runtime::Handle::current(),
                engine,
                policy: RwLock::new(Arc::new(RandomPolicy)),
                listeners: listeners.clone(),
                listen_tasks: Default::default(),
                split: AtomicBool::new(false),
                accepted,
                open,
            });
            Ok::<_, GeckoError>((core, node, fence))
        })?;
        tracing::info!(node = %name, %local_address, contact, "gecko framework started");
        Ok(GeckoFramework {
            core,
            _fence: fence,
            config,
            node,
            rt: Some(rt),
        })
    }

    /// This node's address.
    pub fn local_address(&self) -> Ipv6Addr {
        self.core.engine.address()
    }

    /// G, the distributed server's address.
    pub fn global_address(&self) -> Ipv6Addr {
        self.config.global_address
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// `setPolicy`: the policy that places new connections and chooses
    /// targets for [`GeckoSocket::handoff`].
    pub fn set_policy(&self, policy: Arc<dyn GeckoPolicy>) {
        *self
            .core
            .policy
            .write()
            .unwrap_or_else(PoisonError::into_inner) = policy;
    }

    /// Whether handoffs run return routability before freezing the
    /// connection (the seed's split variant; shorter stalls).
    pub fn set_split_handoff(&self, split: bool) {
        self.core.split.store(split, Ordering::Relaxed);
    }

    /// `getServerSocket(port)`: the connections this node serves on `port`
    /// (the configuration's service port if `None`). On the contact node
    /// each new connection is placed by the policy at once (seed 4.2.3):
    /// only connections that stay here are returned by accept.
    pub fn get_server_socket(&self, port: Option<u16>) -> Result<GeckoServerSocket, GeckoError> {
        let port = port.unwrap_or(self.config.service_port);
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut l = self
                .core
                .listeners
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if l.contains_key(&port) {
                return Err(GeckoError::PortInUse(port));
            }
            l.insert(port, tx.clone());
        }
        let addr = SocketAddr::V6(SocketAddrV6::new(self.config.global_address, port, 0, 0));
        let listener = self
            .core
            .rt
            .block_on(async { tokio::net::TcpListener::bind(addr).await });
        let listener = match listener {
            Ok(l) => l,
            Err(e) => {
                self.core.close_port(port);
                return Err(GeckoError::Io {
                    what: "listening on G",
                    source: e,
                });
            }
        };
        let task = self.core.rt.spawn(listen(self.core.clone(), listener, tx));
        self.core
            .listen_tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(port, task);
        Ok(GeckoServerSocket::new(self.core.clone(), port, rx))
    }

    /// `joinReplicaNetwork`: this node takes part in serving (it does
    /// from the start; this undoes [`Self::leave_replica_network`]).
    pub fn join_replica_network(&self) -> Result<(), GeckoError> {
        let membership = self.core.engine.membership.clone();
        self.core
            .block_on(async move { membership.join().await })??;
        self.core.engine.set_joined(true);
        Ok(())
    }

    /// `leaveReplicaNetwork`: this node leaves the membership: other nodes
    /// stop handing connections here, and connections served here stay,
    /// without a backup (it is told to forget them first, so nobody
    /// recovers what this node still serves) until it joins again.
    pub fn leave_replica_network(&self) -> Result<(), GeckoError> {
        self.core.engine.set_joined(false);
        let engine = self.core.engine.clone();
        self.core
            .block_on(async move {
                engine.stop_mirroring().await;
                engine.membership.leave().await
            })?
            .map_err(GeckoError::Membership)
    }

    /// The node's metrics (served in Prometheus text on the configured
    /// metrics address).
    pub fn metrics(&self) -> &Metrics {
        self.node.metrics()
    }

    /// The low-level node (seed section 3).
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }
}

/// Accepts on G and places each new connection.
async fn listen(
    core: Arc<Core>,
    listener: tokio::net::TcpListener,
    sink: mpsc::UnboundedSender<Arrival>,
) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accepting on G");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let (core, sink) = (core.clone(), sink.clone());
        tokio::spawn(async move {
            let stream = match stream
                .into_std()
                .and_then(|s| s.set_nonblocking(false).map(|()| s))
            {
                Ok(s) => Arc::new(s),
                Err(e) => return tracing::warn!(error = %e, "taking an accepted connection"),
            };
            let rtt = crate::tcp::info::rtt(std::os::fd::AsFd::as_fd(&stream));
            if let (Some(rtt), Ok(flow)) = (rtt, FlowKey::of_socket(&stream)) {
                core.engine.note_rtt(flow.client, rtt);
            }
            let placed = core.place(stream.clone(), None).await;
            if let Ok(true) = placed {
                // Served elsewhere: this, the only descriptor, closes silently.
                return;
            }
            let base = core.engine.serve_accepted(&stream);
            let _ = sink.send(Arrival {
                stream,
                base,
                handed_in: false,
                recovered: None,
            });
        });
    }
}
