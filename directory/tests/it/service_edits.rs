//! Editing members and the account on both backends: user type and ownership, the MFA policy
//! and per-user flag, name and time zone, the package and OnDemand lists, and the plan's device
//! quota under concurrent enrollments. Every refusal is typed and leaves the store unchanged.

use jiff::SignedDuration;
use switchboard_directory::error::{DirectoryError, QuotaKind};
use switchboard_directory::model::{
    AuditKind, MfaPolicy, OnDemandState, Quotas, TenantId, UserId, UserType,
};
use switchboard_directory::service::{Actor, AuditQuery, NewPackage, NewTenant};

use crate::both_backends;
use crate::service_suite::{Env, enrollment, user};
use crate::support::TestStore;

both_backends!(
    member_type_follows_the_hierarchy,
    mfa_policy_and_member_flag,
    tenant_name_and_time_zone,
    package_and_ondemand_lists,
    device_quota_holds_under_concurrent_enrollment,
);

async fn audit_texts(env: &Env, tid: TenantId) -> Vec<String> {
    let log = env.recent_audit(tid).await;
    log.into_iter().map(|r| r.what).collect()
}

async fn member(env: &Env, tid: TenantId, by: &Actor, name: &str, ty: UserType) -> (UserId, Actor) {
    let u = env.dir.create_user(tid, by, user(name), ty).await.unwrap();
    (u.id, Actor::user(u.id))
}

fn not_allowed(e: &DirectoryError) -> bool {
    matches!(e, DirectoryError::NotAllowed(_))
}

/// Asserts that an action was refused with `NotAllowed`.
#[track_caller]
fn refused_not_allowed<T: std::fmt::Debug>(r: Result<T, DirectoryError>) {
    match r {
        Err(e) => assert!(not_allowed(&e), "{e:?}"),
        Ok(v) => panic!("allowed: {v:?}"),
    }
}

async fn member_type_follows_the_hierarchy(t: TestStore) {
    let env = Env::new(t);
    let (tid, owner) = env.tenant("Acme", "owner").await;
    let (admin, admin_a) = member(&env, tid, &owner, "admin", UserType::AccountAdministrator).await;
    let (gm, gm_a) = member(&env, tid, &owner, "gm", UserType::GroupManager).await;
    let (plain, plain_a) = member(&env, tid, &owner, "plain", UserType::User).await;
    let owner_id = owner.user_id().unwrap();

    // Refusals, each with the store unchanged.
    let before = env.snapshot(tid).await;
    // 002/004: "You are not allowed to edit a user whose role is higher than the user you are
    // logged in as."
    let refusals = [
        (&gm_a, admin, UserType::User),
        // Nobody grants a type above their own.
        (&gm_a, plain, UserType::AccountAdministrator),
        // A plain user manages nobody.
        (&plain_a, gm, UserType::User),
        // Nobody changes their own type.
        (&admin_a, admin, UserType::User),
        // 002/004: "The Account Owner's type cannot be changed from user edit".
        (&owner, admin, UserType::AccountOwner),
        (&admin_a, owner_id, UserType::AccountAdministrator),
        (&Actor::system(), owner_id, UserType::User),
    ];
    for (actor, target, ty) in refusals {
        let e = env
            .dir
            .set_member_type(tid, actor, target, ty)
            .await
            .unwrap_err();
        assert!(not_allowed(&e), "{actor:?} sets {target} to {ty:?}: {e:?}");
    }
    // 002/004 §2.2 / 004: only the owner transfers ownership.
    refused_not_allowed(env.dir.transfer_ownership(tid, &admin_a, plain).await);
    assert_eq!(env.snapshot(tid).await, before);

    // A group manager promotes a user to their own type; an administrator demotes them back.
    let m = env
        .dir
        .set_member_type(tid, &gm_a, plain, UserType::GroupManager)
        .await
        .unwrap();
    assert_eq!(m.user_type, UserType::GroupManager);
    assert_eq!(m.modified_by, Some(gm));
    assert_eq!(
        env.dir.membership(tid, plain).await.unwrap().user_type,
        UserType::GroupManager
    );
    env.dir
        .set_member_type(tid, &admin_a, plain, UserType::User)
        .await
        .unwrap();
    assert!(
        audit_texts(&env, tid)
            .await
            .iter()
            .any(|w| w.contains("type changed from GroupManager to User")),
        "the type change is audited"
    );
    // The same type again writes nothing.
    let v = env.dir.tenant_version(tid).await.unwrap();
    env.dir
        .set_member_type(tid, &admin_a, plain, UserType::User)
        .await
        .unwrap();
    assert_eq!(env.dir.tenant_version(tid).await.unwrap(), v);

    // 004: "you will not be an Account owner any longer. You will be immediately demoted to an
    // Account administrator."
    env.dir
        .transfer_ownership(tid, &owner, admin)
        .await
        .unwrap();
    assert_eq!(
        env.dir.membership(tid, admin).await.unwrap().user_type,
        UserType::AccountOwner
    );
    assert_eq!(
        env.dir.membership(tid, owner_id).await.unwrap().user_type,
        UserType::AccountAdministrator
    );
    assert_eq!(env.dir.tenant(tid).await.unwrap().owner, admin);
    // The previous owner is now below the new one and cannot edit them.
    refused_not_allowed(
        env.dir
            .set_member_type(tid, &owner, admin, UserType::User)
            .await,
    );
}

