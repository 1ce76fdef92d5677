//! The home agent of RFC 6275 §10 as a sans-I/O state machine: what
//! `gecko-ha` runs. It accepts home registrations for G from the contact
//! node (or an authorised backup), authenticated with the RFC 4285 MN-HA
//! key and fresh timestamps, and says which route to install. For clients
//! that run no agent it also takes flow registrations from any node: one
//! connection to G steered to the node that serves it (RFC 5648 binding
//! identifiers, RFC 6089 flow bindings, at the home agent).

use std::net::Ipv6Addr;
use std::time::{Duration, Instant, SystemTime};

use super::binding_update::FlowBinding;
use super::correspondent::Outgoing;
use super::flow_cache::FlowCache;
use super::mn_ha_auth::{MnHaKey, NtpTimestamp, ReplayGuard};
use super::seq::SeqNum;
use super::wire::{
    ba_status, BaFlags, Message, MhType, MobilityOption, Packet, Repr, AUTH_SUBTYPE_MN_HA,
};
use crate::dataplane::FlowKey;

/// Something the driver must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HaAction {
    /// Route the home address to the care-of address (SRv6 inline).
    Route {
        /// G.
        home: Ipv6Addr,
        /// The contact node's address.
        care_of: Ipv6Addr,
    },
    /// Remove the home address's route.
    Unroute {
        /// G.
        home: Ipv6Addr,
    },
    /// Steer one connection to G to a node (replacing where it went).
    BindFlow {
        /// The connection, as the client sends it.
        flow: FlowKey,
        /// The node serving it.
        care_of: Ipv6Addr,
    },
    /// Stop steering one connection: it follows G's route again.
    UnbindFlow {
        /// The connection.
        flow: FlowKey,
    },
    /// Send a Binding Acknowledgement. It follows the data-plane change it
    /// reports: a driver whose change was refused must not send it.
    Send(Outgoing),
}

/// What became of one received message, for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaHandled {
    /// Its type as a metric label.
    pub message: &'static str,
    /// What it registers as a metric label: `home` (G itself) or `flow`
    /// (one connection of a client without an agent).
    pub kind: &'static str,
    /// Why it was refused; `None` if accepted.
    pub rejected: Option<&'static str>,
    /// Whether a registration (or deregistration) was accepted.
    pub registered: bool,
    /// What to do about it.
    pub actions: Vec<HaAction>,
}

/// What the home agent is configured with.
#[derive(Debug, Clone)]
pub struct HomeAgentSettings {
    /// The home agent's own address.
    pub address: Ipv6Addr,
    /// The home address it serves (G).
    pub home: Ipv6Addr,
    /// Node addresses allowed to register G: the contact and its backups.
    pub authorised: Vec<Ipv6Addr>,
    /// Every node's address: each may register flows of its connections.
    pub nodes: Vec<Ipv6Addr>,
    /// The MN-HA key and SPI.
    pub key: MnHaKey,
    /// Longest lifetime granted.
    pub max_lifetime: Duration,
    /// Most flows bound at once.
    pub max_flows: usize,
}

/// The default bound on flow bindings: room for the 100,000 connections
/// a home agent is sized for, and more.
pub const DEFAULT_MAX_FLOWS: usize = 1 << 20;

#[derive(Debug, Clone, Copy)]
struct Registration {
    care_of: Ipv6Addr,
    expires: Instant,
}

/// The home agent: home registrations, flow registrations and their
/// lifetimes.
#[derive(Debug)]
pub struct HomeAgent {
    config: HomeAgentSettings,
    guard: ReplayGuard,
    last_seq: Option<SeqNum>,
    binding: Option<Registration>,
    flows: FlowCache,
}

/// A Binding Update that passed authentication, with what it carries.
struct Authentic {
    src: Ipv6Addr,
    care_of: Ipv6Addr,
    seq: SeqNum,
    lifetime: u16,
    ts: NtpTimestamp,
}

/// Why an authentic registration was refused: a metric label, and the BA
/// that says so (its status and the sequence number it reports).
struct Refusal {
    reason: &'static str,
    status: u8,
    sequence: SeqNum,
}

impl Refusal {
    fn new(reason: &'static str, status: u8, sequence: SeqNum) -> Refusal {
        Refusal {
            reason,
            status,
            sequence,
        }
    }
}

