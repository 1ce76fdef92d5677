//! `gecko.GeckoServerSocket` and `gecko.GeckoSocket`: Python socket idioms
//! over the core's sockets. Every blocking call releases the GIL; waits
//! that may last (accept) wake every [`POLL`] to run Python's signal
//! handlers, so Ctrl-C interrupts them.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use gecko::framework::GeckoFramework;
use gecko::socket::{GeckoServerSocket, GeckoSocket};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTimeoutError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyType};

use crate::errors::{closed_socket, os_error, to_py};
use crate::net::{ipv6_of, py_sockaddr};

/// How often a blocking accept returns to Python to check for signals.
const POLL: Duration = Duration::from_millis(100);

/// Drops `value` with the GIL released: dropping a framework stops its
/// runtime, whose threads may be waiting for the GIL (a Python policy).
pub fn release<T: Send>(py: Python<'_>, value: T) {
    py.detach(move || drop(value));
}

/// [`release`] from a `Drop` (no `Python` token at hand).
pub fn release_detached<T: Send>(value: T) {
    let mut slot = Some(value);
    Python::try_attach(|py| {
        let v = slot.take();
        py.detach(move || drop(v));
    });
    drop(slot);
}

/// A server socket and the framework it needs, until closed.
pub struct ServerState {
    inner: Mutex<Option<(Arc<GeckoServerSocket>, Arc<GeckoFramework>)>>,
    port: u16,
}

impl ServerState {
    fn get(&self) -> PyResult<(Arc<GeckoServerSocket>, Arc<GeckoFramework>)> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(closed_socket)
    }

    /// Stops listening on the port (an accept waiting elsewhere ends with
    /// `OSError(EBADF)` at its next wake-up).
    pub fn close(&self, py: Python<'_>) {
        let taken = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        release(py, taken);
    }
}

impl Drop for ServerState {
    fn drop(&mut self) {
        let taken = self
            .inner
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        release_detached(taken);
    }
}

/// Seconds as a timeout: None (block), 0 (non-blocking) or more.
fn timeout_of(value: Option<f64>) -> PyResult<Option<f64>> {
    match value {
        Some(t) if !(t.is_finite() && t >= 0.0) => {
            Err(PyValueError::new_err("Timeout value out of range"))
        }
        t => Ok(t),
    }
}

/// `GeckoServerSocket`: the connections this node serves on one port,
/// accepted here or handed in by another node.
#[pyclass(name = "GeckoServerSocket", module = "gecko._gecko", frozen)]
pub struct PyServerSocket {
    state: Arc<ServerState>,
    timeout: Mutex<Option<f64>>,
}

impl PyServerSocket {
    pub fn new(
        server: GeckoServerSocket,
        fw: Arc<GeckoFramework>,
    ) -> (PyServerSocket, Arc<ServerState>) {
        let state = Arc::new(ServerState {
            port: server.port(),
            inner: Mutex::new(Some((Arc::new(server), fw))),
        });
        (
            PyServerSocket {
                state: state.clone(),
                timeout: Mutex::new(None),
            },
            state,
        )
    }
}

