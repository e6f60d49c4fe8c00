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
/// Histogram: broker-side session setup, from the Guest's request to both sides bound at the
/// relay (`Ready`), in seconds; label `outcome` = `ok` | an `ErrorCode` name.
pub const SESSION_SETUP_SECONDS: &str = "switchboard_session_setup_seconds";
/// Guest control connections closed because the account was disabled or removed.
pub const FORCED_GUEST_CLOSES_TOTAL: &str = "switchboard_guest_connections_closed_disabled_total";
/// Buckets of [`SESSION_SETUP_SECONDS`] (the objective is p99 under 20 ms).
pub const SESSION_SETUP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Registers the HELP text of every actor-layer metric with the installed recorder.
pub fn describe() {
    use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(ACTORS, "Live actors, by kind (tenant, device, session).");
    describe_gauge!(
        MAILBOX_DEPTH,
        "Messages sent to actors of a kind and not yet handled."
    );
    describe_counter!(
        ACTOR_FAILURES_TOTAL,
        "Actors that panicked or failed, by kind."
    );
    describe_counter!(
        SESSION_REFUSALS_TOTAL,
        "Session requests refused, by error code."
    );
    describe_counter!(
        SESSIONS_ACTIVE_TOTAL,
        "Sessions that reached the active state."
    );
    describe_counter!(SESSIONS_ENDED_TOTAL, "Sessions ended, by reason code.");
    describe_counter!(
        RATE_LIMITED_TOTAL,
        "Requests refused by a tenant rate limit, by limit (login, session)."
    );
    describe_counter!(SNAPSHOT_REBUILDS_TOTAL, "Policy snapshot rebuilds.");
    describe_gauge!(ONDEMAND_QUEUED, "OnDemand agents waiting in queues.");
    describe_counter!(
        CONTROL_DROPPED_TOTAL,
        "Control messages dropped because a connection's writer queue was full."
    );
    describe_histogram!(
        SESSION_SETUP_SECONDS,
        Unit::Seconds,
        "Session setup from the Guest's request to Ready at the relay, by outcome."
    );
}
