//! The kernel check: tries, in a scratch network namespace that vanishes
//! with it, each kernel feature Gecko uses, and tells which data planes
//! this kernel can run. Every daemon and node runs it at start and refuses
//! at once, naming the missing kernel option, when its host cannot do its
//! part; `gecko-lab doctor` prints it.

use std::fmt;
use std::net::Ipv6Addr;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::OnceLock;

use super::encap::{DataplaneChoice, Encap, SENDER_MAC};
use super::flow_map::FlowMap;
use super::routes::{Routes, MAIN_TABLE};
use super::DataPlaneError;

/// One kernel feature Gecko uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// `encap seg6 mode inline` routes.
    Seg6Encap,
    /// The kernel's own SRH processing (`seg6_enabled`).
    SrhReception,
    /// VXLAN devices in collect-metadata mode.
    Vxlan,
    /// `encap ip6` (tunnel metadata) routes.
    Ip6Encap,
    /// nftables with concatenated maps.
    NftConcatMaps,
    /// Policy-routing rules by fwmark, extra tables.
    FwmarkRules,
    /// `TCP_REPAIR`.
    TcpRepair,
    /// `AF_PACKET` sockets.
    AfPacket,
    /// Raw IPv6 sockets of protocol 135.
    MhSocket,
}

impl Feature {
    /// Every feature, in the order of the report.
    pub const ALL: [Feature; 9] = [
        Feature::Seg6Encap,
        Feature::SrhReception,
        Feature::Vxlan,
        Feature::Ip6Encap,
        Feature::NftConcatMaps,
        Feature::FwmarkRules,
        Feature::TcpRepair,
        Feature::AfPacket,
        Feature::MhSocket,
    ];

    /// What it is, for people.
    pub fn title(self) -> &'static str {
        match self {
            Feature::Seg6Encap => "seg6 inline encapsulation",
            Feature::SrhReception => "SRH reception (seg6_enabled)",
            Feature::Vxlan => "VXLAN collect-metadata device",
            Feature::Ip6Encap => "encap ip6 routes (lwtunnel)",
            Feature::NftConcatMaps => "nftables concatenated maps",
            Feature::FwmarkRules => "fwmark rules, extra tables",
            Feature::TcpRepair => "TCP_REPAIR",
            Feature::AfPacket => "AF_PACKET sockets",
            Feature::MhSocket => "raw Mobility Header sockets",
        }
    }

    /// The kernel option that provides it.
    pub fn option(self) -> &'static str {
        match self {
            Feature::Seg6Encap => "CONFIG_IPV6_SEG6_LWTUNNEL",
            Feature::SrhReception => "CONFIG_IPV6 (4.10 or later)",
            Feature::Vxlan => "CONFIG_VXLAN",
            Feature::Ip6Encap => "CONFIG_LWTUNNEL",
            Feature::NftConcatMaps => "CONFIG_NF_TABLES (5.6 or later)",
            Feature::FwmarkRules => "CONFIG_IPV6_MULTIPLE_TABLES",
            Feature::TcpRepair => "CONFIG_CHECKPOINT_RESTORE",
            Feature::AfPacket => "CONFIG_PACKET",
            Feature::MhSocket => "CONFIG_IPV6",
        }
    }

    /// What Gecko loses without it.
    pub fn loses(self) -> &'static str {
        match self {
            Feature::Seg6Encap => "the seg6 data plane on clients and the home agent",
            Feature::SrhReception => "nodes take no traffic from seg6 senders",
            Feature::Vxlan => "the vxlan data plane (senders and nodes)",
            Feature::Ip6Encap => "the vxlan data plane on clients and the home agent",
            Feature::NftConcatMaps => "flow bindings, the flow lock, the node fence",
            Feature::FwmarkRules => "flow bindings on client hosts",
            Feature::TcpRepair => "handoff and recovery of connections",
            Feature::AfPacket => "the lossless flow lock and the recovery probe",
            Feature::MhSocket => "all Mobile IPv6 signalling",
        }
    }
}

/// A part a host plays, for [`KernelReport::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostRole {
    /// `gecko-ha`: signalling and G's route to the contact node.
    HomeAgent,
    /// `gecko-cn`: signalling, plain and flow bindings.
    ClientAgent,
    /// A server node (`GeckoFramework`, `geckoproxy`).
    Node,
    /// All three in one kernel (`gecko-lab`).
    Lab,
}

