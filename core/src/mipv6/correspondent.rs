//! The correspondent node of RFC 6275 §9 as a sans-I/O state machine: what
//! `gecko-cn` runs on a client host. Input: a Mobility Header message or a
//! clock tick; output: [`Action`]s in the order to carry them out (data-plane
//! changes before the Binding Acknowledgement that reports them, so that a
//! node seeing the BA knows the client's kernel already steers the flow).
//!
//! Bindings are kept per home address (G): at most one plain binding (every
//! connection to G, RFC 6275) and any number of flow bindings (one TCP
//! connection each, RFC 5648 + RFC 6089), all sharing one sequence-number
//! space as RFC 5648 §5 asks.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::time::Instant;

use super::binding_update::{self, BindingUpdate, BuRejection};
use super::rr::{BindingKey, CorrespondentKeys, MAX_NONCE_LIFETIME};
use super::seq::SeqNum;
use super::wire::{ba_status, BaFlags, Message, MhType, MobilityOption, Packet, Repr, WireError};
use crate::dataplane::FlowKey;

/// Most flow bindings held for one home address; beyond, a BU is refused
/// with status 130 (insufficient resources).
pub const MAX_FLOW_BINDINGS: usize = 65_536;

/// Something the driver must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a Mobility Header message (checksum filled).
    Send(Outgoing),
    /// Point the plain route for `home` at `care_of`, or back home (`None`).
    SetPlain {
        /// The home address (G).
        home: Ipv6Addr,
        /// The node's care-of address, or `None` for the home route.
        care_of: Option<Ipv6Addr>,
    },
    /// Steer one connection to `care_of`.
    BindFlow {
        /// The connection.
        flow: FlowKey,
        /// The node's care-of address.
        care_of: Ipv6Addr,
    },
    /// Stop steering one connection.
    UnbindFlow {
        /// The connection.
        flow: FlowKey,
    },
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// The whole Mobility Header, checksum included.
    pub mh: Vec<u8>,
    /// Send it by the home route, past every binding (HoT, DESIGN.md).
    pub via_home: bool,
}

/// Computes an authenticator over what it covers.
pub(crate) type Mac<'a> = dyn Fn(&[u8]) -> [u8; 12] + 'a;

impl Outgoing {
    /// `repr` from `src` to `dst`, its authenticator computed by `mac` if
    /// given. `None`, logged, if it cannot be emitted: only a message built
    /// wrongly here could fail, so this is a bug, never the peer's doing.
    pub(crate) fn new(
        repr: &Repr,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        via_home: bool,
        mac: Option<&Mac<'_>>,
    ) -> Option<Outgoing> {
        let mh = match mac {
            Some(mac) => repr.to_signed_bytes(&src, &dst, mac),
            None => repr.to_bytes(&src, &dst),
        };
        match mh {
            Ok(mh) => Some(Outgoing {
                src,
                dst,
                mh,
                via_home,
            }),
            Err(e) => {
                tracing::error!(error = %e, "cannot emit {}", repr.message.mh_type().name());
                None
            }
        }
    }
}

/// What became of one received message, for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// Its type as a metric label (`binding_update`, `malformed`, ...).
    pub message: &'static str,
    /// Why it was refused, as a metric label; `None` if accepted.
    pub rejected: Option<&'static str>,
    /// What to do about it.
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, Copy)]
struct Bound {
    care_of: Ipv6Addr,
    expires: Instant,
}

#[derive(Debug, Default)]
struct HomeBindings {
    /// The last sequence number accepted, and until when it must be kept
    /// even without bindings (§9.5.3: a nonce lives that long, so a
    /// captured BU cannot be replayed after its binding is gone).
    last_seq: Option<(SeqNum, Instant)>,
    plain: Option<Bound>,
    flows: HashMap<FlowKey, Bound>,
}

impl HomeBindings {
    fn last(&self, now: Instant) -> Option<SeqNum> {
        self.last_seq
            .filter(|(_, until)| *until > now)
            .map(|(s, _)| s)
    }

    fn is_forgettable(&self, now: Instant) -> bool {
        self.plain.is_none() && self.flows.is_empty() && self.last(now).is_none()
    }
}

