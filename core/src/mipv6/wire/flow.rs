//! Flow Identification mobility option and its sub-options (RFC 6089 §4.2,
//! §4.2.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Option Type   |  Option Len   |              FID              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |              FID-PRI          |   Reserved    |     Status    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Sub-options (optional) ...
//! ```
//!
//! Sub-options are TLVs like mobility options (length excludes type and
//! length; Pad1 is a lone zero octet). RFC 6089 §4.2.1.2 contradicts itself
//! on the PadN sub-option's length ("contains the value N" yet "N-2
//! zero-valued octets"); we parse it by the generic TLV rule and only ever
//! emit Pad1 sub-options, which both readings agree on.

use super::cursor::{pad_to, Cursor};
use super::error::WireError;
use super::option::{OptionIter, OPT_FLOW_ID};
use super::traffic_selector::TrafficSelector;

/// Pad1 sub-option, RFC 6089 §4.2.1.1.
pub const SUBOPT_PAD1: u8 = 0;
/// PadN sub-option, RFC 6089 §4.2.1.2.
pub const SUBOPT_PADN: u8 = 1;
/// Binding Reference sub-option, RFC 6089 §4.2.1.3.
pub const SUBOPT_BINDING_REFERENCE: u8 = 2;
/// Traffic Selector sub-option, RFC 6089 §4.2.1.4.
pub const SUBOPT_TRAFFIC_SELECTOR: u8 = 3;

/// Fixed octets of the option data before the sub-options.
const FIXED_LEN: usize = 6;

/// Flow Identification Status values (RFC 6089 §4.2).
pub mod fid_status {
    /// Flow binding successful.
    pub const SUCCESS: u8 = 0;
    /// Administratively prohibited.
    pub const ADMIN_PROHIBITED: u8 = 128;
    /// Flow binding rejected, reason unspecified.
    pub const REJECTED: u8 = 129;
    /// Flow identification mobility option malformed.
    pub const MALFORMED: u8 = 130;
    /// BID not found.
    pub const BID_NOT_FOUND: u8 = 131;
    /// FID not found.
    pub const FID_NOT_FOUND: u8 = 132;
    /// Traffic selector format not supported.
    pub const TS_FORMAT_NOT_SUPPORTED: u8 = 133;
}

/// The Flow Identification option's contents (type 45, alignment 2n).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowIdentification {
    /// Flow identifier (0 is reserved).
    pub fid: u16,
    /// Priority; lower is preferred (0 is reserved).
    pub fid_pri: u16,
    /// Status ([`fid_status`]); meaningful in a BA only.
    pub status: u8,
    /// Sub-options, padding excluded.
    pub sub_options: Vec<FlowSubOption>,
}

/// A flow identification sub-option.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FlowSubOption {
    /// Binding Reference (type 2, alignment 2n): one or more BIDs.
    BindingReference(Vec<u16>),
    /// Traffic Selector (type 3; alignment from RFC 6088 §3).
    TrafficSelector(TrafficSelector),
    /// A sub-option this codec does not know (skipped by receivers, kept
    /// for round trips). Its type is never 0..=3.
    Unknown {
        /// Sub-Opt Type.
        sub_type: u8,
        /// Sub-option data.
        data: Vec<u8>,
    },
}

impl FlowSubOption {
    fn sub_type(&self) -> u8 {
        match self {
            Self::BindingReference(_) => SUBOPT_BINDING_REFERENCE,
            Self::TrafficSelector(_) => SUBOPT_TRAFFIC_SELECTOR,
            Self::Unknown { sub_type, .. } => *sub_type,
        }
    }

    fn alignment(&self) -> usize {
        match self {
            Self::BindingReference(_) => 2,
            Self::TrafficSelector(ts) => ts.alignment(),
            Self::Unknown { .. } => 1,
        }
    }
}

impl FlowIdentification {
    /// Parses the option data (after type and length); `base` is the
    /// offset of `data` in the Mobility Header, for error reports.
    pub fn parse(data: &[u8], base: usize) -> Result<Self, WireError> {
        let Some((fixed, subs)) = data.split_first_chunk::<FIXED_LEN>() else {
            return Err(WireError::BadOptionLength {
                option_type: OPT_FLOW_ID,
                len: data.len() as u8,
            });
        };
        let mut sub_options = Vec::new();
        for raw in OptionIter::with_base(subs, base + FIXED_LEN) {
            let raw = raw?;
            let bad_len = WireError::BadSubOptionLength {
                sub_type: raw.option_type,
                len: raw.data.len() as u8,
            };
            sub_options.push(match raw.option_type {
                SUBOPT_BINDING_REFERENCE => {
                    if raw.data.is_empty() || raw.data.len() % 2 != 0 {
                        return Err(bad_len);
                    }
                    FlowSubOption::BindingReference(
                        raw.data
                            .chunks_exact(2)
                            .map(|c| u16::from_be_bytes([c[0], c[1]]))
                            .collect(),
                    )
                }
                SUBOPT_TRAFFIC_SELECTOR => {
                    FlowSubOption::TrafficSelector(TrafficSelector::parse(raw.data)?)
                }
                sub_type => FlowSubOption::Unknown {
                    sub_type,
                    data: raw.data.to_vec(),
                },
            });
        }
        Ok(FlowIdentification {
            fid: u16::from_be_bytes([fixed[0], fixed[1]]),
            fid_pri: u16::from_be_bytes([fixed[2], fixed[3]]),
            status: fixed[5],
            sub_options,
        })
    }

