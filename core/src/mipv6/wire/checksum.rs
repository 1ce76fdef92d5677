//! The Mobility Header's checksum (RFC 6275 §6.1.1): the Internet
//! checksum over the IPv6 pseudo-header of [`crate::checksum`].

use std::net::Ipv6Addr;

use crate::checksum::{upper_layer, verifies};

use super::error::WireError;
use super::header::{Packet, CHECKSUM_OFFSET, IPPROTO_MH};

/// The checksum that belongs in `mh` (the whole Mobility Header), computed
/// as if its Checksum field were zero.
pub fn compute(mh: &[u8], src: &Ipv6Addr, dst: &Ipv6Addr) -> u16 {
    upper_layer(mh, src, dst, IPPROTO_MH, CHECKSUM_OFFSET)
}

/// True if the Checksum field of `mh` (the whole Mobility Header) is right.
///
/// Summing over the stored checksum too accepts both encodings of zero
/// (0x0000 and 0xffff), as one's complement arithmetic allows.
pub fn verify(mh: &[u8], src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
    verifies(mh, src, dst, IPPROTO_MH)
}

/// Computes and stores the checksum of the Mobility Header at the start of
/// `buf`; its length is taken from its own Header Len field.
///
/// Call it last, after any authenticator has been written.
pub fn fill_checksum(buf: &mut [u8], src: &Ipv6Addr, dst: &Ipv6Addr) -> Result<(), WireError> {
    let mut packet = Packet::new_checked(buf)?;
    packet.fill_checksum(src, dst);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compute_then_verify() {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mut mh = [59u8, 0, 0, 0, 0xaa, 0xbb, 0, 0];
        assert!(!verify(&mh, &src, &dst));
        let c = compute(&mh, &src, &dst);
        mh[4..6].copy_from_slice(&c.to_be_bytes());
        assert!(verify(&mh, &src, &dst));
        // Swapping the addresses keeps the sum (addition commutes).
        assert!(verify(&mh, &dst, &src));
        mh[7] ^= 1;
        assert!(!verify(&mh, &src, &dst));
    }

    #[test]
    fn fill_checksum_checks_length() {
        let a = Ipv6Addr::LOCALHOST;
        let mut short = [59u8, 1, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            fill_checksum(&mut short, &a, &a),
            Err(WireError::HeaderLenPastBuffer {
                declared: 16,
                available: 8
            })
        );
        let mut ok = [59u8, 0, 0, 0, 0, 0, 0, 0, 0xde, 0xad];
        fill_checksum(&mut ok, &a, &a).unwrap();
        // Only the 8 octets the header describes are covered.
        assert!(verify(&ok[..8], &a, &a));
    }
}