impl HomeAgent {
    /// A home agent with no registration yet.
    pub fn new(config: HomeAgentSettings) -> Self {
        let guard = ReplayGuard::new();
        let flows = FlowCache::new(config.max_flows, guard.window());
        HomeAgent {
            config,
            guard,
            last_seq: None,
            binding: None,
            flows,
        }
    }

    /// The care-of address G is bound to, if any.
    pub fn binding(&self) -> Option<Ipv6Addr> {
        self.binding.map(|b| b.care_of)
    }

    /// The flow bindings.
    pub fn flows(&self) -> &FlowCache {
        &self.flows
    }

    /// Handles a message from `src` to `dst` received at `now` (`wall` is
    /// the clock the RFC 4285 timestamps are checked against).
    pub fn handle(
        &mut self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        mh: &[u8],
        now: Instant,
        wall: SystemTime,
    ) -> HaHandled {
        let mut out = HaHandled {
            message: "malformed",
            kind: "home",
            rejected: Some("malformed"),
            registered: false,
            actions: Vec::new(),
        };
        let Ok(packet) = Packet::new_checked(mh) else {
            return out;
        };
        out.message = MhType::name_of(packet.msg_type());
        let repr = match Repr::parse(&packet, &src, &dst) {
            Ok(r) => r,
            Err(_) => return out,
        };
        let Message::BindingUpdate {
            sequence,
            flags,
            lifetime,
        } = repr.message
        else {
            out.rejected = Some("unexpected");
            return out;
        };
        if !flags.home() {
            out.rejected = Some("not_home_registration");
            return out;
        }
        let mut care_of = src;
        let mut timestamp = None;
        let mut spi = None;
        let (mut bids, mut fids) = (Vec::new(), Vec::new());
        for o in &repr.options {
            match o {
                MobilityOption::AlternateCareOf(a) => care_of = *a,
                MobilityOption::ReplayProtection { timestamp: t } => timestamp = Some(*t),
                MobilityOption::MessageAuthentication {
                    subtype: AUTH_SUBTYPE_MN_HA,
                    spi: s,
                    ..
                } => spi = Some(*s),
                MobilityOption::BindingIdentifier { bid, .. } => bids.push(*bid),
                MobilityOption::FlowIdentification(f) => fids.push(f),
                _ => {}
            }
        }
        if !bids.is_empty() || !fids.is_empty() {
            out.kind = "flow";
        }
        let seq = SeqNum(sequence);
        // Until the message is authentic, nothing is answered: a BA would
        // let anyone probe the home agent, and a forged one changes nothing.
        let (Some(spi), Some((prefix, auth))) =
            (spi, packet.message_auth_prefix(AUTH_SUBTYPE_MN_HA))
        else {
            out.rejected = Some("unauthenticated");
            return out;
        };
        if spi != self.config.key.spi()
            || self
                .config
                .key
                .verify(&care_of, &src, prefix, auth)
                .is_err()
        {
            out.rejected = Some("bad_authenticator");
            return out;
        }
        let Some(ts) = timestamp else {
            out.rejected = Some("unauthenticated");
            out.actions.extend(ack(
                &self.config,
                src,
                care_of,
                (ba_status::MESG_ID_REQD, seq, 0),
                0,
                None,
            ));
            return out;
        };
        let msg = Authentic {
            src,
            care_of,
            seq,
            lifetime,
            ts: NtpTimestamp(ts),
        };
        // A flow registration's BA echoes the flow it names, if it names one.
        let (binding, result) = match (out.kind, bids.as_slice(), fids.as_slice()) {
            ("home", _, _) => (None, self.home_registration(&msg, now, wall)),
            (_, [bid], [fid]) => {
                let binding = FlowBinding::parse(*bid, fid).ok();
                let result = self.flow_registration(&msg, binding.as_ref(), now, wall);
                (binding, result)
            }
            _ => (
                None,
                Err(Refusal::new("bad_flow", ba_status::ADMIN_PROHIBITED, seq)),
            ),
        };
        let reply = |answer| ack(&self.config, src, care_of, answer, ts, binding.as_ref());
        match result {
            Ok((change, units)) => {
                out.rejected = None;
                out.registered = true;
                out.actions.extend(change);
                if flags.ack() {
                    out.actions.extend(reply((ba_status::ACCEPTED, seq, units)));
                }
            }
            Err(r) => {
                out.rejected = Some(r.reason);
                out.actions.extend(reply((r.status, r.sequence, 0)));
            }
        }
        out
    }

