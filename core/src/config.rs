//! The cluster configuration: one TOML file describes a distributed server.
//!
//! Every daemon and node of a distributed server reads the same file. A bad
//! file is reported as a [`ConfigError`] naming the file, the line and the
//! field; nothing has a silent default unless it is documented here.

use std::collections::HashSet;
use std::fmt;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// A distributed server, as read from its TOML file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// G: the one address clients use for the whole group.
    pub global_address: Ipv6Addr,
    /// G's home prefix: the link where the home agent sits.
    pub home_prefix: Ipv6Prefix,
    /// The TCP port of the service offered at G.
    pub service_port: u16,
    /// The UDP port of the peer channel on each node's address. Optional:
    /// 7450 by default.
    #[serde(default = "default_peer_port")]
    pub peer_port: u16,
    /// The home agent on G's home link.
    pub home_agent: HomeAgentConfig,
    /// The server nodes, in ring order (the backup of a node is the next one).
    pub nodes: Vec<NodeConfig>,
    /// Which node is registered at the home agent, and who may take over.
    pub contact: ContactConfig,
    /// Keys for home registration and for the peer channel.
    pub security: SecurityConfig,
    /// Binding lifetimes and refresh.
    pub timers: TimersConfig,
    /// Failure detection and mirroring. Optional: every field has a default.
    #[serde(default)]
    pub failover: FailoverConfig,
    /// Client agents (`gecko-cn`), for their metrics endpoints. Optional:
    /// a client agent does not need to be listed to work.
    #[serde(default)]
    pub client_agents: Vec<ClientAgentConfig>,
    /// The data plane: `"auto"` (default: seg6 where the kernel has it,
    /// else vxlan), `"seg6"` or `"vxlan"`. Each host checks its kernel at
    /// start and refuses a backend it cannot run. Nodes receive every
    /// backend their kernel can take, whatever this says.
    #[serde(default)]
    pub dataplane: crate::dataplane::DataplaneChoice,
    /// Whom a node tells where a client's connection went: the client's
    /// agent, or the home agent for clients without one. Optional: by
    /// default each client's kind is learned.
    #[serde(default)]
    pub route_optimization: RouteOptimizationConfig,
}

/// Route optimisation per client (DESIGN.md, "Wire and data plane").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteOptimizationConfig {
    /// `"auto"` (default): learned per client from its answer to return
    /// routability (or the ICMPv6 parameter problem of a stack without
    /// Mobile IPv6); `"always"`: every client has an agent; `"never"`: no
    /// client has one, every connection is registered at the home agent.
    pub mode: RouteOptimization,
    /// How long what was learned of a client is kept, in seconds (renewed
    /// with each use). Default 600.
    pub remember_secs: u32,
}

impl Default for RouteOptimizationConfig {
    fn default() -> Self {
        RouteOptimizationConfig {
            mode: RouteOptimization::Auto,
            remember_secs: 600,
        }
    }
}

/// See [`RouteOptimizationConfig::mode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteOptimization {
    /// Learned per client.
    Auto,
    /// Every client runs an agent.
    Always,
    /// No client runs an agent.
    Never,
}

/// The peer channel's UDP port when the configuration names none.
pub const DEFAULT_PEER_PORT: u16 = 7450;

fn default_peer_port() -> u16 {
    DEFAULT_PEER_PORT
}

/// The home agent (`gecko-ha`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HomeAgentConfig {
    /// The home agent's address on G's home link.
    pub address: Ipv6Addr,
    /// Where its Prometheus endpoint listens.
    pub metrics: SocketAddr,
}

/// One server node.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// A short unique name (`node1`).
    pub name: String,
    /// The node's own address: its care-of address.
    pub address: Ipv6Addr,
    /// Where its Prometheus endpoint listens.
    pub metrics: SocketAddr,
}

/// The contact node and its authorised backups.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactConfig {
    /// The node registered at the home agent at start.
    pub node: String,
    /// Nodes allowed to take the contact role over, in order of preference.
    pub backups: Vec<String>,
}

