//! The service the lab's nodes offer and the client side that uses it, with
//! real kernel sockets: an echo server that counts its connections, and a
//! client that checks every exchange end to end with SHA-256 both ways.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::netns;

/// Connections an echo server accepted.
#[derive(Debug, Clone, Default)]
pub struct Accepted(Arc<AtomicUsize>);

impl Accepted {
    /// How many so far.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Serves TCP echo on `addr` (`[::]:port` serves G too), in the current
/// namespace and runtime, until the runtime ends.
pub async fn serve_echo(addr: SocketAddr) -> io::Result<Accepted> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let accepted = Accepted::default();
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                continue;
            };
            count.0.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    Ok(accepted)
}

/// Connects from inside `ns` to `server`, from `local_port` if given (so a
/// flow binding can name the connection before it exists).
pub fn connect_in(
    ns: &File,
    server: SocketAddr,
    local_port: Option<u16>,
    timeout: Duration,
) -> io::Result<TcpStream> {
    netns::run_in(ns, || -> io::Result<TcpStream> {
        let socket = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None)?;
        if let Some(port) = local_port {
            socket.set_reuse_address(true)?;
            socket.bind(&SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)).into())?;
        }
        socket.connect_timeout(&server.into(), timeout)?;
        let stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(stream)
    })?
}

/// Sends `payload` and reads the echo; fails unless the SHA-256 of what
/// came back is the SHA-256 of what was sent. Returns that digest.
pub fn echo_round(stream: &mut TcpStream, payload: &[u8]) -> io::Result<[u8; 32]> {
    let sent: [u8; 32] = Sha256::digest(payload).into();
    stream.write_all(payload)?;
    let mut back = vec![0u8; payload.len()];
    stream.read_exact(&mut back)?;
    let received: [u8; 32] = Sha256::digest(&back).into();
    if sent != received {
        return Err(io::Error::other(format!(
            "echo differs: sent sha256 {} received sha256 {}",
            hex::encode(sent),
            hex::encode(received)
        )));
    }
    Ok(sent)
}

/// One echo from a client namespace to a server namespace: serves echo on
/// `server` inside `server_ns` for as long as it takes, connects from
/// `client_ns` (giving up after `timeout`) and checks one message. Returns
/// the round trip time: how the lab and its demo see that a host reaches
/// another.
pub fn echo_once(
    client_ns: &str,
    server_ns: &str,
    server: SocketAddr,
    timeout: Duration,
) -> io::Result<Duration> {
    let rt = super::ns_runtime::NsRuntime::start(&netns::open(server_ns)?)?;
    rt.block_on(serve_echo(server))??;
    let mut conn = connect_in(&netns::open(client_ns)?, server, None, timeout)?;
    let t0 = std::time::Instant::now();
    echo_round(&mut conn, b"hello from the client")?;
    Ok(t0.elapsed())
}

/// TCP segments received in the namespace so far (`Tcp: InSegs` of
/// /proc/net/snmp, read from inside it): shows whether a host saw a
/// connection's packets at all.
pub fn tcp_segments_in(ns: &File) -> io::Result<u64> {
    netns::run_in(ns, || -> io::Result<u64> {
        let snmp = std::fs::read_to_string("/proc/thread-self/net/snmp")?;
        let mut lines = snmp.lines().filter(|l| l.starts_with("Tcp:"));
        let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
            return Err(io::Error::other("no Tcp lines in /proc/net/snmp"));
        };
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(n, _)| *n == "InSegs")
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| io::Error::other("no InSegs in /proc/net/snmp"))
    })?
}

/// Sends `total` pseudo-random bytes and reads the echo at the same time;
/// returns (SHA-256 sent, SHA-256 received, bytes received).
pub fn stream_echo(stream: TcpStream, total: usize, seed: u8) -> ([u8; 32], [u8; 32], usize) {
    let mut reader = stream.try_clone().unwrap();
    reader
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let receiving = std::thread::spawn(move || {
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut got = 0;
        while got < total {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    hash.update(&buf[..n]);
                    got += n;
                }
                Err(e) => panic!("reading the echo after {got} bytes: {e}"),
            }
        }
        (<[u8; 32]>::from(hash.finalize()), got)
    });
    let mut writer = stream;
    let mut hash = Sha256::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut state = u64::from(seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut sent = 0;
    while sent < total {
        let n = chunk.len().min(total - sent);
        for b in chunk[..n].iter_mut() {
            // xorshift: cheap bytes that never repeat in step with chunks.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state as u8;
        }
        writer.write_all(&chunk[..n]).expect("sending");
        hash.update(&chunk[..n]);
        sent += n;
    }
    let (received, got) = receiving.join().expect("receiver");
    writer.shutdown(std::net::Shutdown::Write).unwrap();
    (hash.finalize().into(), received, got)
}
