//! A file-download server on Gecko: `GET /` answers with one file over
//! HTTP/1.1. The response is one byte sequence R (head, then the file);
//! a connection that arrives mid-stream (handed in, or recovered after its
//! node crashed) resumes R where the connection's position says the
//! previous node stopped, so the client downloads one intact file while
//! its connection moves between nodes.
//!
//! ```text
//! gecko-lab exec --name L node1 -- stream-server --file /srv/big.bin
//! curl -o out http://[G]:8080/
//! ```

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use gecko::socket::GeckoSocket;

use gecko_agents::node_args::NodeArgs;

/// The longest request head read.
const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request head.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the client may take to close once it has the whole response.
const LINGER_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes read from the file per write (under glibc's mmap threshold, so
/// a connection's buffer is not a memory map of its own).
const CHUNK: usize = 64 * 1024;
/// Stack of a connection's thread.
const THREAD_STACK: usize = 256 * 1024;

#[derive(Parser)]
#[command(about = "Gecko stream server: serves one file at `GET /`, resuming moved connections")]
struct Args {
    #[command(flatten)]
    node: NodeArgs,
    /// The TCP port served at G.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The file served at `GET /`.
    #[arg(long)]
    file: PathBuf,
    /// Hand the connection off (by the policy) each time the response
    /// reaches a multiple of this many bytes.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    handoff_every: Option<u64>,
}

fn main() -> ExitCode {
    gecko_agents::init_tracing();
    let args = Args::parse();
    gecko_agents::exit_code("stream-server", run(args))
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    args.node.policy()?;
    // Checked before the node joins the group: a node that cannot serve
    // the file must not take connections.
    let response = Arc::new(Response::open(&args.file)?);
    let framework = args.node.start()?;
    let server = framework.get_server_socket(Some(args.port))?;
    tracing::info!(
        port = args.port,
        file = %args.file.display(),
        bytes = response.file_len,
        handoff_every = ?args.handoff_every,
        "stream server ready"
    );
    loop {
        let socket = server.accept()?;
        let response = response.clone();
        let every = args.handoff_every;
        // A thread per connection, kept small: a node may hold thousands
        // (each thread costs a few memory maps, under vm.max_map_count).
        let spawned = std::thread::Builder::new()
            .stack_size(THREAD_STACK)
            .spawn(move || serve(socket, &response, every));
        if let Err(e) = spawned {
            // The socket went with the closure: the connection is closed.
            tracing::error!(error = %e, "no thread for a connection");
        }
    }
}

/// The response R: its head in memory, the file read from disk as sent.
struct Response {
    head: Vec<u8>,
    file: File,
    file_len: u64,
}

impl Response {
    fn open(path: &std::path::Path) -> Result<Response, String> {
        let why = |e: io::Error| format!("cannot serve {}: {e}", path.display());
        let file = File::open(path).map_err(why)?;
        let meta = file.metadata().map_err(why)?;
        if !meta.is_file() {
            return Err(format!(
                "cannot serve {}: not a regular file",
                path.display()
            ));
        }
        // A directory or unreadable special file opens fine but fails here.
        file.read_at(&mut [0u8; 1], 0).map_err(why)?;
        let file_len = meta.len();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {file_len}\r\n\
             Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
        Ok(Response {
            head,
            file,
            file_len,
        })
    }

    /// The length of R.
    fn len(&self) -> u64 {
        self.head.len() as u64 + self.file_len
    }

    /// Reads R's bytes from offset `at` into `buf` (up to its length);
    /// returns how many.
    fn read_at(&self, at: u64, buf: &mut [u8]) -> io::Result<usize> {
        let head = self.head.len() as u64;
        if at < head {
            let part = &self.head[at as usize..];
            let n = part.len().min(buf.len());
            buf[..n].copy_from_slice(&part[..n]);
            return Ok(n);
        }
        let left = self.len().saturating_sub(at);
        let want = buf.len().min(left as usize);
        let n = self.file.read_at(&mut buf[..want], at - head)?;
        if n == 0 && want > 0 {
            // The file shrank under us: R cannot be completed.
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while serving it",
            ));
        }
        Ok(n)
    }
}

