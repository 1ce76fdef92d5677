//! A lab serving one random file with `stream-server` on every node, and
//! `curl` downloads of it from the client hosts, checked by SHA-256.
//! Shared by the lab tests that download through Gecko (include it with
//! `#[path = "support/stream_lab.rs"] mod stream_lab;`).
//!
//! Everything it starts goes however the test ends, panics included: the
//! servers and downloads are killed, the lab taken down, the file removed
//! (a failed test's logs are copied to `$TMPDIR/<lab>-logs` first).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gecko_lab::framework_host::metric_in;
use gecko_lab::{netns, Lab, Role};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The `stream-server` binary under test.
pub const STREAM_SERVER: &str = env!("CARGO_BIN_EXE_stream-server");
/// The port the servers listen on at G.
pub const PORT: u16 = 8080;

/// True when the test can run (`gecko_netns::root_test`: without root it
/// fails where `GECKO_ROOT_TESTS=required`, else says it did not run).
pub fn root_or_skip(test: &str) -> bool {
    gecko_netns::root_test(test)
}

/// Held by each lab test of one test binary: labs one at a time (the
/// machine is small and the downloads are timed).
pub fn one_lab_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `GECKO_TEST_MB` if set, else `default`: the size of the served file.
pub fn file_mb(default: u64) -> u64 {
    std::env::var("GECKO_TEST_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A download running in the background on a client host.
pub struct Download {
    /// The `curl` process.
    pub child: Child,
    /// Where it writes the body.
    pub out: PathBuf,
    /// The client host it runs on.
    pub client: String,
}

/// What a finished download got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// curl's exit status (0 when the transfer completed).
    pub exit: Option<i32>,
    /// The HTTP status code (0 when none was received).
    pub code: u16,
    /// Body bytes received.
    pub size: u64,
    /// SHA-256 of the body as written, in hex.
    pub sha: String,
    /// curl's error output.
    pub stderr: String,
    /// The body is a prefix of the file (nothing corrupted, duplicated or
    /// out of place, even in a download that failed).
    pub prefix_ok: bool,
}

/// A lab whose nodes each run `stream-server --file F --port 8080
/// --policy round-robin` (plus extra arguments).
pub struct StreamLab {
    /// The lab (its hosts, G, the state directory with every log).
    pub lab: Lab,
    /// The node hosts' names, `node1`…; index `i` below means `nodes[i]`.
    pub nodes: Vec<String>,
    /// The hosts downloads come from: `client1`… (each runs `gecko-cn`),
    /// or `plain1`… in a lab of clients without an agent
    /// ([`StreamLab::start_plain`]).
    pub clients: Vec<String>,
    /// Each node's server process, None once killed.
    pub servers: Vec<Option<Child>>,
    /// The served file.
    pub file: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256 in hex.
    pub sha: String,
    /// G and the served port.
    pub g: SocketAddr,
    /// The arguments each server got after `--file F --port 8080` (and
    /// `--policy round-robin` unless they name a policy).
    pub extra_args: Vec<String>,
    /// Holds the file and the downloads; removed on drop.
    pub tmp: PathBuf,
    downloads: Vec<u32>,
}

impl StreamLab {
    /// Builds lab `name` (distinct per test) with `nodes` nodes and
    /// `clients` clients and its daemons, writes a random file of
    /// `file_mb` MiB, starts a server on every node and waits until each
    /// serves and the nodes have heard each other's load.
    pub fn start(
        name: &str,
        nodes: usize,
        clients: usize,
        file_mb: u64,
        extra_args: &[&str],
    ) -> StreamLab {
        let this = StreamLab::without_servers(name, nodes, clients, file_mb, PORT);
        this.with_servers(extra_args)
    }

    /// [`StreamLab::start`] with `plain` client hosts that run nothing of
    /// Gecko (and none with an agent): downloads come from them.
    pub fn start_plain(
        name: &str,
        nodes: usize,
        plain: usize,
        file_mb: u64,
        extra_args: &[&str],
    ) -> StreamLab {
        let this = StreamLab::build(name, nodes, 0, plain, file_mb, PORT);
        this.with_servers(extra_args)
    }

    /// Starts a server on every node and waits until each serves and the
    /// nodes have heard each other's load.
    fn with_servers(mut self, extra_args: &[&str]) -> StreamLab {
        let this = &mut self;
        this.extra_args = extra_args.iter().map(|s| s.to_string()).collect();
        for i in 0..this.nodes.len() {
            let child = this.spawn_server(i);
            this.servers.push(Some(child));
        }
        for i in 0..this.nodes.len() {
            this.wait_server(i);
        }
        // Policies only pick nodes whose load reports they heard.
        std::thread::sleep(gecko::node::LOAD_EVERY * 3);
        self
    }

    /// Builds lab `name` with its daemons and the random file (in
    /// [`Self::tmp`]), served at G on `port` by whatever the caller starts
    /// on the nodes (no `stream-server`).
    pub fn without_servers(
        name: &str,
        nodes: usize,
        clients: usize,
        file_mb: u64,
        port: u16,
    ) -> StreamLab {
        StreamLab::build(name, nodes, clients, 0, file_mb, port)
    }

    /// [`StreamLab::without_servers`] with `plain` client hosts too; when
    /// there are, downloads come from them.
    pub fn build(
        name: &str,
        nodes: usize,
        clients: usize,
        plain: usize,
        file_mb: u64,
        port: u16,
    ) -> StreamLab {
        let (ha, cn) = (daemon("gecko-ha"), daemon("gecko-cn"));
        require("curl");
        let _ = Lab::down(name);
        let tmp = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).expect("a temporary directory");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let lab = match rt.block_on(Lab::up_plain(name, nodes, clients, plain, &mut |_| {})) {
            Ok(lab) => lab,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                panic!("lab {name} up: {e}");
            }
        };
        let hosts = |role| -> Vec<String> {
            lab.topology
                .hosts_of(role)
                .map(|h| h.name.clone())
                .collect()
        };
        let mut this = StreamLab {
            nodes: hosts(Role::Node),
            clients: hosts(if plain > 0 { Role::Plain } else { Role::Client }),
            servers: Vec::new(),
            file: tmp.join("served.bin"),
            size: file_mb << 20,
            sha: String::new(),
            g: SocketAddr::from((lab.topology.global_address, port)),
            extra_args: Vec::new(),
            tmp,
            downloads: Vec::new(),
            lab,
        };
        // From here on, Drop takes everything down.
        let program = |d: &str| {
            let exe = if d == "gecko-ha" { &ha } else { &cn };
            (exe.clone(), vec![])
        };
        this.lab.start_daemons(&program).expect("daemons start");
        this.sha = write_random(&this.file, this.size);
        this
    }

    /// The log file of node `i`'s server.
    pub fn server_log_path(&self, i: usize) -> PathBuf {
        self.lab
            .dir
            .join(format!("{}-stream-server.log", self.nodes[i]))
    }

    /// The log of node `i`'s server so far.
    pub fn server_log(&self, i: usize) -> String {
        std::fs::read_to_string(self.server_log_path(i)).unwrap_or_default()
    }

    fn spawn_server(&self, i: usize) -> Child {
        self.spawn_server_with(i, &[], &[])
    }

    fn spawn_server_with(&self, i: usize, env: &[(&str, &str)], args: &[&str]) -> Child {
        let node = &self.nodes[i];
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.server_log_path(i))
            .expect("log file");
        let err = out.try_clone().expect("log file");
        let file = self.file.to_string_lossy().to_string();
        let port = PORT.to_string();
        // Round-robin unless the extra arguments name a policy.
        let named = |a: &str| a == "--policy";
        let policy = if self.extra_args.iter().any(|a| named(a)) || args.iter().any(|a| named(a)) {
            &[][..]
        } else {
            &["--policy", "round-robin"][..]
        };
        self.lab
            .command(node, STREAM_SERVER)
            .expect("command in the node")
            .args(["--file", &file, "--port", &port])
            .args(policy)
            .args(&self.extra_args)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own group: kill_node ends it and anything it started.
            .process_group(0)
            .spawn()
            .expect("stream-server starts")
    }

    /// Waits (15 s at most) until node `i`'s server serves its metrics.
    fn wait_server(&mut self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.metrics(i).is_none() {
            if let Some(Ok(Some(status))) = self.servers[i].as_mut().map(|c| c.try_wait()) {
                panic!(
                    "stream-server on {} exited ({status}): {}",
                    self.nodes[i],
                    self.server_log(i)
                );
            }
            assert!(
                Instant::now() < deadline,
                "stream-server on {} did not serve its metrics within 15 s: {}",
                self.nodes[i],
                self.server_log(i)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts node `i`'s server again (after [`Self::kill_node`]) and
    /// waits until it serves.
    pub fn restart_node(&mut self, i: usize) {
        self.restart_node_with(i, &[], &[]);
    }

    /// [`Self::restart_node`] with `env` added to the server's environment
    /// and `args` to its arguments.
    pub fn restart_node_with(&mut self, i: usize, env: &[(&str, &str)], args: &[&str]) {
        assert!(self.servers[i].is_none(), "{} still runs", self.nodes[i]);
        let child = self.spawn_server_with(i, env, args);
        self.servers[i] = Some(child);
        self.wait_server(i);
    }

    /// Node `i`'s own address.
    pub fn node_address(&self, i: usize) -> std::net::Ipv6Addr {
        self.lab
            .topology
            .host(&self.nodes[i])
            .expect("a node of the lab")
            .address
    }

    /// Whether node `i`'s server has exited (reaping it if so).
    pub fn server_exited(&mut self, i: usize) -> bool {
        match self.servers[i].as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => false,
            Some(_) => {
                self.servers[i] = None;
                true
            }
            None => true,
        }
    }

    /// SIGKILLs node `i`'s server (its whole process group: the
    /// `stream-server` process itself, not a wrapper) and reaps it.
    pub fn kill_node(&mut self, i: usize) {
        if let Some(child) = self.servers[i].take() {
            kill_group(child);
        }
    }

    /// Sends `signal` to node `i`'s server (its process group): SIGSTOP
    /// stalls it as a hung machine would, SIGCONT lets it run on.
    pub fn signal_node(&self, i: usize, signal: i32) {
        if let Some(child) = &self.servers[i] {
            // SAFETY: a signal to a process group this harness created.
            unsafe { libc::kill(-(child.id() as i32), signal) };
        }
    }

    /// Runs `program args` in node `i`'s namespace and waits for it.
    pub fn run_in_node(&self, i: usize, program: &str, args: &[&str]) {
        let status = self
            .lab
            .command(&self.nodes[i], program)
            .expect("command in the node")
            .args(args)
            .status()
            .expect("the command runs");
        assert!(
            status.success(),
            "{program} {args:?} in {}: {status}",
            self.nodes[i]
        );
    }

    /// `GET /metrics` of node `i` (None while nothing answers).
    pub fn metrics(&self, i: usize) -> Option<String> {
        metrics_of(&self.lab, &self.nodes[i])
    }

    /// The value of `series` at node `i` (0 if absent; None while the
    /// node's metrics do not answer), e.g.
    /// `gecko_handoffs_total{direction="out"}`.
    pub fn node_metric(&self, i: usize, series: &str) -> Option<f64> {
        self.metrics(i).map(|text| metric_in(&text, series))
    }

    /// `series` summed over the nodes that answer.
    pub fn metric_sum(&self, series: &str) -> f64 {
        (0..self.nodes.len())
            .filter_map(|i| self.node_metric(i, series))
            .sum()
    }

    /// `series` at each node (0 for one that does not answer).
    pub fn metric_by_node(&self, series: &str) -> Vec<f64> {
        (0..self.nodes.len())
            .map(|i| self.node_metric(i, series).unwrap_or(0.0))
            .collect()
    }

    /// Starts `curl` downloading `http://[G]:8080/` on `client` in the
    /// background.
    pub fn curl_spawn(&mut self, client: &str) -> Download {
        self.curl_spawn_with(client, "/", &[])
    }

    /// Starts `curl -sS --fail -o OUT -w '%{http_code} %{size_download}'`
    /// for `path` at G on `client`, with `extra` arguments (e.g.
    /// `--limit-rate 5M` to keep a download running for a while). A
    /// download that gets no byte for 30 s hung: curl ends it with exit
    /// code 28, as it does one still running after 600 s (a slow one, on a
    /// loaded machine, is not a hang).
    pub fn curl_spawn_with(&mut self, client: &str, path: &str, extra: &[&str]) -> Download {
        let out = self
            .tmp
            .join(format!("{client}-{}.out", self.downloads.len()));
        let url = format!("http://[{}]:{}{path}", self.g.ip(), self.g.port());
        let out_arg = out.to_string_lossy().to_string();
        let child = self
            .lab
            .command(client, "curl")
            .expect("command in the client")
            .args(["-sS", "--fail", "--max-time", "600", "-o", &out_arg])
            .args(["--speed-limit", "1", "--speed-time", "30"])
            .args(["-w", "%{http_code} %{size_download}"])
            .args(extra)
            .arg(&url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("curl starts");
        self.downloads.push(child.id());
        Download {
            child,
            out,
            client: client.to_string(),
        }
    }

    /// Waits for a download to end: its status, size and SHA-256.
    pub fn curl_wait(&mut self, download: Download) -> Downloaded {
        let Download { child, out, client } = download;
        let pid = child.id();
        let output = child.wait_with_output().expect("waiting for curl");
        self.downloads.retain(|p| *p != pid);
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        let mut fields = text.split_whitespace();
        let code = fields.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        let size = fields.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        let sha = sha_of(&out).unwrap_or_default();
        let prefix_ok = is_prefix(&out, &self.file);
        let _ = std::fs::remove_file(&out);
        let got = Downloaded {
            exit: output.status.code(),
            code,
            size,
            sha,
            stderr: String::from_utf8_lossy(&output.stderr).to_string(),
            prefix_ok,
        };
        eprintln!(
            "{client}: curl exit {:?}, HTTP {}, {} bytes, sha {}{}",
            got.exit,
            got.code,
            got.size,
            got.sha,
            if got.stderr.is_empty() {
                String::new()
            } else {
                format!(", stderr: {}", got.stderr.trim())
            }
        );
        got
    }

    /// Downloads on `client` and asserts the whole file arrived intact.
    pub fn assert_download(&mut self, client: &str) -> Downloaded {
        let d = self.curl_spawn(client);
        let got = self.curl_wait(d);
        self.assert_intact(&got, client);
        got
    }

    /// Asserts `got` is the whole file with HTTP 200.
    pub fn assert_intact(&self, got: &Downloaded, what: &str) {
        assert_eq!(got.exit, Some(0), "{what}: curl failed: {}", got.stderr);
        assert_eq!(got.code, 200, "{what}: HTTP status");
        assert_eq!(got.size, self.size, "{what}: bytes downloaded");
        assert_eq!(got.sha, self.sha, "{what}: SHA-256 of the download");
    }
}

impl Drop for StreamLab {
    fn drop(&mut self) {
        for pid in self.downloads.drain(..) {
            // SAFETY: a signal to a process group this harness created.
            unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
        }
        for child in self.servers.iter_mut().filter_map(Option::take) {
            kill_group(child);
        }
        let name = self.lab.topology.name.clone();
        if std::thread::panicking() || std::env::var_os("GECKO_KEEP_LOGS").is_some() {
            // Keep the daemons' and servers' logs of a failed test.
            self.lab.keep_logs();
        }
        if let Err(e) = Lab::down(&name) {
            eprintln!("lab {name} down: {e}");
        }
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

/// SIGKILLs `child`'s process group (it leads one) and reaps it.
pub fn kill_group(mut child: Child) {
    // SAFETY: a signal to a process group this harness created.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    let _ = child.kill();
    let _ = child.wait();
}

/// Writes `size` random bytes to `path`; returns their SHA-256 in hex.
pub fn write_random(path: &Path, size: u64) -> String {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("the served file"));
    let mut hash = Sha256::new();
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        rand::thread_rng().fill_bytes(&mut chunk[..n]);
        hash.update(&chunk[..n]);
        file.write_all(&chunk[..n])
            .expect("writing the served file");
        left -= n as u64;
    }
    file.flush().expect("writing the served file");
    hex::encode(hash.finalize())
}

/// Whether the file at `part` is a prefix of the file at `whole` (a
/// missing `part` is an empty one).
pub fn is_prefix(part: &Path, whole: &Path) -> bool {
    let Ok(mut a) = std::fs::File::open(part) else {
        return true;
    };
    let Ok(mut b) = std::fs::File::open(whole) else {
        return false;
    };
    let (mut x, mut y) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = match a.read(&mut x) {
            Ok(0) => return true,
            Ok(n) => n,
            Err(_) => return false,
        };
        if b.read_exact(&mut y[..n]).is_err() || x[..n] != y[..n] {
            return false;
        }
    }
}

/// SHA-256 of a file in hex (None if it cannot be read, e.g. never made).
pub fn sha_of(path: &Path) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            return Some(hex::encode(hash.finalize()));
        }
        hash.update(&buf[..n]);
    }
}

/// A daemon of the `gecko` package, built beside the example.
pub fn daemon(name: &str) -> PathBuf {
    let dir = Path::new(STREAM_SERVER)
        .parent()
        .expect("the stream-server binary has a directory");
    let exe = dir.join(name);
    assert!(
        exe.is_file(),
        "{} is missing: run `cargo build --workspace` first (the lab daemons are binaries of the gecko-agents package)",
        exe.display()
    );
    exe
}

/// Fails clearly when a client program the test drives is not installed.
pub fn require(program: &str) {
    assert!(
        installed(program),
        "`{program}` is not installed: this test drives it as an unmodified client (apt-get install {program})"
    );
}

/// Whether `program` is on the PATH.
pub fn installed(program: &str) -> bool {
    Command::new("which")
        .arg(program)
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `GET /metrics` from inside `host`'s namespace (None while nothing answers).
pub fn metrics_of(lab: &Lab, host: &str) -> Option<String> {
    let addr = lab.topology.host(host).ok()?.metrics;
    let ns = lab.netns(host).ok()?;
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
