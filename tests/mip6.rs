//! Mobile IPv6 signalling across the lab: `gecko-ha` and `gecko-cn` as real
//! processes, server nodes running the low-level API in-process inside
//! their namespaces, unmodified clients (kernel TCP sockets) talking to G.
//! Needs root. Every exchange is checked end to end with SHA-256.
//!
//! Each test uses its own lab name, so they run in parallel; a guard takes
//! each lab down even when the test fails.

use std::fs::File;
use std::net::{Ipv6Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use gecko::cluster::peer_channel::PeerCodec;
use gecko::config::Config;
use gecko::dataplane::FlowKey;
use gecko::lowlevel::{PeerMessage, Scope};
use gecko::mipv6::mh_socket::MhSocket;
use gecko::mipv6::mn_ha_auth::{MnHaKey, NtpTimestamp};
use gecko::mipv6::mobile_node::{self, AckKey, BindingRequest, HomeRegistration, Reply, Token};
use gecko::mipv6::rr::BindingKey;
use gecko::mipv6::rr::Cookie;
use gecko::mipv6::seq::SeqNum;
use gecko_lab::framework_host::metric_in;
use gecko_lab::node_host::NodeHost;
use gecko_lab::ns_runtime::NsRuntime;
use gecko_lab::service::{connect_in, echo_round, serve_echo, tcp_segments_in, Accepted};
use gecko_lab::{netns, Lab};

const TIMEOUT: Duration = Duration::from_secs(3);

/// A lab with its daemons, taken down however the test ends.
struct LabGuard(Lab);

impl LabGuard {
    fn up(name: &str, nodes: usize) -> LabGuard {
        let _ = Lab::down(name);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let lab = rt
            .block_on(Lab::up(name, nodes, 1, &mut |_| {}))
            .expect("lab up");
        let guard = LabGuard(lab);
        let bins = |daemon: &str| {
            gecko_lab::agent_program(Path::new(env!("CARGO_BIN_EXE_gecko-lab")), daemon)
        };
        guard.0.start_daemons(&bins).expect("daemons start");
        guard
    }

    fn ns(&self, host: &str) -> File {
        self.0.netns(host).unwrap()
    }

    fn config(&self) -> Config {
        Config::load(self.0.config_path()).unwrap()
    }

    fn address(&self, host: &str) -> Ipv6Addr {
        self.0.topology.host(host).unwrap().address
    }

    /// Stops client1's `gecko-cn` (SIGTERM: it removes its data plane) and
    /// starts a new one.
    fn restart_client_agent(&self) {
        let ns = self.ns("client1");
        for pid in netns::pids_in(&ns).unwrap() {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGTERM)
                .unwrap();
        }
        wait_for("gecko-cn to stop", TIMEOUT, || {
            netns::pids_in(&ns).unwrap().is_empty()
        });
        let log = std::fs::File::create(self.0.dir.join("client1-2.log")).unwrap();
        let (program, args) =
            gecko_lab::agent_program(Path::new(env!("CARGO_BIN_EXE_gecko-lab")), "gecko-cn");
        let mut child = self
            .0
            .command("client1", program.to_str().unwrap())
            .unwrap()
            .args(args)
            .stderr(log)
            .spawn()
            .unwrap();
        // `down` ends it; reap it then.
        std::thread::spawn(move || child.wait());
        let addr = self.0.topology.host("client1").unwrap().metrics;
        wait_for("gecko-cn to serve again", TIMEOUT, || {
            netns::run_in(&ns, || TcpStream::connect(addr).is_ok()).unwrap()
        });
    }

    /// The value of one series in a daemon's metrics (0 if absent).
    fn metric(&self, host: &str, series: &str) -> f64 {
        self.0.daemon_metric(host, series)
    }
}

/// Waits until `done` holds, failing the test after `limit`.
fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        let name = self.0.topology.name.clone();
        if let Err(e) = Lab::down(&name) {
            eprintln!("removing lab {name}: {e}");
        }
    }
}

/// Starts a lab node in-process (the low-level API and the echo service).
fn start_node(lab: &LabGuard, host: &str, config: &Config, contact: bool) -> NodeHost {
    NodeHost::start(&lab.0, config, host, contact).unwrap_or_else(|e| panic!("node {host}: {e}"))
}

