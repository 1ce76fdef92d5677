//! Gecko for C++: the Rust half of `gecko/gecko.hpp`. A thin layer over
//! `gecko-bridge` through [`cxx`]: it converts types, errors and
//! callbacks, nothing more. The C++ half (`src/gecko.cpp`) gives the seed's
//! classes their C++ form on top of the [`ffi`] functions.
//!
//! - An error crosses as cxx's exception, its message carrying the
//!   bridge's kind and errno ([`error`]); `gecko.cpp` throws the C++
//!   exception that kind maps to. A panic becomes an error too: none
//!   crosses into C++.
//! - A C++ policy is the bridge's `ForeignPolicy` ([`policy`]), called from
//!   the core's threads through a `PolicyShim` that keeps every C++
//!   exception on its side.
//! - Each object C++ holds is a `Box` it owns; [`live_handles`] counts them
//!   for leak tests.

mod address;
mod error;
mod handles;
mod live_count;
mod low_level;
mod policy;

pub use error::Failure;
pub use handles::{Framework, ServerSocket, Socket};
pub use live_count::live_handles;
pub use low_level::{low_level_node_start, LowLevelNode};
pub use policy::{policy_foreign, policy_names, policy_shipped, Policy};

use handles::{framework_new, init_logging};

/// What crosses between C++ and Rust.
#[cxx::bridge(namespace = "gecko::ffi")]
pub mod ffi {
    /// An IPv6 address.
    struct Address {
        /// Network byte order.
        octets: [u8; 16],
    }

    /// A socket address: G or a client, and a port.
    struct SocketAddress {
        /// The address.
        address: Address,
        /// The port.
        port: u16,
        /// The scope id (0 but for link-local addresses).
        scope_id: u32,
    }

    /// Bytes into and out of a connection since it opened.
    struct Offsets {
        /// Sent and acknowledged by the client.
        sent: u64,
        /// Received from the client.
        received: u64,
    }

    /// Where a recovered connection resumes, if it was recovered.
    struct MaybeOffsets {
        /// False for a connection that was not recovered.
        some: bool,
        /// The offsets (zero unless `some`).
        offsets: Offsets,
    }

    /// One node as a policy sees it.
    struct NodeView {
        /// The node's own address.
        address: Address,
        /// Connections it serves.
        connections: u32,
        /// Its round-trip time to the client in nanoseconds; -1: none.
        rtt_ns: i64,
        /// False for a node a policy should skip.
        available: bool,
    }

    /// A connection a policy places.
    struct ClientView {
        /// The client's address.
        address: Address,
        /// The client's port.
        port: u16,
        /// The node asking.
        local: Address,
        /// Every node, this one included.
        nodes: Vec<NodeView>,
    }

    /// A policy's answer.
    struct Choice {
        /// Keep the connection where it is.
        here: bool,
        /// Else the node to serve it.
        address: Address,
    }

    /// One connection's addresses and ports, for a flow binding.
    struct Flow {
        /// The client.
        client: Address,
        /// The client's port.
        client_port: u16,
        /// G.
        server: Address,
        /// The port served.
        server_port: u16,
    }

    /// What a policy answered when asked from a thread of the core's kind.
    struct Asked {
        /// The last answer.
        choice: Choice,
        /// Nanoseconds per call.
        nanos_per_call: u64,
    }

