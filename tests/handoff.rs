//! TCP handoff across the lab: `gecko-ha` and `gecko-cn` as real
//! processes, server nodes running the high-level API in-process inside
//! their namespaces (GeckoFramework, policies, GeckoSocket), unmodified
//! clients (kernel TCP sockets). Needs root. Every stream is checked end
//! to end with SHA-256, both ways.
//!
//! Each test uses its own lab name, so they run in parallel; a guard takes
//! each lab down even when the test fails.

use std::net::Ipv6Addr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use gecko::policy::{ClientInfo, GeckoPolicy, LeastConnectionsPolicy, RoundRobinPolicy};
use gecko_lab::framework_host::{echo_handler, EchoHandoffs, FrameworkHost};
use gecko_lab::scenario::{self, total, ScenarioLab, TIMEOUT};
use gecko_lab::service::stream_echo;
use sha2::{Digest, Sha256};

fn up(name: &str, nodes: usize, clients: usize) -> ScenarioLab {
    ScenarioLab::up(
        name,
        nodes,
        clients,
        0,
        Path::new(env!("CARGO_BIN_EXE_gecko-lab")),
    )
}

fn wait_for(what: &str, done: impl FnMut() -> bool) {
    scenario::wait_for(what, TIMEOUT, done)
}

#[test]
fn connections_are_placed_at_establishment_and_spread_by_policy() {
    let lab = up("t-ho-spread", 3, 3);
    let nodes = lab.nodes(3, echo_handler(EchoHandoffs::default()));
    for n in &nodes {
        n.framework()
            .set_policy(Arc::new(RoundRobinPolicy::default()));
    }
    let mut open = Vec::new();
    for i in 0..50 {
        let client = format!("client{}", i % 3 + 1);
        let mut s = lab.connect(&client);
        let payload: Vec<u8> = (0..10_000).map(|j| (i * 7 + j) as u8).collect();
        let sent: [u8; 32] = Sha256::digest(&payload).into();
        let got = gecko_lab::service::echo_round(&mut s, &payload).expect("echo");
        assert_eq!(got, sent, "connection {i} from {client}");
        open.push(s);
    }
    let accepted: Vec<f64> = nodes
        .iter()
        .map(|n| n.metric("gecko_connections_accepted_total"))
        .collect();
    assert_eq!(accepted.iter().sum::<f64>(), 50.0, "{accepted:?}");
    for (n, a) in nodes.iter().zip(&accepted) {
        assert!(
            *a >= 15.0,
            "round robin gave {} only {a} of 50: {accepted:?}",
            n.name()
        );
    }
    // Placed by the contact node (node1): the others' came in by handoff.
    // The donor counts one when the acceptor's outcome reaches it, which
    // may be after the client's first echo came back.
    let out = || nodes[0].metric("gecko_handoffs_total{direction=\"out\"}");
    wait_for("the contact's handoffs counted", || {
        out() == accepted[1] + accepted[2]
    });
    wait_for("50 connections open", || {
        total(&nodes, "gecko_connections_open") == 50.0
    });
    // Still served where they landed.
    for (i, s) in open.iter_mut().enumerate() {
        let payload = vec![i as u8; 3000];
        let sent: [u8; 32] = Sha256::digest(&payload).into();
        assert_eq!(gecko_lab::service::echo_round(s, &payload).unwrap(), sent);
    }
    // Least connections: close node1's, and the next ones fill node1 up
    // again before the others (the load the nodes share says where).
    nodes[0]
        .framework()
        .set_policy(Arc::new(LeastConnectionsPolicy));
    let (mut kept, mut closed) = (Vec::new(), 0);
    for (i, s) in open.into_iter().enumerate() {
        // Which node serves it: its local port is unknown to the node, so
        // close a third of all instead and let the shared counts tell.
        if i % 3 == 0 {
            drop(s);
            closed += 1;
        } else {
            kept.push(s);
        }
    }
    wait_for("the nodes to count the closed connections", || {
        total(&nodes, "gecko_connections_open") == (50 - closed) as f64
    });
    std::thread::sleep(gecko::node::LOAD_EVERY * 3);
    for i in 0..30 {
        let mut s = lab.connect(&format!("client{}", i % 3 + 1));
        let payload = vec![b'l'; 2000];
        let sent: [u8; 32] = Sha256::digest(&payload).into();
        assert_eq!(
            gecko_lab::service::echo_round(&mut s, &payload).unwrap(),
            sent
        );
        kept.push(s);
    }
    // (A donor stops counting a connection once its outcome arrived.)
    wait_for("the kept connections counted once", || {
        total(&nodes, "gecko_connections_open") == kept.len() as f64
    });
    let open_now: Vec<f64> = nodes
        .iter()
        .map(|n| n.metric("gecko_connections_open"))
        .collect();
    let (lo, hi) = open_now
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    assert_eq!(open_now.iter().sum::<f64>(), kept.len() as f64);
    assert!(hi - lo <= 2.0, "least connections left {open_now:?}");
}

