//! `dev.gecko.GeckoServerSocket`'s and `dev.gecko.GeckoSocket`'s native
//! halves: the bridge's [`gecko_bridge::ServerSocketHandle`] and
//! [`gecko_bridge::SocketHandle`], with Java's conventions (timeouts in
//! milliseconds, 0 for ever; -1 at the end of the stream; 0 when a
//! non-blocking call would wait; `Thread.interrupt()` ends an accept).

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use gecko_bridge::{BridgeError, ErrorKind, SocketHandle, Timeout, WaitError};
use jni::objects::{JByteArray, JByteBuffer, JClass};
use jni::sys::{jboolean, jbyteArray, jint, jlong, jlongArray, JNI_FALSE, JNI_TRUE};
use jni::JNIEnv;

use crate::net::{ipv6_of, java_sockaddr};
use crate::registry::{self, Entry};
use crate::{guard, Failure};

/// A Java timeout in milliseconds (0: for ever) and blocking mode.
fn timeout_of(millis: jint, blocking: bool) -> Result<Timeout, Failure> {
    if millis < 0 {
        return Err(Failure::argument("timeout can't be negative"));
    }
    Ok(match (blocking, millis) {
        (false, _) => Timeout::NonBlocking,
        (true, 0) => Timeout::Blocking,
        (true, ms) => Timeout::After(Duration::from_millis(ms.unsigned_abs().into())),
    })
}

/// True once the calling Java thread is interrupted (the flag stays set).
fn interrupted(env: &mut JNIEnv<'_>) -> Result<bool, jni::errors::Error> {
    env.with_local_frame(4, |env| {
        let thread = crate::thread::current_thread(env)?;
        env.call_method(&thread, "isInterrupted", "()Z", &[])?.z()
    })
}

/// `serverPort(s)`: the port served at G.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_serverPort<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    s: jlong,
) -> jint {
    guard(&mut env, 0, |_| Ok(jint::from(registry::server(s)?.port())))
}

/// `serverSetTimeout(s, millis)`: how long `accept` waits (0: for ever).
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_serverSetTimeout<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    s: jlong,
    millis: jint,
) {
    guard(&mut env, (), |_| {
        let timeout = timeout_of(millis, true)?;
        registry::server(s)?.set_timeout(timeout);
        Ok(())
    })
}

/// `serverAccept(s)`: the next connection's id. Ends with
/// `SocketTimeoutException` after the timeout, `InterruptedIOException`
/// once the thread is interrupted, `SocketException` once closed.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_serverAccept<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    s: jlong,
) -> jlong {
    guard(&mut env, 0, |env| {
        let server = registry::server(s)?;
        let between = || match interrupted(env) {
            Ok(false) => Ok(()),
            Ok(true) => Err(Failure::Throw(
                "java/io/InterruptedIOException",
                "accept interrupted".to_string(),
            )),
            Err(e) => Err(Failure::Jni(e)),
        };
        match server.accept(None, between) {
            Ok(socket) => Ok(registry::insert(Entry::Socket(Arc::new(socket)))),
            Err(WaitError::Failed(e)) if e.kind() == ErrorKind::Timeout => Err(Failure::Throw(
                "java/net/SocketTimeoutException",
                "Accept timed out".to_string(),
            )),
            Err(WaitError::Failed(e)) => Err(e.into()),
            Err(WaitError::Stopped(f)) => Err(f),
        }
    })
}

/// `serverClose(s)`: stops serving the port on this node (again: nothing).
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_serverClose<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    s: jlong,
) {
    guard(&mut env, (), |_| {
        if let Ok(server) = registry::server(s) {
            server.close();
        }
        Ok(())
    })
}

