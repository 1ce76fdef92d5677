//! `gecko.GeckoPolicy` and the shipped policies (the bridge's
//! [`ShippedPolicy`]), and how the core asks a policy written in Python:
//! one Rust struct that holds the Python object and implements the
//! bridge's [`ForeignPolicy`], whose adapter turns an exception into "keep
//! it here" and a log line.

use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::Duration;

use gecko_bridge::foreign_policy::{self, ForeignPolicy, PolicyFailure};
use gecko_bridge::{ClientInfo as CoreClient, GeckoPolicy as CorePolicy, NodeView, ShippedPolicy};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple, PyType};
use pyo3::{intern, PyTypeInfo};

use crate::errors::to_py;
use crate::net::ipv6_of;

/// One node as a policy sees it (read-only).
#[pyclass(name = "NodeInfo", module = "gecko._gecko", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct NodeInfo {
    address: Ipv6Addr,
    connections: u32,
    rtt: Option<Duration>,
    available: bool,
}

#[pymethods]
impl NodeInfo {
    /// Made by the framework; constructible for testing policies.
    #[new]
    #[pyo3(signature = (address, connections = 0, rtt = None, available = true))]
    fn new(
        address: &Bound<'_, PyAny>,
        connections: u32,
        rtt: Option<f64>,
        available: bool,
    ) -> PyResult<Self> {
        let rtt = match rtt {
            Some(s) if !(s.is_finite() && s >= 0.0) => {
                return Err(PyValueError::new_err("rtt must be seconds >= 0 or None"))
            }
            Some(s) => Some(Duration::from_secs_f64(s)),
            None => None,
        };
        Ok(NodeInfo {
            address: ipv6_of(address)?,
            connections,
            rtt,
            available,
        })
    }

    /// The node's own address (what `select_target` returns to pick it).
    #[getter]
    fn address(&self) -> String {
        self.address.to_string()
    }

    /// Connections the node serves now.
    #[getter]
    fn connections(&self) -> u32 {
        self.connections
    }

    /// The node's measured round-trip time to the client in seconds, or None.
    #[getter]
    fn rtt(&self) -> Option<f64> {
        self.rtt.map(|d| d.as_secs_f64())
    }

    /// False for a node that did not report lately or just failed a handoff.
    #[getter]
    fn available(&self) -> bool {
        self.available
    }

    fn __repr__(&self) -> String {
        format!(
            "NodeInfo(address='{}', connections={}, rtt={}, available={})",
            self.address,
            self.connections,
            self.rtt
                .map_or("None".to_string(), |d| format!("{}", d.as_secs_f64())),
            if self.available { "True" } else { "False" }
        )
    }
}

impl From<&NodeView> for NodeInfo {
    fn from(n: &NodeView) -> Self {
        NodeInfo {
            address: n.address,
            connections: n.connections,
            rtt: n.rtt,
            available: n.available,
        }
    }
}

impl From<&NodeInfo> for NodeView {
    fn from(n: &NodeInfo) -> Self {
        NodeView {
            address: n.address,
            connections: n.connections,
            rtt: n.rtt,
            available: n.available,
        }
    }
}

/// What a policy is asked about: one client connection (read-only).
#[pyclass(name = "ClientInfo", module = "gecko._gecko", frozen)]
pub struct ClientInfo {
    inner: CoreClient,
    nodes: Py<PyTuple>,
}

impl ClientInfo {
    fn from_core(py: Python<'_>, inner: &CoreClient) -> PyResult<ClientInfo> {
        let nodes = inner
            .nodes
            .iter()
            .map(|n| Py::new(py, NodeInfo::from(n)))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(ClientInfo {
            inner: inner.clone(),
            nodes: PyTuple::new(py, nodes)?.unbind(),
        })
    }
}

#[pymethods]
impl ClientInfo {
    /// Made by the framework; constructible for testing policies.
    #[new]
    fn new(
        py: Python<'_>,
        address: &Bound<'_, PyAny>,
        port: u16,
        local: &Bound<'_, PyAny>,
        nodes: Vec<PyRef<'_, NodeInfo>>,
    ) -> PyResult<Self> {
        let inner = CoreClient {
            address: ipv6_of(address)?,
            port,
            local: ipv6_of(local)?,
            nodes: nodes.iter().map(|n| NodeView::from(&**n)).collect(),
        };
        ClientInfo::from_core(py, &inner)
    }

    /// The client's address.
    #[getter]
    fn address(&self) -> String {
        self.inner.address.to_string()
    }

    /// The client's port.
    #[getter]
    fn port(&self) -> u16 {
        self.inner.port
    }

    /// The node asking (the one serving the connection now).
    #[getter]
    fn local(&self) -> String {
        self.inner.local.to_string()
    }

