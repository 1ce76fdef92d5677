//! MN-HA authentication of home registrations (RFC 4285), standing in for
//! the IPsec security association of RFC 6275 (DESIGN.md, "Wire and data
//! plane").
//!
//! RFC 4285 §5.1 (MN-HA Mobility Message Authentication option, subtype 1):
//!
//! ```text
//! Authentication Data = First(96, HMAC_SHA1(MN-HA Shared key, Mobility Data))
//! Mobility Data       = care-of address | home address | MH Data
//! ```
//!
//! "MH Data is the content of the Mobility Header up to and including the
//! mobility SPI field of this option. The Checksum field in the Mobility
//! Header MUST be set to 0 to calculate the Mobility Data." The second
//! address is the mobile node's *home address* (for Gecko: the group
//! address G), not the home agent's address. The shared key is 16 octets and
//! SPIs 0-255 are reserved (§5.1).
//!
//! RFC 4285 §6 (Mobility Message Replay Protection option): a 64-bit NTP
//! timestamp (RFC 1305 format: seconds since 1900 in the high 32 bits, the
//! fraction in the low 32). The home agent accepts it when it is "close
//! enough" to its own clock (default 7 s; the value SHOULD be more than 3 s)
//! and, for a Binding Update, greater than the timestamp of any previous
//! successful one. [`ReplayGuard`] does both checks; [`TimestampSource`]
//! gives a sender strictly increasing stamps.
//!
//! Sans-I/O: the home agent's current time comes in as an argument.

use super::mh_mac::{MacError, MhMac};
use super::wire::ba_status;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv6Addr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Octets of Authentication Data (RFC 4285 §5.1: First(96, ...)), the
/// codec's authenticator length.
pub use super::wire::AUTHENTICATOR_LEN as AUTHENTICATION_DATA_LEN;
/// The MN-HA shared key is 16 octets (RFC 4285 §5.1); shorter keys are refused.
pub const MIN_KEY_LEN: usize = 16;
/// Mobility SPIs below this are reserved (RFC 4285 §5.1: "[0-255] is reserved").
pub const MIN_SPI: u32 = 256;
/// Default "close enough" window for timestamps (RFC 4285 §6: 7 seconds).
pub const DEFAULT_REPLAY_WINDOW: Duration = Duration::from_secs(7);

/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
const NTP_UNIX_OFFSET_SECS: i128 = 2_208_988_800;
const NANOS_PER_SEC: i128 = 1_000_000_000;

/// Errors of MN-HA authentication and replay protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MnHaAuthError {
    /// A key shorter than the 16 octets RFC 4285 §5.1 requires.
    #[error("MN-HA key is {0} octets, at least 16 required")]
    KeyTooShort(usize),
    /// A mobility SPI in the reserved range 0-255.
    #[error("mobility SPI {0} is reserved (0-255)")]
    ReservedSpi(u32),
    /// Authentication Data to verify was not exactly 12 octets. Checked
    /// before comparing so that a truncated value can never pass.
    #[error("authentication data is {0} octets, expected 12")]
    AuthenticatorLength(usize),
    /// Authentication Data does not match.
    #[error("authentication data does not match")]
    AuthenticatorMismatch,
    /// The timestamp is not close enough to the home agent's clock.
    /// `skew_millis` is timestamp minus clock (positive: from the future).
    #[error("timestamp is {skew_millis} ms off the home agent's clock")]
    Stale {
        /// Timestamp minus the home agent's clock, in milliseconds.
        skew_millis: i64,
    },
    /// The timestamp is not newer than the last accepted one.
    #[error("timestamp is not newer than the last accepted one")]
    Replayed,
}

impl MnHaAuthError {
    /// The Binding Acknowledgement status this error calls for, if any:
    /// 146 (MIPV6-AUTH-FAIL) for a bad authenticator, 144
    /// (MIPV6-ID-MISMATCH) for a stale or replayed timestamp.
    pub fn ba_status(&self) -> Option<u8> {
        match self {
            MnHaAuthError::AuthenticatorLength(_) | MnHaAuthError::AuthenticatorMismatch => {
                Some(ba_status::AUTH_FAIL)
            }
            MnHaAuthError::Stale { .. } | MnHaAuthError::Replayed => Some(ba_status::ID_MISMATCH),
            MnHaAuthError::KeyTooShort(_) | MnHaAuthError::ReservedSpi(_) => None,
        }
    }
}

