//! The Python binding of Gecko: the extension module `gecko._gecko`,
//! re-exported by the package `gecko`. A thin layer over `gecko-bridge`
//! (what every binding shares: handles, error kinds, shipped policies, the
//! foreign-policy adapter, timeouts, logging): it converts types and
//! errors, releases the GIL around blocking calls, and implements the
//! bridge's `ForeignPolicy` for a Python policy object. The Rust files
//! mirror the Python classes.

mod errors;
mod framework;
mod net;
mod policy;
mod socket;

use pyo3::prelude::*;

/// Installs Gecko's log output (stderr; `RUST_LOG` filters, default
/// `info`, or `filter` if given). `GeckoFramework` calls it too; the first
/// call wins.
#[pyfunction]
#[pyo3(signature = (filter = None))]
fn init_logging(filter: Option<&str>) -> PyResult<()> {
    gecko_bridge::logging::init(filter)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
}

#[pymodule]
fn _gecko(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<framework::PyFramework>()?;
    m.add_class::<socket::PyServerSocket>()?;
    m.add_class::<socket::PySocket>()?;
    m.add_class::<policy::PyGeckoPolicy>()?;
    m.add_class::<policy::RandomPolicy>()?;
    m.add_class::<policy::RoundRobinPolicy>()?;
    m.add_class::<policy::LeastConnectionsPolicy>()?;
    m.add_class::<policy::ProximityPolicy>()?;
    m.add_class::<policy::ClientInfo>()?;
    m.add_class::<policy::NodeInfo>()?;
    m.add_function(wrap_pyfunction!(policy::policy_by_name, m)?)?;
    m.add_function(wrap_pyfunction!(policy::_call_policy, m)?)?;
    m.add_function(wrap_pyfunction!(init_logging, m)?)?;
    m.add("POLICY_NAMES", gecko_bridge::ShippedPolicy::names())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
