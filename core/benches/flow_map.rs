//! What the flow map costs a flow-bound TCP connection on the client: data
//! segments per second of 64-byte writes (TCP_NODELAY) through the
//! nftables route hook and the data plane `auto` chooses (seg6 inline or
//! VXLAN), with 10 map entries and with 10,000, in alternating rounds of
//! one run.
//!
//! Two namespaces joined by a veth pair: the client (with `ClientPlane`)
//! and the server (G on `lo`). The client's home route points at a gateway
//! that does not exist, so the connection only works while its flow is
//! bound: the figures are those of the bound path. Needs root; without it
//! the benchmark says so and exits 0.
//!
//! Run: `cargo bench -p gecko --bench flow_map`.

use std::io::{Read, Write};
use std::net::{Ipv6Addr, SocketAddrV6, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use gecko::dataplane::home_plane::add_home_address;
use gecko::dataplane::{BindingPlane, ClientPlane, DataplaneChoice, FlowKey, KernelReport};
use gecko_netns::{links, netns};

const CLIENT_NS: &str = "gecko-t-dp-bench-client";
const SERVER_NS: &str = "gecko-t-dp-bench-server";
const G: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1);
const CLIENT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 1, 0, 0, 0, 2);
const SERVER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 1, 0, 0, 0, 1);
/// A gateway nobody answers for: the home route leads nowhere.
const NOWHERE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 1, 0, 0, 0, 0x99);
const PORT: u16 = 9;
const CLIENT_PORT: u16 = 45000;
const ROUNDS: usize = 5;
const ROUND_TIME: Duration = Duration::from_secs(1);
const SIZES: [usize; 2] = [10, 10_000];

/// Deletes the benchmark's namespaces however it ends.
struct Spaces;

impl Drop for Spaces {
    fn drop(&mut self) {
        for ns in [CLIENT_NS, SERVER_NS] {
            let _ = netns::delete(ns);
        }
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this
    // binary without it, and a benchmark is no test.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        println!("flow_map: skipped (needs root for network namespaces)");
        return;
    }
    let spaces = build();
    let result = run();
    drop(spaces);
    if let Err(e) = result {
        eprintln!("flow_map: {e}");
        std::process::exit(1);
    }
}

fn build() -> Spaces {
    drop(Spaces); // leftovers of an interrupted run
    let guard = Spaces;
    for ns in [CLIENT_NS, SERVER_NS] {
        netns::create(ns).expect("namespace");
    }
    let (c, s) = (
        netns::open(CLIENT_NS).unwrap(),
        netns::open(SERVER_NS).unwrap(),
    );
    let settings = [
        ("conf/default/accept_dad", "0"),
        ("conf/all/accept_dad", "0"),
        ("conf/default/seg6_enabled", "1"),
        ("conf/all/seg6_enabled", "1"),
    ];
    links::sysctls(&c, &settings).unwrap();
    links::sysctls(&s, &settings).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let hc = links::connect(&c).await?;
        let hs = links::connect(&s).await?;
        links::add_veth(&hc, "eth0", &s, "eth0").await?;
        links::add_address(&hc, "eth0", CLIENT, 64).await?;
        links::add_address(&hs, "eth0", SERVER, 64).await?;
        for h in [&hc, &hs] {
            links::set_up(h, "lo", true).await?;
            links::set_up(h, "eth0", true).await?;
        }
        links::set_default_route(&hc, NOWHERE).await
    })
    .expect("links");
    netns::run_in(&s, || add_home_address(G))
        .unwrap()
        .expect("G on the server");
    guard
}

fn flow(client: Ipv6Addr, port: u16) -> FlowKey {
    FlowKey {
        client,
        client_port: port,
        server: G,
        server_port: PORT,
    }
}

/// The other entries of the map: flows of other (made-up) clients.
fn filler(i: usize) -> FlowKey {
    flow(
        Ipv6Addr::new(0x2001, 0xdb8, 2, 1, 0, 0, 1, (i / 50_000) as u16),
        (i % 50_000) as u16 + 1,
    )
}