#[pymethods]
impl PyServerSocket {
    /// The next connection this node serves. Blocks (GIL released;
    /// Ctrl-C interrupts) up to `timeout` seconds (default: the socket's
    /// `settimeout`, else for ever), then raises `TimeoutError`.
    #[pyo3(signature = (timeout = None))]
    fn accept(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<PySocket> {
        let timeout = match timeout_of(timeout)? {
            Some(t) => Some(t),
            None => *self.timeout.lock().unwrap_or_else(PoisonError::into_inner),
        };
        let deadline = timeout.map(|t| Instant::now() + Duration::from_secs_f64(t));
        loop {
            // Taken anew each round: a close() from another thread ends the wait.
            let (server, fw) = self.state.get()?;
            let slice = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(POLL),
                None => POLL,
            };
            let got = py.detach(|| server.accept_timeout(slice));
            release(py, server);
            match got {
                Ok(Some(socket)) => return Ok(PySocket::new(socket, fw)),
                Ok(None) => {
                    release(py, fw);
                    py.check_signals()?;
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(PyTimeoutError::new_err("timed out"));
                    }
                }
                Err(e) => {
                    release(py, fw);
                    return Err(to_py(e));
                }
            }
        }
    }

    /// `await server.accept_async()`: the asyncio form of `accept`
    /// (cancellable; a connection is never lost to a cancelled wait).
    async fn accept_async(&self) -> PyResult<PySocket> {
        let (server, fw) = self.state.get()?;
        let socket = server.accept_async().await.map_err(to_py)?;
        Ok(PySocket::new(socket, fw))
    }

    /// The default timeout of `accept` in seconds (None: block).
    fn settimeout(&self, value: Option<f64>) -> PyResult<()> {
        *self.timeout.lock().unwrap_or_else(PoisonError::into_inner) = timeout_of(value)?;
        Ok(())
    }

    /// The default timeout of `accept`.
    fn gettimeout(&self) -> Option<f64> {
        *self.timeout.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The port served at G.
    #[getter]
    fn port(&self) -> u16 {
        self.state.port
    }

    /// True once closed (by `close()` or the framework's).
    #[getter]
    fn closed(&self) -> bool {
        self.state
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    /// Stops serving the port on this node.
    fn close(&self, py: Python<'_>) {
        self.state.close(py);
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
            self.state.port,
            if self.closed() { " closed" } else { "" }
        )
    }
}

/// A connection and the framework it needs, until closed.
#[derive(Clone)]
struct Conn {
    socket: Arc<GeckoSocket>,
    _fw: Arc<GeckoFramework>,
}

/// `GeckoSocket`: one client connection served by this node, with
/// Python's socket methods plus `handoff`, `position` and `recovered`.
#[pyclass(name = "GeckoSocket", module = "gecko._gecko", frozen)]
pub struct PySocket {
    conn: Mutex<Option<Conn>>,
    /// None: blocking; 0: non-blocking; else seconds.
    timeout: Mutex<Option<f64>>,
    handed_in: bool,
    recovered: Option<(u64, u64)>,
}

impl PySocket {
    fn new(socket: GeckoSocket, fw: Arc<GeckoFramework>) -> PySocket {
        PySocket {
            handed_in: socket.handed_in(),
            recovered: socket.recovered().map(|o| (o.sent, o.received)),
            conn: Mutex::new(Some(Conn {
                socket: Arc::new(socket),
                _fw: fw,
            })),
            timeout: Mutex::new(None),
        }
    }

    fn conn(&self) -> PyResult<Conn> {
        self.conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(closed_socket)
    }

    fn timed(&self) -> bool {
        matches!(
            *self.timeout.lock().unwrap_or_else(PoisonError::into_inner),
            Some(t) if t > 0.0
        )
    }

