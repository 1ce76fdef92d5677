//! Forwarding at the home agent for clients without an agent (issue 19):
//! bulk TCP from a plain client host (nothing of Gecko on it) through the
//! router to a node, three ways, in alternating rounds of one run:
//!
//! - `plain`: the router routes G to the node as it is (no Gecko);
//! - `home`: G's home route to the node by the data-plane backend (what an
//!   unbound flow takes: to the contact node);
//! - `flow100k`: the connection steered to the node by its flow binding,
//!   with 100,000 other flow bindings installed in the home agent's map.
//!
//! Ratios: `flow100k / home` is what the flow table costs the forwarding
//! path; `flow100k / plain` adds the backend's encapsulation. Also prints
//! how long installing the 100,000 bindings took.
//!
//! Needs root; without it the benchmark says so and exits 0.
//! Run: `cargo bench -p gecko-lab --bench ha_flows`
//! (GECKO_BENCH_ROUNDS, default 5; GECKO_BENCH_SECS per round, default 3;
//! GECKO_BENCH_FLOWS, default 100000).

use std::net::{Ipv6Addr, SocketAddrV6, TcpListener};
use std::time::{Duration, Instant};

use gecko::dataplane::home_plane::{add_home_address, HomePlane};
use gecko::dataplane::routes::MAIN_TABLE;
use gecko::dataplane::{FlowKey, KernelReport, Routes};
use gecko_lab::{netns, Lab};

#[path = "support/mod.rs"]
mod support;
use support::{env_or, median, upload, Down};

const LAB: &str = "bench-haflow";
const G: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1);
const NODE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 1, 0, 0, 0, 2);
const PLAIN: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 3, 1, 0, 0, 0, 2);
const PORT: u16 = 5001;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Path {
    Plain,
    Home,
    Flows,
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Path::Plain => "plain",
            Path::Home => "home",
            Path::Flows => "flow100k",
        })
    }
}

fn main() {
    support::bench_main("ha_flows", run);
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn run() -> Result<(), String> {
    let rounds = env_or("GECKO_BENCH_ROUNDS", 5) as usize;
    let secs = Duration::from_secs(env_or("GECKO_BENCH_SECS", 3));
    let flows = env_or("GECKO_BENCH_FLOWS", 100_000) as u32;
    let encap = *KernelReport::get()
        .usable()
        .first()
        .ok_or("this kernel offers no data-plane backend (gecko-lab doctor says why)")?;
    let _ = Lab::down(LAB);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(err)?;
    let lab = rt
        .block_on(Lab::up_plain_with(
            LAB,
            1,
            0,
            1,
            gecko::dataplane::DataplaneChoice::Auto,
            &mut |_| {},
        ))
        .map_err(err)?;
    let _down = Down(LAB);
    let ns = |host: &str| lab.netns(host).map_err(err);
    let (client, router, node) = (ns("plain1")?, ns("ha")?, ns("node1")?);
    netns::run_in(&node, || add_home_address(G))
        .map_err(err)?
        .map_err(err)?;
    let listener = netns::run_in(&node, || TcpListener::bind(("::", PORT)))
        .map_err(err)?
        .map_err(|e| format!("listen: {e}"))?;
    support::drain(listener);
    let mut plane = netns::run_in(&router, || HomePlane::open(1500, encap))
        .map_err(err)?
        .map_err(err)?;
    println!(
        "ha_flows: plain client -> home agent -> node upload, backend {encap}, {rounds} rounds \
         of {secs:?} per path, alternating (plain, home, flow100k with {flows} bindings)"
    );
    let paths = [Path::Plain, Path::Home, Path::Flows];
    let mut results: Vec<Vec<f64>> = vec![vec![]; paths.len()];
    let mut port = 46000u16;
    let mut installs = Vec::new();
    for round in 1..=rounds {
        for (i, path) in paths.iter().enumerate() {
            port += 1;
            let measured = FlowKey {
                client: PLAIN,
                client_port: port,
                server: G,
                server_port: PORT,
            };
            match path {
                Path::Plain => netns::run_in(&router, || {
                    let mut routes = Routes::open()?;
                    let oif = routes.lookup_route(NODE)?.oif;
                    routes.replace_via_route(MAIN_TABLE, G, Some(NODE), oif, 1500)
                })
                .map_err(err)?
                .map_err(err)?,
                Path::Home => plane.set_binding(G, NODE).map_err(err)?,
                Path::Flows => {
                    // No route for G itself: only the flow binding brings
                    // the connection to the node.
                    plane.clear_binding(G).map_err(err)?;
                    netns::run_in(&router, || plane.steer_flows(G))
                        .map_err(err)?
                        .map_err(err)?;
                    let t0 = Instant::now();
                    for n in 0..flows {
                        plane
                            .bind_flow(other_flow(n), NODE)
                            .map_err(|e| format!("binding flow {n}: {e}"))?;
                    }
                    installs.push(t0.elapsed());
                    plane.bind_flow(measured, NODE).map_err(err)?;
                    let held = plane
                        .flow_table()
                        .ok_or("no flow table")?
                        .count()
                        .map_err(err)?;
                    if held != flows as usize + 1 {
                        return Err(format!("the map holds {held} flows, not {}", flows + 1));
                    }
                }
            }
            let from = SocketAddrV6::new(PLAIN, port, 0, 0);
            let to = SocketAddrV6::new(G, PORT, 0, 0);
            let (mbps, cpu) = upload(&client, from, to, secs, &path.to_string())?;
            println!("  round {round} {path:<8} {mbps:8.0} MB/s  {cpu:.2} CPU-s/GB");
            results[i].push(mbps);
            if *path == Path::Flows {
                plane.stop_steering().map_err(err)?;
            }
        }
    }
    let m: Vec<f64> = results.iter_mut().map(|v| median(v)).collect();
    for (path, mbps) in paths.iter().zip(&m) {
        println!("{path:<8} median {mbps:8.0} MB/s");
    }
    let mut installs: Vec<f64> = installs.iter().map(|d| d.as_secs_f64()).collect();
    println!(
        "installing {flows} flow bindings: median {:.2} s ({:.1} us each)",
        median(&mut installs),
        median(&mut installs) / f64::from(flows) * 1e6
    );
    println!("flow100k / home  = {:.3}", m[2] / m[1]);
    println!("flow100k / plain = {:.3}", m[2] / m[0]);
    println!("home / plain     = {:.3}", m[1] / m[0]);
    Ok(())
}

/// The `n`th of the other flows: distinct clients and ports, to G.
fn other_flow(n: u32) -> FlowKey {
    FlowKey {
        client: Ipv6Addr::new(0x2001, 0xdb8, 0x3000, (n >> 16) as u16, 0, 0, 0, 2),
        client_port: (n & 0xffff) as u16,
        server: G,
        server_port: PORT,
    }
}
