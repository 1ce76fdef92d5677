//! The cluster of server nodes: membership, the peer channel, backup
//! monitoring, mirroring and recovery.

pub mod membership;
pub mod peer_channel;
pub mod peer_stream;
