//! The server node's side of the signalling (the "mobile node" of RFC 6275,
//! with G as its home address): the messages it sends, the replies it
//! reads, and the keygen tokens it keeps per client. Sans-I/O; the node
//! runtime in `lowlevel` does the sending.

use std::net::Ipv6Addr;
use std::time::Instant;

use super::binding_update::FlowBinding;
use super::mn_ha_auth::{MnHaKey, NtpTimestamp};
use super::rr::{BindingKey, Cookie, KeygenToken, NonceIndex, MAX_TOKEN_LIFETIME};
use super::seq::SeqNum;
use super::wire::{
    ba_status, BuFlags, Message, MobilityOption, Packet, Repr, WireError, AUTH_SUBTYPE_MN_HA,
};
use crate::dataplane::FlowKey;

/// A keygen token with the nonce index it came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// The correspondent's nonce index.
    pub index: NonceIndex,
    /// The keygen token.
    pub token: KeygenToken,
    /// When it arrived: it may be used for [`MAX_TOKEN_LIFETIME`].
    pub received: Instant,
}

impl Token {
    /// Still usable at `now` (RFC 6275 §5.2.7).
    pub fn is_fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.received) < MAX_TOKEN_LIFETIME
    }
}

/// The tokens a node holds for one client: reused while fresh, so a second
/// handoff of the same client needs no new return routability.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// From the last Home Test.
    pub home: Option<Token>,
    /// From the last Care-of Test.
    pub care_of: Option<Token>,
}

impl Tokens {
    /// The home token, if fresh.
    pub fn fresh_home(&self, now: Instant) -> Option<Token> {
        self.home.filter(|t| t.is_fresh(now))
    }

    /// The care-of token, if fresh.
    pub fn fresh_care_of(&self, now: Instant) -> Option<Token> {
        self.care_of.filter(|t| t.is_fresh(now))
    }
}

/// A reply a node reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Home Test: its cookie and token.
    HomeTest {
        /// Home Init Cookie echoed.
        cookie: Cookie,
        /// Nonce index and token.
        index: NonceIndex,
        /// Home keygen token.
        token: KeygenToken,
    },
    /// Care-of Test.
    CareOfTest {
        /// Care-of Init Cookie echoed.
        cookie: Cookie,
        /// Nonce index.
        index: NonceIndex,
        /// Care-of keygen token.
        token: KeygenToken,
    },
    /// Binding Acknowledgement.
    BindingAck {
        /// Status.
        status: u8,
        /// Sequence number (the BU's, or the last accepted one for 135).
        sequence: SeqNum,
        /// Granted lifetime in 4-second units.
        lifetime: u16,
        /// The Binding Identifier, for a flow binding's BA.
        bid: Option<u16>,
        /// The connection, for a home agent's BA of a flow registration
        /// (it echoes the Flow Identification, RFC 6089 §4.2).
        flow: Option<FlowKey>,
        /// RFC 4285 timestamp echoed by a home agent.
        timestamp: Option<u64>,
    },
    /// Binding Refresh Request.
    RefreshRequest,
}

/// Why a reply was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// Not a well-formed Mobility Header.
    #[error("malformed: {0}")]
    Malformed(#[from] WireError),
    /// A message a node never expects (HoTI, CoTI, BU, BE).
    #[error("unexpected MH type {0}")]
    Unexpected(u8),
    /// A BA without the authenticator it needs, or with one that does not
    /// check.
    #[error("binding acknowledgement fails authentication")]
    BadAuthenticator,
}

