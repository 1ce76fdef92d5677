//! Log set-up for a binding's process: `tracing` lines on stderr, with the
//! filter given by the host program, else `RUST_LOG`, else `info`. The
//! filter is passed in, never written to the environment (`set_var` is
//! unsound while other threads read it).

use tracing_subscriber::EnvFilter;

/// Why a filter was refused.
#[derive(Debug)]
pub struct BadFilter(pub String);

impl std::fmt::Display for BadFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad log filter: {}", self.0)
    }
}

impl std::error::Error for BadFilter {}

/// Starts logging to stderr, once per process: later calls change nothing
/// (the first call wins). `filter` is an `EnvFilter` directive such as
/// `info` or `gecko=debug`; `None` reads `RUST_LOG` (default `info`).
pub fn init(filter: Option<&str>) -> Result<(), BadFilter> {
    let filter = match filter {
        Some(f) => EnvFilter::try_new(f).map_err(|e| BadFilter(format!("{f}: {e}")))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bad_filter_is_refused_and_a_good_one_is_taken() {
        assert!(super::init(Some("gecko=[")).is_err());
        assert!(super::init(Some("info")).is_ok());
        // Once set up, a second call is no error either.
        assert!(super::init(None).is_ok());
    }
}
