//! `geckoproxy` (seed section 5): a distributed server for an unmodified
//! application. One proxy runs on each node in front of that node's copy
//! of the application; the proxies are the nodes of the distributed
//! server. Each listens on G through [`GeckoFramework`], so the contact
//! node's proxy places every new connection by the policy at
//! establishment; the proxy that ends up with a connection opens one to
//! its local application and relays both ways ([`relay`]) until both
//! sides have closed.
//!
//! The seed's limits stand: a relayed connection never moves after its
//! establishment (the application's state for it lives in that node's
//! application), and one recovered after its proxy's node crashed is
//! reset (the application that held its state is gone with the node).
//!
//! [`GeckoFramework`]: gecko::framework::GeckoFramework

pub mod app_connector;
pub mod app_listener;
pub mod limits;
pub mod metrics;
pub mod pipe;
pub mod relay;

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::unix::AsyncFd;

use app_connector::AppConnector;
use gecko::framework::GeckoError;
use gecko::socket::{GeckoServerSocket, GeckoSocket};
use metrics::{ProxyMetrics, ResetReason};
use pipe::{PipePool, PIPE_BYTES};

/// How long the proxy waits for the local application's handshake.
pub const APP_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the proxy stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The node (its framework or server socket) failed.
    #[error(transparent)]
    Framework(#[from] GeckoError),
    /// The proxy's metrics could not be registered.
    #[error("registering the proxy's metrics: {0}")]
    Metrics(#[from] gecko::metrics::MetricsError),
    /// A system call the proxy needs failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Accepts the connections this node serves on `server` and relays each
/// to the application behind `connector`, for ever (or until the server
/// socket closes). Runs on the caller's tokio runtime, one task per
/// connection.
pub async fn serve(
    server: GeckoServerSocket,
    connector: AppConnector,
    metrics: ProxyMetrics,
) -> Result<(), ProxyError> {
    let ctx = Arc::new(Context {
        connector,
        metrics,
        pipes: PipePool::new(PIPE_BYTES, IDLE_PIPES),
        app_down: AtomicBool::new(false),
    });
    loop {
        let socket = server.accept_async().await?;
        let ctx = ctx.clone();
        tokio::spawn(async move { serve_one(socket, &ctx).await });
    }
}

/// Empty pipes kept for reuse (two descriptors each): enough for the
/// directions that move bytes at once on a busy proxy, without holding
/// descriptors an idle one does not need.
const IDLE_PIPES: usize = 256;

/// What every relay of a proxy shares.
struct Context {
    connector: AppConnector,
    metrics: ProxyMetrics,
    pipes: PipePool,
    /// The last connection to the application failed: logged once per
    /// outage, not once per client (thousands a second under load).
    app_down: AtomicBool,
}

/// Relays one client connection to the application.
async fn serve_one(socket: GeckoSocket, ctx: &Context) {
    let (connector, metrics) = (&ctx.connector, &ctx.metrics);
    let peer = socket.peer_addr().ok();
    if socket.recovered().is_some() {
        // Its application state died with the crashed node's application.
        tracing::info!(
            ?peer,
            "recovered connection: the application cannot resume it; reset"
        );
        metrics.reset(ResetReason::Recovered);
        return socket.reset();
    }
    // The proxy closes and resets its clients' connections on purpose: let
    // those pass the node fence, which otherwise keeps a dead process's
    // FIN or reset away from clients (for recovery, which a relayed
    // connection cannot have).
    gecko::dataplane::node_fence::mark_closing(socket.as_fd());
    let app = match connector.connect().await {
        Ok(app) => {
            if ctx.app_down.swap(false, Ordering::Relaxed) {
                tracing::info!("the application answers again");
            }
            app
        }
        Err(e) => {
            if ctx.app_down.swap(true, Ordering::Relaxed) {
                tracing::debug!(?peer, error = %e, "the application is unreachable; reset");
            } else {
                tracing::warn!(?peer, error = %e, "the application is unreachable: resetting its clients until it answers");
            }
            metrics.app_connect_failures.inc();
            metrics.reset(ResetReason::AppUnreachable);
            return socket.reset();
        }
    };
    metrics.app_connections.inc();
    let client = match prepare(socket) {
        Ok(c) => c,
        Err((socket, e)) => {
            tracing::warn!(?peer, error = %e, "cannot relay; reset");
            metrics.reset(ResetReason::RelayError);
            reset_app(&app);
            return socket.reset();
        }
    };
    let app = match relay::register(app) {
        Ok(a) => a,
        Err((_, e)) => {
            tracing::warn!(?peer, error = %e, "cannot relay; reset");
            metrics.reset(ResetReason::RelayError);
            return client.into_inner().reset();
        }
    };
    metrics.open.inc();
    let app_addr = connector.addr();
    // The application's end of a connection is passed on as a FIN only
    // while it still listens: a dead application's clients get a reset.
    let app_died = move || !app_listener::listening(app_addr).unwrap_or(true);
    let outcome = relay::relay(&client, &app, &metrics.relayed, &ctx.pipes, &app_died).await;
    metrics.open.dec();
    match outcome {
        Ok(()) => tracing::debug!(?peer, "connection relayed to its end"),
        Err(relay::RelayError::AppDied) => {
            tracing::info!(?peer, "the application died mid-connection; reset");
            metrics.reset(ResetReason::AppDied);
            acked_or_late(&client).await;
            client.into_inner().reset();
        }
        Err(e) => {
            tracing::debug!(?peer, error = %e, "relay failed; the other side is reset");
            metrics.reset(ResetReason::RelayError);
            reset_app(app.get_ref());
            if e.side() == Some(relay::Side::App) {
                acked_or_late(&client).await;
            }
            client.into_inner().reset();
        }
    }
}

/// Waits (at most [`RESET_WAIT`]) until the client has acknowledged all
/// that was sent to it. A reset is taken only at the client's exact
/// `rcv_nxt` (RFC 5961); one sent with bytes still in flight may land
/// inside the window instead, and the node fence drops the kernel's
/// answer to the client's challenge ACK, so the client would hang.
async fn acked_or_late(client: &AsyncFd<GeckoSocket>) {
    let deadline = tokio::time::Instant::now() + RESET_WAIT;
    while tokio::time::Instant::now() < deadline {
        match gecko::tcp::info::queued(client.get_ref().as_fd()) {
            Ok((0, _)) | Err(_) => return,
            Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// How long a reset waits for the client to acknowledge what it was sent.
const RESET_WAIT: Duration = Duration::from_secs(2);

/// The client's socket, non-blocking, Nagle off, registered with the
/// runtime; on failure the socket comes back to be reset.
fn prepare(socket: GeckoSocket) -> Result<AsyncFd<GeckoSocket>, (GeckoSocket, std::io::Error)> {
    if let Err(e) = socket.set_nonblocking(true) {
        return Err((socket, e));
    }
    if let Err(e) = socket2::SockRef::from(&socket).set_tcp_nodelay(true) {
        return Err((socket, e));
    }
    relay::register(socket)
}

/// Arms a reset on the application's connection: it goes out when the
/// socket closes.
fn reset_app(app: &std::net::TcpStream) {
    if let Err(e) = socket2::SockRef::from(app).set_linger(Some(Duration::ZERO)) {
        tracing::debug!(error = %e, "cannot arm a reset toward the application");
    }
}
