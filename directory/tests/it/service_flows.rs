//! The `Directory` service on both backends, continued: enrollment packages, OnDemand keys,
//! the audit log, second factors, and snapshots with change notification.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::SignedDuration;
use switchboard_directory::error::{DirectoryError, EnrollmentRefusal, OnDemandRefusal};
use switchboard_directory::model::{
    AuditKind, EnrollmentState, OnDemandState, Permission, UserType,
};
use switchboard_directory::service::{Actor, AuditQuery, Directory, NewAssignment, NewPackage};
use switchboard_directory::store::{Scope, StoreEvent};

use crate::both_backends;
use crate::service_suite::{Env, device_role, enrollment};
use crate::support::TestStore;

both_backends!(
    packages_enroll_revoke_remove,
    ondemand_keys_are_one_time,
    audit_query_csv_and_retention,
    snapshot_follows_changes_and_notifies,
    second_factors_work_once,
);

async fn packages_enroll_revoke_remove(t: TestStore) {
    let env = Env::new(t);
    let (tid, owner) = env.tenant("Acme", "alice").await;
    let d = &env.dir;
    let dg = d.create_device_group(tid, &owner, "New", "").await.unwrap();
    let now = d.now();
    let (pkg, key) = d
        .create_package(
            tid,
            &owner,
            NewPackage {
                name: "Servers".into(),
                valid_from: Some(now + SignedDuration::from_hours(1)),
                valid_to: Some(now + SignedDuration::from_hours(48)),
                device_limit: Some(2),
                enabled: true,
                pending: true,
                target_group: Some(dg.id),
                ..NewPackage::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(key.len(), 32);
    // Only the hash is stored: the key appears nowhere in the store.
    let (tenant_keys, global_keys) = env.snapshot(tid).await;
    for (_, _, v) in tenant_keys.iter().chain(&global_keys) {
        assert!(!String::from_utf8_lossy(v).contains(&key));
    }
    let refused = |e: DirectoryError| match e {
        DirectoryError::EnrollmentRefused(r) => r,
        e => panic!("{e:?}"),
    };
    assert_eq!(
        refused(d.enroll_device(&key, enrollment("h0")).await.unwrap_err()),
        EnrollmentRefusal::NotYetValid
    );
    env.advance(SignedDuration::from_hours(2));
    let d1 = d.enroll_device(&key, enrollment("h1")).await.unwrap();
    assert_eq!(d1.enrollment, EnrollmentState::Pending);
    assert_eq!(d1.groups, BTreeSet::from([dg.id]));
    d.approve_device(tid, &owner, d1.id).await.unwrap();
    assert_eq!(
        d.device(tid, d1.id).await.unwrap().enrollment,
        EnrollmentState::Enrolled
    );
    let _d2 = d.enroll_device(&key, enrollment("h2")).await.unwrap();
    assert_eq!(
        refused(d.enroll_device(&key, enrollment("h3")).await.unwrap_err()),
        EnrollmentRefusal::DeviceLimitReached
    );
    // 002/004: "You can only remove deployment packages that have no devices associated or
    // which are revoked."
    assert!(matches!(
        d.remove_package(tid, &owner, pkg.id).await,
        Err(DirectoryError::PackageHasDevices)
    ));
    let revoked = d
        .revoke_package(tid, &owner, pkg.id, "revoke")
        .await
        .unwrap();
    assert_eq!(revoked.len(), 2);
    for dev in d.devices(tid).await.unwrap() {
        assert_eq!(
            dev.enrollment,
            EnrollmentState::Revoked,
            "revoked devices stay listed as Revoked"
        );
    }
    assert_eq!(
        refused(d.enroll_device(&key, enrollment("h4")).await.unwrap_err()),
        EnrollmentRefusal::Revoked
    );
    d.remove_package(tid, &owner, pkg.id).await.unwrap();
    assert_eq!(
        refused(d.enroll_device(&key, enrollment("h5")).await.unwrap_err()),
        EnrollmentRefusal::UnknownKey
    );

    // Disabled and expired packages; favourites.
    let (p2, k2) = d
        .create_package(
            tid,
            &owner,
            NewPackage {
                name: "Off".into(),
                enabled: false,
                ..NewPackage::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        refused(d.enroll_device(&k2, enrollment("x")).await.unwrap_err()),
        EnrollmentRefusal::Disabled
    );
    assert!(d.package(tid, p2.id).await.is_ok());
    let (_, k3) = d
        .create_package(
            tid,
            &owner,
            NewPackage {
                name: "Short".into(),
                enabled: true,
                valid_to: Some(d.now() + SignedDuration::from_hours(1)),
                ..NewPackage::default()
            },
        )
        .await
        .unwrap();
    let dev = d.enroll_device(&k3, enrollment("y")).await.unwrap();
    assert_eq!(dev.enrollment, EnrollmentState::Enrolled);
    env.advance(SignedDuration::from_hours(1));
    assert_eq!(
        refused(d.enroll_device(&k3, enrollment("z")).await.unwrap_err()),
        EnrollmentRefusal::Expired
    );
    let me = owner.user_id().unwrap();
    let fav = d
        .set_favourites(tid, me, &[dev.id, d1.id], true)
        .await
        .unwrap();
    assert_eq!(fav.devices.len(), 2);
    let fav = d.set_favourites(tid, me, &[d1.id], false).await.unwrap();
    assert_eq!(fav.devices, BTreeSet::from([dev.id]));
}

async fn ondemand_keys_are_one_time(t: TestStore) {
    let env = Env::new(t);
    let (tid, owner) = env.tenant("Acme", "alice").await;
    let d = &env.dir;
    let s = d.create_ondemand(tid, &owner).await.unwrap();
    // 004 example key `901219828`: 9 digits.
    assert_eq!(s.key.len(), 9);
    assert!(s.key.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(d.ondemand_by_key(&s.key).await.unwrap().id, s.id);
    let waiting = d.join_ondemand(&s.key).await.unwrap();
    assert!(matches!(waiting.state, OnDemandState::Waiting { .. }));
    let used = d.start_ondemand(&s.key).await.unwrap();
    assert!(matches!(used.state, OnDemandState::Connected { .. }));
    // 002/004: "valid only for one remote connection".
    assert!(d.start_ondemand(&s.key).await.is_err());
    assert!(d.join_ondemand(&s.key).await.is_err());
    d.finish_ondemand(tid, s.id).await.unwrap();
    // Rejected sessions cannot be joined again.
    let r = d.create_ondemand(tid, &owner).await.unwrap();
    d.join_ondemand(&r.key).await.unwrap();
    d.reject_ondemand(&r.key).await.unwrap();
    assert!(d.join_ondemand(&r.key).await.is_err());
    // 002/004: "An OnDemand session key is valid 24h since it was created."
    let s2 = d.create_ondemand(tid, &owner).await.unwrap();
    env.advance(SignedDuration::from_hours(24));
    assert!(matches!(
        d.join_ondemand(&s2.key).await,
        Err(DirectoryError::OnDemandRefused(OnDemandRefusal::Expired))
    ));
}

async fn audit_query_csv_and_retention(t: TestStore) {
    let env = Env::new(t);
    let (tid, owner) = env.tenant("Acme", "alice").await;
    let d = &env.dir;
    let start = d.now();
    let bob = env
        .new_member(tid, &owner, "bob", UserType::AccountAdministrator)
        .await;
    env.advance(SignedDuration::from_hours(24 * 40));
    d.create_user_group(tid, &Actor::user(bob.id), "It's ours", "")
        .await
        .unwrap();
    env.advance(SignedDuration::from_hours(24 * 160));
    d.create_device_group(tid, &owner, "Later", "")
        .await
        .unwrap();
    let end = d.now() + SignedDuration::from_secs(1);

    let all = d
        .query_audit(tid, &AuditQuery::range(start, end))
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    assert!(all.windows(2).all(|w| w[0].at <= w[1].at), "oldest first");
    let mut by_bob = AuditQuery::range(start, end);
    by_bob.user = Some(bob.id);
    let bobs = d.query_audit(tid, &by_bob).await.unwrap();
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0].kind, AuditKind::Group);
    let mut users_only = AuditQuery::range(start, end);
    users_only.kind = Some(AuditKind::User);
    assert_eq!(d.query_audit(tid, &users_only).await.unwrap().len(), 1);
    // A range excludes records outside it.
    let mid = start + SignedDuration::from_hours(24 * 30);
    assert_eq!(
        d.query_audit(tid, &AuditQuery::range(start, mid))
            .await
            .unwrap()
            .len(),
        2
    );
    // 002/004: CSV with comma delimiter and apostrophe text qualifier.
    let csv = d.export_audit_csv(tid, &by_bob).await.unwrap();
    assert_eq!(csv.lines().count(), 2);
    assert!(csv.contains("'user group \"It''s ours\" created'"), "{csv}");
    // Six months later than the first two records: they are purged, oldest first.
    let purged = d.purge_audit(tid).await.unwrap();
    assert_eq!(purged, 2);
    let left = d
        .query_audit(tid, &AuditQuery::range(start, end))
        .await
        .unwrap();
    assert_eq!(left.len(), 2);
    assert!(
        left.iter()
            .all(|r| r.at > start + SignedDuration::from_hours(24 * 30))
    );
    // With the log off nothing but the toggle is recorded.
    d.set_audit_enabled(tid, &owner, false).await.unwrap();
    d.create_user_group(tid, &owner, "Quiet", "").await.unwrap();
    let after = d
        .query_audit(
            tid,
            &AuditQuery::range(start, d.now() + SignedDuration::from_secs(1)),
        )
        .await
        .unwrap();
    assert_eq!(after.len(), 3);
}

async fn snapshot_follows_changes_and_notifies(t: TestStore) {
    let env = Env::new(t);
    let (tid, owner) = env.tenant("Acme", "alice").await;
    let d = &env.dir;
    let other = Directory::new(env.t.second_instance().await);
    let mut events = other.subscribe();
    let snap = d.load_snapshot(tid).await.unwrap();
    let v0 = d.tenant_version(tid).await.unwrap();
    assert_eq!(snap.version(), v0);
    assert_eq!(snap.tenant(), tid);

    let (g, dg) = env.support_and_servers(tid, &owner).await;
    let role = d
        .create_role(tid, &owner, device_role("Viewer"))
        .await
        .unwrap();
    let bob = env.new_member(tid, &owner, "bob", UserType::User).await;
    d.add_users_to_group(tid, &owner, g.id, &[bob.id])
        .await
        .unwrap();
    let (_, key) = env.enabled_package(tid, &owner, "P").await;
    let dev = d.enroll_device(&key, enrollment("h1")).await.unwrap();
    d.set_devices_in_group(tid, &owner, dg.id, &[dev.id], true)
        .await
        .unwrap();
    d.create_assignment(
        tid,
        &owner,
        NewAssignment {
            name: "support on servers".into(),
            description: String::new(),
            role: role.id,
            user_groups: BTreeSet::from([g.id]),
            device_groups: BTreeSet::from([dg.id]),
            schedule: None,
        },
    )
    .await
    .unwrap();
    let v1 = d.tenant_version(tid).await.unwrap();
    assert!(v1 > v0);

    // The other instance was told, with the tenant's scope and the latest version.
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let StoreEvent::Changed { scope, version } = events.recv().await.unwrap()
                && scope == Scope::tenant(&tid.to_string()).unwrap()
                && version == v1
            {
                return;
            }
        }
    })
    .await;
    assert!(seen.is_ok(), "no change notification for version {v1}");

    let snap = other.load_snapshot(tid).await.unwrap();
    assert_eq!(snap.version(), v1);
    let now = d.now();
    let access = snap.evaluate(&bob.id, &dev.id, now);
    assert!(
        access.permissions.contains(Permission::ViewScreen),
        "{access:?}"
    );
    // Deactivating the device group takes the grant away in the next snapshot.
    d.set_device_group_active(tid, &owner, dg.id, false)
        .await
        .unwrap();
    let snap = other.load_snapshot(tid).await.unwrap();
    assert!(snap.version() > v1);
    assert!(
        !snap
            .evaluate(&bob.id, &dev.id, now)
            .permissions
            .contains(Permission::ViewScreen)
    );
}

