//! The proxy's metrics, beside the node's own in its registry (served on
//! the node's configured metrics address).

use crate::relay::RelayCounters;
use gecko::metrics::{Counter, Gauge, Metrics, MetricsError};

/// Why the proxy reset a client's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    /// The local application refused or did not answer.
    AppUnreachable,
    /// One side failed mid-relay (the other one is reset).
    RelayError,
    /// The application ended the connection and no longer listens: it
    /// died, so the client must not take the end for a whole answer.
    AppDied,
    /// A connection recovered after another proxy's crash: its
    /// application state is lost with that node (the seed's limit).
    Recovered,
}

impl ResetReason {
    fn label(self) -> &'static str {
        match self {
            ResetReason::AppUnreachable => "app_unreachable",
            ResetReason::RelayError => "relay_error",
            ResetReason::AppDied => "app_died",
            ResetReason::Recovered => "recovered",
        }
    }
}

/// Handles on every proxy series.
#[derive(Debug, Clone)]
pub struct ProxyMetrics {
    /// `gecko_proxy_bytes_relayed_total{direction="to_app"|"to_client"}`.
    pub relayed: RelayCounters,
    /// `gecko_proxy_app_connections_total`: connections opened to the
    /// application.
    pub app_connections: Counter,
    /// `gecko_proxy_app_connect_failures_total`: connections to the
    /// application that failed (refused, timed out).
    pub app_connect_failures: Counter,
    /// `gecko_proxy_connections_open`: connections relayed now.
    pub open: Gauge,
    /// By reason, in [`ResetReason`]'s order.
    resets: [Counter; 4],
}

impl ProxyMetrics {
    /// Registers the proxy's series in `m`.
    pub fn register(m: &Metrics) -> Result<ProxyMetrics, MetricsError> {
        const BYTES: &str = "gecko_proxy_bytes_relayed_total";
        const BYTES_HELP: &str = "Bytes the proxy relayed, by direction";
        let reset = |r: ResetReason| {
            m.counter(
                "gecko_proxy_resets_total",
                "Client connections the proxy reset, by reason",
                &[("reason", r.label())],
            )
        };
        Ok(ProxyMetrics {
            relayed: RelayCounters {
                to_app: m.counter(BYTES, BYTES_HELP, &[("direction", "to_app")])?,
                to_client: m.counter(BYTES, BYTES_HELP, &[("direction", "to_client")])?,
            },
            app_connections: m.counter(
                "gecko_proxy_app_connections_total",
                "Connections the proxy opened to the local application",
                &[],
            )?,
            app_connect_failures: m.counter(
                "gecko_proxy_app_connect_failures_total",
                "Connections to the local application that failed (refused or timed out)",
                &[],
            )?,
            open: m.gauge(
                "gecko_proxy_connections_open",
                "Connections the proxy relays now",
                &[],
            )?,
            resets: [
                reset(ResetReason::AppUnreachable)?,
                reset(ResetReason::RelayError)?,
                reset(ResetReason::AppDied)?,
                reset(ResetReason::Recovered)?,
            ],
        })
    }

    /// Counts one reset of a client's connection.
    pub fn reset(&self, why: ResetReason) {
        self.resets[why as usize].inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_render_with_their_labels() {
        let m = Metrics::new();
        let p = ProxyMetrics::register(&m).unwrap();
        p.relayed.to_app.inc_by(5);
        p.reset(ResetReason::Recovered);
        p.app_connect_failures.inc();
        let text = m.render();
        assert!(text.contains("gecko_proxy_bytes_relayed_total{direction=\"to_app\"} 5\n"));
        assert!(text.contains("gecko_proxy_bytes_relayed_total{direction=\"to_client\"} 0\n"));
        assert!(text.contains("gecko_proxy_resets_total{reason=\"recovered\"} 1\n"));
        assert!(text.contains("gecko_proxy_resets_total{reason=\"app_unreachable\"} 0\n"));
        p.reset(ResetReason::AppDied);
        assert!(m
            .render()
            .contains("gecko_proxy_resets_total{reason=\"app_died\"} 1\n"));
        assert!(text.contains("gecko_proxy_app_connect_failures_total 1\n"));
        assert!(text.contains("gecko_proxy_connections_open 0\n"));
    }
}
