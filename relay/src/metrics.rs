//! Prometheus metric names and label values of the relay, in one place.
//!
//! Names follow Prometheus conventions (base units, `_total` for counters, bounded labels).
//! No session, tenant or user id is ever a label. The recorder and the `/metrics` endpoint
//! live in `metrics_http.rs`; this file only names things.

/// Gauge: sessions currently forwarding bytes.
pub const SESSIONS_ACTIVE: &str = "switchboard_relay_sessions_active";
/// Gauge: connections parked in the waiting room for their peer.
pub const WAITING_ROOM_SIZE: &str = "switchboard_relay_waiting_room_size";
/// Gauge: the waiting room's cap (`limits.waiting_total`), for "near cap" alerts.
pub const WAITING_ROOM_CAPACITY: &str = "switchboard_relay_waiting_room_capacity";
/// Counter: bind attempts by outcome (`paired`, `parked`, or an error code name).
pub const BINDS_TOTAL: &str = "switchboard_relay_binds_total";
/// Counter: bytes forwarded, by direction and engine.
pub const BYTES_TOTAL: &str = "switchboard_relay_bytes_total";
/// Histogram: session duration from Ready to close, in seconds.
pub const SESSION_DURATION_SECONDS: &str = "switchboard_relay_session_duration_seconds";
/// Histogram: time from accepting the completing side's connection to Ready, in seconds.
pub const SETUP_SECONDS: &str = "switchboard_relay_setup_seconds";
/// Counter: sessions (or directions) that wanted `splice` but got no pipe and used `copy`.
pub const SPLICE_FALLBACK_TOTAL: &str = "switchboard_relay_splice_fallback_total";
/// Gauge set to 1, labelled with `version`.
pub const BUILD_INFO: &str = "switchboard_relay_build_info";
/// Counter: session records dropped because the sink's queue was full or the sink failed.
pub const RECORDS_DROPPED_TOTAL: &str = "switchboard_relay_records_dropped_total";
/// Counter: sessions ended, by close reason.
pub const SESSIONS_CLOSED_TOTAL: &str = "switchboard_relay_sessions_closed_total";
/// Sessions the broker asked this relay to kill, by whether they were here (`cut`) or not
/// (`absent`: ended already, or not bound yet; later binds are refused).
pub const KILLS_TOTAL: &str = "switchboard_relay_session_kills_total";

/// Label names.
pub const LABEL_OUTCOME: &str = "outcome";
/// Label: direction of bytes (`host_to_guest` or `guest_to_host`).
pub const LABEL_DIRECTION: &str = "direction";
/// Label: engine name (`splice`, `uring`, `copy`).
pub const LABEL_ENGINE: &str = "engine";
/// Label: close reason name.
pub const LABEL_REASON: &str = "reason";
/// Label: crate version for `BUILD_INFO`.
pub const LABEL_VERSION: &str = "version";

/// Histogram buckets for `SESSION_DURATION_SECONDS`.
pub const DURATION_BUCKETS: &[f64] = &[
    1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0, 86400.0,
];
/// Histogram buckets for `SETUP_SECONDS`.
pub const SETUP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Registers the HELP text of every relay metric with the installed recorder.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(SESSIONS_ACTIVE, "Sessions currently forwarding bytes.");
    describe_gauge!(
        WAITING_ROOM_SIZE,
        "Connections parked in the waiting room for their peer."
    );
    describe_gauge!(
        WAITING_ROOM_CAPACITY,
        "Most connections the waiting room holds (limits.waiting_total)."
    );
    describe_counter!(BINDS_TOTAL, "Relay bind attempts by outcome.");
    describe_counter!(
        BYTES_TOTAL,
        Unit::Bytes,
        "Bytes forwarded, by direction and engine."
    );
    describe_histogram!(
        SESSION_DURATION_SECONDS,
        Unit::Seconds,
        "Session duration from Ready to close."
    );
    describe_histogram!(
        SETUP_SECONDS,
        Unit::Seconds,
        "Time from accepting the completing side's connection to Ready."
    );
    describe_counter!(
        SPLICE_FALLBACK_TOTAL,
        "Sessions or directions that wanted splice but used copy."
    );
    describe_gauge!(BUILD_INFO, "Constant 1, labelled with the relay version.");
    describe_counter!(
        RECORDS_DROPPED_TOTAL,
        "Session records dropped (sink queue full or sink failed)."
    );
    describe_counter!(
        SESSIONS_CLOSED_TOTAL,
        "Relay sessions ended, by close reason."
    );
}
