//! The client host's data plane (DESIGN.md, "Wire and data plane"): the
//! home route to G, a plain binding for G, and per-flow bindings through
//! the nftables flow map and one policy-routing rule and table per node.
//!
//! ```text
//! rule 1000  fwmark HOME_MARK            lookup main          (HoT: past every binding)
//! rule 1100  fwmark MARK_BASE+s          lookup TABLE_BASE+s  (one per node's care-of address)
//! rule 1200  to G/128                    lookup PLAIN_TABLE   (falls through to main when empty)
//! main:            G/128 via gw dev oif mtu M            (the home route)
//! PLAIN_TABLE:     G/128 <backend> to CoA                (see `encap`)
//! TABLE_BASE+s:    G/128 <backend> to CoA_s
//! nft route hook:  flow -> MARK_BASE+s
//! ```
//!
//! M is the link's MTU minus the largest encapsulation any backend adds
//! ([`MAX_OVERHEAD`]): the home agent may use another backend than this
//! host. Every route to G lets through packets of M bytes, so a connection
//! has the same MSS whichever way it goes (1358 with timestamps on a
//! 1500-byte link) and never needs a Packet Too Big after a handoff.

use std::net::Ipv6Addr;

use super::encap::{Encap, EncapSender, Traffic, MAX_OVERHEAD};
use super::flow_map::{FlowHook, FlowMap};
use super::flow_steering::{self, fwmark, FlowSteering};
use super::routes::{NextHop, Routes, RuleMatch, MAIN_TABLE};
use super::{BindingPlane, DataPlaneError, FlowKey};

pub use super::flow_steering::{MARK_BASE, MAX_SLOTS, SLOT_RULE_PRIORITY, TABLE_BASE};

/// The socket mark that sends a packet for G by the home route whatever
/// the bindings (the client agent's HoT exchange).
pub const HOME_MARK: u32 = 0x4745_0000;
/// The table of the plain binding.
pub const PLAIN_TABLE: u32 = 0x4745_0000;
/// Priority of the HOME_MARK rule.
pub const HOME_RULE_PRIORITY: u32 = 1000;
/// Priority of the plain binding's `to G` rule.
pub const PLAIN_RULE_PRIORITY: u32 = 1200;

const ALL_BITS: u32 = u32::MAX;

/// The client host's bindings for one G, in the namespace of the thread
/// that installed them. Dropping it uninstalls everything it added.
#[derive(Debug)]
pub struct ClientPlane {
    routes: Routes,
    sender: EncapSender,
    flows: Option<FlowSteering>,
    g: Ipv6Addr,
    home: NextHop,
    /// The largest packet any route to G carries.
    mtu: u32,
    plain: Option<Ipv6Addr>,
    installed: bool,
}

impl ClientPlane {
    /// Installs the plane for `g` with backend `encap` on links of MTU
    /// `link_mtu`: the home route along the current route to `g` (with room
    /// for [`MAX_OVERHEAD`]), the HOME_MARK and plain rules, the backend's
    /// device if it has one, and the nftables flow map. Leftovers of a
    /// previous instance that died are removed first.
    pub fn install(
        g: Ipv6Addr,
        link_mtu: u32,
        encap: Encap,
    ) -> Result<ClientPlane, DataPlaneError> {
        let mut routes = Routes::open()?;
        remove_leftovers(&mut routes)?;
        let home = routes.lookup_route(g)?;
        let sender = EncapSender::open(&mut routes, encap, link_mtu)?;
        let mtu = link_mtu - MAX_OVERHEAD;
        let mut plane = ClientPlane {
            routes,
            sender,
            flows: None,
            g,
            home,
            mtu,
            plain: None,
            installed: true,
        };
        // On any failure below, dropping `plane` removes what was added.
        plane
            .routes
            .replace_via_route(MAIN_TABLE, g, home.gateway, home.oif, mtu)?;
        plane
            .routes
            .add_fwmark_rule(HOME_RULE_PRIORITY, HOME_MARK, ALL_BITS, MAIN_TABLE)?;
        plane
            .routes
            .add_to_rule(PLAIN_RULE_PRIORITY, g, PLAIN_TABLE)?;
        plane.flows = Some(FlowSteering::create(
            FlowHook::LocalOut,
            g,
            mtu,
            Traffic::Local,
        )?);
        tracing::info!(%g, ?home, mtu, dataplane = %encap, "client data plane installed");
        Ok(plane)
    }

    /// The backend that carries the bindings.
    pub fn encap(&self) -> Encap {
        self.sender.encap()
    }

    /// G.
    pub fn global_address(&self) -> Ipv6Addr {
        self.g
    }

