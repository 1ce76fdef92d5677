//! Recovery after a crash (seed §2.2, DESIGN.md): when a node fails, the
//! contact role moves if it was the contact, and its backup re-creates
//! each of its connections from the mirrored state.
//!
//! Per connection: lock the flow here; return routability and a Binding
//! Update toward this node; probe the client (see
//! [`crate::tcp::ack_probe`]) until its answer, caught by the lock, gives
//! its current sequence numbers; rebuild the socket with them; unlock,
//! thaw, replay what the lock caught; hand the connection to the
//! application with its stream offsets. A connection that another live
//! node claims (a handoff finished just before the crash) is left alone.

use std::collections::HashSet;
use std::net::{SocketAddrV6, TcpStream};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, Semaphore};

use crate::cluster::membership::MemberEvent;
use crate::cluster::mirror_store::{MirrorRecord, Served};
use crate::dataplane::FlowKey;
use crate::lowlevel::{NodeError, Scope};
use crate::mipv6::seq::SeqNum;
use crate::node::takeover::{Source, Step, Takeover, Undo};
use crate::node::{
    restore_when_free, Arrival, Message, Route, Runtime, State, ACCEPT_DEADLINE, OUTCOME_TIMEOUT,
};
use crate::tcp::ack_probe::{probe_segment, ClientState};
use crate::tcp::flow_lock::LockError;
use crate::tcp::repair::{RepairError, RepairWindow, TcpState};
use crate::tcp::stream_offsets::{unwrap_seq, StreamBase, StreamOffsets};

/// Probes sent per connection before giving up.
const PROBES: u32 = 8;
/// How long the answer to one probe is waited for.
const PROBE_WAIT: Duration = Duration::from_millis(30);
/// How long live nodes have to claim a dead node's connections.
const CLAIM_WAIT: Duration = Duration::from_millis(300);
/// Connections recovered at once.
const PARALLEL: usize = 256;
/// Pauses before recovering a connection again after a failed attempt.
const RETRY_AFTER: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];
/// How often the contact role is checked besides membership events.
const CONTACT_CHECK: Duration = Duration::from_millis(500);
/// How long a connection in a handoff whose outcome is open (at a live
/// acceptor, or at a live donor whose acceptor was the failed node) is
/// waited for before it is recovered anyway: an acceptor gives up within
/// [`ACCEPT_DEADLINE`], a donor after [`OUTCOME_TIMEOUT`] plus binding the
/// flow back and probing the client.
const PENDING_WAIT: Duration = OUTCOME_TIMEOUT
    .saturating_add(ACCEPT_DEADLINE)
    .saturating_add(Duration::from_secs(1));
/// How often such a connection is asked about again.
const PENDING_POLL: Duration = Duration::from_millis(100);
/// How long a node the others declared down while it lived waits before
/// it recovers its own connections that no other node claims: its
/// backup, if alive, heard of the failure first and claims them by then.
const OWN_RECOVERY_AFTER: Duration = Duration::from_secs(1);
/// How long such a node waits for another node's recovery of one of its
/// connections to end, served there or failed.
const OWN_PENDING_WAIT: Duration = Duration::from_secs(60);

/// Where a recovery of a connection stands on this node; told to a node
/// that asks about it (a claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recovering {
    /// The failed node's backup recovers it (or is about to): pending.
    ForFailed,
    /// This node was declared down while it lived and fenced it: it
    /// recovers it itself unless another node does. That node goes first:
    /// asked about it, this node gives it up and claims nothing.
    OwnUnlessClaimed,
    /// This node recovers its own fenced connection now: pending.
    Own,
}

