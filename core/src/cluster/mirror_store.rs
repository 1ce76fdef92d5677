//! Mirroring: what a node tells its backup about the connections it
//! serves, so that the backup can recover them if the node crashes
//! (DESIGN.md "Recovery after a crash").
//!
//! A connection's sequence numbers advance with its stream offsets, so
//! the backup needs little: the sequence number of each edge (what the
//! client acknowledged, what it sent) at known 64-bit offsets, the options
//! fixed at establishment, the timestamp clock and the client's Binding
//! Update sequence number. The client's current numbers are learned by
//! the probe at recovery; the mirrored ones only have to lie within 2^31
//! of them, which mirroring every `mirror_every_bytes` guarantees.

use std::collections::HashMap;
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::sync::Weak;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::dataplane::FlowKey;
use crate::tcp::info::timestamp;
use crate::tcp::repair::TcpState;
use crate::tcp::stream_offsets::{seq_at, StreamBase, StreamOffsets};

/// What was negotiated at the connection's establishment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpOptions {
    /// MSS clamp.
    pub mss: u16,
    /// The client's window scale.
    pub snd_wscale: u8,
    /// This side's window scale.
    pub rcv_wscale: u8,
    /// SACK permitted.
    pub sack: bool,
    /// Timestamps in use.
    pub timestamps: bool,
}

impl TcpOptions {
    /// The options of a dumped connection.
    pub fn of(state: &TcpState) -> TcpOptions {
        TcpOptions {
            mss: state.mss,
            snd_wscale: state.snd_wscale,
            rcv_wscale: state.rcv_wscale,
            sack: state.sack,
            timestamps: state.timestamps,
        }
    }
}

/// One connection as its node's backup holds it (about 80 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorRecord {
    /// The connection.
    pub flow: FlowKey,
    /// Sequence number of the first byte the client had not acknowledged...
    pub snd_una: u32,
    /// ...at this offset of the server's stream.
    pub acked: u64,
    /// Sequence number of the next byte expected from the client...
    pub rcv_nxt: u32,
    /// ...at this offset of the client's stream.
    pub received: u64,
    /// Negotiated options.
    pub options: TcpOptions,
    /// The socket's timestamp clock (TSval)...
    pub ts_val: u32,
    /// ...read at this time (milliseconds since the UNIX epoch).
    pub ts_at_ms: u64,
    /// The latest Binding Update sequence number used toward the client.
    pub bu_seq: Option<u16>,
}

impl MirrorRecord {
    /// Milliseconds since the UNIX epoch.
    pub fn now_ms() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    /// The record of a connection whose state `state` was just dumped
    /// (socket frozen) with its edges at `edges`.
    pub fn dumped(state: &TcpState, edges: StreamOffsets, bu_seq: Option<u16>) -> MirrorRecord {
        MirrorRecord {
            flow: state.flow(),
            snd_una: state.snd_una,
            acked: edges.sent,
            rcv_nxt: state.rcv_nxt,
            received: edges.received,
            options: TcpOptions::of(state),
            ts_val: state.ts_val,
            ts_at_ms: Self::now_ms(),
            bu_seq,
        }
    }

    /// The TSval the connection's clock shows now (it ticks in ms).
    pub fn ts_now(&self) -> u32 {
        let elapsed = Self::now_ms().saturating_sub(self.ts_at_ms);
        self.ts_val.wrapping_add(elapsed as u32)
    }
}

/// A sequence number at a known offset of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    /// The sequence number.
    pub seq: u32,
    /// Its offset.
    pub offset: u64,
}

/// A connection this node serves, as the mirror needs it.
#[derive(Debug)]
pub struct Served {
    /// The application's socket (gone when it closed).
    pub stream: Weak<TcpStream>,
    /// Where its own byte counters start.
    pub base: StreamBase,
    snd: Anchor,
    rcv: Anchor,
    options: TcpOptions,
    /// Acked plus received offsets at the last mirror, if any.
    pub mirrored: Option<u64>,
}

