//! Socket options, in one place. Options that socket2 covers are set
//! through it (`SO_LINGER`, `SO_MARK`); the rest (`TCP_REPAIR*`,
//! `TCP_INFO`, `IPV6_CHECKSUM`, `SO_*BUFFORCE`, `SO_ATTACH_FILTER`, ...)
//! through [`set`], [`set_slice`] and [`get`], the crate's only raw
//! `setsockopt` and `getsockopt` calls.
//!
//! Values are plain data the kernel copies: integers, and `#[repr(C)]`
//! structs of integers (a `sock_fprog` also points to its filter, which the
//! kernel copies during the call).

use std::io;
use std::mem::size_of;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Sets option `(level, name)` of `fd` to `value`.
pub fn set<T: Copy>(
    fd: impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    set_slice(fd, level, name, std::slice::from_ref(value))
}

/// Sets option `(level, name)` of `fd` to the array `values` (e.g.
/// `TCP_REPAIR_OPTIONS`).
pub fn set_slice<T: Copy>(
    fd: impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    values: &[T],
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(std::mem::size_of_val(values))
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `values` is live for the call and `len` is its size in bytes;
    // the kernel only reads them. A wrong descriptor is an error, not UB.
    let rc = unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, values.as_ptr().cast(), len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads option `(level, name)` of `fd` into a `T` that starts as `init`
/// (the kernel may write fewer bytes than `T` has). `T` must be plain
/// integers or a C struct of them: every bit pattern valid.
pub fn get<T: Copy>(
    fd: impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    init: T,
) -> io::Result<T> {
    let mut value = init;
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` is a live T of `len` bytes; the kernel writes at most
    // `len` bytes of plain data into it.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut value as *mut T).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Makes the socket's close a reset (`SO_LINGER` 0).
pub fn set_reset_on_close(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    socket2::SockRef::from(&fd).set_linger(Some(Duration::ZERO))
}

/// Marks what the socket sends (`SO_MARK`).
pub fn set_mark(fd: std::os::fd::BorrowedFd<'_>, mark: u32) -> io::Result<()> {
    socket2::SockRef::from(&fd).set_mark(mark)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn an_int_option_round_trips_and_a_bad_one_is_an_error() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        set(
            s.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &(64 * 1024 as libc::c_int),
        )
        .unwrap();
        let got: libc::c_int = get(s.as_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, 0).unwrap();
        // The kernel doubles it for its bookkeeping.
        assert!(got >= 64 * 1024, "{got}");
        assert!(set(s.as_fd(), libc::SOL_SOCKET, 0x7fff, &1 as &libc::c_int).is_err());
    }

    #[test]
    fn linger_zero_is_set_through_socket2() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        set_reset_on_close(s.as_fd()).unwrap();
        let linger: libc::linger = get(
            s.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            libc::linger {
                l_onoff: 0,
                l_linger: 9,
            },
        )
        .unwrap();
        assert_eq!((linger.l_onoff, linger.l_linger), (1, 0));
    }
}
