//! The node runtime layer: what a server node does in the cluster, above
//! the protocol machines (`mipv6`), the kernel (`tcp`, `dataplane`) and the
//! cluster's membership, channel and mirror store (`cluster`).
//!
//! Handoff: the eight steps of the seed's section 3.3, moving
//! one live TCP connection (one flow binding) from this node to another,
//! or taking one in. See DESIGN.md "Handoff".
//!
//! Donor D: lock the flow, freeze, dump, offer the state to acceptor A,
//! wait for A's outcome; on success close the frozen socket silently and
//! keep the flow locked a little longer (late packets still reach A), on
//! failure bind the flow back if A may have bound it, thaw and serve.
//! Acceptor A: re-create the socket frozen, lock the flow here too (a
//! frozen socket acks what it receives), return routability and Binding
//! Update, thaw, replay every captured packet, tell D.
//!
//! Packets a lock drops are captured (see [`crate::tcp::flow_lock`]) and
//! routed by [`Route`]: forwarded to the node that will hold the
//! connection, held until the local socket thaws, or replayed at once.

//!
//! Recovery ([`recovery`]): a backup takes over a dead node's connections
//! from their mirror records ([`mirroring`] sends them).

pub mod crash_point;
pub mod messages;
pub(crate) mod mirroring;
pub mod recovery;
mod route_table;
mod runtime;
mod silent_acceptor;
mod takeover;

pub use runtime::*;