/// Serves one connection: resumes R where the connection stands, or reads
/// the request first when nothing of it was read on any node.
fn serve(mut socket: GeckoSocket, response: &Response, every: Option<u64>) {
    let peer = socket.peer_addr().ok();
    let pos = match socket.position() {
        Ok(p) => p,
        Err(e) => return tracing::warn!(?peer, error = %e, "no stream position; closing"),
    };
    let arrived = socket.handed_in() || socket.recovered().is_some();
    let from = if pos.sent > 0 {
        tracing::info!(
            ?peer,
            sent = pos.sent,
            received = pos.received,
            handed_in = socket.handed_in(),
            recovered = socket.recovered().is_some(),
            "resuming the response"
        );
        pos.sent
    } else if arrived && pos.received > 0 {
        tracing::info!(
            ?peer,
            received = pos.received,
            handed_in = socket.handed_in(),
            recovered = socket.recovered().is_some(),
            "request read on another node: sending the response from its start"
        );
        0
    } else {
        match read_request(&mut socket) {
            Ok(Request::File) => 0,
            Ok(Request::Refused(status)) => {
                let body = format!("{status}\n");
                let allow = if status.starts_with("405") {
                    "Allow: GET\r\n"
                } else {
                    ""
                };
                let text = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\
                     {allow}Connection: close\r\n\r\n{body}",
                    body.len()
                );
                if socket.write_all(text.as_bytes()).is_ok() {
                    linger(&mut socket);
                }
                return tracing::debug!(?peer, status, "request refused");
            }
            Err(e) => return tracing::debug!(?peer, error = %e, "no request"),
        }
    };
    match send(&mut socket, response, from, every) {
        Ok(Sent::Complete) => linger(&mut socket),
        Ok(Sent::Moved) => tracing::debug!(?peer, "handed off"),
        Err(e) if moved(&e) => tracing::debug!(?peer, "connection moved"),
        Err(e) => tracing::debug!(?peer, error = %e, "connection ended"),
    }
}

/// What a request asks for.
enum Request {
    /// `GET /`.
    File,
    /// Anything else, answered with this status line's tail.
    Refused(&'static str),
}

/// Reads the request head (up to CRLFCRLF) and judges its request line.
fn read_request(socket: &mut GeckoSocket) -> io::Result<Request> {
    socket.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            return Ok(Request::Refused("431 Request Header Fields Too Large"));
        }
        // Never read past the head's limit (a GET has no body to consume).
        let room = (MAX_HEAD - head.len()).min(buf.len());
        let n = socket.read(&mut buf[..room])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before the request head ended",
            ));
        }
        head.extend_from_slice(&buf[..n]);
    }
    socket.set_read_timeout(None)?;
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    Ok(match (method, target) {
        ("GET", "/") => Request::File,
        ("GET", _) => Request::Refused("404 Not Found"),
        _ => Request::Refused("405 Method Not Allowed"),
    })
}

/// How sending R ended without an error.
enum Sent {
    /// All of R is written.
    Complete,
    /// The connection is served by another node now.
    Moved,
}

/// Writes R from offset `from`, handing the connection off each time the
/// offset reaches a multiple of `every`.
fn send(
    socket: &mut GeckoSocket,
    response: &Response,
    from: u64,
    every: Option<u64>,
) -> io::Result<Sent> {
    let total = response.len();
    let mut at = from;
    // The first boundary strictly after where we start, so that a
    // connection handed in at a boundary is not handed on at once.
    let mut next_handoff = every.map(|e| (from / e + 1) * e);
    let mut buf = vec![0u8; CHUNK];
    while at < total {
        let limit = next_handoff.map_or(total, |b| b.min(total));
        let want = (limit - at).min(CHUNK as u64) as usize;
        let n = response.read_at(at, &mut buf[..want])?;
        socket.write_all(&buf[..n])?;
        at += n as u64;
        if let (Some(b), Some(e)) = (next_handoff, every) {
            if at == b && at < total {
                next_handoff = Some(b + e);
                match socket.handoff(false) {
                    Ok(true) => return Ok(Sent::Moved),
                    Ok(false) => tracing::debug!(at, "the policy kept the connection here"),
                    Err(e) => tracing::info!(at, error = %e, "handoff failed; serving on"),
                }
            }
        }
    }
    Ok(Sent::Complete)
}

/// Waits (bounded) for the client to close after the whole response, so
/// the node keeps the connection until the client has everything.
fn linger(socket: &mut GeckoSocket) {
    if socket.set_read_timeout(Some(LINGER_TIMEOUT)).is_err() {
        return;
    }
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
}

/// True when `e` says the connection is served by another node.
fn moved(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotConnected
}
