//! Mobility options (RFC 6275 §6.2 and extensions): a zero-copy iterator
//! over the raw TLVs and a plain [`MobilityOption`] representation.
//!
//! Every option is `Option Type (1) | Option Length (1) | data`, where the
//! length excludes the first two octets; Pad1 alone is a single zero octet
//! (RFC 6275 §6.2.1 to §6.2.3).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::cursor::Cursor;
use super::error::WireError;
use super::flow::FlowIdentification;
use super::header::AUTHENTICATOR_LEN;

/// Pad1, RFC 6275 §6.2.2.
pub const OPT_PAD1: u8 = 0;
/// PadN, RFC 6275 §6.2.3.
pub const OPT_PADN: u8 = 1;
/// Binding Refresh Advice, RFC 6275 §6.2.4.
pub const OPT_BINDING_REFRESH_ADVICE: u8 = 2;
/// Alternate Care-of Address, RFC 6275 §6.2.5.
pub const OPT_ALTERNATE_COA: u8 = 3;
/// Nonce Indices, RFC 6275 §6.2.6.
pub const OPT_NONCE_INDICES: u8 = 4;
/// Binding Authorization Data, RFC 6275 §6.2.7.
pub const OPT_BINDING_AUTH_DATA: u8 = 5;
/// Mobility Message Authentication (AUTH-OPTION-TYPE), RFC 4285 §5.
pub const OPT_MESSAGE_AUTH: u8 = 9;
/// Mobility Message Replay Protection (MESG-ID-OPTION-TYPE), RFC 4285 §6.
pub const OPT_REPLAY_PROTECTION: u8 = 10;
/// Binding Identifier, RFC 5648 §4.3 as updated by RFC 6089 §4.1.
pub const OPT_BINDING_ID: u8 = 35;
/// Flow Summary, RFC 6089 §4.2.2.
pub const OPT_FLOW_SUMMARY: u8 = 44;
/// Flow Identification, RFC 6089 §4.2.
pub const OPT_FLOW_ID: u8 = 45;

/// RFC 4285 §5.1: MN-HA mobility message authentication subtype.
pub const AUTH_SUBTYPE_MN_HA: u8 = 1;
/// RFC 4285 §5.2: MN-AAA mobility message authentication subtype.
pub const AUTH_SUBTYPE_MN_AAA: u8 = 2;

/// One option (or sub-option) TLV as it sits in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawOption<'a> {
    /// Option Type.
    pub option_type: u8,
    /// Offset of the type octet from the start of the Mobility Header.
    pub offset: usize,
    /// Option Data (the Option Length octets after the length field).
    pub data: &'a [u8],
}

/// Iterator over the TLVs of an options area, skipping Pad1 and PadN.
///
/// Padding content is ignored, as RFC 6275 §6.2.3 tells the receiver to;
/// padding that runs past the area is [`WireError::BadPadding`], any other
/// TLV that does is [`WireError::OptionOverrun`]. After an error the
/// iterator ends.
#[derive(Debug, Clone)]
pub struct OptionIter<'a> {
    area: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> OptionIter<'a> {
    /// Iterates over `mh[start..]`, reporting offsets from the start of `mh`.
    pub fn new(mh: &'a [u8], start: usize) -> Self {
        OptionIter {
            area: mh,
            pos: start,
            base: 0,
        }
    }

    /// Iterates over all of `area`, whose first octet sits at `base` in the
    /// Mobility Header (used for sub-options).
    pub(crate) fn with_base(area: &'a [u8], base: usize) -> Self {
        OptionIter { area, pos: 0, base }
    }

    fn fail(&mut self, err: WireError) -> Option<Result<RawOption<'a>, WireError>> {
        self.pos = usize::MAX;
        Some(Err(err))
    }
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = Result<RawOption<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let pos = self.pos;
            let option_type = *self.area.get(pos)?;
            let offset = self.base + pos;
            if option_type == OPT_PAD1 {
                self.pos = pos + 1;
                continue;
            }
            let overrun = if option_type == OPT_PADN {
                WireError::BadPadding { offset }
            } else {
                WireError::OptionOverrun { offset }
            };
            let Some(&len) = self.area.get(pos + 1) else {
                return self.fail(overrun);
            };
            let end = pos + 2 + usize::from(len);
            let Some(data) = self.area.get(pos + 2..end) else {
                return self.fail(overrun);
            };
            self.pos = end;
            if option_type != OPT_PADN {
                return Some(Ok(RawOption {
                    option_type,
                    offset,
                    data,
                }));
            }
        }
    }
}

