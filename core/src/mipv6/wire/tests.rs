//! Cross-module tests of the codec: known answers, round trips of every
//! message and option, malformed inputs, and property tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const MN: &str = "2001:db8::1";
const CN: &str = "2001:db8::2";

/// A Binding Update written out by hand from RFC 6275 §6.1.7, §6.2.5 to
/// §6.2.7. The checksum was computed independently with this Python 3
/// snippet (run once, not part of the build):
///
/// ```text
/// import ipaddress, struct
/// def csum(src, dst, mh):
///     ph = (ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed
///           + struct.pack("!I", len(mh)) + b"\0\0\0" + bytes([135]))
///     d = ph + mh
///     s = sum(struct.unpack("!%dH" % (len(d) // 2), d))
///     while s >> 16: s = (s & 0xffff) + (s >> 16)
///     return ~s & 0xffff
/// csum("2001:db8::1", "2001:db8::2", <the bytes below, checksum 0>)  # 0xada7
/// csum("2001:db8::2", "2001:db8::1", <the HoT below, checksum 0>)    # 0x057a
/// ```
const KNOWN_BU: &str = "
    3b 06 05 00 ada7                           # proto 59, Header Len 6 (56 octets), BU, reserved, checksum
    1234 8000 0010                             # sequence 0x1234, flags A, lifetime 16 (64 s)
    04 04 0001 0002                            # Nonce Indices at 12 (2n): home 1, care-of 2
    01 02 0000                                 # PadN, 4 octets: next option at 22 = 8n+6
    03 10 20010db8000c00000000000000000001     # Alternate Care-of Address 2001:db8:c::1
    01 00                                      # PadN, 2 octets: next option at 42 = 8n+2
    05 0c a1a2a3a4a5a6a7a8a9aaabac             # Binding Authorization Data, ends at 56
";

/// A Home Test from RFC 6275 §6.1.5, no options: 24 octets, Header Len 2.
const KNOWN_HOT: &str = "
    3b 02 03 00 057a                           # proto 59, Header Len 2, HoT, reserved, checksum
    0007                                       # home nonce index 7
    0102030405060708                           # home init cookie
    1112131415161718                           # home keygen token
";

fn strip_comments(s: &str) -> String {
    s.lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ")
}

fn known_bu_repr() -> Repr {
    Repr {
        message: Message::BindingUpdate {
            sequence: 0x1234,
            flags: BuFlags(BuFlags::ACK),
            lifetime: 16,
        },
        options: vec![
            MobilityOption::NonceIndices {
                home: 1,
                care_of: 2,
            },
            MobilityOption::AlternateCareOf(a("2001:db8:c::1")),
            MobilityOption::BindingAuthorizationData {
                authenticator: [
                    0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac,
                ],
            },
        ],
    }
}

#[test]
fn known_answer_binding_update() {
    let bytes = hex(&strip_comments(KNOWN_BU));
    assert_eq!(bytes.len(), 56);
    let (src, dst) = (a(MN), a(CN));

    let repr = Repr::parse_bytes(&bytes, &src, &dst).unwrap();
    assert_eq!(repr, known_bu_repr());

    let mut out = [0u8; 64];
    let n = repr.emit(&mut out, &src, &dst).unwrap();
    assert_eq!(&out[..n], &bytes[..]);

    let p = Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!(p.sequence(), Some(0x1234));
    assert_eq!(p.lifetime(), Some(16));
    assert_eq!(p.bu_flags(), Some(0x8000));
    assert_eq!(p.checksum(), 0xada7);
    let (prefix, tag) = p.binding_auth_prefix().unwrap();
    assert_eq!(prefix, &bytes[..44]);
    assert_eq!(tag, &bytes[44..56]);
    assert!(p.message_auth_prefix(AUTH_SUBTYPE_MN_HA).is_none());
}

#[test]
fn known_answer_home_test() {
    let bytes = hex(&strip_comments(KNOWN_HOT));
    let (src, dst) = (a(CN), a(MN));
    let repr = Repr {
        message: Message::HomeTest {
            nonce_index: 7,
            cookie: [1, 2, 3, 4, 5, 6, 7, 8],
            keygen_token: [0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18],
        },
        options: vec![],
    };
    assert_eq!(Repr::parse_bytes(&bytes, &src, &dst).unwrap(), repr);
    let mut out = [0u8; 24];
    assert_eq!(repr.emit(&mut out, &src, &dst), Ok(24));
    assert_eq!(&out[..], &bytes[..]);
    let p = Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!(p.nonce_index(), Some(7));
    assert_eq!(p.cookie(), Some([1, 2, 3, 4, 5, 6, 7, 8]));
    assert_eq!(
        p.keygen_token(),
        Some([0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18])
    );
    assert_eq!(p.sequence(), None);
}