/// The correspondent node: return-routability keys and the binding cache.
#[derive(Debug)]
pub struct Correspondent {
    keys: CorrespondentKeys,
    homes: HashMap<Ipv6Addr, HomeBindings>,
    /// The only home address bindings are accepted for: the client host's
    /// data plane steers traffic for G alone.
    home: Ipv6Addr,
}

impl Correspondent {
    /// A correspondent accepting bindings for the home address `home`.
    pub fn new(keys: CorrespondentKeys, home: Ipv6Addr) -> Self {
        Correspondent {
            keys,
            homes: HashMap::new(),
            home,
        }
    }

    /// Plain and flow bindings held now.
    pub fn binding_counts(&self) -> (usize, usize) {
        self.homes.values().fold((0, 0), |(p, f), h| {
            (p + usize::from(h.plain.is_some()), f + h.flows.len())
        })
    }

    /// The care-of address of the plain binding of `home`, if any.
    pub fn plain_binding(&self, home: &Ipv6Addr) -> Option<Ipv6Addr> {
        self.homes.get(home)?.plain.map(|b| b.care_of)
    }

    /// The care-of address `flow` is bound to, if any.
    pub fn flow_binding(&self, flow: &FlowKey) -> Option<Ipv6Addr> {
        self.homes
            .get(&flow.server)?
            .flows
            .get(flow)
            .map(|b| b.care_of)
    }

    /// Handles a message received from `src` for `dst` (this host).
    pub fn handle(&mut self, src: Ipv6Addr, dst: Ipv6Addr, mh: &[u8], now: Instant) -> Handled {
        let mut handled = Handled {
            message: "malformed",
            rejected: None,
            actions: Vec::new(),
        };
        let packet = match Packet::new_checked(mh) {
            Ok(p) => p,
            Err(_) => {
                handled.rejected = Some("malformed");
                return handled;
            }
        };
        handled.message = MhType::name_of(packet.msg_type());
        match packet.msg_type() {
            1 | 2 => match Repr::parse(&packet, &src, &dst) {
                Ok(repr) => self.answer_test_init(repr.message, src, dst, now, &mut handled),
                Err(e) => handled.rejected = Some(wire_label(&e)),
            },
            5 => self.binding_update(mh, src, dst, now, &mut handled),
            _ => handled.rejected = Some("unexpected"),
        }
        handled
    }

    fn answer_test_init(
        &mut self,
        message: Message,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        now: Instant,
        handled: &mut Handled,
    ) {
        let (reply, via_home) = match message {
            // The HoT goes to the home address by the home route (through
            // the home agent), which proves the node can receive at G.
            Message::HomeTestInit { cookie } => {
                let (index, token) = self.keys.home_test(&src, now);
                let m = Message::HomeTest {
                    nonce_index: index.0,
                    cookie,
                    keygen_token: token,
                };
                (m, true)
            }
            Message::CareOfTestInit { cookie } => {
                let (index, token) = self.keys.care_of_test(&src, now);
                let m = Message::CareOfTest {
                    nonce_index: index.0,
                    cookie,
                    keygen_token: token,
                };
                (m, false)
            }
            _ => return,
        };
        let repr = Repr {
            message: reply,
            options: vec![],
        };
        let reply = Outgoing::new(&repr, dst, src, via_home, None);
        handled.actions.extend(reply.map(Action::Send));
    }