/// Why one connection could not be recovered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecoveryError {
    /// No server socket for the connection's port on this node.
    #[error("no server socket on port {0}")]
    NoListener(u16),
    /// The client never answered the probes.
    #[error("the client did not answer {PROBES} probes")]
    NoAnswer,
    /// Locking the flow failed.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Binding the flow to this node failed.
    #[error(transparent)]
    Bind(#[from] NodeError),
    /// Binding the flow to this node took longer than its deadline.
    #[error("binding update timed out")]
    BindTimeout,
    /// Restoring or thawing the socket failed.
    #[error(transparent)]
    Repair(#[from] RepairError),
    /// A step came out of its order (a bug in the take-over pipeline).
    #[error("out of order: {0}")]
    OutOfOrder(&'static str),
    /// The runtime is shutting down.
    #[error("recovery stopped")]
    Stopped,
    /// A step failed after the client answered: it was sent a reset.
    #[error("{0}; the client was sent a reset")]
    Reset(Box<RecoveryError>),
    /// The cluster declared this node down while it recovered the
    /// connection: the client gets a reset.
    #[error("this node was declared down during the recovery")]
    Fenced,
}

impl RecoveryError {
    /// Whether a later attempt may succeed: the client or its signalling
    /// did not answer, or a step failed on the way.
    fn worth_retrying(&self) -> bool {
        matches!(
            self,
            RecoveryError::NoAnswer
                | RecoveryError::Lock(_)
                | RecoveryError::Bind(_)
                | RecoveryError::BindTimeout
                | RecoveryError::Repair(_)
        )
    }
}

/// Follows membership: takes the contact role over when it falls to this
/// node, and recovers the connections of the nodes this node backs up.
pub(crate) async fn watch(engine: Weak<Runtime>) {
    let Some(e) = engine.upgrade() else { return };
    let mut events = e.membership.subscribe();
    drop(e);
    let mut tick = tokio::time::interval(CONTACT_CHECK);
    // A failed node whose contact role is still to be taken over here.
    let mut takeover: Option<u16> = None;
    loop {
        let event = tokio::select! {
            ev = events.recv() => match ev {
                Ok(ev) => Some(ev),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "membership events missed");
                    None
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tick.tick() => None,
        };
        let Some(e) = engine.upgrade() else { return };
        match event {
            Some(MemberEvent::Down(dead)) => {
                let detected = Instant::now();
                e.failover.detected.inc();
                tracing::warn!(me = e.me(), dead, "node failed");
                // First the contact role: recovery's return routability
                // needs Home Tests to come back through the contact.
                takeover = check_contact(&e, Some(dead)).await.then_some(dead);
                tokio::spawn(async move { recover_node(&e, dead, detected).await });
            }
            Some(MemberEvent::Evicted) => {
                let fenced = fence_self(&e);
                if !fenced.is_empty() {
                    let e = e.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(OWN_RECOVERY_AFTER).await;
                        let me = e.me();
                        recover_records(&e, me, fenced, Instant::now()).await;
                    });
                }
            }
            Some(MemberEvent::Up(n)) => {
                // The configured contact is back (it registers at its
                // start): whoever stood in for it steps down.
                if e.is_contact() && e.contact_order().first() == Some(&n) && n != e.me() {
                    e.node.stop_registering();
                    e.set_contact(false);
                    tracing::info!(
                        me = e.me(),
                        contact = n,
                        "the contact node is back: stepping down"
                    );
                }
            }
            None => {
                if takeover.is_some() {
                    takeover = check_contact(&e, takeover)
                        .await
                        .then_some(takeover)
                        .flatten();
                }
            }
        }
    }
}

