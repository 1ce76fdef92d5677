//! RFC 6275 Mobility Header wire codec, in the style of smoltcp's `wire`:
//! a checked zero-copy view [`Packet`] and a plain [`Repr`] with `parse`
//! and `emit`.
//!
//! Covered: the Mobility Header (RFC 6275 §6.1.1), its eight messages
//! (§6.1.2 to §6.1.9), the mobility options of §6.2, RFC 4285's Mobility
//! Message Authentication and Replay Protection options, RFC 5648's Binding
//! Identifier (with RFC 6089's BID-PRI), RFC 6089's Flow Identification and
//! Flow Summary options, and RFC 6088's IPv6 binary traffic selector.
//!
//! Receiving:
//!
//! ```
//! # use gecko::mipv6::wire::*;
//! # let (src, dst) = ("2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap());
//! # let mut buf = [0u8; 64];
//! # let bu = Repr { message: Message::BindingRefreshRequest, options: vec![] };
//! # let n = bu.emit(&mut buf, &src, &dst).unwrap();
//! # let buf = &buf[..n];
//! let packet = Packet::new_checked(buf)?;
//! let repr = Repr::parse(&packet, &src, &dst)?;
//! # Ok::<(), WireError>(())
//! ```
//!
//! Sending a Binding Update signed with Binding Authorization Data:
//!
//! ```
//! # use gecko::mipv6::wire::*;
//! # let (src, dst) = ("2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap());
//! let repr = Repr {
//!     message: Message::BindingUpdate { sequence: 7, flags: BuFlags(BuFlags::ACK), lifetime: 15 },
//!     options: vec![
//!         MobilityOption::NonceIndices { home: 1, care_of: 2 },
//!         MobilityOption::BindingAuthorizationData { authenticator: [0; 12] },
//!     ],
//! };
//! let mut buf = [0u8; 64];
//! let e = repr.emit_without_checksum(&mut buf)?;
//! let auth = e.authenticator.unwrap();
//! let tag = [0xab; 12]; // MAC over care-of | correspondent | buf[..auth.offset]
//! auth.write(&mut buf, &tag)?;
//! fill_checksum(&mut buf[..e.len], &src, &dst)?;
//! # let p = Packet::new_checked(&buf[..e.len])?;
//! # assert_eq!(p.binding_auth_prefix().unwrap().1, &tag);
//! # Ok::<(), WireError>(())
//! ```
//!
//! Decisions where the RFCs leave room:
//! - PadN contents are ignored on receipt (RFC 6275 §6.2.3 says so) and
//!   sent as zeros; padding that runs past its area is
//!   [`WireError::BadPadding`]. Padding is not kept in [`Repr`]; emit adds
//!   what each option's alignment needs and pads the header to 8 octets.
//! - Octets after the length Header Len gives are ignored: with Payload
//!   Proto 59 nothing may follow, and the checksum covers only the header.
//! - Known options with a length their format forbids are errors, not
//!   skipped; only unknown option types are skipped (and kept as
//!   [`MobilityOption::Unknown`]). Authenticators must be 96 bits.
//! - An authentication option must be last: Binding Authorization Data
//!   with nothing after it (RFC 6275 §6.2), an RFC 4285 option followed
//!   only by padding or RFC 4285 options. Otherwise a MAC would not cover
//!   the options after it.

mod checksum;
mod cursor;
mod error;
mod flow;
mod header;
mod message;
mod option;
mod traffic_selector;

#[cfg(test)]
mod tests;

pub use checksum::{compute as compute_checksum, fill_checksum, verify as verify_checksum};
pub use error::WireError;
pub use flow::{
    fid_status, FlowIdentification, FlowSubOption, SUBOPT_BINDING_REFERENCE, SUBOPT_PAD1,
    SUBOPT_PADN, SUBOPT_TRAFFIC_SELECTOR,
};
pub use header::{MhType, Packet, AUTHENTICATOR_LEN, IPPROTO_MH, IPPROTO_NONE, MAX_LEN, MIN_LEN};
pub use message::{ba_status, be_status, AuthField, BaFlags, BuFlags, Emitted, Message, Repr};
pub use option::{
    MobilityOption, OptionIter, RawOption, AUTH_SUBTYPE_MN_AAA, AUTH_SUBTYPE_MN_HA,
    OPT_ALTERNATE_COA, OPT_BINDING_AUTH_DATA, OPT_BINDING_ID, OPT_BINDING_REFRESH_ADVICE,
    OPT_FLOW_ID, OPT_FLOW_SUMMARY, OPT_MESSAGE_AUTH, OPT_NONCE_INDICES, OPT_PAD1, OPT_PADN,
    OPT_REPLAY_PROTECTION,
};
pub use traffic_selector::{
    Ipv6TrafficSelector, TrafficSelector, TsRange, TS_FORMAT_IPV4, TS_FORMAT_IPV6,
};
