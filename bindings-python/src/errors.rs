//! Python's view of the bridge's errors, mapped in one function
//! ([`to_py`]): `gecko.GeckoError` and its subclasses for Gecko's own
//! failures, `OSError` (with errno, so Python picks the subclass:
//! `ConnectionResetError`, `BlockingIOError`...) when the operating system
//! failed, and Python's own classes where its sockets use them.

use gecko_bridge::{BridgeError, ErrorKind};
use pyo3::exceptions::{PyException, PyOSError, PyTimeoutError, PyValueError};
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

/// A bridge error as a Python exception: the binding's one mapping.
pub fn to_py(e: BridgeError) -> PyErr {
    let errno = e.errno();
    let message = e.message().to_string();
    // OSError(errno, text) becomes the errno's subclass.
    let os = move || match errno {
        Some(n) => PyOSError::new_err((n, message.clone())),
        None => PyOSError::new_err(message.clone()),
    };
    match e.kind() {
        ErrorKind::Config => ConfigError::new_err(e.to_string()),
        ErrorKind::Node => NodeError::new_err(e.to_string()),
        ErrorKind::Handoff | ErrorKind::Busy => HandoffError::new_err(e.to_string()),
        ErrorKind::Moved => MovedError::new_err(e.to_string()),
        ErrorKind::PortInUse => PortInUseError::new_err(e.to_string()),
        // A socket used after close is OSError(EBADF), as Python's own
        // sockets report it; a closed framework has no errno.
        ErrorKind::Closed if errno.is_some() => os(),
        ErrorKind::Closed => ClosedError::new_err(e.to_string()),
        ErrorKind::Timeout => PyTimeoutError::new_err(e.to_string()),
        ErrorKind::InvalidArgument => PyValueError::new_err(e.to_string()),
        ErrorKind::Io | ErrorKind::Interrupted => os(),
        ErrorKind::Usage | ErrorKind::Other => GeckoError::new_err(e.to_string()),
        // A kind the bridge adds later is still a GeckoError.
        _ => GeckoError::new_err(e.to_string()),
    }
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
