//! Where a locked flow's captured packets go while its connection moves
//! (DESIGN.md, "Handoff", step 1): forwarded to the node that will hold
//! the connection, held until the local frozen socket thaws, or replayed
//! at once. Sans-I/O: the engine feeds it packets and the clock and does
//! what it answers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::dataplane::FlowKey;
use crate::tcp::flow_lock::Captured;

/// Where the captured packets of a locked flow go.
#[derive(Debug)]
pub(crate) enum Route {
    /// To the node that holds (or will hold) the connection. A donor keeps
    /// copies until the outcome, to replay them itself on failure.
    Forward {
        to: u16,
        copies: Option<Vec<Captured>>,
        until: Option<Instant>,
    },
    /// Kept until the local frozen socket thaws. `taking_in`: an offer
    /// (or a recovery) is being taken in here; false while only a peer's
    /// forwarded packets wait, which claims nothing (its donor may die
    /// before its offer leaves).
    Hold {
        packets: Vec<Captured>,
        since: Instant,
        taking_in: bool,
    },
    /// Replayed into the local socket at once.
    Live { until: Instant },
}

/// What to do with one captured packet.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Send it to this peer.
    Send(u16),
    /// Replay it into the local stack.
    Replay,
    /// Nothing more (held here, or nobody wants it).
    Drop,
}

/// The routes of every flow this node has locked or expects packets of.
#[derive(Debug, Default)]
pub(crate) struct RouteTable {
    routes: HashMap<FlowKey, Route>,
}

impl RouteTable {
    pub(crate) fn get(&self, flow: &FlowKey) -> Option<&Route> {
        self.routes.get(flow)
    }

    pub(crate) fn get_mut(&mut self, flow: &FlowKey) -> Option<&mut Route> {
        self.routes.get_mut(flow)
    }

    pub(crate) fn insert(&mut self, flow: FlowKey, route: Route) {
        self.routes.insert(flow, route);
    }

    pub(crate) fn remove(&mut self, flow: &FlowKey) -> Option<Route> {
        self.routes.remove(flow)
    }

    /// Routes one captured packet, from the local lock (`from` None) or
    /// forwarded by peer `from`.
    pub(crate) fn route_packet(
        &mut self,
        packet: &Captured,
        from: Option<u16>,
        now: Instant,
    ) -> Next {
        // A packet handed back by the node it was forwarded to is held,
        // not bounced, but only against a grace route: a handoff under way
        // (copies kept) still forwards it.
        let handed_back = matches!(
            self.routes.get(&packet.flow),
            Some(Route::Forward { to, copies: None, .. }) if from == Some(*to)
        );
        match self.routes.get_mut(&packet.flow) {
            Some(Route::Forward { to, copies, .. }) if !handed_back => {
                if let Some(c) = copies {
                    c.push(packet.clone());
                }
                Next::Send(*to)
            }
            Some(Route::Hold { packets, .. }) => {
                packets.push(packet.clone());
                Next::Drop
            }
            Some(Route::Live { .. }) => Next::Replay,
            // A peer's packets may come before its offer. The peer this
            // connection went to may also hand it back before this node's
            // grace ended: its packets wait for the offer too, rather than
            // going back and forth.
            _ if from.is_some() => {
                self.routes.insert(
                    packet.flow,
                    Route::Hold {
                        packets: vec![packet.clone()],
                        since: now,
                        taking_in: false,
                    },
                );
                Next::Drop
            }
            _ => Next::Drop,
        }
    }

    /// Drops the routes whose time is over at `now` (a Hold lasts
    /// `orphan`); returns the flows whose lock goes with them: a departed
    /// flow's, and an orphan's (a Hold whose offer never came).
    pub(crate) fn expire(&mut self, now: Instant, orphan: Duration) -> Vec<FlowKey> {
        let mut unlock = Vec::new();
        self.routes.retain(|flow, r| {
            let keep = match r {
                Route::Forward { until, .. } => until.is_none_or(|t| t > now),
                Route::Live { until } => *until > now,
                Route::Hold { since, .. } => now.duration_since(*since) < orphan,
            };
            if !keep && matches!(r, Route::Forward { .. } | Route::Hold { .. }) {
                unlock.push(*flow);
            }
            keep
        });
        unlock
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn flow(port: u16) -> FlowKey {
        FlowKey {
            client: Ipv6Addr::new(0x2001, 0xdb8, 2, 1, 0, 0, 0, 2),
            client_port: port,
            server: Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1),
            server_port: 7,
        }
    }

