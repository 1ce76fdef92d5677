//! geckoproxy against a direct connection and HAProxy (TCP mode), same
//! hosts, same run: a lab of one node and one client host; on the node a
//! small application (this program, re-run as `app PORT`), `geckoproxy` in
//! front of it at G, and Debian's `haproxy` in front of it on the node's
//! own address.
//!
//! ```text
//! cargo build --release --workspace
//! cargo bench -p gecko-examples --bench proxy
//! ```
//!
//! Needs root and `haproxy`. Prints, to stdout:
//! - bulk throughput of one connection (the application sends
//!   `GECKO_BENCH_MB`, default 1024 MiB, the client reads it), median of 5
//!   alternating runs each: direct, through geckoproxy, through HAProxy,
//!   and the ratios (targets: geckoproxy >= 0.9 x direct, >= HAProxy);
//! - the same bulk runs again with the node's link shaped to
//!   `GECKO_BENCH_LINK_GBIT` (default 10) Gbit/s by a token bucket on its
//!   egress (every path leaves the node there): the link, not this
//!   machine's two cores, bounds the transfer, as in a deployment;
//! - connections per second with short requests (connect, send a request
//!   line, read 100 bytes, close; 16 client threads, 2 s per run, median
//!   of 3 alternating runs) through each; and over three nodes by
//!   round-robin: through G (accept-time handoffs from the contact) and
//!   through HAProxy balancing to the three applications.
//!
//! Progress goes to stderr; targets are printed, never asserted.

#[path = "../tests/support/stream_lab.rs"]
mod stream_lab;

#[path = "../tests/support/proxy_lab.rs"]
mod proxy_lab;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gecko_lab::netns;
use proxy_lab::{App, ProxyLab};
use stream_lab::{kill_group, require, root_or_skip};

