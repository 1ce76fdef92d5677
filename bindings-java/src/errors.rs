//! Java's view of the bridge's errors, mapped in one function
//! ([`java_class`]): `dev.gecko.GeckoException` and its subclasses for
//! Gecko's own failures, the `java.net`/`java.io` exceptions a Java
//! programmer already catches for the operating system's, and
//! `IllegalArgumentException`/`IllegalStateException` for misuse.

use gecko_bridge::{BridgeError, ErrorKind};
use jni::JNIEnv;

/// Why a native call failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The bridge's error.
    Bridge(BridgeError),
    /// A Java exception class (JNI name) and its message.
    Throw(&'static str, String),
    /// A JNI call failed (a Java exception may be pending already).
    Jni(jni::errors::Error),
}

impl From<BridgeError> for Failure {
    fn from(e: BridgeError) -> Self {
        Failure::Bridge(e)
    }
}

impl From<jni::errors::Error> for Failure {
    fn from(e: jni::errors::Error) -> Self {
        Failure::Jni(e)
    }
}

impl Failure {
    /// `IllegalArgumentException(message)`.
    pub(crate) fn argument(message: impl Into<String>) -> Failure {
        Failure::Throw("java/lang/IllegalArgumentException", message.into())
    }

    /// `NullPointerException(what)`.
    pub(crate) fn null(what: &str) -> Failure {
        Failure::Throw("java/lang/NullPointerException", format!("{what} is null"))
    }
}

/// The Java exception class (JNI name) of a bridge error: the binding's
/// one mapping.
pub(crate) fn java_class(e: &BridgeError) -> &'static str {
    match e.kind() {
        ErrorKind::Config => "dev/gecko/ConfigException",
        ErrorKind::Node => "dev/gecko/NodeException",
        ErrorKind::Handoff | ErrorKind::Busy => "dev/gecko/HandoffException",
        ErrorKind::Moved => "dev/gecko/MovedException",
        ErrorKind::PortInUse => "dev/gecko/PortInUseException",
        // A socket used after close, as java.net.Socket reports it; a
        // closed framework is misuse.
        ErrorKind::Closed if e.errno().is_some() => "java/net/SocketException",
        ErrorKind::Closed => "java/lang/IllegalStateException",
        ErrorKind::Timeout => "java/net/SocketTimeoutException",
        ErrorKind::Interrupted => "java/io/InterruptedIOException",
        ErrorKind::InvalidArgument => "java/lang/IllegalArgumentException",
        ErrorKind::Usage => "java/lang/IllegalStateException",
        ErrorKind::Io => match e.errno() {
            Some(ETIMEDOUT) => "java/net/SocketTimeoutException",
            Some(ECONNREFUSED) => "java/net/ConnectException",
            _ => "java/net/SocketException",
        },
        // ErrorKind::Other and kinds the bridge adds later.
        _ => "dev/gecko/GeckoException",
    }
}

/// Linux's errno values this mapping names (the bridge gives raw numbers).
const ETIMEDOUT: i32 = 110;
const ECONNREFUSED: i32 = 111;

/// The message Java shows: the library's (a closed socket's as
/// `java.net.Socket` words it).
fn message_of(e: &BridgeError) -> String {
    match (e.kind(), e.errno()) {
        (ErrorKind::Closed, Some(_)) => "Socket is closed".to_string(),
        _ => e.message().to_string(),
    }
}

/// Makes `failure` the pending Java exception (unless one is pending
/// already: the first cause wins).
pub(crate) fn throw(env: &mut JNIEnv<'_>, failure: Failure) {
    if env.exception_check().unwrap_or(true) {
        return;
    }
    let (class, message) = match failure {
        Failure::Bridge(e) => (java_class(&e), message_of(&e)),
        Failure::Throw(class, message) => (class, message),
        Failure::Jni(jni::errors::Error::JavaException) => return,
        Failure::Jni(jni::errors::Error::NullPtr(what)) => {
            ("java/lang/NullPointerException", format!("{what} is null"))
        }
        Failure::Jni(jni::errors::Error::NullDeref(what)) => {
            ("java/lang/NullPointerException", format!("{what} is null"))
        }
        Failure::Jni(e) => (
            "java/lang/IllegalStateException",
            format!("JNI call failed: {e}"),
        ),
    };
    // If even this fails the JVM is out of memory: an error is pending.
    let _ = env.throw_new(class, message);
}
