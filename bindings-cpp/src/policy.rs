//! Policies for C++: a shipped one (decides in Rust), and a C++ one (a
//! `gecko::GeckoPolicy` subclass behind `PolicyShim`) as the bridge's
//! `ForeignPolicy`, called from the core's threads.

use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cxx::SharedPtr;
use gecko_bridge::foreign_policy::{self, ForeignPolicy, PolicyFailure};
use gecko_bridge::{ClientInfo, GeckoPolicy, NodeView, ShippedPolicy};

use crate::address::{address, ipv6};
use crate::error::{guard, Failure};
use crate::ffi::{self, Address, Asked, Choice, ClientView, PolicyShim};
use crate::live_count::Counted;

/// A policy as the core calls it.
pub struct Policy {
    policy: Arc<dyn GeckoPolicy>,
    _count: Counted,
}

impl Policy {
    pub(crate) fn of(policy: Arc<dyn GeckoPolicy>) -> Box<Policy> {
        Box::new(Policy {
            policy,
            _count: Counted::new(),
        })
    }

    /// The policy, shared with a framework.
    pub(crate) fn shared(&self) -> Arc<dyn GeckoPolicy> {
        Arc::clone(&self.policy)
    }

    pub(crate) fn select(&self, client: &ClientView) -> Choice {
        choice(self.policy.select_target(&client_info(client)))
    }

    pub(crate) fn ask_from_core_thread(&self, client: &ClientView, calls: u32) -> Asked {
        let client = client_info(client);
        let calls = calls.max(1);
        let policy = Arc::clone(&self.policy);
        let asked = std::thread::spawn(move || {
            let start = Instant::now();
            let mut last = None;
            for _ in 0..calls {
                last = policy.select_target(&client);
            }
            (last, start.elapsed().as_nanos() / u128::from(calls))
        })
        .join();
        // The adapter catches a policy's failures: a panic here is the
        // core's own, answered as "keep it here".
        let (last, nanos) = asked.unwrap_or((None, 0));
        Asked {
            choice: choice(last),
            nanos_per_call: u64::try_from(nanos).unwrap_or(u64::MAX),
        }
    }

    pub(crate) fn notify(&self, target: &[u8]) {
        if let Ok(t) = ipv6(target, "target") {
            self.policy.notify_failed_handoff(t);
        }
    }
}

/// The shipped policy `name`; an unknown name lists the known ones.
pub fn policy_shipped(name: &str) -> Result<Box<Policy>, Failure> {
    guard(|| Ok(Policy::of(gecko_bridge::policy::shipped(name)?.build())))
}

/// The shipped policies' names.
pub fn policy_names() -> Vec<String> {
    ShippedPolicy::names()
        .iter()
        .map(|n| n.to_string())
        .collect()
}

/// A C++ policy as the core calls it.
pub fn policy_foreign(shim: SharedPtr<PolicyShim>, name: &str) -> Box<Policy> {
    Policy::of(foreign_policy::adapt(CppPolicy {
        shim,
        name: name.to_string(),
    }))
}

/// A C++ policy: the shim keeps C++ exceptions on its side, as errors.
struct CppPolicy {
    shim: SharedPtr<PolicyShim>,
    name: String,
}

impl ForeignPolicy for CppPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn select_target(&self, client: &ClientInfo) -> Result<Option<Ipv6Addr>, PolicyFailure> {
        let shim = self
            .shim
            .as_ref()
            .ok_or_else(|| PolicyFailure::new("no policy", ""))?;
        match shim.select_target(&client_view(client)) {
            Ok(c) if c.here => Ok(None),
            Ok(c) => Ok(Some(Ipv6Addr::from(c.address.octets))),
            Err(e) => Err(PolicyFailure::new("SelectTarget threw", e.what())),
        }
    }

    fn notify_failed_handoff(&self, target: Ipv6Addr) -> Result<(), PolicyFailure> {
        let shim = self
            .shim
            .as_ref()
            .ok_or_else(|| PolicyFailure::new("no policy", ""))?;
        shim.notify_failed_handoff(&target.octets())
            .map_err(|e| PolicyFailure::new("NotifyFailedHandoff threw", e.what()))
    }
}

fn choice(c: Option<Ipv6Addr>) -> Choice {
    Choice {
        here: c.is_none(),
        address: address(c.unwrap_or(Ipv6Addr::UNSPECIFIED)),
    }
}

/// The client as C++ sees it.
fn client_view(c: &ClientInfo) -> ClientView {
    ClientView {
        address: address(c.address),
        port: c.port,
        local: address(c.local),
        nodes: c
            .nodes
            .iter()
            .map(|n| ffi::NodeView {
                address: address(n.address),
                connections: n.connections,
                rtt_ns: n
                    .rtt
                    .map_or(-1, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
                available: n.available,
            })
            .collect(),
    }
}

/// The client C++ gave.
fn client_info(c: &ClientView) -> ClientInfo {
    let ip = |a: &Address| Ipv6Addr::from(a.octets);
    ClientInfo {
        address: ip(&c.address),
        port: c.port,
        local: ip(&c.local),
        nodes: c
            .nodes
            .iter()
            .map(|n| NodeView {
                address: ip(&n.address),
                connections: n.connections,
                rtt: u64::try_from(n.rtt_ns).ok().map(Duration::from_nanos),
                available: n.available,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_crosses_both_ways() {
        let c = ClientInfo {
            address: "2001:db8:2:1::2".parse().unwrap(),
            port: 40000,
            local: "2001:db8:1:1::2".parse().unwrap(),
            nodes: vec![
                NodeView {
                    address: "2001:db8:1:1::2".parse().unwrap(),
                    connections: 3,
                    rtt: Some(Duration::from_micros(250)),
                    available: true,
                },
                NodeView {
                    address: "2001:db8:1:2::2".parse().unwrap(),
                    connections: 0,
                    rtt: None,
                    available: false,
                },
            ],
        };
        let back = client_info(&client_view(&c));
        assert_eq!(format!("{back:?}"), format!("{c:?}"));
    }

    #[test]
    fn a_shipped_policy_decides_in_rust() {
        let rr = policy_shipped("round-robin").unwrap();
        assert!(policy_shipped("nearest").is_err());
        let view = ClientView {
            address: address("2001:db8:2:1::2".parse().unwrap()),
            port: 1,
            local: address("2001:db8:1:1::2".parse().unwrap()),
            nodes: ["2001:db8:1:1::2", "2001:db8:1:2::2"]
                .iter()
                .map(|a| ffi::NodeView {
                    address: address(a.parse().unwrap()),
                    connections: 0,
                    rtt_ns: -1,
                    available: true,
                })
                .collect(),
        };
        let local: Ipv6Addr = "2001:db8:1:1::2".parse().unwrap();
        let picks: Vec<Ipv6Addr> = (0..4)
            .map(|_| Ipv6Addr::from(rr.select(&view).address.octets))
            .collect();
        // Round robin over two nodes, this one among them (its own address
        // keeps a connection here).
        assert_eq!(picks.iter().filter(|a| **a == local).count(), 2);
        assert_ne!(picks[0], picks[1]);
        assert_eq!(policy_names()[1], "round-robin");
    }
}
