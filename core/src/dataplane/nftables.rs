//! The per-connection flow map in nftables, written as raw nf_tables
//! netlink messages (NETLINK_NETFILTER; no libnftnl, no `nft`):
//!
//! ```text
//! table ip6 gecko {
//!     map flows {
//!         type ipv6_addr . inet_service . ipv6_addr . inet_service : mark
//!     }
//!     chain flows {
//!         type route hook output priority mangle; policy accept;
//!         meta mark 0 meta l4proto tcp meta mark set ip6 saddr . tcp sport . ip6 daddr . tcp dport map @flows
//!     }
//! }
//! ```
//!
//! A mark changed in a `route` chain makes the kernel route the packet again
//! (`nf_route_table_hook6`), so a flow in the map takes the policy-routing
//! rule of its mark. Only unmarked packets are looked up: a packet whose
//! socket set a mark (the client agent's HOME_MARK above all) keeps it.

use super::netlink::{
    attrs, push_attr, push_message, push_nested, Netlink, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE,
    NLM_F_DUMP, NLM_F_REQUEST,
};
use super::{DataPlaneError, FlowKey};
use nix::errno::Errno;

/// The table's name.
pub const TABLE: &str = "gecko";
/// The chain's name.
pub const CHAIN: &str = "flows";
/// The map's name.
pub const MAP: &str = "flows";
/// Bytes of a key: ip6 saddr (16) . tcp sport (2, padded to 4) . ip6 daddr
/// (16) . tcp dport (2, padded to 4); each field of a concatenation starts
/// on a 32-bit register.
pub const KEY_LEN: usize = 40;

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_NEWSET: u16 = 9;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_GETSETELEM: u16 = 13;
const NFT_MSG_DELSETELEM: u16 = 14;
const NFPROTO_IPV6: u8 = 10;

const NFTA_LIST_ELEM: u16 = 1;
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_FLAGS: u16 = 3;
const NFTA_SET_KEY_TYPE: u16 = 4;
const NFTA_SET_KEY_LEN: u16 = 5;
const NFTA_SET_DATA_TYPE: u16 = 6;
const NFTA_SET_DATA_LEN: u16 = 7;
const NFTA_SET_DESC: u16 = 9;
const NFTA_SET_ID: u16 = 10;
const NFTA_SET_USERDATA: u16 = 13;
const NFTA_SET_DESC_CONCAT: u16 = 2;
const NFTA_SET_FIELD_LEN: u16 = 1;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_META_DREG: u16 = 1;
const NFTA_META_KEY: u16 = 2;
const NFTA_META_SREG: u16 = 3;
const NFTA_CMP_SREG: u16 = 1;
const NFTA_CMP_OP: u16 = 2;
const NFTA_CMP_DATA: u16 = 3;
const NFTA_PAYLOAD_DREG: u16 = 1;
const NFTA_PAYLOAD_BASE: u16 = 2;
const NFTA_PAYLOAD_OFFSET: u16 = 3;
const NFTA_PAYLOAD_LEN: u16 = 4;
const NFTA_LOOKUP_SET: u16 = 1;
const NFTA_LOOKUP_SREG: u16 = 2;
const NFTA_LOOKUP_DREG: u16 = 3;
const NFTA_LOOKUP_SET_ID: u16 = 4;

const NF_INET_LOCAL_OUT: u32 = 3;
const NF_IP6_PRI_MANGLE: i32 = -150;
const NF_ACCEPT: u32 = 1;
const NFT_SET_MAP: u32 = 0x8;
const NFT_SET_CONCAT: u32 = 0x80;
const NFT_META_MARK: u32 = 3;
const NFT_META_L4PROTO: u32 = 16;
const NFT_CMP_EQ: u32 = 0;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
const NFT_REG_1: u32 = 1;
const NFT_REG32_00: u32 = 8;
const IPPROTO_TCP: u8 = 6;
/// The set's id within its creating batch, for the rule's lookup.
const MAP_ID: u32 = 1;

