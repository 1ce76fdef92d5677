//! `gecko.GeckoFramework`: this process is one node of the distributed
//! server. A context manager over the bridge's [`FrameworkHandle`]; its
//! blocking calls release the GIL.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use gecko_bridge::FrameworkHandle;
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::errors::to_py;
use crate::net::ipv6_of;
use crate::policy::to_core;
use crate::socket::{detached, PyServerSocket};

/// `GeckoFramework(local_address, config_path, interface="eth0")`.
#[pyclass(name = "GeckoFramework", module = "gecko._gecko", frozen)]
pub struct PyFramework {
    handle: FrameworkHandle,
    /// The Python object `set_policy` took, for the `policy` getter.
    policy: Mutex<Option<Py<PyAny>>>,
}

#[pymethods]
impl PyFramework {
    /// Starts the node whose address is `local_address` in the
    /// configuration at `config_path`; `interface` is its network link.
    #[new]
    #[pyo3(signature = (local_address, config_path, interface = "eth0"))]
    fn new(
        py: Python<'_>,
        local_address: &Bound<'_, PyAny>,
        config_path: PathBuf,
        interface: &str,
    ) -> PyResult<Self> {
        let local = ipv6_of(local_address)?;
        let _ = gecko_bridge::logging::init(None);
        let handle = py
            .detach(|| FrameworkHandle::new(local, &config_path, interface))
            .map_err(to_py)?;
        Ok(PyFramework {
            handle,
            policy: Mutex::new(None),
        })
    }

    /// This node's address.
    #[getter]
    fn local_address(&self) -> PyResult<String> {
        Ok(self.handle.local_address().map_err(to_py)?.to_string())
    }

    /// G, the distributed server's address.
    #[getter]
    fn global_address(&self) -> PyResult<String> {
        Ok(self.handle.global_address().map_err(to_py)?.to_string())
    }

    /// The configuration's service port (`get_server_socket()`'s default).
    #[getter]
    fn service_port(&self) -> PyResult<u16> {
        self.handle.service_port().map_err(to_py)
    }

    /// True once `close()` ran.
    #[getter]
    fn closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// The policy set last (None: the core's default, random).
    #[getter]
    fn policy(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.policy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|p| p.clone_ref(py))
    }

    /// The policy that places new connections and chooses handoff targets:
    /// a `GeckoPolicy` (a subclass, or a shipped one), or any object with
    /// a `select_target(client)` method.
    fn set_policy(&self, policy: &Bound<'_, PyAny>) -> PyResult<()> {
        let core = to_core(policy)?;
        self.handle.set_policy(core).map_err(to_py)?;
        *self.policy.lock().unwrap_or_else(PoisonError::into_inner) = Some(policy.clone().unbind());
        Ok(())
    }

    /// Whether handoffs run return routability before freezing the
    /// connection (shorter stalls).
    fn set_split_handoff(&self, split: bool) -> PyResult<()> {
        self.handle.set_split_handoff(split).map_err(to_py)
    }

    /// The connections this node serves on `port` (the configuration's
    /// service port if None).
    #[pyo3(signature = (port = None))]
    fn get_server_socket(&self, py: Python<'_>, port: Option<u16>) -> PyResult<PyServerSocket> {
        let server = py
            .detach(|| self.handle.server_socket(port))
            .map_err(to_py)?;
        Ok(PyServerSocket::new(server))
    }

    /// This node takes part in serving again (after
    /// `leave_replica_network`).
    fn join_replica_network(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.handle.join_replica_network())
            .map_err(to_py)
    }

    /// This node leaves the membership: no new connections are handed
    /// here, and those it serves stay without a backup.
    fn leave_replica_network(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.handle.leave_replica_network())
            .map_err(to_py)
    }

    /// Stops the node: its server sockets close; connections already
    /// accepted stay open (the node's runtime stops when the last closes).
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.handle.close());
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (_exc_type = None, _exc = None, _tb = None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyType>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        match (self.handle.local_address(), self.handle.global_address()) {
            (Ok(local), Ok(global)) => {
                format!("<GeckoFramework local={local} global={global}>")
            }
            _ => "<GeckoFramework closed>".to_string(),
        }
    }
}

impl Drop for PyFramework {
    fn drop(&mut self) {
        // Not close(): a server socket still referenced keeps serving.
        detached(|| self.handle.release());
    }
}
