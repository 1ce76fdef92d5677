//! The stream example (`stream-server`, examples/rust/stream_server.rs) as
//! a user runs it: one server process per node inside a lab, `gecko-ha`
//! and `gecko-cn` as real daemons, and `curl` downloading a random file
//! from G, checked by HTTP status, size and SHA-256. Needs root and
//! `curl`; run `cargo build --workspace` first (the daemons are binaries
//! of the `gecko` package). `GECKO_TEST_MB` sets the file's size.

#[path = "support/stream_lab.rs"]
mod stream_lab;

use std::process::Command;

use stream_lab::{file_mb, one_lab_at_a_time, root_or_skip, StreamLab, STREAM_SERVER};

#[test]
fn stream_server_refuses_a_missing_file_before_starting() {
    let dir = std::env::temp_dir().join(format!("gk-strm-missing-{}", std::process::id()));
    let out = Command::new(STREAM_SERVER)
        .args([
            "--config",
            "/nonexistent/gecko.toml",
            "--local",
            "2001:db8::1",
        ])
        .arg("--file")
        .arg(dir.join("absent.bin"))
        .output()
        .expect("stream-server runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot serve") && err.contains("absent.bin"),
        "the error names the file: {err}"
    );

    // A directory is no file to serve either.
    let out = Command::new(STREAM_SERVER)
        .args([
            "--config",
            "/nonexistent/gecko.toml",
            "--local",
            "2001:db8::1",
        ])
        .args(["--file", "/"])
        .output()
        .expect("stream-server runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot serve /"), "{err}");
}

#[test]
fn two_clients_download_the_file_concurrently() {
    if !root_or_skip("two_clients_download_the_file_concurrently") {
        return;
    }
    let _one = one_lab_at_a_time();
    let mut lab = StreamLab::start("gk-strm-basic", 3, 2, file_mb(20), &[]);

    let a = lab.curl_spawn("client1");
    let b = lab.curl_spawn("client2");
    let (a, b) = (lab.curl_wait(a), lab.curl_wait(b));
    lab.assert_intact(&a, "client1");
    lab.assert_intact(&b, "client2");

    // Other paths and methods are refused.
    let d = lab.curl_spawn_with("client1", "/other", &[]);
    let got = lab.curl_wait(d);
    assert_eq!(got.code, 404, "GET /other");
    let d = lab.curl_spawn_with("client1", "/", &["-X", "POST"]);
    let got = lab.curl_wait(d);
    assert_eq!(got.code, 405, "POST /");

    // Round-robin placed the four connections on more than one node.
    let accepted = lab.metric_by_node("gecko_connections_accepted_total");
    eprintln!("accepted by node {accepted:?}");
    assert_eq!(accepted.iter().sum::<f64>(), 4.0, "{accepted:?}");
    assert!(
        accepted.iter().filter(|a| **a > 0.0).count() >= 2,
        "connections served by one node only: {accepted:?}"
    );

    // The harness's kill_node ends the server process itself (crash tests
    // rely on it), and restart_node brings it back.
    lab.kill_node(0);
    let node = lab.nodes[0].clone();
    assert!(
        !lab.lab
            .processes(&node)
            .iter()
            .any(|p| p == "stream-server"),
        "stream-server still runs on {node}: {:?}",
        lab.lab.processes(&node)
    );
    assert!(lab.metrics(0).is_none(), "{node} still serves its metrics");
    lab.restart_node(0);
    assert!(lab
        .lab
        .processes(&node)
        .iter()
        .any(|p| p == "stream-server"));
}

#[test]
fn a_download_survives_handoffs_every_4_mb() {
    if !root_or_skip("a_download_survives_handoffs_every_4_mb") {
        return;
    }
    let _one = one_lab_at_a_time();
    let mb = file_mb(40);
    let mut lab = StreamLab::start("gk-strm-handoff", 3, 1, mb, &["--handoff-every", "4000000"]);
    let got = lab.assert_download("client1");
    assert_eq!(got.size, mb << 20);

    // A donor counts a handoff once the acceptor's outcome reached it,
    // which may be after the download ended.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (out, ins) = loop {
        let out = lab.metric_by_node("gecko_handoffs_total{direction=\"out\"}");
        let ins = lab.metric_by_node("gecko_handoffs_total{direction=\"in\"}");
        if out.iter().sum::<f64>() == ins.iter().sum::<f64>()
            || std::time::Instant::now() > deadline
        {
            break (out, ins);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    eprintln!("handoffs out {out:?}, in {ins:?}");
    let moved: f64 = out.iter().sum();
    // One handoff per 4 MB boundary (the policy may keep a few here).
    let boundaries = (mb << 20) / 4_000_000;
    assert!(
        moved >= (boundaries / 2) as f64,
        "the download moved {moved} times over {boundaries} boundaries"
    );
    assert_eq!(moved, ins.iter().sum::<f64>(), "each handoff out arrived");
    let resumed: usize = (0..lab.nodes.len())
        .map(|i| lab.server_log(i).matches("resuming the response").count())
        .sum();
    assert_eq!(
        resumed as f64, moved,
        "each node that took the connection resumed the response"
    );
}