/// A plain Python client: connects to G, sends 100 kB, reads the echo to
/// the end and checks SHA-256 both ways.
fn python_client(lab: &LabGuard, config: &Config) {
    const SCRIPT: &str = r#"
import hashlib, socket, sys
data = bytes((i * 13 + 7) % 256 for i in range(100000))
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
s.sendall(data)
s.shutdown(socket.SHUT_WR)
back = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    back += chunk
sent, got = hashlib.sha256(data).hexdigest(), hashlib.sha256(back).hexdigest()
print(sent, got)
sys.exit(0 if sent == got else 1)
"#;
    let out = lab
        .0
        .command("client1", "python3")
        .unwrap()
        .args(["-c", SCRIPT])
        .arg(config.global_address.to_string())
        .arg(config.service_port.to_string())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python client: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The MSS of a new connection from the client to G.
fn client_mss(lab: &LabGuard, config: &Config) -> u32 {
    let conn = connect_in(&lab.ns("client1"), g_service(config), None, TIMEOUT).unwrap();
    socket2::SockRef::from(&conn).tcp_mss().unwrap()
}

fn payload(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn g_service(config: &Config) -> SocketAddr {
    SocketAddr::from((config.global_address, config.service_port))
}

/// One connection from the client to G, checked end to end; returns which
/// node accepted it.
fn served_by(lab: &LabGuard, config: &Config, nodes: &[&NodeHost], port: Option<u16>) -> usize {
    let accepted: Vec<&Accepted> = nodes.iter().map(|n| n.accepted()).collect();
    accepted_by(lab, config, &accepted, port)
}

/// One connection from the client to G, checked end to end; returns which
/// echo service accepted it.
fn accepted_by(lab: &LabGuard, config: &Config, nodes: &[&Accepted], port: Option<u16>) -> usize {
    let before: Vec<usize> = nodes.iter().map(|n| n.get()).collect();
    let mut conn =
        connect_in(&lab.ns("client1"), g_service(config), port, TIMEOUT).expect("connect to G");
    echo_round(&mut conn, &payload(48 * 1024, 1)).expect("echo");
    drop(conn);
    let after: Vec<usize> = nodes.iter().map(|n| n.get()).collect();
    let grew: Vec<usize> = (0..nodes.len())
        .filter(|i| after[*i] > before[*i])
        .collect();
    assert_eq!(
        grew.len(),
        1,
        "exactly one node accepts: {before:?} -> {after:?}"
    );
    grew[0]
}

#[test]
fn client_follows_the_handoff_and_the_clear() {
    let lab = LabGuard::up("m6hand", 2);
    let config = lab.config();
    let node1 = start_node(&lab, "node1", &config, true);
    let node2 = start_node(&lab, "node2", &config, false);
    let client = lab.address("client1");
    let nodes = [&node1, &node2];

    // Served by the contact node through the home agent.
    assert_eq!(served_by(&lab, &config, &nodes, None), 0);
    let home_mss = client_mss(&lab, &config);
    assert!(lab.metric("ha", "gecko_registrations_total") >= 1.0);
    // Both daemons say which data plane carries G's packets.
    let info = format!(
        "gecko_dataplane_info{{dataplane=\"{}\"}}",
        gecko_lab::backend_under_test()
    );
    assert_eq!(lab.metric("ha", &info), 1.0);
    assert_eq!(lab.metric("client1", &info), 1.0);
    assert_eq!(lab.metric("ha", "gecko_bindings{kind=\"home\"}"), 1.0);

    // Handoff of the client to node2: new connections reach node2, and
    // their packets never cross node1's host.
    let mark = node1.node().handoff_mark(client);
    node2.handoff(client, Scope::Client, mark).expect("handoff");
    assert_eq!(lab.metric("client1", "gecko_bindings{kind=\"plain\"}"), 1.0);
    let segs = tcp_segments_in(&lab.ns("node1")).unwrap();
    for _ in 0..3 {
        assert_eq!(served_by(&lab, &config, &nodes, None), 1);
    }
    // The same segment size by the binding as by the home route, and every
    // segment fits the link with the largest encapsulation added (IPv6 40,
    // VXLAN's 70, TCP 20, timestamps 12): nothing waits for a Packet Too
    // Big, whichever backend the home agent or this client runs.
    let bound_mss = client_mss(&lab, &config);
    assert_eq!(bound_mss, home_mss);
    let largest = gecko::dataplane::MAX_OVERHEAD;
    assert!(
        bound_mss + 40 + largest + 20 + 12 <= 1500,
        "MSS {bound_mss}"
    );
    // An unmodified program too: a Python socket client, run in client1.
    // The probe connection above may be counted a moment after it ended:
    // node2 served the Python client if its count rose and node1's did not.
    let (before, before1) = (node2.accepted().get(), node1.accepted().get());
    python_client(&lab, &config);
    assert!(node2.accepted().get() > before, "node2 did not serve it");
    assert_eq!(node1.accepted().get(), before1, "node1 served it");
    assert_eq!(
        tcp_segments_in(&lab.ns("node1")).unwrap(),
        segs,
        "node1 saw TCP segments"
    );

    // A second handoff of the same client reuses the fresh tokens: no new
    // Home Test Init is sent.
    let hoti = "gecko_messages_total{direction=\"sent\",type=\"home_test_init\"}";
    let before = metric_in(&node2.node().metrics().render(), hoti);
    node2.handoff(client, Scope::Client, None).expect("handoff");
    assert_eq!(metric_in(&node2.node().metrics().render(), hoti), before);

    // The client agent restarts (new Kcn, empty cache): node2's kept
    // tokens no longer check, its BU goes unanswered, and the retry runs
    // return routability again.
    lab.restart_client_agent();
    node2.handoff(client, Scope::Client, None).expect("handoff");
    assert_eq!(served_by(&lab, &config, &nodes, None), 1);
    let text = node2.node().metrics().render();
    assert_eq!(
        metric_in(&text, "gecko_handoffs_total{result=\"ok\"}"),
        3.0,
        "{text}"
    );

    // Cleared: back to the contact node.
    node2.clear(client, Scope::Client).expect("clear");
    assert_eq!(lab.metric("client1", "gecko_bindings{kind=\"plain\"}"), 0.0);
    assert_eq!(served_by(&lab, &config, &nodes, None), 0);
}

#[test]
fn a_flow_binding_moves_one_connection_and_leaves_the_other() {
    let lab = LabGuard::up("m6flow", 2);
    let config = lab.config();
    let node1 = start_node(&lab, "node1", &config, true);
    let node2 = start_node(&lab, "node2", &config, false);
    let client = lab.address("client1");
    let nodes = [&node1, &node2];
    let flow = |port| FlowKey {
        client,
        client_port: port,
        server: config.global_address,
        server_port: config.service_port,
    };

    // Two live connections, both on the contact node.
    let ns = lab.ns("client1");
    let mut a = connect_in(&ns, g_service(&config), Some(41001), TIMEOUT).unwrap();
    let mut b = connect_in(&ns, g_service(&config), Some(41002), TIMEOUT).unwrap();
    echo_round(&mut a, &payload(20_000, 2)).unwrap();
    echo_round(&mut b, &payload(20_000, 3)).unwrap();
    assert_eq!((node1.accepted().get(), node2.accepted().get()), (2, 0));

    // A connection bound before it opens is served by node2 ...
    node2
        .handoff(
            client,
            Scope::Flow(flow(41003)),
            node1.node().handoff_mark(client),
        )
        .expect("handoff");
    assert_eq!(lab.metric("client1", "gecko_bindings{kind=\"flow\"}"), 1.0);
    assert_eq!(served_by(&lab, &config, &nodes, Some(41003)), 1);
    // ... while the others stay on node1, bytes intact, and a new unbound
    // connection still goes to the contact node.
    echo_round(&mut a, &payload(20_000, 4)).unwrap();
    echo_round(&mut b, &payload(20_000, 5)).unwrap();
    assert_eq!(served_by(&lab, &config, &nodes, Some(41004)), 0);

    // Moving live connection `a`: its packets now reach node2, which has no
    // socket for it (carrying TCP state is the handoff's job) and resets
    // it; `b` is untouched.
    node2
        .handoff(client, Scope::Flow(flow(41001)), None)
        .expect("handoff");
    let segs = tcp_segments_in(&lab.ns("node2")).unwrap();
    assert!(
        echo_round(&mut a, &payload(1000, 6)).is_err(),
        "a still answered"
    );
    assert!(
        tcp_segments_in(&lab.ns("node2")).unwrap() > segs,
        "a's packets did not reach node2"
    );
    echo_round(&mut b, &payload(20_000, 7)).unwrap();

    // Clearing the flow binding of 41003 leaves 41001's.
    node2
        .clear(client, Scope::Flow(flow(41003)))
        .expect("clear");
    assert_eq!(lab.metric("client1", "gecko_bindings{kind=\"flow\"}"), 1.0);
    node2.clear(client, Scope::Client).expect("clear");
    assert_eq!(lab.metric("client1", "gecko_bindings{kind=\"flow\"}"), 0.0);
    echo_round(&mut b, &payload(20_000, 8)).unwrap();
}

/// A node binds many connections of one client at once (a backup
/// recovering a crashed node's): the BUs are pipelined, numbered in the
/// order they leave, so the client accepts every one of them at the first
/// try, and each BA finds its own BU by the flow's Binding ID.
#[test]
fn many_flow_bindings_of_one_client_at_once() {
    const FLOWS: u16 = 300;
    let lab = LabGuard::up("m6many", 2);
    let config = lab.config();
    let _node1 = start_node(&lab, "node1", &config, true);
    let node2 = start_node(&lab, "node2", &config, false);
    let client = lab.address("client1");
    let node = node2.node().clone();
    let (g, port) = (config.global_address, config.service_port);
    let results = node2
        .block_on(async move {
            let mut jobs = tokio::task::JoinSet::new();
            for p in 0..FLOWS {
                let node = node.clone();
                jobs.spawn(async move {
                    let flow = FlowKey {
                        client,
                        client_port: 42000 + p,
                        server: g,
                        server_port: port,
                    };
                    node.handoff_start(client, Scope::Flow(flow), None).await
                });
            }
            let mut results = Vec::new();
            while let Some(r) = jobs.join_next().await {
                results.push(r.expect("a binding task"));
            }
            results
        })
        .unwrap();
    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        failed.first()
    );
    let series = |s: &str| lab.metric("client1", s);
    assert_eq!(series("gecko_bindings{kind=\"flow\"}"), f64::from(FLOWS));
    assert_eq!(
        series("gecko_messages_total{type=\"binding_update\"}"),
        f64::from(FLOWS),
        "a BU was sent again"
    );
    assert_eq!(
        series("gecko_messages_rejected_total{reason=\"sequence_out_of_window\"}"),
        0.0
    );
}

/// How a hand-played node checks a BA.
#[derive(Clone)]
enum Check {
    None,
    Ha(MnHaKey),
    Cn(BindingKey),
}

impl Check {
    fn as_ack_key(&self) -> AckKey<'_> {
        match self {
            Check::None => AckKey::None,
            Check::Ha(k) => AckKey::HomeAgent(k),
            Check::Cn(k) => AckKey::Correspondent(k),
        }
    }
}

