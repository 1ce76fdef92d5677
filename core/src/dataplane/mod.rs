//! placeholder until the dataplane branch lands
/// A TCP flow as the client sends it: client -> G.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// The client's address.
    pub client: Ipv6Addr,
    /// The client's port.
    pub client_port: u16,
    /// The server's address (G).
    pub server: Ipv6Addr,
    /// The server's port.
    pub server_port: u16,
}
use std::net::Ipv6Addr;