    /// Writes the option data at the cursor (the caller wrote type and
    /// length); sub-option alignment is measured from the header start.
    pub(crate) fn emit(&self, c: &mut Cursor<'_>) -> Result<(), WireError> {
        c.put_u16(self.fid)?;
        c.put_u16(self.fid_pri)?;
        c.put_u8(0)?;
        c.put_u8(self.status)?;
        for sub in &self.sub_options {
            for _ in 0..pad_to(c.pos(), sub.alignment(), 0) {
                c.put_u8(SUBOPT_PAD1)?;
            }
            let start = c.pos();
            if matches!(
                sub,
                FlowSubOption::Unknown {
                    sub_type: SUBOPT_PAD1 | SUBOPT_PADN,
                    ..
                }
            ) {
                return Err(WireError::BadPadding { offset: start });
            }
            c.put_u8(sub.sub_type())?;
            c.put_u8(0)?; // patched below
            match sub {
                FlowSubOption::BindingReference(bids) => {
                    for b in bids {
                        c.put_u16(*b)?;
                    }
                }
                FlowSubOption::TrafficSelector(ts) => ts.emit(c)?,
                FlowSubOption::Unknown { data, .. } => c.put(data)?,
            }
            let len = c.pos() - start - 2;
            let len = u8::try_from(len).map_err(|_| WireError::OptionTooLong { len })?;
            c.patch_u8(start + 1, len)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mipv6::wire::traffic_selector::{Ipv6TrafficSelector, TsRange};

    #[test]
    fn parse_with_padding_and_unknown() {
        // FID 7, PRI 1, status 0; Pad1; PadN(0); BindingRef [1, 2]; unknown 9.
        let data = [0, 7, 0, 1, 0, 0, 0, 1, 0, 2, 4, 0, 1, 0, 2, 9, 1, 0xee];
        let f = FlowIdentification::parse(&data, 100).unwrap();
        assert_eq!(f.fid, 7);
        assert_eq!(f.fid_pri, 1);
        assert_eq!(
            f.sub_options,
            vec![
                FlowSubOption::BindingReference(vec![1, 2]),
                FlowSubOption::Unknown {
                    sub_type: 9,
                    data: vec![0xee]
                }
            ]
        );
    }

    #[test]
    fn malformed_sub_options() {
        assert_eq!(
            FlowIdentification::parse(&[0, 1, 0, 1, 0], 0),
            Err(WireError::BadOptionLength {
                option_type: 45,
                len: 5
            })
        );
        // Binding Reference with an odd length.
        assert_eq!(
            FlowIdentification::parse(&[0, 1, 0, 1, 0, 0, 2, 3, 0, 1, 0], 40),
            Err(WireError::BadSubOptionLength {
                sub_type: 2,
                len: 3
            })
        );
        // Sub-option running past the option, offset reported in the MH.
        assert_eq!(
            FlowIdentification::parse(&[0, 1, 0, 1, 0, 0, 2, 8, 0, 1], 40),
            Err(WireError::OptionOverrun { offset: 46 })
        );
        assert_eq!(
            FlowIdentification::parse(&[0, 1, 0, 1, 0, 0, 1, 8, 0], 40),
            Err(WireError::BadPadding { offset: 46 })
        );
    }

    #[test]
    fn emit_aligns_traffic_selector() {
        let f = FlowIdentification {
            fid: 1,
            fid_pri: 1,
            status: 0,
            sub_options: vec![FlowSubOption::TrafficSelector(TrafficSelector::Ipv6(
                Ipv6TrafficSelector {
                    src_addr: Some(TsRange {
                        start: "2001:db8::1".parse().unwrap(),
                        end: None,
                    }),
                    ..Default::default()
                },
            ))],
        };
        // Option data at offset 14: fixed part ends at 20, TS starts at 24.
        let mut c = Cursor::counting();
        c.put_zeros(14).unwrap();
        f.emit(&mut c).unwrap();
        let mut buf = vec![0u8; c.pos()];
        let mut w = Cursor::writing(&mut buf);
        w.put_zeros(14).unwrap();
        f.emit(&mut w).unwrap();
        assert_eq!(&buf[20..24], &[0, 0, 0, 0]);
        assert_eq!(&buf[24..28], &[SUBOPT_TRAFFIC_SELECTOR, 2 + 4 + 16, 2, 0]);
        assert_eq!(FlowIdentification::parse(&buf[14..], 14).unwrap(), f);
    }
}
