//! How long a socket's reads and writes (or a server socket's accept) may
//! wait: the three modes of a BSD socket, as every language knows them.

use std::time::{Duration, Instant};

use crate::error::{BridgeError, ErrorKind};

/// Why a wait in slices ended without a result.
#[derive(Debug)]
pub enum WaitError<E> {
    /// The call failed, or the timeout passed ([`ErrorKind::Timeout`]).
    Failed(BridgeError),
    /// The binding's check between slices stopped the wait (a Python
    /// signal handler raised, a Java thread was interrupted).
    Stopped(E),
}

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

    /// Waits up to this timeout in slices of at most `slice`: `attempt`
    /// waits one slice (None: nothing yet), `between` runs after each empty
    /// one, where a binding runs its signal handlers or sees an interrupt.
    pub fn wait_in_slices<T, E>(
        self,
        slice: Duration,
        mut attempt: impl FnMut(Duration) -> Result<Option<T>, BridgeError>,
        mut between: impl FnMut() -> Result<(), E>,
    ) -> Result<T, WaitError<E>> {
        let deadline = self.limit().map(|t| Instant::now() + t);
        loop {
            let wait = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(slice),
                None => slice,
            };
            if let Some(v) = attempt(wait).map_err(WaitError::Failed)? {
                return Ok(v);
            }
            between().map_err(WaitError::Stopped)?;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(WaitError::Failed(BridgeError::timed_out()));
            }
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

    /// An attempt that sleeps its slice and answers on call `answer_at`.
    fn attempt(answer_at: u32) -> impl FnMut(Duration) -> Result<Option<u32>, BridgeError> {
        let mut calls = 0;
        move |slice| {
            calls += 1;
            std::thread::sleep(slice);
            Ok((calls == answer_at).then_some(calls))
        }
    }

    #[test]
    fn a_wait_in_slices_ends_with_the_answer_the_timeout_or_the_check() {
        let ms = Duration::from_millis;
        let ok = || Ok::<(), ()>(());
        assert_eq!(
            Timeout::Blocking
                .wait_in_slices(ms(5), attempt(3), ok)
                .unwrap(),
            3
        );

        let start = Instant::now();
        let r = Timeout::After(ms(30)).wait_in_slices(ms(5), attempt(0), ok);
        assert!(matches!(r, Err(WaitError::Failed(e)) if e.kind() == ErrorKind::Timeout));
        assert!(start.elapsed() >= ms(30) && start.elapsed() < ms(1000));

        // Non-blocking: one attempt without a wait.
        let mut waits = Vec::new();
        let r = Timeout::NonBlocking.wait_in_slices(
            ms(5),
            |w| {
                waits.push(w);
                Ok(None::<u32>)
            },
            ok,
        );
        assert!(matches!(r, Err(WaitError::Failed(e)) if e.kind() == ErrorKind::Timeout));
        assert_eq!(waits, [Duration::ZERO]);

        // The binding's check stops a wait for ever; a failure ends it too.
        let mut checks = 0;
        let r = Timeout::Blocking.wait_in_slices(ms(1), attempt(0), || {
            checks += 1;
            if checks == 3 {
                Err("interrupted")
            } else {
                Ok(())
            }
        });
        assert!(matches!(r, Err(WaitError::Stopped("interrupted"))));
        let r = Timeout::Blocking.wait_in_slices(
            ms(1),
            |_| Err::<Option<u32>, _>(BridgeError::closed_socket()),
            ok,
        );
        assert!(matches!(r, Err(WaitError::Failed(e)) if e.kind() == ErrorKind::Closed));
    }
}
