//! `dev.gecko.GeckoPolicy`'s native half: the shipped policies (the
//! bridge's [`ShippedPolicy`], deciding in Rust), and a Java policy as the
//! bridge's [`ForeignPolicy`], called from the core's threads.
//!
//! A Java policy is called through its own object only (`GetObjectClass`,
//! never `FindClass`): `GeckoPolicy.selectForNative` builds the
//! `ClientInfo` in Java, so the classes are those of the policy's own
//! class loader, whatever loaded it.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use gecko_bridge::foreign_policy::{self, ForeignPolicy, PolicyFailure};
use gecko_bridge::{ClientInfo, NodeView, ShippedPolicy};
use jni::objects::{
    GlobalRef, JBooleanArray, JByteArray, JClass, JIntArray, JLongArray, JObject, JString, JValue,
};
use jni::sys::{jbyteArray, jint, jlong, jstring};
use jni::{JNIEnv, JavaVM};

use crate::net::{ipv6_of, java_ipv6, string_of};
use crate::registry::{self, Entry};
use crate::thread::attach;
use crate::{guard, Failure};

/// `selectForNative`'s JNI signature: client address, port, local
/// address, the nodes' addresses (16 bytes each), connections, RTTs in
/// nanoseconds (-1: none), availability; the chosen address or null.
const SELECT_SIG: &str = "([BI[B[B[I[J[Z)[B";

/// `policyShipped(name)`: a new shipped policy's id; an unknown name is an
/// `IllegalArgumentException` listing the known ones.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_policyShipped<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    name: JString<'l>,
) -> jlong {
    guard(&mut env, 0, |env| {
        let name = string_of(env, &name, "name")?;
        let policy = gecko_bridge::policy::shipped(&name)?;
        Ok(registry::insert(Entry::Policy(policy.build())))
    })
}

/// `policyNames()`: the shipped policies' names, one a line.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_policyNames<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
) -> jstring {
    guard(&mut env, std::ptr::null_mut(), |env| {
        let names = ShippedPolicy::names().join("\n");
        Ok(env.new_string(names)?.into_raw())
    })
}

/// The client a policy is asked about, from its Java arrays.
struct ClientArrays<'l> {
    address: JByteArray<'l>,
    port: jint,
    local: JByteArray<'l>,
    nodes: JByteArray<'l>,
    connections: JIntArray<'l>,
    rtts: JLongArray<'l>,
    available: JBooleanArray<'l>,
}

