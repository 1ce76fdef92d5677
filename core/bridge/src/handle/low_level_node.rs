//! [`LowLevelNodeHandle`]: the seed's section-3 API (`mip6_*`) for a
//! language binding: a [`gecko::lowlevel::Node`] with the runtime it needs,
//! its calls made blocking. For the few who build their own handoff
//! protocol; a program uses this or a framework, not both.

use std::net::Ipv6Addr;
use std::path::Path;

use gecko::config::Config;
use gecko::dataplane::FlowKey;
use gecko::lowlevel::{Node, Scope};
use gecko::mipv6::seq::SeqNum;

use crate::error::{BridgeError, ErrorKind};

/// A node's Mobility IPv6 signalling, blocking.
pub struct LowLevelNodeHandle {
    // Dropped first: the node's tasks end with the runtime after it.
    node: Node,
    rt: tokio::runtime::Runtime,
}

impl std::fmt::Debug for LowLevelNodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LowLevelNodeHandle")
            .field("care_of", &self.node.care_of())
            .finish()
    }
}

/// A node error as a bridge error (kind `Node`).
fn node_error(e: gecko::lowlevel::NodeError) -> BridgeError {
    BridgeError::new(ErrorKind::Node, e.to_string())
}

/// What a call binds: the client's every connection, or one flow.
fn scope(flow: Option<FlowKey>) -> Scope {
    flow.map_or(Scope::Client, Scope::Flow)
}

impl LowLevelNodeHandle {
    /// Starts the signalling of the node whose address is `local` in the
    /// configuration at `config_path`: its Mobility Header socket, the
    /// peer channel, its metrics. G is not held until `addr_passive` or
    /// `addr_active`.
    pub fn start(local: Ipv6Addr, config_path: &Path) -> Result<LowLevelNodeHandle, BridgeError> {
        let config = Config::load(config_path)
            .map_err(|e| BridgeError::new(ErrorKind::Config, e.to_string()))?;
        let name = config
            .node_by_address(&local)
            .ok_or_else(|| {
                BridgeError::new(
                    ErrorKind::Config,
                    format!("{local} is none of the configuration's nodes"),
                )
            })?
            .name
            .clone();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!("gecko-{name}"))
            .enable_all()
            .build()?;
        let node = rt
            .block_on(Node::start(&config, &name))
            .map_err(node_error)?;
        Ok(LowLevelNodeHandle { node, rt })
    }

    /// This node's own (care-of) address.
    pub fn care_of(&self) -> Ipv6Addr {
        self.node.care_of()
    }

    /// `mip6_addr_passive`: G on `lo`, so that traffic for G reaching this
    /// node is taken.
    pub fn addr_passive(&self) -> Result<(), BridgeError> {
        let _in_runtime = self.rt.enter();
        self.node.addr_passive().map_err(node_error)
    }

    /// `mip6_addr_active`: G on `lo` and registered at the home agent as
    /// G's contact node (kept fresh until `addr_inactive` or the end).
    pub fn addr_active(&self) -> Result<(), BridgeError> {
        self.rt
            .block_on(self.node.addr_active())
            .map_err(node_error)
    }

    /// Deregisters at the home agent.
    pub fn addr_inactive(&self) -> Result<(), BridgeError> {
        self.rt
            .block_on(self.node.addr_inactive())
            .map_err(node_error)
    }

    /// `mip6_handoff_mark`: the last Binding Update sequence number this
    /// node used for `client`, for the node taking the connection over.
    pub fn handoff_mark(&self, client: Ipv6Addr) -> Option<u16> {
        self.node.handoff_mark(client).map(|s| s.0)
    }

    /// `mip6_handoff_start`: return routability, then the Binding Update
    /// that points `flow` (None: every connection of `client`) at this
    /// node, numbered after `donor_seq`; returns once the client
    /// acknowledged.
    pub fn handoff_start(
        &self,
        client: Ipv6Addr,
        flow: Option<FlowKey>,
        donor_seq: Option<u16>,
    ) -> Result<(), BridgeError> {
        self.rt
            .block_on(
                self.node
                    .handoff_start(client, scope(flow), donor_seq.map(SeqNum)),
            )
            .map_err(node_error)
    }

    /// The first half of a split `mip6_handoff_start`: return routability.
    pub fn handoff_prepare(&self, client: Ipv6Addr) -> Result<(), BridgeError> {
        self.rt
            .block_on(self.node.handoff_prepare(client))
            .map(|_| ())
            .map_err(node_error)
    }

    /// The second half: the Binding Update.
    pub fn handoff_finish(
        &self,
        client: Ipv6Addr,
        flow: Option<FlowKey>,
        donor_seq: Option<u16>,
    ) -> Result<(), BridgeError> {
        self.rt
            .block_on(
                self.node
                    .handoff_finish(client, scope(flow), donor_seq.map(SeqNum)),
            )
            .map_err(node_error)
    }

    /// `mip6_handoff_clear`: removes this node's binding of `flow` (None:
    /// every binding of G) at `client`; the traffic goes to the contact
    /// node again.
    pub fn handoff_clear(
        &self,
        client: Ipv6Addr,
        flow: Option<FlowKey>,
    ) -> Result<(), BridgeError> {
        self.rt
            .block_on(self.node.handoff_clear(client, scope(flow)))
            .map_err(node_error)
    }

    /// True while this node keeps a binding of `flow` at `client` fresh.
    pub fn holds_binding(&self, client: Ipv6Addr, flow: Option<FlowKey>) -> bool {
        self.node.holds_binding(client, scope(flow))
    }
}
