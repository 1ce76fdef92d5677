//! A server node of a lab, run in-process: the low-level API and the echo
//! service inside the node's namespace, on a runtime of its own. How the
//! demo, the tests and the benchmarks run nodes until the framework gives
//! nodes a process of their own.

use std::future::Future;
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ns_runtime::NsRuntime;
use super::service::{serve_echo, Accepted};
use super::Lab;
use gecko::config::Config;
use gecko::lowlevel::{Node, NodeError, Scope};
use gecko::mipv6::seq::SeqNum;

/// A node running in its namespace. Dropping it stops the node.
pub struct NodeHost {
    name: String,
    node: Arc<Node>,
    accepted: Accepted,
    // Last: the runtime ends after the node's tasks were aborted.
    rt: NsRuntime,
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> NodeError {
    move |source| NodeError::Io { what, source }
}

impl NodeHost {
    /// Starts node `name` of `lab`: registered at the home agent as G's
    /// contact if `contact`, else holding G passively; serving echo on the
    /// service port.
    pub fn start(
        lab: &Lab,
        config: &Config,
        name: &str,
        contact: bool,
    ) -> Result<NodeHost, NodeError> {
        let ns = lab.netns(name).map_err(|e| NodeError::Io {
            what: "opening the node's namespace",
            source: std::io::Error::other(e.to_string()),
        })?;
        let rt = NsRuntime::start(&ns).map_err(io("starting the node's runtime"))?;
        let (config, host) = (config.clone(), name.to_string());
        let (node, accepted) = rt
            .block_on(async move {
                let node = Node::start(&config, &host).await?;
                if contact {
                    node.addr_active().await?;
                } else {
                    node.addr_passive()?;
                }
                let any = SocketAddr::from((Ipv6Addr::UNSPECIFIED, config.service_port));
                let accepted = serve_echo(any).await.map_err(io("serving echo"))?;
                Ok::<_, NodeError>((Arc::new(node), accepted))
            })
            .map_err(io("running the node"))??;
        Ok(NodeHost {
            name: name.into(),
            node,
            accepted,
            rt,
        })
    }

    /// The host's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// The connections its echo service accepted.
    pub fn accepted(&self) -> &Accepted {
        &self.accepted
    }

    /// Runs `fut` on the node's runtime and waits for it.
    pub fn block_on<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, NodeError> {
        self.rt.block_on(fut).map_err(io("running on the node"))
    }

    /// [`Node::handoff_start`], timed.
    pub fn handoff(
        &self,
        client: Ipv6Addr,
        scope: Scope,
        donor: Option<SeqNum>,
    ) -> Result<Duration, NodeError> {
        let node = self.node.clone();
        self.block_on(async move {
            let t0 = Instant::now();
            node.handoff_start(client, scope, donor).await?;
            Ok(t0.elapsed())
        })?
    }

    /// [`Node::handoff_clear`], timed.
    pub fn clear(&self, client: Ipv6Addr, scope: Scope) -> Result<Duration, NodeError> {
        let node = self.node.clone();
        self.block_on(async move {
            let t0 = Instant::now();
            node.handoff_clear(client, scope).await?;
            Ok(t0.elapsed())
        })?
    }
}
