//! How many objects C++ holds, for leak tests: each counts itself from
//! its making to its drop.

use std::sync::atomic::{AtomicUsize, Ordering};

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Counts one live object from its making to its drop.
#[derive(Debug)]
pub(crate) struct Counted;

impl Counted {
    pub(crate) fn new() -> Counted {
        LIVE.fetch_add(1, Ordering::Relaxed);
        Counted
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How many objects C++ holds: frameworks, server sockets, sockets and
/// policies. For leak tests.
pub fn live_handles() -> usize {
    LIVE.load(Ordering::Relaxed)
}
