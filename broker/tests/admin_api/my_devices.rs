//! `GET /api/v1/me/devices` ("my devices"): the devices on which the caller has a non-empty
//! permission set now, with state, groups and permissions, sorted by name; nothing for a user
//! without an assignment; a schedule that does not apply now hides the device.

use serde_json::{Value, json};

use crate::{Backend, server};

fn names(v: &Value) -> Vec<String> {
    v["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect()
}

both!(my_devices_follow_the_role_assignments);
async fn my_devices_follow_the_role_assignments(b: Backend) {
    let s = server(b).await;
    let t = s.owner().await;
    let (alice, alice_t) = s.user(&t, "alice", "User").await;
    let (_bob, bob_t) = s.user(&t, "bob", "User").await;
    let gid = s
        .create(&t, "/api/v1/user-groups", json!({"name": "Support"}))
        .await;
    s.ok(
        "POST",
        &format!("/api/v1/user-groups/{gid}/members"),
        &t,
        Some(json!({"users": [alice]})),
    )
    .await;
    let dgid = s
        .create(&t, "/api/v1/device-groups", json!({"name": "Servers"}))
        .await;
    let p = s
        .ok(
            "POST",
            "/api/v1/packages",
            &t,
            Some(json!({"name": "Pkg", "pending": false, "target_group": dgid})),
        )
        .await;
    let key = p["enrollment_key"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for (i, host) in ["web-2", "db-1"].into_iter().enumerate() {
        let n = u8::try_from(i).unwrap();
        let d = s.enroll(&key, host, n + 1).await;
        ids.push(d.id.to_string());
    }

    // No assignment yet: nothing for anyone.
    let mine = s.ok("GET", "/api/v1/me/devices", &alice_t, None).await;
    assert_eq!(mine, json!({"devices": []}));

    let role = s
        .ok(
            "POST",
            "/api/v1/roles",
            &t,
            Some(json!({"name": "Viewers", "purpose": "DeviceAccess", "permissions": ["RemoteSession", "ViewScreen"]})),
        )
        .await;
    let rid = role["id"].as_str().unwrap().to_owned();
    let aid = s.create(&t, "/api/v1/assignments", json!({"name": "Support on servers", "role": rid, "user_groups": [gid], "device_groups": [dgid]})).await;

    let mine = s.ok("GET", "/api/v1/me/devices", &alice_t, None).await;
    assert_eq!(names(&mine), ["db-1", "web-2"], "sorted by name: {mine}");
    let db = &mine["devices"][0];
    assert_eq!(db["id"], ids[1]);
    assert_eq!(db["online"], false, "no control connection in this test");
    assert_eq!(db["state"], "enrolled");
    assert_eq!(db["groups"], json!(["Servers"]));
    assert_eq!(
        db["permissions"],
        json!(["remote_session", "view_remote_screen"])
    );

    // Bob is in no group the assignment names.
    let theirs = s.ok("GET", "/api/v1/me/devices", &bob_t, None).await;
    assert_eq!(theirs, json!({"devices": []}));

    // The owner sees only what role assignments give them too (none here).
    let owners = s.ok("GET", "/api/v1/me/devices", &t, None).await;
    assert_eq!(owners, json!({"devices": []}), "{owners}");

    // Disabling the assignment empties the list at once.
    s.ok(
        "POST",
        &format!("/api/v1/assignments/{aid}/active"),
        &t,
        Some(json!({"active": false})),
    )
    .await;
    let mine = s.ok("GET", "/api/v1/me/devices", &alice_t, None).await;
    assert_eq!(mine, json!({"devices": []}), "{mine}");

    // No token: 401.
    let r = s.call("GET", "/api/v1/me/devices", None, None).await;
    assert_eq!(r.status, 401, "{}", r.body);
}
