//! The data-plane backends (DESIGN.md, "Wire and data plane"): how a
//! sender (the home agent, a client agent) carries a packet for G to a
//! node's care-of address. Every backend is set up through netlink only.
//!
//! - `seg6`: a route `G/128 encap seg6 mode inline segs CARE_OF`; the node
//!   kernel processes the SRH (`seg6_enabled`). 40 bytes a packet.
//! - `vxlan`: one VXLAN device in collect-metadata mode (RFC 7348) and a
//!   route `G/128 encap ip6 dst CARE_OF hoplimit 64 csum dev gecko-vx`; a
//!   permanent neighbour entry gives G the nodes' VXLAN MAC, and each node
//!   decapsulates with a device of its own. 70 bytes a packet (outer IPv6,
//!   UDP, VXLAN, inner Ethernet). For kernels without seg6 lwtunnels.
//!
//! A node receives both (see [`super::reception`]), so hosts whose kernels
//! chose differently work together.

use std::collections::HashSet;
use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use super::routes::Routes;
use super::DataPlaneError;

/// A data-plane backend: one way to carry G's packets to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encap {
    /// An inline segment routing header (seg6 lwtunnel routes).
    Seg6,
    /// VXLAN in collect-metadata mode with `encap ip6` routes.
    Vxlan,
}

/// Bytes the largest backend adds to a packet. Routes to G by the home
/// agent leave room for it whatever the home agent's own backend, so a
/// client host and a home agent that chose differently still never need a
/// Packet Too Big.
pub const MAX_OVERHEAD: u32 = 70;

/// The UDP port of VXLAN (RFC 7348, IANA).
pub const VXLAN_PORT: u16 = 4789;
/// The VXLAN device's name, on senders and nodes alike.
pub const VXLAN_DEVICE: &str = "gecko-vx";
/// The MAC of every node's VXLAN device: the one neighbour entry for G on
/// a sender then serves every node (locally administered, "GK").
pub const NODE_MAC: [u8; 6] = [0x02, 0x47, 0x4b, 0x00, 0x00, 0x01];
/// The MAC of a sender's VXLAN device: a node drops frames whose source
/// MAC is its own, so it differs from [`NODE_MAC`].
pub const SENDER_MAC: [u8; 6] = [0x02, 0x47, 0x4b, 0x00, 0x00, 0x02];

impl Encap {
    /// Every backend, in the order `auto` prefers them.
    pub const ALL: [Encap; 2] = [Encap::Seg6, Encap::Vxlan];

    /// Its name in configuration files and logs.
    pub fn name(self) -> &'static str {
        match self {
            Encap::Seg6 => "seg6",
            Encap::Vxlan => "vxlan",
        }
    }

    /// Bytes it adds to each packet.
    pub fn overhead(self) -> u32 {
        match self {
            Encap::Seg6 => 40,
            Encap::Vxlan => 70,
        }
    }
}

impl fmt::Display for Encap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The `dataplane` setting: a backend, or `auto` (chosen by the kernel
/// check at start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DataplaneChoice {
    /// The first backend of [`Encap::ALL`] this kernel can run.
    #[default]
    Auto,
    /// This backend, or a refusal at start.
    Only(Encap),
}

impl FromStr for DataplaneChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(DataplaneChoice::Auto),
            "seg6" => Ok(DataplaneChoice::Only(Encap::Seg6)),
            "vxlan" => Ok(DataplaneChoice::Only(Encap::Vxlan)),
            other => Err(format!(
                "`{other}` is not a data plane: expected \"auto\", \"seg6\" or \"vxlan\""
            )),
        }
    }
}

impl fmt::Display for DataplaneChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataplaneChoice::Auto => f.write_str("auto"),
            DataplaneChoice::Only(e) => f.write_str(e.name()),
        }
    }
}

impl serde::Serialize for DataplaneChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl DataplaneChoice {
    /// `GECKO_DATAPLANE` if set (what the daemons and the lab read to
    /// override a configuration), else None.
    pub fn from_env() -> Result<Option<DataplaneChoice>, String> {
        match std::env::var("GECKO_DATAPLANE") {
            Ok(v) if !v.is_empty() => v
                .parse()
                .map(Some)
                .map_err(|e| format!("GECKO_DATAPLANE: {e}")),
            _ => Ok(None),
        }
    }
}

impl<'de> serde::Deserialize<'de> for DataplaneChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a route carries: packets this host sends, or packets it forwards.
/// The kernel subtracts a seg6 route's headroom from its MTU for the first
/// only (`ip6_mtu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Traffic {
    /// Sent by this host's own sockets (a client host).
    Local,
    /// Forwarded (the home agent).
    Forwarded,
}

