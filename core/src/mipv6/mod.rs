//! RFC 6275 Mobile IPv6 signalling: the wire codec, return-routability
//! crypto and binding rules.

pub mod binding_update;
pub mod bu_exchange;
pub mod client_kind;
pub mod correspondent;
pub mod flow_cache;
pub mod home_agent;
mod mh_mac;
pub mod mh_socket;
pub mod mn_ha_auth;
pub mod mobile_node;
pub mod param_problem;
pub mod rr;
pub mod seq;
pub mod wire;
