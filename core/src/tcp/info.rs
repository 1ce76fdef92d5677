//! `TCP_INFO` and the queue lengths of a live socket, without freezing it.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The kernel's `struct tcp_info` of a TCP socket.
pub fn tcp_info(fd: BorrowedFd<'_>) -> io::Result<libc::tcp_info> {
    // SAFETY: tcp_info is plain integers: all zeroes is a valid value.
    let zero: libc::tcp_info = unsafe { std::mem::zeroed() };
    crate::sockopt::get(fd, libc::IPPROTO_TCP, libc::TCP_INFO, zero)
}

/// The round-trip time the kernel measured on a connection, if it has one.
pub fn rtt(fd: BorrowedFd<'_>) -> Option<std::time::Duration> {
    let info = tcp_info(fd).ok()?;
    (info.tcpi_rtt > 0).then(|| std::time::Duration::from_micros(u64::from(info.tcpi_rtt)))
}

/// Bytes in the send queue (unacknowledged and unsent) and in the receive
/// queue (not read yet).
pub fn queued(fd: BorrowedFd<'_>) -> io::Result<(u64, u64)> {
    let get = |req: libc::c_ulong| {
        let mut v: libc::c_int = 0;
        // SAFETY: SIOCOUTQ and SIOCINQ write one int to the pointer.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), req as _, &mut v as *mut libc::c_int) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(u64::try_from(v).unwrap_or(0))
    };
    Ok((get(libc::TIOCOUTQ)?, get(libc::FIONREAD)?))
}

/// The socket's `TCP_TIMESTAMP` clock now (the value its next segment's
/// TSval would carry).
pub fn timestamp(fd: BorrowedFd<'_>) -> io::Result<u32> {
    crate::sockopt::get(fd, libc::IPPROTO_TCP, libc::TCP_TIMESTAMP, 0u32)
}
