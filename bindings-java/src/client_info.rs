//! A policy's `ClientInfo` as one `byte[]` between Java and Rust, in both
//! directions (`ClientInfo.toNative`/`fromNative` are the Java half): one
//! array to copy per call instead of one per field. Big-endian, as
//! `java.nio.ByteBuffer` writes it:
//!
//! - the client's address (16), its port (2), this node's address (16);
//! - per node: address (16), connections (`int`, 4), round-trip time in
//!   nanoseconds (`long`, 8; -1: not measured), available (1).

use std::net::Ipv6Addr;
use std::time::Duration;

use gecko_bridge::{ClientInfo, NodeView};

use crate::Failure;

/// The client's part.
const HEAD: usize = 16 + 2 + 16;
/// Each node's part.
const NODE: usize = 16 + 4 + 8 + 1;

/// `client` as Java's `ClientInfo.fromNative` reads it.
pub(crate) fn encode(client: &ClientInfo) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEAD + NODE * client.nodes.len());
    b.extend(client.address.octets());
    b.extend(client.port.to_be_bytes());
    b.extend(client.local.octets());
    for v in &client.nodes {
        b.extend(v.address.octets());
        b.extend(
            i32::try_from(v.connections)
                .unwrap_or(i32::MAX)
                .to_be_bytes(),
        );
        let rtt = v
            .rtt
            .map_or(-1, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        b.extend(rtt.to_be_bytes());
        b.push(u8::from(v.available));
    }
    b
}

/// The client Java's `ClientInfo.toNative` wrote.
pub(crate) fn decode(b: &[u8]) -> Result<ClientInfo, Failure> {
    if b.len() < HEAD || (b.len() - HEAD) % NODE != 0 {
        return Err(Failure::argument(format!(
            "a client of {} bytes: not {HEAD} and {NODE} per node",
            b.len()
        )));
    }
    let address =
        |at: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&b[at..at + 16]).unwrap_or([0; 16]));
    let nodes = b[HEAD..]
        .chunks_exact(NODE)
        .map(|n| {
            let connections = i32::from_be_bytes(n[16..20].try_into().unwrap_or([0; 4]));
            let rtt = i64::from_be_bytes(n[20..28].try_into().unwrap_or([0; 8]));
            NodeView {
                address: Ipv6Addr::from(<[u8; 16]>::try_from(&n[..16]).unwrap_or([0; 16])),
                connections: u32::try_from(connections).unwrap_or(0),
                rtt: u64::try_from(rtt).ok().map(Duration::from_nanos),
                available: n[28] != 0,
            }
        })
        .collect();
    Ok(ClientInfo {
        address: address(0),
        port: u16::from_be_bytes([b[16], b[17]]),
        local: address(18),
        nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ClientInfo {
        let node = |i: u16, connections, rtt, available| NodeView {
            address: Ipv6Addr::new(0x2001, 0xdb8, 1, i, 0, 0, 0, 2),
            connections,
            rtt,
            available,
        };
        ClientInfo {
            address: "2001:db8:2:1::2".parse().unwrap(),
            port: 40000,
            local: "2001:db8:1:1::2".parse().unwrap(),
            nodes: vec![
                node(1, 5, Some(Duration::from_micros(1500)), true),
                node(2, 0, None, false),
                node(3, u32::MAX, Some(Duration::ZERO), true),
            ],
        }
    }

    #[test]
    fn a_client_goes_there_and_back() {
        let c = client();
        let b = encode(&c);
        assert_eq!(b.len(), HEAD + 3 * NODE);
        let back = decode(&b).unwrap();
        assert_eq!(
            (back.address, back.port, back.local),
            (c.address, c.port, c.local)
        );
        assert_eq!(back.nodes[0].rtt, Some(Duration::from_micros(1500)));
        assert_eq!(back.nodes[1].rtt, None);
        assert!(!back.nodes[1].available && back.nodes[2].available);
        // More connections than an `int` holds arrive as the most it does.
        assert_eq!(back.nodes[2].connections, i32::MAX as u32);
        assert_eq!(back.nodes.len(), 3);
    }

    #[test]
    fn a_client_of_the_wrong_length_is_refused() {
        let b = encode(&client());
        for len in [0, HEAD - 1, HEAD + 1, b.len() - 1] {
            assert!(decode(&b[..len]).is_err(), "{len} bytes");
        }
        assert!(decode(&b[..HEAD]).unwrap().nodes.is_empty());
    }
}
