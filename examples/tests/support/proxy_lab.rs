//! A lab whose nodes each run an unmodified application on `[::1]` and
//! `geckoproxy` in front of it (include it after `stream_lab`, whose lab,
//! file, downloads and metrics it reuses:
//! `#[path = "support/proxy_lab.rs"] mod proxy_lab;`).
//!
//! Everything it starts goes however the test ends: applications and
//! proxies are killed before the lab is taken down (their logs are in the
//! lab's directory, kept for a failed test like the rest).

#![allow(dead_code)]

use std::net::{Ipv6Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use gecko_lab::netns;

use crate::stream_lab::{daemon, kill_group, require, StreamLab};

/// The application every node runs: `argv` (program first; `{node_dir}`
/// stands for a directory of the node's own) listening on `[::1]:port`.
#[derive(Clone, Debug)]
pub struct App {
    /// The command line.
    pub argv: Vec<String>,
    /// Where it listens, on `::1`.
    pub port: u16,
}

/// A lab of applications behind proxies; `s` holds the lab, the served
/// random file (`s.tmp`, name `served.bin`) and the download helpers.
pub struct ProxyLab {
    /// The lab, the served file, curl downloads, node metrics.
    pub s: StreamLab,
    /// The application on each node.
    pub app: App,
    /// The port at G (the proxies' `--port`).
    pub port: u16,
    /// The policy the proxies use.
    pub policy: String,
    apps: Vec<Option<Child>>,
    proxies: Vec<Option<Child>>,
}

impl ProxyLab {
    /// Builds lab `name`, writes a random file of `file_mb` MiB, starts
    /// `app` and a `geckoproxy -g CONFIG -a APP_PORT --port port` on every
    /// node and waits until all serve and the nodes heard each other's load.
    pub fn start(
        name: &str,
        nodes: usize,
        clients: usize,
        file_mb: u64,
        app: App,
        port: u16,
    ) -> ProxyLab {
        ProxyLab::start_with(name, nodes, clients, 0, file_mb, app, port)
    }

    /// [`ProxyLab::start`] with `plain` client hosts too (that run nothing
    /// of Gecko); when there are, `s.clients` names them.
    pub fn start_with(
        name: &str,
        nodes: usize,
        clients: usize,
        plain: usize,
        file_mb: u64,
        app: App,
        port: u16,
    ) -> ProxyLab {
        require(&app.argv[0]);
        let s = StreamLab::build(name, nodes, clients, plain, file_mb, port);
        let mut this = ProxyLab {
            s,
            app,
            port,
            policy: "round-robin".into(),
            apps: Vec::new(),
            proxies: Vec::new(),
        };
        for i in 0..this.s.nodes.len() {
            let _ = std::fs::create_dir_all(this.node_dir(i));
            let app = this.spawn_app(i);
            this.apps.push(Some(app));
            let proxy = this.spawn_proxy(i);
            this.proxies.push(Some(proxy));
        }
        for i in 0..this.s.nodes.len() {
            this.wait_app(i);
            this.wait_proxy(i);
        }
        std::thread::sleep(gecko::node::LOAD_EVERY * 3);
        this
    }

    /// A directory of node `i`'s own (the application's `{node_dir}`).
    pub fn node_dir(&self, i: usize) -> PathBuf {
        self.s.tmp.join(&self.s.nodes[i])
    }

    fn log(&self, i: usize, what: &str) -> (Stdio, Stdio) {
        let path = self
            .s
            .lab
            .dir
            .join(format!("{}-{what}.log", self.s.nodes[i]));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("log file");
        let err = out.try_clone().expect("log file");
        (out.into(), err.into())
    }

    /// The log of node `i`'s proxy so far.
    pub fn proxy_log(&self, i: usize) -> String {
        let path = self
            .s
            .lab
            .dir
            .join(format!("{}-geckoproxy.log", self.s.nodes[i]));
        std::fs::read_to_string(path).unwrap_or_default()
    }

    fn spawn_app(&self, i: usize) -> Child {
        let dir = self.node_dir(i).to_string_lossy().to_string();
        let argv: Vec<String> = self
            .app
            .argv
            .iter()
            .map(|a| a.replace("{node_dir}", &dir))
            .collect();
        let (out, err) = self.log(i, "app");
        self.s
            .lab
            .command(&self.s.nodes[i], &argv[0])
            .expect("command in the node")
            .args(&argv[1..])
            .current_dir(&self.s.tmp)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .expect("the application starts")
    }

    fn spawn_proxy(&self, i: usize) -> Child {
        let exe = daemon("geckoproxy");
        let config = self.s.lab.config_path().to_string_lossy().to_string();
        let (out, err) = self.log(i, "geckoproxy");
        self.s
            .lab
            .command(&self.s.nodes[i], &exe.to_string_lossy())
            .expect("command in the node")
            .args(["-g", &config, "-a", &self.app.port.to_string()])
            .args(["--port", &self.port.to_string(), "--policy", &self.policy])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .expect("geckoproxy starts")
    }

    /// Waits (15 s at most) until node `i`'s application accepts on `::1`.
    pub fn wait_app(&mut self, i: usize) {
        let ns = self.s.lab.netns(&self.s.nodes[i]).expect("node namespace");
        let addr = SocketAddr::from((Ipv6Addr::LOCALHOST, self.app.port));
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let up = netns::run_in(&ns, || {
                TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            })
            .expect("probing in the node");
            if up {
                return;
            }
            if let Some(Ok(Some(status))) = self.apps[i].as_mut().map(|c| c.try_wait()) {
                panic!("the application on {} exited ({status})", self.s.nodes[i]);
            }
            assert!(
                Instant::now() < deadline,
                "the application on {} did not listen on {addr} within 15 s",
                self.s.nodes[i]
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (15 s at most) until node `i`'s proxy listens on G.
    pub fn wait_proxy(&mut self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.proxy_log(i).contains("geckoproxy ready") || self.s.metrics(i).is_none() {
            if let Some(Ok(Some(status))) = self.proxies[i].as_mut().map(|c| c.try_wait()) {
                panic!(
                    "geckoproxy on {} exited ({status}): {}",
                    self.s.nodes[i],
                    self.proxy_log(i)
                );
            }
            assert!(
                Instant::now() < deadline,
                "geckoproxy on {} not ready within 15 s: {}",
                self.s.nodes[i],
                self.proxy_log(i)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILLs node `i`'s application (the proxy stays).
    pub fn kill_app(&mut self, i: usize) {
        if let Some(c) = self.apps[i].take() {
            kill_group(c);
        }
    }

    /// Starts node `i`'s application again and waits until it listens.
    pub fn restart_app(&mut self, i: usize) {
        assert!(self.apps[i].is_none(), "the application on node {i} runs");
        let c = self.spawn_app(i);
        self.apps[i] = Some(c);
        self.wait_app(i);
    }

    /// SIGKILLs node `i`'s proxy.
    pub fn kill_proxy(&mut self, i: usize) {
        if let Some(c) = self.proxies[i].take() {
            kill_group(c);
        }
    }

    /// Starts node `i`'s proxy again and waits until it listens on G.
    pub fn restart_proxy(&mut self, i: usize) {
        assert!(self.proxies[i].is_none(), "the proxy on node {i} runs");
        // A fresh log, so that readiness is this run's.
        let path = self
            .s
            .lab
            .dir
            .join(format!("{}-geckoproxy.log", self.s.nodes[i]));
        let _ = std::fs::rename(&path, path.with_extension("log.1"));
        let c = self.spawn_proxy(i);
        self.proxies[i] = Some(c);
        self.wait_proxy(i);
    }

    /// `series` at each node's proxy (0 where it does not answer).
    pub fn by_node(&self, series: &str) -> Vec<f64> {
        self.s.metric_by_node(series)
    }
}

impl Drop for ProxyLab {
    fn drop(&mut self) {
        // Before the StreamLab (a field) takes the lab down.
        for c in self
            .proxies
            .iter_mut()
            .chain(self.apps.iter_mut())
            .filter_map(Option::take)
        {
            kill_group(c);
        }
    }
}
