//! What every server program takes to be a node (the example servers,
//! `geckoproxy`): the configuration, its own address and interface
//! (defaulting to the `GECKO_*` variables `gecko-lab exec` sets), and the
//! policy that places its connections.

use std::net::Ipv6Addr;
use std::path::PathBuf;

use gecko::framework::GeckoFramework;
use gecko::policy;

/// The node's command-line arguments (flattened into each server's own).
#[derive(clap::Args)]
pub struct NodeArgs {
    /// The distributed server's configuration (`-g`, as the seed's
    /// geckoproxy command line).
    #[arg(short = 'g', long, env = "GECKO_CONFIG")]
    pub config: PathBuf,
    /// This node's own address (as in the configuration).
    #[arg(long, env = "GECKO_LOCAL_ADDRESS")]
    pub local: Ipv6Addr,
    /// This node's network interface.
    #[arg(long, env = "GECKO_INTERFACE", default_value = "eth0")]
    pub iface: String,
    /// The policy: random, round-robin, least-connections or proximity,
    /// or `node=ADDR` to place every connection on that node while it is
    /// available (a user policy: benchmarks load one node this way).
    #[arg(long, default_value = "random")]
    pub policy: String,
}

impl NodeArgs {
    /// The policy, or an error naming the known ones; check it before
    /// anything starts.
    pub fn policy(&self) -> Result<std::sync::Arc<dyn policy::GeckoPolicy>, String> {
        if let Some(addr) = self.policy.strip_prefix("node=") {
            let node: Ipv6Addr = addr
                .parse()
                .map_err(|e| format!("policy `{}`: not an IPv6 address: {e}", self.policy))?;
            return Ok(std::sync::Arc::new(OneNode(node)));
        }
        policy::by_name(&self.policy).ok_or_else(|| {
            format!(
                "unknown policy `{}` (known: {})",
                self.policy,
                policy::ShippedPolicy::names().join(", ") + ", node=ADDR"
            )
        })
    }

    /// Starts this node's framework with the policy.
    pub fn start(&self) -> Result<GeckoFramework, Box<dyn std::error::Error>> {
        let policy = self.policy()?;
        let framework = GeckoFramework::new(self.local, &self.config, &self.iface)?;
        framework.set_policy(policy);
        Ok(framework)
    }
}

/// Every connection to one node while it is available; else kept here.
struct OneNode(Ipv6Addr);

impl policy::GeckoPolicy for OneNode {
    fn select_target(&self, client: &policy::ClientInfo) -> Option<Ipv6Addr> {
        client
            .available()
            .any(|n| n.address == self.0)
            .then_some(self.0)
    }
}
