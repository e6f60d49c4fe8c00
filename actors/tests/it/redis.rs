//! The key flows again with the directory on a private Redis.

use switchboard_actors::HostState;
use switchboard_codec::ErrorCode;

use crate::support::World;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_flow_and_refusal_on_redis() {
    let w = World::redis().await;
    crate::sessions::permanent_flow(&w).await;
    let (_p, _prx) = w.connect(w.server2, HostState::default()).await;
    let (guest, _rx) = w.guest(w.carol);
    assert_eq!(
        w.hub
            .request_session(w.request(&guest, w.server2))
            .await
            .unwrap_err()
            .code(),
        ErrorCode::OutsideSchedule
    );
    w.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_presence_is_shared_ttld_and_owned() {
    use std::time::Duration;
    use switchboard_actors::{PresenceEntry, PresenceStore, RedisPresence};
    use switchboard_codec::{DeviceId, TenantId};

    let server = switchboard_tests::RedisServer::start()
        .expect("redis-server must be installed (apt-get install redis-server)");
    let op = Duration::from_secs(2);
    let a = RedisPresence::connect(&server.url(), "sb", "broker-a", op)
        .await
        .unwrap();
    let b = RedisPresence::connect(&server.url(), "sb", "broker-b", op)
        .await
        .unwrap();
    let (t, d) = (TenantId([1; 16]), DeviceId([2; 16]));
    let long = Duration::from_secs(60);
    let on_a = PresenceEntry {
        node: "broker-a".into(),
        conn: 1,
    };
    a.mark_online(t, d, on_a.clone(), long).await;
    assert_eq!(
        b.lookup(t, d).await,
        Some(on_a.clone()),
        "another broker sees it"
    );
    a.mark_offline(t, d, 2).await;
    assert_eq!(
        b.lookup(t, d).await,
        Some(on_a),
        "another connection cannot clear it"
    );
    // The Host reconnects to broker b; a's late cleanup must not clear b's entry.
    let on_b = PresenceEntry {
        node: "broker-b".into(),
        conn: 7,
    };
    b.mark_online(t, d, on_b.clone(), long).await;
    a.mark_offline(t, d, 1).await;
    assert_eq!(a.lookup(t, d).await, Some(on_b));
    b.mark_offline(t, d, 7).await;
    assert_eq!(a.lookup(t, d).await, None);
    // A broker that dies stops refreshing: the entry expires.
    b.mark_online(
        t,
        d,
        PresenceEntry {
            node: "broker-b".into(),
            conn: 8,
        },
        Duration::from_millis(100),
    )
    .await;
    let mut gone = false;
    for _ in 0..250 {
        if a.lookup(t, d).await.is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "the TTL'd entry expired");
}