    fn binding_update(
        &mut self,
        mh: &[u8],
        src: Ipv6Addr,
        dst: Ipv6Addr,
        now: Instant,
        handled: &mut Handled,
    ) {
        let unverified = match binding_update::read(mh, &src, &dst) {
            Ok(u) => u,
            Err(e) => {
                handled.rejected = Some(rejection_label(&e));
                // Only the H flag earns an answer before authentication.
                if let Some(status) = e.ba_status() {
                    handled
                        .actions
                        .extend(ack(dst, src, status, 0, 0, None, None));
                }
                return;
            }
        };
        if unverified.home_address() != self.home {
            handled.rejected = Some("unknown_home");
            return;
        }
        let entry = self.homes.entry(unverified.home_address()).or_default();
        let last = entry.last(now);
        let verified = unverified.verify(&mut self.keys, last, now);
        // Every BA after an authentic BU is signed with its Kbm; only a BA
        // for expired nonces (136-138) cannot be.
        let key = unverified.verified_key(&self.keys, now);
        let bu = match verified {
            Ok(bu) => bu,
            Err(e) => {
                handled.rejected = Some(rejection_label(&e));
                if let Some(status) = e.ba_status() {
                    let seq = match e {
                        BuRejection::SequenceOutOfWindow { last, .. } => last.0,
                        _ => 0,
                    };
                    let to = unverified.care_of();
                    let bid = unverified.flow().map(|f| f.bid);
                    handled
                        .actions
                        .extend(ack(dst, to, status, seq, 0, bid, key.as_ref()));
                }
                return;
            }
        };
        // Refuse before changing anything: the binding cache is full.
        if let Some(f) = &bu.flow {
            if !bu.is_deregistration()
                && entry.flows.len() >= MAX_FLOW_BINDINGS
                && !entry.flows.contains_key(&f.flow)
            {
                handled.rejected = Some("insufficient_resources");
                let status = ba_status::INSUFFICIENT_RESOURCES;
                let (seq, bid) = (bu.sequence.0, Some(f.bid));
                handled
                    .actions
                    .extend(ack(dst, bu.care_of, status, seq, 0, bid, key.as_ref()));
                return;
            }
        }
        entry.last_seq = Some((bu.sequence, now + MAX_NONCE_LIFETIME));
        apply(entry, &bu, now, &mut handled.actions);
        if bu.flags.ack() {
            let lifetime = if bu.is_deregistration() {
                0
            } else {
                (bu.granted_lifetime().as_secs() / 4) as u16
            };
            let bid = bu.flow.map(|f| f.bid);
            handled.actions.extend(ack(
                dst,
                bu.care_of,
                ba_status::ACCEPTED,
                bu.sequence.0,
                lifetime,
                bid,
                key.as_ref(),
            ));
        }
    }

    /// Removes the bindings whose lifetime has run out.
    pub fn expire(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        self.homes.retain(|home, h| {
            if h.plain.is_some_and(|b| b.expires <= now) {
                h.plain = None;
                actions.push(Action::SetPlain {
                    home: *home,
                    care_of: None,
                });
            }
            h.flows.retain(|flow, b| {
                let keep = b.expires > now;
                if !keep {
                    actions.push(Action::UnbindFlow { flow: *flow });
                }
                keep
            });
            !h.is_forgettable(now)
        });
        actions
    }

    /// When [`Correspondent::expire`] next has work: the earliest binding
    /// expiry or sequence-number retention end.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.homes
            .values()
            .flat_map(|h| {
                let plain = h.plain.map(|b| b.expires);
                let flows = h.flows.values().map(|b| b.expires);
                let seq = h.last_seq.map(|(_, until)| until);
                plain.into_iter().chain(flows).chain(seq)
            })
            .min()
    }
}

/// Updates the cache for an accepted BU and says what the data plane must do.
fn apply(h: &mut HomeBindings, bu: &BindingUpdate, now: Instant, actions: &mut Vec<Action>) {
    let bound = Bound {
        care_of: bu.care_of,
        expires: now + bu.granted_lifetime(),
    };
    match (bu.flow, bu.is_deregistration()) {
        (Some(f), false) => {
            h.flows.insert(f.flow, bound);
            actions.push(Action::BindFlow {
                flow: f.flow,
                care_of: bu.care_of,
            });
        }
        (Some(f), true) => {
            if h.flows.remove(&f.flow).is_some() {
                actions.push(Action::UnbindFlow { flow: f.flow });
            }
        }
        (None, false) => {
            h.plain = Some(bound);
            actions.push(Action::SetPlain {
                home: bu.home_address,
                care_of: Some(bu.care_of),
            });
        }
        // RFC 5648 §6.2: a deregistration without BID removes every
        // binding of the home address, flow bindings included.
        (None, true) => {
            if h.plain.take().is_some() {
                actions.push(Action::SetPlain {
                    home: bu.home_address,
                    care_of: None,
                });
            }
            actions.extend(h.flows.drain().map(|(flow, _)| Action::UnbindFlow { flow }));
        }
    }
}