    fn packet(port: u16, byte: u8) -> Captured {
        Captured {
            flow: flow(port),
            segment: vec![byte; 24],
        }
    }

    #[test]
    fn a_donor_forwards_and_keeps_copies_until_the_outcome() {
        let mut t = RouteTable::default();
        let now = Instant::now();
        t.insert(
            flow(1),
            Route::Forward {
                to: 2,
                copies: Some(vec![]),
                until: None,
            },
        );
        assert_eq!(t.route_packet(&packet(1, 1), None, now), Next::Send(2));
        // Even one the acceptor sends back: a handoff is under way.
        assert_eq!(t.route_packet(&packet(1, 2), Some(2), now), Next::Send(2));
        let Some(Route::Forward {
            copies: Some(c), ..
        }) = t.get(&flow(1))
        else {
            panic!("route changed");
        };
        assert_eq!(c.len(), 2, "every forwarded packet is copied");
    }

    #[test]
    fn a_packet_handed_back_during_the_grace_waits_for_the_offer() {
        let mut t = RouteTable::default();
        let now = Instant::now();
        t.insert(
            flow(1),
            Route::Forward {
                to: 2,
                copies: None,
                until: Some(now + Duration::from_secs(1)),
            },
        );
        // From another node: forwarded on.
        assert_eq!(t.route_packet(&packet(1, 1), Some(3), now), Next::Send(2));
        // From the node it went to: held here, not bounced back.
        assert_eq!(t.route_packet(&packet(1, 2), Some(2), now), Next::Drop);
        assert!(matches!(
            t.get(&flow(1)),
            Some(Route::Hold { packets, taking_in: false, .. }) if packets.len() == 1
        ));
    }

    #[test]
    fn a_peers_packets_before_its_offer_are_held_and_local_strays_dropped() {
        let mut t = RouteTable::default();
        let now = Instant::now();
        assert_eq!(t.route_packet(&packet(1, 1), None, now), Next::Drop);
        assert!(t.get(&flow(1)).is_none(), "a local stray claims nothing");
        assert_eq!(t.route_packet(&packet(1, 1), Some(4), now), Next::Drop);
        assert_eq!(t.route_packet(&packet(1, 2), Some(4), now), Next::Drop);
        let Some(Route::Hold { packets, .. }) = t.get(&flow(1)) else {
            panic!("not held");
        };
        assert_eq!(
            packets.iter().map(|p| p.segment[0]).collect::<Vec<_>>(),
            [1, 2]
        );
    }

    #[test]
    fn a_live_flow_replays_at_once() {
        let mut t = RouteTable::default();
        let now = Instant::now();
        t.insert(
            flow(1),
            Route::Live {
                until: now + Duration::from_secs(1),
            },
        );
        assert_eq!(t.route_packet(&packet(1, 1), Some(2), now), Next::Replay);
        assert_eq!(t.route_packet(&packet(1, 1), None, now), Next::Replay);
    }

    #[test]
    fn expiry_unlocks_departed_flows_and_orphans_but_not_live_ones() {
        let mut t = RouteTable::default();
        let t0 = Instant::now();
        let orphan = Duration::from_secs(10);
        t.insert(
            flow(1),
            Route::Forward {
                to: 2,
                copies: None,
                until: Some(t0 + Duration::from_secs(1)),
            },
        );
        t.insert(
            flow(2),
            Route::Forward {
                to: 2,
                copies: Some(vec![]),
                until: None,
            },
        );
        t.insert(
            flow(3),
            Route::Live {
                until: t0 + Duration::from_secs(1),
            },
        );
        t.insert(
            flow(4),
            Route::Hold {
                packets: vec![],
                since: t0,
                taking_in: true,
            },
        );
        assert!(t.expire(t0, orphan).is_empty());
        let mut unlocked = t.expire(t0 + Duration::from_secs(2), orphan);
        unlocked.sort_by_key(|f| f.client_port);
        assert_eq!(unlocked, [flow(1)], "the live route goes without unlocking");
        assert!(t.get(&flow(3)).is_none());
        assert!(t.get(&flow(2)).is_some(), "a handoff under way has no end");
        assert_eq!(t.expire(t0 + orphan, orphan), [flow(4)]);
    }
}