/// A mobility option, padding excluded (emit adds the padding each option's
/// alignment needs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MobilityOption {
    /// Binding Refresh Advice (type 2, RFC 6275 §6.2.4, alignment 2n).
    BindingRefreshAdvice {
        /// Refresh Interval in units of 4 seconds.
        refresh_interval: u16,
    },
    /// Alternate Care-of Address (type 3, RFC 6275 §6.2.5, alignment 8n+6).
    AlternateCareOf(Ipv6Addr),
    /// Nonce Indices (type 4, RFC 6275 §6.2.6, alignment 2n).
    NonceIndices {
        /// Home Nonce Index.
        home: u16,
        /// Care-of Nonce Index.
        care_of: u16,
    },
    /// Binding Authorization Data (type 5, RFC 6275 §6.2.7): the last
    /// option, no trailing padding, hence alignment 8n+2. Only the 96-bit
    /// authenticator of return routability is accepted.
    BindingAuthorizationData {
        /// First 96 bits of HMAC_SHA1(Kbm, care-of | correspondent | MH data).
        authenticator: [u8; AUTHENTICATOR_LEN],
    },
    /// Mobility Message Authentication (type 9, RFC 4285 §5, alignment
    /// 4n+1; emitted at 8n+5 so that, being last, it ends the header with no
    /// trailing padding). Only 96-bit authentication data is accepted.
    MessageAuthentication {
        /// Subtype: [`AUTH_SUBTYPE_MN_HA`] or [`AUTH_SUBTYPE_MN_AAA`].
        subtype: u8,
        /// Mobility SPI.
        spi: u32,
        /// First 96 bits of HMAC_SHA1 over care-of | home | MH data.
        authenticator: [u8; AUTHENTICATOR_LEN],
    },
    /// Mobility Message Replay Protection (type 10, RFC 4285 §6, alignment
    /// 8n+2).
    ReplayProtection {
        /// 64-bit NTP-format timestamp.
        timestamp: u64,
    },
    /// Binding Identifier (type 35, RFC 5648 §4.3 and RFC 6089 §4.1;
    /// alignment 2n without a care-of address, 8n+2 with one).
    BindingIdentifier {
        /// Binding ID.
        bid: u16,
        /// Status (meaningful in a BA or CoT).
        status: u8,
        /// H flag: simultaneous home and foreign binding.
        h: bool,
        /// BID-PRI, 7 bits (RFC 6089; the Reserved bits of RFC 5648).
        bid_pri: u8,
        /// Optional IPv4 or IPv6 care-of address.
        care_of: Option<IpAddr>,
    },
    /// Flow Summary (type 44, RFC 6089 §4.2.2, alignment 2n).
    FlowSummary {
        /// One or more FIDs.
        fids: Vec<u16>,
    },
    /// Flow Identification (type 45, RFC 6089 §4.2, alignment 2n).
    FlowIdentification(FlowIdentification),
    /// An option this codec does not know: skipped by the receiver
    /// (RFC 6275 §6.2.1), kept so that parse and emit round-trip. Its type
    /// is never 0 or 1 (padding), nor one of the known types above.
    Unknown {
        /// Option Type.
        option_type: u8,
        /// Option Data.
        data: Vec<u8>,
    },
}

fn fixed<const N: usize>(raw: &RawOption<'_>) -> Result<[u8; N], WireError> {
    raw.data.try_into().map_err(|_| WireError::BadOptionLength {
        option_type: raw.option_type,
        len: raw.data.len() as u8,
    })
}

