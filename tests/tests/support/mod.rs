//! Shared support of the black-box flow tests: an in-process `switchboard serve` node on
//! loopback (redb in a temp dir, or a private Redis), a tenant policy built through the
//! `Directory`, logins through the admin API over HTTP, and the minimal Host and Guest clients
//! of `client`.

#![allow(dead_code, unreachable_pub)]

pub mod client;
pub mod session;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use jiff::Timestamp;
use switchboard_agent::http::HttpClient;
use switchboard_broker::config::{BrokerConfig, Overrides};
use switchboard_broker::control::{ControlLimits, Node, NodeOptions, RelayOverrides};
use switchboard_codec::ControlConfig;
use switchboard_directory::model::{
    ConfirmAccess, PackageId, Permission, PermissionSet as DirPerms, Role, RoleId, RolePurpose,
    TenantId, UserType,
};
use switchboard_directory::service::{Actor, Directory, NewAssignment, NewPackage, NewUser};
use switchboard_tests::RedisServer;

/// The bootstrap owner's and the test users' password.
pub const PASSWORD: &str = "Corr3ctHorse!";

/// A running node and what the tests need to reach it.
pub struct Server {
    pub node: Node,
    pub tenant: TenantId,
    pub owner: Actor,
    pub control: SocketAddr,
    pub quic_control: SocketAddr,
    pub cert_der: Vec<u8>,
    pub http: HttpClient,
    _data: tempfile::TempDir,
    _redis: Option<RedisServer>,
}

/// Which directory backs the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Redb,
    Redis,
}

impl Server {
    pub async fn start(backend: Backend) -> anyhow::Result<Self> {
        Self::start_with(backend, ControlConfig::default(), ControlLimits::default()).await
    }

    /// A node with the given control-connection timers and listener limits.
    pub async fn start_with(
        backend: Backend,
        control: ControlConfig,
        limits: ControlLimits,
    ) -> anyhow::Result<Self> {
        Self::start_opts(backend, |o| {
            o.control = control;
            o.limits = limits;
        })
        .await
    }

    /// A node whose start options (`NodeOptions`: control timers and limits, confirm timeout)
    /// `edit` adjusts; the relay listens on loopback port 0 without QUIC.
    pub async fn start_opts(
        backend: Backend,
        edit: impl FnOnce(&mut NodeOptions),
    ) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let data = tempfile::tempdir()?;
        let redis = match backend {
            Backend::Redb => None,
            Backend::Redis => Some(RedisServer::start().map_err(|e| {
                anyhow::anyhow!(
                    "redis-server is needed for this test (apt-get install redis-server): {e}"
                )
            })?),
        };
        let flags = Overrides {
            data_dir: Some(data.path().to_owned()),
            directory: redis.as_ref().map(RedisServer::url),
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
        let mut opts = NodeOptions {
            relay,
            ..NodeOptions::default()
        };
        edit(&mut opts);
        let node = Node::start(&cfg, opts).await?;
        let boot = node
            .started
            .bootstrapped
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("a fresh data dir bootstraps"))?;
        let tenant = boot.tenant.id;
        let owner = Actor::user(boot.owner.id);
        let control = *node
            .control
            .local_addrs()
            .first()
            .ok_or_else(|| anyhow::anyhow!("no control address"))?;
        let quic_control = *node
            .quic
            .as_ref()
            .and_then(|q| q.local_addrs().first())
            .ok_or_else(|| anyhow::anyhow!("no QUIC control address"))?;
        let cert_der = node
            .started
            .cert
            .chain
            .first()
            .ok_or_else(|| anyhow::anyhow!("no certificate"))?
            .to_vec();
        let http = HttpClient::new(&format!("http://{}", node.started.admin.addr), None)?;
        Ok(Self {
            node,
            tenant,
            owner,
            control,
            quic_control,
            cert_der,
            http,
            _data: data,
            _redis: redis,
        })
    }

    pub fn dir(&self) -> &Directory {
        &self.node.started.dir
    }

    /// Logs `username` in through the admin API; its bearer token.
    pub async fn login(&self, username: &str) -> anyhow::Result<String> {
        let body = serde_json::json!({ "username": username, "password": PASSWORD });
        let r = self
            .http
            .request("POST", "/api/v1/login", None, Some(&body))
            .await?;
        anyhow::ensure!(
            r.status == 200,
            "login of {username}: {} {}",
            r.status,
            r.body
        );
        r.json()["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no token in {}", r.body))
    }
}

/// The tenant policy of the flow tests.
pub struct Policy {
    /// Enrolls straight into "Servers" (Enrolled on arrival).
    pub servers_key: String,
    /// Its package.
    pub servers_package: PackageId,
    /// Enrolls into "Servers" as Pending.
    pub pending_key: String,
    /// The user `tech`.
    pub tech: switchboard_directory::model::UserId,
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.into(),
        first_name: "Test".into(),
        last_name: name.into(),
        email: format!("{name}@example.invalid"),
        password: Some(PASSWORD.into()),
        ..NewUser::default()
    }
}

/// Users `tech` (group Techs: remote session + view screen on device group Servers, no
/// confirmation; OnDemand helpdesk) and `nobody` (no assignment); packages into Servers.
pub async fn policy(s: &Server) -> anyhow::Result<Policy> {
    let (d, t, owner) = (s.dir(), s.tenant, &s.owner);
    let tech = d
        .create_user(t, owner, new_user("tech"), UserType::User)
        .await?;
    d.create_user(t, owner, new_user("nobody"), UserType::User)
        .await?;
    let techs = d.create_user_group(t, owner, "Techs", "").await?;
    d.add_users_to_group(t, owner, techs.id, &[tech.id]).await?;
    let servers = d.create_device_group(t, owner, "Servers", "").await?;
    let role = d
        .create_role(
            t,
            owner,
            Role {
                id: RoleId::new_random(),
                tenant: t,
                name: "Full".into(),
                description: String::new(),
                purpose: RolePurpose::DeviceAccess,
                enabled: true,
                permissions: DirPerms::from_slice(&[
                    Permission::RemoteSession,
                    Permission::ViewScreen,
                ]),
                confirm: ConfirmAccess::default(),
                whitelist: None,
                system: None,
                created_at: Timestamp::UNIX_EPOCH,
            },
        )
        .await?;
    d.create_assignment(
        t,
        owner,
        NewAssignment {
            name: "techs-servers".into(),
            description: String::new(),
            role: role.id,
            user_groups: BTreeSet::from([techs.id]),
            device_groups: BTreeSet::from([servers.id]),
            schedule: None,
        },
    )
    .await?;
    // 002/004 §6.2: creating OnDemand keys needs an OnDemand role assignment (no device groups).
    let helpdesk = d
        .create_role(
            t,
            owner,
            Role {
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
            },
        )
        .await?;
    d.create_assignment(
        t,
        owner,
        NewAssignment {
            name: "techs-ondemand".into(),
            description: String::new(),
            role: helpdesk.id,
            user_groups: BTreeSet::from([techs.id]),
            device_groups: BTreeSet::new(),
            schedule: None,
        },
    )
    .await?;
    let package = |name: &str, pending: bool| NewPackage {
        name: name.into(),
        enabled: true,
        pending,
        target_group: Some(servers.id),
        ..NewPackage::default()
    };
    let (servers_package, servers_key) = d
        .create_package(t, owner, package("servers", false))
        .await?;
    let (_, pending_key) = d
        .create_package(t, owner, package("servers-pending", true))
        .await?;
    Ok(Policy {
        servers_key,
        servers_package: servers_package.id,
        pending_key,
        tech: tech.id,
    })
}
