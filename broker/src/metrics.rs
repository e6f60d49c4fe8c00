//! Broker metric names (Prometheus conventions) and the process's one Prometheus recorder.
//!
//! The recorder is installed once per process by [`prometheus_handle`], with the histogram
//! buckets of the broker AND of the in-process relay (the relay's own helper,
//! `switchboard_relay::metrics_http::prometheus_handle`, then finds a recorder already
//! installed and leaves `/metrics` to the admin API). Labels are bounded: a route template,
//! a status class, a login method and outcome; never a user or session id.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use switchboard_relay::metrics as relay_metrics;

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

/// The process-wide Prometheus handle (installing the recorder on first call); `None` if
/// some other recorder was installed first.
pub fn prometheus_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(ADMIN_REQUEST_DURATION_SECONDS.to_owned()),
                    ADMIN_DURATION_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(relay_metrics::SESSION_DURATION_SECONDS.to_owned()),
                        relay_metrics::DURATION_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(relay_metrics::SETUP_SECONDS.to_owned()),
                        relay_metrics::SETUP_BUCKETS,
                    )
                });
            match built.map(PrometheusBuilder::install_recorder) {
                Ok(Ok(h)) => {
                    metrics::gauge!(BROKER_BUILD_INFO, LABEL_VERSION => env!("CARGO_PKG_VERSION"))
                        .set(1.0);
                    Some(h)
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "prometheus recorder not installed");
                    None
                }
                Err(e) => {
                    tracing::warn!(error = %e, "prometheus buckets refused");
                    None
                }
            }
        })
        .clone()
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
