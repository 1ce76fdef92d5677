//! HMAC-SHA1-96 over `address | address | Mobility Header`: the shape shared
//! by the Binding Authorization Data authenticator (RFC 6275 §6.2.7:
//! care-of address | correspondent | MH data, keyed with Kbm) and the RFC 4285
//! MN-HA authenticator (§5.1: care-of address | home address | MH data,
//! keyed with the MN-HA key). In both the MH's Checksum field counts as zero.

use std::net::Ipv6Addr;

use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::wire::AUTHENTICATOR_LEN;

pub(crate) type HmacSha1 = Hmac<Sha1>;

/// Starts an HMAC-SHA1 keyed with `key`.
pub(crate) fn keyed_hmac(key: &[u8]) -> HmacSha1 {
    // HMAC takes keys of any length (RFC 2104 §2); hmac 0.12 never fails here.
    <HmacSha1 as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// Why a received authenticator was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MacError {
    /// Not exactly 12 octets: refused before any comparison, so that a
    /// truncated value can never pass.
    Length(usize),
    /// The value differs.
    Mismatch,
}

/// A key with its HMAC state already set up (two SHA-1 blocks, done once),
/// so each message costs only its own blocks.
#[derive(Clone)]
pub(crate) struct MhMac(HmacSha1);

impl MhMac {
    pub(crate) fn new(key: &[u8]) -> Self {
        MhMac(keyed_hmac(key))
    }

    /// The HMAC over `first | second | mh`, with `mh[4..6]` (the Checksum)
    /// fed as zeros without copying the header. Total on any input: of a
    /// header shorter than 6 octets, whatever part of the checksum it holds
    /// counts as zero.
    fn over(&self, first: &Ipv6Addr, second: &Ipv6Addr, mh: &[u8]) -> HmacSha1 {
        const ZERO: [u8; 2] = [0; 2];
        let mut mac = self.0.clone();
        mac.update(&first.octets());
        mac.update(&second.octets());
        match (mh.get(..4), mh.get(6..)) {
            (Some(head), Some(tail)) => {
                mac.update(head);
                mac.update(&ZERO);
                mac.update(tail);
            }
            _ => {
                mac.update(&mh[..mh.len().min(4)]);
                mac.update(&ZERO[..mh.len().saturating_sub(4)]);
            }
        }
        mac
    }

    /// First(96, HMAC_SHA1(key, first | second | mh)).
    pub(crate) fn authenticator(
        &self,
        first: &Ipv6Addr,
        second: &Ipv6Addr,
        mh: &[u8],
    ) -> [u8; AUTHENTICATOR_LEN] {
        let full = self.over(first, second, mh).finalize().into_bytes();
        let mut out = [0u8; AUTHENTICATOR_LEN];
        out.copy_from_slice(&full[..AUTHENTICATOR_LEN]);
        out
    }

    /// Compares `received` with [`MhMac::authenticator`] in constant time
    /// (subtle, through `verify_truncated_left`), after checking its length.
    pub(crate) fn verify(
        &self,
        first: &Ipv6Addr,
        second: &Ipv6Addr,
        mh: &[u8],
        received: &[u8],
    ) -> Result<(), MacError> {
        if received.len() != AUTHENTICATOR_LEN {
            return Err(MacError::Length(received.len()));
        }
        self.over(first, second, mh)
            .verify_truncated_left(received)
            .map_err(|_| MacError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_headers_are_total_and_zero_the_checksum_part() {
        // Against an explicit copy that zeroes whatever of 4..6 exists.
        let key = [0x42u8; 20];
        let (a, b): (Ipv6Addr, Ipv6Addr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        let src = [9u8, 8, 7, 6, 5, 4, 3, 2];
        for len in 0..=src.len() {
            let mut copy = src[..len].to_vec();
            for byte in copy.iter_mut().skip(4).take(2) {
                *byte = 0;
            }
            let mut mac = keyed_hmac(&key);
            mac.update(&a.octets());
            mac.update(&b.octets());
            mac.update(&copy);
            let want = &mac.finalize().into_bytes()[..AUTHENTICATOR_LEN];
            assert_eq!(
                MhMac::new(&key).authenticator(&a, &b, &src[..len]),
                want,
                "len {len}"
            );
        }
    }

    #[test]
    fn verify_insists_on_twelve_octets() {
        let (a, b): (Ipv6Addr, Ipv6Addr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        let mac = MhMac::new(b"key");
        let tag = mac.authenticator(&a, &b, b"header");
        assert_eq!(mac.verify(&a, &b, b"header", &tag), Ok(()));
        // A prefix of the right value is still refused.
        assert_eq!(
            mac.verify(&a, &b, b"header", &tag[..1]),
            Err(MacError::Length(1))
        );
        let mut wrong = tag;
        wrong[11] ^= 1;
        assert_eq!(
            mac.verify(&a, &b, b"header", &wrong),
            Err(MacError::Mismatch)
        );
    }
}
