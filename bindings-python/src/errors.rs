//! Python's view of the core's errors: `gecko.GeckoError` and its
//! subclasses for Gecko's own failures, `OSError` (with errno, so Python
//! picks the subclass: `ConnectionResetError`, `BlockingIOError`...) when
//! the operating system failed.

use std::io;

use gecko::framework::GeckoError as CoreError;
use pyo3::exceptions::{PyException, PyOSError, PyTimeoutError};
use pyo3::prelude::*;

pyo3::create_exception!(
    gecko,
    GeckoError,
    PyException,
    "Base class of Gecko's own errors."
);
pyo3::create_exception!(
    gecko,
    ConfigError,
    GeckoError,
    "The configuration file is bad (the message names file, line and field), or the local address is not one of its nodes."
);
pyo3::create_exception!(
    gecko,
    NodeError,
    GeckoError,
    "The node could not start or signal (home registration, interface, membership)."
);
pyo3::create_exception!(
    gecko,
    HandoffError,
    GeckoError,
    "A handoff failed or could not start; the connection stays on this node."
);
pyo3::create_exception!(
    gecko,
    MovedError,
    GeckoError,
    "The connection is served by another node now."
);
pyo3::create_exception!(
    gecko,
    ClosedError,
    GeckoError,
    "The framework, server socket or socket is closed."
);
pyo3::create_exception!(
    gecko,
    PortInUseError,
    GeckoError,
    "This framework has a server socket on that port already."
);

/// A core error as a Python exception.
pub fn to_py(e: CoreError) -> PyErr {
    let text = e.to_string();
    match e {
        CoreError::Config(_) | CoreError::NotANode(_) => ConfigError::new_err(text),
        CoreError::NoInterface(_) | CoreError::Node(_) => NodeError::new_err(text),
        CoreError::Handoff(_) | CoreError::Busy => HandoffError::new_err(text),
        CoreError::Moved => MovedError::new_err(text),
        CoreError::Closed => ClosedError::new_err(text),
        CoreError::PortInUse(_) => PortInUseError::new_err(text),
        CoreError::Io { what, source } => os_error(&source, Some(what), false),
        CoreError::InAsyncContext | CoreError::NotServed => GeckoError::new_err(text),
        // The core's error enum may grow: a new kind is still a GeckoError.
        #[allow(unreachable_patterns)]
        _ => GeckoError::new_err(text),
    }
}

/// An I/O error as `OSError(errno, message)`; `timed_out` turns a would-block
/// of a socket with a timeout into `TimeoutError`, as Python's sockets do.
pub fn os_error(e: &io::Error, what: Option<&str>, timed_out: bool) -> PyErr {
    let errno = e.raw_os_error().or_else(|| errno_of(e.kind()));
    if timed_out
        && matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        )
    {
        return PyTimeoutError::new_err("timed out");
    }
    let message = match what {
        Some(w) => format!("{w}: {e}"),
        None => e.to_string(),
    };
    match errno {
        // OSError(errno, text) becomes the errno's subclass.
        Some(n) => PyOSError::new_err((n, message)),
        None => PyOSError::new_err(message),
    }
}

/// The errno of errors the core makes without one.
fn errno_of(kind: io::ErrorKind) -> Option<i32> {
    Some(match kind {
        io::ErrorKind::NotConnected => libc::ENOTCONN,
        io::ErrorKind::WouldBlock => libc::EAGAIN,
        io::ErrorKind::TimedOut => libc::ETIMEDOUT,
        io::ErrorKind::BrokenPipe => libc::EPIPE,
        io::ErrorKind::ConnectionReset => libc::ECONNRESET,
        io::ErrorKind::InvalidInput => libc::EINVAL,
        io::ErrorKind::PermissionDenied => libc::EPERM,
        io::ErrorKind::NotFound => libc::ENOENT,
        _ => return None,
    })
}

/// `OSError(EBADF)`: a socket used after `close()`, as Python's own
/// sockets report it.
pub fn closed_socket() -> PyErr {
    PyOSError::new_err((libc::EBADF, "Bad file descriptor: the socket is closed"))
}

/// Registers the exception classes in the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("GeckoError", py.get_type::<GeckoError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("NodeError", py.get_type::<NodeError>())?;
    m.add("HandoffError", py.get_type::<HandoffError>())?;
    m.add("MovedError", py.get_type::<MovedError>())?;
    m.add("ClosedError", py.get_type::<ClosedError>())?;
    m.add("PortInUseError", py.get_type::<PortInUseError>())?;
    Ok(())
}