async fn mfa_policy_and_member_flag(t: TestStore) {
    let env = Env::new(t);
    let (tid, owner) = env.tenant("Acme", "owner").await;
    let gm = env
        .dir
        .create_user(tid, &owner, user("gm"), UserType::GroupManager)
        .await
        .unwrap();
    let gm_a = Actor::user(gm.id);
    let plain = env
        .dir
        .create_user(tid, &owner, user("plain"), UserType::User)
        .await
        .unwrap();
    let plain_a = Actor::user(plain.id);
    let owner_id = owner.user_id().unwrap();
    assert_eq!(
        env.dir.tenant(tid).await.unwrap().mfa_policy,
        MfaPolicy::Disabled
    );

    let before = env.snapshot(tid).await;
    // Capability test 6: under "Disabled" enabling per-user MFA is refused.
    let e = env
        .dir
        .set_member_mfa(tid, &plain_a, plain.id, true)
        .await
        .unwrap_err();
    assert!(matches!(e, DirectoryError::MfaPolicy(_)), "{e:?}");
    // 002/004: "Audit-logging toggle and MFA settings need administrator or higher."
    refused_not_allowed(
        env.dir
            .set_mfa_policy(tid, &gm_a, MfaPolicy::Enforced)
            .await,
    );
    assert_eq!(env.snapshot(tid).await, before);

    // 002/004: "Enabled ('it can be enabled per user')".
    let t2 = env
        .dir
        .set_mfa_policy(tid, &owner, MfaPolicy::PerUser)
        .await
        .unwrap();
    assert_eq!(t2.mfa_policy, MfaPolicy::PerUser);
    assert_eq!(t2.version, env.dir.tenant_version(tid).await.unwrap());
    // 002/004: users "can toggle it in their own profile"; admins when editing a user.
    let m = env
        .dir
        .set_member_mfa(tid, &plain_a, plain.id, true)
        .await
        .unwrap();
    assert!(m.mfa_enabled);
    env.dir
        .set_member_mfa(tid, &gm_a, plain.id, false)
        .await
        .unwrap();
    assert!(!env.dir.membership(tid, plain.id).await.unwrap().mfa_enabled);
    // Nobody edits a higher type, MFA flag included.
    let before = env.snapshot(tid).await;
    refused_not_allowed(env.dir.set_member_mfa(tid, &plain_a, gm.id, true).await);
    refused_not_allowed(env.dir.set_member_mfa(tid, &gm_a, owner_id, true).await);
    assert_eq!(env.snapshot(tid).await, before);

    // 002/004: with Enforced "users cannot modify the Multi-Factor authentication settings for
    // themselves or other users".
    env.dir
        .set_member_mfa(tid, &plain_a, plain.id, true)
        .await
        .unwrap();
    env.dir
        .set_mfa_policy(tid, &owner, MfaPolicy::Enforced)
        .await
        .unwrap();
    let before = env.snapshot(tid).await;
    for (actor, on) in [(&plain_a, false), (&owner, false), (&owner, true)] {
        let e = env
            .dir
            .set_member_mfa(tid, actor, plain.id, on)
            .await
            .unwrap_err();
        assert!(matches!(e, DirectoryError::MfaPolicy(_)), "{e:?}");
    }
    assert_eq!(env.snapshot(tid).await, before);
    // Back to per user: each member's own choice is still there.
    env.dir
        .set_mfa_policy(tid, &owner, MfaPolicy::PerUser)
        .await
        .unwrap();
    assert!(env.dir.membership(tid, plain.id).await.unwrap().mfa_enabled);
    let log = audit_texts(&env, tid).await;
    assert!(
        log.iter()
            .any(|w| w.contains("policy changed from PerUser to Enforced")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|w| w.contains("multi-factor authentication enabled for user")),
        "{log:?}"
    );
}

