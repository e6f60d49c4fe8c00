//! Every resource family round trip, and bad input.

use serde_json::json;

use crate::{Backend, assert_error, server};

both!(resources_round_trip);
async fn resources_round_trip(b: Backend) {
    let s = server(b).await;
    let t = s.owner().await;
    let tenant = s.ok("GET", "/api/v1/tenant", &t, None).await;
    assert_eq!(tenant["name"], "Default");
    let off = s.patch_tenant(&t, json!({"audit_enabled": true})).await;
    assert_eq!(off["audit_enabled"], true);
    let per_user = s.patch_tenant(&t, json!({"mfa_policy": "PerUser"})).await;
    assert_eq!(per_user["mfa_policy"], "PerUser");

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
    s.refused(
        "POST",
        "/api/v1/users",
        Some(&t),
        Some(json!({"username": "weak", "password": "short"})),
        422,
        "password_policy",
    )
    .await;
    s.refused(
        "POST",
        "/api/v1/users",
        Some(&t),
        Some(json!({"username": "alice", "password": "Alice-passw0rd"})),
        409,
        "duplicate_name",
    )
    .await;
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
    s.refused(
        "GET",
        "/api/v1/me",
        Some(&alice_token),
        None,
        401,
        "auth_failed",
    )
    .await;
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
    let dgid = s
        .create(&t, "/api/v1/device-groups", json!({"name": "Servers"}))
        .await;
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
    let copy_id = s
        .create(&t, &format!("/api/v1/roles/{rid}/copy"), json!({}))
        .await;
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
    assert_eq!(listed["packages"][0]["devices"], 0);
    for shown in [&listed, &p] {
        assert!(
            !shown.to_string().contains("key_hash"),
            "key hashes never leave the directory: {shown}"
        );
    }
    assert!(
        !listed.to_string().contains(&key),
        "the key is not listed again"
    );
    let dev = s.enroll(&key, "host-1", 1).await;
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
    s.refused(
        "DELETE",
        "/api/v1/sessions/x",
        Some(&t),
        None,
        404,
        "not_found",
    )
    .await;

    // Revoke needs the literal confirmation; then remove.
    s.refused(
        "POST",
        &format!("/api/v1/packages/{pid}/revoke"),
        Some(&t),
        Some(json!({"confirm": "yes"})),
        422,
        "revoke_confirmation_mismatch",
    )
    .await;
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
    s.refused(
        "GET",
        &format!("/api/v1/users/{alice}"),
        Some(&t),
        None,
        404,
        "not_found",
    )
    .await;

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
    s.refused(
        "GET",
        "/api/v1/audit?from=yesterday",
        Some(&t),
        None,
        400,
        "bad_request",
    )
    .await;
    s.refused(
        "GET",
        "/api/v1/users/not-an-id",
        Some(&t),
        None,
        404,
        "not_found",
    )
    .await;
}

