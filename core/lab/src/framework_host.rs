//! A server node of a lab running the high-level API in-process: a
//! [`GeckoFramework`] created inside the node's namespace, a thread that
//! accepts, and one thread per connection running a handler. How the
//! tests, the demo and the benchmarks run servers without a process each.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use super::Lab;
use gecko::framework::{GeckoError, GeckoFramework};
use gecko::socket::GeckoSocket;

/// What a node does with each connection it serves.
pub type Handler = Arc<dyn Fn(GeckoSocket) + Send + Sync>;

/// A node serving through the framework. Dropping it stops accepting and
/// stops the framework.
pub struct FrameworkHost {
    name: String,
    framework: Arc<GeckoFramework>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Drop for FrameworkHost {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

impl FrameworkHost {
    /// Starts node `name` of `lab` serving `port` (the service port if
    /// `None`) with `handler`.
    pub fn start(
        lab: &Lab,
        name: &str,
        port: Option<u16>,
        handler: Handler,
    ) -> Result<FrameworkHost, GeckoError> {
        let io = |what: &'static str| {
            move |e: super::LabError| GeckoError::Io {
                what,
                source: std::io::Error::other(e.to_string()),
            }
        };
        let ns = lab
            .netns(name)
            .map_err(io("opening the node's namespace"))?;
        let host = lab.topology.host(name).map_err(io("finding the node"))?;
        let (address, iface, config) = (host.address, host.interface.clone(), lab.config_path());
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let stopping = stop.clone();
        let acceptor = std::thread::Builder::new()
            .name(format!("accept-{name}"))
            .spawn(move || {
                // Threads started from here (the framework's runtime, the
                // handlers) inherit the namespace.
                if let Err(e) = super::netns::enter(&ns) {
                    let _ = tx.send(Err(GeckoError::Io {
                        what: "entering the node's namespace",
                        source: e,
                    }));
                    return;
                }
                let started = GeckoFramework::new(address, &config, &iface).and_then(|fw| {
                    let server = fw.get_server_socket(port)?;
                    Ok((Arc::new(fw), server))
                });
                let server = match started {
                    Ok((fw, server)) => {
                        let _ = tx.send(Ok(fw));
                        server
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                while !stopping.load(Ordering::Relaxed) {
                    match server.accept_timeout(Duration::from_millis(100)) {
                        Ok(Some(socket)) => {
                            let handler = handler.clone();
                            std::thread::spawn(move || handler(socket));
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "accept");
                            return;
                        }
                    }
                }
            })
            .map_err(|source| GeckoError::Io {
                what: "starting the accept thread",
                source,
            })?;
        let framework = rx.recv().map_err(|_| GeckoError::Closed)??;
        Ok(FrameworkHost {
            name: name.to_string(),
            framework,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// The host's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The framework.
    pub fn framework(&self) -> &Arc<GeckoFramework> {
        &self.framework
    }

    /// The value of one series of the node's metrics (0 if absent), e.g.
    /// `gecko_handoffs_total{direction="out"}`.
    pub fn metric(&self, series: &str) -> f64 {
        metric_in(&self.framework.metrics().render(), series)
    }
}

/// The value of `series` in Prometheus text (0 if absent).
pub fn metric_in(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// How an echo handler moves its connections.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoHandoffs {
    /// Hand off (by policy) after echoing a read that holds an `H`.
    pub on_h: bool,
    /// Hand off (by policy) after about this many bytes on average, at
    /// random points of the stream.
    pub every_bytes: Option<u64>,
}

/// An echo handler: echoes byte-exact, handing the connection off as
/// `handoffs` says, until the client closes or the connection moves.
pub fn echo_handler(handoffs: EchoHandoffs) -> Handler {
    Arc::new(move |mut socket: GeckoSocket| {
        let mut buf = vec![0u8; 64 * 1024];
        let draw = |mean: u64| rand::random::<u64>() % (2 * mean.max(1));
        let mut budget = handoffs.every_bytes.map(draw);
        loop {
            let n = match socket.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if socket.write_all(&buf[..n]).is_err() {
                return;
            }
            let mut due = handoffs.on_h && buf[..n].contains(&b'H');
            if let (Some(left), Some(mean)) = (budget.as_mut(), handoffs.every_bytes) {
                *left = left.saturating_sub(n as u64);
                if *left == 0 {
                    due = true;
                    *left = draw(mean);
                }
            }
            if due {
                match socket.handoff(false) {
                    Ok(true) => return,
                    Ok(false) => {}
                    Err(e) => tracing::info!(error = %e, "handoff failed; serving on"),
                }
            }
        }
    })
}

/// The byte at `offset` of the stream [`stream_handler`] serves: cheap to
/// compute anywhere, so a node that takes a connection over mid-stream
/// knows what comes next.
pub fn stream_byte(offset: u64) -> u8 {
    (offset.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

/// Fills `buf` with the stream from `offset` on.
pub fn stream_bytes(offset: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = stream_byte(offset + i as u64);
    }
}

/// A download handler (the seed's video server, without HTTP): after one
/// request byte it sends `size` bytes of [`stream_byte`] and closes. A
/// connection handed in or recovered resumes at its position.
pub fn stream_handler(size: u64) -> Handler {
    Arc::new(move |mut socket: GeckoSocket| {
        let Ok(pos) = socket.position() else { return };
        let arrived = socket.handed_in() || socket.recovered().is_some();
        let mut at = pos.sent;
        if at == 0 && !(arrived && pos.received > 0) {
            let mut request = [0u8; 1];
            if !matches!(socket.read(&mut request), Ok(1)) {
                return;
            }
        }
        let mut buf = vec![0u8; 64 * 1024];
        while at < size {
            let n = buf.len().min((size - at) as usize);
            stream_bytes(at, &mut buf[..n]);
            if socket.write_all(&buf[..n]).is_err() {
                return;
            }
            at += n as u64;
        }
        // The client closes once it has everything: the stream's end is
        // never cut short by this close.
        let _ = socket.read(&mut buf);
    })
}
