//! The checked view over a Mobility Header (RFC 6275 §6.1.1) and its
//! message types (§6.1.2 to §6.1.9).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Payload Proto |  Header Len   |   MH Type     |   Reserved    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Checksum            |   Message Data ...            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::Ipv6Addr;

use super::checksum;
use super::error::WireError;
use super::option::{OptionIter, OPT_BINDING_AUTH_DATA, OPT_MESSAGE_AUTH};

/// IPv6 Next Header value of the Mobility Header.
pub const IPPROTO_MH: u8 = 135;
/// IPPROTO_NONE: the only Payload Proto RFC 6275 §9.2 accepts.
pub const IPPROTO_NONE: u8 = 59;
/// Smallest Mobility Header (Header Len 0).
pub const MIN_LEN: usize = 8;
/// Largest Mobility Header (Header Len 255).
pub const MAX_LEN: usize = 256 * 8;
/// Length of the authenticators this codec handles (HMAC-SHA1-96).
pub const AUTHENTICATOR_LEN: usize = 12;

pub(crate) const CHECKSUM_OFFSET: usize = 4;
/// Message Data starts after the checksum.
pub(crate) const DATA_OFFSET: usize = 6;

/// MH Type values of RFC 6275 §6.1.2 to §6.1.9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MhType {
    /// Binding Refresh Request, §6.1.2.
    BindingRefreshRequest = 0,
    /// Home Test Init, §6.1.3.
    HomeTestInit = 1,
    /// Care-of Test Init, §6.1.4.
    CareOfTestInit = 2,
    /// Home Test, §6.1.5.
    HomeTest = 3,
    /// Care-of Test, §6.1.6.
    CareOfTest = 4,
    /// Binding Update, §6.1.7.
    BindingUpdate = 5,
    /// Binding Acknowledgement, §6.1.8.
    BindingAck = 6,
    /// Binding Error, §6.1.9.
    BindingError = 7,
}

impl MhType {
    /// The type with this MH Type value, if it is one of RFC 6275's.
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::BindingRefreshRequest,
            1 => Self::HomeTestInit,
            2 => Self::CareOfTestInit,
            3 => Self::HomeTest,
            4 => Self::CareOfTest,
            5 => Self::BindingUpdate,
            6 => Self::BindingAck,
            7 => Self::BindingError,
            _ => return None,
        })
    }

    /// The message's name in snake case (logs, metric labels).
    pub const fn name(self) -> &'static str {
        match self {
            Self::BindingRefreshRequest => "binding_refresh_request",
            Self::HomeTestInit => "home_test_init",
            Self::CareOfTestInit => "care_of_test_init",
            Self::HomeTest => "home_test",
            Self::CareOfTest => "care_of_test",
            Self::BindingUpdate => "binding_update",
            Self::BindingAck => "binding_ack",
            Self::BindingError => "binding_error",
        }
    }

    /// [`MhType::name`] of an MH Type value, `unknown` if it is none of
    /// RFC 6275's.
    pub const fn name_of(v: u8) -> &'static str {
        match Self::from_u8(v) {
            Some(t) => t.name(),
            None => "unknown",
        }
    }

    /// Octets of fixed message data after the Checksum field, before any
    /// mobility option.
    pub const fn fixed_len(self) -> usize {
        match self {
            Self::BindingRefreshRequest => 2,
            Self::HomeTestInit | Self::CareOfTestInit => 10,
            Self::HomeTest | Self::CareOfTest | Self::BindingError => 18,
            Self::BindingUpdate | Self::BindingAck => 6,
        }
    }
}

impl TryFrom<u8> for MhType {
    type Error = WireError;
    fn try_from(v: u8) -> Result<Self, WireError> {
        Self::from_u8(v).ok_or(WireError::UnknownMessageType(v))
    }
}