/// Shared secrets. Keys are written in hex.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// RFC 4285 MN-HA shared key (at least 16 bytes).
    #[serde(deserialize_with = "hex_key")]
    pub mn_ha_key: Vec<u8>,
    /// RFC 4285 Security Parameter Index of that key (256 and up; lower
    /// values are reserved by the RFC).
    pub mn_ha_spi: u32,
    /// The peer channel's key (exactly 32 bytes).
    #[serde(deserialize_with = "hex_key")]
    pub cluster_key: Vec<u8>,
}

// Keys never reach logs.
impl fmt::Debug for SecurityConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecurityConfig")
            .field("mn_ha_key", &"<redacted>")
            .field("mn_ha_spi", &self.mn_ha_spi)
            .field("cluster_key", &"<redacted>")
            .finish()
    }
}

/// Binding lifetimes, in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimersConfig {
    /// Lifetime asked for in each Binding Update (at most 262140 s, the
    /// largest the 16-bit field in 4-second units holds).
    pub binding_lifetime_secs: u32,
    /// How often a binding is refreshed; less than the lifetime.
    pub refresh_secs: u32,
}

/// Failure detection (SWIM membership on UDP `peer_port + 1`) and the
/// mirroring of connections to each node's backup.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailoverConfig {
    /// A connection's state is mirrored again after this many bytes moved
    /// either way (besides at open and after each handoff). Default 4 MiB;
    /// at most 1 GiB (the mirrored sequence numbers must stay within 2^31
    /// of the live ones).
    pub mirror_every_bytes: u64,
    /// How often each node probes another (SWIM), in ms. Default 70.
    pub probe_period_ms: u64,
    /// How long a probe's answer may take before indirect probes, in ms.
    /// Default 30.
    pub probe_rtt_ms: u64,
    /// How long a suspected node has to refute before it counts as down,
    /// in ms. Default 110.
    pub suspect_ms: u64,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        FailoverConfig {
            mirror_every_bytes: 4 << 20,
            probe_period_ms: 70,
            probe_rtt_ms: 30,
            suspect_ms: 110,
        }
    }
}

/// A client agent (`gecko-cn`) host.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAgentConfig {
    /// A short unique name (`client1`).
    pub name: String,
    /// The client host's address.
    pub address: Ipv6Addr,
    /// Where its Prometheus endpoint listens.
    pub metrics: SocketAddr,
}

/// An IPv6 prefix such as `2001:db8:ffff::/64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Prefix {
    /// The network address (host bits zero).
    pub address: Ipv6Addr,
    /// Prefix length, 0 to 128.
    pub len: u8,
}

impl Ipv6Prefix {
    /// True when `addr` lies inside this prefix.
    pub fn contains(&self, addr: &Ipv6Addr) -> bool {
        let mask = u128::MAX
            .checked_shl(128 - u32::from(self.len))
            .unwrap_or(0);
        u128::from(*addr) & mask == u128::from(self.address) & mask
    }
}

impl FromStr for Ipv6Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not a prefix: expected ADDRESS/LENGTH"))?;
        let address: Ipv6Addr = addr
            .parse()
            .map_err(|_| format!("`{addr}` is not an IPv6 address"))?;
        let len: u8 = len
            .parse()
            .ok()
            .filter(|l| *l <= 128)
            .ok_or_else(|| format!("`{len}` is not a prefix length (0 to 128)"))?;
        let prefix = Ipv6Prefix { address, len };
        if !prefix.contains(&address)
            || u128::from(address) & !u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0) != 0
        {
            return Err(format!("`{s}` has host bits set"));
        }
        Ok(prefix)
    }
}

impl fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.len)
    }
}

impl<'de> Deserialize<'de> for Ipv6Prefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