    /// G's own registration: the contact node (or an authorised backup).
    /// Returns the route change and the lifetime granted, in units.
    fn home_registration(
        &mut self,
        m: &Authentic,
        now: Instant,
        wall: SystemTime,
    ) -> Result<(Option<HaAction>, u16), Refusal> {
        let wall = NtpTimestamp::from_system_time(wall);
        if self.guard.accept(m.ts, wall).is_err() {
            return Err(Refusal::new("replayed", ba_status::ID_MISMATCH, m.seq));
        }
        if m.src != self.config.home {
            return Err(Refusal::new(
                "not_home_subnet",
                ba_status::NOT_HOME_SUBNET,
                m.seq,
            ));
        }
        if m.lifetime != 0 && !self.config.authorised.contains(&m.care_of) {
            return Err(Refusal::new(
                "not_authorised",
                ba_status::ADMIN_PROHIBITED,
                m.seq,
            ));
        }
        if let Some(last) = self.last_seq {
            if !m.seq.is_newer_than(last) {
                let status = ba_status::SEQ_OUT_OF_WINDOW;
                return Err(Refusal::new("sequence_out_of_window", status, last));
            }
        }
        self.last_seq = Some(m.seq);
        let (granted, units) = self.grant(m.lifetime);
        let change = if m.lifetime == 0 {
            self.binding
                .take()
                .map(|_| HaAction::Unroute { home: m.src })
        } else {
            self.binding = Some(Registration {
                care_of: m.care_of,
                expires: now + granted,
            });
            Some(HaAction::Route {
                home: m.src,
                care_of: m.care_of,
            })
        };
        Ok((change, units))
    }

    /// One connection's registration by the node that serves it (`binding`:
    /// the flow it names, `None` if its options name none). Replay
    /// protection is per flow (timestamp and sequence number newer than
    /// the flow's last), so that nodes registering many flows at once need
    /// not order their messages among themselves.
    fn flow_registration(
        &mut self,
        m: &Authentic,
        binding: Option<&FlowBinding>,
        now: Instant,
        wall: SystemTime,
    ) -> Result<(Option<HaAction>, u16), Refusal> {
        let refuse = |reason, status| Err(Refusal::new(reason, status, m.seq));
        let previous = binding.and_then(|b| self.flows.get(&b.flow)).copied();
        let stale = self
            .guard
            .check_window(m.ts, NtpTimestamp::from_system_time(wall))
            .is_err();
        if stale || previous.is_some_and(|p| m.ts.signed_diff(p.stamp) <= 0) {
            return refuse("replayed", ba_status::ID_MISMATCH);
        }
        if m.src != self.config.home {
            return refuse("not_home_subnet", ba_status::NOT_HOME_SUBNET);
        }
        let Some(binding) = binding else {
            return refuse("bad_flow", ba_status::ADMIN_PROHIBITED);
        };
        let flow = binding.flow;
        if flow.server != self.config.home || !is_client_address(&flow.client, &self.config) {
            return refuse("not_home_address", ba_status::ADMIN_PROHIBITED);
        }
        if !self.config.nodes.contains(&m.care_of) {
            return refuse("not_authorised", ba_status::ADMIN_PROHIBITED);
        }
        if let Some(p) = previous {
            let behind = |reason| {
                let status = ba_status::SEQ_OUT_OF_WINDOW;
                Err(Refusal::new(reason, status, p.sequence))
            };
            if !m.seq.is_newer_than(p.sequence) {
                return behind("sequence_out_of_window");
            }
            // Only the node serving a flow may remove it; for any other the
            // binding it would remove was replaced (135: nothing to undo).
            if m.lifetime == 0 && p.care_of.is_some_and(|c| c != m.care_of) {
                return behind("not_holder");
            }
        }
        let (granted, units) = self.grant(m.lifetime);
        let change = if m.lifetime == 0 {
            self.flows
                .unbind(flow, m.seq, m.ts, now)
                .then_some(HaAction::UnbindFlow { flow })
        } else {
            let until = now + granted;
            if let Err(e) = self
                .flows
                .bind(flow, m.care_of, m.seq, m.ts, binding.bid, until)
            {
                tracing::debug!(error = %e, "flow registration refused");
                return refuse("table_full", ba_status::INSUFFICIENT_RESOURCES);
            }
            Some(HaAction::BindFlow {
                flow,
                care_of: m.care_of,
            })
        };
        Ok((change, units))
    }