async fn second_factors_work_once(t: TestStore) {
    use switchboard_directory::rules::totp::{format_code, totp_code, totp_step};
    let env = Env::new(t);
    let (_tid, owner) = env.tenant("Acme", "alice").await;
    let d = &env.dir;
    let me = owner.user_id().unwrap();
    assert!(matches!(
        d.verify_totp(me, "000000").await,
        Err(DirectoryError::InvalidCode)
    ));
    let state = d.enroll_totp(me).await.unwrap();
    let code = format_code(totp_code(&state.secret, totp_step(d.now())).unwrap());
    d.verify_totp(me, &code).await.unwrap();
    assert!(
        d.verify_totp(me, &code).await.is_err(),
        "a TOTP code is not accepted twice"
    );
    // 002/004: recovery codes "come in sets of 10"; a used code "becomes inactive"; a new set
    // makes the previous one "automatically inactive".
    let codes = d.new_recovery_codes(me).await.unwrap();
    assert_eq!(codes.len(), 10);
    d.redeem_recovery_code(me, &codes[0]).await.unwrap();
    assert!(d.redeem_recovery_code(me, &codes[0]).await.is_err());
    let fresh = d.new_recovery_codes(me).await.unwrap();
    assert!(d.redeem_recovery_code(me, &codes[1]).await.is_err());
    d.redeem_recovery_code(me, &fresh[1]).await.unwrap();
}