/// This node was declared down: its backup recovers (or has recovered)
/// its connections, so it must not send on them again. Each is frozen
/// (it sends nothing from now on; the application's reads and writes
/// fail, and its close is silent) and forgotten. A stand-in contact
/// steps down: the next in order takes over on the same news. Returns the
/// records of the fenced connections: a connection no other node
/// recovers (its backup died too) is recovered from them here.
fn fence_self(e: &Arc<Runtime>) -> Vec<MirrorRecord> {
    // Read while the sockets still are connections.
    let records = e.records(None);
    {
        let mut st = e.state();
        let recovering = &mut st.recovering;
        for r in &records {
            recovering.insert(r.flow, Recovering::OwnUnlessClaimed);
        }
    }
    let served: Vec<(FlowKey, Served)> = e.state().served.drain().collect();
    // Handoffs and recoveries under way see this and do not thaw.
    e.fences.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let mut frozen = 0;
    for (flow, s) in served {
        // The backup's binding replaces this node's: never clear it.
        e.node.release(flow.client, Scope::Flow(flow));
        if let Some(stream) = s.stream.upgrade() {
            match crate::tcp::repair::freeze(std::os::fd::AsFd::as_fd(&*stream)) {
                Ok(()) => frozen += 1,
                Err(err) => {
                    tracing::error!(?flow, error = %err, "cannot silence a connection of an evicted node")
                }
            }
            // Wake the application's readers and writers; nothing reaches
            // the client (a shutdown would send a FIN even when frozen).
            if let Err(err) =
                crate::tcp::repair::disconnect_quietly(std::os::fd::AsFd::as_fd(&*stream))
            {
                tracing::error!(?flow, error = %err, "cannot end a connection of an evicted node");
            }
        }
    }
    if e.is_contact() && e.contact_order().first() != Some(&e.me()) {
        e.node.stop_registering();
        e.set_contact(false);
    }
    tracing::error!(
        me = e.me(),
        frozen,
        "declared down by the others: connections fenced, left to the backup (recovered here if no node claims them)"
    );
    records
}

/// Takes the contact role if the nodes before this one in the contact
/// order are all down and one of them was seen to fail (`failed`: now, or
/// earlier when retrying): a node never takes it merely for not having
/// heard of the others yet. Returns whether a takeover is still wanted.
async fn check_contact(e: &Arc<Runtime>, failed: Option<u16>) -> bool {
    if e.is_contact() {
        return false;
    }
    let order = e.contact_order();
    let Some(pos) = order.iter().position(|n| *n == e.me()) else {
        return false;
    };
    let before = &order[..pos];
    let all_down = before.iter().all(|n| !e.membership.is_live(*n));
    if !(all_down && failed.is_some_and(|f| before.contains(&f))) {
        return false;
    }
    let t0 = Instant::now();
    match e.node.addr_active().await {
        Ok(()) => {
            e.set_contact(true);
            tracing::warn!(me = e.me(), took = ?t0.elapsed(), "took the contact role over");
            false
        }
        Err(err) => {
            tracing::error!(me = e.me(), error = %err, "cannot take the contact role over yet");
            true
        }
    }
}

/// Recovers every mirrored connection of `dead`, if this node is its backup.
async fn recover_node(e: &Arc<Runtime>, dead: u16, detected: Instant) {
    let records = {
        let mut st = e.state();
        let m = &mut st.mirrors;
        let r = m.take(dead);
        e.failover.mirrored.set(m.len() as i64);
        r
    };
    if records.is_empty() {
        return;
    }
    if e.membership.backup_of(dead) != Some(e.me()) {
        tracing::info!(
            me = e.me(),
            dead,
            held = records.len(),
            "not the failed node's backup: its records are dropped"
        );
        return;
    }
    {
        let mut st = e.state();
        let recovering = &mut st.recovering;
        for r in &records {
            recovering.insert(r.flow, Recovering::ForFailed);
        }
    }
    recover_records(e, dead, records, detected).await;
}

