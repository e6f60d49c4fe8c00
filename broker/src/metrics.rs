//! Broker metric names (Prometheus conventions), their HELP texts, and the broker's side of the
//! process's one Prometheus recorder.
//!
//! [`prometheus_handle`] installs the recorder through the relay's shared installer
//! (`switchboard_relay::metrics_http::install`) with the broker's histogram buckets, registers
//! every HELP text (broker, actors, directory), sets the build-info gauge and installs the
//! directory store's latency observer. The relay's own `/metrics` endpoint, if any, then serves
//! the same registry. Labels are bounded: a route template, a status class, a login method and
//! outcome, a store backend and operation; never a user or session id. Emission points live
//! with the code they measure; this file only names, describes and installs.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::PrometheusHandle;
use switchboard_actors::metrics as actor_metrics;
use switchboard_directory::store::timed::{self, CallOutcome};

/// Login attempts, by `method` (`password`, `totp`, `recovery_code`) and `outcome`
/// (`ok`, `mfa_required`, `failed`, `rate_limited`).
pub const LOGINS_TOTAL: &str = "switchboard_logins_total";
/// Admin API requests, by `route` (template) and `status_class` (`2xx` ...).
pub const ADMIN_REQUESTS_TOTAL: &str = "switchboard_admin_requests_total";
/// Admin API request duration.
pub const ADMIN_REQUEST_DURATION_SECONDS: &str = "switchboard_admin_request_duration_seconds";
/// Constant 1, labelled with the version.
pub const BROKER_BUILD_INFO: &str = "switchboard_broker_build_info";
/// Control connections open now, by `transport` (`tls`, `quic`).
pub const CONTROL_CONNECTIONS: &str = "switchboard_control_connections";
/// Control handshakes ended, by `peer` (`host`, `guest`, `enroll`, `ondemand`, `unknown`) and
/// `outcome` (`ok`, or the refusal's code name).
pub const CONTROL_HANDSHAKES_TOTAL: &str = "switchboard_control_handshakes_total";
/// Control connections refused before their handshake, by `reason` (`per_ip`, `capacity`).
pub const CONTROL_REFUSED_TOTAL: &str = "switchboard_control_refused_total";
/// Label: control transport.
pub const LABEL_TRANSPORT: &str = "transport";
/// Label: kind of control peer.
pub const LABEL_PEER: &str = "peer";
/// Label: refusal reason.
pub const LABEL_REASON: &str = "reason";

/// Label: login method.
pub const LABEL_METHOD: &str = "method";
/// Label: outcome.
pub const LABEL_OUTCOME: &str = "outcome";
/// Label: route template.
pub const LABEL_ROUTE: &str = "route";
/// Label: status class.
pub const LABEL_STATUS_CLASS: &str = "status_class";
/// Label: version.
pub const LABEL_VERSION: &str = "version";

/// Buckets of [`ADMIN_REQUEST_DURATION_SECONDS`] (Argon2 logins land near 0.05–0.5 s).
pub const ADMIN_DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Enrollments over the control connection, by `outcome` (`ok`, or the refusal's code name).
/// Emitted today as [`CONTROL_HANDSHAKES_TOTAL`] with `peer="enroll"`; this name is reserved
/// for a dedicated counter in `control/host.rs`.
pub const ENROLLMENTS_TOTAL: &str = "switchboard_enrollments_total";
/// Relay kill messages dropped (queue full or Redis unreachable).
pub const KILLS_DROPPED_TOTAL: &str = "switchboard_relay_kills_dropped_total";
/// Directory store call duration, by `backend` (`redb`, `redis`) and `op` (`get`, `scan`,
/// `commit`, `scope_version`).
pub const STORE_DURATION_SECONDS: &str = "switchboard_directory_store_duration_seconds";
/// Directory store calls that failed, by `backend`, `op` and `outcome` (`conflict`, `error`).
pub const STORE_FAILURES_TOTAL: &str = "switchboard_directory_store_failures_total";
/// Label: store backend.
pub const LABEL_BACKEND: &str = "backend";
/// Label: store operation.
pub const LABEL_OP: &str = "op";

/// Buckets of [`STORE_DURATION_SECONDS`]: redb reads are µs, fsynced commits and Redis
/// round trips ms.
pub const STORE_DURATION_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    5.0,
];

