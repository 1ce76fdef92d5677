//! Stream offsets: how many bytes a connection carried each way since it
//! opened, as 64-bit counts that survive the 32-bit sequence-number wrap.
//!
//! A recovered connection hands these to the application, which resumes
//! its stream there (or resets the connection). The kernel keeps the
//! 64-bit counts (`tcpi_bytes_acked`, `tcpi_bytes_received`) only for the
//! socket's own lifetime, so a node carries a base across handoffs and
//! mirrors, and learns the current 32-bit sequence numbers from the client
//! after a crash; [`unwrap_seq`] joins the two.

use std::io;
use std::os::fd::BorrowedFd;

use serde::{Deserialize, Serialize};

use crate::tcp::info::{queued, tcp_info};
use crate::tcp::repair::{dump, RepairError, TcpState};

/// Reads of [`StreamBase::position`] before it gives up on a connection
/// whose edges move under every read (three syscalls take microseconds).
const POSITION_TRIES: usize = 1000;

/// Bytes carried by a connection since it opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StreamOffsets {
    /// Bytes this side sent that the client has acknowledged.
    pub sent: u64,
    /// Bytes received from the client, in order.
    pub received: u64,
}

/// Where a socket's own byte counters (`tcpi_bytes_acked`,
/// `tcpi_bytes_received`) start in the connection's stream: zero for a
/// socket accepted here, the stream's offsets at restore for a socket that
/// moved or was recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StreamBase {
    /// Offset of the bytes acknowledged when the socket's count was zero.
    pub acked: u64,
    /// Offset of the bytes received when the socket's count was zero.
    pub received: u64,
}

impl StreamBase {
    /// Offsets of the acknowledged and the received edges now (`snd_una`
    /// and `rcv_nxt`).
    pub fn edges(&self, fd: BorrowedFd<'_>) -> io::Result<StreamOffsets> {
        let info = tcp_info(fd)?;
        Ok(StreamOffsets {
            sent: self.acked + info.tcpi_bytes_acked,
            received: self.received + info.tcpi_bytes_received,
        })
    }

    /// The application's position: bytes written into the connection and
    /// bytes read from it since it opened.
    ///
    /// The edges and the queues are read by separate calls: an ACK landing
    /// in between moves bytes from the queue to the edge (one cumulative
    /// ACK after a loss can cover hundreds of KB), so they are read again
    /// until the edges stand still around the queues.
    pub fn position(&self, fd: BorrowedFd<'_>) -> io::Result<StreamOffsets> {
        for _ in 0..POSITION_TRIES {
            let edges = self.edges(fd)?;
            let (outq, inq) = queued(fd)?;
            if self.edges(fd)? == edges {
                return Ok(StreamOffsets {
                    sent: edges.sent + outq,
                    received: edges.received.saturating_sub(inq),
                });
            }
        }
        Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "the connection's edges kept moving while its position was read",
        ))
    }

    /// Dumps a frozen socket together with its edges, consistent with the
    /// dump: a frozen socket still takes in what is already queued for it
    /// (an ACK may land between two reads), so the edges are read before
    /// and after the dump and it is redone until they agree.
    pub fn dump_with_edges(
        &self,
        fd: BorrowedFd<'_>,
    ) -> Result<(TcpState, StreamOffsets), RepairError> {
        let edges = |fd| {
            self.edges(fd).map_err(|source| RepairError::Sys {
                op: "reading TCP_INFO",
                source,
            })
        };
        for _ in 0..16 {
            let before = edges(fd)?;
            let state = dump(fd)?;
            if edges(fd)? == before {
                return Ok((state, before));
            }
        }
        Err(RepairError::Malformed(
            "the connection kept moving while frozen".into(),
        ))
    }

    /// The base that makes a just-restored socket's edges equal `edges`.
    pub fn restored(fd: BorrowedFd<'_>, edges: StreamOffsets) -> io::Result<StreamBase> {
        let info = tcp_info(fd)?;
        Ok(StreamBase {
            acked: edges.sent.saturating_sub(info.tcpi_bytes_acked),
            received: edges.received.saturating_sub(info.tcpi_bytes_received),
        })
    }
}

/// The 64-bit offset of sequence number `seq`, given that `base_seq` is
/// the sequence number at offset `base_offset` and `seq` lies within 2^31
/// of it (either way). Offsets never go below zero.
pub fn unwrap_seq(base_seq: u32, base_offset: u64, seq: u32) -> u64 {
    let delta = seq.wrapping_sub(base_seq) as i32;
    base_offset.saturating_add_signed(i64::from(delta))
}

/// The 32-bit sequence number at `offset`, given `base_seq` at `base_offset`.
pub fn seq_at(base_seq: u32, base_offset: u64, offset: u64) -> u32 {
    base_seq.wrapping_add(offset.wrapping_sub(base_offset) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn unwraps_across_the_wrap() {
        // 5 GB into a connection whose ISN+1 was 0xffff_fff0.
        let base_off = 5_000_000_000u64;
        let base_seq = seq_at(0xffff_fff0, 0, base_off);
        let later = base_seq.wrapping_add(3_000_000);
        assert_eq!(unwrap_seq(base_seq, base_off, later), base_off + 3_000_000);
        let earlier = base_seq.wrapping_sub(1000);
        assert_eq!(unwrap_seq(base_seq, base_off, earlier), base_off - 1000);
        assert_eq!(unwrap_seq(base_seq, 10, base_seq.wrapping_sub(50)), 0);
    }

    /// Position read between writes while the peer reads (and ACKs) all
    /// along: it must count every byte written, never one less. The writer
    /// is an accepted socket, as a server's is (a connecting socket's
    /// count would include its SYN).
    #[test]
    fn position_counts_every_written_byte_while_acks_land() {
        use std::io::{Read, Write};
        use std::os::fd::AsFd;
        let listener = std::net::TcpListener::bind("[::1]:0").expect("listening on [::1]");
        let addr = listener.local_addr().expect("listener address");
        let reader = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).expect("connecting");
            let mut buf = vec![0u8; 1 << 16];
            let mut total = 0u64;
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
            total
        });
        let (mut writer, _) = listener.accept().expect("accepting");
        let chunk = vec![7u8; 4096];
        let base = StreamBase::default();
        let mut written = 0u64;
        for _ in 0..50_000 {
            writer.write_all(&chunk).expect("writing");
            written += chunk.len() as u64;
            let pos = base.position(writer.as_fd()).expect("position");
            assert_eq!(pos.sent, written, "position lost or added bytes");
        }
        drop(writer);
        assert_eq!(reader.join().expect("reader"), written);
    }

    proptest! {
        #[test]
        fn round_trips(base_seq: u32, base_off in 0u64..1 << 60, delta in -(1i64 << 31) + 1..1i64 << 31) {
            let off = base_off.saturating_add_signed(delta);
            let seq = seq_at(base_seq, base_off, off);
            prop_assert_eq!(unwrap_seq(base_seq, base_off, seq), off);
        }
    }
}