/// Recovers the connections of `records` that no live node serves: the
/// failed node `origin`'s (this node is its backup), or this node's own
/// (`origin` is this node: the others declared it down and it fenced
/// them). Each is marked in [`Runtime::recovering`] until its recovery
/// ends.
async fn recover_records(
    e: &Arc<Runtime>,
    origin: u16,
    records: Vec<MirrorRecord>,
    detected: Instant,
) {
    let own = origin == e.me();
    let limit = Arc::new(Semaphore::new(PARALLEL));
    let mut jobs = tokio::task::JoinSet::new();
    let give_up_waiting =
        tokio::time::Instant::now() + if own { OWN_PENDING_WAIT } else { PENDING_WAIT };
    let mut ask = records;
    let mut round = 0;
    // A connection a live node is taking in from the failed one (handoff
    // outcome unknown), or recovering, is recovered only if that ends
    // with it served nowhere: asked about again until then.
    while !ask.is_empty() {
        let flows: Vec<FlowKey> = ask.iter().map(|r| r.flow).collect();
        let claims = claimed_elsewhere(e, &flows, &[]).await;
        let waiting = tokio::time::Instant::now() < give_up_waiting;
        let (served_elsewhere, unserved): (Vec<MirrorRecord>, Vec<MirrorRecord>) = ask
            .into_iter()
            .partition(|r| claims.served.contains(&r.flow));
        e.recovery_over(served_elsewhere.iter().map(|r| r.flow));
        let (wait, go): (Vec<MirrorRecord>, Vec<MirrorRecord>) = unserved
            .into_iter()
            .partition(|r| waiting && claims.open(&r.flow));
        // Another node asked about one of this node's own: it goes first.
        let go: Vec<MirrorRecord> = if own {
            go.into_iter()
                .filter(|r| e.start_own_recovery(r.flow))
                .collect()
        } else {
            go
        };
        // Later rounds ask about the few whose handoff was under way.
        if round == 0 {
            tracing::warn!(
                me = e.me(),
                origin,
                own,
                connections = flows.len(),
                served_elsewhere = claims.served.len(),
                waited_for = wait.len(),
                "recovering the connections of a node declared down"
            );
        } else {
            tracing::debug!(
                me = e.me(),
                origin,
                round,
                connections = flows.len(),
                served_elsewhere = claims.served.len(),
                waited_for = wait.len(),
                "asked again about connections in a handoff or recovery"
            );
        }
        for r in go {
            let (e, limit) = (e.clone(), limit.clone());
            jobs.spawn(async move {
                let flow = r.flow;
                let result = recover_with_retries(&e, r, &limit).await;
                e.recovery_over([flow]);
                match result {
                    Ok(None) => {}
                    Ok(Some(offsets)) => {
                        e.failover.recoveries.inc();
                        e.failover.recovery_seconds.observe(detected.elapsed());
                        tracing::info!(port = flow.client_port, sent = offsets.sent, received = offsets.received, took = ?detected.elapsed(), "connection recovered");
                    }
                    Err(err) => {
                        e.failover.recovery_failures.inc();
                        tracing::warn!(port = flow.client_port, error = %err, "connection not recovered");
                    }
                }
            });
        }
        ask = wait;
        round += 1;
        if !ask.is_empty() {
            tokio::time::sleep(PENDING_POLL).await;
        }
    }
    while jobs.join_next().await.is_some() {}
}

/// What a node says of some connections of a failed node.
#[derive(Debug, Default)]
pub(crate) struct Claims {
    /// Served there (or moving on from there: a handoff it began).
    pub(crate) served: HashSet<FlowKey>,
    /// Being taken in there: a handoff whose outcome is not known yet.
    pub(crate) pending: HashSet<FlowKey>,
    /// Being recovered there (a backup's, or a fenced node's own).
    pub(crate) recovering: HashSet<FlowKey>,
}

impl Claims {
    fn extend(&mut self, other: Claims) {
        self.served.extend(other.served);
        self.pending.extend(other.pending);
        self.recovering.extend(other.recovering);
    }

    /// Whether `flow` is in a handoff or a recovery there: it may end
    /// served there.
    fn open(&self, flow: &FlowKey) -> bool {
        self.pending.contains(flow) || self.recovering.contains(flow)
    }
}

impl Runtime {
    /// Which of `flows` are served here, or being taken in.
    pub(crate) fn claim(&self, flows: &[FlowKey]) -> Claims {
        claims_in(&self.state(), flows)
    }
}

/// The answer of runtime state `st` to a node about to recover `flows`
/// (see [`Runtime::answer_claim`]); an own fenced connection not yet being
/// recovered here is given up to the asker.
fn answer_in(st: &mut State, flows: &[FlowKey]) -> Claims {
    let asked: Vec<FlowKey> = flows
        .iter()
        .filter(|f| {
            let given_up = st.recovering.get(f) == Some(&Recovering::OwnUnlessClaimed);
            if given_up {
                st.recovering.remove(f);
                tracing::info!(
                    port = f.client_port,
                    "another node recovers a fenced connection of this node"
                );
            }
            !given_up
        })
        .copied()
        .collect();
    let mut claims = claims_in(st, &asked);
    for f in asked {
        if st.recovering.contains_key(&f) && !claims.served.contains(&f) {
            claims.recovering.insert(f);
        }
    }
    claims
}