/// Emits, checks the structural invariants, parses back and compares.
fn round_trip(repr: &Repr) -> Vec<u8> {
    let (src, dst) = (a(MN), a(CN));
    let len = repr.buffer_len().unwrap();
    let mut buf = vec![0xeeu8; len + 5];
    assert_eq!(
        repr.emit(&mut buf[..len - 1], &src, &dst),
        Err(WireError::BufferTooSmall {
            needed: len,
            available: len - 1
        })
    );
    assert_eq!(repr.emit(&mut buf, &src, &dst), Ok(len));
    let mh = &buf[..len];
    assert_eq!(len % 8, 0);
    assert_eq!(usize::from(mh[1]), len / 8 - 1);
    assert!(verify_checksum(mh, &src, &dst));

    // Each option sits at its RFC alignment.
    let p = Packet::new_checked(mh).unwrap();
    for (raw, opt) in p.options().zip(&repr.options) {
        let raw = raw.unwrap();
        let (x, y) = opt.alignment();
        assert_eq!(raw.offset % x, y, "{opt:?} at {}", raw.offset);
        assert_eq!(raw.option_type, opt.option_type());
    }
    // Trailing octets past Header Len are ignored.
    assert_eq!(Repr::parse_bytes(&buf, &src, &dst).unwrap(), *repr);
    mh.to_vec()
}

fn every_message() -> Vec<Message> {
    vec![
        Message::BindingRefreshRequest,
        Message::HomeTestInit {
            cookie: [1, 2, 3, 4, 5, 6, 7, 8],
        },
        Message::CareOfTestInit {
            cookie: [8, 7, 6, 5, 4, 3, 2, 1],
        },
        Message::HomeTest {
            nonce_index: 0xffff,
            cookie: [9; 8],
            keygen_token: [10; 8],
        },
        Message::CareOfTest {
            nonce_index: 3,
            cookie: [11; 8],
            keygen_token: [12; 8],
        },
        Message::BindingUpdate {
            sequence: 65535,
            flags: BuFlags(0xf0ff),
            lifetime: 0,
        },
        Message::BindingAck {
            status: ba_status::AUTH_FAIL,
            flags: BaFlags(0x81),
            sequence: 2,
            lifetime: 900,
        },
        Message::BindingError {
            status: be_status::UNKNOWN_MH_TYPE,
            home_address: a("2001:db8::77"),
        },
    ]
}

fn full_traffic_selector() -> Ipv6TrafficSelector {
    Ipv6TrafficSelector {
        src_addr: Some(TsRange {
            start: a("2001:db8:5::1"),
            end: Some(a("2001:db8:5::ff")),
        }),
        dst_addr: Some(TsRange {
            start: a("2001:db8::1"),
            end: None,
        }),
        ipsec_spi: Some(TsRange {
            start: 256,
            end: Some(511),
        }),
        flow_label: Some(TsRange {
            start: 0xabcde,
            end: Some(0xfffff),
        }),
        src_port: Some(TsRange {
            start: 80,
            end: None,
        }),
        dst_port: Some(TsRange {
            start: 40000,
            end: Some(40010),
        }),
        traffic_class: Some(TsRange {
            start: 0,
            end: Some(0xfc),
        }),
        next_header: Some(TsRange {
            start: 6,
            end: None,
        }),
    }
}

fn every_plain_option() -> Vec<MobilityOption> {
    vec![
        MobilityOption::BindingRefreshAdvice {
            refresh_interval: 300,
        },
        MobilityOption::AlternateCareOf(a("2001:db8:c::9")),
        MobilityOption::NonceIndices {
            home: 5,
            care_of: 6,
        },
        MobilityOption::ReplayProtection {
            timestamp: 0x0123_4567_89ab_cdef,
        },
        MobilityOption::BindingIdentifier {
            bid: 1,
            status: 0,
            h: false,
            bid_pri: 1,
            care_of: None,
        },
        MobilityOption::BindingIdentifier {
            bid: 2,
            status: 128,
            h: true,
            bid_pri: 127,
            care_of: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))),
        },
        MobilityOption::BindingIdentifier {
            bid: 3,
            status: 0,
            h: false,
            bid_pri: 9,
            care_of: Some(IpAddr::V6(a("2001:db8:c::3"))),
        },
        MobilityOption::FlowSummary {
            fids: vec![1, 2, 65535],
        },
        MobilityOption::FlowIdentification(FlowIdentification {
            fid: 1,
            fid_pri: 10,
            status: fid_status::SUCCESS,
            sub_options: vec![
                FlowSubOption::BindingReference(vec![2, 3]),
                FlowSubOption::TrafficSelector(TrafficSelector::Ipv6(full_traffic_selector())),
            ],
        }),
        MobilityOption::FlowIdentification(FlowIdentification {
            fid: 2,
            fid_pri: 11,
            status: fid_status::TS_FORMAT_NOT_SUPPORTED,
            sub_options: vec![
                FlowSubOption::Unknown {
                    sub_type: 200,
                    data: vec![1, 2, 3],
                },
                FlowSubOption::TrafficSelector(TrafficSelector::Ipv6(Ipv6TrafficSelector {
                    dst_port: Some(TsRange {
                        start: 443,
                        end: None,
                    }),
                    ..Default::default()
                })),
                FlowSubOption::TrafficSelector(TrafficSelector::Other {
                    format: TS_FORMAT_IPV4,
                    data: vec![0; 8],
                }),
            ],
        }),
        MobilityOption::Unknown {
            option_type: 200,
            data: vec![],
        },
        MobilityOption::Unknown {
            option_type: 8,
            data: vec![1, 2, 3, 4, 5],
        },
    ]
}

