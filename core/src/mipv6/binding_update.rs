//! The rules a correspondent node applies to a received Binding Update
//! (RFC 6275 §9.5.1): authorisation by return routability, nonce indices,
//! sequence number, deregistration. Sans-I/O: bytes and state in, a checked
//! Binding Update or the reason to refuse it out.
//!
//! Gecko sends Binding Updates from G itself (no Home Address option, DESIGN.md
//! "Wire and data plane"), so the home address is the packet's source and the
//! care-of address is in the Alternate Care-of Address option.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use super::rr::{BindingKey, CorrespondentKeys, NonceIndex, RrError};
use super::seq::SeqNum;
use super::wire::{
    ba_status, BuFlags, FlowIdentification, FlowSubOption, Ipv6TrafficSelector, Message,
    MobilityOption, Packet, Repr, TrafficSelector, TsRange, WireError, AUTHENTICATOR_LEN,
};
use crate::dataplane::FlowKey;

/// Longest binding a correspondent grants after return routability
/// (RFC 6275 §12, MAX_RR_BINDING_LIFETIME).
pub const MAX_RR_BINDING_LIFETIME: Duration = Duration::from_secs(420);

/// A Binding Update that passed every check of RFC 6275 §9.5.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindingUpdate {
    /// The mobile node's home address (the packet's source): G.
    pub home_address: Ipv6Addr,
    /// The care-of address to bind: the Alternate Care-of Address option,
    /// else the source (allowed only in a deregistration).
    pub care_of: Ipv6Addr,
    /// The sequence number, to remember for the next update.
    pub sequence: SeqNum,
    /// A, H, L, K and the other flags.
    pub flags: BuFlags,
    /// The lifetime asked for, in 4-second units.
    pub lifetime_units: u16,
    /// The nonce indices it was authorised with.
    pub home_nonce: NonceIndex,
    /// The care-of nonce index (ignored for a deregistration).
    pub care_of_nonce: NonceIndex,
    /// Set when the BU binds (or, with lifetime zero, unbinds) one TCP
    /// connection rather than every connection of the home address.
    pub flow: Option<FlowBinding>,
}

/// One connection's binding: an RFC 5648 Binding Identifier and an RFC 6089
/// Flow Identification whose RFC 6088 traffic selector names exactly one
/// TCP 5-tuple, as the correspondent sends it (correspondent to G).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowBinding {
    /// Binding Identifier (Gecko nodes use the client's port).
    pub bid: u16,
    /// Flow Identifier.
    pub fid: u16,
    /// The connection.
    pub flow: FlowKey,
}

impl FlowBinding {
    /// The two options a Binding Update carries for this flow binding.
    pub fn options(&self) -> [MobilityOption; 2] {
        fn one<T>(start: T) -> Option<TsRange<T>> {
            Some(TsRange { start, end: None })
        }
        let selector = Ipv6TrafficSelector {
            src_addr: one(self.flow.client),
            dst_addr: one(self.flow.server),
            src_port: one(self.flow.client_port),
            dst_port: one(self.flow.server_port),
            next_header: one(TCP),
            ..Default::default()
        };
        [
            MobilityOption::BindingIdentifier {
                bid: self.bid,
                status: 0,
                h: false,
                bid_pri: 0,
                care_of: None,
            },
            MobilityOption::FlowIdentification(FlowIdentification {
                fid: self.fid,
                fid_pri: 1,
                status: 0,
                sub_options: vec![
                    FlowSubOption::BindingReference(vec![self.bid]),
                    FlowSubOption::TrafficSelector(TrafficSelector::Ipv6(selector)),
                ],
            }),
        ]
    }

    /// Reads a flow binding from a BU's BID and FID options: one of each,
    /// the FID referring to the BID, its selector naming exactly one TCP
    /// connection from `correspondent` to `home`.
    fn from_options(
        bid: u16,
        fid: &FlowIdentification,
        home: &Ipv6Addr,
        correspondent: &Ipv6Addr,
    ) -> Result<Self, BuRejection> {
        let binding = FlowBinding::parse(bid, fid)?;
        // A node may steer only this correspondent's own traffic to G.
        if binding.flow.client != *correspondent || binding.flow.server != *home {
            return Err(BuRejection::BadFlow(
                "selector names another host's connection",
            ));
        }
        Ok(binding)
    }

