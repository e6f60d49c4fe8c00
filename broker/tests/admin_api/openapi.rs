//! Configuration, OpenAPI/route agreement, metrics, HTTPS.

use serde_json::json;

use crate::{Backend, server, server_with};
use switchboard_agent::http::HttpClient;
use switchboard_broker::api;
use switchboard_broker::config::BrokerConfig;
use switchboard_directory::model::TenantId;

#[test]
fn unknown_config_key_is_refused_by_name() {
    let e = BrokerConfig::from_toml_str("data_dir = \"x\"\n[admin]\nlisen = \"127.0.0.1:1\"\n")
        .unwrap_err();
    assert!(e.to_string().contains("lisen"), "{e}");
    let e = BrokerConfig::from_toml_str("colour = 1\n").unwrap_err();
    assert!(e.to_string().contains("colour"), "{e}");
}

#[test]
fn example_config_validates() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../ops/examples/switchboard.toml"
    ))
    .unwrap();
    let cfg = BrokerConfig::from_toml_str(&text).unwrap();
    cfg.validate().unwrap();
    assert_eq!(cfg.control.listen.len(), 2);
    assert!(cfg.relay.is_some());
}

/// The OpenAPI document and the router agree: every documented (method, path) reaches a
/// handler (never the router's `no_route` fallback or a 405), the document lists exactly the
/// route table, and an undocumented path is `no_route`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_matches_routes() {
    let s = server(Backend::Redb).await;
    let t = s.owner().await;
    let doc = s
        .call("GET", "/api/v1/openapi.json", None, None)
        .await
        .json();
    let paths = doc["paths"].as_object().unwrap();
    let (_, table) = api::table().finish();
    let mut documented = 0;
    for (path, ops) in paths {
        for (method, _) in ops.as_object().unwrap() {
            documented += 1;
            assert!(
                table.iter().any(|d| d.path == path && d.method == method)
                    || path == "/api/v1/openapi.json",
                "{method} {path} is documented but not in the table"
            );
            if path == "/api/v1/logout" {
                continue;
            }
            let p = path.replace("{id}", &uuid_like());
            let r = s
                .call(&method.to_uppercase(), &p, Some(&t), Some(json!({})))
                .await;
            assert_ne!(r.status, 405, "{method} {path}");
            assert_ne!(r.json()["code"], "no_route", "{method} {path}: {}", r.body);
        }
    }
    assert_eq!(
        documented,
        table.len() + 1,
        "every table route is documented"
    );
    s.refused(
        "GET",
        "/api/v1/nothing-here",
        Some(&t),
        None,
        404,
        "no_route",
    )
    .await;
    let m = s.call("GET", "/metrics", None, None).await;
    assert!(m.body.contains("switchboard_admin_requests_total"));
    assert!(
        m.body
            .contains("switchboard_admin_request_duration_seconds_bucket")
    );
    assert!(m.body.contains("switchboard_broker_build_info"));
    assert!(!m.body.contains(&t), "no token in metrics");
}

fn uuid_like() -> String {
    TenantId::new_random().to_string()
}

/// The admin API over HTTPS when a certificate is configured; the client pins it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_admin_with_pinned_certificate() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = tempfile::tempdir().unwrap();
    let cert = switchboard_broker::tls::load_or_create_cert(certs.path()).unwrap();
    let s = server_with(Backend::Redb, |c| {
        c.admin.tls_cert = Some(certs.path().join(switchboard_broker::tls::CERT_FILE));
        c.admin.tls_key = Some(certs.path().join(switchboard_broker::tls::KEY_FILE));
    })
    .await;
    assert!(s.started.admin.tls);
    let https = HttpClient::new(
        &format!("https://127.0.0.1:{}", s.started.admin.addr.port()),
        Some(cert.fingerprint.clone()),
    )
    .unwrap();
    let r = https
        .request("GET", "/api/v1/health", None, None)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let wrong = HttpClient::new(
        &format!("https://127.0.0.1:{}", s.started.admin.addr.port()),
        Some("00".repeat(32)),
    )
    .unwrap();
    assert!(
        wrong
            .request("GET", "/api/v1/health", None, None)
            .await
            .is_err()
    );
    // Plain HTTP to the TLS port does not get an answer.
    assert!(
        s.http
            .request("GET", "/api/v1/health", None, None)
            .await
            .is_err()
    );
}
