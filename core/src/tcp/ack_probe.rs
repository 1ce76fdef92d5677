//! The ACK probe: learning a client's current sequence numbers after the
//! node that served its connection crashed (DESIGN.md "Recovery").
//!
//! The backup knows the connection only as last mirrored. It sends the
//! client a segment carrying one byte the client has already received
//! (sequence number below what the client expects, like a keepalive
//! probe). The client drops the byte as a duplicate and answers at once
//! with an ACK carrying its own `snd_nxt` and `rcv_nxt`. Linux rate-limits
//! answers to out-of-window segments (500 ms per connection), but not for
//! segments that carry data, so every probe counts.
//!
//! The probe leaves through a raw socket marked [`PROBE_MARK`], past the
//! flow lock's output rule; the answer is caught by the lock itself.

use std::net::SocketAddrV6;

use crate::dataplane::FlowKey;
use crate::tcp::flow_lock::{ipv6_tcp_packet, LockError, PROBE_MARK};

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// What a TCP segment from the client says about the client's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentView {
    /// Sequence number of the segment (the client's `snd_nxt` for a pure
    /// ACK, or the first byte it carries).
    pub seq: u32,
    /// Acknowledgement number: the client's `rcv_nxt`, when `ack` is set.
    pub ack_seq: u32,
    /// The ACK flag.
    pub ack: bool,
    /// SYN, FIN or RST set.
    pub control: bool,
    /// RST set.
    pub reset: bool,
    /// Window field (unscaled).
    pub window: u16,
    /// Timestamps option: (TSval, TSecr).
    pub timestamps: Option<(u32, u32)>,
    /// Payload length.
    pub payload: usize,
}

/// Reads the header of a TCP segment; None if it is not one.
pub fn view(segment: &[u8]) -> Option<SegmentView> {
    let header_len = usize::from(segment.get(12)? >> 4) * 4;
    if header_len < 20 || segment.len() < header_len {
        return None;
    }
    let be32 = |at: usize| {
        u32::from_be_bytes([
            segment[at],
            segment[at + 1],
            segment[at + 2],
            segment[at + 3],
        ])
    };
    let flags = segment[13];
    let mut timestamps = None;
    let mut opts = &segment[20..header_len];
    while let Some(&kind) = opts.first() {
        match kind {
            0 => break,
            1 => opts = &opts[1..],
            _ => {
                let len = usize::from(*opts.get(1)?);
                if len < 2 || len > opts.len() {
                    return None;
                }
                if kind == 8 && len == 10 {
                    let o = &opts[2..10];
                    timestamps = Some((
                        u32::from_be_bytes([o[0], o[1], o[2], o[3]]),
                        u32::from_be_bytes([o[4], o[5], o[6], o[7]]),
                    ));
                }
                opts = &opts[len..];
            }
        }
    }
    Some(SegmentView {
        seq: be32(4),
        ack_seq: be32(8),
        ack: flags & ACK != 0,
        control: flags & (SYN | FIN | RST) != 0,
        reset: flags & RST != 0,
        window: u16::from_be_bytes([segment[14], segment[15]]),
        timestamps,
        payload: segment.len() - header_len,
    })
}

/// A segment from G (server side of `flow`) to its client.
fn segment(
    flow: &FlowKey,
    seq: u32,
    ack_seq: u32,
    flags: u8,
    ts: Option<(u32, u32)>,
    payload: &[u8],
) -> Vec<u8> {
    let opt_len = if ts.is_some() { 12 } else { 0 };
    let mut s = Vec::with_capacity(20 + opt_len + payload.len());
    s.extend_from_slice(&flow.server_port.to_be_bytes());
    s.extend_from_slice(&flow.client_port.to_be_bytes());
    s.extend_from_slice(&seq.to_be_bytes());
    s.extend_from_slice(&ack_seq.to_be_bytes());
    s.push((((20 + opt_len) / 4) as u8) << 4);
    s.push(flags);
    s.extend_from_slice(&u16::MAX.to_be_bytes());
    s.extend_from_slice(&[0, 0, 0, 0]);
    if let Some((val, ecr)) = ts {
        s.extend_from_slice(&[1, 1, 8, 10]);
        s.extend_from_slice(&val.to_be_bytes());
        s.extend_from_slice(&ecr.to_be_bytes());
    }
    s.extend_from_slice(payload);
    s
}

/// The probe segment: one byte at `acked - 1` (a byte the client has
/// acknowledged, so it holds it), acknowledging `received` (at most what
/// the client has had acknowledged), with the timestamps option when the
/// connection uses it (`ts_val` at least the last one the client saw, or
/// its PAWS check drops the probe).
pub fn probe_segment(flow: &FlowKey, acked: u32, received: u32, ts_val: Option<u32>) -> Vec<u8> {
    segment(
        flow,
        acked.wrapping_sub(1),
        received,
        ACK | PSH,
        ts_val.map(|v| (v, 0)),
        &[0],
    )
}

/// A reset the client accepts: its sequence number is exactly the client's
/// `rcv_nxt` (RFC 5961 makes any other a mere challenge).
pub fn reset_segment(flow: &FlowKey, client_rcv_nxt: u32) -> Vec<u8> {
    segment(flow, client_rcv_nxt, 0, RST, None, &[])
}

/// Sends probes and resets from G to clients, marked past the flow lock.
#[derive(Debug)]
pub struct ProbeSender {
    socket: socket2::Socket,
}