/// A Binding Acknowledgement from `src` to `dst` (the care-of address),
/// signed with `key` when there is one: Binding Authorization Data over
/// care-of address | correspondent | BA, as for the BU (RFC 6275 §6.1.8).
fn ack(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    status: u8,
    sequence: u16,
    lifetime: u16,
    bid: Option<u16>,
    key: Option<&BindingKey>,
) -> Option<Action> {
    let mut options: Vec<MobilityOption> = bid
        .map(|bid| MobilityOption::BindingIdentifier {
            bid,
            status,
            h: false,
            bid_pri: 0,
            care_of: None,
        })
        .into_iter()
        .collect();
    if key.is_some() {
        options.push(MobilityOption::BindingAuthorizationData {
            authenticator: [0; 12],
        });
    }
    let repr = Repr {
        message: Message::BindingAck {
            status,
            flags: BaFlags(0),
            sequence,
            lifetime,
        },
        options,
    };
    let sign = key.map(|key| move |prefix: &[u8]| key.authenticator(&dst, &src, prefix));
    let mac = sign.as_ref().map(|f| f as &Mac<'_>);
    Outgoing::new(&repr, src, dst, false, mac).map(Action::Send)
}

fn wire_label(e: &WireError) -> &'static str {
    match e {
        WireError::BadChecksum { .. } => "bad_checksum",
        _ => "malformed",
    }
}

