//! `gecko-lab`: builds, inspects and removes labs of network namespaces, and
//! runs the demo. See DESIGN.md, "The lab".

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use gecko::config::Config;
use gecko::dataplane::FlowKey;
use gecko::lab::node_host::NodeHost;
use gecko::lab::service::{connect_in, echo_round};
use gecko::lab::{Lab, Role};
use gecko::lowlevel::Scope;

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
    /// Build a lab: router `ha` on G's home link, NODES server nodes and CLIENTS client hosts.
    Up {
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        #[arg(long, default_value_t = 1)]
        clients: usize,
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
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
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
    } = command
    {
        gecko::daemon::init_tracing();
        return Ok(match which.as_str() {
            "gecko-ha" => gecko::daemon::run(gecko::daemon::home_agent::run(config, 1500)),
            "gecko-cn" => {
                gecko::daemon::run(gecko::daemon::client_agent::run(config, address, 1500))
            }
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
            } => {
                let lab = Lab::up(&name, nodes, clients, &mut |step| println!("  {step}")).await?;
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
            Command::Exec { .. } | Command::CheckConfig { .. } | Command::Daemon { .. } => {
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
    let dir = me.parent().map(|d| d.to_path_buf()).unwrap_or_default();
    let program = |daemon: &str| {
        let beside = dir.join(daemon);
        if beside.is_file() {
            (beside, vec![])
        } else {
            (me.clone(), vec!["daemon".to_string(), daemon.to_string()])
        }
    };
    if let Err(e) = lab.start_daemons(&program) {
        let _ = Lab::down(&lab.topology.name);
        return Err(e.into());
    }
    for h in &lab.topology.hosts {
        match h.role {
            Role::Ha => println!("  gecko-ha on {:<8} metrics {}", h.name, h.metrics_url()),
            Role::Client => println!("  gecko-cn on {:<8} metrics {}", h.name, h.metrics_url()),
            Role::Node => {}
        }
    }
    Ok(())
}

fn print_topology(lab: &Lab) {
    let t = &lab.topology;
    println!(
        "lab `{}`: G = {}, config {}",
        t.name,
        t.global_address,
        lab.config_path().display()
    );
    for h in &t.hosts {
        let role = match h.role {
            Role::Ha => "router + home agent",
            Role::Node => "server node",
            Role::Client => "client host",
        };
        println!(
            "  {:<8} {:<20} {:<22} {:<6} {}  {}",
            h.name,
            role,
            h.address,
            h.interface,
            h.metrics_url(),
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
            println!("[1/7] building lab `{name}`: a router with G's home link, 3 server nodes, 1 client");
            let lab = Lab::up(&name, 3, 1, &mut |step| println!("      {step}")).await?;
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

/// Opens a connection from the client to G (from `port`), echoes 64 KiB
/// checked by SHA-256 both ways, and says which node accepted it.
fn connection(
    lab: &Lab,
    config: &Config,
    nodes: &[NodeHost],
    port: u16,
) -> Result<(std::net::TcpStream, String)> {
    let before: Vec<usize> = nodes.iter().map(|n| n.accepted().get()).collect();
    let g = SocketAddr::from((config.global_address, config.service_port));
    let mut conn = connect_in(
        &lab.netns("client1")?,
        g,
        Some(port),
        Duration::from_secs(3),
    )
    .with_context(|| format!("client1 connecting to {g} from port {port}"))?;
    let payload: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i * 7 + u32::from(port)) as u8)
        .collect();
    let digest = echo_round(&mut conn, &payload)?;
    let who = nodes
        .iter()
        .zip(before)
        .find(|(n, b)| n.accepted().get() > *b)
        .map(|(n, _)| n.name().to_string())
        .unwrap_or_else(|| "?".into());
    println!(
        "      port {port}: served by {who}, 64 KiB echoed, sha256 {} both ways",
        &hex::encode(digest)[..16]
    );
    Ok((conn, who))
}

fn demo_steps(lab: &Lab) -> Result<()> {
    let started = Instant::now();
    println!("[2/7] the lab and its daemons");
    print_topology(lab);
    let config = Config::load(lab.config_path())?;
    let client = lab.topology.host("client1")?.address;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;

    println!("[3/7] node1 registers at the home agent as G's contact node; node2 and node3 hold G passively");
    let t0 = Instant::now();
    let nodes = vec![
        NodeHost::start(lab, &config, "node1", true)?,
        NodeHost::start(lab, &config, "node2", false)?,
        NodeHost::start(lab, &config, "node3", false)?,
    ];
    println!("      done in {:.1} ms", ms(t0.elapsed()));

    println!("[4/7] client1 (an unmodified TCP client) connects to G twice: the home agent sends both to node1");
    let (a, _) = connection(lab, &config, &nodes, 40001)?;
    let (mut b, _) = connection(lab, &config, &nodes, 40002)?;

    println!("[5/7] node2 binds one connection of client1 to itself (RFC 6089 flow binding), the other stays");
    let flow = FlowKey {
        client,
        client_port: 40003,
        server: config.global_address,
        server_port: config.service_port,
    };
    let took = nodes[1].handoff(
        client,
        Scope::Flow(flow),
        nodes[0].node().handoff_mark(client),
    )?;
    println!(
        "      return routability + binding update: {:.2} ms",
        ms(took)
    );
    let (c, who) = connection(lab, &config, &nodes, 40003)?;
    anyhow::ensure!(who == "node2", "the bound connection went to {who}");
    let payload = vec![0x5a; 32 * 1024];
    echo_round(&mut b, &payload)?;
    println!("      port 40002: still served by node1, 32 KiB more echoed intact");
    drop((a.shutdown(std::net::Shutdown::Both), b, c));

    println!("[6/7] node3 takes client1 whole (RFC 6275 binding): new connections go to node3");
    let took = nodes[2].handoff(client, Scope::Client, nodes[1].node().handoff_mark(client))?;
    println!(
        "      return routability + binding update: {:.2} ms",
        ms(took)
    );
    let (_, who) = connection(lab, &config, &nodes, 40004)?;
    anyhow::ensure!(who == "node3", "the new connection went to {who}");
    let took = nodes[2].handoff(client, Scope::Client, None)?;
    println!(
        "      again with fresh tokens (binding update only): {:.2} ms",
        ms(took)
    );

    println!(
        "[7/7] node3 clears the binding: client1's connections take the home route to node1 again"
    );
    let took = nodes[2].clear(client, Scope::Client)?;
    println!("      deregistration: {:.2} ms", ms(took));
    let (_, who) = connection(lab, &config, &nodes, 40005)?;
    anyhow::ensure!(
        who == "node1",
        "after the clear the connection went to {who}"
    );
    drop(nodes);
    println!("demo done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
