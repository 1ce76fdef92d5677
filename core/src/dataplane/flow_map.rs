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

use super::netlink::{Netlink, NLM_F_CREATE};
use super::nf_tables::{
    self, concat_len, concat_type, Chain, Part, Set, IPPROTO_TCP, NFT_META_L4PROTO, NFT_META_MARK,
    NFT_MSG_DELSETELEM, NFT_MSG_NEWSETELEM, NFT_PAYLOAD_NETWORK_HEADER,
    NFT_PAYLOAD_TRANSPORT_HEADER, NFT_REG32_00, NF_INET_LOCAL_OUT, NF_INET_PRE_ROUTING,
    NF_IP6_PRI_MANGLE, TYPE_INET_SERVICE, TYPE_IP6ADDR, TYPE_MARK,
};
use super::{DataPlaneError, FlowKey};
use nix::errno::Errno;
use std::collections::HashMap;

/// The table's name on a client host (packets it sends).
pub const TABLE: &str = "gecko";
/// The table's name on a home agent (packets it forwards).
pub const FORWARD_TABLE: &str = "gecko_ha";

/// Which packets a flow map steers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowHook {
    /// This host's own (a client host): a `route` chain on output, which
    /// routes a packet again once its mark changed.
    LocalOut,
    /// Forwarded ones (the home agent): a `filter` chain on prerouting,
    /// before the routing decision reads the mark.
    Forwarded,
}

impl FlowHook {
    /// The nftables table of this hook's map.
    pub fn table(self) -> &'static str {
        match self {
            FlowHook::LocalOut => TABLE,
            FlowHook::Forwarded => FORWARD_TABLE,
        }
    }
}
/// The chain's name.
pub const CHAIN: &str = "flows";
/// The map's name.
pub const MAP: &str = "flows";
/// The fields' lengths, for NFTA_SET_DESC_CONCAT: ip6 saddr, tcp sport,
/// ip6 daddr, tcp dport.
const FIELD_LENS: [u32; 4] = [16, 2, 16, 2];
/// Bytes of a key: ip6 saddr (16) . tcp sport (2, padded to 4) . ip6 daddr
/// (16) . tcp dport (2, padded to 4); each field of a concatenation starts
/// on a 32-bit register.
pub const KEY_LEN: usize = concat_len(&FIELD_LENS);
const KEY_TYPE: u32 = concat_type(&[
    TYPE_IP6ADDR,
    TYPE_INET_SERVICE,
    TYPE_IP6ADDR,
    TYPE_INET_SERVICE,
]);
/// The set's id within its creating batch, for the rule's lookup.
const MAP_ID: u32 = 1;

/// The flow map: the nftables table `gecko` in the namespace of the thread
/// that created it. Dropping it deletes the table.
#[derive(Debug)]
pub struct FlowMap {
    nl: Netlink,
    table: &'static str,
    live: bool,
    /// The marks this table mapped, as the kernel holds them: a refused
    /// batch costs the kernel's abort path (an RCU grace period, about
    /// 17 ms against 3 µs for an insert), so a remap is sent as delete
    /// plus add at once rather than after an EEXIST.
    mapped: HashMap<FlowKey, u32>,
}

impl FlowMap {
    /// Creates the client host's table, its chain, map and rule, deleting
    /// a stale `gecko` table first (left by a process that died): one
    /// atomic batch.
    pub fn create() -> Result<FlowMap, DataPlaneError> {
        FlowMap::create_for(FlowHook::LocalOut)
    }

