//! The `Directory` service on both backends: every write is atomic and audited, bad input gets
//! a typed error and leaves the store unchanged, and the rules from the seeds hold end to end.

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use parking_lot::Mutex;
use switchboard_directory::error::{DirectoryError, EnrollmentRefusal};
use switchboard_directory::model::{
    AuditActor, AuditId, AuditKind, AuditOutcome, AuditRecord, ConfirmAccess, DeploymentPackage,
    DeviceGroup, DeviceKeys, DisabledReason, MembershipState, Permission, PermissionSet, Quotas,
    Role, RoleId, RolePurpose, Schedule, TenantId, User, UserGroup, UserType,
};
use switchboard_directory::service::{
    Actor, AuditQuery, Directory, Enrollment, NewAssignment, NewPackage, NewTenant, NewUser,
};
use switchboard_directory::store::Scope;

use crate::both_backends;
use crate::support::{TestStore, dump};

pub(crate) const PASSWORD: &str = "Corr3ctHorse";

/// A directory whose clock the test moves.
pub(crate) struct Env {
    pub(crate) dir: Directory,
    clock: Arc<Mutex<Timestamp>>,
    pub(crate) t: TestStore,
}

impl Env {
    pub(crate) fn new(t: TestStore) -> Self {
        let clock = Arc::new(Mutex::new(
            "2026-03-02T10:00:00Z".parse::<Timestamp>().unwrap(),
        ));
        let c = Arc::clone(&clock);
        let dir = Directory::with_clock(Arc::clone(&t.store), Arc::new(move || *c.lock()));
        Self { dir, clock, t }
    }

    pub(crate) fn advance(&self, by: SignedDuration) {
        let mut c = self.clock.lock();
        *c = c.checked_add(by).unwrap();
    }

    pub(crate) async fn tenant(&self, name: &str, owner: &str) -> (TenantId, Actor) {
        let (t, owner) = self
            .dir
            .create_tenant(NewTenant {
                name: name.into(),
                timezone: "Europe/Bucharest".into(),
                quotas: Quotas::default(),
                owner: user(owner),
            })
            .await
            .unwrap();
        (t.id, Actor::user(owner.id))
    }

    /// The tenant's audit records of the last and the next hour.
    pub(crate) async fn recent_audit(&self, tenant: TenantId) -> Vec<AuditRecord> {
        let now = self.dir.now();
        let hour = SignedDuration::from_hours(1);
        let range = AuditQuery::range(now - hour, now + hour);
        self.dir.query_audit(tenant, &range).await.unwrap()
    }

    /// A user group "Support" and a device group "Servers", created by `owner`.
    pub(crate) async fn support_and_servers(
        &self,
        tenant: TenantId,
        owner: &Actor,
    ) -> (UserGroup, DeviceGroup) {
        let d = &self.dir;
        let g = d.create_user_group(tenant, owner, "Support", "");
        let dg = d.create_device_group(tenant, owner, "Servers", "");
        (g.await.unwrap(), dg.await.unwrap())
    }

    /// An enabled deployment package `name` (enrolled on arrival) and its enrollment key.
    pub(crate) async fn enabled_package(
        &self,
        tenant: TenantId,
        owner: &Actor,
        name: &str,
    ) -> (DeploymentPackage, String) {
        let new = NewPackage {
            name: name.into(),
            enabled: true,
            ..NewPackage::default()
        };
        self.dir.create_package(tenant, owner, new).await.unwrap()
    }

    /// A new active member `name` of type `ty` (password [`PASSWORD`]).
    pub(crate) async fn new_member(
        &self,
        tenant: TenantId,
        owner: &Actor,
        name: &str,
        ty: UserType,
    ) -> User {
        self.dir
            .create_user(tenant, owner, user(name), ty)
            .await
            .unwrap()
    }

    /// Every key of the tenant and of the global scope.
    pub(crate) async fn snapshot(
        &self,
        tenant: TenantId,
    ) -> (Vec<(String, u64, Vec<u8>)>, Vec<(String, u64, Vec<u8>)>) {
        let s = &*self.t.store;
        (
            dump(s, &Scope::tenant(&tenant.to_string()).unwrap()).await,
            dump(s, &Scope::global()).await,
        )
    }
}

