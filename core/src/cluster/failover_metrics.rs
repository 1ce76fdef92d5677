//! The failover series of a node's metrics.

use crate::metrics::{Counter, Gauge, Histogram, Metrics, MetricsError, DURATION_BUCKETS};

/// Failover counters of a node (one field per series).
pub struct FailoverMetrics {
    /// `gecko_failures_detected_total`.
    pub detected: Counter,
    /// `gecko_recoveries_total`.
    pub recoveries: Counter,
    /// `gecko_recovery_failures_total`.
    pub recovery_failures: Counter,
    /// `gecko_recovery_seconds`.
    pub recovery_seconds: Histogram,
    /// `gecko_mirrored_connections`.
    pub mirrored: Gauge,
    /// `gecko_mirror_bytes_total`.
    pub mirror_bytes: Counter,
    /// `gecko_contact`.
    pub contact: Gauge,
}

impl FailoverMetrics {
    /// Registers the series in `m`.
    pub fn register(m: &Metrics) -> Result<FailoverMetrics, MetricsError> {
        Ok(FailoverMetrics {
            detected: m.counter(
                "gecko_failures_detected_total",
                "Other nodes this node saw fail",
                &[],
            )?,
            recoveries: m.counter(
                "gecko_recoveries_total",
                "Connections of failed nodes recovered here",
                &[],
            )?,
            recovery_failures: m.counter(
                "gecko_recovery_failures_total",
                "Connections of failed nodes that could not be recovered here",
                &[],
            )?,
            recovery_seconds: m.histogram(
                "gecko_recovery_seconds",
                "Failure detected to connection served again, per connection",
                &[],
                DURATION_BUCKETS,
            )?,
            mirrored: m.gauge(
                "gecko_mirrored_connections",
                "Connections of other nodes mirrored here",
                &[],
            )?,
            mirror_bytes: m.counter(
                "gecko_mirror_bytes_total",
                "Bytes of connection state this node sent to backups (its own; an acceptor's after a handoff)",
                &[],
            )?,
            contact: m.gauge(
                "gecko_contact",
                "1 while this node is the contact node registered at the home agent",
                &[],
            )?,
        })
    }
}