async fn tenant_name_and_time_zone(t: TestStore) {
    let env = Env::new(t);
    let (tid, owner) = env.tenant("Acme", "owner").await;
    let admin = env
        .dir
        .create_user(tid, &owner, user("admin"), UserType::AccountAdministrator)
        .await
        .unwrap();
    env.tenant("Globex", "globex-owner").await;
    let before = env.snapshot(tid).await;
    // 002/004: "Account configuration: Account Owner only."
    refused_not_allowed(
        env.dir
            .set_tenant_profile(tid, &Actor::user(admin.id), Some("Evil"), None)
            .await,
    );
    let e = env
        .dir
        .set_tenant_profile(tid, &owner, Some("Acme 2"), Some("Mars/Olympus_Mons"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, DirectoryError::UnknownTimeZone(ref z) if z == "Mars/Olympus_Mons"),
        "{e:?}"
    );
    refused_not_allowed(
        env.dir
            .set_tenant_profile(tid, &owner, Some("   "), None)
            .await,
    );
    // Login resolves an account by name, so two accounts cannot share one.
    let e = env
        .dir
        .set_tenant_profile(tid, &owner, Some("GLOBEX"), None)
        .await
        .unwrap_err();
    assert!(matches!(e, DirectoryError::DuplicateName { .. }), "{e:?}");
    let long = "x".repeat(201);
    refused_not_allowed(
        env.dir
            .set_tenant_profile(tid, &owner, Some(&long), None)
            .await,
    );
    assert_eq!(env.snapshot(tid).await, before);

    let t2 = env
        .dir
        .set_tenant_profile(tid, &owner, Some("  Acme Ltd "), Some("America/New_York"))
        .await
        .unwrap();
    assert_eq!(t2.name, "Acme Ltd");
    assert_eq!(t2.timezone, "America/New_York");
    let stored = env.dir.tenant(tid).await.unwrap();
    assert_eq!(
        (stored.name.as_str(), stored.timezone.as_str()),
        ("Acme Ltd", "America/New_York")
    );
    let now = env.dir.now();
    let log = env
        .dir
        .query_audit(
            tid,
            &AuditQuery {
                kind: Some(AuditKind::AccountConfiguration),
                ..AuditQuery::range(
                    now - SignedDuration::from_hours(1),
                    now + SignedDuration::from_hours(1),
                )
            },
        )
        .await
        .unwrap();
    assert!(
        log.iter()
            .any(|r| r.what.contains("\"Acme Ltd\"") && r.what.contains("\"America/New_York\"")),
        "{log:?}"
    );
}