    /// Every node of the distributed server, this one included.
    #[getter]
    fn nodes(&self, py: Python<'_>) -> Py<PyTuple> {
        self.nodes.clone_ref(py)
    }

    /// The nodes a shipped policy may choose from.
    fn available<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, NodeInfo>>> {
        let mut out = Vec::new();
        for n in self.nodes.bind(py).iter() {
            let n = n.cast_into::<NodeInfo>()?;
            if n.get().available {
                out.push(n);
            }
        }
        Ok(out)
    }

    fn __repr__(&self) -> String {
        format!(
            "ClientInfo(address='{}', port={}, local='{}', nodes=<{} nodes>)",
            self.inner.address,
            self.inner.port,
            self.inner.local,
            self.inner.nodes.len()
        )
    }
}

/// `gecko.GeckoPolicy`: subclass it and override `select_target(self,
/// client) -> str | None` (and optionally `notify_failed_handoff(self,
/// target)`). The shipped policies are subclasses whose decisions run in
/// Rust.
#[pyclass(name = "GeckoPolicy", module = "gecko._gecko", subclass, frozen)]
pub struct PyGeckoPolicy {
    /// A shipped policy's Rust implementation; None for the bare base.
    shipped: Option<Arc<dyn CorePolicy>>,
}

#[pymethods]
impl PyGeckoPolicy {
    /// Takes any arguments, so a subclass's `__init__` may have its own.
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, pyo3::types::PyDict>>) -> Self {
        PyGeckoPolicy { shipped: None }
    }

    /// The node that should serve `client`'s connection (one of
    /// `client.nodes`' addresses), or None to keep it on this node.
    fn select_target(&self, py: Python<'_>, client: &ClientInfo) -> Option<String> {
        let shipped = self.shipped.clone()?;
        py.detach(|| shipped.select_target(&client.inner))
            .map(|a| a.to_string())
    }

    /// A handoff toward `target` failed; the connection stayed where it was.
    fn notify_failed_handoff(&self, py: Python<'_>, target: &Bound<'_, PyAny>) -> PyResult<()> {
        let target = ipv6_of(target)?;
        if let Some(shipped) = self.shipped.clone() {
            py.detach(|| shipped.notify_failed_handoff(target));
        }
        Ok(())
    }
}

macro_rules! shipped_policy {
    ($rust:ident, $py:literal, $doc:literal, $which:expr) => {
        #[doc = $doc]
        #[pyclass(name = $py, module = "gecko._gecko", extends = PyGeckoPolicy, subclass, frozen)]
        pub struct $rust;

        #[pymethods]
        impl $rust {
            #[new]
            #[pyo3(signature = (*_args, **_kwargs))]
            fn new(
                _args: &Bound<'_, PyTuple>,
                _kwargs: Option<&Bound<'_, pyo3::types::PyDict>>,
            ) -> PyClassInitializer<Self> {
                PyClassInitializer::from(PyGeckoPolicy {
                    shipped: Some($which.build()),
                })
                .add_subclass($rust)
            }
        }
    };
}

shipped_policy!(
    RandomPolicy,
    "RandomPolicy",
    "The seed's policy: any available node, uniformly at random.",
    ShippedPolicy::Random
);
shipped_policy!(
    RoundRobinPolicy,
    "RoundRobinPolicy",
    "Available nodes in turn.",
    ShippedPolicy::RoundRobin
);
shipped_policy!(
    LeastConnectionsPolicy,
    "LeastConnectionsPolicy",
    "The available node serving the fewest connections.",
    ShippedPolicy::LeastConnections
);
shipped_policy!(
    ProximityPolicy,
    "ProximityPolicy",
    "The available node with the lowest measured round-trip time to the client.",
    ShippedPolicy::Proximity
);