/// nft's datatype ids (its `enum datatypes`), so that `nft list ruleset`
/// names the key and data types; a concatenation's id packs its fields'
/// ids 6 bits each, first field highest.
const TYPE_IP6ADDR: u32 = 8;
const TYPE_INET_SERVICE: u32 = 13;
const TYPE_MARK: u32 = 19;
const TYPE_BITS: u32 = 6;
const KEY_TYPE: u32 =
    (((TYPE_IP6ADDR << TYPE_BITS | TYPE_INET_SERVICE) << TYPE_BITS | TYPE_IP6ADDR) << TYPE_BITS)
        | TYPE_INET_SERVICE;
/// The fields' lengths, for NFTA_SET_DESC_CONCAT.
const FIELD_LENS: [u32; 4] = [16, 2, 16, 2];

/// The flow map: the nftables table `gecko` in the namespace of the thread
/// that created it. Dropping it deletes the table.
#[derive(Debug)]
pub struct FlowTable {
    nl: Netlink,
    live: bool,
}

impl FlowTable {
    /// Creates the table, its chain, map and rule, deleting a stale `gecko`
    /// table first (left by a process that died): one atomic batch.
    pub fn create() -> Result<FlowTable, DataPlaneError> {
        let mut nl = Netlink::open(netlink_sys::constants::NETLINK_NETFILTER)?;
        delete_table(&mut nl)?;
        let parts = vec![
            Part::new(NFT_MSG_NEWTABLE, NLM_F_CREATE, |b| {
                push_str(b, NFTA_TABLE_NAME, TABLE)
            }),
            Part::new(NFT_MSG_NEWCHAIN, NLM_F_CREATE, chain_attrs),
            Part::new(NFT_MSG_NEWSET, NLM_F_CREATE, map_attrs),
            Part::new(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, rule_attrs),
        ];
        send_batch(&mut nl, "creating the nftables flow map", &parts)?;
        tracing::debug!(table = TABLE, "nftables flow map created");
        Ok(FlowTable { nl, live: true })
    }

    /// Maps `flow` to `mark` (replacing the mark it had).
    pub fn insert(&mut self, flow: &FlowKey, mark: u32) -> Result<(), DataPlaneError> {
        let op = format!("mapping flow {flow:?} to mark {mark:#x}");
        let add = Part::new(NFT_MSG_NEWSETELEM, NLM_F_CREATE, |b| {
            element_attrs(b, flow, Some(mark))
        });
        match send_batch(&mut self.nl, &op, std::slice::from_ref(&add)) {
            // The flow is mapped already, to another mark: swap atomically.
            Err(e) if matches!(e.errno(), Some(Errno::EBUSY | Errno::EEXIST)) => {
                let del = Part::new(NFT_MSG_DELSETELEM, 0, |b| element_attrs(b, flow, None));
                send_batch(&mut self.nl, &op, &[del, add.clone()])
            }
            other => other,
        }
    }

