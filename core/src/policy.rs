//! Where a connection should be served: the seed's `GeckoPolicy` (section
//! 4.2.1) and the policies Gecko ships.
//!
//! [`GeckoPolicy`] is the one trait through which user code decides: the
//! Python, Java and C++ bindings implement it with the user's subclass, so
//! it has no generics or lifetimes, takes plain data and returns plain
//! data. The framework calls it from its own threads, off the runtime.

use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// One node as the framework sees it when a connection is placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// The node's own (care-of) address: what a policy returns to pick it.
    pub address: Ipv6Addr,
    /// Connections the node serves now (its latest report, plus the ones
    /// this node handed it since).
    pub connections: u32,
    /// The node's measured round-trip time to this client, if it has one.
    pub rtt: Option<Duration>,
    /// False for a node that did not report lately or that just failed a
    /// handoff of this connection: shipped policies skip it.
    pub available: bool,
}

/// What a policy is asked about: one client connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's address.
    pub address: Ipv6Addr,
    /// The client's port.
    pub port: u16,
    /// The node asking (the one that serves the connection now).
    pub local: Ipv6Addr,
    /// Every node of the distributed server, this one included.
    pub nodes: Vec<NodeView>,
}

impl ClientInfo {
    /// The nodes a shipped policy may choose from.
    pub fn available(&self) -> impl Iterator<Item = &NodeView> {
        self.nodes.iter().filter(|n| n.available)
    }
}

/// The seed's `GeckoPolicy`: decides which node serves a connection.
pub trait GeckoPolicy: Send + Sync {
    /// `SelectTarget`: the node that should serve `client`'s connection
    /// (one of `client.nodes`' addresses), or `None` to keep it here.
    /// Returning the local node's address also keeps it.
    fn select_target(&self, client: &ClientInfo) -> Option<Ipv6Addr>;

    /// `NotifyFailedHandoff`: a handoff toward `target` failed; the
    /// connection stayed where it was.
    fn notify_failed_handoff(&self, target: Ipv6Addr) {
        let _ = target;
    }
}

/// The seed's policy: any available node, uniformly at random.
#[derive(Debug, Default)]
pub struct RandomPolicy;

impl GeckoPolicy for RandomPolicy {
    fn select_target(&self, client: &ClientInfo) -> Option<Ipv6Addr> {
        let nodes: Vec<_> = client.available().collect();
        if nodes.is_empty() {
            return None;
        }
        Some(nodes[rand::random::<usize>() % nodes.len()].address)
    }
}

/// Available nodes in turn.
#[derive(Debug, Default)]
pub struct RoundRobinPolicy {
    next: AtomicUsize,
}

impl GeckoPolicy for RoundRobinPolicy {
    fn select_target(&self, client: &ClientInfo) -> Option<Ipv6Addr> {
        let nodes: Vec<_> = client.available().collect();
        if nodes.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        Some(nodes[i % nodes.len()].address)
    }
}

/// The available node serving the fewest connections (ties: the first in
/// configuration order).
#[derive(Debug, Default)]
pub struct LeastConnectionsPolicy;

impl GeckoPolicy for LeastConnectionsPolicy {
    fn select_target(&self, client: &ClientInfo) -> Option<Ipv6Addr> {
        client
            .available()
            .min_by_key(|n| n.connections)
            .map(|n| n.address)
    }
}

/// The available node with the lowest measured round-trip time to the
/// client; nodes that have not measured it yet count as farther than any
/// that have, and among those the least loaded wins.
#[derive(Debug, Default)]
pub struct ProximityPolicy;

impl GeckoPolicy for ProximityPolicy {
    fn select_target(&self, client: &ClientInfo) -> Option<Ipv6Addr> {
        client
            .available()
            .min_by_key(|n| (n.rtt.unwrap_or(Duration::MAX), n.connections))
            .map(|n| n.address)
    }
}

/// A policy Gecko ships: the one list every program and binding names
/// them from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShippedPolicy {
    /// Any available node, uniformly at random (the seed's).
    Random,
    /// Available nodes in turn.
    RoundRobin,
    /// The available node serving the fewest connections.
    LeastConnections,
    /// The available node with the lowest measured round-trip time.
    Proximity,
}

impl ShippedPolicy {
    /// Every shipped policy, in the order they are listed.
    pub const ALL: [ShippedPolicy; 4] = [
        ShippedPolicy::Random,
        ShippedPolicy::RoundRobin,
        ShippedPolicy::LeastConnections,
        ShippedPolicy::Proximity,
    ];

