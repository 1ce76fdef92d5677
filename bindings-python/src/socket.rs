//! `gecko.GeckoServerSocket` and `gecko.GeckoSocket`: Python socket idioms
//! over the bridge's handles. Every blocking call releases the GIL; waits
//! that may last (accept) wake every `gecko_bridge::handle::ACCEPT_SLICE`
//! to run Python's signal handlers, so Ctrl-C interrupts them.

use gecko_bridge::{BridgeError, ErrorKind, ServerSocketHandle, SocketHandle, Timeout, WaitError};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyType};

use crate::errors::to_py;
use crate::net::{ipv6_of, py_sockaddr};

/// Runs `f` with the GIL released, from a `Drop` (no `Python` token at
/// hand): closing a handle may stop a framework's runtime, whose threads
/// may be waiting for the GIL (a Python policy).
pub fn detached(f: impl FnOnce() + Send) {
    let mut f = Some(f);
    Python::try_attach(|py| {
        let f = f.take();
        py.detach(move || f.map(|f| f()));
    });
    // The interpreter is gone: no GIL to release.
    if let Some(f) = f {
        f();
    }
}

/// Seconds as a timeout: None (block), 0 (non-blocking) or more.
fn timeout_of(value: Option<f64>) -> PyResult<Timeout> {
    Timeout::from_secs(value).map_err(to_py)
}

/// `GeckoServerSocket`: the connections this node serves on one port,
/// accepted here or handed in by another node.
#[pyclass(name = "GeckoServerSocket", module = "gecko._gecko", frozen)]
pub struct PyServerSocket {
    handle: ServerSocketHandle,
}

impl PyServerSocket {
    pub fn new(handle: ServerSocketHandle) -> PyServerSocket {
        PyServerSocket { handle }
    }
}

#[pymethods]
impl PyServerSocket {
    /// The next connection this node serves. Blocks (GIL released;
    /// Ctrl-C interrupts) up to `timeout` seconds (default: the socket's
    /// `settimeout`, else for ever), then raises `TimeoutError`.
    #[pyo3(signature = (timeout = None))]
    fn accept(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<PySocket> {
        let timeout = timeout.map(|t| timeout_of(Some(t))).transpose()?;
        // Between slices, Python's signal handlers run (Ctrl-C raises).
        let signals = || Python::attach(|py| py.check_signals());
        match py.detach(|| self.handle.accept(timeout, signals)) {
            Ok(socket) => Ok(PySocket::new(socket)),
            Err(WaitError::Failed(e)) => Err(to_py(e)),
            Err(WaitError::Stopped(e)) => Err(e),
        }
    }

    /// `await server.accept_async()`: the asyncio form of `accept`
    /// (cancellable; a connection is never lost to a cancelled wait).
    async fn accept_async(&self) -> PyResult<PySocket> {
        let socket = self.handle.accept_async().await.map_err(to_py)?;
        Ok(PySocket::new(socket))
    }

    /// The default timeout of `accept` in seconds (None: block).
    fn settimeout(&self, value: Option<f64>) -> PyResult<()> {
        self.handle.set_timeout(timeout_of(value)?);
        Ok(())
    }

    /// The default timeout of `accept`.
    fn gettimeout(&self) -> Option<f64> {
        self.handle.timeout().as_secs()
    }

    /// The port served at G.
    #[getter]
    fn port(&self) -> u16 {
        self.handle.port()
    }

    /// True once closed (by `close()` or the framework's).
    #[getter]
    fn closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// Stops serving the port on this node.
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
        format!(
            "<GeckoServerSocket port={}{}>",
            self.handle.port(),
            if self.closed() { " closed" } else { "" }
        )
    }
}

impl Drop for PyServerSocket {
    fn drop(&mut self) {
        detached(|| self.handle.close());
    }
}

/// `GeckoSocket`: one client connection served by this node, with
/// Python's socket methods plus `handoff`, `position` and `recovered`.
#[pyclass(name = "GeckoSocket", module = "gecko._gecko", frozen)]
pub struct PySocket {
    handle: SocketHandle,
}

impl PySocket {
    fn new(handle: SocketHandle) -> PySocket {
        PySocket { handle }
    }

    /// `OSError(EBADF)` once closed: checked before a call's own argument
    /// checks, as Python's sockets do.
    fn open(&self) -> PyResult<()> {
        if self.handle.is_closed() {
            return Err(to_py(BridgeError::closed_socket()));
        }
        Ok(())
    }

