//! Several broker nodes on one Redis: the shared relay registry (expiry, least-loaded pick,
//! deregistration), offers routed to a device held by another node (and back), a node that
//! does not answer or a Host that goes away (`device_offline`), a terminate from the node that
//! does not own the session, and presence across nodes (expiry when a node dies, a reconnect
//! to another node replacing the entry).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use switchboard_actors::presence::PresenceFuture;
use switchboard_actors::{
    ActorConfig, DeviceConnection, DeviceRef, DirectoryAudit, HostState, Hub, HubDeps,
    InMemoryRelays, PresenceEntry, PresenceStore, RedisNodeBus, RedisPresence, RedisRelays,
    RegistryTiming, RelayAnnouncer, RelayInfo, RelayRecord, RelayRegistry, SessionEvent,
};
use switchboard_codec::{
    ControlMessage, DeviceId, ErrorCode, RelayId, SessionTicket, Side, TenantId, TicketSigner,
};
use tokio::sync::mpsc;

use crate::support::{World, config, recv};

const NS: &str = "sb";
const OP: Duration = Duration::from_secs(2);

fn relay(id: u64, region: &str, capacity: u32) -> RelayInfo {
    RelayInfo {
        id: RelayId(id),
        addr: format!("127.0.0.1:{}", 7000 + id),
        quic_addr: Some(format!("127.0.0.1:{}", 8000 + id)),
        region: region.into(),
        capacity,
        node: format!("relay-{id}"),
    }
}

async fn registry(url: &str) -> Arc<RedisRelays> {
    // A long refresh period: the test refreshes by hand.
    let timing = RegistryTiming {
        refresh: Duration::from_secs(3600),
        op_timeout: OP,
    };
    RedisRelays::start(url, NS, timing).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_registry_picks_least_loaded_live_relays_and_forgets_expired_ones() {
    let server = switchboard_tests::RedisServer::start().expect("redis-server");
    let url = server.url();
    let relays = RelayAnnouncer::connect(&url, NS, OP).await.unwrap();
    let long = Duration::from_secs(60);
    relays.announce(&relay(1, "eu", 10), 5, long).await.unwrap();
    relays.announce(&relay(2, "eu", 10), 1, long).await.unwrap();
    relays.announce(&relay(3, "us", 10), 0, long).await.unwrap();
    let a = registry(&url).await;
    let b = registry(&url).await;
    assert_eq!(a.live_count(), 3);
    // Least loaded in the region, then this broker's own picks count between refreshes.
    let picks: Vec<RelayId> = (0..6).map(|_| a.acquire(Some("eu")).unwrap().id).collect();
    assert_eq!(&picks[..4], &[RelayId(2); 4], "{picks:?}");
    assert!(picks[4..].contains(&RelayId(1)), "spread: {picks:?}");
    let c = a.acquire(Some("eu")).unwrap();
    assert_eq!(
        c.addr,
        format!("127.0.0.1:{}", 7000 + c.id.0),
        "the address clients dial"
    );
    assert_eq!(b.acquire(None).unwrap().id, RelayId(3), "any region");
    // A full region falls back to another one.
    relays.announce(&relay(1, "eu", 5), 5, long).await.unwrap();
    relays.announce(&relay(2, "eu", 5), 5, long).await.unwrap();
    b.refresh().await.unwrap();
    assert_eq!(b.acquire(Some("eu")).unwrap().id, RelayId(3));

    // Deregistered (drain): gone at the next refresh of every broker.
    relays.withdraw(RelayId(3)).await.unwrap();
    a.refresh().await.unwrap();
    assert_eq!(a.live_count(), 2);
    assert!(a.acquire(Some("us")).is_none_or(|c| c.id != RelayId(3)));

    // A relay that stops heartbeating (killed) is never picked after its TTL, even by a
    // cache that was not refreshed since; a refresh prunes it from the set.
    let short = Duration::from_millis(400);
    relays
        .announce(&relay(4, "ap", 10), 0, short)
        .await
        .unwrap();
    b.refresh().await.unwrap();
    assert_eq!(b.acquire(Some("ap")).unwrap().id, RelayId(4));
    tokio::time::sleep(Duration::from_millis(600)).await;
    for _ in 0..20 {
        assert_ne!(b.acquire(Some("ap")).map(|c| c.id), Some(RelayId(4)));
    }
    b.refresh().await.unwrap();
    assert_eq!(b.live_count(), 2);
    assert_eq!(
        b.take_vanished(),
        vec![RelayId(4)],
        "expired, unlike the withdrawn relay 3"
    );
    assert!(b.take_vanished().is_empty());
    let mut c = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let members: Vec<u64> = redis::cmd("SMEMBERS")
        .arg("sb:relays")
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(
        !members.contains(&4) && !members.contains(&3),
        "{members:?}"
    );

    // The trait's register/heartbeat/deregister write through (what `serve` uses for its
    // in-process relay).
    a.register(relay(9, "eu", 0), long);
    let mut seen = false;
    for _ in 0..100 {
        b.refresh().await.unwrap();
        if b.live_count() == 3 {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen, "a registered relay is seen by the other broker");
    assert!(a.heartbeat(RelayId(9), 0, long));
    assert!(!a.heartbeat(RelayId(77), 0, long), "not ours");
    a.deregister(RelayId(9));
    let mut gone = false;
    for _ in 0..100 {
        b.refresh().await.unwrap();
        if b.live_count() == 2 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "a deregistered relay disappears");
}

/// A presence store that stops doing anything once its node "dies" (as a crashed broker).
#[derive(Debug)]
struct Mortal {
    inner: RedisPresence,
    dead: AtomicBool,
}

impl PresenceStore for Mortal {
    fn mark_online<'a>(
        &'a self,
        tenant: TenantId,
        device: DeviceId,
        entry: PresenceEntry,
        ttl: Duration,
    ) -> PresenceFuture<'a, ()> {
        if self.dead.load(Ordering::Relaxed) {
            return Box::pin(async {});
        }
        self.inner.mark_online(tenant, device, entry, ttl)
    }
    fn mark_offline(
        &self,
        tenant: TenantId,
        device: DeviceId,
        conn: u64,
    ) -> PresenceFuture<'_, ()> {
        if self.dead.load(Ordering::Relaxed) {
            return Box::pin(async {});
        }
        self.inner.mark_offline(tenant, device, conn)
    }
    fn lookup(
        &self,
        tenant: TenantId,
        device: DeviceId,
    ) -> PresenceFuture<'_, Option<PresenceEntry>> {
        self.inner.lookup(tenant, device)
    }
}