    /// [`FlowMap::create`] for the packets of `hook`.
    pub fn create_for(hook: FlowHook) -> Result<FlowMap, DataPlaneError> {
        let table = hook.table();
        let (hook_num, kind) = match hook {
            FlowHook::LocalOut => (NF_INET_LOCAL_OUT, "route"),
            FlowHook::Forwarded => (NF_INET_PRE_ROUTING, "filter"),
        };
        let mut nl = Netlink::open(netlink_sys::constants::NETLINK_NETFILTER)?;
        nf_tables::delete_table(&mut nl, table)?;
        let parts = vec![
            nf_tables::new_table(table),
            nf_tables::new_chain(&Chain {
                table,
                name: CHAIN,
                hook: hook_num,
                priority: NF_IP6_PRI_MANGLE,
                kind,
            }),
            nf_tables::new_set(&Set {
                table,
                name: MAP,
                id: MAP_ID,
                key_type: KEY_TYPE,
                field_lens: &FIELD_LENS,
                // meta mark takes the register as a host-order u32.
                data: Some((TYPE_MARK, 4)),
                userdata: nf_tables::set_userdata(Some(true)),
            }),
            nf_tables::new_rule(table, CHAIN, rule_exprs),
        ];
        nf_tables::send_batch(&mut nl, "creating the nftables flow map", &parts)?;
        tracing::debug!(table, "nftables flow map created");
        Ok(FlowMap {
            nl,
            table,
            live: true,
            mapped: HashMap::new(),
        })
    }

    /// Maps `flow` to `mark` (replacing the mark it had).
    pub fn insert(&mut self, flow: &FlowKey, mark: u32) -> Result<(), DataPlaneError> {
        let op = format!("mapping flow {flow:?} to mark {mark:#x}");
        let table = self.table;
        let add = Part::new(NFT_MSG_NEWSETELEM, NLM_F_CREATE, |b| {
            element_attrs(b, table, flow, Some(mark))
        });
        let del = || {
            Part::new(NFT_MSG_DELSETELEM, 0, |b| {
                element_attrs(b, table, flow, None)
            })
        };
        let sent = match self.mapped.get(flow) {
            Some(m) if *m == mark => return Ok(()),
            // Mapped to another mark: swap atomically.
            Some(_) => nf_tables::send_batch(&mut self.nl, &op, &[del(), add.clone()]),
            None => match nf_tables::send_batch(&mut self.nl, &op, std::slice::from_ref(&add)) {
                // Mapped by someone else (a previous instance): swap.
                Err(e) if matches!(e.errno(), Some(Errno::EBUSY | Errno::EEXIST)) => {
                    nf_tables::send_batch(&mut self.nl, &op, &[del(), add.clone()])
                }
                other => other,
            },
        };
        match sent {
            Ok(()) => {
                self.mapped.insert(*flow, mark);
                Ok(())
            }
            Err(e) => {
                // What the kernel holds now is unknown: ask it next time.
                self.mapped.remove(flow);
                Err(e)
            }
        }
    }

