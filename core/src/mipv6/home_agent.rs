//! The home agent of RFC 6275 §10 as a sans-I/O state machine: what
//! `gecko-ha` runs. It accepts home registrations for G from the contact
//! node (or an authorised backup), authenticated with the RFC 4285 MN-HA
//! key and fresh timestamps, and says which route to install.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant, SystemTime};

use super::correspondent::Outgoing;
use super::mn_ha_auth::{MnHaKey, NtpTimestamp, ReplayGuard};
use super::seq::SeqNum;
use super::wire::{
    ba_status, BaFlags, Message, MhType, MobilityOption, Packet, Repr, AUTH_SUBTYPE_MN_HA,
};

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
    /// Send a Binding Acknowledgement.
    Send(Outgoing),
}

/// What became of one received message, for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaHandled {
    /// Its type as a metric label.
    pub message: &'static str,
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
    /// The MN-HA key and SPI.
    pub key: MnHaKey,
    /// Longest lifetime granted.
    pub max_lifetime: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Registration {
    care_of: Ipv6Addr,
    expires: Instant,
}

/// The home agent: home registrations and their lifetimes.
#[derive(Debug)]
pub struct HomeAgent {
    config: HomeAgentSettings,
    guard: ReplayGuard,
    last_seq: Option<SeqNum>,
    binding: Option<Registration>,
}

impl HomeAgent {
    /// A home agent with no registration yet.
    pub fn new(config: HomeAgentSettings) -> Self {
        HomeAgent {
            config,
            guard: ReplayGuard::new(),
            last_seq: None,
            binding: None,
        }
    }

    /// The care-of address G is bound to, if any.
    pub fn binding(&self) -> Option<Ipv6Addr> {
        self.binding.map(|b| b.care_of)
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
        for o in &repr.options {
            match o {
                MobilityOption::AlternateCareOf(a) => care_of = *a,
                MobilityOption::ReplayProtection { timestamp: t } => timestamp = Some(*t),
                MobilityOption::MessageAuthentication {
                    subtype: AUTH_SUBTYPE_MN_HA,
                    spi: s,
                    ..
                } => spi = Some(*s),
                _ => {}
            }
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
        let reply = |status: u8, sequence: SeqNum, lifetime: u16, ts: u64| {
            ack(&self.config, src, care_of, status, sequence, lifetime, ts)
        };
        let Some(ts) = timestamp else {
            out.rejected = Some("unauthenticated");
            out.actions
                .extend(reply(ba_status::MESG_ID_REQD, seq, 0, 0));
            return out;
        };
        if self
            .guard
            .accept(NtpTimestamp(ts), NtpTimestamp::from_system_time(wall))
            .is_err()
        {
            out.rejected = Some("replayed");
            out.actions
                .extend(reply(ba_status::ID_MISMATCH, seq, 0, ts));
            return out;
        }
        if src != self.config.home {
            out.rejected = Some("not_home_subnet");
            out.actions
                .extend(reply(ba_status::NOT_HOME_SUBNET, seq, 0, ts));
            return out;
        }
        if lifetime != 0 && !self.config.authorised.contains(&care_of) {
            out.rejected = Some("not_authorised");
            out.actions
                .extend(reply(ba_status::ADMIN_PROHIBITED, seq, 0, ts));
            return out;
        }
        if let Some(last) = self.last_seq {
            if !seq.is_newer_than(last) {
                out.rejected = Some("sequence_out_of_window");
                out.actions
                    .extend(reply(ba_status::SEQ_OUT_OF_WINDOW, last, 0, ts));
                return out;
            }
        }
        self.last_seq = Some(seq);
        out.rejected = None;
        out.registered = true;
        let granted = (Duration::from_secs(4) * u32::from(lifetime)).min(self.config.max_lifetime);
        let units = (granted.as_secs() / 4) as u16;
        if lifetime == 0 {
            if self.binding.take().is_some() {
                out.actions.push(HaAction::Unroute { home: src });
            }
        } else {
            self.binding = Some(Registration {
                care_of,
                expires: now + granted,
            });
            out.actions.push(HaAction::Route { home: src, care_of });
        }
        if flags.ack() {
            out.actions
                .extend(reply(ba_status::ACCEPTED, seq, units, ts));
        }
        out
    }

    /// Removes the registration if its lifetime ran out.
    pub fn expire(&mut self, now: Instant) -> Vec<HaAction> {
        match self.binding {
            Some(b) if b.expires <= now => {
                self.binding = None;
                vec![HaAction::Unroute {
                    home: self.config.home,
                }]
            }
            _ => vec![],
        }
    }

    /// When [`HomeAgent::expire`] next has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.binding.map(|b| b.expires)
    }
}

/// A signed BA, sent to the care-of address (the node's own address:
/// without a binding, G does not reach it yet).
fn ack(
    config: &HomeAgentSettings,
    home: Ipv6Addr,
    care_of: Ipv6Addr,
    status: u8,
    sequence: SeqNum,
    lifetime: u16,
    ts: u64,
) -> Option<HaAction> {
    let repr = Repr {
        message: Message::BindingAck {
            status,
            flags: BaFlags(0),
            sequence: sequence.0,
            lifetime,
        },
        options: vec![
            MobilityOption::ReplayProtection { timestamp: ts },
            MobilityOption::MessageAuthentication {
                subtype: AUTH_SUBTYPE_MN_HA,
                spi: config.key.spi(),
                authenticator: [0; 12],
            },
        ],
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

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    const G: &str = "2001:db8:ffff::1";
    const HA: &str = "2001:db8:ffff::fe";
    const NODE1: &str = "2001:db8:1:1::2";

    fn key() -> MnHaKey {
        MnHaKey::new(256, &[5; 20]).unwrap()
    }

    fn agent() -> HomeAgent {
        HomeAgent::new(HomeAgentSettings {
            address: a(HA),
            home: a(G),
            authorised: vec![a(NODE1)],
            key: key(),
            max_lifetime: Duration::from_secs(60),
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
