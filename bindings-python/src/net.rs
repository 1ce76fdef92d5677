//! Addresses between Python and Rust.

use std::net::{Ipv6Addr, SocketAddr};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyString;

/// An IPv6 address from a `str` or an `ipaddress.IPv6Address`.
pub fn ipv6_of(obj: &Bound<'_, PyAny>) -> PyResult<Ipv6Addr> {
    let text = if let Ok(s) = obj.cast::<PyString>() {
        s.to_str()?.to_string()
    } else {
        let py = obj.py();
        let v6 = py.import("ipaddress")?.getattr("IPv6Address")?;
        if !obj.is_instance(&v6)? {
            return Err(PyTypeError::new_err(format!(
                "an IPv6 address must be a str or ipaddress.IPv6Address, not {}",
                obj.get_type().name()?
            )));
        }
        obj.str()?.to_str()?.to_string()
    };
    text.parse()
        .map_err(|_| PyValueError::new_err(format!("`{text}` is not an IPv6 address")))
}

/// A socket address as Python's AF_INET6 sockets give it:
/// `(host, port, flowinfo, scope_id)`.
pub fn py_sockaddr(a: SocketAddr) -> (String, u16, u32, u32) {
    match a {
        SocketAddr::V6(v6) => (v6.ip().to_string(), v6.port(), v6.flowinfo(), v6.scope_id()),
        SocketAddr::V4(v4) => (v4.ip().to_string(), v4.port(), 0, 0),
    }
}
