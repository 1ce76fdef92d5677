//! The kernel data plane that realises Mobile IPv6 bindings (DESIGN.md,
//! "Wire and data plane"): encapsulating routes of one backend (`encap`:
//! seg6 inline or VXLAN), policy-routing rules and an nftables flow map,
//! all set through netlink (nothing spawns `ip` or `nft`); a kernel check
//! that tells which backends the kernel can run; a node's reception.
//!
//! Every call is synchronous: it sends its request and waits for the
//! kernel's acknowledgement. Each handle acts in the network namespace of
//! the thread that opened it, for as long as it lives.

pub mod client_plane;
pub mod encap;
pub mod flow_map;
pub mod flow_steering;
pub mod home_plane;
pub mod kernel_check;
pub mod netlink;
pub mod nf_tables;
pub mod node_fence;
pub mod reception;
pub mod routes;

use std::net::Ipv6Addr;

pub use client_plane::{ClientPlane, HOME_MARK};
pub use encap::{DataplaneChoice, Encap, EncapSender, Traffic, MAX_OVERHEAD};
pub use flow_map::FlowMap;
pub use home_plane::HomePlane;
pub use kernel_check::{HostRole, KernelCheckError, KernelReport};
pub use routes::{NextHop, RouteEntry, Routes, RuleEntry, RuleMatch};

/// One TCP flow as the client sends it: client -> G.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct FlowKey {
    /// The client's address (source of the client's packets).
    pub client: Ipv6Addr,
    /// The client's port.
    pub client_port: u16,
    /// The server's address, G (destination of the client's packets).
    pub server: Ipv6Addr,
    /// The server's port.
    pub server_port: u16,
}

impl FlowKey {
    /// The flow of a connected IPv6 socket, seen from the server side
    /// (its local address is G).
    pub fn of_socket(stream: &std::net::TcpStream) -> std::io::Result<FlowKey> {
        let v6 = |a: std::net::SocketAddr| match a {
            std::net::SocketAddr::V6(a) => Ok(a),
            std::net::SocketAddr::V4(_) => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not an IPv6 connection",
            )),
        };
        let local = v6(stream.local_addr()?)?;
        let peer = v6(stream.peer_addr()?)?;
        Ok(FlowKey {
            client: *peer.ip(),
            client_port: peer.port(),
            server: *local.ip(),
            server_port: local.port(),
        })
    }
}

/// Why a data-plane operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DataPlaneError {
    /// The kernel refused a request.
    #[error("{op}: the kernel refused: {errno}{}", detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Kernel {
        /// What was being done.
        op: String,
        /// The kernel's error number.
        errno: nix::errno::Errno,
        /// The kernel's own explanation (extended ACK), if it gave one.
        detail: Option<String>,
    },
    /// A socket call failed (opening, sending, receiving, or a timeout).
    #[error("{op}: {error}")]
    Io {
        /// What was being done.
        op: String,
        /// What the OS said.
        error: std::io::Error,
    },
    /// The kernel's answer could not be understood.
    #[error("{op}: malformed answer from the kernel: {detail}")]
    Malformed {
        /// What was being done.
        op: String,
        /// What was wrong with it.
        detail: String,
    },
    /// No interface has that name.
    #[error("no network interface named `{0}`")]
    NoSuchLink(String),
    /// The client plane has no more marks and tables for another node.
    #[error("no free binding slot for care-of address {0} (all {1} in use)")]
    NoFreeSlot(Ipv6Addr, usize),
}

impl DataPlaneError {
    /// The kernel's error number, when the kernel refused.
    pub fn errno(&self) -> Option<nix::errno::Errno> {
        match self {
            DataPlaneError::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// The operations a correspondent (client agent) needs to realise its
/// bindings for one G.
pub trait BindingPlane {
    /// Route the client's packets for G without a flow binding to
    /// `care_of` (SRv6 inline), or back to the home route (None).
    fn set_plain(&mut self, care_of: Option<Ipv6Addr>) -> Result<(), DataPlaneError>;
    /// Steer one TCP flow to `care_of`.
    fn bind_flow(&mut self, flow: FlowKey, care_of: Ipv6Addr) -> Result<(), DataPlaneError>;
    /// Remove a flow's steering; false if it had none.
    fn unbind_flow(&mut self, flow: &FlowKey) -> Result<bool, DataPlaneError>;
}