impl ProbeSender {
    /// Opens a raw IPv6 socket (IPPROTO_RAW) marked [`PROBE_MARK`].
    pub fn open() -> Result<ProbeSender, LockError> {
        let err = |op| move |error| LockError::Socket { op, error };
        let socket = socket2::Socket::new(
            socket2::Domain::IPV6,
            socket2::Type::RAW,
            Some(socket2::Protocol::from(libc::IPPROTO_RAW)),
        )
        .map_err(err("opening the raw probe socket"))?;
        socket
            .set_mark(PROBE_MARK)
            .map_err(err("marking the raw probe socket"))?;
        Ok(ProbeSender { socket })
    }

    /// Sends `segment` (from [`probe_segment`] or [`reset_segment`]) from
    /// the flow's server address to its client.
    pub fn send(&self, flow: &FlowKey, segment: &[u8]) -> Result<(), LockError> {
        let packet =
            ipv6_tcp_packet(flow.server, flow.client, segment).ok_or(LockError::BadSegment {
                flow: *flow,
                len: segment.len(),
            })?;
        let to = SocketAddrV6::new(flow.client, 0, 0, 0);
        self.socket
            .send_to(&packet, &to.into())
            .map_err(|error| LockError::Socket {
                op: "sending a probe",
                error,
            })?;
        Ok(())
    }
}

/// The client's state as learned from its segments after a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientState {
    /// The client's `rcv_nxt`: where the server's stream resumes.
    pub rcv_nxt: u32,
    /// Where the client's own stream resumes: the first byte it may still
    /// have to send (the lowest data segment seen, else its `snd_nxt`).
    pub snd_una: u32,
    /// The client's window (unscaled field) and the segment it came with.
    pub window: u16,
    /// Its sequence number (for `snd_wl1`).
    pub window_seq: u32,
    /// Largest TSecr seen (the last server TSval the client accepted).
    pub ts_ecr: Option<u32>,
}

impl ClientState {
    /// Reads the client's state from the segments it sent (in arrival
    /// order); None if none is an ACK. A reset means the client is gone.
    pub fn learn<'a>(segments: impl IntoIterator<Item = &'a [u8]>) -> Option<ClientState> {
        let mut state: Option<ClientState> = None;
        for v in segments.into_iter().filter_map(view) {
            if v.reset {
                return None;
            }
            if !v.ack || v.control {
                continue;
            }
            let s = state.get_or_insert(ClientState {
                rcv_nxt: v.ack_seq,
                snd_una: v.seq,
                window: v.window,
                window_seq: v.seq,
                ts_ecr: None,
            });
            if (v.ack_seq.wrapping_sub(s.rcv_nxt) as i32) > 0 {
                s.rcv_nxt = v.ack_seq;
            }
            // Data resent from below snd_nxt: the stream resumes there.
            if v.payload > 0 && (v.seq.wrapping_sub(s.snd_una) as i32) < 0 {
                s.snd_una = v.seq;
            }
            s.window = v.window;
            s.window_seq = v.seq;
            if let Some((_, ecr)) = v.timestamps {
                if s.ts_ecr.is_none_or(|e| (ecr.wrapping_sub(e) as i32) > 0) {
                    s.ts_ecr = Some(ecr);
                }
            }
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> FlowKey {
        FlowKey {
            client: "2001:db8:2::2".parse().unwrap(),
            client_port: 40000,
            server: "2001:db8:ffff::1".parse().unwrap(),
            server_port: 8080,
        }
    }

    #[test]
    fn a_probe_reads_back_as_built() {
        let p = probe_segment(&flow(), 1000, 5000, Some(77));
        let v = view(&p).unwrap();
        assert_eq!((v.seq, v.ack_seq, v.ack, v.payload), (999, 5000, true, 1));
        assert_eq!(v.timestamps, Some((77, 0)));
        let r = view(&reset_segment(&flow(), 42)).unwrap();
        assert!(r.reset && r.seq == 42);
    }

    #[test]
    fn the_client_state_comes_from_its_acks() {
        let f = flow();
        // What the client would send: server->client segments reversed.
        let ack = |seq: u32, ack: u32, len: usize, ecr: u32| {
            let mut s = segment(&f, seq, ack, ACK, Some((1, ecr)), &vec![0; len]);
            s.swap(0, 2);
            s
        };
        let segs = [
            ack(500, 9000, 0, 10),
            ack(400, 9100, 100, 12),
            ack(500, 9050, 0, 11),
        ];
        let st = ClientState::learn(segs.iter().map(|s| s.as_slice())).unwrap();
        assert_eq!((st.rcv_nxt, st.snd_una, st.ts_ecr), (9100, 400, Some(12)));
        let rst = reset_segment(&f, 1);
        assert!(ClientState::learn([segs[0].as_slice(), rst.as_slice()]).is_none());
        assert!(ClientState::learn(std::iter::empty()).is_none());
    }

    #[test]
    fn garbage_is_not_a_segment() {
        assert!(view(&[0; 10]).is_none());
        let mut s = probe_segment(&flow(), 1, 1, Some(1));
        s[12] = 0xf0; // header longer than the segment
        assert!(view(&s).is_none());
        let mut s = probe_segment(&flow(), 1, 1, Some(1));
        s[23] = 40; // option longer than the header
        assert!(view(&s).is_none());
    }
}
