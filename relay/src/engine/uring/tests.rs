//! Ring-thread tests over real loopback sockets: data both ways, half-close, a slow reader on
//! one direction, idle timeout, cancellation and the byte-rate limit.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::{UringConfig, UringEnd, UringEngine, UringJob};
use crate::engine::ForwardLimits;
use crate::limiter::TokenBucket;
use std::sync::Arc;

/// A connected pair: (the end the relay forwards, the end the test plays the client with).
fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (server, _) = l.accept().unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (server, client)
}

fn engine() -> UringEngine {
    UringEngine::start(UringConfig {
        threads: 2,
        ..UringConfig::default()
    })
    .unwrap_or_else(|e| panic!("the uring engine must start on this machine: {e}"))
}

fn job(a: TcpStream, b: TcpStream) -> UringJob {
    UringJob {
        sockets: [a, b],
        leftovers: [Bytes::new(), Bytes::new()],
        limits: ForwardLimits::unlimited(),
        counters: None,
        idle_timeout: None,
        cancel: CancellationToken::new(),
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_both_ways_with_leftovers_and_half_close() {
    let engine = engine();
    let (a, mut ca) = tcp_pair();
    let (b, mut cb) = tcp_pair();
    let mut j = job(a, b);
    j.leftovers = [
        Bytes::from_static(b"from-a:"),
        Bytes::from_static(b"from-b:"),
    ];
    let run = tokio::spawn(async move { engine.forward(j).await });
    let up = pattern(3 << 20, 1);
    let down = pattern(2 << 20, 7);
    let (up2, down2) = (up.clone(), down.clone());
    let t = std::thread::spawn(move || {
        // A writes everything, half-closes, then reads B's data to the end.
        let mut ca2 = ca.try_clone().unwrap();
        let w = std::thread::spawn(move || {
            ca2.write_all(&up2).unwrap();
            ca2.shutdown(Shutdown::Write).unwrap();
        });
        let mut got = Vec::new();
        ca.read_to_end(&mut got).unwrap();
        w.join().unwrap();
        got
    });
    let mut cb2 = cb.try_clone().unwrap();
    let w = std::thread::spawn(move || {
        cb2.write_all(&down2).unwrap();
        cb2.shutdown(Shutdown::Write).unwrap();
    });
    let got_b = tokio::task::spawn_blocking(move || {
        let mut got = Vec::new();
        cb.read_to_end(&mut got).unwrap();
        got
    })
    .await
    .unwrap();
    w.join().unwrap();
    let got_a = t.join().unwrap();
    assert_eq!(&got_b[..7], b"from-a:");
    assert!(got_b[7..] == up[..], "A→B bytes differ");
    assert_eq!(&got_a[..7], b"from-b:");
    assert!(got_a[7..] == down[..], "B→A bytes differ");
    let outcome = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.end, UringEnd::Closed);
    assert_eq!(outcome.bytes, [up.len() as u64 + 7, down.len() as u64 + 7]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_does_not_stall_the_other_direction() {
    let engine = engine();
    let (a, mut ca) = tcp_pair();
    let (b, mut cb) = tcp_pair();
    let run = tokio::spawn(async move { engine.forward(job(a, b)).await });
    // A floods B, but B never reads: only A→B is stuck.
    let mut flood = ca.try_clone().unwrap();
    flood.set_nonblocking(true).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut pushed = 0usize;
    for _ in 0..2000 {
        match flood.write(&chunk) {
            Ok(n) => pushed += n,
            Err(_) => tokio::time::sleep(Duration::from_millis(2)).await,
        }
        if pushed > 48 << 20 {
            break;
        }
    }
    // The clone shares the file description: back to blocking reads for `ca`.
    flood.set_nonblocking(false).unwrap();
    assert!(
        pushed > 1 << 20,
        "the flood should have filled the A→B path"
    );
    // B→A still flows, many round trips.
    for i in 0..200u32 {
        cb.write_all(&i.to_be_bytes()).unwrap();
        let mut got = [0u8; 4];
        ca.read_exact(&mut got).unwrap();
        assert_eq!(u32::from_be_bytes(got), i);
    }
    drop((ca, cb, flood));
    let outcome = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .unwrap()
        .unwrap();
    assert!(
        outcome.bytes[1] == 800,
        "B→A delivered {}",
        outcome.bytes[1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_and_cancel_end_the_session() {
    let engine = Arc::new(engine());
    let (a, mut ca) = tcp_pair();
    let (b, _cb) = tcp_pair();
    let mut j = job(a, b);
    j.idle_timeout = Some(Duration::from_millis(300));
    let e2 = engine.clone();
    let outcome = tokio::time::timeout(Duration::from_secs(5), e2.forward(j))
        .await
        .unwrap();
    assert_eq!(outcome.end, UringEnd::IdleTimeout);
    let mut buf = [0u8; 1];
    assert_eq!(ca.read(&mut buf).unwrap(), 0, "client sees the close");

    let (a, _ca) = tcp_pair();
    let (b, _cb) = tcp_pair();
    let j = job(a, b);
    let token = j.cancel.clone();
    let run = tokio::spawn(async move { engine.forward(j).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    token.cancel();
    let outcome = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.end, UringEnd::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_rate_limit_paces_the_session() {
    let engine = engine();
    let (a, mut ca) = tcp_pair();
    let (b, mut cb) = tcp_pair();
    let mut j = job(a, b);
    j.limits.session = Some(Arc::new(TokenBucket::new(
        200_000,
        tokio::time::Instant::now(),
    )));
    let run = tokio::spawn(async move { engine.forward(j).await });
    let data = pattern(200_000, 3);
    let start = tokio::time::Instant::now();
    let w = std::thread::spawn(move || {
        ca.write_all(&data).unwrap();
        ca.shutdown(Shutdown::Write).unwrap();
        ca
    });
    let got = tokio::task::spawn_blocking(move || {
        let mut got = Vec::new();
        cb.read_to_end(&mut got).unwrap();
        got
    })
    .await
    .unwrap();
    let elapsed = start.elapsed();
    drop(w.join().unwrap());
    assert_eq!(got.len(), 200_000);
    // 200 kB at 200 kB/s with a 20 kB burst cannot take much less than 0.9 s.
    assert!(
        elapsed >= Duration::from_millis(800),
        "took only {elapsed:?}"
    );
    let outcome = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.bytes[0], 200_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_by_one_side_closes_the_other() {
    let engine = engine();
    let (a, ca) = tcp_pair();
    let (b, mut cb) = tcp_pair();
    let run = tokio::spawn(async move { engine.forward(job(a, b)).await });
    socket2::SockRef::from(&ca)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(ca);
    let mut buf = [0u8; 16];
    let n = cb.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the other side is closed");
    let outcome = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(outcome.end, UringEnd::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_sessions_share_one_pool() {
    let engine = Arc::new(
        UringEngine::start(UringConfig {
            threads: 1,
            buffers: 16,
            buffer_size: 4096,
            high_water: 16 * 1024,
            low_water: 4096,
            ..UringConfig::default()
        })
        .unwrap(),
    );
    let mut runs = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..50 {
        let (a, ca) = tcp_pair();
        let (b, cb) = tcp_pair();
        let e = engine.clone();
        runs.push(tokio::spawn(async move { e.forward(job(a, b)).await }));
        clients.push((ca, cb));
    }
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, (mut ca, mut cb))| {
            std::thread::spawn(move || {
                let data = pattern(256 * 1024, i as u8);
                let d2 = data.clone();
                let w = std::thread::spawn(move || {
                    ca.write_all(&d2).unwrap();
                    ca.shutdown(Shutdown::Write).unwrap();
                    ca
                });
                let mut got = Vec::new();
                cb.read_to_end(&mut got).unwrap_or(0);
                drop(w.join().unwrap());
                got == data
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap(), "a session lost or reordered bytes");
    }
    for r in runs {
        let o = tokio::time::timeout(Duration::from_secs(10), r)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(o.bytes[0], 256 * 1024);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_copy_sends_deliver_the_same_bytes() {
    let engine = UringEngine::start(UringConfig {
        threads: 1,
        zero_copy_threshold: Some(4096),
        ..UringConfig::default()
    })
    .unwrap();
    let (a, mut ca) = tcp_pair();
    let (b, mut cb) = tcp_pair();
    let run = tokio::spawn(async move { engine.forward(job(a, b)).await });
    let data = pattern(8 << 20, 9);
    let d2 = data.clone();
    let w = std::thread::spawn(move || {
        ca.write_all(&d2).unwrap();
        ca.shutdown(Shutdown::Write).unwrap();
        ca
    });
    let got = tokio::task::spawn_blocking(move || {
        let mut got = Vec::new();
        cb.read_to_end(&mut got).unwrap();
        (got, cb)
    })
    .await
    .unwrap();
    let ca = w.join().unwrap();
    assert!(got.0 == data, "zero-copy path changed the bytes");
    drop((ca, got.1));
    let outcome = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.bytes[0], 8 << 20);
}