#[test]
fn round_trip_every_message_and_option() {
    for message in every_message() {
        round_trip(&Repr {
            message: message.clone(),
            options: vec![],
        });
        // Every option alone, then all together, then with each
        // authentication option last.
        for opt in every_plain_option() {
            round_trip(&Repr {
                message: message.clone(),
                options: vec![opt],
            });
        }
        let mut all = every_plain_option();
        round_trip(&Repr {
            message: message.clone(),
            options: all.clone(),
        });
        all.push(MobilityOption::BindingAuthorizationData {
            authenticator: [7; 12],
        });
        round_trip(&Repr {
            message: message.clone(),
            options: all.clone(),
        });
        all.pop();
        all.push(MobilityOption::MessageAuthentication {
            subtype: AUTH_SUBTYPE_MN_HA,
            spi: 0x1000,
            authenticator: [8; 12],
        });
        round_trip(&Repr {
            message,
            options: all,
        });
    }
}

#[test]
fn sign_after_emit_with_rfc4285_option() {
    let repr = Repr {
        message: Message::BindingUpdate {
            sequence: 9,
            flags: BuFlags(BuFlags::ACK | BuFlags::HOME),
            lifetime: 100,
        },
        options: vec![
            MobilityOption::ReplayProtection { timestamp: 42 },
            MobilityOption::AlternateCareOf(a("2001:db8:c::1")),
            MobilityOption::MessageAuthentication {
                subtype: AUTH_SUBTYPE_MN_HA,
                spi: 256,
                authenticator: [0; 12],
            },
        ],
    };
    let (src, dst) = (a(MN), a("2001:db8::a"));
    let mut buf = [0u8; 128];
    let e = repr.emit_without_checksum(&mut buf).unwrap();
    let auth = e.authenticator.unwrap();
    assert_eq!(auth.option_type, OPT_MESSAGE_AUTH);
    // The authenticator ends the header, as the option must be last.
    assert_eq!(auth.offset + 12, e.len);
    // Its input ends with the Mobility SPI.
    assert_eq!(&buf[auth.offset - 4..auth.offset], &256u32.to_be_bytes());
    let tag = [0x5a; 12];
    auth.write(&mut buf, &tag).unwrap();
    fill_checksum(&mut buf[..e.len], &src, &dst).unwrap();

    let p = Packet::new_checked(&buf[..e.len]).unwrap();
    let (prefix, got) = p.message_auth_prefix(AUTH_SUBTYPE_MN_HA).unwrap();
    assert_eq!(prefix, &buf[..auth.offset]);
    assert_eq!(got, &tag);
    assert!(p.binding_auth_prefix().is_none());
    assert!(p.message_auth_prefix(AUTH_SUBTYPE_MN_AAA).is_none());
    let parsed = Repr::parse(&p, &src, &dst).unwrap();
    assert_eq!(
        parsed.options[2],
        MobilityOption::MessageAuthentication {
            subtype: 1,
            spi: 256,
            authenticator: tag
        }
    );
    assert_eq!(
        AuthField {
            option_type: 9,
            offset: 200
        }
        .write(&mut buf, &tag),
        Err(WireError::BufferTooSmall {
            needed: 212,
            available: 128
        })
    );
}

/// A valid BU with room for surgery: Nonce Indices then padding to 24.
fn base_bu() -> Vec<u8> {
    round_trip(&Repr {
        message: Message::BindingUpdate {
            sequence: 1,
            flags: BuFlags(0),
            lifetime: 1,
        },
        options: vec![MobilityOption::NonceIndices {
            home: 1,
            care_of: 2,
        }],
    })
}

fn parse_fixed(mut b: Vec<u8>) -> Result<Repr, WireError> {
    let (src, dst) = (a(MN), a(CN));
    // Recompute the checksum so that the check under test is reached.
    if fill_checksum(&mut b, &src, &dst).is_err() {
        return Repr::parse_bytes(&b, &src, &dst);
    }
    Repr::parse_bytes(&b, &src, &dst)
}