/// The Python class of each shipped policy.
fn class_of(py: Python<'_>, policy: ShippedPolicy) -> Bound<'_, PyType> {
    match policy {
        ShippedPolicy::Random => RandomPolicy::type_object(py),
        ShippedPolicy::RoundRobin => RoundRobinPolicy::type_object(py),
        ShippedPolicy::LeastConnections => LeastConnectionsPolicy::type_object(py),
        ShippedPolicy::Proximity => ProximityPolicy::type_object(py),
    }
}

/// A shipped policy by name (`POLICY_NAMES`: random, round-robin,
/// least-connections or proximity).
#[pyfunction]
pub fn policy_by_name(py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
    let policy = gecko_bridge::policy::shipped(name).map_err(to_py)?;
    Ok(class_of(py, policy).call0()?.unbind())
}

/// The core's view of a Python policy object: a shipped policy whose
/// methods are not overridden runs in Rust without the GIL; anything else
/// is called through [`PythonPolicy`] and the bridge's adapter.
pub fn to_core(policy: &Bound<'_, PyAny>) -> PyResult<Arc<dyn CorePolicy>> {
    let py = policy.py();
    if let Ok(p) = policy.cast::<PyGeckoPolicy>() {
        if let Some(shipped) = &p.get().shipped {
            let ty = policy.get_type();
            let base = PyGeckoPolicy::type_object(py);
            let same = |m: &Bound<'_, PyString>| -> PyResult<bool> {
                Ok(ty.getattr(m)?.is(&base.getattr(m)?))
            };
            if same(intern!(py, "select_target"))? && same(intern!(py, "notify_failed_handoff"))? {
                return Ok(shipped.clone());
            }
        }
    }
    let callable =
        |m: &Bound<'_, PyString>| policy.getattr(m).map(|a| a.is_callable()).unwrap_or(false);
    if !callable(intern!(py, "select_target")) {
        return Err(PyTypeError::new_err(format!(
            "a policy needs a select_target(client) method: got {}",
            policy.get_type().name()?
        )));
    }
    let name = policy.get_type().name()?.to_string();
    let notify = callable(intern!(py, "notify_failed_handoff"));
    Ok(foreign_policy::adapt(PythonPolicy {
        object: policy.clone().unbind(),
        name,
        notify,
    }))
}

/// A policy written in Python, called by the core from its own threads:
/// each call takes the GIL; an exception becomes a [`PolicyFailure`] with
/// its traceback, which the bridge logs and counts as "keep it here".
pub struct PythonPolicy {
    object: Py<PyAny>,
    name: String,
    notify: bool,
}

impl ForeignPolicy for PythonPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn select_target(&self, client: &CoreClient) -> Result<Option<Ipv6Addr>, PolicyFailure> {
        // None while the interpreter shuts down: keep the connection here.
        Python::try_attach(|py| {
            let chosen = ClientInfo::from_core(py, client).and_then(|info| {
                self.object
                    .bind(py)
                    .call_method1(intern!(py, "select_target"), (info,))
            });
            match chosen {
                Ok(r) => {
                    target_of(&r).map_err(|e| failure(py, &e, "select_target returned no address"))
                }
                Err(e) => Err(failure(py, &e, "select_target raised")),
            }
        })
        .unwrap_or(Ok(None))
    }

    fn notify_failed_handoff(&self, target: Ipv6Addr) -> Result<(), PolicyFailure> {
        if !self.notify {
            return Ok(());
        }
        Python::try_attach(|py| {
            self.object
                .bind(py)
                .call_method1(intern!(py, "notify_failed_handoff"), (target.to_string(),))
                .map(drop)
                .map_err(|e| failure(py, &e, "notify_failed_handoff raised"))
        })
        .unwrap_or(Ok(()))
    }
}

/// What `select_target` returned: None, an address (str or
/// `ipaddress.IPv6Address`) or a `NodeInfo`.
fn target_of(r: &Bound<'_, PyAny>) -> PyResult<Option<Ipv6Addr>> {
    if r.is_none() {
        return Ok(None);
    }
    if let Ok(n) = r.cast::<NodeInfo>() {
        return Ok(Some(n.get().address));
    }
    ipv6_of(r).map(Some)
}

/// A Python exception as a policy failure, with its traceback.
fn failure(py: Python<'_>, e: &PyErr, what: &str) -> PolicyFailure {
    let text = py
        .import("traceback")
        .and_then(|tb| {
            tb.call_method1(
                "format_exception",
                (e.get_type(py), e.value(py), e.traceback(py)),
            )
        })
        .and_then(|lines| lines.extract::<Vec<String>>())
        .map(|lines| lines.concat())
        .unwrap_or_else(|_| e.to_string());
    PolicyFailure::new(what, text)
}

/// Runs `policy` as the framework would (through the bridge, on a thread
/// of its own without the GIL): for tests and the benchmark.
/// Returns (the choice of the last call, seconds per call).
#[pyfunction]
#[pyo3(signature = (policy, client, calls = 1))]
pub fn _call_policy(
    py: Python<'_>,
    policy: &Bound<'_, PyAny>,
    client: &ClientInfo,
    calls: u32,
) -> PyResult<(Option<String>, f64)> {
    let policy = to_core(policy)?;
    let info = client.inner.clone();
    let calls = calls.max(1);
    let (choice, secs) = py
        .detach(|| {
            std::thread::scope(|s| {
                s.spawn(|| {
                    let start = std::time::Instant::now();
                    let mut choice = None;
                    for _ in 0..calls {
                        choice = policy.select_target(&info);
                    }
                    (choice, start.elapsed().as_secs_f64() / f64::from(calls))
                })
                .join()
            })
        })
        .map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("the policy thread panicked"))?;
    Ok((choice.map(|a| a.to_string()), secs))
}
