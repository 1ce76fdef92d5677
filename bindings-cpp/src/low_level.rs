//! The seed's section-3 API for C++ (`gecko/lowlevel.hpp`): the bridge's
//! [`LowLevelNodeHandle`], with C++'s conventions (-1 for "none").

use std::path::Path;

use gecko_bridge::{FlowKey, LowLevelNodeHandle};

use crate::address::{address, ipv6};
use crate::error::{guard, invalid, Failure};
use crate::ffi::{Address, Flow};
use crate::live_count::Counted;

/// A node's signalling.
#[derive(Debug)]
pub struct LowLevelNode {
    handle: LowLevelNodeHandle,
    _count: Counted,
}

/// Starts the signalling of node `local` of the configuration `config`.
pub fn low_level_node_start(local: &[u8], config: &str) -> Result<Box<LowLevelNode>, Failure> {
    guard(|| {
        let local = ipv6(local, "local address")?;
        let _ = gecko_bridge::logging::init(None);
        Ok(Box::new(LowLevelNode {
            handle: LowLevelNodeHandle::start(local, Path::new(config))?,
            _count: Counted::new(),
        }))
    })
}

/// The flow C++ named (none: every connection of the client).
fn flow(f: &[Flow]) -> Result<Option<FlowKey>, Failure> {
    match f {
        [] => Ok(None),
        [f] => Ok(Some(FlowKey {
            client: ipv6(&f.client.octets, "flow client")?,
            client_port: f.client_port,
            server: ipv6(&f.server.octets, "flow server")?,
            server_port: f.server_port,
        })),
        _ => Err(invalid("one flow at most")),
    }
}

/// A sequence number from C++ (-1: none).
fn seq(donor_seq: i32) -> Result<Option<u16>, Failure> {
    match donor_seq {
        -1 => Ok(None),
        s => u16::try_from(s)
            .map(Some)
            .map_err(|_| invalid(format!("sequence number out of range: {s}"))),
    }
}

/// What a Binding Update binds, from C++: the client, the flow (none:
/// every connection), the donor's sequence number (none: -1).
fn binding(
    client: &[u8],
    f: &[Flow],
    donor_seq: i32,
) -> Result<(std::net::Ipv6Addr, Option<FlowKey>, Option<u16>), Failure> {
    Ok((ipv6(client, "client")?, flow(f)?, seq(donor_seq)?))
}

impl LowLevelNode {
    pub(crate) fn care_of(&self) -> Address {
        address(self.handle.care_of())
    }

    pub(crate) fn addr_passive(&self) -> Result<(), Failure> {
        guard(|| Ok(self.handle.addr_passive()?))
    }

    pub(crate) fn addr_active(&self) -> Result<(), Failure> {
        guard(|| Ok(self.handle.addr_active()?))
    }

    pub(crate) fn addr_inactive(&self) -> Result<(), Failure> {
        guard(|| Ok(self.handle.addr_inactive()?))
    }

    pub(crate) fn handoff_mark(&self, client: &[u8]) -> Result<i32, Failure> {
        let client = ipv6(client, "client")?;
        Ok(self.handle.handoff_mark(client).map_or(-1, i32::from))
    }

    pub(crate) fn handoff_start(
        &self,
        client: &[u8],
        f: &[Flow],
        donor_seq: i32,
    ) -> Result<(), Failure> {
        guard(|| {
            let (client, flow, seq) = binding(client, f, donor_seq)?;
            Ok(self.handle.handoff_start(client, flow, seq)?)
        })
    }

    pub(crate) fn handoff_prepare(&self, client: &[u8]) -> Result<(), Failure> {
        guard(|| Ok(self.handle.handoff_prepare(ipv6(client, "client")?)?))
    }

    pub(crate) fn handoff_finish(
        &self,
        client: &[u8],
        f: &[Flow],
        donor_seq: i32,
    ) -> Result<(), Failure> {
        guard(|| {
            let (client, flow, seq) = binding(client, f, donor_seq)?;
            Ok(self.handle.handoff_finish(client, flow, seq)?)
        })
    }

    pub(crate) fn handoff_clear(&self, client: &[u8], f: &[Flow]) -> Result<(), Failure> {
        guard(|| {
            Ok(self
                .handle
                .handoff_clear(ipv6(client, "client")?, flow(f)?)?)
        })
    }

    pub(crate) fn holds_binding(&self, client: &[u8], f: &[Flow]) -> Result<bool, Failure> {
        Ok(self.handle.holds_binding(ipv6(client, "client")?, flow(f)?))
    }
}
