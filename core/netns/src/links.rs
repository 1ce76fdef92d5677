//! Links, addresses, routes and sysctls inside the lab's namespaces, all
//! through netlink and /proc/sys from a thread inside the namespace.

use std::fs::File;
use std::net::{IpAddr, Ipv6Addr};
use std::os::fd::AsRawFd;

use futures::TryStreamExt;
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth};
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

use crate::netns;
use crate::NsError;

/// A netlink connection whose socket lives inside `ns`.
pub async fn connect(ns: &File) -> Result<Handle, NsError> {
    let rt = tokio::runtime::Handle::current();
    let (connection, handle, _) = netns::run_in(ns, || {
        let _entered = rt.enter();
        rtnetlink::new_connection()
    })
    .and_then(|r| r)
    .map_err(|e| NsError::io("opening netlink in a namespace", e))?;
    tokio::spawn(connection);
    Ok(handle)
}

/// Writes IPv6 sysctls (`conf/all/forwarding` style paths under
/// /proc/sys/net/ipv6) inside `ns`.
pub fn sysctls(ns: &File, settings: &[(&str, &str)]) -> Result<(), NsError> {
    netns::run_in(ns, || {
        for (key, value) in settings {
            let path = format!("/proc/sys/net/ipv6/{key}");
            std::fs::write(&path, value).map_err(|e| NsError::io(format!("writing {path}"), e))?;
        }
        Ok(())
    })
    .map_err(|e| NsError::io("entering a namespace", e))?
}

/// The index of the interface `name`.
pub async fn index(h: &Handle, name: &str) -> Result<u32, NsError> {
    let link = h
        .link()
        .get()
        .match_name(name.to_string())
        .execute()
        .try_next()
        .await
        .map_err(|e| NsError::netlink(format!("finding link {name}"), e))?;
    link.map(|l| l.header.index).ok_or_else(|| {
        NsError::io(
            format!("finding link {name}"),
            std::io::ErrorKind::NotFound.into(),
        )
    })
}

/// Sets a link up or down.
pub async fn set_up(h: &Handle, name: &str, up: bool) -> Result<(), NsError> {
    let builder = LinkUnspec::new_with_index(index(h, name).await?);
    let message = if up { builder.up() } else { builder.down() }.build();
    h.link().set(message).execute().await.map_err(|e| {
        NsError::netlink(
            format!("setting {name} {}", if up { "up" } else { "down" }),
            e,
        )
    })
}

/// Adds a bridge: the router's home link (a bridge rather than a dummy
/// link, which not every kernel has).
pub async fn add_bridge(h: &Handle, name: &str) -> Result<(), NsError> {
    h.link()
        .add(LinkBridge::new(name).build())
        .execute()
        .await
        .map_err(|e| NsError::netlink(format!("adding bridge {name}"), e))
}

/// Adds a veth pair: `name` here, `peer_name` created straight inside
/// `peer_ns`, so no interface ever appears in the machine's own namespace.
pub async fn add_veth(
    h: &Handle,
    name: &str,
    peer_ns: &File,
    peer_name: &str,
) -> Result<(), NsError> {
    let peer = LinkUnspec::new_with_name(peer_name)
        .setns_by_fd(peer_ns.as_raw_fd())
        .build();
    let message = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
        .name(name.to_string())
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .build();
    h.link()
        .add(message)
        .execute()
        .await
        .map_err(|e| NsError::netlink(format!("adding veth {name} <-> {peer_name}"), e))
}

/// Adds an address to a link.
pub async fn add_address(
    h: &Handle,
    link: &str,
    addr: Ipv6Addr,
    prefix_len: u8,
) -> Result<(), NsError> {
    let index = index(h, link).await?;
    h.address()
        .add(index, IpAddr::V6(addr), prefix_len)
        .replace()
        .execute()
        .await
        .map_err(|e| NsError::netlink(format!("adding {addr}/{prefix_len} to {link}"), e))
}

/// Adds (or replaces) the default route via `gateway`.
pub async fn set_default_route(h: &Handle, gateway: Ipv6Addr) -> Result<(), NsError> {
    let route = RouteMessageBuilder::<Ipv6Addr>::new()
        .destination_prefix(Ipv6Addr::UNSPECIFIED, 0)
        .gateway(gateway)
        .build();
    h.route()
        .add(route)
        .replace()
        .execute()
        .await
        .map_err(|e| NsError::netlink(format!("adding default route via {gateway}"), e))
}
