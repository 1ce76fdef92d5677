//! The relay between real loopback TCP connections: a "client" pair and an
//! "app" pair, the relay joining the two proxy-side sockets.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use super::*;
use crate::pipe::PipePool;
use gecko::metrics::Metrics;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A connected pair over loopback: (the user's end, the proxy's end).
fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let user = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
    let (proxy, _) = l.accept().expect("accept");
    proxy.set_nonblocking(true).expect("nonblocking");
    (user, proxy)
}

fn counters() -> RelayCounters {
    let m = Metrics::new();
    RelayCounters {
        to_app: m.counter("gecko_t_up", "t", &[]).expect("counter"),
        to_client: m.counter("gecko_t_down", "t", &[]).expect("counter"),
    }
}

/// Runs `fut` on a single-threaded runtime of a thread of its own (as a
/// proxy's relays share one), returning its output through the handle.
fn on_runtime_thread<T: Send + 'static>(
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(fut)
    })
}

/// Relays between the two proxy ends; the outcome comes through the
/// join handle.
fn spawn_relay(
    client: TcpStream,
    app: TcpStream,
    counters: RelayCounters,
) -> std::thread::JoinHandle<Result<(), RelayError>> {
    spawn_relay_judging(client, app, counters, false)
}

/// As [`spawn_relay`], the application's end judged its death or not.
fn spawn_relay_judging(
    client: TcpStream,
    app: TcpStream,
    counters: RelayCounters,
    app_died: bool,
) -> std::thread::JoinHandle<Result<(), RelayError>> {
    on_runtime_thread(async move {
        let c = register(client).map_err(|(_, e)| e).expect("register");
        let a = register(app).map_err(|(_, e)| e).expect("register");
        let pipes = PipePool::new(crate::pipe::PIPE_BYTES, 4);
        relay(&c, &a, &counters, &pipes, &move || app_died).await
    })
}

#[test]
fn a_dead_applications_end_is_not_passed_on() {
    let (mut client, client_proxy) = pair();
    let (mut app, app_proxy) = pair();
    let relay = spawn_relay_judging(client_proxy, app_proxy, counters(), true);
    app.write_all(b"part of an answer").expect("write");
    app.shutdown(Shutdown::Write).expect("shutdown");
    let outcome = relay.join().expect("relay thread");
    assert!(matches!(outcome, Err(RelayError::AppDied)), "{outcome:?}");
    // The bytes before the end went through (the caller then resets the
    // client instead of passing the end on).
    let mut got = [0u8; 17];
    client.read_exact(&mut got).expect("the answer's part");
    assert_eq!(&got, b"part of an answer");
    drop(app);
}

/// Writes `len` random bytes (in 1 MB chunks), then shuts the write half;
/// returns their SHA-256.
fn send_random(mut s: TcpStream, len: usize) -> std::thread::JoinHandle<[u8; 32]> {
    std::thread::spawn(move || {
        let mut hash = Sha256::new();
        let mut chunk = vec![0u8; 1 << 20];
        let mut left = len;
        while left > 0 {
            let n = left.min(chunk.len());
            rand::thread_rng().fill_bytes(&mut chunk[..n]);
            s.write_all(&chunk[..n]).expect("send");
            hash.update(&chunk[..n]);
            left -= n;
        }
        s.shutdown(Shutdown::Write).expect("shutdown");
        hash.finalize().into()
    })
}

/// Reads to the end; returns (bytes, SHA-256).
fn read_all(s: &mut TcpStream) -> (usize, [u8; 32]) {
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0;
    loop {
        let n = s.read(&mut buf).expect("read");
        if n == 0 {
            return (total, hash.finalize().into());
        }
        hash.update(&buf[..n]);
        total += n;
    }
}

#[test]
fn big_transfers_both_ways_arrive_intact() {
    const LEN: usize = 64 << 20;
    let (client_user, client_proxy) = pair();
    let (app_user, app_proxy) = pair();
    let c = counters();
    let relay = spawn_relay(client_proxy, app_proxy, c.clone());
    let mut client_reader = client_user.try_clone().expect("clone");
    let mut app_reader = app_user.try_clone().expect("clone");
    let up = send_random(client_user, LEN);
    let down = send_random(app_user, LEN);
    let app_got = std::thread::spawn(move || read_all(&mut app_reader));
    let client_got = read_all(&mut client_reader);
    let app_got = app_got.join().expect("reader");
    assert_eq!(app_got, (LEN, up.join().expect("sender")), "client to app");
    assert_eq!(
        client_got,
        (LEN, down.join().expect("sender")),
        "app to client"
    );
    relay
        .join()
        .expect("relay thread")
        .expect("relay ends cleanly");
    assert_eq!(c.to_app.get(), LEN as u64);
    assert_eq!(c.to_client.get(), LEN as u64);
}

