//! `gecko-cn`: the client agent (RFC 6275 correspondent node) of one client
//! host (DESIGN.md "Roles"). The client application is unmodified: this
//! daemon points the host's routes for G at the node serving it.

use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(
    version,
    about = "Gecko client agent: RFC 6275 correspondent node with flow bindings"
)]
struct Args {
    /// The cluster configuration file.
    #[arg(long, env = "GECKO_CONFIG")]
    config: PathBuf,
    /// MTU of the host's links; routes to G leave room for the
    /// encapsulation.
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u32).range(1280..))]
    link_mtu: u32,
    /// The data plane, instead of the configuration's `dataplane`: auto,
    /// seg6 or vxlan.
    #[arg(long, env = "GECKO_DATAPLANE")]
    dataplane: Option<gecko::dataplane::DataplaneChoice>,
    /// This host's address (one of `[[client_agents]]`, or any address of
    /// the host when it has no entry: metrics are then not served).
    #[arg(long, env = "GECKO_LOCAL_ADDRESS")]
    address: Ipv6Addr,
}

fn main() -> ExitCode {
    gecko_agents::init_tracing();
    let args = Args::parse();
    gecko_agents::run(gecko_agents::client_agent::run(
        args.config,
        args.address,
        args.link_mtu,
        args.dataplane,
    ))
}
