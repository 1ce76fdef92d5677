//! The one error type of every binding: a small kind each language maps to
//! its own exceptions (once, in one function), the library's message, and
//! the errno when the operating system gave one.

use std::fmt;
use std::io;

use gecko::framework::GeckoError;

/// What went wrong, as a binding needs to know it to pick an exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration file is bad, or the local address is not one of
    /// its nodes.
    Config,
    /// The node could not start or signal (registration, interface,
    /// membership).
    Node,
    /// A handoff failed or could not start; the connection stays here.
    Handoff,
    /// A handoff of this connection is running already.
    Busy,
    /// The connection is served by another node now.
    Moved,
    /// The framework, server socket or socket is closed. A socket's carries
    /// `EBADF`, as every language's own sockets report it.
    Closed,
    /// This framework has a server socket on that port already.
    PortInUse,
    /// A read, write or accept waited as long as its timeout allowed.
    Timeout,
    /// A signal interrupted a blocking call: run the language's signal
    /// handlers, then call again.
    Interrupted,
    /// An argument is out of range (a negative timeout, an unknown policy
    /// name).
    InvalidArgument,
    /// The call cannot be made here: a blocking call inside an async
    /// runtime, a handoff of a socket the distributed server does not
    /// serve.
    Usage,
    /// The operating system failed (see the errno).
    Io,
    /// A library error this bridge does not know yet.
    Other,
}

/// A failed call: its kind, the library's message, the errno if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeError {
    kind: ErrorKind,
    message: String,
    errno: Option<i32>,
}

impl BridgeError {
    /// An error of `kind` with `message` and no errno.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> BridgeError {
        BridgeError {
            kind,
            message: message.into(),
            errno: None,
        }
    }

    /// The same error with `errno`.
    pub fn with_errno(mut self, errno: i32) -> BridgeError {
        self.errno = Some(errno);
        self
    }

    /// A socket or server socket used after `close`: `EBADF`.
    pub fn closed_socket() -> BridgeError {
        BridgeError::new(
            ErrorKind::Closed,
            "Bad file descriptor: the socket is closed",
        )
        .with_errno(libc::EBADF)
    }

    /// A framework used after `close` (no descriptor, no errno).
    pub fn closed_framework() -> BridgeError {
        BridgeError::new(ErrorKind::Closed, "the framework is closed")
    }

    /// A wait that reached its timeout.
    pub fn timed_out() -> BridgeError {
        BridgeError::new(ErrorKind::Timeout, "timed out").with_errno(libc::ETIMEDOUT)
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The library's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The operating system's error number, if it gave one.
    pub fn errno(&self) -> Option<i32> {
        self.errno
    }
}

impl fmt::Display for BridgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BridgeError {}

/// A caught panic's message, for the error or log line that reports it:
/// every binding turns panics into errors at its boundary.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

impl From<GeckoError> for BridgeError {
    fn from(e: GeckoError) -> Self {
        let kind = match &e {
            GeckoError::Config(_) | GeckoError::NotANode(_) => ErrorKind::Config,
            GeckoError::NoInterface(_) | GeckoError::Node(_) => ErrorKind::Node,
            GeckoError::Handoff(_) => ErrorKind::Handoff,
            GeckoError::Busy => ErrorKind::Busy,
            GeckoError::Moved => ErrorKind::Moved,
            GeckoError::Closed => ErrorKind::Closed,
            GeckoError::PortInUse(_) => ErrorKind::PortInUse,
            GeckoError::Io { .. } => ErrorKind::Io,
            GeckoError::InAsyncContext | GeckoError::NotServed => ErrorKind::Usage,
            // The library's enum may grow: a new variant is `Other` until
            // mapped here.
            #[allow(unreachable_patterns)]
            _ => ErrorKind::Other,
        };
        BridgeError {
            kind,
            message: e.to_string(),
            errno: errno_in(&e),
        }
    }
}