    /// Reads a flow binding from a BID and the FID that refers to it, its
    /// selector naming exactly one TCP connection (any addresses: the
    /// caller checks whose connection it is).
    pub fn parse(bid: u16, fid: &FlowIdentification) -> Result<Self, BuRejection> {
        let mut refers = false;
        let mut selector = None;
        for sub in &fid.sub_options {
            match sub {
                FlowSubOption::BindingReference(bids) => refers |= bids.contains(&bid),
                FlowSubOption::TrafficSelector(TrafficSelector::Ipv6(ts)) => selector = Some(ts),
                FlowSubOption::TrafficSelector(TrafficSelector::Other { .. }) => {
                    return Err(BuRejection::BadFlow("traffic selector is not IPv6 binary"))
                }
                FlowSubOption::Unknown { .. } => {}
            }
        }
        if !refers {
            return Err(BuRejection::BadFlow(
                "flow does not refer to the binding identifier",
            ));
        }
        let ts = selector.ok_or(BuRejection::BadFlow("flow has no traffic selector"))?;
        fn single<T: Copy>(r: Option<TsRange<T>>, what: &'static str) -> Result<T, BuRejection> {
            match r {
                Some(TsRange { start, end: None }) => Ok(start),
                _ => Err(BuRejection::BadFlow(what)),
            }
        }
        let flow = FlowKey {
            client: single(ts.src_addr, "selector needs one source address")?,
            client_port: single(ts.src_port, "selector needs one source port")?,
            server: single(ts.dst_addr, "selector needs one destination address")?,
            server_port: single(ts.dst_port, "selector needs one destination port")?,
        };
        if ts.next_header.is_some_and(|n| {
            n != TsRange {
                start: TCP,
                end: None,
            }
        }) {
            return Err(BuRejection::BadFlow("selector is not TCP"));
        }
        if ts.ipsec_spi.is_some() || ts.flow_label.is_some() || ts.traffic_class.is_some() {
            return Err(BuRejection::BadFlow("selector fields beyond the 5-tuple"));
        }
        Ok(FlowBinding {
            bid,
            fid: fid.fid,
            flow,
        })
    }
}

/// IPv6 next header value of TCP.
const TCP: u8 = 6;

impl BindingUpdate {
    /// Lifetime zero: the binding is to be removed (§6.1.7, §9.5.1).
    pub fn is_deregistration(&self) -> bool {
        self.lifetime_units == 0
    }

    /// The lifetime granted: what was asked for, at most
    /// [`MAX_RR_BINDING_LIFETIME`].
    pub fn granted_lifetime(&self) -> Duration {
        (Duration::from_secs(4) * u32::from(self.lifetime_units)).min(MAX_RR_BINDING_LIFETIME)
    }
}

