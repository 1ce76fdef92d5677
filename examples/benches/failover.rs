//! Failover as clients meet it, in a lab with `stream-server` on every
//! node and kernel TCP clients (Python 3, curl): how long a download stops
//! when its node crashes, how long G refuses new connections when the
//! contact node crashes, how fast a backup recovers many connections, what
//! mirroring costs a bulk download, and how big a mirrored connection is.
//!
//! ```text
//! cargo build --release --workspace      # gecko-ha and gecko-cn beside stream-server
//! cargo bench -p gecko-examples --bench failover
//! ```
//!
//! Needs root, `python3` and `curl`. Progress goes to stderr, the table of
//! figures to stdout; targets are printed with whether they were met, never
//! asserted. Knobs: `GECKO_BENCH_TRIALS` (default 10) trials of the two
//! crash series, `GECKO_BENCH_ONLY` (e.g. `1,3`) the figures to run,
//! `GECKO_BENCH_CONNS` (default 10000) connections on the
//! crashed node, `GECKO_BENCH_MB` (default 200) the served file's size.

#[path = "../tests/support/stream_lab.rs"]
mod stream_lab;

use std::io::Read;
use std::net::Ipv6Addr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gecko::cluster::mirror_store::{MirrorRecord, TcpOptions};
use gecko::dataplane::FlowKey;
use gecko::node::messages::Message;
use gecko::node::LOAD_EVERY;
use stream_lab::{root_or_skip, StreamLab};

/// The rate-limited reader of figure 1: prints one JSON line.
const READER: &str = r#"
import hashlib, json, socket, sys, time
g, port, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) * 1e6
out = {"error": None, "bytes": 0, "expected": -1, "sha": "", "max_gap_ms": 0.0, "gap_at": 0}
try:
    s = socket.create_connection((g, port), timeout=30)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    h = hashlib.sha256()
    head = b""
    body = 0
    expected = None
    got = 0
    start = time.monotonic()
    last = start
    while expected is None or body < expected:
        b = s.recv(65536)
        now = time.monotonic()
        if not b:
            out["error"] = "closed early"
            break
        if now - last > out["max_gap_ms"] / 1000:
            out["max_gap_ms"] = (now - last) * 1000
            out["gap_at"] = got
        last = now
        got += len(b)
        if expected is None:
            head += b
            if b"\r\n\r\n" in head:
                hd, rest = head.split(b"\r\n\r\n", 1)
                for line in hd.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        expected = int(line.split(b":")[1])
                if expected is None:
                    raise RuntimeError("no Content-Length")
                h.update(rest)
                body += len(rest)
        else:
            h.update(b)
            body += len(b)
        due = start + got / rate
        if due > now:
            time.sleep(due - now)
    out["bytes"] = body
    out["expected"] = expected if expected is not None else -1
    out["sha"] = h.hexdigest()
    s.close()
except Exception as e:
    out["error"] = repr(e)
print(json.dumps(out), flush=True)
"#;

/// The connect probe of figure 2: one line `start end ok` per attempt.
const PROBE: &str = r#"
import socket, sys, time
g, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
end = time.time() + secs
while time.time() < end:
    t0 = time.time()
    ok = 0
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        s.settimeout(0.05)
        s.connect((g, port))
        s.settimeout(0.25)
        s.sendall(b"GET /probe HTTP/1.1\r\nHost: x\r\n\r\n")
        if s.recv(64):
            ok = 1
    except OSError:
        pass
    finally:
        s.close()
    t1 = time.time()
    print(f"{t0:.6f} {t1:.6f} {ok}", flush=True)
    pause = t0 + 0.02 - time.time()
    if pause > 0:
        time.sleep(pause)
"#;

