//! The data plane on a real kernel: a lab (router `ha`, node1, node2,
//! client1) where the nodes carry G on `lo`, the client's `ClientPlane`
//! steers real TCP connections, and each node's listener answers with its
//! name, so the answer says which node a connection reached. Needs root.
//!
//! Each test uses its own lab (namespaces `gecko-t-dp-*`), taken down by a
//! guard however the test ends, and runs once per data-plane backend the
//! kernel offers (`gecko_lab::backends_under_test`).

use std::io::{self, Read};
use std::net::{Ipv6Addr, SocketAddrV6, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gecko::dataplane::client_plane::{
    HOME_RULE_PRIORITY, MAX_SLOTS, PLAIN_RULE_PRIORITY, PLAIN_TABLE, SLOT_RULE_PRIORITY, TABLE_BASE,
};
use gecko::dataplane::encap::VXLAN_DEVICE;
use gecko::dataplane::home_plane::add_home_address;
use gecko::dataplane::routes::MAIN_TABLE;
use gecko::dataplane::{
    BindingPlane, ClientPlane, Encap, FlowKey, FlowMap, HomePlane, Routes, HOME_MARK,
};
use gecko_lab::{backends_under_test, netns, Lab};

const G: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1);
const NODE1: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 1, 0, 0, 0, 2);
const NODE2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, 2);
const CLIENT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 1, 0, 0, 0, 2);
const PORT: u16 = 7;
const LINK_MTU: u32 = 1500;

/// A lab that is taken down when the test ends, however it ends.
struct LabGuard {
    name: &'static str,
}

impl LabGuard {
    fn up(name: &'static str) -> LabGuard {
        let _ = Lab::down(name);
        let guard = LabGuard { name };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(Lab::up(name, 2, 1, &mut |_| {}))
            .expect("lab up");
        guard
    }

    fn ns(&self, host: &str) -> std::fs::File {
        netns::open(&format!("gecko-{}-{host}", self.name)).unwrap()
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = Lab::down(self.name);
    }
}