/// Which of `flows` the runtime state `st` serves or takes in.
fn claims_in(st: &State, flows: &[FlowKey]) -> Claims {
    let mut claims = Claims::default();
    for f in flows {
        match st.routes.get(f) {
            // A handoff from here, or into here, whose outcome is open
            // (a donor whose acceptor fell silent may yet leave the
            // connection to that acceptor's backup).
            Some(
                Route::Forward {
                    copies: Some(_), ..
                }
                | Route::Hold {
                    taking_in: true, ..
                },
            ) => claims.pending.insert(*f),
            Some(Route::Live { .. }) => claims.served.insert(*f),
            _ if st.served.contains_key(f) => claims.served.insert(*f),
            _ => false,
        };
    }
    claims
}

impl Runtime {
    /// What this node tells a node that asks about `flows` (it is about to
    /// recover them): served or taken in here, or being recovered here.
    /// One of this node's own fenced connections not yet being recovered
    /// here is given up to the asker.
    pub(crate) fn answer_claim(&self, flows: &[FlowKey]) -> Claims {
        // One lock for the whole answer: what is given up and what is
        // claimed are read together.
        answer_in(&mut self.state(), flows)
    }

    /// Starts recovering one of this node's own fenced connections, unless
    /// it was given up to another node meanwhile.
    fn start_own_recovery(&self, flow: FlowKey) -> bool {
        let mut st = self.state();
        let recovering = &mut st.recovering;
        match recovering.get_mut(&flow) {
            Some(r @ Recovering::OwnUnlessClaimed) => {
                *r = Recovering::Own;
                true
            }
            _ => false,
        }
    }

    /// The recoveries of `flows` here ended (served, here or elsewhere, or
    /// failed).
    fn recovery_over(&self, flows: impl IntoIterator<Item = FlowKey>) {
        let mut st = self.state();
        let recovering = &mut st.recovering;
        for f in flows {
            recovering.remove(&f);
        }
    }
}

/// Asks the other live nodes, and `also` (nodes declared down that may
/// live), which of `flows` they serve, take in or recover (the failed
/// node too, if it is back: declared down while it lived, it may recover
/// its own).
pub(crate) async fn claimed_elsewhere(e: &Arc<Runtime>, flows: &[FlowKey], also: &[u16]) -> Claims {
    let mut others: Vec<u16> = e
        .membership
        .live()
        .into_iter()
        .filter(|n| *n != e.me())
        .collect();
    for n in also {
        if *n != e.me() && !others.contains(n) {
            others.push(*n);
        }
    }
    let mut claimed = Claims::default();
    if others.is_empty() {
        return claimed;
    }
    let id: u64 = rand::random();
    let (tx, mut rx) = mpsc::unbounded_channel();
    e.state().claims.insert(id, tx);
    for n in &others {
        let (e, flows) = (e.clone(), flows.to_vec());
        let n = *n;
        tokio::spawn(async move {
            if let Err(err) = e.streams.send(n, &Message::Claim { id, flows }).await {
                tracing::debug!(to = n, error = %err, "asking for claims");
            }
        });
    }
    let mut answered = HashSet::new();
    let deadline = tokio::time::Instant::now() + CLAIM_WAIT;
    while answered.len() < others.len() {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((from, claims))) => {
                answered.insert(from);
                claimed.extend(claims);
            }
            _ => break,
        }
    }
    e.state().claims.remove(&id);
    claimed
}

