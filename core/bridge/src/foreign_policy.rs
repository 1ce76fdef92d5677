//! A policy written in the binding's language, as the library's policy
//! trait: whatever the foreign call does (an exception, an unusable
//! answer, a panic in the language layer) the library sees "keep it here"
//! and the log gets one error line. Nothing unwinds into the library's
//! threads.

use std::net::Ipv6Addr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use gecko::policy::{ClientInfo, GeckoPolicy};

/// Why a foreign policy call gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFailure {
    /// What happened, in a few words: `select_target raised`.
    pub what: String,
    /// The language's account of it (a traceback, a stack trace); may be
    /// empty.
    pub details: String,
}

impl PolicyFailure {
    /// A failure described by `what`, with `details`.
    pub fn new(what: impl Into<String>, details: impl Into<String>) -> PolicyFailure {
        PolicyFailure {
            what: what.into(),
            details: details.into(),
        }
    }
}

/// What a language layer implements for a policy object of its language.
/// Called from the library's threads, never from the language's own: an
/// implementation takes the language's lock (Python's GIL, a JNI attach)
/// itself.
pub trait ForeignPolicy: Send + Sync {
    /// The policy's name in logs (its class name).
    fn name(&self) -> &str;

    /// The node that should serve `client`'s connection, None to keep it.
    fn select_target(&self, client: &ClientInfo) -> Result<Option<Ipv6Addr>, PolicyFailure>;

    /// A handoff toward `target` failed.
    fn notify_failed_handoff(&self, target: Ipv6Addr) -> Result<(), PolicyFailure>;
}

/// `policy` as the library's policy.
pub fn adapt<P: ForeignPolicy + 'static>(policy: P) -> Arc<dyn GeckoPolicy> {
    Arc::new(Adapted(policy))
}

/// A [`ForeignPolicy`] seen by the library.
struct Adapted<P>(P);

impl<P: ForeignPolicy> Adapted<P> {
    /// Runs `call`; a failure or a panic is logged and becomes None.
    fn guarded<T>(
        &self,
        method: &str,
        call: impl FnOnce() -> Result<T, PolicyFailure>,
    ) -> Option<T> {
        // The policy's state may be half-updated after a panic; the library
        // only needs an answer, and the next call's is the policy's own.
        let failure = match catch_unwind(AssertUnwindSafe(call)) {
            Ok(Ok(v)) => return Some(v),
            Ok(Err(f)) => f,
            Err(panic) => PolicyFailure::new(
                format!("{method} panicked"),
                crate::error::panic_message(&*panic),
            ),
        };
        let details = failure.details.trim_end();
        let sep = if details.is_empty() { "" } else { "\n" };
        tracing::error!(
            "policy {}: {}; keeping the connection on this node{sep}{details}",
            self.0.name(),
            failure.what
        );
        None
    }
}

impl<P: ForeignPolicy> GeckoPolicy for Adapted<P> {
    fn select_target(&self, client: &ClientInfo) -> Option<Ipv6Addr> {
        self.guarded("select_target", || self.0.select_target(client))
            .flatten()
    }

    fn notify_failed_handoff(&self, target: Ipv6Addr) {
        self.guarded("notify_failed_handoff", || {
            self.0.notify_failed_handoff(target)
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// Answers with `answer`, counting the calls.
    struct Scripted {
        answer: fn() -> Result<Option<Ipv6Addr>, PolicyFailure>,
        notified: AtomicU32,
    }

    impl ForeignPolicy for Scripted {
        fn name(&self) -> &str {
            "Scripted"
        }

        fn select_target(&self, _: &ClientInfo) -> Result<Option<Ipv6Addr>, PolicyFailure> {
            (self.answer)()
        }

        fn notify_failed_handoff(&self, _: Ipv6Addr) -> Result<(), PolicyFailure> {
            self.notified.fetch_add(1, Ordering::Relaxed);
            (self.answer)().map(|_| ())
        }
    }

    fn client() -> ClientInfo {
        ClientInfo {
            address: "2001:db8:2::2".parse().unwrap(),
            port: 1,
            local: "2001:db8:1::2".parse().unwrap(),
            nodes: Vec::new(),
        }
    }

    fn run(answer: fn() -> Result<Option<Ipv6Addr>, PolicyFailure>) -> Option<Ipv6Addr> {
        let p = adapt(Scripted {
            answer,
            notified: AtomicU32::new(0),
        });
        p.notify_failed_handoff("2001:db8:1::3".parse().unwrap());
        p.select_target(&client())
    }

    #[test]
    fn an_answer_passes_through() {
        assert_eq!(
            run(|| Ok(Some("2001:db8:1::3".parse().unwrap()))),
            Some("2001:db8:1::3".parse().unwrap())
        );
        assert_eq!(run(|| Ok(None)), None);
    }

    #[test]
    fn a_failure_or_a_panic_keeps_the_connection_here() {
        assert_eq!(
            run(|| Err(PolicyFailure::new("select_target raised", "trace"))),
            None
        );
        // Neither call unwinds into the caller.
        assert_eq!(run(|| panic!("on purpose")), None);
        assert_eq!(run(|| std::panic::panic_any(42u8)), None);
    }

    /// What `f` logs, as text.
    fn logged(f: impl FnOnce()) -> String {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = buf.0.lock().unwrap().clone();
        String::from_utf8(text).unwrap()
    }

    #[test]
    fn each_failure_is_one_error_line_naming_the_policy() {
        let log = logged(|| {
            run(|| {
                Err(PolicyFailure::new(
                    "select_target raised",
                    "Traceback\nKeyError",
                ))
            });
        });
        assert!(log.contains("ERROR"), "{log}");
        assert!(log.contains(
            "policy Scripted: select_target raised; keeping the connection on this node\nTraceback\nKeyError"
        ), "{log}");
        // One line each for the failed notify_failed_handoff and select_target.
        assert_eq!(log.matches("ERROR").count(), 2, "{log}");
        let log = logged(|| {
            run(|| panic!("on purpose"));
        });
        assert!(log.contains(
            "policy Scripted: select_target panicked; keeping the connection on this node\non purpose"
        ), "{log}");
        assert!(
            log.contains("policy Scripted: notify_failed_handoff panicked"),
            "{log}"
        );
    }

    #[test]
    fn panic_messages_are_kept() {
        let p = catch_unwind(|| panic!("text {}", 1)).unwrap_err();
        assert_eq!(crate::error::panic_message(&*p), "text 1");
        let p = catch_unwind(|| panic!("plain")).unwrap_err();
        assert_eq!(crate::error::panic_message(&*p), "plain");
    }
}
