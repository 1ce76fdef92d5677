//! Gecko's agents and what its programs share.
//!
//! `gecko-ha` runs on the router that owns the cluster's global address;
//! `gecko-cn` on a client host. Each is a thin tokio driver: it feeds a
//! sans-I/O machine of `gecko::mipv6` from its sockets and carries out what
//! it asks for. [`program`] and [`node_args`] are the parts the other
//! programs (geckoproxy, gecko-lab, the examples) use too.

pub mod client_agent;
pub mod home_agent;
pub mod node_args;
pub mod program;

pub use program::{exit_code, init_tracing, run, shutdown_signal};
