//! The core's own threads in the JVM: each is attached once, for good, as
//! a daemon named `gecko-...`, before it calls into Java (a policy, a log
//! line).

use std::sync::atomic::{AtomicU64, Ordering};

use jni::objects::JValue;
use jni::{JNIEnv, JavaVM};

/// Threads of the core attached to the JVM so far (for their names).
static ATTACHED: AtomicU64 = AtomicU64::new(0);

/// The calling thread's `JNIEnv`: a Java thread's own, else the thread is
/// attached once, for good, as a daemon named `gecko-...`.
pub(crate) fn attach(vm: &JavaVM) -> Result<JNIEnv<'_>, jni::errors::Error> {
    if let Ok(env) = vm.get_env() {
        return Ok(env);
    }
    let mut env = vm.attach_current_thread_as_daemon()?;
    let n = ATTACHED.fetch_add(1, Ordering::Relaxed);
    let name = match std::thread::current().name() {
        Some(t) => format!("gecko-{t}-{n}"),
        None => format!("gecko-{n}"),
    };
    let named = env.with_local_frame(4, |env| {
        let thread = current_thread(env)?;
        let name = env.new_string(name)?;
        env.call_method(
            &thread,
            "setName",
            "(Ljava/lang/String;)V",
            &[JValue::Object(&name)],
        )?;
        Ok::<_, jni::errors::Error>(())
    });
    if named.is_err() {
        // A thread without a name is no failure of the policy's.
        let _ = env.exception_clear();
    }
    Ok(env)
}

/// The calling thread's `java.lang.Thread` (a local reference).
pub(crate) fn current_thread<'l>(
    env: &mut JNIEnv<'l>,
) -> Result<jni::objects::JObject<'l>, jni::errors::Error> {
    env.call_static_method(
        "java/lang/Thread",
        "currentThread",
        "()Ljava/lang/Thread;",
        &[],
    )?
    .l()
}