/// An MN-HA shared key with its mobility SPI (RFC 4285 §5.1).
///
/// Holds HMAC-SHA1 state already keyed, so each message costs only its own
/// blocks. `Debug` shows the SPI, never the key.
#[derive(Clone)]
pub struct MnHaKey {
    spi: u32,
    mac: MhMac,
}

impl MnHaKey {
    /// A key for `spi`. Refuses reserved SPIs (0-255) and keys shorter
    /// than 16 octets.
    pub fn new(spi: u32, key: &[u8]) -> Result<Self, MnHaAuthError> {
        if spi < MIN_SPI {
            return Err(MnHaAuthError::ReservedSpi(spi));
        }
        if key.len() < MIN_KEY_LEN {
            return Err(MnHaAuthError::KeyTooShort(key.len()));
        }
        Ok(MnHaKey {
            spi,
            mac: MhMac::new(key),
        })
    }

    /// The mobility SPI.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// Authentication Data (RFC 4285 §5.1).
    ///
    /// * `care_of`: the mobile node's care-of address (the Alternate Care-of
    ///   Address when the BU carries one);
    /// * `home_address`: the mobile node's home address;
    /// * `mh_prefix`: the Mobility Header from its first octet up to *and
    ///   including* the option's Mobility SPI field. Octets 4..6 (the
    ///   Checksum) are taken as zero whatever they hold.
    pub fn authenticator(
        &self,
        care_of: &Ipv6Addr,
        home_address: &Ipv6Addr,
        mh_prefix: &[u8],
    ) -> [u8; AUTHENTICATION_DATA_LEN] {
        self.mac.authenticator(care_of, home_address, mh_prefix)
    }

    /// Checks received Authentication Data in constant time; it must be
    /// exactly 12 octets.
    pub fn verify(
        &self,
        care_of: &Ipv6Addr,
        home_address: &Ipv6Addr,
        mh_prefix: &[u8],
        authentication_data: &[u8],
    ) -> Result<(), MnHaAuthError> {
        self.mac
            .verify(care_of, home_address, mh_prefix, authentication_data)
            .map_err(|e| match e {
                MacError::Length(len) => MnHaAuthError::AuthenticatorLength(len),
                MacError::Mismatch => MnHaAuthError::AuthenticatorMismatch,
            })
    }
}

impl fmt::Debug for MnHaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MnHaKey")
            .field("spi", &self.spi)
            .finish_non_exhaustive()
    }
}

