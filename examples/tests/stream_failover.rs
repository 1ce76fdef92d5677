//! Failover as a user meets it: `curl` downloads a file from G through
//! `stream-server` while the node serving it crashes; the node's backup
//! recovers the connection and the server resumes at the recovered
//! offset. Every download is checked by HTTP status, size and SHA-256.
//! Needs root and `curl`; run `cargo build --workspace` first.
//! `GECKO_TEST_MB` sets the file's size (default 200 MB as the issue asks).

#[path = "support/stream_lab.rs"]
mod stream_lab;

use std::time::{Duration, Instant};

use stream_lab::{file_mb, one_lab_at_a_time, root_or_skip, StreamLab};

/// curl's rate limit, so that a download is still running when a node
/// is killed (the lab moves GB/s).
const RATE: &str = "40M";

/// The node (index) that serves the one open connection, waiting for it.
fn serving_node(lab: &StreamLab, exclude: &[usize]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for i in 0..lab.nodes.len() {
            if exclude.contains(&i) {
                continue;
            }
            if lab.node_metric(i, "gecko_connections_open") == Some(1.0) {
                return i;
            }
        }
        assert!(Instant::now() < deadline, "no node serves the download");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `series` summed over the live nodes reaches `at_least`.
fn wait_sum(lab: &StreamLab, series: &str, at_least: f64, within: Duration) -> f64 {
    let deadline = Instant::now() + within;
    loop {
        let v = lab.metric_sum(series);
        if v >= at_least || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_download_survives_a_crash_of_its_node() {
    if !root_or_skip("a_download_survives_a_crash_of_its_node") {
        return;
    }
    let _one = one_lab_at_a_time();
    let mut lab = StreamLab::start("gk-fail-kill", 3, 1, file_mb(200), &[]);
    let d = lab.curl_spawn_with("client1", "/", &["--limit-rate", RATE]);
    let victim = serving_node(&lab, &[]);
    // Let a few mirrors happen, then crash it.
    std::thread::sleep(Duration::from_millis(1200));
    eprintln!("killing node{}", victim + 1);
    lab.kill_node(victim);
    let recovered = wait_sum(&lab, "gecko_recoveries_total", 1.0, Duration::from_secs(10));
    let got = lab.curl_wait(d);
    lab.assert_intact(&got, "download across the crash");
    assert_eq!(recovered, 1.0, "one connection recovered");
    assert!(lab.metric_sum("gecko_failures_detected_total") >= 1.0);
    // The resumed response is in the new node's log.
    let resumed = (0..lab.nodes.len())
        .filter(|i| *i != victim)
        .any(|i| lab.server_log(i).contains("recovered=true"));
    assert!(resumed, "a server resumed the recovered connection");
}
