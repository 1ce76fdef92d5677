//! TCP handoff in the lab, through the high-level API: three nodes run
//! GeckoFramework in-process, unmodified kernel TCP clients talk to G.
//!
//! `cargo bench -p gecko-lab --bench tcp_handoff` (root: it builds a lab).
//! Prints:
//! - the stall a client sees on a busy stream (server to client) while its
//!   connection is handed off: the longest gap between two reads around
//!   each handoff, p50 / p99 / max, with tokens held (Binding Update
//!   only), and with return routability every time, plain and split; and
//!   for a client host without an agent (a flow registration at the home
//!   agent), in the same run;
//! - bulk throughput of a connection after a handoff against one that
//!   never moved, same hosts, alternating runs, and their ratio;
//! - accept-time handoffs per second at the contact node with several
//!   client hosts connecting in a loop;
//! - the serialised TCP state of an idle connection, in bytes.
//!
//! GECKO_BENCH_RUNS overrides the number of handoffs per stall series.

use std::io::{Read, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gecko::policy::{ClientInfo, GeckoPolicy, RoundRobinPolicy};
use gecko::socket::GeckoSocket;
use gecko_lab::framework_host::{FrameworkHost, Handler};
use gecko_lab::service::connect_in;
use gecko_lab::Lab;

const LAB: &str = "bench-tcp";
const RUNS: usize = 200;
const CLIENTS: usize = 4;
const BULK: usize = 512 << 20;

struct Down;

impl Drop for Down {
    fn drop(&mut self) {
        let _ = Lab::down(LAB);
    }
}

/// What the servers do with a connection (one phase at a time).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Write without end; hand off when asked.
    Stream,
    /// Write BULK bytes then close; hand off first if `moved`.
    Bulk { moved: bool },
    /// Echo until the client closes.
    Echo,
    /// Dump the idle connection's state once, then echo.
    Size,
}

struct Shared {
    mode: Mutex<Mode>,
    /// Handoffs asked for, and taken up by a server.
    asked: AtomicU64,
    taken: AtomicU64,
    /// (start, end) of each stream handoff.
    windows: Mutex<Vec<(Instant, Instant)>>,
    state_size: AtomicUsize,
    second: Mutex<Option<Ipv6Addr>>,
}

/// Always the next node in configuration order: every handoff moves.
struct NextNode;

impl GeckoPolicy for NextNode {
    fn select_target(&self, c: &ClientInfo) -> Option<Ipv6Addr> {
        let i = c.nodes.iter().position(|n| n.address == c.local)?;
        Some(c.nodes[(i + 1) % c.nodes.len()].address)
    }
}

/// Keeps every connection where it is.
struct Keep;

impl GeckoPolicy for Keep {
    fn select_target(&self, _: &ClientInfo) -> Option<Ipv6Addr> {
        None
    }
}