impl Served {
    /// A connection whose state `state` was dumped when its edges stood at
    /// `edges` (socket frozen, so both are of one instant).
    pub fn new(
        stream: Weak<TcpStream>,
        base: StreamBase,
        state: &TcpState,
        edges: StreamOffsets,
    ) -> Served {
        Served {
            stream,
            base,
            snd: Anchor {
                seq: state.snd_una,
                offset: edges.sent,
            },
            rcv: Anchor {
                seq: state.rcv_nxt,
                offset: edges.received,
            },
            options: TcpOptions::of(state),
            mirrored: None,
        }
    }

    /// The record of the connection now; None once its socket is gone or
    /// no longer a connection.
    pub fn record(&self, flow: FlowKey, bu_seq: Option<u16>) -> Option<MirrorRecord> {
        let stream = self.stream.upgrade()?;
        let fd = stream.as_fd();
        let edges = self.base.edges(fd).ok()?;
        let ts_val = if self.options.timestamps {
            timestamp(fd).ok()?
        } else {
            0
        };
        Some(MirrorRecord {
            flow,
            snd_una: seq_at(self.snd.seq, self.snd.offset, edges.sent),
            acked: edges.sent,
            rcv_nxt: seq_at(self.rcv.seq, self.rcv.offset, edges.received),
            received: edges.received,
            options: self.options,
            ts_val,
            ts_at_ms: MirrorRecord::now_ms(),
            bu_seq,
        })
    }
}

/// The records a backup holds, by the node they came from.
#[derive(Debug, Default)]
pub struct MirrorStore {
    by_origin: HashMap<u16, HashMap<FlowKey, MirrorRecord>>,
    /// Connections their node said it no longer serves lately, and where
    /// they left it: a donor's record from before that is stale.
    left: HashMap<(u16, FlowKey), (Option<u64>, Instant)>,
}

/// How long a connection that left its node is remembered: far longer
/// than a donor's record can take to arrive.
const LEFT_MEMORY: Duration = Duration::from_secs(30);

/// A connection its node no longer serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unserved {
    /// The connection.
    pub flow: FlowKey,
    /// Where it moved on to another node (acked plus received offsets),
    /// or None: it ended.
    pub moved_at: Option<u64>,
}

impl MirrorStore {
    /// Adds or updates records of `origin`; with `replace`, they are all
    /// it has now.
    pub fn update(&mut self, origin: u16, records: Vec<MirrorRecord>, replace: bool) {
        let held = self.by_origin.entry(origin).or_default();
        if replace {
            held.clear();
        }
        for r in records {
            self.left.remove(&(origin, r.flow));
            held.insert(r.flow, r);
        }
    }

    /// Keeps records of `origin` sent by another node (its donor), unless
    /// `origin`'s own are here already (they are newer).
    /// (`origin` may also have closed them, or handed them on, already:
    /// then a record from before that is dropped. One from the very place
    /// it moved on at is kept: a connection handed back and forth with no
    /// byte between must not be lost.)
    pub fn offer(&mut self, origin: u16, records: Vec<MirrorRecord>) {
        let held = self.by_origin.entry(origin).or_default();
        for r in records {
            let position = r.acked.saturating_add(r.received);
            let stale = match self.left.get(&(origin, r.flow)) {
                Some((None, _)) => true,
                Some((Some(at), _)) => position < *at,
                None => false,
            };
            if !stale {
                held.entry(r.flow).or_insert(r);
            }
        }
    }

    /// Forgets connections `origin` no longer serves (closed, or moved on).
    pub fn remove(&mut self, origin: u16, gone: &[Unserved]) {
        let now = Instant::now();
        self.left
            .retain(|_, (_, at)| now.duration_since(*at) < LEFT_MEMORY);
        for u in gone {
            self.left.insert((origin, u.flow), (u.moved_at, now));
        }
        if let Some(held) = self.by_origin.get_mut(&origin) {
            for u in gone {
                held.remove(&u.flow);
            }
        }
    }

    /// Takes every record of `origin`.
    pub fn take(&mut self, origin: u16) -> Vec<MirrorRecord> {
        self.by_origin
            .remove(&origin)
            .map(|m| m.into_values().collect())
            .unwrap_or_default()
    }