/// Recovers one connection, trying again a few times when the client or
/// its signalling did not answer (loss, a cluster in turmoil): a client
/// that only receives sends nothing by itself, so without an answer it
/// would wait forever. Returns None when a handoff brought the connection
/// here meanwhile.
async fn recover_with_retries(
    e: &Arc<Runtime>,
    r: MirrorRecord,
    limit: &Semaphore,
) -> Result<Option<StreamOffsets>, RecoveryError> {
    let flow = r.flow;
    let mut waits = RETRY_AFTER.iter();
    let give_up_waiting = Instant::now() + PENDING_WAIT;
    // Whether the connection may have moved since the others were asked.
    let mut ask_again = false;
    loop {
        // A handoff from the failed node may have brought it here
        // meanwhile (the donor dies, or is fenced, mid-handoff), or may
        // be bringing it: its outcome decides.
        let mut claims = e.claim(&[flow]);
        let waiting = Instant::now() < give_up_waiting;
        let wait_here = waiting && !claims.pending.is_empty();
        if ask_again && claims.served.is_empty() && !wait_here {
            // It was here, or moving, or a try failed: it may be served
            // elsewhere now (handed on from here while this waited).
            claims = claimed_elsewhere(e, &[flow], &[]).await;
        }
        if !claims.served.is_empty() {
            tracing::info!(port = flow.client_port, "connection already served");
            return Ok(None);
        }
        if claims.open(&flow) && waiting {
            ask_again = true;
            tokio::time::sleep(PENDING_POLL).await;
            continue;
        }
        ask_again = true;
        let result = {
            let Ok(_permit) = limit.acquire().await else {
                return Err(RecoveryError::Stopped);
            };
            recover_one(e, r.clone()).await
        };
        match (result, waits.next()) {
            (Err(err), Some(wait)) if err.worth_retrying() => {
                tracing::info!(port = flow.client_port, error = %err, ?wait, "recovery failed; trying again");
                tokio::time::sleep(*wait).await;
            }
            (result, _) => return result.map(Some),
        }
    }
}

/// Recovers one connection; returns its stream offsets.
async fn recover_one(e: &Arc<Runtime>, r: MirrorRecord) -> Result<StreamOffsets, RecoveryError> {
    let flow = r.flow;
    let sink = e
        .sink(flow.server_port)
        .ok_or(RecoveryError::NoListener(flow.server_port))?;
    // The take-over pipeline (see `takeover`) orders the steps and says
    // what undoes a failed one; this driver performs them.
    let mut t = Takeover::new(Source::Recovery);
    let fences = e.fences();
    let t0 = Instant::now();
    let (mut t_locked, mut t_bound, mut t_probed) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let ts_now = || r.options.timestamps.then(|| r.ts_now());
    let mut client: Option<ClientState> = None;
    let mut rebuilt_state = None;
    let mut restored = None;
    let mut live = None;
    while let Some(now) = t.step() {
        let result: Result<(), RecoveryError> = match now {
            Step::Hold => {
                e.hold_for_takeover(flow);
                Ok(())
            }
            Step::Lock => e
                .lock
                .lock(&flow)
                .map(|()| t_locked = t0.elapsed())
                .map_err(RecoveryError::from),
            Step::Bind => {
                let bound = tokio::time::timeout(
                    ACCEPT_DEADLINE,
                    e.node
                        .handoff_start(flow.client, Scope::Flow(flow), r.bu_seq.map(SeqNum)),
                )
                .await;
                t_bound = t0.elapsed();
                match bound {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(err)) => Err(err.into()),
                    Err(_) => Err(RecoveryError::BindTimeout),
                }
            }
            Step::Probe => probe_client(e, &flow, r.snd_una, r.rcv_nxt, ts_now)
                .await
                .map(|c| {
                    t_probed = t0.elapsed();
                    client = Some(c);
                }),
            Step::Restore => match client {
                Some(c) => {
                    let state = rebuilt(&r, &c);
                    let result = restore_when_free(&state)
                        .await
                        .map(|x| restored = Some(x))
                        .map_err(RecoveryError::from);
                    rebuilt_state = Some(state);
                    result
                }
                None => Err(RecoveryError::OutOfOrder("restoring before the probe")),
            },
            Step::Confirm if e.fenced_since(fences) => {
                // Declared down meanwhile: nobody else recovers this connection.
                Err(RecoveryError::Fenced)
            }
            Step::Confirm => Ok(()),
            Step::GoLive => match (restored.take(), client) {
                (Some(frozen), Some(c)) => {
                    let offsets = StreamOffsets {
                        sent: unwrap_seq(r.snd_una, r.acked, c.rcv_nxt),
                        received: unwrap_seq(r.rcv_nxt, r.received, c.snd_una),
                    };
                    // Counters read while frozen: once thawed, acks move them.
                    let base =
                        StreamBase::restored(frozen.as_fd(), offsets).unwrap_or(StreamBase {
                            acked: offsets.sent,
                            received: offsets.received,
                        });
                    let held = e.go_live(flow);
                    frozen.thaw().map_err(RecoveryError::from).map(|fd| {
                        e.replay(&held);
                        live = Some((fd, base, offsets));
                    })
                }
                _ => Err(RecoveryError::OutOfOrder("going live before the restore")),
            },
            // Serving comes after the loop.
            Step::Serve => Ok(()),
        };
        match result {
            Ok(()) => t.done(),
            Err(err) => {
                let failure = t.failed(false);
                drop(restored.take());
                e.undo_takeover(flow, &failure, None, client.map(|c| c.rcv_nxt))
                    .await;
                return Err(if failure.undo.contains(&Undo::ResetClient) {
                    RecoveryError::Reset(Box::new(err))
                } else {
                    err
                });
            }
        }
    }
    let (Some((fd, base, offsets)), Some(state)) = (live, rebuilt_state) else {
        return Err(RecoveryError::OutOfOrder("not live after the take-over"));
    };
    tracing::debug!(
        port = flow.client_port, ?t_locked, ?t_bound, ?t_probed, thawed = ?t0.elapsed(),
        mirrored = ?r, ?client, ?offsets, "recovered"
    );
    let stream = Arc::new(TcpStream::from(fd));
    e.serve(
        flow,
        Served::new(Arc::downgrade(&stream), base, &state, offsets),
    );
    let arrival = Arrival {
        stream,
        base,
        handed_in: false,
        recovered: Some(offsets),
    };
    if sink.send(arrival).is_err() {
        return Err(RecoveryError::NoListener(flow.server_port));
    }
    Ok(offsets)
}

