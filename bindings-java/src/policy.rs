//! `dev.gecko.GeckoPolicy`'s native half: the shipped policies (the
//! bridge's [`ShippedPolicy`], deciding in Rust), and a Java policy as the
//! bridge's [`ForeignPolicy`], called from the core's threads.
//!
//! A Java policy is called through its own object only (`GetObjectClass`,
//! never `FindClass`): `GeckoPolicy.selectForNative` builds the
//! `ClientInfo` in Java, so the classes are those of the policy's own
//! class loader, whatever loaded it.

use std::net::Ipv6Addr;
use std::time::Instant;

use gecko_bridge::foreign_policy::{self, ForeignPolicy, PolicyFailure};
use gecko_bridge::{ClientInfo, ShippedPolicy};
use jni::objects::{GlobalRef, JByteArray, JClass, JLongArray, JObject, JString, JValue};
use jni::sys::{jbyteArray, jint, jlong, jstring};
use jni::{JNIEnv, JavaVM};

use crate::client_info;
use crate::net::{ipv6_of, java_ipv6, string_of};
use crate::registry::{self, Entry};
use crate::thread::attach;
use crate::{guard, Failure};

/// `selectForNative`'s JNI signature: the client (see [`client_info`]);
/// the chosen address or null.
const SELECT_SIG: &str = "([B)[B";

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

/// The client Java gave as one array (see [`client_info`]).
fn client_of(env: &JNIEnv<'_>, client: &JByteArray<'_>) -> Result<ClientInfo, Failure> {
    if client.is_null() {
        return Err(Failure::null("client"));
    }
    client_info::decode(&env.convert_byte_array(client)?)
}

/// `policySelect(p, client)`: the policy `p` asked from this thread.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_policySelect<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    p: jlong,
    client: JByteArray<'l>,
) -> jbyteArray {
    guard(&mut env, std::ptr::null_mut(), |env| {
        let client = client_of(env, &client)?;
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

/// `policyCallFromCore(p, client, calls, nanos)`: asks the policy `p`
/// `calls` times from a new native thread, as the core does; the last
/// choice, and the nanoseconds per call in `nanos[0]`. For tests and the
/// benchmark.
#[no_mangle]
pub extern "system" fn Java_dev_gecko_Native_policyCallFromCore<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    p: jlong,
    client: JByteArray<'l>,
    calls: jint,
    nanos: JLongArray<'l>,
) -> jbyteArray {
    guard(&mut env, std::ptr::null_mut(), |env| {
        let client = client_of(env, &client)?;
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
        let r = env.with_local_frame(4, |env| {
            let client = env.byte_array_from_slice(&client_info::encode(client))?;
            let chosen = env.call_method(
                self.object.as_obj(),
                "selectForNative",
                SELECT_SIG,
                &[JValue::Object(&client)],
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