/// A TCP listener on [::]:7 inside a node's namespace that answers every
/// connection with the node's name.
struct NameServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl NameServer {
    fn start(ns: &std::fs::File, name: &'static str) -> NameServer {
        let listener = netns::run_in(ns, || TcpListener::bind("[::]:7"))
            .unwrap()
            .unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            use std::io::Write;
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        let _ = conn.set_nonblocking(false);
                        let _ = conn.write_all(name.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        NameServer {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for NameServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Connects from the client's namespace to G:7 (from `port` if given, with
/// socket mark `mark` if given) and returns the name of the node that
/// answered.
fn ask(client: &std::fs::File, port: Option<u16>, mark: Option<u32>) -> io::Result<String> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = netns::run_in(client, || {
        Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))
    })??;
    socket.set_reuse_address(true)?;
    if let Some(mark) = mark {
        socket.set_mark(mark)?;
    }
    if let Some(port) = port {
        socket.bind(&SocketAddrV6::new(CLIENT, port, 0, 0).into())?;
    }
    socket.connect_timeout(
        &SocketAddrV6::new(G, PORT, 0, 0).into(),
        Duration::from_secs(2),
    )?;
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

/// The lab with G on both nodes and a name server on each.
fn serving_lab(name: &'static str) -> (LabGuard, [NameServer; 2]) {
    let lab = LabGuard::up(name);
    for node in ["node1", "node2"] {
        netns::run_in(&lab.ns(node), || add_home_address(G))
            .unwrap()
            .unwrap_or_else(|e| panic!("G on {node}'s lo: {e}"));
    }
    let servers = [
        NameServer::start(&lab.ns("node1"), "node1"),
        NameServer::start(&lab.ns("node2"), "node2"),
    ];
    (lab, servers)
}

fn flow(port: u16) -> FlowKey {
    FlowKey {
        client: CLIENT,
        client_port: port,
        server: G,
        server_port: PORT,
    }
}

/// Everything the client plane adds that is still in the client's
/// namespace: rules, routes, the nftables table.
fn client_plane_leftovers(client: &std::fs::File) -> Vec<String> {
    netns::run_in(client, || {
        let mut left = Vec::new();
        let mut routes = Routes::open().unwrap();
        for rule in routes.list_rules().unwrap() {
            if [HOME_RULE_PRIORITY, SLOT_RULE_PRIORITY, PLAIN_RULE_PRIORITY]
                .contains(&rule.priority)
            {
                left.push(format!("{rule:?}"));
            }
        }
        for route in routes.list_routes().unwrap() {
            let ours = (PLAIN_TABLE..TABLE_BASE + MAX_SLOTS as u32).contains(&route.table);
            if ours || (route.table == MAIN_TABLE && route.destination == G) {
                left.push(format!("{route:?}"));
            }
        }
        if FlowMap::present().unwrap() {
            left.push("nftables table gecko".into());
        }
        if routes.link_index(VXLAN_DEVICE).is_ok() {
            left.push(format!("link {VXLAN_DEVICE}"));
        }
        left
    })
    .unwrap()
}

#[test]
fn connections_follow_plain_flow_and_home_bindings() {
    for encap in backends_under_test("connections_follow_plain_flow_and_home_bindings") {
        follow_bindings("t-dp-flows", encap, encap);
    }
}

/// The home agent on one backend, the client on another: a node takes
/// both, so hosts whose kernels chose differently work together.
#[test]
fn a_home_agent_and_a_client_on_different_backends() {
    let usable = backends_under_test("a_home_agent_and_a_client_on_different_backends");
    if usable.len() < 2 {
        eprintln!(
            "NOT RUN: a_home_agent_and_a_client_on_different_backends needs two backends; \
             this kernel offers {usable:?}"
        );
    }
    for ha in &usable {
        for client in usable.iter().filter(|c| *c != ha) {
            follow_bindings("t-dp-mixed", *ha, *client);
        }
    }
}

fn follow_bindings(lab_name: &'static str, ha_encap: Encap, client_encap: Encap) {
    eprintln!("home agent on {ha_encap}, client on {client_encap}");
    let (lab, _servers) = serving_lab(lab_name);
    let client = lab.ns("client1");
    let mut ha = netns::run_in(&lab.ns("ha"), || HomePlane::open(LINK_MTU, ha_encap))
        .unwrap()
        .unwrap();

    let mut plane = netns::run_in(&client, || ClientPlane::install(G, LINK_MTU, client_encap))
        .unwrap()
        .expect("install");
    assert_eq!(
        plane.home().gateway,
        Some("2001:db8:2:1::1".parse().unwrap())
    );

    // The plain binding takes every connection.
    plane.set_plain(Some(NODE1)).unwrap();
    assert_eq!(ask(&client, None, None).unwrap(), "node1");

    // A bound flow goes its own way; the others keep to the plain binding.
    plane.bind_flow(flow(40001), NODE2).unwrap();
    assert_eq!(ask(&client, Some(40001), None).unwrap(), "node2");
    assert_eq!(ask(&client, None, None).unwrap(), "node1");
    assert_eq!(ask(&client, Some(40002), None).unwrap(), "node1");

    // Rebinding a bound flow replaces its mark.
    plane.bind_flow(flow(40001), NODE1).unwrap();
    assert_eq!(ask(&client, Some(40001), None).unwrap(), "node1");
    plane.bind_flow(flow(40001), NODE2).unwrap();
    assert_eq!(ask(&client, Some(40001), None).unwrap(), "node2");
    assert_eq!(plane.slots(), &[NODE2, NODE1]);

    // Unbound, it follows the plain binding again.
    assert!(plane.unbind_flow(&flow(40001)).unwrap());
    assert!(!plane.unbind_flow(&flow(40001)).unwrap());
    assert_eq!(ask(&client, Some(40001), None).unwrap(), "node1");

    // Without a plain binding, the home route: the home agent's binding.
    ha.set_binding(G, NODE2).unwrap();
    plane.set_plain(None).unwrap();
    assert_eq!(ask(&client, None, None).unwrap(), "node2");

    // HOME_MARK takes the home route whatever the bindings.
    plane.set_plain(Some(NODE1)).unwrap();
    plane.bind_flow(flow(40003), NODE1).unwrap();
    assert_eq!(ask(&client, None, Some(HOME_MARK)).unwrap(), "node2");
    assert_eq!(ask(&client, Some(40003), Some(HOME_MARK)).unwrap(), "node2");
    assert_eq!(ask(&client, None, None).unwrap(), "node1");

    // Uninstall leaves nothing behind...
    assert!(!client_plane_leftovers(&client).is_empty());
    plane.uninstall().unwrap();
    assert_eq!(client_plane_leftovers(&client), Vec::<String>::new());
    plane.uninstall().expect("uninstall is idempotent");
    drop(plane);
    // ... and the client reaches G by its ordinary route (the HA's binding).
    assert_eq!(ask(&client, Some(40003), None).unwrap(), "node2");

    // A second install works, and dropping it cleans up too.
    let mut again = netns::run_in(&client, || ClientPlane::install(G, LINK_MTU, client_encap))
        .unwrap()
        .expect("second install");
    again.bind_flow(flow(40004), NODE1).unwrap();
    assert_eq!(ask(&client, Some(40004), None).unwrap(), "node1");
    drop(again);
    assert_eq!(client_plane_leftovers(&client), Vec::<String>::new());

    assert!(ha.clear_binding(G).unwrap());
    assert!(!ha.clear_binding(G).unwrap());
}

/// A client without an agent (nothing installed on its host): the home
/// agent steers its flows one by one, the rest follow G's route.
#[test]
fn the_home_agent_steers_flows_of_a_client_without_an_agent() {
    for encap in backends_under_test("the_home_agent_steers_flows_of_a_client_without_an_agent") {
        eprintln!("home agent on {encap}");
        let (lab, _servers) = serving_lab("t-dp-haflow");
        let client = lab.ns("client1");
        let mut ha = netns::run_in(&lab.ns("ha"), || {
            let mut ha = HomePlane::open(LINK_MTU, encap)?;
            ha.steer_flows(G)?;
            Ok::<_, gecko::dataplane::DataPlaneError>(ha)
        })
        .unwrap()
        .expect("home plane with flow steering");
        ha.set_binding(G, NODE1).unwrap();
        assert_eq!(ask(&client, None, None).unwrap(), "node1");

        ha.bind_flow(flow(40001), NODE2).unwrap();
        assert_eq!(ask(&client, Some(40001), None).unwrap(), "node2");
        assert_eq!(ask(&client, Some(40002), None).unwrap(), "node1");
        ha.bind_flow(flow(40001), NODE1).unwrap();
        assert_eq!(ask(&client, Some(40001), None).unwrap(), "node1");
        ha.bind_flow(flow(40001), NODE2).unwrap();
        assert_eq!(ha.flow_table().unwrap().count().unwrap(), 1);
        assert!(ha.unbind_flow(&flow(40001)).unwrap());
        assert_eq!(ask(&client, Some(40001), None).unwrap(), "node1");

        // Dropped, it leaves nothing of the steering behind.
        ha.bind_flow(flow(40003), NODE2).unwrap();
        drop(ha);
        let left = netns::run_in(&lab.ns("ha"), || {
            let mut routes = Routes::open().unwrap();
            let rules = routes
                .list_rules()
                .unwrap()
                .into_iter()
                .filter(|r| r.priority == SLOT_RULE_PRIORITY)
                .count();
            let routes = routes
                .list_routes()
                .unwrap()
                .into_iter()
                .filter(|r| r.destination == G)
                .count();
            (rules, routes)
        })
        .unwrap();
        assert_eq!(
            left,
            (0, 0),
            "slot rules and routes to G left on the home agent"
        );
    }
}

#[test]
fn ten_thousand_flows_in_the_map() {
    for encap in backends_under_test("ten_thousand_flows_in_the_map") {
        ten_thousand_flows(encap);
    }
}

fn ten_thousand_flows(encap: Encap) {
    let (lab, _servers) = serving_lab("t-dp-many");
    let client = lab.ns("client1");
    let mut ha = netns::run_in(&lab.ns("ha"), || HomePlane::open(LINK_MTU, encap))
        .unwrap()
        .unwrap();
    ha.set_binding(G, NODE2).unwrap();
    let mut plane = netns::run_in(&client, || ClientPlane::install(G, LINK_MTU, encap))
        .unwrap()
        .expect("install");
    plane.set_plain(Some(NODE1)).unwrap();

    let ports = 20000..30000u16;
    let t0 = Instant::now();
    for port in ports.clone() {
        plane.bind_flow(flow(port), NODE2).unwrap();
    }
    let inserted = t0.elapsed();
    assert_eq!(plane.flow_table().unwrap().count().unwrap(), 10_000);
    assert_eq!(plane.bound_flows(), 10_000);

    // Bound flows go to node2, the rest (ephemeral ports lie above 30000)
    // to the plain binding.
    assert_eq!(ask(&client, Some(20001), None).unwrap(), "node2");
    assert_eq!(ask(&client, Some(29999), None).unwrap(), "node2");
    assert_eq!(ask(&client, None, None).unwrap(), "node1");
    assert_eq!(ask(&client, Some(30001), None).unwrap(), "node1");

    let t0 = Instant::now();
    for port in ports.clone() {
        assert!(plane.unbind_flow(&flow(port)).unwrap(), "port {port}");
    }
    let removed = t0.elapsed();
    assert_eq!(plane.flow_table().unwrap().count().unwrap(), 0);
    assert_eq!(ask(&client, Some(20001), None).unwrap(), "node1");
    eprintln!("10000 flows: inserted in {inserted:?}, removed in {removed:?}");

    // A stale plane (a client agent that died without cleaning up) is
    // replaced by the next install.
    plane.bind_flow(flow(20002), NODE2).unwrap();
    std::mem::forget(plane);
    let fresh = netns::run_in(&client, || ClientPlane::install(G, LINK_MTU, encap))
        .unwrap()
        .expect("install over leftovers");
    assert_eq!(
        ask(&client, Some(20002), None).unwrap(),
        "node2",
        "the home route"
    );
    drop(fresh);
    assert_eq!(client_plane_leftovers(&client), Vec::<String>::new());
}

/// A node takes in a segment behind an inline SRH (what a seg6 sender
/// sends) whatever its own kernel can send: here the client crafts the
/// SRH itself on a raw socket, so this runs on kernels without seg6
/// lwtunnels too, and the node answers the SYN from G.
#[test]
fn a_node_takes_an_srh_from_any_sender() {
    use gecko::dataplane::KernelReport;
    if !KernelReport::get().receives(Encap::Seg6) {
        eprintln!("NOT RUN: a_node_takes_an_srh_from_any_sender: this kernel lacks SRH reception");
        return;
    }
    let (lab, _servers) = serving_lab("t-dp-srh");
    let client = lab.ns("client1");
    let (tx, rx) = netns::run_in(&client, || {
        use socket2::{Domain, Protocol, Socket, Type};
        let tx = Socket::new(
            Domain::IPV6,
            Type::RAW,
            Some(Protocol::from(libc::IPPROTO_RAW)),
        )?;
        let rx = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::TCP))?;
        rx.set_read_timeout(Some(Duration::from_secs(2)))?;
        io::Result::Ok((tx, rx))
    })
    .unwrap()
    .unwrap();
    let (port, seq) = (40100u16, 0x1234_5678u32);
    let mut syn = Vec::new();
    syn.extend_from_slice(&port.to_be_bytes());
    syn.extend_from_slice(&PORT.to_be_bytes());
    syn.extend_from_slice(&seq.to_be_bytes());
    syn.extend_from_slice(&0u32.to_be_bytes());
    syn.extend_from_slice(&[0x50, 0x02]); // 20 bytes, SYN
    syn.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]); // window, checksum, urgent
                                                      // The checksum covers the final destination, G (RFC 8200 §8.1).
    let sum = gecko::tcp::flow_lock::tcp_checksum(&CLIENT, &G, &syn);
    syn[16..18].copy_from_slice(&sum.to_be_bytes());
    let mut packet = vec![0x60, 0, 0, 0];
    packet.extend_from_slice(&((40 + syn.len()) as u16).to_be_bytes());
    packet.extend_from_slice(&[43, 64]); // routing header, hop limit
    packet.extend_from_slice(&CLIENT.octets());
    packet.extend_from_slice(&NODE1.octets()); // segments[1]: first hop
                                               // SRH: TCP next, 4 x 8 bytes more, type 4, segments left 1, last entry 1.
    packet.extend_from_slice(&[6, 4, 4, 1, 1, 0, 0, 0]);
    packet.extend_from_slice(&G.octets()); // segments[0]: the final one
    packet.extend_from_slice(&NODE1.octets());
    packet.extend_from_slice(&syn);
    tx.send_to(&packet, &SocketAddrV6::new(NODE1, 0, 0, 0).into())
        .unwrap();
    // The node answers from G straight to the client: a SYN-ACK of ours.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1500];
    loop {
        assert!(Instant::now() < deadline, "no SYN-ACK from G");
        let Ok((n, from)) = rx.recv_from(&mut buf) else {
            continue;
        };
        // SAFETY: recv_from initialised the first n bytes.
        let seg: Vec<u8> = buf[..n]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect();
        let from = from.as_socket_ipv6().map(|a| *a.ip());
        let dst_port = u16::from_be_bytes([seg[2], seg[3]]);
        if from != Some(G) || dst_port != port {
            continue;
        }
        let ack = u32::from_be_bytes([seg[8], seg[9], seg[10], seg[11]]);
        assert_eq!(seg[13] & 0x12, 0x12, "SYN and ACK set");
        assert_eq!(ack, seq.wrapping_add(1));
        break;
    }
}