/// Why a Binding Update was refused. [`BuRejection::ba_status`] says whether
/// to answer with a Binding Acknowledgement or to drop it silently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuRejection {
    /// Not a well-formed Mobility Header (or a bad checksum).
    #[error("malformed: {0}")]
    Malformed(#[from] WireError),
    /// A well-formed message of another type.
    #[error("not a Binding Update (MH type {0})")]
    NotABindingUpdate(u8),
    /// The H flag: a correspondent keeps no home registrations.
    #[error("home registration sent to a correspondent node")]
    HomeRegistrationNotSupported,
    /// The home or care-of address cannot be bound: not a global unicast
    /// address (§6.1.7: "unicast routable"), the correspondent itself, or a
    /// care-of address equal to the home address in a registration.
    #[error("address {0} cannot be bound")]
    BadAddress(Ipv6Addr),
    /// No Nonce Indices option, which return routability needs.
    #[error("no Nonce Indices option")]
    MissingNonceIndices,
    /// No Binding Authorization Data as the last option.
    #[error("no Binding Authorization Data option at the end")]
    MissingAuthorization,
    /// A nonce index is expired or unknown.
    #[error("{0}")]
    Nonces(RrError),
    /// A Binding Identifier or Flow Identification option Gecko cannot
    /// honour: anything but one BID with one FID naming one TCP connection
    /// of this correspondent.
    #[error("unsupported flow binding: {0}")]
    BadFlow(&'static str),
    /// The authenticator does not match.
    #[error("authenticator does not match")]
    BadAuthenticator,
    /// Not newer than the last accepted sequence number (modulo 2^16).
    #[error("sequence number {got} is not newer than {last}")]
    SequenceOutOfWindow {
        /// The sequence number received.
        got: SeqNum,
        /// The last one accepted, which the BA carries back.
        last: SeqNum,
    },
}

impl BuRejection {
    /// The Binding Acknowledgement status to answer with, or `None` to
    /// drop the message silently (RFC 6275 §9.5.1: a BU that fails
    /// authorisation gets no answer, so it cannot be used to probe).
    pub fn ba_status(&self) -> Option<u8> {
        match self {
            BuRejection::HomeRegistrationNotSupported => Some(ba_status::HOME_REG_NOT_SUPPORTED),
            BuRejection::Nonces(e) => e.ba_status(),
            BuRejection::SequenceOutOfWindow { .. } => Some(ba_status::SEQ_OUT_OF_WINDOW),
            _ => None,
        }
    }
}

/// A Binding Update read from the wire, authenticator not yet checked: its
/// fields come out only through [`Unverified::verify`].
#[derive(Debug, Clone, Copy)]
pub struct Unverified<'a> {
    update: BindingUpdate,
    /// What the authenticator covers: the Mobility Header up to it.
    mh_prefix: &'a [u8],
    authenticator: &'a [u8; AUTHENTICATOR_LEN],
    /// The correspondent's own address (the packet's destination).
    correspondent: Ipv6Addr,
}

/// Reads a Binding Update sent from `src` to `dst`: checksum, then the
/// codec's checks of every field and option (RFC 6275 §9.2), then the
/// addresses and the options return routability needs. Allocates nothing
/// unless the BU carries flow identification options.
pub fn read<'a>(
    mh: &'a [u8],
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
) -> Result<Unverified<'a>, BuRejection> {
    let packet = Packet::new_checked(mh)?;
    if !packet.verify_checksum(src, dst) {
        return Err(WireError::BadChecksum {
            found: packet.checksum(),
            computed: packet.compute_checksum(src, dst),
        }
        .into());
    }
    let mut care_of = *src;
    let mut nonces = None;
    let mut authorized = false;
    let (mut bids, mut fids) = (Vec::new(), Vec::new());
    let message = Repr::check_with(&packet, |option| match option {
        MobilityOption::AlternateCareOf(addr) => care_of = addr,
        MobilityOption::BindingIdentifier { bid, care_of, .. } => bids.push((bid, care_of)),
        MobilityOption::FlowIdentification(fid) => fids.push(fid),
        MobilityOption::NonceIndices { home, care_of } => {
            nonces = Some((NonceIndex(home), NonceIndex(care_of)))
        }
        // check_with has made sure it is last and ends the header.
        MobilityOption::BindingAuthorizationData { .. } => authorized = true,
        _ => {}
    })?;
    let Message::BindingUpdate {
        sequence,
        flags,
        lifetime,
    } = message
    else {
        return Err(BuRejection::NotABindingUpdate(packet.msg_type()));
    };
    if flags.home() {
        return Err(BuRejection::HomeRegistrationNotSupported);
    }
    for addr in [src, &care_of] {
        if !bindable(addr) || addr == dst {
            return Err(BuRejection::BadAddress(*addr));
        }
    }
    if lifetime != 0 && care_of == *src {
        // A binding of G to G itself: the mobile node is home and must
        // deregister with lifetime zero instead.
        return Err(BuRejection::BadAddress(care_of));
    }
    let flow = match (bids.as_slice(), fids.as_slice()) {
        ([], []) => None,
        ([(bid, None)], [fid]) => Some(FlowBinding::from_options(*bid, fid, src, dst)?),
        ([(_, Some(_))], _) => {
            return Err(BuRejection::BadFlow(
                "care-of address inside the binding identifier",
            ))
        }
        _ => return Err(BuRejection::BadFlow("needs exactly one BID and one FID")),
    };
    let (home_nonce, care_of_nonce) = nonces.ok_or(BuRejection::MissingNonceIndices)?;
    if !authorized {
        return Err(BuRejection::MissingAuthorization);
    }
    // The authenticator is the header's last 12 octets; sliced from `mh`
    // itself so that both outlive the view.
    let covered = packet.total_len() - AUTHENTICATOR_LEN;
    let (mh_prefix, rest) = mh.split_at(covered);
    let authenticator = rest
        .first_chunk::<AUTHENTICATOR_LEN>()
        .ok_or(BuRejection::MissingAuthorization)?;
    Ok(Unverified {
        update: BindingUpdate {
            home_address: *src,
            care_of,
            sequence: SeqNum(sequence),
            flags,
            lifetime_units: lifetime,
            home_nonce,
            care_of_nonce,
            flow,
        },
        mh_prefix,
        authenticator,
        correspondent: *dst,
    })
}

