//! The cluster of server nodes: membership, the peer channel, backup
//! monitoring, mirroring and recovery.

pub mod failover_metrics;
pub mod membership;
pub mod mirror;
pub(crate) mod mirroring;
pub mod peer_channel;
pub mod peer_stream;
pub mod recovery;
