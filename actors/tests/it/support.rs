//! Shared test support: a directory (redb in a temp dir, or a private Redis) with a settable
//! clock, a tenant with users, groups, roles, assignments and devices in every enrollment
//! state, and a `Hub` over it with in-memory relays and presence.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::date;
use parking_lot::Mutex;
use switchboard_actors::ids::{wire_device, wire_tenant, wire_user};
use switchboard_actors::{
    ActorConfig, DeviceConnection, DeviceRef, DirectoryAudit, GuestLink, HostState, Hub, HubDeps,
    InMemoryPresence, InMemoryRelays, RelayInfo, RelayRegistry, SessionRequest,
};
use switchboard_codec::{
    ControlMessage, DeviceId, PermissionSet, RelayId, SessionId, TenantId, TicketSigner,
    TicketVerifier, UserId,
};
use switchboard_directory::model::{
    AuditRecord, ConfirmAccess, DaySet, DeviceKeys, Permission, PermissionSet as DirPerms, Quotas,
    Recurrence, Role, RoleId, RolePurpose, Schedule, UserType,
};
use switchboard_directory::service::{
    Actor, AuditQuery, Directory, Enrollment, NewAssignment, NewPackage, NewTenant, NewUser,
};
use switchboard_directory::store::{SharedStore, StoreConfig};
use tokio::sync::mpsc;

pub(crate) const NOW: &str = "2026-03-02T10:00:00Z"; // a Monday

/// Keeps the backing store alive.
#[allow(dead_code)]
pub(crate) enum Backing {
    Redb(tempfile::TempDir),
    Redis(switchboard_tests::RedisServer),
}

pub(crate) struct World {
    pub(crate) hub: Hub,
    pub(crate) dir: Directory,
    pub(crate) clock: Arc<Mutex<Timestamp>>,
    pub(crate) relays: Arc<InMemoryRelays>,
    pub(crate) presence: Arc<InMemoryPresence>,
    pub(crate) verifier: TicketVerifier,
    pub(crate) tenant: TenantId,
    pub(crate) owner: Actor,
    /// In group Techs: full access to Servers, confirm-required access to Kiosks, OnDemand.
    pub(crate) bob: UserId,
    /// In group Night: access to Servers on weekends only.
    pub(crate) carol: UserId,
    /// In no group.
    pub(crate) dave: UserId,
    pub(crate) server: DeviceId,
    pub(crate) server2: DeviceId,
    pub(crate) kiosk: DeviceId,
    pub(crate) pending: DeviceId,
    pub(crate) revoked: DeviceId,
    pub(crate) servers_package: switchboard_directory::model::PackageId,
    _backing: Backing,
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.into(),
        first_name: "First".into(),
        last_name: "Last".into(),
        email: format!("{name}@example.invalid"),
        password: Some("Corr3ctHorse".into()),
        ..NewUser::default()
    }
}

fn role(name: &str, purpose: RolePurpose, permissions: DirPerms, confirm: bool) -> Role {
    Role {
        id: RoleId::new_random(),
        tenant: switchboard_directory::model::TenantId::new_random(),
        name: name.into(),
        description: String::new(),
        purpose,
        enabled: true,
        permissions,
        confirm: ConfirmAccess {
            host_prompt: confirm,
            // 002/004 §5.5: "Except when computer is locked".
            except_when_locked: confirm,
            ..ConfirmAccess::default()
        },
        whitelist: None,
        system: None,
        created_at: Timestamp::UNIX_EPOCH,
    }
}

pub(crate) fn enrollment(host: &str) -> Enrollment {
    Enrollment {
        hostname: host.into(),
        os: "Linux".into(),
        agent_version: "1.0".into(),
        keys: DeviceKeys {
            auth_ed25519: [1; 32],
            noise_x25519: [7; 32],
        },
    }
}

pub(crate) fn config() -> ActorConfig {
    ActorConfig {
        rebuild_debounce: Duration::from_millis(5),
        ..ActorConfig::default()
    }
}

impl World {
    pub(crate) async fn redb() -> Self {
        Self::redb_with(config()).await
    }

