//! Relay kill over Redis pub/sub, for relays running apart from the broker
//! (`switchboard relay` with a Redis record sink).
//!
//! Channel `switchboard:relay:<relay id>:kill`, one message per killed session:
//! `<session id hex> <error code name>` (e.g. `9f…e1 account_disabled`). The broker side,
//! [`RedisRelayKill`], is the hub's `RelayKill` hook: `kill` queues the message (bounded; a
//! full queue drops and counts it) and one task publishes. The relay side,
//! [`subscribe_kills`], subscribes to its own channel and calls back for every well-formed
//! message; it reconnects with backoff when Redis goes away. Pub/sub is fire-and-forget: a
//! relay that is disconnected at that moment misses the kill, and the session then ends
//! when its endpoints close (both were told `SessionCancel`).

use std::time::Duration;

use futures::StreamExt;
use redis::aio::ConnectionManager;
use switchboard_actors::RelayKill;
use switchboard_codec::{ErrorCode, RelayId, SessionId};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::BrokerError;

/// Kill messages queued for publishing at most.
pub const KILL_QUEUE: usize = 1024;
/// One publish may take this long.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);

/// The channel relay `relay` listens on.
pub fn kill_channel(relay: RelayId) -> String {
    format!("switchboard:relay:{}:kill", relay.0)
}

/// The message for one killed session.
pub fn kill_message(session: SessionId, reason: ErrorCode) -> String {
    format!("{session} {}", reason.name())
}

/// Parses a kill message; `None` when malformed.
pub fn parse_kill_message(msg: &str) -> Option<(SessionId, ErrorCode)> {
    let (sid, code) = msg.trim().split_once(' ')?;
    Some((sid.parse().ok()?, ErrorCode::from_name(code)?))
}

/// Publishes kills to relays over Redis.
#[derive(Debug, Clone)]
pub struct RedisRelayKill {
    tx: mpsc::Sender<(RelayId, SessionId, ErrorCode)>,
}

impl RedisRelayKill {
    /// Starts the publishing task (needs a tokio runtime); fails only on a malformed URL.
    pub fn start(url: &str) -> Result<Self, BrokerError> {
        let client =
            redis::Client::open(url).map_err(|e| BrokerError::Config(format!("redis: {e}")))?;
        let (tx, rx) = mpsc::channel(KILL_QUEUE);
        tokio::spawn(publish_loop(client, rx));
        Ok(Self { tx })
    }
}

impl RelayKill for RedisRelayKill {
    fn kill(&self, relay: RelayId, session: SessionId, reason: ErrorCode) {
        if self.tx.try_send((relay, session, reason)).is_err() {
            metrics::counter!(crate::metrics::KILLS_DROPPED_TOTAL).increment(1);
        }
    }
}

async fn publish_loop(
    client: redis::Client,
    mut rx: mpsc::Receiver<(RelayId, SessionId, ErrorCode)>,
) {
    let mut conn: Option<ConnectionManager> = None;
    while let Some((relay, session, reason)) = rx.recv().await {
        if conn.is_none() {
            conn = tokio::time::timeout(PUBLISH_TIMEOUT, ConnectionManager::new(client.clone()))
                .await
                .ok()
                .and_then(Result::ok);
        }
        let Some(c) = conn.as_mut() else {
            tracing::warn!(%session, "relay kill not published: redis unreachable");
            metrics::counter!(crate::metrics::KILLS_DROPPED_TOTAL).increment(1);
            continue;
        };
        let sent = tokio::time::timeout(
            PUBLISH_TIMEOUT,
            redis::cmd("PUBLISH")
                .arg(kill_channel(relay))
                .arg(kill_message(session, reason))
                .query_async::<i64>(c),
        )
        .await;
        if !matches!(sent, Ok(Ok(_))) {
            tracing::warn!(%session, "relay kill not published");
            metrics::counter!(crate::metrics::KILLS_DROPPED_TOTAL).increment(1);
            conn = None;
        }
    }
}

/// Subscribes relay `relay` to its kill channel and calls `on_kill` for every message until
/// the handle is aborted; reconnects (backoff 100 ms doubling to 5 s) when Redis goes away.
pub fn subscribe_kills(
    url: &str,
    relay: RelayId,
    on_kill: impl Fn(SessionId, ErrorCode) + Send + Sync + 'static,
) -> Result<JoinHandle<()>, BrokerError> {
    let client =
        redis::Client::open(url).map_err(|e| BrokerError::Config(format!("redis: {e}")))?;
    let channel = kill_channel(relay);
    Ok(tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            match subscribed(&client, &channel).await {
                Ok(mut ps) => {
                    backoff = Duration::from_millis(100);
                    let mut msgs = ps.on_message();
                    while let Some(m) = msgs.next().await {
                        let text: String = m.get_payload().unwrap_or_default();
                        match parse_kill_message(&text) {
                            Some((sid, code)) => on_kill(sid, code),
                            None => tracing::warn!(message = %text, "malformed relay kill message"),
                        }
                    }
                    tracing::warn!("relay kill subscription lost; resubscribing");
                }
                Err(e) => tracing::warn!(error = %e, "relay kill subscription failed; retrying"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }))
}

async fn subscribed(
    client: &redis::Client,
    channel: &str,
) -> Result<redis::aio::PubSub, redis::RedisError> {
    let mut ps = client.get_async_pubsub().await?;
    ps.subscribe(channel).await?;
    Ok(ps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_garbage_is_refused() {
        let sid = SessionId([0xab; 16]);
        let m = kill_message(sid, ErrorCode::AccountDisabled);
        assert_eq!(
            parse_kill_message(&m),
            Some((sid, ErrorCode::AccountDisabled))
        );
        assert_eq!(kill_channel(RelayId(7)), "switchboard:relay:7:kill");
        for bad in ["", "abc", "zz cancelled", &format!("{sid} no_such_code")] {
            assert_eq!(parse_kill_message(bad), None, "{bad}");
        }
    }

    /// Over a private redis-server: a kill published by the broker side reaches the relay's
    /// subscription.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kills_reach_the_subscribed_relay() {
        let redis = switchboard_tests::RedisServer::start().expect("redis-server");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let sub = subscribe_kills(&redis.url(), RelayId(3), move |s, c| {
            let _ = tx.send((s, c));
        })
        .unwrap();
        let kill = RedisRelayKill::start(&redis.url()).unwrap();
        let sid = SessionId([5; 16]);
        // The subscription may not be up yet: publish until it is heard (bounded).
        let mut got = None;
        for _ in 0..50 {
            kill.kill(RelayId(3), sid, ErrorCode::Cancelled);
            if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
                got = Some(m);
                break;
            }
        }
        assert_eq!(got, Some((sid, ErrorCode::Cancelled)));
        // Another relay's kills are not heard.
        kill.kill(RelayId(4), SessionId([6; 16]), ErrorCode::Cancelled);
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
            assert_eq!(m.0, sid, "only relay 3's kills arrive");
        }
        sub.abort();
    }
}
