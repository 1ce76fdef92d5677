//! The raw IPv6 socket that carries Mobility Header messages (next header
//! 135), registered with tokio.
//!
//! What the kernel does for such a socket (checked on Linux 6.18 by the
//! tests below, in namespaces, without CONFIG_IPV6_MIP6):
//! - **Checksum.** Raw sockets of protocol 135 get checksum offset 4 from
//!   the kernel; [`MhSocket::open`] sets `IPV6_CHECKSUM` to 4 anyway. On send
//!   the kernel computes the checksum over the pseudo-header of the source
//!   and destination it actually uses, whatever the message held there. On
//!   receipt it drops a message whose checksum is wrong before queueing it
//!   (counted as a socket drop): `recv` never sees it, so
//!   `wire::Repr::parse_unverified` fits what `recv` returns.
//! - **What is delivered.** The Mobility Header alone: no IPv6 header, and
//!   no extension headers either. A message that came through an SRv6
//!   inline segment routing header (the data plane's seg6 routes) arrives
//!   as the bare MH, with `dst` the final destination (say G), the address
//!   the checksum covers.
//! - **Every socket sees every message.** Like any unbound raw socket, it
//!   receives all MH messages delivered locally in its network namespace,
//!   whichever local address they are for: open one per namespace.
//! - **Mark.** `SO_MARK` is given per message as a control message, so one
//!   socket sends both marked and unmarked messages without a race (checked
//!   on 6.18 by policy routing on the mark; a kernel that ignored it would
//!   fail `marked_message_through_srv6_inline_arrives_bare`).

use std::io;
use std::mem::size_of;
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::libc;
use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrIn6};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::wire::IPPROTO_MH;

/// Where the checksum sits in the Mobility Header (RFC 6275 §6.1.1).
const CHECKSUM_OFFSET: libc::c_int = 4;

/// One message taken from an [`MhSocket`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Octets of the Mobility Header written to the buffer.
    pub len: usize,
    /// The IPv6 source address.
    pub src: Ipv6Addr,
    /// The IPv6 destination address (from `IPV6_PKTINFO`): the final one
    /// when a routing header was on the way.
    pub dst: Ipv6Addr,
    /// The interface it arrived on.
    pub ifindex: u32,
}

/// A raw IPv6 socket of protocol 135 in the network namespace of the
/// thread that opened it.
#[derive(Debug)]
pub struct MhSocket {
    fd: AsyncFd<OwnedFd>,
}

impl MhSocket {
    /// Opens the socket (needs `CAP_NET_RAW`) and registers it with the
    /// current tokio runtime (an error outside one). To open it in another
    /// namespace, call this from `lab::netns::run_in` with the runtime
    /// entered.
    pub fn open() -> io::Result<MhSocket> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(
                "opening a Mobility Header socket: no tokio runtime in this thread",
            ));
        }
        let flags = libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        // SAFETY: socket(2) takes no pointers; a non-negative result is a
        // new descriptor that nothing else owns.
        let raw = unsafe { libc::socket(libc::AF_INET6, flags, IPPROTO_MH.into()) };
        if raw < 0 {
            return Err(context(
                "opening a raw IPv6 socket of protocol 135 (needs CAP_NET_RAW)",
                io::Error::last_os_error(),
            ));
        }
        // SAFETY: `raw` was just returned by socket(2) and is owned here only.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        setsockopt(&fd, sockopt::Ipv6RecvPacketInfo, &true)
            .map_err(|e| context("setting IPV6_RECVPKTINFO", e.into()))?;
        set_checksum_offset(fd.as_raw_fd(), CHECKSUM_OFFSET)
            .map_err(|e| context("setting IPV6_CHECKSUM", e))?;
        let interest = Interest::READABLE | Interest::WRITABLE;
        // SAFETY: the OwnedFd is open and moves into the AsyncFd, which
        // alone owns and closes it.
        let fd = unsafe { AsyncFd::register_with_interest(fd, interest) }
            .map_err(|e| context("registering the Mobility Header socket", e.into()))?;
        Ok(MhSocket { fd })
    }

    /// Sends one Mobility Header message (its checksum is filled by the
    /// kernel) from `src`, any local address, one on `lo` included (as G
    /// is); `Ipv6Addr::UNSPECIFIED` lets the kernel choose. `mark` is the
    /// `SO_MARK` policy routing sees for this message only.
    pub async fn send(
        &self,
        mh: &[u8],
        src: Ipv6Addr,
        dst: Ipv6Addr,
        mark: Option<u32>,
    ) -> io::Result<()> {
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|fd| send_now(fd.as_raw_fd(), mh, src, dst, mark)) {
                Ok(result) => {
                    return result.map_err(|e| {
                        context(format!("sending a Mobility Header {src} -> {dst}"), e)
                    })
                }
                Err(_would_block) => continue,
            }
        }
    }

    /// Receives the next Mobility Header message into `buf`. A message
    /// longer than `buf` is dropped with an `InvalidData` error (a buffer of
    /// `wire::MAX_LEN` never is too short for a valid one).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        loop {
            let mut guard = self.fd.readable().await?;
            // The kernel checked the checksum before queueing (see the module
            // doc), so an EAGAIN here means the queue is empty.
            match guard.try_io(|fd| recv_now(fd.as_raw_fd(), buf)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }
}