/// A 64-bit NTP timestamp (RFC 1305 format, as RFC 4285 §6 requires):
/// seconds since 1900-01-01 UTC in the high 32 bits, fraction of a second
/// in units of 2^-32 s in the low 32 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    /// From the two 32-bit halves.
    pub const fn from_parts(seconds: u32, fraction: u32) -> Self {
        NtpTimestamp(((seconds as u64) << 32) | fraction as u64)
    }

    /// Whole seconds since the start of the NTP era (1900 for era 0).
    pub const fn seconds(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// Fraction of a second, in units of 2^-32 s.
    pub const fn fraction(self) -> u32 {
        self.0 as u32
    }

    /// As carried in the Timestamp field (network byte order).
    pub const fn to_be_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// From the Timestamp field (network byte order).
    pub const fn from_be_bytes(b: [u8; 8]) -> Self {
        NtpTimestamp(u64::from_be_bytes(b))
    }

    /// Converts wall-clock time. Seconds wrap modulo 2^32 (NTP eras), so
    /// times from 2036-02-07 on land in era 1 as NTP itself does.
    pub fn from_system_time(t: SystemTime) -> Self {
        let unix_nanos: i128 = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        };
        let ntp_nanos = unix_nanos + NTP_UNIX_OFFSET_SECS * NANOS_PER_SEC;
        let secs = ntp_nanos.div_euclid(NANOS_PER_SEC).rem_euclid(1 << 32) as u32;
        let sub = ntp_nanos.rem_euclid(NANOS_PER_SEC);
        // sub < 1e9, so sub << 32 fits easily and the quotient is < 2^32.
        let frac = ((sub << 32) / NANOS_PER_SEC) as u32;
        NtpTimestamp::from_parts(secs, frac)
    }

    /// Converts back to wall-clock time, resolving the era as RFC 4330 §3
    /// does: seconds with the top bit set are 1968-2036 (era 0), the rest
    /// 2036-2104 (era 1).
    pub fn to_system_time(self) -> SystemTime {
        let secs = i128::from(self.seconds());
        let era_secs = if secs & (1 << 31) != 0 {
            secs
        } else {
            secs + (1 << 32)
        };
        let frac_nanos = (i128::from(self.fraction()) * NANOS_PER_SEC) >> 32;
        let unix_nanos = (era_secs - NTP_UNIX_OFFSET_SECS) * NANOS_PER_SEC + frac_nanos;
        let d = Duration::new(
            (unix_nanos.unsigned_abs() / NANOS_PER_SEC as u128) as u64,
            (unix_nanos.unsigned_abs() % NANOS_PER_SEC as u128) as u32,
        );
        let t = if unix_nanos >= 0 {
            UNIX_EPOCH.checked_add(d)
        } else {
            UNIX_EPOCH.checked_sub(d)
        };
        // The range is 1968-2104, which every platform's SystemTime holds.
        t.unwrap_or(UNIX_EPOCH)
    }

    /// `self - other` in NTP units (2^-32 s), as a signed value; correct
    /// across an era boundary while the two are within 68 years.
    pub fn signed_diff(self, other: NtpTimestamp) -> i64 {
        self.0.wrapping_sub(other.0) as i64
    }
}

/// A duration in NTP units (2^-32 s), saturating at `i64::MAX`.
fn ntp_units(d: Duration) -> i64 {
    let units = (u128::from(d.as_secs()) << 32)
        + ((u128::from(d.subsec_nanos()) << 32) / NANOS_PER_SEC as u128);
    i64::try_from(units).unwrap_or(i64::MAX)
}

fn units_to_millis(units: i64) -> i64 {
    ((i128::from(units) * 1000) >> 32) as i64
}

/// The home agent's replay check for one security association (keep one per
/// mobility SPI or per mobile node): RFC 4285 §6.
///
/// A timestamp passes when it is within `window` of the home agent's clock
/// (either side) and strictly newer than the last accepted one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayGuard {
    window: Duration,
    last: Option<NtpTimestamp>,
}

impl Default for ReplayGuard {
    fn default() -> Self {
        ReplayGuard::new()
    }
}

impl ReplayGuard {
    /// A guard with the default 7 s window and no timestamp accepted yet.
    pub fn new() -> Self {
        ReplayGuard::with_window(DEFAULT_REPLAY_WINDOW)
    }

    /// A guard with another window (RFC 4285 §6: it SHOULD be more than
    /// 3 s), bounded to 1 s..=60 s: a zero window refuses every clock, and a
    /// huge one would let any old timestamp through.
    pub fn with_window(window: Duration) -> Self {
        ReplayGuard {
            window: window.clamp(Duration::from_secs(1), Duration::from_secs(60)),
            last: None,
        }
    }

    /// The "close enough" window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The last timestamp accepted, if any.
    pub fn last_accepted(&self) -> Option<NtpTimestamp> {
        self.last
    }

    /// Checks `ts` against the home agent's clock `now` and the last accepted
    /// timestamp, without recording it. Run it after the authentication
    /// option has verified (RFC 4285 §6).
    pub fn check(&self, ts: NtpTimestamp, now: NtpTimestamp) -> Result<(), MnHaAuthError> {
        self.check_window(ts, now)?;
        match self.last {
            Some(last) if ts.signed_diff(last) <= 0 => Err(MnHaAuthError::Replayed),
            _ => Ok(()),
        }
    }

