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

/// A shipped policy by its name (`random`, `round-robin`,
/// `least-connections`, `proximity`), for command lines and configs.
pub fn by_name(name: &str) -> Option<std::sync::Arc<dyn GeckoPolicy>> {
    let p: std::sync::Arc<dyn GeckoPolicy> = match name {
        "random" => std::sync::Arc::new(RandomPolicy),
        "round-robin" => std::sync::Arc::new(RoundRobinPolicy::default()),
        "least-connections" => std::sync::Arc::new(LeastConnectionsPolicy),
        "proximity" => std::sync::Arc::new(ProximityPolicy),
        _ => return None,
    };
    Some(p)
}

/// The names [`by_name`] knows.
pub const POLICY_NAMES: &[&str] = &["random", "round-robin", "least-connections", "proximity"];

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
        for n in POLICY_NAMES {
            assert!(by_name(n).is_some(), "{n}");
        }
        assert!(by_name("nearest").is_none());
    }
}
