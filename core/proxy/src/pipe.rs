//! A kernel pipe used as the relay's buffer: bytes move socket → pipe →
//! socket with `splice(2)` and never enter user space. The pipe's size
//! bounds what one direction of a connection holds (backpressure: nothing
//! is read from the source while the pipe still holds bytes). Pipes are
//! pooled: a direction holds one only while bytes are in it, so an idle
//! connection costs its two sockets and nothing more.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, PoisonError};

/// Bytes a relay direction asks its pipe to hold. Bigger pipes mean fewer
/// system calls per byte on bulk transfers; the kernel may give less
/// (`/proc/sys/fs/pipe-max-size`, or the user's pipe quota once many
/// pipes exist), which only costs speed.
pub const PIPE_BYTES: usize = 1024 * 1024;

/// A non-blocking pipe and how many bytes it holds.
#[derive(Debug)]
pub struct SplicePipe {
    read: OwnedFd,
    write: OwnedFd,
    held: usize,
    capacity: usize,
}

impl SplicePipe {
    /// A pipe that holds up to `want` bytes if the kernel allows it, else
    /// its default size.
    pub fn new(want: usize) -> io::Result<SplicePipe> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2 writes two descriptors into the array it is given.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just opened and are owned here only.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let want = libc::c_int::try_from(want).unwrap_or(libc::c_int::MAX);
        // SAFETY: fcntl on a descriptor we own; failure is handled.
        let mut size = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, want) };
        if size < 0 {
            // Over the quota: keep the default size rather than fail.
            // SAFETY: as above.
            size = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ) };
        }
        if size <= 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(SplicePipe {
            read,
            write,
            held: 0,
            capacity: size as usize,
        })
    }

    /// Bytes in the pipe, read from the source and not yet written out.
    pub fn held(&self) -> usize {
        self.held
    }

    /// The pipe's size in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Moves what `src` has (up to the pipe's free room) into the pipe.
    /// `Ok(0)`: `src` reached its end; `WouldBlock`: nothing to read now
    /// (or, rarely, the pipe has no free slot: call it with an empty pipe,
    /// where that cannot happen).
    pub fn fill_from(&mut self, src: RawFd) -> io::Result<usize> {
        let room = self.capacity - self.held;
        let n = splice(src, self.write.as_raw_fd(), room)?;
        self.held += n;
        Ok(n)
    }

    /// Moves what the pipe holds into `dst`; `WouldBlock` when `dst`
    /// takes nothing now.
    pub fn drain_to(&mut self, dst: RawFd) -> io::Result<usize> {
        let n = splice(self.read.as_raw_fd(), dst, self.held)?;
        self.held -= n;
        Ok(n)
    }
}

/// Empty pipes kept for the next relay direction that has bytes to move.
#[derive(Debug)]
pub struct PipePool {
    idle: Mutex<Vec<SplicePipe>>,
    /// Pipes kept at most (each is two descriptors).
    keep: usize,
    /// The size new pipes ask for.
    want: usize,
}

impl PipePool {
    /// A pool making pipes of `want` bytes and keeping up to `keep` idle.
    pub fn new(want: usize, keep: usize) -> PipePool {
        PipePool {
            idle: Mutex::new(Vec::new()),
            keep,
            want,
        }
    }

    /// An empty pipe: a kept one, else a new one.
    pub fn take(&self) -> io::Result<SplicePipe> {
        let kept = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match kept {
            Some(p) => Ok(p),
            None => SplicePipe::new(self.want),
        }
    }

    /// Gives a pipe back; one still holding bytes, or one too many, is
    /// closed instead.
    pub fn give(&self, pipe: SplicePipe) {
        if pipe.held() > 0 {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.keep {
            idle.push(pipe);
        }
    }

    /// Idle pipes kept now.
    pub fn idle(&self) -> usize {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// One `splice(2)` of up to `len` bytes, never blocking on the pipe.
fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    loop {
        // SAFETY: plain descriptors, no offsets (sockets and pipes have none).
        let n = unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn the_pool_keeps_only_empty_pipes_up_to_its_bound() {
        let pool = PipePool::new(PIPE_BYTES, 1);
        let (a, b) = (pool.take().unwrap(), pool.take().unwrap());
        pool.give(a);
        pool.give(b);
        assert_eq!(pool.idle(), 1, "one kept, one closed");
        let mut p = pool.take().unwrap();
        assert_eq!(pool.idle(), 0);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut w = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (r, _) = l.accept().unwrap();
        w.write_all(b"x").unwrap();
        assert_eq!(p.fill_from(r.as_raw_fd()).unwrap(), 1);
        pool.give(p);
        assert_eq!(pool.idle(), 0, "a pipe holding bytes is not kept");
    }

    #[test]
    fn moves_bytes_between_sockets_through_the_pipe() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        let l2 = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l2.local_addr().unwrap()).unwrap();
        let (mut d, _) = l2.accept().unwrap();
        let mut pipe = SplicePipe::new(PIPE_BYTES).unwrap();
        assert!(pipe.capacity() >= 4096);
        a.write_all(b"hello through a pipe").unwrap();
        let mut got = 0;
        while got < 20 {
            match pipe.fill_from(b.as_raw_fd()) {
                Ok(n) => got += n,
                Err(e) => panic!("splice in: {e}"),
            }
        }
        assert_eq!(pipe.held(), 20);
        assert_eq!(pipe.drain_to(c.as_raw_fd()).unwrap(), 20);
        assert_eq!(pipe.held(), 0);
        let mut buf = [0u8; 20];
        d.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello through a pipe");
        // Empty and non-blocking: the source has nothing more.
        b.set_nonblocking(true).unwrap();
        let e = pipe.fill_from(b.as_raw_fd()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        drop(a);
        assert_eq!(pipe.fill_from(b.as_raw_fd()).unwrap(), 0, "end of stream");
    }
}