thread_local! {
    /// Each thread's buffer between a Java array and the socket.
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The most a call moves through [`BUFFER`].
const MAX_CHUNK: usize = 1 << 20;

/// `u8`s as JNI's `jbyte`s.
fn jbytes(b: &[u8]) -> &[i8] {
    // SAFETY: u8 and i8 have the same size and alignment and every bit
    // pattern is valid for both; the length is the same.
    unsafe { std::slice::from_raw_parts(b.as_ptr().cast::<i8>(), b.len()) }
}

/// `u8`s as JNI's `jbyte`s, writable.
fn jbytes_mut(b: &mut [u8]) -> &mut [i8] {
    // SAFETY: as in `jbytes`; the borrow is exclusive.
    unsafe { std::slice::from_raw_parts_mut(b.as_mut_ptr().cast::<i8>(), b.len()) }
}

/// Checks `off` and `len` against an array of `length`.
fn range(off: jint, len: jint, length: jint) -> Result<(usize, usize), Failure> {
    if off < 0 || len < 0 || off.checked_add(len).is_none_or(|end| end > length) {
        return Err(Failure::Throw(
            "java/lang/IndexOutOfBoundsException",
            format!("offset {off}, length {len}, array length {length}"),
        ));
    }
    Ok((off.unsigned_abs() as usize, len.unsigned_abs() as usize))
}

/// A read or write's count as Java wants it: a would-block of a
/// non-blocking socket is 0, the end of the stream -1.
fn count(r: Result<usize, BridgeError>, eof_is_minus_one: bool) -> Result<jint, Failure> {
    match r {
        Ok(0) if eof_is_minus_one => Ok(-1),
        Ok(n) => Ok(jint::try_from(n).unwrap_or(jint::MAX)),
        Err(e) if e.kind() == ErrorKind::Io && e.errno() == Some(EAGAIN) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// Linux's EAGAIN.
const EAGAIN: i32 = 11;

/// Runs `f` on the connection `s` and this thread's buffer, sized for
/// `len` bytes of the array `b` from `off` (at most [`MAX_CHUNK`]; 0
/// without a call when `len` is 0).
fn with_array<'l>(
    env: &mut JNIEnv<'l>,
    s: jlong,
    b: &JByteArray<'l>,
    off: jint,
    len: jint,
    f: impl FnOnce(&mut JNIEnv<'l>, &SocketHandle, &mut [u8]) -> Result<jint, Failure>,
) -> Result<jint, Failure> {
    if b.is_null() {
        return Err(Failure::null("buffer"));
    }
    let (_, len) = range(off, len, env.get_array_length(b)?)?;
    let socket = registry::socket(s)?;
    if len == 0 {
        return Ok(0);
    }
    BUFFER.with_borrow_mut(|buf| {
        buf.resize(len.min(MAX_CHUNK), 0);
        f(env, &socket, buf)
    })
}

/// `socketRead(s, b, off, len)`: up to `len` bytes into `b[off..]`; -1 at
/// the end of the stream, 0 when a non-blocking socket has none.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_socketRead<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    s: jlong,
    b: JByteArray<'l>,
    off: jint,
    len: jint,
) -> jint {
    guard(&mut env, 0, |env| {
        with_array(env, s, &b, off, len, |env, socket, buf| {
            let n = count(socket.read(buf), true)?;
            if n > 0 {
                let got = &buf[..n.unsigned_abs() as usize];
                env.set_byte_array_region(&b, off, jbytes(got))?;
            }
            Ok(n)
        })
    })
}

/// `socketWrite(s, b, off, len)`: writes some of `b[off..off+len]`; how
/// much (0 when a non-blocking socket would wait).
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_socketWrite<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    s: jlong,
    b: JByteArray<'l>,
    off: jint,
    len: jint,
) -> jint {
    guard(&mut env, 0, |env| {
        with_array(env, s, &b, off, len, |env, socket, buf| {
            env.get_byte_array_region(&b, off, jbytes_mut(buf))?;
            count(socket.write(buf), false)
        })
    })
}

/// Runs `f` on the connection `s` and the memory of a direct buffer from
/// `pos`, `len` long (0 without a call when `len` is 0).
fn with_direct(
    env: &JNIEnv<'_>,
    s: jlong,
    b: &JByteBuffer<'_>,
    pos: jint,
    len: jint,
    f: impl FnOnce(&SocketHandle, &mut [u8]) -> Result<jint, Failure>,
) -> Result<jint, Failure> {
    if b.is_null() {
        return Err(Failure::null("buffer"));
    }
    let ptr = env.get_direct_buffer_address(b)?;
    let capacity = env.get_direct_buffer_capacity(b)?;
    let (pos, len) = range(pos, len, jint::try_from(capacity).unwrap_or(jint::MAX))?;
    let socket = registry::socket(s)?;
    if len == 0 {
        return Ok(0);
    }
    // SAFETY: a direct buffer's memory is `capacity` bytes from `ptr` and
    // stays allocated while the buffer is reachable, which the JNI local
    // reference `b` ensures for the whole native call (and so for `f`);
    // `pos + len` was checked against the capacity. Java may touch the
    // same bytes from another thread meanwhile, as with any direct buffer
    // given to I/O.
    let mem = unsafe { std::slice::from_raw_parts_mut(ptr.add(pos), len) };
    f(&socket, mem)
}

/// `socketReadDirect(s, b, pos, len)`: as `socketRead`, into a direct
/// buffer's memory without a copy.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_socketReadDirect<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    s: jlong,
    b: JByteBuffer<'l>,
    pos: jint,
    len: jint,
) -> jint {
    guard(&mut env, 0, |env| {
        with_direct(env, s, &b, pos, len, |socket, mem| {
            count(socket.read(mem), true)
        })
    })
}