    /// The lifetime granted for `lifetime` units asked: capped by the
    /// configuration; with the units it comes to.
    fn grant(&self, lifetime: u16) -> (Duration, u16) {
        let granted = (Duration::from_secs(4) * u32::from(lifetime)).min(self.config.max_lifetime);
        (granted, (granted.as_secs() / 4) as u16)
    }

    /// The kernel refused to steer `flow`: the binding is dropped (its
    /// sequence number and timestamp stay, as for a removal), so the node
    /// hears no BA and the cache says what the kernel does.
    pub fn flow_not_installed(&mut self, flow: FlowKey, now: Instant) {
        if let Some(e) = self.flows.get(&flow).copied() {
            self.flows.unbind(flow, e.sequence, e.stamp, now);
        }
    }

    /// Removes the registration and the flow bindings whose lifetime ran
    /// out.
    pub fn expire(&mut self, now: Instant) -> Vec<HaAction> {
        let mut actions = Vec::new();
        if let Some(b) = self.binding {
            if b.expires <= now {
                self.binding = None;
                actions.push(HaAction::Unroute {
                    home: self.config.home,
                });
            }
        }
        actions.extend(
            self.flows
                .expire(now)
                .into_iter()
                .map(|flow| HaAction::UnbindFlow { flow }),
        );
        actions
    }

    /// When [`HomeAgent::expire`] next has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        let home = self.binding.map(|b| b.expires);
        [home, self.flows.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }
}

/// A client a flow may come from: a global unicast address that is none
/// of G, the home agent or a node.
fn is_client_address(a: &Ipv6Addr, config: &HomeAgentSettings) -> bool {
    !(a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        || *a == config.home
        || *a == config.address
        || config.nodes.contains(a))
}

