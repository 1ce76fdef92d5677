//! A server node's side of one binding exchange with a client: which
//! sequence number its next Binding Update carries, and what it does with
//! each answer (or its absence). Sans-I/O: the driver (`lowlevel::bind`)
//! sends and waits; this decides.
//!
//! Refusals a node can cure are cured: an old sequence number (status
//! 135: go past the number the acknowledgement reports; answered at once,
//! so it does not use up an attempt, since nodes handing a client's
//! connections among themselves race for its numbers) and expired nonces
//! (136-138: new tokens, once). A lost acknowledgement is sent again, with
//! new tokens: the client agent drops a BU silently when the tokens no
//! longer check (it restarted, with a new key).

use super::seq::SeqNum;
use super::wire::ba_status;

/// Sends of one Binding Update without an answer before giving up.
pub const ATTEMPTS: usize = 3;
/// Binding Updates refused for an old sequence number before giving up.
pub const MAX_SEQ_CURES: usize = 16;
/// How far this node's own sequence numbers may run ahead of the number
/// a client last accepted (its BUs in flight), and still be its own.
pub const IN_FLIGHT_WINDOW: u16 = 4096;

/// What the node does after an answer, or none, to its Binding Update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The client took it: the binding is made (or removed).
    Done,
    /// A removal found a newer binding from another node in place: there
    /// is nothing of this node's left to remove, and curing the number
    /// would remove the other node's.
    ReplacedElsewhere,
    /// Send it again, with a new sequence number past [`BuExchange::floor`];
    /// with new tokens first if `new_tokens`.
    Again {
        /// Whether the tokens must be fetched anew first.
        new_tokens: bool,
    },
    /// The client refused it for good, with this status.
    Refused(u8),
    /// No answer after every attempt, or no end to old numbers.
    GiveUp,
}

/// One binding exchange in progress.
#[derive(Debug, Clone)]
pub struct BuExchange {
    removing: bool,
    floor: Option<SeqNum>,
    renewed: bool,
    restamped: bool,
    attempts: usize,
    behind: usize,
}

impl BuExchange {
    /// An exchange for a binding of `lifetime` (0 removes it); the next
    /// number must be newer than `floor` if given (the number the client
    /// last accepted, as a donor knows it).
    pub fn new(lifetime: u16, floor: Option<SeqNum>) -> BuExchange {
        BuExchange {
            removing: lifetime == 0,
            floor,
            renewed: false,
            restamped: false,
            attempts: 0,
            behind: 0,
        }
    }

    /// The number the next BU's must be newer than (besides this node's own).
    pub fn floor(&self) -> Option<SeqNum> {
        self.floor
    }

    /// The acknowledgement's (status, reported sequence number), or None
    /// when none came in time.
    pub fn on_answer(&mut self, answer: Option<(u8, SeqNum)>) -> Next {
        let next = match answer {
            Some((status, _)) if status < 128 => return Next::Done,
            Some((ba_status::SEQ_OUT_OF_WINDOW, _)) if self.removing => {
                return Next::ReplacedElsewhere
            }
            Some((ba_status::SEQ_OUT_OF_WINDOW, reported)) => {
                self.behind += 1;
                self.floor = Some(reported);
                Next::Again { new_tokens: false }
            }
            Some((status, _))
                if (ba_status::EXPIRED_HOME_NONCE..=ba_status::EXPIRED_NONCES)
                    .contains(&status)
                    && !self.renewed =>
            {
                self.renewed = true;
                Next::Again { new_tokens: true }
            }
            // A home agent found the timestamp not newer than the flow's
            // last (another node's clock a little ahead): a new stamp once.
            Some((ba_status::ID_MISMATCH, _)) if !self.restamped => {
                self.restamped = true;
                Next::Again { new_tokens: false }
            }
            Some((status, _)) => return Next::Refused(status),
            None => {
                self.attempts += 1;
                Next::Again { new_tokens: true }
            }
        };
        if self.attempts < ATTEMPTS && self.behind < MAX_SEQ_CURES {
            next
        } else {
            Next::GiveUp
        }
    }
}

/// The sequence number of the next BU to a client: the one after the
/// newest of this node's own (`accepted`: the last the client took from
/// it; `sent`: the last it sent) or after `floor` (the number the client
/// last accepted, as a donor or the client said it) unless this node's own
/// are just ahead of it (BUs of this node in flight). None when nothing is
/// known: the driver then starts at a random number.
pub fn next_sequence(
    accepted: Option<SeqNum>,
    sent: Option<SeqNum>,
    floor: Option<SeqNum>,
) -> Option<SeqNum> {
    let own = [accepted, sent].into_iter().flatten().reduce(newest);
    let last = match floor {
        Some(f) => Some(latest(own, f)),
        None => own,
    };
    last.map(SeqNum::next)
}

