//! Failover as a user meets it: `curl` downloads a file from G through
//! `stream-server` while nodes crash (SIGKILL), lose their link, or crash
//! in the middle of handoffs; each node's backup recovers its connections
//! and the server resumes at the recovered offsets. Every download is
//! checked by HTTP status, size and SHA-256; one that cannot be recovered
//! must end in an error (never a hang) with what it got a prefix of the
//! file. Needs root and `curl`; run `cargo build --workspace` first.
//! `GECKO_TEST_MB` sets the file's size (default 200 MB, as issue 5 asks).

#[path = "support/stream_lab.rs"]
mod stream_lab;

use std::time::{Duration, Instant};

use gecko::node::crash_point::{CrashPoint, CRASH_AT};
use stream_lab::{file_mb, one_lab_at_a_time, root_or_skip, Download, Downloaded, StreamLab};

/// curl's rate limit, so that downloads are still running when a node is
/// killed (the lab moves GB/s): 200 MB take about 5 s.
const RATE: &str = "40M";

/// Starts `n` rate-limited downloads (clients in turn) and waits until
/// the nodes serve all of them.
fn downloads(lab: &mut StreamLab, n: usize) -> Vec<Download> {
    let clients = lab.clients.clone();
    let d = (0..n)
        .map(|i| {
            let c = clients[i % clients.len()].clone();
            let d = lab.curl_spawn_with(&c, "/", &["--limit-rate", RATE]);
            // One at a time, so that round-robin spreads them.
            wait_until(lab, "gecko_connections_open", (i + 1) as f64);
            d
        })
        .collect();
    eprintln!(
        "serving by node: {:?}",
        lab.metric_by_node("gecko_connections_open")
    );
    d
}

