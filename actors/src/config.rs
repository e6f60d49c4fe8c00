//! Every limit and timeout of the actor layer, with the product defaults.
//!
//! Plain data; `Hub::start` takes it. Nothing here reads files (the broker's config does).

use std::time::Duration;

/// Limits and timeouts.
#[derive(Debug, Clone)]
pub struct ActorConfig {
    /// Name of this broker node (written in presence entries).
    pub node: String,
    /// The local user has this long to confirm (002/004 §5.5; default 60 s).
    pub confirm_timeout: Duration,
    /// The Host has this long to accept an offer that needs no confirmation.
    pub offer_timeout: Duration,
    /// Both sides have this long to bind at the relay after the assignment.
    pub bind_timeout: Duration,
    /// Lifetime of a session ticket.
    pub ticket_lifetime: Duration,
    /// Presence TTL; refreshed every third of it.
    pub presence_ttl: Duration,
    /// An OnDemand agent waits in the queue at most this long (002/004 §6.2: 1 h).
    pub ondemand_queue_limit: Duration,
    /// OnDemand agents waiting per tenant at most.
    pub ondemand_queue_cap: usize,
    /// Concurrent sessions per tenant at most (`quota_exceeded` beyond).
    pub max_sessions_per_tenant: usize,
    /// Concurrent sessions per broker at most (`quota_exceeded` beyond).
    pub max_sessions: usize,
    /// Session requests per tenant: burst.
    pub session_rate_burst: u32,
    /// Session requests per tenant: refill per second.
    pub session_rate_per_second: f64,
    /// Logins per tenant: burst.
    pub login_rate_burst: u32,
    /// Logins per tenant: refill per second.
    pub login_rate_per_second: f64,
    /// A policy rebuild waits this long after a change notification, coalescing bursts.
    pub rebuild_debounce: Duration,
    /// Byte rate written into tickets (0 = unlimited).
    pub ticket_byte_rate_limit: u64,
    /// Another broker node has this long to answer (a probe for a device it holds, an
    /// administrator's terminate); no answer is `device_offline` (or not found).
    pub remote_answer_timeout: Duration,
}

impl Default for ActorConfig {
    fn default() -> Self {
        Self {
            node: "broker-1".to_owned(),
            confirm_timeout: Duration::from_secs(60),
            offer_timeout: Duration::from_secs(30),
            bind_timeout: Duration::from_secs(30),
            ticket_lifetime: Duration::from_secs(60),
            presence_ttl: Duration::from_secs(30),
            ondemand_queue_limit: Duration::from_secs(3600),
            ondemand_queue_cap: 1000,
            max_sessions_per_tenant: 10_000,
            max_sessions: 100_000,
            session_rate_burst: 50,
            session_rate_per_second: 10.0,
            login_rate_burst: 20,
            login_rate_per_second: 5.0,
            rebuild_debounce: Duration::from_millis(100),
            ticket_byte_rate_limit: 0,
            remote_answer_timeout: crate::hub_cluster::REMOTE_ANSWER_TIMEOUT,
        }
    }
}