/// A sender's side of one backend in the namespace of the thread that
/// opened it: for VXLAN, its device and G's neighbour entries. Routes are
/// the caller's to remove; [`EncapSender::close`] removes the device.
#[derive(Debug)]
pub struct EncapSender {
    encap: Encap,
    /// The VXLAN device's index.
    device: Option<u32>,
    /// The addresses with a neighbour entry on the device.
    neighbours: HashSet<Ipv6Addr>,
}

impl EncapSender {
    /// Prepares `encap` for sending on links of MTU `link_mtu`. For VXLAN:
    /// the device, made anew (a leftover of an earlier sender is removed;
    /// a node's receiving device is refused: a host cannot both send and
    /// receive G's traffic by VXLAN).
    pub fn open(
        routes: &mut Routes,
        encap: Encap,
        link_mtu: u32,
    ) -> Result<EncapSender, DataPlaneError> {
        let device = match encap {
            Encap::Seg6 => None,
            Encap::Vxlan => {
                match routes.link_mac(VXLAN_DEVICE) {
                    Ok(mac) if mac == NODE_MAC => {
                        return Err(DataPlaneError::Malformed {
                            op: format!("creating {VXLAN_DEVICE}"),
                            detail: "this host is a Gecko node (its VXLAN device receives G's \
                                     traffic): it cannot send G's traffic by VXLAN too"
                                .into(),
                        })
                    }
                    Ok(_) => {
                        tracing::info!(device = VXLAN_DEVICE, "removing a leftover VXLAN device");
                        routes.delete_link(VXLAN_DEVICE)?;
                    }
                    Err(DataPlaneError::NoSuchLink(_)) => {}
                    Err(e) => return Err(e),
                }
                let mtu = link_mtu - Encap::Vxlan.overhead();
                Some(routes.add_vxlan_device(VXLAN_DEVICE, SENDER_MAC, mtu, VXLAN_PORT)?)
            }
        };
        Ok(EncapSender {
            encap,
            device,
            neighbours: HashSet::new(),
        })
    }

    /// The backend.
    pub fn encap(&self) -> Encap {
        self.encap
    }

    /// Routes `g` in `table` to `care_of` by this backend. `path_mtu` is
    /// the largest packet (before encapsulation) the route may carry.
    pub fn route(
        &mut self,
        routes: &mut Routes,
        table: u32,
        g: Ipv6Addr,
        care_of: Ipv6Addr,
        path_mtu: u32,
        traffic: Traffic,
    ) -> Result<(), DataPlaneError> {
        match (self.encap, self.device) {
            (Encap::Seg6, _) => {
                let oif = routes.lookup_route(care_of)?.oif;
                let metric = match traffic {
                    Traffic::Local => path_mtu + Encap::Seg6.overhead(),
                    Traffic::Forwarded => path_mtu,
                };
                routes.replace_seg6_route(table, g, care_of, oif, metric)
            }
            (Encap::Vxlan, Some(device)) => {
                if !self.neighbours.contains(&g) {
                    routes.replace_neighbour(device, g, NODE_MAC)?;
                    self.neighbours.insert(g);
                }
                routes.replace_ip6_encap_route(table, g, care_of, device, path_mtu)
            }
            (Encap::Vxlan, None) => Err(DataPlaneError::Malformed {
                op: "routing by VXLAN".into(),
                detail: "the sender was closed".into(),
            }),
        }
    }

    /// Removes what [`EncapSender::open`] made (the VXLAN device, and with
    /// it its routes and neighbour entries). Idempotent.
    pub fn close(&mut self, routes: &mut Routes) -> Result<(), DataPlaneError> {
        self.neighbours.clear();
        if self.device.take().is_some() {
            routes.delete_link(VXLAN_DEVICE)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_and_print() {
        for text in ["auto", "seg6", "vxlan"] {
            let c: DataplaneChoice = text.parse().unwrap();
            assert_eq!(c.to_string(), text);
        }
        let e = "ebpf".parse::<DataplaneChoice>().unwrap_err();
        assert!(e.contains("\"auto\", \"seg6\" or \"vxlan\""), "{e}");
    }

    #[test]
    fn the_largest_overhead_covers_every_backend() {
        assert_eq!(
            Encap::ALL.iter().map(|e| e.overhead()).max(),
            Some(MAX_OVERHEAD)
        );
        assert_ne!(NODE_MAC, SENDER_MAC);
    }
}
