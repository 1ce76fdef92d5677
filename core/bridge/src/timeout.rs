//! How long a socket's reads and writes (or a server socket's accept) may
//! wait: the three modes of a BSD socket, as every language knows them.

use std::time::Duration;

use crate::error::{BridgeError, ErrorKind};

/// A socket's wait mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Timeout {
    /// Wait for ever (the default).
    #[default]
    Blocking,
    /// Never wait: a call that would fails with `EAGAIN`.
    NonBlocking,
    /// Wait up to this long (never zero), then fail with
    /// [`ErrorKind::Timeout`].
    After(Duration),
}

impl Timeout {
    /// From seconds as Python and Java give them: None blocks, 0 does not,
    /// more waits that long; negative or not finite is refused.
    pub fn from_secs(secs: Option<f64>) -> Result<Timeout, BridgeError> {
        match secs {
            None => Ok(Timeout::Blocking),
            Some(s) if !(s.is_finite() && s >= 0.0) => Err(BridgeError::new(
                ErrorKind::InvalidArgument,
                "Timeout value out of range",
            )),
            Some(0.0) => Ok(Timeout::NonBlocking),
            // A positive timeout below a nanosecond still times out.
            Some(s) => Ok(Timeout::After(
                Duration::from_secs_f64(s).max(Duration::from_nanos(1)),
            )),
        }
    }

    /// Back to seconds: None, 0 or the duration.
    pub fn as_secs(self) -> Option<f64> {
        match self {
            Timeout::Blocking => None,
            Timeout::NonBlocking => Some(0.0),
            Timeout::After(d) => Some(d.as_secs_f64()),
        }
    }

    /// The longest wait: None for ever.
    pub fn limit(self) -> Option<Duration> {
        match self {
            Timeout::Blocking => None,
            Timeout::NonBlocking => Some(Duration::ZERO),
            Timeout::After(d) => Some(d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_trip_and_bad_values_are_refused() {
        for s in [None, Some(0.0), Some(0.2), Some(1.5), Some(30.0)] {
            assert_eq!(Timeout::from_secs(s).unwrap().as_secs(), s);
        }
        assert_eq!(Timeout::from_secs(Some(0.0)).unwrap(), Timeout::NonBlocking);
        assert!(matches!(
            Timeout::from_secs(Some(1e-12)).unwrap(),
            Timeout::After(d) if !d.is_zero()
        ));
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let e = Timeout::from_secs(Some(bad)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        }
    }
}