/// Probes the client of `flow` until its answer is caught (by a Hold
/// route of the flow, locked here): `snd_una` and `rcv_nxt` are this
/// side's edges as last known, `ts_now` the connection's TSval clock.
pub(crate) async fn probe_client(
    e: &Runtime,
    flow: &FlowKey,
    snd_una: u32,
    rcv_nxt: u32,
    ts_now: impl Fn() -> Option<u32>,
) -> Result<ClientState, RecoveryError> {
    for _ in 0..PROBES {
        // A send refused on the way out (a firewall's drop: EPERM) is a
        // lost probe: the next one covers it.
        if let Err(err) = e
            .probes
            .send(flow, &probe_segment(flow, snd_una, rcv_nxt, ts_now()))
        {
            tracing::debug!(?flow, error = %err, "sending a probe");
        }
        let deadline = Instant::now() + PROBE_WAIT;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
            if let Some(c) = learned(e, flow) {
                return Ok(c);
            }
        }
    }
    // What was caught instead (nothing, or what could not be read).
    let caught: Vec<String> = match e.state().routes.get(flow) {
        Some(Route::Hold { packets, .. }) => packets
            .iter()
            .map(|p| format!("{:?}", crate::tcp::ack_probe::view(&p.segment)))
            .collect(),
        other => vec![format!("no hold route: {other:?}")],
    };
    tracing::debug!(?flow, snd_una, rcv_nxt, ?caught, "no answer to the probes");
    Err(RecoveryError::NoAnswer)
}

/// What the segments held for `flow` tell of the client.
fn learned(e: &Runtime, flow: &FlowKey) -> Option<ClientState> {
    let st = e.state();
    let routes = &st.routes;
    match routes.get(flow) {
        Some(Route::Hold { packets, .. }) => {
            ClientState::learn(packets.iter().map(|p| p.segment.as_slice()))
        }
        _ => None,
    }
}