#[test]
fn malformed_inputs() {
    let (src, dst) = (a(MN), a(CN));
    let bu = base_bu();
    assert_eq!(bu.len(), 24);
    // Layout: 12 Nonce Indices (6 octets), 18 PadN 6 octets.
    assert_eq!(&bu[18..20], &[OPT_PADN, 4]);

    // Short buffer.
    assert_eq!(
        Repr::parse_bytes(&bu[..7], &src, &dst),
        Err(WireError::Truncated { len: 7 })
    );
    assert_eq!(
        Packet::new_checked(&bu[..0]).unwrap_err(),
        WireError::Truncated { len: 0 }
    );

    // Header length past the buffer.
    assert_eq!(
        Repr::parse_bytes(&bu[..16], &src, &dst),
        Err(WireError::HeaderLenPastBuffer {
            declared: 24,
            available: 16
        })
    );

    // Bad checksum.
    let mut b = bu.clone();
    b[4] ^= 0x10;
    assert!(matches!(
        Repr::parse_bytes(&b, &src, &dst),
        Err(WireError::BadChecksum { .. })
    ));
    let err = Repr::parse_bytes(&b, &src, &dst).unwrap_err();
    assert_eq!(
        err,
        WireError::BadChecksum {
            found: u16::from_be_bytes([b[4], b[5]]),
            computed: u16::from_be_bytes([bu[4], bu[5]])
        }
    );
    // Wrong addresses are a checksum error too.
    assert!(matches!(
        Repr::parse_bytes(&bu, &dst, &a("2001:db8::3")),
        Err(WireError::BadChecksum { .. })
    ));

    // Unknown MH type (before Payload Proto, as RFC 6275 §9.2 orders).
    let mut b = bu.clone();
    b[2] = 8;
    b[0] = 6;
    assert_eq!(parse_fixed(b), Err(WireError::UnknownMessageType(8)));

    // Bad payload proto: must be 59.
    let mut b = bu.clone();
    b[0] = 6;
    assert_eq!(parse_fixed(b), Err(WireError::BadPayloadProto(6)));

    // Header Len too small for the type: a HoT needs 24 octets.
    let mut b = bu.clone();
    b[1] = 0;
    b[2] = MhType::HomeTest as u8;
    assert_eq!(
        parse_fixed(b.clone()),
        Err(WireError::BadLength { mh_type: 3, len: 8 })
    );
    // RFC 6275 §9.2 order: a bad checksum wins (the message is dropped
    // silently rather than answered with ICMP).
    assert!(matches!(
        Repr::parse_bytes(&b, &src, &dst),
        Err(WireError::BadChecksum { .. })
    ));

    // Option length running past the end: Nonce Indices claiming 20 octets.
    let mut b = bu.clone();
    b[13] = 20;
    assert_eq!(parse_fixed(b), Err(WireError::OptionOverrun { offset: 12 }));

    // Bad padding: the PadN claims 8 octets of data, only 4 remain.
    let mut b = bu.clone();
    b[19] = 8;
    assert_eq!(parse_fixed(b), Err(WireError::BadPadding { offset: 18 }));

    // A known option with a wrong length: Nonce Indices of 2 octets.
    let mut b = bu.clone();
    b[13] = 2;
    b[16] = OPT_PADN;
    b[17] = 0;
    assert_eq!(
        parse_fixed(b),
        Err(WireError::BadOptionLength {
            option_type: OPT_NONCE_INDICES,
            len: 2
        })
    );
}

#[test]
fn malformed_traffic_selector() {
    // A Flow Identification option whose traffic selector flags need an
    // IPv6 address that is not there.
    let repr = Repr {
        message: Message::BindingUpdate {
            sequence: 1,
            flags: BuFlags(0),
            lifetime: 1,
        },
        options: vec![MobilityOption::FlowIdentification(FlowIdentification {
            fid: 1,
            fid_pri: 1,
            status: 0,
            sub_options: vec![FlowSubOption::TrafficSelector(TrafficSelector::Ipv6(
                Ipv6TrafficSelector {
                    src_port: Some(TsRange {
                        start: 1,
                        end: None,
                    }),
                    ..Default::default()
                },
            ))],
        })],
    };
    let mut b = round_trip(&repr);
    let ts = b
        .windows(4)
        .position(|w| w == [SUBOPT_TRAFFIC_SELECTOR, 8, TS_FORMAT_IPV6, 0])
        .unwrap();
    // Flags: claim A (start source address) instead of I (source port).
    b[ts + 4] = 0x80;
    b[ts + 5] = 0;
    assert_eq!(
        parse_fixed(b),
        Err(WireError::TruncatedTrafficSelector {
            needed: 20,
            available: 6
        })
    );
}

