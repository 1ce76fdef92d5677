//! The core's `tracing` events, forwarded to Java's `System.Logger`
//! (logger `dev.gecko`) through `dev.gecko.Log`, so they land in whatever
//! logging the application uses. `RUST_LOG`-style filtering still applies
//! first (default `info`). Where Java cannot be called (a thread that
//! cannot attach, an exception pending), the line goes to stderr.

use std::fmt::Write as _;
use std::sync::OnceLock;

use jni::objects::{GlobalRef, JObject, JString, JValue};
use jni::{JNIEnv, JavaVM};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::thread::attach;
use crate::Failure;

/// The Java object lines go to.
struct Sink {
    vm: JavaVM,
    log: GlobalRef,
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Sends the process's `tracing` events to `log` (a `dev.gecko.Log`),
/// filtered by `filter` (None: `RUST_LOG`, default `info`). The first call
/// wins; later ones change nothing.
pub(crate) fn init(
    env: &mut JNIEnv<'_>,
    log: &JObject<'_>,
    filter: Option<&str>,
) -> Result<(), Failure> {
    let filter = match filter {
        Some(f) => EnvFilter::try_new(f)
            .map_err(|e| Failure::argument(format!("bad log filter: {f}: {e}")))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    if SINK.get().is_some() {
        return Ok(());
    }
    let sink = Sink {
        vm: env.get_java_vm()?,
        log: env.new_global_ref(log)?,
    };
    if SINK.set(sink).is_ok() {
        // Another subscriber may be the global one already: then it wins.
        let _ = tracing_subscriber::registry()
            .with(JavaLayer.with_filter(filter))
            .try_init();
    }
    Ok(())
}

/// The layer that hands each event to the [`Sink`].
struct JavaLayer;

impl<S: Subscriber> Layer<S> for JavaLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut text = Text::default();
        event.record(&mut text);
        let meta = event.metadata();
        let level = match *meta.level() {
            Level::ERROR => 4,
            Level::WARN => 3,
            Level::INFO => 2,
            Level::DEBUG => 1,
            _ => 0,
        };
        let sent = SINK
            .get()
            .is_some_and(|sink| to_java(sink, level, meta.target(), &text.0));
        if !sent {
            eprintln!("{} {}: {}", meta.level(), meta.target(), text.0);
        }
    }
}

/// Calls `Log.log(level, target, message)`; false if Java could not be
/// called.
fn to_java(sink: &Sink, level: i32, target: &str, message: &str) -> bool {
    let Ok(mut env) = attach(&sink.vm) else {
        return false;
    };
    if env.exception_check().unwrap_or(true) {
        return false;
    }
    let r = env.with_local_frame(4, |env| {
        let target: JString<'_> = env.new_string(target)?;
        let message: JString<'_> = env.new_string(message)?;
        env.call_method(
            sink.log.as_obj(),
            "log",
            "(ILjava/lang/String;Ljava/lang/String;)V",
            &[
                JValue::Int(level),
                JValue::Object(&target),
                JValue::Object(&message),
            ],
        )?;
        Ok::<_, jni::errors::Error>(())
    });
    if r.is_err() {
        let _ = env.exception_clear();
        return false;
    }
    true
}

/// An event's message, then its other fields as `key=value`.
#[derive(Default)]
struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}
