//! A one-shot TCP echo between two lab hosts, through real kernel sockets:
//! how the demo and the tests see that one host reaches another.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::netns;

/// Listens on `server` inside namespace `server_ns`, connects to it from
/// `client_ns`, sends one message and reads it back. Returns the round
/// trip time, or the error that kept the client from its echo (such as a
/// connect that timed out after `timeout`).
pub fn echo(
    client_ns: &str,
    server_ns: &str,
    server: SocketAddr,
    timeout: Duration,
) -> io::Result<Duration> {
    let server_space = netns::open(server_ns)?;
    let listener = netns::run_in(&server_space, || TcpListener::bind(server))??;
    let server_thread = std::thread::spawn(move || -> io::Result<()> {
        let (mut conn, _) = listener.accept()?;
        let mut buf = [0u8; 64];
        let n = conn.read(&mut buf)?;
        conn.write_all(&buf[..n])
    });
    let result = netns::run_in(&netns::open(client_ns)?, || -> io::Result<Duration> {
        let mut conn = TcpStream::connect_timeout(&server, timeout)?;
        conn.set_read_timeout(Some(timeout))?;
        let message = b"hello from the client";
        let t0 = Instant::now();
        conn.write_all(message)?;
        let mut back = [0u8; 21];
        conn.read_exact(&mut back)?;
        let rtt = t0.elapsed();
        if &back != message {
            return Err(io::Error::other("the echo came back different"));
        }
        Ok(rtt)
    })?;
    if result.is_err() {
        // The client never arrived: wake the accept from inside the server.
        let _ = netns::run_in(&server_space, || TcpStream::connect(server));
    }
    let served = server_thread
        .join()
        .map_err(|_| io::Error::other("the echo server thread panicked"))?;
    let rtt = result?;
    served?;
    Ok(rtt)
}