impl From<io::Error> for BridgeError {
    fn from(e: io::Error) -> Self {
        let kind = match e.kind() {
            io::ErrorKind::Interrupted => ErrorKind::Interrupted,
            _ => ErrorKind::Io,
        };
        BridgeError {
            kind,
            errno: errno_of(&e),
            message: e.to_string(),
        }
    }
}

/// The errno of the first I/O error in `e`'s chain of causes.
fn errno_in(e: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<io::Error>() {
            return errno_of(io);
        }
        cause = c.source();
    }
    None
}

/// An I/O error's errno, also for the errors Rust makes without one.
fn errno_of(e: &io::Error) -> Option<i32> {
    if let Some(n) = e.raw_os_error() {
        return Some(n);
    }
    Some(match e.kind() {
        io::ErrorKind::NotConnected => libc::ENOTCONN,
        io::ErrorKind::WouldBlock => libc::EAGAIN,
        io::ErrorKind::TimedOut => libc::ETIMEDOUT,
        io::ErrorKind::BrokenPipe => libc::EPIPE,
        io::ErrorKind::ConnectionReset => libc::ECONNRESET,
        io::ErrorKind::InvalidInput => libc::EINVAL,
        io::ErrorKind::PermissionDenied => libc::EPERM,
        io::ErrorKind::NotFound => libc::ENOENT,
        io::ErrorKind::Interrupted => libc::EINTR,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_errors_map_to_one_kind_each_with_their_message() {
        let cases = [
            (
                GeckoError::NotANode("2001:db8::1".parse().unwrap()),
                ErrorKind::Config,
            ),
            (GeckoError::NoInterface("nosuchif0".into()), ErrorKind::Node),
            (GeckoError::Busy, ErrorKind::Busy),
            (GeckoError::Moved, ErrorKind::Moved),
            (GeckoError::Closed, ErrorKind::Closed),
            (GeckoError::PortInUse(7), ErrorKind::PortInUse),
            (GeckoError::InAsyncContext, ErrorKind::Usage),
            (GeckoError::NotServed, ErrorKind::Usage),
        ];
        for (e, kind) in cases {
            let text = e.to_string();
            let b = BridgeError::from(e);
            assert_eq!((b.kind(), b.message(), b.errno()), (kind, &*text, None));
        }
    }

    #[test]
    fn io_errors_keep_their_errno() {
        let e = GeckoError::Io {
            what: "binding",
            source: io::Error::from_raw_os_error(libc::EADDRINUSE),
        };
        let b = BridgeError::from(e);
        assert_eq!(b.kind(), ErrorKind::Io);
        assert_eq!(b.errno(), Some(libc::EADDRINUSE));
        assert!(b.message().starts_with("binding: "), "{b}");
        // Errors Rust makes without an errno get the one a C caller would see.
        let b = BridgeError::from(io::Error::from(io::ErrorKind::WouldBlock));
        assert_eq!((b.kind(), b.errno()), (ErrorKind::Io, Some(libc::EAGAIN)));
        let b = BridgeError::from(io::Error::from(io::ErrorKind::Interrupted));
        assert_eq!(
            (b.kind(), b.errno()),
            (ErrorKind::Interrupted, Some(libc::EINTR))
        );
        let b = BridgeError::from(io::Error::from(io::ErrorKind::WriteZero));
        assert_eq!((b.kind(), b.errno()), (ErrorKind::Io, None));
    }

    #[test]
    fn a_bad_configuration_is_a_config_error() {
        let e = gecko::framework::GeckoFramework::new(
            "2001:db8::1".parse().unwrap(),
            "/nonexistent/gecko.toml",
            "lo",
        )
        .unwrap_err();
        assert_eq!(BridgeError::from(e).kind(), ErrorKind::Config);
    }

    #[test]
    fn closed_handles_say_so() {
        assert_eq!(BridgeError::closed_socket().errno(), Some(libc::EBADF));
        assert_eq!(BridgeError::closed_framework().errno(), None);
        assert_eq!(BridgeError::closed_socket().kind(), ErrorKind::Closed);
        assert_eq!(BridgeError::timed_out().kind(), ErrorKind::Timeout);
    }
}