    /// Unmaps `flow`; false if it was not mapped.
    pub fn remove(&mut self, flow: &FlowKey) -> Result<bool, DataPlaneError> {
        let del = Part::new(NFT_MSG_DELSETELEM, 0, |b| element_attrs(b, flow, None));
        match send_batch(&mut self.nl, &format!("unmapping flow {flow:?}"), &[del]) {
            Ok(()) => Ok(true),
            Err(e) if e.errno() == Some(Errno::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// How many flows the kernel's map holds.
    pub fn count(&mut self) -> Result<usize, DataPlaneError> {
        let seq = self.nl.next_seq();
        let mut request = Vec::new();
        push_message(
            &mut request,
            nft_type(NFT_MSG_GETSETELEM),
            NLM_F_REQUEST | NLM_F_DUMP,
            seq,
            |b| {
                push_nfgenmsg(b, NFPROTO_IPV6, 0);
                push_str(b, NFTA_SET_ELEM_LIST_TABLE, TABLE);
                push_str(b, NFTA_SET_ELEM_LIST_SET, MAP);
            },
        );
        let replies = self
            .nl
            .collect("listing the flow map", &request, seq, true)?;
        Ok(replies
            .iter()
            .filter(|r| r.payload().len() >= 4)
            .flat_map(|r| attrs(&r.payload()[4..]).collect::<Vec<_>>())
            .filter(|(kind, _)| *kind == NFTA_SET_ELEM_LIST_ELEMENTS)
            .map(|(_, list)| attrs(list).filter(|(k, _)| *k == NFTA_LIST_ELEM).count())
            .sum())
    }

    /// Whether a `gecko` table exists in this thread's namespace.
    pub fn present() -> Result<bool, DataPlaneError> {
        let mut nl = Netlink::open(netlink_sys::constants::NETLINK_NETFILTER)?;
        let seq = nl.next_seq();
        let mut request = Vec::new();
        push_message(
            &mut request,
            nft_type(NFT_MSG_GETTABLE),
            NLM_F_REQUEST,
            seq,
            |b| {
                push_nfgenmsg(b, NFPROTO_IPV6, 0);
                push_str(b, NFTA_TABLE_NAME, TABLE);
            },
        );
        match nl.collect("looking for the nftables table", &request, seq, false) {
            Ok(found) => Ok(!found.is_empty()),
            Err(e) if e.errno() == Some(Errno::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes the table with its chain, rule and map.
    pub fn destroy(mut self) -> Result<(), DataPlaneError> {
        self.live = false;
        delete_table(&mut self.nl)
    }
}

impl Drop for FlowTable {
    fn drop(&mut self) {
        if self.live {
            if let Err(e) = delete_table(&mut self.nl) {
                tracing::warn!(error = %e, "could not delete the nftables flow map");
            }
        }
    }
}

/// The key of `flow` as the rule builds it from a packet (client -> G):
/// saddr . sport . daddr . dport, ports in network order, each field
/// zero-padded to 4 bytes (the kernel zeroes a register's unused bytes).
pub fn flow_key_bytes(flow: &FlowKey) -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    key[0..16].copy_from_slice(&flow.client.octets());
    key[16..18].copy_from_slice(&flow.client_port.to_be_bytes());
    key[20..36].copy_from_slice(&flow.server.octets());
    key[36..38].copy_from_slice(&flow.server_port.to_be_bytes());
    key
}

/// One message of a batch: its type, flags and encoded attributes.
#[derive(Clone)]
struct Part {
    kind: u16,
    flags: u16,
    attrs: Vec<u8>,
}

impl Part {
    fn new(kind: u16, flags: u16, write: impl FnOnce(&mut Vec<u8>)) -> Part {
        let mut attrs = Vec::new();
        write(&mut attrs);
        Part { kind, flags, attrs }
    }
}

/// Sends `parts` as one nfnetlink batch (begin, parts, end: applied all or
/// nothing) and waits for each part's acknowledgement.
fn send_batch(nl: &mut Netlink, op: &str, parts: &[Part]) -> Result<(), DataPlaneError> {
    let (request, acks) = encode_batch(nl, parts);
    nl.acked(op, &request, &acks)
}

fn encode_batch(nl: &mut Netlink, parts: &[Part]) -> (Vec<u8>, Vec<u32>) {
    let mut request = Vec::with_capacity(256);
    let mut acks = Vec::with_capacity(parts.len());
    let begin = nl.next_seq();
    push_message(
        &mut request,
        NFNL_MSG_BATCH_BEGIN,
        NLM_F_REQUEST,
        begin,
        |b| push_nfgenmsg(b, 0, NFNL_SUBSYS_NFTABLES),
    );
    for part in parts {
        let seq = nl.next_seq();
        acks.push(seq);
        push_message(
            &mut request,
            nft_type(part.kind),
            NLM_F_REQUEST | NLM_F_ACK | part.flags,
            seq,
            |b| {
                push_nfgenmsg(b, NFPROTO_IPV6, 0);
                b.extend_from_slice(&part.attrs);
            },
        );
    }
    let end = nl.next_seq();
    push_message(&mut request, NFNL_MSG_BATCH_END, NLM_F_REQUEST, end, |b| {
        push_nfgenmsg(b, 0, NFNL_SUBSYS_NFTABLES)
    });
    (request, acks)
}

/// Deletes the `gecko` table if there is one.
fn delete_table(nl: &mut Netlink) -> Result<(), DataPlaneError> {
    let del = Part::new(NFT_MSG_DELTABLE, 0, |b| push_str(b, NFTA_TABLE_NAME, TABLE));
    match send_batch(nl, "deleting the nftables flow map", &[del]) {
        Err(e) if e.errno() != Some(Errno::ENOENT) => Err(e),
        _ => Ok(()),
    }
}

fn nft_type(msg: u16) -> u16 {
    NFNL_SUBSYS_NFTABLES << 8 | msg
}

/// `struct nfgenmsg`: family, version 0, resource id (big endian).
fn push_nfgenmsg(b: &mut Vec<u8>, family: u8, res_id: u16) {
    b.extend_from_slice(&[family, 0]);
    b.extend_from_slice(&res_id.to_be_bytes());
}

/// A NUL-terminated string attribute.
fn push_str(b: &mut Vec<u8>, kind: u16, s: &str) {
    let mut value = Vec::with_capacity(s.len() + 1);
    value.extend_from_slice(s.as_bytes());
    value.push(0);
    push_attr(b, kind, &value);
}

fn push_be32(b: &mut Vec<u8>, kind: u16, v: u32) {
    push_attr(b, kind, &v.to_be_bytes());
}

fn chain_attrs(b: &mut Vec<u8>) {
    push_str(b, NFTA_CHAIN_TABLE, TABLE);
    push_str(b, NFTA_CHAIN_NAME, CHAIN);
    push_nested(b, NFTA_CHAIN_HOOK, |b| {
        push_be32(b, NFTA_HOOK_HOOKNUM, NF_INET_LOCAL_OUT);
        push_attr(b, NFTA_HOOK_PRIORITY, &NF_IP6_PRI_MANGLE.to_be_bytes());
    });
    push_be32(b, NFTA_CHAIN_POLICY, NF_ACCEPT);
    push_str(b, NFTA_CHAIN_TYPE, "route");
}

fn map_attrs(b: &mut Vec<u8>) {
    push_str(b, NFTA_SET_TABLE, TABLE);
    push_str(b, NFTA_SET_NAME, MAP);
    // The kernel wants NFT_SET_CONCAT with a concatenation description (it
    // still picks a hash for a set without intervals).
    push_be32(b, NFTA_SET_FLAGS, NFT_SET_MAP | NFT_SET_CONCAT);
    push_be32(b, NFTA_SET_KEY_TYPE, KEY_TYPE);
    push_be32(b, NFTA_SET_KEY_LEN, KEY_LEN as u32);
    push_be32(b, NFTA_SET_DATA_TYPE, TYPE_MARK);
    push_be32(b, NFTA_SET_DATA_LEN, 4);
    push_nested(b, NFTA_SET_DESC, |b| {
        push_nested(b, NFTA_SET_DESC_CONCAT, |b| {
            for len in FIELD_LENS {
                push_nested(b, NFTA_LIST_ELEM, |b| push_be32(b, NFTA_SET_FIELD_LEN, len));
            }
        })
    });
    push_be32(b, NFTA_SET_ID, MAP_ID);
    push_attr(b, NFTA_SET_USERDATA, &map_userdata());
}

/// What nft keeps in a set's user data to print it back: the key's and the
/// data's byte order (libnftnl TLVs: type, length, host-order u32). The
/// mark is host order; a concatenation has none of its own (0).
fn map_userdata() -> Vec<u8> {
    const NFTNL_UDATA_SET_KEYBYTEORDER: u8 = 0;
    const NFTNL_UDATA_SET_DATABYTEORDER: u8 = 1;
    const BYTEORDER_INVALID: u32 = 0;
    const BYTEORDER_HOST_ENDIAN: u32 = 1;
    let mut u = Vec::with_capacity(12);
    for (kind, value) in [
        (NFTNL_UDATA_SET_KEYBYTEORDER, BYTEORDER_INVALID),
        (NFTNL_UDATA_SET_DATABYTEORDER, BYTEORDER_HOST_ENDIAN),
    ] {
        u.extend_from_slice(&[kind, 4]);
        u.extend_from_slice(&value.to_ne_bytes());
    }
    u
}

/// One expression of a rule.
fn push_expr(b: &mut Vec<u8>, name: &str, data: impl FnOnce(&mut Vec<u8>)) {
    push_nested(b, NFTA_LIST_ELEM, |b| {
        push_str(b, NFTA_EXPR_NAME, name);
        push_nested(b, NFTA_EXPR_DATA, data);
    });
}

fn push_payload(b: &mut Vec<u8>, base: u32, offset: u32, len: u32, dreg: u32) {
    push_expr(b, "payload", |b| {
        push_be32(b, NFTA_PAYLOAD_DREG, dreg);
        push_be32(b, NFTA_PAYLOAD_BASE, base);
        push_be32(b, NFTA_PAYLOAD_OFFSET, offset);
        push_be32(b, NFTA_PAYLOAD_LEN, len);
    });
}

/// `meta mark 0 meta l4proto tcp meta mark set ip6 saddr . tcp sport . ip6
/// daddr . tcp dport map @flows`.
fn rule_attrs(b: &mut Vec<u8>) {
    // Each field starts on its own 32-bit register: saddr in 00-03, sport
    // in 04, daddr in 05-08, dport in 09; the mark comes back in 10.
    const SADDR: u32 = NFT_REG32_00;
    const SPORT: u32 = NFT_REG32_00 + 4;
    const DADDR: u32 = NFT_REG32_00 + 5;
    const DPORT: u32 = NFT_REG32_00 + 9;
    const MARK: u32 = NFT_REG32_00 + 10;
    push_str(b, NFTA_RULE_TABLE, TABLE);
    push_str(b, NFTA_RULE_CHAIN, CHAIN);
    push_nested(b, NFTA_RULE_EXPRESSIONS, |b| {
        push_meta_equals(b, NFT_META_MARK, &[0; 4]);
        push_meta_equals(b, NFT_META_L4PROTO, &[IPPROTO_TCP]);
        push_payload(b, NFT_PAYLOAD_NETWORK_HEADER, 8, 16, SADDR);
        push_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2, SPORT);
        push_payload(b, NFT_PAYLOAD_NETWORK_HEADER, 24, 16, DADDR);
        push_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, DPORT);
        push_expr(b, "lookup", |b| {
            push_str(b, NFTA_LOOKUP_SET, MAP);
            push_be32(b, NFTA_LOOKUP_SET_ID, MAP_ID);
            push_be32(b, NFTA_LOOKUP_SREG, SADDR);
            push_be32(b, NFTA_LOOKUP_DREG, MARK);
        });
        push_expr(b, "meta", |b| {
            push_be32(b, NFTA_META_KEY, NFT_META_MARK);
            push_be32(b, NFTA_META_SREG, MARK);
        });
    });
}

/// `meta KEY == value`: the meta value loaded into register 1, compared.
fn push_meta_equals(b: &mut Vec<u8>, key: u32, value: &[u8]) {
    push_expr(b, "meta", |b| {
        push_be32(b, NFTA_META_KEY, key);
        push_be32(b, NFTA_META_DREG, NFT_REG_1);
    });
    push_expr(b, "cmp", |b| {
        push_be32(b, NFTA_CMP_SREG, NFT_REG_1);
        push_be32(b, NFTA_CMP_OP, NFT_CMP_EQ);
        push_nested(b, NFTA_CMP_DATA, |b| push_attr(b, NFTA_DATA_VALUE, value));
    });
}

/// A set element list with one element: its key and, to add, its mark.
fn element_attrs(b: &mut Vec<u8>, flow: &FlowKey, mark: Option<u32>) {
    push_str(b, NFTA_SET_ELEM_LIST_TABLE, TABLE);
    push_str(b, NFTA_SET_ELEM_LIST_SET, MAP);
    push_nested(b, NFTA_SET_ELEM_LIST_ELEMENTS, |b| {
        push_nested(b, NFTA_LIST_ELEM, |b| {
            push_nested(b, NFTA_SET_ELEM_KEY, |b| {
                push_attr(b, NFTA_DATA_VALUE, &flow_key_bytes(flow))
            });
            if let Some(mark) = mark {
                // meta mark takes the register as a host-order u32.
                push_nested(b, NFTA_SET_ELEM_DATA, |b| {
                    push_attr(b, NFTA_DATA_VALUE, &mark.to_ne_bytes())
                });
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn flow() -> FlowKey {
        FlowKey {
            client: "2001:db8:2:1::2".parse().unwrap(),
            client_port: 0x1234,
            server: "2001:db8:ffff::1".parse().unwrap(),
            server_port: 7,
        }
    }

    #[test]
    fn key_layout_is_concatenated_registers() {
        let key = flow_key_bytes(&flow());
        let client: Ipv6Addr = "2001:db8:2:1::2".parse().unwrap();
        assert_eq!(&key[0..16], &client.octets());
        assert_eq!(&key[16..20], &[0x12, 0x34, 0, 0]);
        assert_eq!(
            &key[20..36],
            &"2001:db8:ffff::1".parse::<Ipv6Addr>().unwrap().octets()
        );
        assert_eq!(&key[36..40], &[0, 7, 0, 0]);
        // The concatenation's fields fill exactly the key (kernel's check).
        let regs: u32 = FIELD_LENS.iter().map(|l| l.div_ceil(4)).sum();
        assert_eq!(regs * 4, KEY_LEN as u32);
    }

    #[test]
    fn key_type_is_what_nft_uses() {
        // `nft --debug=mnl` for `type ipv6_addr . inet_service . ipv6_addr .
        // inet_service` sends key type 0x0020d20d.
        assert_eq!(KEY_TYPE, 0x0020_d20d);
    }

    #[test]
    fn element_message_nests_key_and_data() {
        let mut b = Vec::new();
        element_attrs(&mut b, &flow(), Some(0x4745_0001));
        let top: Vec<_> = attrs(&b).collect();
        assert_eq!(top[0], (NFTA_SET_ELEM_LIST_TABLE, &b"gecko\0"[..]));
        assert_eq!(top[1], (NFTA_SET_ELEM_LIST_SET, &b"flows\0"[..]));
        let (kind, list) = top[2];
        assert_eq!(kind, NFTA_SET_ELEM_LIST_ELEMENTS);
        let elems: Vec<_> = attrs(list).collect();
        assert_eq!(elems.len(), 1);
        let parts: Vec<_> = attrs(elems[0].1).collect();
        assert_eq!(parts[0].0, NFTA_SET_ELEM_KEY);
        let key: Vec<_> = attrs(parts[0].1).collect();
        assert_eq!(key, vec![(NFTA_DATA_VALUE, &flow_key_bytes(&flow())[..])]);
        assert_eq!(parts[1].0, NFTA_SET_ELEM_DATA);
        let data: Vec<_> = attrs(parts[1].1).collect();
        assert_eq!(data[0].1, &0x4745_0001u32.to_ne_bytes());
        // Without a mark (a delete) there is no data.
        let mut d = Vec::new();
        element_attrs(&mut d, &flow(), None);
        assert!(d.len() < b.len());
    }
}
