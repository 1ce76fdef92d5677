//! What every language binding of Gecko shares (libsignal's
//! `rust/bridge/shared` is the model): each binding converts types and
//! errors and presents its language's idiom; everything else is here, once.

pub mod logging;