    /// The home route's next hop.
    pub fn home(&self) -> NextHop {
        self.home
    }

    /// The plain binding's care-of address, if any.
    pub fn plain(&self) -> Option<Ipv6Addr> {
        self.plain
    }

    /// The care-of addresses that have a slot (mark and table), by slot.
    pub fn slots(&self) -> &[Ipv6Addr] {
        self.flows.as_ref().map_or(&[], |f| f.slots())
    }

    /// How many flows are bound.
    pub fn bound_flows(&self) -> usize {
        self.flows.as_ref().map_or(0, |f| f.bound_flows())
    }

    /// The flow map (to count its entries, for one).
    pub fn flow_table(&mut self) -> Option<&mut FlowMap> {
        self.flows.as_mut().and_then(|f| f.flow_table())
    }

    /// Removes everything `install` and the bindings added: the flow map,
    /// the rules, the plain and slot routes and the home route. Tries every
    /// step and returns the first failure. Idempotent.
    pub fn uninstall(&mut self) -> Result<(), DataPlaneError> {
        if !self.installed {
            return Ok(());
        }
        self.installed = false;
        let mut first: Option<DataPlaneError> = None;
        let mut note = |e: DataPlaneError| {
            tracing::warn!(error = %e, "uninstalling the client data plane");
            first.get_or_insert(e);
        };
        if let Some(mut flows) = self.flows.take() {
            flows.remove(&mut self.routes, &mut note);
        }
        let mut keep = |r: Result<(), DataPlaneError>| {
            if let Err(e) = r {
                note(e);
            }
        };
        let g = self.g;
        let r = &mut self.routes;
        keep(
            r.delete_rule(PLAIN_RULE_PRIORITY, RuleMatch::To(g), PLAIN_TABLE)
                .map(drop),
        );
        keep(
            r.delete_rule(HOME_RULE_PRIORITY, fwmark(HOME_MARK), MAIN_TABLE)
                .map(drop),
        );
        keep(r.delete_route(PLAIN_TABLE, g).map(drop));
        keep(r.delete_route(MAIN_TABLE, g).map(drop));
        keep(self.sender.close(r));
        self.plain = None;
        tracing::info!(%g, "client data plane uninstalled");
        first.map_or(Ok(()), Err)
    }

    /// G's route in `table` to `care_of`, by the backend.
    fn route(&mut self, table: u32, care_of: Ipv6Addr) -> Result<(), DataPlaneError> {
        self.sender.route(
            &mut self.routes,
            table,
            self.g,
            care_of,
            self.mtu,
            Traffic::Local,
        )
    }
}

impl BindingPlane for ClientPlane {
    fn set_plain(&mut self, care_of: Option<Ipv6Addr>) -> Result<(), DataPlaneError> {
        match care_of {
            Some(c) => self.route(PLAIN_TABLE, c)?,
            None => {
                self.routes.delete_route(PLAIN_TABLE, self.g)?;
            }
        }
        self.plain = care_of;
        tracing::debug!(g = %self.g, ?care_of, "plain binding set");
        Ok(())
    }

    fn bind_flow(&mut self, flow: FlowKey, care_of: Ipv6Addr) -> Result<(), DataPlaneError> {
        let flows = self.flows.as_mut().ok_or_else(uninstalled)?;
        flows.bind(&mut self.routes, &mut self.sender, flow, care_of)
    }

    fn unbind_flow(&mut self, flow: &FlowKey) -> Result<bool, DataPlaneError> {
        self.flows.as_mut().ok_or_else(uninstalled)?.unbind(flow)
    }
}

impl Drop for ClientPlane {
    fn drop(&mut self) {
        // Errors were logged by uninstall; nothing more to do in a drop.
        let _ = self.uninstall();
    }
}

fn uninstalled() -> DataPlaneError {
    DataPlaneError::Malformed {
        op: "using the client data plane".into(),
        detail: "it was uninstalled".into(),
    }
}

/// Removes the rules, routes and flow map a dead instance may have left:
/// the slots', the plain table's and the HOME_MARK rule.
fn remove_leftovers(routes: &mut Routes) -> Result<(), DataPlaneError> {
    for rule in routes.list_rules()? {
        if rule.priority == HOME_RULE_PRIORITY && rule.fwmark == Some(HOME_MARK) {
            tracing::info!(?rule, "removing a leftover rule");
            routes.delete_rule(rule.priority, fwmark(HOME_MARK), rule.table)?;
        }
    }
    flow_steering::remove_leftovers(routes, &|table| table == PLAIN_TABLE)
}
