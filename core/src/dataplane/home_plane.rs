//! The home agent's data plane (G's route to the contact node) and the
//! server node's (G on its `lo`).

use std::net::Ipv6Addr;

use super::routes::{Routes, MAIN_TABLE};
use super::DataPlaneError;

/// The home agent's routes for its registered addresses: `G/128 encap seg6
/// mode inline segs CoA` in the main table, which overrides the home
/// prefix's connected route.
#[derive(Debug)]
pub struct HomePlane {
    routes: Routes,
    mtu: u32,
}

impl HomePlane {
    /// Opens the home agent's plane in the calling thread's namespace;
    /// `mtu` goes on each route (the kernel subtracts the SRH itself when
    /// forwarding, so the link's MTU fits).
    pub fn open(mtu: u32) -> Result<HomePlane, DataPlaneError> {
        Ok(HomePlane {
            routes: Routes::open()?,
            mtu,
        })
    }

    /// Forwards G's traffic to `care_of` (out of the interface that
    /// reaches `care_of`).
    pub fn set_binding(&mut self, g: Ipv6Addr, care_of: Ipv6Addr) -> Result<(), DataPlaneError> {
        let to_care_of = self.routes.lookup_route(care_of)?;
        self.routes
            .replace_seg6_route(MAIN_TABLE, g, care_of, to_care_of.oif, self.mtu)?;
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

/// Puts G on this node's `lo` (a /128, no duplicate address detection), so
/// the node accepts G's traffic as its own.
pub fn add_home_address(g: Ipv6Addr) -> Result<(), DataPlaneError> {
    Routes::open()?.add_local_address_nodad("lo", g)
}

/// Removes G from this node's `lo`; false if it was not there.
pub fn remove_home_address(g: Ipv6Addr) -> Result<bool, DataPlaneError> {
    Routes::open()?.delete_address("lo", g)
}
