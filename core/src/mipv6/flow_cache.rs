//! The home agent's flow binding cache (RFC 5648 binding identifiers with
//! RFC 6089 flow bindings, kept at the home agent): which node serves each
//! connection of a client that runs no agent. Pure data: the home agent
//! machine decides, this remembers.
//!
//! A lookup is one hash probe; expiry keeps a sorted set of deadlines, so
//! 100,000 entries cost nothing per packet (the kernel forwards) and
//! O(log n) per registration. An entry that is removed or runs out stays
//! as a tombstone for the replay window: its last sequence number and
//! timestamp still refuse a captured registration replayed within the
//! window, and one older than the window fails the timestamp check anyway.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use super::mn_ha_auth::NtpTimestamp;
use super::seq::SeqNum;
use crate::dataplane::FlowKey;

/// What the cache knows of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowEntry {
    /// The node serving it; `None` for a tombstone (removed or expired).
    pub care_of: Option<Ipv6Addr>,
    /// The last sequence number accepted for it.
    pub sequence: SeqNum,
    /// The last RFC 4285 timestamp accepted for it.
    pub stamp: NtpTimestamp,
    /// The Binding Identifier it was registered with.
    pub bid: u16,
    /// When the binding runs out (a tombstone: when it is forgotten).
    pub until: Instant,
}

/// The cache has no room for another live flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the flow binding cache is full ({0} flows)")]
pub struct CacheFull(pub usize);

/// The home agent's flow bindings, live and tombstoned.
#[derive(Debug)]
pub struct FlowCache {
    entries: HashMap<FlowKey, FlowEntry>,
    deadlines: BTreeSet<(Instant, FlowKey)>,
    live: usize,
    capacity: usize,
    keep_tombstones: Duration,
}

impl FlowCache {
    /// A cache for at most `capacity` live flows, keeping tombstones for
    /// `keep_tombstones` (the replay window).
    pub fn new(capacity: usize, keep_tombstones: Duration) -> FlowCache {
        FlowCache {
            entries: HashMap::new(),
            deadlines: BTreeSet::new(),
            live: 0,
            capacity,
            keep_tombstones,
        }
    }

    /// The entry of `flow`, tombstones included.
    pub fn get(&self, flow: &FlowKey) -> Option<&FlowEntry> {
        self.entries.get(flow)
    }

    /// The node serving `flow`, if it is bound.
    pub fn holder(&self, flow: &FlowKey) -> Option<Ipv6Addr> {
        self.entries.get(flow).and_then(|e| e.care_of)
    }

    /// How many flows are bound (tombstones not counted).
    pub fn live(&self) -> usize {
        self.live
    }

    /// Binds `flow` to `care_of` until `until`, recording the sequence
    /// number and timestamp that did it. Refused only when the flow is
    /// new and the cache holds `capacity` live flows.
    pub fn bind(
        &mut self,
        flow: FlowKey,
        care_of: Ipv6Addr,
        sequence: SeqNum,
        stamp: NtpTimestamp,
        bid: u16,
        until: Instant,
    ) -> Result<(), CacheFull> {
        let was_live = self.holder(&flow).is_some();
        if !was_live && self.live >= self.capacity {
            return Err(CacheFull(self.capacity));
        }
        if !was_live {
            self.live += 1;
        }
        self.put(
            flow,
            FlowEntry {
                care_of: Some(care_of),
                sequence,
                stamp,
                bid,
                until,
            },
        );
        Ok(())
    }

    /// Removes `flow`'s binding at `now`, keeping a tombstone with the
    /// sequence number and timestamp of the removal. True if it was bound.
    pub fn unbind(
        &mut self,
        flow: FlowKey,
        sequence: SeqNum,
        stamp: NtpTimestamp,
        now: Instant,
    ) -> bool {
        let bid = self.entries.get(&flow).map_or(flow.client_port, |e| e.bid);
        let was_live = self.holder(&flow).is_some();
        if was_live {
            self.live -= 1;
        }
        let until = now + self.keep_tombstones;
        self.put(
            flow,
            FlowEntry {
                care_of: None,
                sequence,
                stamp,
                bid,
                until,
            },
        );
        was_live
    }

    /// Turns the bindings that ran out by `now` into tombstones and forgets
    /// the tombstones that did; returns the flows that were bound.
    pub fn expire(&mut self, now: Instant) -> Vec<FlowKey> {
        let mut ended = Vec::new();
        while let Some(&(at, flow)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            let Some(entry) = self.entries.get(&flow).copied() else {
                continue;
            };
            if entry.care_of.is_some() {
                self.unbind(flow, entry.sequence, entry.stamp, now);
                ended.push(flow);
            } else {
                self.entries.remove(&flow);
            }
        }
        ended
    }

