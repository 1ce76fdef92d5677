//! The lab's plan: which hosts, which links, which addresses. Pure data, so
//! it is tested without root and saved beside the lab for `status` and `down`.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};

use serde::{Deserialize, Serialize};

use super::LabError;
use gecko::config::valid_name;
use gecko::dataplane::{DataplaneChoice, Encap};

/// G, the distributed server's one address, on the home link.
pub const GLOBAL_ADDRESS: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1);
/// The home agent's address on the home link.
pub const HOME_AGENT_ADDRESS: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 0xfe);
/// G's home prefix.
pub const HOME_PREFIX: &str = "2001:db8:ffff::/64";
/// The port the lab's distributed server offers its service on.
pub const SERVICE_PORT: u16 = 7;
/// The port every daemon's and node's Prometheus endpoint uses in the lab.
pub const METRICS_PORT: u16 = 9100;
/// Most nodes, clients or plain clients a lab has (keeps names and
/// addresses short).
pub const MAX_HOSTS: usize = 64;

/// What a host is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The router of G's home link, running the home agent.
    Ha,
    /// A server node.
    Node,
    /// A client host, running the client agent.
    Client,
    /// A client host with nothing of Gecko on it (issue 19): an unmodified
    /// stack whose connections to G only the home agent can steer.
    Plain,
}

/// The hosts on a segment of their own behind the router: each role's
/// name prefix and the third group of its prefix (host i of the role sits
/// on 2001:db8:<group>:i::/64). One table, so that the plan and `down`'s
/// search for a lost lab's namespaces cannot disagree on names.
const SEGMENTS: [(Role, &str, u16); 3] = [
    (Role::Node, "node", 1),
    (Role::Client, "client", 2),
    (Role::Plain, "plain", 3),
];

/// One host of the lab: a network namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// `ha`, `node1`, `client2`, `plain1`...
    pub name: String,
    /// What it is for.
    pub role: Role,
    /// The network namespace it lives in.
    pub netns: String,
    /// Its own address on its link.
    pub address: Ipv6Addr,
    /// Its link's interface name inside its namespace.
    pub interface: String,
    /// Its link's prefix length.
    pub prefix_len: u8,
    /// The router's address on this host's link (none for the router).
    pub gateway: Option<Ipv6Addr>,
    /// The router's end of this host's link (none for the router).
    pub router_interface: Option<String>,
    /// Where the Prometheus endpoint of the daemon or node on this host
    /// listens. A plain client has the same address:port by the same rule,
    /// but nothing listens there: no daemon runs on it.
    pub metrics: SocketAddr,
}

impl Host {
    /// The URL of this host's Prometheus endpoint.
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.metrics)
    }
}

/// A whole lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    /// The lab's name (`gecko-lab --name`).
    pub name: String,
    /// G.
    pub global_address: Ipv6Addr,
    /// The router first, then nodes, then clients, then plain clients.
    pub hosts: Vec<Host>,
    /// The data plane asked for (written to the configuration).
    #[serde(default)]
    pub dataplane: DataplaneChoice,
    /// The backend the kernel check chose for it at `up`.
    #[serde(default)]
    pub encap: Option<Encap>,
}

impl Topology {
    /// Plans a lab of `nodes` server nodes and `clients` client hosts, and
    /// no plain client.
    pub fn plan(name: &str, nodes: usize, clients: usize) -> Result<Topology, LabError> {
        Topology::plan_with_plain(name, nodes, clients, 0)
    }

    /// Plans a lab of `nodes` server nodes, `clients` client hosts (each
    /// running the client agent) and `plain` plain client hosts (running
    /// nothing of Gecko).
    ///
    /// Addresses: node i sits on 2001:db8:1:i::/64, client j on
    /// 2001:db8:2:j::/64 and plain client j on 2001:db8:3:j::/64 (the
    /// router is ::1 there, the host ::2); G's home link is
    /// 2001:db8:ffff::/64 on the router.
    pub fn plan_with_plain(
        name: &str,
        nodes: usize,
        clients: usize,
        plain: usize,
    ) -> Result<Topology, LabError> {
        check_name(name)?;
        if nodes == 0 || nodes > MAX_HOSTS || clients > MAX_HOSTS || plain > MAX_HOSTS {
            return Err(LabError::BadSize {
                nodes,
                clients,
                plain,
            });
        }
        let netns = |host: &str| format!("gecko-{name}-{host}");
        let mut hosts = vec![Host {
            name: "ha".into(),
            role: Role::Ha,
            netns: netns("ha"),
            address: HOME_AGENT_ADDRESS,
            interface: "home0".into(),
            prefix_len: 64,
            gateway: None,
            router_interface: None,
            metrics: metrics(HOME_AGENT_ADDRESS),
        }];
        let segment = |(role, prefix, group): (Role, &str, u16), i: usize| {
            let host = format!("{prefix}{i}");
            let subnet = |last| Ipv6Addr::new(0x2001, 0xdb8, group, i as u16, 0, 0, 0, last);
            Host {
                netns: netns(&host),
                address: subnet(2),
                interface: "eth0".into(),
                prefix_len: 64,
                gateway: Some(subnet(1)),
                router_interface: Some(host.clone()),
                metrics: metrics(subnet(2)),
                name: host,
                role,
            }
        };
        for (kind, count) in SEGMENTS.into_iter().zip([nodes, clients, plain]) {
            hosts.extend((1..=count).map(|i| segment(kind, i)));
        }
        Ok(Topology {
            name: name.into(),
            global_address: GLOBAL_ADDRESS,
            hosts,
            dataplane: DataplaneChoice::Auto,
            encap: None,
        })
    }

