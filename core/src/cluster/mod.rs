//! The cluster of server nodes: membership, the peer channel and streams,
//! and the mirror records a backup keeps. It imports nothing from the
//! node runtime above it.

pub mod failover_metrics;
pub mod membership;
pub mod mirror_store;
pub mod peer_channel;
pub mod peer_stream;