    /// When [`FlowCache::expire`] next has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// Every bound flow with its node (for a shutdown that removes them).
    pub fn bound(&self) -> impl Iterator<Item = (FlowKey, Ipv6Addr)> + '_ {
        self.entries
            .iter()
            .filter_map(|(f, e)| e.care_of.map(|c| (*f, c)))
    }

    fn put(&mut self, flow: FlowKey, entry: FlowEntry) {
        if let Some(old) = self.entries.insert(flow, entry) {
            self.deadlines.remove(&(old.until, flow));
        }
        self.deadlines.insert((entry.until, flow));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(port: u16) -> FlowKey {
        FlowKey {
            client: "2001:db8:3:1::2".parse().unwrap(),
            client_port: port,
            server: "2001:db8:ffff::1".parse().unwrap(),
            server_port: 7,
        }
    }

    const NODE1: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 1, 0, 0, 0, 2);
    const NODE2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, 2);
    const KEEP: Duration = Duration::from_secs(7);

    #[test]
    fn binds_rebinds_and_unbinds_leaving_a_tombstone() {
        let mut c = FlowCache::new(10, KEEP);
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        c.bind(flow(1), NODE1, SeqNum(1), NtpTimestamp(10), 1, later)
            .unwrap();
        c.bind(flow(1), NODE2, SeqNum(2), NtpTimestamp(11), 1, later)
            .unwrap();
        assert_eq!((c.holder(&flow(1)), c.live()), (Some(NODE2), 1));
        assert!(c.unbind(flow(1), SeqNum(3), NtpTimestamp(12), now));
        assert!(!c.unbind(flow(1), SeqNum(4), NtpTimestamp(13), now));
        let t = c.get(&flow(1)).unwrap();
        assert_eq!((t.care_of, t.sequence, c.live()), (None, SeqNum(4), 0));
        // The tombstone goes after the replay window, and only then.
        assert!(c.expire(now + KEEP - Duration::from_millis(1)).is_empty());
        assert!(c.get(&flow(1)).is_some());
        assert!(c.expire(now + KEEP).is_empty());
        assert!(c.get(&flow(1)).is_none());
        assert_eq!(c.next_deadline(), None);
    }

    #[test]
    fn expiry_ends_bindings_in_deadline_order() {
        let mut c = FlowCache::new(10, KEEP);
        let now = Instant::now();
        for (port, secs) in [(1, 30), (2, 10), (3, 20)] {
            let until = now + Duration::from_secs(secs);
            c.bind(flow(port), NODE1, SeqNum(1), NtpTimestamp(1), port, until)
                .unwrap();
        }
        assert_eq!(c.next_deadline(), Some(now + Duration::from_secs(10)));
        assert_eq!(c.expire(now + Duration::from_secs(20)), [flow(2), flow(3)]);
        assert_eq!(c.live(), 1);
        // A refresh moves the deadline.
        let until = now + Duration::from_secs(90);
        c.bind(flow(1), NODE1, SeqNum(2), NtpTimestamp(2), 1, until)
            .unwrap();
        assert!(c.expire(now + Duration::from_secs(60)).is_empty());
        assert_eq!(c.holder(&flow(1)), Some(NODE1));
    }

    #[test]
    fn a_full_cache_refuses_new_flows_only() {
        let mut c = FlowCache::new(2, KEEP);
        let until = Instant::now() + Duration::from_secs(60);
        let stamp = NtpTimestamp(1);
        c.bind(flow(1), NODE1, SeqNum(1), stamp, 1, until).unwrap();
        c.bind(flow(2), NODE1, SeqNum(1), stamp, 2, until).unwrap();
        assert_eq!(
            c.bind(flow(3), NODE1, SeqNum(1), stamp, 3, until),
            Err(CacheFull(2))
        );
        // A bound flow may move; a removed one frees its room.
        c.bind(flow(2), NODE2, SeqNum(2), stamp, 2, until).unwrap();
        c.unbind(flow(1), SeqNum(2), stamp, Instant::now());
        c.bind(flow(3), NODE1, SeqNum(1), stamp, 3, until).unwrap();
        assert_eq!(c.live(), 2);
    }

    #[test]
    fn holds_a_hundred_thousand_flows() {
        let mut c = FlowCache::new(200_000, KEEP);
        let until = Instant::now() + Duration::from_secs(60);
        for i in 0..100_000u32 {
            let mut f = flow(i as u16);
            f.client = Ipv6Addr::from(u128::from(f.client) + u128::from(i >> 16));
            c.bind(f, NODE1, SeqNum(1), NtpTimestamp(1), f.client_port, until)
                .unwrap();
        }
        assert_eq!(c.live(), 100_000);
        assert_eq!(c.bound().count(), 100_000);
    }
}