fn handler(shared: Arc<Shared>) -> Handler {
    Arc::new(move |mut s: GeckoSocket| {
        let mode = *shared.mode.lock().unwrap();
        let chunk = vec![0x5au8; 64 * 1024];
        match mode {
            Mode::Stream => loop {
                if let Some(rate) = pacing() {
                    use std::os::fd::AsRawFd;
                    let rate: u64 = rate << 20;
                    // SAFETY: setsockopt with a u64 value and its size.
                    unsafe {
                        libc::setsockopt(
                            s.as_raw_fd(),
                            libc::SOL_SOCKET,
                            libc::SO_MAX_PACING_RATE,
                            (&rate as *const u64).cast(),
                            8,
                        )
                    };
                }
                let asked = shared.asked.load(Ordering::SeqCst);
                let taken = shared.taken.load(Ordering::SeqCst);
                if asked > taken
                    && shared
                        .taken
                        .compare_exchange(taken, taken + 1, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok()
                {
                    let t0 = Instant::now();
                    let moved = s.handoff(false);
                    shared.windows.lock().unwrap().push((t0, Instant::now()));
                    if matches!(moved, Ok(true)) {
                        return;
                    }
                }
                if s.write_all(&chunk[..16 * 1024]).is_err() {
                    return;
                }
            },
            Mode::Bulk { moved } => {
                if moved && !s.handed_in() {
                    let target = shared.second.lock().unwrap().expect("second node");
                    if matches!(s.handoff_to(target, false), Ok(true)) {
                        return;
                    }
                }
                let mut left = BULK;
                while left > 0 {
                    let n = left.min(chunk.len());
                    if s.write_all(&chunk[..n]).is_err() {
                        return;
                    }
                    left -= n;
                }
            }
            Mode::Echo | Mode::Size => {
                if mode == Mode::Size {
                    use std::os::fd::AsFd;
                    let fd = s.as_fd();
                    if gecko::tcp::repair::freeze(fd).is_ok() {
                        if let Ok(state) = gecko::tcp::repair::dump(fd) {
                            shared
                                .state_size
                                .store(state.to_bytes().len(), Ordering::SeqCst);
                        }
                        let _ = gecko::tcp::repair::unfreeze(fd);
                    }
                }
                let mut buf = [0u8; 4096];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        }
    })
}

/// GECKO_BENCH_RATE: the busy stream's rate in MB/s (default: as fast as
/// the lab goes, which on a small machine leaves no CPU for anything else).
fn pacing() -> Option<u64> {
    std::env::var("GECKO_BENCH_RATE").ok()?.parse().ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Bench {
    lab: Lab,
    g: SocketAddr,
    nodes: Vec<FrameworkHost>,
    shared: Arc<Shared>,
}

impl Bench {
    fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    fn set_policy(&self, policy: Arc<dyn GeckoPolicy>) {
        for n in &self.nodes {
            n.framework().set_policy(policy.clone());
        }
    }

    fn connect(&self, client: &str) -> anyhow::Result<TcpStream> {
        let ns = self.lab.netns(client)?;
        Ok(connect_in(&ns, self.g, None, Duration::from_secs(10))?)
    }

    /// Stall series: RUNS handoffs of one busy stream.
    fn stall(
        &self,
        what: &str,
        client: &str,
        runs: usize,
        rr_every_time: bool,
        split: bool,
    ) -> anyhow::Result<()> {
        self.set_mode(Mode::Stream);
        self.set_policy(Arc::new(NextNode));
        for n in &self.nodes {
            n.framework().set_split_handoff(split);
        }
        self.shared.windows.lock().unwrap().clear();
        let client_addr = self.lab.topology.host(client)?.address;
        let mut stream = self.connect(client)?;
        let reads = Arc::new(Mutex::new(Vec::<Instant>::with_capacity(1 << 20)));
        let done = Arc::new(AtomicU64::new(0));
        let reader = {
            let (reads, done) = (reads.clone(), done.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                let mut local = Vec::with_capacity(1 << 20);
                while done.load(Ordering::Relaxed) == 0 {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => local.push(Instant::now()),
                    }
                }
                *reads.lock().unwrap() = local;
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        for i in 0..runs {
            if rr_every_time {
                for n in &self.nodes {
                    n.framework().node().forget_tokens(client_addr);
                }
            }
            let want = self.shared.asked.fetch_add(1, Ordering::SeqCst) + 1;
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.shared.windows.lock().unwrap().len() < i + 1 {
                anyhow::ensure!(Instant::now() < deadline, "handoff {want} not done");
                std::thread::sleep(Duration::from_millis(1));
            }
            // Let the stream run at full speed between handoffs.
            std::thread::sleep(Duration::from_millis(15));
            if (i + 1) % 50 == 0 {
                eprintln!("  {what}: {} / {runs}", i + 1);
            }
        }
        done.store(1, Ordering::Relaxed);
        // The server keeps writing; the reader stops at its next read.
        reader
            .join()
            .map_err(|_| anyhow::anyhow!("reader panicked"))?;
        let reads = reads.lock().unwrap();
        let windows = self.shared.windows.lock().unwrap();
        let mut stalls: Vec<Duration> = windows
            .iter()
            .filter_map(|(start, end)| {
                // The longest gap between reads that overlaps the handoff.
                let from = reads.partition_point(|t| t < start).saturating_sub(1);
                let to = reads.partition_point(|t| t <= end) + 1;
                reads[from..to.min(reads.len())]
                    .windows(2)
                    .map(|w| w[1] - w[0])
                    .max()
            })
            .collect();
        stalls.sort();
        anyhow::ensure!(!stalls.is_empty(), "no stall measured");
        let moved: f64 = self
            .nodes
            .iter()
            .map(|n| n.metric("gecko_handoffs_total{direction=\"out\"}"))
            .sum();
        println!(
            "stall, {what:<40} handoffs {:>4}  p50 {:>7.3} ms  p99 {:>7.3} ms  max {:>7.3} ms  (moves so far {moved})",
            stalls.len(),
            ms(percentile(&stalls, 0.5)),
            ms(percentile(&stalls, 0.99)),
            ms(*stalls.last().unwrap()),
        );
        Ok(())
    }

    fn bulk_once(&self, moved: bool) -> anyhow::Result<f64> {
        self.set_mode(Mode::Bulk { moved });
        let mut s = self.connect("client1")?;
        let t0 = Instant::now();
        let mut buf = vec![0u8; 256 * 1024];
        let mut got = 0;
        loop {
            match s.read(&mut buf)? {
                0 => break,
                n => got += n,
            }
        }
        anyhow::ensure!(got == BULK, "bulk got {got} of {BULK} bytes");
        Ok(got as f64 / t0.elapsed().as_secs_f64() / 1e6)
    }

    fn throughput(&self) -> anyhow::Result<()> {
        self.set_policy(Arc::new(Keep));
        *self.shared.second.lock().unwrap() = Some(self.lab.topology.host("node2")?.address);
        let (mut plain, mut moved) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            plain.push(self.bulk_once(false)?);
            moved.push(self.bulk_once(true)?);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(|a, b| a.total_cmp(b));
            v[v.len() / 2]
        };
        let (p, m) = (median(&mut plain), median(&mut moved));
        println!(
            "throughput, {} MB server to client: never moved {p:.0} MB/s, after a handoff {m:.0} MB/s, ratio {:.3}",
            BULK >> 20,
            m / p
        );
        Ok(())
    }

    fn accept_rate(&self) -> anyhow::Result<()> {
        self.set_mode(Mode::Echo);
        self.set_policy(Arc::new(RoundRobinPolicy::default()));
        let out = |b: &Bench| b.nodes[0].metric("gecko_handoffs_total{direction=\"out\"}");
        let before = out(self);
        let stop = Arc::new(AtomicU64::new(0));
        let conns = Arc::new(AtomicU64::new(0));
        let t0 = Instant::now();
        let workers: Vec<_> = (1..=CLIENTS)
            .flat_map(|c| [c, c])
            .map(|c| {
                let ns = self.lab.netns(&format!("client{c}")).expect("client ns");
                let (g, stop, conns) = (self.g, stop.clone(), conns.clone());
                std::thread::spawn(move || {
                    gecko_lab::netns::enter(&ns).expect("enter");
                    let mut b = [0u8; 1];
                    while stop.load(Ordering::Relaxed) == 0 {
                        let Ok(mut s) = TcpStream::connect_timeout(&g, Duration::from_secs(5))
                        else {
                            continue;
                        };
                        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                        if s.write_all(b"x").is_ok() && s.read_exact(&mut b).is_ok() {
                            conns.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(5));
        stop.store(1, Ordering::Relaxed);
        for w in workers {
            let _ = w.join();
        }
        let secs = t0.elapsed().as_secs_f64();
        let handoffs = out(self) - before;
        println!(
            "accept-time handoffs at the contact node, {CLIENTS} client hosts: {:.0} handoffs/s ({:.0} connections/s served, {secs:.1} s)",
            handoffs / secs,
            conns.load(Ordering::Relaxed) as f64 / secs
        );
        Ok(())
    }

    fn state_size(&self) -> anyhow::Result<()> {
        self.set_mode(Mode::Size);
        self.set_policy(Arc::new(Keep));
        let mut s = self.connect("client1")?;
        s.write_all(b"ping")?;
        let mut b = [0u8; 4];
        s.read_exact(&mut b)?;
        println!(
            "serialised TCP state of an idle connection: {} bytes",
            self.shared.state_size.load(Ordering::SeqCst)
        );
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    if !nix::unistd::geteuid().is_root() {
        println!(
            "tcp_handoff bench skipped: it builds a lab of network namespaces, run it as root"
        );
        return Ok(());
    }
    if std::env::var_os("RUST_LOG").is_some() {
        gecko_agents::init_tracing();
    }
    let runs: usize = std::env::var("GECKO_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RUNS);
    let _ = Lab::down(LAB);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let lab = rt.block_on(Lab::up_plain(LAB, 3, CLIENTS, 1, &mut |_| {}))?;
    let _down = Down;
    let bins = |daemon: &str| {
        gecko_lab::agent_program(
            std::path::Path::new(env!("CARGO_BIN_EXE_gecko-lab")),
            daemon,
        )
    };
    lab.start_daemons(&bins)?;
    let config = gecko::config::Config::load(lab.config_path())?;
    let g = SocketAddr::from((config.global_address, config.service_port));
    let shared = Arc::new(Shared {
        mode: Mutex::new(Mode::Echo),
        asked: AtomicU64::new(0),
        taken: AtomicU64::new(0),
        windows: Mutex::new(Vec::new()),
        state_size: AtomicUsize::new(0),
        second: Mutex::new(None),
    });
    let nodes = (1..=3)
        .map(|i| FrameworkHost::start(&lab, &format!("node{i}"), None, handler(shared.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    std::thread::sleep(gecko::node::LOAD_EVERY * 3);
    let bench = Bench {
        lab,
        g,
        nodes,
        shared,
    };
    bench.state_size()?;
    // GECKO_BENCH_RUNS=0 skips the stall series; GECKO_BENCH_ONLY=stall
    // runs them alone. An agent client's and a plain client's one after
    // the other, in one run.
    if runs > 0 {
        bench.stall(
            "tokens held (binding update only)",
            "client1",
            runs,
            false,
            false,
        )?;
        bench.stall(
            "no agent (flow registration at the HA)",
            "plain1",
            runs,
            false,
            false,
        )?;
        bench.stall(
            "return routability every time",
            "client1",
            runs,
            true,
            false,
        )?;
        bench.stall(
            "return routability every time, split",
            "client1",
            runs,
            true,
            true,
        )?;
    }
    if std::env::var("GECKO_BENCH_ONLY").as_deref() != Ok("stall") {
        bench.throughput()?;
        bench.accept_rate()?;
    }
    // Servers may still block on connections of the stall series: take the
    // lab down and leave without waiting for them.
    drop(_down);
    std::process::exit(0)
}
