//! What nodes tell each other about handoffs and load, on the peer
//! channel's stream form.

use std::net::Ipv6Addr;

use serde::{Deserialize, Serialize};

use crate::cluster::mirror_store::{MirrorRecord, Unserved};
use crate::dataplane::FlowKey;
use crate::mipv6::seq::SeqNum;
use crate::tcp::flow_lock::Captured;
use crate::tcp::stream_offsets::StreamOffsets;

/// One message between nodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Message {
    /// Split handoff, first half: run return routability with `client`
    /// now, while the donor still serves (seed §3.3 step 4 ahead).
    Prepare {
        /// The handoff.
        id: u64,
        /// The client.
        client: Ipv6Addr,
    },
    /// The answer to [`Message::Prepare`].
    Prepared {
        /// The handoff.
        id: u64,
        /// Whether return routability succeeded.
        ok: bool,
    },
    /// Steps 2-3: the frozen connection's state, for the acceptor to
    /// re-create, and the donor's latest Binding Update sequence number.
    Offer {
        /// The handoff.
        id: u64,
        /// [`crate::tcp::repair::TcpState::to_bytes`].
        state: Vec<u8>,
        /// The donor's sequence number for the client, if it has one.
        donor_seq: Option<SeqNum>,
        /// Offsets of the state's `snd_una` and `rcv_nxt` in the streams.
        edges: StreamOffsets,
    },
    /// A packet of the flow that a lock dropped, for the node that holds
    /// the connection now.
    Captured(Captured),
    /// Step 6, or the failure: what became of the offer.
    Outcome {
        /// The handoff.
        id: u64,
        /// The acceptor serves the connection now.
        ok: bool,
        /// On failure: a Binding Update may have reached the client, so the
        /// donor must bind the flow to itself again before serving.
        maybe_bound: bool,
        /// Why it failed (None when it did not).
        reason: Option<Refusal>,
    },
    /// The donor gave up waiting: the acceptor must not take the
    /// connection.
    Abort {
        /// The handoff.
        id: u64,
    },
    /// To the sender's backup: connections it serves (new ones, or their
    /// state now); with `replace`, every connection it serves.
    Mirror {
        /// The connections.
        records: Vec<MirrorRecord>,
        /// These are all: forget the others.
        replace: bool,
    },
    /// From a donor to its acceptor's backup: the record of a connection
    /// offered to `origin` (sent with the offer), kept unless `origin`
    /// mirrored it already,
    /// so that the backup knows it even if `origin` dies before its own
    /// mirror arrives.
    MirrorOf {
        /// The acceptor.
        origin: u16,
        /// The connections, as the donor froze them.
        records: Vec<MirrorRecord>,
    },
    /// To the sender's backup: connections it no longer serves (closed,
    /// or moved on to another node).
    MirrorGone {
        /// The connections.
        gone: Vec<Unserved>,
    },
    /// From a node about to recover a dead node's connections: which of
    /// these does the receiver serve (or is taking in)?
    Claim {
        /// The question.
        id: u64,
        /// The connections.
        flows: Vec<FlowKey>,
    },
    /// The answer to [`Message::Claim`]: the ones the sender serves.
    Claimed {
        /// The question.
        id: u64,
        /// The connections it serves.
        flows: Vec<FlowKey>,
        /// The connections it is taking in now (a handoff whose outcome
        /// is not known yet).
        pending: Vec<FlowKey>,
        /// The connections it is recovering.
        recovering: Vec<FlowKey>,
    },
    /// Periodic load report of the sender.
    Load {
        /// Connections it serves.
        connections: u32,
        /// Whether it takes part in serving (see `leave_replica_network`).
        available: bool,
        /// Round-trip times it measured lately, per client, in µs.
        rtts: Vec<(Ipv6Addr, u32)>,
    },
}

/// Why an acceptor did not take a connection in: told to the donor in the
/// outcome, and the donor's [`HandoffError::Refused`](super::HandoffError).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The acceptor has no server socket on the connection's port.
    #[error("no server socket on port {0}")]
    NoServerSocket(u16),
    /// The donor is known down: its backup recovers the connection.
    #[error("the donor is down: its backup recovers the connection")]
    DonorDown,
    /// The acceptor was declared down while it took the connection in.
    #[error("the acceptor was declared down meanwhile")]
    AcceptorFenced,
    /// The donor gave up waiting first.
    #[error("the donor gave up")]
    DonorGaveUp,
    /// The acceptor's return routability with the client failed (split
    /// handoff).
    #[error("return routability failed")]
    ReturnRoutability,
    /// The acceptor answered with a message that is no answer to this.
    #[error("unexpected answer")]
    UnexpectedAnswer,
    /// A step failed at the acceptor: its error, in words (its type stays
    /// on the acceptor's side).
    #[error("the acceptor failed: {0}")]
    Failed(String),
}
