//! What the scenario tests in `tests/` share: a lab with its daemons that
//! is taken down however the test ends (keeping the daemons' logs of a
//! failed test), nodes running the high-level API in-process, clients
//! connecting to G, and the daemons' metrics.

use std::net::{Ipv6Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use gecko::config::Config;

use crate::framework_host::{FrameworkHost, Handler};
use crate::service::connect_in;
use crate::Lab;

/// How long a scenario's connections and waits take at most.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A lab with its daemons, taken down when dropped.
pub struct ScenarioLab(pub Lab);

impl Drop for ScenarioLab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.keep_logs();
        }
        let _ = Lab::down(&self.0.topology.name);
    }
}

impl ScenarioLab {
    /// Lab `name` of `nodes` nodes, `clients` clients with an agent and
    /// `plain` without, on the data plane of `GECKO_DATAPLANE`, its
    /// daemons started from beside `lab_exe` (the `gecko-lab` binary).
    /// Panics if it cannot come up: this is for tests.
    pub fn up(
        name: &str,
        nodes: usize,
        clients: usize,
        plain: usize,
        lab_exe: &Path,
    ) -> ScenarioLab {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let _ = Lab::down(name);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let lab = rt
            .block_on(Lab::up_plain(name, nodes, clients, plain, &mut |_| {}))
            .expect("lab up");
        let guard = ScenarioLab(lab);
        let bins = |daemon: &str| crate::agent_program(lab_exe, daemon);
        guard.0.start_daemons(&bins).expect("daemons start");
        guard
    }

    /// The lab's configuration.
    pub fn config(&self) -> Config {
        Config::load(self.0.config_path()).expect("the lab's configuration")
    }

    /// G and the service's port.
    pub fn g(&self) -> SocketAddr {
        let config = self.config();
        SocketAddr::from((config.global_address, config.service_port))
    }

    /// A host's own address.
    pub fn address(&self, host: &str) -> Ipv6Addr {
        self.0
            .topology
            .host(host)
            .expect("a host of the lab")
            .address
    }

    /// Starts nodes `node1..=n` with `handler`, then waits until each has
    /// heard the others' load reports (policies only pick nodes they heard).
    pub fn nodes(&self, n: usize, handler: Handler) -> Vec<FrameworkHost> {
        let hosts: Vec<FrameworkHost> = (1..=n)
            .map(|i| FrameworkHost::start(&self.0, &format!("node{i}"), None, handler.clone()))
            .collect::<Result<_, _>>()
            .expect("nodes start");
        std::thread::sleep(gecko::node::LOAD_EVERY * 3);
        hosts
    }

    /// A connection from `client` to G's service.
    pub fn connect(&self, client: &str) -> TcpStream {
        let ns = self.0.netns(client).expect("the client's namespace");
        connect_in(&ns, self.g(), None, TIMEOUT).expect("connect to G")
    }

    /// A series from the metrics endpoint of the daemon on `host` (0 if
    /// absent or unreachable).
    pub fn daemon_metric(&self, host: &str, series: &str) -> f64 {
        self.0.daemon_metric(host, series)
    }
}

/// Waits until `done` holds, failing the test after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The sum of `series` over `nodes`.
pub fn total(nodes: &[FrameworkHost], series: &str) -> f64 {
    nodes.iter().map(|n| n.metric(series)).sum()
}