pub(crate) fn user(name: &str) -> NewUser {
    NewUser {
        username: name.into(),
        first_name: "First".into(),
        last_name: "Last".into(),
        email: format!("{name}@example.invalid"),
        password: Some(PASSWORD.into()),
        ..NewUser::default()
    }
}

pub(crate) fn device_role(name: &str) -> Role {
    Role {
        id: RoleId::new_random(),
        tenant: TenantId::new_random(),
        name: name.into(),
        description: String::new(),
        purpose: RolePurpose::DeviceAccess,
        enabled: true,
        permissions: PermissionSet::from_slice(&[
            Permission::RemoteSession,
            Permission::ViewScreen,
        ]),
        confirm: ConfirmAccess::default(),
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
            noise_x25519: [2; 32],
        },
    }
}

both_backends!(
    tenant_creation_makes_builtins,
    bad_input_changes_nothing,
    user_lifecycle_and_memberships,
    groups_keep_members_and_concurrent_edits_survive,
    role_deletion_disables_assignments,
    session_audit_leaves_tenant_version_alone,
    audit_batch_lands_whole,
);

async fn session_audit_leaves_tenant_version_alone(t: TestStore) {
    // 002/004 §9: session events are audited; appending one must not make every broker
    // recompile the tenant's policy (the snapshot follows the tenant version).
    let env = Env::new(t);
    let (tid, _owner) = env.tenant("Acme", "alice").await;
    let before = env.dir.tenant_version(tid).await.unwrap();
    let now = env.dir.now();
    let record = AuditRecord {
        id: AuditId::new_random(),
        tenant: tid,
        at: now + SignedDuration::from_secs(1),
        actor: AuditActor::System,
        kind: AuditKind::Session,
        what: "session ended".into(),
        from: None,
        outcome: AuditOutcome::Success,
        device: None,
        session: None,
    };
    env.dir.record_audit(record.clone()).await.unwrap();
    assert_eq!(env.dir.tenant_version(tid).await.unwrap(), before);
    let range = AuditQuery::range(
        now - SignedDuration::from_hours(1),
        now + SignedDuration::from_hours(1),
    );
    let log = env.dir.query_audit(tid, &range).await.unwrap();
    let kinds: Vec<AuditKind> = log.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        vec![AuditKind::AccountConfiguration, AuditKind::Session],
        "both scopes, merged oldest first"
    );
    let one = env
        .dir
        .query_audit(tid, &AuditQuery { limit: 1, ..range })
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].kind, AuditKind::AccountConfiguration);
    env.advance(SignedDuration::from_hours(24 * 200));
    assert_eq!(
        env.dir.purge_audit(tid).await.unwrap(),
        2,
        "both scopes purged"
    );
}

async fn audit_batch_lands_whole(t: TestStore) {
    // The session actors group-commit their audit lines: a batch is stored whole, under the
    // tenant it is written for, and skipped when the tenant's audit log is off.
    let env = Env::new(t);
    let (tid, _owner) = env.tenant("Acme", "alice").await;
    let now = env.dir.now();
    let line = |n: i64| AuditRecord {
        id: AuditId::new_random(),
        tenant: tid,
        at: now + SignedDuration::from_secs(n),
        actor: AuditActor::System,
        kind: AuditKind::Session,
        what: format!("transition {n}"),
        from: None,
        outcome: AuditOutcome::Success,
        device: None,
        session: None,
    };
    let range = AuditQuery::range(now, now + SignedDuration::from_hours(1));
    env.dir
        .record_audit_batch(tid, (1..=3).map(line).collect())
        .await
        .unwrap();
    let sessions = |log: Vec<AuditRecord>| -> Vec<String> {
        log.into_iter()
            .filter(|r| r.kind == AuditKind::Session)
            .map(|r| r.what)
            .collect()
    };
    let log = env.dir.query_audit(tid, &range).await.unwrap();
    assert_eq!(
        sessions(log),
        ["transition 1", "transition 2", "transition 3"]
    );
    env.dir.record_audit_batch(tid, Vec::new()).await.unwrap();
    let log = env.dir.query_audit(tid, &range).await.unwrap();
    assert_eq!(sessions(log).len(), 3);
}

