//! Metric names of the actor layer (Prometheus conventions: base units, `_total` counters,
//! bounded labels; never a session, user or device id as a label).

/// Gauge: live actors, label `kind` = `tenant` | `device` | `session`.
pub const ACTORS: &str = "switchboard_actors";
/// Gauge: messages sent to actors of a kind and not yet handled (mailbox depth), label `kind`.
pub const MAILBOX_DEPTH: &str = "switchboard_actor_mailbox_depth";
/// Counter: actors that panicked or failed, label `kind`.
pub const ACTOR_FAILURES_TOTAL: &str = "switchboard_actor_failures_total";
/// Counter: session requests refused, label `code` (an `ErrorCode` name; bounded set).
pub const SESSION_REFUSALS_TOTAL: &str = "switchboard_session_refusals_total";
/// Counter: sessions that reached the active state.
pub const SESSIONS_ACTIVE_TOTAL: &str = "switchboard_sessions_activated_total";
/// Counter: sessions ended, label `code` (the reason).
pub const SESSIONS_ENDED_TOTAL: &str = "switchboard_sessions_ended_total";
/// Counter: requests refused by a tenant rate limit, label `limit` = `login` | `session`.
pub const RATE_LIMITED_TOTAL: &str = "switchboard_rate_limited_total";
/// Counter: policy snapshot rebuilds.
pub const SNAPSHOT_REBUILDS_TOTAL: &str = "switchboard_policy_snapshot_rebuilds_total";
/// Gauge: OnDemand agents waiting in queues.
pub const ONDEMAND_QUEUED: &str = "switchboard_ondemand_queued";
/// Counter: control messages dropped because a connection's writer queue was full.
pub const CONTROL_DROPPED_TOTAL: &str = "switchboard_control_messages_dropped_total";
