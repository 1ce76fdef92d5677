//! Clients without an agent (issue 19): hosts `plainN` of the lab run
//! nothing of Gecko. A node learns that from return routability (the
//! ICMPv6 parameter problem their kernel sends) and registers each of their
//! connections it serves at the home agent (a flow registration), which
//! steers the flow to it; the node answers straight from G. Needs root.
//! Every stream is checked end to end with SHA-256, both ways.
//!
//! Each test uses its own lab name, so they run in parallel; a guard takes
//! each lab down even when the test fails.

use std::net::Ipv6Addr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use gecko::dataplane::FlowKey;
use gecko::mipv6::binding_update::FlowBinding;
use gecko::mipv6::mh_socket::MhSocket;
use gecko::mipv6::mn_ha_auth::{MnHaKey, NtpTimestamp};
use gecko::mipv6::mobile_node::{self, HomeRegistration};
use gecko::mipv6::seq::SeqNum;
use gecko::policy::RoundRobinPolicy;
use gecko_lab::framework_host::{echo_handler, EchoHandoffs};
use gecko_lab::scenario::{self, total, ScenarioLab, TIMEOUT};
use gecko_lab::service::{echo_round, stream_echo};
use sha2::{Digest, Sha256};

fn up(name: &str, nodes: usize, clients: usize, plain: usize) -> ScenarioLab {
    ScenarioLab::up(
        name,
        nodes,
        clients,
        plain,
        Path::new(env!("CARGO_BIN_EXE_gecko-lab")),
    )
}

fn wait_for(what: &str, done: impl FnMut() -> bool) {
    scenario::wait_for(what, TIMEOUT, done)
}

const FLOWS_AT_HA: &str = "gecko_bindings{kind=\"flow\"}";

/// 50 connections of a client without an agent spread over three nodes by
/// round robin, beside an agent client whose connections keep the direct
/// path; closing them all removes every flow binding at the home agent.
#[test]
fn plain_clients_are_spread_beside_agent_clients() {
    let lab = up("t-ag-spread", 3, 1, 1);
    let nodes = lab.nodes(3, echo_handler(EchoHandoffs::default()));
    for n in &nodes {
        n.framework()
            .set_policy(Arc::new(RoundRobinPolicy::default()));
    }
    let mut open = Vec::new();
    for i in 0..60 {
        // Five of six from the plain client, one from the agent client.
        let client = if i % 6 == 5 { "client1" } else { "plain1" };
        let mut s = lab.connect(client);
        let payload: Vec<u8> = (0..10_000).map(|j| (i * 7 + j) as u8).collect();
        let sent: [u8; 32] = Sha256::digest(&payload).into();
        let got = echo_round(&mut s, &payload).expect("echo");
        assert_eq!(got, sent, "connection {i} from {client}");
        open.push((client, s));
    }
    let accepted: Vec<f64> = nodes
        .iter()
        .map(|n| n.metric("gecko_connections_accepted_total"))
        .collect();
    assert_eq!(accepted.iter().sum::<f64>(), 60.0, "{accepted:?}");
    for (n, a) in nodes.iter().zip(&accepted) {
        assert!(
            *a >= 18.0,
            "round robin gave {} only {a}: {accepted:?}",
            n.name()
        );
    }
    // The nodes learned the plain client has no agent, and the agent
    // client has one.
    let learned = |by: &str, kind: &str| {
        total(
            &nodes,
            &format!("gecko_clients_learned_total{{by=\"{by}\",kind=\"{kind}\"}}"),
        )
    };
    assert!(
        learned("param_problem", "no_agent") >= 1.0,
        "no node learned plain1 has no agent"
    );
    assert!(
        learned("answer", "agent") >= 1.0,
        "no node learned client1 has an agent"
    );
    // Placed away from the contact: the plain client's by flow
    // registrations at the home agent, the agent client's at its agent.
    let flows_ha = lab.daemon_metric("ha", FLOWS_AT_HA);
    let flows_cn = lab.daemon_metric("client1", FLOWS_AT_HA);
    eprintln!("flow bindings: home agent {flows_ha}, client1's agent {flows_cn}");
    assert!(flows_ha >= 25.0, "home agent holds {flows_ha} flows");
    assert!(flows_cn >= 4.0, "client1's agent holds {flows_cn} flows");
    assert!(flows_ha + flows_cn <= 60.0);
    // Still served where they landed.
    for (i, (client, s)) in open.iter_mut().enumerate() {
        let payload = vec![i as u8; 3000];
        let sent: [u8; 32] = Sha256::digest(&payload).into();
        assert_eq!(echo_round(s, &payload).unwrap(), sent, "{client} #{i}");
    }
    // Closed, they leave no flow binding behind.
    drop(open);
    wait_for("every flow binding at the home agent removed", || {
        lab.daemon_metric("ha", FLOWS_AT_HA) == 0.0
    });
    wait_for("no connection open", || {
        total(&nodes, "gecko_connections_open") == 0.0
    });
}

