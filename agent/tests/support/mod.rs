//! Shared by the agent's integration tests: an in-process node (broker + relay on loopback,
//! redb in a temp dir) with user `tech` allowed tunnels to the device group a package enrolls
//! into, a local echo server, and a printer that records lines.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use switchboard_agent::control::Printer;
use switchboard_broker::config::{BrokerConfig, Overrides};
use switchboard_broker::control::{Node, NodeOptions, RelayOverrides};
use switchboard_directory::model::{
    ConfirmAccess, Permission, PermissionSet as DirPerms, Role, RoleId, RolePurpose, UserType,
};
use switchboard_directory::service::{Actor, NewAssignment, NewPackage, NewUser};

pub const PASSWORD: &str = "Corr3ctHorse!";
pub const WAIT: Duration = Duration::from_secs(10);

pub struct Lines(pub Arc<parking_lot::Mutex<Vec<String>>>);

impl Lines {
    pub fn new() -> (Self, Printer) {
        let l = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let l2 = l.clone();
        (
            Self(l),
            Arc::new(move |s: &str| l2.lock().push(s.to_owned())),
        )
    }

    pub async fn wait_for(&self, needle: &str) -> anyhow::Result<()> {
        for _ in 0..400 {
            if self.0.lock().iter().any(|l| l.contains(needle)) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        anyhow::bail!("no line with {needle:?} in {:?}", self.0.lock())
    }
}

pub async fn echo_server() -> anyhow::Result<std::net::SocketAddr> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    Ok(addr)
}

fn user(name: &str) -> NewUser {
    NewUser {
        username: name.into(),
        first_name: "Test".into(),
        last_name: name.into(),
        email: format!("{name}@example.invalid"),
        password: Some(PASSWORD.into()),
        ..NewUser::default()
    }
}

/// Starts a node; the node, its data dir, and the enrollment key of a package into a device
/// group that user `tech` may open tunnels to.
pub async fn node() -> anyhow::Result<(Node, tempfile::TempDir, String)> {
    let n = node_full().await?;
    Ok((n.node, n.data, n.key))
}

/// A started node and the handles a test needs to change its policy.
pub struct TestNode {
    pub node: Node,
    pub data: tempfile::TempDir,
    /// Enrollment key of the package.
    pub key: String,
    pub package: switchboard_directory::model::PackageId,
    pub tenant: switchboard_directory::model::TenantId,
    pub owner: Actor,
}

/// As `node`, with the package, tenant and owner.
pub async fn node_full() -> anyhow::Result<TestNode> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let data = tempfile::tempdir()?;
    let flags = Overrides {
        data_dir: Some(data.path().to_owned()),
        directory: None,
        admin_listen: Some("127.0.0.1:0".parse()?),
        control_listen: vec!["127.0.0.1:0".parse()?],
        control_quic_listen: vec!["127.0.0.1:0".parse()?],
        log_format: None,
        bootstrap_tenant: Some("Acme".into()),
        bootstrap_owner: Some("owner".into()),
        bootstrap_password: Some(PASSWORD.into()),
    };
    let cfg = BrokerConfig::load(None, &|_| None, &flags)?;
    let relay = RelayOverrides {
        listen: vec!["127.0.0.1:0".parse()?],
        no_quic: true,
        ..RelayOverrides::default()
    };
    let node = Node::start(
        &cfg,
        NodeOptions {
            relay,
            ..NodeOptions::default()
        },
    )
    .await?;
    let boot = node
        .started
        .bootstrapped
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("a fresh data dir bootstraps"))?;
    let (t, owner) = (boot.tenant.id, Actor::user(boot.owner.id));
    let d = &node.started.dir;
    let tech = d
        .create_user(t, &owner, user("tech"), UserType::User)
        .await?;
    let techs = d.create_user_group(t, &owner, "Techs", "").await?;
    d.add_users_to_group(t, &owner, techs.id, &[tech.id])
        .await?;
    let servers = d.create_device_group(t, &owner, "Servers", "").await?;
    let role = Role {
        id: RoleId::new_random(),
        tenant: t,
        name: "Tunnels".into(),
        description: String::new(),
        purpose: RolePurpose::DeviceAccess,
        enabled: true,
        permissions: DirPerms::from_slice(&[Permission::RemoteSession, Permission::Tunnel]),
        confirm: ConfirmAccess::default(),
        whitelist: None,
        system: None,
        created_at: Timestamp::UNIX_EPOCH,
    };
    let role = d.create_role(t, &owner, role).await?;
    let assignment = NewAssignment {
        name: "techs-servers".into(),
        description: String::new(),
        role: role.id,
        user_groups: BTreeSet::from([techs.id]),
        device_groups: BTreeSet::from([servers.id]),
        schedule: None,
    };
    d.create_assignment(t, &owner, assignment).await?;
    // 002/004 §6.2: creating OnDemand keys needs an OnDemand role assignment.
    let helpdesk = Role {
        id: RoleId::new_random(),
        tenant: t,
        name: "Helpdesk".into(),
        description: String::new(),
        purpose: RolePurpose::OnDemand,
        enabled: true,
        permissions: DirPerms::ONDEMAND_FULL,
        confirm: ConfirmAccess::default(),
        whitelist: None,
        system: None,
        created_at: Timestamp::UNIX_EPOCH,
    };
    let helpdesk = d.create_role(t, &owner, helpdesk).await?;
    let ondemand = NewAssignment {
        name: "techs-ondemand".into(),
        description: String::new(),
        role: helpdesk.id,
        user_groups: BTreeSet::from([techs.id]),
        device_groups: BTreeSet::new(),
        schedule: None,
    };
    d.create_assignment(t, &owner, ondemand).await?;
    let package = NewPackage {
        name: "servers".into(),
        enabled: true,
        pending: false,
        target_group: Some(servers.id),
        ..NewPackage::default()
    };
    let (package, key) = d.create_package(t, &owner, package).await?;
    Ok(TestNode {
        node,
        data,
        key,
        package: package.id,
        tenant: t,
        owner,
    })
}