impl<'l> ClientArrays<'l> {
    /// The Java arrays of `client`.
    fn of(env: &mut JNIEnv<'l>, client: &ClientInfo) -> Result<Self, jni::errors::Error> {
        let n = client.nodes.len();
        let len = jint::try_from(n).unwrap_or(jint::MAX);
        let addresses: Vec<u8> = client
            .nodes
            .iter()
            .flat_map(|v| v.address.octets())
            .collect();
        let conns: Vec<i32> = client
            .nodes
            .iter()
            .map(|v| i32::try_from(v.connections).unwrap_or(i32::MAX))
            .collect();
        let rtts: Vec<i64> = client
            .nodes
            .iter()
            .map(|v| {
                v.rtt
                    .map_or(-1, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            })
            .collect();
        let avail: Vec<u8> = client.nodes.iter().map(|v| u8::from(v.available)).collect();
        let connections = env.new_int_array(len)?;
        env.set_int_array_region(&connections, 0, &conns)?;
        let rtt_array = env.new_long_array(len)?;
        env.set_long_array_region(&rtt_array, 0, &rtts)?;
        let available = env.new_boolean_array(len)?;
        env.set_boolean_array_region(&available, 0, &avail)?;
        Ok(ClientArrays {
            address: env.byte_array_from_slice(&client.address.octets())?,
            port: jint::from(client.port),
            local: env.byte_array_from_slice(&client.local.octets())?,
            nodes: env.byte_array_from_slice(&addresses)?,
            connections,
            rtts: rtt_array,
            available,
        })
    }

    /// The arguments of `selectForNative`.
    fn args(&self) -> [JValue<'l, '_>; 7] {
        [
            JValue::Object(&self.address),
            JValue::Int(self.port),
            JValue::Object(&self.local),
            JValue::Object(&self.nodes),
            JValue::Object(&self.connections),
            JValue::Object(&self.rtts),
            JValue::Object(&self.available),
        ]
    }
}

/// The client given as Java arrays (see [`SELECT_SIG`]).
#[allow(clippy::too_many_arguments)]
fn client_of(
    env: &JNIEnv<'_>,
    address: &JByteArray<'_>,
    port: jint,
    local: &JByteArray<'_>,
    nodes: &JByteArray<'_>,
    connections: &JIntArray<'_>,
    rtts: &JLongArray<'_>,
    available: &JBooleanArray<'_>,
) -> Result<ClientInfo, Failure> {
    if nodes.is_null() || connections.is_null() || rtts.is_null() || available.is_null() {
        return Err(Failure::null("nodes"));
    }
    let addresses = env.convert_byte_array(nodes)?;
    let n = addresses.len() / 16;
    let len = jint::try_from(n).unwrap_or(jint::MAX);
    if addresses.len() % 16 != 0
        || env.get_array_length(connections)? != len
        || env.get_array_length(rtts)? != len
        || env.get_array_length(available)? != len
    {
        return Err(Failure::argument("the nodes' arrays differ in length"));
    }
    let mut conns = vec![0i32; n];
    env.get_int_array_region(connections, 0, &mut conns)?;
    let mut rtt = vec![0i64; n];
    env.get_long_array_region(rtts, 0, &mut rtt)?;
    let mut avail = vec![0u8; n];
    env.get_boolean_array_region(available, 0, &mut avail)?;
    let nodes = addresses
        .chunks_exact(16)
        .enumerate()
        .map(|(i, a)| {
            let octets: [u8; 16] = a.try_into().unwrap_or([0; 16]);
            NodeView {
                address: Ipv6Addr::from(octets),
                connections: u32::try_from(conns[i]).unwrap_or(0),
                rtt: u64::try_from(rtt[i]).ok().map(Duration::from_nanos),
                available: avail[i] != 0,
            }
        })
        .collect();
    Ok(ClientInfo {
        address: ipv6_of(env, address, "address")?,
        port: u16::try_from(port).map_err(|_| Failure::argument("port out of range"))?,
        local: ipv6_of(env, local, "local")?,
        nodes,
    })
}

/// `policySelect(p, client...)`: the policy `p` asked from this thread.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_dev_gecko_Native_policySelect<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    p: jlong,
    address: JByteArray<'l>,
    port: jint,
    local: JByteArray<'l>,
    nodes: JByteArray<'l>,
    connections: JIntArray<'l>,
    rtts: JLongArray<'l>,
    available: JBooleanArray<'l>,
) -> jbyteArray {
    guard(&mut env, std::ptr::null_mut(), |env| {
        let client = client_of(
            env,
            &address,
            port,
            &local,
            &nodes,
            &connections,
            &rtts,
            &available,
        )?;
        match registry::policy(p)?.select_target(&client) {
            Some(a) => Ok(java_ipv6(env, a)?.into_raw()),
            None => Ok(std::ptr::null_mut()),
        }
    })
}

/// `policyNotify(p, target)`: tells the policy `p` a handoff to `target`
/// failed.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_policyNotify<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    p: jlong,
    target: JByteArray<'l>,
) {
    guard(&mut env, (), |env| {
        let target = ipv6_of(env, &target, "target")?;
        registry::policy(p)?.notify_failed_handoff(target);
        Ok(())
    })
}

/// `policyJava(policy, name)`: the Java `policy` as the core calls it
/// (through the bridge's adapter); its id.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_policyJava<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    policy: JObject<'l>,
    name: JString<'l>,
) -> jlong {
    guard(&mut env, 0, |env| {
        if policy.is_null() {
            return Err(Failure::null("policy"));
        }
        let name = string_of(env, &name, "name")?;
        let java = JavaPolicy {
            vm: env.get_java_vm()?,
            object: env.new_global_ref(&policy)?,
            name,
        };
        Ok(registry::insert(Entry::Policy(foreign_policy::adapt(java))))
    })
}

