//! `gecko.GeckoFramework`: this process is one node of the distributed
//! server. A context manager; its blocking calls release the GIL.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use gecko::framework::GeckoFramework;
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::errors::{to_py, ClosedError};
use crate::net::ipv6_of;
use crate::policy::to_core;
use crate::socket::{release, PyServerSocket, ServerState};

/// `GeckoFramework(local_address, config_path, interface="eth0")`.
#[pyclass(name = "GeckoFramework", module = "gecko._gecko", frozen)]
pub struct PyFramework {
    inner: Mutex<Option<Arc<GeckoFramework>>>,
    /// The server sockets it made: closed with it.
    servers: Mutex<Vec<Weak<ServerState>>>,
    policy: Mutex<Option<Py<PyAny>>>,
}

impl PyFramework {
    fn get(&self) -> PyResult<Arc<GeckoFramework>> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| ClosedError::new_err("the framework is closed"))
    }
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
        let interface = interface.to_string();
        let fw = py
            .detach(|| GeckoFramework::new(local, &config_path, &interface))
            .map_err(to_py)?;
        Ok(PyFramework {
            inner: Mutex::new(Some(Arc::new(fw))),
            servers: Mutex::new(Vec::new()),
            policy: Mutex::new(None),
        })
    }

    /// This node's address.
    #[getter]
    fn local_address(&self) -> PyResult<String> {
        Ok(self.get()?.local_address().to_string())
    }

    /// G, the distributed server's address.
    #[getter]
    fn global_address(&self) -> PyResult<String> {
        Ok(self.get()?.global_address().to_string())
    }

    /// The configuration's service port (`get_server_socket()`'s default).
    #[getter]
    fn service_port(&self) -> PyResult<u16> {
        Ok(self.get()?.config().service_port)
    }

    /// True once `close()` ran.
    #[getter]
    fn closed(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
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
        let fw = self.get()?;
        let core = to_core(policy)?;
        fw.set_policy(core);
        *self.policy.lock().unwrap_or_else(PoisonError::into_inner) = Some(policy.clone().unbind());
        Ok(())
    }

    /// Whether handoffs run return routability before freezing the
    /// connection (shorter stalls).
    fn set_split_handoff(&self, split: bool) -> PyResult<()> {
        self.get()?.set_split_handoff(split);
        Ok(())
    }

    /// The connections this node serves on `port` (the configuration's
    /// service port if None).
    #[pyo3(signature = (port = None))]
    fn get_server_socket(&self, py: Python<'_>, port: Option<u16>) -> PyResult<PyServerSocket> {
        let fw = self.get()?;
        let server = {
            let fw = fw.clone();
            py.detach(move || fw.get_server_socket(port))
                .map_err(to_py)?
        };
        let (socket, state) = PyServerSocket::new(server, fw);
        let mut servers = self.servers.lock().unwrap_or_else(PoisonError::into_inner);
        servers.retain(|w| w.strong_count() > 0);
        servers.push(Arc::downgrade(&state));
        Ok(socket)
    }

    /// This node takes part in serving again (after
    /// `leave_replica_network`).
    fn join_replica_network(&self, py: Python<'_>) -> PyResult<()> {
        let fw = self.get()?;
        py.detach(move || fw.join_replica_network()).map_err(to_py)
    }

    /// This node leaves the membership: no new connections are handed
    /// here, and those it serves stay without a backup.
    fn leave_replica_network(&self, py: Python<'_>) -> PyResult<()> {
        let fw = self.get()?;
        py.detach(move || fw.leave_replica_network()).map_err(to_py)
    }

    /// Stops the node: its server sockets close; connections already
    /// accepted stay open (the node's runtime stops when the last closes).
    fn close(&self, py: Python<'_>) {
        let servers: Vec<_> =
            std::mem::take(&mut *self.servers.lock().unwrap_or_else(PoisonError::into_inner));
        for s in servers.iter().filter_map(Weak::upgrade) {
            s.close(py);
        }
        let fw = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        release(py, fw);
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
        match self.get() {
            Ok(fw) => format!(
                "<GeckoFramework local={} global={}>",
                fw.local_address(),
                fw.global_address()
            ),
            Err(_) => "<GeckoFramework closed>".to_string(),
        }
    }
}

impl Drop for PyFramework {
    fn drop(&mut self) {
        let fw = self
            .inner
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        crate::socket::release_detached(fw);
    }
}