/// Plays the mobile node by hand from `host`, so that the test holds the
/// exact bytes it sends and can send them again.
struct HandNode {
    rt: NsRuntime,
    sock: Arc<MhSocket>,
}

impl HandNode {
    fn start(lab: &LabGuard, host: &str) -> HandNode {
        let rt = NsRuntime::start(&lab.ns(host)).unwrap();
        let sock = rt
            .block_on(async { MhSocket::open().map(Arc::new) })
            .unwrap()
            .unwrap();
        HandNode { rt, sock }
    }

    fn send(&self, mh: &[u8], src: Ipv6Addr, dst: Ipv6Addr) {
        let (sock, mh) = (self.sock.clone(), mh.to_vec());
        self.rt
            .block_on(async move { sock.send(&mh, src, dst, None).await })
            .unwrap()
            .unwrap();
    }

    /// Sends `mh` and returns the first reply from `from` (or None).
    fn exchange(
        &self,
        mh: &[u8],
        src: Ipv6Addr,
        dst: Ipv6Addr,
        from: Ipv6Addr,
        g: Ipv6Addr,
        key: Check,
    ) -> Option<Reply> {
        self.send(mh, src, dst);
        self.reply_from(from, g, key)
    }

    /// A Home Test Init (`home`) or Care-of Test Init from `src` to
    /// `client`, and the token of its answer.
    fn test(&self, home: bool, src: Ipv6Addr, client: Ipv6Addr, g: Ipv6Addr) -> Token {
        let init = mobile_node::test_init(home, Cookie([u8::from(home); 8]), &src, &client);
        let reply = self.exchange(&init.unwrap(), src, client, client, g, Check::None);
        match (home, reply) {
            (true, Some(Reply::HomeTest { index, token, .. }))
            | (false, Some(Reply::CareOfTest { index, token, .. })) => Token {
                index,
                token,
                received: Instant::now(),
            },
            (_, other) => panic!("no answer to the test init: {other:?}"),
        }
    }

