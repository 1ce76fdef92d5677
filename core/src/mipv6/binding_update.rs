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
    ba_status, BuFlags, MhType, Packet, WireError, OPT_ALTERNATE_COA, OPT_NONCE_INDICES,
};

/// Longest binding a correspondent grants after return routability
/// (RFC 6275 §12, MAX_RR_BINDING_LIFETIME).
pub const MAX_RR_BINDING_LIFETIME: Duration = Duration::from_secs(420);

/// A Binding Update that passed every check of RFC 6275 §9.5.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindingUpdate {
    /// The mobile node's home address (the packet's source): G.
    pub home_address: Ipv6Addr,
    /// The care-of address to bind: the Alternate Care-of Address option,
    /// else the source (which makes it a deregistration).
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
}

impl BindingUpdate {
    /// Lifetime zero or care-of address equal to the home address: the
    /// binding is to be removed (§9.5.1).
    pub fn is_deregistration(&self) -> bool {
        self.lifetime_units == 0 || self.care_of == self.home_address
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
    /// The home or care-of address cannot be bound (multicast,
    /// unspecified, loopback, link-local).
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

/// A Binding Update read from the wire, authenticator not yet checked.
#[derive(Debug, Clone, Copy)]
pub struct Unverified<'a> {
    /// The fields, valid once the authenticator checks.
    pub update: BindingUpdate,
    /// What the authenticator covers: the Mobility Header up to it.
    pub mh_prefix: &'a [u8],
    /// The authenticator received.
    pub authenticator: &'a [u8; 12],
    /// The correspondent's own address (the packet's destination).
    pub correspondent: Ipv6Addr,
}

/// Reads a Binding Update sent from `src` to `dst` (checksum, structure,
/// addresses, required options) without allocating.
pub fn read<'a>(
    mh: &'a [u8],
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
) -> Result<Unverified<'a>, BuRejection> {
    let packet = Packet::new_checked(mh)?;
    // RFC 6275 §9.2 order: checksum, then type.
    if !packet.verify_checksum(src, dst) {
        return Err(WireError::BadChecksum {
            found: packet.checksum(),
            computed: packet.compute_checksum(src, dst),
        }
        .into());
    }
    if packet.mh_type()? != MhType::BindingUpdate {
        return Err(BuRejection::NotABindingUpdate(packet.msg_type()));
    }
    let flags = BuFlags(packet.bu_flags().unwrap_or_default());
    if flags.home() {
        return Err(BuRejection::HomeRegistrationNotSupported);
    }
    let mut care_of = *src;
    let mut nonces = None;
    for option in packet.options() {
        let option = option?;
        match (option.option_type, option.data) {
            (OPT_ALTERNATE_COA, data) => {
                let octets: [u8; 16] = data
                    .try_into()
                    .map_err(|_| bad_length(OPT_ALTERNATE_COA, data))?;
                care_of = Ipv6Addr::from(octets);
            }
            (OPT_NONCE_INDICES, &[h0, h1, c0, c1]) => {
                nonces = Some((
                    NonceIndex(u16::from_be_bytes([h0, h1])),
                    NonceIndex(u16::from_be_bytes([c0, c1])),
                ));
            }
            (OPT_NONCE_INDICES, data) => return Err(bad_length(OPT_NONCE_INDICES, data).into()),
            _ => {}
        }
    }
    for addr in [src, &care_of] {
        if !bindable(addr) {
            return Err(BuRejection::BadAddress(*addr));
        }
    }
    let (home_nonce, care_of_nonce) = nonces.ok_or(BuRejection::MissingNonceIndices)?;
    // Re-sliced from `mh` so that they outlive the view.
    let covered = packet
        .binding_auth_prefix()
        .ok_or(BuRejection::MissingAuthorization)?
        .0
        .len();
    let mh_prefix = &mh[..covered];
    let authenticator = mh[covered..]
        .first_chunk::<12>()
        .ok_or(BuRejection::MissingAuthorization)?;
    Ok(Unverified {
        update: BindingUpdate {
            home_address: *src,
            care_of,
            sequence: SeqNum(packet.sequence().unwrap_or_default()),
            flags,
            lifetime_units: packet.lifetime().unwrap_or_default(),
            home_nonce,
            care_of_nonce,
        },
        mh_prefix,
        authenticator,
        correspondent: *dst,
    })
}

impl Unverified<'_> {
    /// Derives Kbm from the correspondent's nonces (§5.2.5, §5.2.6: the
    /// home token alone for a deregistration) and checks everything.
    pub fn verify(
        &self,
        keys: &mut CorrespondentKeys,
        last: Option<SeqNum>,
        now: Instant,
    ) -> Result<BindingUpdate, BuRejection> {
        let u = &self.update;
        let care_of = (!u.is_deregistration()).then_some((&u.care_of, u.care_of_nonce));
        let key = keys
            .binding_key(&u.home_address, u.home_nonce, care_of, now)
            .map_err(BuRejection::Nonces)?;
        self.verify_with_key(&key, last)
    }

    /// Checks the authenticator with a key the caller kept from an earlier
    /// update of the same binding (same nonce indices), then the sequence
    /// number against `last`, the last one accepted for this home address.
    pub fn verify_with_key(
        &self,
        key: &BindingKey,
        last: Option<SeqNum>,
    ) -> Result<BindingUpdate, BuRejection> {
        let u = self.update;
        // The care-of address in the MAC is the home address when deregistering.
        let care_of = if u.is_deregistration() {
            u.home_address
        } else {
            u.care_of
        };
        key.verify(
            &care_of,
            &self.correspondent,
            self.mh_prefix,
            self.authenticator,
        )
        .map_err(|_| BuRejection::BadAuthenticator)?;
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

fn bad_length(option_type: u8, data: &[u8]) -> WireError {
    WireError::BadOptionLength {
        option_type,
        len: data.len() as u8,
    }
}

/// Unicast addresses of global scope only: a binding to anything else would
/// let a mobile node redirect traffic where it has no business.
fn bindable(addr: &Ipv6Addr) -> bool {
    !(addr.is_unspecified()
        || addr.is_loopback()
        || addr.is_multicast()
        || (addr.segments()[0] & 0xffc0) == 0xfe80)
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
        let dereg = lifetime == 0 || care_of.is_none_or(|c| c == s.home);
        let key = BindingKey::from_tokens(&s.home_token, (!dereg).then_some(&s.care_of_token));
        let mac_coa = if dereg { s.home } else { care_of.unwrap() };
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
        for bu in [
            signed_bu(&s, 11, 0, Some(s.care_of)),
            signed_bu(&s, 11, 15, None),
        ] {
            let got = read(&bu, &s.home, &s.cn)
                .unwrap()
                .verify(&mut s.keys, None, s.now)
                .unwrap();
            assert!(got.is_deregistration());
        }
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
        let emit = |options: Vec<MobilityOption>, flags: u16| {
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