struct Node {
    hub: Hub,
    presence: Arc<Mortal>,
}

/// A broker node `name` on the world's directory and Redis, joined to the node bus.
async fn node(w: &World, name: &str, cfg: ActorConfig) -> Node {
    let url = w.redis_url().expect("a Redis world");
    let presence = Arc::new(Mortal {
        inner: RedisPresence::connect(&url, NS, name, OP).await.unwrap(),
        dead: AtomicBool::new(false),
    });
    let relays = Arc::new(InMemoryRelays::new());
    relays.register(relay(1, "eu", 0), Duration::from_secs(3600));
    let hub = Hub::start(HubDeps {
        directory: w.dir.clone(),
        signer: TicketSigner::new(1, [9; 32]),
        relays: relays as Arc<dyn RelayRegistry>,
        presence: Arc::clone(&presence) as _,
        audit: Arc::new(DirectoryAudit::new(w.dir.clone())),
        config: ActorConfig {
            node: name.into(),
            ..cfg
        },
    })
    .await
    .unwrap();
    let (bus, inbound) = RedisNodeBus::start(&url, NS, name, OP).await.unwrap();
    hub.join_cluster(bus, inbound);
    Node { hub, presence }
}

async fn host_on(
    n: &Node,
    w: &World,
    device: DeviceId,
) -> (DeviceRef, mpsc::Receiver<ControlMessage>) {
    let (tx, rx) = mpsc::channel(64);
    let r = n
        .hub
        .connect_device(DeviceConnection {
            tenant: w.tenant,
            device,
            tx,
            host_state: HostState::default(),
        })
        .await
        .unwrap();
    (r, rx)
}

fn short(cfg: ActorConfig) -> ActorConfig {
    ActorConfig {
        remote_answer_timeout: Duration::from_millis(500),
        presence_ttl: Duration::from_millis(600),
        ..cfg
    }
}

