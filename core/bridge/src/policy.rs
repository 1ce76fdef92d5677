//! The policies Gecko ships, by name: one list for every binding (its
//! classes, its `policy_by_name`, its list of names).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use gecko::policy::{
    GeckoPolicy, LeastConnectionsPolicy, ProximityPolicy, RandomPolicy, RoundRobinPolicy,
};

use crate::error::{BridgeError, ErrorKind};

/// A shipped policy.
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
    /// Every shipped policy, in the order bindings list them.
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
    pub fn build(self) -> Arc<dyn GeckoPolicy> {
        match self {
            ShippedPolicy::Random => Arc::new(RandomPolicy),
            ShippedPolicy::RoundRobin => Arc::new(RoundRobinPolicy::default()),
            ShippedPolicy::LeastConnections => Arc::new(LeastConnectionsPolicy),
            ShippedPolicy::Proximity => Arc::new(ProximityPolicy),
        }
    }
}

impl fmt::Display for ShippedPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ShippedPolicy {
    type Err = BridgeError;

    /// A name of [`ShippedPolicy::ALL`]; else `InvalidArgument` listing them.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                BridgeError::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "unknown policy `{name}` (known: {})",
                        Self::names().join(", ")
                    ),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_the_library() {
        for p in ShippedPolicy::ALL {
            assert_eq!(p.name().parse::<ShippedPolicy>().unwrap(), p);
            assert_eq!(p.to_string(), p.name());
            assert!(gecko::policy::by_name(p.name()).is_some());
        }
        assert_eq!(ShippedPolicy::names(), gecko::policy::POLICY_NAMES);
        let e = "nearest".parse::<ShippedPolicy>().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e
            .message()
            .starts_with("unknown policy `nearest` (known: random, "));
    }

    #[test]
    fn built_policies_decide() {
        let nodes: Vec<_> = (1..=3u16)
            .map(|i| gecko::policy::NodeView {
                address: std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, i, 0, 0, 0, 2),
                connections: u32::from(4 - i),
                rtt: None,
                available: true,
            })
            .collect();
        let client = gecko::policy::ClientInfo {
            address: "2001:db8:2::2".parse().unwrap(),
            port: 1,
            local: nodes[0].address,
            nodes,
        };
        let rr = ShippedPolicy::RoundRobin.build();
        let picks: Vec<_> = (0..4).map(|_| rr.select_target(&client).unwrap()).collect();
        assert_eq!(picks[0], picks[3]);
        assert_eq!(
            ShippedPolicy::LeastConnections
                .build()
                .select_target(&client),
            Some(client.nodes[2].address)
        );
    }
}