    extern "Rust" {
        /// A running node.
        type Framework;
        /// The connections of one port.
        type ServerSocket;
        /// One connection.
        type Socket;
        /// A policy as the core calls it.
        type Policy;

        /// Log lines on stderr, filtered by `filter` ("": `RUST_LOG`, else `info`).
        fn init_logging(filter: &str) -> Result<()>;
        /// Starts the node `local` of the configuration `config` on `interface`.
        fn framework_new(local: &[u8], config: &str, interface: &str) -> Result<Box<Framework>>;
        /// This node's own address.
        fn local_address(self: &Framework) -> Result<Address>;
        /// G.
        fn global_address(self: &Framework) -> Result<Address>;
        /// The configuration's service port.
        fn service_port(self: &Framework) -> Result<u16>;
        /// Places connections by `policy` from now on.
        fn set_policy(self: &Framework, policy: &Policy) -> Result<()>;
        /// The split handoff variant on or off.
        fn set_split_handoff(self: &Framework, split: bool) -> Result<()>;
        /// The connections of `port` (-1: the service port).
        fn server_socket(self: &Framework, port: i32) -> Result<Box<ServerSocket>>;
        /// Takes part in the replica network again.
        fn join_replica_network(self: &Framework) -> Result<()>;
        /// Leaves the replica network (connections are served on).
        fn leave_replica_network(self: &Framework) -> Result<()>;
        /// Stops the node (again: nothing).
        fn close(self: &Framework);

        /// The next connection; waits `timeout_ms` (-1: for ever).
        fn accept(self: &ServerSocket, timeout_ms: i64) -> Result<Box<Socket>>;
        /// The port served at G.
        fn port(self: &ServerSocket) -> u16;
        /// Stops serving the port here (again: nothing).
        fn close(self: &ServerSocket);

        /// Up to `buf.len()` bytes; 0 at the end.
        fn read(self: &Socket, buf: &mut [u8]) -> Result<usize>;
        /// Some of `buf`; how much.
        fn write(self: &Socket, buf: &[u8]) -> Result<usize>;
        /// Non-blocking reads and writes, or blocking ones.
        fn set_nonblocking(self: &Socket, nonblocking: bool) -> Result<()>;
        /// Hands the connection to `target` (empty: the policy's choice).
        fn handoff(self: &Socket, target: &[u8], nonblocking: bool) -> Result<bool>;
        /// The client.
        fn peer(self: &Socket) -> Result<SocketAddress>;
        /// G and the port.
        fn local(self: &Socket) -> Result<SocketAddress>;
        /// Bytes sent and received since the connection opened.
        fn position(self: &Socket) -> Result<Offsets>;
        /// Where a recovered connection resumes.
        fn recovered(self: &Socket) -> MaybeOffsets;
        /// True if the connection came by a handoff.
        fn handed_in(self: &Socket) -> bool;
        /// True once another node serves it.
        fn is_moved(self: &Socket) -> Result<bool>;
        /// The descriptor (-1 once closed).
        fn fd(self: &Socket) -> i32;
        /// Closes it; reads and writes blocked elsewhere end (again: nothing).
        fn close(self: &Socket);
        /// Closes it with a reset.
        fn reset(self: &Socket) -> Result<()>;

        /// The shipped policy `name`.
        fn policy_shipped(name: &str) -> Result<Box<Policy>>;
        /// The shipped policies' names.
        fn policy_names() -> Vec<String>;
        /// A C++ policy as the core calls it.
        fn policy_foreign(shim: SharedPtr<PolicyShim>, name: &str) -> Box<Policy>;
        /// The policy's choice for `client`, asked from this thread.
        fn select(self: &Policy, client: &ClientView) -> Choice;
        /// Tells the policy a handoff to `target` failed.
        fn notify(self: &Policy, target: &[u8]);
        /// Asks the policy `calls` times from a new native thread, as the
        /// core does (for tests and the benchmark).
        fn ask_from_core_thread(self: &Policy, client: &ClientView, calls: u32) -> Asked;

        /// How many objects C++ holds (frameworks, server sockets, sockets, policies).
        fn live_handles() -> usize;

        /// A node's signalling, the seed's section-3 API.
        type LowLevelNode;
        /// Starts the signalling of node `local` of the configuration `config`.
        fn low_level_node_start(local: &[u8], config: &str) -> Result<Box<LowLevelNode>>;
        /// The node's own address.
        fn care_of(self: &LowLevelNode) -> Address;
        /// `mip6_addr_passive`.
        fn addr_passive(self: &LowLevelNode) -> Result<()>;
        /// `mip6_addr_active`.
        fn addr_active(self: &LowLevelNode) -> Result<()>;
        /// Deregisters at the home agent.
        fn addr_inactive(self: &LowLevelNode) -> Result<()>;
        /// `mip6_handoff_mark`: the sequence number, or -1.
        fn handoff_mark(self: &LowLevelNode, client: &[u8]) -> Result<i32>;
        /// `mip6_handoff_start` for `flow` (empty: every connection), after `donor_seq` (-1: none).
        fn handoff_start(
            self: &LowLevelNode,
            client: &[u8],
            flow: &[Flow],
            donor_seq: i32,
        ) -> Result<()>;
        /// The split form's first half: return routability.
        fn handoff_prepare(self: &LowLevelNode, client: &[u8]) -> Result<()>;
        /// The split form's second half: the Binding Update.
        fn handoff_finish(
            self: &LowLevelNode,
            client: &[u8],
            flow: &[Flow],
            donor_seq: i32,
        ) -> Result<()>;
        /// `mip6_handoff_clear`.
        fn handoff_clear(self: &LowLevelNode, client: &[u8], flow: &[Flow]) -> Result<()>;
        /// True while the node keeps that binding fresh.
        fn holds_binding(self: &LowLevelNode, client: &[u8], flow: &[Flow]) -> Result<bool>;
    }

    unsafe extern "C++" {
        include!("gecko-cpp/src/policy_shim.h");

        /// A C++ policy (`gecko::GeckoPolicy`) behind a shared pointer.
        type PolicyShim;
        /// `SelectTarget`; an exception is an error here.
        fn select_target(self: &PolicyShim, client: &ClientView) -> Result<Choice>;
        /// `NotifyFailedHandoff`; an exception is an error here.
        fn notify_failed_handoff(self: &PolicyShim, target: &[u8]) -> Result<()>;
    }
}

// SAFETY: a PolicyShim only holds a std::shared_ptr to a user's policy,
// which the API documents as called from several threads at once (as in
// every language): users make their policies thread-safe.
unsafe impl Send for ffi::PolicyShim {}
// SAFETY: as above; its methods are const.
unsafe impl Sync for ffi::PolicyShim {}
