//! Gecko: a group of server nodes seen by its clients as one IPv6 address.
//!
//! See `DESIGN.md` for the roles, the wire and data-plane mapping, and the
//! handoff and recovery protocols.

pub mod checksum;
pub mod cluster;
pub mod config;
pub mod dataplane;
pub mod framework;
mod framework_core;
pub mod lowlevel;
pub mod metrics;
pub mod mipv6;
pub mod node;
pub mod policy;
pub mod socket;
pub mod sockopt;
pub mod tcp;
