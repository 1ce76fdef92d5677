//! TCP connection handoff: the socket freeze (TCP_REPAIR) and the flow lock.

pub mod flow_lock;
