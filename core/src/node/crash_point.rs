//! Named moments at which a node crashes on purpose, for the tests of
//! what its backup recovers: `GECKO_CRASH_AT=<point>` in a node's
//! environment SIGKILLs its own process the first time it gets there.
//! Points: `before-offer`, `after-offer` (a donor), `before-outcome`,
//! `before-mirror`, `unmirrored-before-outcome` (an acceptor). One more, `lost-outcome`, is no crash:
//! an acceptor drops its first outcome, as loss would, and lives on.
//! A kill from outside cannot hit a handoff's few milliseconds reliably;
//! this one is still a real crash (nothing runs after it). Unarmed, a
//! point costs one load of a static. Points are armed only in builds with
//! the cargo feature `fault-injection` (the lab and the examples' servers);
//! elsewhere `GECKO_CRASH_AT` is refused with an error line.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// The environment variable naming the point.
pub const CRASH_AT: &str = "GECKO_CRASH_AT";

/// Where a node can be made to crash in a handoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// The flow is locked and frozen, and a packet the lock caught went
    /// on to the acceptor, but the offer never leaves.
    BeforeOffer,
    /// The offer left; the outcome never arrives.
    AfterOffer,
    /// At the acceptor: the connection is served here (for 200 ms), but
    /// the outcome never leaves.
    BeforeOutcome,
    /// At the acceptor: the outcome left, but the connection's record
    /// never reaches the backup (as a mirror still in flight dies with its
    /// node: the kernel resets the peer stream).
    BeforeMirror,
    /// At the acceptor: as `BeforeOutcome`, and the connection's own record
    /// never left either (both in flight under loss, reset with the node).
    UnmirroredBeforeOutcome,
    /// At the acceptor, and no crash: the first outcome is dropped (as if
    /// lost on the way); the node lives on, serving the connection.
    LostOutcome,
}

/// Every point.
const ALL: [CrashPoint; 6] = [
    CrashPoint::BeforeOffer,
    CrashPoint::AfterOffer,
    CrashPoint::BeforeOutcome,
    CrashPoint::BeforeMirror,
    CrashPoint::UnmirroredBeforeOutcome,
    CrashPoint::LostOutcome,
];

impl CrashPoint {
    /// The name `GECKO_CRASH_AT` gives it.
    pub fn name(self) -> &'static str {
        match self {
            CrashPoint::BeforeOffer => "before-offer",
            CrashPoint::AfterOffer => "after-offer",
            CrashPoint::BeforeOutcome => "before-outcome",
            CrashPoint::BeforeMirror => "before-mirror",
            CrashPoint::UnmirroredBeforeOutcome => "unmirrored-before-outcome",
            CrashPoint::LostOutcome => "lost-outcome",
        }
    }

    fn parse(name: &str) -> Option<CrashPoint> {
        ALL.into_iter().find(|p| p.name() == name)
    }
}

/// The point this process crashes at, if any (read once).
fn armed() -> Option<CrashPoint> {
    static ARMED: OnceLock<Option<CrashPoint>> = OnceLock::new();
    *ARMED.get_or_init(|| {
        let name = std::env::var(CRASH_AT).ok()?;
        if !cfg!(feature = "fault-injection") {
            tracing::error!(%name, "{CRASH_AT} ignored: built without the fault-injection feature");
            return None;
        }
        let point = CrashPoint::parse(&name);
        match point {
            Some(p) => tracing::warn!(point = p.name(), "this node will crash on purpose"),
            None => tracing::error!(%name, "unknown {CRASH_AT} point: ignored"),
        }
        point
    })
}

/// Whether this process is to crash at `point`.
pub(crate) fn is_armed(point: CrashPoint) -> bool {
    armed() == Some(point)
}

/// Whether `point` is the armed one and this is the first time it is
/// reached (a fault that happens once, without a crash).
pub(crate) fn first_time(point: CrashPoint) -> bool {
    static FIRED: AtomicBool = AtomicBool::new(false);
    is_armed(point) && !FIRED.swap(true, Ordering::SeqCst)
}

/// Crashes the process if `point` is the armed one, once `ready` holds
/// (1 s at most, polled): what must be under way before the crash (a
/// packet the lock caught, sent on to a peer) gets out.
pub(crate) async fn reached(point: CrashPoint, ready: impl Fn() -> bool) {
    if armed() != Some(point) {
        return;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while !ready() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // What was sent last leaves the socket buffers.
    tokio::time::sleep(Duration::from_millis(20)).await;
    tracing::error!(point = point.name(), "crashing on purpose");
    let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_arm_nothing() {
        for p in ALL {
            assert_eq!(CrashPoint::parse(p.name()), Some(p));
        }
        assert_eq!(CrashPoint::parse("before_offer"), None);
        assert_eq!(CrashPoint::parse(""), None);
    }
}
