//! The mirror round: every [`MIRROR_CHECK`], a node sends its backup the
//! state of each connection that moved `mirror_every_bytes` since it was
//! last mirrored, and the full set when its backup changed.

use std::sync::{Arc, PoisonError, Weak};
use std::time::Duration;

use crate::dataplane::FlowKey;
use crate::handoff::Engine;

/// How often the round runs. A connection moves at most a few GB/s, so
/// its mirrored sequence numbers stay well within 2^31 of the live ones.
pub const MIRROR_CHECK: Duration = Duration::from_millis(250);

/// Runs the rounds until the engine is dropped.
pub(crate) async fn run(engine: Weak<Engine>) {
    let mut tick = tokio::time::interval(MIRROR_CHECK);
    loop {
        tick.tick().await;
        let Some(e) = engine.upgrade() else { return };
        round(&e).await;
    }
}

async fn round(e: &Arc<Engine>) {
    // Connections whose socket is gone without a close (a bug elsewhere)
    // are dropped here rather than mirrored for ever.
    let gone: Vec<FlowKey> = {
        let served = e.served.lock().unwrap_or_else(PoisonError::into_inner);
        served
            .iter()
            .filter(|(_, s)| s.stream.strong_count() == 0)
            .map(|(f, _)| *f)
            .collect()
    };
    for f in gone {
        e.unserve(f);
    }
    if !e.is_joined() {
        // Left the replica network: nothing is mirrored until it joins.
        return;
    }
    let (to, changed) = e.backup_change();
    if let Some(before) = changed {
        if let Some(old) = before.filter(|o| e.membership.is_live(*o)) {
            // The old backup forgets this node's connections.
            e.send_mirror(old, Vec::new(), true).await;
        }
        if let Some(to) = to {
            let records = e.records(None);
            tracing::info!(
                backup = to,
                connections = records.len(),
                "mirroring to a new backup"
            );
            e.send_mirror(to, records, true).await;
        }
        return;
    }
    if to.is_none() {
        return;
    }
    let due: Vec<FlowKey> = {
        let served = e.served.lock().unwrap_or_else(PoisonError::into_inner);
        served
            .iter()
            .filter_map(|(f, s)| {
                let stream = s.stream.upgrade()?;
                let now = s.base.edges(std::os::fd::AsFd::as_fd(&*stream)).ok()?;
                let total = now.sent + now.received;
                s.mirrored
                    .is_none_or(|m| total.saturating_sub(m) >= e.mirror_every)
                    .then_some(*f)
            })
            .collect()
    };
    if !due.is_empty() {
        e.mirror_now(&due).await;
    }
}
