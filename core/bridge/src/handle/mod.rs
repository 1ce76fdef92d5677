//! Closable handles of the framework, a server socket and a socket: what a
//! binding's objects hold. Each is `Send + Sync`, closes idempotently,
//! reports use after close as a typed [`ErrorKind::Closed`] (never a
//! panic) and owns what must outlive it: a framework closes its server
//! sockets with it, and a server socket or a socket keeps the framework's
//! runtime alive until closed.
//!
//! Dropping a framework stops its runtime, whose threads may wait for a
//! foreign policy (which may wait for the language's lock, Python's GIL):
//! bindings call `close` and drop handles with that lock released.
//!
//! [`ErrorKind::Closed`]: crate::error::ErrorKind::Closed

mod framework;
mod server_socket;
mod socket;

use std::sync::{Mutex, PoisonError};

pub use framework::FrameworkHandle;
pub use server_socket::{ServerSocketHandle, ACCEPT_SLICE};
pub use socket::SocketHandle;

/// A value until closed: the one state machine of every handle.
#[derive(Debug)]
struct Closable<T> {
    slot: Mutex<Option<T>>,
}

impl<T: Clone> Closable<T> {
    fn new(value: T) -> Self {
        Closable {
            slot: Mutex::new(Some(value)),
        }
    }

    /// The value, or None once closed.
    fn get(&self) -> Option<T> {
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Takes the value out (None if closed already); the caller drops it.
    fn take(&self) -> Option<T> {
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn is_closed(&self) -> bool {
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::Closable;

    #[test]
    fn a_closable_gives_its_value_until_taken_once() {
        let c = Closable::new(7);
        assert_eq!(c.get(), Some(7));
        assert!(!c.is_closed());
        assert_eq!(c.take(), Some(7));
        assert_eq!(c.take(), None);
        assert_eq!(c.get(), None);
        assert!(c.is_closed());
    }
}
