//! The Redis stream record sink, for a relay running apart from the broker.
//!
//! `submit` puts the record in a bounded queue; one background task connects (retrying with
//! backoff), and writes each record with `XADD <stream> MAXLEN ~ <max_len> * field value ...`.
//! A record that fails twice, or does not fit in the queue, is dropped and counted. The task
//! ends when the sink (every clone) is dropped and the queue is empty.

use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::mpsc;

use crate::error::RelayError;
use crate::metrics as m;
use crate::record::{RecordSink, SessionRecord};

/// Sends records to a Redis stream.
#[derive(Debug, Clone)]
pub struct RedisSink {
    tx: mpsc::Sender<SessionRecord>,
}

impl RedisSink {
    /// Starts the writer task (needs a tokio runtime). Fails only on a malformed URL.
    pub fn start(url: &str, stream: &str, max_len: u64, queue: usize) -> Result<Self, RelayError> {
        let client = redis::Client::open(url).map_err(|e| RelayError::Sink(e.to_string()))?;
        let (tx, rx) = mpsc::channel(queue.max(1));
        tokio::spawn(write_loop(client, stream.to_owned(), max_len, rx));
        Ok(Self { tx })
    }
}

impl RecordSink for RedisSink {
    fn submit(&self, record: SessionRecord) {
        if self.tx.try_send(record).is_err() {
            metrics::counter!(m::RECORDS_DROPPED_TOTAL).increment(1);
            tracing::warn!("session record dropped: redis sink queue full");
        }
    }
}

async fn connect(client: &redis::Client) -> ConnectionManager {
    let mut backoff = Duration::from_millis(100);
    loop {
        match ConnectionManager::new(client.clone()).await {
            Ok(c) => return c,
            Err(e) => {
                tracing::warn!(error = %e, "record sink: redis unreachable, retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

async fn write_loop(
    client: redis::Client,
    stream: String,
    max_len: u64,
    mut rx: mpsc::Receiver<SessionRecord>,
) {
    let mut conn: Option<ConnectionManager> = None;
    while let Some(record) = rx.recv().await {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => conn.insert(connect(&client).await),
        };
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(max_len)
            .arg("*");
        for (k, v) in record.fields() {
            cmd.arg(k).arg(v);
        }
        let mut ok = false;
        for _attempt in 0..2 {
            match cmd.query_async::<String>(c).await {
                Ok(_) => {
                    ok = true;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "record sink: XADD failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        if !ok {
            metrics::counter!(m::RECORDS_DROPPED_TOTAL).increment(1);
        }
    }
}
