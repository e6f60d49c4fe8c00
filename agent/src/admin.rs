//! The admin-API client used by loadgen and the tests: a logged-in caller and typed calls for
//! the objects an administrator creates (users, user and device groups, roles, assignments,
//! packages) and the few actions tests need (revoke a package, disable a user).
//!
//! Every call must answer 2xx or it is an [`AgentError::Http`] carrying the method, path,
//! status and body. It checks no rule of the API itself (the broker's own tests do) and keeps
//! no state beyond the bearer token.

use serde_json::{Value, json};

use crate::error::AgentError;
use crate::http::HttpClient;

/// A logged-in admin API caller.
#[derive(Debug, Clone)]
pub struct Admin {
    http: HttpClient,
    token: String,
}

fn http_err(m: String) -> AgentError {
    AgentError::Http(m)
}

impl Admin {
    /// Logs `username` in with `password`.
    pub async fn login(
        http: HttpClient,
        username: &str,
        password: &str,
    ) -> Result<Self, AgentError> {
        let body = json!({ "username": username, "password": password });
        let r = http
            .request("POST", "/api/v1/login", None, Some(&body))
            .await?;
        if r.status != 200 {
            return Err(http_err(format!(
                "login of {username}: {} {}",
                r.status, r.body
            )));
        }
        let token = r.json()["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| http_err(format!("no token in {}", r.body)))?;
        Ok(Self { http, token })
    }

    /// The bearer token (for calls this type has no method for).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// One call that must answer 2xx; the JSON answer.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, AgentError> {
        let r = self
            .http
            .request(method, path, Some(&self.token), body.as_ref())
            .await?;
        if !(200..300).contains(&r.status) {
            return Err(http_err(format!(
                "{method} {path}: {} {}",
                r.status, r.body
            )));
        }
        Ok(r.json())
    }

    async fn create(&self, path: &str, body: Value) -> Result<String, AgentError> {
        let v = self.call("POST", path, Some(body)).await?;
        id_of(&v, path)
    }

    /// A user of type User with `password`; its id.
    pub async fn create_user(&self, username: &str, password: &str) -> Result<String, AgentError> {
        self.create(
            "/api/v1/users",
            json!({ "username": username, "password": password }),
        )
        .await
    }

    /// A user group holding `users` (user ids); its id.
    pub async fn create_user_group(
        &self,
        name: &str,
        users: &[&str],
    ) -> Result<String, AgentError> {
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
    pub async fn create_device_group(&self, name: &str) -> Result<String, AgentError> {
        self.create("/api/v1/device-groups", json!({ "name": name }))
            .await
    }

    /// A DeviceAccess role with these permission names (e.g. `"Tunnel"`); its id.
    pub async fn create_role(
        &self,
        name: &str,
        permissions: &[&str],
    ) -> Result<String, AgentError> {
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
    ) -> Result<String, AgentError> {
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
    ) -> Result<String, AgentError> {
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
    ) -> Result<(String, String), AgentError> {
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
            .ok_or_else(|| http_err(format!("no enrollment_key in {v}")))?;
        Ok((id, key))
    }

    /// Revokes a package (its devices are cut off).
    pub async fn revoke_package(&self, id: &str) -> Result<Value, AgentError> {
        self.call(
            "POST",
            &format!("/api/v1/packages/{id}/revoke"),
            Some(json!({ "confirm": "revoke" })),
        )
        .await
    }

    /// Disables a user.
    pub async fn disable_user(&self, id: &str) -> Result<(), AgentError> {
        self.call("POST", &format!("/api/v1/users/{id}/disable"), None)
            .await?;
        Ok(())
    }
}

fn id_of(v: &Value, what: &str) -> Result<String, AgentError> {
    v["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| http_err(format!("{what}: no id in {v}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_or_named_missing() {
        assert_eq!(id_of(&json!({"id": "x1"}), "p").unwrap(), "x1");
        let e = id_of(&json!({"name": "n"}), "/api/v1/roles").unwrap_err();
        assert!(e.to_string().contains("/api/v1/roles: no id"), "{e}");
    }
}