async fn tenant_creation_makes_builtins(t: TestStore) {
    let env = Env::new(t);
    let (tid, owner) = env.tenant("Acme", "alice").await;
    let tenant = env.dir.tenant(tid).await.unwrap();
    assert!(
        tenant.audit_enabled,
        "002/004: audit logging is enabled by default"
    );
    assert!(tenant.version > 0);
    let ugs = env.dir.user_groups(tid).await.unwrap();
    assert_eq!(ugs.len(), 1);
    assert!(ugs[0].is_everyone());
    let dgs = env.dir.device_groups(tid).await.unwrap();
    assert!(dgs.len() == 1 && dgs[0].everything);
    let roles = env.dir.roles(tid).await.unwrap();
    assert!(roles.len() >= 4 && roles.iter().all(|r| r.system.is_some()));
    let m = env
        .dir
        .membership(tid, owner.user_id().unwrap())
        .await
        .unwrap();
    assert_eq!(m.user_type, UserType::AccountOwner);
    assert_eq!(m.state, MembershipState::Active);
    assert_eq!(env.dir.tenants().await.unwrap(), vec![tid]);
    let log = env.recent_audit(tid).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].kind, AuditKind::AccountConfiguration);
    // The owner's password was hashed with Argon2id and verifies.
    let u = env.dir.user(owner.user_id().unwrap()).await.unwrap();
    assert!(
        u.credentials
            .password_hash
            .unwrap()
            .starts_with("$argon2id$")
    );
    assert!(
        env.dir
            .verify_password(u.id, PASSWORD.into())
            .await
            .unwrap()
    );
    assert!(
        !env.dir
            .verify_password(u.id, "Wrong1234".into())
            .await
            .unwrap()
    );
    // A second tenant whose owner reuses the username is refused.
    let dup = env
        .dir
        .create_tenant(NewTenant {
            name: "Other".into(),
            timezone: "UTC".into(),
            quotas: Quotas::default(),
            owner: user("ALICE"),
        })
        .await;
    assert!(
        matches!(dup, Err(DirectoryError::DuplicateName { .. })),
        "{dup:?}"
    );
}

