//! TCP connection handoff: TCP_REPAIR freeze/dump/restore of an established
//! connection, the flow lock that keeps the peer's packets away while a
//! connection moves, and the ACK probe.

pub mod ack_probe;
pub mod flow_lock;
pub mod info;
pub mod repair;
pub mod stream_offsets;