fn u16s(data: &[u8]) -> Vec<u16> {
    data.chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect()
}

impl MobilityOption {
    /// Decodes one raw option; padding must have been skipped already.
    pub fn parse(raw: &RawOption<'_>) -> Result<Self, WireError> {
        let bad_len = WireError::BadOptionLength {
            option_type: raw.option_type,
            len: raw.data.len() as u8,
        };
        Ok(match raw.option_type {
            OPT_BINDING_REFRESH_ADVICE => Self::BindingRefreshAdvice {
                refresh_interval: u16::from_be_bytes(fixed(raw)?),
            },
            OPT_ALTERNATE_COA => Self::AlternateCareOf(Ipv6Addr::from(fixed::<16>(raw)?)),
            OPT_NONCE_INDICES => {
                let d: [u8; 4] = fixed(raw)?;
                Self::NonceIndices {
                    home: u16::from_be_bytes([d[0], d[1]]),
                    care_of: u16::from_be_bytes([d[2], d[3]]),
                }
            }
            OPT_BINDING_AUTH_DATA => Self::BindingAuthorizationData {
                authenticator: fixed(raw)?,
            },
            OPT_MESSAGE_AUTH => {
                let d: [u8; 5 + AUTHENTICATOR_LEN] = fixed(raw)?;
                let mut authenticator = [0; AUTHENTICATOR_LEN];
                authenticator.copy_from_slice(&d[5..]);
                Self::MessageAuthentication {
                    subtype: d[0],
                    spi: u32::from_be_bytes([d[1], d[2], d[3], d[4]]),
                    authenticator,
                }
            }
            OPT_REPLAY_PROTECTION => Self::ReplayProtection {
                timestamp: u64::from_be_bytes(fixed(raw)?),
            },
            OPT_BINDING_ID => {
                let d = raw.data;
                let care_of = match d.len() {
                    4 => None,
                    8 => Some(IpAddr::V4(Ipv4Addr::new(d[4], d[5], d[6], d[7]))),
                    20 => Some(IpAddr::V6(Ipv6Addr::from(
                        <[u8; 16]>::try_from(&d[4..20]).map_err(|_| bad_len)?,
                    ))),
                    _ => return Err(bad_len),
                };
                Self::BindingIdentifier {
                    bid: u16::from_be_bytes([d[0], d[1]]),
                    status: d[2],
                    h: d[3] & 0x80 != 0,
                    bid_pri: d[3] & 0x7f,
                    care_of,
                }
            }
            OPT_FLOW_SUMMARY => {
                if raw.data.is_empty() || raw.data.len() % 2 != 0 {
                    return Err(bad_len);
                }
                Self::FlowSummary {
                    fids: u16s(raw.data),
                }
            }
            OPT_FLOW_ID => {
                Self::FlowIdentification(FlowIdentification::parse(raw.data, raw.offset + 2)?)
            }
            // Padding never reaches here through OptionIter; refuse it
            // rather than build an Unknown that emit would misencode.
            OPT_PAD1 | OPT_PADN => return Err(WireError::BadPadding { offset: raw.offset }),
            option_type => Self::Unknown {
                option_type,
                data: raw.data.to_vec(),
            },
        })
    }

    /// Option Type of this option.
    pub fn option_type(&self) -> u8 {
        match self {
            Self::BindingRefreshAdvice { .. } => OPT_BINDING_REFRESH_ADVICE,
            Self::AlternateCareOf(_) => OPT_ALTERNATE_COA,
            Self::NonceIndices { .. } => OPT_NONCE_INDICES,
            Self::BindingAuthorizationData { .. } => OPT_BINDING_AUTH_DATA,
            Self::MessageAuthentication { .. } => OPT_MESSAGE_AUTH,
            Self::ReplayProtection { .. } => OPT_REPLAY_PROTECTION,
            Self::BindingIdentifier { .. } => OPT_BINDING_ID,
            Self::FlowSummary { .. } => OPT_FLOW_SUMMARY,
            Self::FlowIdentification(_) => OPT_FLOW_ID,
            Self::Unknown { option_type, .. } => *option_type,
        }
    }

