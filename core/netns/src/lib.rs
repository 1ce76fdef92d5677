//! Network namespaces for Gecko's root-only tests, benchmarks and labs.
//!
//! Everything here works inside named namespaces (`ip netns` compatible)
//! and never touches the machine's own: a veth pair is created with its
//! peer straight inside the other namespace. [`root_test`] is the one rule
//! every root-only test follows: it runs as root, and without root it
//! either fails with a clear message (where `GECKO_ROOT_TESTS=required`,
//! as `test.sh` sets) or says on stderr that it did not run.

pub mod links;
pub mod netns;
pub mod ns_runtime;

pub use ns_runtime::NsRuntime;

/// Why a namespace or link operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NsError {
    /// A system call or file operation failed.
    #[error("{context}: {error}")]
    Io {
        /// What was being done.
        context: String,
        /// What the OS said (in the message, so not also a `source`).
        error: std::io::Error,
    },
    /// The kernel refused a netlink request.
    #[error("{context}: {error}")]
    Netlink {
        /// What was being done.
        context: String,
        /// What netlink said.
        error: rtnetlink::Error,
    },
}

impl NsError {
    pub(crate) fn io(context: impl Into<String>, error: std::io::Error) -> Self {
        NsError::Io {
            context: context.into(),
            error,
        }
    }

    pub(crate) fn netlink(context: impl Into<String>, error: rtnetlink::Error) -> Self {
        NsError::Netlink {
            context: context.into(),
            error,
        }
    }
}

/// The variable that makes a root-only test fail, rather than report that
/// it did not run, when it is not run as root.
pub const REQUIRED: &str = "GECKO_ROOT_TESTS";

/// Whether the root-only test `name` runs: true as root. Without root it
/// panics naming the test when `GECKO_ROOT_TESTS=required`, and otherwise
/// prints `NOT RUN: <name> needs root (network namespaces)` and returns
/// false, so the caller returns at once.
pub fn root_test(name: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let why = format!("{name} needs root (network namespaces)");
    if std::env::var(REQUIRED).as_deref() == Ok("required") {
        panic!("{why}, and {REQUIRED}=required: run the tests as root");
    }
    eprintln!("NOT RUN: {why}");
    false
}

/// Whether the process runs as root (namespaces need CAP_SYS_ADMIN and
/// CAP_NET_ADMIN).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}