    /// The first reply from `from` within 700 ms.
    fn reply_from(&self, from: Ipv6Addr, g: Ipv6Addr, key: Check) -> Option<Reply> {
        let sock = self.sock.clone();
        self.rt
            .block_on(async move {
                let mut buf = vec![0u8; 2048];
                tokio::time::timeout(Duration::from_millis(700), async {
                    loop {
                        let r = sock.recv(&mut buf).await.ok()?;
                        if r.src == from {
                            if let Ok(reply) = mobile_node::read_reply(
                                &buf[..r.len],
                                &r.src,
                                &r.dst,
                                &g,
                                key.as_ack_key(),
                            ) {
                                return Some(reply);
                            }
                        }
                    }
                })
                .await
                .ok()
                .flatten()
            })
            .unwrap()
    }
}

#[test]
fn forged_and_replayed_messages_are_refused_and_counted() {
    let lab = LabGuard::up("m6bad", 2);
    let config = lab.config();
    let g = config.global_address;
    let ha = config.home_agent.address;
    let (n1, n2) = (lab.address("node1"), lab.address("node2"));
    let client = lab.address("client1");
    let key = MnHaKey::new(config.security.mn_ha_spi, &config.security.mn_ha_key).unwrap();

    // node1 is the contact, played by hand: G on lo, registered at the HA.
    let hand = HandNode::start(&lab, "node1");
    hand.rt
        .block_on(async move { gecko::dataplane::home_plane::add_home_address(g) })
        .unwrap()
        .unwrap();
    let registration = |seq: u16, ts: SystemTime, key: &MnHaKey| {
        let reg = HomeRegistration {
            home: g,
            home_agent: ha,
            care_of: n1,
            sequence: SeqNum(seq),
            lifetime: 15,
            timestamp: NtpTimestamp::from_system_time(ts),
            flow: None,
        };
        mobile_node::home_registration(&reg, key).unwrap()
    };
    let now = SystemTime::now();
    let good = registration(1, now, &key);
    let ack = hand.exchange(&good, g, ha, ha, g, Check::Ha(key.clone()));
    assert!(
        matches!(ack, Some(Reply::BindingAck { status: 0, .. })),
        "{ack:?}"
    );
    assert_eq!(lab.metric("ha", "gecko_registrations_total"), 1.0);

    // Replayed: refused (BA 144), counted, nothing registered.
    let ack = hand.exchange(&good, g, ha, ha, g, Check::Ha(key.clone()));
    assert!(
        matches!(ack, Some(Reply::BindingAck { status: 144, .. })),
        "{ack:?}"
    );
    // Wrong key (an unauthenticated registration): silently dropped.
    let wrong = MnHaKey::new(config.security.mn_ha_spi, &[0x55; 20]).unwrap();
    let forged = registration(3, now + Duration::from_millis(5), &wrong);
    hand.send(&forged, g, ha);
    wait_for("the HA to count the forged registration", TIMEOUT, || {
        lab.metric(
            "ha",
            "gecko_messages_rejected_total{reason=\"bad_authenticator\"}",
        ) >= 1.0
    });
    assert_eq!(
        lab.metric("ha", "gecko_messages_rejected_total{reason=\"replayed\"}"),
        1.0
    );
    assert_eq!(lab.metric("ha", "gecko_registrations_total"), 1.0);

    // Return routability by hand: the HoT comes back through the HA to
    // node1, the CoT to node2; then a Binding Update from G (on node1) that
    // binds the client to node2, whose acknowledgement goes to node2.
    let hand2 = HandNode::start(&lab, "node2");
    let any = SocketAddr::from((Ipv6Addr::UNSPECIFIED, config.service_port));
    let (node1_echo, node2_echo) = (
        hand.rt.block_on(serve_echo(any)).unwrap().unwrap(),
        hand2
            .rt
            .block_on(async move {
                gecko::dataplane::home_plane::add_home_address(g).unwrap();
                serve_echo(any).await
            })
            .unwrap()
            .unwrap(),
    );
    let which =
        || ["node1", "node2"][accepted_by(&lab, &config, &[&node1_echo, &node2_echo], None)];
    assert_eq!(which(), "node1");
    let home = hand.test(true, g, client, g);
    let care_of = hand2.test(false, n2, client, g);
    let bu = |seq: u16, lifetime: u16, home: &Token| {
        let req = BindingRequest {
            home: g,
            correspondent: client,
            care_of: n2,
            sequence: SeqNum(seq),
            lifetime,
            flow: None,
        };
        mobile_node::binding_update(&req, home, Some(&care_of)).unwrap()
    };
    let kbm = mobile_node::binding_key(&home, Some(&care_of), false);
    let genuine = bu(100, 1, &home);
    hand.send(&genuine, g, client);
    let ack = hand2.reply_from(client, g, Check::Cn(kbm.clone()));
    assert!(
        matches!(ack, Some(Reply::BindingAck { status: 0, .. })),
        "{ack:?}"
    );
    assert_eq!(lab.metric("client1", "gecko_bindings{kind=\"plain\"}"), 1.0);
    assert_eq!(which(), "node2");

    // Replayed BU: 135 with the last accepted number; forged BU: dropped.
    hand.send(&genuine, g, client);
    let ack = hand2.reply_from(client, g, Check::Cn(kbm.clone()));
    assert!(
        matches!(ack, Some(Reply::BindingAck { status: 135, .. })),
        "{ack:?}"
    );
    let forged = bu(
        101,
        15,
        &Token {
            token: [7; 8],
            ..home
        },
    );
    hand.send(&forged, g, client);
    wait_for("the CN to count the forged BU", TIMEOUT, || {
        lab.metric(
            "client1",
            "gecko_messages_rejected_total{reason=\"bad_authenticator\"}",
        ) >= 1.0
    });
    assert_eq!(
        lab.metric(
            "client1",
            "gecko_messages_rejected_total{reason=\"sequence_out_of_window\"}"
        ),
        1.0
    );

    // The binding was for 4 s and nobody refreshes it: it expires and the
    // client's route for G is the home route again.
    wait_for("the binding to expire", Duration::from_secs(8), || {
        lab.metric("client1", "gecko_bindings{kind=\"plain\"}") == 0.0
    });
    assert_eq!(which(), "node1");
    drop((hand, hand2));

    // Peer channel: node1 as a real node; a datagram without the cluster
    // key and a replayed genuine one, both sent from node2's address.
    let node1 = start_node(&lab, "node1", &config, false);
    let key32: [u8; 32] = config.security.cluster_key.clone().try_into().unwrap();
    let mut codec = PeerCodec::new(&key32, 1);
    let msg = PeerMessage::HomeTest {
        client,
        mh: vec![0; 8],
    };
    let genuine = codec.seal_msg(&msg, SystemTime::now()).unwrap();
    let keyless = PeerCodec::new(&[9; 32], 1)
        .seal_msg(&msg, SystemTime::now())
        .unwrap();
    let to = SocketAddr::from((n1, config.peer_port));
    netns::run_in(&lab.ns("node2"), || {
        let s = std::net::UdpSocket::bind(SocketAddr::from((n2, config.peer_port))).unwrap();
        for d in [&genuine, &genuine, &keyless] {
            s.send_to(d, to).unwrap();
        }
    })
    .unwrap();
    let rejected = |reason: &str| {
        let text = node1.node().metrics().render();
        metric_in(
            &text,
            &format!("gecko_peer_messages_rejected_total{{reason=\"{reason}\"}}"),
        )
    };
    wait_for("node1 to count the peer rejections", TIMEOUT, || {
        rejected("replayed") == 1.0 && rejected("bad_tag") == 1.0
    });
}