fn data_segs_out(stream: &TcpStream) -> Result<u32, String> {
    use std::os::fd::AsFd;
    gecko::tcp::info::tcp_info(stream.as_fd())
        .map(|info| info.tcpi_data_segs_out)
        .map_err(|e| format!("TCP_INFO: {e}"))
}

fn run() -> Result<(), String> {
    let c = netns::open(CLIENT_NS).map_err(|e| e.to_string())?;
    let s = netns::open(SERVER_NS).map_err(|e| e.to_string())?;
    let encap = KernelReport::get()
        .choose(DataplaneChoice::Auto)
        .map_err(|e| e.to_string())?;
    let mut plane = netns::run_in(&c, || ClientPlane::install(G, 1500, encap))
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;

    let listener = netns::run_in(&s, || TcpListener::bind(("::", PORT)))
        .and_then(|r| r)
        .map_err(|e| format!("listen: {e}"))?;
    let sink = std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let mut buf = [0u8; 65536];
            while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
        }
    });

    // The measured flow is bound before its SYN leaves.
    let measured = flow(CLIENT, CLIENT_PORT);
    plane
        .bind_flow(measured, SERVER)
        .map_err(|e| e.to_string())?;
    let socket = netns::run_in(&c, || {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.bind(&SocketAddrV6::new(CLIENT, CLIENT_PORT, 0, 0).into())?;
        Ok::<_, std::io::Error>(socket)
    })
    .and_then(|r| r)
    .map_err(|e| e.to_string())?;
    socket
        .connect_timeout(
            &SocketAddrV6::new(G, PORT, 0, 0).into(),
            Duration::from_secs(3),
        )
        .map_err(|e| format!("connecting over the bound flow: {e}"))?;
    let mut stream: TcpStream = socket.into();
    stream.set_nodelay(true).map_err(|e| e.to_string())?;

    let payload = [0x5au8; 64];
    let mut fillers = 0usize;
    let mut results: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    println!("flow_map: 64-byte writes, TCP_NODELAY, flow-bound ({encap}), {ROUND_TIME:?} rounds");
    for round in 1..=ROUNDS {
        for (which, size) in SIZES.iter().enumerate() {
            let want = size - 1; // the measured flow is one entry
            while fillers < want {
                plane
                    .bind_flow(filler(fillers), SERVER)
                    .map_err(|e| e.to_string())?;
                fillers += 1;
            }
            while fillers > want {
                fillers -= 1;
                plane
                    .unbind_flow(&filler(fillers))
                    .map_err(|e| e.to_string())?;
            }
            let entries = plane
                .flow_table()
                .ok_or("no flow table")?
                .count()
                .map_err(|e| e.to_string())?;
            if entries != *size {
                return Err(format!("map holds {entries} entries, wanted {size}"));
            }
            let segs0 = data_segs_out(&stream)?;
            let t0 = Instant::now();
            let mut writes = 0u64;
            while t0.elapsed() < ROUND_TIME {
                for _ in 0..64 {
                    stream.write_all(&payload).map_err(|e| e.to_string())?;
                }
                writes += 64;
            }
            let elapsed = t0.elapsed().as_secs_f64();
            let segs = data_segs_out(&stream)?.wrapping_sub(segs0) as f64 / elapsed;
            println!(
                "  round {round} {size:>6} entries: {segs:>10.0} segments/s ({:>10.0} writes/s)",
                writes as f64 / elapsed
            );
            results[which].push(segs);
        }
    }
    drop(stream);
    let _ = sink.join();
    plane.uninstall().map_err(|e| e.to_string())?;

    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let small = median(&mut results[0]);
    let large = median(&mut results[1]);
    println!(
        "flow_map: median {small:.0} segments/s with {} entries, {large:.0} with {}; ratio {:.3}",
        SIZES[0],
        SIZES[1],
        large / small
    );
    Ok(())
}
