//! Black-box tests of the broker's admin half over loopback HTTP: an in-process server on
//! 127.0.0.1:0 with the directory in a temporary redb file AND in a private redis-server
//! (each scenario runs against both). One test binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use serde_json::{Value, json};
use switchboard_broker::api;
use switchboard_broker::app::{Started, start};
use switchboard_broker::bootstrap::bootstrap;
use switchboard_broker::client::{HttpClient, HttpResponse};
use switchboard_broker::config::BrokerConfig;
use switchboard_broker::sessions::NoSessions;
use switchboard_directory::jiff::Timestamp;
use switchboard_directory::model::{DeviceKeys, Quotas, TenantId};
use switchboard_directory::rules::totp::{format_code, totp_code, totp_step};
use switchboard_directory::service::{Enrollment, NewTenant, NewUser};
use switchboard_tests::RedisServer;

const OWNER_PW: &str = "Owner-Passw0rd";

#[derive(Clone, Copy, Debug)]
enum Backend {
    Redb,
    Redis,
}

struct Server {
    started: Started,
    http: HttpClient,
    cfg: BrokerConfig,
    _dir: tempfile::TempDir,
    _redis: Option<RedisServer>,
}

async fn server_with(backend: Backend, edit: impl FnOnce(&mut BrokerConfig)) -> Server {
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

async fn server(backend: Backend) -> Server {
    server_with(backend, |_| {}).await
}

impl Server {
    async fn call(
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

    async fn ok(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
        let r = self.call(method, path, Some(token), body).await;
        assert!(r.status < 300, "{method} {path}: {} {}", r.status, r.body);
        r.json()
    }

    async fn login(&self, tenant: Option<&str>, user: &str, pw: &str) -> HttpResponse {
        self.call(
            "POST",
            "/api/v1/login",
            None,
            Some(json!({"tenant": tenant, "username": user, "password": pw})),
        )
        .await
    }

    async fn token(&self, user: &str, pw: &str) -> String {
        let r = self.login(None, user, pw).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["token"].as_str().unwrap().to_owned()
    }

    async fn owner(&self) -> String {
        self.token("admin", OWNER_PW).await
    }

    /// A user of `type` in the caller's tenant, and their token.
    async fn user(&self, admin: &str, name: &str, ty: &str) -> (String, String) {
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

fn assert_error(r: &HttpResponse, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.json()["code"], code, "{}", r.body);
    assert!(r.json()["message"].as_str().is_some_and(|m| !m.is_empty()));
}

macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redb() {
                super::$name(super::Backend::Redb).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                super::$name(super::Backend::Redis).await;
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------

both!(bootstrap_and_login);
async fn bootstrap_and_login(b: Backend) {
    let s = server(b).await;
    let boot = s
        .started
        .bootstrapped
        .as_ref()
        .expect("first start bootstraps");
    assert!(
        boot.generated_password.is_none(),
        "password came from the config"
    );
    // Idempotent: a second run creates nothing.
    assert!(
        bootstrap(&s.started.dir, &s.cfg.bootstrap)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(s.started.dir.tenants().await.unwrap().len(), 1);

    let t = s.owner().await;
    let me = s.ok("GET", "/api/v1/me", &t, None).await;
    assert_eq!(me["user"]["type"], "AccountOwner");
    assert!(
        me["user"].get("credentials").is_none(),
        "no secrets in views"
    );

    // Uniform refusal for a wrong password and an unknown user.
    let wrong = s.login(None, "admin", "Wrong-passw0rd").await;
    let unknown = s.login(None, "nobody", "Wrong-passw0rd").await;
    assert_error(&wrong, 401, "auth_failed");
    assert_error(&unknown, 401, "auth_failed");
    assert_eq!(wrong.body, unknown.body);
    // Login by tenant name works, a wrong tenant name is the same refusal.
    assert_eq!(
        s.login(Some("Default"), "admin", OWNER_PW).await.status,
        200
    );
    assert_error(
        &s.login(Some("Nope"), "admin", OWNER_PW).await,
        401,
        "auth_failed",
    );

    // Failed logins are audited.
    let audit = s.ok("GET", "/api/v1/audit?kind=SignIn", &t, None).await;
    let recs = audit["records"].as_array().unwrap();
    assert!(
        recs.iter().any(|r| r["outcome"].get("Denied").is_some()),
        "{audit}"
    );
    // No token, bad token.
    assert_error(
        &s.call("GET", "/api/v1/me", None, None).await,
        401,
        "auth_failed",
    );
    assert_error(
        &s.call("GET", "/api/v1/me", Some("garbage"), None).await,
        401,
        "auth_failed",
    );
    // Logout ends the token.
    s.ok("POST", "/api/v1/logout", &t, None).await;
    assert_error(
        &s.call("GET", "/api/v1/me", Some(&t), None).await,
        401,
        "auth_failed",
    );
}

both!(totp_login);
async fn totp_login(b: Backend) {
    let s = server(b).await;
    let t = s.owner().await;
    let e = s.ok("POST", "/api/v1/me/totp", &t, None).await;
    let secret = hex::decode(e["secret_hex"].as_str().unwrap()).unwrap();
    assert!(e["otpauth_uri"].as_str().unwrap().starts_with("otpauth://"));
    let now = Timestamp::now();
    let code = |step: u64| format_code(totp_code(&secret, step).unwrap());
    let bad = s
        .call(
            "POST",
            "/api/v1/me/totp/confirm",
            Some(&t),
            Some(json!({"code": "000000"})),
        )
        .await;
    if code(totp_step(now)) != "000000" {
        assert_error(&bad, 422, "invalid_code");
    }
    s.ok(
        "POST",
        "/api/v1/me/totp/confirm",
        &t,
        Some(json!({"code": code(totp_step(now))})),
    )
    .await;
    let rc = s.ok("POST", "/api/v1/me/recovery-codes", &t, None).await;
    let codes = rc["recovery_codes"].as_array().unwrap();
    assert_eq!(
        codes.len(),
        10,
        "002/004: recovery codes come in sets of 10"
    );

    // Password step now answers mfa_required with a ticket, no token.
    let r = s.login(None, "admin", OWNER_PW).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["status"], "mfa_required");
    assert!(v.get("token").is_none());
    let ticket = v["ticket"].as_str().unwrap();
    let wrong = s
        .call(
            "POST",
            "/api/v1/login/mfa",
            None,
            Some(json!({"ticket": ticket, "code": "12345x"})),
        )
        .await;
    assert_error(&wrong, 401, "auth_failed");
    // The next step's code (within the ±1 skew; the current one was spent by the confirm).
    let ok = s
        .call(
            "POST",
            "/api/v1/login/mfa",
            None,
            Some(json!({"ticket": ticket, "code": code(totp_step(now) + 1)})),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let tok = ok.json()["token"].as_str().unwrap().to_owned();
    s.ok("GET", "/api/v1/me", &tok, None).await;
    // The ticket is single use.
    let again = s
        .call(
            "POST",
            "/api/v1/login/mfa",
            None,
            Some(json!({"ticket": ticket, "code": code(totp_step(now) + 1)})),
        )
        .await;
    assert_error(&again, 401, "auth_failed");

    // A recovery code works once (002/004: "A used code becomes inactive").
    let rc0 = codes[0].as_str().unwrap();
    let t2 = s.login(None, "admin", OWNER_PW).await.json()["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let ok = s
        .call(
            "POST",
            "/api/v1/login/mfa",
            None,
            Some(json!({"ticket": t2, "recovery_code": rc0})),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let t3 = s.login(None, "admin", OWNER_PW).await.json()["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let reused = s
        .call(
            "POST",
            "/api/v1/login/mfa",
            None,
            Some(json!({"ticket": t3, "recovery_code": rc0})),
        )
        .await;
    assert_error(&reused, 401, "auth_failed");
}

both!(resources_round_trip);
async fn resources_round_trip(b: Backend) {
    let s = server(b).await;
    let t = s.owner().await;
    let tenant = s.ok("GET", "/api/v1/tenant", &t, None).await;
    assert_eq!(tenant["name"], "Default");
    let off = s
        .ok(
            "PATCH",
            "/api/v1/tenant",
            &t,
            Some(json!({"audit_enabled": true})),
        )
        .await;
    assert_eq!(off["audit_enabled"], true);
    assert_error(
        &s.call(
            "PATCH",
            "/api/v1/tenant",
            Some(&t),
            Some(json!({"mfa_policy": "Enforced"})),
        )
        .await,
        501,
        "not_implemented",
    );

    // Users.
    let u = s
        .ok(
            "POST",
            "/api/v1/users",
            &t,
            Some(json!({"username": "alice", "password": "Alice-passw0rd"})),
        )
        .await;
    let alice = u["id"].as_str().unwrap().to_owned();
    assert_eq!(u["type"], "User");
    let inv = s
        .ok(
            "POST",
            "/api/v1/users",
            &t,
            Some(json!({"username": "bob@example.com"})),
        )
        .await;
    assert!(inv["state"].get("Invited").is_some(), "{inv}");
    let weak = s
        .call(
            "POST",
            "/api/v1/users",
            Some(&t),
            Some(json!({"username": "weak", "password": "short"})),
        )
        .await;
    assert_error(&weak, 422, "password_policy");
    let dup = s
        .call(
            "POST",
            "/api/v1/users",
            Some(&t),
            Some(json!({"username": "alice", "password": "Alice-passw0rd"})),
        )
        .await;
    assert_error(&dup, 409, "duplicate_name");
    let list = s.ok("GET", "/api/v1/users", &t, None).await;
    assert_eq!(list["users"].as_array().unwrap().len(), 3);
    assert_eq!(
        s.ok("GET", &format!("/api/v1/users/{alice}"), &t, None)
            .await["username"],
        "alice"
    );
    let alice_token = s.token("alice", "Alice-passw0rd").await;
    s.ok("POST", &format!("/api/v1/users/{alice}/disable"), &t, None)
        .await;
    // 002/004: disabled users "can no longer log in"; their tokens end too.
    assert_error(
        &s.login(None, "alice", "Alice-passw0rd").await,
        401,
        "auth_failed",
    );
    assert_error(
        &s.call("GET", "/api/v1/me", Some(&alice_token), None).await,
        401,
        "auth_failed",
    );
    s.ok("POST", &format!("/api/v1/users/{alice}/enable"), &t, None)
        .await;
    assert_eq!(s.login(None, "alice", "Alice-passw0rd").await.status, 200);

    // User groups and membership.
    let g = s
        .ok(
            "POST",
            "/api/v1/user-groups",
            &t,
            Some(json!({"name": "Support"})),
        )
        .await;
    let gid = g["id"].as_str().unwrap().to_owned();
    s.ok(
        "POST",
        &format!("/api/v1/user-groups/{gid}/members"),
        &t,
        Some(json!({"users": [alice]})),
    )
    .await;
    let shown = s
        .ok("GET", &format!("/api/v1/user-groups/{gid}"), &t, None)
        .await;
    assert_eq!(shown["members"], json!([alice]));
    s.ok(
        "POST",
        &format!("/api/v1/user-groups/{gid}/members/remove"),
        &t,
        Some(json!({"users": [alice]})),
    )
    .await;
    let shown = s
        .ok("GET", &format!("/api/v1/user-groups/{gid}"), &t, None)
        .await;
    assert_eq!(shown["members"], json!([]));
    s.ok(
        "POST",
        &format!("/api/v1/user-groups/{gid}/members"),
        &t,
        Some(json!({"users": [alice]})),
    )
    .await;

    // Device groups.
    let dg = s
        .ok(
            "POST",
            "/api/v1/device-groups",
            &t,
            Some(json!({"name": "Servers"})),
        )
        .await;
    let dgid = dg["id"].as_str().unwrap().to_owned();
    assert_eq!(
        s.ok("GET", "/api/v1/device-groups", &t, None).await["device_groups"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Roles.
    let role = s.ok("POST", "/api/v1/roles", &t, Some(json!({"name": "Viewers", "purpose": "DeviceAccess", "permissions": ["RemoteSession", "ViewScreen"]}))).await;
    let rid = role["id"].as_str().unwrap().to_owned();
    let upd = s.ok("PUT", &format!("/api/v1/roles/{rid}"), &t, Some(json!({"name": "Viewers", "description": "look only", "purpose": "DeviceAccess", "permissions": ["RemoteSession", "ViewScreen"]}))).await;
    assert_eq!(upd["description"], "look only");
    let copy = s
        .ok(
            "POST",
            &format!("/api/v1/roles/{rid}/copy"),
            &t,
            Some(json!({})),
        )
        .await;
    let copy_id = copy["id"].as_str().unwrap().to_owned();
    assert_ne!(copy_id, rid);
    s.ok("GET", &format!("/api/v1/roles/{rid}"), &t, None).await;

    // Deployment package (pending) and a device enrolled through it.
    let p = s
        .ok(
            "POST",
            "/api/v1/packages",
            &t,
            Some(json!({"name": "Pkg", "pending": true, "target_group": dgid})),
        )
        .await;
    let pid = p["package"]["id"].as_str().unwrap().to_owned();
    let key = p["enrollment_key"].as_str().unwrap().to_owned();
    assert!(
        !key.is_empty(),
        "002/004: the key is shown once at creation"
    );
    let listed = s.ok("GET", "/api/v1/packages", &t, None).await;
    assert_eq!(listed["packages"].as_array().unwrap().len(), 1);
    assert!(
        !listed.to_string().contains(&key),
        "the key is not listed again"
    );
    let dev = s
        .started
        .dir
        .enroll_device(
            &key,
            Enrollment {
                hostname: "host-1".into(),
                os: "linux".into(),
                agent_version: "0.1".into(),
                keys: DeviceKeys {
                    auth_ed25519: [1; 32],
                    noise_x25519: [2; 32],
                },
            },
        )
        .await
        .unwrap();
    let did = dev.id.to_string();
    let d = s
        .ok("GET", &format!("/api/v1/devices/{did}"), &t, None)
        .await;
    assert_eq!(d["enrollment"], "Pending");
    let d = s
        .ok("POST", &format!("/api/v1/devices/{did}/approve"), &t, None)
        .await;
    assert_eq!(d["enrollment"], "Enrolled");
    assert_eq!(
        s.ok("GET", "/api/v1/devices", &t, None).await["devices"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let dgs = s
        .ok("GET", &format!("/api/v1/device-groups/{dgid}"), &t, None)
        .await;
    assert_eq!(dgs["devices"], json!([did]));

    // Assignment: Support × Servers with Viewers; check permissions sees it.
    let a = s.ok("POST", "/api/v1/assignments", &t, Some(json!({"name": "Support on servers", "role": rid, "user_groups": [gid], "device_groups": [dgid]}))).await;
    let aid = a["id"].as_str().unwrap().to_owned();
    let c = s
        .ok(
            "GET",
            &format!("/api/v1/check?user={alice}&device={did}"),
            &t,
            None,
        )
        .await;
    let perms = c["permissions"].as_array().unwrap();
    let granted = |name: &str| {
        perms
            .iter()
            .any(|p| p["permission"] == name && p["granted"] == true)
    };
    assert!(granted("ViewScreen") && !granted("FileTransfer"), "{c}");
    assert_eq!(c["contributing"], json!([aid]));
    // Deactivate → no longer contributing.
    s.ok(
        "POST",
        &format!("/api/v1/assignments/{aid}/active"),
        &t,
        Some(json!({"active": false})),
    )
    .await;
    let c = s
        .ok(
            "GET",
            &format!("/api/v1/check?user={alice}&device={did}"),
            &t,
            None,
        )
        .await;
    assert_eq!(c["contributing"], json!([]));
    s.ok(
        "POST",
        &format!("/api/v1/assignments/{aid}/active"),
        &t,
        Some(json!({"active": true})),
    )
    .await;
    // Bulk schedule set and remove.
    let sched = json!({"start_date": "2026-01-01", "start_time": null, "end_time": null, "all_day": true, "timezone": null, "recurrence": "None", "end_date": null});
    s.ok(
        "POST",
        "/api/v1/assignments/schedule",
        &t,
        Some(json!({"ids": [aid], "schedule": sched})),
    )
    .await;
    assert!(
        !s.ok("GET", &format!("/api/v1/assignments/{aid}"), &t, None)
            .await["schedule"]
            .is_null()
    );
    s.ok(
        "POST",
        "/api/v1/assignments/schedule",
        &t,
        Some(json!({"ids": [aid], "schedule": null})),
    )
    .await;
    assert!(
        s.ok("GET", &format!("/api/v1/assignments/{aid}"), &t, None)
            .await["schedule"]
            .is_null()
    );

    // Deleting the role names the assignments it disabled.
    let del = s
        .ok("DELETE", &format!("/api/v1/roles/{rid}"), &t, None)
        .await;
    assert_eq!(
        del["disabled_assignments"],
        json!(["Support on servers"]),
        "{del}"
    );
    s.ok("DELETE", &format!("/api/v1/assignments/{aid}"), &t, None)
        .await;
    s.ok("DELETE", &format!("/api/v1/roles/{copy_id}"), &t, None)
        .await;

    // OnDemand: refused without an OnDemand assignment, allowed with one.
    let refused = s.call("POST", "/api/v1/ondemand", Some(&t), None).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let roles = s.ok("GET", "/api/v1/roles", &t, None).await;
    let od_role = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["purpose"] == "OnDemand")
        .unwrap()["id"]
        .clone();
    let everyone = s.ok("GET", "/api/v1/user-groups", &t, None).await["user_groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["kind"] == "Everyone")
        .unwrap()["id"]
        .clone();
    let oda = s
        .ok(
            "POST",
            "/api/v1/assignments",
            &t,
            Some(json!({"name": "OnDemand for all", "role": od_role, "user_groups": [everyone]})),
        )
        .await;
    let od = s.ok("POST", "/api/v1/ondemand", &t, None).await;
    assert_eq!(od["key"].as_str().unwrap().len(), 9, "a 9-digit key");
    assert_eq!(
        s.ok("GET", "/api/v1/ondemand", &t, None).await["sessions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    s.ok(
        "POST",
        "/api/v1/assignments/delete",
        &t,
        Some(json!({"ids": [oda["id"]]})),
    )
    .await;

    // Sessions: none until the actors are wired.
    assert_eq!(
        s.ok("GET", "/api/v1/sessions", &t, None).await["sessions"],
        json!([])
    );
    assert_error(
        &s.call("DELETE", "/api/v1/sessions/x", Some(&t), None).await,
        404,
        "not_found",
    );

    // Revoke needs the literal confirmation; then remove.
    let bad = s
        .call(
            "POST",
            &format!("/api/v1/packages/{pid}/revoke"),
            Some(&t),
            Some(json!({"confirm": "yes"})),
        )
        .await;
    assert_error(&bad, 422, "revoke_confirmation_mismatch");
    let rv = s
        .ok(
            "POST",
            &format!("/api/v1/packages/{pid}/revoke"),
            &t,
            Some(json!({"confirm": "revoke"})),
        )
        .await;
    assert_eq!(
        rv["devices"],
        json!([did]),
        "002/004: revoking cuts off every device of the package"
    );
    assert_eq!(
        s.ok("GET", &format!("/api/v1/devices/{did}"), &t, None)
            .await["enrollment"],
        "Revoked"
    );
    s.ok("DELETE", &format!("/api/v1/devices/{did}"), &t, None)
        .await;
    s.ok("DELETE", &format!("/api/v1/packages/{pid}"), &t, None)
        .await;
    s.ok("DELETE", &format!("/api/v1/device-groups/{dgid}"), &t, None)
        .await;
    s.ok("DELETE", &format!("/api/v1/user-groups/{gid}"), &t, None)
        .await;
    s.ok("DELETE", &format!("/api/v1/users/{alice}"), &t, None)
        .await;
    assert_error(
        &s.call("GET", &format!("/api/v1/users/{alice}"), Some(&t), None)
            .await,
        404,
        "not_found",
    );

    // Audit: JSON and CSV.
    let all = s.ok("GET", "/api/v1/audit", &t, None).await;
    assert!(all["records"].as_array().unwrap().len() > 10);
    let csv = s
        .call("GET", "/api/v1/audit?format=csv&kind=Role", Some(&t), None)
        .await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.content_type
            .as_deref()
            .unwrap_or("")
            .starts_with("text/csv")
    );
    assert!(csv.body.starts_with("time,actor,kind,what"), "{}", csv.body);
    assert!(csv.body.contains("Viewers"));
}

both!(authorization_by_user_type);
async fn authorization_by_user_type(b: Backend) {
    let s = server(b).await;
    let owner = s.owner().await;
    let (_, user) = s.user(&owner, "plain", "User").await;
    let (_, gm) = s.user(&owner, "manager", "GroupManager").await;
    let (admin_id, _) = s.user(&owner, "boss", "AccountAdministrator").await;
    let (plain2_id, _) = s.user(&owner, "plain2", "User").await;
    // 002/004: a User may "view assigned devices and manage your profile" only.
    let role = json!({"name": "R", "purpose": "DeviceAccess", "permissions": ["RemoteSession"]});
    assert_error(
        &s.call("POST", "/api/v1/roles", Some(&user), Some(role.clone()))
            .await,
        403,
        "not_permitted",
    );
    assert_error(
        &s.call("GET", "/api/v1/users", Some(&user), None).await,
        403,
        "not_permitted",
    );
    assert_error(
        &s.call("GET", "/api/v1/audit", Some(&user), None).await,
        403,
        "not_permitted",
    );
    s.ok("GET", "/api/v1/me", &user, None).await;
    // Group managers view roles but do not create them.
    s.ok("GET", "/api/v1/roles", &gm, None).await;
    assert_error(
        &s.call("POST", "/api/v1/roles", Some(&gm), Some(role)).await,
        403,
        "not_permitted",
    );
    assert_error(
        &s.call(
            "POST",
            "/api/v1/packages",
            Some(&gm),
            Some(json!({"name": "P"})),
        )
        .await,
        403,
        "not_permitted",
    );
    // 002/004: "You are not allowed to edit a user whose role is higher".
    let r = s
        .call(
            "POST",
            &format!("/api/v1/users/{admin_id}/disable"),
            Some(&gm),
            None,
        )
        .await;
    assert_error(&r, 403, "not_permitted");
    assert_error(
        &s.call(
            "DELETE",
            &format!("/api/v1/users/{admin_id}"),
            Some(&gm),
            None,
        )
        .await,
        403,
        "not_permitted",
    );
    // ...but may disable a plain user.
    s.ok(
        "POST",
        &format!("/api/v1/users/{plain2_id}/disable"),
        &gm,
        None,
    )
    .await;
    // A group manager cannot create an administrator.
    let r = s
        .call(
            "POST",
            "/api/v1/users",
            Some(&gm),
            Some(
                json!({"username": "x", "password": "Passw0rd-x", "type": "AccountAdministrator"}),
            ),
        )
        .await;
    assert_error(&r, 403, "not_permitted");
}

both!(tenants_are_isolated);
async fn tenants_are_isolated(b: Backend) {
    let s = server(b).await;
    let a = s.owner().await;
    // Tenant B, with one object of every kind.
    let (tb, _) = s
        .started
        .dir
        .create_tenant(NewTenant {
            name: "Other".into(),
            timezone: "UTC".into(),
            quotas: Quotas::default(),
            owner: NewUser {
                username: "bowner".into(),
                password: Some("Bowner-passw0rd".into()),
                ..NewUser::default()
            },
        })
        .await
        .unwrap();
    let bt = s.token("bowner", "Bowner-passw0rd").await;
    let (b_user, _) = s.user(&bt, "buser", "User").await;
    let b_ug = s
        .ok(
            "POST",
            "/api/v1/user-groups",
            &bt,
            Some(json!({"name": "BG"})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b_dg = s
        .ok(
            "POST",
            "/api/v1/device-groups",
            &bt,
            Some(json!({"name": "BD"})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b_role = s
        .ok(
            "POST",
            "/api/v1/roles",
            &bt,
            Some(
                json!({"name": "BR", "purpose": "DeviceAccess", "permissions": ["RemoteSession"]}),
            ),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b_asg = s.ok("POST", "/api/v1/assignments", &bt, Some(json!({"name": "BA", "role": b_role, "user_groups": [b_ug], "device_groups": [b_dg]}))).await["id"].as_str().unwrap().to_owned();
    let p = s
        .ok("POST", "/api/v1/packages", &bt, Some(json!({"name": "BP"})))
        .await;
    let b_pkg = p["package"]["id"].as_str().unwrap().to_owned();
    let dev = s
        .started
        .dir
        .enroll_device(
            p["enrollment_key"].as_str().unwrap(),
            Enrollment {
                hostname: "b-host".into(),
                os: "linux".into(),
                agent_version: "0.1".into(),
                keys: DeviceKeys {
                    auth_ed25519: [3; 32],
                    noise_x25519: [4; 32],
                },
            },
        )
        .await
        .unwrap();
    let b_dev = dev.id.to_string();
    assert_ne!(tb.id, TenantId::new_random());

    // Every route with an {id}, called by A's owner with B's id of the right kind → 404.
    let (_, docs) = api::table().finish();
    let mut tried = 0;
    for d in docs.iter().filter(|d| d.path.contains("{id}")) {
        let id = if d.path.starts_with("/api/v1/users/") {
            &b_user
        } else if d.path.starts_with("/api/v1/user-groups/") {
            &b_ug
        } else if d.path.starts_with("/api/v1/device-groups/") {
            &b_dg
        } else if d.path.starts_with("/api/v1/roles/") {
            &b_role
        } else if d.path.starts_with("/api/v1/assignments/") {
            &b_asg
        } else if d.path.starts_with("/api/v1/packages/") {
            &b_pkg
        } else if d.path.starts_with("/api/v1/devices/") {
            &b_dev
        } else {
            &b_asg
        };
        let body = match d.path {
            p if p.ends_with("/members") || p.ends_with("/members/remove") => {
                if p.contains("user-groups") {
                    json!({"users": []})
                } else {
                    json!({"devices": []})
                }
            }
            p if p.ends_with("/active") => json!({"active": false}),
            p if p.ends_with("/revoke") => json!({"confirm": "revoke"}),
            p if p.ends_with("/copy") => json!({}),
            "/api/v1/roles/{id}" => {
                json!({"name": "X", "purpose": "DeviceAccess", "permissions": []})
            }
            _ => json!({}),
        };
        let path = d.path.replace("{id}", id);
        let method = d.method.to_uppercase();
        let r = s.call(&method, &path, Some(&a), Some(body)).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
        assert_ne!(r.json()["code"], "no_route");
        tried += 1;
    }
    assert!(tried >= 20, "only {tried} routes tried");
    // Ids inside bodies and queries.
    let a_ug = s
        .ok(
            "POST",
            "/api/v1/user-groups",
            &a,
            Some(json!({"name": "AG"})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a_dg = s
        .ok(
            "POST",
            "/api/v1/device-groups",
            &a,
            Some(json!({"name": "AD"})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases = [
        (
            "POST",
            format!("/api/v1/user-groups/{a_ug}/members"),
            json!({"users": [b_user]}),
        ),
        (
            "POST",
            format!("/api/v1/device-groups/{a_dg}/members"),
            json!({"devices": [b_dev]}),
        ),
        (
            "POST",
            "/api/v1/assignments".into(),
            json!({"name": "x", "role": b_role, "user_groups": [a_ug], "device_groups": [a_dg]}),
        ),
        (
            "POST",
            "/api/v1/assignments/delete".into(),
            json!({"ids": [b_asg]}),
        ),
        (
            "POST",
            "/api/v1/assignments/schedule".into(),
            json!({"ids": [b_asg], "schedule": null}),
        ),
        (
            "POST",
            "/api/v1/packages".into(),
            json!({"name": "x", "target_group": b_dg}),
        ),
        (
            "GET",
            format!("/api/v1/check?user={b_user}&device={b_dev}"),
            Value::Null,
        ),
    ];
    for (m, p, body) in cases {
        let body = (!body.is_null()).then_some(body);
        let r = s.call(m, &p, Some(&a), body).await;
        assert_eq!(r.status, 404, "{m} {p}: {}", r.body);
    }
    // Lists of A show nothing of B.
    for p in [
        "/api/v1/users",
        "/api/v1/user-groups",
        "/api/v1/device-groups",
        "/api/v1/roles",
        "/api/v1/assignments",
        "/api/v1/packages",
        "/api/v1/devices",
        "/api/v1/audit",
        "/api/v1/ondemand",
        "/api/v1/sessions",
    ] {
        let v = s.ok("GET", p, &a, None).await.to_string();
        for id in [&b_user, &b_ug, &b_dg, &b_role, &b_asg, &b_pkg, &b_dev] {
            assert!(!v.contains(id.as_str()), "{p} leaks {id}");
        }
        assert!(!v.contains(&tb.id.to_string()), "{p} leaks tenant B");
    }
    // A's token cannot be pointed at B by login either: not a member → auth_failed.
    assert_error(
        &s.login(Some("Other"), "admin", OWNER_PW).await,
        401,
        "auth_failed",
    );
}

both!(login_rate_limit);
async fn login_rate_limit(b: Backend) {
    let s = server_with(b, |c| {
        c.login.per_user_burst = 3;
        c.login.per_user_per_minute = 1;
    })
    .await;
    for _ in 0..3 {
        assert_error(
            &s.login(None, "admin", "Wrong-passw0rd").await,
            401,
            "auth_failed",
        );
    }
    let r = s.login(None, "admin", OWNER_PW).await;
    assert_error(&r, 429, "rate_limited");
    // Another username is not affected.
    assert_error(
        &s.login(None, "someone", "Wrong-passw0rd").await,
        401,
        "auth_failed",
    );
    let m = s.call("GET", "/metrics", None, None).await;
    assert!(m.body.contains("switchboard_logins_total"), "{}", m.body);
    assert!(m.body.contains("outcome=\"rate_limited\""));
}

both!(bad_input);
async fn bad_input(b: Backend) {
    let s = server(b).await;
    let t = s.owner().await;
    let r = s
        .http
        .request_raw("POST", "/api/v1/users", Some(&t), "{not json")
        .await
        .unwrap();
    assert_error(&r, 400, "bad_request");
    assert!(
        r.json()["message"].as_str().unwrap().contains("JSON"),
        "{}",
        r.body
    );
    let r = s
        .call(
            "POST",
            "/api/v1/users",
            Some(&t),
            Some(json!({"username": "x", "surprise": 1})),
        )
        .await;
    assert_error(&r, 400, "bad_request");
    assert!(
        r.body.contains("surprise"),
        "the unknown field is named: {}",
        r.body
    );
    let r = s
        .call("GET", "/api/v1/audit?from=yesterday", Some(&t), None)
        .await;
    assert_error(&r, 400, "bad_request");
    let r = s
        .call("GET", "/api/v1/users/not-an-id", Some(&t), None)
        .await;
    assert_error(&r, 404, "not_found");
}

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
    let r = s.call("GET", "/api/v1/nothing-here", Some(&t), None).await;
    assert_error(&r, 404, "no_route");
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
