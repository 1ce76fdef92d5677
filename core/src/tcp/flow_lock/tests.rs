use super::*;
use crate::dataplane::{EncapSender, Routes, Traffic, MAX_OVERHEAD};
use gecko_netns::{links, netns};
use proptest::prelude::*;
use rtnetlink::Handle;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

const CLIENT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x10c, 0, 0, 0, 0, 1);
/// The server node's care-of address.
const COA: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x10c, 0, 0, 0, 0, 2);
/// G, on the server's `lo`.
const G: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x10d, 0, 0, 0, 0, 1);
const MAIN_TABLE: u32 = 254;

/// Deletes its namespaces when dropped, also when a test fails.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in &self.0 {
            if let Err(e) = netns::delete(name) {
                eprintln!("deleting namespace {name}: {e}");
            }
        }
    }
}

/// A client and a server node joined by a veth pair; the client reaches G
/// through the data plane's route to the server's care-of address (seg6
/// inline or VXLAN: `backend_under_test`), as a correspondent with a
/// binding does.
struct Path {
    client: File,
    server: File,
    _names: Namespaces,
}

/// The two namespaces of a test, or None (the test then returns) where
/// `gecko_netns::root_test` says it cannot run.
async fn path(tag: &str) -> Option<Path> {
    if !gecko_netns::root_test(&format!("flow_lock::{tag}")) {
        return None;
    }
    let names = Namespaces(vec![
        format!("gecko-t-lock-{tag}-c"),
        format!("gecko-t-lock-{tag}-s"),
    ]);
    for name in &names.0 {
        // Left over by a run that was killed: start clean.
        netns::delete(name).unwrap();
        netns::create(name).unwrap();
    }
    let client = netns::open(&names.0[0]).unwrap();
    let server = netns::open(&names.0[1]).unwrap();
    let settings = [
        ("conf/default/accept_dad", "0"),
        ("conf/all/accept_dad", "0"),
        ("conf/default/seg6_enabled", "1"),
        ("conf/all/seg6_enabled", "1"),
    ];
    links::sysctls(&client, &settings).unwrap();
    links::sysctls(&server, &settings).unwrap();
    // No tail loss probe on the client (it fires after about two RTTs, a
    // few ms here): a retransmission must mean the lock lost a segment.
    netns::run_in(&client, || {
        std::fs::write("/proc/sys/net/ipv4/tcp_early_retrans", "0").unwrap()
    })
    .unwrap();
    let hc = links::connect(&client).await.unwrap();
    let hs = links::connect(&server).await.unwrap();
    links::add_veth(&hc, "lock-c", &server, "lock-s")
        .await
        .unwrap();
    for (h, link) in [(&hc, "lo"), (&hc, "lock-c"), (&hs, "lo"), (&hs, "lock-s")] {
        links::set_up(h, link, true).await.unwrap();
    }
    links::add_address(&hc, "lock-c", CLIENT, 64).await.unwrap();
    links::add_address(&hs, "lock-s", COA, 64).await.unwrap();
    netns::run_in(&server, || crate::dataplane::reception::receive(G))
        .unwrap()
        .unwrap();
    wait_up(&hc, "lock-c").await;
    wait_up(&hs, "lock-s").await;
    netns::run_in(&client, || {
        let mut routes = Routes::open()?;
        let encap = crate::dataplane::kernel_check::backend_under_test();
        let mut sender = EncapSender::open(&mut routes, encap, 1500)?;
        sender.route(
            &mut routes,
            MAIN_TABLE,
            G,
            COA,
            1500 - MAX_OVERHEAD,
            Traffic::Local,
        )
    })
    .unwrap()
    .unwrap();
    Some(Path {
        client,
        server,
        _names: names,
    })
}

