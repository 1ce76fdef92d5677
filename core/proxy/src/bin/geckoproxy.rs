//! `geckoproxy -g <config_file> -a <local_application_port>`: one node of
//! a distributed server made of an unmodified application (seed section
//! 5). Run one on each node, in front of that node's copy of the
//! application listening on `[::1]:<port>`:
//!
//! ```text
//! gecko-lab exec --name L node1 -- python3 -m http.server 8000 --bind ::1 &
//! gecko-lab exec --name L node1 -- geckoproxy -g /run/gecko-lab/L/gecko.toml -a 8000 --policy round-robin
//! ```
//!
//! Clients reach G on `--port` (default: the application's port).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use gecko_agents::node_args::NodeArgs;
use geckoproxy::{app_connector::AppConnector, limits, metrics::ProxyMetrics};

#[derive(Parser)]
#[command(
    name = "geckoproxy",
    about = "Gecko proxy: makes one node of a distributed server out of a local, unmodified application"
)]
struct Args {
    #[command(flatten)]
    node: NodeArgs,
    /// The local application's TCP port.
    #[arg(short = 'a', long = "app-port", value_name = "PORT")]
    app_port: u16,
    /// The port clients reach at G (default: the application's port).
    #[arg(long)]
    port: Option<u16>,
    /// The local application's address.
    #[arg(long, default_value_t = IpAddr::V6(Ipv6Addr::LOCALHOST))]
    app_address: IpAddr,
    /// How long to wait for the application's handshake, in milliseconds
    /// (then the client's connection is reset).
    #[arg(long, default_value_t = geckoproxy::APP_CONNECT_TIMEOUT.as_millis() as u64)]
    app_timeout_ms: u64,
}

fn main() -> ExitCode {
    gecko_agents::init_tracing();
    let args = Args::parse();
    gecko_agents::exit_code("geckoproxy", run(args))
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    args.node.policy()?;
    match limits::raise_open_files() {
        Ok(n) => tracing::info!(
            open_files = n,
            connections = n / limits::FDS_PER_CONNECTION,
            "open-file limit (a relayed connection holds two descriptors, four to six while bytes move)"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
    let app = SocketAddr::new(args.app_address, args.app_port);
    let port = args.port.unwrap_or(args.app_port);
    let framework = args.node.start()?;
    let metrics = ProxyMetrics::register(framework.metrics())?;
    let server = framework.get_server_socket(Some(port))?;
    let connector = AppConnector::new(app, Duration::from_millis(args.app_timeout_ms));
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("geckoproxy-relay")
        .enable_all()
        .build()?;
    tracing::info!(
        global = %framework.global_address(),
        port,
        %app,
        policy = %args.node.policy,
        "geckoproxy ready"
    );
    let outcome = rt.block_on(async {
        tokio::select! {
            r = geckoproxy::serve(server, connector, metrics) => r.map_err(Into::into),
            r = gecko_agents::shutdown_signal() => r.map_err(Into::into),
        }
    });
    // Relays still running end with the runtime (their sockets close).
    rt.shutdown_timeout(Duration::from_secs(1));
    drop(framework);
    outcome
}