/// The connection's state as the client knows it: empty queues, this
/// side's stream resuming at what the client acknowledged.
fn rebuilt(r: &MirrorRecord, c: &ClientState) -> TcpState {
    let o = r.options;
    let snd_wnd = u32::from(c.window) << o.snd_wscale.min(14);
    let ts_val = match (o.timestamps, c.ts_ecr) {
        (false, _) => 0,
        (true, Some(ecr)) if (ecr.wrapping_sub(r.ts_now()) as i32) >= 0 => ecr.wrapping_add(1),
        (true, _) => r.ts_now(),
    };
    TcpState {
        local: SocketAddrV6::new(r.flow.server, r.flow.server_port, 0, 0),
        peer: SocketAddrV6::new(r.flow.client, r.flow.client_port, 0, 0),
        snd_una: c.rcv_nxt,
        rcv_nxt: c.snd_una,
        window: RepairWindow {
            snd_wl1: c.snd_una,
            snd_wnd,
            max_window: snd_wnd,
            rcv_wnd: 65535 << o.rcv_wscale.min(5),
            rcv_wup: c.snd_una,
        },
        mss: o.mss,
        snd_wscale: o.snd_wscale,
        rcv_wscale: o.rcv_wscale,
        sack: o.sack,
        timestamps: o.timestamps,
        ts_val,
        send_queue: Vec::new(),
        unsent: 0,
        recv_queue: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Route;

    fn flow(port: u16) -> FlowKey {
        FlowKey {
            client: "2001:db8:2:1::2".parse().unwrap(),
            client_port: port,
            server: "2001:db8:100::1".parse().unwrap(),
            server_port: 80,
        }
    }

    fn hold(taking_in: bool) -> Route {
        Route::Hold {
            packets: Vec::new(),
            since: Instant::now(),
            taking_in,
        }
    }

    #[test]
    fn an_offer_being_taken_in_makes_a_recovering_backup_wait() {
        // The acceptor set its Hold route before anything else: a backup
        // asking now hears "pending" and waits for the outcome.
        let mut st = State::default();
        st.routes.insert(flow(1), hold(true));
        let claims = answer_in(&mut st, &[flow(1)]);
        assert!(claims.pending.contains(&flow(1)));
        assert!(claims.served.is_empty() && claims.recovering.is_empty());
    }

    #[test]
    fn packets_merely_waiting_claim_nothing() {
        // Forwarded packets wait here, but no offer came (its donor may
        // have died before sending it): the backup recovers.
        let mut st = State::default();
        st.routes.insert(flow(1), hold(false));
        let claims = answer_in(&mut st, &[flow(1)]);
        assert!(claims.pending.is_empty() && claims.served.is_empty());
    }

    #[test]
    fn a_donors_open_handoff_is_pending_and_a_live_one_served() {
        let mut st = State::default();
        st.routes.insert(
            flow(1),
            Route::Forward {
                to: 2,
                copies: Some(Vec::new()),
                until: None,
            },
        );
        st.routes.insert(
            flow(2),
            Route::Live {
                until: Instant::now() + Duration::from_secs(1),
            },
        );
        let claims = answer_in(&mut st, &[flow(1), flow(2), flow(3)]);
        assert_eq!(claims.pending, HashSet::from([flow(1)]));
        assert_eq!(claims.served, HashSet::from([flow(2)]));
    }

    #[test]
    fn an_own_fenced_connection_is_given_up_unless_its_recovery_began() {
        let mut st = State::default();
        st.recovering.insert(flow(1), Recovering::OwnUnlessClaimed);
        st.recovering.insert(flow(2), Recovering::Own);
        let claims = answer_in(&mut st, &[flow(1), flow(2)]);
        assert_eq!(claims.recovering, HashSet::from([flow(2)]));
        assert!(
            !st.recovering.contains_key(&flow(1)),
            "given up to the asker"
        );
        // Asked again: nothing left to give up.
        let again = answer_in(&mut st, &[flow(1)]);
        assert!(again.recovering.is_empty());
    }
}