async fn bad_input_changes_nothing(t: TestStore) {
    let env = Env::new(t);
    let (tid, owner) = env.tenant("Acme", "alice").await;
    let d = &env.dir;
    let (g, dg) = env.support_and_servers(tid, &owner).await;
    let system_role = d.roles(tid).await.unwrap().into_iter().next().unwrap();
    let ondemand_role = d
        .roles(tid)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.purpose == RolePurpose::OnDemand)
        .unwrap();
    let (pkg, _key) = env.enabled_package(tid, &owner, "P").await;
    let pleb = env.new_member(tid, &owner, "pleb", UserType::User).await;
    let manager = env
        .new_member(tid, &owner, "manager", UserType::GroupManager)
        .await;
    let (pleb, manager) = (Actor::user(pleb.id), Actor::user(manager.id));
    let before = env.snapshot(tid).await;

    // 002/004 §2.2: groups, roles, assignments and packages need an Account administrator;
    // a plain User cannot even manage memberships.
    for actor in [&pleb, &manager] {
        let e = d
            .create_user_group(tid, actor, "Mine", "")
            .await
            .unwrap_err();
        assert!(matches!(e, DirectoryError::NotAllowed(_)), "{e:?}");
        let e = d
            .create_role(tid, actor, device_role("Mine"))
            .await
            .unwrap_err();
        assert!(matches!(e, DirectoryError::NotAllowed(_)), "{e:?}");
        let e = d
            .revoke_package(tid, actor, pkg.id, "revoke")
            .await
            .unwrap_err();
        assert!(matches!(e, DirectoryError::NotAllowed(_)), "{e:?}");
        let e = d.set_audit_enabled(tid, actor, false).await.unwrap_err();
        assert!(matches!(e, DirectoryError::NotAllowed(_)), "{e:?}");
    }
    let e = d
        .add_users_to_group(tid, &pleb, g.id, &[owner.user_id().unwrap()])
        .await
        .unwrap_err();
    assert!(matches!(e, DirectoryError::NotAllowed(_)), "{e:?}");
    let e = d
        .invite_user(
            tid,
            &pleb,
            NewUser {
                username: "x".into(),
                ..NewUser::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, DirectoryError::NotAllowed(_)), "{e:?}");

    // Duplicate names (case-insensitive).
    let e = d
        .create_user_group(tid, &owner, "support", "")
        .await
        .unwrap_err();
    assert!(matches!(e, DirectoryError::DuplicateName { .. }), "{e:?}");
    let e = d
        .create_device_group(tid, &owner, "Servers", "")
        .await
        .unwrap_err();
    assert!(matches!(e, DirectoryError::DuplicateName { .. }), "{e:?}");
    // 002/004 §1.2: "minimum of 8 characters" ... "at least one numeric character".
    for bad in ["Sh0rt", "nouppercase1", "NOLOWERCASE1", "NoDigitsHere"] {
        let mut u = user("bob");
        u.password = Some(bad.into());
        let e = d
            .create_user(tid, &owner, u, UserType::User)
            .await
            .unwrap_err();
        assert!(
            matches!(e, DirectoryError::PasswordPolicy(_)),
            "{bad}: {e:?}"
        );
    }
    // Duplicate username.
    let e = d
        .create_user(tid, &owner, user("Alice"), UserType::User)
        .await
        .unwrap_err();
    assert!(matches!(e, DirectoryError::DuplicateName { .. }), "{e:?}");
    // Unknown ids.
    let unknown_group = switchboard_directory::model::UserGroupId::new_random();
    let e = d
        .set_user_group_active(tid, &owner, unknown_group, false)
        .await
        .unwrap_err();
    assert!(matches!(e, DirectoryError::UnknownId { .. }), "{e:?}");
    let e = d
        .add_users_to_group(
            tid,
            &owner,
            g.id,
            &[switchboard_directory::model::UserId::new_random()],
        )
        .await
        .unwrap_err();
    assert!(matches!(e, DirectoryError::UnknownId { .. }), "{e:?}");
    let e = d
        .approve_device(
            tid,
            &owner,
            switchboard_directory::model::DeviceId::new_random(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, DirectoryError::UnknownId { .. }), "{e:?}");
    // 002/004 §5.2: OnDemand roles: "device groups cannot be selected".
    let e = d
        .create_assignment(
            tid,
            &owner,
            NewAssignment {
                name: "od".into(),
                description: String::new(),
                role: ondemand_role.id,
                user_groups: BTreeSet::from([g.id]),
                device_groups: BTreeSet::from([dg.id]),
                schedule: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, DirectoryError::OnDemandRoleWithDeviceGroups),
        "{e:?}"
    );
    // 003: system roles: "You cannot delete or modify these roles".
    let mut edited = system_role.clone();
    edited.description = "mine now".into();
    let e = d.update_role(tid, &owner, edited).await.unwrap_err();
    assert!(matches!(e, DirectoryError::SystemRoleImmutable), "{e:?}");
    let e = d
        .delete_role(tid, &owner, system_role.id)
        .await
        .unwrap_err();
    assert!(matches!(e, DirectoryError::SystemRoleImmutable), "{e:?}");
    // 002/004: "Type 'revoke' to confirm".
    for wrong in ["Revoke", "revoke it", "", "yes"] {
        let e = d
            .revoke_package(tid, &owner, pkg.id, wrong)
            .await
            .unwrap_err();
        assert!(
            matches!(e, DirectoryError::RevokeConfirmationMismatch),
            "{e:?}"
        );
    }
    // Unknown enrollment key.
    let e = d
        .enroll_device("not-a-key", enrollment("h"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            DirectoryError::EnrollmentRefused(EnrollmentRefusal::UnknownKey)
        ),
        "{e:?}"
    );
    // Built-in groups are immutable.
    let everyone = d
        .user_groups(tid)
        .await
        .unwrap()
        .into_iter()
        .find(|g| g.is_everyone())
        .unwrap();
    let e = d
        .delete_user_group(tid, &owner, everyone.id)
        .await
        .unwrap_err();
    assert!(matches!(e, DirectoryError::BuiltinGroupImmutable), "{e:?}");

    assert_eq!(
        env.snapshot(tid).await,
        before,
        "a refused call changed the store"
    );
}