fn context(what: impl std::fmt::Display, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn set_checksum_offset(fd: RawFd, offset: libc::c_int) -> io::Result<()> {
    crate::sockopt::set(fd, libc::IPPROTO_IPV6, libc::IPV6_CHECKSUM, &offset)
}

/// One sendmsg(2) with `IPV6_PKTINFO` for the source and `SO_MARK` for the
/// mark as control messages (nix has no `SO_MARK` control message).
fn send_now(
    fd: RawFd,
    mh: &[u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    mark: Option<u32>,
) -> io::Result<()> {
    // SAFETY: (whole block) every pointer put in `msg` refers to a local that
    // outlives the sendmsg call; the control buffer is u64-aligned, zeroed
    // and as long as msg_controllen, so CMSG_FIRSTHDR/NXTHDR stay inside it
    // and each header written is checked for null first.
    unsafe {
        let mut addr: libc::sockaddr_in6 = std::mem::zeroed();
        addr.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        addr.sin6_addr.s6_addr = dst.octets();
        let mut iov = libc::iovec {
            iov_base: mh.as_ptr() as *mut libc::c_void,
            iov_len: mh.len(),
        };
        let pktinfo_len = size_of::<libc::in6_pktinfo>() as libc::c_uint;
        let mark_len = size_of::<u32>() as libc::c_uint;
        let mut control = [0u64; 16];
        let mut control_len = 0usize;
        if !src.is_unspecified() {
            control_len += libc::CMSG_SPACE(pktinfo_len) as usize;
        }
        if mark.is_some() {
            control_len += libc::CMSG_SPACE(mark_len) as usize;
        }
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut addr as *mut libc::sockaddr_in6).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if control_len > 0 {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = control_len as _;
        }
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        if !src.is_unspecified() {
            let header = cmsg.as_mut().ok_or_else(control_overflow)?;
            header.cmsg_level = libc::IPPROTO_IPV6;
            header.cmsg_type = libc::IPV6_PKTINFO;
            header.cmsg_len = libc::CMSG_LEN(pktinfo_len) as _;
            let info = libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr {
                    s6_addr: src.octets(),
                },
                ipi6_ifindex: 0,
            };
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast(), info);
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        if let Some(mark) = mark {
            let header = cmsg.as_mut().ok_or_else(control_overflow)?;
            header.cmsg_level = libc::SOL_SOCKET;
            header.cmsg_type = libc::SO_MARK;
            header.cmsg_len = libc::CMSG_LEN(mark_len) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast(), mark);
        }
        let sent = libc::sendmsg(fd, &msg, 0);
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        if sent as usize != mh.len() {
            return Err(io::Error::other(format!(
                "sent {sent} of {} octets",
                mh.len()
            )));
        }
    }
    Ok(())
}

