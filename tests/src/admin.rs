//! Tenant set-up for the agent tests through the admin HTTP API only (the way an
//! administrator does it): users, groups, roles, assignments and a package.
//!
//! The typed calls themselves live in `switchboard_agent::admin` (loadgen uses the same copy);
//! they are re-exported here. It checks no rule of the API itself (the broker's own tests do).

pub use switchboard_agent::admin::Admin;

use crate::serve::{PASSWORD, ServeProcess};

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
    let admin = serve.owner().await?;
    let tech = admin.create_user("tech", PASSWORD).await?;
    let viewer = admin.create_user("viewer", PASSWORD).await?;
    let outsider = admin.create_user("outsider", PASSWORD).await?;
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
