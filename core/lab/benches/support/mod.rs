//! What the lab's benchmarks share: the entry point, a lab taken down
//! however a benchmark ends, a draining server and a timed upload, settings
//! from the environment, the machine's CPU time, medians.

use std::io::{Read, Write};
use std::net::{SocketAddrV6, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use gecko_lab::{netns, Lab};

const CHUNK: usize = 256 << 10;

/// Runs `run` when `cargo bench` asks (it passes --bench; `cargo test
/// --all-targets` runs the binary without it, and a benchmark is no test)
/// and this is root; exits 1 with its error.
pub fn bench_main(name: &str, run: impl FnOnce() -> Result<(), String>) {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        println!("{name}: skipped (needs root for network namespaces)");
        return;
    }
    if let Err(e) = run() {
        eprintln!("{name}: {e}");
        std::process::exit(1);
    }
}

/// Takes lab `.0` down however the benchmark ends.
pub struct Down(pub &'static str);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = Lab::down(self.0);
    }
}

/// Reads and drops whatever reaches `listener`, a thread a connection.
pub fn drain(listener: TcpListener) {
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut buf = vec![0u8; CHUNK];
                while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
}

/// A fresh connection from `from` (in namespace `ns`) to `to`, written to
/// as fast as it takes for `secs`. Returns MB/s and the machine's CPU
/// seconds per GB moved; `what` names the path in errors.
pub fn upload(
    ns: &std::fs::File,
    from: SocketAddrV6,
    to: SocketAddrV6,
    secs: Duration,
    what: &str,
) -> Result<(f64, f64), String> {
    let socket = netns::run_in(ns, || {
        use socket2::{Domain, Protocol, Socket, Type};
        let s = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
        s.set_reuse_address(true)?;
        s.bind(&from.into())?;
        Ok::<_, std::io::Error>(s)
    })
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    socket
        .connect_timeout(&to.into(), Duration::from_secs(3))
        .map_err(|e| format!("connecting by {what}: {e}"))?;
    let mut stream: TcpStream = socket.into();
    let chunk = vec![0x5au8; CHUNK];
    let cpu0 = cpu_seconds()?;
    let t0 = Instant::now();
    let mut sent = 0u64;
    while t0.elapsed() < secs {
        stream
            .write_all(&chunk)
            .map_err(|e| format!("writing by {what}: {e}"))?;
        sent += CHUNK as u64;
    }
    let took = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds()? - cpu0;
    Ok((sent as f64 / took / 1e6, cpu / (sent as f64 / 1e9)))
}

/// The number in environment variable `name`, else `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time of the whole machine (user, nice, system, irq, softirq), in s.
pub fn cpu_seconds() -> Result<f64, String> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(|e| e.to_string())?;
    let line = stat.lines().next().ok_or("empty /proc/stat")?;
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq
    let busy = v[0] + v[1] + v[2] + v[5] + v[6];
    // SAFETY: sysconf has no memory arguments.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(busy / hz)
}

/// The median (sorts `v`).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
