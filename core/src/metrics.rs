//! Prometheus metrics of a Gecko daemon: a small registry of counters and
//! gauges, rendered in the text exposition format 0.0.4 and served over
//! HTTP at `GET /metrics`.
//!
//! ```
//! # use gecko::metrics::Metrics;
//! let metrics = Metrics::new();
//! let bu = metrics.counter("gecko_messages_total", "Mobility Header messages received.",
//!     &[("type", "binding_update")])?;
//! bu.inc();
//! assert!(metrics.render().contains("gecko_messages_total{type=\"binding_update\"} 1\n"));
//! # Ok::<(), gecko::metrics::MetricsError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Why a metric could not be registered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetricsError {
    /// Not a Prometheus metric name, or not in Gecko's `gecko_` namespace.
    #[error("`{0}` is not a metric name: use gecko_ then a-z, A-Z, 0-9, '_', ':'")]
    BadName(String),
    /// Not a Prometheus label name (or reserved, or given twice).
    #[error("`{label}` is not a usable label name for {metric}")]
    BadLabel {
        /// The metric.
        metric: String,
        /// The label name.
        label: String,
    },
    /// The name is registered already as the other kind.
    #[error("{name} is registered already as a {existing}")]
    KindMismatch {
        /// The metric.
        name: String,
        /// The kind it has.
        existing: &'static str,
    },
}

/// A counter: only goes up.
#[derive(Clone, Debug)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.inc_by(1);
    }
    /// Adds `n`.
    pub fn inc_by(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A gauge: a value that goes up and down (bindings held, peers alive).
#[derive(Clone, Debug)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// Takes one away.
    pub fn dec(&self) {
        self.add(-1);
    }
    /// Adds `n` (negative to take away).
    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A histogram of durations, in seconds, with fixed bucket bounds.
#[derive(Clone, Debug)]
pub struct Histogram(Arc<HistogramCore>);

#[derive(Debug)]
struct HistogramCore {
    /// Upper bounds of the buckets, ascending; `+Inf` is implied.
    bounds: Vec<f64>,
    /// Per bucket (not cumulative), the last one for `+Inf`.
    counts: Vec<AtomicU64>,
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = self.0.bounds.partition_point(|b| *b < secs);
        self.0.counts[i].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.0.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.0
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }
}

/// Bucket bounds for handoff-like durations: 100 µs to 10 s.
pub const DURATION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// One series' value.
#[derive(Clone)]
enum Value {
    Counter(Arc<AtomicU64>),
    Gauge(Arc<AtomicI64>),
    Histogram(Histogram),
}

/// Labels of one series, sorted by name so that the same set is one series.
type Labels = Vec<(String, String)>;

struct Family {
    help: String,
    kind: &'static str,
    series: BTreeMap<Labels, Value>,
}

