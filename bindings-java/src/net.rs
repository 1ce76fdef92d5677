//! Arguments between Java and Rust: a string, and addresses (an IPv6
//! address is its 16 bytes, `Inet6Address.getAddress()`; a socket address
//! those and the port).

use std::net::{Ipv6Addr, SocketAddr};

use jni::objects::{JByteArray, JString};
use jni::JNIEnv;

use crate::Failure;

/// The address in a Java `byte[16]` (null: `what` is null).
pub(crate) fn ipv6_of(
    env: &JNIEnv<'_>,
    bytes: &JByteArray<'_>,
    what: &str,
) -> Result<Ipv6Addr, Failure> {
    if bytes.is_null() {
        return Err(Failure::null(what));
    }
    let v = env.convert_byte_array(bytes)?;
    let octets: [u8; 16] = v
        .try_into()
        .map_err(|_| Failure::argument(format!("{what} is not an IPv6 address")))?;
    Ok(Ipv6Addr::from(octets))
}

/// The address as a new Java `byte[16]`.
pub(crate) fn java_ipv6<'l>(env: &JNIEnv<'l>, addr: Ipv6Addr) -> Result<JByteArray<'l>, Failure> {
    Ok(env.byte_array_from_slice(&addr.octets())?)
}

/// A socket address as a Java `byte[18]`: the IPv6 address (an IPv4 one
/// mapped) and the port, big-endian.
pub(crate) fn java_sockaddr<'l>(
    env: &JNIEnv<'l>,
    addr: SocketAddr,
) -> Result<JByteArray<'l>, Failure> {
    let ip = match addr {
        SocketAddr::V6(a) => *a.ip(),
        SocketAddr::V4(a) => a.ip().to_ipv6_mapped(),
    };
    let mut out = [0u8; 18];
    out[..16].copy_from_slice(&ip.octets());
    out[16..].copy_from_slice(&addr.port().to_be_bytes());
    Ok(env.byte_array_from_slice(&out)?)
}

/// A Java string argument (null: `what` is null).
pub(crate) fn string_of(
    env: &mut JNIEnv<'_>,
    s: &JString<'_>,
    what: &str,
) -> Result<String, Failure> {
    if s.is_null() {
        return Err(Failure::null(what));
    }
    Ok(env.get_string(s)?.into())
}
