//! The lab across processes: `gecko-lab up`, `status`, `exec`, `cut`,
//! `heal`, `down` and `demo`, run as a user would. Needs root.
//!
//! Each test uses its own lab name, so they run in parallel; a guard takes
//! each lab down even when the test fails.

use std::net::{Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use gecko_lab::{netns, service};

const LAB: &str = env!("CARGO_BIN_EXE_gecko-lab");

fn lab(args: &[&str]) -> Output {
    let out = Command::new(LAB)
        .args(args)
        .output()
        .expect("gecko-lab runs");
    eprintln!(
        "$ gecko-lab {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn lab_ok(args: &[&str]) -> String {
    let out = lab(args);
    assert!(out.status.success(), "gecko-lab {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

/// Brings a lab up, and down again however the test ends.
struct LabGuard(String);

impl LabGuard {
    fn up(name: &str, nodes: usize, clients: usize) -> LabGuard {
        LabGuard::up_plain(name, nodes, clients, 0)
    }

    /// With `plain` client hosts that run no agent too.
    fn up_plain(name: &str, nodes: usize, clients: usize, plain: usize) -> LabGuard {
        let _ = lab(&["down", "--name", name]);
        let guard = LabGuard(name.into());
        lab_ok(&[
            "up",
            "--name",
            name,
            "--nodes",
            &nodes.to_string(),
            "--clients",
            &clients.to_string(),
            "--plain-clients",
            &plain.to_string(),
        ]);
        guard
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_str(&lab_ok(&["status", "--name", &self.0, "--json"])).unwrap()
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = Command::new(LAB).args(["down", "--name", &self.0]).output();
    }
}

/// What the machine's own namespace has: links, addresses, routes.
fn own_namespace() -> String {
    [
        "/proc/net/dev_mcast",
        "/proc/net/if_inet6",
        "/proc/net/ipv6_route",
        "/proc/net/route",
    ]
    .iter()
    .map(|p| std::fs::read_to_string(p).unwrap_or_default())
    .chain(std::iter::once(
        std::fs::read_dir("/sys/class/net")
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect::<Vec<_>>()
            .join(" "),
    ))
    .collect::<Vec<_>>()
    .join("\n")
}

fn lab_namespaces(name: &str) -> Vec<String> {
    let prefix = format!("gecko-{name}-");
    netns::list()
        .unwrap()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

/// One echo from a client namespace to a server namespace, through real
/// kernel sockets. Err when the server cannot be reached.
fn echo(
    client_ns: &str,
    server_ns: &str,
    server: Ipv6Addr,
    port: u16,
) -> std::io::Result<Duration> {
    service::echo_once(
        client_ns,
        server_ns,
        SocketAddr::from((server, port)),
        Duration::from_secs(1),
    )
}

#[test]
fn lab_comes_up_reaches_every_node_and_goes_down_clean() {
    let before = own_namespace();
    let name = "t-updown";
    let guard = LabGuard::up(name, 3, 2);

    let status = guard.status();
    assert_eq!(status["name"], name);
    assert_eq!(status["global_address"], "2001:db8:ffff::1");
    let hosts = status["hosts"].as_object().unwrap();
    assert_eq!(hosts.len(), 6, "ha + 3 nodes + 2 clients");
    for host in ["ha", "node1", "node2", "node3", "client1", "client2"] {
        let h = &hosts[host];
        assert_eq!(h["netns"], format!("gecko-{name}-{host}"));
        assert!(h["address"].as_str().unwrap().starts_with("2001:db8:"));
        assert!(h["interface"].as_str().is_some());
        assert!(h["metrics"]
            .as_str()
            .unwrap()
            .starts_with("http://[2001:db8:"));
    }
    let config = status["config"].as_str().unwrap();
    gecko::config::Config::load(config).expect("the lab writes a valid config");
    // `up` started the daemons: the home agent and a client agent per client.
    let processes = |host: &str| hosts[host]["processes"].clone();
    assert_eq!(processes("ha"), serde_json::json!(["gecko-ha"]));
    assert_eq!(processes("client2"), serde_json::json!(["gecko-cn"]));
    assert_eq!(processes("node1"), serde_json::json!([]));

    // Every client reaches every node over the router.
    for client in ["client1", "client2"] {
        for node in ["node1", "node2", "node3"] {
            let addr: Ipv6Addr = hosts[node]["address"].as_str().unwrap().parse().unwrap();
            echo(
                &format!("gecko-{name}-{client}"),
                &format!("gecko-{name}-{node}"),
                addr,
                7000,
            )
            .unwrap_or_else(|e| panic!("{client} -> {node}: {e}"));
        }
    }

    // A process left running in a host is ended by `down`.
    let mut sleeper = Command::new(LAB)
        .args(["exec", "--name", name, "node2", "--", "sleep", "600"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let node2 = netns::open(&format!("gecko-{name}-node2")).unwrap();
    assert_eq!(netns::pids_in(&node2).unwrap(), vec![sleeper.id() as i32]);
    drop(node2);

    let out = lab_ok(&["down", "--name", name]);
    // The sleeper, and the daemons `up` started: gecko-ha, two gecko-cn.
    assert!(out.contains("6 namespaces, 4 processes"), "{out}");
    assert!(lab_namespaces(name).is_empty(), "namespaces left behind");
    assert!(
        !std::path::Path::new("/run/gecko-lab").join(name).exists(),
        "state left behind"
    );
    // Ended by down's SIGTERM, so this returns at once.
    let status = sleeper.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(15)
    );
    assert_eq!(
        own_namespace(),
        before,
        "the machine's own namespace changed"
    );
    drop(guard);
}

#[test]
fn exec_runs_inside_the_host_with_its_environment() {
    let name = "t-exec";
    let guard = LabGuard::up(name, 2, 1);
    let out = lab_ok(&[
        "exec",
        "--name",
        name,
        "node2",
        "--",
        "sh",
        "-c",
        "echo $GECKO_LOCAL_ADDRESS $GECKO_INTERFACE $GECKO_CONFIG; cat /proc/net/if_inet6",
    ]);
    let first = out.lines().next().unwrap();
    assert_eq!(
        first,
        format!("2001:db8:1:2::2 eth0 /run/gecko-lab/{name}/gecko.toml")
    );
    assert!(
        out.contains("20010db8000100020000000000000002"),
        "node2's address is in its namespace: {out}"
    );
    assert!(
        !out.contains("20010db8000100010000000000000002"),
        "node1's address is not: {out}"
    );

    // The command's exit status comes back.
    let out = lab(&[
        "exec", "--name", name, "client1", "--", "sh", "-c", "exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    // A missing program is an error, not a hang.
    let out = lab(&[
        "exec",
        "--name",
        name,
        "client1",
        "--",
        "/nonexistent/program",
    ]);
    assert!(!out.status.success());
    // A missing host is an error naming it.
    let out = lab(&["exec", "--name", name, "node7", "--", "true"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("node7"));
    drop(guard);
}

#[test]
fn cut_and_heal_take_a_link_down_and_up() {
    let name = "t-cut";
    let guard = LabGuard::up(name, 2, 1);
    let client = format!("gecko-{name}-client1");
    let node1 = format!("gecko-{name}-node1");
    let addr: Ipv6Addr = "2001:db8:1:1::2".parse().unwrap();
    echo(&client, &node1, addr, 7001).expect("reachable before the cut");
    lab_ok(&["cut", "--name", name, "node1"]);
    assert!(
        echo(&client, &node1, addr, 7002).is_err(),
        "reachable through a cut link"
    );
    // The other node is unaffected.
    echo(
        &client,
        &format!("gecko-{name}-node2"),
        "2001:db8:1:2::2".parse().unwrap(),
        7003,
    )
    .expect("node2 reachable while node1 is cut");
    lab_ok(&["heal", "--name", name, "node1"]);
    // The kernel restores the link's routes and neighbours on its own
    // time: under load the first SYN can be lost, so allow a few tries.
    let healed = (0..5).any(|i| echo(&client, &node1, addr, 7004 + i).is_ok());
    assert!(healed, "unreachable after healing");
    drop(guard);
}

#[test]
fn down_cleans_up_after_a_crashed_lab() {
    let name = "t-crash";
    let guard = LabGuard::up(name, 2, 1);
    // The lab's own state is lost, as if gecko-lab died mid-way.
    std::fs::remove_dir_all(format!("/run/gecko-lab/{name}")).unwrap();
    assert_eq!(lab_namespaces(name).len(), 4);
    assert!(!lab(&["status", "--name", name]).status.success());
    lab_ok(&["down", "--name", name]);
    assert!(lab_namespaces(name).is_empty());
    // down of a lab that is not there is fine (idempotent).
    lab_ok(&["down", "--name", name]);
    drop(guard);
}

#[test]
fn bad_requests_are_refused_and_change_nothing() {
    let name = "t-bad";
    let guard = LabGuard::up(name, 1, 1);
    // The same name twice.
    let out = lab(&["up", "--name", name]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists already"));
    assert_eq!(
        lab_namespaces(name).len(),
        3,
        "the existing lab is untouched"
    );
    // Bad names and sizes.
    for args in [
        vec!["up", "--name", "Bad_Name"],
        vec!["up", "--name", "t-bad2", "--nodes", "0"],
        vec!["status", "--name", "t-nosuch"],
    ] {
        let out = lab(&args);
        assert!(!out.status.success(), "{args:?} accepted");
    }
    assert!(lab_namespaces("t-bad2").is_empty());
    drop(guard);
}

#[test]
fn labs_with_different_names_coexist() {
    let a = LabGuard::up("t-par-a", 1, 1);
    let b = LabGuard::up("t-par-b", 1, 1);
    // Same addresses in both, each in its own namespaces.
    let addr: Ipv6Addr = "2001:db8:1:1::2".parse().unwrap();
    echo("gecko-t-par-a-client1", "gecko-t-par-a-node1", addr, 7010).unwrap();
    echo("gecko-t-par-b-client1", "gecko-t-par-b-node1", addr, 7010).unwrap();
    lab_ok(&["down", "--name", "t-par-a"]);
    assert!(lab_namespaces("t-par-a").is_empty());
    assert_eq!(
        lab_namespaces("t-par-b").len(),
        3,
        "the other lab is untouched"
    );
    drop((a, b));
}

#[test]
fn demo_runs_inside_an_existing_lab_and_leaves_it_up() {
    let name = "t-demo";
    let guard = LabGuard::up_plain(name, 3, 1, 1);
    let out = lab_ok(&["demo", "--name", name]);
    assert_demo_story(&out);
    assert_eq!(lab_namespaces(name).len(), 6, "the lab stays up");
    drop(guard);
}

#[test]
fn demo_builds_its_own_lab_and_removes_it() {
    let out = lab_ok(&["demo"]);
    assert_demo_story(&out);
    // A name of its own (demo-PID), so it never meets another demo's lab.
    let name = out
        .split("lab `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .expect("the demo names its lab")
        .to_string();
    assert!(name.starts_with("demo-"), "{out}");
    assert!(out.contains(&format!("lab `{name}` removed")), "{out}");
    assert!(lab_namespaces(&name).is_empty());
}

/// The demo's story: connections placed at establishment, moved on each
/// `H` across nodes, a second connection left in place, every echo intact;
/// then a download that survives the crash of its node.
fn assert_demo_story(out: &str) {
    // Step 1 (building a lab) only runs when the demo builds its own.
    for step in 2..=9 {
        assert!(out.contains(&format!("[{step}/9]")), "{out}");
    }
    // A client without an agent: placed and moved by way of the home agent.
    assert!(out.contains("connection C (from port"), "{out}");
    assert!(out.contains("flow registrations accepted"), "{out}");
    // The last step: a download across the crash of the node serving it.
    assert!(
        out.contains("300 of 300 MB received, 0 wrong bytes"),
        "{out}"
    );
    assert!(out.contains("recovered by node"), "{out}");
    for label in ["A", "B"] {
        assert!(
            out.contains(&format!("connection {label} (from port"))
                && out.contains(&format!("connection {label}")),
            "{out}"
        );
    }
    // Three placements, seven `H` rounds, one more echo on B.
    assert_eq!(out.matches("both ways").count(), 11, "{out}");
    let targets: std::collections::HashSet<&str> = out
        .lines()
        .filter_map(|l| l.split(" to ").nth(1)?.split(' ').next())
        .filter(|n| n.starts_with("node"))
        .collect();
    assert!(out.matches("moved from node").count() >= 3, "{out}");
    assert!(targets.len() >= 2, "moves went to {targets:?}: {out}");
    assert!(out.contains("connection B: still served by node"), "{out}");
    assert!(out.contains("handoff ") && out.contains(" ms)"), "{out}");
    assert!(out.contains("demo done"), "{out}");
}

#[test]
fn two_ups_of_one_name_build_one_lab() {
    let name = "t-race";
    let _ = lab(&["down", "--name", name]);
    let guard = LabGuard(name.into());
    let ups: Vec<_> = (0..2)
        .map(|_| {
            Command::new(LAB)
                .args(["up", "--name", name, "--nodes", "1", "--clients", "1"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let results: Vec<Output> = ups
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let won = results.iter().filter(|o| o.status.success()).count();
    assert_eq!(won, 1, "exactly one up wins");
    let lost = results.iter().find(|o| !o.status.success()).unwrap();
    assert!(
        String::from_utf8_lossy(&lost.stderr).contains("exists"),
        "{}",
        String::from_utf8_lossy(&lost.stderr)
    );
    // The winner's lab is whole: the loser removed nothing of it.
    assert_eq!(lab_namespaces(name).len(), 3);
    echo(
        &format!("gecko-{name}-client1"),
        &format!("gecko-{name}-node1"),
        "2001:db8:1:1::2".parse().unwrap(),
        7020,
    )
    .expect("the lab works");
    drop(guard);
}

#[test]
fn doctor_prints_every_feature_its_option_and_the_choice() {
    let out = lab(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let json: serde_json::Value = serde_json::from_str(&lab_ok(&["doctor", "--json"])).unwrap();
    let findings = json["findings"].as_array().expect("findings");
    assert_eq!(
        findings.len(),
        gecko::dataplane::kernel_check::Feature::ALL.len()
    );
    for f in gecko::dataplane::kernel_check::Feature::ALL {
        let line = text
            .lines()
            .find(|l| l.starts_with(f.title()))
            .unwrap_or_else(|| panic!("no line for {}:\n{text}", f.title()));
        assert!(line.contains(f.option()), "{line}");
    }
    for missing in findings.iter().filter(|f| f["present"] == false) {
        assert!(
            text.contains("MISSING"),
            "{missing} not shown missing:\n{text}"
        );
    }
    let usable = json["usable"].as_array().unwrap();
    assert_eq!(out.status.success(), !usable.is_empty(), "exit code");
    match json["auto"].as_str() {
        Some(auto) => assert!(text.contains(&format!("auto chooses: {auto}")), "{text}"),
        None => assert!(text.contains("auto chooses nothing"), "{text}"),
    }
}

/// Runs `program ARGS` in a network namespace of its own (it vanishes with
/// the process), so nothing it might do reaches the machine's.
fn run_isolated(program: &str, args: &[&str]) -> (bool, String, Duration) {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(program);
    cmd.args(args).env_remove("GECKO_DATAPLANE");
    // SAFETY: unshare is async-signal-safe; nothing else runs before exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
        });
    }
    let t0 = std::time::Instant::now();
    let out = cmd.output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("$ {program} {}\n{err}", args.join(" "));
    (out.status.success(), err, t0.elapsed())
}

#[test]
fn a_data_plane_the_kernel_lacks_is_refused_at_once_naming_the_option() {
    use gecko::dataplane::{Encap, KernelReport};
    let before = own_namespace();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/gecko.toml");
    let mut refused = 0;
    for encap in Encap::ALL {
        let Some(feature) = KernelReport::get().missing_for(encap) else {
            continue;
        };
        refused += 1;
        // The lab refuses before it builds anything.
        let out = lab(&["up", "--name", "t-forced", "--dataplane", encap.name()]);
        assert!(!out.status.success(), "lab up with {encap} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(feature.option()), "{err}");
        assert!(lab_namespaces("t-forced").is_empty(), "namespaces left");
        assert!(!std::path::Path::new("/run/gecko-lab/t-forced").exists());
        // So do the daemons, at once, in one line naming the option.
        for (agent, extra) in [
            ("gecko-ha", vec![]),
            ("gecko-cn", vec!["--address", "2001:db8:2:1::2"]),
        ] {
            let (program, mut args) = gecko_lab::agent_program(Path::new(LAB), agent);
            let program = program.to_str().unwrap();
            args.extend(["--config", config, "--dataplane", encap.name()].map(String::from));
            args.extend(extra.into_iter().map(String::from));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (ok, err, took) = run_isolated(program, &args);
            assert!(!ok, "{program} started with {encap}");
            assert!(err.contains(feature.option()), "{err}");
            assert!(
                took < Duration::from_secs(5),
                "{program} took {took:?} to refuse"
            );
        }
    }
    if refused == 0 {
        eprintln!("NOT RUN: this kernel runs every backend, so none can be refused");
    }
    assert_eq!(own_namespace(), before, "the machine's namespace changed");
}