    /// Checks only that `ts` is within the window of the clock `now`
    /// (whoever keeps the last accepted timestamp elsewhere, per flow).
    pub fn check_window(&self, ts: NtpTimestamp, now: NtpTimestamp) -> Result<(), MnHaAuthError> {
        let skew = ts.signed_diff(now);
        if skew.unsigned_abs() > ntp_units(self.window).unsigned_abs() {
            return Err(MnHaAuthError::Stale {
                skew_millis: units_to_millis(skew),
            });
        }
        Ok(())
    }

    /// [`ReplayGuard::check`], then records `ts` as the last accepted.
    /// Call it once the Binding Update is known to succeed: the RFC compares
    /// with previous *successful* Binding Updates.
    pub fn accept(&mut self, ts: NtpTimestamp, now: NtpTimestamp) -> Result<(), MnHaAuthError> {
        self.check(ts, now)?;
        self.last = Some(ts);
        Ok(())
    }

    /// Forgets the last accepted timestamp (the security association was
    /// re-keyed).
    pub fn reset(&mut self) {
        self.last = None;
    }
}

/// A sender's timestamps for the Replay Protection option: the wall clock
/// converted to NTP, but always strictly greater than the previous stamp
/// (RFC 4285 §6 requires each BU's timestamp to exceed any earlier one),
/// even if the clock steps back or two BUs share a clock reading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimestampSource {
    last: Option<NtpTimestamp>,
}

impl TimestampSource {
    /// A source with no stamp issued yet.
    pub fn new() -> Self {
        TimestampSource::default()
    }