/// The Guest on node A asks for a device connected to node B: the offer, the Host's answer,
/// the relay assignment and the relay's reports travel between the nodes; A owns the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offer_to_a_device_on_another_node_and_back() {
    let w = World::redis().await;
    let a = node(&w, "node-a", short(config())).await;
    let b = node(&w, "node-b", short(config())).await;
    let (_dev, mut host) = host_on(&b, &w, w.server).await;
    assert!(a.hub.device_online(w.tenant, w.server).await);

    let (guest, mut grx) = w.guest(w.bob);
    let started = tokio::time::Instant::now();
    let sid = a
        .hub
        .request_session(w.request(&guest, w.server))
        .await
        .unwrap();
    let ControlMessage::SessionCreated { session_id, .. } = recv(&mut grx).await else {
        panic!("SessionCreated")
    };
    assert_eq!(session_id, sid);
    let ControlMessage::SessionOffer { session_id, .. } = recv(&mut host).await else {
        panic!("the Host on node B gets the offer")
    };
    let routed = started.elapsed();
    eprintln!("offer routing A->B (request to offer at the Host): {routed:?}");
    assert_eq!(session_id, sid);
    assert_eq!(a.hub.session_count(), 1, "A owns the session");
    assert_eq!(b.hub.session_count(), 0, "B only routes");
    assert_eq!(b.hub.remote_host_sessions(), 1);

    // The Host answers on node B; B routes it to A.
    assert_eq!(b.hub.side_of(sid, Some(w.server), None), Some(Side::Host));
    assert_eq!(
        b.hub.side_of(sid, Some(w.server2), None),
        None,
        "another device"
    );
    assert!(b.hub.session_event(sid, SessionEvent::HostAccepted));
    let now_ms = u64::try_from(w.dir.now().as_millisecond()).unwrap();
    for (rx, side) in [(&mut host, Side::Host), (&mut grx, Side::Guest)] {
        let ControlMessage::RelayAssignment {
            ticket, relay_addr, ..
        } = recv(rx).await
        else {
            panic!("RelayAssignment")
        };
        assert_eq!(relay_addr, "127.0.0.1:7001");
        let t: SessionTicket = w
            .verifier
            .verify(&ticket, RelayId(1), side, now_ms)
            .unwrap();
        assert_eq!(t.session_id, sid);
    }

    // The relay carrying it reports to whichever node it is attached to: B forwards to A.
    for side in [Side::Host, Side::Guest] {
        assert!(b.hub.relay_event(sid, SessionEvent::RelayBound { side }));
    }
    let record = RelayRecord {
        bytes: 10,
        duration: Duration::from_millis(5),
        reason: ErrorCode::PeerClosed,
    };
    // From a node that knows nothing of the session (a separate relay's broadcast).
    let c = node(&w, "node-c", short(config())).await;
    assert!(c.hub.relay_event(sid, SessionEvent::RelayRecord(record)));
    crate::support::eventually_async("the session ends on A", || async {
        a.hub.session_count() == 0 && b.hub.remote_host_sessions() == 0
    })
    .await;
    let audit = w.audit(Some(sid)).await;
    assert!(
        audit.iter().any(|r| r.what.contains("both sides bound")),
        "active on A: {audit:?}"
    );
    assert!(
        audit.iter().any(|r| r.what.contains("10 bytes")),
        "the record joined the audit: {audit:?}"
    );
    // A late report about it reaching the node where it ended goes nowhere (no broadcast);
    // on a node that never had it, it is still sent on (it may live elsewhere).
    let late = SessionEvent::RelayRecord(record);
    assert!(!a.hub.relay_event(sid, late.clone()), "ended on A");
    assert!(c.hub.relay_event(sid, late));
    for n in [a, b, c] {
        n.hub.shutdown().await;
    }
}