/// A 100 MB echo stream of a plain client handed off about every 1 MB.
#[test]
fn a_plain_clients_stream_survives_handoffs_every_megabyte() {
    let mb: usize = std::env::var("GECKO_TEST_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let lab = up("t-ag-mid", 3, 0, 1);
    let handoffs = EchoHandoffs {
        on_h: false,
        every_bytes: Some(1 << 20),
    };
    let nodes = lab.nodes(3, echo_handler(handoffs));
    let t0 = Instant::now();
    let s = lab.connect("plain1");
    let (sent, received, got) = stream_echo(s, mb << 20, 7);
    assert_eq!(got, mb << 20, "bytes echoed");
    assert_eq!(received, sent, "SHA-256 of the echo");
    let moved = total(&nodes, "gecko_handoffs_total{direction=\"out\"}");
    let failed = total(&nodes, "gecko_handoff_failures_total");
    eprintln!(
        "{mb} MB echoed in {:.1} s with {moved} handoffs ({failed} failed)",
        t0.elapsed().as_secs_f64()
    );
    assert!(moved >= mb as f64 / 2.0, "only {moved} handoffs");
    assert!(
        lab.daemon_metric("ha", "gecko_flow_registrations_total{result=\"accepted\"}")
            >= moved / 2.0,
        "the handoffs went by the home agent"
    );
}

/// The split variant for a plain client: nothing to prepare (no return
/// routability), the flow registration at the finish.
#[test]
fn a_plain_clients_stream_survives_split_handoffs() {
    let lab = up("t-ag-split", 3, 0, 1);
    let handoffs = EchoHandoffs {
        on_h: false,
        every_bytes: Some(1 << 20),
    };
    let nodes = lab.nodes(3, echo_handler(handoffs));
    for n in &nodes {
        n.framework().set_split_handoff(true);
    }
    let s = lab.connect("plain1");
    let (sent, received, got) = stream_echo(s, 20 << 20, 9);
    assert_eq!(got, 20 << 20, "bytes echoed");
    assert_eq!(received, sent, "SHA-256 of the echo");
    let moved = total(&nodes, "gecko_handoffs_total{direction=\"out\"}");
    assert!(moved >= 10.0, "only {moved} handoffs");
}

/// `[route_optimization] mode = "never"`: even a client with an agent has
/// its connections registered at the home agent; its agent binds nothing.
#[test]
fn route_optimization_never_takes_every_client_by_the_home_agent() {
    let lab = up("t-ag-never", 3, 1, 0);
    let path = lab.0.config_path();
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\n[route_optimization]\nmode = \"never\"\n");
    std::fs::write(&path, text).unwrap();
    let nodes = lab.nodes(3, echo_handler(EchoHandoffs::default()));
    for n in &nodes {
        n.framework()
            .set_policy(Arc::new(RoundRobinPolicy::default()));
    }
    let mut open = Vec::new();
    for i in 0..12u8 {
        let mut s = lab.connect("client1");
        let payload = vec![i; 5000];
        let sent: [u8; 32] = Sha256::digest(&payload).into();
        assert_eq!(
            echo_round(&mut s, &payload).unwrap(),
            sent,
            "connection {i}"
        );
        open.push(s);
    }
    let flows_ha = lab.daemon_metric("ha", FLOWS_AT_HA);
    assert!(flows_ha >= 6.0, "home agent holds {flows_ha} flows");
    assert_eq!(lab.daemon_metric("client1", FLOWS_AT_HA), 0.0);
    drop(open);
    wait_for("every flow binding at the home agent removed", || {
        lab.daemon_metric("ha", FLOWS_AT_HA) == 0.0
    });
}

