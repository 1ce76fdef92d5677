//! The relay between a client's connection and the local application's:
//! both directions at once in one task, each through its own kernel pipe
//! with `splice(2)` (zero-copy), driven by the runtime's epoll readiness so
//! that one proxy carries many thousands of connections on a few threads.
//!
//! Backpressure both ways: a direction reads from its source only while
//! its pipe is empty, so a slow reader on one side stops the other side's
//! reads (its sender then sees TCP's window close), and a connection holds
//! at most a pipe's worth of bytes per direction.
//!
//! Half-close: the end of one direction's source is passed on as a
//! `shutdown(SHUT_WR)` of its destination; the other direction runs on
//! until its own end.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use tokio::io::unix::AsyncFd;

use crate::pipe::{PipePool, SplicePipe};
use gecko::metrics::Counter;

/// One end of a relayed connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client's connection (to G).
    Client,
    /// The connection to the local application.
    App,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Client => "client",
            Side::App => "application",
        })
    }
}

/// Why a relay ended before both directions reached their end.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// No pipe could be made (out of descriptors or pipe quota).
    #[error("creating a relay pipe: {0}")]
    Pipe(#[source] io::Error),
    /// The application ended its side and no longer listens: it died.
    #[error("the application died (its end of the connection came with its listener gone)")]
    AppDied,
    /// Reading, writing or shutting down one side failed (a reset, mostly).
    #[error("{side} side: {source}")]
    Io {
        /// The side whose socket failed.
        side: Side,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl RelayError {
    /// The side whose socket failed, if one did.
    pub fn side(&self) -> Option<Side> {
        match self {
            RelayError::Pipe(_) => None,
            RelayError::AppDied => Some(Side::App),
            RelayError::Io { side, .. } => Some(*side),
        }
    }
}

/// Counters of the bytes a relay moved, one per direction (updated as the
/// bytes go, so metrics show long transfers while they run).
#[derive(Debug, Clone)]
pub struct RelayCounters {
    /// Client to application.
    pub to_app: Counter,
    /// Application to client.
    pub to_client: Counter,
}

/// Relays between `client` and `app` (non-blocking sockets registered
/// with the current runtime) until both directions ended: `Ok` when each
/// side closed its sending half, else the first failure (the other
/// direction is stopped then; the caller resets what is left). Pipes come
/// from `pipes` while bytes are in flight and go back when empty. When the
/// application ends its side, `app_died` says whether that end is its
/// death (then [`RelayError::AppDied`], and nothing is passed on).
pub async fn relay<C: AsRawFd, A: AsRawFd>(
    client: &AsyncFd<C>,
    app: &AsyncFd<A>,
    counters: &RelayCounters,
    pipes: &PipePool,
    app_died: &(dyn Fn() -> bool + Sync),
) -> Result<(), RelayError> {
    let never = || false;
    let upward = pump(
        client,
        Side::Client,
        app,
        Side::App,
        pipes,
        &counters.to_app,
        &never,
    );
    let downward = pump(
        app,
        Side::App,
        client,
        Side::Client,
        pipes,
        &counters.to_client,
        app_died,
    );
    tokio::try_join!(upward, downward).map(|_| ())
}

/// One direction: `src` to `dst` until `src` ends, then `dst`'s sending
/// half is shut, unless `src_died` says the end is its death. Returns the
/// bytes moved.
async fn pump<S: AsRawFd, D: AsRawFd>(
    src: &AsyncFd<S>,
    src_side: Side,
    dst: &AsyncFd<D>,
    dst_side: Side,
    pipes: &PipePool,
    counter: &Counter,
    src_died: &(dyn Fn() -> bool + Sync),
) -> Result<u64, RelayError> {
    let fail = |side| move |source| RelayError::Io { side, source };
    let mut moved = 0u64;
    loop {
        // Wait for bytes without a pipe: idle connections hold none.
        let mut ready = src.readable().await.map_err(fail(src_side))?;
        let mut pipe = pipes.take().map_err(RelayError::Pipe)?;
        // Read only into an empty pipe: a WouldBlock then surely means the
        // source has nothing (a full pipe could also refuse, and the
        // source's readiness would be lost).
        let ended = match ready.try_io(|fd| pipe.fill_from(fd.as_raw_fd())) {
            Ok(Ok(n)) => n == 0,
            Ok(Err(e)) => return Err(fail(src_side)(e)),
            Err(_would_block) => false,
        };
        moved += drain(&mut pipe, dst, dst_side, counter).await?;
        pipes.give(pipe);
        if ended {
            if src_died() {
                return Err(RelayError::AppDied);
            }
            shutdown_write(dst.as_raw_fd()).map_err(fail(dst_side))?;
            return Ok(moved);
        }
    }
}

/// Writes all `pipe` holds into `dst`, waiting while `dst` takes nothing
/// (the backpressure: the source is not read meanwhile).
async fn drain<D: AsRawFd>(
    pipe: &mut SplicePipe,
    dst: &AsyncFd<D>,
    dst_side: Side,
    counter: &Counter,
) -> Result<u64, RelayError> {
    let fail = |source| RelayError::Io {
        side: dst_side,
        source,
    };
    let mut moved = 0u64;
    while pipe.held() > 0 {
        let mut ready = dst.writable().await.map_err(fail)?;
        match ready.try_io(|fd| pipe.drain_to(fd.as_raw_fd())) {
            Ok(Ok(n)) => {
                moved += n as u64;
                counter.inc_by(n as u64);
            }
            Ok(Err(e)) => return Err(fail(e)),
            // Its buffer is full: readiness was cleared, wait again.
            Err(_would_block) => {}
        }
    }
    Ok(moved)
}

/// Registers an owned socket with the current runtime for the relay; on
/// failure the socket comes back with the cause.
///
/// Only for sockets whose descriptor stays the same open socket while
/// registered: a `TcpStream`, or a `GeckoSocket` never handed off (the
/// proxy hands connections off only before it takes them).
pub fn register<T: AsRawFd>(socket: T) -> Result<AsyncFd<T>, (T, io::Error)> {
    // SAFETY: the caller's socket owns its descriptor, which stays open
    // and the same until the AsyncFd is dropped or unwrapped (above).
    unsafe { AsyncFd::register(socket) }.map_err(|e| e.into_parts())
}

/// Sends a FIN on `fd` (the write half ends; reading goes on).
fn shutdown_write(fd: RawFd) -> io::Result<()> {
    // SAFETY: shutdown on a descriptor the caller holds open.
    if unsafe { libc::shutdown(fd, libc::SHUT_WR) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
