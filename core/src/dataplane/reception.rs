//! A node's reception of G's traffic: every encapsulation its kernel can
//! take, whatever backend the senders chose (DESIGN.md, "Wire and data
//! plane": nodes accept every encapsulation their kernel can take).

use std::net::Ipv6Addr;

use super::encap::{Encap, NODE_MAC, SENDER_MAC, VXLAN_DEVICE, VXLAN_PORT};
use super::routes::Routes;
use super::DataPlaneError;

/// MTU of the node's VXLAN device: it only receives, and a decapsulated
/// packet larger than the device's MTU would be dropped.
const RECEIVE_MTU: u32 = 65_000;

/// Makes this node (the calling thread's namespace) receive G's traffic:
/// G on `lo`, the SRH accepted on every link (`seg6_enabled`) where the
/// kernel has the setting, and a VXLAN device in collect-metadata mode
/// with [`NODE_MAC`] where the kernel has VXLAN. Returns the backends it
/// receives; an error only if it receives none.
pub fn receive(g: Ipv6Addr) -> Result<Vec<Encap>, DataPlaneError> {
    let mut routes = Routes::open()?;
    routes.add_local_address_nodad("lo", g)?;
    let mut accepted = Vec::new();
    let mut refusals = Vec::new();
    match enable_srh() {
        Ok(()) => accepted.push(Encap::Seg6),
        Err(e) => refusals.push(format!("seg6: {e}")),
    }
    match vxlan_device(&mut routes) {
        Ok(()) => accepted.push(Encap::Vxlan),
        Err(e) => refusals.push(format!("vxlan: {e}")),
    }
    if accepted.is_empty() {
        return Err(DataPlaneError::Malformed {
            op: "receiving G's traffic".into(),
            detail: refusals.join("; "),
        });
    }
    tracing::info!(%g, receives = ?accepted, not = ?refusals, "node receives G's traffic");
    Ok(accepted)
}

/// `seg6_enabled` on `all`, `default` and every link: the kernel processes
/// an SRH only where both `all` and the receiving link allow it.
fn enable_srh() -> Result<(), DataPlaneError> {
    let io = |op: String| move |error| DataPlaneError::Io { op, error };
    let conf = "/proc/sys/net/ipv6/conf";
    for entry in std::fs::read_dir(conf).map_err(io(format!("listing {conf}")))? {
        let path = entry.map_err(io(format!("listing {conf}")))?.path();
        let setting = path.join("seg6_enabled");
        std::fs::write(&setting, "1").map_err(io(format!("writing {}", setting.display())))?;
    }
    Ok(())
}

/// The node's VXLAN device, made unless it is there already.
fn vxlan_device(routes: &mut Routes) -> Result<(), DataPlaneError> {
    match routes.link_mac(VXLAN_DEVICE) {
        Ok(mac) if mac == NODE_MAC => return Ok(()),
        Ok(mac) if mac == SENDER_MAC => {
            return Err(DataPlaneError::Malformed {
                op: format!("making {VXLAN_DEVICE}"),
                detail: "this host sends G's traffic by VXLAN (a client or home agent): it \
                         cannot be a node too"
                    .into(),
            })
        }
        Ok(_) => {
            routes.delete_link(VXLAN_DEVICE)?;
        }
        Err(DataPlaneError::NoSuchLink(_)) => {}
        Err(e) => return Err(e),
    }
    routes.add_vxlan_device(VXLAN_DEVICE, NODE_MAC, RECEIVE_MTU, VXLAN_PORT)?;
    Ok(())
}
