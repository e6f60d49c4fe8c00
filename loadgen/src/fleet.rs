//! Provisioning through the admin API, the way an administrator does it: a technician user, a
//! user group holding it, a device group, a DeviceAccess role with RemoteSession + Tunnel, the
//! assignment tying them, a package enrolling into the group, and N devices enrolled with that
//! package (the real enrollment exchange over the control connection, bounded concurrency,
//! each identity in its own state dir under one temp dir).
//!
//! Names carry a random run tag, so runs against an existing server do not collide. It starts
//! no host (that is `hosts.rs`) and deletes nothing afterwards.

use std::sync::Arc;

use futures::StreamExt as _;
use switchboard_agent::admin::Admin;
use switchboard_agent::control::guest::{LoginOptions, login};
use switchboard_agent::control::host::{EnrollOptions, enroll};
use switchboard_agent::state::{GuestState, HostState, StateDir};

use crate::error::LoadgenError;
use crate::target::Target;

/// Default concurrent enrollments.
pub const ENROLL_CONCURRENCY: usize = 32;

/// A provisioned tenant slice.
#[derive(Debug)]
pub struct Fleet {
    /// The logged-in administrator.
    pub admin: Admin,
    /// This run's tag (in every name).
    pub tag: String,
    /// The technician's user name.
    pub tech_user: String,
    /// The technician's password.
    pub tech_password: String,
    /// The device group the package enrolls into.
    pub device_group: String,
    /// The package's enrollment key.
    pub package_key: String,
    /// Enrolled devices (identities with their credentials).
    pub devices: Vec<HostState>,
    states: tempfile::TempDir,
}

fn random_tag() -> String {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    format!("lg{}", u32::from_le_bytes(b) % 1_000_000)
}

fn prov(what: &str, e: impl std::fmt::Display) -> LoadgenError {
    LoadgenError::Provision(format!("{what}: {e}"))
}

impl Fleet {
    /// Creates the objects and enrolls `devices` devices.
    pub async fn provision(
        target: &Target,
        devices: usize,
        concurrency: usize,
    ) -> Result<Self, LoadgenError> {
        let admin = Admin::login(target.http()?, &target.admin_user, &target.admin_password)
            .await
            .map_err(|e| prov("admin login", e))?;
        let tag = random_tag();
        let tech_user = format!("{tag}-tech");
        let tech_password = format!("Lg-{tag}-Tech-Pw1!");
        let tech_id = admin
            .create_user(&tech_user, &tech_password)
            .await
            .map_err(|e| prov("technician", e))?;
        let users = admin
            .create_user_group(&format!("{tag} technicians"), &[tech_id.as_str()])
            .await
            .map_err(|e| prov("user group", e))?;
        let device_group = admin
            .create_device_group(&format!("{tag} devices"))
            .await
            .map_err(|e| prov("device group", e))?;
        let role = admin
            .create_role(&format!("{tag} tunnels"), &["RemoteSession", "Tunnel"])
            .await
            .map_err(|e| prov("role", e))?;
        admin
            .create_assignment(
                &format!("{tag} assignment"),
                &role,
                &[&users],
                &[&device_group],
            )
            .await
            .map_err(|e| prov("assignment", e))?;
        let (_, package_key) = admin
            .create_package(&format!("{tag} package"), &device_group)
            .await
            .map_err(|e| prov("package", e))?;
        let states = tempfile::Builder::new()
            .prefix("switchboard-loadgen-devices-")
            .tempdir()?;
        let mut fleet = Self {
            admin,
            tag,
            tech_user,
            tech_password,
            device_group,
            package_key,
            devices: Vec::new(),
            states,
        };
        fleet.enroll_more(target, devices, concurrency).await?;
        Ok(fleet)
    }

    /// Enrolls `n` more devices, `concurrency` at a time; fails on the first refusal.
    pub async fn enroll_more(
        &mut self,
        target: &Target,
        n: usize,
        concurrency: usize,
    ) -> Result<(), LoadgenError> {
        let opts = Arc::new(EnrollOptions {
            endpoint: target.endpoint(),
            key: self.package_key.clone(),
            hostname: None,
        });
        let first = self.devices.len();
        let root = self.states.path().to_owned();
        let tag = self.tag.clone();
        let results: Vec<Result<HostState, LoadgenError>> = futures::stream::iter(first..first + n)
            .map(|i| {
                let opts = opts.clone();
                let dir = StateDir::new(root.join(format!("d{i}")));
                let mut o = (*opts).clone();
                o.hostname = Some(format!("{tag}-host-{i}"));
                async move {
                    enroll(&dir, &o)
                        .await
                        .map_err(|e| prov(&format!("enrolling device {i}"), e))
                }
            })
            .buffered(concurrency.max(1))
            .collect()
            .await;
        for r in results {
            self.devices.push(r?);
        }
        Ok(())
    }

    /// Logs the technician in (a Guest's state with its token).
    pub async fn login_tech(&self, target: &Target) -> Result<GuestState, LoadgenError> {
        let opts = LoginOptions {
            server: target.control.clone(),
            admin: target.admin_url.clone(),
            fingerprint: target.fingerprint.clone(),
            user: self.tech_user.clone(),
            tenant: None,
        };
        let pw = self.tech_password.clone();
        login(&opts, &pw, async || {
            Err(switchboard_agent::AgentError::Usage(
                "the loadgen technician has no second factor".into(),
            ))
        })
        .await
        .map_err(|e| prov("technician login", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_short_and_vary() {
        let a = random_tag();
        assert!(a.starts_with("lg") && a.len() <= 8, "{a}");
        let distinct: std::collections::HashSet<String> = (0..20).map(|_| random_tag()).collect();
        assert!(distinct.len() > 1);
    }
}