    /// True for the options whose authenticator must cover everything
    /// before it, and which must therefore come last.
    pub fn is_authentication(&self) -> bool {
        matches!(
            self,
            Self::BindingAuthorizationData { .. } | Self::MessageAuthentication { .. }
        )
    }

    /// Alignment as `(x, y)` for "xn + y", offset from the start of the
    /// Mobility Header.
    pub fn alignment(&self) -> (usize, usize) {
        match self {
            Self::BindingRefreshAdvice { .. } | Self::NonceIndices { .. } => (2, 0),
            Self::AlternateCareOf(_) => (8, 6),
            Self::BindingAuthorizationData { .. } | Self::ReplayProtection { .. } => (8, 2),
            // 8n+5 satisfies RFC 4285's 4n+1 and ends the option, 19 octets
            // long, on an 8-octet boundary.
            Self::MessageAuthentication { .. } => (8, 5),
            Self::BindingIdentifier { care_of: None, .. } => (2, 0),
            Self::BindingIdentifier {
                care_of: Some(_), ..
            } => (8, 2),
            Self::FlowSummary { .. } | Self::FlowIdentification(_) => (2, 0),
            Self::Unknown { .. } => (1, 0),
        }
    }

    /// Offset of the authenticator from the option's type octet, for the
    /// authentication options.
    pub fn authenticator_offset(&self) -> Option<usize> {
        match self {
            Self::BindingAuthorizationData { .. } => Some(2),
            Self::MessageAuthentication { .. } => Some(2 + 5),
            _ => None,
        }
    }

    /// Writes the option (without alignment padding) at the cursor.
    pub(crate) fn emit(&self, c: &mut Cursor<'_>) -> Result<(), WireError> {
        let start = c.pos();
        if matches!(
            self,
            Self::Unknown {
                option_type: OPT_PAD1 | OPT_PADN,
                ..
            }
        ) {
            // It would be read back as padding, shifting every later option.
            return Err(WireError::BadPadding { offset: start });
        }
        c.put_u8(self.option_type())?;
        c.put_u8(0)?; // patched below
        match self {
            Self::BindingRefreshAdvice { refresh_interval } => c.put_u16(*refresh_interval)?,
            Self::AlternateCareOf(a) => c.put(&a.octets())?,
            Self::NonceIndices { home, care_of } => {
                c.put_u16(*home)?;
                c.put_u16(*care_of)?;
            }
            Self::BindingAuthorizationData { authenticator } => c.put(authenticator)?,
            Self::MessageAuthentication {
                subtype,
                spi,
                authenticator,
            } => {
                c.put_u8(*subtype)?;
                c.put_u32(*spi)?;
                c.put(authenticator)?;
            }
            Self::ReplayProtection { timestamp } => c.put(&timestamp.to_be_bytes())?,
            Self::BindingIdentifier {
                bid,
                status,
                h,
                bid_pri,
                care_of,
            } => {
                c.put_u16(*bid)?;
                c.put_u8(*status)?;
                c.put_u8(u8::from(*h) << 7 | (bid_pri & 0x7f))?;
                match care_of {
                    None => {}
                    Some(IpAddr::V4(a)) => c.put(&a.octets())?,
                    Some(IpAddr::V6(a)) => c.put(&a.octets())?,
                }
            }
            Self::FlowSummary { fids } => {
                for f in fids {
                    c.put_u16(*f)?;
                }
            }
            Self::FlowIdentification(f) => f.emit(c)?,
            Self::Unknown { data, .. } => c.put(data)?,
        }
        let len = c.pos() - start - 2;
        let len = u8::try_from(len).map_err(|_| WireError::OptionTooLong { len })?;
        c.patch_u8(start + 1, len)
    }
}