    /// The host with this name.
    pub fn host(&self, name: &str) -> Result<&Host, LabError> {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .ok_or_else(|| LabError::NoSuchHost {
                lab: self.name.clone(),
                host: name.into(),
            })
    }

    /// The hosts of one role, in order.
    pub fn hosts_of(&self, role: Role) -> impl Iterator<Item = &Host> {
        self.hosts.iter().filter(move |h| h.role == role)
    }

    /// The router.
    pub fn router(&self) -> &Host {
        &self.hosts[0]
    }

    /// The cluster configuration file for this lab, with fresh random keys.
    pub fn config_toml(&self) -> String {
        use rand::RngCore;
        let key = |len: usize| {
            let mut bytes = vec![0u8; len];
            rand::thread_rng().fill_bytes(&mut bytes);
            hex::encode(bytes)
        };
        let (mn_ha_key, cluster_key) = (key(20), key(32));
        let nodes: Vec<&Host> = self.hosts_of(Role::Node).collect();
        let mut out = format!(
            "# Gecko lab `{name}`: written by gecko-lab up.\n\
             global_address = \"{g}\"\n\
             home_prefix = \"{HOME_PREFIX}\"\n\
             service_port = {SERVICE_PORT}\n\
             dataplane = \"{dataplane}\"\n\n\
             [home_agent]\n\
             address = \"{ha}\"\n\
             metrics = \"{ham}\"\n",
            name = self.name,
            dataplane = self.dataplane,
            g = self.global_address,
            ha = self.router().address,
            ham = self.router().metrics,
        );
        for node in &nodes {
            out += &format!(
                "\n[[nodes]]\nname = \"{}\"\naddress = \"{}\"\nmetrics = \"{}\"\n",
                node.name, node.address, node.metrics
            );
        }
        let backups: Vec<String> = nodes[1..]
            .iter()
            .map(|n| format!("\"{}\"", n.name))
            .collect();
        out += &format!(
            "\n[contact]\nnode = \"{}\"\nbackups = [{}]\n\n\
             [security]\nmn_ha_key = \"{mn_ha_key}\"\nmn_ha_spi = 256\ncluster_key = \"{cluster_key}\"\n\n\
             [timers]\nbinding_lifetime_secs = 60\nrefresh_secs = 20\n",
            nodes[0].name,
            backups.join(", "),
        );
        // Agents only: `[[client_agents]]` says a `gecko-cn` serves its
        // metrics there, and a plain client runs none.
        for client in self.hosts_of(Role::Client) {
            out += &format!(
                "\n[[client_agents]]\nname = \"{}\"\naddress = \"{}\"\nmetrics = \"{}\"\n",
                client.name, client.address, client.metrics
            );
        }
        out
    }
}

fn metrics(addr: Ipv6Addr) -> SocketAddr {
    SocketAddr::V6(SocketAddrV6::new(addr, METRICS_PORT, 0, 0))
}

