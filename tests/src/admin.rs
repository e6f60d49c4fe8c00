//! Tenant set-up for the agent tests through the admin HTTP API only (the way an
//! administrator does it): users, groups, roles, assignments, packages, revocation, disabling.
//!
//! Every call must answer 2xx or it is an error carrying the status and body. It checks no
//! rule of the API itself (the broker's own tests do).

use serde_json::{Value, json};
use switchboard_agent::http::HttpClient;

use crate::serve::{OWNER, PASSWORD, ServeProcess};

/// A logged-in admin API caller.
#[derive(Debug, Clone)]
pub struct Admin {
    http: HttpClient,
    token: String,
}

impl Admin {
    /// Logs `username` in with `password`.
    pub async fn login(http: HttpClient, username: &str, password: &str) -> anyhow::Result<Self> {
        let body = json!({ "username": username, "password": password });
        let r = http
            .request("POST", "/api/v1/login", None, Some(&body))
            .await?;
        anyhow::ensure!(
            r.status == 200,
            "login of {username}: {} {}",
            r.status,
            r.body
        );
        let token = r.json()["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no token in {}", r.body))?;
        Ok(Self { http, token })
    }

    /// One call that must answer 2xx; the JSON answer.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let r = self
            .http
            .request(method, path, Some(&self.token), body.as_ref())
            .await?;
        anyhow::ensure!(
            (200..300).contains(&r.status),
            "{method} {path}: {} {}",
            r.status,
            r.body
        );
        Ok(r.json())
    }

    async fn create(&self, path: &str, body: Value) -> anyhow::Result<String> {
        let v = self.call("POST", path, Some(body)).await?;
        id_of(&v, path)
    }

    /// A user of type User with [`PASSWORD`]; its id.
    pub async fn create_user(&self, username: &str) -> anyhow::Result<String> {
        self.create(
            "/api/v1/users",
            json!({ "username": username, "password": PASSWORD }),
        )
        .await
    }

    /// A user group holding `users`; its id.
    pub async fn create_user_group(&self, name: &str, users: &[&str]) -> anyhow::Result<String> {
        let id = self
            .create("/api/v1/user-groups", json!({ "name": name }))
            .await?;
        self.call(
            "POST",
            &format!("/api/v1/user-groups/{id}/members"),
            Some(json!({ "users": users })),
        )
        .await?;
        Ok(id)
    }

    /// An empty device group; its id.
    pub async fn create_device_group(&self, name: &str) -> anyhow::Result<String> {
        self.create("/api/v1/device-groups", json!({ "name": name }))
            .await
    }

    /// A DeviceAccess role with these permission names (e.g. `"Tunnel"`); its id.
    pub async fn create_role(&self, name: &str, permissions: &[&str]) -> anyhow::Result<String> {
        self.create(
            "/api/v1/roles",
            json!({ "name": name, "purpose": "DeviceAccess", "permissions": permissions }),
        )
        .await
    }

    /// An OnDemand role with these permissions; its id.
    pub async fn create_ondemand_role(
        &self,
        name: &str,
        permissions: &[&str],
    ) -> anyhow::Result<String> {
        self.create(
            "/api/v1/roles",
            json!({ "name": name, "purpose": "OnDemand", "permissions": permissions }),
        )
        .await
    }

    /// `role` for `user_groups` on `device_groups`; its id.
    pub async fn create_assignment(
        &self,
        name: &str,
        role: &str,
        user_groups: &[&str],
        device_groups: &[&str],
    ) -> anyhow::Result<String> {
        self.create(
            "/api/v1/assignments",
            json!({ "name": name, "role": role, "user_groups": user_groups, "device_groups": device_groups }),
        )
        .await
    }

    /// An enabled package enrolling straight into `target_group`: (its id, its key).
    pub async fn create_package(
        &self,
        name: &str,
        target_group: &str,
    ) -> anyhow::Result<(String, String)> {
        let v = self
            .call(
                "POST",
                "/api/v1/packages",
                Some(json!({ "name": name, "target_group": target_group })),
            )
            .await?;
        let id = id_of(&v["package"], "/api/v1/packages")?;
        let key = v["enrollment_key"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no enrollment_key in {v}"))?;
        Ok((id, key))
    }

    /// Revokes a package (its devices are cut off).
    pub async fn revoke_package(&self, id: &str) -> anyhow::Result<Value> {
        self.call(
            "POST",
            &format!("/api/v1/packages/{id}/revoke"),
            Some(json!({ "confirm": "revoke" })),
        )
        .await
    }

    /// Disables a user.
    pub async fn disable_user(&self, id: &str) -> anyhow::Result<()> {
        self.call("POST", &format!("/api/v1/users/{id}/disable"), None)
            .await?;
        Ok(())
    }
}

fn id_of(v: &Value, what: &str) -> anyhow::Result<String> {
    v["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("{what}: no id in {v}"))
}

/// The tenant of the agent tests.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// The owner, logged in.
    pub admin: Admin,
    /// `tech`: RemoteSession + Tunnel on device group Servers.
    pub tech: String,
    /// `viewer`: RemoteSession + ViewScreen on Servers (a session, but no tunnel).
    pub viewer: String,
    /// `outsider`: ViewScreen only on Servers (nothing the Guest asks for).
    pub outsider: String,
    /// Device group Servers.
    pub servers: String,
    /// User group Tunnelers (`tech`).
    pub tunnelers: String,
    /// The package enrolling into Servers (Enrolled on arrival).
    pub package: String,
    /// Its enrollment key.
    pub key: String,
}

/// Users, groups, roles, assignments and a package, all through the admin API.
pub async fn setup_tenant(serve: &ServeProcess) -> anyhow::Result<Tenant> {
    let admin = Admin::login(serve.http()?, OWNER, PASSWORD).await?;
    let tech = admin.create_user("tech").await?;
    let viewer = admin.create_user("viewer").await?;
    let outsider = admin.create_user("outsider").await?;
    let servers = admin.create_device_group("Servers").await?;
    let mut group_ids = Vec::new();
    let groups = [
        ("Tunnelers", &tech, vec!["RemoteSession", "Tunnel"]),
        ("Viewers", &viewer, vec!["RemoteSession", "ViewScreen"]),
        ("Outsiders", &outsider, vec!["ViewScreen"]),
    ];
    for (name, user, perms) in groups {
        let group = admin.create_user_group(name, &[user.as_str()]).await?;
        let role = admin.create_role(&format!("{name} role"), &perms).await?;
        admin
            .create_assignment(&format!("{name} on Servers"), &role, &[&group], &[&servers])
            .await?;
        group_ids.push(group);
    }
    let tunnelers = group_ids.swap_remove(0);
    let (package, key) = admin.create_package("servers", &servers).await?;
    Ok(Tenant {
        admin,
        tech,
        viewer,
        outsider,
        servers,
        tunnelers,
        package,
        key,
    })
}
