//! What every Gecko program shares: logging to stderr, exit codes from
//! outcomes, a daemon's runtime, and the shutdown signals.

use std::future::Future;
use std::process::ExitCode;

use gecko::metrics::Metrics;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// A server program's exit code from its outcome: the error, if any, is
/// logged and printed after the program's name.
pub fn exit_code(program: &str, outcome: Result<(), Box<dyn std::error::Error>>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("{program}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a daemon on a single-threaded runtime (its sockets then live in
/// the namespace it was started in) and turns its error into exit code 1.
pub fn run(daemon: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(daemon) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

/// Counts one received message and, if refused, why.
pub fn count_message(metrics: &Metrics, message: &'static str, rejected: Option<&'static str>) {
    metrics.count(
        "gecko_messages_total",
        "Mobility Header messages received, by type",
        &[("type", message)],
        1,
    );
    if let Some(reason) = rejected {
        metrics.count(
            "gecko_messages_rejected_total",
            "Messages dropped or refused, by reason",
            &[("reason", reason)],
            1,
        );
    }
}
