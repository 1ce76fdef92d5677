//! The echo example (`echo-server`, examples/rust/echo_server.rs) as a
//! user runs it: one process per server node inside a lab, `gecko-ha` and
//! `gecko-cn` as real daemons, and unmodified clients (`socat`, a Python
//! script) talking to G. Every stream is checked with SHA-256 both ways,
//! and the nodes' own metrics endpoints show the connections moving.
//! Needs root, `socat` and `python3`; run `cargo build --workspace` first
//! (the daemons are binaries of the `gecko` package).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gecko_lab::framework_host::metric_in;
use gecko_lab::{netns, Lab, Role};
use sha2::{Digest, Sha256};

const ECHO_SERVER: &str = env!("CARGO_BIN_EXE_echo-server");
const LAB: &str = "t-ex-echo";

/// A lab with its daemons, taken down however the test ends.
struct LabGuard(Lab);

impl Drop for LabGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Keep the daemons' and servers' logs of a failed test.
            self.0.keep_logs();
        }
        let _ = Lab::down(&self.0.topology.name);
    }
}

/// The echo-server processes, killed however the test ends (declared
/// after the lab, so they go before it).
struct Servers(Vec<(String, Child)>);

impl Drop for Servers {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A daemon of the `gecko` package, built beside the example.
fn daemon(name: &str) -> PathBuf {
    let dir = Path::new(ECHO_SERVER)
        .parent()
        .expect("the echo-server binary has a directory");
    let exe = dir.join(name);
    assert!(
        exe.is_file(),
        "{} is missing: run `cargo build --workspace` first (the lab daemons are binaries of the gecko-agents package)",
        exe.display()
    );
    exe
}

/// Fails clearly when a client program the test drives is not installed.
fn require(program: &str) {
    let found = Command::new("which")
        .arg(program)
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{program}` is not installed: this test drives it as an unmodified client (apt-get install {program})"
    );
}

fn up(name: &str, nodes: usize, clients: usize) -> LabGuard {
    let (ha, cn) = (daemon("gecko-ha"), daemon("gecko-cn"));
    let _ = Lab::down(name);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let lab = rt
        .block_on(Lab::up(name, nodes, clients, &mut |_| {}))
        .expect("lab up");
    let guard = LabGuard(lab);
    let program = |d: &str| {
        let exe = if d == "gecko-ha" { &ha } else { &cn };
        (exe.clone(), vec![])
    };
    guard.0.start_daemons(&program).expect("daemons start");
    guard
}

/// `GET /metrics` from inside `host`'s namespace (None while nothing answers).
fn metrics_of(lab: &Lab, host: &str) -> Option<String> {
    let h = lab.topology.host(host).expect("host");
    let addr = h.metrics;
    let ns = lab.netns(host).expect("namespace");
    netns::run_in(&ns, move || -> std::io::Result<String> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(300))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
        let mut text = String::new();
        s.read_to_string(&mut text)?;
        Ok(text)
    })
    .ok()?
    .ok()
}

/// Starts `echo-server --policy round-robin` on every node, each in its
/// node's namespace, and waits until each serves its metrics.
fn start_servers(lab: &Lab) -> Servers {
    let nodes: Vec<String> = lab
        .topology
        .hosts_of(Role::Node)
        .map(|h| h.name.clone())
        .collect();
    let mut servers = Servers(Vec::new());
    for node in &nodes {
        let log = lab.dir.join(format!("{node}-echo-server.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = lab
            .command(node, ECHO_SERVER)
            .expect("command in the node")
            .args(["--policy", "round-robin"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .expect("echo-server starts");
        servers.0.push((node.clone(), child));
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    for (node, child) in &mut servers.0 {
        while metrics_of(lab, node).is_none() {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(lab.dir.join(format!("{node}-echo-server.log")))
                    .unwrap_or_default();
                panic!("echo-server on {node} exited ({status}): {log}");
            }
            assert!(
                Instant::now() < deadline,
                "echo-server on {node} did not serve its metrics within 15 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // Policies only pick nodes whose load reports they heard.
    std::thread::sleep(gecko::node::LOAD_EVERY * 3);
    servers
}

/// `n` random bytes without `H`, then `H` at each of `at`.
fn payload(n: usize, at: &[usize]) -> Vec<u8> {
    let mut data: Vec<u8> = (0..n)
        .map(|_| match rand::random::<u8>() {
            b'H' => b'G',
            b => b,
        })
        .collect();
    for &i in at {
        data[i] = b'H';
    }
    data
}

fn total(lab: &Lab, series: &str) -> Vec<f64> {
    lab.topology
        .hosts_of(Role::Node)
        .map(|h| metric_in(&metrics_of(lab, &h.name).expect("metrics"), series))
        .collect()
}

/// The lab client every language's tests share: TOTAL bytes with an `H`
/// every EVERY bytes, the echo read concurrently, SHA-256 both ways.
const PYTHON_CLIENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/clients/mid_stream_echo.py"
);

#[test]
fn the_echo_example_serves_unmodified_clients_across_handoffs() {
    require("socat");
    require("python3");
    let lab = up(LAB, 3, 2);
    let servers = start_servers(&lab.0);
    let config = gecko::config::Config::load(lab.0.config_path()).expect("config");
    let g = SocketAddr::from((config.global_address, config.service_port));
    let target = format!("TCP6:[{}]:{}", g.ip(), g.port());

    // 1a. A short exchange without `H`: an echo, and the connection stays.
    let out = lab
        .0
        .command("client1", "socat")
        .unwrap()
        .args(["-t", "10", "-T", "20", "-", &target])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b"hello gecko\n")?;
            c.wait_with_output()
        })
        .expect("socat runs");
    assert!(out.status.success(), "socat: {out:?}");
    assert_eq!(out.stdout, b"hello gecko\n");

    // 1b. About 1 MB with `H` at known positions through socat: each `H`
    // read hands the connection off after its echo.
    let h_at: Vec<usize> = (0..8).map(|i| 50_000 + i * 120_000).collect();
    let data = payload(1 << 20, &h_at);
    let file = lab.0.dir.join("socat-input.bin");
    std::fs::write(&file, &data).expect("writing the input");
    let out = lab
        .0
        .command("client1", "socat")
        .unwrap()
        .args(["-t", "10", "-T", "20", "-", &target])
        .stdin(std::fs::File::open(&file).unwrap())
        .stdout(Stdio::piped())
        .output()
        .expect("socat runs");
    assert!(out.status.success(), "socat exited {}", out.status);
    assert_eq!(out.stdout.len(), data.len(), "bytes echoed through socat");
    assert_eq!(
        hex::encode(Sha256::digest(&out.stdout)),
        hex::encode(Sha256::digest(&data)),
        "SHA-256 of socat's echo"
    );
    let after_socat: f64 = total(&lab.0, "gecko_handoffs_total{direction=\"out\"}")
        .iter()
        .sum();

    // 2. A Python client: 2 MB, an `H` every 128 KiB, read concurrently.
    let (total_bytes, every) = (2 << 20, 128 << 10);
    let out = lab
        .0
        .command("client2", "python3")
        .unwrap()
        .args([
            PYTHON_CLIENT,
            &g.ip().to_string(),
            &g.port().to_string(),
            &total_bytes.to_string(),
            &every.to_string(),
        ])
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    eprintln!(
        "python client:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "python client exited {}", out.status);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .map(|v| v.split(' ').next().unwrap_or_default().to_string())
            .unwrap_or_else(|| panic!("no `{name}` line: {text}"))
    };
    let (sent, received) = (field("sent"), field("received"));
    assert_eq!(sent.len(), 64, "{text}");
    assert_eq!(sent, received, "SHA-256 of the Python client's echo");
    assert_eq!(field("h_bytes"), (total_bytes / every).to_string());

    // 3. The nodes' own metrics endpoints: handoffs happened on `H`, and
    // connections were served by more than one node.
    // A donor counts a handoff once the acceptor's outcome reached it,
    // which may be after the client's last echo came back.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (out_by_node, in_by_node) = loop {
        let out = total(&lab.0, "gecko_handoffs_total{direction=\"out\"}");
        let ins = total(&lab.0, "gecko_handoffs_total{direction=\"in\"}");
        if out.iter().sum::<f64>() == ins.iter().sum::<f64>() || Instant::now() > deadline {
            break (out, ins);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let accepted = total(&lab.0, "gecko_connections_accepted_total");
    eprintln!("handoffs out {out_by_node:?}, in {in_by_node:?}; accepted {accepted:?}");
    let moved: f64 = out_by_node.iter().sum();
    assert!(
        after_socat >= 3.0,
        "socat's `H`s moved it {after_socat} times"
    );
    assert!(
        moved - after_socat >= 4.0,
        "the Python client's `H`s moved it {} times",
        moved - after_socat
    );
    assert_eq!(
        moved,
        in_by_node.iter().sum::<f64>(),
        "each handoff out arrived"
    );
    assert!(
        accepted.iter().filter(|a| **a > 0.0).count() >= 2,
        "connections accepted on one node only: {accepted:?}"
    );
    drop(servers);
}
