//! The home agent's data plane (G's route to the contact node) and the
//! server node's (G on its `lo`).

use std::net::Ipv6Addr;

use super::encap::{Encap, EncapSender, Traffic};
use super::routes::{Routes, MAIN_TABLE};
use super::DataPlaneError;

/// The home agent's routes for its registered addresses: G/128 to the
/// contact's care-of address by the backend (see `encap`), in the main
/// table, which overrides the home prefix's connected route.
#[derive(Debug)]
pub struct HomePlane {
    routes: Routes,
    sender: EncapSender,
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
            mtu: link_mtu - encap.overhead(),
        })
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

impl Drop for HomePlane {
    fn drop(&mut self) {
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