/// Waits until `link` has carrier: before, sends fail with ENETDOWN.
async fn wait_up(h: &Handle, link: &str) {
    use futures::TryStreamExt;
    use rtnetlink::packet_route::link::{LinkAttribute, State};
    let index = links::index(h, link).await.unwrap();
    for _ in 0..250 {
        let l = h.link().get().match_index(index).execute().try_next().await;
        if l.unwrap()
            .unwrap()
            .attributes
            .contains(&LinkAttribute::OperState(State::Up))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{link} not up in 5 s");
}

/// A connection client -> [G]:port through the data plane: (client side,
/// server side, its flow).
fn connect(p: &Path, listener: &TcpListener, port: u16) -> (TcpStream, TcpStream, FlowKey) {
    let client = netns::run_in(&p.client, || {
        TcpStream::connect_timeout(
            &SocketAddrV6::new(G, port, 0, 0).into(),
            Duration::from_secs(3),
        )
    })
    .unwrap()
    .unwrap();
    client.set_nodelay(true).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    // One round trip, so the client has measured the RTT.
    (&client).write_all(b"hi").unwrap();
    let mut hi = [0; 2];
    server.read_exact(&mut hi).unwrap();
    let flow = FlowKey {
        client: CLIENT,
        client_port: client.local_addr().unwrap().port(),
        server: G,
        server_port: port,
    };
    (client, server, flow)
}

fn listen(p: &Path, port: u16) -> TcpListener {
    netns::run_in(&p.server, || TcpListener::bind(("::", port)))
        .unwrap()
        .unwrap()
}

fn open_lock(ns: &File) -> FlowLock {
    netns::run_in(ns, FlowLock::open).unwrap().unwrap()
}

/// Bytes readable on `s` within `wait` (0 if none).
fn readable_within(s: &TcpStream, wait: Duration) -> usize {
    let mut fds = [libc::pollfd {
        fd: s.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: `fds` is a valid array of one pollfd.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, wait.as_millis() as i32) };
    if n <= 0 {
        return 0;
    }
    let mut buf = [0u8; 65536];
    s.set_nonblocking(true).unwrap();
    let got = (&*s).read(&mut buf).unwrap_or(0);
    s.set_nonblocking(false).unwrap();
    got
}

/// `tcpi_total_retrans` from the socket's TCP_INFO.
fn total_retrans(s: &TcpStream) -> u32 {
    use std::os::fd::AsFd;
    crate::tcp::info::tcp_info(s.as_fd())
        .expect("TCP_INFO")
        .tcpi_total_retrans
}

/// The payload of a TCP segment.
fn payload(segment: &[u8]) -> &[u8] {
    &segment[usize::from(segment[12] >> 4) * 4..]
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_segments_are_dropped_captured_and_replayed() {
    let Some(p) = path("rp").await else {
        return;
    };
    let listener = listen(&p, 7001);
    let (client, mut server, flow) = connect(&p, &listener, 7001);
    let lock = open_lock(&p.server);
    let replayer = netns::run_in(&p.server, Replayer::open).unwrap().unwrap();

    lock.lock(&flow).unwrap();
    lock.lock(&flow).unwrap(); // idempotent
    assert!(lock.is_locked(&flow));
    let sent = data(3 * 700, 7);
    for chunk in sent.chunks(700) {
        (&client).write_all(chunk).unwrap();
    }
    let mut captured = Vec::new();
    let mut got = Vec::new();
    while got.len() < sent.len() {
        let c = tokio::time::timeout(Duration::from_secs(2), lock.captured())
            .await
            .expect("the locked flow's segments are captured")
            .unwrap();
        assert_eq!(c.flow, flow, "client, ports and G (the SRH's last segment)");
        got.extend_from_slice(payload(&c.segment));
        captured.push(c);
    }
    assert_eq!(got, sent);
    // The lock dropped them: the server socket has nothing.
    assert_eq!(readable_within(&server, Duration::from_millis(30)), 0);

    lock.unlock(&flow).unwrap();
    lock.unlock(&flow).unwrap(); // idempotent
    assert!(!lock.is_locked(&flow));
    for c in &captured {
        replayer.replay(c).unwrap();
    }
    let mut received = vec![0; sent.len()];
    server.read_exact(&mut received).unwrap();
    assert_eq!(
        Sha256::digest(&received)[..],
        Sha256::digest(&sent)[..],
        "the replay delivers exactly what was sent"
    );
    // Nothing more comes (no duplicate delivered).
    assert_eq!(readable_within(&server, Duration::from_millis(20)), 0);
    // Let the server's ACK reach the client before asking it.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        total_retrans(&client),
        0,
        "the replay, not a retransmission, delivered the data"
    );
    // The connection lives on unlocked.
    (&client).write_all(b"after").unwrap();
    let mut after = [0; 5];
    server.read_exact(&mut after).unwrap();
    assert_eq!(&after, b"after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_flows_pass_and_an_idle_lock_captures_nothing() {
    let Some(p) = path("of").await else {
        return;
    };
    let listener = listen(&p, 7002);
    let (a_client, mut a_server, a) = connect(&p, &listener, 7002);
    let (b_client, mut b_server, _b) = connect(&p, &listener, 7002);
    let lock = open_lock(&p.server);
    assert!(netns::run_in(&p.server, table_present).unwrap());

    // Nothing locked: traffic flows, and the socket queues nothing at all
    // (its filter refuses every packet).
    (&a_client).write_all(b"idle").unwrap();
    let mut buf = [0; 4];
    a_server.read_exact(&mut buf).unwrap();
    let mut raw = vec![0; CAPTURE_BUF];
    assert_eq!(
        receive(lock.packet.as_raw_fd(), &mut raw)
            .unwrap_err()
            .kind(),
        io::ErrorKind::WouldBlock
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(100), lock.captured())
            .await
            .is_err()
    );

    // A locked: B's packets are neither dropped nor handed out.
    lock.lock(&a).unwrap();
    (&b_client).write_all(b"other").unwrap();
    let mut other = [0; 5];
    b_server.read_exact(&mut other).unwrap();
    assert_eq!(&other, b"other");
    assert!(
        tokio::time::timeout(Duration::from_millis(100), lock.captured())
            .await
            .is_err(),
        "only the locked flow's segments are captured"
    );
    // ... while A's are.
    (&a_client).write_all(b"locked").unwrap();
    let c = tokio::time::timeout(Duration::from_secs(2), lock.captured())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.flow, a);
    assert_eq!(payload(&c.segment), b"locked");
    assert_eq!(readable_within(&a_server, Duration::from_millis(20)), 0);

    // Unlocked: the kernel retransmits what was dropped; nothing captured.
    lock.unlock(&a).unwrap();
    let mut locked = [0; 6];
    a_server.read_exact(&mut locked).unwrap();
    assert_eq!(&locked, b"locked");
    (&a_client).write_all(b"free").unwrap();
    a_server.read_exact(&mut buf).unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(100), lock.captured())
            .await
            .is_err()
    );

    // Dropping the lock deletes its table.
    drop(lock);
    assert!(!netns::run_in(&p.server, table_present).unwrap());
}

