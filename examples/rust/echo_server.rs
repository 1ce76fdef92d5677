//! The seed's echo server (section 4.3) on Gecko: each new connection is
//! placed by the policy at establishment, and every `H` byte read hands
//! the connection off again, after its echo. The client sees one server
//! at G and a byte-exact echo throughout.
//!
//! ```text
//! gecko-lab exec --name L node1 -- echo-server
//! ```

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::Parser;
use gecko::socket::GeckoSocket;

use gecko_agents::node_args::NodeArgs;

#[derive(Parser)]
#[command(about = "Gecko echo server: hands each connection off at establishment and on each `H`")]
struct Args {
    #[command(flatten)]
    node: NodeArgs,
    /// The TCP port served at G.
    #[arg(long, default_value_t = 7)]
    port: u16,
}

fn main() -> ExitCode {
    gecko_agents::init_tracing();
    let args = Args::parse();
    gecko_agents::exit_code("echo-server", run(args))
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let framework = args.node.start()?;
    let server = framework.get_server_socket(Some(args.port))?;
    tracing::info!(port = args.port, "echo server ready");
    loop {
        let socket = server.accept()?;
        std::thread::spawn(move || serve(socket));
    }
}

/// Echoes until the client closes or the connection moves to another node.
fn serve(mut socket: GeckoSocket) {
    let peer = socket.peer_addr().ok();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match socket.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) => return tracing::debug!(?peer, error = %e, "connection ended"),
        };
        if let Err(e) = socket.write_all(&buf[..n]) {
            return tracing::debug!(?peer, error = %e, "connection ended");
        }
        if buf[..n].contains(&b'H') {
            match socket.handoff(false) {
                Ok(true) => return tracing::debug!(?peer, "handed off"),
                Ok(false) => {}
                Err(e) => tracing::info!(?peer, error = %e, "handoff failed; serving on"),
            }
        }
    }
}