async fn package_and_ondemand_lists(t: TestStore) {
    let env = Env::new(t);
    let (tid, owner) = env.tenant("Acme", "owner").await;
    let (other, other_owner) = env.tenant("Other", "other-owner").await;
    let plain = env
        .dir
        .create_user(tid, &owner, user("plain"), UserType::User)
        .await
        .unwrap();
    let mk = |name: &str| NewPackage {
        name: name.into(),
        enabled: true,
        device_limit: Some(5),
        ..NewPackage::default()
    };
    let (b, key_b) = env
        .dir
        .create_package(tid, &owner, mk("beta"))
        .await
        .unwrap();
    env.dir
        .create_package(tid, &owner, mk("Alpha"))
        .await
        .unwrap();
    env.dir
        .create_package(other, &other_owner, mk("theirs"))
        .await
        .unwrap();
    env.dir
        .enroll_device(&key_b, enrollment("h1"))
        .await
        .unwrap();
    env.dir
        .enroll_device(&key_b, enrollment("h2"))
        .await
        .unwrap();

    // 002/004 §4.2: "Managed by Account administrators or higher."
    refused_not_allowed(env.dir.packages(tid, &Actor::user(plain.id)).await);
    let list = env.dir.packages(tid, &owner).await.unwrap();
    let names: Vec<&str> = list.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Alpha", "beta"], "this tenant's only, by name");
    // 004 list column "Devices (count)".
    assert_eq!((list[1].devices, list[1].enrollments), (2, 2));
    assert_eq!((list[0].devices, list[0].enrollments), (0, 0));
    let one = env.dir.package_summary(tid, &owner, b.id).await.unwrap();
    assert_eq!(one, list[1]);
    // The key hash never leaves the directory.
    let json = serde_json::to_string(&list).unwrap();
    assert!(!json.contains("key_hash"), "{json}");
    assert!(!json.contains(&hex::encode(b.key_hash)), "{json}");
    assert!(!json.contains(&key_b), "{json}");

    // OnDemand: own sessions, oldest first; a rejected one drops out of the live view.
    let s1 = env.dir.create_ondemand(tid, &owner).await.unwrap();
    env.advance(SignedDuration::from_secs(1));
    let s2 = env.dir.create_ondemand(tid, &owner).await.unwrap();
    let s3 = env
        .dir
        .create_ondemand(tid, &Actor::user(plain.id))
        .await
        .unwrap();
    env.dir.join_ondemand(&s1.key).await.unwrap();
    env.dir.reject_ondemand(&s1.key).await.unwrap();
    let own = env
        .dir
        .ondemand_sessions(tid, owner.user_id(), false)
        .await
        .unwrap();
    assert_eq!(
        own.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![s1.id, s2.id]
    );
    assert_eq!(own[0].state, OnDemandState::Rejected);
    let live = env
        .dir
        .ondemand_sessions(tid, owner.user_id(), true)
        .await
        .unwrap();
    assert_eq!(live.iter().map(|s| s.id).collect::<Vec<_>>(), vec![s2.id]);
    let all = env.dir.ondemand_sessions(tid, None, true).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().any(|s| s.id == s3.id));
    // 002/004: "An OnDemand session key is valid 24h since it was created."
    env.advance(SignedDuration::from_hours(24));
    assert!(
        env.dir
            .ondemand_sessions(tid, None, true)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        env.dir
            .ondemand_sessions(other, None, false)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn device_quota_holds_under_concurrent_enrollment(t: TestStore) {
    let env = Env::new(t);
    let mut owner_user = user("owner");
    owner_user.username = "quota-owner".into();
    let (tenant, owner) = env
        .dir
        .create_tenant(NewTenant {
            name: "Small plan".into(),
            timezone: "UTC".into(),
            quotas: Quotas {
                devices: Some(3),
                ..Quotas::default()
            },
            owner: owner_user,
        })
        .await
        .unwrap();
    let owner = Actor::user(owner.id);
    let mut keys = Vec::new();
    for name in ["one", "two", "three", "four"] {
        let (_, k) = env
            .dir
            .create_package(
                tenant.id,
                &owner,
                NewPackage {
                    name: name.into(),
                    enabled: true,
                    ..NewPackage::default()
                },
            )
            .await
            .unwrap();
        keys.push(k);
    }
    // 004/003 (capability 18): the server enforces per-account device limits. Twelve agents
    // enroll at once through four packages with no package limit of their own: exactly three
    // get in, whatever the interleaving.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let dir = env.dir.clone();
        let key = keys[i % keys.len()].clone();
        tasks.push(tokio::spawn(async move {
            dir.enroll_device(&key, enrollment(&format!("host-{i}")))
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(DirectoryError::QuotaExceeded {
                kind: QuotaKind::Devices,
                limit: 3,
            }) => {}
            Err(e) => panic!("unexpected refusal: {e:?}"),
        }
    }
    assert_eq!(ok, 3);
    assert_eq!(env.dir.devices(tenant.id).await.unwrap().len(), 3);
}
