//! `gecko-ha`'s driver: the Mobility Header socket, the home agent machine,
//! the route for G, the metrics endpoint.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;

use gecko::config::Config;
use gecko::dataplane::home_plane::HomePlane;
use gecko::dataplane::{DataplaneChoice, HostRole, KernelReport};
use gecko::metrics::Metrics;
use gecko::mipv6::home_agent::{HaAction, HomeAgent, HomeAgentSettings};
use gecko::mipv6::mh_socket::MhSocket;
use gecko::mipv6::mn_ha_auth::MnHaKey;

/// Runs the home agent of the configuration at `path` until SIGTERM;
/// `dataplane`, if given, overrides the file's.
pub async fn run(
    path: PathBuf,
    link_mtu: u32,
    dataplane: Option<DataplaneChoice>,
) -> anyhow::Result<()> {
    let config = Config::load(&path)?;
    let choice = dataplane.unwrap_or(config.dataplane);
    let encap = KernelReport::get()
        .check(HostRole::HomeAgent, choice)?
        .expect("a home agent sends by a backend");
    let key = MnHaKey::new(config.security.mn_ha_spi, &config.security.mn_ha_key)?;
    let authorised = std::iter::once(&config.contact.node)
        .chain(&config.contact.backups)
        .filter_map(|name| config.node(name))
        .map(|n| n.address)
        .collect();
    let mut ha = HomeAgent::new(HomeAgentSettings {
        address: config.home_agent.address,
        home: config.global_address,
        authorised,
        nodes: config.nodes.iter().map(|n| n.address).collect(),
        key,
        max_lifetime: Duration::from_secs(u64::from(config.timers.binding_lifetime_secs)),
        max_flows: gecko::mipv6::home_agent::DEFAULT_MAX_FLOWS,
    });
    let mh = MhSocket::open().context("opening the Mobility Header socket")?;
    let mut plane = HomePlane::open(link_mtu, encap)
        .with_context(|| format!("setting up the {encap} data plane"))?;
    let metrics = Metrics::new();
    metrics
        .gauge(
            "gecko_dataplane_info",
            "The data plane this daemon sends by (value 1)",
            &[("dataplane", encap.name())],
        )?
        .set(1);
    let bindings = metrics.gauge("gecko_bindings", "Bindings held", &[("kind", "home")])?;
    let registrations = metrics.counter(
        "gecko_registrations_total",
        "Home registrations and deregistrations accepted",
        &[],
    )?;
    let addr = config.home_agent.metrics;
    gecko::metrics::bind_and_serve(metrics.clone(), addr)
        .await
        .with_context(|| format!("serving metrics on {addr}"))?;
    tracing::info!(home = %config.global_address, %addr, dataplane = %encap, "home agent ready");

    let g = config.global_address;
    let mut buf = vec![0u8; 2048];
    let shutdown = crate::program::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let deadline = ha
            .next_deadline()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let actions = tokio::select! {
            r = mh.recv(&mut buf) => {
                let r = r.context("reading the Mobility Header socket")?;
                let h = ha.handle(r.src, r.dst, &buf[..r.len], Instant::now(), SystemTime::now());
                crate::program::count_message(&metrics, h.message, h.rejected);
                if let Some(reason) = h.rejected {
                    tracing::info!(src = %r.src, reason, "home registration refused");
                }
                if h.registered {
                    registrations.inc();
                }
                h.actions
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                let actions = ha.expire(Instant::now());
                if !actions.is_empty() {
                    tracing::info!("home registration expired");
                }
                actions
            }
            r = &mut shutdown => { r?; break; }
        };
        for action in actions {
            match action {
                HaAction::Route { home, care_of } => {
                    plane.set_binding(home, care_of)?;
                    tracing::info!(%home, %care_of, "routing G to the contact node");
                }
                HaAction::Unroute { home } => {
                    plane.clear_binding(home)?;
                    tracing::info!(%home, "route for G removed");
                }
                HaAction::Send(o) => mh.send(&o.mh, o.src, o.dst, None).await?,
            }
        }
        bindings.set(i64::from(ha.binding().is_some()));
    }
    if ha.binding().is_some() {
        plane.clear_binding(g)?;
    }
    tracing::info!("home agent stopped");
    Ok(())
}
