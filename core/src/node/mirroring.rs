//! The sending side of mirroring: a node tells its backup of each
//! connection when it starts serving it (accepted, handed in, recovered)
//! and when it stops, and every [`MIRROR_CHECK`] sends the state of each
//! connection that moved `mirror_every_bytes` since it was last mirrored,
//! and the full set when its backup changed. The records and the backup's
//! store are in [`crate::cluster::mirror_store`].

use std::os::fd::AsFd;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::cluster::mirror_store::{MirrorRecord, Served, Unserved};
use crate::dataplane::FlowKey;
use crate::node::{Message, Runtime};
use crate::tcp::repair;
use crate::tcp::stream_offsets::StreamBase;

/// How often the round runs. A connection moves at most a few GB/s, so
/// its mirrored sequence numbers stay well within 2^31 of the live ones.
pub const MIRROR_CHECK: Duration = Duration::from_millis(250);

impl Runtime {
    /// A send to backup `to` failed, so it may have missed something:
    /// the next round sends it everything again, as to a new backup.
    fn resend_all_after_failure(&self, to: u16) {
        let mut st = self.state();
        let t = &mut st.mirroring_to;
        if *t == Some(to) {
            *t = None;
        }
    }

    /// A connection accepted here stays here: notes where its streams
    /// stand (a brief freeze reads its sequence numbers) and mirrors it to
    /// the backup. Returns its base (zero: its counters started with it).
    pub fn serve_accepted(self: &Arc<Self>, stream: &Arc<std::net::TcpStream>) -> StreamBase {
        let base = StreamBase::default();
        let (Ok(flow), fd) = (FlowKey::of_socket(stream), stream.as_fd()) else {
            return base;
        };
        let dumped = repair::freeze(fd).and_then(|()| {
            let dumped = base.dump_with_edges(fd);
            repair::unfreeze_quietly(fd)?;
            dumped
        });
        match dumped {
            Ok((state, edges)) => {
                self.serve(
                    flow,
                    Served::new(Arc::downgrade(stream), base, &state, edges),
                );
            }
            Err(e) => {
                tracing::warn!(?flow, error = %e, "cannot read a new connection's state: not mirrored")
            }
        }
        base
    }

    /// Starts serving (and mirroring) a connection.
    pub(crate) fn serve(self: &Arc<Self>, flow: FlowKey, served: Served) {
        self.state().served.insert(flow, served);
        let e = self.clone();
        tokio::spawn(async move { e.mirror_now(&[flow]).await });
    }

    /// A connection is no longer served here: it moved on to another
    /// node at `moved_at` (acked plus received offsets), or ended (None).
    pub fn unserve(self: &Arc<Self>, flow: FlowKey, moved_at: Option<u64>) {
        let was = self.state().served.remove(&flow);
        // Told even if never mirrored: a donor's record may be on its way.
        if was.is_some() {
            let e = self.clone();
            tokio::spawn(async move {
                let to = e.state().mirroring_to;
                if let Some(to) = to {
                    let gone = vec![Unserved { flow, moved_at }];
                    let msg = Message::MirrorGone { gone };
                    if let Err(err) = e.streams.send(to, &msg).await {
                        tracing::info!(to, error = %err, "telling the backup of a closed connection");
                        e.resend_all_after_failure(to);
                    }
                }
            });
        }
    }

    /// Mirrors `flows` to the backup now.
    pub(crate) async fn mirror_now(self: &Arc<Self>, flows: &[FlowKey]) {
        let Some(to) = self.state().mirroring_to else {
            return;
        };
        let records = self.records(Some(flows));
        if !records.is_empty() {
            self.send_mirror(to, records, false).await;
        }
    }

    /// The records of `flows` (all served connections if `None`) as they
    /// stand now, noted as mirrored.
    pub(crate) fn records(&self, flows: Option<&[FlowKey]>) -> Vec<MirrorRecord> {
        let mut st = self.state();
        let served = &mut st.served;
        let record = |f: FlowKey, s: &mut Served| {
            let r = s.record(f, self.node.handoff_mark(f.client).map(|q| q.0))?;
            s.mirrored = Some(r.acked + r.received);
            Some(r)
        };
        match flows {
            Some(flows) => flows
                .iter()
                .filter_map(|f| record(*f, served.get_mut(f)?))
                .collect(),
            None => served
                .iter_mut()
                .filter_map(|(f, s)| record(*f, s))
                .collect(),
        }
    }

    pub(crate) async fn send_mirror(&self, to: u16, records: Vec<MirrorRecord>, replace: bool) {
        let msg = Message::Mirror { records, replace };
        let size = postcard::to_allocvec(&msg).map_or(0, |b| b.len() as u64);
        match self.streams.send(to, &msg).await {
            Ok(()) => self.failover.mirror_bytes.inc_by(size),
            Err(e) => {
                tracing::info!(to, error = %e, "mirroring to the backup failed");
                self.resend_all_after_failure(to);
            }
        }
    }

    /// The node this node mirrors to now (and the one before, if it
    /// changed since the last call).
    pub(crate) fn backup_change(&self) -> (Option<u16>, Option<Option<u16>>) {
        let now = self.membership.my_backup();
        let mut st = self.state();
        let to = &mut st.mirroring_to;
        if *to == now {
            (now, None)
        } else {
            let before = std::mem::replace(&mut *to, now);
            (now, Some(before))
        }
    }

    /// Leaving on purpose: the backup forgets this node's connections
    /// first, so that the others, seeing it leave, recover nothing it
    /// still serves (they stay here, without a backup, until it joins
    /// again).
    pub async fn stop_mirroring(&self) {
        let to = self.state().mirroring_to.take();
        if let Some(to) = to {
            self.send_mirror(to, Vec::new(), true).await;
        }
    }
}

/// Runs the rounds until the engine is dropped.
pub(crate) async fn run(engine: Weak<Runtime>) {
    let mut tick = tokio::time::interval(MIRROR_CHECK);
    loop {
        tick.tick().await;
        let Some(e) = engine.upgrade() else { return };
        round(&e).await;
    }
}

async fn round(e: &Arc<Runtime>) {
    // Connections whose socket is gone without a close (a bug elsewhere)
    // are dropped here rather than mirrored for ever.
    let gone: Vec<FlowKey> = {
        let st = e.state();
        let served = &st.served;
        served
            .iter()
            .filter(|(_, s)| s.stream.strong_count() == 0)
            .map(|(f, _)| *f)
            .collect()
    };
    for f in gone {
        e.unserve(f, None);
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
        let st = e.state();
        let served = &st.served;
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