    /// Unmaps `flow`; false if it was not mapped.
    pub fn remove(&mut self, flow: &FlowKey) -> Result<bool, DataPlaneError> {
        self.mapped.remove(flow);
        let table = self.table;
        let del = Part::new(NFT_MSG_DELSETELEM, 0, |b| {
            element_attrs(b, table, flow, None)
        });
        match nf_tables::send_batch(&mut self.nl, &format!("unmapping flow {flow:?}"), &[del]) {
            Ok(()) => Ok(true),
            Err(e) if e.errno() == Some(Errno::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// How many flows the kernel's map holds.
    pub fn count(&mut self) -> Result<usize, DataPlaneError> {
        nf_tables::count_elements(&mut self.nl, self.table, MAP)
    }

    /// Whether a client host's `gecko` table exists in this thread's
    /// namespace.
    pub fn present() -> Result<bool, DataPlaneError> {
        let mut nl = Netlink::open(netlink_sys::constants::NETLINK_NETFILTER)?;
        nf_tables::table_present(&mut nl, TABLE)
    }

    /// Deletes the table with its chain, rule and map.
    pub fn destroy(mut self) -> Result<(), DataPlaneError> {
        self.live = false;
        nf_tables::delete_table(&mut self.nl, self.table)
    }
}

impl Drop for FlowMap {
    fn drop(&mut self) {
        if self.live {
            if let Err(e) = nf_tables::delete_table(&mut self.nl, self.table) {
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

/// `meta mark 0 meta l4proto tcp meta mark set ip6 saddr . tcp sport . ip6
/// daddr . tcp dport map @flows`.
fn rule_exprs(b: &mut Vec<u8>) {
    // Each field starts on its own 32-bit register: saddr in 00-03, sport
    // in 04, daddr in 05-08, dport in 09; the mark comes back in 10.
    const SADDR: u32 = NFT_REG32_00;
    const SPORT: u32 = NFT_REG32_00 + 4;
    const DADDR: u32 = NFT_REG32_00 + 5;
    const DPORT: u32 = NFT_REG32_00 + 9;
    const MARK: u32 = NFT_REG32_00 + 10;
    nf_tables::push_meta_equals(b, NFT_META_MARK, &[0; 4]);
    nf_tables::push_meta_equals(b, NFT_META_L4PROTO, &[IPPROTO_TCP]);
    nf_tables::push_payload(b, NFT_PAYLOAD_NETWORK_HEADER, 8, 16, SADDR);
    nf_tables::push_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2, SPORT);
    nf_tables::push_payload(b, NFT_PAYLOAD_NETWORK_HEADER, 24, 16, DADDR);
    nf_tables::push_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, DPORT);
    nf_tables::push_lookup(b, MAP, MAP_ID, SADDR, Some(MARK));
    nf_tables::push_meta_set(b, NFT_META_MARK, MARK);
}

/// A set element list with one element: its key and, to add, its mark.
fn element_attrs(b: &mut Vec<u8>, table: &str, flow: &FlowKey, mark: Option<u32>) {
    // meta mark takes the register as a host-order u32.
    let data = mark.map(u32::to_ne_bytes);
    nf_tables::push_element(
        b,
        table,
        MAP,
        &flow_key_bytes(flow),
        data.as_ref().map(|d| &d[..]),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::netlink::attrs;
    use crate::dataplane::nf_tables::{
        NFTA_DATA_VALUE, NFTA_SET_ELEM_DATA, NFTA_SET_ELEM_KEY, NFTA_SET_ELEM_LIST_ELEMENTS,
        NFTA_SET_ELEM_LIST_SET, NFTA_SET_ELEM_LIST_TABLE,
    };
    use std::net::Ipv6Addr;

    fn flow() -> FlowKey {
        FlowKey {
            client: "2001:db8:2:1::2".parse().unwrap(),
            client_port: 0x1234,
            server: "2001:db8:ffff::1".parse().unwrap(),
            server_port: 7,
        }
    }

    /// Remaps go out as one delete-and-add batch (no refused batch first);
    /// the kernel holds one element per flow throughout, and a removed flow
    /// maps afresh.
    #[test]
    fn remapping_swaps_the_mark() {
        if !gecko_netns::root_test("remapping_swaps_the_mark") {
            return;
        }
        let name = "gk-t-nft-remap";
        gecko_netns::netns::create(name).expect("creating a namespace");
        struct Gone(&'static str);
        impl Drop for Gone {
            fn drop(&mut self) {
                let _ = gecko_netns::netns::delete(self.0);
            }
        }
        let _gone = Gone(name);
        let ns = gecko_netns::netns::open(name).expect("opening the namespace");
        gecko_netns::netns::run_in(&ns, || {
            let mut t = FlowMap::create().expect("creating the flow map");
            let f = flow();
            t.insert(&f, 0x100).expect("mapping");
            t.insert(&f, 0x101).expect("remapping");
            t.insert(&f, 0x101).expect("mapping again to the same mark");
            assert_eq!(t.count().expect("counting"), 1);
            assert!(t.remove(&f).expect("unmapping"));
            assert!(!t.remove(&f).expect("unmapping again"));
            t.insert(&f, 0x100).expect("mapping afresh");
            assert_eq!(t.count().expect("counting"), 1);
        })
        .expect("running in the namespace");
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
        element_attrs(&mut b, TABLE, &flow(), Some(0x4745_0001));
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
        element_attrs(&mut d, TABLE, &flow(), None);
        assert!(d.len() < b.len());
    }
}
