//! `gecko-cn`'s driver: the Mobility Header sockets, the correspondent
//! machine, the client host's data plane, the metrics endpoint.

use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;

use gecko::config::Config;
use gecko::dataplane::client_plane::{ClientPlane, HOME_MARK};
use gecko::dataplane::{BindingPlane, DataplaneChoice, HostRole, KernelReport};
use gecko::metrics::Metrics;
use gecko::mipv6::correspondent::{Action, Correspondent};
use gecko::mipv6::mh_socket::MhSocket;
use gecko::mipv6::rr::{CorrespondentKeys, Kcn, NonceTable, NonceTableConfig};

/// Runs the client agent of the host at `address` until SIGTERM;
/// `dataplane`, if given, overrides the file's.
pub async fn run(
    path: PathBuf,
    address: Ipv6Addr,
    link_mtu: u32,
    dataplane: Option<DataplaneChoice>,
) -> anyhow::Result<()> {
    let config = Config::load(&path)?;
    let g = config.global_address;
    let choice = dataplane.unwrap_or(config.dataplane);
    let encap = KernelReport::get()
        .check(HostRole::ClientAgent, choice)?
        .expect("a client agent sends by a backend");
    let mut plane = ClientPlane::install(g, link_mtu, encap)
        .with_context(|| format!("installing the client data plane ({encap})"))?;
    let result = serve(&config, address, &mut plane).await;
    plane
        .uninstall()
        .context("removing the client data plane")?;
    tracing::info!("client agent stopped");
    result
}

async fn serve(config: &Config, address: Ipv6Addr, plane: &mut ClientPlane) -> anyhow::Result<()> {
    let g = config.global_address;
    let mh = MhSocket::open().context("opening the Mobility Header socket")?;
    let keys = CorrespondentKeys::new(
        Kcn::generate(),
        NonceTable::new(NonceTableConfig::default())?,
    );
    let mut cn = Correspondent::new(keys, g);
    let metrics = Metrics::new();
    metrics
        .gauge(
            "gecko_dataplane_info",
            "The data plane this daemon sends by (value 1)",
            &[("dataplane", plane.encap().name())],
        )?
        .set(1);
    let plain = metrics.gauge("gecko_bindings", "Bindings held", &[("kind", "plain")])?;
    let flows = metrics.gauge("gecko_bindings", "Bindings held", &[("kind", "flow")])?;
    let failures = metrics.counter(
        "gecko_dataplane_errors_total",
        "Data-plane changes the kernel refused",
        &[],
    )?;
    if let Some(agent) = config.client_agents.iter().find(|a| a.address == address) {
        gecko::metrics::bind_and_serve(metrics.clone(), agent.metrics)
            .await
            .with_context(|| format!("serving metrics on {}", agent.metrics))?;
    }
    tracing::info!(%address, home = %g, dataplane = %plane.encap(), "client agent ready");

    let mut buf = vec![0u8; 2048];
    let shutdown = crate::program::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let deadline = cn
            .next_deadline()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let actions = tokio::select! {
            r = mh.recv(&mut buf) => {
                let r = r.context("reading the Mobility Header socket")?;
                let h = cn.handle(r.src, r.dst, &buf[..r.len], Instant::now());
                crate::program::count_message(&metrics, h.message, h.rejected);
                if let Some(reason) = h.rejected {
                    tracing::info!(src = %r.src, message = h.message, reason, "message refused");
                }
                h.actions
            }
            _ = tokio::time::sleep_until(deadline.into()) => cn.expire(Instant::now()),
            r = &mut shutdown => return r,
        };
        let mut failed = false;
        let t0 = Instant::now();
        let n = actions.len();
        for action in actions {
            let done = match action {
                Action::SetPlain { care_of, .. } => plane.set_plain(care_of).map(|_| ()),
                Action::BindFlow { flow, care_of } => plane.bind_flow(flow, care_of),
                Action::UnbindFlow { flow } => plane.unbind_flow(&flow).map(|_| ()),
                Action::Send(o) => {
                    // A BA must not report a change the kernel refused:
                    // without it the node sees the handoff fail.
                    if failed {
                        continue;
                    }
                    // HoT leaves by the home route: the mark selects it.
                    let mark = o.via_home.then_some(HOME_MARK);
                    if let Err(e) = mh.send(&o.mh, o.src, o.dst, mark).await {
                        tracing::warn!(dst = %o.dst, error = %e, "send failed");
                    }
                    Ok(())
                }
            };
            if let Err(e) = done {
                failed = true;
                failures.inc();
                tracing::error!(error = %e, "data plane change refused");
            }
        }
        tracing::debug!(actions = n, took = ?t0.elapsed(), "actions applied");
        let (p, f) = cn.binding_counts();
        plain.set(p as i64);
        flows.set(f as i64);
    }
}
