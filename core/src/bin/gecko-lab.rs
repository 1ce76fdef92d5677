//! `gecko-lab`: builds, inspects and removes labs of network namespaces, and
//! runs the demo. See DESIGN.md, "The lab".

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use gecko::lab::{probe, Lab, Role};

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
            "  {:<8} {:<20} {:<22} {:<6} {}",
            h.name,
            role,
            h.address,
            h.interface,
            h.metrics_url()
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
            let name = "demo";
            println!("[1/3] building lab `{name}`: a router with G's home link, 3 server nodes, 1 client");
            let lab = Lab::up(name, 3, 1, &mut |step| println!("      {step}")).await?;
            // Only a lab this demo built is removed at its end.
            (lab, DownOnDrop(Some(name.into())))
        }
    };
    // Ctrl-C ends the demo through the same path, so the guard still runs.
    tokio::select! {
        result = demo_steps(&lab) => result,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
    }
}

async fn demo_steps(lab: &Lab) -> Result<()> {
    let started = Instant::now();
    println!("[2/3] the lab");
    print_topology(lab);
    let client = lab
        .topology
        .hosts_of(Role::Client)
        .next()
        .context("the lab has no client host")?
        .clone();
    println!(
        "[3/3] {} reaches each server node through the router",
        client.name
    );
    for node in lab.topology.hosts_of(Role::Node).cloned() {
        let (client_ns, node_ns) = (client.netns.clone(), node.netns.clone());
        let server = SocketAddr::from((node.address, ECHO_PORT));
        let rtt = tokio::task::spawn_blocking(move || {
            probe::echo(&client_ns, &node_ns, server, Duration::from_secs(3))
        })
        .await?
        .with_context(|| format!("{} -> {}", client.name, node.name))?;
        println!(
            "      {} -> {:<6} [{}]:{}  echo ok, round trip {:.3} ms",
            client.name,
            node.name,
            node.address,
            ECHO_PORT,
            rtt.as_secs_f64() * 1e3
        );
    }
    println!("demo done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

const ECHO_PORT: u16 = 7;