async fn user_lifecycle_and_memberships(t: TestStore) {
    let env = Env::new(t);
    let d = &env.dir;
    let (a, alice) = env.tenant("Acme", "alice").await;
    let (b, bob) = env.tenant("Beta", "bob").await;
    // Carol's primary account is Acme; Beta invites her as a secondary account.
    let carol = d
        .create_user(a, &alice, user("carol"), UserType::GroupManager)
        .await
        .unwrap();
    let invited = d
        .invite_user(
            b,
            &bob,
            NewUser {
                username: "carol".into(),
                ..NewUser::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(invited.id, carol.id);
    assert!(matches!(
        d.membership(b, carol.id).await.unwrap().state,
        MembershipState::Invited { .. }
    ));
    d.accept_invitation(b, carol.id, None).await.unwrap();
    assert_eq!(
        d.membership(b, carol.id).await.unwrap().state,
        MembershipState::Active
    );
    let mut tenants = d.tenants_of(carol.id).await.unwrap();
    tenants.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(tenants, want);

    // A group manager cannot disable a higher type; the owner can, with a reason.
    let carol_actor = Actor::user(carol.id);
    let e = d
        .set_member_disabled(
            a,
            &carol_actor,
            alice.user_id().unwrap(),
            Some(DisabledReason::Manual),
        )
        .await;
    assert!(e.is_err());
    d.set_member_disabled(b, &bob, carol.id, Some(DisabledReason::PlanLimit))
        .await
        .unwrap();
    assert_eq!(
        d.membership(b, carol.id).await.unwrap().state,
        MembershipState::Disabled(DisabledReason::PlanLimit)
    );
    d.set_member_disabled(b, &bob, carol.id, None)
        .await
        .unwrap();

    // Invited user with a new identity sets a password on acceptance (policy applies).
    let dave = d
        .invite_user(
            a,
            &alice,
            NewUser {
                username: "dave".into(),
                ..NewUser::default()
            },
        )
        .await
        .unwrap();
    let e = d
        .accept_invitation(a, dave.id, Some("weak".into()))
        .await
        .unwrap_err();
    assert!(matches!(e, DirectoryError::PasswordPolicy(_)));
    d.accept_invitation(a, dave.id, Some(PASSWORD.into()))
        .await
        .unwrap();
    assert!(d.verify_password(dave.id, PASSWORD.into()).await.unwrap());

    // Ownership transfer: only the owner; the previous owner becomes Account administrator.
    assert!(
        d.transfer_ownership(a, &carol_actor, carol.id)
            .await
            .is_err()
    );
    d.transfer_ownership(a, &alice, carol.id).await.unwrap();
    assert_eq!(d.tenant(a).await.unwrap().owner, carol.id);
    assert_eq!(
        d.membership(a, alice.user_id().unwrap())
            .await
            .unwrap()
            .user_type,
        UserType::AccountAdministrator
    );
    d.transfer_ownership(a, &carol_actor, alice.user_id().unwrap())
        .await
        .unwrap();

    // 002/004: "when removing them from their main Portal account, they are automatically
    // removed from their secondary accounts as well".
    d.remove_user(a, &alice, carol.id).await.unwrap();
    assert!(d.membership(a, carol.id).await.is_err());
    assert!(d.membership(b, carol.id).await.is_err());
    assert!(d.user(carol.id).await.is_err());
    assert!(d.user_by_username("carol").await.unwrap().is_none());
    // Removing from a secondary account only removes that membership.
    let erin = d
        .create_user(a, &alice, user("erin"), UserType::User)
        .await
        .unwrap();
    d.invite_user(
        b,
        &bob,
        NewUser {
            username: "erin".into(),
            ..NewUser::default()
        },
    )
    .await
    .unwrap();
    d.remove_user(b, &bob, erin.id).await.unwrap();
    assert!(d.membership(a, erin.id).await.is_ok());
    assert!(d.membership(b, erin.id).await.is_err());
}

async fn groups_keep_members_and_concurrent_edits_survive(t: TestStore) {
    let env = Env::new(t);
    let (tid, owner) = env.tenant("Acme", "alice").await;
    let d = env.dir.clone();
    let u = env.new_member(tid, &owner, "bob", UserType::User).await;
    let mut groups = Vec::new();
    for i in 0..6 {
        groups.push(
            d.create_user_group(tid, &owner, &format!("g{i}"), "")
                .await
                .unwrap()
                .id,
        );
    }
    // A second Directory over a second store instance (same Redis / same redb file).
    let other = Directory::new(env.t.second_instance().await);
    // Concurrent writers add the same user to different groups: every add must survive.
    let mut tasks = Vec::new();
    for (i, g) in groups.iter().copied().enumerate() {
        let dir = if i % 2 == 0 { d.clone() } else { other.clone() };
        let owner = owner.clone();
        tasks.push(tokio::spawn(async move {
            dir.add_users_to_group(tid, &owner, g, &[u.id]).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let m = d.membership(tid, u.id).await.unwrap();
    assert_eq!(m.groups, groups.iter().copied().collect::<BTreeSet<_>>());
    // 002/004: deleting a group leaves its members.
    d.delete_user_group(tid, &owner, groups[0]).await.unwrap();
    let m = d.membership(tid, u.id).await.unwrap();
    assert_eq!(m.groups.len(), 5);
    assert!(d.user(u.id).await.is_ok());
    assert_eq!(
        d.user_group_members(tid, groups[1]).await.unwrap(),
        BTreeSet::from([u.id])
    );
    // Deactivating a group is stored.
    d.set_user_group_active(tid, &owner, groups[1], false)
        .await
        .unwrap();
    assert!(!d.user_group(tid, groups[1]).await.unwrap().active);
}

async fn role_deletion_disables_assignments(t: TestStore) {
    let env = Env::new(t);
    let (tid, owner) = env.tenant("Acme", "alice").await;
    let d = &env.dir;
    let (g, dg) = env.support_and_servers(tid, &owner).await;
    let role = d
        .create_role(tid, &owner, device_role("Viewer"))
        .await
        .unwrap();
    let copy = d.copy_role(tid, &owner, role.id, None).await.unwrap();
    assert_eq!(copy.name, "Copy of Viewer role");
    let mk = |name: &str, role: RoleId| NewAssignment {
        name: name.into(),
        description: String::new(),
        role,
        user_groups: BTreeSet::from([g.id]),
        device_groups: BTreeSet::from([dg.id]),
        schedule: None,
    };
    let a1 = d
        .create_assignment(tid, &owner, mk("a1", role.id))
        .await
        .unwrap();
    let a2 = d
        .create_assignment(tid, &owner, mk("a2", role.id))
        .await
        .unwrap();
    let a3 = d
        .create_assignment(tid, &owner, mk("a3", copy.id))
        .await
        .unwrap();
    assert!(matches!(
        d.create_assignment(tid, &owner, mk("A1", role.id)).await,
        Err(DirectoryError::DuplicateName { .. })
    ));
    // Bulk schedule set and remove, in one call.
    let today = jiff::civil::date(2026, 3, 2);
    d.set_schedules(
        tid,
        &owner,
        &[a1.id, a3.id],
        Some(Schedule::starting(today)),
    )
    .await
    .unwrap();
    assert!(d.assignment(tid, a1.id).await.unwrap().schedule.is_some());
    assert!(d.assignment(tid, a2.id).await.unwrap().schedule.is_none());
    d.set_schedules(tid, &owner, &[a1.id, a3.id], None)
        .await
        .unwrap();
    assert!(d.assignment(tid, a3.id).await.unwrap().schedule.is_none());
    // 002/004 §5.1: "the role assignment becomes disabled"; the 004 dialog lists them.
    d.set_assignment_active(tid, &owner, a2.id, false)
        .await
        .unwrap();
    let names = d.delete_role(tid, &owner, role.id).await.unwrap();
    assert_eq!(names, vec!["a1".to_owned()]);
    assert!(!d.assignment(tid, a1.id).await.unwrap().active);
    assert!(
        d.assignment(tid, a2.id).await.is_ok(),
        "disabled, not deleted"
    );
    assert!(d.assignment(tid, a3.id).await.unwrap().active);
    assert!(d.role(tid, role.id).await.is_err());
    d.delete_assignments(tid, &owner, &[a1.id, a2.id])
        .await
        .unwrap();
    assert_eq!(d.assignments(tid).await.unwrap().len(), 1);
}
