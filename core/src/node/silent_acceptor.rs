//! What a donor does with a connection whose acceptor fell silent (no
//! outcome within its deadline). Sans-I/O: the driver
//! (`Runtime::reclaim_after_silence`) asks the cluster, binds, probes the
//! client; these functions decide.
//!
//! The danger is serving a connection twice: the acceptor may have taken
//! it in (its outcome lost), handed it on, or died with it, its backup now
//! recovering it. So the donor asks before it binds the flow back, and
//! after binding back it probes the client: a client that acknowledged
//! bytes beyond what the donor's frozen socket holds was served elsewhere.

/// Who holds the connection, besides its donor, as the cluster answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holder {
    /// A node serves it.
    Serving,
    /// A node recovers it.
    Recovering,
    /// Nobody: the donor may take it back.
    Nobody,
}

/// The donor's next move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Serve it here again, at once: this node was declared down
    /// meanwhile (fenced), so no backup will recover it and nobody else
    /// serves it.
    ResumeNow,
    /// Ask the other nodes who holds the connection (a handoff of it still
    /// open elsewhere is waited for).
    AskHolders,
    /// Bind the flow back to this node and probe the client.
    BindBackAndProbe,
    /// It is served, or recovered, elsewhere: end the frozen socket
    /// quietly and let it go.
    LeaveElsewhere,
    /// The probe found nothing against it: thaw and serve here.
    Resume,
}

/// When the acceptor's deadline passed.
pub(crate) fn on_silence(fenced_meanwhile: bool) -> Verdict {
    if fenced_meanwhile {
        Verdict::ResumeNow
    } else {
        Verdict::AskHolders
    }
}

/// When the cluster answered, before binding back: binding here would
/// take the client away from a node that serves the connection now.
pub(crate) fn on_holder(holder: Holder) -> Verdict {
    match holder {
        Holder::Nobody => Verdict::BindBackAndProbe,
        Holder::Serving | Holder::Recovering => Verdict::LeaveElsewhere,
    }
}

/// After the probe: `client_rcv_nxt` is the next byte the client expects
/// (None: it did not answer), `held_to` the end of what the donor's frozen
/// socket holds (its unacknowledged send queue included). A client past
/// that end took bytes this socket never had: it was served elsewhere, and
/// this socket cannot resume it.
pub(crate) fn after_probe(client_rcv_nxt: Option<u32>, held_to: u32) -> Verdict {
    match client_rcv_nxt {
        // Sequence space wraps: "past" is the signed distance.
        Some(rcv_nxt) if (rcv_nxt.wrapping_sub(held_to) as i32) > 0 => Verdict::LeaveElsewhere,
        _ => Verdict::Resume,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fenced_donor_resumes_without_asking() {
        assert_eq!(on_silence(true), Verdict::ResumeNow);
        assert_eq!(on_silence(false), Verdict::AskHolders);
    }

    #[test]
    fn a_connection_held_elsewhere_is_let_go() {
        assert_eq!(on_holder(Holder::Serving), Verdict::LeaveElsewhere);
        assert_eq!(on_holder(Holder::Recovering), Verdict::LeaveElsewhere);
        assert_eq!(on_holder(Holder::Nobody), Verdict::BindBackAndProbe);
    }

    #[test]
    fn a_client_past_the_held_bytes_was_served_elsewhere() {
        assert_eq!(after_probe(Some(1001), 1000), Verdict::LeaveElsewhere);
        assert_eq!(after_probe(Some(1000), 1000), Verdict::Resume);
        assert_eq!(after_probe(Some(900), 1000), Verdict::Resume);
        assert_eq!(
            after_probe(None, 1000),
            Verdict::Resume,
            "no answer: resume"
        );
    }

    #[test]
    fn the_comparison_survives_the_sequence_wrap() {
        assert_eq!(after_probe(Some(5), u32::MAX - 5), Verdict::LeaveElsewhere);
        assert_eq!(after_probe(Some(u32::MAX - 5), 5), Verdict::Resume);
    }
}
