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
}

fn main() -> ExitCode {
    gecko::daemon::init_tracing();
    let args = Args::parse();
    gecko::daemon::run(gecko::daemon::home_agent::run(args.config))
}