    /// Runs `op` without the GIL, again after a signal interrupted it
    /// (Python's handlers run first: Ctrl-C raises).
    fn io<T: Send>(
        &self,
        py: Python<'_>,
        mut op: impl FnMut(&SocketHandle) -> Result<T, BridgeError> + Send,
    ) -> PyResult<T> {
        loop {
            match py.detach(|| op(&self.handle)) {
                Ok(v) => return Ok(v),
                Err(e) if e.kind() == ErrorKind::Interrupted => py.check_signals()?,
                Err(e) => return Err(to_py(e)),
            }
        }
    }
}

/// A contiguous bytes-like object's memory.
fn bytes_of(buf: &PyBuffer<u8>) -> PyResult<&[u8]> {
    let ptr = buf
        .as_slice_ptr()
        .ok_or_else(|| PyTypeError::new_err("a contiguous bytes-like object is required"))?;
    // SAFETY: the buffer stays exported (its object cannot resize) while
    // `buf` lives; u8 has no invalid values.
    Ok(unsafe { &*ptr.as_ptr() })
}

fn no_flags(flags: i32) -> PyResult<()> {
    if flags != 0 {
        return Err(PyValueError::new_err("GeckoSocket takes no flags"));
    }
    Ok(())
}

#[pymethods]
impl PySocket {
    /// Up to `bufsize` bytes; b"" once the client closed.
    #[pyo3(signature = (bufsize, flags = 0))]
    fn recv<'py>(
        &self,
        py: Python<'py>,
        bufsize: usize,
        flags: i32,
    ) -> PyResult<Bound<'py, PyBytes>> {
        no_flags(flags)?;
        self.open()?;
        let mut buf = vec![0u8; bufsize];
        let n = self.io(py, |s| s.read(&mut buf))?;
        Ok(PyBytes::new(py, &buf[..n]))
    }

    /// Reads into a writable bytes-like object; returns the count.
    #[pyo3(signature = (buffer, nbytes = 0, flags = 0))]
    fn recv_into(
        &self,
        py: Python<'_>,
        buffer: PyBuffer<u8>,
        nbytes: usize,
        flags: i32,
    ) -> PyResult<usize> {
        no_flags(flags)?;
        if buffer.readonly() {
            return Err(PyTypeError::new_err("recv_into needs a writable buffer"));
        }
        self.open()?;
        let whole = bytes_of(&buffer)?;
        let n = if nbytes == 0 {
            whole.len()
        } else {
            nbytes.min(whole.len())
        };
        let (ptr, len) = (whole.as_ptr() as usize, n);
        self.io(py, move |s| {
            // SAFETY: writable, exported for the whole call (see bytes_of).
            let out = unsafe { std::slice::from_raw_parts_mut(ptr as *mut u8, len) };
            s.read(out)
        })
    }

    /// `read(n)`: the seed's name for `recv`.
    #[pyo3(signature = (bufsize = 65536))]
    fn read<'py>(&self, py: Python<'py>, bufsize: usize) -> PyResult<Bound<'py, PyBytes>> {
        self.recv(py, bufsize, 0)
    }

    /// Writes some of `data`; returns how much.
    #[pyo3(signature = (data, flags = 0))]
    fn send(&self, py: Python<'_>, data: PyBuffer<u8>, flags: i32) -> PyResult<usize> {
        no_flags(flags)?;
        self.open()?;
        let bytes = bytes_of(&data)?;
        self.io(py, |s| s.write(bytes))
    }

    /// Writes all of `data`.
    #[pyo3(signature = (data, flags = 0))]
    fn sendall(&self, py: Python<'_>, data: PyBuffer<u8>, flags: i32) -> PyResult<()> {
        no_flags(flags)?;
        self.open()?;
        let mut rest = bytes_of(&data)?;
        while !rest.is_empty() {
            let n = self.io(py, |s| s.write(rest))?;
            if n == 0 {
                let zero = std::io::Error::from(std::io::ErrorKind::WriteZero);
                return Err(to_py(zero.into()));
            }
            rest = &rest[n..];
        }
        Ok(())
    }

    /// `write(data)`: the seed's name for `sendall`; returns `len(data)`.
    fn write(&self, py: Python<'_>, data: PyBuffer<u8>) -> PyResult<usize> {
        let n = data.len_bytes();
        self.sendall(py, data, 0)?;
        Ok(n)
    }

    /// Hands the connection to `target` (a node's address) or to the
    /// policy's choice. Blocking: True once served there (this socket is
    /// then done: reads and writes raise), False when it stays here (the
    /// policy kept it, or every attempt failed). `nonblocking=True`
    /// returns True at once and runs the handoff in the background.
    /// Raises `HandoffError` when a handoff to `target` fails.
    #[pyo3(signature = (target = None, nonblocking = false))]
    fn handoff(
        &self,
        py: Python<'_>,
        target: Option<&Bound<'_, PyAny>>,
        nonblocking: bool,
    ) -> PyResult<bool> {
        self.open()?;
        let target = target.map(ipv6_of).transpose()?;
        py.detach(|| self.handle.handoff(target, nonblocking))
            .map_err(to_py)
    }

    /// `(sent, received)`: bytes written into and read from the
    /// connection since it opened, on whichever nodes served it.
    #[getter]
    fn position(&self, py: Python<'_>) -> PyResult<(u64, u64)> {
        let p = py.detach(|| self.handle.position()).map_err(to_py)?;
        Ok((p.sent, p.received))
    }

    /// None, or `(sent, received)` for a connection recovered after its
    /// node crashed: resume the stream there (or `reset()`).
    #[getter]
    fn recovered(&self) -> Option<(u64, u64)> {
        self.handle.recovered().map(|o| (o.sent, o.received))
    }

    /// True when the connection came from another node by a handoff.
    #[getter]
    fn handed_in(&self) -> bool {
        self.handle.handed_in()
    }

    /// True once the connection is served by another node.
    #[getter]
    fn moved(&self) -> PyResult<bool> {
        self.handle.is_moved().map_err(to_py)
    }

    /// True once closed.
    #[getter]
    fn closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// The client's `(host, port, flowinfo, scope_id)`.
    fn getpeername(&self) -> PyResult<(String, u16, u32, u32)> {
        Ok(py_sockaddr(self.handle.peer_addr().map_err(to_py)?))
    }

    /// G and the port: `(host, port, flowinfo, scope_id)`.
    fn getsockname(&self) -> PyResult<(String, u16, u32, u32)> {
        Ok(py_sockaddr(self.handle.local_addr().map_err(to_py)?))
    }

    /// The descriptor (-1 once closed), for `select`/`selectors`/asyncio's
    /// `add_reader`. Read and write through this object, not the
    /// descriptor: a handoff replaces what it refers to.
    fn fileno(&self) -> i32 {
        self.handle.raw_fd().unwrap_or(-1)
    }

    /// Blocking (True, the default) or non-blocking reads and writes
    /// (`BlockingIOError` when they would wait, also while a non-blocking
    /// handoff runs).
    fn setblocking(&self, flag: bool) -> PyResult<()> {
        self.settimeout(if flag { None } else { Some(0.0) })
    }

    /// None: blocking; 0: non-blocking; else reads and writes raise
    /// `TimeoutError` after that many seconds.
    fn settimeout(&self, value: Option<f64>) -> PyResult<()> {
        let timeout = timeout_of(value)?;
        self.handle.set_timeout(timeout).map_err(to_py)
    }

    /// The timeout `settimeout` set.
    fn gettimeout(&self) -> Option<f64> {
        self.handle.timeout().as_secs()
    }

    /// Closes the connection (a FIN to the client, unless it was handed
    /// off). Calling it again does nothing.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.handle.close());
    }

    /// Closes the connection with a reset (for a recovered connection the
    /// application cannot resume).
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.handle.reset()).map_err(to_py)
    }

    /// `await sock.recv_async(n)` (asyncio; makes the socket non-blocking).
    fn recv_async<'py>(slf: &Bound<'py, Self>, bufsize: usize) -> PyResult<Bound<'py, PyAny>> {
        aio(slf, "recv", (slf, bufsize))
    }

    /// `await sock.sendall_async(data)` (asyncio; makes the socket non-blocking).
    fn sendall_async<'py>(
        slf: &Bound<'py, Self>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        aio(slf, "sendall", (slf, data))
    }

    /// `await sock.send_async(data)`: alias of `sendall_async`.
    fn send_async<'py>(
        slf: &Bound<'py, Self>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        aio(slf, "sendall", (slf, data))
    }

    /// `await sock.handoff_async(target=None)`: a blocking handoff on the
    /// loop's default executor.
    #[pyo3(signature = (target = None))]
    fn handoff_async<'py>(
        slf: &Bound<'py, Self>,
        target: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        aio(slf, "handoff", (slf, target))
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
        match self.handle.is_moved() {
            Ok(moved) => format!(
                "<GeckoSocket peer={:?} moved={moved}>",
                self.handle.peer_addr().ok(),
            ),
            Err(_) => "<GeckoSocket closed>".to_string(),
        }
    }
}

/// Calls `gecko._aio.<name>(*args)`: the asyncio helpers are Python.
fn aio<'py>(
    slf: &Bound<'py, PySocket>,
    name: &str,
    args: impl pyo3::call::PyCallArgs<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    slf.py().import("gecko._aio")?.call_method1(name, args)
}

impl Drop for PySocket {
    fn drop(&mut self) {
        // Closing waits for a handoff in flight, which may ask a Python
        // policy: never with the GIL held.
        detached(|| self.handle.close());
    }
}