fn hex_key<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = String::deserialize(d)?;
    hex::decode(s.trim()).map_err(|e| serde::de::Error::custom(format!("not a hex key: {e}")))
}

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("{path}: cannot read: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said (in the message, so not also a `source`).
        error: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{path}:{line}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// What the TOML parser said.
        message: String,
    },
    /// The file is TOML but a field in it is wrong.
    #[error("{path}:{line}: field `{field}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending field (or of its table).
        line: usize,
        /// Dotted path of the field, such as `nodes[1].address`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ConfigError {
    /// The line the error points at, if the file was readable.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Invalid { line, .. } | ConfigError::Syntax { line, .. } => Some(*line),
            ConfigError::Read { .. } => None,
        }
    }

    /// The field the error names, if the file was readable.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { field, .. } => Some(field),
            ConfigError::Read { .. } | ConfigError::Syntax { .. } => None,
        }
    }
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_owned(),
            error,
        })?;
        Config::parse(&text, path)
    }

    /// Parses and validates configuration text; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let located = Locator { text, path };
        let de = toml::Deserializer::new(text);
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let message = inner.message().to_owned();
            let line = |field: &str| {
                inner
                    .span()
                    .map(|s| located.line_at(s.start))
                    .or_else(|| located.line_of(field))
                    .unwrap_or(1)
            };
            // A missing field is reported on its table; name the field itself.
            let field = match missing_field(&message) {
                Some(name) if field == "." => name.to_owned(),
                Some(name) => format!("{field}.{name}"),
                // No field at all: the TOML itself is broken.
                None if field == "." => {
                    return ConfigError::Syntax {
                        path: path.to_owned(),
                        line: line(""),
                        message: message.trim_end().replace('\n', "; "),
                    }
                }
                None => field,
            };
            located.error_at(line(&field), field, message)
        })?;
        config.validate(&located)?;
        Ok(config)
    }

    /// The node with this name.
    pub fn node(&self, name: &str) -> Option<&NodeConfig> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The node whose address is `addr`.
    pub fn node_by_address(&self, addr: &Ipv6Addr) -> Option<&NodeConfig> {
        self.nodes.iter().find(|n| n.address == *addr)
    }

    /// Checks what the types alone cannot: references between sections,
    /// uniqueness, ranges.
    fn validate(&self, at: &Locator<'_>) -> Result<(), ConfigError> {
        let fail = |field: &str, message: String| Err(at.error(field, message));
        if !self.home_prefix.contains(&self.global_address) {
            return fail(
                "global_address",
                format!(
                    "{} lies outside home_prefix {}",
                    self.global_address, self.home_prefix
                ),
            );
        }
        if !self.home_prefix.contains(&self.home_agent.address) {
            return fail(
                "home_agent.address",
                format!(
                    "{} lies outside home_prefix {}: the home agent sits on G's home link",
                    self.home_agent.address, self.home_prefix
                ),
            );
        }
        if self.home_agent.address == self.global_address {
            return fail(
                "home_agent.address",
                "must differ from global_address".into(),
            );
        }
        if self.service_port == 0 {
            return fail("service_port", "must be 1 to 65535".into());
        }
        if self.peer_port == 0 {
            return fail("peer_port", "must be 1 to 65535".into());
        }
        if self.nodes.is_empty() {
            return fail("nodes", "at least one node is needed".into());
        }
        let mut names = HashSet::new();
        let mut addresses = HashSet::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if !valid_name(&node.name) {
                return fail(
                    &format!("nodes[{i}].name"),
                    format!(
                        "`{}` is not a name: use 1 to 15 of a-z, 0-9, '-'",
                        node.name
                    ),
                );
            }
            if !names.insert(node.name.as_str()) {
                return fail(
                    &format!("nodes[{i}].name"),
                    format!("`{}` names two nodes", node.name),
                );
            }
            if !addresses.insert(node.address) {
                return fail(
                    &format!("nodes[{i}].address"),
                    format!("{} is the address of two nodes", node.address),
                );
            }
            if self.home_prefix.contains(&node.address) {
                return fail(
                    &format!("nodes[{i}].address"),
                    format!(
                        "{} lies inside home_prefix {}: a node's care-of address must be away from home",
                        node.address, self.home_prefix
                    ),
                );
            }
        }
        if self.node(&self.contact.node).is_none() {
            return fail(
                "contact.node",
                format!("`{}` is not one of the nodes", self.contact.node),
            );
        }
        let mut seen = HashSet::new();
        for (i, backup) in self.contact.backups.iter().enumerate() {
            let field = format!("contact.backups[{i}]");
            if self.node(backup).is_none() {
                return fail(&field, format!("`{backup}` is not one of the nodes"));
            }
            if *backup == self.contact.node {
                return fail(&field, format!("`{backup}` is the contact node itself"));
            }
            if !seen.insert(backup) {
                return fail(&field, format!("`{backup}` is listed twice"));
            }
        }
        let f = &self.failover;
        if f.mirror_every_bytes == 0 || f.mirror_every_bytes > 1 << 30 {
            return fail(
                "failover.mirror_every_bytes",
                format!("{}: must be 1 to 1073741824", f.mirror_every_bytes),
            );
        }
        if f.probe_rtt_ms == 0 || f.probe_rtt_ms >= f.probe_period_ms {
            return fail(
                "failover.probe_rtt_ms",
                format!(
                    "{}: must be at least 1 and less than probe_period_ms ({})",
                    f.probe_rtt_ms, f.probe_period_ms
                ),
            );
        }
        if f.suspect_ms == 0 {
            return fail("failover.suspect_ms", "must be at least 1".into());
        }
        if u32::from(self.peer_port) + 1 > u32::from(u16::MAX) {
            return fail(
                "peer_port",
                "must be below 65535: membership uses peer_port + 1".into(),
            );
        }
        if self.security.mn_ha_key.len() < 16 {
            return fail(
                "security.mn_ha_key",
                format!(
                    "{} bytes: at least 16 are needed",
                    self.security.mn_ha_key.len()
                ),
            );
        }
        if self.security.mn_ha_spi < 256 {
            return fail(
                "security.mn_ha_spi",
                format!(
                    "{}: SPI values 0 to 255 are reserved (RFC 4285)",
                    self.security.mn_ha_spi
                ),
            );
        }
        if self.security.cluster_key.len() != 32 {
            return fail(
                "security.cluster_key",
                format!(
                    "{} bytes: exactly 32 are needed",
                    self.security.cluster_key.len()
                ),
            );
        }
        let t = &self.timers;
        if t.binding_lifetime_secs < 4 || t.binding_lifetime_secs > 262_140 {
            return fail(
                "timers.binding_lifetime_secs",
                format!(
                    "{}: must be 4 to 262140 (the Binding Update counts 4-second units in 16 bits)",
                    t.binding_lifetime_secs
                ),
            );
        }
        if t.refresh_secs == 0 || t.refresh_secs >= t.binding_lifetime_secs {
            return fail(
                "timers.refresh_secs",
                format!(
                    "{}: must be at least 1 and less than binding_lifetime_secs ({})",
                    t.refresh_secs, t.binding_lifetime_secs
                ),
            );
        }
        if self.route_optimization.remember_secs == 0 {
            return fail(
                "route_optimization.remember_secs",
                "0: must be at least 1".to_string(),
            );
        }
        let mut names = HashSet::new();
        for (i, client) in self.client_agents.iter().enumerate() {
            if !valid_name(&client.name) || !names.insert(client.name.as_str()) {
                return fail(
                    &format!("client_agents[{i}].name"),
                    format!(
                        "`{}` is not a unique name of 1 to 15 of a-z, 0-9, '-'",
                        client.name
                    ),
                );
            }
        }
        Ok(())
    }
}

