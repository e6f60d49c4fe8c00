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
