//! The Java binding of Gecko: the native half of the JAR's `dev.gecko`
//! package (`dev.gecko.Native` declares every entry point). A thin layer
//! over `gecko-bridge`: it converts types, errors and callbacks, nothing
//! more.
//!
//! - Every entry point runs inside [`guard`]: an error becomes a Java
//!   exception (mapped once, in [`errors::throw`]) and a panic never
//!   crosses into the JVM.
//! - Java objects hold an id, never a pointer: [`registry`] maps ids to the
//!   bridge's handles, so a call on a closed or freed handle finds nothing
//!   and throws; it cannot touch freed memory.
//! - The core's log events go to Java's `System.Logger` ([`logging`]).
//! - A Java policy is the bridge's `ForeignPolicy` ([`policy`]), called
//!   from the core's threads, attached to the JVM once as daemon threads.

mod client_info;
mod errors;
mod framework;
mod logging;
mod net;
mod policy;
mod registry;
mod socket;
mod thread;

use std::panic::{catch_unwind, AssertUnwindSafe};

use jni::JNIEnv;

pub(crate) use errors::Failure;

/// Runs a native entry point's body: its error is thrown as the Java
/// exception it maps to, a panic as an `IllegalStateException`; either
/// way Java gets `fallback`, which it never sees (the exception is
/// pending).
pub(crate) fn guard<'l, T>(
    env: &mut JNIEnv<'l>,
    fallback: T,
    body: impl FnOnce(&mut JNIEnv<'l>) -> Result<T, Failure>,
) -> T {
    // The body's state is dropped whole after a panic; nothing of it is
    // used again.
    let failure = match catch_unwind(AssertUnwindSafe(|| body(env))) {
        Ok(Ok(v)) => return v,
        Ok(Err(f)) => f,
        Err(panic) => Failure::Throw(
            "java/lang/IllegalStateException",
            format!(
                "internal error in Gecko's native library: {}",
                gecko_bridge::error::panic_message(&*panic)
            ),
        ),
    };
    errors::throw(env, failure);
    fallback
}
