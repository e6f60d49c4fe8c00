//! Bootstrap, login, TOTP and recovery codes, rate limits, authorization by user type.

use serde_json::json;

use crate::{Backend, OWNER_PW, assert_error, server, server_with};
use switchboard_broker::bootstrap::bootstrap;
use switchboard_directory::jiff::Timestamp;
use switchboard_directory::rules::totp::{format_code, totp_code, totp_step};

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
    s.refused("GET", "/api/v1/me", None, None, 401, "auth_failed")
        .await;
    s.refused(
        "GET",
        "/api/v1/me",
        Some("garbage"),
        None,
        401,
        "auth_failed",
    )
    .await;
    // Logout ends the token.
    s.ok("POST", "/api/v1/logout", &t, None).await;
    s.refused("GET", "/api/v1/me", Some(&t), None, 401, "auth_failed")
        .await;
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
        .login_mfa(json!({"ticket": ticket, "code": "12345x"}))
        .await;
    assert_error(&wrong, 401, "auth_failed");
    // The next step's code (within the ±1 skew; the current one was spent by the confirm).
    let ok = s
        .login_mfa(json!({"ticket": ticket, "code": code(totp_step(now) + 1)}))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let tok = ok.json()["token"].as_str().unwrap().to_owned();
    s.ok("GET", "/api/v1/me", &tok, None).await;
    // The ticket is single use.
    let again = s
        .login_mfa(json!({"ticket": ticket, "code": code(totp_step(now) + 1)}))
        .await;
    assert_error(&again, 401, "auth_failed");

    // A recovery code works once (002/004: "A used code becomes inactive").
    let rc0 = codes[0].as_str().unwrap();
    let t2 = s.login(None, "admin", OWNER_PW).await.json()["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let ok = s
        .login_mfa(json!({"ticket": t2, "recovery_code": rc0}))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let t3 = s.login(None, "admin", OWNER_PW).await.json()["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    s.refused(
        "POST",
        "/api/v1/login/mfa",
        None,
        Some(json!({"ticket": t3, "recovery_code": rc0})),
        401,
        "auth_failed",
    )
    .await;
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
    s.refused(
        "POST",
        "/api/v1/roles",
        Some(&user),
        Some(role.clone()),
        403,
        "not_permitted",
    )
    .await;
    s.refused(
        "GET",
        "/api/v1/users",
        Some(&user),
        None,
        403,
        "not_permitted",
    )
    .await;
    s.refused(
        "GET",
        "/api/v1/audit",
        Some(&user),
        None,
        403,
        "not_permitted",
    )
    .await;
    s.ok("GET", "/api/v1/me", &user, None).await;
    // Group managers view roles but do not create them.
    s.ok("GET", "/api/v1/roles", &gm, None).await;
    s.refused(
        "POST",
        "/api/v1/roles",
        Some(&gm),
        Some(role),
        403,
        "not_permitted",
    )
    .await;
    s.refused(
        "POST",
        "/api/v1/packages",
        Some(&gm),
        Some(json!({"name": "P"})),
        403,
        "not_permitted",
    )
    .await;
    // 002/004: "You are not allowed to edit a user whose role is higher".
    s.refused(
        "POST",
        &format!("/api/v1/users/{admin_id}/disable"),
        Some(&gm),
        None,
        403,
        "not_permitted",
    )
    .await;
    s.refused(
        "DELETE",
        &format!("/api/v1/users/{admin_id}"),
        Some(&gm),
        None,
        403,
        "not_permitted",
    )
    .await;
    // ...but may disable a plain user.
    s.ok(
        "POST",
        &format!("/api/v1/users/{plain2_id}/disable"),
        &gm,
        None,
    )
    .await;
    // A group manager cannot create an administrator.
    s.refused(
        "POST",
        "/api/v1/users",
        Some(&gm),
        Some(json!({"username": "x", "password": "Passw0rd-x", "type": "AccountAdministrator"})),
        403,
        "not_permitted",
    )
    .await;
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

both!(per_ip_limit_and_mfa_lockout);
async fn per_ip_limit_and_mfa_lockout(b: Backend) {
    let s = server_with(b, |c| {
        c.login.per_ip_burst = 12;
        c.login.per_ip_per_minute = 1;
    })
    .await;
    let t = s.owner().await;
    let e = s.ok("POST", "/api/v1/me/totp", &t, None).await;
    let secret = hex::decode(e["secret_hex"].as_str().unwrap()).unwrap();
    let code = |step: u64| format_code(totp_code(&secret, step).unwrap());
    let step = totp_step(Timestamp::now());
    s.ok(
        "POST",
        "/api/v1/me/totp/confirm",
        &t,
        Some(json!({"code": code(step)})),
    )
    .await;
    // Five wrong codes end the ticket: the right one no longer helps.
    let ticket = s.login(None, "admin", OWNER_PW).await.json()["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong = if code(step + 1) == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..5 {
        s.refused(
            "POST",
            "/api/v1/login/mfa",
            None,
            Some(json!({"ticket": ticket, "code": wrong})),
            401,
            "auth_failed",
        )
        .await;
    }
    s.refused(
        "POST",
        "/api/v1/login/mfa",
        None,
        Some(json!({"ticket": ticket, "code": code(step + 1)})),
        401,
        "auth_failed",
    )
    .await;
    // The per-IP bucket (12) is spent by now, whatever the username.
    let mut limited = false;
    for i in 0..8 {
        let r = s.login(None, &format!("user{i}"), "Wrong-passw0rd").await;
        if r.status == 429 {
            assert_error(&r, 429, "rate_limited");
            limited = true;
            break;
        }
    }
    assert!(limited, "the per-IP limit never answered 429");
}

both!(totp_replacement_needs_a_code);
async fn totp_replacement_needs_a_code(b: Backend) {
    let s = server(b).await;
    let t = s.owner().await;
    let e = s.ok("POST", "/api/v1/me/totp", &t, None).await;
    let secret = hex::decode(e["secret_hex"].as_str().unwrap()).unwrap();
    let step = totp_step(Timestamp::now());
    // Unconfirmed: enrolling again is free.
    let e = s.ok("POST", "/api/v1/me/totp", &t, None).await;
    let secret2 = hex::decode(e["secret_hex"].as_str().unwrap()).unwrap();
    assert_ne!(secret, secret2);
    let code2 = |step: u64| format_code(totp_code(&secret2, step).unwrap());
    s.ok(
        "POST",
        "/api/v1/me/totp/confirm",
        &t,
        Some(json!({"code": code2(step)})),
    )
    .await;
    // Confirmed: replacing it needs a code from it.
    s.refused(
        "POST",
        "/api/v1/me/totp",
        Some(&t),
        None,
        409,
        "totp_enrolled",
    )
    .await;
    let r = s
        .call(
            "POST",
            "/api/v1/me/totp",
            Some(&t),
            Some(json!({"code": code2(step + 1)})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}