impl Unverified<'_> {
    /// The care-of address the BU names, before any check of its
    /// authenticator: where a Binding Acknowledgement would go.
    pub fn care_of(&self) -> Ipv6Addr {
        self.update.care_of
    }

    /// The key that authenticated this BU, once [`Unverified::verify`] has
    /// checked its authenticator (even if it then refused the sequence
    /// number): what the Binding Acknowledgement is signed with
    /// (RFC 6275 §6.1.8). `None` if the BU never verified.
    pub fn verified_key(&self, keys: &CorrespondentKeys, now: Instant) -> Option<BindingKey> {
        let u = self.update;
        let care_of = (!u.is_deregistration()).then_some((&u.care_of, u.care_of_nonce));
        let source = keys
            .key_source(&u.home_address, u.home_nonce, care_of, now)
            .ok()?;
        keys.verified_key(&source).cloned()
    }

    /// The flow binding the BU names, before any check.
    pub fn flow(&self) -> Option<FlowBinding> {
        self.update.flow
    }

    /// The home address the BU is from, before any check.
    pub fn home_address(&self) -> Ipv6Addr {
        self.update.home_address
    }

    /// Checks the nonces (136/137/138 when stale), the authenticator with
    /// the Kbm they give (§5.2.5; the home token alone for a
    /// deregistration, §5.2.6), then the sequence number.
    ///
    /// `last` is the last sequence number accepted for this home address.
    /// The caller keeps it after the binding is deleted or expires, for as
    /// long as a nonce lives ([`super::rr::MAX_NONCE_LIFETIME`]), or a
    /// captured Binding Update could be replayed (§9.5.3).
    pub fn verify(
        &self,
        keys: &mut CorrespondentKeys,
        last: Option<SeqNum>,
        now: Instant,
    ) -> Result<BindingUpdate, BuRejection> {
        let u = self.update;
        let care_of = (!u.is_deregistration()).then_some((&u.care_of, u.care_of_nonce));
        let source = keys
            .key_source(&u.home_address, u.home_nonce, care_of, now)
            .map_err(BuRejection::Nonces)?;
        // §9.5.1: the MAC is over the care-of address as the BU specifies it.
        let authentic = |key: &BindingKey| {
            key.verify(
                &u.care_of,
                &self.correspondent,
                self.mh_prefix,
                self.authenticator,
            )
            .is_ok()
        };
        match keys.verified_key(&source) {
            Some(key) if authentic(key) => {}
            Some(_) => return Err(BuRejection::BadAuthenticator),
            None => {
                let key = keys.derive(&source);
                if !authentic(&key) {
                    return Err(BuRejection::BadAuthenticator);
                }
                keys.remember_verified(source, key);
            }
        }
        if let Some(last) = last {
            if !u.sequence.is_newer_than(last) {
                return Err(BuRejection::SequenceOutOfWindow {
                    got: u.sequence,
                    last,
                });
            }
        }
        Ok(u)
    }
}