/// The application's port on the node (all addresses).
const APP_PORT: u16 = 9000;
/// geckoproxy's port at G.
const PROXY_PORT: u16 = 9001;
/// HAProxy's port on the node's own address.
const HAPROXY_PORT: u16 = 9002;
/// Client threads in the connection-rate runs.
const THREADS: usize = 16;
/// Bytes answered to a short request.
const SHORT: u64 = 100;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("app") {
        return app(&args);
    }
    // `cargo test --all-targets` runs bench binaries without `--bench`:
    // only `cargo bench` measures.
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    if !root_or_skip("the proxy benchmark") {
        return;
    }
    require("haproxy");
    if let Err(e) = geckoproxy::limits::raise_open_files() {
        eprintln!("cannot raise the open-file limit: {e}");
    }
    let mb: u64 = std::env::var("GECKO_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let me = std::env::current_exe().expect("this program's path");
    let app = App {
        argv: vec![
            me.to_string_lossy().to_string(),
            "app".into(),
            APP_PORT.to_string(),
        ],
        port: APP_PORT,
    };
    eprintln!("== lab gk-px-bench: 1 node, 1 client");
    let px = ProxyLab::start("gk-px-bench", 1, 1, 1, app.clone(), PROXY_PORT);
    let node = px.s.nodes[0].clone();
    let node_addr = px.s.lab.topology.host(&node).expect("the node").address;
    let local_app = [SocketAddr::from((Ipv6Addr::LOCALHOST, APP_PORT))];
    let haproxy = HaProxy::start(&px, &node, node_addr, &local_app);
    let targets = [
        ("direct", SocketAddr::from((node_addr, APP_PORT))),
        ("geckoproxy", SocketAddr::from((px.s.g.ip(), PROXY_PORT))),
        ("haproxy", SocketAddr::from((node_addr, HAPROXY_PORT))),
    ];
    let client_ns = px.s.lab.netns(&px.s.clients[0]).expect("client namespace");
    for (name, t) in targets {
        // Each path answers before anything is measured.
        let got = netns::run_in(&client_ns, || request(t, SHORT)).expect("in the client");
        assert_eq!(got.ok(), Some(SHORT), "{name} at {t} answers");
    }

    let bulk = mb << 20;
    let (rates, cpu) = bulk_rounds(&client_ns, &targets, bulk, "");
    let gbit: u32 = std::env::var("GECKO_BENCH_LINK_GBIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    shape_link(&px, &node, gbit);
    let (shaped, _) = bulk_rounds(&client_ns, &targets, bulk, &format!("{gbit} Gbit/s link "));
    let mut cps: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    for round in 0..3 {
        for (k, (name, t)) in targets.iter().enumerate() {
            let (done, failed) = connection_rate(&px, *t, Duration::from_secs(2));
            let rate = done as f64 / 2.0;
            eprintln!("connections round {round} {name}: {rate:.0}/s, {failed} failed");
            cps[k].push(rate);
        }
    }
    drop(haproxy);
    drop(px);
    let spread = three_nodes(app);
    let m: Vec<f64> = rates.iter().map(|v| median(v)).collect();
    let l: Vec<f64> = shaped.iter().map(|v| median(v)).collect();
    let c: Vec<f64> = cps.iter().map(|v| median(v)).collect();
    let g: Vec<f64> = cpu.iter().map(|v| median(v)).collect();
    println!("| measure | direct | geckoproxy | HAProxy (TCP mode) |");
    println!("|---|---|---|---|");
    println!(
        "| bulk, one connection, {mb} MiB (median of 5) | {:.0} MB/s | {:.0} MB/s | {:.0} MB/s |",
        m[0], m[1], m[2]
    );
    println!(
        "| bulk, one connection, {mb} MiB, the node's link shaped to {gbit} Gbit/s (median of 5) | {:.0} MB/s | {:.0} MB/s | {:.0} MB/s |",
        l[0], l[1], l[2]
    );
    println!(
        "| CPU time per GB of the unshaped bulk transfer, all cores, all processes (median) | {:.2} s | {:.2} s | {:.2} s |",
        g[0], g[1], g[2]
    );
    println!(
        "| connections/s, {SHORT}-byte answers, {THREADS} client threads (median of 3) | {:.0} | {:.0} | {:.0} |",
        c[0], c[1], c[2]
    );
    for (what, r) in [
        ("bulk, CPU-bound (unshaped veth)", &m),
        (&*format!("bulk, {gbit} Gbit/s link"), &l),
    ] {
        let (vs_direct, vs_haproxy) = (r[1] / r[0], r[1] / r[2]);
        println!(
            "{what}: geckoproxy / direct = {vs_direct:.3} (target >= 0.90: {}), geckoproxy / HAProxy = {vs_haproxy:.3} (target >= 1: {})",
            met(vs_direct >= 0.9),
            met(vs_haproxy >= 1.0)
        );
    }
    println!(
        "| connections/s over 3 nodes by round-robin (geckoproxy: the contact hands 2 of 3 off at establishment; HAProxy on node1 balancing to the 3 applications) | | {:.0} | {:.0} |",
        spread[0], spread[1]
    );
    println!(
        "connections/s: geckoproxy / HAProxy = {:.3}, geckoproxy / direct = {:.3}; over 3 nodes: geckoproxy / HAProxy = {:.3}",
        c[1] / c[2],
        c[1] / c[0],
        spread[0] / spread[1]
    );
}

/// Five alternating rounds of one bulk transfer through each target:
/// the rates (MB/s) and the machine's CPU time per GB, per target.
fn bulk_rounds(
    client_ns: &std::fs::File,
    targets: &[(&str, SocketAddr)],
    bulk: u64,
    label: &str,
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    for round in 0..5 {
        for (k, (name, t)) in targets.iter().enumerate() {
            let before = cpu_ticks();
            let (n, secs) = netns::run_in(client_ns, || {
                let start = Instant::now();
                let n = request(*t, bulk);
                (n, start.elapsed().as_secs_f64())
            })
            .expect("in the client");
            let (busy, all) = cpu_ticks().delta(before);
            let n = n.unwrap_or_else(|e| panic!("bulk through {name}: {e}"));
            assert_eq!(n, bulk, "bulk through {name}: bytes");
            let rate = n as f64 / secs / 1e6;
            // CPU time the whole machine spent per GB moved (every core).
            let cpu_per_gb = busy / TICKS_PER_SEC / (n as f64 / 1e9);
            eprintln!(
                "bulk {label}round {round} {name}: {rate:.0} MB/s, machine busy {:.0}%, {cpu_per_gb:.2} CPU-s/GB",
                100.0 * busy / all.max(1.0)
            );
            rates[k].push(rate);
            cpu[k].push(cpu_per_gb);
        }
    }
    (rates, cpu)
}

/// A token bucket of `gbit` Gbit/s on the node's link, egress: what it
/// sends toward the client, on every path, leaves there. The bucket holds
/// a few 64 KB GSO segments, as a NIC's would.
fn shape_link(px: &ProxyLab, node: &str, gbit: u32) {
    let ns = px.s.lab.netns(node).expect("node namespace");
    let rate = format!("{gbit}gbit");
    let status = netns::run_in(&ns, || {
        std::process::Command::new("tc")
            .args([
                "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", &rate,
            ])
            .args(["burst", "1mb", "latency", "20ms"])
            .status()
    })
    .expect("in the node")
    .expect("tc runs");
    assert!(status.success(), "tc tbf on {node}: {status}");
    eprintln!("== {node}'s link shaped to {gbit} Gbit/s");
}

/// Connections per second over three nodes, round-robin: through G
/// (geckoproxy on each node) and through HAProxy on node1 balancing to the
/// three applications; medians of 3 alternating runs.
fn three_nodes(app: App) -> [f64; 2] {
    eprintln!("== lab gk-px-bench3: 3 nodes, 1 client, round-robin");
    let px = ProxyLab::start("gk-px-bench3", 3, 1, 1, app, PROXY_PORT);
    let addrs: Vec<Ipv6Addr> =
        px.s.nodes
            .iter()
            .map(|n| px.s.lab.topology.host(n).expect("a node").address)
            .collect();
    let apps: Vec<SocketAddr> = addrs
        .iter()
        .map(|a| SocketAddr::from((*a, APP_PORT)))
        .collect();
    let node1 = px.s.nodes[0].clone();
    let _haproxy = HaProxy::start(&px, &node1, addrs[0], &apps);
    let targets = [
        ("geckoproxy", SocketAddr::from((px.s.g.ip(), PROXY_PORT))),
        ("haproxy", SocketAddr::from((addrs[0], HAPROXY_PORT))),
    ];
    let mut cps: [Vec<f64>; 2] = Default::default();
    for round in 0..3 {
        for (k, (name, t)) in targets.iter().enumerate() {
            let (done, failed) = connection_rate(&px, *t, Duration::from_secs(2));
            let rate = done as f64 / 2.0;
            eprintln!("3 nodes, round {round} {name}: {rate:.0}/s, {failed} failed");
            cps[k].push(rate);
        }
    }
    eprintln!(
        "application connections by node: {:?}",
        px.by_node("gecko_proxy_app_connections_total")
    );
    [median(&cps[0]), median(&cps[1])]
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(0.0)
}

/// USER_HZ, the unit of /proc/stat.
const TICKS_PER_SEC: f64 = 100.0;

/// The machine's CPU time from /proc/stat: (busy, total) ticks.
#[derive(Clone, Copy)]
struct CpuTicks(f64, f64);

impl CpuTicks {
    /// (busy, total) ticks since `before`.
    fn delta(self, before: CpuTicks) -> (f64, f64) {
        (self.0 - before.0, self.1 - before.1)
    }
}

fn cpu_ticks() -> CpuTicks {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<f64> = text
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: f64 = fields.iter().take(8).sum();
    // idle and iowait are the 4th and 5th fields.
    let idle = fields.get(3).copied().unwrap_or(0.0) + fields.get(4).copied().unwrap_or(0.0);
    CpuTicks(total - idle, total)
}

/// Asks `t` for `n` bytes (a request line `n\n`) and reads them to the
/// end of the answer; returns how many came.
fn request(t: SocketAddr, n: u64) -> std::io::Result<u64> {
    let mut s = TcpStream::connect_timeout(&t, Duration::from_secs(10))
        .map_err(|e| std::io::Error::new(e.kind(), format!("connecting: {e}")))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    writeln!(s, "{n}")?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0;
    loop {
        match s.read(&mut buf)? {
            0 => return Ok(got),
            k => got += k as u64,
        }
    }
}

/// Short requests from `THREADS` threads in the client host for `time`:
/// (answered, failed).
fn connection_rate(px: &ProxyLab, t: SocketAddr, time: Duration) -> (u64, u64) {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let ns = px.s.lab.netns(&px.s.clients[0]).expect("client namespace");
            let (done, failed, stop) = (done.clone(), failed.clone(), stop.clone());
            std::thread::spawn(move || {
                netns::enter(&ns).expect("entering the client");
                while !stop.load(Ordering::Relaxed) {
                    match request(t, SHORT) {
                        Ok(SHORT) => done.fetch_add(1, Ordering::Relaxed),
                        other => {
                            if failed.fetch_add(1, Ordering::Relaxed) < 3 {
                                eprintln!("a short request to {t} failed: {other:?}");
                            }
                            0
                        }
                    };
                }
            })
        })
        .collect();
    std::thread::sleep(time);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    // Let TIME_WAIT sockets of this run not crowd the next one's ports.
    std::thread::sleep(Duration::from_millis(300));
    (done.load(Ordering::Relaxed), failed.load(Ordering::Relaxed))
}

