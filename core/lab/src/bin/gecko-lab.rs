//! `gecko-lab`: builds, inspects and removes labs of network namespaces, and
//! runs the demo. See DESIGN.md, "The lab".

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::io::{Read, Write};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use gecko::config::Config;
use gecko::policy::RoundRobinPolicy;
use gecko_lab::framework_host::{
    echo_handler, stream_bytes, stream_handler, EchoHandoffs, FrameworkHost,
};
use gecko_lab::service::{connect_in, echo_round};
use gecko_lab::{Lab, Role};
use sha2::{Digest, Sha256};

#[derive(Parser)]
#[command(
    version,
    about = "Labs of network namespaces for Gecko distributed servers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a lab: router `ha` on G's home link, NODES server nodes, CLIENTS
    /// client hosts (each running gecko-cn) and PLAIN_CLIENTS plain client
    /// hosts (running nothing of Gecko).
    Up {
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        #[arg(long, default_value_t = 1)]
        clients: usize,
        /// Client hosts without an agent (`plain1`..): unmodified stacks,
        /// on 2001:db8:3:N::/64.
        #[arg(long, default_value_t = 0)]
        plain_clients: usize,
        /// The data plane written to the lab's configuration: auto, seg6 or vxlan.
        #[arg(long, env = "GECKO_DATAPLANE", default_value = "auto")]
        dataplane: gecko::dataplane::DataplaneChoice,
    },
    /// Check what this kernel offers Gecko: each feature, its kernel option,
    /// the usable data planes and the one `auto` chooses. Exits non-zero
    /// when no data plane is usable.
    Doctor {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a lab: its processes, namespaces, links and state (also after a crash).
    Down {
        #[arg(long)]
        name: String,
    },
    /// Show a lab's hosts, addresses and metrics endpoints.
    Status {
        #[arg(long)]
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a command inside a host, with GECKO_CONFIG, GECKO_LOCAL_ADDRESS and GECKO_INTERFACE set.
    Exec {
        #[arg(long)]
        name: String,
        host: String,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Take a host's link down.
    Cut {
        #[arg(long)]
        name: String,
        host: String,
    },
    /// Bring a host's link back up.
    Heal {
        #[arg(long)]
        name: String,
        host: String,
    },
    /// Check a cluster configuration file: prints a summary, or the line and
    /// field that are wrong (and exits non-zero).
    CheckConfig {
        /// The file (default: GECKO_CONFIG).
        #[arg(env = "GECKO_CONFIG")]
        file: std::path::PathBuf,
    },
    /// Show what Gecko does, step by step. Without --name: in a lab of its
    /// own, removed at the end; with --name: inside that lab, left up.
    Demo {
        #[arg(long)]
        name: Option<String>,
    },
    /// Run a lab daemon (`gecko-ha` or `gecko-cn`) from this executable,
    /// for when those binaries were not built beside it.
    #[command(hide = true)]
    Daemon {
        which: String,
        #[arg(long, env = "GECKO_CONFIG")]
        config: std::path::PathBuf,
        #[arg(long, env = "GECKO_LOCAL_ADDRESS")]
        address: std::net::Ipv6Addr,
        #[arg(long, env = "GECKO_DATAPLANE")]
        dataplane: Option<gecko::dataplane::DataplaneChoice>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // The demo narrates failures itself: the nodes' own
                // warnings about them would only repeat it.
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new(
                        "warn,gecko::cluster=error,gecko::node::recovery=error",
                    )
                }),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gecko-lab: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<ExitCode> {
    if let Command::Doctor { json } = &command {
        let report = gecko::dataplane::KernelReport::probe();
        let usable = report
            .choose(gecko::dataplane::DataplaneChoice::Auto)
            .is_ok();
        if *json {
            let mut value = serde_json::to_value(&report)?;
            value["usable"] = serde_json::to_value(report.usable())?;
            value["auto"] =
                serde_json::to_value(report.choose(gecko::dataplane::DataplaneChoice::Auto).ok())?;
            value["missing"] = report
                .findings
                .iter()
                .filter(|f| !f.present)
                .map(|f| (format!("{:?}", f.feature), f.feature.option().into()))
                .collect::<serde_json::Map<_, _>>()
                .into();
            println!("{}", serde_json::to_string_pretty(&value)?);
        } else {
            print!("{}", report.table());
        }
        return Ok(if usable {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    if let Command::CheckConfig { file } = &command {
        let config = gecko::config::Config::load(file)?;
        println!(
            "{}: ok: G = {}, {} nodes, contact {} (backups: {})",
            file.display(),
            config.global_address,
            config.nodes.len(),
            config.contact.node,
            config.contact.backups.join(", ")
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Daemon {
        which,
        config,
        address,
        dataplane,
    } = command
    {
        gecko_agents::init_tracing();
        return Ok(match which.as_str() {
            "gecko-ha" => gecko_agents::run(gecko_agents::home_agent::run(config, 1500, dataplane)),
            "gecko-cn" => gecko_agents::run(gecko_agents::client_agent::run(
                config, address, 1500, dataplane,
            )),
            other => anyhow::bail!("no daemon `{other}`: gecko-ha or gecko-cn"),
        });
    }
    // exec replaces this process: it must not start a runtime first.
    if let Command::Exec {
        name,
        host,
        command,
    } = command
    {
        let lab = Lab::open(&name)?;
        let err = lab.command(&host, &command[0])?.args(&command[1..]).exec();
        anyhow::bail!("cannot run {}: {err}", command[0]);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async {
        match command {
            Command::Up {
                name,
                nodes,
                clients,
                plain_clients,
                dataplane,
            } => {
                let lab = Lab::up_plain_with(
                    &name,
                    nodes,
                    clients,
                    plain_clients,
                    dataplane,
                    &mut |step| println!("  {step}"),
                )
                .await?;
                start_daemons(&lab)?;
                println!(
                    "lab `{name}` is up; config: {}",
                    lab.config_path().display()
                );
            }
            Command::Down { name } => {
                let (spaces, processes) = Lab::down(&name)?;
                println!(
                    "lab `{name}` is down ({spaces} namespaces, {processes} processes removed)"
                );
            }
            Command::Status { name, json } => {
                let lab = Lab::open(&name)?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&lab.status_json())?);
                } else {
                    print_topology(&lab);
                }
            }
            Command::Cut { name, host } => Lab::open(&name)?.set_link(&host, false).await?,
            Command::Heal { name, host } => Lab::open(&name)?.set_link(&host, true).await?,
            Command::Demo { name } => demo(name).await?,
            Command::Exec { .. }
            | Command::CheckConfig { .. }
            | Command::Daemon { .. }
            | Command::Doctor { .. } => {
                unreachable!("handled above")
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Starts the lab's daemons: the binaries beside this one if built, else
/// this executable's hidden `daemon` command. A lab whose daemons fail is
/// taken down again.
fn start_daemons(lab: &Lab) -> Result<()> {
    let me = std::env::current_exe().context("locating gecko-lab")?;
    let program = |daemon: &str| gecko_lab::agent_program(&me, daemon);
    if let Err(e) = lab.start_daemons(&program) {
        let _ = Lab::down(&lab.topology.name);
        return Err(e.into());
    }
    for h in &lab.topology.hosts {
        match h.role {
            Role::Ha => println!("  gecko-ha on {:<8} metrics {}", h.name, h.metrics_url()),
            Role::Client => println!("  gecko-cn on {:<8} metrics {}", h.name, h.metrics_url()),
            Role::Plain => println!("  no agent on {:<8} (plain client)", h.name),
            Role::Node => {}
        }
    }
    Ok(())
}

fn print_topology(lab: &Lab) {
    let t = &lab.topology;
    println!(
        "lab `{}`: G = {}, data plane {} ({}), config {}",
        t.name,
        t.global_address,
        t.encap.map(|e| e.name()).unwrap_or("unknown"),
        t.dataplane,
        lab.config_path().display()
    );
    for h in &t.hosts {
        let role = match h.role {
            Role::Ha => "router + home agent",
            Role::Node => "server node",
            Role::Client => "client host",
            Role::Plain => "plain client",
        };
        // A plain client's metrics address is planned like any other, but
        // nothing serves it: say why instead of printing a dead URL.
        let metrics = match h.role {
            Role::Plain => "no agent runs here".to_string(),
            _ => h.metrics_url(),
        };
        println!(
            "  {:<8} {:<20} {:<22} {:<6} {}  {}",
            h.name,
            role,
            h.address,
            h.interface,
            metrics,
            lab.processes(&h.name).join(" ")
        );
    }
}

/// Removes the demo's own lab however the demo ends.
struct DownOnDrop(Option<String>);

impl Drop for DownOnDrop {
    fn drop(&mut self) {
        if let Some(name) = self.0.take() {
            match Lab::down(&name) {
                Ok(_) => println!("lab `{name}` removed"),
                Err(e) => eprintln!("gecko-lab: removing lab `{name}`: {e}"),
            }
        }
    }
}

async fn demo(name: Option<String>) -> Result<()> {
    let (lab, _guard) = match name {
        Some(name) => (Lab::open(&name)?, DownOnDrop(None)),
        None => {
            // A name of its own, so a demo never meets another one's lab.
            let name = format!("demo-{}", std::process::id());
            println!("[1/9] building lab `{name}`: a router with G's home link, 3 server nodes, 1 client with an agent, 1 without");
            let lab = Lab::up_plain(&name, 3, 1, 1, &mut |step| println!("      {step}")).await?;
            // Only a lab this demo built is removed at its end.
            let guard = DownOnDrop(Some(name.clone()));
            start_daemons(&lab)?;
            (lab, guard)
        }
    };
    // Ctrl-C ends the demo through the same path, so the guard still runs.
    let story = tokio::task::spawn_blocking(move || demo_steps(&lab));
    tokio::select! {
        result = story => result?,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
    }
}

/// The node-wide series the demo reads, per node, at one moment.
struct Snapshot {
    accepted: Vec<f64>,
    open: Vec<f64>,
    attempts: f64,
    moved: f64,
    seconds: f64,
}

impl Snapshot {
    fn of(nodes: &[FrameworkHost]) -> Snapshot {
        let sum = |series: &str| nodes.iter().map(|n| n.metric(series)).sum::<f64>();
        let moved = sum("gecko_handoffs_total{direction=\"out\"}");
        Snapshot {
            accepted: nodes
                .iter()
                .map(|n| n.metric("gecko_connections_accepted_total"))
                .collect(),
            open: nodes
                .iter()
                .map(|n| n.metric("gecko_connections_open"))
                .collect(),
            attempts: moved + sum("gecko_handoff_failures_total"),
            moved,
            seconds: sum("gecko_handoff_seconds_sum"),
        }
    }

    /// The node whose accept count rose since `before`.
    fn newly_serving<'a>(&self, before: &Snapshot, nodes: &'a [FrameworkHost]) -> Option<&'a str> {
        nodes
            .iter()
            .zip(self.accepted.iter().zip(&before.accepted))
            .find(|(_, (now, then))| now > then)
            .map(|(n, _)| n.name())
    }

    fn open_line(&self, nodes: &[FrameworkHost]) -> String {
        nodes
            .iter()
            .zip(&self.open)
            .map(|(n, o)| format!("{} {o}", n.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Waits (bounded) until `done` holds for a fresh snapshot; returns the last one.
fn settle(nodes: &[FrameworkHost], within: Duration, done: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let deadline = Instant::now() + within;
    loop {
        let now = Snapshot::of(nodes);
        if done(&now) || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// 64 KiB for an echo: no `H` unless `h` (then exactly one, in the middle).
fn payload(seed: u32, h: bool) -> Vec<u8> {
    let mut p: Vec<u8> = (0..64 * 1024u32)
        .map(|i| match (i.wrapping_mul(7).wrapping_add(seed)) as u8 {
            b'H' => b'h',
            b => b,
        })
        .collect();
    if h {
        p[32 * 1024] = b'H';
    }
    p
}

/// Opens a connection from `client` to G, echoes 64 KiB checked by
/// SHA-256 both ways, and says which node the contact node's policy
/// placed it on.
fn connection(
    lab: &Lab,
    g: SocketAddr,
    nodes: &[FrameworkHost],
    client: &str,
    label: &str,
) -> Result<(std::net::TcpStream, String)> {
    let before = Snapshot::of(nodes);
    let mut conn = connect_in(&lab.netns(client)?, g, None, Duration::from_secs(3))
        .with_context(|| format!("{client} connecting to {g}"))?;
    let digest = echo_round(&mut conn, &payload(1, false))?;
    let after = settle(nodes, Duration::from_secs(2), |s| {
        s.newly_serving(&before, nodes).is_some()
    });
    let who = after
        .newly_serving(&before, nodes)
        .unwrap_or("?")
        .to_string();
    println!(
        "      connection {label} (from port {}): placed on {who}, which serves it; 64 KiB echoed, sha256 {} both ways",
        conn.local_addr()?.port(),
        &hex::encode(digest)[..16]
    );
    let counts: Vec<String> = nodes
        .iter()
        .zip(before.accepted.iter().zip(&after.accepted))
        .map(|(n, (then, now))| format!("{} {then}->{now}", n.name()))
        .collect();
    println!(
        "      gecko_connections_accepted_total: {}",
        counts.join(", ")
    );
    Ok((conn, who))
}

/// Sends 64 KiB holding one `H` on `conn` (served by `serving`), checks the
/// echo, waits for the handoff the `H` triggers, and says where the
/// connection is served now and how long the handoff took.
fn h_round(
    conn: &mut std::net::TcpStream,
    nodes: &[FrameworkHost],
    serving: &str,
    label: &str,
    round: u32,
) -> Result<String> {
    let before = Snapshot::of(nodes);
    let digest = echo_round(conn, &payload(round, true))?;
    // The handoff runs after the echo of the read holding the `H`: wait
    // for its outcome (a policy that keeps the connection makes none).
    let after = settle(nodes, Duration::from_secs(1), |s| {
        s.attempts > before.attempts
            && (s.moved == before.moved || s.newly_serving(&before, nodes).is_some())
    });
    let echoed = format!("sha256 {} both ways", &hex::encode(digest)[..16]);
    if after.moved > before.moved {
        let who = after
            .newly_serving(&before, nodes)
            .unwrap_or("?")
            .to_string();
        let took = (after.seconds - before.seconds) / (after.moved - before.moved);
        println!(
            "      connection {label}, `H` #{round}: echoed, {echoed}; moved from {serving} to {who} (handoff {:.1} ms)",
            took * 1e3
        );
        Ok(who)
    } else {
        let why = if after.attempts > before.attempts {
            "the handoff failed"
        } else {
            "the policy kept it"
        };
        println!(
            "      connection {label}, `H` #{round}: echoed, {echoed}; still served by {serving} ({why})"
        );
        Ok(serving.to_string())
    }
}

fn demo_steps(lab: &Lab) -> Result<()> {
    let started = Instant::now();
    println!("[2/9] the lab and its daemons");
    print_topology(lab);
    let config = Config::load(lab.config_path())?;
    let g = SocketAddr::from((config.global_address, config.service_port));

    println!("[3/9] node1, node2 and node3 start the framework (GeckoFramework) with an echo server that hands its connection off after each `H` it reads");
    println!("      node1 registers at the home agent as G's contact node; node2 and node3 hold G passively");
    let t0 = Instant::now();
    let echo = echo_handler(EchoHandoffs {
        on_h: true,
        every_bytes: None,
    });
    let nodes = ["node1", "node2", "node3"]
        .iter()
        .map(|n| FrameworkHost::start(lab, n, None, echo.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    // Each node asks its own policy where its connections go next.
    for n in &nodes {
        n.framework()
            .set_policy(Arc::new(RoundRobinPolicy::default()));
    }
    // Policies only pick nodes whose load reports they have heard.
    std::thread::sleep(gecko::node::LOAD_EVERY * 3);
    println!(
        "      done in {:.0} ms (round-robin policy on each node)",
        t0.elapsed().as_secs_f64() * 1e3
    );

    println!("[4/9] client1 (an unmodified TCP client) connects to G: the home agent brings it to node1, whose policy places it at establishment");
    let (mut a, mut a_on) = connection(lab, g, &nodes, "client1", "A")?;

    println!("[5/9] client1 sends data holding an `H`, three times: after each echo the connection moves to the node the policy names");
    for round in 1..=3 {
        a_on = h_round(&mut a, &nodes, &a_on, "A", round)?;
    }
    println!(
        "      open connections: {}",
        Snapshot::of(&nodes).open_line(&nodes)
    );

    println!(
        "[6/9] client1 opens a second connection, B; A moves twice more while B stays where it is"
    );
    let (mut b, b_on) = connection(lab, g, &nodes, "client1", "B")?;
    for round in 4..=5 {
        a_on = h_round(&mut a, &nodes, &a_on, "A", round)?;
    }
    let before = Snapshot::of(&nodes);
    let digest = echo_round(&mut b, &payload(2, false))?;
    let after = Snapshot::of(&nodes);
    anyhow::ensure!(
        after.attempts == before.attempts && after.accepted == before.accepted,
        "connection B moved"
    );
    println!(
        "      connection B: still served by {b_on}, 64 KiB more echoed, sha256 {} both ways",
        &hex::encode(digest)[..16]
    );
    println!(
        "      A is on {a_on}; open connections: {}",
        after.open_line(&nodes)
    );

    let c = plain_step(lab, g, &nodes)?;
    println!("[8/9] the clients close their connections; the echo servers stop");
    drop((a, b, c));
    drop(nodes);

    crash_step(lab, g)?;
    println!(
        "demo done in {:.1} s (data plane {})",
        started.elapsed().as_secs_f64(),
        lab.topology.encap.map(|e| e.name()).unwrap_or("unknown")
    );
    Ok(())
}

/// A client without an agent: its connection is placed and moved like
/// client1's, its bindings registered at the home agent. Skipped in a lab
/// without a plain client host.
fn plain_step(
    lab: &Lab,
    g: SocketAddr,
    nodes: &[FrameworkHost],
) -> Result<Option<std::net::TcpStream>> {
    if lab.topology.host("plain1").is_err() {
        println!("[7/9] skipped: this lab has no client without an agent (gecko-lab up --plain-clients 1)");
        return Ok(None);
    }
    println!("[7/9] plain1 runs nothing of Gecko (no agent, as any client on the Internet): it connects to G, connection C; the nodes learn from the ICMPv6 parameter problem its kernel sends that it has no agent, and register C at the home agent wherever it goes");
    let (mut c, mut c_on) = connection(lab, g, nodes, "plain1", "C")?;
    for round in 1..=2 {
        c_on = h_round(&mut c, nodes, &c_on, "C", round)?;
    }
    let flows = lab.daemon_metric("ha", "gecko_bindings{kind=\"flow\"}");
    let accepted = lab.daemon_metric("ha", "gecko_flow_registrations_total{result=\"accepted\"}");
    println!(
        "      C is on {c_on}; the home agent steers {flows} flow(s) to nodes ({accepted} flow registrations accepted so far)"
    );
    Ok(Some(c))
}

/// The last step: a download survives the crash of the node serving it.
fn crash_step(lab: &Lab, g: SocketAddr) -> Result<()> {
    const SIZE: u64 = 300 << 20;
    const RATE: f64 = 60e6;
    println!("[9/9] each node serves a 300 MB download; client1 fetches it at about 60 MB/s, and a third of the way in the link of the node serving it is cut, as if that node had crashed");
    let names = ["node1", "node2", "node3"];
    let nodes = names
        .iter()
        .map(|n| FrameworkHost::start(lab, n, None, stream_handler(SIZE)))
        .collect::<Result<Vec<_>, _>>()?;
    for n in &nodes {
        n.framework()
            .set_policy(Arc::new(RoundRobinPolicy::default()));
    }
    std::thread::sleep(gecko::node::LOAD_EVERY * 3);
    let mut conn = connect_in(&lab.netns("client1")?, g, None, Duration::from_secs(3))
        .with_context(|| format!("client1 connecting to {g}"))?;
    conn.write_all(b"G")?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let serving = settle(&nodes, Duration::from_secs(2), |s| {
        s.open.iter().any(|o| *o >= 1.0)
    });
    let victim = serving
        .open
        .iter()
        .position(|o| *o >= 1.0)
        .context("no node serves the download")?;
    println!("      the download is served by {}", names[victim]);
    let (mut got, mut wrong, mut hash) = (0u64, 0u64, Sha256::new());
    let (mut buf, mut expected) = (vec![0u8; 256 * 1024], vec![0u8; 256 * 1024]);
    let t0 = Instant::now();
    let mut last = Instant::now();
    let (mut cut_at, mut pause) = (None::<Instant>, Duration::ZERO);
    while got < SIZE {
        let n = conn.read(&mut buf).context("reading the download")?;
        if n == 0 {
            break;
        }
        if cut_at.is_some() {
            pause = pause.max(last.elapsed());
        }
        last = Instant::now();
        stream_bytes(got, &mut expected[..n]);
        wrong += buf[..n]
            .iter()
            .zip(&expected[..n])
            .filter(|(a, b)| a != b)
            .count() as u64;
        hash.update(&buf[..n]);
        got += n as u64;
        if cut_at.is_none() && got >= SIZE / 3 {
            let handle = tokio::runtime::Handle::current();
            handle.block_on(lab.set_link(names[victim], false))?;
            cut_at = Some(Instant::now());
            println!("      {} MB in: {}'s link is cut", got >> 20, names[victim]);
        }
        let ahead = Duration::from_secs_f64(got as f64 / RATE).saturating_sub(t0.elapsed());
        std::thread::sleep(ahead);
    }
    let recovered: Vec<String> = nodes
        .iter()
        .filter(|n| n.metric("gecko_recoveries_total") > 0.0)
        .map(|n| n.name().to_string())
        .collect();
    // The cut node cannot tell: it still believes it is the contact.
    let contact: Vec<&str> = nodes
        .iter()
        .enumerate()
        .filter(|(i, n)| *i != victim && n.metric("gecko_contact") > 0.0)
        .map(|(_, n)| n.name())
        .collect();
    println!(
        "      {} of {} MB received, {} wrong bytes, sha256 {}; longest pause after the cut {:.0} ms",
        got >> 20,
        SIZE >> 20,
        wrong,
        &hex::encode(hash.finalize())[..16],
        pause.as_secs_f64() * 1e3
    );
    println!(
        "      recovered by {} (its backup); contact node among the others: {}",
        recovered.join(", "),
        if contact.is_empty() {
            "unchanged".to_string()
        } else {
            contact.join(", ")
        }
    );
    anyhow::ensure!(
        got == SIZE && wrong == 0,
        "the download did not survive the crash"
    );
    handle_heal(lab, names[victim])?;
    drop(conn);
    drop(nodes);
    Ok(())
}

/// Brings a cut link back (the lab is left as it was found).
fn handle_heal(lab: &Lab, host: &str) -> Result<()> {
    tokio::runtime::Handle::current().block_on(lab.set_link(host, true))?;
    Ok(())
}
