//! Whether the local application still listens on its port, asked of the
//! kernel (`NETLINK_SOCK_DIAG`): how the proxy tells an application that
//! closed a connection from one that died. A dying process's kernel closes
//! its descriptors in order, the listener (opened first) before the
//! connections it accepted, so when the proxy reads the end of a
//! connection from a dead application, its listener is already gone.

use std::io;
use std::net::SocketAddr;

use gecko::dataplane::netlink::{push_message, Netlink, NLMSG_HDRLEN, NLM_F_REQUEST};

/// `NETLINK_SOCK_DIAG` (linux/netlink.h).
const NETLINK_SOCK_DIAG: isize = 4;
/// `SOCK_DIAG_BY_FAMILY` (linux/sock_diag.h).
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
const NLM_F_DUMP: u16 = 0x300;
/// `TCP_LISTEN` in the kernel's TCP state numbering.
const TCP_LISTEN: u32 = 10;
/// Where `idiag_sport` (big-endian) sits in an `inet_diag_msg`: after
/// family, state, timer and retransmits.
const SPORT_AT: usize = 4;

/// Whether a TCP socket listens on `app`'s port in this thread's network
/// namespace, for `app`'s address family (on any address: a listener on
/// `::` serves `::1` too).
pub fn listening(app: SocketAddr) -> io::Result<bool> {
    let family = match app {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    } as u8;
    let mut nl = Netlink::open(NETLINK_SOCK_DIAG).map_err(io::Error::other)?;
    let seq = nl.next_seq();
    let mut request = Vec::new();
    push_message(
        &mut request,
        SOCK_DIAG_BY_FAMILY,
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        |b| {
            // struct inet_diag_req_v2: family, protocol, extensions, pad,
            // the states wanted, and a zeroed socket id (no filter).
            b.extend_from_slice(&[family, libc::IPPROTO_TCP as u8, 0, 0]);
            b.extend_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
            b.extend_from_slice(&[0u8; 48]);
        },
    );
    let listeners = nl
        .collect("listing listening TCP sockets", &request, seq, true)
        .map_err(io::Error::other)?;
    let port = app.port().to_be_bytes();
    Ok(listeners.iter().any(|r| {
        r.bytes
            .get(NLMSG_HDRLEN + SPORT_AT..NLMSG_HDRLEN + SPORT_AT + 2)
            .is_some_and(|p| p == port)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_a_listener_come_and_go() {
        let listener = std::net::TcpListener::bind("[::1]:0").expect("listening on [::1]");
        let addr = listener.local_addr().expect("its address");
        assert!(listening(addr).expect("asking the kernel"));
        drop(listener);
        assert!(!listening(addr).expect("asking the kernel"));
    }

    #[test]
    fn a_connection_is_not_a_listener() {
        let listener = std::net::TcpListener::bind("[::1]:0").expect("listening on [::1]");
        let addr = listener.local_addr().expect("its address");
        let client = std::net::TcpStream::connect(addr).expect("connecting");
        let (accepted, _) = listener.accept().expect("accepting");
        drop(listener);
        // Both ends of the connection remain, on and toward the port.
        assert!(!listening(addr).expect("asking the kernel"));
        drop((client, accepted));
    }
}