fn table_present() -> bool {
    let mut nl = Netlink::open(netlink_sys::constants::NETLINK_NETFILTER).unwrap();
    nf_tables::table_present(&mut nl, TABLE).unwrap()
}

/// An IPv6 packet from CLIENT to `dst` with the extension headers `ext`
/// (already chained: `first` is the first next header) and a TCP segment
/// 4321 -> 80 carrying `body`.
fn packet(dst: Ipv6Addr, first: u8, ext: &[u8], body: &[u8]) -> Vec<u8> {
    let mut tcp = vec![0u8; 20];
    tcp[0..2].copy_from_slice(&4321u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp.extend_from_slice(body);
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&((ext.len() + tcp.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[first, 64]);
    p.extend_from_slice(&CLIENT.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(ext);
    p.extend_from_slice(&tcp);
    p
}

/// An inline SRH as the client's kernel writes it: segments [G, CoA],
/// segments left 1, next header TCP.
fn srh() -> Vec<u8> {
    let mut h = vec![IPPROTO_TCP, 4, SRH_TYPE, 1, 1, 0, 0, 0];
    h.extend_from_slice(&G.octets());
    h.extend_from_slice(&COA.octets());
    h
}

#[test]
fn parses_through_an_srh() {
    let p = packet(COA, NEXTHDR_ROUTING, &srh(), b"data");
    let c = parse(&p).unwrap();
    assert_eq!(
        c.flow,
        FlowKey {
            client: CLIENT,
            client_port: 4321,
            server: G,
            server_port: 80
        }
    );
    assert_eq!(payload(&c.segment), b"data");
    // Without an SRH the destination is the server.
    let plain = parse(&packet(G, IPPROTO_TCP, &[], b"x")).unwrap();
    assert_eq!(plain.flow.server, G);
    // Trailing link padding past the payload length is cut off.
    let mut padded = packet(G, IPPROTO_TCP, &[], b"x");
    padded.extend_from_slice(&[0; 6]);
    assert_eq!(parse(&padded).unwrap().segment.len(), 21);
}

#[test]
fn parses_through_hop_by_hop_and_destination_options() {
    // Hop-by-hop (PadN) -> destination options (PadN) -> SRH -> TCP.
    let mut ext = vec![NEXTHDR_DEST, 0, 1, 4, 0, 0, 0, 0];
    ext.extend_from_slice(&[NEXTHDR_ROUTING, 0, 1, 4, 0, 0, 0, 0]);
    ext.extend_from_slice(&srh());
    let c = parse(&packet(COA, NEXTHDR_HOP, &ext, b"hbh")).unwrap();
    assert_eq!(c.flow.server, G);
    assert_eq!(payload(&c.segment), b"hbh");
}

#[test]
fn ignores_fragments_other_protocols_and_garbage() {
    let frag = [IPPROTO_TCP, 0, 0, 1, 0, 0, 0, 1];
    assert_eq!(parse(&packet(G, NEXTHDR_FRAGMENT, &frag, b"f")), None);
    let mut udp = packet(G, 17, &[], b"u");
    assert_eq!(parse(&udp), None);
    udp[0] = 0x40; // IPv4
    assert_eq!(parse(&udp), None);
    let full = packet(COA, NEXTHDR_ROUTING, &srh(), b"data");
    for len in 0..full.len() {
        // Every truncation is refused (the payload length says more).
        assert_eq!(parse(&full[..len]), None, "truncated to {len}");
    }
    // An SRH whose segment list runs past its own length.
    let mut bad = srh();
    bad[4] = 5;
    assert_eq!(parse(&packet(COA, NEXTHDR_ROUTING, &bad, b"")), None);
    // A TCP data offset below 5.
    let mut short = packet(G, IPPROTO_TCP, &[], b"");
    short[40 + 12] = 4 << 4;
    assert_eq!(parse(&short), None);
}

#[test]
fn replayed_packet_has_a_valid_checksum() {
    let mut c = parse(&packet(COA, NEXTHDR_ROUTING, &srh(), b"odd")).unwrap();
    // A partial checksum, as captured before an offload.
    c.segment[16..18].copy_from_slice(&[0xab, 0xcd]);
    let p = replay_packet(&c).unwrap();
    assert_eq!(&p[8..24], &CLIENT.octets());
    assert_eq!(&p[24..40], &G.octets());
    assert_eq!(p[6], IPPROTO_TCP);
    let segment = &p[40..];
    assert_eq!(usize::from(u16::from_be_bytes([p[4], p[5]])), segment.len());
    // Summing over the stored checksum gives zero (0xffff folded).
    let stored = u16::from_be_bytes([segment[16], segment[17]]);
    assert_eq!(stored, tcp_checksum(&CLIENT, &G, segment));
    let mut zeroed = segment.to_vec();
    zeroed[16..18].fill(0);
    assert_eq!(tcp_checksum(&CLIENT, &G, &zeroed), stored);
    // (G and CoA have the same word sum: one's complement cannot tell
    // them apart, so compare with another destination.)
    assert_ne!(tcp_checksum(&CLIENT, &CLIENT, segment), stored);
    c.segment.truncate(19);
    assert_eq!(replay_packet(&c), None);
}

#[test]
fn key_and_filters() {
    let flow = FlowKey {
        client: CLIENT,
        client_port: 0x1234,
        server: G,
        server_port: 80,
    };
    let key = key_bytes(&flow);
    assert_eq!(&key[..16], &CLIENT.octets());
    assert_eq!(&key[16..24], &[0x12, 0x34, 0, 0, 0, 80, 0, 0]);
    // Every jump of the capture filter lands inside it.
    for (i, insn) in CAPTURE_TCP.iter().enumerate() {
        if insn.code != BPF_JEQ_K {
            continue;
        }
        assert!(i + 1 + usize::from(insn.jt.max(insn.jf)) < CAPTURE_TCP.len());
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn random_tails_behind_an_ipv6_header_never_panic(
        next in any::<u8>(),
        tail in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(tail.len() as u16).to_be_bytes());
        p.extend_from_slice(&[next, 64]);
        p.extend_from_slice(&[0; 32]);
        p.extend_from_slice(&tail);
        if let Some(c) = parse(&p) {
            prop_assert!(c.segment.len() >= 20);
        }
    }
}