impl fmt::Display for HostRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostRole::HomeAgent => "a home agent",
            HostRole::ClientAgent => "a client agent",
            HostRole::Node => "a server node",
            HostRole::Lab => "a lab",
        })
    }
}

/// Why this host cannot do its part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelCheckError {
    /// The scratch namespace could not be made (not root?).
    #[error("kernel check: cannot make a scratch network namespace ({0}): run as root")]
    CannotProbe(String),
    /// A feature the role needs is missing.
    #[error("this kernel ({release}) cannot run {role}: {} missing ({}){}; see `gecko-lab doctor`",
        feature.title(), feature.option(),
        dataplane.map(|d| format!(", which data plane {d} needs")).unwrap_or_default())]
    Missing {
        /// The kernel's release.
        release: String,
        /// The part refused.
        role: HostRole,
        /// The first missing feature.
        feature: Feature,
        /// The backend that needed it, if it is a backend's.
        dataplane: Option<Encap>,
    },
    /// `auto` found no backend.
    #[error("this kernel ({release}) can run no data plane: seg6 needs {} ({}), vxlan needs {} ({}){}; see `gecko-lab doctor`",
        Feature::Seg6Encap.title(), Feature::Seg6Encap.option(),
        Feature::Vxlan.title(), Feature::Vxlan.option(),
        if *needs_lwtunnel { format!(" and {}", Feature::Ip6Encap.option()) } else { String::new() })]
    NoDataplane {
        /// The kernel's release.
        release: String,
        /// Whether VXLAN was there but `encap ip6` routes not.
        needs_lwtunnel: bool,
    },
}

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The feature.
    pub feature: Feature,
    /// Whether it works.
    pub present: bool,
    /// The kernel's answer when it does not.
    pub error: Option<String>,
}

/// What this kernel offers Gecko.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KernelReport {
    /// `uname -r`.
    pub release: String,
    /// One finding per feature of [`Feature::ALL`]; empty if the probe
    /// could not run.
    pub findings: Vec<Finding>,
    /// Why the probe could not run, if it could not.
    pub unprobed: Option<String>,
}

/// Addresses used only inside the scratch namespace.
const PROBE_G: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xfe, 0, 0, 0, 0, 1);
const PROBE_CARE_OF: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xfe, 0, 0, 0, 0, 2);
const PROBE_DEVICE: &str = "gkprobe-vx";

