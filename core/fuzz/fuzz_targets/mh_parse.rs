//! Fuzzes the Mobility Header parser: arbitrary bytes must never panic, and
//! whatever parses must re-emit and re-parse to the same `Repr`.
//!
//! Input: 16 octets source address, 16 octets destination address, one
//! control octet, then the Mobility Header. Random bytes almost never carry
//! a right checksum, so besides parsing the input as it is, the target also
//! fixes the checksum (and, if the control octet's low bit is set, Payload
//! Proto and Header Len) to let the fuzzer reach the option parsers.

#![no_main]

use std::net::Ipv6Addr;

use gecko::mipv6::wire::{fill_checksum, Packet, Repr, WireError, IPPROTO_NONE, MAX_LEN};
use libfuzzer_sys::fuzz_target;

fn addr(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(b);
    Ipv6Addr::from(a)
}

/// Reads every field of the view; none may panic.
fn poke(mh: &[u8]) {
    let p = Packet::new_unchecked(mh);
    let _ = (
        p.payload_proto(),
        p.total_len(),
        p.mh_type(),
        p.checksum(),
        p.sequence(),
    );
    let _ = (
        p.lifetime(),
        p.bu_flags(),
        p.status(),
        p.nonce_index(),
        p.cookie(),
        p.keygen_token(),
    );
    let _ = (
        p.home_address(),
        p.message_data().len(),
        p.options().count(),
    );
    let _ = (p.binding_auth_prefix(), p.message_auth_prefix(1));
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 33 {
        return;
    }
    let (src, dst, control) = (addr(&data[..16]), addr(&data[16..32]), data[32]);
    let mh = &data[33..];

    poke(mh);
    let _ = Repr::parse_bytes(mh, &src, &dst);

    let mut buf = mh.to_vec();
    if control & 1 == 1 && buf.len() >= 8 {
        buf[0] = IPPROTO_NONE;
        buf[1] = (buf.len().min(MAX_LEN) / 8 - 1) as u8;
    }
    if fill_checksum(&mut buf, &src, &dst).is_err() {
        return;
    }
    poke(&buf);
    // The correspondent's Binding Update checks read the same bytes.
    let _ = gecko::mipv6::binding_update::read(&buf, &src, &dst);
    let Ok(repr) = Repr::parse_bytes(&buf, &src, &dst) else {
        return;
    };

    let len = match repr.buffer_len() {
        Ok(len) => len,
        // Emit adds alignment padding the input may have lacked, which can
        // push an option or the header past its maximum length.
        Err(WireError::OptionTooLong { .. } | WireError::MessageTooLong { .. }) => return,
        Err(e) => panic!("cannot re-emit a parsed message: {e}: {repr:?}"),
    };
    let mut out = vec![0u8; len];
    assert_eq!(repr.emit(&mut out, &src, &dst), Ok(len));
    let again = Repr::parse_bytes(&out, &src, &dst).expect("re-parse of emitted message");
    assert_eq!(again, repr);

    // Emit is a function of the Repr: the same Repr gives the same octets.
    let mut out2 = vec![0u8; len];
    assert_eq!(again.emit(&mut out2, &src, &dst), Ok(len));
    assert_eq!(out, out2);

    // The authenticator a view hands out is the one the Repr holds, and
    // its input is everything before it.
    let p = Packet::new_checked(&out[..]).expect("emitted header is well formed");
    if let Some((prefix, tag)) = p.binding_auth_prefix() {
        assert_eq!(prefix.len() + tag.len(), len);
    }
});
