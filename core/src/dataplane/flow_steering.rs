//! Per-connection steering of G's traffic, shared by the client host (its
//! own packets) and the home agent (the packets it forwards for clients
//! without an agent): the nftables flow map gives a flow the mark of its
//! node's slot; one policy-routing rule per slot sends the mark to the
//! slot's table, where G's route goes to that node by the backend.
//!
//! ```text
//! rule 1100  fwmark MARK_BASE+s  lookup TABLE_BASE+s
//! TABLE_BASE+s:    G/128 <backend> to CoA_s
//! nft (see flow_map): flow -> MARK_BASE+s
//! ```

use std::collections::HashMap;
use std::net::Ipv6Addr;

use super::encap::{EncapSender, Traffic};
use super::flow_map::{FlowHook, FlowMap};
use super::routes::{Routes, RuleMatch};
use super::{DataPlaneError, FlowKey};

/// The mark of slot 0; slot `s` uses `MARK_BASE + s`.
pub const MARK_BASE: u32 = 0x4745_0001;
/// The table of slot 0; slot `s` uses `TABLE_BASE + s`.
pub const TABLE_BASE: u32 = 0x4745_0001;
/// Priority of the per-slot fwmark rules.
pub const SLOT_RULE_PRIORITY: u32 = 1100;
/// How many distinct care-of addresses (nodes) flows may be bound to.
pub const MAX_SLOTS: usize = 4096;

const ALL_BITS: u32 = u32::MAX;

/// The flows steered to nodes, in the namespace of the thread that made
/// it. Routes and rules are added through the caller's [`Routes`] and
/// [`EncapSender`]; [`FlowSteering::remove`] takes them away again.
#[derive(Debug)]
pub struct FlowSteering {
    flows: Option<FlowMap>,
    g: Ipv6Addr,
    mtu: u32,
    traffic: Traffic,
    /// Care-of address of each slot, by slot number.
    slots: Vec<Ipv6Addr>,
    bound: HashMap<FlowKey, usize>,
}

impl FlowSteering {
    /// Creates the flow map for the packets of `hook`; routes to G carry
    /// packets of `mtu` bytes as `traffic`.
    pub fn create(
        hook: FlowHook,
        g: Ipv6Addr,
        mtu: u32,
        traffic: Traffic,
    ) -> Result<FlowSteering, DataPlaneError> {
        Ok(FlowSteering {
            flows: Some(FlowMap::create_for(hook)?),
            g,
            mtu,
            traffic,
            slots: Vec::new(),
            bound: HashMap::new(),
        })
    }

    /// The care-of addresses that have a slot (mark and table), by slot.
    pub fn slots(&self) -> &[Ipv6Addr] {
        &self.slots
    }

    /// How many flows are bound.
    pub fn bound_flows(&self) -> usize {
        self.bound.len()
    }

    /// The flow map (to count its entries, for one).
    pub fn flow_table(&mut self) -> Option<&mut FlowMap> {
        self.flows.as_mut()
    }

    /// Steers `flow` to `care_of` (replacing where it went).
    pub fn bind(
        &mut self,
        routes: &mut Routes,
        sender: &mut EncapSender,
        flow: FlowKey,
        care_of: Ipv6Addr,
    ) -> Result<(), DataPlaneError> {
        let slot = self.slot_for(routes, sender, care_of)?;
        let flows = self.flows.as_mut().ok_or_else(removed)?;
        flows.insert(&flow, slot_ids(slot).0)?;
        self.bound.insert(flow, slot);
        Ok(())
    }

    /// Stops steering `flow`; false if it was not steered.
    pub fn unbind(&mut self, flow: &FlowKey) -> Result<bool, DataPlaneError> {
        let flows = self.flows.as_mut().ok_or_else(removed)?;
        let had = flows.remove(flow)?;
        self.bound.remove(flow);
        Ok(had)
    }

    /// Removes the flow map, then every slot's rule and route. Tries every
    /// step; `keep` hears each failure. Idempotent.
    pub fn remove(&mut self, routes: &mut Routes, keep: &mut dyn FnMut(DataPlaneError)) {
        let mut keep = |r: Result<(), DataPlaneError>| {
            if let Err(e) = r {
                keep(e);
            }
        };
        // The map first: no packet gets a mark whose rule is gone.
        if let Some(flows) = self.flows.take() {
            keep(flows.destroy());
        }
        for slot in 0..self.slots.len() {
            let (mark, table) = slot_ids(slot);
            keep(
                routes
                    .delete_rule(SLOT_RULE_PRIORITY, fwmark(mark), table)
                    .map(drop),
            );
            keep(routes.delete_route(table, self.g).map(drop));
        }
        self.slots.clear();
        self.bound.clear();
    }

    /// The slot of `care_of`, made on first use: its table's route to G and
    /// its fwmark rule.
    fn slot_for(
        &mut self,
        routes: &mut Routes,
        sender: &mut EncapSender,
        care_of: Ipv6Addr,
    ) -> Result<usize, DataPlaneError> {
        if let Some(slot) = self.slots.iter().position(|c| *c == care_of) {
            return Ok(slot);
        }
        let slot = self.slots.len();
        if slot >= MAX_SLOTS {
            return Err(DataPlaneError::NoFreeSlot(care_of, MAX_SLOTS));
        }
        let (mark, table) = slot_ids(slot);
        sender.route(routes, table, self.g, care_of, self.mtu, self.traffic)?;
        // Pushed before the rule, so `remove` also removes a route whose
        // rule could not be added.
        self.slots.push(care_of);
        routes.add_fwmark_rule(SLOT_RULE_PRIORITY, mark, ALL_BITS, table)?;
        tracing::debug!(%care_of, slot, mark, table, "binding slot made");
        Ok(slot)
    }
}

/// (mark, table) of a slot.
fn slot_ids(slot: usize) -> (u32, u32) {
    (MARK_BASE + slot as u32, TABLE_BASE + slot as u32)
}

/// A rule's match on a whole mark.
pub fn fwmark(mark: u32) -> RuleMatch {
    RuleMatch::FwMark {
        mark,
        mask: ALL_BITS,
    }
}

fn removed() -> DataPlaneError {
    DataPlaneError::Malformed {
        op: "steering a flow".into(),
        detail: "the flow steering was removed".into(),
    }
}

/// Whether a routing table id is a slot's.
pub fn is_slot_table(table: u32) -> bool {
    (TABLE_BASE..TABLE_BASE + MAX_SLOTS as u32).contains(&table)
}

/// Removes the slot rules and routes a dead instance may have left; also
/// those of the tables `also` says are the caller's.
pub fn remove_leftovers(
    routes: &mut Routes,
    also: &dyn Fn(u32) -> bool,
) -> Result<(), DataPlaneError> {
    let ours = |table| is_slot_table(table) || also(table);
    for rule in routes.list_rules()? {
        if ours(rule.table) {
            let matching = match (rule.fwmark, rule.destination) {
                (Some(mark), _) => fwmark(mark),
                (None, Some((dst, 128))) => RuleMatch::To(dst),
                _ => continue,
            };
            tracing::info!(?rule, "removing a leftover rule");
            routes.delete_rule(rule.priority, matching, rule.table)?;
        }
    }
    for route in routes.list_routes()? {
        if ours(route.table) && route.prefix_len == 128 {
            tracing::info!(?route, "removing a leftover route");
            routes.delete_route(route.table, route.destination)?;
        }
    }
    Ok(())
}
