//! The lab: a small internet of network namespaces on one machine (DESIGN.md,
//! "The lab"). A router `ha` on G's home link, server nodes, client hosts
//! (running the client agent) and plain client hosts (running nothing of
//! Gecko, issue 19), each on its own segment behind the router. Every address
//! is from 2001:db8::/32 and nothing is added to the machine's own namespace.

pub mod framework_host;
pub mod node_host;
pub mod scenario;
pub mod service;
pub mod topology;

pub use gecko::dataplane::kernel_check::{backend_under_test, backends_under_test};
pub use gecko_netns::{links, netns, ns_runtime};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use gecko::dataplane::{DataplaneChoice, HostRole, KernelReport};
pub use topology::{Host, Role, Topology};

/// How to start agent `daemon` (`gecko-ha` or `gecko-cn`): its own binary
/// beside `lab_exe` (the `gecko-lab` executable) when the workspace built
/// it there, else `lab_exe daemon <daemon>`, which links the same code.
pub fn agent_program(lab_exe: &Path, daemon: &str) -> (PathBuf, Vec<String>) {
    let beside = lab_exe.with_file_name(daemon);
    if beside.is_file() {
        (beside, vec![])
    } else {
        (
            lab_exe.to_path_buf(),
            vec!["daemon".to_string(), daemon.to_string()],
        )
    }
}

/// Where labs keep their state (`lab.json`, `gecko.toml`).
pub const STATE_DIR: &str = "/run/gecko-lab";

/// Why a lab operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A system call or file operation failed.
    #[error("{context}: {error}")]
    Io {
        /// What was being done.
        context: String,
        /// What the OS said (in the message, so not also a `source`).
        error: std::io::Error,
    },
    /// The kernel refused a netlink request.
    #[error("{context}: {error}")]
    Netlink {
        /// What was being done.
        context: String,
        /// What netlink said.
        error: rtnetlink::Error,
    },
    /// The lab name is not usable.
    #[error("`{0}` is not a lab name: use 1 to 15 of a-z, 0-9, '-'")]
    BadName(String),
    /// The lab size is out of range.
    #[error(
        "a lab has 1 to 64 nodes, 0 to 64 clients and 0 to 64 plain clients \
         (asked: {nodes} nodes, {clients} clients, {plain} plain clients)"
    )]
    BadSize {
        /// Nodes asked for.
        nodes: usize,
        /// Clients (with the client agent) asked for.
        clients: usize,
        /// Plain clients (without an agent) asked for.
        plain: usize,
    },
    /// A lab of that name is (at least partly) up already.
    #[error("lab `{0}` exists already (remove it with: gecko-lab down --name {0})")]
    Exists(String),
    /// No lab of that name is up.
    #[error("no lab `{0}` is up (start one with: gecko-lab up --name {0})")]
    NotFound(String),
    /// The lab has no host of that name.
    #[error("lab `{lab}` has no host `{host}`")]
    NoSuchHost {
        /// The lab.
        lab: String,
        /// The host asked for.
        host: String,
    },
    /// Not root: namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN.
    #[error("the lab needs root (network namespaces): run as root")]
    NotRoot,
    /// The kernel cannot run the lab with the data plane asked for.
    #[error(transparent)]
    Kernel(#[from] gecko::dataplane::KernelCheckError),
    /// `GECKO_DATAPLANE` holds no data plane.
    #[error("{0}")]
    BadDataplane(String),
}

impl From<gecko_netns::NsError> for LabError {
    fn from(e: gecko_netns::NsError) -> Self {
        match e {
            gecko_netns::NsError::Io { context, error } => LabError::Io { context, error },
            gecko_netns::NsError::Netlink { context, error } => {
                LabError::Netlink { context, error }
            }
            // NsError is non_exhaustive: a kind added later reads as I/O.
            other => LabError::io(other.to_string(), std::io::Error::other("namespace")),
        }
    }
}

impl LabError {
    pub(crate) fn io(context: impl Into<String>, error: std::io::Error) -> Self {
        LabError::Io {
            context: context.into(),
            error,
        }
    }
}

/// A lab that is up.
#[derive(Debug, Clone)]
pub struct Lab {
    /// Its plan.
    pub topology: Topology,
    /// Its state directory.
    pub dir: PathBuf,
}