impl KernelReport {
    /// The report of this kernel, probed once per process (a kernel does
    /// not change under a running process).
    pub fn get() -> &'static KernelReport {
        static REPORT: OnceLock<KernelReport> = OnceLock::new();
        REPORT.get_or_init(KernelReport::probe)
    }

    /// Probes now, in a scratch network namespace of a thread of its own.
    pub fn probe() -> KernelReport {
        let release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_else(|_| "unknown".into());
        let t0 = std::time::Instant::now();
        let outcome = std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| format!("unshare(CLONE_NEWNET): {e}"))?;
            Ok::<_, String>(probe_all())
        })
        .join()
        .unwrap_or_else(|_| Err("the probe panicked".into()));
        let report = match outcome {
            Ok(findings) => KernelReport {
                release,
                findings,
                unprobed: None,
            },
            Err(why) => KernelReport {
                release,
                findings: vec![],
                unprobed: Some(why),
            },
        };
        tracing::debug!(took = ?t0.elapsed(), usable = ?report.usable(), "kernel checked");
        report
    }

    /// Whether `feature` works.
    pub fn has(&self, feature: Feature) -> bool {
        self.findings
            .iter()
            .any(|f| f.feature == feature && f.present)
    }

    /// What a sender of `encap` needs.
    pub fn sender_needs(encap: Encap) -> &'static [Feature] {
        match encap {
            Encap::Seg6 => &[Feature::Seg6Encap],
            Encap::Vxlan => &[Feature::Vxlan, Feature::Ip6Encap],
        }
    }

    /// What a node receiving `encap` needs.
    pub fn receiver_needs(encap: Encap) -> &'static [Feature] {
        match encap {
            Encap::Seg6 => &[Feature::SrhReception],
            Encap::Vxlan => &[Feature::Vxlan],
        }
    }

    /// Whether a node on this kernel takes in `encap`'s packets.
    pub fn receives(&self, encap: Encap) -> bool {
        Self::receiver_needs(encap).iter().all(|f| self.has(*f))
    }

    /// The backends this kernel can run (send and receive), in `auto`'s
    /// order of preference.
    pub fn usable(&self) -> Vec<Encap> {
        Encap::ALL
            .into_iter()
            .filter(|e| {
                Self::sender_needs(*e)
                    .iter()
                    .chain(Self::receiver_needs(*e))
                    .all(|f| self.has(*f))
            })
            .collect()
    }

    /// The first feature `encap` needs that is missing (to send and to
    /// receive).
    pub fn missing_for(&self, encap: Encap) -> Option<Feature> {
        Self::sender_needs(encap)
            .iter()
            .chain(Self::receiver_needs(encap))
            .copied()
            .find(|f| !self.has(*f))
    }

    /// The backend `choice` resolves to on this kernel.
    pub fn choose(&self, choice: DataplaneChoice) -> Result<Encap, KernelCheckError> {
        self.probed()?;
        match choice {
            DataplaneChoice::Auto => {
                self.usable()
                    .first()
                    .copied()
                    .ok_or_else(|| KernelCheckError::NoDataplane {
                        release: self.release.clone(),
                        needs_lwtunnel: self.has(Feature::Vxlan),
                    })
            }
            DataplaneChoice::Only(encap) => match self.missing_for(encap) {
                None => Ok(encap),
                Some(feature) => Err(self.missing(HostRole::Lab, feature, Some(encap))),
            },
        }
    }

    /// Whether this host can play `role` with `choice`; the backend it
    /// sends with (senders), or the one `auto` would choose (nodes: they
    /// receive every backend they can).
    pub fn check(
        &self,
        role: HostRole,
        choice: DataplaneChoice,
    ) -> Result<Option<Encap>, KernelCheckError> {
        self.probed()?;
        let common: &[Feature] = match role {
            // A home agent steers the flows of clients without an agent
            // as a client agent steers its own.
            HostRole::HomeAgent | HostRole::ClientAgent => &[
                Feature::MhSocket,
                Feature::NftConcatMaps,
                Feature::FwmarkRules,
            ],
            HostRole::Node | HostRole::Lab => &[
                Feature::MhSocket,
                Feature::NftConcatMaps,
                Feature::FwmarkRules,
                Feature::TcpRepair,
                Feature::AfPacket,
            ],
        };
        if let Some(f) = common.iter().find(|f| !self.has(**f)) {
            return Err(self.missing(role, *f, None));
        }
        let wanted: Vec<Encap> = match choice {
            DataplaneChoice::Auto => Encap::ALL.to_vec(),
            DataplaneChoice::Only(e) => vec![e],
        };
        let needs = |e: Encap| -> Vec<Feature> {
            match role {
                HostRole::HomeAgent | HostRole::ClientAgent => Self::sender_needs(e).to_vec(),
                HostRole::Node => Self::receiver_needs(e).to_vec(),
                HostRole::Lab => Self::sender_needs(e)
                    .iter()
                    .chain(Self::receiver_needs(e))
                    .copied()
                    .collect(),
            }
        };
        for e in &wanted {
            if needs(*e).iter().all(|f| self.has(*f)) {
                return Ok(Some(*e));
            }
        }
        match choice {
            DataplaneChoice::Only(e) => {
                let feature = needs(e).into_iter().find(|f| !self.has(*f));
                Err(self.missing(role, feature.unwrap_or(Feature::Seg6Encap), Some(e)))
            }
            DataplaneChoice::Auto => Err(KernelCheckError::NoDataplane {
                release: self.release.clone(),
                needs_lwtunnel: self.has(Feature::Vxlan),
            }),
        }
    }

    /// The report as a table for people: feature, present or missing, the
    /// kernel option, what Gecko loses without it; then the data planes.
    pub fn table(&self) -> String {
        let mut out = format!("kernel {}\n", self.release);
        if let Some(why) = &self.unprobed {
            out += &format!("could not check: {why}\n");
            return out;
        }
        out += &format!(
            "{:<32} {:<8} {:<32} {}\n",
            "feature", "found", "kernel option", "without it"
        );
        for f in &self.findings {
            out += &format!(
                "{:<32} {:<8} {:<32} {}\n",
                f.feature.title(),
                if f.present { "yes" } else { "MISSING" },
                f.feature.option(),
                if f.present { "" } else { f.feature.loses() },
            );
        }
        out += "\ndata planes:\n";
        for e in Encap::ALL {
            match self.missing_for(e) {
                None => out += &format!("  {:<6} usable ({} bytes a packet)\n", e, e.overhead()),
                Some(f) => {
                    out += &format!(
                        "  {:<6} not usable: needs {} ({})\n",
                        e,
                        f.title(),
                        f.option()
                    )
                }
            }
        }
        match self.choose(DataplaneChoice::Auto) {
            Ok(e) => out += &format!("auto chooses: {e}\n"),
            Err(e) => out += &format!("auto chooses nothing: {e}\n"),
        }
        out
    }

    fn probed(&self) -> Result<(), KernelCheckError> {
        match &self.unprobed {
            Some(why) => Err(KernelCheckError::CannotProbe(why.clone())),
            None => Ok(()),
        }
    }

    fn missing(&self, role: HostRole, feature: Feature, encap: Option<Encap>) -> KernelCheckError {
        KernelCheckError::Missing {
            release: self.release.clone(),
            role,
            feature,
            dataplane: encap,
        }
    }
}

