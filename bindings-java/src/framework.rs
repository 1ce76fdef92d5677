//! `dev.gecko.GeckoFramework`'s native half: the bridge's
//! [`FrameworkHandle`], and what every handle shares (free, the count of
//! live ones, logging).

use std::path::PathBuf;
use std::sync::Arc;

use gecko_bridge::FrameworkHandle;
use jni::objects::{JByteArray, JClass, JObject, JString};
use jni::sys::{jboolean, jbyteArray, jint, jlong};
use jni::JNIEnv;

use crate::net::{ipv6_of, java_ipv6, string_of};
use crate::registry::{self, Entry};
use crate::{guard, Failure};

/// `frameworkNew(local, config, iface)`: starts the node; its id.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_frameworkNew<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    local: JByteArray<'l>,
    config: JString<'l>,
    iface: JString<'l>,
) -> jlong {
    guard(&mut env, 0, |env| {
        let local = ipv6_of(env, &local, "local")?;
        let config = PathBuf::from(string_of(env, &config, "config")?);
        let iface = string_of(env, &iface, "networkInterface")?;
        let handle = FrameworkHandle::new(local, &config, &iface)?;
        Ok(registry::insert(Entry::Framework(Arc::new(handle))))
    })
}

/// `frameworkLocalAddress(fw)`: this node's address.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_frameworkLocalAddress<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    fw: jlong,
) -> jbyteArray {
    guard(&mut env, std::ptr::null_mut(), |env| {
        let a = registry::framework(fw)?.local_address()?;
        Ok(java_ipv6(env, a)?.into_raw())
    })
}

/// `frameworkGlobalAddress(fw)`: G.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_frameworkGlobalAddress<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    fw: jlong,
) -> jbyteArray {
    guard(&mut env, std::ptr::null_mut(), |env| {
        let a = registry::framework(fw)?.global_address()?;
        Ok(java_ipv6(env, a)?.into_raw())
    })
}

/// `frameworkServicePort(fw)`: the configuration's service port.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_frameworkServicePort<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    fw: jlong,
) -> jint {
    guard(&mut env, 0, |_| {
        Ok(jint::from(registry::framework(fw)?.service_port()?))
    })
}

/// `frameworkSetPolicy(fw, policy)`: the policy `policy` (an id of
/// `policyShipped` or `policyJava`) places connections from now on.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_frameworkSetPolicy<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    fw: jlong,
    policy: jlong,
) {
    guard(&mut env, (), |_| {
        let policy = registry::policy(policy)?;
        Ok(registry::framework(fw)?.set_policy(policy)?)
    })
}

/// `frameworkSetSplitHandoff(fw, split)`.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_frameworkSetSplitHandoff<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    fw: jlong,
    split: jboolean,
) {
    guard(&mut env, (), |_| {
        Ok(registry::framework(fw)?.set_split_handoff(split != 0)?)
    })
}

/// `frameworkServerSocket(fw, port)`: a server socket on `port` (-1: the
/// service port); its id.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_frameworkServerSocket<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    fw: jlong,
    port: jint,
) -> jlong {
    guard(&mut env, 0, |_| {
        let port = match port {
            -1 => None,
            p => Some(
                u16::try_from(p)
                    .map_err(|_| Failure::argument(format!("port out of range: {p}")))?,
            ),
        };
        let server = registry::framework(fw)?.server_socket(port)?;
        Ok(registry::insert(Entry::Server(Arc::new(server))))
    })
}

/// `frameworkJoin(fw)`: this node takes part in serving again.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_frameworkJoin<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    fw: jlong,
) {
    guard(&mut env, (), |_| {
        Ok(registry::framework(fw)?.join_replica_network()?)
    })
}

/// `frameworkLeave(fw)`: this node leaves the membership.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_frameworkLeave<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    fw: jlong,
) {
    guard(&mut env, (), |_| {
        Ok(registry::framework(fw)?.leave_replica_network()?)
    })
}

/// `frameworkClose(fw)`: stops the node and closes its server sockets
/// (again, or after free: nothing).
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_frameworkClose<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    fw: jlong,
) {
    guard(&mut env, (), |_| {
        if let Ok(f) = registry::framework(fw) {
            f.close();
        }
        Ok(())
    })
}

/// `free(id)`: forgets a native object (`close()` and the `Cleaner` call
/// it): a framework is let go (its server sockets stay open), a server
/// socket or connection closes once its calls in flight end. Again:
/// nothing.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_free<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    id: jlong,
) {
    guard(&mut env, (), |_| {
        drop(registry::remove(id));
        Ok(())
    })
}

/// `liveHandles()`: how many native objects are kept.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_liveHandles<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
) -> jlong {
    guard(&mut env, 0, |_| {
        Ok(jlong::try_from(registry::live()).unwrap_or(jlong::MAX))
    })
}

/// `initLogging(log, filter)`: Gecko's log lines go to `log` (a
/// `dev.gecko.Log`: Java's `System.Logger`), filtered by `filter` (null:
/// `RUST_LOG`, default `info`); the first call wins.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_initLogging<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    log: JObject<'l>,
    filter: JString<'l>,
) {
    guard(&mut env, (), |env| {
        if log.is_null() {
            return Err(Failure::null("log"));
        }
        let filter = if filter.is_null() {
            None
        } else {
            Some(string_of(env, &filter, "filter")?)
        };
        crate::logging::init(env, &log, filter.as_deref())
    })
}
