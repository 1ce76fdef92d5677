//! Routes, policy-routing rules, links and addresses through rtnetlink: the
//! seg6 inline and `encap ip6` routes that realise a binding, the plain
//! route beside it, the rules that choose a table by mark or destination,
//! the VXLAN device and neighbour entry of the VXLAN backend, and G on `lo`.

use std::net::{IpAddr, Ipv6Addr};

use netlink_packet_core::{DefaultNla, NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteLwEnCapType, RouteMessage, RouteMetric, RouteProtocol,
    RouteScope, RouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use nix::errno::Errno;

use super::netlink::{
    push_attr, Netlink, NLA_F_NESTED, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REPLACE,
    NLM_F_REQUEST,
};
use super::DataPlaneError;

/// The main routing table.
pub const MAIN_TABLE: u32 = 254;
/// `RT_TABLE_COMPAT`: the header's table field for ids above 255 (the real
/// id goes in `RTA_TABLE`).
const RT_TABLE_COMPAT: u8 = 252;
/// `RTA_ENCAP`.
const RTA_ENCAP: u16 = 22;
/// `SEG6_IPTUNNEL_SRH`, inside `RTA_ENCAP`.
const SEG6_IPTUNNEL_SRH: u16 = 1;
/// `SEG6_IPTUN_MODE_INLINE`.
const SEG6_IPTUN_MODE_INLINE: i32 = 0;
/// `IPV6_SRCRT_TYPE_4`: the segment routing header's routing type.
const SRH_ROUTING_TYPE: u8 = 4;
/// `LWTUNNEL_IP6_ID`, `LWTUNNEL_IP6_DST`, `LWTUNNEL_IP6_HOPLIMIT` and
/// `LWTUNNEL_IP6_FLAGS`, inside `RTA_ENCAP` of an `encap ip6` route.
const LWTUNNEL_IP6_ID: u16 = 1;
const LWTUNNEL_IP6_DST: u16 = 2;
const LWTUNNEL_IP6_HOPLIMIT: u16 = 5;
const LWTUNNEL_IP6_FLAGS: u16 = 7;
/// `TUNNEL_CSUM` (big endian on the wire): the outer UDP checksum is
/// computed. Without it the checksum is zero, which an IPv6 receiver drops.
const TUNNEL_CSUM: u16 = 0x0001;

/// Where the kernel sends packets for an address: what `lookup_route` finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextHop {
    /// The gateway, or None when the destination is on link (or the route
    /// is a seg6 route without one).
    pub gateway: Option<Ipv6Addr>,
    /// The outgoing interface's index.
    pub oif: u32,
}

/// What a policy-routing rule matches (besides its priority).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleMatch {
    /// Packets whose mark, masked, equals `mark`.
    FwMark {
        /// The mark.
        mark: u32,
        /// The mask applied to the packet's mark first.
        mask: u32,
    },
    /// Packets to this one address (a /128).
    To(Ipv6Addr),
}

/// One IPv6 policy-routing rule, as the kernel lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleEntry {
    /// Its priority.
    pub priority: u32,
    /// The table it looks up (0 when its action is not a table lookup).
    pub table: u32,
    /// Its fwmark, if it matches one.
    pub fwmark: Option<u32>,
    /// Its destination prefix, if it matches one.
    pub destination: Option<(Ipv6Addr, u8)>,
}

/// One IPv6 route, as the kernel lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteEntry {
    /// Its destination prefix.
    pub destination: Ipv6Addr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// Its table.
    pub table: u32,
    /// Its gateway, if any.
    pub gateway: Option<Ipv6Addr>,
    /// Its outgoing interface, if any.
    pub oif: Option<u32>,
    /// Its MTU metric, if set.
    pub mtu: Option<u32>,
    /// Whether it carries a seg6 encapsulation.
    pub seg6: bool,
    /// Whether it carries an `encap ip6` (tunnel metadata) encapsulation.
    pub ip6_encap: bool,
}

/// An rtnetlink socket in the namespace of the thread that opened it.
#[derive(Debug)]
pub struct Routes {
    nl: Netlink,
}

