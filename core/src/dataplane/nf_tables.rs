//! The nf_tables netlink vocabulary (NETLINK_NETFILTER, no libnftnl, no
//! `nft`): atomic batches, and the builders of tables, base chains,
//! concatenated sets and maps, set elements and rule expressions that the
//! flow map (`nftables`) and the flow lock (`tcp::flow_lock`) share.
//!
//! Everything here is for the `ip6` family.

use super::netlink::{
    attrs, push_attr, push_message, push_nested, Netlink, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use super::DataPlaneError;
use nix::errno::Errno;

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
/// `NFT_MSG_NEWTABLE`.
pub const NFT_MSG_NEWTABLE: u16 = 0;
/// `NFT_MSG_GETTABLE`.
pub const NFT_MSG_GETTABLE: u16 = 1;
/// `NFT_MSG_DELTABLE`.
pub const NFT_MSG_DELTABLE: u16 = 2;
/// `NFT_MSG_NEWCHAIN`.
pub const NFT_MSG_NEWCHAIN: u16 = 3;
/// `NFT_MSG_NEWRULE`.
pub const NFT_MSG_NEWRULE: u16 = 6;
/// `NFT_MSG_NEWSET`.
pub const NFT_MSG_NEWSET: u16 = 9;
/// `NFT_MSG_NEWSETELEM`.
pub const NFT_MSG_NEWSETELEM: u16 = 12;
/// `NFT_MSG_GETSETELEM`.
pub const NFT_MSG_GETSETELEM: u16 = 13;
/// `NFT_MSG_DELSETELEM`.
pub const NFT_MSG_DELSETELEM: u16 = 14;
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
/// `NFTA_SET_ELEM_LIST_TABLE`.
pub const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
/// `NFTA_SET_ELEM_LIST_SET`.
pub const NFTA_SET_ELEM_LIST_SET: u16 = 2;
/// `NFTA_SET_ELEM_LIST_ELEMENTS`.
pub const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
/// `NFTA_SET_ELEM_KEY`.
pub const NFTA_SET_ELEM_KEY: u16 = 1;
/// `NFTA_SET_ELEM_DATA`.
pub const NFTA_SET_ELEM_DATA: u16 = 2;
/// `NFTA_DATA_VALUE`.
pub const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
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
const NFTA_IMMEDIATE_DREG: u16 = 1;
const NFTA_IMMEDIATE_DATA: u16 = 2;

/// `NF_INET_PRE_ROUTING`.
pub const NF_INET_PRE_ROUTING: u32 = 0;
/// `NF_INET_LOCAL_OUT`.
pub const NF_INET_LOCAL_OUT: u32 = 3;
/// `NF_IP6_PRI_RAW`: before conntrack.
pub const NF_IP6_PRI_RAW: i32 = -300;
/// `NF_IP6_PRI_MANGLE`.
pub const NF_IP6_PRI_MANGLE: i32 = -150;
/// `NF_DROP`.
pub const NF_DROP: u32 = 0;
/// `NF_ACCEPT`.
pub const NF_ACCEPT: u32 = 1;
/// `NFT_SET_MAP`: the set maps its keys to data.
pub const NFT_SET_MAP: u32 = 0x8;
/// `NFT_SET_CONCAT`: the key is a concatenation (needs its field lengths).
pub const NFT_SET_CONCAT: u32 = 0x80;
/// `NFT_META_MARK`.
pub const NFT_META_MARK: u32 = 3;
/// `NFT_META_L4PROTO`: the transport protocol past any extension header.
pub const NFT_META_L4PROTO: u32 = 16;
const NFT_CMP_EQ: u32 = 0;
/// `NFT_PAYLOAD_NETWORK_HEADER`.
pub const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
/// `NFT_PAYLOAD_TRANSPORT_HEADER`: the transport header the kernel found
/// past the extension headers.
pub const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
/// `NFT_REG_VERDICT`.
const NFT_REG_VERDICT: u32 = 0;
/// `NFT_REG_1`.
pub const NFT_REG_1: u32 = 1;
/// `NFT_REG32_00`: the first 32-bit register; a concatenation fills
/// consecutive ones.
pub const NFT_REG32_00: u32 = 8;
/// `IPPROTO_TCP`.
pub const IPPROTO_TCP: u8 = 6;

/// nft's datatype ids (its `enum datatypes`), so that `nft list ruleset`
/// names the key and data types.
pub const TYPE_IP6ADDR: u32 = 8;
/// nft's `inet_service` (a port).
pub const TYPE_INET_SERVICE: u32 = 13;
/// nft's `mark`.
pub const TYPE_MARK: u32 = 19;
const TYPE_BITS: u32 = 6;

/// The type id of a concatenation: its fields' ids, 6 bits each, first
/// field highest (as nft packs them).
pub const fn concat_type(fields: &[u32]) -> u32 {
    let mut id = 0;
    let mut i = 0;
    while i < fields.len() {
        id = id << TYPE_BITS | fields[i];
        i += 1;
    }
    id
}

/// Bytes of a concatenated key: each field starts on a 32-bit register.
pub const fn concat_len(field_lens: &[u32]) -> usize {
    let mut len = 0;
    let mut i = 0;
    while i < field_lens.len() {
        len += field_lens[i].div_ceil(4) * 4;
        i += 1;
    }
    len as usize
}

/// One message of a batch: its type, flags and encoded attributes.
#[derive(Clone)]
pub struct Part {
    kind: u16,
    flags: u16,
    attrs: Vec<u8>,
}

impl Part {
    /// A message of type `kind` (`NFT_MSG_*`) whose attributes `write` encodes.
    pub fn new(kind: u16, flags: u16, write: impl FnOnce(&mut Vec<u8>)) -> Part {
        let mut attrs = Vec::new();
        write(&mut attrs);
        Part { kind, flags, attrs }
    }
}

/// Sends `parts` as one nfnetlink batch (begin, parts, end: applied all or
/// nothing) and waits for each part's acknowledgement.
pub fn send_batch(nl: &mut Netlink, op: &str, parts: &[Part]) -> Result<(), DataPlaneError> {
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

/// Creates table `name`.
pub fn new_table(name: &str) -> Part {
    Part::new(NFT_MSG_NEWTABLE, NLM_F_CREATE, |b| {
        push_str(b, NFTA_TABLE_NAME, name)
    })
}

/// `NFTA_TABLE_FLAGS`.
const NFTA_TABLE_FLAGS: u16 = 2;
/// `NFT_TABLE_F_OWNER`: the table lives as long as the netlink socket that
/// created it (Linux 5.12).
const NFT_TABLE_F_OWNER: u32 = 2;

/// Creates table `name`, owned by the sending netlink socket: the kernel
/// deletes it when that socket closes, the process's death included.
pub fn new_owned_table(name: &str) -> Part {
    Part::new(NFT_MSG_NEWTABLE, NLM_F_CREATE, |b| {
        push_str(b, NFTA_TABLE_NAME, name);
        push_be32(b, NFTA_TABLE_FLAGS, NFT_TABLE_F_OWNER);
    })
}

/// Deletes table `name` with all it holds; a missing table is not an error.
pub fn delete_table(nl: &mut Netlink, name: &str) -> Result<(), DataPlaneError> {
    let del = Part::new(NFT_MSG_DELTABLE, 0, |b| push_str(b, NFTA_TABLE_NAME, name));
    match send_batch(nl, &format!("deleting nftables table {name}"), &[del]) {
        Err(e) if e.errno() != Some(Errno::ENOENT) => Err(e),
        _ => Ok(()),
    }
}

/// Whether table `name` exists in the namespace of `nl`.
pub fn table_present(nl: &mut Netlink, name: &str) -> Result<bool, DataPlaneError> {
    let seq = nl.next_seq();
    let mut request = Vec::new();
    push_message(
        &mut request,
        nft_type(NFT_MSG_GETTABLE),
        NLM_F_REQUEST,
        seq,
        |b| {
            push_nfgenmsg(b, NFPROTO_IPV6, 0);
            push_str(b, NFTA_TABLE_NAME, name);
        },
    );
    match nl.collect(
        &format!("looking for nftables table {name}"),
        &request,
        seq,
        false,
    ) {
        Ok(found) => Ok(!found.is_empty()),
        Err(e) if e.errno() == Some(Errno::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A base chain: attached to a hook, policy accept.
pub struct Chain<'a> {
    /// The table it belongs to.
    pub table: &'a str,
    /// Its name.
    pub name: &'a str,
    /// `NF_INET_*`.
    pub hook: u32,
    /// Its priority on the hook (`NF_IP6_PRI_*`).
    pub priority: i32,
    /// `filter`, `route` or `nat`.
    pub kind: &'a str,
}

/// Creates `chain`.
pub fn new_chain(chain: &Chain<'_>) -> Part {
    Part::new(NFT_MSG_NEWCHAIN, NLM_F_CREATE, |b| {
        push_str(b, NFTA_CHAIN_TABLE, chain.table);
        push_str(b, NFTA_CHAIN_NAME, chain.name);
        push_nested(b, NFTA_CHAIN_HOOK, |b| {
            push_be32(b, NFTA_HOOK_HOOKNUM, chain.hook);
            push_attr(b, NFTA_HOOK_PRIORITY, &chain.priority.to_be_bytes());
        });
        push_be32(b, NFTA_CHAIN_POLICY, NF_ACCEPT);
        push_str(b, NFTA_CHAIN_TYPE, chain.kind);
    })
}

/// A set (or map) whose key is a concatenation.
pub struct Set<'a> {
    /// The table it belongs to.
    pub table: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Its id within the creating batch, for a rule's lookup.
    pub id: u32,
    /// The key's nft type (`concat_type`).
    pub key_type: u32,
    /// The lengths of the key's fields, in bytes.
    pub field_lens: &'a [u32],
    /// For a map: the data's nft type and length.
    pub data: Option<(u32, u32)>,
    /// What nft keeps in the set's user data (`set_userdata`).
    pub userdata: Vec<u8>,
}

/// Creates `set`.
pub fn new_set(set: &Set<'_>) -> Part {
    Part::new(NFT_MSG_NEWSET, NLM_F_CREATE, |b| {
        push_str(b, NFTA_SET_TABLE, set.table);
        push_str(b, NFTA_SET_NAME, set.name);
        // The kernel wants NFT_SET_CONCAT with a concatenation description
        // (it still picks a hash for a set without intervals).
        let map = if set.data.is_some() { NFT_SET_MAP } else { 0 };
        push_be32(b, NFTA_SET_FLAGS, map | NFT_SET_CONCAT);
        push_be32(b, NFTA_SET_KEY_TYPE, set.key_type);
        push_be32(b, NFTA_SET_KEY_LEN, concat_len(set.field_lens) as u32);
        if let Some((kind, len)) = set.data {
            push_be32(b, NFTA_SET_DATA_TYPE, kind);
            push_be32(b, NFTA_SET_DATA_LEN, len);
        }
        push_nested(b, NFTA_SET_DESC, |b| {
            push_nested(b, NFTA_SET_DESC_CONCAT, |b| {
                for len in set.field_lens {
                    push_nested(b, NFTA_LIST_ELEM, |b| {
                        push_be32(b, NFTA_SET_FIELD_LEN, *len)
                    });
                }
            })
        });
        push_be32(b, NFTA_SET_ID, set.id);
        push_attr(b, NFTA_SET_USERDATA, &set.userdata);
    })
}

/// What nft keeps in a set's user data to print it back: the key's and,
/// for a map, the data's byte order (libnftnl TLVs: type, length,
/// host-order u32). A concatenation has none of its own (0).
pub fn set_userdata(data_host_order: Option<bool>) -> Vec<u8> {
    const NFTNL_UDATA_SET_KEYBYTEORDER: u8 = 0;
    const NFTNL_UDATA_SET_DATABYTEORDER: u8 = 1;
    const BYTEORDER_INVALID: u32 = 0;
    const BYTEORDER_HOST_ENDIAN: u32 = 1;
    const BYTEORDER_BIG_ENDIAN: u32 = 2;
    let mut u = Vec::with_capacity(12);
    let mut push = |kind: u8, value: u32| {
        u.extend_from_slice(&[kind, 4]);
        u.extend_from_slice(&value.to_ne_bytes());
    };
    push(NFTNL_UDATA_SET_KEYBYTEORDER, BYTEORDER_INVALID);
    if let Some(host) = data_host_order {
        let order = if host {
            BYTEORDER_HOST_ENDIAN
        } else {
            BYTEORDER_BIG_ENDIAN
        };
        push(NFTNL_UDATA_SET_DATABYTEORDER, order);
    }
    u
}

/// Appends a rule to `chain` whose expressions `exprs` encodes.
pub fn new_rule(table: &str, chain: &str, exprs: impl FnOnce(&mut Vec<u8>)) -> Part {
    Part::new(
        NFT_MSG_NEWRULE,
        NLM_F_CREATE | super::netlink::NLM_F_APPEND,
        |b| {
            push_str(b, NFTA_RULE_TABLE, table);
            push_str(b, NFTA_RULE_CHAIN, chain);
            push_nested(b, NFTA_RULE_EXPRESSIONS, exprs);
        },
    )
}

/// A set element list with one element: its key and, for a map, its data.
pub fn push_element(b: &mut Vec<u8>, table: &str, set: &str, key: &[u8], data: Option<&[u8]>) {
    push_str(b, NFTA_SET_ELEM_LIST_TABLE, table);
    push_str(b, NFTA_SET_ELEM_LIST_SET, set);
    push_nested(b, NFTA_SET_ELEM_LIST_ELEMENTS, |b| {
        push_nested(b, NFTA_LIST_ELEM, |b| {
            push_nested(b, NFTA_SET_ELEM_KEY, |b| push_attr(b, NFTA_DATA_VALUE, key));
            if let Some(data) = data {
                push_nested(b, NFTA_SET_ELEM_DATA, |b| {
                    push_attr(b, NFTA_DATA_VALUE, data)
                });
            }
        });
    });
}

/// How many elements set `set` of `table` holds.
pub fn count_elements(nl: &mut Netlink, table: &str, set: &str) -> Result<usize, DataPlaneError> {
    let seq = nl.next_seq();
    let mut request = Vec::new();
    push_message(
        &mut request,
        nft_type(NFT_MSG_GETSETELEM),
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        |b| {
            push_nfgenmsg(b, NFPROTO_IPV6, 0);
            push_str(b, NFTA_SET_ELEM_LIST_TABLE, table);
            push_str(b, NFTA_SET_ELEM_LIST_SET, set);
        },
    );
    let replies = nl.collect(&format!("listing set {table}/{set}"), &request, seq, true)?;
    Ok(replies
        .iter()
        .filter(|r| r.payload().len() >= 4)
        .flat_map(|r| attrs(&r.payload()[4..]).collect::<Vec<_>>())
        .filter(|(kind, _)| *kind == NFTA_SET_ELEM_LIST_ELEMENTS)
        .map(|(_, list)| attrs(list).filter(|(k, _)| *k == NFTA_LIST_ELEM).count())
        .sum())
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
pub fn push_str(b: &mut Vec<u8>, kind: u16, s: &str) {
    let mut value = Vec::with_capacity(s.len() + 1);
    value.extend_from_slice(s.as_bytes());
    value.push(0);
    push_attr(b, kind, &value);
}

fn push_be32(b: &mut Vec<u8>, kind: u16, v: u32) {
    push_attr(b, kind, &v.to_be_bytes());
}

/// One expression of a rule.
fn push_expr(b: &mut Vec<u8>, name: &str, data: impl FnOnce(&mut Vec<u8>)) {
    push_nested(b, NFTA_LIST_ELEM, |b| {
        push_str(b, NFTA_EXPR_NAME, name);
        push_nested(b, NFTA_EXPR_DATA, data);
    });
}

/// Loads `len` bytes at `offset` of header `base` into register `dreg`.
pub fn push_payload(b: &mut Vec<u8>, base: u32, offset: u32, len: u32, dreg: u32) {
    push_expr(b, "payload", |b| {
        push_be32(b, NFTA_PAYLOAD_DREG, dreg);
        push_be32(b, NFTA_PAYLOAD_BASE, base);
        push_be32(b, NFTA_PAYLOAD_OFFSET, offset);
        push_be32(b, NFTA_PAYLOAD_LEN, len);
    });
}

/// `meta KEY == value`: the meta value loaded into register 1, compared.
pub fn push_meta_equals(b: &mut Vec<u8>, key: u32, value: &[u8]) {
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

/// Header bytes `payload(base, offset, len(value)) == value`.
pub fn push_payload_equals(b: &mut Vec<u8>, base: u32, offset: u32, value: &[u8]) {
    push_payload(b, base, offset, value.len() as u32, NFT_REG_1);
    push_expr(b, "cmp", |b| {
        push_be32(b, NFTA_CMP_SREG, NFT_REG_1);
        push_be32(b, NFTA_CMP_OP, NFT_CMP_EQ);
        push_nested(b, NFTA_CMP_DATA, |b| push_attr(b, NFTA_DATA_VALUE, value));
    });
}

/// `(payload(base, offset, len(mask)) & mask) == value`.
pub fn push_payload_masked_equals(
    b: &mut Vec<u8>,
    base: u32,
    offset: u32,
    mask: &[u8],
    value: &[u8],
) {
    const NFTA_BITWISE_SREG: u16 = 1;
    const NFTA_BITWISE_DREG: u16 = 2;
    const NFTA_BITWISE_LEN: u16 = 3;
    const NFTA_BITWISE_MASK: u16 = 4;
    const NFTA_BITWISE_XOR: u16 = 5;
    push_payload(b, base, offset, mask.len() as u32, NFT_REG_1);
    push_expr(b, "bitwise", |b| {
        push_be32(b, NFTA_BITWISE_SREG, NFT_REG_1);
        push_be32(b, NFTA_BITWISE_DREG, NFT_REG_1);
        push_be32(b, NFTA_BITWISE_LEN, mask.len() as u32);
        push_nested(b, NFTA_BITWISE_MASK, |b| {
            push_attr(b, NFTA_DATA_VALUE, mask)
        });
        push_nested(b, NFTA_BITWISE_XOR, |b| {
            push_attr(b, NFTA_DATA_VALUE, &vec![0; mask.len()])
        });
    });
    push_expr(b, "cmp", |b| {
        push_be32(b, NFTA_CMP_SREG, NFT_REG_1);
        push_be32(b, NFTA_CMP_OP, NFT_CMP_EQ);
        push_nested(b, NFTA_CMP_DATA, |b| push_attr(b, NFTA_DATA_VALUE, value));
    });
}

/// Loads `value` into register `dreg`.
pub fn push_immediate(b: &mut Vec<u8>, dreg: u32, value: &[u8]) {
    push_expr(b, "immediate", |b| {
        push_be32(b, NFTA_IMMEDIATE_DREG, dreg);
        push_nested(b, NFTA_IMMEDIATE_DATA, |b| {
            push_attr(b, NFTA_DATA_VALUE, value)
        });
    });
}

/// `meta KEY set` from register `sreg`.
pub fn push_meta_set(b: &mut Vec<u8>, key: u32, sreg: u32) {
    push_expr(b, "meta", |b| {
        push_be32(b, NFTA_META_KEY, key);
        push_be32(b, NFTA_META_SREG, sreg);
    });
}

/// Looks up the key in registers from `sreg` in set `set` (id `set_id` in
/// the creating batch): with `dreg`, a map lookup whose data lands there;
/// without, a membership test that ends the rule when the key is absent.
pub fn push_lookup(b: &mut Vec<u8>, set: &str, set_id: u32, sreg: u32, dreg: Option<u32>) {
    push_expr(b, "lookup", |b| {
        push_str(b, NFTA_LOOKUP_SET, set);
        push_be32(b, NFTA_LOOKUP_SET_ID, set_id);
        push_be32(b, NFTA_LOOKUP_SREG, sreg);
        if let Some(dreg) = dreg {
            push_be32(b, NFTA_LOOKUP_DREG, dreg);
        }
    });
}

/// The verdict `code` (`NF_DROP`, `NF_ACCEPT`).
pub fn push_verdict(b: &mut Vec<u8>, code: u32) {
    push_expr(b, "immediate", |b| {
        push_be32(b, NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
        push_nested(b, NFTA_IMMEDIATE_DATA, |b| {
            push_nested(b, NFTA_DATA_VERDICT, |b| {
                push_be32(b, NFTA_VERDICT_CODE, code)
            })
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenations() {
        // `nft --debug=mnl` for `type ipv6_addr . inet_service . ipv6_addr .
        // inet_service` sends key type 0x0020d20d.
        let four = [
            TYPE_IP6ADDR,
            TYPE_INET_SERVICE,
            TYPE_IP6ADDR,
            TYPE_INET_SERVICE,
        ];
        assert_eq!(concat_type(&four), 0x0020_d20d);
        assert_eq!(concat_len(&[16, 2, 16, 2]), 40);
        assert_eq!(concat_len(&[16, 2, 2]), 24);
    }
}