/// Waits (10 s at most) until `series` summed over the nodes that answer
/// reaches `at_least`; returns its value.
fn wait_until(lab: &StreamLab, series: &str, at_least: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = lab.metric_sum(series);
        if v >= at_least || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Connections node `i` serves now.
fn open_on(lab: &StreamLab, i: usize) -> f64 {
    lab.node_metric(i, "gecko_connections_open").unwrap_or(0.0)
}

/// Waits for every download; each must be the whole file.
fn all_intact(lab: &mut StreamLab, ds: Vec<Download>) {
    let got: Vec<Downloaded> = ds.into_iter().map(|d| lab.curl_wait(d)).collect();
    for (i, g) in got.iter().enumerate() {
        lab.assert_intact(g, &format!("download {i}"));
    }
}

/// Waits for every download; each is the whole file, or failed with a
/// prefix of it. Returns how many completed.
fn intact_or_reset(lab: &mut StreamLab, ds: Vec<Download>) -> usize {
    let got: Vec<Downloaded> = ds.into_iter().map(|d| lab.curl_wait(d)).collect();
    let mut whole = 0;
    for (i, g) in got.iter().enumerate() {
        assert!(
            g.prefix_ok,
            "download {i}: bytes that are not the file's: {g:?}"
        );
        // curl's 28: no byte for 30 s (or 600 s in all): it hung.
        assert_ne!(g.exit, Some(28), "download {i} hung: {g:?}");
        if g.exit == Some(0) {
            lab.assert_intact(g, &format!("download {i}"));
            whole += 1;
        }
    }
    whole
}

#[test]
fn downloads_survive_the_crash_of_a_node() {
    if !root_or_skip("downloads_survive_the_crash_of_a_node") {
        return;
    }
    let _one = one_lab_at_a_time();
    let mut lab = StreamLab::start("gk-fail-kill", 3, 1, file_mb(200), &[]);
    let victim = node2_crashes_and_its_downloads_complete(&mut lab);
    assert!(
        lab.metric_sum("gecko_failures_detected_total") >= 2.0,
        "both others saw it"
    );
    let resumed = (0..lab.nodes.len())
        .filter(|i| *i != victim)
        .any(|i| lab.server_log(i).contains("recovered=true"));
    assert!(resumed, "a server resumed a recovered connection");
}

/// Clients without an agent (issue 19): the backup re-registers the dead
/// node's flows at the home agent, and the downloads complete.
#[test]
fn a_plain_clients_downloads_survive_the_crash_of_a_node() {
    if !root_or_skip("a_plain_clients_downloads_survive_the_crash_of_a_node") {
        return;
    }
    let _one = one_lab_at_a_time();
    let mut lab = StreamLab::start_plain("gk-fail-plain", 3, 1, file_mb(200), &[]);
    node2_crashes_and_its_downloads_complete(&mut lab);
    let learned =
        lab.metric_sum("gecko_clients_learned_total{by=\"param_problem\",kind=\"no_agent\"}");
    assert!(learned >= 1.0, "the nodes learned plain1 runs no agent");
}

/// Three downloads; node2 is killed while it serves one (after mirrors
/// happened mid-stream); every connection of it is recovered and every
/// download completes whole. Returns node2's index.
fn node2_crashes_and_its_downloads_complete(lab: &mut StreamLab) -> usize {
    let ds = downloads(lab, 3);
    let victim = 1;
    let served = open_on(lab, victim);
    assert!(served >= 1.0, "node2 serves a download");
    std::thread::sleep(Duration::from_millis(1200));
    lab.kill_node(victim);
    let recovered = wait_until(lab, "gecko_recoveries_total", served);
    all_intact(lab, ds);
    assert_eq!(recovered, served, "every connection of node2 recovered");
    assert_eq!(lab.metric_sum("gecko_recovery_failures_total"), 0.0);
    victim
}

/// The contact node's crash, with clients without an agent: new
/// connections are served again after the takeover, and the contact's
/// own downloads are recovered.
#[test]
fn the_contact_node_crashes_and_plain_clients_are_served_again() {
    if !root_or_skip("the_contact_node_crashes_and_plain_clients_are_served_again") {
        return;
    }
    let _one = one_lab_at_a_time();
    let mut lab = StreamLab::start_plain("gk-fail-pcont", 3, 1, file_mb(200), &[]);
    the_contact_crashes_and_node2_takes_over(&mut lab, "plain1");
}

/// Three downloads; the contact (node1) is killed while it serves one; a
/// download `client` starts then completes through node2, the one new
/// contact, and the contact's downloads are recovered whole.
fn the_contact_crashes_and_node2_takes_over(lab: &mut StreamLab, client: &str) {
    assert_eq!(lab.node_metric(0, "gecko_contact"), Some(1.0));
    let ds = downloads(lab, 3);
    let served = open_on(lab, 0);
    assert!(served >= 1.0, "the contact serves a download");
    std::thread::sleep(Duration::from_millis(1000));
    let t0 = Instant::now();
    lab.kill_node(0);
    // New connections are accepted again, through the new contact.
    let fresh = lab.curl_spawn(client);
    let got = lab.curl_wait(fresh);
    lab.assert_intact(&got, "a download started after the contact crashed");
    eprintln!(
        "a new download completed {:?} after the crash",
        t0.elapsed()
    );
    assert_eq!(
        lab.node_metric(1, "gecko_contact"),
        Some(1.0),
        "node2 is the contact now"
    );
    assert_eq!(
        lab.node_metric(2, "gecko_contact"),
        Some(0.0),
        "exactly one contact"
    );
    wait_until(lab, "gecko_recoveries_total", served);
    all_intact(lab, ds);
}

/// A node the others declare down while it lives (here it stalls for a
/// while, as lost probes or a hung machine make it look) just as its
/// backup crashes: nobody holds its connections' records. When it runs
/// again it hears it was declared down, fences its connections and, as no
/// node claims them, recovers them itself (it used to leave them to its
/// backup, dead, and the downloads hung: seen under 5% loss).
#[test]
fn a_node_declared_down_whose_backup_died_recovers_its_own() {
    if !root_or_skip("a_node_declared_down_whose_backup_died_recovers_its_own") {
        return;
    }
    let _one = one_lab_at_a_time();
    let mut lab = StreamLab::start("gk-fail-stall", 3, 1, file_mb(200), &[]);
    let ds = downloads(&mut lab, 3);
    let (stalled, backup) = (1, 2);
    let served = open_on(&lab, stalled);
    assert!(served >= 1.0, "node2 serves a download");
    std::thread::sleep(Duration::from_millis(1200));
    lab.signal_node(stalled, libc::SIGSTOP);
    lab.kill_node(backup);
    // Both are declared down well within this.
    std::thread::sleep(Duration::from_millis(1500));
    lab.signal_node(stalled, libc::SIGCONT);
    all_intact(&mut lab, ds);
    let log = lab.server_log(stalled);
    assert!(
        log.contains("declared down by the others"),
        "node2 was declared down: {log}"
    );
    assert!(
        log.contains("recovered=true"),
        "node2 resumed its own download as recovered: {log}"
    );
}

#[test]
fn downloads_survive_a_cut_link() {
    if !root_or_skip("downloads_survive_a_cut_link") {
        return;
    }
    let _one = one_lab_at_a_time();
    let mut lab = StreamLab::start("gk-fail-link", 3, 1, file_mb(200), &[]);
    let ds = downloads(&mut lab, 3);
    let victim = 2;
    let served = open_on(&lab, victim);
    assert!(served >= 1.0, "node3 serves a download");
    std::thread::sleep(Duration::from_millis(1000));
    lab.run_in_node(victim, "ip", &["link", "set", "eth0", "down"]);
    let recovered = wait_until(&lab, "gecko_recoveries_total", served);
    all_intact(&mut lab, ds);
    assert_eq!(recovered, served, "every connection of node3 recovered");
}

#[test]
fn the_contact_node_crashes_and_comes_back() {
    if !root_or_skip("the_contact_node_crashes_and_comes_back") {
        return;
    }
    let _one = one_lab_at_a_time();
    let mut lab = StreamLab::start("gk-fail-contact", 3, 2, file_mb(200), &[]);
    the_contact_crashes_and_node2_takes_over(&mut lab, "client2");

    // The contact rejoins, takes its role back and gets connections again.
    lab.restart_node(0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while lab.node_metric(1, "gecko_contact") != Some(0.0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(lab.node_metric(0, "gecko_contact"), Some(1.0));
    assert_eq!(
        lab.node_metric(1, "gecko_contact"),
        Some(0.0),
        "node2 stepped down"
    );
    std::thread::sleep(gecko::node::LOAD_EVERY * 3);
    let again: Vec<Download> = (0..3).map(|_| lab.curl_spawn("client1")).collect();
    all_intact(&mut lab, again);
    let accepted = lab
        .node_metric(0, "gecko_connections_accepted_total")
        .unwrap_or(0.0);
    assert!(accepted >= 1.0, "the rejoined node serves again");
}

#[test]
fn a_crash_during_handoffs_loses_nothing() {
    if !root_or_skip("a_crash_during_handoffs_loses_nothing") {
        return;
    }
    let _one = one_lab_at_a_time();
    // Every connection moves on each 2 MB: a crash meets handoffs.
    let mut lab = StreamLab::start(
        "gk-fail-moving",
        3,
        2,
        file_mb(200),
        &["--handoff-every", "2000000"],
    );
    let ds = downloads(&mut lab, 3);
    std::thread::sleep(Duration::from_millis(1500));
    lab.kill_node(1);
    let whole = intact_or_reset(&mut lab, ds);
    eprintln!("{whole} of 3 downloads completed across the crash");
    assert!(lab.metric_sum("gecko_handoffs_total{direction=\"out\"}") >= 10.0);
}

#[test]
fn two_crashes_one_after_the_other() {
    if !root_or_skip("two_crashes_one_after_the_other") {
        return;
    }
    let _one = one_lab_at_a_time();
    let mut lab = StreamLab::start("gk-fail-two", 4, 2, file_mb(200), &[]);
    let ds = downloads(&mut lab, 4);
    std::thread::sleep(Duration::from_millis(800));
    let first = open_on(&lab, 1);
    lab.kill_node(1);
    wait_until(&lab, "gecko_recoveries_total", first);
    // Node3 holds node2's connections now, and mirrors them to node4.
    std::thread::sleep(Duration::from_millis(800));
    let second = open_on(&lab, 2);
    lab.kill_node(2);
    wait_until(&lab, "gecko_recoveries_total", first + second);
    all_intact(&mut lab, ds);
}

/// A donor crashes in the middle of a handoff: its flow lock caught the
/// client's packets and sent them on to the acceptor, but its offer never
/// left. The acceptor (node4, not the donor's backup) holds packets of a
/// connection it will never get and must not claim it (it did, and the
/// download hung: seen in CI under loss); the backup recovers it.
#[test]
fn a_donor_crashes_before_its_offer_leaves() {
    crash_mid_handoff("gk-fail-offer", CrashPoint::BeforeOffer, 3);
}

/// The donor crashes once its offer left toward its own backup: the
/// backup takes the connection in, or recovers it, never both.
#[test]
fn a_donor_crashes_after_its_offer_left() {
    crash_mid_handoff("gk-fail-offered", CrashPoint::AfterOffer, 2);
}

/// An acceptor crashes after it took a download in and served it for a
/// while, before its outcome left: the donor, silent acceptor, binds the
/// flow back and probes the client, finds the stream moved past what its
/// frozen socket holds, and leaves the connection to the acceptor's
/// backup, which recovers it from its mirror (the donor used to thaw its
/// old state beside it, and the download stalled).
#[test]
fn an_acceptor_crashes_before_its_outcome_leaves() {
    crash_mid_handoff("gk-fail-outcome", CrashPoint::BeforeOutcome, 2);
}

/// An acceptor crashes after it took a download in and served it a while,
/// with neither its outcome nor its own record of the connection sent (as
/// when both are in flight under loss): its backup recovers the download
/// from the record the donor sent it with the offer (the donor found the
/// stream moved past its frozen socket and left it to a backup that held
/// nothing: the download hung, seen once in CI under 5% loss).
#[test]
fn an_acceptor_crashes_unmirrored_before_its_outcome_leaves() {
    crash_mid_handoff("gk-fail-unmirr", CrashPoint::UnmirroredBeforeOutcome, 2);
}

/// An acceptor crashes right after its outcome left, before its backup got
/// the connection's record (under loss, a mirror still in flight dies with
/// its node): the donor sent its own record of the connection to the
/// acceptor's backup too, which recovers it from that (with none, nobody
/// knew the connection, and the download hung).
#[test]
fn an_acceptor_crashes_before_its_mirror_leaves() {
    crash_mid_handoff("gk-fail-mirror", CrashPoint::BeforeMirror, 2);
}

/// An acceptor's outcome is lost, and it lives on, serving the download
/// and handing it on: the donor, silent acceptor, asks the other nodes
/// before it binds the flow back, finds the connection served elsewhere,
/// and leaves it there (it used to bind the flow back, which took the
/// client away from the node serving it, and the download stalled).
#[test]
fn an_acceptors_lost_outcome_leaves_the_connection_where_it_is() {
    let name = "gk-fail-lost";
    if !root_or_skip(name) {
        return;
    }
    let _one = one_lab_at_a_time();
    let (mut lab, victim) = lab_with_fault(name, CrashPoint::LostOutcome, 2);
    let ds = downloads(&mut lab, 4);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lab
        .server_log(victim)
        .contains("dropping this outcome on purpose")
    {
        assert!(Instant::now() < deadline, "node2 never took a download in");
        std::thread::sleep(Duration::from_millis(20));
    }
    all_intact(&mut lab, ds);
    let left = (0..lab.nodes.len())
        .filter(|&i| lab.server_log(i).contains("it is served elsewhere"))
        .count();
    assert_eq!(left, 1, "one donor found its connection served elsewhere");
}

/// Four nodes; node2 with `point` armed, handing every download it gets
/// to node `target`. Returns the lab and node2's index.
fn lab_with_fault(name: &str, point: CrashPoint, target: usize) -> (StreamLab, usize) {
    let mut lab = StreamLab::start(name, 4, 1, file_mb(200), &["--handoff-every", "16000000"]);
    let victim = 1;
    let policy = format!("node={}", lab.node_address(target));
    lab.kill_node(victim);
    lab.restart_node_with(victim, &[(CRASH_AT, point.name())], &["--policy", &policy]);
    // Policies only pick nodes whose load reports they heard.
    std::thread::sleep(gecko::node::LOAD_EVERY * 3);
    (lab, victim)
}

/// Four nodes; node2 hands every download it gets to node `target` and
/// crashes (SIGKILL of itself) at `point` of its first such handoff, or,
/// for an acceptor's point, of the first it takes in.
/// Every download must still be the whole file.
fn crash_mid_handoff(name: &str, point: CrashPoint, target: usize) {
    if !root_or_skip(name) {
        return;
    }
    let _one = one_lab_at_a_time();
    let (mut lab, victim) = lab_with_fault(name, point, target);
    let ds = downloads(&mut lab, 4);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lab.server_exited(victim) {
        assert!(
            Instant::now() < deadline,
            "node2 never handed a download off"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        lab.server_log(victim).contains("crashing on purpose"),
        "node2 crashed at {point:?}: {}",
        lab.server_log(victim)
    );
    all_intact(&mut lab, ds);
}

/// Loss makes nodes suspect each other falsely now and then (a node then
/// fences itself and its backup recovers its connections), delays handoff
/// messages past a crash, and drops probes: every download must still be
/// the file's bytes, or a reset with a correct prefix, never a hang.
#[test]
fn five_percent_loss_during_crashes_and_handoffs() {
    if !root_or_skip("five_percent_loss_during_crashes_and_handoffs") {
        return;
    }
    let _one = one_lab_at_a_time();
    let mut lab = StreamLab::start(
        "gk-fail-loss",
        3,
        1,
        file_mb(200),
        &["--handoff-every", "8000000"],
    );
    for i in 0..lab.nodes.len() {
        drop_five_percent(&lab, i);
    }
    let ds = downloads(&mut lab, 3);
    std::thread::sleep(Duration::from_millis(1500));
    lab.kill_node(1);
    let whole = intact_or_reset(&mut lab, ds);
    // Correctness is the claim here (checked per download above: the
    // file's bytes or a reset, never a hang); how many complete varies.
    eprintln!("{whole} of 3 downloads completed under 5% loss");
}

/// nftables on node `i`: 5% of the packets on its link dropped, each way.
fn drop_five_percent(lab: &StreamLab, i: usize) {
    let rules = "table inet gecko_loss {\n\
        chain in { type filter hook prerouting priority -400; iifname \"eth0\" numgen random mod 100 < 5 drop; }\n\
        chain out { type filter hook postrouting priority 400; oifname \"eth0\" numgen random mod 100 < 5 drop; }\n\
        }\n";
    let path = lab.tmp.join(format!("loss-{i}.nft"));
    std::fs::write(&path, rules).expect("writing the loss rules");
    lab.run_in_node(i, "nft", &["-f", &path.to_string_lossy()]);
}
