//! The native objects Java holds, by id: a Java object keeps a `long` id,
//! never a pointer. A call looks its id up (and holds the handle while it
//! runs); `close()` and the `Cleaner` remove it, so a later call finds
//! nothing and throws, and memory is freed once the calls in flight end.
//! Ids are never reused.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

use gecko_bridge::{BridgeError, FrameworkHandle, GeckoPolicy, ServerSocketHandle, SocketHandle};

/// One native object.
#[derive(Clone)]
pub(crate) enum Entry {
    /// A framework.
    Framework(Arc<FrameworkHandle>),
    /// A server socket.
    Server(Arc<ServerSocketHandle>),
    /// A connection.
    Socket(Arc<SocketHandle>),
    /// A policy as the core calls it (a shipped one, or a Java one adapted).
    Policy(Arc<dyn GeckoPolicy>),
}

static NEXT: AtomicI64 = AtomicI64::new(1);
static LIVE: LazyLock<RwLock<HashMap<i64, Entry>>> = LazyLock::new(Default::default);

/// Keeps `entry`; its new id.
pub(crate) fn insert(entry: Entry) -> i64 {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    LIVE.write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id, entry);
    id
}

/// The entry of `id`, if it is still kept.
fn get(id: i64) -> Option<Entry> {
    LIVE.read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&id)
        .cloned()
}

/// Forgets `id` (again: nothing); the entry is dropped once the calls in
/// flight end.
pub(crate) fn remove(id: i64) -> Option<Entry> {
    LIVE.write()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&id)
}

/// How many native objects are kept.
pub(crate) fn live() -> usize {
    LIVE.read().unwrap_or_else(PoisonError::into_inner).len()
}

/// The framework `id`, or the error of a closed one.
pub(crate) fn framework(id: i64) -> Result<Arc<FrameworkHandle>, BridgeError> {
    match get(id) {
        Some(Entry::Framework(f)) => Ok(f),
        _ => Err(BridgeError::closed_framework()),
    }
}

/// The server socket `id`, or the error of a closed one.
pub(crate) fn server(id: i64) -> Result<Arc<ServerSocketHandle>, BridgeError> {
    match get(id) {
        Some(Entry::Server(s)) => Ok(s),
        _ => Err(BridgeError::closed_socket()),
    }
}

/// The connection `id`, or the error of a closed one.
pub(crate) fn socket(id: i64) -> Result<Arc<SocketHandle>, BridgeError> {
    match get(id) {
        Some(Entry::Socket(s)) => Ok(s),
        _ => Err(BridgeError::closed_socket()),
    }
}

/// The policy `id`.
pub(crate) fn policy(id: i64) -> Result<Arc<dyn GeckoPolicy>, crate::Failure> {
    match get(id) {
        Some(Entry::Policy(p)) => Ok(p),
        _ => Err(crate::Failure::Throw(
            "java/lang/IllegalStateException",
            "the policy's native half is freed".to_string(),
        )),
    }
}