    /// The stamp for a message sent at `now`.
    pub fn stamp(&mut self, now: SystemTime) -> NtpTimestamp {
        let t = NtpTimestamp::from_system_time(now);
        let t = match self.last {
            Some(last) if t.signed_diff(last) <= 0 => NtpTimestamp(last.0.wrapping_add(1)),
            _ => t,
        };
        self.last = Some(t);
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mipv6::rr::vectors::*;

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn key() -> MnHaKey {
        MnHaKey::new(MN_HA_SPI, &hex(MN_HA_KEY)).unwrap()
    }

    // ---- vectors (values from tests/vectors/rr_vectors.py) ----

    #[test]
    fn authenticator_matches_vector() {
        let bu = hex(HA_BU);
        let prefix = &bu[..HA_BU_SPI_END];
        let on_wire = &bu[HA_BU_SPI_END..HA_BU_SPI_END + 12];
        let want = hex_array::<12>(MN_HA_AUTHENTICATOR);
        assert_eq!(on_wire, want);
        assert_ne!(
            &prefix[4..6],
            &[0, 0],
            "vector must have a nonzero checksum"
        );
        // The prefix ends with the option's SPI.
        assert_eq!(&prefix[HA_BU_SPI_END - 4..], &MN_HA_SPI.to_be_bytes());

        let (coa, hoa) = (addr(CARE_OF_ADDRESS), addr(HOME_ADDRESS));
        let k = key();
        assert_eq!(k.authenticator(&coa, &hoa, prefix), want);
        assert_eq!(k.verify(&coa, &hoa, prefix, on_wire), Ok(()));
        // Address order matters: care-of first, then home address.
        assert_eq!(
            k.verify(&hoa, &coa, prefix, on_wire),
            Err(MnHaAuthError::AuthenticatorMismatch)
        );
    }

    #[test]
    fn vector_timestamp_round_trips_through_bytes() {
        let bu = hex(HA_BU);
        // Replay Protection option: type 10, length 8, at offset 34.
        assert_eq!(&bu[34..36], &[10, 8]);
        let ts = NtpTimestamp::from_be_bytes(bu[36..44].try_into().unwrap());
        assert_eq!(ts, NtpTimestamp(TIMESTAMP));
        assert_eq!(ts.to_be_bytes(), TIMESTAMP.to_be_bytes());
        assert_eq!((ts.seconds(), ts.fraction()), (0xe9a1b2c3, 0x8000_0000));
    }

    // ---- authenticator properties ----

    #[test]
    fn verify_rejects_tampering_and_bad_lengths() {
        let k = key();
        let (coa, hoa) = (addr(CARE_OF_ADDRESS), addr(HOME_ADDRESS));
        let mut mh = hex(HA_BU)[..HA_BU_SPI_END].to_vec();
        let good = k.authenticator(&coa, &hoa, &mh);
        // Checksum octets are ignored...
        mh[4] = 0;
        mh[5] = 0;
        assert_eq!(k.verify(&coa, &hoa, &mh, &good), Ok(()));
        // ...every other octet counts, the SPI included.
        for i in (0..mh.len()).filter(|i| !(4..6).contains(i)) {
            let mut m = mh.clone();
            m[i] ^= 0x01;
            assert_eq!(
                k.verify(&coa, &hoa, &m, &good),
                Err(MnHaAuthError::AuthenticatorMismatch),
                "octet {i}"
            );
        }
        assert_eq!(
            k.verify(&coa, &hoa, &mh, &good[..8]),
            Err(MnHaAuthError::AuthenticatorLength(8))
        );
        assert_eq!(
            k.verify(&coa, &hoa, &mh, &[]),
            Err(MnHaAuthError::AuthenticatorLength(0))
        );
        // Total on short input.
        for len in 0..8 {
            let a = k.authenticator(&coa, &hoa, &mh[..len]);
            assert_eq!(k.verify(&coa, &hoa, &mh[..len], &a), Ok(()));
        }
    }

    #[test]
    fn key_rules() {
        assert_eq!(
            MnHaKey::new(255, &[0; 16]).unwrap_err(),
            MnHaAuthError::ReservedSpi(255)
        );
        assert_eq!(
            MnHaKey::new(256, &[0; 15]).unwrap_err(),
            MnHaAuthError::KeyTooShort(15)
        );
        let k = MnHaKey::new(256, &[0xaa; 32]).unwrap();
        assert_eq!(k.spi(), 256);
        let dbg = format!("{k:?}");
        assert!(dbg.contains("256") && !dbg.contains("aa") && !dbg.contains("170"));
    }

    #[test]
    fn ba_status_mapping() {
        assert_eq!(MnHaAuthError::AuthenticatorMismatch.ba_status(), Some(146));
        assert_eq!(MnHaAuthError::AuthenticatorLength(3).ba_status(), Some(146));
        assert_eq!(MnHaAuthError::Replayed.ba_status(), Some(144));
        assert_eq!(
            MnHaAuthError::Stale { skew_millis: 9000 }.ba_status(),
            Some(144)
        );
        assert_eq!(MnHaAuthError::ReservedSpi(1).ba_status(), None);
    }

    // ---- NTP conversion ----

    #[test]
    fn ntp_known_points() {
        // The Unix epoch is NTP second 2208988800.
        assert_eq!(
            NtpTimestamp::from_system_time(UNIX_EPOCH),
            NtpTimestamp::from_parts(2_208_988_800, 0)
        );
        // Half a second is fraction 2^31.
        let t = UNIX_EPOCH + Duration::from_millis(1500);
        assert_eq!(
            NtpTimestamp::from_system_time(t),
            NtpTimestamp::from_parts(2_208_988_801, 0x8000_0000)
        );
        // 2036-02-07T06:28:16Z (Unix 2085978496) starts era 1: seconds wrap to 0.
        let era1 = UNIX_EPOCH + Duration::from_secs(2_085_978_496);
        assert_eq!(NtpTimestamp::from_system_time(era1), NtpTimestamp(0));
        assert_eq!(NtpTimestamp(0).to_system_time(), era1);
        // Before 1970 (1969-12-31T23:59:59Z).
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(
            NtpTimestamp::from_system_time(before),
            NtpTimestamp::from_parts(2_208_988_799, 0)
        );
        assert_eq!(
            NtpTimestamp::from_parts(2_208_988_799, 0).to_system_time(),
            before
        );
    }

    #[test]
    fn ntp_round_trip_within_a_nanosecond() {
        for unix_nanos in [
            0u64,
            1,
            999_999_999,
            1_700_000_000_123_456_789,
            2_085_978_495_999_999_999,
            2_085_978_496_000_000_001,
            3_000_000_000_000_000_000,
        ] {
            let t = UNIX_EPOCH + Duration::from_nanos(unix_nanos);
            let back = NtpTimestamp::from_system_time(t).to_system_time();
            let err = match back.duration_since(t) {
                Ok(d) => d,
                Err(e) => e.duration(),
            };
            assert!(err <= Duration::from_nanos(1), "{unix_nanos}: {err:?}");
        }
    }

    // ---- replay protection ----

    fn ntp(secs: u32, frac: u32) -> NtpTimestamp {
        NtpTimestamp::from_parts(secs, frac)
    }

    #[test]
    fn window_is_seven_seconds_both_ways() {
        let g = ReplayGuard::new();
        assert_eq!(g.window(), Duration::from_secs(7));
        let now = ntp(1_000_000, 0);
        assert_eq!(g.check(ntp(1_000_007, 0), now), Ok(()));
        assert_eq!(g.check(ntp(999_993, 0), now), Ok(()));
        assert_eq!(
            g.check(ntp(1_000_007, 1), now),
            Err(MnHaAuthError::Stale { skew_millis: 7000 })
        );
        assert!(matches!(
            g.check(ntp(999_992, 0xffff_ffff), now),
            Err(MnHaAuthError::Stale {
                skew_millis: -7001 | -7000
            })
        ));
        assert!(matches!(
            g.check(ntp(0, 0), now),
            Err(MnHaAuthError::Stale { .. })
        ));
    }

    #[test]
    fn must_be_strictly_newer_than_last_accepted() {
        let mut g = ReplayGuard::new();
        let now = ntp(5_000, 0);
        assert_eq!(g.accept(ntp(5_000, 10), now), Ok(()));
        assert_eq!(g.last_accepted(), Some(ntp(5_000, 10)));
        assert_eq!(g.accept(ntp(5_000, 10), now), Err(MnHaAuthError::Replayed));
        assert_eq!(g.accept(ntp(5_000, 9), now), Err(MnHaAuthError::Replayed));
        assert_eq!(g.accept(ntp(5_000, 11), now), Ok(()));
        // check() does not record.
        assert_eq!(g.check(ntp(5_001, 0), now), Ok(()));
        assert_eq!(g.last_accepted(), Some(ntp(5_000, 11)));
        // A failed check leaves the state alone.
        assert!(g.accept(ntp(9_000, 0), now).is_err());
        assert_eq!(g.last_accepted(), Some(ntp(5_000, 11)));
        g.reset();
        assert_eq!(g.accept(ntp(5_000, 0), now), Ok(()));
    }

    #[test]
    fn replay_guard_across_the_2036_era_boundary() {
        let mut g = ReplayGuard::new();
        let now = ntp(u32::MAX, 0x8000_0000); // half a second before era 1
        assert_eq!(g.accept(ntp(u32::MAX, 0x9000_0000), now), Ok(()));
        assert_eq!(g.accept(ntp(0, 5), now), Ok(())); // just after the wrap into era 1
        assert_eq!(
            g.accept(ntp(u32::MAX, 0xf000_0000), now),
            Err(MnHaAuthError::Replayed)
        );
    }

    #[test]
    fn timestamp_source_is_strictly_increasing() {
        let mut s = TimestampSource::new();
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let a = s.stamp(t);
        let b = s.stamp(t);
        let c = s.stamp(t - Duration::from_secs(10));
        let d = s.stamp(t + Duration::from_secs(1));
        assert_eq!(a, NtpTimestamp::from_system_time(t));
        assert_eq!(b.0, a.0 + 1);
        assert_eq!(c.0, b.0 + 1);
        assert_eq!(
            d,
            NtpTimestamp::from_system_time(t + Duration::from_secs(1))
        );

        // And the home agent accepts the sequence.
        let mut g = ReplayGuard::new();
        let now = NtpTimestamp::from_system_time(t);
        for ts in [a, b, c, d] {
            assert_eq!(g.accept(ts, now), Ok(()));
        }
    }

    #[test]
    fn custom_window() {
        let g = ReplayGuard::with_window(Duration::from_millis(3500));
        let now = ntp(100, 0);
        assert_eq!(g.check(ntp(103, 0x8000_0000), now), Ok(()));
        assert!(g.check(ntp(103, 0x8000_0001), now).is_err());
    }
}