/// Writes `n` octets of padding: Pad1 for one octet, PadN otherwise
/// (RFC 6275 §6.2.2 and §6.2.3).
pub(crate) fn emit_padding(c: &mut Cursor<'_>, n: usize) -> Result<(), WireError> {
    match n {
        0 => Ok(()),
        1 => c.put_u8(OPT_PAD1),
        _ => {
            c.put_u8(OPT_PADN)?;
            c.put_u8((n - 2) as u8)?;
            c.put_zeros(n - 2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(option_type: u8, data: &[u8]) -> RawOption<'_> {
        RawOption {
            option_type,
            offset: 12,
            data,
        }
    }

    #[test]
    fn iter_skips_padding_and_reports_overruns() {
        // Pad1, PadN(2 zero octets), BRA, then a truncated option.
        let mh = [0u8, 1, 2, 0, 0, 2, 2, 0x12, 0x34, 3, 16, 0];
        let mut it = OptionIter::new(&mh, 0);
        let o = it.next().unwrap().unwrap();
        assert_eq!((o.option_type, o.offset, o.data), (2, 5, &[0x12, 0x34][..]));
        assert_eq!(it.next(), Some(Err(WireError::OptionOverrun { offset: 9 })));
        assert_eq!(it.next(), None);

        let pad_past = [1u8, 4, 0, 0];
        assert_eq!(
            OptionIter::new(&pad_past, 0).next(),
            Some(Err(WireError::BadPadding { offset: 0 }))
        );
        let lone_padn = [0u8, 1];
        assert_eq!(
            OptionIter::new(&lone_padn, 0).next(),
            Some(Err(WireError::BadPadding { offset: 1 }))
        );
        // Non-zero PadN content is ignored, as the RFC says.
        let noisy = [1u8, 2, 0xff, 0xee];
        assert_eq!(OptionIter::new(&noisy, 0).next(), None);
        assert_eq!(OptionIter::new(&noisy, 10).next(), None);
    }

    #[test]
    fn known_lengths_are_enforced() {
        assert_eq!(
            MobilityOption::parse(&raw(OPT_ALTERNATE_COA, &[0; 15])),
            Err(WireError::BadOptionLength {
                option_type: 3,
                len: 15
            })
        );
        assert_eq!(
            MobilityOption::parse(&raw(OPT_BINDING_ID, &[0; 6])),
            Err(WireError::BadOptionLength {
                option_type: 35,
                len: 6
            })
        );
        assert_eq!(
            MobilityOption::parse(&raw(OPT_FLOW_SUMMARY, &[0; 3])),
            Err(WireError::BadOptionLength {
                option_type: 44,
                len: 3
            })
        );
        assert_eq!(
            MobilityOption::parse(&raw(OPT_MESSAGE_AUTH, &[1; 21])),
            Err(WireError::BadOptionLength {
                option_type: 9,
                len: 21
            })
        );
        assert_eq!(
            MobilityOption::parse(&raw(77, &[1, 2, 3])),
            Ok(MobilityOption::Unknown {
                option_type: 77,
                data: vec![1, 2, 3]
            })
        );
    }

    #[test]
    fn binding_identifier_forms() {
        let d = [0x00, 0x07, 0x80, 0x85, 192, 0, 2, 1];
        assert_eq!(
            MobilityOption::parse(&raw(OPT_BINDING_ID, &d)),
            Ok(MobilityOption::BindingIdentifier {
                bid: 7,
                status: 0x80,
                h: true,
                bid_pri: 5,
                care_of: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
            })
        );
    }

    #[test]
    fn padding_shapes() {
        for n in 0..8 {
            let mut buf = [0xaau8; 8];
            let mut c = Cursor::writing(&mut buf);
            emit_padding(&mut c, n).unwrap();
            assert_eq!(c.pos(), n);
            // What we emit, we skip.
            assert_eq!(OptionIter::new(&buf[..n], 0).count(), 0);
        }
    }
}
