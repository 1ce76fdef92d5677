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
    let g = config.global_address;
    let mut plane = HomePlane::open(link_mtu, encap)
        .with_context(|| format!("setting up the {encap} data plane"))?;
    plane
        .steer_flows(g)
        .context("setting up flow steering for clients without an agent")?;
    let metrics = Metrics::new();
    metrics
        .gauge(
            "gecko_dataplane_info",
            "The data plane this daemon sends by (value 1)",
            &[("dataplane", encap.name())],
        )?
        .set(1);
    let bindings = metrics.gauge("gecko_bindings", "Bindings held", &[("kind", "home")])?;
    let flow_bindings = metrics.gauge("gecko_bindings", "Bindings held", &[("kind", "flow")])?;
    let registrations = metrics.counter(
        "gecko_registrations_total",
        "Home and flow registrations and deregistrations accepted",
        &[],
    )?;
    let failures = metrics.counter(
        "gecko_dataplane_errors_total",
        "Data-plane changes the kernel refused",
        &[],
    )?;
    let addr = config.home_agent.metrics;
    gecko::metrics::bind_and_serve(metrics.clone(), addr)
        .await
        .with_context(|| format!("serving metrics on {addr}"))?;
    tracing::info!(home = %g, %addr, dataplane = %encap, "home agent ready");

    let mut buf = vec![0u8; 2048];
    let shutdown = crate::program::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let deadline = ha
            .next_deadline()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        // An accepted flow registration is counted once the kernel took it.
        let (actions, flow_accepted) = tokio::select! {
            r = mh.recv(&mut buf) => {
                let r = r.context("reading the Mobility Header socket")?;
                let h = ha.handle(r.src, r.dst, &buf[..r.len], Instant::now(), SystemTime::now());
                crate::program::count_message(&metrics, h.message, h.rejected);
                if h.registered {
                    registrations.inc();
                }
                if let Some(reason) = h.rejected {
                    if h.kind == "flow" {
                        count_flow(&metrics, reason);
                    }
                    tracing::info!(src = %r.src, kind = h.kind, reason, "registration refused");
                }
                (h.actions, h.kind == "flow" && h.rejected.is_none())
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                let actions = ha.expire(Instant::now());
                if !actions.is_empty() {
                    tracing::info!(n = actions.len(), "bindings expired");
                }
                (actions, false)
            }
            r = &mut shutdown => { r?; break; }
        };
        // A BA must not report a change the kernel refused.
        let mut refused = false;
        for action in actions {
            let done = match action {
                HaAction::Route { home, care_of } => {
                    tracing::info!(%home, %care_of, "routing G to the contact node");
                    plane.set_binding(home, care_of)
                }
                HaAction::Unroute { home } => {
                    tracing::info!(%home, "route for G removed");
                    plane.clear_binding(home).map(drop)
                }
                HaAction::BindFlow { flow, care_of } => {
                    tracing::debug!(?flow, %care_of, "flow steered");
                    let r = plane.bind_flow(flow, care_of);
                    if r.is_err() {
                        ha.flow_not_installed(flow, Instant::now());
                    }
                    r
                }
                HaAction::UnbindFlow { flow } => {
                    tracing::debug!(?flow, "flow no longer steered");
                    plane.unbind_flow(&flow).map(drop)
                }
                HaAction::Send(o) if !refused => {
                    // An answer that cannot leave (a care-of address no
                    // route reaches, as a stranger may name) is lost, as
                    // on the wire: it must not stop the home agent.
                    if let Err(e) = mh.send(&o.mh, o.src, o.dst, None).await {
                        tracing::warn!(dst = %o.dst, error = %e, "binding acknowledgement not sent");
                    }
                    Ok(())
                }
                HaAction::Send(_) => Ok(()),
            };
            if let Err(e) = done {
                refused = true;
                failures.inc();
                tracing::error!(error = %e, "data plane change refused");
            }
        }
        if flow_accepted {
            count_flow(
                &metrics,
                if refused {
                    "kernel_refused"
                } else {
                    "accepted"
                },
            );
        }
        bindings.set(i64::from(ha.binding().is_some()));
        flow_bindings.set(ha.flows().live() as i64);
    }
    if ha.binding().is_some() {
        plane.clear_binding(g)?;
    }
    // Dropping the plane removes the flow map, its rules and routes.
    drop(plane);
    tracing::info!("home agent stopped");
    Ok(())
}

/// Counts one flow registration by result: `accepted` or the reason it
/// was refused (`kernel_refused`: the data plane would not take it).
fn count_flow(metrics: &Metrics, result: &'static str) {
    metrics.count(
        "gecko_flow_registrations_total",
        "Flow registrations and deregistrations, by result (accepted or the refusal's reason)",
        &[("result", result)],
        1,
    );
}