/// The newer of two sequence numbers (RFC 6275 §9.5.1 order).
pub fn newest(a: SeqNum, b: SeqNum) -> SeqNum {
    if a.is_newer_than(b) {
        a
    } else {
        b
    }
}

/// `own` if it is `other` or a little ahead of it (this node's BUs in
/// flight), else `other`.
pub fn latest(own: Option<SeqNum>, other: SeqNum) -> SeqNum {
    match own {
        Some(o) if o.0.wrapping_sub(other.0) < IN_FLIGHT_WINDOW => o,
        _ => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCEPTED: u8 = 0;

    #[test]
    fn an_accepted_bu_is_done_at_once() {
        let mut x = BuExchange::new(60, None);
        assert_eq!(x.on_answer(Some((ACCEPTED, SeqNum(1)))), Next::Done);
    }

    #[test]
    fn three_lost_acknowledgements_give_up_each_retry_with_new_tokens() {
        let mut x = BuExchange::new(60, None);
        assert_eq!(x.on_answer(None), Next::Again { new_tokens: true });
        assert_eq!(x.on_answer(None), Next::Again { new_tokens: true });
        assert_eq!(x.on_answer(None), Next::GiveUp);
    }

    #[test]
    fn an_old_number_moves_the_floor_without_using_an_attempt() {
        let mut x = BuExchange::new(60, Some(SeqNum(5)));
        assert_eq!(x.floor(), Some(SeqNum(5)));
        assert_eq!(x.on_answer(None), Next::Again { new_tokens: true });
        assert_eq!(x.on_answer(None), Next::Again { new_tokens: true });
        // Two attempts used; cures are free up to their own limit.
        for i in 0..(MAX_SEQ_CURES - 1) as u16 {
            let got = x.on_answer(Some((ba_status::SEQ_OUT_OF_WINDOW, SeqNum(100 + i))));
            assert_eq!(got, Next::Again { new_tokens: false });
            assert_eq!(x.floor(), Some(SeqNum(100 + i)));
        }
        assert_eq!(
            x.on_answer(Some((ba_status::SEQ_OUT_OF_WINDOW, SeqNum(999)))),
            Next::GiveUp,
            "no end to old numbers"
        );
    }

    #[test]
    fn expired_nonces_get_new_tokens_once_then_refuse() {
        for status in ba_status::EXPIRED_HOME_NONCE..=ba_status::EXPIRED_NONCES {
            let mut x = BuExchange::new(60, None);
            assert_eq!(
                x.on_answer(Some((status, SeqNum(0)))),
                Next::Again { new_tokens: true }
            );
            assert_eq!(
                x.on_answer(Some((status, SeqNum(0)))),
                Next::Refused(status)
            );
        }
    }

    #[test]
    fn a_removal_replaced_by_another_node_is_left_alone() {
        let mut x = BuExchange::new(0, None);
        assert_eq!(
            x.on_answer(Some((ba_status::SEQ_OUT_OF_WINDOW, SeqNum(7)))),
            Next::ReplacedElsewhere
        );
    }

    #[test]
    fn a_stale_stamp_at_the_home_agent_is_retried_once() {
        let mut x = BuExchange::new(10, None);
        let mismatch = Some((ba_status::ID_MISMATCH, SeqNum(1)));
        assert_eq!(x.on_answer(mismatch), Next::Again { new_tokens: false });
        assert_eq!(x.on_answer(mismatch), Next::Refused(ba_status::ID_MISMATCH));
    }

    #[test]
    fn other_refusals_are_final() {
        let mut x = BuExchange::new(60, None);
        assert_eq!(x.on_answer(Some((129, SeqNum(0)))), Next::Refused(129));
    }

    #[test]
    fn the_next_number_follows_the_newest_known() {
        assert_eq!(next_sequence(None, None, None), None);
        assert_eq!(
            next_sequence(Some(SeqNum(3)), Some(SeqNum(9)), None),
            Some(SeqNum(10))
        );
        // Wrapped: 2 is newer than 65530.
        assert_eq!(
            next_sequence(Some(SeqNum(65530)), Some(SeqNum(2)), None),
            Some(SeqNum(3))
        );
        // A floor from the donor or the client wins over an older own number...
        assert_eq!(
            next_sequence(Some(SeqNum(3)), None, Some(SeqNum(500))),
            Some(SeqNum(501))
        );
        // ...but this node's own BUs in flight just ahead of it stay.
        assert_eq!(
            next_sequence(Some(SeqNum(510)), None, Some(SeqNum(500))),
            Some(SeqNum(511))
        );
    }
}
