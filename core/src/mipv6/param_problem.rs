//! How a node learns that a client runs no Mobile IPv6 agent: an IPv6 stack
//! with nothing bound to next header 135 answers a Mobility Header with an
//! ICMPv6 Parameter Problem, code 1 ("unrecognized Next Header", RFC 4443
//! §3.4) pointing at the 135. Linux does so for every host without an MH
//! socket. The node's Care-of Test Init goes out from its own address, so
//! that answer comes straight back to it.

use std::io;
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::libc;
use nix::sys::socket::{recvfrom, SockaddrIn6};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::wire::IPPROTO_MH;

/// ICMPv6 type Parameter Problem.
const PARAM_PROBLEM: u8 = 4;
/// Code: unrecognized Next Header type encountered.
const UNRECOGNIZED_NEXT_HEADER: u8 = 1;
/// `ICMP6_FILTER` (linux/icmpv6.h), at level `IPPROTO_ICMPV6`.
const ICMP6_FILTER: libc::c_int = 1;
const IPV6_HEADER: usize = 40;

/// A client's stack refused a Mobility Header: it runs no agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoAgent {
    /// The client (the refused message's destination, and the error's
    /// source).
    pub client: Ipv6Addr,
    /// The refused message's MH type (1 HoTI, 2 CoTI, ...), if the Mobility
    /// Header came right after the IPv6 header.
    pub mh_type: Option<u8>,
    /// The Home or Care-of Init Cookie it carried, likewise.
    pub cookie: Option<[u8; 8]>,
}

/// Reads an ICMPv6 message (from its type octet on, as a raw ICMPv6
/// socket gives it) received from `src`: a Parameter Problem for an
/// unrecognized next header 135 that `src` itself was sent. Anything else,
/// and an error about another host's packet, is `None`.
pub fn parse(icmp: &[u8], src: Ipv6Addr) -> Option<NoAgent> {
    let (&kind, rest) = icmp.split_first()?;
    let (&code, _) = rest.split_first()?;
    if kind != PARAM_PROBLEM || code != UNRECOGNIZED_NEXT_HEADER {
        return None;
    }
    let pointer = u32::from_be_bytes(icmp.get(4..8)?.try_into().ok()?) as usize;
    let invoking = icmp.get(8..)?;
    let header = invoking.get(..IPV6_HEADER)?;
    if header[0] >> 4 != 6 || invoking.get(pointer) != Some(&IPPROTO_MH) {
        return None;
    }
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&header[24..40]).ok()?);
    if dst != src {
        return None;
    }
    // Pointer 6 is the IPv6 header's own Next Header: the MH follows it.
    let mh = (pointer == 6)
        .then(|| invoking.get(IPV6_HEADER..))
        .flatten();
    Some(NoAgent {
        client: dst,
        mh_type: mh.and_then(|m| m.get(2).copied()),
        cookie: mh.and_then(|m| m.get(8..16)?.try_into().ok()),
    })
}

/// A raw ICMPv6 socket that passes only Parameter Problems, in the network
/// namespace of the thread that opened it, registered with tokio.
#[derive(Debug)]
pub struct ParamProblemSocket {
    fd: AsyncFd<OwnedFd>,
}

impl ParamProblemSocket {
    /// Opens it (needs `CAP_NET_RAW` and a tokio runtime).
    pub fn open() -> io::Result<ParamProblemSocket> {
        let flags = libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        // SAFETY: socket(2) takes no pointers; a non-negative result is a
        // new descriptor that nothing else owns.
        let raw = unsafe { libc::socket(libc::AF_INET6, flags, libc::IPPROTO_ICMPV6) };
        if raw < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("opening a raw ICMPv6 socket (needs CAP_NET_RAW): {e}"),
            ));
        }
        // SAFETY: `raw` was just returned by socket(2) and is owned here only.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // A set bit blocks its type: every type but Parameter Problem.
        let mut filter = [u32::MAX; 8];
        filter[usize::from(PARAM_PROBLEM >> 5)] &= !(1 << (PARAM_PROBLEM & 31));
        crate::sockopt::set(fd.as_raw_fd(), libc::IPPROTO_ICMPV6, ICMP6_FILTER, &filter)?;
        // SAFETY: the OwnedFd is open and moves into the AsyncFd, which
        // alone owns and closes it.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|e| -> io::Error { e.into() })?;
        Ok(ParamProblemSocket { fd })
    }

    /// The next client found to run no agent.
    pub async fn recv(&self) -> io::Result<NoAgent> {
        let mut buf = [0u8; 1280];
        loop {
            let mut guard = self.fd.readable().await?;
            let got = guard.try_io(|fd| {
                recvfrom::<SockaddrIn6>(fd.as_raw_fd(), &mut buf).map_err(io::Error::from)
            });
            match got {
                Ok(Ok((n, Some(from)))) => {
                    if let Some(found) = parse(&buf[..n], from.ip()) {
                        return Ok(found);
                    }
                }
                Ok(Ok((_, None))) => {}
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 3, 1, 0, 0, 0, 2);
    const NODE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 1, 0, 0, 0, 2);

    /// The error a client's kernel sends for a Care-of Test Init.
    fn error_for(dst: Ipv6Addr, code: u8, pointer: u32) -> Vec<u8> {
        let mut m = vec![PARAM_PROBLEM, code, 0, 0];
        m.extend(pointer.to_be_bytes());
        let mut ip = vec![0x60, 0, 0, 0, 0, 16, IPPROTO_MH, 64];
        ip.extend(NODE.octets());
        ip.extend(dst.octets());
        m.extend(ip);
        // MH: payload proto 59, length 1, type 2 (CoTI), cookie 1..=8.
        m.extend([59, 1, 2, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        m
    }

    #[test]
    fn a_care_of_test_init_refused_names_client_and_cookie() {
        let got = parse(&error_for(CLIENT, 1, 6), CLIENT).unwrap();
        assert_eq!(
            got,
            NoAgent {
                client: CLIENT,
                mh_type: Some(2),
                cookie: Some([1, 2, 3, 4, 5, 6, 7, 8]),
            }
        );
    }

    #[test]
    fn other_errors_and_other_hosts_packets_say_nothing() {
        // Another code (erroneous header field).
        assert_eq!(parse(&error_for(CLIENT, 0, 6), CLIENT), None);
        // The pointer does not point at a 135.
        assert_eq!(parse(&error_for(CLIENT, 1, 7), CLIENT), None);
        // An error about a packet to someone else than its sender.
        let other = Ipv6Addr::new(0x2001, 0xdb8, 3, 2, 0, 0, 0, 2);
        assert_eq!(parse(&error_for(other, 1, 6), CLIENT), None);
        // Truncated anywhere.
        let whole = error_for(CLIENT, 1, 6);
        for n in 0..48 {
            assert_eq!(parse(&whole[..n], CLIENT), None, "{n} octets");
        }
        // Without the MH itself: still no agent, no cookie.
        let got = parse(&whole[..48], CLIENT).unwrap();
        assert_eq!((got.mh_type, got.cookie), (None, None));
    }
}