#[test]
fn authentication_must_be_last() {
    let (src, dst) = (a(MN), a(CN));
    let bad = MobilityOption::BindingAuthorizationData {
        authenticator: [1; 12],
    };
    let mut repr = Repr {
        message: Message::BindingUpdate {
            sequence: 1,
            flags: BuFlags(0),
            lifetime: 1,
        },
        options: vec![
            bad.clone(),
            MobilityOption::NonceIndices {
                home: 1,
                care_of: 1,
            },
        ],
    };
    assert_eq!(
        repr.buffer_len(),
        Err(WireError::AuthNotLast { offset: 18 })
    );

    // On the wire: BAD followed by padding is refused (no trailing
    // padding allowed), as is BAD followed by an option.
    repr.options = vec![
        MobilityOption::NonceIndices {
            home: 1,
            care_of: 1,
        },
        bad,
    ];
    let mut b = round_trip(&repr);
    assert_eq!(b.len(), 32);
    b.extend([OPT_PADN, 6, 0, 0, 0, 0, 0, 0]);
    b[1] = 40 / 8 - 1;
    assert_eq!(
        parse_fixed(b.clone()),
        Err(WireError::AuthNotLast { offset: 18 })
    );
    b[32..36].copy_from_slice(&[OPT_NONCE_INDICES, 4, 0, 1]);
    b[36..40].copy_from_slice(&[0, 1, OPT_PADN, 0]);
    assert_eq!(
        parse_fixed(b.clone()),
        Err(WireError::AuthNotLast { offset: 18 })
    );
    // And the view refuses to hand out a prefix that would not cover it.
    fill_checksum(&mut b, &src, &dst).unwrap();
    assert!(Packet::new_checked(&b[..])
        .unwrap()
        .binding_auth_prefix()
        .is_none());

    // An RFC 4285 option may be followed by padding only.
    let mut b = round_trip(&Repr {
        message: Message::BindingUpdate {
            sequence: 1,
            flags: BuFlags(0),
            lifetime: 1,
        },
        options: vec![MobilityOption::MessageAuthentication {
            subtype: 1,
            spi: 300,
            authenticator: [2; 12],
        }],
    });
    b.extend([OPT_PADN, 6, 0, 0, 0, 0, 0, 0]);
    b[1] += 1;
    let r = parse_fixed(b.clone()).unwrap();
    assert_eq!(r.options.len(), 1);
    b[32..36].copy_from_slice(&[OPT_NONCE_INDICES, 4, 0, 1]);
    b[36..40].copy_from_slice(&[0, 1, OPT_PADN, 0]);
    // BU fields end at 12, a Pad1 brings the option to 13 = 8n+5.
    assert_eq!(b[13], OPT_MESSAGE_AUTH);
    assert_eq!(
        parse_fixed(b.clone()),
        Err(WireError::AuthNotLast { offset: 13 })
    );
    fill_checksum(&mut b, &src, &dst).unwrap();
    assert!(Packet::new_checked(&b[..])
        .unwrap()
        .message_auth_prefix(1)
        .is_none());
}

#[test]
fn unknown_options_cannot_claim_padding_types() {
    let r = Repr {
        message: Message::BindingRefreshRequest,
        options: vec![MobilityOption::Unknown {
            option_type: OPT_PADN,
            data: vec![0],
        }],
    };
    assert_eq!(r.buffer_len(), Err(WireError::BadPadding { offset: 8 }));
    let r = Repr {
        message: Message::BindingRefreshRequest,
        options: vec![MobilityOption::FlowIdentification(FlowIdentification {
            fid: 1,
            fid_pri: 1,
            status: 0,
            sub_options: vec![FlowSubOption::Unknown {
                sub_type: SUBOPT_PAD1,
                data: vec![],
            }],
        })],
    };
    assert_eq!(r.buffer_len(), Err(WireError::BadPadding { offset: 16 }));
}

#[test]
fn emit_size_limits() {
    let big = MobilityOption::Unknown {
        option_type: 99,
        data: vec![0; 256],
    };
    let r = Repr {
        message: Message::BindingRefreshRequest,
        options: vec![big],
    };
    assert_eq!(r.buffer_len(), Err(WireError::OptionTooLong { len: 256 }));
    let r = Repr {
        message: Message::BindingRefreshRequest,
        options: vec![
            MobilityOption::Unknown {
                option_type: 99,
                data: vec![0; 255]
            };
            8
        ],
    };
    assert!(matches!(
        r.buffer_len(),
        Err(WireError::MessageTooLong { .. })
    ));
    let r = Repr {
        message: Message::BindingRefreshRequest,
        options: vec![
            MobilityOption::Unknown {
                option_type: 99,
                data: vec![0; 255]
            };
            7
        ],
    };
    round_trip(&r);
}

#[test]
fn unknown_type_view_is_usable() {
    // The receiver needs the type of an unknown message to answer with a
    // Binding Error, status 2.
    let mut b = vec![59u8, 1, 42, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    let (src, dst) = (a(MN), a(CN));
    fill_checksum(&mut b, &src, &dst).unwrap();
    let p = Packet::new_checked(&b[..]).unwrap();
    assert_eq!(p.msg_type(), 42);
    assert_eq!(p.mh_type(), Err(WireError::UnknownMessageType(42)));
    assert_eq!(p.options().count(), 0);
    assert_eq!(
        Repr::parse(&p, &src, &dst),
        Err(WireError::UnknownMessageType(42))
    );
}

// ---- property tests -------------------------------------------------------

fn arb_v6() -> impl Strategy<Value = Ipv6Addr> + Clone {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from)
}

fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::BindingRefreshRequest),
        any::<[u8; 8]>().prop_map(|cookie| Message::HomeTestInit { cookie }),
        any::<[u8; 8]>().prop_map(|cookie| Message::CareOfTestInit { cookie }),
        (any::<u16>(), any::<[u8; 8]>(), any::<[u8; 8]>()).prop_map(
            |(nonce_index, cookie, keygen_token)| Message::HomeTest {
                nonce_index,
                cookie,
                keygen_token
            }
        ),
        (any::<u16>(), any::<[u8; 8]>(), any::<[u8; 8]>()).prop_map(
            |(nonce_index, cookie, keygen_token)| Message::CareOfTest {
                nonce_index,
                cookie,
                keygen_token
            }
        ),
        (any::<u16>(), any::<u16>(), any::<u16>()).prop_map(|(sequence, f, lifetime)| {
            Message::BindingUpdate {
                sequence,
                flags: BuFlags(f),
                lifetime,
            }
        }),
        (any::<u8>(), any::<u8>(), any::<u16>(), any::<u16>()).prop_map(
            |(status, f, sequence, lifetime)| {
                Message::BindingAck {
                    status,
                    flags: BaFlags(f),
                    sequence,
                    lifetime,
                }
            }
        ),
        (any::<u8>(), arb_v6()).prop_map(|(status, home_address)| Message::BindingError {
            status,
            home_address
        }),
    ]
}