/// `socketWriteDirect(s, b, pos, len)`: as `socketWrite`, from a direct
/// buffer's memory without a copy.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_socketWriteDirect<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    s: jlong,
    b: JByteBuffer<'l>,
    pos: jint,
    len: jint,
) -> jint {
    guard(&mut env, 0, |env| {
        with_direct(env, s, &b, pos, len, |socket, mem| {
            count(socket.write(mem), false)
        })
    })
}

/// `socketSetTimeout(s, millis, blocking)`: how long reads
/// wait (0: for ever; not blocking: never); blocking writes wait for ever.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_socketSetTimeout<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    s: jlong,
    millis: jint,
    blocking: jboolean,
) {
    guard(&mut env, (), |_| {
        let timeout = timeout_of(millis, blocking != 0)?;
        Ok(registry::socket(s)?.set_read_timeout(timeout)?)
    })
}

/// `socketHandoff(s, target, nonblocking)`: hands the connection to
/// `target` (null: the policy's choice); true once served there.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_socketHandoff<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    s: jlong,
    target: JByteArray<'l>,
    nonblocking: jboolean,
) -> jboolean {
    guard(&mut env, JNI_FALSE, |env| {
        let target = if target.is_null() {
            None
        } else {
            Some(ipv6_of(env, &target, "target")?)
        };
        let socket = registry::socket(s)?;
        let moved = socket.handoff(target, nonblocking != 0)?;
        Ok(if moved { JNI_TRUE } else { JNI_FALSE })
    })
}

/// Offsets as a Java `long[2]`: sent, received.
fn offsets(env: &JNIEnv<'_>, o: gecko_bridge::StreamOffsets) -> Result<jlongArray, Failure> {
    let arr = env.new_long_array(2)?;
    let v = [o.sent, o.received].map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    env.set_long_array_region(&arr, 0, &v)?;
    Ok(arr.into_raw())
}

/// `socketPosition(s)`: bytes sent (and acknowledged) and received since
/// the connection opened.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_socketPosition<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    s: jlong,
) -> jlongArray {
    guard(&mut env, std::ptr::null_mut(), |env| {
        let p = registry::socket(s)?.position()?;
        offsets(env, p)
    })
}

/// `socketRecovered(s)`: where a recovered connection resumes, or null.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_socketRecovered<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    s: jlong,
) -> jlongArray {
    guard(
        &mut env,
        std::ptr::null_mut(),
        |env| match registry::socket(s)?.recovered() {
            Some(o) => offsets(env, o),
            None => Ok(std::ptr::null_mut()),
        },
    )
}

/// `socketHandedIn(s)`: true when the connection came by a handoff.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_socketHandedIn<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    s: jlong,
) -> jboolean {
    guard(&mut env, JNI_FALSE, |_| {
        Ok(jboolean::from(registry::socket(s)?.handed_in()))
    })
}

/// `socketMoved(s)`: true once another node serves the connection.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_socketMoved<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    s: jlong,
) -> jboolean {
    guard(&mut env, JNI_FALSE, |_| {
        Ok(jboolean::from(registry::socket(s)?.is_moved()?))
    })
}

/// `socketPeer(s)`: the client's address and port (`byte[18]`).
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_socketPeer<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    s: jlong,
) -> jbyteArray {
    guard(&mut env, std::ptr::null_mut(), |env| {
        let a = registry::socket(s)?.peer_addr()?;
        Ok(java_sockaddr(env, a)?.into_raw())
    })
}

/// `socketLocal(s)`: G and the port (`byte[18]`).
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_socketLocal<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    s: jlong,
) -> jbyteArray {
    guard(&mut env, std::ptr::null_mut(), |env| {
        let a = registry::socket(s)?.local_addr()?;
        Ok(java_sockaddr(env, a)?.into_raw())
    })
}

/// `socketClose(s)`: closes the connection once the calls in flight end
/// (again: nothing).
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_socketClose<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    s: jlong,
) {
    guard(&mut env, (), |_| {
        if let Ok(socket) = registry::socket(s) {
            socket.close();
        }
        Ok(())
    })
}

/// `socketReset(s)`: closes the connection with a reset.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_socketReset<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    s: jlong,
) {
    guard(&mut env, (), |_| Ok(registry::socket(s)?.reset()?))
}