#[test]
fn busy_connections_survive_hundreds_of_mid_stream_handoffs() {
    let mb: usize = std::env::var("GECKO_TEST_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let big = mb << 20;
    let lab = up("t-ho-mid", 3, 1);
    // About 250 handoffs over the big stream (each chooses a random node,
    // itself included, so some stay).
    let handoffs = EchoHandoffs {
        on_h: false,
        every_bytes: Some((big / 300) as u64),
    };
    let nodes = lab.nodes(3, echo_handler(handoffs));
    let t0 = Instant::now();
    // One big stream and three smaller ones from the same client host,
    // each moving on its own.
    let sizes: Vec<usize> = match std::env::var("GECKO_TEST_STREAMS") {
        Ok(v) if v == "1" => vec![big],
        _ => vec![big, big / 8, big / 8, big / 8],
    };
    let streams: Vec<_> = sizes
        .into_iter()
        .enumerate()
        .map(|(i, size)| {
            let s = lab.connect("client1");
            std::thread::spawn(move || (size, stream_echo(s, size, i as u8 + 1)))
        })
        .collect();
    for (i, t) in streams.into_iter().enumerate() {
        let (size, (sent, received, got)) = t.join().expect("stream");
        assert_eq!(got, size, "stream {i}: bytes echoed");
        assert_eq!(received, sent, "stream {i}: SHA-256 of the echo");
    }
    let moved = total(&nodes, "gecko_handoffs_total{direction=\"out\"}");
    let came = total(&nodes, "gecko_handoffs_total{direction=\"in\"}");
    let failed = total(&nodes, "gecko_handoff_failures_total");
    eprintln!(
        "{mb} MB + 3 x {} MB echoed in {:.1} s with {moved} handoffs ({failed} failed)",
        mb / 8,
        t0.elapsed().as_secs_f64()
    );
    for n in &nodes {
        for l in n.framework().metrics().render().lines() {
            if l.starts_with("gecko_handoff_seconds") {
                eprintln!("{} {l}", n.name());
            }
        }
    }
    assert_eq!(moved, came);
    assert!(moved >= 200.0 * mb as f64 / 100.0, "only {moved} handoffs");
}

/// A policy that always names one node and counts failure notices.
struct Always {
    target: Ipv6Addr,
    failed: AtomicUsize,
}

impl GeckoPolicy for Always {
    fn select_target(&self, _: &ClientInfo) -> Option<Ipv6Addr> {
        Some(self.target)
    }

    fn notify_failed_handoff(&self, target: Ipv6Addr) {
        assert_eq!(target, self.target);
        self.failed.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_failed_handoff_leaves_the_connection_working_and_tells_the_policy() {
    let lab = up("t-ho-fail", 3, 1);
    // node3 runs no framework: a handoff toward it finds nobody.
    let dead = lab.address("node3");
    let policy = Arc::new(Always {
        target: dead,
        failed: AtomicUsize::new(0),
    });
    let nodes: Vec<FrameworkHost> = ["node1", "node2"]
        .iter()
        .map(|n| {
            FrameworkHost::start(
                &lab.0,
                n,
                None,
                echo_handler(EchoHandoffs {
                    on_h: true,
                    every_bytes: None,
                }),
            )
            .unwrap()
        })
        .collect();
    nodes[0].framework().set_policy(policy.clone());
    let mut s = lab.connect("client1");
    // Placement at establishment failed: served by the contact node.
    let payload = b"hello H and more".to_vec();
    let sent: [u8; 32] = Sha256::digest(&payload).into();
    assert_eq!(
        gecko_lab::service::echo_round(&mut s, &payload).unwrap(),
        sent
    );
    wait_for("placement and the H handoff to fail", || {
        policy.failed.load(Ordering::SeqCst) >= 2
    });
    assert_eq!(nodes[0].metric("gecko_connections_accepted_total"), 1.0);
    assert!(nodes[0].metric("gecko_handoff_failures_total") >= 2.0);
    // An acceptor that fails half way: node2 has no server socket on the
    // port of the connection (a second service on another port).
    let other = FrameworkHost::start(
        &lab.0,
        "node3",
        Some(9),
        echo_handler(EchoHandoffs::default()),
    )
    .unwrap();
    let policy3 = Arc::new(Always {
        target: lab.address("node3"),
        failed: AtomicUsize::new(0),
    });
    nodes[0].framework().set_policy(policy3.clone());
    std::thread::sleep(gecko::node::LOAD_EVERY * 3);
    let payload = vec![b'H'; 50_000];
    let sent: [u8; 32] = Sha256::digest(&payload).into();
    assert_eq!(
        gecko_lab::service::echo_round(&mut s, &payload).unwrap(),
        sent
    );
    wait_for("the refused handoff", || {
        policy3.failed.load(Ordering::SeqCst) >= 1
    });
    assert_eq!(other.metric("gecko_handoffs_total{direction=\"in\"}"), 0.0);
    // And the connection still works, on node1.
    let payload = vec![7u8; 100_000];
    let sent: [u8; 32] = Sha256::digest(&payload).into();
    assert_eq!(
        gecko_lab::service::echo_round(&mut s, &payload).unwrap(),
        sent
    );
}
