//! The Internet checksum of an upper-layer packet over the IPv6
//! pseudo-header (RFC 8200 §8.1): the Mobility Header's (`mipv6::wire`)
//! and TCP's (the flow lock's replay, the ACK probe) both use it.

use std::net::Ipv6Addr;

/// One's complement sum of `data` as big-endian 16-bit words, not yet folded.
///
/// Sums 32-bit words into a 64-bit accumulator: a 2048-octet message cannot
/// overflow it, and it halves the work of a 16-bit loop.
fn sum_words(data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(4);
    let mut acc: u64 = 0;
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    let rest = chunks.remainder();
    let mut i = 0;
    while i + 1 < rest.len() {
        acc += u64::from(u16::from_be_bytes([rest[i], rest[i + 1]]));
        i += 2;
    }
    if i < rest.len() {
        // An odd trailing octet is padded with zero on the right.
        acc += u64::from(rest[i]) << 8;
    }
    acc
}

/// Folds a wide one's complement sum into 16 bits.
fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Sum of the IPv6 pseudo-header for an upper-layer packet of `len` octets
/// with Next Header `next_header`.
fn pseudo_header_sum(src: &Ipv6Addr, dst: &Ipv6Addr, len: usize, next_header: u8) -> u64 {
    sum_words(&src.octets())
        + sum_words(&dst.octets())
        + (len as u64 >> 16)
        + (len as u64 & 0xffff)
        + u64::from(next_header)
}

/// The checksum that belongs in the upper-layer packet `data` (Next Header
/// `next_header`, from `src` to `dst`), computed as if its 16-bit checksum
/// field at `offset` were zero: whatever the field holds (a partial sum
/// left for offload, say) is ignored.
pub fn upper_layer(
    data: &[u8],
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    next_header: u8,
    offset: usize,
) -> u16 {
    let head = data.get(..offset).unwrap_or(data);
    let tail = data.get(offset + 2..).unwrap_or(&[]);
    let acc =
        pseudo_header_sum(src, dst, data.len(), next_header) + sum_words(head) + sum_words(tail);
    !fold(acc)
}

/// True if `data` (Next Header `next_header`, from `src` to `dst`),
/// checksum field included, sums to all ones: its checksum is right.
///
/// Summing over the stored checksum too accepts both encodings of zero
/// (0x0000 and 0xffff), as one's complement arithmetic allows.
pub fn verifies(data: &[u8], src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8) -> bool {
    fold(pseudo_header_sum(src, dst, data.len(), next_header) + sum_words(data)) == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_length_and_fold() {
        // 0xffff + 0x0001 folds to 0x0001; odd octet is the high half.
        assert_eq!(fold(sum_words(&[0xff, 0xff, 0x00, 0x01])), 0x0001);
        assert_eq!(sum_words(&[0x12]), 0x1200);
        assert_eq!(
            sum_words(&[0x00, 0x01, 0x02, 0x03, 0x04, 0x05]),
            0x0001_0203 + 0x0405
        );
    }
}