/// What a Binding Acknowledgement must be signed with.
#[derive(Clone, Copy)]
pub enum AckKey<'a> {
    /// No key is expected: a signed BA is refused, an unsigned one read.
    None,
    /// From the home agent: an RFC 4285 MN-HA authenticator is required.
    HomeAgent(&'a MnHaKey),
    /// From a correspondent: Binding Authorization Data with the Kbm of the
    /// BU it answers is required (RFC 6275 §6.1.8), except for statuses
    /// 136-138, which a correspondent cannot sign (the nonces are gone).
    Correspondent(&'a BindingKey),
}

/// Reads a reply sent from `src` to `dst` (a BA checked with `key`; one
/// that fails is an error, so a forged BA cannot confirm a binding).
pub fn read_reply(
    mh: &[u8],
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    home: &Ipv6Addr,
    key: AckKey<'_>,
) -> Result<Reply, ReplyError> {
    let packet = Packet::new_checked(mh)?;
    let repr = Repr::parse(&packet, src, dst)?;
    Ok(match repr.message {
        Message::HomeTest {
            nonce_index,
            cookie,
            keygen_token,
        } => Reply::HomeTest {
            cookie: Cookie(cookie),
            index: NonceIndex(nonce_index),
            token: keygen_token,
        },
        Message::CareOfTest {
            nonce_index,
            cookie,
            keygen_token,
        } => Reply::CareOfTest {
            cookie: Cookie(cookie),
            index: NonceIndex(nonce_index),
            token: keygen_token,
        },
        Message::BindingAck {
            status,
            sequence,
            lifetime,
            ..
        } => {
            let mut bid = None;
            let mut fid = None;
            let mut timestamp = None;
            for o in &repr.options {
                match o {
                    MobilityOption::BindingIdentifier { bid: b, .. } => bid = Some(*b),
                    MobilityOption::FlowIdentification(f) => fid = Some(f),
                    MobilityOption::ReplayProtection { timestamp: t } => timestamp = Some(*t),
                    _ => {}
                }
            }
            let flow = match (bid, fid) {
                (Some(b), Some(f)) => FlowBinding::parse(b, f).ok().map(|f| f.flow),
                _ => None,
            };
            let ha_auth = packet.message_auth_prefix(AUTH_SUBTYPE_MN_HA);
            let cn_auth = packet.binding_auth_prefix();
            let authentic = match (key, ha_auth, cn_auth) {
                (AckKey::None, None, None) => true,
                // Both sign with the care-of address (our `dst`) first.
                (AckKey::HomeAgent(k), Some((prefix, auth)), None) => {
                    k.verify(dst, home, prefix, auth).is_ok()
                }
                (AckKey::Correspondent(k), None, Some((prefix, auth))) => {
                    k.verify(dst, src, prefix, auth).is_ok()
                }
                (AckKey::Correspondent(_), None, None) => {
                    (ba_status::EXPIRED_HOME_NONCE..=ba_status::EXPIRED_NONCES).contains(&status)
                }
                _ => false,
            };
            if !authentic {
                return Err(ReplyError::BadAuthenticator);
            }
            Reply::BindingAck {
                status,
                sequence: SeqNum(sequence),
                lifetime,
                bid,
                flow,
                timestamp,
            }
        }
        Message::BindingRefreshRequest => Reply::RefreshRequest,
        _ => return Err(ReplyError::Unexpected(packet.msg_type())),
    })
}

/// A Home Test Init or Care-of Test Init from `src` to `dst`.
pub fn test_init(
    home: bool,
    cookie: Cookie,
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
) -> Result<Vec<u8>, WireError> {
    let message = if home {
        Message::HomeTestInit { cookie: cookie.0 }
    } else {
        Message::CareOfTestInit { cookie: cookie.0 }
    };
    let repr = Repr {
        message,
        options: vec![],
    };
    repr.to_bytes(src, dst)
}

/// What a Binding Update to a correspondent says.
#[derive(Debug, Clone, Copy)]
pub struct BindingRequest {
    /// G, the source.
    pub home: Ipv6Addr,
    /// The client.
    pub correspondent: Ipv6Addr,
    /// The node's own address.
    pub care_of: Ipv6Addr,
    /// Sequence number.
    pub sequence: SeqNum,
    /// Lifetime in 4-second units; 0 removes the binding.
    pub lifetime: u16,
    /// A flow binding, else the plain binding of every connection.
    pub flow: Option<FlowBinding>,
}

/// A Binding Update signed with the tokens (RFC 6275 §5.2.6; the home token
/// alone when `lifetime` is 0). `care_of` token is ignored then.
pub fn binding_update(
    req: &BindingRequest,
    home: &Token,
    care_of: Option<&Token>,
) -> Result<Vec<u8>, WireError> {
    let dereg = req.lifetime == 0;
    let care_of_index = care_of.map_or(0, |t| t.index.0);
    let mut options = vec![
        MobilityOption::NonceIndices {
            home: home.index.0,
            care_of: if dereg { 0 } else { care_of_index },
        },
        MobilityOption::AlternateCareOf(req.care_of),
    ];
    if let Some(f) = &req.flow {
        options.extend(f.options());
    }
    options.push(MobilityOption::BindingAuthorizationData {
        authenticator: [0; 12],
    });
    let repr = Repr {
        message: Message::BindingUpdate {
            sequence: req.sequence.0,
            flags: BuFlags(BuFlags::ACK),
            lifetime: req.lifetime,
        },
        options,
    };
    let key = BindingKey::from_tokens(
        &home.token,
        if dereg {
            None
        } else {
            care_of.map(|t| &t.token)
        },
    );
    repr.to_signed_bytes(&req.home, &req.correspondent, |prefix| {
        key.authenticator(&req.care_of, &req.correspondent, prefix)
    })
}

/// Kbm from the tokens (the home token alone for a deregistration): what
/// signs a BU and checks its BA.
pub fn binding_key(home: &Token, care_of: Option<&Token>, deregistration: bool) -> BindingKey {
    let care_of = if deregistration {
        None
    } else {
        care_of.map(|t| &t.token)
    };
    BindingKey::from_tokens(&home.token, care_of)
}

/// What a home registration says.
#[derive(Debug, Clone, Copy)]
pub struct HomeRegistration {
    /// G, the source.
    pub home: Ipv6Addr,
    /// The home agent.
    pub home_agent: Ipv6Addr,
    /// The contact node's own address.
    pub care_of: Ipv6Addr,
    /// Sequence number.
    pub sequence: SeqNum,
    /// Lifetime in 4-second units; 0 deregisters.
    pub lifetime: u16,
    /// RFC 4285 replay-protection timestamp.
    pub timestamp: NtpTimestamp,
    /// One connection of a client without an agent, to be steered to the
    /// care-of address (a flow registration, RFC 5648/6089 at the home
    /// agent); `None` registers G itself (the contact node).
    pub flow: Option<FlowBinding>,
}

/// A home registration (H and A set) signed with the MN-HA key (RFC 4285):
/// of G itself, or of one flow to G.
pub fn home_registration(reg: &HomeRegistration, key: &MnHaKey) -> Result<Vec<u8>, WireError> {
    let mut options = mn_ha_options(reg.care_of, reg.timestamp, key);
    if let Some(f) = &reg.flow {
        // After the care-of address, before the timestamp and the
        // authenticator, which must come last (RFC 4285 §5).
        options.splice(1..1, f.options());
    }
    let repr = Repr {
        message: Message::BindingUpdate {
            sequence: reg.sequence.0,
            flags: BuFlags(BuFlags::ACK | BuFlags::HOME),
            lifetime: reg.lifetime,
        },
        options,
    };
    repr.to_signed_bytes(&reg.home, &reg.home_agent, |prefix| {
        key.authenticator(&reg.care_of, &reg.home, prefix)
    })
}

/// Alternate care-of address, timestamp and RFC 4285 authentication.
pub(crate) fn mn_ha_options(
    care_of: Ipv6Addr,
    ts: NtpTimestamp,
    key: &MnHaKey,
) -> Vec<MobilityOption> {
    vec![
        MobilityOption::AlternateCareOf(care_of),
        MobilityOption::ReplayProtection { timestamp: ts.0 },
        MobilityOption::MessageAuthentication {
            subtype: AUTH_SUBTYPE_MN_HA,
            spi: key.spi(),
            authenticator: [0; 12],
        },
    ]
}