/// `policyCallFromCore(p, client..., calls, nanos)`: asks the policy `p`
/// `calls` times from a new native thread, as the core does; the last
/// choice, and the nanoseconds per call in `nanos[0]`. For tests and the
/// benchmark.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_dev_gecko_Native_policyCallFromCore<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    p: jlong,
    address: JByteArray<'l>,
    port: jint,
    local: JByteArray<'l>,
    nodes: JByteArray<'l>,
    connections: JIntArray<'l>,
    rtts: JLongArray<'l>,
    available: JBooleanArray<'l>,
    calls: jint,
    nanos: JLongArray<'l>,
) -> jbyteArray {
    guard(&mut env, std::ptr::null_mut(), |env| {
        let client = client_of(
            env,
            &address,
            port,
            &local,
            &nodes,
            &connections,
            &rtts,
            &available,
        )?;
        let policy = registry::policy(p)?;
        let calls = calls.max(1);
        let (choice, per_call) = std::thread::scope(|s| {
            s.spawn(|| {
                let start = Instant::now();
                let mut choice = None;
                for _ in 0..calls {
                    choice = policy.select_target(&client);
                }
                (
                    choice,
                    start.elapsed().as_nanos() / calls.unsigned_abs() as u128,
                )
            })
            .join()
        })
        .map_err(|_| {
            Failure::Throw(
                "java/lang/IllegalStateException",
                "the policy thread panicked".to_string(),
            )
        })?;
        if !nanos.is_null() && env.get_array_length(&nanos)? > 0 {
            let n = i64::try_from(per_call).unwrap_or(i64::MAX);
            env.set_long_array_region(&nanos, 0, &[n])?;
        }
        match choice {
            Some(a) => Ok(java_ipv6(env, a)?.into_raw()),
            None => Ok(std::ptr::null_mut()),
        }
    })
}

/// A policy written in Java: its object and the JVM to call it in.
struct JavaPolicy {
    vm: JavaVM,
    object: GlobalRef,
    name: String,
}

impl JavaPolicy {
    /// The pending Java exception as a policy failure, with its stack
    /// trace (the exception is cleared).
    fn failure(&self, env: &mut JNIEnv<'_>, what: &str) -> PolicyFailure {
        let thrown = env.exception_occurred();
        let _ = env.exception_clear();
        let Ok(thrown) = thrown else {
            return PolicyFailure::new(what, "");
        };
        let trace = env
            .call_method(
                self.object.as_obj(),
                "describeFailure",
                "(Ljava/lang/Throwable;)Ljava/lang/String;",
                &[JValue::Object(&thrown)],
            )
            .and_then(|v| v.l())
            .and_then(|s| env.get_string(&JString::from(s)).map(String::from));
        match trace {
            Ok(t) => PolicyFailure::new(what, t),
            Err(e) => {
                let _ = env.exception_clear();
                PolicyFailure::new(what, format!("(no stack trace: {e})"))
            }
        }
    }

    /// A JNI failure that is not the policy's exception.
    fn jni_failure(env: &mut JNIEnv<'_>, e: jni::errors::Error) -> PolicyFailure {
        let _ = env.exception_clear();
        PolicyFailure::new("the JNI call failed", e.to_string())
    }
}

impl ForeignPolicy for JavaPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn select_target(&self, client: &ClientInfo) -> Result<Option<Ipv6Addr>, PolicyFailure> {
        let mut env = attach(&self.vm)
            .map_err(|e| PolicyFailure::new("could not attach to the JVM", e.to_string()))?;
        // A frame of its own: an attached thread never returns to Java,
        // so its local references are freed here.
        let r = env.with_local_frame(16, |env| {
            let arrays = ClientArrays::of(env, client)?;
            let chosen = env.call_method(
                self.object.as_obj(),
                "selectForNative",
                SELECT_SIG,
                &arrays.args(),
            );
            let chosen = match chosen {
                Ok(v) => v.l()?,
                Err(jni::errors::Error::JavaException) => {
                    return Ok(Err(self.failure(env, "selectTarget threw")))
                }
                Err(e) => return Err(e),
            };
            if chosen.is_null() {
                return Ok(Ok(None));
            }
            let bytes = env.convert_byte_array(JByteArray::from(chosen))?;
            Ok(match <[u8; 16]>::try_from(bytes) {
                Ok(o) => Ok(Some(Ipv6Addr::from(o))),
                Err(_) => Err(PolicyFailure::new(
                    "selectTarget returned no IPv6 address",
                    "",
                )),
            })
        });
        r.unwrap_or_else(|e| Err(Self::jni_failure(&mut env, e)))
    }

    fn notify_failed_handoff(&self, target: Ipv6Addr) -> Result<(), PolicyFailure> {
        let mut env = attach(&self.vm)
            .map_err(|e| PolicyFailure::new("could not attach to the JVM", e.to_string()))?;
        let r = env.with_local_frame(4, |env| {
            let target = env.byte_array_from_slice(&target.octets())?;
            match env.call_method(
                self.object.as_obj(),
                "notifyForNative",
                "([B)V",
                &[JValue::Object(&target)],
            ) {
                Ok(_) => Ok(Ok(())),
                Err(jni::errors::Error::JavaException) => {
                    Ok(Err(self.failure(env, "notifyFailedHandoff threw")))
                }
                Err(e) => Err(e),
            }
        });
        r.unwrap_or_else(|e| Err(Self::jni_failure(&mut env, e)))
    }
}
