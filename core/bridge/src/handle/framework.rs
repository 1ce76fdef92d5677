//! [`FrameworkHandle`]: this process as one node, until closed; it closes
//! its server sockets with it.

use std::net::Ipv6Addr;
use std::path::Path;
use std::sync::Arc;

use gecko::framework::GeckoFramework;
use gecko::policy::GeckoPolicy;

use super::server_socket::ServerState;
use super::{Owner, ServerSocketHandle};
use crate::error::BridgeError;

/// A framework. Used after [`close`](Self::close), every call fails with
/// `Closed` (no errno). Connections already accepted stay open after it:
/// each keeps the runtime alive until it closes.
pub struct FrameworkHandle {
    /// The framework and the server sockets it made, closed with it.
    framework: Owner<Arc<GeckoFramework>, ServerState>,
}

impl std::fmt::Debug for FrameworkHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameworkHandle")
            .field("framework", &self.framework.get())
            .finish()
    }
}

impl FrameworkHandle {
    /// Starts the node whose address is `local` in the configuration at
    /// `config_path`, on network link `interface`.
    pub fn new(
        local: Ipv6Addr,
        config_path: &Path,
        interface: &str,
    ) -> Result<FrameworkHandle, BridgeError> {
        let framework = GeckoFramework::new(local, config_path, interface)?;
        Ok(FrameworkHandle {
            framework: Owner::new(Arc::new(framework)),
        })
    }

    fn get(&self) -> Result<Arc<GeckoFramework>, BridgeError> {
        self.framework
            .get()
            .ok_or_else(BridgeError::closed_framework)
    }

    /// This node's address.
    pub fn local_address(&self) -> Result<Ipv6Addr, BridgeError> {
        Ok(self.get()?.local_address())
    }

    /// G, the distributed server's address.
    pub fn global_address(&self) -> Result<Ipv6Addr, BridgeError> {
        Ok(self.get()?.global_address())
    }

    /// The configuration's service port.
    pub fn service_port(&self) -> Result<u16, BridgeError> {
        Ok(self.get()?.config().service_port)
    }

    /// The policy that places new connections and picks handoff targets:
    /// a shipped one ([`crate::policy::ShippedPolicy::build`]) or a foreign
    /// one ([`crate::foreign_policy::adapt`]).
    pub fn set_policy(&self, policy: Arc<dyn GeckoPolicy>) -> Result<(), BridgeError> {
        self.get()?.set_policy(policy);
        Ok(())
    }

    /// Whether handoffs run return routability before freezing the
    /// connection.
    pub fn set_split_handoff(&self, split: bool) -> Result<(), BridgeError> {
        self.get()?.set_split_handoff(split);
        Ok(())
    }

    /// The connections this node serves on `port` (the service port if
    /// None), closed with the framework.
    pub fn server_socket(&self, port: Option<u16>) -> Result<ServerSocketHandle, BridgeError> {
        self.framework
            .make(BridgeError::closed_framework, |framework| {
                let server = framework.get_server_socket(port)?;
                Ok(ServerSocketHandle::new(server, framework))
            })
    }

    /// This node takes part in serving again.
    pub fn join_replica_network(&self) -> Result<(), BridgeError> {
        Ok(self.get()?.join_replica_network()?)
    }

    /// This node leaves the membership: no new connections come here.
    pub fn leave_replica_network(&self) -> Result<(), BridgeError> {
        Ok(self.get()?.leave_replica_network()?)
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.framework.is_closed()
    }

    /// Lets go of the framework as dropping the handle would, but now: its
    /// server sockets stay open (each keeps the runtime alive), unlike
    /// [`Self::close`]. For a binding's finalizer, which must pick the
    /// thread (and the lock state) the last reference goes on.
    pub fn release(&self) {
        drop(self.framework.take(false));
    }

    /// Stops the node: its server sockets close; connections already
    /// accepted stay open (the runtime stops when the last closes). Again,
    /// nothing happens.
    pub fn close(&self) {
        drop(self.framework.take(true));
    }
}
