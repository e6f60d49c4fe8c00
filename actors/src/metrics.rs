//! Metric names of the actor layer (Prometheus conventions: base units, `_total` counters,
//! bounded labels; never a session, user or device id as a label).

/// Gauge: live actors, label `kind` = `tenant` | `device` | `session`.
pub const ACTORS: &str = "switchboard_actors";
/// Audit records written by the session actors' group commit (counter).
pub const AUDIT_RECORDS_TOTAL: &str = "switchboard_audit_records_total";
/// Group commits of audit records (counter; records / commits = batch size).
pub const AUDIT_COMMITS_TOTAL: &str = "switchboard_audit_commits_total";
/// Audit records that could not be stored (counter; the error is logged).
pub const AUDIT_RECORDS_LOST_TOTAL: &str = "switchboard_audit_records_lost_total";
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
/// Counter: failed refreshes of the Redis relay registry cache.
pub const RELAY_REGISTRY_REFRESH_ERRORS_TOTAL: &str =
    "switchboard_relay_registry_refresh_errors_total";
/// Histogram: one refresh of the Redis relay registry cache, in seconds.
pub const RELAY_REGISTRY_REFRESH_SECONDS: &str = "switchboard_relay_registry_refresh_seconds";
/// Counter: relay announcements or withdrawals that failed or were dropped.
pub const RELAY_REGISTRY_WRITE_ERRORS_TOTAL: &str = "switchboard_relay_registry_write_errors_total";
/// Gauge: live relays in this broker's registry cache.
pub const RELAYS_LIVE: &str = "switchboard_relays_live";
/// Histogram: a probe of another broker node for a device (offer routing, A asks B whether
/// it holds the device), from send to answer, in seconds.
pub const CLUSTER_PROBE_SECONDS: &str = "switchboard_cluster_probe_seconds";
/// Counter: probes of another node that got no answer in time (`device_offline`).
pub const CLUSTER_PROBE_TIMEOUTS_TOTAL: &str = "switchboard_cluster_probe_timeouts_total";
/// Counter: messages between broker nodes, label `direction` = `sent` | `received` |
/// `dropped` | `malformed`.
pub const CLUSTER_MESSAGES_TOTAL: &str = "switchboard_cluster_messages_total";

/// Buckets of [`CLUSTER_PROBE_SECONDS`] and [`RELAY_REGISTRY_REFRESH_SECONDS`] (Redis round
/// trips: sub-millisecond on a LAN, the timeout at worst).
pub const CLUSTER_BUCKETS: &[f64] = &[
    0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

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
    describe_counter!(
        RELAY_REGISTRY_REFRESH_ERRORS_TOTAL,
        "Failed refreshes of the Redis relay registry cache."
    );
    describe_histogram!(
        RELAY_REGISTRY_REFRESH_SECONDS,
        Unit::Seconds,
        "One refresh of the Redis relay registry cache."
    );
    describe_counter!(
        RELAY_REGISTRY_WRITE_ERRORS_TOTAL,
        "Relay announcements or withdrawals that failed or were dropped."
    );
    describe_gauge!(RELAYS_LIVE, "Live relays in this broker's registry cache.");
    describe_histogram!(
        CLUSTER_PROBE_SECONDS,
        Unit::Seconds,
        "A probe of another broker node for a device, from send to answer."
    );
    describe_counter!(
        CLUSTER_PROBE_TIMEOUTS_TOTAL,
        "Probes of another broker node that got no answer in time."
    );
    describe_counter!(
        CLUSTER_MESSAGES_TOTAL,
        "Messages between broker nodes, by direction (sent, received, dropped, malformed)."
    );
    describe_histogram!(
        SESSION_SETUP_SECONDS,
        Unit::Seconds,
        "Session setup from the Guest's request to Ready at the relay, by outcome."
    );
}