/// A signed BA, sent to the care-of address (the node's own address:
/// without a binding, G does not reach it yet), saying (status, sequence
/// number, lifetime units). A flow registration's BA echoes its Binding
/// Identifier and Flow Identification (RFC 6089 §4.2), so the node tells
/// apart the answers for its many flows.
fn ack(
    config: &HomeAgentSettings,
    home: Ipv6Addr,
    care_of: Ipv6Addr,
    (status, sequence, lifetime): (u8, SeqNum, u16),
    ts: u64,
    flow: Option<&FlowBinding>,
) -> Option<HaAction> {
    let mut options: Vec<MobilityOption> = flow.map(|f| f.options().to_vec()).unwrap_or_default();
    options.extend([
        MobilityOption::ReplayProtection { timestamp: ts },
        MobilityOption::MessageAuthentication {
            subtype: AUTH_SUBTYPE_MN_HA,
            spi: config.key.spi(),
            authenticator: [0; 12],
        },
    ]);
    let repr = Repr {
        message: Message::BindingAck {
            status,
            flags: BaFlags(0),
            sequence: sequence.0,
            lifetime,
        },
        options,
    };
    let src = config.address;
    let key = &config.key;
    let mac = |prefix: &[u8]| key.authenticator(&care_of, &home, prefix);
    Outgoing::new(&repr, src, care_of, false, Some(&mac)).map(HaAction::Send)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mipv6::mobile_node::{
        home_registration, read_reply, AckKey, HomeRegistration, Reply,
    };
    use crate::mipv6::wire::{MobilityOption, Packet, Repr};

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    const G: &str = "2001:db8:ffff::1";
    const HA: &str = "2001:db8:ffff::fe";
    const NODE1: &str = "2001:db8:1:1::2";
    const NODE2: &str = "2001:db8:1:2::2";

    fn key() -> MnHaKey {
        MnHaKey::new(256, &[5; 20]).unwrap()
    }

    fn agent() -> HomeAgent {
        HomeAgent::new(HomeAgentSettings {
            address: a(HA),
            home: a(G),
            authorised: vec![a(NODE1)],
            nodes: vec![a(NODE1), a(NODE2)],
            key: key(),
            max_lifetime: Duration::from_secs(60),
            max_flows: 3,
        })
    }

    fn registration(seq: u16, lifetime: u16, wall: SystemTime, care_of: &str) -> Vec<u8> {
        let reg = HomeRegistration {
            home: a(G),
            home_agent: a(HA),
            care_of: a(care_of),
            sequence: SeqNum(seq),
            lifetime,
            timestamp: NtpTimestamp::from_system_time(wall),
            flow: None,
        };
        home_registration(&reg, &key()).unwrap()
    }

    fn ack_of(h: &HaHandled) -> Reply {
        let Some(HaAction::Send(o)) = h.actions.last() else {
            panic!("no BA: {h:?}")
        };
        read_reply(&o.mh, &o.src, &o.dst, &a(G), AckKey::HomeAgent(&key())).unwrap()
    }

    #[test]
    fn registers_refreshes_and_deregisters() {
        let mut ha = agent();
        let (now, wall) = (Instant::now(), SystemTime::now());
        let h = ha.handle(a(G), a(HA), &registration(1, 100, wall, NODE1), now, wall);
        assert_eq!((h.rejected, h.registered), (None, true), "{h:?}");
        assert_eq!(
            h.actions[0],
            HaAction::Route {
                home: a(G),
                care_of: a(NODE1)
            }
        );
        // Lifetime capped at the configured 60 s; the BA is authentic.
        let Reply::BindingAck {
            status, lifetime, ..
        } = ack_of(&h)
        else {
            panic!()
        };
        assert_eq!((status, lifetime), (0, 15));
        assert_eq!(ha.binding(), Some(a(NODE1)));

        let wall2 = wall + Duration::from_millis(10);
        let h = ha.handle(a(G), a(HA), &registration(2, 0, wall2, NODE1), now, wall2);
        assert_eq!(h.actions[0], HaAction::Unroute { home: a(G) });
        assert_eq!(ha.binding(), None);
    }

    #[test]
    fn forged_replayed_and_unauthorised_registrations_change_nothing() {
        let mut ha = agent();
        let (now, wall) = (Instant::now(), SystemTime::now());
        let good = registration(1, 15, wall, NODE1);

        let mut forged = good.clone();
        let n = forged.len();
        forged[n - 1] ^= 1;
        crate::mipv6::wire::fill_checksum(&mut forged, &a(G), &a(HA)).unwrap();
        let h = ha.handle(a(G), a(HA), &forged, now, wall);
        assert_eq!(
            (h.rejected, h.actions.len()),
            (Some("bad_authenticator"), 0)
        );

        let other_key = MnHaKey::new(256, &[6; 20]).unwrap();
        let reg = HomeRegistration {
            home: a(G),
            home_agent: a(HA),
            care_of: a(NODE1),
            sequence: SeqNum(1),
            lifetime: 15,
            timestamp: NtpTimestamp::from_system_time(wall),
            flow: None,
        };
        let keyless = home_registration(&reg, &other_key).unwrap();
        assert_eq!(
            ha.handle(a(G), a(HA), &keyless, now, wall).rejected,
            Some("bad_authenticator")
        );
        assert_eq!(ha.binding(), None);

        assert_eq!(ha.handle(a(G), a(HA), &good, now, wall).rejected, None);
        // The same message again: its timestamp is not newer.
        let h = ha.handle(a(G), a(HA), &good, now, wall);
        assert_eq!(h.rejected, Some("replayed"));
        assert!(!h
            .actions
            .iter()
            .any(|a| matches!(a, HaAction::Route { .. } | HaAction::Unroute { .. })));
        let Reply::BindingAck { status, .. } = ack_of(&h) else {
            panic!()
        };
        assert_eq!(status, ba_status::ID_MISMATCH);

        // A stale timestamp (a minute old) is refused too.
        let old = wall - Duration::from_secs(60);
        let h = ha.handle(a(G), a(HA), &registration(5, 15, old, NODE1), now, wall);
        assert_eq!(h.rejected, Some("replayed"));

        // A node that is neither contact nor backup may not take G.
        let wall3 = wall + Duration::from_secs(1);
        let h = ha.handle(
            a(G),
            a(HA),
            &registration(6, 15, wall3, "2001:db8:1:9::2"),
            now,
            wall3,
        );
        assert_eq!(h.rejected, Some("not_authorised"));
        assert_eq!(ha.binding(), Some(a(NODE1)));
    }

    #[test]
    fn registration_expires() {
        let mut ha = agent();
        let (now, wall) = (Instant::now(), SystemTime::now());
        ha.handle(a(G), a(HA), &registration(1, 2, wall, NODE1), now, wall);
        assert_eq!(ha.next_deadline(), Some(now + Duration::from_secs(8)));
        assert!(ha.expire(now + Duration::from_secs(7)).is_empty());
        assert_eq!(
            ha.expire(now + Duration::from_secs(8)),
            vec![HaAction::Unroute { home: a(G) }]
        );
        assert_eq!(ha.binding(), None);
    }

    #[test]
    fn a_forged_ack_is_refused_by_the_node() {
        let mut ha = agent();
        let (now, wall) = (Instant::now(), SystemTime::now());
        let h = ha.handle(a(G), a(HA), &registration(1, 15, wall, NODE1), now, wall);
        let Some(HaAction::Send(o)) = h.actions.last() else {
            panic!()
        };
        let other = MnHaKey::new(256, &[6; 20]).unwrap();
        assert!(read_reply(&o.mh, &o.src, &o.dst, &a(G), AckKey::HomeAgent(&other)).is_err());
        assert!(read_reply(&o.mh, &o.src, &o.dst, &a(G), AckKey::None).is_err());
    }

    fn conn(port: u16) -> FlowKey {
        FlowKey {
            client: a("2001:db8:3:1::2"),
            client_port: port,
            server: a(G),
            server_port: 7,
        }
    }

    /// A flow registration as a node sends it: from G, signed with the
    /// MN-HA key, stamped `ms` milliseconds after `wall`.
    fn flow_reg(
        flow: FlowKey,
        seq: u16,
        lifetime: u16,
        wall: SystemTime,
        ms: u64,
        care_of: &str,
    ) -> Vec<u8> {
        let reg = HomeRegistration {
            home: a(G),
            home_agent: a(HA),
            care_of: a(care_of),
            sequence: SeqNum(seq),
            lifetime,
            timestamp: NtpTimestamp::from_system_time(wall + Duration::from_millis(ms)),
            flow: Some(FlowBinding {
                bid: flow.client_port,
                fid: flow.client_port,
                flow,
            }),
        };
        home_registration(&reg, &key()).unwrap()
    }

    fn status_of(h: &HaHandled) -> (u8, Option<FlowKey>) {
        let Reply::BindingAck { status, flow, .. } = ack_of(h) else {
            panic!("not a BA")
        };
        (status, flow)
    }

    fn routed(h: &HaHandled) -> bool {
        h.actions.iter().any(|a| !matches!(a, HaAction::Send(_)))
    }

    #[test]
    fn flows_bind_move_between_nodes_and_unbind() {
        let mut ha = agent();
        let (now, wall) = (Instant::now(), SystemTime::now());
        let f = conn(40000);
        let h = ha.handle(
            a(G),
            a(HA),
            &flow_reg(f, 10, 100, wall, 0, NODE1),
            now,
            wall,
        );
        assert_eq!((h.kind, h.rejected, h.registered), ("flow", None, true));
        assert_eq!(
            h.actions[0],
            HaAction::BindFlow {
                flow: f,
                care_of: a(NODE1)
            }
        );
        // The BA comes after the change and names the flow.
        assert_eq!(status_of(&h), (ba_status::ACCEPTED, Some(f)));
        assert_eq!(ha.flows().holder(&f), Some(a(NODE1)));
        // G's own binding is untouched.
        assert_eq!(ha.binding(), None);

        // A handoff: node2 registers with the next number.
        let h = ha.handle(
            a(G),
            a(HA),
            &flow_reg(f, 11, 100, wall, 5, NODE2),
            now,
            wall,
        );
        assert_eq!(h.rejected, None);
        assert_eq!(ha.flows().holder(&f), Some(a(NODE2)));
        // node1 may no longer remove it: 135 says it was replaced.
        let h = ha.handle(a(G), a(HA), &flow_reg(f, 12, 0, wall, 6, NODE1), now, wall);
        assert_eq!(h.rejected, Some("not_holder"));
        assert!(!routed(&h));
        assert_eq!(status_of(&h).0, ba_status::SEQ_OUT_OF_WINDOW);
        // node2 removes it at close.
        let h = ha.handle(a(G), a(HA), &flow_reg(f, 12, 0, wall, 7, NODE2), now, wall);
        assert_eq!(h.actions[0], HaAction::UnbindFlow { flow: f });
        assert_eq!((ha.flows().holder(&f), ha.flows().live()), (None, 0));
    }

    #[test]
    fn many_nodes_register_flows_in_any_order() {
        let mut ha = agent();
        let (now, wall) = (Instant::now(), SystemTime::now());
        // node2's stamps are older than node1's, and each flow has its own
        // numbers: per-flow replay protection takes them all.
        let h1 = ha.handle(
            a(G),
            a(HA),
            &flow_reg(conn(1), 500, 9, wall, 50, NODE1),
            now,
            wall,
        );
        let h2 = ha.handle(
            a(G),
            a(HA),
            &flow_reg(conn(2), 7, 9, wall, 10, NODE2),
            now,
            wall,
        );
        assert_eq!((h1.rejected, h2.rejected), (None, None));
        assert_eq!(ha.flows().live(), 2);
        // A home registration is still checked against its own last stamp.
        let h = ha.handle(a(G), a(HA), &registration(1, 9, wall, NODE1), now, wall);
        assert_eq!(h.rejected, None);
    }

    #[test]
    fn forged_replayed_stranger_and_foreign_flow_registrations_change_nothing() {
        let mut ha = agent();
        let (now, wall) = (Instant::now(), SystemTime::now());
        let f = conn(40001);
        let good = flow_reg(f, 1, 15, wall, 0, NODE1);

        let mut forged = good.clone();
        let n = forged.len();
        forged[n - 1] ^= 1;
        crate::mipv6::wire::fill_checksum(&mut forged, &a(G), &a(HA)).unwrap();
        let h = ha.handle(a(G), a(HA), &forged, now, wall);
        assert_eq!(
            (h.kind, h.rejected, h.actions.len()),
            ("flow", Some("bad_authenticator"), 0)
        );

        assert_eq!(ha.handle(a(G), a(HA), &good, now, wall).rejected, None);
        let h = ha.handle(a(G), a(HA), &good, now, wall);
        assert_eq!(h.rejected, Some("replayed"));
        assert!(!routed(&h));
        assert_eq!(status_of(&h), (ba_status::ID_MISMATCH, Some(f)));

        // Removed, then replayed within the window: the tombstone refuses.
        let rm = flow_reg(f, 2, 0, wall, 1, NODE1);
        assert_eq!(ha.handle(a(G), a(HA), &rm, now, wall).rejected, None);
        assert_eq!(
            ha.handle(a(G), a(HA), &good, now, wall).rejected,
            Some("replayed")
        );
        assert_eq!(ha.flows().holder(&f), None);

        // Older than the window: refused whatever the flow.
        let old = wall - Duration::from_secs(60);
        let h = ha.handle(
            a(G),
            a(HA),
            &flow_reg(conn(5), 1, 15, old, 0, NODE1),
            now,
            wall,
        );
        assert_eq!(h.rejected, Some("replayed"));

        // A host that is not a node of the configuration.
        let h = ha.handle(
            a(G),
            a(HA),
            &flow_reg(conn(6), 1, 15, wall, 2, "2001:db8:1:9::2"),
            now,
            wall,
        );
        assert_eq!(h.rejected, Some("not_authorised"));
        assert_eq!(status_of(&h).0, ba_status::ADMIN_PROHIBITED);

        // A connection to another address than G.
        let mut other = conn(7);
        other.server = a("2001:db8:ffff::2");
        let h = ha.handle(
            a(G),
            a(HA),
            &flow_reg(other, 1, 15, wall, 3, NODE1),
            now,
            wall,
        );
        assert_eq!(h.rejected, Some("not_home_address"));
        // A "client" that is G itself or a node.
        let mut selfish = conn(8);
        selfish.client = a(NODE2);
        let h = ha.handle(
            a(G),
            a(HA),
            &flow_reg(selfish, 1, 15, wall, 4, NODE1),
            now,
            wall,
        );
        assert_eq!(h.rejected, Some("not_home_address"));
        // Sent from another home address than G.
        let reg = HomeRegistration {
            home: a("2001:db8:ffff::2"),
            home_agent: a(HA),
            care_of: a(NODE1),
            sequence: SeqNum(1),
            lifetime: 15,
            timestamp: NtpTimestamp::from_system_time(wall + Duration::from_millis(5)),
            flow: Some(FlowBinding {
                bid: 9,
                fid: 9,
                flow: conn(9),
            }),
        };
        let mh = home_registration(&reg, &key()).unwrap();
        let h = ha.handle(a("2001:db8:ffff::2"), a(HA), &mh, now, wall);
        assert_eq!(h.rejected, Some("not_home_subnet"));
        // A flow registration without its authentication option.
        let mut bare =
            Repr::parse(&Packet::new_checked(&good[..]).unwrap(), &a(G), &a(HA)).unwrap();
        bare.options
            .retain(|o| !matches!(o, MobilityOption::MessageAuthentication { .. }));
        let bare = bare.to_bytes(&a(G), &a(HA)).unwrap();
        let h = ha.handle(a(G), a(HA), &bare, now, wall);
        assert_eq!((h.rejected, h.actions.len()), (Some("unauthenticated"), 0));

        assert_eq!(ha.flows().live(), 0);
        assert_eq!(ha.binding(), None);
    }

    #[test]
    fn old_flow_numbers_get_the_last_one_back() {
        let mut ha = agent();
        let (now, wall) = (Instant::now(), SystemTime::now());
        let f = conn(3);
        ha.handle(
            a(G),
            a(HA),
            &flow_reg(f, 100, 15, wall, 0, NODE1),
            now,
            wall,
        );
        let h = ha.handle(a(G), a(HA), &flow_reg(f, 90, 15, wall, 1, NODE2), now, wall);
        assert_eq!(h.rejected, Some("sequence_out_of_window"));
        let Reply::BindingAck {
            status, sequence, ..
        } = ack_of(&h)
        else {
            panic!()
        };
        assert_eq!(
            (status, sequence),
            (ba_status::SEQ_OUT_OF_WINDOW, SeqNum(100))
        );
        assert_eq!(ha.flows().holder(&f), Some(a(NODE1)));
    }

    #[test]
    fn flows_expire_and_a_full_cache_refuses_new_ones() {
        let mut ha = agent();
        let (now, wall) = (Instant::now(), SystemTime::now());
        for port in 1..=3 {
            let h = ha.handle(
                a(G),
                a(HA),
                &flow_reg(conn(port), 1, port, wall, u64::from(port), NODE1),
                now,
                wall,
            );
            assert_eq!(h.rejected, None);
        }
        let h = ha.handle(
            a(G),
            a(HA),
            &flow_reg(conn(4), 1, 9, wall, 9, NODE1),
            now,
            wall,
        );
        assert_eq!(h.rejected, Some("table_full"));
        assert_eq!(status_of(&h).0, ba_status::INSUFFICIENT_RESOURCES);
        assert!(!routed(&h));
        // conn(1) was granted 4 s, conn(2) 8 s.
        assert_eq!(ha.next_deadline(), Some(now + Duration::from_secs(4)));
        assert_eq!(
            ha.expire(now + Duration::from_secs(8)),
            vec![
                HaAction::UnbindFlow { flow: conn(1) },
                HaAction::UnbindFlow { flow: conn(2) }
            ]
        );
        assert_eq!(ha.flows().live(), 1);
        // A kernel that refused the steering: the binding goes.
        ha.flow_not_installed(conn(3), now);
        assert_eq!(ha.flows().live(), 0);
    }

    proptest::proptest! {
        /// A genuine registration with any byte changed never registers.
        #[test]
        fn tampered_registrations_never_register(at in 0usize..200, flip in 1u8..=255) {
            let mut ha = agent();
            let (now, wall) = (Instant::now(), SystemTime::now());
            let mut reg = registration(1, 15, wall, NODE1);
            let at = at % reg.len();
            reg[at] ^= flip;
            let h = ha.handle(a(G), a(HA), &reg, now, wall);
            proptest::prop_assert!(!h.registered);
            proptest::prop_assert_eq!(ha.binding(), None);
        }
    }
}