/// Every probe, in the scratch namespace of the calling thread.
fn probe_all() -> Vec<Finding> {
    let mut routes = Routes::open();
    let lo = routes.as_mut().ok().and_then(|r| {
        let i = r.link_index("lo").ok()?;
        r.set_link_up(i).ok()?;
        Some(i)
    });
    let mut vxlan_index = None;
    Feature::ALL
        .into_iter()
        .map(|feature| {
            let result: Result<(), String> = match (&mut routes, feature) {
                (Err(e), _) => Err(e.to_string()),
                (Ok(r), Feature::Seg6Encap) => r
                    .replace_seg6_route(MAIN_TABLE, PROBE_G, PROBE_CARE_OF, lo.unwrap_or(1), 1500)
                    .map_err(brief),
                (Ok(_), Feature::SrhReception) => {
                    std::fs::metadata("/proc/sys/net/ipv6/conf/all/seg6_enabled")
                        .map(drop)
                        .map_err(|e| format!("net.ipv6.conf.all.seg6_enabled: {e}"))
                }
                (Ok(r), Feature::Vxlan) => r
                    .add_vxlan_device(PROBE_DEVICE, SENDER_MAC, 1430, super::encap::VXLAN_PORT)
                    .map(|i| vxlan_index = Some(i))
                    .map_err(brief),
                (Ok(r), Feature::Ip6Encap) => r
                    .replace_ip6_encap_route(
                        MAIN_TABLE,
                        PROBE_G,
                        PROBE_CARE_OF,
                        vxlan_index.or(lo).unwrap_or(1),
                        1430,
                    )
                    .map_err(brief),
                (Ok(_), Feature::NftConcatMaps) => {
                    FlowMap::create().and_then(FlowMap::destroy).map_err(brief)
                }
                (Ok(r), Feature::FwmarkRules) => r
                    .add_fwmark_rule(1000, 0x4745_0001, u32::MAX, 0x4745_0001)
                    .map_err(brief),
                (Ok(_), Feature::TcpRepair) => tcp_repair(),
                (Ok(_), Feature::AfPacket) => {
                    socket(libc::AF_PACKET, libc::SOCK_DGRAM, 0).map(drop)
                }
                (Ok(_), Feature::MhSocket) => socket(libc::AF_INET6, libc::SOCK_RAW, 135).map(drop),
            };
            Finding {
                feature,
                present: result.is_ok(),
                error: result.err(),
            }
        })
        .collect()
}

fn brief(e: DataPlaneError) -> String {
    e.to_string()
}

fn socket(
    domain: libc::c_int,
    kind: libc::c_int,
    protocol: libc::c_int,
) -> Result<OwnedFd, String> {
    // SAFETY: socket() has no memory arguments; a valid fd is owned here.
    let fd = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    // SAFETY: fd was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Turns repair mode on and off on a fresh TCP socket.
fn tcp_repair() -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let fd = socket(libc::AF_INET6, libc::SOCK_STREAM, 0)?;
    for on in [1 as libc::c_int, 0] {
        crate::sockopt::set(fd.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_REPAIR, &on)
            .map_err(|e| format!("TCP_REPAIR: {e}"))?;
    }
    Ok(())
}