impl Routes {
    /// Opens an rtnetlink socket.
    pub fn open() -> Result<Routes, DataPlaneError> {
        Ok(Routes {
            nl: Netlink::open(netlink_sys::constants::NETLINK_ROUTE)?,
        })
    }

    /// `ip -6 route replace DST/128 encap seg6 mode inline segs CARE_OF dev
    /// OIF mtu MTU table TABLE`.
    pub fn replace_seg6_route(
        &mut self,
        table: u32,
        dst: Ipv6Addr,
        care_of: Ipv6Addr,
        oif: u32,
        mtu: u32,
    ) -> Result<(), DataPlaneError> {
        let encap = (RouteLwEnCapType::Seg6, seg6_inline_encap(care_of));
        let op = format!("routing {dst} through {care_of} (seg6 inline) in table {table}");
        self.replace_encap_route(&op, table, dst, oif, mtu, encap)
    }

    /// `ip -6 route replace DST/128 encap ip6 dst REMOTE hoplimit 64 csum
    /// dev OIF mtu MTU table TABLE`: the tunnel device `oif` (a VXLAN
    /// device in collect-metadata mode) carries the packet to `remote`.
    pub fn replace_ip6_encap_route(
        &mut self,
        table: u32,
        dst: Ipv6Addr,
        remote: Ipv6Addr,
        oif: u32,
        mtu: u32,
    ) -> Result<(), DataPlaneError> {
        let encap = (RouteLwEnCapType::Ip6, ip6_tunnel_encap(remote));
        let op = format!("routing {dst} through {remote} (encap ip6) in table {table}");
        self.replace_encap_route(&op, table, dst, oif, mtu, encap)
    }

