//! The take-over pipeline: the steps by which this node takes a live
//! connection in, from a donor in a handoff or from a dead node's mirror
//! record in a recovery, and what undoes a take-over whose step failed.
//!
//! Sans-I/O, as quinn-proto's machines are: the driver
//! (`Runtime::accept_offer`, `recovery::recover_one`) asks for the next
//! step, performs it, and reports done or failed; a failure comes back as
//! the undo actions to carry out and whether the client may be bound here
//! already. The order and the undo are decided here once, for both paths.

/// Where the connection comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// A live donor offered it (its state came in the offer).
    Handoff,
    /// Its node died; this node backs it up (its state is a mirror record,
    /// completed by probing the client).
    Recovery,
}

/// One step of a take-over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Hold the flow's packets in a route that claims the connection (a
    /// backup's claim then sees it taken).
    Hold,
    /// Re-create the socket, frozen.
    Restore,
    /// Lock the flow here: drop and capture (a frozen socket would ack).
    Lock,
    /// Bind the flow to this node (a Binding Update, within a deadline).
    Bind,
    /// Recovery: probe the client for its sequence numbers.
    Probe,
    /// Nothing overtook the take-over: this node was not declared down
    /// meanwhile, and a donor did not give up.
    Confirm,
    /// The route goes live, the socket thaws, what the lock caught is
    /// replayed.
    GoLive,
    /// The connection goes to the application (and is mirrored).
    Serve,
}

/// A handoff restores first (the donor's state is complete) so that the
/// Binding Update, the slow step, starts last before going live.
const HANDOFF: [Step; 7] = [
    Step::Hold,
    Step::Restore,
    Step::Lock,
    Step::Bind,
    Step::Confirm,
    Step::GoLive,
    Step::Serve,
];

/// A recovery binds before it probes (the client's answer must come
/// here) and restores only once the probe has told the client's edges.
const RECOVERY: [Step; 8] = [
    Step::Hold,
    Step::Lock,
    Step::Bind,
    Step::Probe,
    Step::Restore,
    Step::Confirm,
    Step::GoLive,
    Step::Serve,
];

/// What undoes part of a failed take-over, in the order given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Undo {
    /// Remove the hold route (its packets are dropped).
    DropRoute,
    /// Handoff: the donor serves again. Close the frozen socket quietly,
    /// release the binding made here, forward the flow's packets (those
    /// held first) to the donor for a grace time.
    ReturnToDonor,
    /// Recovery: unlock the flow here.
    Unlock,
    /// Recovery: the client's edges are known and its connection cannot
    /// be served: send it a reset rather than leave it hanging.
    ResetClient,
}

/// A failed take-over: what to undo, and whether the client may have
/// taken this node's binding (a donor that gets the connection back must
/// then bind it back to itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The step that failed.
    pub step: Step,
    /// What to undo, in order.
    pub undo: Vec<Undo>,
    /// Whether the client may be bound here.
    pub maybe_bound: bool,
}

/// One take-over in progress.
#[derive(Debug)]
pub(crate) struct Takeover {
    source: Source,
    next: usize,
}

impl Takeover {
    /// A take-over of a connection from `source`, at its first step.
    pub fn new(source: Source) -> Takeover {
        Takeover { source, next: 0 }
    }

