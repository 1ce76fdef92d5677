//! `gecko-ha`: the home agent of G (DESIGN.md "Roles"). Accepts the contact
//! node's authenticated home registrations and routes G's traffic to it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(version, about = "Gecko home agent: RFC 6275 home registration for G")]
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
}

fn main() -> ExitCode {
    gecko_agents::init_tracing();
    let args = Args::parse();
    gecko_agents::run(gecko_agents::home_agent::run(
        args.config,
        args.link_mtu,
        args.dataplane,
    ))
}
