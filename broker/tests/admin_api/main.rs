//! Black-box tests of the broker's admin half over loopback HTTP: an in-process server on
//! 127.0.0.1:0 with the directory in a temporary redb file AND in a private redis-server
//! (each scenario runs against both). One test binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use serde_json::{Value, json};
use switchboard_agent::http::{HttpClient, HttpResponse};
use switchboard_broker::app::{Started, start};
use switchboard_broker::config::BrokerConfig;
use switchboard_broker::sessions::NoSessions;
use switchboard_directory::model::{Device, DeviceKeys};
use switchboard_directory::service::Enrollment;
use switchboard_tests::RedisServer;

pub(crate) const OWNER_PW: &str = "Owner-Passw0rd";

#[derive(Clone, Copy, Debug)]
pub(crate) enum Backend {
    Redb,
    Redis,
}

pub(crate) struct Server {
    pub(crate) started: Started,
    pub(crate) http: HttpClient,
    pub(crate) cfg: BrokerConfig,
    _dir: tempfile::TempDir,
    _redis: Option<RedisServer>,
}

pub(crate) async fn server_with(backend: Backend, edit: impl FnOnce(&mut BrokerConfig)) -> Server {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = BrokerConfig {
        data_dir: dir.path().to_owned(),
        ..BrokerConfig::default()
    };
    cfg.admin.listen = "127.0.0.1:0".parse().unwrap();
    cfg.bootstrap.password = Some(OWNER_PW.to_owned());
    cfg.login.per_ip_burst = 1000;
    cfg.login.per_user_burst = 1000;
    let redis = match backend {
        Backend::Redb => None,
        Backend::Redis => {
            let r = RedisServer::start().expect("redis-server must be installed for these tests");
            cfg.directory = r.url();
            Some(r)
        }
    };
    edit(&mut cfg);
    cfg.validate().unwrap();
    let started = start(&cfg, Arc::new(NoSessions)).await.unwrap();
    let http = HttpClient::new(&format!("http://{}", started.admin.addr), None).unwrap();
    Server {
        started,
        http,
        cfg,
        _dir: dir,
        _redis: redis,
    }
}

pub(crate) async fn server(backend: Backend) -> Server {
    server_with(backend, |_| {}).await
}

impl Server {
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> HttpResponse {
        self.http
            .request(method, path, token, body.as_ref())
            .await
            .unwrap()
    }

    pub(crate) async fn ok(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Value {
        let r = self.call(method, path, Some(token), body).await;
        assert!(r.status < 300, "{method} {path}: {} {}", r.status, r.body);
        r.json()
    }

    /// Calls and asserts the refusal: `status`, the machine-readable `code` and a message.
    pub(crate) async fn refused(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        status: u16,
        code: &str,
    ) {
        assert_error(&self.call(method, path, token, body).await, status, code);
    }

    /// Changes the caller's tenant settings (`PATCH /api/v1/tenant`) and answers the tenant.
    pub(crate) async fn patch_tenant(&self, token: &str, body: Value) -> Value {
        self.ok("PATCH", "/api/v1/tenant", token, Some(body)).await
    }

    /// Creates what `body` describes with `POST path` and answers the new object's id.
    pub(crate) async fn create(&self, token: &str, path: &str, body: Value) -> String {
        let v = self.ok("POST", path, token, Some(body)).await;
        v["id"].as_str().unwrap().to_owned()
    }

    /// Enrolls a device `hostname` with the enrollment `key` (through the directory, as an
    /// agent would); `n` makes its static keys differ from other devices'.
    pub(crate) async fn enroll(&self, key: &str, hostname: &str, n: u8) -> Device {
        let info = Enrollment {
            hostname: hostname.into(),
            os: "linux".into(),
            agent_version: "0.1".into(),
            keys: DeviceKeys {
                auth_ed25519: [n; 32],
                noise_x25519: [n.wrapping_add(1); 32],
            },
        };
        self.started.dir.enroll_device(key, info).await.unwrap()
    }

    pub(crate) async fn login(&self, tenant: Option<&str>, user: &str, pw: &str) -> HttpResponse {
        self.call(
            "POST",
            "/api/v1/login",
            None,
            Some(json!({"tenant": tenant, "username": user, "password": pw})),
        )
        .await
    }

    /// The second login step (`POST /api/v1/login/mfa`) with `body` (ticket and code).
    pub(crate) async fn login_mfa(&self, body: Value) -> HttpResponse {
        self.call("POST", "/api/v1/login/mfa", None, Some(body))
            .await
    }

    pub(crate) async fn token(&self, user: &str, pw: &str) -> String {
        let r = self.login(None, user, pw).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["token"].as_str().unwrap().to_owned()
    }

    pub(crate) async fn owner(&self) -> String {
        self.token("admin", OWNER_PW).await
    }

    /// A user of `type` in the caller's tenant, and their token.
    pub(crate) async fn user(&self, admin: &str, name: &str, ty: &str) -> (String, String) {
        let u = self
            .ok(
                "POST",
                "/api/v1/users",
                admin,
                Some(json!({"username": name, "password": "Passw0rd-x", "type": ty})),
            )
            .await;
        let id = u["id"].as_str().unwrap().to_owned();
        (id, self.token(name, "Passw0rd-x").await)
    }
}

pub(crate) fn assert_error(r: &HttpResponse, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.json()["code"], code, "{}", r.body);
    assert!(r.json()["message"].as_str().is_some_and(|m| !m.is_empty()));
}

macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redb() {
                super::$name(crate::Backend::Redb).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                super::$name(crate::Backend::Redis).await;
            }
        }
    };
}

mod cli;
mod isolation;
mod login;
mod my_devices;
mod openapi;
mod resources;