both!(member_type_mfa_and_account_settings);
async fn member_type_mfa_and_account_settings(b: Backend) {
    let s = server(b).await;
    let t = s.owner().await;
    let me = s.ok("GET", "/api/v1/me", &t, None).await;
    let owner_id = me["user"]["id"].as_str().unwrap_or_default().to_owned();
    let (admin, admin_t) = s.user(&t, "admin2", "AccountAdministrator").await;
    let (gm, gm_t) = s.user(&t, "gm", "GroupManager").await;
    let (plain, plain_t) = s.user(&t, "plain", "User").await;
    let put_type = |who: &str, ty: &str| (format!("/api/v1/users/{who}/type"), json!({"type": ty}));

    // 1. User type. 002/004: "You are not allowed to edit a user whose role is higher than the
    // user you are logged in as."
    let (path, body) = put_type(&plain, "GroupManager");
    let up = s.ok("PUT", &path, &gm_t, Some(body)).await;
    assert_eq!(up["type"], "GroupManager");
    let (path, body) = put_type(&admin, "User");
    s.refused("PUT", &path, Some(&gm_t), Some(body), 403, "not_permitted")
        .await;
    let (path, body) = put_type(&plain, "AccountAdministrator");
    s.refused("PUT", &path, Some(&gm_t), Some(body), 403, "not_permitted")
        .await;
    let (path, body) = put_type(&plain, "Overlord");
    assert_eq!(s.call("PUT", &path, Some(&t), Some(body)).await.status, 400);
    let (path, body) = put_type(&plain, "User");
    s.refused(
        "PUT",
        &path,
        Some(&plain_t),
        Some(body),
        403,
        "not_permitted",
    )
    .await;
    let (path, body) = put_type(&plain, "User");
    assert_eq!(
        s.ok("PUT", &path, &admin_t, Some(body)).await["type"],
        "User"
    );
    // Only the owner transfers ownership.
    let (path, body) = put_type(&gm, "AccountOwner");
    s.refused(
        "PUT",
        &path,
        Some(&admin_t),
        Some(body),
        403,
        "not_permitted",
    )
    .await;

    // 2. MFA policy (administrator or higher) and 3. the per-user flag.
    let patch = |body| s.call("PATCH", "/api/v1/tenant", Some(&gm_t), Some(body));
    assert_error(
        &patch(json!({"mfa_policy": "Enforced"})).await,
        403,
        "not_permitted",
    );
    let mfa = |who: &str| format!("/api/v1/users/{who}/mfa");
    // Capability 6: under "Disabled" enabling per-user MFA is refused.
    s.refused(
        "PUT",
        &mfa(&plain),
        Some(&plain_t),
        Some(json!({"enabled": true})),
        422,
        "mfa_policy",
    )
    .await;
    let tn = s
        .patch_tenant(&admin_t, json!({"mfa_policy": "PerUser"}))
        .await;
    assert_eq!(tn["mfa_policy"], "PerUser");
    // 002/004: users toggle "Email (MFA)" in their own profile; admins when editing a user.
    let v = s
        .ok(
            "PUT",
            &mfa(&plain),
            &plain_t,
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(v["mfa_enabled"], true);
    let v = s
        .ok("PUT", &mfa(&plain), &gm_t, Some(json!({"enabled": false})))
        .await;
    assert_eq!(v["mfa_enabled"], false);
    s.refused(
        "PUT",
        &mfa(&gm),
        Some(&plain_t),
        Some(json!({"enabled": true})),
        403,
        "not_permitted",
    )
    .await;
    s.patch_tenant(&t, json!({"mfa_policy": "Enforced"})).await;
    // 002/004: with Enforced "users cannot modify the Multi-Factor authentication settings".
    s.refused(
        "PUT",
        &mfa(&plain),
        Some(&t),
        Some(json!({"enabled": true})),
        422,
        "mfa_policy",
    )
    .await;
    s.patch_tenant(&t, json!({"mfa_policy": "Disabled"})).await;

    // Name and time zone: account configuration, owner only; the zone must be IANA.
    s.refused(
        "PATCH",
        "/api/v1/tenant",
        Some(&admin_t),
        Some(json!({"name": "Mine"})),
        403,
        "not_permitted",
    )
    .await;
    s.refused(
        "PATCH",
        "/api/v1/tenant",
        Some(&t),
        Some(json!({"name": "Renamed", "timezone": "Europe/Atlantis", "audit_enabled": false})),
        422,
        "unknown_time_zone",
    )
    .await;
    s.refused(
        "PATCH",
        "/api/v1/tenant",
        Some(&t),
        Some(json!({"name": "  "})),
        400,
        "bad_request",
    )
    .await;
    let same = s.ok("GET", "/api/v1/tenant", &t, None).await;
    assert_eq!(same["name"], "Default", "a refused PATCH changes nothing");
    assert_eq!(
        same["audit_enabled"], true,
        "a refused PATCH changes nothing"
    );
    let renamed = s
        .patch_tenant(&t, json!({"name": "Acme", "timezone": "Asia/Tokyo"}))
        .await;
    assert_eq!(
        (&renamed["name"], &renamed["timezone"]),
        (&json!("Acme"), &json!("Asia/Tokyo"))
    );

    // Ownership transfer: 004 "You will be immediately demoted to an Account administrator"
    // and both must log in again.
    let (path, body) = put_type(&admin, "AccountOwner");
    let new_owner = s.ok("PUT", &path, &t, Some(body)).await;
    assert_eq!(new_owner["type"], "AccountOwner");
    for old in [&t, &admin_t] {
        s.refused("GET", "/api/v1/me", Some(old), None, 401, "auth_failed")
            .await;
    }
    let t2 = s.token("admin2", "Passw0rd-x").await;
    let tn = s.ok("GET", "/api/v1/tenant", &t2, None).await;
    assert_eq!(tn["owner"], admin.as_str());
    let prev = s
        .ok("GET", &format!("/api/v1/users/{owner_id}"), &t2, None)
        .await;
    assert_eq!(prev["type"], "AccountAdministrator");
}
