//! Traffic Selector sub-option contents: TS Format, Reserved, and the
//! RFC 6088 §3.2 IPv6 binary traffic selector.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Sub-opt Type   |  Sub-Opt Len  |   TS Format   |   Reserved    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |A|B|C|D|E|F|G|H|I|J|K|L|M|N|O|P|          Reserved             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | (A) start src addr 16, (B) end src addr 16,                   |
//! | (C) start dst addr 16, (D) end dst addr 16,                   |
//! | (E) start SPI 4, (F) end SPI 4, (G) start flow label 4,       |
//! | (H) end flow label 4, (I)(J) src ports 2+2, (K)(L) dst ports  |
//! | 2+2, (M)(N) traffic class 1+1, (O)(P) next header 1+1         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Each flag says whether its field is present; an end field MUST NOT
//! appear without its start field. Fields appear in flag order.

use std::net::Ipv6Addr;

use super::cursor::Cursor;
use super::error::WireError;
use super::flow::SUBOPT_TRAFFIC_SELECTOR;

/// TS Format of the RFC 6088 §3.1 IPv4 binary traffic selector.
pub const TS_FORMAT_IPV4: u8 = 1;
/// TS Format of the RFC 6088 §3.2 IPv6 binary traffic selector.
pub const TS_FORMAT_IPV6: u8 = 2;

/// Octets of the flags word (16 flag bits, 16 reserved bits).
const FLAGS_LEN: usize = 4;

/// An inclusive range `start..=end`, or the single value `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TsRange<T> {
    /// First value matched.
    pub start: T,
    /// Last value matched, if a range.
    pub end: Option<T>,
}

/// The IPv6 binary traffic selector (TS Format 2, RFC 6088 §3.2). `None`
/// fields match anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Ipv6TrafficSelector {
    /// (A)/(B) source address range (the correspondent's address).
    pub src_addr: Option<TsRange<Ipv6Addr>>,
    /// (C)/(D) destination address range (the mobile node's home address).
    pub dst_addr: Option<TsRange<Ipv6Addr>>,
    /// (E)/(F) IPsec SPI range.
    pub ipsec_spi: Option<TsRange<u32>>,
    /// (G)/(H) flow label range, as the 32-bit field (the RFC asks senders
    /// to zero the top 8 bits and receivers to ignore them).
    pub flow_label: Option<TsRange<u32>>,
    /// (I)/(J) source port range.
    pub src_port: Option<TsRange<u16>>,
    /// (K)/(L) destination port range.
    pub dst_port: Option<TsRange<u16>>,
    /// (M)/(N) traffic class range (low 2 bits are ECN and not compared).
    pub traffic_class: Option<TsRange<u8>>,
    /// (O)/(P) next header range.
    pub next_header: Option<TsRange<u8>>,
}

/// A traffic selector, by TS Format.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TrafficSelector {
    /// TS Format 2.
    Ipv6(Ipv6TrafficSelector),
    /// Any other TS Format (including IPv4, 1), kept as raw octets.
    Other {
        /// TS Format.
        format: u8,
        /// The traffic selector after the Reserved octet.
        data: Vec<u8>,
    },
}

/// Reads fields in order from a slice whose length was checked up front.
struct Reader<'a> {
    data: &'a [u8],
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        // The caller verified the total length, so this split succeeds;
        // fall back to zeros rather than panic if that ever changed.
        match self.data.split_first_chunk::<N>() {
            Some((head, rest)) => {
                self.data = rest;
                *head
            }
            None => [0; N],
        }
    }
}

/// Flag bits, A being the most significant bit of the first octet.
const fn flag(letter: u8) -> u16 {
    0x8000 >> (letter - b'A')
}

fn range_flags<T>(r: &Option<TsRange<T>>, start: u8, end: u8) -> u16 {
    match r {
        None => 0,
        Some(TsRange { end: None, .. }) => flag(start),
        Some(TsRange { end: Some(_), .. }) => flag(start) | flag(end),
    }
}

/// Decodes one start/end pair whose presence the flags give.
fn read_range<T, const N: usize>(
    r: &mut Reader<'_>,
    flags: u16,
    start: u8,
    end: u8,
    conv: fn([u8; N]) -> T,
) -> Result<Option<TsRange<T>>, WireError> {
    match (flags & flag(start) != 0, flags & flag(end) != 0) {
        (false, false) => Ok(None),
        (false, true) => Err(WireError::BadTrafficSelector(
            "end field without its start field",
        )),
        (true, has_end) => {
            let s = conv(r.take());
            let e = has_end.then(|| conv(r.take()));
            Ok(Some(TsRange { start: s, end: e }))
        }
    }
}