#[test]
fn an_acceptor_with_an_old_sequence_number_catches_up() {
    let lab = LabGuard::up("m6seq", 3);
    let config = lab.config();
    let node1 = start_node(&lab, "node1", &config, true);
    let node2 = start_node(&lab, "node2", &config, false);
    let node3 = start_node(&lab, "node3", &config, false);
    let client = lab.address("client1");
    let nodes = [&node1, &node2, &node3];

    node2.handoff(client, Scope::Client, None).expect("handoff");
    let latest = node2
        .node()
        .handoff_mark(client)
        .expect("node2 numbered its BU");
    assert_eq!(served_by(&lab, &config, &nodes, None), 1);

    // node3 is handed a stale number (as from a donor that missed node2's
    // update): the client answers 135 with the latest, node3 goes past it.
    let stale = SeqNum(latest.0.wrapping_sub(100));
    node3
        .handoff(client, Scope::Client, Some(stale))
        .expect("handoff");
    let used = node3.node().handoff_mark(client).unwrap();
    assert!(used.is_newer_than(latest), "{used:?} after {latest:?}");
    assert!(
        lab.metric(
            "client1",
            "gecko_messages_rejected_total{reason=\"sequence_out_of_window\"}"
        ) >= 1.0
    );
    assert_eq!(served_by(&lab, &config, &nodes, None), 2);
}
