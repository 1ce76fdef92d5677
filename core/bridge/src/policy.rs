//! The policies Gecko ships, by name (the library's one list), as every
//! binding looks them up: an unknown name is an `InvalidArgument`.

use crate::error::{BridgeError, ErrorKind};

pub use gecko::policy::ShippedPolicy;

/// The shipped policy called `name`; else `InvalidArgument` listing the
/// names.
pub fn shipped(name: &str) -> Result<ShippedPolicy, BridgeError> {
    name.parse().map_err(|e: gecko::policy::UnknownPolicy| {
        BridgeError::new(ErrorKind::InvalidArgument, e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_the_library() {
        for p in ShippedPolicy::ALL {
            assert_eq!(shipped(p.name()).unwrap(), p);
            assert_eq!(p.to_string(), p.name());
        }
        let e = shipped("nearest").unwrap_err();
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
