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
mod low_level_node;
mod server_socket;
mod socket;

use std::sync::{Arc, Mutex, PoisonError, Weak};

pub use framework::FrameworkHandle;
pub use low_level_node::LowLevelNodeHandle;
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

/// What an owner closes with it.
trait Dependent {
    /// Closes it (idempotent).
    fn close(&self);
}

/// A closable value and the handles made from it, closed with it. They are
/// kept weakly: one the binding dropped is forgotten. One lock orders a
/// new dependent before or after the owner's close, never across it.
struct Owner<T, D> {
    value: Closable<T>,
    dependents: Mutex<Vec<Weak<D>>>,
}

impl<T: Clone, D: Dependent> Owner<T, D> {
    fn new(value: T) -> Self {
        Owner {
            value: Closable::new(value),
            dependents: Mutex::new(Vec::new()),
        }
    }

    fn get(&self) -> Option<T> {
        self.value.get()
    }

    fn is_closed(&self) -> bool {
        self.value.is_closed()
    }

    /// Makes a dependent from the value and keeps it; `closed` is the
    /// error once the owner is closed.
    fn make<R, E>(
        &self,
        closed: impl FnOnce() -> E,
        make: impl FnOnce(T) -> Result<(R, Arc<D>), E>,
    ) -> Result<R, E> {
        let mut dependents = self
            .dependents
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let value = self.value.get().ok_or_else(closed)?;
        let (made, dependent) = make(value)?;
        dependents.retain(|w| w.strong_count() > 0);
        dependents.push(Arc::downgrade(&dependent));
        Ok(made)
    }

    /// Takes the value out (the caller drops it) and closes the dependents
    /// if `close_dependents`, else forgets them.
    fn take(&self, close_dependents: bool) -> Option<T> {
        let (value, dependents) = {
            let mut dependents = self
                .dependents
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            (self.value.take(), std::mem::take(&mut *dependents))
        };
        if close_dependents {
            // Outside the lock: closing may wait for calls in flight.
            for d in dependents.iter().filter_map(Weak::upgrade) {
                d.close();
            }
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::{Closable, Dependent, Owner};

    #[derive(Debug, Default)]
    struct Child(AtomicBool);

    impl Dependent for Child {
        fn close(&self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    fn child(owner: &Owner<u8, Child>) -> Result<Arc<Child>, &'static str> {
        owner.make(
            || "closed",
            |_| {
                let c = Arc::new(Child::default());
                Ok((c.clone(), c))
            },
        )
    }

    #[test]
    fn an_owner_closes_its_dependents_and_then_makes_none() {
        let owner = Owner::new(1u8);
        let (a, b) = (child(&owner).unwrap(), child(&owner).unwrap());
        drop(child(&owner).unwrap()); // dropped by the binding: forgotten
        assert_eq!(owner.take(true), Some(1));
        assert!(a.0.load(Ordering::Relaxed) && b.0.load(Ordering::Relaxed));
        assert!(owner.is_closed() && owner.get().is_none());
        assert_eq!(child(&owner).unwrap_err(), "closed");
        assert_eq!(owner.take(true), None);
    }

    #[test]
    fn an_owner_let_go_leaves_its_dependents_open() {
        let owner = Owner::new(1u8);
        let a = child(&owner).unwrap();
        assert_eq!(owner.take(false), Some(1));
        assert!(!a.0.load(Ordering::Relaxed));
        assert!(owner.is_closed());
    }

    #[test]
    fn a_failed_make_keeps_nothing() {
        let owner: Owner<u8, Child> = Owner::new(1);
        let r: Result<(), _> = owner.make(|| "closed", |_| Err("refused"));
        assert_eq!(r.unwrap_err(), "refused");
        assert!(owner.dependents.lock().unwrap().is_empty());
    }

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