/// Whether `host` is a name the plan gives (`ha`, `node3`, `plain12`...):
/// how `down` finds a lab's namespaces when its saved plan is gone.
pub(crate) fn is_host_name(host: &str) -> bool {
    host == "ha"
        || SEGMENTS.iter().any(|(_, prefix, _)| {
            host.strip_prefix(prefix)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// Lab names become parts of namespace names: short and plain.
pub fn check_name(name: &str) -> Result<(), LabError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(LabError::BadName(name.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gecko::config::Config;
    use std::path::Path;

    #[test]
    fn plan_has_router_nodes_and_clients() {
        let t = Topology::plan("t1", 3, 2).unwrap();
        let names: Vec<&str> = t.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(
            names,
            ["ha", "node1", "node2", "node3", "client1", "client2"]
        );
        let n2 = t.host("node2").unwrap();
        assert_eq!(n2.address, "2001:db8:1:2::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(n2.gateway, Some("2001:db8:1:2::1".parse().unwrap()));
        assert_eq!(n2.netns, "gecko-t1-node2");
        assert_eq!(n2.metrics_url(), "http://[2001:db8:1:2::2]:9100/metrics");
        assert!(t.host("node4").is_err());
    }

    #[test]
    fn every_address_is_documentation_space() {
        let doc: gecko::config::Ipv6Prefix = "2001:db8::/32".parse().unwrap();
        let t = Topology::plan_with_plain("t1", MAX_HOSTS, MAX_HOSTS, MAX_HOSTS).unwrap();
        assert_eq!(t.hosts.len(), 1 + 3 * MAX_HOSTS);
        assert!(doc.contains(&t.global_address));
        for h in &t.hosts {
            assert!(doc.contains(&h.address), "{}", h.address);
            assert!(h.gateway.is_none_or(|g| doc.contains(&g)));
        }
        let mut all: Vec<_> = t.hosts.iter().map(|h| h.address).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), t.hosts.len(), "addresses are unique");
    }

    #[test]
    fn written_config_is_valid() {
        let t = Topology::plan("t1", 3, 2).unwrap();
        let c = Config::parse(&t.config_toml(), Path::new("lab.toml")).unwrap();
        assert_eq!(c.nodes.len(), 3);
        assert_eq!(c.contact.node, "node1");
        assert_eq!(c.contact.backups, ["node2", "node3"]);
        assert_eq!(c.client_agents.len(), 2);
        assert_eq!(c.global_address, GLOBAL_ADDRESS);
    }

    #[test]
    fn bad_names_and_sizes_are_refused() {
        assert!(matches!(
            Topology::plan("Bad Name", 1, 1),
            Err(LabError::BadName(_))
        ));
        assert!(matches!(
            Topology::plan("", 1, 1),
            Err(LabError::BadName(_))
        ));
        assert!(matches!(
            Topology::plan("ok", 0, 1),
            Err(LabError::BadSize { .. })
        ));
        assert!(matches!(
            Topology::plan("ok", 1, 65),
            Err(LabError::BadSize { .. })
        ));
    }

    #[test]
    fn plain_clients_come_last_on_their_own_segments() {
        let t = Topology::plan_with_plain("t1", 2, 1, 2).unwrap();
        let names: Vec<&str> = t.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(
            names,
            ["ha", "node1", "node2", "client1", "plain1", "plain2"]
        );
        let p2 = t.host("plain2").unwrap();
        assert_eq!(p2.role, Role::Plain);
        assert_eq!(p2.address, "2001:db8:3:2::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p2.gateway, Some("2001:db8:3:2::1".parse().unwrap()));
        assert_eq!(p2.netns, "gecko-t1-plain2");
        assert_eq!(p2.interface, "eth0");
        assert_eq!(p2.prefix_len, 64);
        assert_eq!(p2.router_interface.as_deref(), Some("plain2"));
        assert_eq!(p2.metrics_url(), "http://[2001:db8:3:2::2]:9100/metrics");
        assert_eq!(t.hosts_of(Role::Plain).count(), 2);
        // A client keeps its own segment beside the plain ones.
        let c1 = t.host("client1").unwrap();
        assert_eq!(c1.address, "2001:db8:2:1::2".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn plan_is_plan_with_no_plain_client() {
        assert_eq!(
            Topology::plan("t1", 3, 2).unwrap(),
            Topology::plan_with_plain("t1", 3, 2, 0).unwrap()
        );
        let t = Topology::plan("t1", 3, 2).unwrap();
        assert_eq!(t.hosts_of(Role::Plain).count(), 0);
    }

    #[test]
    fn config_names_no_agent_for_plain_clients() {
        let t = Topology::plan_with_plain("t1", 2, 1, 3).unwrap();
        let toml = t.config_toml();
        let c = Config::parse(&toml, Path::new("lab.toml")).unwrap();
        let agents: Vec<&str> = c.client_agents.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(agents, ["client1"]);
        for plain in t.hosts_of(Role::Plain) {
            assert!(!toml.contains(&plain.name), "{} in:\n{toml}", plain.name);
            assert!(!toml.contains(&plain.address.to_string()), "{toml}");
        }
        // Plain clients only: no agent at all.
        let t = Topology::plan_with_plain("t1", 1, 0, 2).unwrap();
        let c = Config::parse(&t.config_toml(), Path::new("lab.toml")).unwrap();
        assert!(c.client_agents.is_empty());
        assert_eq!(c.nodes.len(), 1);
    }

    #[test]
    fn plain_client_count_is_limited_and_named_when_refused() {
        assert_eq!(
            Topology::plan_with_plain("ok", 1, 0, MAX_HOSTS)
                .unwrap()
                .hosts_of(Role::Plain)
                .count(),
            MAX_HOSTS
        );
        let err = Topology::plan_with_plain("ok", 1, 2, MAX_HOSTS + 1).unwrap_err();
        assert!(
            matches!(
                err,
                LabError::BadSize {
                    nodes: 1,
                    clients: 2,
                    plain: 65
                }
            ),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains("0 to 64 plain clients"), "{message}");
        assert!(message.contains("65 plain clients"), "{message}");
        // A bad node count is refused with plain clients asked for too.
        assert!(matches!(
            Topology::plan_with_plain("ok", 0, 0, 1),
            Err(LabError::BadSize { plain: 1, .. })
        ));
    }

    #[test]
    fn host_names_of_every_role_are_recognised() {
        let t = Topology::plan_with_plain("t1", 2, 2, 2).unwrap();
        for h in &t.hosts {
            assert!(is_host_name(&h.name), "{}", h.name);
        }
        for other in ["", "plain", "plainx", "plain1a", "ha1", "router", "plains1"] {
            assert!(!is_host_name(other), "{other}");
        }
    }
}
