//! A small synchronous request/acknowledge helper over a netlink socket,
//! shared by the route and nftables modules, and the byte-level builders
//! for netlink messages and attributes (NLAs) that both use.

use std::time::Duration;

use netlink_sys::{Socket, SocketAddr};
use nix::errno::Errno;

use super::DataPlaneError;

/// Size of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
/// `NLMSG_ERROR`: an error or, with code 0, an acknowledgement.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: the end of a dump.
pub const NLMSG_DONE: u16 = 3;
/// `NLM_F_REQUEST`.
pub const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_ACK`.
pub const NLM_F_ACK: u16 = 0x4;
/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
pub const NLM_F_DUMP: u16 = 0x300;
/// `NLM_F_REPLACE`.
pub const NLM_F_REPLACE: u16 = 0x100;
/// `NLM_F_EXCL`.
pub const NLM_F_EXCL: u16 = 0x200;
/// `NLM_F_CREATE`.
pub const NLM_F_CREATE: u16 = 0x400;
/// `NLM_F_APPEND`.
pub const NLM_F_APPEND: u16 = 0x800;
/// `NLA_F_NESTED`.
pub const NLA_F_NESTED: u16 = 0x8000;

/// Largest answer datagram we read at once (dumps send at most 32 KiB).
const RECV_SIZE: usize = 128 * 1024;
/// How long the kernel may take to answer before we call it a failure
/// (a kernel that never answers must fail a call, not hang it).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// One message of the kernel's answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// `nlmsg_type`.
    pub kind: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// The whole message, header included.
    pub bytes: Vec<u8>,
}

impl Reply {
    /// The message after its netlink header.
    pub fn payload(&self) -> &[u8] {
        &self.bytes[NLMSG_HDRLEN..]
    }
}

/// A blocking netlink socket of one protocol, in the namespace of the
/// thread that opened it.
pub struct Netlink {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netlink").field("seq", &self.seq).finish()
    }
}

impl Netlink {
    /// Opens a socket of `protocol` (`netlink_sys::constants::NETLINK_*`).
    pub fn open(protocol: isize) -> Result<Netlink, DataPlaneError> {
        let io = |error| DataPlaneError::Io {
            op: format!("opening a netlink socket (protocol {protocol})"),
            error,
        };
        let mut socket = Socket::new(protocol).map_err(io)?;
        socket.bind_auto().map_err(io)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(io)?;
        // Acknowledgements then carry only the request's header, which
        // keeps the answers to large nftables batches small.
        socket.set_cap_ack(true).map_err(io)?;
        // The kernel then says which attribute it refused, and why.
        socket.set_ext_ack(true).map_err(io)?;
        let timeout = nix::sys::time::TimeVal::new(ANSWER_TIMEOUT.as_secs() as _, 0);
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::ReceiveTimeout, &timeout)
            .map_err(|e| io(e.into()))?;
        Ok(Netlink {
            socket,
            // A different start per socket keeps a stray answer meant for an
            // earlier socket from ever matching.
            seq: rand::random::<u16>() as u32 + 1,
            buf: Vec::with_capacity(RECV_SIZE),
        })
    }

    /// The next sequence number for a request.
    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    /// Sends `request` (one or more messages) and waits until the kernel
    /// has answered each sequence number in `acks` (each of those messages
    /// carries `NLM_F_ACK`). The first refusal is the error.
    pub fn acked(&mut self, op: &str, request: &[u8], acks: &[u32]) -> Result<(), DataPlaneError> {
        self.send(op, request)?;
        let mut pending = acks.to_vec();
        while !pending.is_empty() {
            for reply in self.receive(op)? {
                let Some(at) = pending.iter().position(|s| *s == reply.seq) else {
                    continue; // a late answer to an earlier, failed request
                };
                let which = acks.iter().position(|s| *s == reply.seq).unwrap_or(0);
                if reply.kind != NLMSG_ERROR {
                    continue;
                }
                pending.swap_remove(at);
                let code = error_code(op, &reply)?;
                if code != 0 {
                    // Answers still due for later messages are told apart
                    // by their sequence numbers and skipped later.
                    let mut error = refusal(op, code, &reply);
                    if acks.len() > 1 {
                        if let DataPlaneError::Kernel { detail, .. } = &mut error {
                            let part = format!("message {} of {}", which + 1, acks.len());
                            *detail = Some(match detail.take() {
                                Some(d) => format!("{part}: {d}"),
                                None => part,
                            });
                        }
                    }
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    /// Sends one get or dump request (sequence number `seq`) and returns the
    /// kernel's data messages: one for a get, all of them for a dump.
    pub fn collect(
        &mut self,
        op: &str,
        request: &[u8],
        seq: u32,
        dump: bool,
    ) -> Result<Vec<Reply>, DataPlaneError> {
        self.send(op, request)?;
        let mut answers = Vec::new();
        loop {
            for reply in self.receive(op)? {
                if reply.seq != seq {
                    continue;
                }
                match reply.kind {
                    NLMSG_ERROR | NLMSG_DONE => {
                        let code = if reply.bytes.len() >= NLMSG_HDRLEN + 4 {
                            error_code(op, &reply)?
                        } else {
                            0
                        };
                        if code < 0 {
                            return Err(refusal(op, code, &reply));
                        }
                        return Ok(answers);
                    }
                    _ => {
                        answers.push(reply);
                        if !dump {
                            return Ok(answers);
                        }
                    }
                }
            }
        }
    }

    fn send(&mut self, op: &str, request: &[u8]) -> Result<(), DataPlaneError> {
        let sent = self
            .socket
            .send(request, 0)
            .map_err(|error| DataPlaneError::Io {
                op: op.to_string(),
                error,
            })?;
        if sent != request.len() {
            return Err(DataPlaneError::Io {
                op: op.to_string(),
                error: std::io::Error::other(format!("sent {sent} of {} bytes", request.len())),
            });
        }
        Ok(())
    }

    /// Reads one datagram and splits it into messages.
    fn receive(&mut self, op: &str) -> Result<Vec<Reply>, DataPlaneError> {
        self.buf.clear();
        self.buf.reserve(RECV_SIZE);
        let n = loop {
            match self.socket.recv(&mut self.buf, 0) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    return Err(DataPlaneError::Io {
                        op: op.to_string(),
                        error: std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!("no answer from the kernel within {ANSWER_TIMEOUT:?}"),
                        ),
                    })
                }
                Err(error) => {
                    return Err(DataPlaneError::Io {
                        op: op.to_string(),
                        error,
                    })
                }
                Ok(n) => break n,
            }
        };
        if n > self.buf.len() {
            return Err(malformed(op, format!("answer of {n} bytes truncated")));
        }
        split_messages(op, &self.buf[..n])
    }
}

/// Splits a datagram into its netlink messages.
pub fn split_messages(op: &str, mut data: &[u8]) -> Result<Vec<Reply>, DataPlaneError> {
    let mut out = Vec::new();
    while data.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes(data[0..4].try_into().expect("4 bytes")) as usize;
        if len < NLMSG_HDRLEN || len > data.len() {
            return Err(malformed(
                op,
                format!("message length {len} in {} bytes", data.len()),
            ));
        }
        out.push(Reply {
            kind: u16::from_ne_bytes([data[4], data[5]]),
            flags: u16::from_ne_bytes([data[6], data[7]]),
            seq: u32::from_ne_bytes(data[8..12].try_into().expect("4 bytes")),
            bytes: data[..len].to_vec(),
        });
        data = &data[align4(len).min(data.len())..];
    }
    Ok(out)
}

/// The (negative) errno of an `NLMSG_ERROR` or `NLMSG_DONE`; 0 for an ACK.
fn error_code(op: &str, reply: &Reply) -> Result<i32, DataPlaneError> {
    let p = reply.payload();
    if p.len() < 4 {
        return Err(malformed(op, "short error message".into()));
    }
    Ok(i32::from_ne_bytes(p[0..4].try_into().expect("4 bytes")))
}

/// The error for a refusal, with the kernel's extended ACK when it gave one.
fn refusal(op: &str, code: i32, reply: &Reply) -> DataPlaneError {
    DataPlaneError::Kernel {
        op: op.to_string(),
        errno: Errno::from_raw(-code),
        detail: extended_ack(reply),
    }
}

/// The message and offending offset of an extended ACK (NLM_F_ACK_TLVS).
fn extended_ack(reply: &Reply) -> Option<String> {
    const NLM_F_CAPPED: u16 = 0x100;
    const NLM_F_ACK_TLVS: u16 = 0x200;
    const NLMSGERR_ATTR_MSG: u16 = 1;
    const NLMSGERR_ATTR_OFFS: u16 = 2;
    if reply.kind != NLMSG_ERROR || reply.flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let p = reply.payload();
    // errno, then the request's header (and its payload unless capped).
    let request_len = if reply.flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        u32::from_ne_bytes(p.get(4..8)?.try_into().ok()?) as usize
    };
    let tlvs = p.get(4 + align4(request_len)..)?;
    let mut parts = Vec::new();
    for (kind, value) in attrs(tlvs) {
        match kind {
            NLMSGERR_ATTR_MSG => parts.push(
                String::from_utf8_lossy(value)
                    .trim_end_matches('\0')
                    .to_string(),
            ),
            NLMSGERR_ATTR_OFFS if value.len() == 4 => parts.push(format!(
                "at byte {} of the request",
                u32::from_ne_bytes(value.try_into().ok()?)
            )),
            _ => {}
        }
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn malformed(op: &str, detail: String) -> DataPlaneError {
    DataPlaneError::Malformed {
        op: op.to_string(),
        detail,
    }
}

/// Rounds up to netlink's 4-byte alignment.
pub const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Appends one netlink message whose payload `body` writes.
pub fn push_message(
    buf: &mut Vec<u8>,
    kind: u16,
    flags: u16,
    seq: u32,
    body: impl FnOnce(&mut Vec<u8>),
) {
    let start = buf.len();
    buf.extend_from_slice(&[0; NLMSG_HDRLEN]);
    body(buf);
    buf.resize(start + align4(buf.len() - start), 0);
    let len = (buf.len() - start) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    buf[start + 4..start + 6].copy_from_slice(&kind.to_ne_bytes());
    buf[start + 6..start + 8].copy_from_slice(&flags.to_ne_bytes());
    buf[start + 8..start + 12].copy_from_slice(&seq.to_ne_bytes());
    // nlmsg_pid stays 0: the kernel fills in our port.
}

/// Appends one attribute.
pub fn push_attr(buf: &mut Vec<u8>, kind: u16, value: &[u8]) {
    buf.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(value);
    buf.resize(align4(buf.len()), 0);
}

/// Appends one nested attribute (`NLA_F_NESTED` set) whose contents
/// `inner` writes.
pub fn push_nested(buf: &mut Vec<u8>, kind: u16, inner: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    inner(buf);
    let len = (buf.len() - start) as u16;
    buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    buf[start + 2..start + 4].copy_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    buf.resize(align4(buf.len()), 0);
}

/// The attributes in `data`: (type without flags, value). Stops at the first
/// malformed one.
pub fn attrs(mut data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let kind = u16::from_ne_bytes([data[2], data[3]]) & 0x3fff;
        if len < 4 || len > data.len() {
            return None;
        }
        let value = &data[4..len];
        data = &data[align4(len).min(data.len())..];
        Some((kind, value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_attributes_are_aligned_and_sized() {
        let mut buf = Vec::new();
        push_message(&mut buf, 0x0a00, NLM_F_REQUEST | NLM_F_ACK, 7, |b| {
            b.extend_from_slice(&[10, 0, 0, 0]);
            push_attr(b, 1, b"gecko\0");
            push_nested(b, 4, |b| push_attr(b, 1, &3u32.to_be_bytes()));
        });
        assert_eq!(buf.len(), 16 + 4 + 12 + 12);
        assert_eq!(&buf[0..4], &(buf.len() as u32).to_ne_bytes());
        assert_eq!(&buf[8..12], &7u32.to_ne_bytes());
        let replies = split_messages("test", &buf).unwrap();
        assert_eq!(replies.len(), 1);
        let found: Vec<_> = attrs(&replies[0].payload()[4..]).collect();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0], (1, &b"gecko\0"[..]));
        assert_eq!(found[1].0, 4, "the nested flag is masked off");
        let inner: Vec<_> = attrs(found[1].1).collect();
        assert_eq!(inner, vec![(1, &[0, 0, 0, 3][..])]);
        // The nested flag is on the wire.
        assert_eq!(u16::from_ne_bytes([buf[34], buf[35]]), 4 | NLA_F_NESTED);
    }

    #[test]
    fn a_truncated_message_is_an_error() {
        let mut buf = Vec::new();
        push_message(&mut buf, 2, 0, 1, |b| b.extend_from_slice(&[0; 8]));
        assert!(split_messages("test", &buf[..20]).is_err());
    }
}
