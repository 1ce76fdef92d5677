//! The node fence: a node whose server process dies goes silent toward
//! its clients, as a crashed machine would.
//!
//! When a process dies its host's kernel closes its sockets: each client
//! would get a FIN or a reset, and the client's later packets would meet
//! resets too, before the backup has recovered the connection. The fence
//! drops every TCP packet from G that the live process did not vouch for:
//!
//! * table `ip6 gecko_fence` (stays): on output, TCP from G without a mark
//!   is dropped;
//! * table `ip6 gecko_alive`, owned by the process's netlink socket (the
//!   kernel deletes it when the process dies): on output, before the
//!   fence, TCP from G without FIN or RST gets the [`ALIVE_MARK`].
//!
//! The kernel closes a dead process's sockets before or after its netlink
//! socket, in no set order, so FIN and RST never pass on the alive mark:
//! only a socket the application closed on purpose (marked [`CLOSE_MARK`]
//! first) or the recovery probe (its own mark) sends them. The
//! alive chain runs after the flow lock's output chain, which needs the
//! marks as the sockets set them.

use std::net::Ipv6Addr;

use crate::dataplane::netlink::Netlink;
use crate::dataplane::nf_tables::{
    self, Chain, IPPROTO_TCP, NFT_META_L4PROTO, NFT_META_MARK, NFT_PAYLOAD_NETWORK_HEADER,
    NFT_PAYLOAD_TRANSPORT_HEADER, NFT_REG_1, NF_DROP, NF_INET_LOCAL_OUT, NF_IP6_PRI_MANGLE,
};
use crate::dataplane::DataPlaneError;

/// The table that stays when the process dies.
pub const FENCE_TABLE: &str = "gecko_fence";
/// The table that dies with the process.
pub const ALIVE_TABLE: &str = "gecko_alive";
/// The mark of packets the live process sends from G.
pub const ALIVE_MARK: u32 = 0x6765_636b;
/// The socket mark of a connection the application closes (its FIN or
/// reset must pass the fence).
pub const CLOSE_MARK: u32 = 0x636c_6f73;

/// Marks `fd` as closed on purpose: its FIN (or reset) passes the fence.
pub fn mark_closing(fd: std::os::fd::BorrowedFd<'_>) {
    if let Err(e) = crate::sockopt::set_mark(fd, CLOSE_MARK) {
        tracing::warn!(error = %e, "cannot mark a closing connection");
    }
}

/// The fence of this host (the namespace of the thread that made it).
/// Dropping it (a process that stops on purpose) takes both tables down.
pub struct NodeFence {
    /// Owns `gecko_alive`: closing it deletes the table.
    nl: Netlink,
}

impl std::fmt::Debug for NodeFence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeFence").finish_non_exhaustive()
    }
}

impl NodeFence {
    /// Installs both tables for G (replacing stale ones of a process that
    /// died before).
    pub fn install(g: Ipv6Addr) -> Result<NodeFence, DataPlaneError> {
        let mut nl = Netlink::open(netlink_sys::constants::NETLINK_NETFILTER)?;
        nf_tables::delete_table(&mut nl, ALIVE_TABLE)?;
        nf_tables::delete_table(&mut nl, FENCE_TABLE)?;
        let from_g_unmarked = move |b: &mut Vec<u8>| {
            nf_tables::push_meta_equals(b, NFT_META_L4PROTO, &[IPPROTO_TCP]);
            nf_tables::push_payload_equals(b, NFT_PAYLOAD_NETWORK_HEADER, 8, &g.octets());
            nf_tables::push_meta_equals(b, NFT_META_MARK, &[0; 4]);
        };
        let parts = [
            nf_tables::new_table(FENCE_TABLE),
            nf_tables::new_chain(&Chain {
                table: FENCE_TABLE,
                name: "output",
                hook: NF_INET_LOCAL_OUT,
                priority: 0,
                kind: "filter",
            }),
            nf_tables::new_rule(FENCE_TABLE, "output", |b| {
                from_g_unmarked(b);
                nf_tables::push_verdict(b, NF_DROP);
            }),
            nf_tables::new_owned_table(ALIVE_TABLE),
            nf_tables::new_chain(&Chain {
                table: ALIVE_TABLE,
                name: "output",
                hook: NF_INET_LOCAL_OUT,
                priority: NF_IP6_PRI_MANGLE,
                kind: "filter",
            }),
            nf_tables::new_rule(ALIVE_TABLE, "output", |b| {
                from_g_unmarked(b);
                // tcp flags & (fin | rst) == 0
                nf_tables::push_payload_masked_equals(
                    b,
                    NFT_PAYLOAD_TRANSPORT_HEADER,
                    13,
                    &[0x05],
                    &[0],
                );
                // meta mark takes the register as a host-order u32.
                nf_tables::push_immediate(b, NFT_REG_1, &ALIVE_MARK.to_ne_bytes());
                nf_tables::push_meta_set(b, NFT_META_MARK, NFT_REG_1);
            }),
        ];
        nf_tables::send_batch(&mut nl, "installing the node fence", &parts)?;
        tracing::debug!(%g, "node fence up");
        Ok(NodeFence { nl })
    }
}

impl Drop for NodeFence {
    fn drop(&mut self) {
        // The fence first: from here on nothing from G is dropped.
        for table in [FENCE_TABLE, ALIVE_TABLE] {
            if let Err(e) = nf_tables::delete_table(&mut self.nl, table) {
                tracing::warn!(table, error = %e, "removing the node fence");
            }
        }
    }
}
