//! A bridge error as cxx's exception: its message is
//! `KIND \x1f ERRNO \x1f TEXT`, which `gecko.cpp` (`Rethrow`) turns into
//! the C++ exception the kind maps to. One encoding, read in one place.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use gecko_bridge::{BridgeError, ErrorKind};

/// A failed call, as C++ receives it.
#[derive(Debug)]
pub struct Failure(pub BridgeError);

impl From<BridgeError> for Failure {
    fn from(e: BridgeError) -> Self {
        Failure(e)
    }
}

/// The kind's name on the wire to C++ (`gecko.cpp` reads the same names).
fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Config => "config",
        ErrorKind::Node => "node",
        ErrorKind::Handoff | ErrorKind::Busy => "handoff",
        ErrorKind::Moved => "moved",
        ErrorKind::Closed => "closed",
        ErrorKind::PortInUse => "port-in-use",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Interrupted => "interrupted",
        ErrorKind::InvalidArgument => "invalid-argument",
        ErrorKind::Usage => "usage",
        ErrorKind::Io => "io",
        _ => "other",
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\x1f{}\x1f{}",
            kind_name(self.0.kind()),
            self.0.errno().unwrap_or(0),
            self.0.message()
        )
    }
}

impl std::error::Error for Failure {}

/// An argument C++ got wrong.
pub(crate) fn invalid(message: impl Into<String>) -> Failure {
    Failure(BridgeError::new(ErrorKind::InvalidArgument, message))
}

/// Runs an entry point's body; a panic is an error, never an unwind into
/// C++ (which cxx would turn into an abort).
pub(crate) fn guard<T>(body: impl FnOnce() -> Result<T, Failure>) -> Result<T, Failure> {
    // Nothing of the body's state is used after a panic.
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        Err(Failure(BridgeError::new(
            ErrorKind::Other,
            format!(
                "internal error in Gecko's library: {}",
                gecko_bridge::error::panic_message(&*panic)
            ),
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_carries_kind_errno_and_text() {
        let e = Failure(BridgeError::closed_socket());
        assert_eq!(
            e.to_string(),
            format!(
                "closed\x1f{}\x1fBad file descriptor: the socket is closed",
                libc_ebadf()
            )
        );
        let e = Failure(BridgeError::new(ErrorKind::Busy, "a handoff runs"));
        assert_eq!(e.to_string(), "handoff\x1f0\x1fa handoff runs");
    }

    fn libc_ebadf() -> i32 {
        9
    }

    #[test]
    fn a_panic_is_an_error() {
        let r: Result<(), Failure> = guard(|| panic!("on purpose"));
        let e = r.unwrap_err();
        assert_eq!(e.0.kind(), ErrorKind::Other);
        assert!(e.0.message().ends_with("on purpose"), "{}", e.0.message());
    }
}