/// Flow registrations that are forged, replayed, from a host that is not a
/// node, or for another address than G: refused, counted, nothing routed.
/// They are sent from G on node1's host (no node runs there), as a node's
/// would be.
#[test]
fn bad_flow_registrations_are_refused_and_counted() {
    let lab = up("t-ag-forge", 1, 0, 1);
    let config = lab.config();
    let g = config.global_address;
    let ha = config.home_agent.address;
    let key = MnHaKey::new(config.security.mn_ha_spi, &config.security.mn_ha_key).unwrap();
    let node1 = lab.address("node1");
    let flow = FlowKey {
        client: lab.address("plain1"),
        client_port: 40000,
        server: g,
        server_port: config.service_port,
    };
    let reg = |care_of: Ipv6Addr, flow: FlowKey, seq: u16, lifetime: u16| HomeRegistration {
        home: g,
        home_agent: ha,
        care_of,
        sequence: SeqNum(seq),
        lifetime,
        timestamp: NtpTimestamp::from_system_time(SystemTime::now()),
        flow: Some(FlowBinding {
            bid: flow.client_port,
            fid: flow.client_port,
            flow,
        }),
    };
    let ns = lab.0.netns("node1").unwrap();
    gecko_lab::netns::run_in(&ns, || gecko::dataplane::home_plane::add_home_address(g))
        .unwrap()
        .expect("G on node1's lo");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sock = gecko_lab::netns::run_in(&ns, || {
        let _enter = rt.enter();
        MhSocket::open()
    })
    .unwrap()
    .unwrap();
    let send = |mh: &[u8]| rt.block_on(sock.send(mh, g, ha, None)).unwrap();
    let count = |result: &str| {
        lab.daemon_metric(
            "ha",
            &format!("gecko_flow_registrations_total{{result=\"{result}\"}}"),
        )
    };
    let sign = |r: HomeRegistration, k: &MnHaKey| mobile_node::home_registration(&r, k).unwrap();

    let other_key = MnHaKey::new(config.security.mn_ha_spi, &[9u8; 20]).unwrap();
    send(&sign(reg(node1, flow, 1, 15), &other_key));
    wait_for("a forged registration counted", || {
        count("bad_authenticator") == 1.0
    });
    send(&sign(
        reg("2001:db8:1:9::2".parse().unwrap(), flow, 1, 15),
        &key,
    ));
    wait_for("a stranger's registration counted", || {
        count("not_authorised") == 1.0
    });
    let mut elsewhere = flow;
    elsewhere.server = "2001:db8:ffff::2".parse().unwrap();
    send(&sign(reg(node1, elsewhere, 1, 15), &key));
    wait_for("a registration for another address counted", || {
        count("not_home_address") == 1.0
    });
    assert_eq!(
        lab.daemon_metric("ha", FLOWS_AT_HA),
        0.0,
        "a refusal routed a flow"
    );

    // The genuine one, then the same bytes again.
    let good = sign(reg(node1, flow, 1, 15), &key);
    send(&good);
    wait_for("a genuine registration", || count("accepted") == 1.0);
    assert_eq!(lab.daemon_metric("ha", FLOWS_AT_HA), 1.0);
    send(&good);
    wait_for("the replay counted", || count("replayed") == 1.0);
    send(&sign(reg(node1, flow, 2, 0), &key));
    wait_for("the deregistration", || count("accepted") == 2.0);
    assert_eq!(lab.daemon_metric("ha", FLOWS_AT_HA), 0.0);
}