/// A read/write view of a Mobility Header in a buffer.
///
/// [`Packet::new_checked`] validates the buffer length once. Accessors
/// never panic, checked or not: a field the header is too short to hold
/// reads as zero (a Header Len too small for the MH Type is reported by
/// [`super::Repr::parse`]). Octets after the length the Header Len field
/// gives are ignored. Nothing here allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer after [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the buffer holds the whole Mobility Header its Header
    /// Len describes.
    ///
    /// It does not look at the checksum, MH Type, Payload Proto, options,
    /// or whether Header Len covers the type's fixed fields: [`Repr::parse`]
    /// checks those in the order RFC 6275 §9.2 prescribes, since each
    /// failure calls for a different answer (silence, Binding Error, ICMP).
    ///
    /// [`Repr::parse`]: super::Repr::parse
    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        if b.len() < MIN_LEN {
            return Err(WireError::Truncated { len: b.len() });
        }
        let total = self.total_len();
        if total > b.len() {
            return Err(WireError::HeaderLenPastBuffer {
                declared: total,
                available: b.len(),
            });
        }
        Ok(())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    // Field reads stay inside the Mobility Header and read zero past it.
    fn u8_at(&self, off: usize) -> u8 {
        self.mh_bytes().get(off).copied().unwrap_or(0)
    }

    fn array_at<const N: usize>(&self, off: usize) -> [u8; N] {
        self.mh_bytes()
            .get(off..off + N)
            .and_then(|s| s.try_into().ok())
            .unwrap_or([0; N])
    }

    fn u16_at(&self, off: usize) -> u16 {
        u16::from_be_bytes(self.array_at(off))
    }

    /// Payload Proto field (59 in every valid message).
    pub fn payload_proto(&self) -> u8 {
        self.u8_at(0)
    }

    /// Header Len field: length in 8-octet units, excluding the first 8.
    pub fn header_len(&self) -> u8 {
        // Read from the raw buffer: the header's extent depends on it.
        self.buffer.as_ref().get(1).copied().unwrap_or(0)
    }

    /// Length of the Mobility Header in octets, `(Header Len + 1) * 8`.
    pub fn total_len(&self) -> usize {
        (usize::from(self.header_len()) + 1) * 8
    }

    /// MH Type field, raw.
    pub fn msg_type(&self) -> u8 {
        self.u8_at(2)
    }

    /// MH Type field, if RFC 6275 defines it.
    pub fn mh_type(&self) -> Result<MhType, WireError> {
        MhType::try_from(self.msg_type())
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        self.u16_at(CHECKSUM_OFFSET)
    }

    /// The Mobility Header's octets, exactly `total_len` of them (fewer only
    /// on an unchecked view of a short buffer).
    pub fn mh_bytes(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        &b[..self.total_len().min(b.len())]
    }

    /// Message Data: everything after the Checksum field.
    pub fn message_data(&self) -> &[u8] {
        self.mh_bytes().get(DATA_OFFSET..).unwrap_or(&[])
    }

    /// Offset of the mobility options: after the type's fixed fields. An
    /// unknown type has no options area.
    pub fn options_offset(&self) -> usize {
        match MhType::from_u8(self.msg_type()) {
            Some(t) => DATA_OFFSET + t.fixed_len(),
            None => self.total_len(),
        }
    }

    /// Iterates over the mobility options, skipping Pad1 and PadN. It ends
    /// after the first error.
    pub fn options(&self) -> OptionIter<'_> {
        OptionIter::new(self.mh_bytes(), self.options_offset())
    }

    /// True if the checksum over the pseudo-header (`src`, `dst`, length,
    /// Next Header 135) and the whole Mobility Header is right.
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        checksum::verify(self.mh_bytes(), src, dst)
    }

    /// The checksum the header should carry.
    pub fn compute_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> u16 {
        checksum::compute(self.mh_bytes(), src, dst)
    }

    fn is(&self, t: MhType) -> bool {
        self.msg_type() == t as u8
    }

    /// Sequence # of a Binding Update or Binding Acknowledgement.
    pub fn sequence(&self) -> Option<u16> {
        if self.is(MhType::BindingUpdate) {
            Some(self.u16_at(6))
        } else if self.is(MhType::BindingAck) {
            Some(self.u16_at(8))
        } else {
            None
        }
    }

    /// Lifetime (4-second units) of a Binding Update or Acknowledgement.
    pub fn lifetime(&self) -> Option<u16> {
        (self.is(MhType::BindingUpdate) || self.is(MhType::BindingAck)).then(|| self.u16_at(10))
    }

    /// The 16-bit flags word of a Binding Update (A H L K and the rest).
    pub fn bu_flags(&self) -> Option<u16> {
        self.is(MhType::BindingUpdate).then(|| self.u16_at(8))
    }

    /// Status of a Binding Acknowledgement or Binding Error.
    pub fn status(&self) -> Option<u8> {
        (self.is(MhType::BindingAck) || self.is(MhType::BindingError)).then(|| self.u8_at(6))
    }

    /// Nonce index of a Home Test or Care-of Test.
    pub fn nonce_index(&self) -> Option<u16> {
        (self.is(MhType::HomeTest) || self.is(MhType::CareOfTest)).then(|| self.u16_at(6))
    }

    /// Init cookie of a HoTI, CoTI, HoT or CoT.
    pub fn cookie(&self) -> Option<[u8; 8]> {
        matches!(
            MhType::from_u8(self.msg_type()),
            Some(
                MhType::HomeTestInit
                    | MhType::CareOfTestInit
                    | MhType::HomeTest
                    | MhType::CareOfTest
            )
        )
        .then(|| self.array_at(8))
    }

    /// Keygen token of a Home Test or Care-of Test.
    pub fn keygen_token(&self) -> Option<[u8; 8]> {
        (self.is(MhType::HomeTest) || self.is(MhType::CareOfTest)).then(|| self.array_at(16))
    }

    /// Home Address of a Binding Error.
    pub fn home_address(&self) -> Option<Ipv6Addr> {
        self.is(MhType::BindingError)
            .then(|| Ipv6Addr::from(self.array_at::<16>(8)))
    }

    /// The input of the Binding Authorization Data authenticator (RFC 6275
    /// §6.2.7) and the authenticator itself.
    ///
    /// The first slice is the Mobility Header up to, not including, the
    /// authenticator; it contains the Checksum field as received, which the
    /// MAC computation must treat as zero. `None` if there is no such option
    /// with a 12-octet authenticator, if it is not the very last octets of
    /// the header (the RFC forbids anything after it), or if the options
    /// are malformed.
    pub fn binding_auth_prefix(&self) -> Option<(&[u8], &[u8; AUTHENTICATOR_LEN])> {
        let mh = self.mh_bytes();
        for opt in self.options() {
            let opt = opt.ok()?;
            if opt.option_type == OPT_BINDING_AUTH_DATA {
                let start = opt.offset + 2;
                if opt.data.len() != AUTHENTICATOR_LEN || start + AUTHENTICATOR_LEN != mh.len() {
                    return None;
                }
                return Some((&mh[..start], opt.data.try_into().ok()?));
            }
        }
        None
    }

    /// The input of the RFC 4285 Mobility Message Authentication option's
    /// authenticator with this `subtype` (1 = MN-HA) and the authenticator.
    ///
    /// The first slice is the Mobility Header up to and including the
    /// option's Mobility SPI field (RFC 4285 §5.1); it contains the Checksum
    /// field as received, which the MAC computation must treat as zero.
    /// `None` if there is no such option with 12 octets of authentication
    /// data, if anything but padding follows it (its MAC would not cover
    /// it), or if the options are malformed.
    pub fn message_auth_prefix(&self, subtype: u8) -> Option<(&[u8], &[u8; AUTHENTICATOR_LEN])> {
        let mh = self.mh_bytes();
        let mut found = None;
        for opt in self.options() {
            let opt = opt.ok()?;
            match found {
                None if opt.option_type == OPT_MESSAGE_AUTH
                    && opt.data.first() == Some(&subtype) =>
                {
                    if opt.data.len() != 5 + AUTHENTICATOR_LEN {
                        return None;
                    }
                    // Type, length, subtype and SPI precede the authenticator.
                    let start = opt.offset + 2 + 5;
                    found = Some((&mh[..start], opt.data[5..].try_into().ok()?));
                }
                Some(_) => return None,
                None => {}
            }
        }
        found
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the Checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        if let Some(f) = self
            .buffer
            .as_mut()
            .get_mut(CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2)
        {
            f.copy_from_slice(&v.to_be_bytes());
        }
    }

    /// Computes and sets the Checksum field.
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        let c = self.compute_checksum(src, dst);
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mh_type_values() {
        for v in 0..=7u8 {
            assert_eq!(MhType::from_u8(v).map(|t| t as u8), Some(v));
        }
        assert_eq!(MhType::try_from(8), Err(WireError::UnknownMessageType(8)));
    }

    #[test]
    fn check_len_errors() {
        assert_eq!(
            Packet::new_checked(&[59u8, 0, 5][..]).unwrap_err(),
            WireError::Truncated { len: 3 }
        );
        let declared_past = [59u8, 1, 5, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            Packet::new_checked(&declared_past[..]).unwrap_err(),
            WireError::HeaderLenPastBuffer {
                declared: 16,
                available: 9
            }
        );
        // A BU too short for its fields is left to Repr::parse; its
        // accessors read zero and its trailing buffer is not looked at.
        let bu_too_short = [59u8, 0, 5, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff];
        let p = Packet::new_checked(&bu_too_short[..]).unwrap();
        assert_eq!(p.sequence(), Some(1));
        assert_eq!(p.lifetime(), Some(0));
        assert_eq!(p.options().count(), 0);
        // Unknown types only need the header itself.
        assert!(Packet::new_checked(&[59u8, 0, 200, 0, 0, 0, 0, 0][..]).is_ok());
    }

    #[test]
    fn unchecked_accessors_do_not_panic() {
        let p = Packet::new_unchecked(&[59u8, 9, 5][..]);
        assert_eq!(p.sequence(), Some(0));
        assert_eq!(p.checksum(), 0);
        assert_eq!(p.mh_bytes().len(), 3);
        assert_eq!(p.options().count(), 0);
        assert!(p.binding_auth_prefix().is_none());
    }
}