    /// A route to DST/128 out of `oif` with a lightweight-tunnel
    /// encapsulation: its type and the contents of `RTA_ENCAP`.
    fn replace_encap_route(
        &mut self,
        op: &str,
        table: u32,
        dst: Ipv6Addr,
        oif: u32,
        mtu: u32,
        (kind, encap): (RouteLwEnCapType, Vec<u8>),
    ) -> Result<(), DataPlaneError> {
        let mut msg = host_route(table, dst);
        msg.attributes.extend([
            RouteAttribute::Oif(oif),
            RouteAttribute::Metrics(vec![RouteMetric::Mtu(mtu)]),
            RouteAttribute::EncapType(kind),
            RouteAttribute::Other(DefaultNla::new(RTA_ENCAP | NLA_F_NESTED, encap)),
        ]);
        self.request(
            op,
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    /// `ip link add NAME address MAC mtu MTU type vxlan external dstport
    /// PORT udp6zerocsumrx` and `ip link set NAME up`: a VXLAN device in
    /// collect-metadata mode (every VNI, remote from each route). Returns
    /// its index.
    pub fn add_vxlan_device(
        &mut self,
        name: &str,
        mac: [u8; 6],
        mtu: u32,
        port: u16,
    ) -> Result<u32, DataPlaneError> {
        let mut msg = LinkMessage::default();
        msg.attributes.extend([
            LinkAttribute::IfName(name.into()),
            LinkAttribute::Address(mac.to_vec()),
            LinkAttribute::Mtu(mtu),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Vxlan),
                LinkInfo::Data(InfoData::Vxlan(vec![
                    InfoVxlan::CollectMetadata(true),
                    InfoVxlan::Port(port),
                    InfoVxlan::Learning(false),
                    // Senders that leave the outer checksum zero are
                    // accepted too.
                    InfoVxlan::UDPZeroCsumRX(true),
                ])),
            ]),
        ]);
        self.request(
            &format!("creating VXLAN device {name} (external, port {port})"),
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | super::netlink::NLM_F_EXCL,
        )?;
        let index = self.link_index(name)?;
        self.set_link_up(index)?;
        Ok(index)
    }

    /// `ip link set dev INDEX up`.
    pub fn set_link_up(&mut self, index: u32) -> Result<(), DataPlaneError> {
        let mut up = LinkMessage::default();
        up.header.index = index;
        up.header.flags = LinkFlags::Up;
        up.header.change_mask = LinkFlags::Up;
        self.request(
            &format!("setting interface {index} up"),
            RouteNetlinkMessage::SetLink(up),
            0,
        )
    }

    /// The link-layer address of interface `name`.
    pub fn link_mac(&mut self, name: &str) -> Result<Vec<u8>, DataPlaneError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        let answers = match self.collect(
            &format!("reading interface {name}"),
            RouteNetlinkMessage::GetLink(msg),
            false,
        ) {
            Err(e) if e.errno() == Some(Errno::ENODEV) => {
                return Err(DataPlaneError::NoSuchLink(name.into()))
            }
            r => r?,
        };
        Ok(answers
            .iter()
            .find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => l.attributes.iter().find_map(|a| match a {
                    LinkAttribute::Address(mac) => Some(mac.clone()),
                    _ => None,
                }),
                _ => None,
            })
            .unwrap_or_default())
    }

    /// `ip link del NAME`; false if there was no such link.
    pub fn delete_link(&mut self, name: &str) -> Result<bool, DataPlaneError> {
        let index = match self.link_index(name) {
            Ok(i) => i,
            Err(DataPlaneError::NoSuchLink(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        match self.request(
            &format!("deleting interface {name}"),
            RouteNetlinkMessage::DelLink(msg),
            0,
        ) {
            Ok(()) => Ok(true),
            Err(e) if e.errno() == Some(Errno::ENODEV) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `ip -6 neigh replace DST lladdr MAC dev OIF nud permanent`.
    pub fn replace_neighbour(
        &mut self,
        oif: u32,
        dst: Ipv6Addr,
        mac: [u8; 6],
    ) -> Result<(), DataPlaneError> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Inet6;
        msg.header.ifindex = oif;
        msg.header.state = NeighbourState::Permanent;
        msg.attributes.extend([
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(dst)),
            NeighbourAttribute::LinkLayerAddress(mac.to_vec()),
        ]);
        self.request(
            &format!("setting the neighbour entry of {dst}"),
            RouteNetlinkMessage::NewNeighbour(msg),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    /// `ip -6 route replace DST/128 via GATEWAY dev OIF mtu MTU table
    /// TABLE` (no `via` when `gateway` is None: on link).
    pub fn replace_via_route(
        &mut self,
        table: u32,
        dst: Ipv6Addr,
        gateway: Option<Ipv6Addr>,
        oif: u32,
        mtu: u32,
    ) -> Result<(), DataPlaneError> {
        let mut msg = host_route(table, dst);
        if let Some(gw) = gateway {
            msg.attributes
                .push(RouteAttribute::Gateway(RouteAddress::Inet6(gw)));
        }
        msg.attributes.extend([
            RouteAttribute::Oif(oif),
            RouteAttribute::Metrics(vec![RouteMetric::Mtu(mtu)]),
        ]);
        self.request(
            &format!("routing {dst} via {gateway:?} in table {table}"),
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    /// Deletes the route to DST/128 in `table`; false if there was none.
    pub fn delete_route(&mut self, table: u32, dst: Ipv6Addr) -> Result<bool, DataPlaneError> {
        let mut msg = host_route(table, dst);
        msg.header.protocol = RouteProtocol::Unspec;
        msg.header.scope = RouteScope::NoWhere;
        absent_is_false(self.request(
            &format!("deleting the route to {dst} in table {table}"),
            RouteNetlinkMessage::DelRoute(msg),
            0,
        ))
    }

    /// Where the kernel would send a packet to `dst` now (`ip -6 route get`).
    pub fn lookup_route(&mut self, dst: Ipv6Addr) -> Result<NextHop, DataPlaneError> {
        let op = format!("looking up the route to {dst}");
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet6;
        msg.header.destination_prefix_length = 128;
        msg.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet6(dst)));
        let answers = self.collect(&op, RouteNetlinkMessage::GetRoute(msg), false)?;
        let route = answers
            .into_iter()
            .find_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => Some(r),
                _ => None,
            })
            .ok_or_else(|| DataPlaneError::Malformed {
                op: op.clone(),
                detail: "no route in the answer".into(),
            })?;
        let entry = route_entry(&route);
        Ok(NextHop {
            gateway: entry.gateway,
            oif: entry.oif.ok_or_else(|| DataPlaneError::Malformed {
                op,
                detail: "the route has no outgoing interface".into(),
            })?,
        })
    }

    /// The IPv6 routes of every table.
    pub fn list_routes(&mut self) -> Result<Vec<RouteEntry>, DataPlaneError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet6;
        let answers = self.collect(
            "listing IPv6 routes",
            RouteNetlinkMessage::GetRoute(msg),
            true,
        )?;
        Ok(answers
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => Some(route_entry(r)),
                _ => None,
            })
            .collect())
    }

    /// Adds (if not there yet) `ip -6 rule add priority PRIORITY fwmark
    /// MARK/MASK lookup TABLE`.
    pub fn add_fwmark_rule(
        &mut self,
        priority: u32,
        mark: u32,
        mask: u32,
        table: u32,
    ) -> Result<(), DataPlaneError> {
        self.add_rule(priority, RuleMatch::FwMark { mark, mask }, table)
    }

    /// Adds (if not there yet) `ip -6 rule add priority PRIORITY to DST/128
    /// lookup TABLE`.
    pub fn add_to_rule(
        &mut self,
        priority: u32,
        dst: Ipv6Addr,
        table: u32,
    ) -> Result<(), DataPlaneError> {
        self.add_rule(priority, RuleMatch::To(dst), table)
    }

    /// Adds a rule; an identical rule already there is no error.
    pub fn add_rule(
        &mut self,
        priority: u32,
        matching: RuleMatch,
        table: u32,
    ) -> Result<(), DataPlaneError> {
        // Without NLM_F_EXCL the kernel accepts an identical rule silently.
        self.request(
            &format!("adding rule {priority}: {matching:?} lookup {table}"),
            RouteNetlinkMessage::NewRule(rule(priority, matching, table)),
            NLM_F_CREATE,
        )
    }

    /// Deletes a rule added with the same arguments; false if there was none.
    pub fn delete_rule(
        &mut self,
        priority: u32,
        matching: RuleMatch,
        table: u32,
    ) -> Result<bool, DataPlaneError> {
        absent_is_false(self.request(
            &format!("deleting rule {priority}: {matching:?} lookup {table}"),
            RouteNetlinkMessage::DelRule(rule(priority, matching, table)),
            0,
        ))
    }

    /// The IPv6 policy-routing rules.
    pub fn list_rules(&mut self) -> Result<Vec<RuleEntry>, DataPlaneError> {
        let mut msg = RuleMessage::default();
        msg.header.family = AddressFamily::Inet6;
        let answers = self.collect(
            "listing IPv6 rules",
            RouteNetlinkMessage::GetRule(msg),
            true,
        )?;
        Ok(answers
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRule(r) => Some(rule_entry(r)),
                _ => None,
            })
            .collect())
    }

    /// The index of interface `name`.
    pub fn link_index(&mut self, name: &str) -> Result<u32, DataPlaneError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        match self.collect(
            &format!("finding interface {name}"),
            RouteNetlinkMessage::GetLink(msg),
            false,
        ) {
            Ok(answers) => answers
                .iter()
                .find_map(|m| match m {
                    RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                    _ => None,
                })
                .ok_or_else(|| DataPlaneError::NoSuchLink(name.into())),
            Err(e) if e.errno() == Some(Errno::ENODEV) => {
                Err(DataPlaneError::NoSuchLink(name.into()))
            }
            Err(e) => Err(e),
        }
    }

    /// `ip -6 addr replace ADDR/128 dev IFNAME nodad` (G on `lo`).
    pub fn add_local_address_nodad(
        &mut self,
        ifname: &str,
        addr: Ipv6Addr,
    ) -> Result<(), DataPlaneError> {
        let msg = host_address(self.link_index(ifname)?, addr);
        self.request(
            &format!("adding {addr}/128 to {ifname}"),
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    /// Removes ADDR/128 from IFNAME; false if it was not there.
    pub fn delete_address(&mut self, ifname: &str, addr: Ipv6Addr) -> Result<bool, DataPlaneError> {
        let msg = host_address(self.link_index(ifname)?, addr);
        match self.request(
            &format!("removing {addr}/128 from {ifname}"),
            RouteNetlinkMessage::DelAddress(msg),
            0,
        ) {
            Ok(()) => Ok(true),
            Err(e) if e.errno() == Some(Errno::EADDRNOTAVAIL) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sends one request and waits for its acknowledgement.
    fn request(
        &mut self,
        op: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<(), DataPlaneError> {
        let seq = self.nl.next_seq();
        let bytes = encode(msg, NLM_F_REQUEST | NLM_F_ACK | flags, seq);
        self.nl.acked(op, &bytes, &[seq])
    }

    /// Sends one get (or dump) request and decodes the answers.
    fn collect(
        &mut self,
        op: &str,
        msg: RouteNetlinkMessage,
        dump: bool,
    ) -> Result<Vec<RouteNetlinkMessage>, DataPlaneError> {
        let seq = self.nl.next_seq();
        let flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { 0 };
        let bytes = encode(msg, flags, seq);
        let replies = self.nl.collect(op, &bytes, seq, dump)?;
        replies
            .iter()
            .map(|r| {
                NetlinkMessage::<RouteNetlinkMessage>::deserialize(&r.bytes)
                    .map_err(|e| DataPlaneError::Malformed {
                        op: op.into(),
                        detail: e.to_string(),
                    })
                    .map(|m| m.payload)
            })
            .filter_map(|p| match p {
                Ok(NetlinkPayload::InnerMessage(m)) => Some(Ok(m)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect()
    }
}

/// The contents of `RTA_ENCAP` for `encap seg6 mode inline segs CARE_OF`:
/// one `SEG6_IPTUNNEL_SRH` holding `struct seg6_iptunnel_encap { int mode;
/// struct ipv6_sr_hdr srh; }`. As iproute2 does for inline mode, the SRH
/// has one slot more than the segments given: the kernel writes the
/// packet's original destination (G) into segments[0], and the packet
/// first goes to segments[first_segment] = CARE_OF.
pub fn seg6_inline_encap(care_of: Ipv6Addr) -> Vec<u8> {
    let segments = 2u8;
    let srh_len = 8 + 16 * segments as usize;
    let mut value = Vec::with_capacity(4 + srh_len);
    value.extend_from_slice(&SEG6_IPTUN_MODE_INLINE.to_ne_bytes());
    value.extend_from_slice(&[
        0,                       // nexthdr: the kernel fills it in
        (srh_len / 8 - 1) as u8, // hdrlen, in 8 octets, not counting the first 8
        SRH_ROUTING_TYPE,        // type
        segments - 1,            // segments_left
        segments - 1,            // first_segment (last index)
        0,                       // flags
        0,                       // tag
        0,
    ]);
    value.extend_from_slice(&[0; 16]); // segments[0]: the original destination
    value.extend_from_slice(&care_of.octets()); // segments[1]
    let mut out = Vec::with_capacity(4 + value.len());
    push_attr(&mut out, SEG6_IPTUNNEL_SRH, &value);
    out
}

/// The contents of `RTA_ENCAP` for `encap ip6 id 0 dst REMOTE hoplimit 64
/// csum` (iproute2's `parse_encap_ip6`): tunnel metadata that a
/// collect-metadata device (VXLAN) turns into its outer header.
pub fn ip6_tunnel_encap(remote: Ipv6Addr) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    push_attr(&mut out, LWTUNNEL_IP6_ID, &0u64.to_be_bytes());
    push_attr(&mut out, LWTUNNEL_IP6_DST, &remote.octets());
    push_attr(&mut out, LWTUNNEL_IP6_HOPLIMIT, &[64]);
    push_attr(&mut out, LWTUNNEL_IP6_FLAGS, &TUNNEL_CSUM.to_be_bytes());
    out
}

/// A unicast route message to DST/128 in `table`, without next hop.
fn host_route(table: u32, dst: Ipv6Addr) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = AddressFamily::Inet6;
    msg.header.destination_prefix_length = 128;
    msg.header.table = header_table(table);
    msg.header.protocol = RouteProtocol::Static;
    msg.header.scope = RouteScope::Universe;
    msg.header.kind = RouteType::Unicast;
    msg.attributes.extend([
        RouteAttribute::Destination(RouteAddress::Inet6(dst)),
        RouteAttribute::Table(table),
    ]);
    msg
}

fn rule(priority: u32, matching: RuleMatch, table: u32) -> RuleMessage {
    let mut msg = RuleMessage::default();
    msg.header.family = AddressFamily::Inet6;
    msg.header.action = RuleAction::ToTable;
    msg.header.table = header_table(table);
    msg.attributes.extend([
        RuleAttribute::Priority(priority),
        RuleAttribute::Table(table),
    ]);
    match matching {
        RuleMatch::FwMark { mark, mask } => msg
            .attributes
            .extend([RuleAttribute::FwMark(mark), RuleAttribute::FwMask(mask)]),
        RuleMatch::To(dst) => {
            msg.header.dst_len = 128;
            msg.attributes
                .push(RuleAttribute::Destination(IpAddr::V6(dst)));
        }
    }
    msg
}

fn host_address(index: u32, addr: Ipv6Addr) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = AddressFamily::Inet6;
    msg.header.prefix_len = 128;
    msg.header.flags = AddressHeaderFlags::Nodad;
    msg.header.scope = AddressScope::Universe;
    msg.header.index = index;
    msg.attributes.extend([
        AddressAttribute::Address(IpAddr::V6(addr)),
        AddressAttribute::Flags(AddressFlags::Nodad),
    ]);
    msg
}

/// The header's 8-bit table field: the id itself when it fits.
fn header_table(table: u32) -> u8 {
    u8::try_from(table).unwrap_or(RT_TABLE_COMPAT)
}

fn route_entry(r: &RouteMessage) -> RouteEntry {
    let mut entry = RouteEntry {
        destination: Ipv6Addr::UNSPECIFIED,
        prefix_len: r.header.destination_prefix_length,
        table: r.header.table as u32,
        gateway: None,
        oif: None,
        mtu: None,
        seg6: false,
        ip6_encap: false,
    };
    for attr in &r.attributes {
        match attr {
            RouteAttribute::Destination(RouteAddress::Inet6(a)) => entry.destination = *a,
            RouteAttribute::Gateway(RouteAddress::Inet6(a)) => entry.gateway = Some(*a),
            RouteAttribute::Oif(i) => entry.oif = Some(*i),
            RouteAttribute::Table(t) => entry.table = *t,
            RouteAttribute::EncapType(RouteLwEnCapType::Seg6) => entry.seg6 = true,
            RouteAttribute::EncapType(RouteLwEnCapType::Ip6) => entry.ip6_encap = true,
            RouteAttribute::Metrics(ms) => {
                for m in ms {
                    if let RouteMetric::Mtu(mtu) = m {
                        entry.mtu = Some(*mtu);
                    }
                }
            }
            _ => {}
        }
    }
    entry
}

fn rule_entry(r: &RuleMessage) -> RuleEntry {
    let mut entry = RuleEntry {
        priority: 0,
        table: r.header.table as u32,
        fwmark: None,
        destination: None,
    };
    for attr in &r.attributes {
        match attr {
            RuleAttribute::Priority(p) => entry.priority = *p,
            RuleAttribute::Table(t) => entry.table = *t,
            RuleAttribute::FwMark(m) => entry.fwmark = Some(*m),
            RuleAttribute::Destination(IpAddr::V6(a)) => {
                entry.destination = Some((*a, r.header.dst_len))
            }
            _ => {}
        }
    }
    entry
}

/// Serialises an rtnetlink message with its netlink header.
fn encode(msg: RouteNetlinkMessage, flags: u16, seq: u32) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let mut message = NetlinkMessage::new(header, NetlinkPayload::from(msg));
    message.finalize();
    let mut bytes = vec![0; message.buffer_len()];
    message.serialize(&mut bytes);
    bytes
}

/// Maps "no such route/rule" to Ok(false), success to Ok(true).
fn absent_is_false(result: Result<(), DataPlaneError>) -> Result<bool, DataPlaneError> {
    match result {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.errno(), Some(Errno::ENOENT | Errno::ESRCH)) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seg6_inline_encap_matches_iproute2() {
        // What `ip -6 route add ... encap seg6 mode inline segs 2001:db8:1:2::2`
        // puts in RTA_ENCAP (iproute2 parse_srh with encap = false).
        let coa: Ipv6Addr = "2001:db8:1:2::2".parse().unwrap();
        let bytes = seg6_inline_encap(coa);
        let mut expected = Vec::new();
        expected.extend_from_slice(&48u16.to_ne_bytes()); // nla_len: 4 + 4 + 40
        expected.extend_from_slice(&1u16.to_ne_bytes()); // SEG6_IPTUNNEL_SRH
        expected.extend_from_slice(&0i32.to_ne_bytes()); // mode inline
        expected.extend_from_slice(&[0, 4, 4, 1, 1, 0, 0, 0]);
        expected.extend_from_slice(&[0; 16]);
        expected.extend_from_slice(&coa.octets());
        assert_eq!(bytes, expected);
        // The kernel's own check (seg6_validate_srh): (hdrlen + 1) * 8 is
        // the SRH's length.
        assert_eq!((bytes[9] as usize + 1) * 8, bytes.len() - 8);
    }

    #[test]
    fn ip6_tunnel_encap_matches_iproute2() {
        // What `ip -6 route add ... encap ip6 dst 2001:db8:1:2::2 hoplimit
        // 64 csum dev gecko-vx` puts in RTA_ENCAP (iproute2
        // parse_encap_ip6; id 0 written as iproute2 does with `id 0`).
        let remote: Ipv6Addr = "2001:db8:1:2::2".parse().unwrap();
        let bytes = ip6_tunnel_encap(remote);
        let mut expected = Vec::new();
        expected.extend_from_slice(&12u16.to_ne_bytes());
        expected.extend_from_slice(&1u16.to_ne_bytes()); // LWTUNNEL_IP6_ID
        expected.extend_from_slice(&[0; 8]);
        expected.extend_from_slice(&20u16.to_ne_bytes());
        expected.extend_from_slice(&2u16.to_ne_bytes()); // LWTUNNEL_IP6_DST
        expected.extend_from_slice(&remote.octets());
        expected.extend_from_slice(&5u16.to_ne_bytes());
        expected.extend_from_slice(&5u16.to_ne_bytes()); // LWTUNNEL_IP6_HOPLIMIT
        expected.extend_from_slice(&[64, 0, 0, 0]); // padded to 4
        expected.extend_from_slice(&6u16.to_ne_bytes());
        expected.extend_from_slice(&7u16.to_ne_bytes()); // LWTUNNEL_IP6_FLAGS
        expected.extend_from_slice(&[0, 1, 0, 0]); // TUNNEL_CSUM, big endian
        assert_eq!(bytes, expected);
    }

    #[test]
    fn seg6_route_message_carries_encap_type_encap_and_mtu() {
        let mut msg = host_route(0x4745_0001, "2001:db8:ffff::1".parse().unwrap());
        msg.attributes.extend([
            RouteAttribute::Oif(2),
            RouteAttribute::Metrics(vec![RouteMetric::Mtu(1460)]),
            RouteAttribute::EncapType(RouteLwEnCapType::Seg6),
            RouteAttribute::Other(DefaultNla::new(
                RTA_ENCAP | NLA_F_NESTED,
                seg6_inline_encap("2001:db8:1:2::2".parse().unwrap()),
            )),
        ]);
        let bytes = encode(RouteNetlinkMessage::NewRoute(msg), NLM_F_REQUEST, 9);
        // Parsed back by the same crate, the encap is a seg6 inline SRH
        // whose segments are [CoA, ::] (last first, as the crate lists them).
        let back = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes).unwrap();
        let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(r)) = back.payload else {
            panic!("not a route");
        };
        assert_eq!(r.header.table, RT_TABLE_COMPAT);
        let entry = route_entry(&r);
        assert_eq!(entry.table, 0x4745_0001);
        assert_eq!(entry.mtu, Some(1460));
        assert!(entry.seg6);
        let encap = r
            .attributes
            .iter()
            .find_map(|a| match a {
                RouteAttribute::Encap(e) => Some(e),
                _ => None,
            })
            .expect("RTA_ENCAP parsed");
        let text = format!("{encap:?}");
        assert!(text.contains("2001:db8:1:2::2"), "{text}");
        assert!(text.contains("Inline"), "{text}");
    }
}