/// HAProxy in TCP mode on the node, Debian's defaults otherwise.
struct HaProxy(Option<Child>);

impl HaProxy {
    /// HAProxy on `node`, listening on `addr`, balancing over `backends`
    /// round-robin.
    fn start(px: &ProxyLab, node: &str, addr: Ipv6Addr, backends: &[SocketAddr]) -> HaProxy {
        let cfg = px.s.tmp.join("haproxy.cfg");
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, b)| format!("  server app{i} {b}\n"))
            .collect();
        std::fs::write(
            &cfg,
            format!(
                "global\n  maxconn 8000\n  nbthread {threads}\n\
                 defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n\
                 frontend bench\n  bind [{addr}]:{HAPROXY_PORT}\n  default_backend app\n\
                 backend app\n  balance roundrobin\n{servers}"
            ),
        )
        .expect("haproxy.cfg");
        let log = std::fs::File::create(px.s.lab.dir.join("haproxy.log")).expect("log");
        let child =
            px.s.lab
                .command(node, "haproxy")
                .expect("command in the node")
                .args(["-db", "-f", &cfg.to_string_lossy()])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .process_group(0)
                .spawn()
                .expect("haproxy starts");
        let ns = px.s.lab.netns(node).expect("node namespace");
        let target = SocketAddr::from((addr, HAPROXY_PORT));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !netns::run_in(&ns, || TcpStream::connect(target).is_ok()).expect("probe") {
            assert!(Instant::now() < deadline, "haproxy does not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        HaProxy(Some(child))
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            kill_group(c);
        }
    }
}

/// The application: on each connection reads a line with a byte count,
/// answers that many bytes and closes (one thread per connection, writes
/// of 256 KiB from memory: it should never be the slowest part).
fn app(args: &[String]) {
    let port: u16 = args.get(2).and_then(|p| p.parse().ok()).unwrap_or(APP_PORT);
    let listener = match TcpListener::bind((Ipv6Addr::UNSPECIFIED, port)) {
        Ok(l) => l,
        Err(e) => return eprintln!("app: cannot listen on {port}: {e}"),
    };
    let block: Arc<Vec<u8>> = Arc::new((0..256 * 1024).map(|i| (i % 251) as u8).collect());
    for s in listener.incoming().flatten() {
        let block = block.clone();
        std::thread::spawn(move || {
            let _ = answer(s, &block);
        });
    }
}

fn answer(s: TcpStream, block: &[u8]) -> std::io::Result<()> {
    s.set_nodelay(true)?;
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line)?;
    let mut left: u64 = line.trim().parse().unwrap_or(0);
    let mut w = &s;
    while left > 0 {
        let k = left.min(block.len() as u64) as usize;
        w.write_all(&block[..k])?;
        left -= k as u64;
    }
    Ok(())
}