/// The data-plane backends a test should run with: those this kernel can
/// run, narrowed to `GECKO_DATAPLANE` when that names one. Each backend
/// left out is printed as not run, with the kernel option it lacks.
pub fn backends_under_test(test: &str) -> Vec<crate::dataplane::Encap> {
    let report = KernelReport::get();
    let only = match DataplaneChoice::from_env() {
        Ok(Some(DataplaneChoice::Only(e))) => Some(e),
        _ => None,
    };
    crate::dataplane::Encap::ALL
        .into_iter()
        .filter(|e| only.is_none_or(|o| o == *e))
        .filter(|e| match report.missing_for(*e) {
            None => true,
            Some(f) => {
                eprintln!(
                    "NOT RUN: {test} with {e}: this kernel lacks {} ({})",
                    f.title(),
                    f.option()
                );
                false
            }
        })
        .collect()
}

/// The one backend a test runs with when it runs once: `GECKO_DATAPLANE`'s
/// if set, else the one `auto` chooses. Panics, naming the kernel option,
/// when the kernel can run none.
pub fn backend_under_test() -> crate::dataplane::Encap {
    let choice = DataplaneChoice::from_env()
        .expect("GECKO_DATAPLANE")
        .unwrap_or_default();
    KernelReport::get()
        .choose(choice)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(missing: &[Feature]) -> KernelReport {
        KernelReport {
            release: "6.18-test".into(),
            findings: Feature::ALL
                .into_iter()
                .map(|feature| Finding {
                    feature,
                    present: !missing.contains(&feature),
                    error: None,
                })
                .collect(),
            unprobed: None,
        }
    }

    #[test]
    fn auto_prefers_seg6_and_falls_back_to_vxlan() {
        assert_eq!(report(&[]).choose(DataplaneChoice::Auto), Ok(Encap::Seg6));
        let no_seg6 = report(&[Feature::Seg6Encap]);
        assert_eq!(no_seg6.choose(DataplaneChoice::Auto), Ok(Encap::Vxlan));
        assert_eq!(no_seg6.usable(), vec![Encap::Vxlan]);
    }

    #[test]
    fn forced_seg6_without_it_names_the_option() {
        let no_seg6 = report(&[Feature::Seg6Encap]);
        let e = no_seg6
            .check(HostRole::ClientAgent, DataplaneChoice::Only(Encap::Seg6))
            .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("CONFIG_IPV6_SEG6_LWTUNNEL"), "{text}");
        assert!(text.contains("a client agent"), "{text}");
        // A node only receives: the SRH is still taken in.
        assert_eq!(
            no_seg6.check(HostRole::Node, DataplaneChoice::Only(Encap::Seg6)),
            Ok(Some(Encap::Seg6))
        );
    }

    #[test]
    fn no_backend_at_all_is_refused_with_both_options() {
        let bare = report(&[Feature::Seg6Encap, Feature::Vxlan, Feature::Ip6Encap]);
        let text = bare.choose(DataplaneChoice::Auto).unwrap_err().to_string();
        assert!(text.contains("CONFIG_IPV6_SEG6_LWTUNNEL"), "{text}");
        assert!(text.contains("CONFIG_VXLAN"), "{text}");
        assert!(bare.table().contains("auto chooses nothing"));
    }

    #[test]
    fn a_node_without_tcp_repair_is_refused_but_an_agent_is_not() {
        let r = report(&[Feature::TcpRepair]);
        let text = r
            .check(HostRole::Node, DataplaneChoice::Auto)
            .unwrap_err()
            .to_string();
        assert!(text.contains("CONFIG_CHECKPOINT_RESTORE"), "{text}");
        assert!(r.check(HostRole::HomeAgent, DataplaneChoice::Auto).is_ok());
    }

    #[test]
    fn an_unprobed_kernel_is_refused() {
        let r = KernelReport {
            release: "x".into(),
            findings: vec![],
            unprobed: Some("unshare(CLONE_NEWNET): EPERM".into()),
        };
        assert!(matches!(
            r.check(HostRole::Node, DataplaneChoice::Auto),
            Err(KernelCheckError::CannotProbe(_))
        ));
    }
}
