//! What every language binding of Gecko shares (libsignal's
//! `rust/bridge/shared` is the model): each binding converts types and
//! errors and presents its language's idiom; everything else is here, once.
//! Plain Rust, no language's crate: Python (pyo3), Java (jni) and C++ (cxx)
//! layers build on the same items.
//!
//! - [`handle`]: closable handles of the framework, a server socket and a
//!   socket, each owning what must outlive it;
//! - [`error`]: one error kind with errno, for each language to map once;
//! - [`policy`]: the shipped policies by name;
//! - [`foreign_policy`]: a policy written in the binding's language, whose
//!   failures and panics keep the connection where it is;
//! - [`timeout`]: how long reads, writes and accepts wait;
//! - [`logging`]: log set-up without `set_var`.

pub mod error;
pub mod foreign_policy;
pub mod handle;
pub mod logging;
pub mod policy;
pub mod timeout;

pub use gecko::dataplane::FlowKey;
/// The library's plain types a language layer converts (a policy's view
/// of a connection and the nodes, the policy trait, stream offsets): a
/// binding depends on this crate alone.
pub use gecko::policy::{ClientInfo, GeckoPolicy, NodeView};
pub use gecko::tcp::stream_offsets::StreamOffsets;

pub use error::{BridgeError, ErrorKind};
pub use handle::{FrameworkHandle, LowLevelNodeHandle, ServerSocketHandle, SocketHandle};
pub use policy::ShippedPolicy;
pub use timeout::{Timeout, WaitError};