impl Lab {
    /// The state directory of lab `name`.
    pub fn dir_of(name: &str) -> PathBuf {
        Path::new(STATE_DIR).join(name)
    }

    /// Builds lab `name` with the data plane of `GECKO_DATAPLANE` (default
    /// auto); `progress` hears each step. On any failure what was built is
    /// removed again.
    pub async fn up(
        name: &str,
        nodes: usize,
        clients: usize,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Lab, LabError> {
        Lab::up_plain(name, nodes, clients, 0, progress).await
    }

    /// [`Lab::up`] with `plain` client hosts that run no agent too.
    pub async fn up_plain(
        name: &str,
        nodes: usize,
        clients: usize,
        plain: usize,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Lab, LabError> {
        let dataplane = DataplaneChoice::from_env()
            .map_err(LabError::BadDataplane)?
            .unwrap_or_default();
        Lab::up_plain_with(name, nodes, clients, plain, dataplane, progress).await
    }

    /// Builds lab `name` with data plane `dataplane` and no plain client
    /// (see [`Lab::up_plain_with`]).
    pub async fn up_with(
        name: &str,
        nodes: usize,
        clients: usize,
        dataplane: DataplaneChoice,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Lab, LabError> {
        Lab::up_plain_with(name, nodes, clients, 0, dataplane, progress).await
    }

    /// Builds lab `name` of `nodes` server nodes, `clients` client hosts and
    /// `plain` plain client hosts ([`Topology::plan_with_plain`]) with data
    /// plane `dataplane`, after the kernel check (a kernel that cannot run it
    /// is refused before anything is built). On any failure what was built
    /// is removed again.
    pub async fn up_plain_with(
        name: &str,
        nodes: usize,
        clients: usize,
        plain: usize,
        dataplane: DataplaneChoice,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Lab, LabError> {
        let mut topology = Topology::plan_with_plain(name, nodes, clients, plain)?;
        if !nix::unistd::geteuid().is_root() {
            return Err(LabError::NotRoot);
        }
        topology.dataplane = dataplane;
        topology.encap = KernelReport::get().check(HostRole::Lab, dataplane)?;
        progress(&format!(
            "data plane {} ({dataplane} on kernel {})",
            topology.encap.map(|e| e.name()).unwrap_or("none"),
            KernelReport::get().release
        ));
        if Lab::dir_of(name).exists() || !namespaces_of(name)?.is_empty() {
            return Err(LabError::Exists(name.into()));
        }
        let lab = Lab {
            dir: Lab::dir_of(name),
            topology,
        };
        // Saved first, so that `down` finds everything even if we crash below;
        // a failure here built nothing, so there is nothing to remove.
        lab.save()?;
        match lab.build(progress).await {
            Ok(()) => {
                tracing::info!(lab = name, nodes, clients, plain, "lab up");
                Ok(lab)
            }
            Err(e) => {
                tracing::warn!(lab = name, error = %e, "lab build failed: removing what was built");
                let _ = Lab::down(name);
                Err(e)
            }
        }
    }

    async fn build(&self, progress: &mut dyn FnMut(&str)) -> Result<(), LabError> {
        let t = &self.topology;
        // Each host's namespace and a netlink connection inside it.
        let mut spaces = Vec::with_capacity(t.hosts.len());
        for host in &t.hosts {
            netns::create(&host.netns)
                .map_err(|e| LabError::io(format!("creating namespace {}", host.netns), e))?;
            let ns = open_netns(&host.netns)?;
            let mut settings = vec![
                // Inherited by every link made later in this namespace,
                // veth peers created straight inside it included.
                // No seg6_enabled: a node enables its own reception
                // (`dataplane::reception`), as on a real host.
                ("conf/default/accept_dad", "0"),
                ("conf/default/keep_addr_on_down", "1"),
                ("conf/default/accept_ra", "0"),
                ("conf/all/accept_dad", "0"),
                ("conf/all/keep_addr_on_down", "1"),
            ];
            if host.role == Role::Ha {
                settings.push(("conf/all/forwarding", "1"));
            }
            links::sysctls(&ns, &settings)?;
            let h = links::connect(&ns).await?;
            links::set_up(&h, "lo", true).await?;
            tracing::debug!(host = %host.name, netns = %host.netns, "namespace ready");
            progress(&format!("host {:<8} namespace {}", host.name, host.netns));
            spaces.push((ns, h));
        }
        let router = t.router();
        let r = &spaces[0].1;
        links::add_bridge(r, &router.interface).await?;
        links::add_address(r, &router.interface, router.address, router.prefix_len).await?;
        links::set_up(r, &router.interface, true).await?;
        progress(&format!(
            "home link {} on ha: home agent {}, G = {}",
            router.interface, router.address, t.global_address
        ));
        for (host, (ns, h)) in t.hosts.iter().zip(&spaces).skip(1) {
            let (Some(gateway), Some(router_if)) = (host.gateway, &host.router_interface) else {
                continue;
            };
            links::add_veth(r, router_if, ns, &host.interface).await?;
            links::add_address(r, router_if, gateway, host.prefix_len).await?;
            links::set_up(r, router_if, true).await?;
            links::add_address(h, &host.interface, host.address, host.prefix_len).await?;
            links::set_up(h, &host.interface, true).await?;
            links::set_default_route(h, gateway).await?;
            progress(&format!(
                "link  {:<8} {}/{} <-> ha {}",
                host.name, host.address, host.prefix_len, gateway
            ));
        }
        std::fs::write(self.config_path(), t.config_toml())
            .map_err(|e| LabError::io("writing the lab's config", e))?;
        Ok(())
    }

    /// Claims the lab's name by creating its state directory (never an
    /// existing one: two `up`s of one name cannot both proceed) and saves
    /// the plan in it.
    fn save(&self) -> Result<(), LabError> {
        std::fs::create_dir_all(STATE_DIR)
            .map_err(|e| LabError::io(format!("creating {STATE_DIR}"), e))?;
        std::fs::create_dir(&self.dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => LabError::Exists(self.topology.name.clone()),
            _ => LabError::io(format!("creating {}", self.dir.display()), e),
        })?;
        let json = serde_json::to_string_pretty(&self.topology).expect("a topology serialises");
        std::fs::write(self.dir.join("lab.json"), json).map_err(|e| {
            let _ = std::fs::remove_dir_all(&self.dir);
            LabError::io("writing lab.json", e)
        })
    }

    /// Opens lab `name`, which must be up.
    pub fn open(name: &str) -> Result<Lab, LabError> {
        topology::check_name(name)?;
        let dir = Lab::dir_of(name);
        let json = std::fs::read_to_string(dir.join("lab.json"))
            .map_err(|_| LabError::NotFound(name.into()))?;
        let topology: Topology = serde_json::from_str(&json)
            .map_err(|e| LabError::io("reading lab.json", std::io::Error::other(e)))?;
        Ok(Lab { topology, dir })
    }

    /// The cluster configuration file of this lab.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("gecko.toml")
    }

    /// Removes lab `name`: ends every process inside its namespaces, then
    /// the namespaces (and so their links), then its state. Works on a half
    /// made lab and after a crash of the lab itself. Returns how many
    /// namespaces and processes it removed.
    pub fn down(name: &str) -> Result<(usize, usize), LabError> {
        topology::check_name(name)?;
        let spaces = namespaces_of(name)?;
        let mut killed = 0;
        for space in &spaces {
            if let Ok(ns) = netns::open(space) {
                killed += end_processes(&ns)?;
            }
        }
        for space in &spaces {
            netns::delete(space)
                .map_err(|e| LabError::io(format!("deleting namespace {space}"), e))?;
        }
        tracing::info!(
            lab = name,
            namespaces = spaces.len(),
            processes = killed,
            "lab down"
        );
        let dir = Lab::dir_of(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| LabError::io(format!("removing {}", dir.display()), e))?;
        }
        Ok((spaces.len(), killed))
    }

    /// Takes a host's link down (`up = false`, `gecko-lab cut`) or back up
    /// (`gecko-lab heal`), at the router's end, so the host keeps its own
    /// addresses and routes and simply stops hearing anything.
    pub async fn set_link(&self, host: &str, up: bool) -> Result<(), LabError> {
        let host = self.topology.host(host)?;
        let router = self.topology.router();
        let ns = open_netns(&router.netns)?;
        let r = links::connect(&ns).await?;
        let link = host
            .router_interface
            .as_deref()
            .unwrap_or(&router.interface);
        Ok(links::set_up(&r, link, up).await?)
    }

    /// A command that runs inside `host`, with GECKO_CONFIG,
    /// GECKO_LOCAL_ADDRESS and GECKO_INTERFACE set for that host.
    pub fn command(&self, host: &str, program: &str) -> Result<std::process::Command, LabError> {
        use std::os::unix::process::CommandExt;
        let host = self.topology.host(host)?;
        let ns = open_netns(&host.netns)?;
        let mut cmd = std::process::Command::new(program);
        cmd.env("GECKO_CONFIG", self.config_path())
            .env("GECKO_LOCAL_ADDRESS", host.address.to_string())
            .env("GECKO_INTERFACE", &host.interface)
            .env("GECKO_LAB", &self.topology.name)
            .env("GECKO_HOST", &host.name);
        // SAFETY: setns is async-signal-safe; nothing else runs before exec.
        unsafe {
            cmd.pre_exec(move || netns::enter(&ns));
        }
        Ok(cmd)
    }

    /// Starts the lab's daemons: `gecko-ha` on the router, `gecko-cn` on
    /// each client, nothing on nodes and plain clients; `program` gives the
    /// executable and arguments for a daemon's name. Each logs to
    /// `<host>.log` in the lab's directory; returns once each serves its
    /// metrics (ready), or fails naming the one that did not, with its
    /// log's tail.
    pub fn start_daemons(
        &self,
        program: &dyn Fn(&str) -> (PathBuf, Vec<String>),
    ) -> Result<(), LabError> {
        let mut started = Vec::new();
        for host in &self.topology.hosts {
            let Some(daemon) = daemon_of(host.role) else {
                continue;
            };
            let log_path = self.dir.join(format!("{}.log", host.name));
            let log = std::fs::File::create(&log_path)
                .map_err(|e| LabError::io(format!("creating {}", log_path.display()), e))?;
            let err = log
                .try_clone()
                .map_err(|e| LabError::io("opening a log", e))?;
            let (exe, args) = program(daemon);
            let mut cmd = self.command(&host.name, &exe.to_string_lossy())?;
            cmd.args(args);
            use std::os::unix::process::CommandExt;
            cmd.stdin(std::process::Stdio::null())
                .stdout(log)
                .stderr(err)
                .process_group(0);
            let child = cmd
                .spawn()
                .map_err(|e| LabError::io(format!("starting {daemon} on {}", host.name), e))?;
            tracing::info!(host = %host.name, daemon, pid = child.id(), "daemon started");
            started.push((host, daemon, child, log_path));
        }
        for (host, program, mut child, log_path) in started {
            let ns = open_netns(&host.netns)?;
            let addr = host.metrics;
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let up = netns::run_in(&ns, || {
                    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                })
                .map_err(|e| LabError::io("probing a daemon", e))?;
                if up {
                    break;
                }
                let exited = child.try_wait().ok().flatten();
                if exited.is_some() || Instant::now() > deadline {
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(5).collect();
                    let why = match exited {
                        Some(status) => format!("exited ({status})"),
                        None => "did not serve its metrics within 10 s".into(),
                    };
                    return Err(LabError::io(
                        format!(
                            "{program} on {} {why}; log {}: {}",
                            host.name,
                            log_path.display(),
                            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                        ),
                        std::io::ErrorKind::Other.into(),
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// A series from the metrics endpoint of the daemon on `host` (0 if
    /// absent or unreachable).
    pub fn daemon_metric(&self, host: &str, series: &str) -> f64 {
        let (Ok(h), Ok(ns)) = (self.topology.host(host), self.netns(host)) else {
            return 0.0;
        };
        let text = netns::run_in(&ns, || http_get(h.metrics)).unwrap_or_default();
        framework_host::metric_in(&text, series)
    }

    /// Copies the lab's logs and state to `<temp dir>/<lab>-logs`, where
    /// they outlive the lab (a failed test's evidence), and says where.
    pub fn keep_logs(&self) {
        let keep = std::env::temp_dir().join(format!("{}-logs", self.topology.name));
        let _ = std::fs::create_dir_all(&keep);
        for e in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let _ = std::fs::copy(e.path(), keep.join(e.file_name()));
        }
        eprintln!("logs kept in {}", keep.display());
    }

    /// Opens the namespace of `host`.
    pub fn netns(&self, host: &str) -> Result<std::fs::File, LabError> {
        open_netns(&self.topology.host(host)?.netns)
    }

    /// The programs running inside `host` (by name), e.g. its daemon.
    pub fn processes(&self, host: &str) -> Vec<String> {
        let Ok(ns) = self.netns(host) else {
            return vec![];
        };
        let mut names: Vec<String> = netns::pids_in(&ns)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).ok())
            .map(|comm| comm.trim().to_string())
            .collect();
        names.sort();
        names
    }

    /// `gecko-lab status --json`.
    pub fn status_json(&self) -> serde_json::Value {
        let hosts: serde_json::Map<String, serde_json::Value> = self
            .topology
            .hosts
            .iter()
            .map(|h| {
                let up = netns::path(&h.netns).exists();
                (
                    h.name.clone(),
                    serde_json::json!({
                        "role": h.role,
                        "netns": h.netns,
                        "address": h.address.to_string(),
                        "interface": h.interface,
                        "metrics": h.metrics_url(),
                        // null on nodes and plain clients: nothing of the
                        // lab serves `metrics` there.
                        "daemon": daemon_of(h.role),
                        "up": up,
                        "processes": self.processes(&h.name),
                    }),
                )
            })
            .collect();
        serde_json::json!({
            "name": self.topology.name,
            "global_address": self.topology.global_address.to_string(),
            "dataplane": self.topology.dataplane,
            "encap": self.topology.encap,
            "config": self.config_path(),
            "hosts": hosts,
        })
    }
}

/// The body of GET /metrics from `addr` ("" if it cannot be had).
fn http_get(addr: std::net::SocketAddr) -> String {
    use std::io::{Read, Write};
    let timeout = Duration::from_secs(5);
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, timeout) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(timeout));
    let _ = write!(s, "GET /metrics HTTP/1.0\r\nHost: gecko\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

/// The daemon a host of `role` runs (nodes run the server application;
/// plain clients run nothing of Gecko, which is what they are for).
fn daemon_of(role: Role) -> Option<&'static str> {
    match role {
        Role::Ha => Some("gecko-ha"),
        Role::Client => Some("gecko-cn"),
        Role::Node | Role::Plain => None,
    }
}

/// Opens a lab host's namespace (the error names it).
fn open_netns(name: &str) -> Result<std::fs::File, LabError> {
    netns::open(name).map_err(|e| LabError::io("opening a namespace", e))
}

/// The namespaces that belong to lab `name`: by its saved plan, and by the
/// naming pattern in case the plan is gone.
fn namespaces_of(name: &str) -> Result<Vec<String>, LabError> {
    let prefix = format!("gecko-{name}-");
    let existing = netns::list().map_err(|e| LabError::io("listing namespaces", e))?;
    Ok(existing
        .into_iter()
        .filter(|ns| ns.strip_prefix(&prefix).is_some_and(topology::is_host_name))
        .collect())
}

/// Ends every process in a namespace: SIGTERM, then SIGKILL for those that
/// linger. Returns how many there were.
fn end_processes(ns: &std::fs::File) -> Result<usize, LabError> {
    let me = std::process::id() as i32;
    let pids = |ns| -> Result<Vec<i32>, LabError> {
        Ok(netns::pids_in(ns)
            .map_err(|e| LabError::io("listing processes", e))?
            .into_iter()
            .filter(|p| *p != me)
            .collect())
    };
    let first = pids(ns)?;
    for pid in &first {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let left = pids(ns)?;
        if left.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            tracing::warn!(?left, "processes ignored SIGTERM: sending SIGKILL");
            for pid in &left {
                let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
            }
        }
        if Instant::now() > deadline + Duration::from_secs(3) {
            return Err(LabError::io(
                format!("processes {left:?} would not end"),
                std::io::ErrorKind::TimedOut.into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(first.len())
}
