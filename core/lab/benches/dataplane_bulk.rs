//! What each data-plane backend costs a client's upload to G: bulk TCP from
//! a client host to a node, through a flow binding (encapsulated by the
//! client, forwarded by the router, decapsulated by the node), against the
//! same upload routed plainly (the router routes G to the node, nothing is
//! encapsulated). Alternating rounds of one run; every backend this kernel
//! offers, and the ratios of each to plain routing and to each other.
//!
//! A lab of one node and one client (`bench-bulk`), without its daemons:
//! the client's `ClientPlane` is driven directly. Every path carries the
//! same MTU (the client's routes to G leave room for the largest
//! encapsulation), so the segment sizes are equal and the figures differ by
//! the encapsulation's own work. Needs root; without it the benchmark says
//! so and exits 0.
//!
//! Run: `cargo bench -p gecko-lab --bench dataplane_bulk`
//! (GECKO_BENCH_ROUNDS, default 5; GECKO_BENCH_SECS per round, default 3).

use std::net::{Ipv6Addr, SocketAddrV6, TcpListener};
use std::time::Duration;

use gecko::dataplane::home_plane::add_home_address;
use gecko::dataplane::routes::MAIN_TABLE;
use gecko::dataplane::{BindingPlane, ClientPlane, Encap, FlowKey, KernelReport, Routes};
use gecko_lab::{netns, Lab};

#[path = "support/mod.rs"]
mod support;
use support::{env_or, median, Down};

const LAB: &str = "bench-bulk";
const G: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1);
const NODE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 1, 0, 0, 0, 2);
const CLIENT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 1, 0, 0, 0, 2);
const PORT: u16 = 5001;

/// One way to reach G: plain routing, or a backend's flow binding.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Path {
    Plain,
    Bound(Encap),
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Plain => f.write_str("plain"),
            Path::Bound(e) => write!(f, "{e}"),
        }
    }
}

fn main() {
    support::bench_main("dataplane_bulk", run);
}

fn run() -> Result<(), String> {
    let rounds = env_or("GECKO_BENCH_ROUNDS", 5) as usize;
    let secs = Duration::from_secs(env_or("GECKO_BENCH_SECS", 3));
    let report = KernelReport::get();
    let backends = report.usable();
    for e in Encap::ALL.iter().filter(|e| !backends.contains(e)) {
        if let Some(f) = report.missing_for(*e) {
            println!(
                "dataplane_bulk: {e} not measured: this kernel lacks {} ({})",
                f.title(),
                f.option()
            );
        }
    }
    let _ = Lab::down(LAB);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let lab = rt
        .block_on(Lab::up(LAB, 1, 1, &mut |_| {}))
        .map_err(|e| e.to_string())?;
    let _down = Down(LAB);
    let ns = |host: &str| lab.netns(host).map_err(|e| e.to_string());
    let (client, router, node) = (ns("client1")?, ns("ha")?, ns("node1")?);
    netns::run_in(&node, || add_home_address(G))
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    // Plain routing: the router sends G to the node as it is.
    netns::run_in(&router, || {
        let mut routes = Routes::open()?;
        let oif = routes.lookup_route(NODE)?.oif;
        routes.replace_via_route(MAIN_TABLE, G, Some(NODE), oif, 1500)
    })
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let listener = netns::run_in(&node, || TcpListener::bind(("::", PORT)))
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("listen: {e}"))?;
    support::drain(listener);

    let paths: Vec<Path> = std::iter::once(Path::Plain)
        .chain(backends.iter().map(|e| Path::Bound(*e)))
        .collect();
    println!(
        "dataplane_bulk: client -> router -> node upload, {rounds} rounds of {secs:?} per path, \
         alternating ({})",
        paths
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut results: Vec<(Vec<f64>, Vec<f64>)> = vec![(vec![], vec![]); paths.len()];
    let mut port = 46000u16;
    for round in 1..=rounds {
        for (i, path) in paths.iter().enumerate() {
            port += 1;
            let (mbps, cpu_per_gb) = upload(&client, *path, port, secs, backends[0])?;
            println!("  round {round} {path:<6} {mbps:8.0} MB/s  {cpu_per_gb:.2} CPU-s/GB");
            results[i].0.push(mbps);
            results[i].1.push(cpu_per_gb);
        }
    }
    let medians: Vec<(f64, f64)> = results
        .iter_mut()
        .map(|(m, c)| (median(m), median(c)))
        .collect();
    for (path, (mbps, cpu)) in paths.iter().zip(&medians) {
        println!("{path:<6} median {mbps:8.0} MB/s, {cpu:.2} CPU-s/GB (all cores, whole machine)");
    }
    for (i, a) in paths.iter().enumerate().skip(1) {
        println!("{a} / plain = {:.3}", medians[i].0 / medians[0].0);
        for (j, b) in paths.iter().enumerate().skip(i + 1) {
            println!("{b} / {a} = {:.3}", medians[j].0 / medians[i].0);
        }
    }
    Ok(())
}

/// One round: a fresh connection from `port` along `path`, written to as
/// fast as it takes for `secs`. Returns MB/s and the machine's CPU seconds
/// per GB moved.
fn upload(
    client: &std::fs::File,
    path: Path,
    port: u16,
    secs: Duration,
    any: Encap,
) -> Result<(f64, f64), String> {
    let encap = match path {
        Path::Plain => any,
        Path::Bound(e) => e,
    };
    let mut plane = netns::run_in(client, || ClientPlane::install(G, 1500, encap))
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    if let Path::Bound(_) = path {
        let flow = FlowKey {
            client: CLIENT,
            client_port: port,
            server: G,
            server_port: PORT,
        };
        plane.bind_flow(flow, NODE).map_err(|e| e.to_string())?;
    }
    let from = SocketAddrV6::new(CLIENT, port, 0, 0);
    let to = SocketAddrV6::new(G, PORT, 0, 0);
    let result = support::upload(client, from, to, secs, &path.to_string());
    plane.uninstall().map_err(|e| e.to_string())?;
    result
}