    /// Its name on command lines and in bindings.
    pub fn name(self) -> &'static str {
        match self {
            ShippedPolicy::Random => "random",
            ShippedPolicy::RoundRobin => "round-robin",
            ShippedPolicy::LeastConnections => "least-connections",
            ShippedPolicy::Proximity => "proximity",
        }
    }

    /// The names of [`Self::ALL`].
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|p| p.name()).collect()
    }

    /// A new instance (with its own state: round-robin's turn).
    pub fn build(self) -> std::sync::Arc<dyn GeckoPolicy> {
        match self {
            ShippedPolicy::Random => std::sync::Arc::new(RandomPolicy),
            ShippedPolicy::RoundRobin => std::sync::Arc::new(RoundRobinPolicy::default()),
            ShippedPolicy::LeastConnections => std::sync::Arc::new(LeastConnectionsPolicy),
            ShippedPolicy::Proximity => std::sync::Arc::new(ProximityPolicy),
        }
    }
}

impl std::fmt::Display for ShippedPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no shipped policy's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown policy `{0}` (known: {known})", known = ShippedPolicy::names().join(", "))]
pub struct UnknownPolicy(pub String);

impl std::str::FromStr for ShippedPolicy {
    type Err = UnknownPolicy;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| UnknownPolicy(name.to_string()))
    }
}

/// A new instance of the shipped policy called `name`, if there is one.
pub fn by_name(name: &str) -> Option<std::sync::Arc<dyn GeckoPolicy>> {
    name.parse::<ShippedPolicy>().ok().map(ShippedPolicy::build)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(last: u16, connections: u32, rtt_us: Option<u64>, available: bool) -> NodeView {
        NodeView {
            address: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, last),
            connections,
            rtt: rtt_us.map(Duration::from_micros),
            available,
        }
    }

    fn client(nodes: Vec<NodeView>) -> ClientInfo {
        ClientInfo {
            address: "2001:db8:c::1".parse().unwrap(),
            port: 40000,
            local: nodes[0].address,
            nodes,
        }
    }

    #[test]
    fn random_picks_only_available_nodes_and_all_of_them() {
        let c = client(vec![
            node(1, 0, None, true),
            node(2, 0, None, false),
            node(3, 0, None, true),
        ]);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let t = RandomPolicy.select_target(&c).unwrap();
            assert_ne!(t, c.nodes[1].address);
            seen.insert(t);
        }
        assert_eq!(seen.len(), 2);
        assert_eq!(
            RandomPolicy.select_target(&client(vec![node(1, 0, None, false)])),
            None
        );
    }

    #[test]
    fn round_robin_cycles() {
        let c = client(vec![
            node(1, 0, None, true),
            node(2, 0, None, true),
            node(3, 0, None, true),
        ]);
        let p = RoundRobinPolicy::default();
        let picks: Vec<_> = (0..6).map(|_| p.select_target(&c).unwrap()).collect();
        let want: Vec<_> = [0, 1, 2, 0, 1, 2]
            .iter()
            .map(|i| c.nodes[*i].address)
            .collect();
        assert_eq!(picks, want);
    }

    #[test]
    fn least_connections_and_proximity() {
        let c = client(vec![
            node(1, 5, Some(900), true),
            node(2, 2, None, true),
            node(3, 1, Some(300), false),
            node(4, 3, Some(400), true),
        ]);
        assert_eq!(
            LeastConnectionsPolicy.select_target(&c),
            Some(c.nodes[1].address)
        );
        assert_eq!(ProximityPolicy.select_target(&c), Some(c.nodes[3].address));
        let unmeasured = client(vec![node(1, 5, None, true), node(2, 2, None, true)]);
        assert_eq!(
            ProximityPolicy.select_target(&unmeasured),
            Some(unmeasured.nodes[1].address)
        );
    }

    #[test]
    fn names() {
        for p in ShippedPolicy::ALL {
            assert!(by_name(p.name()).is_some(), "{p}");
            assert_eq!(p.name().parse::<ShippedPolicy>(), Ok(p));
        }
        assert!(by_name("nearest").is_none());
        let e = "nearest".parse::<ShippedPolicy>().unwrap_err();
        assert!(e
            .to_string()
            .starts_with("unknown policy `nearest` (known: random, "));
    }
}