fn arb_range<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + Clone + 'static,
) -> impl Strategy<Value = Option<TsRange<T>>> {
    proptest::option::of(
        (s.clone(), proptest::option::of(s)).prop_map(|(start, end)| TsRange { start, end }),
    )
}

fn arb_traffic_selector() -> impl Strategy<Value = TrafficSelector> {
    let v6 = (
        arb_range(arb_v6()),
        arb_range(arb_v6()),
        arb_range(any::<u32>()),
        arb_range(any::<u32>()),
        arb_range(any::<u16>()),
        arb_range(any::<u16>()),
        arb_range(any::<u8>()),
        arb_range(any::<u8>()),
    )
        .prop_map(
            |(
                src_addr,
                dst_addr,
                ipsec_spi,
                flow_label,
                src_port,
                dst_port,
                traffic_class,
                next_header,
            )| {
                TrafficSelector::Ipv6(Ipv6TrafficSelector {
                    src_addr,
                    dst_addr,
                    ipsec_spi,
                    flow_label,
                    src_port,
                    dst_port,
                    traffic_class,
                    next_header,
                })
            },
        );
    prop_oneof![
        3 => v6,
        1 => (any::<u8>().prop_filter("not IPv6, not reserved", |f| *f != TS_FORMAT_IPV6 && *f != 0), proptest::collection::vec(any::<u8>(), 0..24))
            .prop_map(|(format, data)| TrafficSelector::Other { format, data }),
    ]
}

fn arb_sub_option() -> impl Strategy<Value = FlowSubOption> {
    prop_oneof![
        proptest::collection::vec(any::<u16>(), 1..6).prop_map(FlowSubOption::BindingReference),
        arb_traffic_selector().prop_map(FlowSubOption::TrafficSelector),
        (4u8.., proptest::collection::vec(any::<u8>(), 0..16))
            .prop_map(|(sub_type, data)| FlowSubOption::Unknown { sub_type, data }),
    ]
}

const KNOWN_TYPES: [u8; 11] = [0, 1, 2, 3, 4, 5, 9, 10, 35, 44, 45];

fn arb_plain_option() -> impl Strategy<Value = MobilityOption> {
    let bid = (
        any::<u16>(),
        any::<u8>(),
        any::<bool>(),
        0u8..128,
        0u8..3,
        any::<[u8; 4]>(),
        arb_v6(),
    )
        .prop_map(|(bid, status, h, bid_pri, which, v4, v6)| {
            MobilityOption::BindingIdentifier {
                bid,
                status,
                h,
                bid_pri,
                care_of: match which {
                    0 => None,
                    1 => Some(IpAddr::V4(Ipv4Addr::from(v4))),
                    _ => Some(IpAddr::V6(v6)),
                },
            }
        });
    let flow = (
        any::<u16>(),
        any::<u16>(),
        any::<u8>(),
        proptest::collection::vec(arb_sub_option(), 0..3),
    )
        .prop_map(|(fid, fid_pri, status, sub_options)| {
            MobilityOption::FlowIdentification(FlowIdentification {
                fid,
                fid_pri,
                status,
                sub_options,
            })
        });
    prop_oneof![
        any::<u16>()
            .prop_map(|refresh_interval| MobilityOption::BindingRefreshAdvice { refresh_interval }),
        arb_v6().prop_map(MobilityOption::AlternateCareOf),
        (any::<u16>(), any::<u16>())
            .prop_map(|(home, care_of)| MobilityOption::NonceIndices { home, care_of }),
        any::<u64>().prop_map(|timestamp| MobilityOption::ReplayProtection { timestamp }),
        bid,
        proptest::collection::vec(any::<u16>(), 1..8)
            .prop_map(|fids| MobilityOption::FlowSummary { fids }),
        flow,
        (
            any::<u8>().prop_filter("unknown type", |t| !KNOWN_TYPES.contains(t)),
            proptest::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(option_type, data)| MobilityOption::Unknown { option_type, data }),
    ]
}

fn arb_auth_tail() -> impl Strategy<Value = Vec<MobilityOption>> {
    let msg_auth =
        (any::<u8>(), any::<u32>(), any::<[u8; 12]>()).prop_map(|(subtype, spi, authenticator)| {
            MobilityOption::MessageAuthentication {
                subtype,
                spi,
                authenticator,
            }
        });
    prop_oneof![
        Just(vec![]),
        any::<[u8; 12]>().prop_map(|authenticator| vec![
            MobilityOption::BindingAuthorizationData { authenticator }
        ]),
        msg_auth.prop_map(|opt| vec![opt]),
    ]
}