    /// Drops the records of nodes `keep` says no.
    pub fn retain_origins(&mut self, keep: impl Fn(u16) -> bool) {
        self.by_origin.retain(|o, _| keep(*o));
    }

    /// How many connections are held.
    pub fn len(&self) -> usize {
        self.by_origin.values().map(HashMap::len).sum()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(port: u16) -> MirrorRecord {
        MirrorRecord {
            flow: FlowKey {
                client: "2001:db8:2::2".parse().unwrap(),
                client_port: port,
                server: "2001:db8:ffff::1".parse().unwrap(),
                server_port: 8080,
            },
            snd_una: u32::MAX,
            acked: u64::MAX / 2,
            rcv_nxt: 7,
            received: 1 << 40,
            options: TcpOptions {
                mss: 1440,
                snd_wscale: 7,
                rcv_wscale: 7,
                sack: true,
                timestamps: true,
            },
            ts_val: u32::MAX,
            ts_at_ms: MirrorRecord::now_ms(),
            bu_seq: Some(65535),
        }
    }

    #[test]
    fn a_record_stays_small() {
        // One record: each call reads the clock (ts_at_ms).
        let r = record(65535);
        let bytes = postcard::to_allocvec(&r).unwrap();
        assert!(bytes.len() <= 128, "{} bytes", bytes.len());
        let back: MirrorRecord = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn a_donor_s_record_never_replaces_the_origin_s_own() {
        let mut s = MirrorStore::default();
        let mut own = record(1);
        own.acked = 777;
        s.update(1, vec![own.clone()], false);
        // (One record each: each call reads the clock.)
        let (donors_1, donors_2) = (record(1), record(2));
        s.offer(1, vec![donors_1, donors_2.clone()]);
        let mut held = s.take(1);
        held.sort_by_key(|r| r.flow.client_port);
        assert_eq!(held, vec![own.clone(), donors_2]);
        // The origin's later record replaces the donor's.
        s.offer(3, vec![record(1)]);
        s.update(3, vec![own.clone()], false);
        assert_eq!(s.take(3), vec![own]);
    }

    /// `port`'s record at position `acked` (nothing received).
    fn at(port: u16, acked: u64) -> MirrorRecord {
        MirrorRecord {
            acked,
            received: 0,
            ..record(port)
        }
    }

    fn gone(port: u16, moved_at: Option<u64>) -> Unserved {
        Unserved {
            flow: record(port).flow,
            moved_at,
        }
    }

    #[test]
    fn a_donor_s_late_record_from_before_the_connection_left_is_dropped() {
        let mut s = MirrorStore::default();
        // Closed: no record of it is taken any more.
        s.remove(1, &[gone(1, None)]);
        s.offer(1, vec![at(1, 1 << 40)]);
        // Moved on at 1000: a record from before is stale; one from there
        // (handed back with no byte between) or later is not.
        s.remove(
            1,
            &[
                gone(2, Some(1000)),
                gone(3, Some(1000)),
                gone(4, Some(1000)),
            ],
        );
        s.offer(1, vec![at(2, 999), at(3, 1000), at(4, 5000)]);
        let mut held: Vec<(u16, u64)> = s
            .take(1)
            .iter()
            .map(|r| (r.flow.client_port, r.acked))
            .collect();
        held.sort();
        assert_eq!(held, vec![(3, 1000), (4, 5000)]);
        // The node's own record says it serves the connection again.
        let own = at(1, 7);
        s.update(1, vec![own.clone()], false);
        s.remove(1, &[]);
        assert_eq!(s.take(1), vec![own]);
    }

    #[test]
    fn the_store_tracks_each_origin() {
        let mut s = MirrorStore::default();
        s.update(1, vec![record(1), record(2)], false);
        s.update(2, vec![record(3)], false);
        s.remove(1, &[gone(1, None)]);
        assert_eq!(s.len(), 2);
        s.update(2, vec![record(4), record(5)], true);
        assert_eq!(s.len(), 3);
        assert_eq!(s.take(2).len(), 2);
        s.retain_origins(|o| o != 1);
        assert!(s.is_empty());
    }
}
