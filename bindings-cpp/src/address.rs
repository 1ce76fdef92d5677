//! IPv6 addresses between C++ (16 bytes) and Rust.

use std::net::Ipv6Addr;

use crate::error::{invalid, Failure};
use crate::ffi::Address;

/// An address from C++'s 16 bytes.
pub(crate) fn ipv6(octets: &[u8], what: &str) -> Result<Ipv6Addr, Failure> {
    <[u8; 16]>::try_from(octets)
        .map(Ipv6Addr::from)
        .map_err(|_| {
            invalid(format!(
                "{what}: an IPv6 address is 16 bytes, not {}",
                octets.len()
            ))
        })
}

/// An address for C++.
pub(crate) fn address(a: Ipv6Addr) -> Address {
    Address { octets: a.octets() }
}