/// Global unicast addresses only: a binding to anything else would send a
/// client's traffic for G where no node can be (or at the client itself).
fn bindable(addr: &Ipv6Addr) -> bool {
    let first = addr.segments()[0];
    let v4_embedded = addr.segments()[..5] == [0; 5]; // ::/96 and ::ffff:0:0/96
    !(addr.is_unspecified()
        || addr.is_loopback()
        || addr.is_multicast()
        || v4_embedded
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0) // site-local, deprecated
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mipv6::rr::{Kcn, NonceTable, NonceTableConfig};
    use crate::mipv6::wire::{Message, MobilityOption, Repr};

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    struct Setup {
        keys: CorrespondentKeys,
        now: Instant,
        home: Ipv6Addr,
        care_of: Ipv6Addr,
        cn: Ipv6Addr,
        home_nonce: NonceIndex,
        care_of_nonce: NonceIndex,
        home_token: [u8; 8],
        care_of_token: [u8; 8],
    }

    /// A correspondent that answered a HoTI and a CoTI.
    fn setup() -> Setup {
        let now = Instant::now();
        let mut keys = CorrespondentKeys::new(
            Kcn::from_bytes([7; 20]),
            NonceTable::new(NonceTableConfig::default()).unwrap(),
        );
        let home = addr("2001:db8:ffff::1");
        let care_of = addr("2001:db8:1:2::2");
        let (home_nonce, home_token) = keys.home_test(&home, now);
        let (care_of_nonce, care_of_token) = keys.care_of_test(&care_of, now);
        Setup {
            keys,
            now,
            home,
            care_of,
            cn: addr("2001:db8:2:1::2"),
            home_nonce,
            care_of_nonce,
            home_token,
            care_of_token,
        }
    }

    /// What a mobile node sends: a signed BU from `s.home`.
    fn signed_bu(s: &Setup, sequence: u16, lifetime: u16, care_of: Option<Ipv6Addr>) -> Vec<u8> {
        let mut options = vec![MobilityOption::NonceIndices {
            home: s.home_nonce.0,
            care_of: s.care_of_nonce.0,
        }];
        if let Some(coa) = care_of {
            options.push(MobilityOption::AlternateCareOf(coa));
        }
        options.push(MobilityOption::BindingAuthorizationData {
            authenticator: [0; 12],
        });
        let repr = Repr {
            message: Message::BindingUpdate {
                sequence,
                flags: BuFlags(BuFlags::ACK),
                lifetime,
            },
            options,
        };
        let mut buf = vec![0u8; 128];
        let e = repr.emit_without_checksum(&mut buf).unwrap();
        buf.truncate(e.len);
        let auth = e.authenticator.unwrap();
        let dereg = lifetime == 0;
        let key = BindingKey::from_tokens(&s.home_token, (!dereg).then_some(&s.care_of_token));
        let mac_coa = care_of.unwrap_or(s.home);
        let tag = key.authenticator(&mac_coa, &s.cn, &buf[..auth.offset]);
        auth.write(&mut buf, &tag).unwrap();
        crate::mipv6::wire::fill_checksum(&mut buf, &s.home, &s.cn).unwrap();
        buf
    }

    #[test]
    fn accepts_a_signed_binding_update() {
        let mut s = setup();
        let bu = signed_bu(&s, 10, 15, Some(s.care_of));
        let got = read(&bu, &s.home, &s.cn)
            .unwrap()
            .verify(&mut s.keys, None, s.now)
            .unwrap();
        assert_eq!(got.home_address, s.home);
        assert_eq!(got.care_of, s.care_of);
        assert_eq!(got.sequence, SeqNum(10));
        assert!(!got.is_deregistration());
        assert_eq!(got.granted_lifetime(), Duration::from_secs(60));
        // Newer than the last accepted: fine; across the wrap too.
        read(&bu, &s.home, &s.cn)
            .unwrap()
            .verify(&mut s.keys, Some(SeqNum(9)), s.now)
            .unwrap();
        read(&bu, &s.home, &s.cn)
            .unwrap()
            .verify(&mut s.keys, Some(SeqNum(65_000)), s.now)
            .unwrap();
    }

    #[test]
    fn deregistration_uses_the_home_token_alone() {
        let mut s = setup();
        // Lifetime zero, from a node (Alternate CoA) or from home.
        for bu in [
            signed_bu(&s, 11, 0, Some(s.care_of)),
            signed_bu(&s, 12, 0, None),
        ] {
            let got = read(&bu, &s.home, &s.cn)
                .unwrap()
                .verify(&mut s.keys, None, s.now)
                .unwrap();
            assert!(got.is_deregistration());
        }
        // A registration of G to G itself is no deregistration: refused.
        let bu = signed_bu(&s, 13, 15, None);
        assert_eq!(
            read(&bu, &s.home, &s.cn).unwrap_err(),
            BuRejection::BadAddress(s.home)
        );
    }

    #[test]
    fn a_kept_key_still_needs_live_nonces() {
        let mut s = setup();
        let bu = signed_bu(&s, 10, 15, Some(s.care_of));
        read(&bu, &s.home, &s.cn)
            .unwrap()
            .verify(&mut s.keys, None, s.now)
            .unwrap();
        // The same BU again is served by the kept key...
        let u = read(&bu, &s.home, &s.cn).unwrap();
        u.verify(&mut s.keys, Some(SeqNum(9)), s.now).unwrap();
        // ...but not once its nonces are past MAX_NONCE_LIFETIME.
        let later = s.now + crate::mipv6::rr::MAX_NONCE_LIFETIME + Duration::from_secs(1);
        let err = u.verify(&mut s.keys, Some(SeqNum(9)), later).unwrap_err();
        assert_eq!(err.ba_status(), Some(ba_status::EXPIRED_NONCES));
    }

    #[test]
    fn a_forged_update_leaves_no_key_behind() {
        let mut s = setup();
        let mut bu = signed_bu(&s, 10, 15, Some(s.care_of));
        let last = bu.len() - 1;
        bu[last] ^= 1; // the authenticator's last octet
        crate::mipv6::wire::fill_checksum(&mut bu, &s.home, &s.cn).unwrap();
        let u = read(&bu, &s.home, &s.cn).unwrap();
        assert_eq!(
            u.verify(&mut s.keys, None, s.now).unwrap_err(),
            BuRejection::BadAuthenticator
        );
        let source = s
            .keys
            .key_source(
                &s.home,
                s.home_nonce,
                Some((&s.care_of, s.care_of_nonce)),
                s.now,
            )
            .unwrap();
        assert!(s.keys.verified_key(&source).is_none());
    }

    #[test]
    fn unroutable_care_of_addresses_are_refused() {
        let s = setup();
        for bad in [
            "::ffff:127.0.0.1",
            "::10.0.0.1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::1",
        ] {
            let bu = signed_bu(&s, 10, 15, Some(addr(bad)));
            assert_eq!(
                read(&bu, &s.home, &s.cn).unwrap_err(),
                BuRejection::BadAddress(addr(bad)),
                "{bad}"
            );
        }
        // Nor the correspondent itself.
        let bu = signed_bu(&s, 10, 15, Some(s.cn));
        assert_eq!(
            read(&bu, &s.home, &s.cn).unwrap_err(),
            BuRejection::BadAddress(s.cn)
        );
    }

    #[test]
    fn lifetime_is_capped() {
        let mut s = setup();
        let bu = signed_bu(&s, 1, u16::MAX, Some(s.care_of));
        let got = read(&bu, &s.home, &s.cn)
            .unwrap()
            .verify(&mut s.keys, None, s.now)
            .unwrap();
        assert_eq!(got.granted_lifetime(), MAX_RR_BINDING_LIFETIME);
    }

    #[test]
    fn old_sequence_number_is_answered_with_135() {
        let mut s = setup();
        let bu = signed_bu(&s, 10, 15, Some(s.care_of));
        for last in [10, 11, 10 + 32_768] {
            let err = read(&bu, &s.home, &s.cn)
                .unwrap()
                .verify(&mut s.keys, Some(SeqNum(last)), s.now)
                .unwrap_err();
            assert_eq!(
                err,
                BuRejection::SequenceOutOfWindow {
                    got: SeqNum(10),
                    last: SeqNum(last)
                }
            );
            assert_eq!(err.ba_status(), Some(135));
        }
    }

    #[test]
    fn any_changed_bit_is_dropped_silently() {
        let mut s = setup();
        let bu = signed_bu(&s, 10, 15, Some(s.care_of));
        // Flip each bit outside the checksum; fix the checksum so only the
        // authenticator can catch it.
        for bit in 0..bu.len() * 8 {
            if (32..48).contains(&bit) {
                continue;
            }
            let mut forged = bu.clone();
            forged[bit / 8] ^= 1 << (bit % 8);
            // A flipped length can make the header unfit for a checksum.
            let _ = crate::mipv6::wire::fill_checksum(&mut forged, &s.home, &s.cn);
            match read(&forged, &s.home, &s.cn).and_then(|u| u.verify(&mut s.keys, None, s.now)) {
                Ok(u) => panic!("bit {bit} flipped and accepted: {u:?}"),
                Err(e) => assert!(
                    e.ba_status().is_none()
                        || matches!(
                            e,
                            BuRejection::Nonces(_) | BuRejection::HomeRegistrationNotSupported
                        ),
                    "bit {bit}: {e:?}"
                ),
            }
        }
    }

    #[test]
    fn other_source_or_destination_fails() {
        let mut s = setup();
        let bu = signed_bu(&s, 10, 15, Some(s.care_of));
        // A bad checksum first: the pseudo-header covers both addresses.
        let other = addr("2001:db8:2:9::2");
        assert!(matches!(
            read(&bu, &other, &s.cn),
            Err(BuRejection::Malformed(WireError::BadChecksum { .. }))
        ));
        // With a checksum made for the other correspondent, the MAC still fails.
        let mut moved = bu.clone();
        crate::mipv6::wire::fill_checksum(&mut moved, &s.home, &other).unwrap();
        let err = read(&moved, &s.home, &other)
            .unwrap()
            .verify(&mut s.keys, None, s.now)
            .unwrap_err();
        assert_eq!(err, BuRejection::BadAuthenticator);
        assert_eq!(err.ba_status(), None);
    }

    #[test]
    fn unknown_nonce_is_answered_with_its_status() {
        let mut s = setup();
        s.home_nonce = NonceIndex(s.home_nonce.0.wrapping_add(100));
        let bu = signed_bu(&s, 10, 15, Some(s.care_of));
        let err = read(&bu, &s.home, &s.cn)
            .unwrap()
            .verify(&mut s.keys, None, s.now)
            .unwrap_err();
        assert_eq!(err.ba_status(), Some(136));
    }

    #[test]
    fn missing_options_and_other_messages_are_refused() {
        let s = setup();
        let emit = |mut options: Vec<MobilityOption>, flags: u16| {
            // From a node: an Alternate CoA (a later one in `options` wins).
            options.insert(0, MobilityOption::AlternateCareOf(s.care_of));
            let repr = Repr {
                message: Message::BindingUpdate {
                    sequence: 1,
                    flags: BuFlags(flags),
                    lifetime: 15,
                },
                options,
            };
            let mut buf = vec![0u8; 128];
            let n = repr.emit(&mut buf, &s.home, &s.cn).unwrap();
            buf.truncate(n);
            buf
        };
        let bad = MobilityOption::BindingAuthorizationData {
            authenticator: [1; 12],
        };
        let nonces = MobilityOption::NonceIndices {
            home: 1,
            care_of: 1,
        };
        assert_eq!(
            read(&emit(vec![bad.clone()], 0), &s.home, &s.cn).unwrap_err(),
            BuRejection::MissingNonceIndices
        );
        assert_eq!(
            read(&emit(vec![nonces], 0), &s.home, &s.cn).unwrap_err(),
            BuRejection::MissingAuthorization
        );
        assert_eq!(
            read(&emit(vec![], BuFlags::HOME), &s.home, &s.cn)
                .unwrap_err()
                .ba_status(),
            Some(ba_status::HOME_REG_NOT_SUPPORTED)
        );
        let lo = addr("::1");
        let mut buf = emit(vec![MobilityOption::AlternateCareOf(lo), bad], 0);
        crate::mipv6::wire::fill_checksum(&mut buf, &s.home, &s.cn).unwrap();
        assert_eq!(
            read(&buf, &s.home, &s.cn).unwrap_err(),
            BuRejection::BadAddress(lo)
        );

        let brr = Repr {
            message: Message::BindingRefreshRequest,
            options: vec![],
        };
        let mut buf = vec![0u8; 64];
        let n = brr.emit(&mut buf, &s.home, &s.cn).unwrap();
        assert_eq!(
            read(&buf[..n], &s.home, &s.cn).unwrap_err(),
            BuRejection::NotABindingUpdate(0)
        );
    }
}