/// `device_offline` when the node presence names does not answer in time, when the Host
/// goes away on its node before answering, and after its node died (presence expired).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_offline_when_the_other_node_is_silent_or_the_host_left() {
    let w = World::redis().await;
    let a = node(&w, "node-a", short(config())).await;
    let b = node(&w, "node-b", short(config())).await;
    let (guest, mut grx) = w.guest(w.bob);

    // Presence names a node that is not there.
    let ghost = RedisPresence::connect(&w.redis_url().unwrap(), NS, "ghost", OP)
        .await
        .unwrap();
    let entry = PresenceEntry {
        node: "ghost".into(),
        conn: 1,
    };
    ghost
        .mark_online(w.tenant, w.server, entry, Duration::from_secs(60))
        .await;
    let started = tokio::time::Instant::now();
    let e = a
        .hub
        .request_session(w.request(&guest, w.server))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::DeviceOffline);
    assert!(started.elapsed() >= Duration::from_millis(450), "it waited");
    assert!(matches!(
        recv(&mut grx).await,
        ControlMessage::SessionDenied {
            code: ErrorCode::DeviceOffline,
            ..
        }
    ));

    // The Host is on B, gets the offer, then disconnects: A ends the session.
    let (dev, mut host) = host_on(&b, &w, w.server).await;
    let sid = a
        .hub
        .request_session(w.request(&guest, w.server))
        .await
        .unwrap();
    assert!(matches!(
        recv(&mut grx).await,
        ControlMessage::SessionCreated { .. }
    ));
    assert!(matches!(
        recv(&mut host).await,
        ControlMessage::SessionOffer { .. }
    ));
    dev.connection_closed();
    assert!(
        matches!(
            recv(&mut grx).await,
            ControlMessage::SessionCancel { session_id, code: ErrorCode::DeviceOffline } if session_id == sid
        ),
        "the Guest on A is told the Host left"
    );
    crate::support::eventually_async("A forgot it", || async { a.hub.session_count() == 0 }).await;

    // B dies with the Host connected: its presence entry expires, A says device_offline
    // (without waiting for a probe once the entry is gone).
    let (_dev2, _host2) = host_on(&b, &w, w.server).await;
    assert!(a.hub.device_online(w.tenant, w.server).await);
    b.presence.dead.store(true, Ordering::Relaxed);
    crate::support::eventually_async("the dead node's entry expired", || async {
        !a.hub.device_online(w.tenant, w.server).await
    })
    .await;
    let e = a
        .hub
        .request_session(w.request(&guest, w.server))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::DeviceOffline);
    a.hub.shutdown().await;
    b.hub.shutdown().await;
}

/// A Host that reconnects to another node replaces its presence entry there; the old node's
/// late cleanup does not clear it, and sessions are offered on the new node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_to_another_node_replaces_the_presence_entry() {
    let w = World::redis().await;
    let a = node(&w, "node-a", short(config())).await;
    let b = node(&w, "node-b", short(config())).await;
    let c = node(&w, "node-c", short(config())).await;
    let look = || async { a.presence.lookup(w.tenant, w.server).await.map(|e| e.node) };
    let (old, _old_rx) = host_on(&b, &w, w.server).await;
    assert_eq!(look().await.as_deref(), Some("node-b"));
    let (_new, mut new_rx) = host_on(&c, &w, w.server).await;
    assert_eq!(look().await.as_deref(), Some("node-c"));
    old.connection_closed();
    assert!(old.wait_stopped(Duration::from_secs(5)).await);
    assert_eq!(
        look().await.as_deref(),
        Some("node-c"),
        "the old node's cleanup leaves the new entry"
    );
    // Still there after a few refresh periods of the new node.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(look().await.as_deref(), Some("node-c"));
    let (guest, mut grx) = w.guest(w.bob);
    let sid = a
        .hub
        .request_session(w.request(&guest, w.server))
        .await
        .unwrap();
    assert!(matches!(
        recv(&mut grx).await,
        ControlMessage::SessionCreated { .. }
    ));
    assert!(
        matches!(recv(&mut new_rx).await, ControlMessage::SessionOffer { session_id, .. } if session_id == sid),
        "offered on the node the Host reconnected to"
    );
    for n in [a, b, c] {
        n.hub.shutdown().await;
    }
}

/// An administrator on the Host's node (which does not own the session) terminates it: the
/// owner ends it for both sides; an unknown session is not found after a bounded wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_from_the_node_that_does_not_own_the_session() {
    let w = World::redis().await;
    let a = node(&w, "node-a", short(config())).await;
    let b = node(&w, "node-b", short(config())).await;
    let (_dev, mut host) = host_on(&b, &w, w.server).await;
    let (guest, mut grx) = w.guest(w.bob);
    let sid = a
        .hub
        .request_session(w.request(&guest, w.server))
        .await
        .unwrap();
    assert!(matches!(
        recv(&mut grx).await,
        ControlMessage::SessionCreated { .. }
    ));
    assert!(matches!(
        recv(&mut host).await,
        ControlMessage::SessionOffer { .. }
    ));
    assert!(
        !b.hub.terminate_anywhere(TenantId([0xee; 16]), sid).await,
        "another tenant"
    );
    assert!(b.hub.terminate_anywhere(w.tenant, sid).await);
    for rx in [&mut grx, &mut host] {
        assert!(matches!(
            recv(rx).await,
            ControlMessage::SessionCancel { session_id, code: ErrorCode::Cancelled } if session_id == sid
        ));
    }
    crate::support::eventually_async("over on both nodes", || async {
        a.hub.session_count() == 0 && b.hub.remote_host_sessions() == 0
    })
    .await;
    assert!(!b.hub.terminate_anywhere(w.tenant, sid).await, "gone");
    a.hub.shutdown().await;
    b.hub.shutdown().await;
}