fn emit_range<T: Copy>(
    c: &mut Cursor<'_>,
    r: &Option<TsRange<T>>,
    put: impl Fn(&mut Cursor<'_>, T) -> Result<(), WireError>,
) -> Result<(), WireError> {
    if let Some(r) = r {
        put(c, r.start)?;
        if let Some(e) = r.end {
            put(c, e)?;
        }
    }
    Ok(())
}

impl Ipv6TrafficSelector {
    fn flags(&self) -> u16 {
        range_flags(&self.src_addr, b'A', b'B')
            | range_flags(&self.dst_addr, b'C', b'D')
            | range_flags(&self.ipsec_spi, b'E', b'F')
            | range_flags(&self.flow_label, b'G', b'H')
            | range_flags(&self.src_port, b'I', b'J')
            | range_flags(&self.dst_port, b'K', b'L')
            | range_flags(&self.traffic_class, b'M', b'N')
            | range_flags(&self.next_header, b'O', b'P')
    }

    /// Octets the fields flagged in `flags` take, flags word included.
    fn encoded_len(flags: u16) -> usize {
        let n = |mask: u16| (flags & mask).count_ones() as usize;
        FLAGS_LEN + 16 * n(0xf000) + 4 * n(0x0f00) + 2 * n(0x00f0) + n(0x000f)
    }

    /// Parses the selector proper (from the flags word on).
    pub fn parse(sel: &[u8]) -> Result<Self, WireError> {
        let Some(&[f0, f1, _, _]) = sel.first_chunk::<FLAGS_LEN>() else {
            return Err(WireError::TruncatedTrafficSelector {
                needed: FLAGS_LEN,
                available: sel.len(),
            });
        };
        // The low 16 bits are Reserved: ignored on receipt.
        let flags = u16::from_be_bytes([f0, f1]);
        let needed = Self::encoded_len(flags);
        if sel.len() < needed {
            return Err(WireError::TruncatedTrafficSelector {
                needed,
                available: sel.len(),
            });
        }
        if sel.len() > needed {
            return Err(WireError::BadTrafficSelector(
                "octets after the flagged fields",
            ));
        }
        let r = &mut Reader {
            data: &sel[FLAGS_LEN..],
        };
        Ok(Ipv6TrafficSelector {
            src_addr: read_range(r, flags, b'A', b'B', Ipv6Addr::from)?,
            dst_addr: read_range(r, flags, b'C', b'D', Ipv6Addr::from)?,
            ipsec_spi: read_range(r, flags, b'E', b'F', u32::from_be_bytes)?,
            flow_label: read_range(r, flags, b'G', b'H', u32::from_be_bytes)?,
            src_port: read_range(r, flags, b'I', b'J', u16::from_be_bytes)?,
            dst_port: read_range(r, flags, b'K', b'L', u16::from_be_bytes)?,
            traffic_class: read_range(r, flags, b'M', b'N', |[b]: [u8; 1]| b)?,
            next_header: read_range(r, flags, b'O', b'P', |[b]: [u8; 1]| b)?,
        })
    }

    /// RFC 6088 §3.2 alignment of the sub-option: 8n with addresses, 4n
    /// with SPI or flow label, 2n with ports, else none.
    pub fn alignment(&self) -> usize {
        let f = self.flags();
        if f & 0xf000 != 0 {
            8
        } else if f & 0x0f00 != 0 {
            4
        } else if f & 0x00f0 != 0 {
            2
        } else {
            1
        }
    }

    fn emit(&self, c: &mut Cursor<'_>) -> Result<(), WireError> {
        c.put_u16(self.flags())?;
        c.put_u16(0)?;
        let addr = |c: &mut Cursor<'_>, a: Ipv6Addr| c.put(&a.octets());
        emit_range(c, &self.src_addr, addr)?;
        emit_range(c, &self.dst_addr, addr)?;
        emit_range(c, &self.ipsec_spi, |c, v| c.put_u32(v))?;
        emit_range(c, &self.flow_label, |c, v| c.put_u32(v))?;
        emit_range(c, &self.src_port, |c, v| c.put_u16(v))?;
        emit_range(c, &self.dst_port, |c, v| c.put_u16(v))?;
        emit_range(c, &self.traffic_class, |c, v| c.put_u8(v))?;
        emit_range(c, &self.next_header, |c, v| c.put_u8(v))
    }
}

impl TrafficSelector {
    /// Parses a Traffic Selector sub-option's data: TS Format, Reserved,
    /// then the selector.
    pub fn parse(data: &[u8]) -> Result<Self, WireError> {
        let Some((&[format, _reserved], sel)) = data.split_first_chunk::<2>() else {
            return Err(WireError::BadSubOptionLength {
                sub_type: SUBOPT_TRAFFIC_SELECTOR,
                len: data.len() as u8,
            });
        };
        Ok(match format {
            TS_FORMAT_IPV6 => Self::Ipv6(Ipv6TrafficSelector::parse(sel)?),
            0 => return Err(WireError::BadTrafficSelector("TS format 0 is reserved")),
            format => Self::Other {
                format,
                data: sel.to_vec(),
            },
        })
    }

    /// Alignment of the sub-option carrying this selector, as "xn".
    pub fn alignment(&self) -> usize {
        match self {
            Self::Ipv6(ts) => ts.alignment(),
            Self::Other { .. } => 1,
        }
    }

    /// Writes TS Format, Reserved and the selector.
    pub(crate) fn emit(&self, c: &mut Cursor<'_>) -> Result<(), WireError> {
        match self {
            Self::Ipv6(ts) => {
                c.put_u8(TS_FORMAT_IPV6)?;
                c.put_u8(0)?;
                ts.emit(c)
            }
            Self::Other { format, data } => {
                c.put_u8(*format)?;
                c.put_u8(0)?;
                c.put(data)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Ipv6TrafficSelector {
        Ipv6TrafficSelector {
            src_addr: Some(TsRange {
                start: "2001:db8::1".parse().unwrap(),
                end: Some("2001:db8::9".parse().unwrap()),
            }),
            dst_addr: Some(TsRange {
                start: "2001:db8:1::1".parse().unwrap(),
                end: None,
            }),
            ipsec_spi: Some(TsRange {
                start: 0x100,
                end: Some(0x1ff),
            }),
            flow_label: Some(TsRange {
                start: 0x000f_ffff,
                end: None,
            }),
            src_port: Some(TsRange {
                start: 443,
                end: None,
            }),
            dst_port: Some(TsRange {
                start: 1024,
                end: Some(65535),
            }),
            traffic_class: Some(TsRange {
                start: 0x20,
                end: Some(0x28),
            }),
            next_header: Some(TsRange {
                start: 6,
                end: None,
            }),
        }
    }

    #[test]
    fn flags_follow_rfc_letters() {
        assert_eq!(flag(b'A'), 0x8000);
        assert_eq!(flag(b'P'), 0x0001);
        let ts = full();
        // A B C . E F G . I . K L M N O .
        assert_eq!(ts.flags(), 0b1110_1110_1011_1110);
        assert_eq!(
            Ipv6TrafficSelector::encoded_len(ts.flags()),
            4 + 48 + 12 + 6 + 3
        );
    }

    #[test]
    fn round_trip_with_known_bytes() {
        let ts = Ipv6TrafficSelector {
            src_port: Some(TsRange {
                start: 0x1234,
                end: None,
            }),
            next_header: Some(TsRange {
                start: 17,
                end: Some(17),
            }),
            ..Default::default()
        };
        let t = TrafficSelector::Ipv6(ts);
        let mut buf = [0u8; 10];
        let mut c = Cursor::writing(&mut buf);
        t.emit(&mut c).unwrap();
        assert_eq!(c.pos(), 10);
        // Format 2, reserved, flags I|O|P = 0x0083, reserved, port, NH 17..17.
        assert_eq!(buf, [2, 0, 0x00, 0x83, 0, 0, 0x12, 0x34, 17, 17]);
        assert_eq!(TrafficSelector::parse(&buf).unwrap(), t);
        assert_eq!(t.alignment(), 2);
    }

    #[test]
    fn full_round_trip() {
        let t = TrafficSelector::Ipv6(full());
        let mut c = Cursor::counting();
        t.emit(&mut c).unwrap();
        let mut buf = vec![0; c.pos()];
        t.emit(&mut Cursor::writing(&mut buf)).unwrap();
        assert_eq!(TrafficSelector::parse(&buf).unwrap(), t);
        assert_eq!(t.alignment(), 8);
    }

    #[test]
    fn malformed() {
        // Truncated flags word.
        assert_eq!(
            TrafficSelector::parse(&[2, 0, 0x80]),
            Err(WireError::TruncatedTrafficSelector {
                needed: 4,
                available: 1
            })
        );
        // Flag A set, 15 of 16 address octets present.
        let mut d = vec![2, 0, 0x80, 0, 0, 0];
        d.extend([0; 15]);
        assert_eq!(
            TrafficSelector::parse(&d),
            Err(WireError::TruncatedTrafficSelector {
                needed: 20,
                available: 19
            })
        );
        // End without start (B without A).
        let mut d = vec![2, 0, 0x40, 0, 0, 0];
        d.extend([0; 16]);
        assert!(matches!(
            TrafficSelector::parse(&d),
            Err(WireError::BadTrafficSelector(_))
        ));
        // Trailing octets.
        assert!(matches!(
            TrafficSelector::parse(&[2, 0, 0, 0, 0, 0, 9]),
            Err(WireError::BadTrafficSelector(_))
        ));
        // Sub-option too short for format and reserved.
        assert_eq!(
            TrafficSelector::parse(&[2]),
            Err(WireError::BadSubOptionLength {
                sub_type: 3,
                len: 1
            })
        );
        // Format 0 is reserved (RFC 6088 §3.1).
        assert!(matches!(
            TrafficSelector::parse(&[0, 0, 9, 9]),
            Err(WireError::BadTrafficSelector(_))
        ));
        // Other formats are kept raw.
        assert_eq!(
            TrafficSelector::parse(&[1, 0, 9, 9]),
            Ok(TrafficSelector::Other {
                format: 1,
                data: vec![9, 9]
            })
        );
    }
}
