//! Handoff latency in the lab: from `handoff_start` on the acceptor to the
//! client's Binding Acknowledgement, which `gecko-cn` sends only after the
//! kernel acknowledged the data-plane change (so: until the client's kernel
//! steers the flow to the acceptor).
//!
//! `cargo bench -p gecko-lab --bench handoff` (root: it builds a lab). Prints
//! p50 / p99 / max over RUNS handoffs of one new flow each, first with
//! return routability every time (tokens dropped before each run), then
//! with fresh tokens (Binding Update only). GECKO_BENCH_RUNS overrides RUNS.

use std::time::{Duration, Instant};

use gecko::config::Config;
use gecko::dataplane::FlowKey;
use gecko::lowlevel::Scope;
use gecko_lab::node_host::NodeHost;
use gecko_lab::Lab;

const RUNS: usize = 1000;
const LAB: &str = "bench-ho";

struct Down;

impl Drop for Down {
    fn drop(&mut self) {
        let _ = Lab::down(LAB);
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{what:<44} runs {:>5}  p50 {:>7.3} ms  p99 {:>7.3} ms  max {:>7.3} ms",
        samples.len(),
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.99)),
        ms(*samples.last().unwrap_or(&Duration::ZERO)),
    );
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes --bench; a filter run from `cargo test` passes
    // nothing, and this bench is not a test.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    if !nix::unistd::geteuid().is_root() {
        println!("handoff bench skipped: it builds a lab of network namespaces, run it as root");
        return Ok(());
    }
    let runs: usize = std::env::var("GECKO_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RUNS);
    let _ = Lab::down(LAB);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let lab = rt.block_on(Lab::up(LAB, 2, 1, &mut |_| {}))?;
    let _down = Down;
    let bins = |daemon: &str| {
        gecko_lab::agent_program(
            std::path::Path::new(env!("CARGO_BIN_EXE_gecko-lab")),
            daemon,
        )
    };
    lab.start_daemons(&bins)?;
    let config = Config::load(lab.config_path())?;
    let client = lab.topology.host("client1")?.address;

    let _node1 = NodeHost::start(&lab, &config, "node1", true)?;
    let node2 = NodeHost::start(&lab, &config, "node2", false)?;

    let g = config.global_address;
    let port = config.service_port;
    for (what, fresh) in [
        ("return routability + binding update", false),
        ("binding update only (fresh tokens)", true),
    ] {
        let node = node2.node().clone();
        let samples = node2.block_on(async move {
            let mut samples = Vec::with_capacity(runs);
            for i in 0..runs + 10 {
                if !fresh {
                    node.forget_tokens(client);
                }
                let flow = FlowKey {
                    client,
                    client_port: 20000 + i as u16,
                    server: g,
                    server_port: port,
                };
                let t0 = Instant::now();
                node.handoff_start(client, Scope::Flow(flow), None).await?;
                // The first few warm caches (ARP/ND, routes, tokens).
                if i >= 10 {
                    samples.push(t0.elapsed());
                }
                if (i + 1) % 250 == 0 {
                    eprintln!("  {what}: {} / {}", i + 1, runs + 10);
                }
                // Leave the client's table small between runs.
                node.handoff_clear(client, Scope::Flow(flow)).await?;
            }
            anyhow::Ok(samples)
        })??;
        report(what, samples);
    }
    Ok(())
}