prop_compose! {
    fn arb_repr()(message in arb_message(),
                  mut options in proptest::collection::vec(arb_plain_option(), 0..6),
                  tail in arb_auth_tail()) -> Repr {
        options.extend(tail);
        Repr { message, options }
    }
}

/// Re-emits a parsed message and checks it parses back to itself. Emit
/// may legitimately refuse: its alignment padding can push a parsed
/// option or header past its maximum length.
fn reemit_matches(r: &Repr, src: &Ipv6Addr, dst: &Ipv6Addr) -> Result<(), TestCaseError> {
    match r.buffer_len() {
        Ok(n) => {
            let mut out = vec![0; n];
            prop_assert_eq!(r.emit(&mut out, src, dst), Ok(n));
            prop_assert_eq!(&Repr::parse_bytes(&out, src, dst).unwrap(), r);
        }
        Err(WireError::OptionTooLong { .. } | WireError::MessageTooLong { .. }) => {}
        Err(e) => return Err(TestCaseError::fail(format!("re-emit: {e}"))),
    }
    Ok(())
}

/// Reads every field of the view; none may panic.
fn poke_view(b: &[u8]) {
    let p = Packet::new_unchecked(b);
    let _ = (
        p.payload_proto(),
        p.header_len(),
        p.total_len(),
        p.msg_type(),
        p.checksum(),
    );
    let _ = (
        p.sequence(),
        p.lifetime(),
        p.bu_flags(),
        p.status(),
        p.nonce_index(),
        p.cookie(),
    );
    let _ = (
        p.keygen_token(),
        p.home_address(),
        p.message_data().len(),
        p.options().count(),
    );
    let _ = (p.binding_auth_prefix(), p.message_auth_prefix(1));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(
        mut b in proptest::collection::vec(any::<u8>(), 0..300),
        src in arb_v6(),
        dst in arb_v6(),
        proto59 in any::<bool>(),
        mh_type in 0u8..9,
    ) {
        poke_view(&b);
        let _ = Repr::parse_bytes(&b, &src, &dst);
        // Make the header plausible and the checksum right so that the
        // option parser, not the checksum, sees the noise.
        if b.len() >= 8 {
            if proto59 {
                b[0] = IPPROTO_NONE;
                b[1] = (b.len() / 8 - 1) as u8;
                b[2] = mh_type;
            }
            if fill_checksum(&mut b, &src, &dst).is_ok() {
                poke_view(&b);
                if let Ok(r) = Repr::parse_bytes(&b, &src, &dst) {
                    reemit_matches(&r, &src, &dst)?;
                }
            }
        }
    }

    #[test]
    fn arbitrary_reprs_round_trip(repr in arb_repr(), src in arb_v6(), dst in arb_v6()) {
        let len = match repr.buffer_len() {
            Ok(len) => len,
            // Too many big options for one header: not a round-trip case.
            Err(WireError::OptionTooLong { .. } | WireError::MessageTooLong { .. }) => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
        };
        let mut buf = vec![0; len];
        prop_assert_eq!(repr.emit(&mut buf, &src, &dst), Ok(len));
        prop_assert_eq!(len % 8, 0);
        let p = Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(p.verify_checksum(&src, &dst));
        prop_assert_eq!(Repr::parse(&p, &src, &dst).unwrap(), repr.clone());
        match repr.options.last() {
            Some(MobilityOption::BindingAuthorizationData { authenticator }) => {
                let (prefix, tag) = p.binding_auth_prefix().unwrap();
                prop_assert_eq!(tag, authenticator);
                prop_assert_eq!(prefix.len() + 12, len);
            }
            Some(MobilityOption::MessageAuthentication { subtype, .. }) => {
                // The option is last and ends the header: the MAC covers all
                // but the authentication data itself.
                let (prefix, tag) = p.message_auth_prefix(*subtype).unwrap();
                prop_assert_eq!(prefix.len() + 12, len);
                prop_assert_eq!(&buf[len - 12..], &tag[..]);
            }
            _ => {}
        }
    }

    #[test]
    fn mutated_valid_messages_never_panic(repr in arb_repr(), at in any::<usize>(), val in any::<u8>()) {
        let (src, dst) = (a(MN), a(CN));
        let Ok(len) = repr.buffer_len() else { return Ok(()) };
        let mut buf = vec![0; len];
        repr.emit(&mut buf, &src, &dst).unwrap();
        let i = at % len;
        // Leave the header length alone so the noise lands in the options.
        if i != 1 {
            buf[i] = val;
        }
        fill_checksum(&mut buf, &src, &dst).unwrap();
        poke_view(&buf);
        if let Ok(r) = Repr::parse_bytes(&buf, &src, &dst) {
            reemit_matches(&r, &src, &dst)?;
        }
    }
}