/// Names are used for namespaces and interfaces, so they stay short and plain.
pub fn valid_name(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
}

/// Maps fields and byte offsets of the file to line numbers.
struct Locator<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Locator<'_> {
    fn line_at(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    /// The line of a dotted field path (`nodes[1].address`), or of the
    /// nearest enclosing table that exists in the file.
    fn line_of(&self, field: &str) -> Option<usize> {
        let doc = toml_edit::ImDocument::parse(self.text).ok()?;
        let mut item = doc.as_item();
        let mut span = None;
        for segment in field.split('.').filter(|s| !s.is_empty()) {
            let (key, index) = match segment.split_once('[') {
                Some((key, rest)) => (key, rest.trim_end_matches(']').parse::<usize>().ok()),
                None => (segment, None),
            };
            let Some(next) = item.get(key) else { break };
            item = next;
            span = item.span().or(span);
            if let Some(index) = index {
                let Some(next) = item.get(index) else { break };
                item = next;
                span = item.span().or(span);
            }
        }
        span.map(|s| self.line_at(s.start))
    }

    fn error(&self, field: &str, message: String) -> ConfigError {
        let line = self.line_of(field).unwrap_or(1);
        self.error_at(line, field.to_owned(), message)
    }

    fn error_at(&self, line: usize, field: String, message: String) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_owned(),
            line,
            field,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid file (the repository's example); the broken ones below are
    /// edits of it.
    pub(crate) const GOOD: &str = include_str!("../../examples/gecko.toml");

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("gecko.toml"))
    }

    /// Parses `text`, expects a refusal, and returns (line, field, message).
    fn refused(text: &str) -> (usize, String, String) {
        match parse(text) {
            Ok(c) => panic!("accepted a bad file: {c:?}"),
            Err(ConfigError::Invalid {
                line,
                field,
                message,
                ..
            }) => (line, field, message),
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    #[test]
    fn good_file_parses() {
        let c = parse(GOOD).unwrap();
        assert_eq!(
            c.global_address,
            "2001:db8:ffff::1".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(c.nodes.len(), 2);
        assert_eq!(
            c.node("node2").unwrap().address,
            "2001:db8:1:2::2".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(c.security.mn_ha_key.len(), 16);
        assert!(c.client_agents.is_empty());
        assert!(
            !format!("{c:?}").contains("00112233"),
            "keys leak into Debug"
        );
    }

    #[test]
    fn dataplane_defaults_to_auto_and_a_bad_one_names_line_and_field() {
        use crate::dataplane::{DataplaneChoice, Encap};
        assert_eq!(parse(GOOD).unwrap().dataplane, DataplaneChoice::Auto);
        let text = format!("dataplane = \"vxlan\"\n{GOOD}");
        assert_eq!(
            parse(&text).unwrap().dataplane,
            DataplaneChoice::Only(Encap::Vxlan)
        );
        let (line, field, message) = refused(&format!("dataplane = \"ebpf\"\n{GOOD}"));
        assert_eq!((line, field.as_str()), (1, "dataplane"));
        assert!(
            message.contains("\"auto\", \"seg6\" or \"vxlan\""),
            "{message}"
        );
    }

    #[test]
    fn bad_address_names_line_and_field() {
        let text = GOOD.replace("\"2001:db8:1:2::2\"", "\"2001:db8:zz::2\"");
        let (line, field, message) = refused(&text);
        assert_eq!(line, 17);
        assert_eq!(field, "nodes[1].address");
        assert!(message.contains("invalid IPv6 address"), "{message}");
    }

    #[test]
    fn missing_required_field_is_named() {
        let text = GOOD.replace("service_port = 7\n", "");
        let (_, field, message) = refused(&text);
        assert_eq!(field, "service_port");
        assert!(message.contains("missing field"), "{message}");

        let text = GOOD.replace("refresh_secs = 20\n", "");
        let (line, field, _) = refused(&text);
        assert_eq!(field, "timers.refresh_secs");
        assert_eq!(line, 29, "points at the [timers] table");
    }

    #[test]
    fn wrong_type_names_line_and_field() {
        let text = GOOD.replace("service_port = 7", "service_port = \"seven\"");
        let (line, field, _) = refused(&text);
        assert_eq!((line, field.as_str()), (4, "service_port"));

        let text = GOOD.replace("service_port = 7", "service_port = 70000");
        let (line, field, _) = refused(&text);
        assert_eq!((line, field.as_str()), (4, "service_port"));
    }

    #[test]
    fn peer_port_is_optional_and_checked() {
        let config = Config::parse(GOOD, Path::new("gecko.toml")).unwrap();
        assert_eq!(config.peer_port, 7450);
        let text = GOOD.replace("service_port = 7\n", "service_port = 7\npeer_port = 7999\n");
        assert_eq!(
            Config::parse(&text, Path::new("gecko.toml"))
                .unwrap()
                .peer_port,
            7999
        );
        let text = GOOD.replace("service_port = 7\n", "service_port = 7\npeer_port = 0\n");
        let (line, field, _) = refused(&text);
        assert_eq!((line, field.as_str()), (5, "peer_port"));
    }

    #[test]
    fn failover_is_optional_and_checked() {
        let config = Config::parse(GOOD, Path::new("gecko.toml")).unwrap();
        assert_eq!(config.failover, FailoverConfig::default());
        let with = |section: &str| format!("{GOOD}\n[failover]\n{section}\n");
        let config =
            Config::parse(&with("mirror_every_bytes = 1048576"), Path::new("g.toml")).unwrap();
        assert_eq!(config.failover.mirror_every_bytes, 1 << 20);
        assert_eq!(
            config.failover.probe_period_ms, 70,
            "the rest keep their defaults"
        );

        let text = with("mirror_every_bytes = 0");
        let (_, field, message) = refused(&text);
        assert_eq!(field, "failover.mirror_every_bytes", "{message}");
        let text = with("probe_rtt_ms = 70");
        let (_, field, message) = refused(&text);
        assert_eq!(field, "failover.probe_rtt_ms");
        assert!(message.contains("less than probe_period_ms"), "{message}");
        let text = with("suspect_ms = 0");
        assert_eq!(refused(&text).1, "failover.suspect_ms");
        let text = with("probe_period = 5");
        let (_, field, message) = refused(&text);
        assert_eq!(field, "failover.probe_period", "{message}");
        assert!(message.contains("unknown field"), "{message}");
        let text = GOOD.replace(
            "service_port = 7\n",
            "service_port = 7\npeer_port = 65535\n",
        );
        assert_eq!(
            refused(&text).1,
            "peer_port",
            "membership needs peer_port + 1"
        );
    }

    #[test]
    fn unknown_field_is_refused() {
        let text = GOOD.replace("refresh_secs = 20", "refresh_secs = 20\nrefresh_sec = 5");
        let (line, field, message) = refused(&text);
        assert_eq!(line, 32);
        assert_eq!(field, "timers.refresh_sec");
        assert!(message.contains("unknown field"), "{message}");
    }

    #[test]
    fn syntax_error_names_line() {
        let text = GOOD.replace("[contact]", "[contact");
        match parse(&text) {
            Err(ConfigError::Syntax { line, message, .. }) => {
                assert_eq!(line, 20);
                assert!(message.contains("table header"), "{message}");
            }
            other => panic!("expected a syntax error, got {other:?}"),
        }
        let text = GOOD.replace("service_port = 7", "service_port = = 7");
        assert_eq!(parse(&text).unwrap_err().line(), Some(4));
    }

    #[test]
    fn contact_must_be_a_node() {
        let text = GOOD.replace("node = \"node1\"", "node = \"node9\"");
        let (line, field, message) = refused(&text);
        assert_eq!((line, field.as_str()), (21, "contact.node"));
        assert!(message.contains("node9"), "{message}");
    }

    #[test]
    fn backups_must_be_other_nodes() {
        let text = GOOD.replace("backups = [\"node2\"]", "backups = [\"node2\", \"node1\"]");
        let (line, field, _) = refused(&text);
        assert_eq!((line, field.as_str()), (22, "contact.backups[1]"));
    }

    #[test]
    fn duplicate_node_name_is_refused() {
        let text = GOOD.replace("name = \"node2\"", "name = \"node1\"");
        let (line, field, _) = refused(&text);
        assert_eq!((line, field.as_str()), (16, "nodes[1].name"));
    }

    #[test]
    fn keys_are_checked() {
        let text = GOOD.replace(
            "mn_ha_key = \"00112233445566778899aabbccddeeff\"",
            "mn_ha_key = \"0011\"",
        );
        let (line, field, _) = refused(&text);
        assert_eq!((line, field.as_str()), (25, "security.mn_ha_key"));

        let text = GOOD.replace(
            "mn_ha_key = \"00112233445566778899aabbccddeeff\"",
            "mn_ha_key = \"xyz\"",
        );
        let (line, field, message) = refused(&text);
        assert_eq!((line, field.as_str()), (25, "security.mn_ha_key"));
        assert!(message.contains("hex"), "{message}");

        let text = GOOD.replace("mn_ha_spi = 256", "mn_ha_spi = 7");
        let (line, field, _) = refused(&text);
        assert_eq!((line, field.as_str()), (26, "security.mn_ha_spi"));

        let text = GOOD.replace("1c1d1e1f\"", "1c1d1e\"");
        let (line, field, _) = refused(&text);
        assert_eq!((line, field.as_str()), (27, "security.cluster_key"));
    }

    #[test]
    fn global_address_must_be_in_home_prefix() {
        let text = GOOD.replace(
            "global_address = \"2001:db8:ffff::1\"",
            "global_address = \"2001:db8:eeee::1\"",
        );
        let (line, field, _) = refused(&text);
        assert_eq!((line, field.as_str()), (2, "global_address"));
    }

    #[test]
    fn prefix_syntax_is_checked() {
        for bad in [
            "2001:db8:ffff::",
            "2001:db8:ffff::/129",
            "2001:db8:ffff::1/64",
        ] {
            let text = GOOD.replace("\"2001:db8:ffff::/64\"", &format!("\"{bad}\""));
            let (line, field, _) = refused(&text);
            assert_eq!((line, field.as_str()), (3, "home_prefix"), "{bad}");
        }
    }

    #[test]
    fn route_optimization_is_optional_and_checked() {
        let config = Config::parse(GOOD, Path::new("gecko.toml")).unwrap();
        assert_eq!(config.route_optimization.mode, RouteOptimization::Auto);
        let with = |section: &str| format!("{GOOD}\n[route_optimization]\n{section}\n");
        let config = Config::parse(&with("mode = \"never\""), Path::new("g.toml")).unwrap();
        assert_eq!(config.route_optimization.mode, RouteOptimization::Never);
        assert_eq!(config.route_optimization.remember_secs, 600);
        let (_, field, message) = refused(&with("mode = \"sometimes\""));
        assert_eq!(field, "route_optimization.mode", "{message}");
        let (_, field, _) = refused(&with("remember_secs = 0"));
        assert_eq!(field, "route_optimization.remember_secs");
    }

    #[test]
    fn timers_are_checked() {
        let text = GOOD.replace("refresh_secs = 20", "refresh_secs = 60");
        let (line, field, _) = refused(&text);
        assert_eq!((line, field.as_str()), (31, "timers.refresh_secs"));

        let text = GOOD.replace(
            "binding_lifetime_secs = 60",
            "binding_lifetime_secs = 300000",
        );
        let (line, field, _) = refused(&text);
        assert_eq!((line, field.as_str()), (30, "timers.binding_lifetime_secs"));
    }

    #[test]
    fn error_message_names_file_line_and_field() {
        let text = GOOD.replace("node = \"node1\"", "node = \"node9\"");
        let err = Config::parse(&text, Path::new("/etc/gecko/cluster.toml")).unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.starts_with("/etc/gecko/cluster.toml:21: field `contact.node`:"),
            "{shown}"
        );
    }

    #[test]
    fn unreadable_file_is_an_error() {
        let err = Config::load("/nonexistent/gecko.toml").unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(err.to_string().contains("/nonexistent/gecko.toml"));
    }

    #[test]
    fn prefix_contains() {
        let p: Ipv6Prefix = "2001:db8:ffff::/64".parse().unwrap();
        assert!(p.contains(&"2001:db8:ffff::1".parse().unwrap()));
        assert!(!p.contains(&"2001:db8:fffe::1".parse().unwrap()));
        let all: Ipv6Prefix = "::/0".parse().unwrap();
        assert!(all.contains(&"2001:db8::1".parse().unwrap()));
    }
}