fn control_overflow() -> io::Error {
    io::Error::other("control message buffer too short")
}

fn recv_now(fd: RawFd, buf: &mut [u8]) -> io::Result<Received> {
    let mut control = nix::cmsg_space!(libc::in6_pktinfo);
    let mut iov = [io::IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrIn6>(fd, &mut iov, Some(&mut control), MsgFlags::MSG_DONTWAIT)?;
    if msg.flags.contains(MsgFlags::MSG_TRUNC) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "a Mobility Header message longer than the {}-octet buffer was dropped",
                msg.bytes
            ),
        ));
    }
    let src = msg
        .address
        .map(|a| a.ip())
        .ok_or_else(|| io::Error::other("received a Mobility Header without a source address"))?;
    let mut pktinfo = None;
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::Ipv6PacketInfo(info) = cmsg {
            pktinfo = Some(info);
        }
    }
    let info = pktinfo.ok_or_else(|| {
        io::Error::other("received a Mobility Header without IPV6_PKTINFO (its destination)")
    })?;
    Ok(Received {
        len: msg.bytes,
        src,
        dst: Ipv6Addr::from(info.ipi6_addr.s6_addr),
        ifindex: info.ipi6_ifindex,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mipv6::wire::{self, Message, Packet, Repr};
    use gecko_netns::{links, netns};
    use rtnetlink::packet_route::rule::RuleAction;
    use rtnetlink::{Handle, RouteMessageBuilder};
    use std::fs::File;
    use std::time::Duration;

    const A: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x4d, 0, 0, 0, 0, 1);
    const B: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x4d, 0, 0, 0, 0, 2);
    /// G on A's `lo`.
    const G: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x4e, 0, 0, 0, 0, 1);
    /// On A's `lo` too; B reaches it only through a marked route of the
    /// data plane (seg6 inline or VXLAN).
    const G2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x4e, 0, 0, 0, 0, 2);

    /// Deletes its namespaces when dropped, also when a test fails.
    struct Namespaces(Vec<String>);

    impl Drop for Namespaces {
        fn drop(&mut self) {
            for name in &self.0 {
                if let Err(e) = netns::delete(name) {
                    eprintln!("deleting namespace {name}: {e}");
                }
            }
        }
    }

    /// Two namespaces joined by a veth pair: A (`met-a`, A, G and G2 on
    /// `lo`) and B (`met-b`, B).
    struct Pair {
        a: File,
        b: File,
        hb: Handle,
        _names: Namespaces,
    }

    /// The two namespaces of a test, or None (the test then returns) where
    /// `gecko_netns::root_test` says it cannot run.
    async fn pair(tag: &str) -> Option<Pair> {
        if !gecko_netns::root_test(&format!("mh_socket::{tag}")) {
            return None;
        }
        let names = Namespaces(vec![
            format!("gecko-t-met-{tag}-a"),
            format!("gecko-t-met-{tag}-b"),
        ]);
        for name in &names.0 {
            // Left over by a run that was killed: start clean.
            netns::delete(name).unwrap();
            netns::create(name).unwrap();
        }
        let a = netns::open(&names.0[0]).unwrap();
        let b = netns::open(&names.0[1]).unwrap();
        let settings = [
            // Inherited by the veth ends made after: usable addresses at once.
            ("conf/default/accept_dad", "0"),
            ("conf/all/accept_dad", "0"),
            ("conf/default/seg6_enabled", "1"),
            ("conf/all/seg6_enabled", "1"),
        ];
        links::sysctls(&a, &settings).unwrap();
        links::sysctls(&b, &settings).unwrap();
        let ha = links::connect(&a).await.unwrap();
        let hb = links::connect(&b).await.unwrap();
        links::add_veth(&ha, "met-a", &b, "met-b").await.unwrap();
        for (h, link) in [(&ha, "lo"), (&ha, "met-a"), (&hb, "lo"), (&hb, "met-b")] {
            links::set_up(h, link, true).await.unwrap();
        }
        links::add_address(&ha, "met-a", A, 64).await.unwrap();
        links::add_address(&ha, "lo", G, 128).await.unwrap();
        links::add_address(&ha, "lo", G2, 128).await.unwrap();
        links::add_address(&hb, "met-b", B, 64).await.unwrap();
        for (h, link) in [(&ha, "met-a"), (&hb, "met-b")] {
            wait_ready(h, link).await;
        }
        // G is reached through A; G2 only by the marked route of a test.
        let route = RouteMessageBuilder::<Ipv6Addr>::new()
            .destination_prefix(G, 128)
            .gateway(A)
            .build();
        hb.route().add(route).execute().await.unwrap();
        Some(Pair {
            a,
            b,
            hb,
            _names: names,
        })
    }

    /// Waits until `link` has carrier and none of its addresses is
    /// tentative: before that, sends fail with ENETDOWN or EINVAL.
    async fn wait_ready(h: &Handle, link: &str) {
        use futures::TryStreamExt;
        use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags};
        use rtnetlink::packet_route::link::{LinkAttribute, State};
        let index = links::index(h, link).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let l = h.link().get().match_index(index).execute().try_next().await;
            let up = l
                .unwrap()
                .unwrap()
                .attributes
                .contains(&LinkAttribute::OperState(State::Up));
            let addresses: Vec<_> = h
                .address()
                .get()
                .set_link_index_filter(index)
                .execute()
                .try_collect()
                .await
                .unwrap();
            let tentative = addresses.iter().any(|a| {
                a.attributes.iter().any(|at| {
                    matches!(at, AddressAttribute::Flags(f) if f.contains(AddressFlags::Tentative))
                })
            });
            if up && !tentative {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{link} not ready in 5 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn open_in(ns: &File) -> MhSocket {
        let rt = tokio::runtime::Handle::current();
        netns::run_in(ns, || {
            let _entered = rt.enter();
            MhSocket::open()
        })
        .unwrap()
        .unwrap()
    }

    /// A Home Test Init with `cookie`, its checksum field left as `checksum`.
    fn hoti(cookie: u8, checksum: u16) -> (Repr, Vec<u8>) {
        let repr = Repr {
            message: Message::HomeTestInit {
                cookie: [cookie; 8],
            },
            options: vec![],
        };
        let mut buf = vec![0; repr.buffer_len().unwrap()];
        let emitted = repr.emit_without_checksum(&mut buf).unwrap();
        buf.truncate(emitted.len);
        buf[4..6].copy_from_slice(&checksum.to_be_bytes());
        (repr, buf)
    }

    async fn recv(sock: &MhSocket) -> (Received, Vec<u8>) {
        let mut buf = vec![0; wire::MAX_LEN];
        let got = tokio::time::timeout(Duration::from_secs(5), sock.recv(&mut buf))
            .await
            .expect("no Mobility Header message arrived within 5 s")
            .unwrap();
        buf.truncate(got.len);
        (got, buf)
    }

    /// What arrived is the message sent, with the checksum the kernel filled
    /// for the addresses it carried.
    fn check(got: &(Received, Vec<u8>), sent: &(Repr, Vec<u8>), src: Ipv6Addr, dst: Ipv6Addr) {
        let (r, bytes) = got;
        assert_eq!((r.src, r.dst, r.len), (src, dst, sent.1.len()));
        assert_eq!(bytes[..4], sent.1[..4]);
        assert_eq!(bytes[6..], sent.1[6..]);
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert!(packet.verify_checksum(&src, &dst), "kernel checksum wrong");
        assert_eq!(Repr::parse(&packet, &src, &dst).unwrap(), sent.0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sends_and_receives_with_chosen_addresses() {
        let Some(p) = pair("io").await else {
            return;
        };
        let sa = open_in(&p.a);
        let sb = open_in(&p.b);
        let b_index = links::index(&p.hb, "met-b").await.unwrap();

        // A checksum field left wrong is overwritten by the kernel.
        let m = hoti(1, 0xdead);
        sa.send(&m.1, A, B, None).await.unwrap();
        let got = recv(&sb).await;
        check(&got, &m, A, B);
        assert_eq!(got.0.ifindex, b_index);

        // From G on A's lo, through IPV6_PKTINFO.
        let m = hoti(2, 0);
        sa.send(&m.1, G, B, None).await.unwrap();
        check(&recv(&sb).await, &m, G, B);

        // To G: dst is G, not the address of the link it came in on.
        let m = hoti(3, 0);
        sb.send(&m.1, B, G, None).await.unwrap();
        check(&recv(&sa).await, &m, B, G);

        // Unspecified: the kernel chooses (A, on the link toward B).
        let m = hoti(4, 0);
        sa.send(&m.1, Ipv6Addr::UNSPECIFIED, B, None).await.unwrap();
        check(&recv(&sb).await, &m, A, B);

        // A source that is not local is refused, not sent.
        let err = sa
            .send(
                &m.1,
                Ipv6Addr::new(0x2001, 0xdb8, 0x4f, 0, 0, 0, 0, 1),
                B,
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kernel_drops_bad_checksums() {
        let Some(p) = pair("ck").await else {
            return;
        };
        let sa = open_in(&p.a);
        // A sender whose checksums the kernel leaves alone.
        let raw = open_in(&p.b);
        set_checksum_offset(raw.fd.as_raw_fd(), -1).unwrap();
        let good = wire::compute_checksum(&hoti(2, 0).1, &B, &A);
        let bad = hoti(1, good ^ 0x5555);
        let good = hoti(2, good);
        raw.send(&bad.1, B, A, None).await.unwrap();
        raw.send(&good.1, B, A, None).await.unwrap();
        // Both have arrived before the first read: the bad one must neither
        // come out nor stall the good one behind it.
        tokio::time::sleep(Duration::from_millis(200)).await;
        check(&recv(&sa).await, &good, B, A);
        let mut buf = [0; 64];
        let more = tokio::time::timeout(Duration::from_millis(300), sa.recv(&mut buf)).await;
        assert!(more.is_err(), "a message arrived after: {more:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn marked_message_through_each_backend_arrives_bare() {
        let Some(p) = pair("sr").await else {
            return;
        };
        let sa = open_in(&p.a);
        let sb = open_in(&p.b);
        netns::run_in(&p.a, || crate::dataplane::reception::receive(G2))
            .unwrap()
            .unwrap();
        p.hb.rule()
            .add()
            .v6()
            .fw_mark(7)
            .table_id(100)
            .action(RuleAction::ToTable)
            .execute()
            .await
            .unwrap();

        let m = hoti(9, 0);
        let err = sb.send(&m.1, B, G2, None).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NetworkUnreachable, "{err}");
        for encap in crate::dataplane::kernel_check::backends_under_test(
            "marked_message_through_each_backend",
        ) {
            // G2 only in table 100, toward A by this backend; mark 7 uses it.
            netns::run_in(&p.b, || {
                use crate::dataplane::{EncapSender, Routes, Traffic};
                let mut routes = Routes::open()?;
                let mut sender = EncapSender::open(&mut routes, encap, 1500)?;
                sender.route(&mut routes, 100, G2, A, 1430, Traffic::Local)
            })
            .unwrap()
            .unwrap();
            sb.send(&m.1, B, G2, Some(7)).await.unwrap();
            // The MH alone (no SRH or tunnel header before it), dst G2.
            check(&recv(&sa).await, &m, B, G2);
        }
    }

    #[test]
    fn open_needs_a_runtime() {
        let err = MhSocket::open().unwrap_err();
        assert!(err.to_string().contains("tokio runtime"), "{err}");
    }
}