/// Regenerates the fuzz seed corpus (`core/fuzz/seeds/mh_parse/`): valid
/// messages in the fuzz target's input format (source, destination,
/// control octet 0, Mobility Header). Run with
/// `cargo test -p gecko write_fuzz_seeds -- --ignored`.
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let (src, dst) = (a(MN), a(CN));
    let ts = Ipv6TrafficSelector {
        src_addr: Some(TsRange {
            start: a("2001:db8:5::1"),
            end: None,
        }),
        dst_addr: Some(TsRange {
            start: src,
            end: None,
        }),
        src_port: Some(TsRange {
            start: 443,
            end: None,
        }),
        dst_port: Some(TsRange {
            start: 40000,
            end: Some(40010),
        }),
        next_header: Some(TsRange {
            start: 6,
            end: None,
        }),
        ..Default::default()
    };
    let bu = Message::BindingUpdate {
        sequence: 7,
        flags: BuFlags(BuFlags::ACK),
        lifetime: 15,
    };
    let seeds = [
        ("bu_rr", known_bu_repr()),
        (
            "bu_home_4285",
            Repr {
                message: Message::BindingUpdate {
                    sequence: 8,
                    flags: BuFlags(0xc000),
                    lifetime: 100,
                },
                options: vec![
                    MobilityOption::ReplayProtection { timestamp: 1 << 40 },
                    MobilityOption::AlternateCareOf(a("2001:db8:c::1")),
                    MobilityOption::MessageAuthentication {
                        subtype: 1,
                        spi: 256,
                        authenticator: [0x5a; 12],
                    },
                ],
            },
        ),
        (
            "bu_flow",
            Repr {
                message: bu,
                options: vec![
                    MobilityOption::BindingIdentifier {
                        bid: 1,
                        status: 0,
                        h: false,
                        bid_pri: 1,
                        care_of: Some(IpAddr::V6(a("2001:db8:c::1"))),
                    },
                    MobilityOption::FlowIdentification(FlowIdentification {
                        fid: 1,
                        fid_pri: 1,
                        status: 0,
                        sub_options: vec![
                            FlowSubOption::BindingReference(vec![1]),
                            FlowSubOption::TrafficSelector(TrafficSelector::Ipv6(ts)),
                        ],
                    }),
                    MobilityOption::FlowSummary { fids: vec![1, 2] },
                    MobilityOption::BindingAuthorizationData {
                        authenticator: [1; 12],
                    },
                ],
            },
        ),
        (
            "ba",
            Repr {
                message: Message::BindingAck {
                    status: 0,
                    flags: BaFlags(0x80),
                    sequence: 7,
                    lifetime: 15,
                },
                options: vec![
                    MobilityOption::BindingRefreshAdvice {
                        refresh_interval: 10,
                    },
                    MobilityOption::BindingAuthorizationData {
                        authenticator: [2; 12],
                    },
                ],
            },
        ),
        (
            "hoti",
            Repr {
                message: Message::HomeTestInit { cookie: [3; 8] },
                options: vec![],
            },
        ),
        (
            "cot",
            Repr {
                message: Message::CareOfTest {
                    nonce_index: 4,
                    cookie: [5; 8],
                    keygen_token: [6; 8],
                },
                options: vec![],
            },
        ),
        (
            "be",
            Repr {
                message: Message::BindingError {
                    status: be_status::UNKNOWN_MH_TYPE,
                    home_address: src,
                },
                options: vec![MobilityOption::Unknown {
                    option_type: 200,
                    data: vec![1, 2, 3],
                }],
            },
        ),
        (
            "brr",
            Repr {
                message: Message::BindingRefreshRequest,
                options: vec![],
            },
        ),
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/mh_parse");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, repr) in seeds {
        let mut file = [src.octets(), dst.octets()].concat();
        file.push(0);
        file.extend(round_trip(&repr));
        std::fs::write(dir.join(name), file).unwrap();
    }
}

#[test]
fn nothing_may_follow_an_rfc4285_option() {
    // MN-HA then MN-AAA: the AAA option's bytes would escape the MN-HA MAC.
    let mut repr = Repr {
        message: Message::BindingUpdate {
            sequence: 1,
            flags: BuFlags(BuFlags::HOME),
            lifetime: 1,
        },
        options: vec![MobilityOption::MessageAuthentication {
            subtype: AUTH_SUBTYPE_MN_HA,
            spi: 256,
            authenticator: [1; 12],
        }],
    };
    let (src, dst) = (a(MN), a(CN));
    let mut ok = [0u8; 64];
    let n = repr.emit(&mut ok, &src, &dst).unwrap();
    let one = Repr::parse_bytes(&ok[..n], &src, &dst).unwrap();
    assert_eq!(one.options.len(), 1);

    // Emit writes what it is given; the receiver must refuse it.
    repr.options.push(MobilityOption::MessageAuthentication {
        subtype: AUTH_SUBTYPE_MN_AAA,
        spi: 3,
        authenticator: [2; 12],
    });
    let mut two = [0u8; 128];
    let m = repr.emit(&mut two, &src, &dst).unwrap();
    let p = Packet::new_checked(&two[..m]).unwrap();
    assert!(matches!(
        Repr::parse(&p, &src, &dst),
        Err(WireError::AuthNotLast { .. })
    ));
    assert!(p.message_auth_prefix(AUTH_SUBTYPE_MN_HA).is_none());
}