    /// Runs `op` without the GIL, again after a signal interrupted it
    /// (Python's handlers run first: Ctrl-C raises).
    fn io<T: Send>(
        &self,
        py: Python<'_>,
        conn: &Conn,
        mut op: impl FnMut(&GeckoSocket) -> io::Result<T> + Send,
    ) -> PyResult<T> {
        loop {
            match py.detach(|| op(&conn.socket)) {
                Ok(v) => return Ok(v),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => py.check_signals()?,
                Err(e) => return Err(os_error(&e, None, self.timed())),
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
        let conn = self.conn()?;
        let mut buf = vec![0u8; bufsize];
        let n = self.io(py, &conn, |mut s| s.read(&mut buf))?;
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
        let conn = self.conn()?;
        let whole = bytes_of(&buffer)?;
        let n = if nbytes == 0 {
            whole.len()
        } else {
            nbytes.min(whole.len())
        };
        let (ptr, len) = (whole.as_ptr() as usize, n);
        self.io(py, &conn, move |mut s| {
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
        let conn = self.conn()?;
        let bytes = bytes_of(&data)?;
        self.io(py, &conn, |mut s| s.write(bytes))
    }

    /// Writes all of `data`.
    #[pyo3(signature = (data, flags = 0))]
    fn sendall(&self, py: Python<'_>, data: PyBuffer<u8>, flags: i32) -> PyResult<()> {
        no_flags(flags)?;
        let conn = self.conn()?;
        let mut rest = bytes_of(&data)?;
        while !rest.is_empty() {
            let n = self.io(py, &conn, |mut s| s.write(rest))?;
            if n == 0 {
                return Err(os_error(&io::ErrorKind::WriteZero.into(), None, false));
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
        let conn = self.conn()?;
        let target = target.map(ipv6_of).transpose()?;
        py.detach(|| match target {
            Some(t) => conn.socket.handoff_to(t, nonblocking),
            None => conn.socket.handoff(nonblocking),
        })
        .map_err(to_py)
    }

    /// `(sent, received)`: bytes written into and read from the
    /// connection since it opened, on whichever nodes served it.
    #[getter]
    fn position(&self, py: Python<'_>) -> PyResult<(u64, u64)> {
        let conn = self.conn()?;
        let p = py.detach(|| conn.socket.position()).map_err(to_py)?;
        Ok((p.sent, p.received))
    }

    /// None, or `(sent, received)` for a connection recovered after its
    /// node crashed: resume the stream there (or `reset()`).
    #[getter]
    fn recovered(&self) -> Option<(u64, u64)> {
        self.recovered
    }

    /// True when the connection came from another node by a handoff.
    #[getter]
    fn handed_in(&self) -> bool {
        self.handed_in
    }

    /// True once the connection is served by another node.
    #[getter]
    fn moved(&self) -> PyResult<bool> {
        Ok(self.conn()?.socket.is_moved())
    }

    /// True once closed.
    #[getter]
    fn closed(&self) -> bool {
        self.conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    /// The client's `(host, port, flowinfo, scope_id)`.
    fn getpeername(&self) -> PyResult<(String, u16, u32, u32)> {
        let conn = self.conn()?;
        let a = conn
            .socket
            .peer_addr()
            .map_err(|e| os_error(&e, None, false))?;
        Ok(py_sockaddr(a))
    }

    /// G and the port: `(host, port, flowinfo, scope_id)`.
    fn getsockname(&self) -> PyResult<(String, u16, u32, u32)> {
        let conn = self.conn()?;
        let a = conn
            .socket
            .local_addr()
            .map_err(|e| os_error(&e, None, false))?;
        Ok(py_sockaddr(a))
    }

    /// The descriptor (-1 once closed), for `select`/`selectors`/asyncio's
    /// `add_reader`. Read and write through this object, not the
    /// descriptor: a handoff replaces what it refers to.
    fn fileno(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map_or(-1, |c| c.socket.as_raw_fd())
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
        let value = timeout_of(value)?;
        let conn = self.conn()?;
        let s = &conn.socket;
        let os = |e: io::Error| os_error(&e, None, false);
        let per_call = value.filter(|t| *t > 0.0).map(Duration::from_secs_f64);
        s.set_nonblocking(value == Some(0.0)).map_err(os)?;
        s.set_read_timeout(per_call).map_err(os)?;
        socket2::SockRef::from(&**s)
            .set_write_timeout(per_call)
            .map_err(os)?;
        *self.timeout.lock().unwrap_or_else(PoisonError::into_inner) = value;
        Ok(())
    }

    /// The timeout `settimeout` set.
    fn gettimeout(&self) -> Option<f64> {
        *self.timeout.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the connection (a FIN to the client, unless it was handed
    /// off). Calling it again does nothing.
    fn close(&self, py: Python<'_>) {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        release(py, conn);
    }

    /// Closes the connection with a reset (for a recovered connection the
    /// application cannot resume).
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        self.conn()?.socket.arm_reset();
        self.close(py);
        Ok(())
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
        match self.conn() {
            Ok(c) => format!(
                "<GeckoSocket peer={:?} moved={}>",
                c.socket.peer_addr().ok(),
                c.socket.is_moved()
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
        let conn = self
            .conn
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        release_detached(conn);
    }
}