/// The registry. Cloning is cheap and clones share the same metrics.
#[derive(Clone, Default)]
pub struct Metrics {
    families: Arc<Mutex<BTreeMap<String, Family>>>,
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The counter `name` with these labels, registered on first use (the
    /// first help text of a family is kept). Keep the handle: this locks.
    pub fn counter(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
    ) -> Result<Counter, MetricsError> {
        let v = self.series(name, help, "counter", labels, || {
            Value::Counter(Arc::default())
        })?;
        match v {
            Value::Counter(c) => Ok(Counter(c)),
            _ => kind_mismatch(name, "gauge"),
        }
    }

    /// Adds `n` to the counter `name` with these labels, for series whose
    /// labels are only known per event (a message type, a reason). A name
    /// or label that does not validate is a bug in the caller: logged, and
    /// the event goes uncounted rather than failing the caller.
    pub fn count(&self, name: &str, help: &str, labels: &[(&str, &str)], n: u64) {
        match self.counter(name, help, labels) {
            Ok(c) => c.inc_by(n),
            Err(e) => tracing::error!(error = %e, "metric not counted"),
        }
    }

    /// The gauge `name` with these labels, registered on first use.
    pub fn gauge(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
    ) -> Result<Gauge, MetricsError> {
        let v = self.series(name, help, "gauge", labels, || Value::Gauge(Arc::default()))?;
        match v {
            Value::Gauge(g) => Ok(Gauge(g)),
            _ => kind_mismatch(name, "counter"),
        }
    }

    /// The histogram `name` with these labels and bucket upper `bounds`
    /// (ascending, in seconds), registered on first use.
    pub fn histogram(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        bounds: &[f64],
    ) -> Result<Histogram, MetricsError> {
        let v = self.series(name, help, "histogram", labels, || {
            Value::Histogram(Histogram(Arc::new(HistogramCore {
                bounds: bounds.to_vec(),
                counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
                sum_nanos: AtomicU64::new(0),
            })))
        })?;
        match v {
            Value::Histogram(h) => Ok(h),
            _ => kind_mismatch(name, "gauge"),
        }
    }

    fn series(
        &self,
        name: &str,
        help: &str,
        kind: &'static str,
        labels: &[(&str, &str)],
        new: impl FnOnce() -> Value,
    ) -> Result<Value, MetricsError> {
        if !valid_name(name, true) || !name.starts_with("gecko_") {
            return Err(MetricsError::BadName(name.to_string()));
        }
        let mut key: Labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        key.sort();
        for (i, (k, _)) in key.iter().enumerate() {
            let repeated = i > 0 && key[i - 1].0 == *k;
            if !valid_name(k, false) || k.starts_with("__") || repeated {
                return Err(MetricsError::BadLabel {
                    metric: name.to_string(),
                    label: k.clone(),
                });
            }
        }
        // A poisoned lock only means a panic elsewhere; the map is still whole.
        let mut families = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let family = families.entry(name.to_string()).or_insert_with(|| Family {
            help: help.to_string(),
            kind,
            series: BTreeMap::new(),
        });
        if family.kind != kind {
            return Err(MetricsError::KindMismatch {
                name: name.to_string(),
                existing: family.kind,
            });
        }
        Ok(family.series.entry(key).or_insert_with(new).clone())
    }

    /// The text exposition format 0.0.4: families sorted by name, series
    /// by labels.
    pub fn render(&self) -> String {
        let families = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        for (name, f) in families.iter() {
            let help = f.help.replace('\\', "\\\\").replace('\n', "\\n");
            // Writing to a String cannot fail.
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {}", f.kind);
            for (labels, value) in &f.series {
                let _ = match value {
                    Value::Counter(c) => {
                        series_name(&mut out, name, "", labels, None);
                        writeln!(out, " {}", c.load(Ordering::Relaxed))
                    }
                    Value::Gauge(g) => {
                        series_name(&mut out, name, "", labels, None);
                        writeln!(out, " {}", g.load(Ordering::Relaxed))
                    }
                    Value::Histogram(h) => render_histogram(&mut out, name, labels, h),
                };
            }
        }
        out
    }
}

/// Writes `name` + `suffix` and its labels (plus `le` for a bucket).
fn series_name(out: &mut String, name: &str, suffix: &str, labels: &Labels, le: Option<&str>) {
    out.push_str(name);
    out.push_str(suffix);
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let mut sep = "";
    for (k, v) in labels {
        let _ = write!(out, "{sep}{k}=\"{}\"", escape_label(v));
        sep = ",";
    }
    if let Some(le) = le {
        let _ = write!(out, "{sep}le=\"{le}\"");
    }
    out.push('}');
}

fn render_histogram(out: &mut String, name: &str, labels: &Labels, h: &Histogram) -> fmt::Result {
    let mut cumulative = 0;
    for (i, c) in h.0.counts.iter().enumerate() {
        cumulative += c.load(Ordering::Relaxed);
        let le =
            h.0.bounds
                .get(i)
                .map_or("+Inf".to_string(), |b| b.to_string());
        series_name(out, name, "_bucket", labels, Some(&le));
        writeln!(out, " {cumulative}")?;
    }
    let sum = h.0.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
    series_name(out, name, "_sum", labels, None);
    writeln!(out, " {sum}")?;
    series_name(out, name, "_count", labels, None);
    writeln!(out, " {cumulative}")
}

// Never reached in practice: `series` checked the family's kind under the
// lock, and a family holds values of its own kind only.
fn kind_mismatch<T>(name: &str, existing: &'static str) -> Result<T, MetricsError> {
    Err(MetricsError::KindMismatch {
        name: name.to_string(),
        existing,
    })
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*` for metrics; labels take no ':'.
fn valid_name(s: &str, colon: bool) -> bool {
    let ok = |c: char, first: bool| {
        c.is_ascii_alphabetic() || c == '_' || (colon && c == ':') || (!first && c.is_ascii_digit())
    };
    let mut chars = s.chars();
    chars.next().is_some_and(|c| ok(c, true)) && chars.all(|c| ok(c, false))
}

fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The whole of one connection (request read, response written) must fit in
/// this: a slow or silent client cannot hold a task for long.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest request head accepted.
const MAX_REQUEST: usize = 8192;
/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 64;

/// Serves `GET /metrics` on `addr` for good (errors of single connections
/// are logged, not returned); returns only if binding `addr` fails.
pub async fn serve(metrics: Metrics, addr: SocketAddr) -> io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    accept_loop(listener, metrics).await;
    Ok(())
}

/// Binds `addr` (port 0 picks one), serves in a task of its own and returns
/// the bound address; the server stops when the task is aborted.
pub async fn bind_and_serve(
    metrics: Metrics,
    addr: SocketAddr,
) -> io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((local, tokio::spawn(accept_loop(listener, metrics))))
}

async fn accept_loop(listener: TcpListener, metrics: Metrics) {
    tracing::info!(addr = ?listener.local_addr().ok(), "serving metrics");
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        // The semaphore is never closed, so acquiring cannot fail.
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, peer)) => {
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    match tokio::time::timeout(CONNECTION_TIMEOUT, answer(stream, &metrics)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "metrics connection"),
                        Err(_) => tracing::debug!(%peer, "metrics connection timed out"),
                    }
                });
            }
            Err(e) => {
                // Out of descriptors and the like: pass, do not spin.
                tracing::warn!(error = %e, "accepting a metrics connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn answer(mut stream: TcpStream, metrics: &Metrics) -> io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_REQUEST {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or(&[]);
    let mut words = line.split(|&b| b == b' ');
    let (method, target, version) = (words.next(), words.next(), words.next());
    let path = target.map(|t| t.split(|&b| b == b'?').next().unwrap_or(t));
    let response = match (method, path, version) {
        (Some(b"GET"), Some(b"/metrics"), Some(v)) if v.starts_with(b"HTTP/1.") => response(
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            &metrics.render(),
        ),
        (Some(_), Some(_), Some(v)) if v.starts_with(b"HTTP/1.") => response(
            "404 Not Found",
            "text/plain",
            "not found: try GET /metrics\n",
        ),
        _ => response("400 Bad Request", "text/plain", "bad request\n"),
    };
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

fn response(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn renders_a_histogram_with_cumulative_buckets() {
        let m = Metrics::new();
        let h = m
            .histogram("gecko_handoff_seconds", "Handoffs.", &[], &[0.001, 0.01])
            .unwrap();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_secs(1));
        assert_eq!(h.count(), 3);
        assert_eq!(
            m.render(),
            "# HELP gecko_handoff_seconds Handoffs.\n# TYPE gecko_handoff_seconds histogram\n\
             gecko_handoff_seconds_bucket{le=\"0.001\"} 1\n\
             gecko_handoff_seconds_bucket{le=\"0.01\"} 2\n\
             gecko_handoff_seconds_bucket{le=\"+Inf\"} 3\n\
             gecko_handoff_seconds_sum 1.0055\n\
             gecko_handoff_seconds_count 3\n"
        );
        assert!(m.counter("gecko_handoff_seconds", "", &[]).is_err());
    }

    #[test]
    fn renders_exact_text() {
        let m = Metrics::new();
        let bu = m
            .counter("gecko_messages_total", "MH messages.", &[("type", "bu")])
            .unwrap();
        bu.inc();
        bu.inc_by(2);
        m.counter("gecko_messages_total", "ignored", &[("type", "ba")])
            .unwrap()
            .inc();
        let g = m.gauge("gecko_bindings", "Bindings held.", &[]).unwrap();
        g.set(5);
        g.dec();
        g.add(-10);
        m.gauge("gecko_peers", "Peers alive.", &[("b", "2"), ("a", "1")])
            .unwrap()
            .inc();
        assert_eq!(bu.get(), 3);
        assert_eq!(
            m.render(),
            "# HELP gecko_bindings Bindings held.\n\
             # TYPE gecko_bindings gauge\n\
             gecko_bindings -6\n\
             # HELP gecko_messages_total MH messages.\n\
             # TYPE gecko_messages_total counter\n\
             gecko_messages_total{type=\"ba\"} 1\n\
             gecko_messages_total{type=\"bu\"} 3\n\
             # HELP gecko_peers Peers alive.\n\
             # TYPE gecko_peers gauge\n\
             gecko_peers{a=\"1\",b=\"2\"} 1\n"
        );
    }

    #[test]
    fn escapes_labels_and_help() {
        let m = Metrics::new();
        m.counter("gecko_x_total", "a \\ b\nc \"q\"", &[("v", "a\\b\"c\nd")])
            .unwrap();
        assert_eq!(
            m.render(),
            "# HELP gecko_x_total a \\\\ b\\nc \"q\"\n\
             # TYPE gecko_x_total counter\n\
             gecko_x_total{v=\"a\\\\b\\\"c\\nd\"} 0\n"
        );
    }

    #[test]
    fn rejects_bad_names() {
        let m = Metrics::new();
        for name in ["messages_total", "gecko-x", "gecko_é", "", "1gecko"] {
            assert_eq!(
                m.counter(name, "", &[]).unwrap_err(),
                MetricsError::BadName(name.into())
            );
        }
        for label in ["__x", "a:b", "1a", ""] {
            assert!(matches!(
                m.counter("gecko_a", "", &[(label, "v")]),
                Err(MetricsError::BadLabel { .. })
            ));
        }
        assert!(m.counter("gecko_a", "", &[("k", "1"), ("k", "2")]).is_err());
        m.counter("gecko_a", "", &[]).unwrap();
        assert!(matches!(
            m.gauge("gecko_a", "", &[]),
            Err(MetricsError::KindMismatch {
                existing: "counter",
                ..
            })
        ));
    }

    /// Sends `request` with a plain blocking client and reads until close.
    fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(request).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serves_over_loopback() {
        let m = Metrics::new();
        let c = m.counter("gecko_up_total", "Up.", &[]).unwrap();
        c.inc();
        let (addr, server) = bind_and_serve(m.clone(), "[::1]:0".parse().unwrap())
            .await
            .unwrap();
        assert_ne!(addr.port(), 0);
        let got = tokio::task::spawn_blocking(move || {
            let ok = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
            let missing = exchange(addr, b"GET /other HTTP/1.1\r\n\r\n");
            let garbage = exchange(addr, b"\x00\xff garbage\r\n\r\n");
            // A client that sends half a request and goes away.
            let mut half = std::net::TcpStream::connect(addr).unwrap();
            half.write_all(b"GET /met").unwrap();
            drop(half);
            let again = exchange(addr, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n");
            (ok, missing, garbage, again)
        })
        .await
        .unwrap();
        let body = "# HELP gecko_up_total Up.\n# TYPE gecko_up_total counter\ngecko_up_total 1\n";
        assert_eq!(
            got.0,
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        );
        assert!(got.1.starts_with("HTTP/1.1 404 Not Found\r\n"), "{}", got.1);
        assert!(
            got.2.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{}",
            got.2
        );
        assert!(got.3.starts_with("HTTP/1.1 200 OK\r\n"), "{}", got.3);
        assert!(got.3.ends_with(body));
        server.abort();
    }

    #[tokio::test]
    async fn silent_client_does_not_block_others() {
        let m = Metrics::new();
        let (addr, server) = bind_and_serve(m, "[::1]:0".parse().unwrap()).await.unwrap();
        // A silent client holds its connection; the next is still answered.
        let _silent = TcpStream::connect(addr).await.unwrap();
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").await.unwrap();
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out))
            .await
            .unwrap()
            .unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"));
        server.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn silent_client_is_dropped_after_timeout() {
        let (addr, server) = bind_and_serve(Metrics::new(), "[::1]:0".parse().unwrap())
            .await
            .unwrap();
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let start = tokio::time::Instant::now();
        let mut out = Vec::new();
        // Paused time moves on when the runtime idles: the server's timer fires.
        tokio::time::timeout(Duration::from_secs(60), silent.read_to_end(&mut out))
            .await
            .expect("the server kept a silent client past its timeout")
            .unwrap();
        assert!(out.is_empty());
        assert!(start.elapsed() >= CONNECTION_TIMEOUT);
        server.abort();
    }
}