/// The process-wide Prometheus handle (installing the recorder on first call, with every
/// broker and actor histogram's buckets); `None` if some other recorder was installed first.
pub fn prometheus_handle() -> Option<PrometheusHandle> {
    let handle = switchboard_relay::metrics_http::install(&[
        (ADMIN_REQUEST_DURATION_SECONDS, ADMIN_DURATION_BUCKETS),
        (STORE_DURATION_SECONDS, STORE_DURATION_BUCKETS),
        (
            actor_metrics::SESSION_SETUP_SECONDS,
            actor_metrics::SESSION_SETUP_BUCKETS,
        ),
        (
            actor_metrics::CLUSTER_PROBE_SECONDS,
            actor_metrics::CLUSTER_BUCKETS,
        ),
        (
            actor_metrics::RELAY_REGISTRY_REFRESH_SECONDS,
            actor_metrics::CLUSTER_BUCKETS,
        ),
    ])?;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        describe();
        actor_metrics::describe();
        timed::set_observer(observe_store_call);
        metrics::gauge!(BROKER_BUILD_INFO, LABEL_VERSION => env!("CARGO_PKG_VERSION")).set(1.0);
    });
    Some(handle)
}

/// The `/metrics` body: the registry and the process's `process_*` figures.
pub fn render(handle: &PrometheusHandle) -> String {
    switchboard_relay::metrics_http::render(handle)
}

/// The directory store's latency observer.
fn observe_store_call(backend: &'static str, op: &'static str, outcome: CallOutcome, secs: f64) {
    metrics::histogram!(STORE_DURATION_SECONDS, LABEL_BACKEND => backend, LABEL_OP => op)
        .record(secs);
    if outcome != CallOutcome::Ok {
        metrics::counter!(STORE_FAILURES_TOTAL, LABEL_BACKEND => backend, LABEL_OP => op,
            LABEL_OUTCOME => outcome.name())
        .increment(1);
    }
}

/// Registers the HELP text of every broker metric with the installed recorder.
fn describe() {
    describe_counter!(LOGINS_TOTAL, "Login attempts, by method and outcome.");
    describe_counter!(
        ADMIN_REQUESTS_TOTAL,
        "Admin API requests, by route template and status class."
    );
    describe_histogram!(
        ADMIN_REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Admin API request duration, by route template."
    );
    describe_gauge!(
        BROKER_BUILD_INFO,
        "Constant 1, labelled with the broker version."
    );
    describe_gauge!(
        CONTROL_CONNECTIONS,
        "Control connections open now, by transport."
    );
    describe_counter!(
        CONTROL_HANDSHAKES_TOTAL,
        "Control handshakes ended, by peer kind and outcome (enrollments: peer=enroll)."
    );
    describe_counter!(
        CONTROL_REFUSED_TOTAL,
        "Control connections refused before their handshake, by reason."
    );
    describe_counter!(ENROLLMENTS_TOTAL, "Enrollments, by outcome.");
    describe_histogram!(
        STORE_DURATION_SECONDS,
        Unit::Seconds,
        "Directory store call duration, by backend and operation."
    );
    describe_counter!(
        STORE_FAILURES_TOTAL,
        "Directory store calls that failed, by backend, operation and outcome."
    );
}

/// `2xx`, `4xx`, ... for a status code.
pub fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// Counts one login attempt.
pub fn count_login(method: &'static str, outcome: &'static str) {
    metrics::counter!(LOGINS_TOTAL, LABEL_METHOD => method, LABEL_OUTCOME => outcome).increment(1);
}
