//! The cluster of server nodes: membership, the peer channel, backup
//! monitoring, mirroring and recovery.

pub mod peer_channel;
pub mod peer_stream;