    pub(crate) async fn redb_with(cfg: ActorConfig) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let store = switchboard_directory::store::open(StoreConfig::Redb {
            path: tmp.path().join("directory.redb"),
        })
        .await
        .unwrap();
        Self::build(store, Backing::Redb(tmp), cfg).await
    }

    pub(crate) async fn redis() -> Self {
        let server = switchboard_tests::RedisServer::start()
            .expect("redis-server must be installed (apt-get install redis-server)");
        let cfg = switchboard_directory::store::redis::RedisConfig::new(server.url());
        let store = switchboard_directory::store::open(StoreConfig::Redis(cfg))
            .await
            .unwrap();
        Self::build(store, Backing::Redis(server), config()).await
    }

    async fn build(store: SharedStore, backing: Backing, cfg: ActorConfig) -> Self {
        let clock = Arc::new(Mutex::new(NOW.parse::<Timestamp>().unwrap()));
        let c = Arc::clone(&clock);
        let dir = Directory::with_clock(store, Arc::new(move || *c.lock()));
        let (t, owner) = dir
            .create_tenant(NewTenant {
                name: "Acme".into(),
                timezone: "UTC".into(),
                quotas: Quotas::default(),
                owner: new_user("alice"),
            })
            .await
            .unwrap();
        let tid = t.id;
        let owner = Actor::user(owner.id);
        let d = &dir;
        let mk = |name: &'static str| async move {
            d.create_user(tid, &owner_of(d, tid).await, new_user(name), UserType::User)
                .await
                .unwrap()
                .id
        };
        let bob = mk("bob").await;
        let carol = mk("carol").await;
        let dave = mk("dave").await;
        let techs = d.create_user_group(tid, &owner, "Techs", "").await.unwrap();
        d.add_users_to_group(tid, &owner, techs.id, &[bob])
            .await
            .unwrap();
        let night = d.create_user_group(tid, &owner, "Night", "").await.unwrap();
        d.add_users_to_group(tid, &owner, night.id, &[carol])
            .await
            .unwrap();
        let servers = d
            .create_device_group(tid, &owner, "Servers", "")
            .await
            .unwrap();
        let kiosks = d
            .create_device_group(tid, &owner, "Kiosks", "")
            .await
            .unwrap();
        let session_perms =
            DirPerms::from_slice(&[Permission::RemoteSession, Permission::ViewScreen]);
        let full = d
            .create_role(
                tid,
                &owner,
                role("Full", RolePurpose::DeviceAccess, session_perms, false),
            )
            .await
            .unwrap();
        let confirm = d
            .create_role(
                tid,
                &owner,
                role("Confirm", RolePurpose::DeviceAccess, session_perms, true),
            )
            .await
            .unwrap();
        let od = d
            .create_role(
                tid,
                &owner,
                role(
                    "Helpdesk",
                    RolePurpose::OnDemand,
                    DirPerms::ONDEMAND_FULL,
                    false,
                ),
            )
            .await
            .unwrap();
        let assign = |name: &str,
                      role: RoleId,
                      ugs: &[switchboard_directory::model::UserGroupId],
                      dgs: &[switchboard_directory::model::DeviceGroupId],
                      schedule: Option<Schedule>| NewAssignment {
            name: name.into(),
            description: String::new(),
            role,
            user_groups: ugs.iter().copied().collect::<BTreeSet<_>>(),
            device_groups: dgs.iter().copied().collect::<BTreeSet<_>>(),
            schedule,
        };
        d.create_assignment(
            tid,
            &owner,
            assign("techs-servers", full.id, &[techs.id], &[servers.id], None),
        )
        .await
        .unwrap();
        d.create_assignment(
            tid,
            &owner,
            assign("techs-kiosks", confirm.id, &[techs.id], &[kiosks.id], None),
        )
        .await
        .unwrap();
        d.create_assignment(
            tid,
            &owner,
            assign("techs-ondemand", od.id, &[techs.id], &[], None),
        )
        .await
        .unwrap();
        let weekends = Schedule {
            timezone: Some("UTC".into()),
            recurrence: Recurrence::Weekly {
                every: 1,
                days: DaySet::WEEKEND,
            },
            ..Schedule::starting(date(2026, 1, 1))
        };
        d.create_assignment(
            tid,
            &owner,
            assign(
                "night-servers",
                full.id,
                &[night.id],
                &[servers.id],
                Some(weekends),
            ),
        )
        .await
        .unwrap();
        let package = |name: &str, target, pending| NewPackage {
            name: name.into(),
            enabled: true,
            pending,
            target_group: Some(target),
            ..NewPackage::default()
        };
        let (p_servers, k_servers) = d
            .create_package(tid, &owner, package("servers", servers.id, false))
            .await
            .unwrap();
        let (_, k_kiosks) = d
            .create_package(tid, &owner, package("kiosks", kiosks.id, false))
            .await
            .unwrap();
        let (_, k_pending) = d
            .create_package(tid, &owner, package("pending", servers.id, true))
            .await
            .unwrap();
        let (p_rev, k_rev) = d
            .create_package(tid, &owner, package("revoked", servers.id, false))
            .await
            .unwrap();
        let server = d
            .enroll_device(&k_servers, enrollment("srv1"))
            .await
            .unwrap()
            .id;
        let server2 = d
            .enroll_device(&k_servers, enrollment("srv2"))
            .await
            .unwrap()
            .id;
        let kiosk = d
            .enroll_device(&k_kiosks, enrollment("kiosk"))
            .await
            .unwrap()
            .id;
        let pending = d
            .enroll_device(&k_pending, enrollment("new"))
            .await
            .unwrap()
            .id;
        let revoked = d.enroll_device(&k_rev, enrollment("old")).await.unwrap().id;
        d.revoke_package(tid, &owner, p_rev.id, "revoke")
            .await
            .unwrap();

        let relays = Arc::new(InMemoryRelays::new());
        relays.register(
            RelayInfo {
                id: RelayId(1),
                addr: "127.0.0.1:7001".into(),
                quic_addr: None,
                region: "eu".into(),
                capacity: 0,
                node: "broker-1".into(),
            },
            Duration::from_secs(3600 * 24 * 30),
        );
        let presence = Arc::new(InMemoryPresence::new());
        let signer = TicketSigner::new(1, [9; 32]);
        let verifier = TicketVerifier::new([(1, signer.public_key())]).unwrap();
        let hub = Hub::start(HubDeps {
            directory: dir.clone(),
            signer,
            relays: Arc::clone(&relays) as Arc<dyn RelayRegistry>,
            presence: Arc::clone(&presence) as _,
            audit: Arc::new(DirectoryAudit::new(dir.clone())),
            config: cfg,
        })
        .await
        .unwrap();
        let w = wire_device;
        Self {
            hub,
            dir,
            clock,
            relays,
            presence,
            verifier,
            tenant: wire_tenant(tid),
            owner,
            bob: wire_user(bob),
            carol: wire_user(carol),
            dave: wire_user(dave),
            server: w(server),
            server2: w(server2),
            kiosk: w(kiosk),
            pending: w(pending),
            revoked: w(revoked),
            servers_package: p_servers.id,
            _backing: backing,
        }
    }

    pub(crate) fn advance_clock(&self, by: jiff::SignedDuration) {
        let mut c = self.clock.lock();
        *c = c.checked_add(by).unwrap();
    }

    /// The private Redis of a [`World::redis`] world.
    pub(crate) fn redis_url(&self) -> Option<String> {
        match &self._backing {
            Backing::Redis(s) => Some(s.url()),
            Backing::Redb(_) => None,
        }
    }

    pub(crate) fn dir_tenant(&self) -> switchboard_directory::model::TenantId {
        switchboard_actors::ids::dir_tenant(self.tenant)
    }

    /// Connects a Host; returns its handle and the receiving end of its writer.
    pub(crate) async fn connect(
        &self,
        device: DeviceId,
        host_state: HostState,
    ) -> (DeviceRef, mpsc::Receiver<ControlMessage>) {
        let (tx, rx) = mpsc::channel(64);
        let r = self
            .hub
            .connect_device(DeviceConnection {
                tenant: self.tenant,
                device,
                tx,
                host_state,
            })
            .await
            .unwrap();
        (r, rx)
    }

    pub(crate) fn guest(&self, user: UserId) -> (GuestLink, mpsc::Receiver<ControlMessage>) {
        let (tx, rx) = mpsc::channel(64);
        (
            GuestLink {
                user,
                display_name: "Tech".into(),
                static_key: [5; 32],
                tx,
            },
            rx,
        )
    }

    pub(crate) fn request(&self, guest: &GuestLink, device: DeviceId) -> SessionRequest {
        SessionRequest {
            tenant: self.tenant,
            guest: guest.clone(),
            request_id: 42,
            device,
            wanted: PermissionSet::EMPTY,
            region: Some("eu".into()),
        }
    }

    /// Audit records of one session (or every record when `None`).
    pub(crate) async fn audit(&self, session: Option<SessionId>) -> Vec<AuditRecord> {
        let from: Timestamp = "2020-01-01T00:00:00Z".parse().unwrap();
        let to: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        self.hub.flush_audit().await;
        let all = self
            .dir
            .query_audit(self.dir_tenant(), &AuditQuery::range(from, to))
            .await
            .unwrap();
        match session {
            Some(s) => {
                let s = switchboard_actors::ids::dir_session(s);
                all.into_iter().filter(|r| r.session == Some(s)).collect()
            }
            None => all,
        }
    }
}

async fn owner_of(d: &Directory, tid: switchboard_directory::model::TenantId) -> Actor {
    Actor::user(d.tenant(tid).await.unwrap().owner)
}

/// The next message on a connection (fails after 10 s of test time).
pub(crate) async fn recv(rx: &mut mpsc::Receiver<ControlMessage>) -> ControlMessage {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a message within 10 s")
        .expect("the connection is open")
}

/// Waits until the writer's channel is closed (every sender dropped), skipping messages.
pub(crate) async fn closed(rx: &mut mpsc::Receiver<ControlMessage>) -> Vec<ControlMessage> {
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(m)) => seen.push(m),
            Ok(None) => return seen,
            Err(_) => panic!("the connection was not closed; saw {seen:?}"),
        }
    }
}

/// Polls `cond` until true (bounded).
pub(crate) async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..5000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("never happened: {what}");
}

/// Polls an async `cond` until true (bounded: 10 s).
pub(crate) async fn eventually_async<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..1000 {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}