#[test]
fn half_close_is_passed_on_and_the_answer_still_flows() {
    let (mut client, client_proxy) = pair();
    let (mut app, app_proxy) = pair();
    let relay = spawn_relay(client_proxy, app_proxy, counters());
    client.write_all(b"request").expect("write");
    client.shutdown(Shutdown::Write).expect("shutdown");
    // The application sees the request, then the end of it...
    let mut req = Vec::new();
    app.read_to_end(&mut req).expect("app reads");
    assert_eq!(req, b"request");
    // ...and answers on its still-open half.
    app.write_all(b"answer after the client's FIN")
        .expect("write");
    app.shutdown(Shutdown::Write).expect("shutdown");
    let mut resp = Vec::new();
    client.read_to_end(&mut resp).expect("client reads");
    assert_eq!(resp, b"answer after the client's FIN");
    relay
        .join()
        .expect("relay thread")
        .expect("relay ends cleanly");
}

#[test]
fn a_slow_reader_holds_the_writer_back() {
    const LEN: usize = 128 << 20;
    let (client_user, client_proxy) = pair();
    let (mut app_user, app_proxy) = pair();
    let c = counters();
    let relay = spawn_relay(client_proxy, app_proxy, c.clone());
    let mut client_reader = client_user.try_clone().expect("clone");
    let up = send_random(client_user, LEN);
    // The application reads nothing for a while: the relay must stop
    // taking bytes once the socket buffers and its pipe are full.
    std::thread::sleep(Duration::from_millis(1500));
    let taken = c.to_app.get();
    assert!(
        taken < 48 << 20,
        "the relay took {taken} bytes toward a reader that reads nothing"
    );
    assert!(!up.is_finished(), "the writer is held back");
    let got = read_all(&mut app_user);
    assert_eq!(got, (LEN, up.join().expect("sender")));
    app_user.shutdown(Shutdown::Write).expect("shutdown");
    let mut rest = Vec::new();
    client_reader.read_to_end(&mut rest).expect("client end");
    assert!(rest.is_empty());
    relay
        .join()
        .expect("relay thread")
        .expect("relay ends cleanly");
}

#[test]
fn a_reset_by_the_application_ends_the_relay_as_its_side() {
    let (mut client, client_proxy) = pair();
    let (app, app_proxy) = pair();
    let relay = spawn_relay(client_proxy, app_proxy, counters());
    client.write_all(b"x").expect("write");
    // A reset from the application (SO_LINGER 0, then close).
    socket2::SockRef::from(&app)
        .set_linger(Some(Duration::ZERO))
        .expect("linger");
    drop(app);
    let err = relay
        .join()
        .expect("relay thread")
        .expect_err("the relay fails");
    assert_eq!(err.side(), Some(Side::App), "{err}");
}

#[test]
fn thousands_of_connections_share_one_thread_and_few_pipes() {
    let limit = crate::limits::raise_open_files().expect("open-file limit");
    // Four sockets per connection live in this process (both users' ends
    // too); leave room for the other tests running beside this one.
    let n = 2000.min((limit.saturating_sub(2000) / 4) as usize);
    assert!(n >= 200, "open-file limit {limit} too low for this test");
    let pairs: Vec<_> = (0..n).map(|_| (pair(), pair())).collect();
    let (mut users, proxies): (Vec<_>, Vec<_>) = pairs
        .into_iter()
        .map(|((cu, cp), (au, ap))| ((cu, au), (cp, ap)))
        .unzip();
    let c = counters();
    let keep = 16;
    let pool = std::sync::Arc::new(PipePool::new(crate::pipe::PIPE_BYTES, keep));
    let relays = {
        let (c, pool) = (c.clone(), pool.clone());
        on_runtime_thread(async move {
            let tasks: Vec<_> = proxies
                .into_iter()
                .map(|(cp, ap)| {
                    let (c, pool) = (c.clone(), pool.clone());
                    tokio::spawn(async move {
                        let cp = register(cp).map_err(|(_, e)| e).expect("register");
                        let ap = register(ap).map_err(|(_, e)| e).expect("register");
                        relay(&cp, &ap, &c, &pool, &|| false).await
                    })
                })
                .collect();
            let mut ok = 0;
            for t in tasks {
                if matches!(t.await, Ok(Ok(()))) {
                    ok += 1;
                }
            }
            ok
        })
    };
    // Every connection open at once: a request and its answer on each.
    for (i, (cu, au)) in users.iter_mut().enumerate() {
        cu.write_all(format!("request {i:05}").as_bytes())
            .expect("write");
        let mut req = [0u8; 13];
        au.read_exact(&mut req).expect("app reads");
        assert_eq!(req, *format!("request {i:05}").as_bytes());
        au.write_all(format!("answer {i:05}").as_bytes())
            .expect("write");
        let mut ans = [0u8; 12];
        cu.read_exact(&mut ans).expect("client reads");
        assert_eq!(ans, *format!("answer {i:05}").as_bytes());
    }
    assert!(pool.idle() <= keep, "idle pipes are bounded");
    for (cu, au) in &users {
        cu.shutdown(Shutdown::Write).expect("shutdown");
        au.shutdown(Shutdown::Write).expect("shutdown");
    }
    assert_eq!(
        relays.join().expect("relay thread"),
        n,
        "every relay ends cleanly"
    );
    assert_eq!(c.to_app.get(), 13 * n as u64);
    assert_eq!(c.to_client.get(), 12 * n as u64);
}