    fn steps(&self) -> &'static [Step] {
        match self.source {
            Source::Handoff => &HANDOFF,
            Source::Recovery => &RECOVERY,
        }
    }

    /// The step to perform now; None once the connection is served.
    pub fn step(&self) -> Option<Step> {
        self.steps().get(self.next).copied()
    }

    /// The current step succeeded.
    pub fn done(&mut self) {
        debug_assert!(self.step().is_some(), "a take-over past its end");
        self.next += 1;
    }

    /// The current step failed. `bind_may_have_taken` says, for a failed
    /// Bind, whether the client may have taken the binding anyway (its
    /// acknowledgement was lost, or the deadline passed).
    pub fn failed(&self, bind_may_have_taken: bool) -> Failure {
        let step = self.step().unwrap_or(Step::Serve);
        let reached = |s: Step| self.steps()[..self.next].contains(&s) || step == s;
        let (undo, maybe_bound) = match (self.source, step) {
            // Nothing bound yet: only the claim goes.
            (Source::Handoff, Step::Hold | Step::Restore | Step::Lock) => {
                (vec![Undo::DropRoute], false)
            }
            (Source::Handoff, Step::Bind) => (vec![Undo::ReturnToDonor], bind_may_have_taken),
            (Source::Handoff, Step::Confirm) => (vec![Undo::ReturnToDonor], true),
            // Live already: the route and the lock are the connection's.
            (Source::Handoff, _) => (Vec::new(), true),
            (Source::Recovery, Step::Serve) => (Vec::new(), false),
            (Source::Recovery, _) => {
                let mut undo = vec![Undo::DropRoute];
                if reached(Step::Lock) {
                    undo.push(Undo::Unlock);
                }
                // The client answered the probe: its edges are known.
                if self.steps()[..self.next].contains(&Step::Probe) {
                    undo.push(Undo::ResetClient);
                }
                (undo, false)
            }
        };
        Failure {
            step,
            undo,
            maybe_bound,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a take-over whose step `fail_at` fails; None runs it to the end.
    fn run(
        source: Source,
        fail_at: Option<Step>,
        may_have_taken: bool,
    ) -> (Vec<Step>, Option<Failure>) {
        let mut t = Takeover::new(source);
        let mut done = Vec::new();
        while let Some(step) = t.step() {
            if Some(step) == fail_at {
                return (done, Some(t.failed(may_have_taken)));
            }
            done.push(step);
            t.done();
        }
        (done, None)
    }

    #[test]
    fn both_paths_hold_lock_bind_and_go_live_before_serving() {
        for source in [Source::Handoff, Source::Recovery] {
            let (steps, failure) = run(source, None, false);
            assert!(failure.is_none());
            assert_eq!(steps[0], Step::Hold, "{source:?}: the claim comes first");
            let at = |s| steps.iter().position(|x| *x == s).unwrap();
            assert!(at(Step::Lock) < at(Step::Bind), "{source:?}");
            assert!(at(Step::Restore) < at(Step::GoLive), "{source:?}");
            assert!(at(Step::Bind) < at(Step::Confirm), "{source:?}");
            assert_eq!(&steps[steps.len() - 2..], &[Step::GoLive, Step::Serve]);
        }
        // A recovery restores from what the probe told.
        let (steps, _) = run(Source::Recovery, None, false);
        let at = |s| steps.iter().position(|x| *x == s).unwrap();
        assert!(at(Step::Probe) < at(Step::Restore));
    }

    #[test]
    fn a_handoff_that_fails_before_binding_only_drops_its_claim() {
        for step in [Step::Restore, Step::Lock] {
            let (_, f) = run(Source::Handoff, Some(step), true);
            let f = f.unwrap();
            assert_eq!(f.undo, vec![Undo::DropRoute], "{step:?}");
            assert!(!f.maybe_bound, "{step:?}");
        }
    }

    #[test]
    fn a_failed_binding_returns_the_connection_to_the_donor() {
        // A lost acknowledgement: the client may have taken the BU.
        let f = run(Source::Handoff, Some(Step::Bind), true).1.unwrap();
        assert_eq!(f.undo, vec![Undo::ReturnToDonor]);
        assert!(f.maybe_bound);
        // Refused outright: the donor's binding stands.
        let f = run(Source::Handoff, Some(Step::Bind), false).1.unwrap();
        assert!(!f.maybe_bound);
    }

    #[test]
    fn a_donor_that_gave_up_or_a_fence_meanwhile_undoes_a_made_binding() {
        let f = run(Source::Handoff, Some(Step::Confirm), false).1.unwrap();
        assert_eq!(f.undo, vec![Undo::ReturnToDonor]);
        assert!(f.maybe_bound, "the binding was made: the donor binds back");
    }

    #[test]
    fn a_live_handoff_is_not_undone() {
        let f = run(Source::Handoff, Some(Step::GoLive), false).1.unwrap();
        assert!(f.undo.is_empty());
        assert!(f.maybe_bound);
    }

    #[test]
    fn a_recovery_resets_the_client_only_once_it_answered() {
        let f = run(Source::Recovery, Some(Step::Lock), false).1.unwrap();
        assert_eq!(f.undo, vec![Undo::DropRoute, Undo::Unlock]);
        for step in [Step::Bind, Step::Probe] {
            let f = run(Source::Recovery, Some(step), false).1.unwrap();
            assert_eq!(f.undo, vec![Undo::DropRoute, Undo::Unlock], "{step:?}");
        }
        for step in [Step::Restore, Step::Confirm, Step::GoLive] {
            let f = run(Source::Recovery, Some(step), false).1.unwrap();
            assert_eq!(
                f.undo,
                vec![Undo::DropRoute, Undo::Unlock, Undo::ResetClient],
                "{step:?}"
            );
            assert!(!f.maybe_bound);
        }
    }

    #[test]
    fn a_recovery_whose_application_is_gone_undoes_nothing() {
        let f = run(Source::Recovery, Some(Step::Serve), false).1.unwrap();
        assert!(f.undo.is_empty());
    }
}
