//! Gecko: a group of server nodes seen by its clients as one IPv6 address.
//!
//! See `DESIGN.md` for the roles, the wire and data-plane mapping, and the
//! handoff and recovery protocols.

pub mod config;
pub mod dataplane;
pub mod lab;
pub mod mipv6;
