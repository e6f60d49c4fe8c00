//! Two tenants cannot see or reach each other's objects through any endpoint.

use serde_json::{Value, json};

use crate::{Backend, OWNER_PW, assert_error, server};
use switchboard_broker::api;
use switchboard_directory::model::{Quotas, TenantId};
use switchboard_directory::service::{NewTenant, NewUser};

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
        .create(&bt, "/api/v1/user-groups", json!({"name": "BG"}))
        .await;
    let b_dg = s
        .create(&bt, "/api/v1/device-groups", json!({"name": "BD"}))
        .await;
    let b_role = s
        .create(
            &bt,
            "/api/v1/roles",
            json!({"name": "BR", "purpose": "DeviceAccess", "permissions": ["RemoteSession"]}),
        )
        .await;
    let b_asg = s
        .create(
            &bt,
            "/api/v1/assignments",
            json!({"name": "BA", "role": b_role, "user_groups": [b_ug], "device_groups": [b_dg]}),
        )
        .await;
    let p = s
        .ok("POST", "/api/v1/packages", &bt, Some(json!({"name": "BP"})))
        .await;
    let b_pkg = p["package"]["id"].as_str().unwrap().to_owned();
    let dev = s
        .enroll(p["enrollment_key"].as_str().unwrap(), "b-host", 3)
        .await;
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
        .create(&a, "/api/v1/user-groups", json!({"name": "AG"}))
        .await;
    let a_dg = s
        .create(&a, "/api/v1/device-groups", json!({"name": "AD"}))
        .await;
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
