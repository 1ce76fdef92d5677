//! Binding Update sequence numbers (RFC 6275 §9.5.1).
//!
//! A sequence number is a free-running 16-bit counter compared modulo 2^16.
//! RFC 6275 §9.5.1: "A Sequence Number in a received Binding Update is
//! considered less than or equal to the last received number if its value
//! lies in the range of the last received number and the preceding 32768
//! values, inclusive." Everything else (the 32767 values after it) is newer.
//!
//! This relation is not a total order (it is not transitive), so [`SeqNum`]
//! deliberately implements neither `Ord` nor `PartialOrd`: callers say which
//! question they mean with [`SeqNum::is_newer_than`].

use serde::{Deserialize, Serialize};
use std::fmt;

/// A Binding Update / Binding Acknowledgement sequence number.
///
/// Compared modulo 2^16 as RFC 6275 §9.5.1 requires. Serialises as a bare
/// `u16` so the cluster can mirror it (DESIGN.md, recovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SeqNum(pub u16);

/// Half the sequence space: a number this far ahead of the last one counts
/// as "not newer" (the range in §9.5.1 is inclusive at both ends).
const HALF: u16 = 0x8000;

impl SeqNum {
    /// Wraps a raw 16-bit value.
    pub const fn new(raw: u16) -> Self {
        SeqNum(raw)
    }

    /// The raw value, as carried in the Sequence # field.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The next number to send (wraps from 65535 to 0).
    pub const fn next(self) -> Self {
        SeqNum(self.0.wrapping_add(1))
    }

    /// `self + n` modulo 2^16.
    pub const fn wrapping_add(self, n: u16) -> Self {
        SeqNum(self.0.wrapping_add(n))
    }

    /// Whether a received `self` is newer than `last`, the last accepted
    /// number (RFC 6275 §9.5.1).
    ///
    /// `self` is *not* newer when it equals `last` or lies among the 32768
    /// values before it, i.e. when `self - last (mod 2^16)` is 0 or in
    /// 32768..=65535. So it is newer exactly when that distance is in
    /// 1..=32767. A receiver that gets a not-newer number answers with BA
    /// status 135 (Sequence number out of window) carrying `last`.
    pub const fn is_newer_than(self, last: SeqNum) -> bool {
        let d = self.0.wrapping_sub(last.0);
        d != 0 && d < HALF
    }

    /// Forward distance from `earlier` to `self`, modulo 2^16.
    pub const fn distance_from(self, earlier: SeqNum) -> u16 {
        self.0.wrapping_sub(earlier.0)
    }
}

impl From<u16> for SeqNum {
    fn from(raw: u16) -> Self {
        SeqNum(raw)
    }
}

impl From<SeqNum> for u16 {
    fn from(s: SeqNum) -> Self {
        s.0
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(v: u16) -> SeqNum {
        SeqNum(v)
    }

    #[test]
    fn equal_is_not_newer() {
        for v in [0u16, 1, 32767, 32768, 32769, 65535] {
            assert!(!s(v).is_newer_than(s(v)), "{v}");
        }
    }

    #[test]
    fn window_edges_from_zero() {
        // last = 0: 1..=32767 are newer, 32768..=65535 are the "preceding
        // 32768 values" (mod 2^16) and so are not.
        assert!(s(1).is_newer_than(s(0)));
        assert!(s(32767).is_newer_than(s(0)));
        assert!(!s(32768).is_newer_than(s(0)));
        assert!(!s(32769).is_newer_than(s(0)));
        assert!(!s(65535).is_newer_than(s(0)));
    }

    #[test]
    fn window_edges_across_wrap() {
        // last = 65535: 0 is the very next number.
        assert!(s(0).is_newer_than(s(65535)));
        assert!(s(1).is_newer_than(s(65535)));
        assert!(s(32766).is_newer_than(s(65535)));
        assert!(!s(32767).is_newer_than(s(65535)));
        assert!(!s(65534).is_newer_than(s(65535)));
        // last = 32768: the window runs 32769..=65535 (32767 values).
        assert!(s(32769).is_newer_than(s(32768)));
        assert!(s(65535).is_newer_than(s(32768)));
        assert!(!s(0).is_newer_than(s(32768)));
        assert!(!s(1).is_newer_than(s(32768)));
        assert!(!s(32767).is_newer_than(s(32768)));
        // last = 32767: 0 lies exactly 32769 ahead, i.e. 32767 behind.
        assert!(s(32768).is_newer_than(s(32767)));
        assert!(s(65534).is_newer_than(s(32767)));
        assert!(!s(65535).is_newer_than(s(32767)));
        assert!(!s(0).is_newer_than(s(32767)));
        // last = 1, 32769.
        assert!(s(32768).is_newer_than(s(1)));
        assert!(!s(32769).is_newer_than(s(1)));
        assert!(!s(0).is_newer_than(s(1)));
        assert!(s(0).is_newer_than(s(32769)));
        assert!(!s(1).is_newer_than(s(32769)));
    }

    #[test]
    fn exhaustive_from_interesting_points() {
        // Every received value against a handful of "last" values: exactly
        // 32767 of the 65536 are newer, as the RFC's wording implies.
        for last in [0u16, 1, 32767, 32768, 32769, 65535] {
            let newer = (0..=u16::MAX)
                .filter(|&v| s(v).is_newer_than(s(last)))
                .count();
            assert_eq!(newer, 32767, "last = {last}");
        }
    }

    #[test]
    fn next_wraps() {
        assert_eq!(s(65535).next(), s(0));
        assert_eq!(s(7).next(), s(8));
        assert!(s(65535).next().is_newer_than(s(65535)));
        assert_eq!(s(65530).wrapping_add(10), s(4));
        assert_eq!(s(4).distance_from(s(65530)), 10);
    }

    #[test]
    fn serde_is_a_bare_number() {
        assert_eq!(serde_json::to_string(&s(513)).unwrap(), "513");
        assert_eq!(serde_json::from_str::<SeqNum>("65535").unwrap(), s(65535));
    }

    proptest! {
        #[test]
        fn antisymmetric(a: u16, b: u16) {
            // Never both newer than each other.
            prop_assert!(!(s(a).is_newer_than(s(b)) && s(b).is_newer_than(s(a))));
            // And, except for equal values and the exact half-way point
            // (which the inclusive range makes "not newer" both ways),
            // exactly one of them is newer.
            if a != b && a.wrapping_sub(b) != 32768 {
                prop_assert!(s(a).is_newer_than(s(b)) ^ s(b).is_newer_than(s(a)));
            }
        }

        #[test]
        fn next_is_always_newer(a: u16) {
            prop_assert!(s(a).next().is_newer_than(s(a)));
            prop_assert!(!s(a).is_newer_than(s(a).next()));
        }

        #[test]
        fn newer_matches_rfc_range(last: u16, recv: u16) {
            // Direct transcription of §9.5.1: not newer iff recv is one of
            // last, last-1, ..., last-32768 (mod 2^16).
            let in_range = (0..=32768u32).any(|k| last.wrapping_sub(k as u16) == recv);
            prop_assert_eq!(s(recv).is_newer_than(s(last)), !in_range);
        }
    }
}
