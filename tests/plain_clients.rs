//! Plain client hosts (issue 19) in a real lab: hosts on which nothing of
//! Gecko runs, yet which reach the router like any client. Needs root
//! (without it the test says NOT RUN, or fails where
//! `GECKO_ROOT_TESTS=required`). Needs `ping` (iputils-ping).

use std::path::Path;
use std::process::Command;

use gecko_lab::topology::{Role, HOME_AGENT_ADDRESS};
use gecko_lab::Lab;

/// Its own name, so that it runs beside the other lab tests.
const NAME: &str = "gk-plainlab";

/// Takes the lab down however the test ends, a failed assertion included.
struct DownOnDrop(&'static str);

impl Drop for DownOnDrop {
    fn drop(&mut self) {
        if let Err(e) = Lab::down(self.0) {
            eprintln!("removing lab `{}`: {e}", self.0);
        }
    }
}

/// The lab's namespaces as `ip netns list` shows them: what a user sees,
/// not only what the lab's own listing finds.
fn ip_netns_of(name: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip runs");
    assert!(out.status.success(), "ip netns list: {out:?}");
    let prefix = format!("gecko-{name}-");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        // A line is `NAME` or `NAME (id: N)`.
        .filter_map(|line| line.split_whitespace().next())
        .filter(|ns| ns.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

#[test]
fn plain_clients_run_nothing_reach_the_router_and_go_down_clean() {
    if !gecko_netns::root_test("plain_clients_run_nothing_reach_the_router_and_go_down_clean") {
        return;
    }
    // A lab left by an earlier run that was killed would make `up` refuse.
    let _ = Lab::down(NAME);
    let guard = DownOnDrop(NAME);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let lab = rt
        .block_on(Lab::up_plain(NAME, 1, 0, 2, &mut |_| {}))
        .expect("lab up");

    let names: Vec<&str> = lab.topology.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["ha", "node1", "plain1", "plain2"]);
    let config = gecko::config::Config::load(lab.config_path()).unwrap();
    assert!(config.client_agents.is_empty(), "{config:?}");

    // The same resolver as the other lab tests: `gecko-ha` beside
    // gecko-lab if the workspace built it, else gecko-lab's own `daemon`.
    let bins =
        |daemon: &str| gecko_lab::agent_program(Path::new(env!("CARGO_BIN_EXE_gecko-lab")), daemon);
    lab.start_daemons(&bins).expect("daemons start");
    // The home agent did start, so the plain hosts' emptiness means
    // something: nothing was started for them.
    assert!(!lab.processes("ha").is_empty());
    for plain in lab.topology.hosts_of(Role::Plain) {
        assert_eq!(
            lab.processes(&plain.name),
            Vec::<String>::new(),
            "{}",
            plain.name
        );
    }
    let status = lab.status_json();
    assert_eq!(status["hosts"]["plain1"]["role"], "plain");
    assert_eq!(status["hosts"]["plain1"]["daemon"], serde_json::Value::Null);
    assert_eq!(status["hosts"]["ha"]["daemon"], "gecko-ha");

    // From plain1 across its link to the router's home-link address.
    let router = lab.topology.router().address;
    assert_eq!(router, HOME_AGENT_ADDRESS);
    let ping = lab
        .command("plain1", "ping")
        .unwrap()
        .args(["-6", "-c1", "-W2", &router.to_string()])
        .output()
        .expect("ping runs (install iputils-ping)");
    assert!(
        ping.status.success(),
        "plain1 cannot ping {router}: {}{}",
        String::from_utf8_lossy(&ping.stdout),
        String::from_utf8_lossy(&ping.stderr)
    );

    assert_eq!(ip_netns_of(NAME).len(), 4, "ha, node1, plain1, plain2");
    let (spaces, _processes) = Lab::down(NAME).expect("lab down");
    assert_eq!(spaces, 4);
    assert_eq!(ip_netns_of(NAME), Vec::<String>::new());
    assert!(!Lab::dir_of(NAME).exists());
    // Down again (a no-op now) at the guard: harmless.
    drop(guard);
}
