//! The home agent's data plane (G's route to the contact node, and the
//! flows of clients without an agent to the nodes that serve them) and the
//! server node's (G on its `lo`).

use std::net::Ipv6Addr;

use super::encap::{Encap, EncapSender, Traffic};
use super::flow_map::{FlowHook, FlowMap};
use super::flow_steering::{self, FlowSteering};
use super::routes::{Routes, MAIN_TABLE};
use super::{DataPlaneError, FlowKey};

/// The home agent's routes for its registered addresses: G/128 to the
/// contact's care-of address by the backend (see `encap`), in the main
/// table, which overrides the home prefix's connected route; and, for one
/// G, the flows steered elsewhere ([`FlowSteering`] on forwarded packets).
#[derive(Debug)]
pub struct HomePlane {
    routes: Routes,
    sender: EncapSender,
    flows: Option<FlowSteering>,
    /// The largest forwarded packet that fits the link once encapsulated.
    mtu: u32,
}

impl HomePlane {
    /// Opens the home agent's plane with backend `encap` in the calling
    /// thread's namespace, for links of MTU `link_mtu`.
    pub fn open(link_mtu: u32, encap: Encap) -> Result<HomePlane, DataPlaneError> {
        let mut routes = Routes::open()?;
        let sender = EncapSender::open(&mut routes, encap, link_mtu)?;
        Ok(HomePlane {
            routes,
            sender,
            flows: None,
            mtu: link_mtu - encap.overhead(),
        })
    }

    /// Makes ready to steer flows to `g` (the flow map on prerouting),
    /// removing what a home agent that died left.
    pub fn steer_flows(&mut self, g: Ipv6Addr) -> Result<(), DataPlaneError> {
        flow_steering::remove_leftovers(&mut self.routes, &|_| false)?;
        self.flows = Some(FlowSteering::create(
            FlowHook::Forwarded,
            g,
            self.mtu,
            Traffic::Forwarded,
        )?);
        tracing::info!(%g, "flow steering ready");
        Ok(())
    }

    /// Stops steering flows: removes the flow map, the slots' rules and
    /// routes (every flow follows G's route again).
    pub fn stop_steering(&mut self) -> Result<(), DataPlaneError> {
        let mut first = None;
        if let Some(mut flows) = self.flows.take() {
            flows.remove(&mut self.routes, &mut |e| {
                first.get_or_insert(e);
            });
        }
        first.map_or(Ok(()), Err)
    }

    /// Sends `flow`'s packets to `care_of` instead of G's route.
    pub fn bind_flow(&mut self, flow: FlowKey, care_of: Ipv6Addr) -> Result<(), DataPlaneError> {
        let flows = self.flows.as_mut().ok_or_else(no_steering)?;
        flows.bind(&mut self.routes, &mut self.sender, flow, care_of)
    }

    /// Lets `flow`'s packets follow G's route again.
    pub fn unbind_flow(&mut self, flow: &FlowKey) -> Result<bool, DataPlaneError> {
        self.flows.as_mut().ok_or_else(no_steering)?.unbind(flow)
    }

    /// The kernel's flow map, to count its entries.
    pub fn flow_table(&mut self) -> Option<&mut FlowMap> {
        self.flows.as_mut().and_then(|f| f.flow_table())
    }

    /// Forwards G's traffic to `care_of` (out of the interface that
    /// reaches `care_of`).
    pub fn set_binding(&mut self, g: Ipv6Addr, care_of: Ipv6Addr) -> Result<(), DataPlaneError> {
        self.sender.route(
            &mut self.routes,
            MAIN_TABLE,
            g,
            care_of,
            self.mtu,
            Traffic::Forwarded,
        )?;
        tracing::info!(%g, %care_of, "home binding set");
        Ok(())
    }

    /// Stops forwarding G's traffic; false if there was no binding.
    pub fn clear_binding(&mut self, g: Ipv6Addr) -> Result<bool, DataPlaneError> {
        let had = self.routes.delete_route(MAIN_TABLE, g)?;
        tracing::info!(%g, had, "home binding cleared");
        Ok(had)
    }
}

fn no_steering() -> DataPlaneError {
    DataPlaneError::Malformed {
        op: "steering a flow".into(),
        detail: "the home agent's flow steering is not set up".into(),
    }
}

impl Drop for HomePlane {
    fn drop(&mut self) {
        if let Some(mut flows) = self.flows.take() {
            flows.remove(
                &mut self.routes,
                &mut |e| tracing::warn!(error = %e, "removing the home agent's flow steering"),
            );
        }
        if let Err(e) = self.sender.close(&mut self.routes) {
            tracing::warn!(error = %e, "removing the home agent's data plane");
        }
    }
}

/// Puts G on this node's `lo` (a /128, no duplicate address detection), so
/// the node accepts G's traffic as its own, and takes in every
/// encapsulation the kernel can ([`super::reception::receive`]).
pub fn add_home_address(g: Ipv6Addr) -> Result<(), DataPlaneError> {
    super::reception::receive(g).map(drop)
}

/// Removes G from this node's `lo`; false if it was not there.
pub fn remove_home_address(g: Ipv6Addr) -> Result<bool, DataPlaneError> {
    Routes::open()?.delete_address("lo", g)
}