/// The opener of figure 3: `n` connections that each ask for the file and
/// never read it (the server blocks writing), held until killed.
const OPENER: &str = r#"
import json, resource, socket, sys, time
g, port, n, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks, failed, err = [], 0, None
start = time.monotonic()
for i in range(n):
    # Paced: a burst of connections starves the nodes' failure detection.
    due = start + i / rate
    if due > time.monotonic():
        time.sleep(due - time.monotonic())
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    # A small window: each connection holds little memory on both sides.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    try:
        s.connect((g, port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        socks.append(s)
    except OSError as e:
        failed += 1
        err = repr(e)
        s.close()
    if (i + 1) % 1000 == 0:
        print(f"{i + 1} tried", file=sys.stderr, flush=True)
print(json.dumps({"open": len(socks), "failed": failed, "error": err}), flush=True)
while True:
    time.sleep(3600)
"#;

fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`:
    // only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if !root_or_skip("the failover benchmark") {
        return;
    }
    require("python3");
    raise_fd_limit();
    let trials = knob("GECKO_BENCH_TRIALS", 10) as usize;
    let asked = knob("GECKO_BENCH_CONNS", 10_000);
    // Every connection goes to node2 (policy `node=`), and the backup
    // holds only the recovered ones: a descriptor each, under the
    // open-file limit.
    let fd_cap = fd_limit().saturating_sub(1000);
    // And a thread each (stream-server), whose stack and signal stack,
    // each with its guard page, take four memory maps, under
    // vm.max_map_count.
    let map_cap = (max_map_count() / 4).saturating_sub(1000);
    let conns = asked.min(fd_cap).min(map_cap);
    if conns < asked {
        eprintln!(
            "{asked} connections per node do not fit this machine (open files {}, raising it not permitted: {fd_cap}; vm.max_map_count {}: {map_cap}): {conns} instead",
            fd_limit(),
            max_map_count()
        );
    }
    let mb = knob("GECKO_BENCH_MB", 200);
    // GECKO_BENCH_ONLY=1,3: just those figures.
    let only = std::env::var("GECKO_BENCH_ONLY").unwrap_or_default();
    let run = |figure: &str| only.is_empty() || only.split(',').any(|f| f.trim() == figure);
    let mut rows: Vec<Row> = Vec::new();

    if run("1") || run("2") || run("4") {
        eprintln!("== lab gk-bench-fo: 3 nodes, 2 clients, {mb} MiB file");
        let mut lab = StreamLab::start("gk-bench-fo", 3, 2, mb, &[]);
        write_scripts(&lab);
        if run("1") {
            serving_node_crash(&mut lab, trials, &mut rows);
        }
        if run("2") {
            contact_crash(&mut lab, trials, &mut rows);
        }
        if run("4") {
            mirroring_cost(&mut lab, &mut rows);
        }
    }
    if run("3") {
        eprintln!("== lab gk-bench-fo-n: 2 nodes, 4 clients, {conns} connections on node2");
        // node1 (the contact) places every connection on node2.
        let plan = gecko_lab::topology::Topology::plan("gk-bench-fo-n", 2, 4).expect("a lab plan");
        let node2 = plan
            .hosts_of(gecko_lab::topology::Role::Node)
            .nth(1)
            .expect("node2 in the plan")
            .address;
        let policy = format!("node={node2}");
        let mut lab = StreamLab::start("gk-bench-fo-n", 2, 4, 16, &["--policy", &policy]);
        write_scripts(&lab);
        many_connections(&mut lab, conns, asked, &mut rows);
    }
    if run("5") {
        mirrored_state_size(&mut rows);
    }

    println!();
    println!("| measure | p50 | p90 | max | target | met |");
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.measure, r.p50, r.p90, r.max, r.target, r.met
        );
    }
}

/// One line of the final table.
struct Row {
    measure: String,
    p50: String,
    p90: String,
    max: String,
    target: String,
    met: String,
}

impl Row {
    /// A series in milliseconds (empty when no trial succeeded).
    fn ms(measure: String, v: &[f64], target: &str, met: Option<bool>) -> Row {
        let q = Quantiles::of(v);
        let f = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:.0} ms"));
        Row {
            measure,
            p50: f(q.map(|q| q.p50)),
            p90: f(q.map(|q| q.p90)),
            max: f(q.map(|q| q.max)),
            target: target.into(),
            met: met_text(met),
        }
    }

    /// One figure (no distribution).
    fn one(measure: String, value: String, target: &str, met: Option<bool>) -> Row {
        Row {
            measure,
            p50: value,
            p90: "".into(),
            max: "".into(),
            target: target.into(),
            met: met_text(met),
        }
    }
}

fn met_text(met: Option<bool>) -> String {
    match met {
        Some(true) => "yes".into(),
        Some(false) => "**no**".into(),
        None => "".into(),
    }
}

/// p50, p90 and max (nearest rank).
#[derive(Clone, Copy)]
struct Quantiles {
    p50: f64,
    p90: f64,
    max: f64,
}

impl Quantiles {
    fn of(v: &[f64]) -> Option<Quantiles> {
        if v.is_empty() {
            return None;
        }
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        let at = |p: f64| s[(((p * s.len() as f64).ceil() as usize).max(1) - 1).min(s.len() - 1)];
        Some(Quantiles {
            p50: at(0.5),
            p90: at(0.9),
            max: s[s.len() - 1],
        })
    }
}

/// Figure 1: the longest pause a reading client sees when the node serving
/// it is SIGKILLed mid-stream.
fn serving_node_crash(lab: &mut StreamLab, trials: usize, rows: &mut Vec<Row>) {
    // 20 MB/s: a 200 MiB file lasts about 10 s, the kill comes after 1 s.
    let rate = "20";
    let mut gaps = Vec::new();
    let mut recovery = Vec::new();
    let mut broken = 0;
    for t in 0..trials {
        // A stream on a node other than the contact (figure 2 is the
        // contact's crash); round-robin moves on with each attempt.
        let mut found = None;
        for _ in 0..6 {
            let before = lab.metric_by_node("gecko_connections_accepted_total");
            let reader = spawn_py(lab, &lab.clients[0].clone(), "reader.py", &[rate]);
            let at = wait_serving(lab, &before);
            match at {
                Some(i) if i != 0 => {
                    found = Some((reader, i));
                    break;
                }
                _ => drop(reader),
            }
        }
        let Some((reader, victim)) = found else {
            eprintln!("trial {t}: no stream landed on a node other than the contact");
            broken += 1;
            continue;
        };
        std::thread::sleep(Duration::from_secs(1));
        let survivors: Vec<usize> = (0..lab.nodes.len()).filter(|i| *i != victim).collect();
        let (sum0, count0) = histogram(lab, &survivors, "gecko_recovery_seconds");
        lab.kill_node(victim);
        let out = reader.wait_output(Duration::from_secs(120));
        let got = parse_json_line(&out.stdout);
        let (sum1, count1) = histogram(lab, &survivors, "gecko_recovery_seconds");
        let intact = got.as_ref().is_some_and(|j| {
            j.get_str("error").is_none()
                && j.get_str("sha").as_deref() == Some(lab.sha.as_str())
                && j.get_f64("bytes") == Some(lab.size as f64)
        });
        let gap = got.as_ref().and_then(|j| j.get_f64("max_gap_ms"));
        let rec_ms = (count1 > count0).then(|| (sum1 - sum0) / (count1 - count0) * 1000.0);
        eprintln!(
            "trial {t}: killed {}; intact {intact}; longest gap {:?} ms at byte {:?}; recovery (detected to served) {:?} ms{}",
            lab.nodes[victim],
            gap.map(|g| g.round()),
            got.as_ref().and_then(|j| j.get_f64("gap_at")),
            rec_ms.map(|r| r.round()),
            got.as_ref()
                .and_then(|j| j.get_str("error"))
                .map(|e| format!("; error {e}"))
                .unwrap_or_default()
        );
        match (intact, gap) {
            (true, Some(g)) => {
                gaps.push(g);
                recovery.extend(rec_ms);
            }
            _ => broken += 1,
        }
        lab.restart_node(victim);
        std::thread::sleep(Duration::from_secs(1) + LOAD_EVERY * 3);
    }
    let p50 = Quantiles::of(&gaps).map(|q| q.p50);
    rows.push(Row::ms(
        format!(
            "1. client-visible interruption, serving node SIGKILLed ({} intact of {trials} trials)",
            gaps.len()
        ),
        &gaps,
        "p50 <= 300 ms",
        p50.map(|p| p <= 300.0 && broken == 0),
    ));
    rows.push(Row::ms(
        "1a. of which: failure detected to connection served again (backup's gecko_recovery_seconds)".into(),
        &recovery,
        "",
        None,
    ));
}

/// Figure 2: how long after the contact node's crash a fresh connection
/// to G is answered again.
fn contact_crash(lab: &mut StreamLab, trials: usize, rows: &mut Vec<Row>) {
    let mut downtime = Vec::new();
    let mut failed_probes = Vec::new();
    let mut broken = 0;
    for t in 0..trials {
        if lab.node_metric(0, "gecko_contact") != Some(1.0) {
            eprintln!("trial {t}: node1 is not the contact");
        }
        let probe = spawn_py(lab, &lab.clients[1].clone(), "probe.py", &["4"]);
        std::thread::sleep(Duration::from_secs(1));
        let killed_at = unix_now();
        lab.kill_node(0);
        let out = probe.wait_output(Duration::from_secs(30));
        let attempts: Vec<(f64, f64, bool)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                Some((
                    f.next()?.parse().ok()?,
                    f.next()?.parse().ok()?,
                    f.next()? == "1",
                ))
            })
            .collect();
        // Attempts after the kill: back when the first success follows the
        // last failure.
        let after: Vec<_> = attempts.iter().filter(|a| a.1 > killed_at).collect();
        let failures = after.iter().filter(|a| !a.2).count();
        let last_failure = after.iter().rposition(|a| !a.2);
        let back = match last_failure {
            Some(i) => after[i + 1..].first().map(|a| a.1),
            None => after.iter().find(|a| a.0 >= killed_at).map(|a| a.1),
        };
        let took = back.map(|b| (b - killed_at) * 1000.0);
        eprintln!(
            "trial {t}: {} attempts after the kill, {failures} failed; accepted again after {:?} ms",
            after.len(),
            took.map(|x| x.round())
        );
        match took {
            Some(x) => {
                downtime.push(x);
                failed_probes.push(failures as f64);
            }
            None => broken += 1,
        }
        lab.restart_node(0);
        let deadline = Instant::now() + Duration::from_secs(10);
        while (lab.node_metric(0, "gecko_contact") != Some(1.0)
            || lab.metric_sum("gecko_contact") != 1.0)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_secs(1) + LOAD_EVERY * 3);
    }
    let max = Quantiles::of(&downtime).map(|q| q.max);
    rows.push(Row::ms(
        format!(
            "2. contact node SIGKILLed: until a new connection is answered ({} of {trials} trials)",
            downtime.len()
        ),
        &downtime,
        "<= 500 ms",
        max.map(|m| m <= 500.0 && broken == 0),
    ));
    let q = Quantiles::of(&failed_probes);
    rows.push(Row {
        measure: "2a. failed connection attempts (every 20 ms, 50 ms connect timeout) per trial"
            .into(),
        p50: q.map_or("-".into(), |q| format!("{:.0}", q.p50)),
        p90: q.map_or("-".into(), |q| format!("{:.0}", q.p90)),
        max: q.map_or("-".into(), |q| format!("{:.0}", q.max)),
        target: "".into(),
        met: "".into(),
    });
}

/// Figure 4: one connection's bulk download with its node mirroring to a
/// live backup, against the same node with no other node alive.
fn mirroring_cost(lab: &mut StreamLab, rows: &mut Vec<Row>) {
    const ROUNDS: usize = 5;
    const PER_ROUND: usize = 3;
    let mut with = Vec::new();
    let mut without = Vec::new();
    let (mut mirror_bytes, mut mirror_secs) = (0.0, 0.0);
    for round in 0..ROUNDS {
        // With mirroring: downloads served by node1 (the contact), whose
        // backup node2 is alive.
        let mut kept = 0;
        for _ in 0..PER_ROUND * 4 {
            if kept == PER_ROUND {
                break;
            }
            let accepted = lab.metric_by_node("gecko_connections_accepted_total");
            let mirrored = lab
                .node_metric(0, "gecko_mirror_bytes_total")
                .unwrap_or(0.0);
            let Some((mbps, secs)) = bulk(lab) else {
                continue;
            };
            let now = lab.metric_by_node("gecko_connections_accepted_total");
            if now[0] > accepted[0] && now[1..] == accepted[1..] {
                with.push(mbps);
                mirror_bytes += lab
                    .node_metric(0, "gecko_mirror_bytes_total")
                    .unwrap_or(0.0)
                    - mirrored;
                mirror_secs += secs;
                kept += 1;
            }
        }
        // Without: the others down, so node1 has no backup.
        for i in 1..lab.nodes.len() {
            lab.kill_node(i);
        }
        std::thread::sleep(Duration::from_secs(1));
        for _ in 0..PER_ROUND {
            if let Some((mbps, _)) = bulk(lab) {
                without.push(mbps);
            }
        }
        for i in 1..lab.nodes.len() {
            lab.restart_node(i);
        }
        std::thread::sleep(Duration::from_secs(1) + LOAD_EVERY * 3);
        eprintln!(
            "round {round}: with mirroring {:?} MB/s, without {:?} MB/s",
            &with[with.len().saturating_sub(kept)..],
            &without[without.len().saturating_sub(PER_ROUND)..]
        );
    }
    let (w, wo) = (median(&with), median(&without));
    let ratio = match (w, wo) {
        (Some(w), Some(wo)) if wo > 0.0 => Some(w / wo),
        _ => None,
    };
    rows.push(Row::one(
        format!(
            "4. bulk download, {} MiB, one connection, median MB/s: mirroring to a backup / no backup alive ({} / {} downloads, alternating rounds)",
            lab.size >> 20,
            with.len(),
            without.len()
        ),
        match (w, wo, ratio) {
            (Some(w), Some(wo), Some(r)) => format!("{w:.0} / {wo:.0} = {r:.3}"),
            _ => "-".into(),
        },
        "ratio >= 0.97",
        ratio.map(|r| r >= 0.97),
    ));
    rows.push(Row::one(
        "4a. mirrored state sent while downloading (gecko_mirror_bytes_total per connection-second)"
            .into(),
        if mirror_secs > 0.0 {
            format!("{:.0} B/s", mirror_bytes / mirror_secs)
        } else {
            "-".into()
        },
        "",
        None,
    ));
}

/// Figure 3: many stalled connections on node2 (each client reads
/// nothing); it crashes; how long until node1 has recovered them all.
fn many_connections(lab: &mut StreamLab, conns: u64, asked: u64, rows: &mut Vec<Row>) {
    let total = conns;
    let clients = lab.clients.clone();
    let per = total.div_ceil(clients.len() as u64);
    let started = Instant::now();
    // 400 new connections per second in all.
    let rate = (400.0 / clients.len() as f64).to_string();
    let openers: Vec<Proc> = clients
        .iter()
        .map(|c| spawn_py(lab, c, "opener.py", &[&per.to_string(), &rate]))
        .collect();
    // Wait until the openers are done (each prints one line) or 5 minutes.
    let deadline = started + Duration::from_secs(300);
    let mut last = (0.0, Instant::now());
    loop {
        let open = lab.metric_sum("gecko_connections_open");
        if open != last.0 {
            eprintln!(
                "{:.0} s: {open} connections open {:?}",
                started.elapsed().as_secs_f64(),
                lab.metric_by_node("gecko_connections_open")
            );
            last = (open, Instant::now());
        }
        let crashed: Vec<String> = (0..lab.nodes.len())
            .filter(|i| {
                matches!(
                    lab.servers[*i].as_mut().map(|c| c.try_wait()),
                    Some(Ok(Some(_)))
                )
            })
            .map(|i| lab.nodes[i].clone())
            .collect();
        if !crashed.is_empty() {
            eprintln!("stream-server exited on {crashed:?} while the connections opened");
            rows.push(Row::one(
                format!("3. {conns} connections on one node"),
                format!("stream-server exited on {crashed:?} after {open} connections opened"),
                &format!("{asked} within 2 s"),
                Some(false),
            ));
            return;
        }
        if open >= (per * clients.len() as u64) as f64
            || last.1.elapsed() > Duration::from_secs(20)
            || Instant::now() > deadline
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(1000));
    }
    let opened = started.elapsed();
    let on_victim = lab.node_metric(1, "gecko_connections_open").unwrap_or(0.0);
    // Every connection of node2 mirrored to node1 before the crash.
    let deadline = Instant::now() + Duration::from_secs(60);
    while lab
        .node_metric(0, "gecko_mirrored_connections")
        .unwrap_or(0.0)
        < on_victim
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    let mirrored = lab
        .node_metric(0, "gecko_mirrored_connections")
        .unwrap_or(0.0);
    let sent_bytes = lab
        .node_metric(1, "gecko_mirror_bytes_total")
        .unwrap_or(0.0);
    eprintln!(
        "{on_victim} connections on node2 after {:.1} s ({:.0}/s), {mirrored} mirrored on node1, {sent_bytes} mirror bytes sent by node2",
        opened.as_secs_f64(),
        lab.metric_sum("gecko_connections_open") / opened.as_secs_f64()
    );
    let false_alarms = lab.metric_sum("gecko_failures_detected_total");
    if false_alarms > 0.0 {
        eprintln!(
            "{false_alarms} node failures detected before the crash (a node too busy to answer)"
        );
    }
    let r0 = lab.node_metric(0, "gecko_recoveries_total").unwrap_or(0.0);
    let f0 = lab
        .node_metric(0, "gecko_recovery_failures_total")
        .unwrap_or(0.0);
    let (s0, c0) = histogram(lab, &[0], "gecko_recovery_seconds");
    let t0 = Instant::now();
    lab.kill_node(1);
    let deadline = t0 + Duration::from_secs(120);
    let mut first = None;
    let (mut recovered, mut failed) = (0.0, 0.0);
    while Instant::now() < deadline {
        if let Some(text) = lab.metrics(0) {
            recovered = gecko_lab::framework_host::metric_in(&text, "gecko_recoveries_total") - r0;
            failed =
                gecko_lab::framework_host::metric_in(&text, "gecko_recovery_failures_total") - f0;
            if first.is_none() && recovered > 0.0 {
                first = Some(t0.elapsed());
            }
            if recovered + failed >= on_victim {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = t0.elapsed();
    let (s1, c1) = histogram(lab, &[0], "gecko_recovery_seconds");
    let all = recovered >= on_victim && on_victim > 0.0;
    eprintln!(
        "{recovered} recovered, {failed} failed of {on_victim} in {:.0} ms (first after {:?}); mean detected-to-served {:.0} ms",
        took.as_secs_f64() * 1000.0,
        first,
        if c1 > c0 { (s1 - s0) / (c1 - c0) * 1000.0 } else { f64::NAN }
    );
    drop(openers);
    rows.push(Row::one(
        format!(
            "3. {on_victim} connections on the crashed node (asked {asked}, fit {conns}): all recovered on the backup, kill to last recovery"
        ),
        if all {
            format!(
                "{:.0} ms ({:.0} connections/s)",
                took.as_secs_f64() * 1000.0,
                on_victim / took.as_secs_f64()
            )
        } else {
            format!(
                "not all: {recovered} recovered, {failed} failed in {:.0} ms",
                took.as_secs_f64() * 1000.0
            )
        },
        &format!("{asked} within 2 s"),
        Some(all && on_victim >= asked as f64 && took <= Duration::from_secs(2)),
    ));
    rows.push(Row::one(
        "3a. of which: kill to first recovery; recovery failures; failures detected before the crash".into(),
        format!(
            "{}; {failed}; {false_alarms}",
            first.map_or("-".into(), |f| format!(
                "{:.0} ms",
                f.as_secs_f64() * 1000.0
            ))
        ),
        "0; 0",
        Some(failed == 0.0 && false_alarms == 0.0),
    ));
    if on_victim > 0.0 {
        rows.push(Row::one(
            "3b. mirror bytes node2 sent before the crash, per connection held".into(),
            format!("{:.0} B", sent_bytes / on_victim),
            "",
            None,
        ));
    }
}

/// Figure 5: a mirrored connection's size on the wire and in the backup.
fn mirrored_state_size(rows: &mut Vec<Row>) {
    let record = |i: u16| MirrorRecord {
        flow: FlowKey {
            client: "2001:db8:2:1::2".parse::<Ipv6Addr>().expect("an address"),
            client_port: 40_000 + i,
            server: "2001:db8:ffff::1".parse().expect("an address"),
            server_port: 8080,
        },
        snd_una: 3_141_592_653u32.wrapping_add(u32::from(i)),
        acked: 150_000_000,
        rcv_nxt: 2_718_281_828,
        received: 40,
        options: TcpOptions {
            mss: 1440,
            snd_wscale: 7,
            rcv_wscale: 7,
            sack: true,
            timestamps: true,
        },
        ts_val: 4_000_000_000,
        ts_at_ms: MirrorRecord::now_ms(),
        bu_seq: Some(40_000),
    };
    let one = postcard::to_allocvec(&record(0)).expect("a record serializes");
    let message = |n: u16| {
        postcard::to_allocvec(&Message::Mirror {
            records: (0..n).map(record).collect(),
            replace: false,
        })
        .expect("a message serializes")
        .len()
    };
    let per_record_in_batch = (message(100) - message(1)) as f64 / 99.0;
    // The backup's store: HashMap<FlowKey, MirrorRecord> (hashbrown: key,
    // value and a control byte per bucket; buckets 1 to 2 per entry).
    let entry = std::mem::size_of::<FlowKey>() + std::mem::size_of::<MirrorRecord>() + 1;
    let (low, high) = (entry * 8 / 7, entry * 2);
    eprintln!(
        "MirrorRecord: {} bytes postcard, {} bytes in memory (FlowKey {}); Message::Mirror of 1 record {} bytes",
        one.len(),
        std::mem::size_of::<MirrorRecord>(),
        std::mem::size_of::<FlowKey>(),
        message(1)
    );
    rows.push(Row::one(
        "5. mirrored state per connection on the wire (postcard MirrorRecord; one-record Message::Mirror; per record in a batch of 100)".into(),
        format!(
            "{} B; {} B; {:.1} B",
            one.len(),
            message(1),
            per_record_in_batch
        ),
        "<= 256 bytes",
        Some(one.len() <= 256),
    ));
    rows.push(Row::one(
        "5a. mirrored state per connection in the backup's memory (key + record + hash table overhead)"
            .into(),
        format!("{low}-{high} B"),
        "<= 256 bytes",
        Some(high <= 256),
    ));
}

/// A process started in a lab host, killed (its group) unless waited for.
struct Proc(Option<Child>);

impl Proc {
    /// Waits at most `limit` for it to end (kills it then); its output.
    fn wait_output(mut self, limit: Duration) -> Output {
        let mut child = self.0.take().expect("a running process");
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        kill_group(&mut child);
        let mut stdout = Vec::new();
        if let Some(mut s) = child.stdout.take() {
            let _ = s.read_to_end(&mut stdout);
        }
        let status = child.wait().expect("reaping a child");
        Output {
            status,
            stdout,
            stderr: Vec::new(),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            kill_group(&mut child);
            let _ = child.wait();
        }
    }
}

fn kill_group(child: &mut Child) {
    // SAFETY: a signal to a process group this benchmark created.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    let _ = child.kill();
}

/// Writes the client scripts into the lab's temporary directory.
fn write_scripts(lab: &StreamLab) {
    for (name, text) in [
        ("reader.py", READER),
        ("probe.py", PROBE),
        ("opener.py", OPENER),
    ] {
        std::fs::write(lab.tmp.join(name), text).expect("writing a client script");
    }
}

/// Runs `python3 SCRIPT G PORT ARGS…` on `host` (stdout piped; stderr,
/// the scripts' progress, inherited).
fn spawn_py(lab: &StreamLab, host: &str, script: &str, args: &[&str]) -> Proc {
    let child = lab
        .lab
        .command(host, "python3")
        .expect("command in the client")
        .arg(lab.tmp.join(script))
        .arg(lab.g.ip().to_string())
        .arg(lab.g.port().to_string())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .expect("python3 starts");
    Proc(Some(child))
}

/// One unlimited download with curl (body discarded): MB/s and seconds.
fn bulk(lab: &StreamLab) -> Option<(f64, f64)> {
    let url = format!("http://[{}]:{}/", lab.g.ip(), lab.g.port());
    let out = lab
        .lab
        .command(&lab.clients[0], "curl")
        .expect("command in the client")
        .args(["-sS", "--fail", "--max-time", "60", "-o", "/dev/null"])
        .args(["-w", "%{size_download} %{time_total}"])
        .arg(&url)
        .stdin(Stdio::null())
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut f = text.split_whitespace();
    let size: f64 = f.next()?.parse().ok()?;
    let secs: f64 = f.next()?.parse().ok()?;
    if !out.status.success() || size != lab.size as f64 || secs <= 0.0 {
        eprintln!(
            "bulk download failed: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    Some((size / secs / 1e6, secs))
}

/// Waits (3 s at most) for a node's accepted count to rise above `before`
/// and for it to serve the connection; that node's index.
fn wait_serving(lab: &StreamLab, before: &[f64]) -> Option<usize> {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let now = lab.metric_by_node("gecko_connections_accepted_total");
        let serving = (0..now.len()).find(|i| {
            now[*i] > before[*i] && lab.node_metric(*i, "gecko_connections_open") == Some(1.0)
        });
        if serving.is_some() {
            return serving;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// A histogram's `_sum` and `_count` summed over `nodes`.
fn histogram(lab: &StreamLab, nodes: &[usize], name: &str) -> (f64, f64) {
    nodes.iter().fold((0.0, 0.0), |(s, c), i| {
        (
            s + lab.node_metric(*i, &format!("{name}_sum")).unwrap_or(0.0),
            c + lab.node_metric(*i, &format!("{name}_count")).unwrap_or(0.0),
        )
    })
}

/// The JSON object the readers print, as flat `key: value` pairs.
struct Json(Vec<(String, String)>);

impl Json {
    fn get_str(&self, key: &str) -> Option<String> {
        let v = &self.0.iter().find(|(k, _)| k == key)?.1;
        (v != "null").then(|| v.trim_matches('"').to_string())
    }

    fn get_f64(&self, key: &str) -> Option<f64> {
        self.get_str(key)?.parse().ok()
    }
}

/// Reads the last line of `out` as a flat JSON object of strings, numbers
/// and nulls (all the scripts print; strings hold no `,` or `:` that
/// matter here but `error`'s, read last).
fn parse_json_line(out: &[u8]) -> Option<Json> {
    let text = String::from_utf8_lossy(out);
    let line = text.lines().last()?.trim();
    let inner = line.strip_prefix('{')?.strip_suffix('}')?;
    let mut pairs = Vec::new();
    let mut rest = inner;
    while !rest.is_empty() {
        let (key, after) = rest.split_once(':')?;
        let key = key.trim().trim_matches('"').to_string();
        let after = after.trim_start();
        let (value, next) = if let Some(s) = after.strip_prefix('"') {
            // A string: up to the next unescaped quote.
            let mut end = None;
            let mut escaped = false;
            for (i, c) in s.char_indices() {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => {
                        end = Some(i);
                        break;
                    }
                    _ => escaped = false,
                }
            }
            let end = end?;
            (
                format!("\"{}\"", &s[..end]),
                s[end + 1..].trim_start().trim_start_matches(','),
            )
        } else {
            let (v, n) = after.split_once(',').unwrap_or((after, ""));
            (v.trim().to_string(), n)
        };
        pairs.push((key, value));
        rest = next.trim_start();
    }
    Some(Json(pairs))
}

fn median(v: &[f64]) -> Option<f64> {
    Quantiles::of(v).map(|q| q.p50)
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `name` from the environment, else `default`.
fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Each node holds tens of thousands of sockets in figure 3 (its own and
/// the recovered ones): the servers inherit this limit. Raised as far as
/// allowed (a container may forbid going past its hard limit).
fn raise_fd_limit() {
    let want = 1 << 18;
    let mut limit = libc::rlimit {
        rlim_cur: want,
        rlim_max: want,
    };
    // SAFETY: setrlimit reads the struct it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } == 0 {
        return;
    }
    // SAFETY: getrlimit writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: as above.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    }
}

/// The most memory maps a process may have.
fn max_map_count() -> u64 {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(65530)
}

/// The open-file limit processes started from here get.
fn fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    limit.rlim_cur
}

fn require(program: &str) {
    let found = std::process::Command::new("which")
        .arg(program)
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "`{program}` is not installed (apt-get install {program})"
    );
}
