//! [`NodeBus`] over Redis pub/sub.
//!
//! Each broker node subscribes to its own channel `<ns>:node:<node>` and to the broadcast
//! channel `<ns>:nodes`; one task publishes everything this node sends, in order (an offer
//! always leaves before its relay assignment), all that is queued at that moment in one
//! pipeline (a burst costs one round trip, not one per message). Sending only queues
//! (bounded; a full queue drops and counts); a publish gives up after the operation timeout.
//! The subscription reconnects with backoff (100 ms doubling to 5 s) when Redis goes away.
//! Pub/sub is fire-and-forget: every wait on an answer is bounded by its caller, and a
//! session whose messages are lost ends on its own timer.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use redis::aio::ConnectionManager;
use tokio::sync::mpsc;

use crate::cluster::{NodeBus, NodeMessage};
use crate::counts::TaskGuard;
use crate::error::ActorError;
use crate::metrics;

/// Messages queued for publishing at most.
const SEND_QUEUE: usize = 4096;
/// Received messages queued for the hub at most.
const INBOUND_QUEUE: usize = 4096;
/// Messages published in one pipeline (one round trip) at most.
const PUBLISH_BATCH: usize = 256;

/// The channel node `node` listens on.
pub fn node_channel(ns: &str, node: &str) -> String {
    format!("{ns}:node:{node}")
}

/// The channel every node listens on.
pub fn broadcast_channel(ns: &str) -> String {
    format!("{ns}:nodes")
}

fn count(direction: &'static str) {
    count_n(direction, 1);
}

fn count_n(direction: &'static str, n: u64) {
    ::metrics::counter!(metrics::CLUSTER_MESSAGES_TOTAL, "direction" => direction).increment(n);
}

/// The node bus over Redis pub/sub. See the module documentation.
#[derive(Debug)]
pub struct RedisNodeBus {
    ns: String,
    tx: mpsc::Sender<(String, String)>,
    _tasks: [TaskGuard; 2],
}

impl RedisNodeBus {
    /// Connects, subscribes node `node` (returns once the subscription is up) and starts the
    /// publisher; the receiver yields what other nodes send here.
    pub async fn start(
        url: &str,
        namespace: &str,
        node: &str,
        op_timeout: Duration,
    ) -> Result<(Arc<Self>, mpsc::Receiver<NodeMessage>), ActorError> {
        let client = redis::Client::open(url).map_err(ActorError::actor)?;
        let publisher = tokio::time::timeout(op_timeout, client.get_connection_manager())
            .await
            .map_err(|_| ActorError::Actor("redis node bus: connect timed out".into()))?
            .map_err(ActorError::actor)?;
        let channels = [node_channel(namespace, node), broadcast_channel(namespace)];
        let first = tokio::time::timeout(op_timeout, subscribed(&client, &channels))
            .await
            .map_err(|_| ActorError::Actor("redis node bus: subscribe timed out".into()))?
            .map_err(ActorError::actor)?;
        let (in_tx, in_rx) = mpsc::channel(INBOUND_QUEUE);
        let sub = tokio::spawn(subscribe_loop(client, channels, first, in_tx));
        let (tx, rx) = mpsc::channel(SEND_QUEUE);
        let publish = tokio::spawn(publish_loop(publisher, rx, op_timeout));
        let bus = Arc::new(Self {
            ns: namespace.to_owned(),
            tx,
            _tasks: [
                TaskGuard::new(sub.abort_handle()),
                TaskGuard::new(publish.abort_handle()),
            ],
        });
        Ok((bus, in_rx))
    }

    fn queue(&self, channel: String, msg: &NodeMessage) {
        let Some(text) = msg.encode() else {
            tracing::warn!(kind = msg.kind(), "node message not encodable; dropped");
            count("dropped");
            return;
        };
        if self.tx.try_send((channel, text)).is_err() {
            count("dropped");
        }
    }
}

impl NodeBus for RedisNodeBus {
    fn send(&self, node: &str, msg: NodeMessage) {
        self.queue(node_channel(&self.ns, node), &msg);
    }

    fn broadcast(&self, msg: NodeMessage) {
        self.queue(broadcast_channel(&self.ns), &msg);
    }
}

async fn publish_loop(
    mut conn: ConnectionManager,
    mut rx: mpsc::Receiver<(String, String)>,
    op_timeout: Duration,
) {
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    while rx.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        // Everything waiting leaves in one pipeline (one round trip), in queue order.
        let mut pipe = redis::pipe();
        for (channel, text) in &batch {
            pipe.cmd("PUBLISH").arg(channel).arg(text).ignore();
        }
        let n = batch.len() as u64;
        let sent = tokio::time::timeout(op_timeout, pipe.query_async::<()>(&mut conn)).await;
        match sent {
            Ok(Ok(())) => count_n("sent", n),
            _ => {
                tracing::warn!(messages = n, "node messages not published");
                count_n("dropped", n);
            }
        }
        batch.clear();
    }
}

async fn subscribed(
    client: &redis::Client,
    channels: &[String],
) -> Result<redis::aio::PubSub, redis::RedisError> {
    let mut ps = client.get_async_pubsub().await?;
    for c in channels {
        ps.subscribe(c).await?;
    }
    Ok(ps)
}

async fn subscribe_loop(
    client: redis::Client,
    channels: [String; 2],
    first: redis::aio::PubSub,
    inbound: mpsc::Sender<NodeMessage>,
) {
    let mut current = Some(first);
    let mut backoff = Duration::from_millis(100);
    loop {
        let ps = match current.take() {
            Some(ps) => Some(ps),
            None => match subscribed(&client, &channels).await {
                Ok(ps) => Some(ps),
                Err(e) => {
                    tracing::warn!(error = %e, "node bus subscription failed; retrying");
                    None
                }
            },
        };
        if let Some(mut ps) = ps {
            backoff = Duration::from_millis(100);
            let mut msgs = ps.on_message();
            while let Some(m) = msgs.next().await {
                let text: String = m.get_payload().unwrap_or_default();
                match NodeMessage::decode(&text) {
                    Some(msg) => {
                        count("received");
                        if inbound.try_send(msg).is_err() {
                            if inbound.is_closed() {
                                return;
                            }
                            count("dropped");
                        }
                    }
                    None => {
                        count("malformed");
                        tracing::warn!("malformed node message");
                    }
                }
            }
            tracing::warn!("node bus subscription lost; resubscribing");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