/// The metric label of a refused Binding Update.
pub fn rejection_label(e: &BuRejection) -> &'static str {
    match e {
        BuRejection::Malformed(w) => wire_label(w),
        BuRejection::NotABindingUpdate(_) => "malformed",
        BuRejection::HomeRegistrationNotSupported => "home_registration",
        BuRejection::BadAddress(_) => "bad_address",
        BuRejection::MissingNonceIndices | BuRejection::MissingAuthorization => "unauthenticated",
        BuRejection::BadFlow(_) => "bad_flow",
        BuRejection::Nonces(_) => "expired_nonce",
        BuRejection::BadAuthenticator => "bad_authenticator",
        BuRejection::SequenceOutOfWindow { .. } => "sequence_out_of_window",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mipv6::binding_update::FlowBinding;
    use crate::mipv6::mobile_node::{
        binding_key, binding_update, read_reply, test_init, AckKey, BindingRequest, Reply, Token,
    };
    use crate::mipv6::rr::{Cookie, Kcn, NonceTable, NonceTableConfig};
    use std::time::Duration;

    const G: &str = "2001:db8:ffff::1";
    const CN: &str = "2001:db8:2:1::2";
    const NODE1: &str = "2001:db8:1:1::2";
    const NODE2: &str = "2001:db8:1:2::2";

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    struct World {
        cn: Correspondent,
        now: Instant,
    }

    fn world() -> World {
        let keys = CorrespondentKeys::new(
            Kcn::generate(),
            NonceTable::new(NonceTableConfig::default()).unwrap(),
        );
        World {
            cn: Correspondent::new(keys, a(G)),
            now: Instant::now(),
        }
    }

    fn only_send(h: &Handled) -> &Outgoing {
        match h.actions.as_slice() {
            [Action::Send(o)] => o,
            other => panic!("expected one message, got {other:?}"),
        }
    }

    /// Runs return routability from `node` as the node runtime does.
    fn tokens(w: &mut World, node: Ipv6Addr) -> (Token, Token) {
        let (g, cn) = (a(G), a(CN));
        let hoti = test_init(true, Cookie([1; 8]), &g, &cn).unwrap();
        let h = w.cn.handle(g, cn, &hoti, w.now);
        assert_eq!((h.message, h.rejected), ("home_test_init", None));
        let hot = only_send(&h);
        assert!(hot.via_home, "HoT must take the home route");
        assert_eq!(hot.dst, g);
        let Reply::HomeTest {
            cookie,
            index,
            token,
        } = read_reply(&hot.mh, &hot.src, &hot.dst, &g, AckKey::None).unwrap()
        else {
            panic!("not a HoT")
        };
        assert_eq!(cookie, Cookie([1; 8]));
        let home = Token {
            index,
            token,
            received: w.now,
        };

        let coti = test_init(false, Cookie([2; 8]), &node, &cn).unwrap();
        let h = w.cn.handle(node, cn, &coti, w.now);
        let cot = only_send(&h);
        assert!(!cot.via_home);
        assert_eq!(cot.dst, node);
        let Reply::CareOfTest { index, token, .. } =
            read_reply(&cot.mh, &cot.src, &cot.dst, &g, AckKey::None).unwrap()
        else {
            panic!("not a CoT")
        };
        (
            home,
            Token {
                index,
                token,
                received: w.now,
            },
        )
    }

    fn request(
        node: Ipv6Addr,
        seq: u16,
        lifetime: u16,
        flow: Option<FlowBinding>,
    ) -> BindingRequest {
        BindingRequest {
            home: a(G),
            correspondent: a(CN),
            care_of: node,
            sequence: SeqNum(seq),
            lifetime,
            flow,
        }
    }

    fn flow(port: u16) -> FlowBinding {
        FlowBinding {
            bid: port,
            fid: 1,
            flow: FlowKey {
                client: a(CN),
                client_port: port,
                server: a(G),
                server_port: 7,
            },
        }
    }

    /// Status, sequence number and destination of a BA, which must be
    /// signed with the Kbm of these tokens (unsigned only for 136-138).
    fn ack_status(action: &Action, home: &Token, care_of: &Token) -> (u8, u16, Ipv6Addr) {
        let key = binding_key(home, Some(care_of), false);
        let Action::Send(o) = action else {
            panic!("not a message: {action:?}")
        };
        match read_reply(&o.mh, &o.src, &o.dst, &a(G), AckKey::Correspondent(&key)).unwrap() {
            Reply::BindingAck {
                status, sequence, ..
            } => (status, sequence.0, o.dst),
            r => panic!("not a BA: {r:?}"),
        }
    }

    #[test]
    fn plain_binding_then_flow_binding_then_clear() {
        let mut w = world();
        let (n1, n2) = (a(NODE1), a(NODE2));
        let (home, care_of) = tokens(&mut w, n2);
        let bu = binding_update(&request(n2, 10, 15, None), &home, Some(&care_of)).unwrap();
        let h = w.cn.handle(a(G), a(CN), &bu, w.now);
        assert_eq!(h.rejected, None, "{h:?}");
        assert_eq!(
            h.actions[0],
            Action::SetPlain {
                home: a(G),
                care_of: Some(n2)
            }
        );
        // The data plane changes before the BA reports it.
        assert_eq!(ack_status(&h.actions[1], &home, &care_of), (0, 10, n2));
        // Signed: with other tokens, or unsigned, the node refuses it.
        let Action::Send(o) = &h.actions[1] else {
            panic!()
        };
        let wrong = binding_key(&home, Some(&home), false);
        let read = |k| read_reply(&o.mh, &o.src, &o.dst, &a(G), k);
        assert_eq!(
            read(AckKey::Correspondent(&wrong)),
            Err(crate::mipv6::mobile_node::ReplyError::BadAuthenticator)
        );
        assert!(read(AckKey::None).is_err());
        assert_eq!(w.cn.plain_binding(&a(G)), Some(n2));

        // A flow binding to node1 for one connection, reusing the tokens
        // of node1's own return routability.
        let (home1, care_of1) = tokens(&mut w, n1);
        let f = flow(40000);
        let bu = binding_update(&request(n1, 11, 15, Some(f)), &home1, Some(&care_of1)).unwrap();
        let h = w.cn.handle(a(G), a(CN), &bu, w.now);
        assert_eq!(h.rejected, None, "{h:?}");
        assert_eq!(
            h.actions[0],
            Action::BindFlow {
                flow: f.flow,
                care_of: n1
            }
        );
        assert_eq!(w.cn.flow_binding(&f.flow), Some(n1));
        assert_eq!(w.cn.binding_counts(), (1, 1));

        // Deregistration without BID clears both (mip6_handoff_clear).
        let bu = binding_update(&request(n2, 12, 0, None), &home, None).unwrap();
        let h = w.cn.handle(a(G), a(CN), &bu, w.now);
        assert_eq!(h.rejected, None, "{h:?}");
        assert!(h.actions.contains(&Action::SetPlain {
            home: a(G),
            care_of: None
        }));
        assert!(h.actions.contains(&Action::UnbindFlow { flow: f.flow }));
        assert_eq!(w.cn.binding_counts(), (0, 0));
    }

    #[test]
    fn flow_deregistration_removes_only_that_flow() {
        let mut w = world();
        let n2 = a(NODE2);
        let (home, care_of) = tokens(&mut w, n2);
        for (i, port) in [40000u16, 40001].into_iter().enumerate() {
            let bu = binding_update(
                &request(n2, 20 + i as u16, 15, Some(flow(port))),
                &home,
                Some(&care_of),
            )
            .unwrap();
            assert_eq!(w.cn.handle(a(G), a(CN), &bu, w.now).rejected, None);
        }
        let bu = binding_update(&request(n2, 30, 0, Some(flow(40000))), &home, None).unwrap();
        let h = w.cn.handle(a(G), a(CN), &bu, w.now);
        assert_eq!(
            h.actions[0],
            Action::UnbindFlow {
                flow: flow(40000).flow
            }
        );
        assert_eq!(w.cn.flow_binding(&flow(40001).flow), Some(n2));
        assert_eq!(w.cn.binding_counts(), (0, 1));
    }

    #[test]
    fn forged_replayed_and_stale_updates_change_nothing() {
        let mut w = world();
        let n2 = a(NODE2);
        let (home, care_of) = tokens(&mut w, n2);
        let good = binding_update(&request(n2, 10, 15, None), &home, Some(&care_of)).unwrap();

        // Wrong authenticator: silent drop.
        let mut forged = good.clone();
        let last = forged.len() - 1;
        forged[last] ^= 0x80;
        crate::mipv6::wire::fill_checksum(&mut forged, &a(G), &a(CN)).unwrap();
        let h = w.cn.handle(a(G), a(CN), &forged, w.now);
        assert_eq!(h.rejected, Some("bad_authenticator"));
        assert!(h.actions.is_empty());
        assert_eq!(w.cn.binding_counts(), (0, 0));

        // Wrong tokens altogether (a keyless attacker).
        let bogus = Token {
            token: [9; 8],
            ..home
        };
        let bu = binding_update(&request(n2, 10, 15, None), &bogus, Some(&care_of)).unwrap();
        assert_eq!(
            w.cn.handle(a(G), a(CN), &bu, w.now).rejected,
            Some("bad_authenticator")
        );

        // Accepted once...
        assert_eq!(w.cn.handle(a(G), a(CN), &good, w.now).rejected, None);
        // ...replayed: status 135 with the last accepted number, no change.
        let h = w.cn.handle(a(G), a(CN), &good, w.now);
        assert_eq!(h.rejected, Some("sequence_out_of_window"));
        assert_eq!(h.actions.len(), 1);
        assert_eq!(ack_status(&h.actions[0], &home, &care_of), (135, 10, n2));

        // A replay after the binding was deleted is still refused.
        let dereg = binding_update(&request(n2, 11, 0, None), &home, None).unwrap();
        assert_eq!(w.cn.handle(a(G), a(CN), &dereg, w.now).rejected, None);
        assert_eq!(w.cn.binding_counts(), (0, 0));
        let h =
            w.cn.handle(a(G), a(CN), &good, w.now + Duration::from_secs(1));
        assert_eq!(h.rejected, Some("sequence_out_of_window"));
        assert_eq!(w.cn.binding_counts(), (0, 0));

        // Nonces past their lifetime: 138, nothing bound.
        let later = w.now + MAX_NONCE_LIFETIME + Duration::from_secs(1);
        let fresh = binding_update(&request(n2, 12, 15, None), &home, Some(&care_of)).unwrap();
        let h = w.cn.handle(a(G), a(CN), &fresh, later);
        assert_eq!(h.rejected, Some("expired_nonce"));
        assert_eq!(
            ack_status(&h.actions[0], &home, &care_of).0,
            ba_status::EXPIRED_NONCES
        );
        assert_eq!(w.cn.binding_counts(), (0, 0));
    }

    #[test]
    fn refuses_other_hosts_flows_and_other_homes() {
        let mut w = world();
        let n2 = a(NODE2);
        let (home, care_of) = tokens(&mut w, n2);
        let mut f = flow(40000);
        f.flow.client = a("2001:db8:2:9::2");
        let bu = binding_update(&request(n2, 10, 15, Some(f)), &home, Some(&care_of)).unwrap();
        let h = w.cn.handle(a(G), a(CN), &bu, w.now);
        assert_eq!((h.rejected, h.actions.len()), (Some("bad_flow"), 0));

        let mut req = request(n2, 10, 15, None);
        req.home = a("2001:db8:ffff::2");
        let bu = binding_update(&req, &home, Some(&care_of)).unwrap();
        let h = w.cn.handle(req.home, a(CN), &bu, w.now);
        assert_eq!((h.rejected, h.actions.len()), (Some("unknown_home"), 0));

        // Garbage and unexpected messages are counted, never answered.
        let h = w.cn.handle(a(G), a(CN), &[1, 2, 3], w.now);
        assert_eq!(h.rejected, Some("malformed"));
        assert_eq!(w.cn.binding_counts(), (0, 0));
    }

    #[test]
    fn bindings_expire_and_restore_the_home_route() {
        let mut w = world();
        let n2 = a(NODE2);
        let (home, care_of) = tokens(&mut w, n2);
        let bu = binding_update(&request(n2, 10, 2, None), &home, Some(&care_of)).unwrap();
        w.cn.handle(a(G), a(CN), &bu, w.now);
        let bu = binding_update(
            &request(n2, 11, 3, Some(flow(40000))),
            &home,
            Some(&care_of),
        )
        .unwrap();
        w.cn.handle(a(G), a(CN), &bu, w.now);
        assert_eq!(w.cn.next_deadline(), Some(w.now + Duration::from_secs(8)));
        assert!(w.cn.expire(w.now + Duration::from_secs(7)).is_empty());
        assert_eq!(
            w.cn.expire(w.now + Duration::from_secs(8)),
            vec![Action::SetPlain {
                home: a(G),
                care_of: None
            }]
        );
        assert_eq!(
            w.cn.expire(w.now + Duration::from_secs(12)),
            vec![Action::UnbindFlow {
                flow: flow(40000).flow
            }]
        );
        assert_eq!(w.cn.binding_counts(), (0, 0));
        // The sequence number is kept for a nonce lifetime, then forgotten.
        assert!(w.cn.next_deadline().is_some());
        w.cn.expire(w.now + MAX_NONCE_LIFETIME + Duration::from_secs(1));
        assert_eq!(w.cn.next_deadline(), None);
    }

    proptest::proptest! {
        /// Random bytes, or a genuine BU with any byte changed, never
        /// panic and never change a binding.
        #[test]
        fn garbage_never_binds(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
                               at in 0usize..200, flip in 1u8..=255) {
            let mut w = world();
            let h = w.cn.handle(a(G), a(CN), &bytes, w.now);
            proptest::prop_assert!(h.actions.iter().all(|a| matches!(a, Action::Send(_))));
            let n2 = a(NODE2);
            let (home, care_of) = tokens(&mut w, n2);
            let mut bu = binding_update(&request(n2, 10, 15, None), &home, Some(&care_of)).unwrap();
            let at = at % bu.len();
            bu[at] ^= flip;
            let h = w.cn.handle(a(G), a(CN), &bu, w.now);
            proptest::prop_assert!(h.rejected.is_some());
            proptest::prop_assert_eq!(w.cn.binding_counts(), (0, 0));
        }
    }
}
