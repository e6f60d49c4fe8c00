//! Tests of the reference evaluator.

use super::*;
use crate::model::*;
use crate::rules::fixture::World;
use jiff::civil::{date, time};

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

const NOON: &str = "2026-06-01T12:00Z";

#[test]
fn union_of_assignments_with_contributors() {
    // 003: "the roles complement each other, meaning they are combined".
    let mut w = World::new("UTC");
    let support = w.user_group("Support");
    let servers = w.device_group("Servers");
    let u = w.user(&[support]);
    let d = w.device(&[servers]);
    let view = w.role(
        RolePurpose::DeviceAccess,
        &[Permission::RemoteSession, Permission::ViewScreen],
    );
    let cmd = w.role(RolePurpose::DeviceAccess, &[Permission::ExecuteCommand]);
    let a1 = w.assign("view", view, &[support], &[servers]);
    let a2 = w.assign("cmd", cmd, &[w.everyone], &[w.everything]);
    let c = check(&w.m.input(), u, Target::Device(w.device_ref(d)), at(NOON));
    let yes: Vec<Permission> = c
        .granted
        .iter()
        .filter(|(_, y)| *y)
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(
        yes,
        vec![
            Permission::RemoteSession,
            Permission::ViewScreen,
            Permission::ExecuteCommand
        ]
    );
    assert_eq!(c.granted.len(), Permission::ALL.len());
    let mut contrib: Vec<AssignmentId> = c.contributing().collect();
    contrib.sort();
    let mut want = vec![a1, a2];
    want.sort();
    assert_eq!(contrib, want);
    assert_eq!(c.access.contributing, 2);
}

#[test]
fn everyone_and_everything_hold_all_members_and_devices() {
    // 002/004 §2.6: with "User: everyone, Devices: everything", "a fresh LDAP user can
    // immediately access all devices".
    let mut w = World::new("UTC");
    let u = w.user(&[]);
    let d = w.device(&[]);
    let r = w.role(RolePurpose::DeviceAccess, &[Permission::RemoteSession]);
    w.assign("all", r, &[w.everyone], &[w.everything]);
    let dev = w.device_ref(d).clone();
    assert!(evaluate(&w.m.input(), u, &dev, at(NOON)).allows(Permission::RemoteSession));
    // A user of another tenant gets nothing.
    assert!(evaluate(&w.m.input(), UserId::new_random(), &dev, at(NOON)).is_empty());
    // A device of another tenant gets nothing.
    let mut foreign = dev.clone();
    foreign.tenant = TenantId::new_random();
    assert!(evaluate(&w.m.input(), u, &foreign, at(NOON)).is_empty());
}

#[test]
fn inactive_groups_stop_their_assignments() {
    // 002/004 §3.1: deactivating a group "disables the group so that role assignments no longer
    // apply".
    let mut w = World::new("UTC");
    let ug = w.user_group("U");
    let dg = w.device_group("D");
    let u = w.user(&[ug]);
    let d = w.device(&[dg]);
    let r = w.role(RolePurpose::DeviceAccess, &[Permission::RemoteSession]);
    w.assign("a", r, &[ug], &[dg]);
    let dev = w.device_ref(d).clone();
    assert!(!evaluate(&w.m.input(), u, &dev, at(NOON)).is_empty());
    w.m.user_groups
        .iter_mut()
        .find(|g| g.id == ug)
        .unwrap()
        .active = false;
    let c = check(&w.m.input(), u, Target::Device(&dev), at(NOON));
    assert!(c.access.is_empty());
    assert_eq!(
        c.involved[0].not_applying,
        Some(NotApplying::UserGroupInactive)
    );
    w.m.user_groups
        .iter_mut()
        .find(|g| g.id == ug)
        .unwrap()
        .active = true;
    w.m.device_groups
        .iter_mut()
        .find(|g| g.id == dg)
        .unwrap()
        .active = false;
    let c = check(&w.m.input(), u, Target::Device(&dev), at(NOON));
    assert_eq!(
        c.involved[0].not_applying,
        Some(NotApplying::DeviceGroupInactive)
    );
    // The built-in Everything can be deactivated too.
    w.m.device_groups
        .iter_mut()
        .find(|g| g.id == dg)
        .unwrap()
        .active = true;
    let all = w.everything;
    let everyone = w.everyone;
    let r2 = w.role(RolePurpose::DeviceAccess, &[Permission::Chat]);
    w.assign("all", r2, &[everyone], &[all]);
    w.m.device_groups
        .iter_mut()
        .find(|g| g.id == all)
        .unwrap()
        .active = false;
    assert!(!evaluate(&w.m.input(), u, &dev, at(NOON)).allows(Permission::Chat));
}

#[test]
fn disabled_roles_inactive_assignments_and_missing_roles_contribute_nothing() {
    let mut w = World::new("UTC");
    let u = w.user(&[]);
    let d = w.device(&[]);
    let r = w.role(RolePurpose::DeviceAccess, &[Permission::RemoteSession]);
    let a = w.assign("a", r, &[w.everyone], &[w.everything]);
    let dev = w.device_ref(d).clone();
    w.role_mut(r).enabled = false;
    let c = check(&w.m.input(), u, Target::Device(&dev), at(NOON));
    assert_eq!(c.involved[0].not_applying, Some(NotApplying::RoleDisabled));
    w.role_mut(r).enabled = true;
    // 002/004: "Disabling the role assignment does not remove it."
    w.assignment_mut(a).active = false;
    let c = check(&w.m.input(), u, Target::Device(&dev), at(NOON));
    assert_eq!(
        c.involved[0].not_applying,
        Some(NotApplying::AssignmentInactive)
    );
    w.assignment_mut(a).active = true;
    w.m.roles.retain(|x| x.id != r);
    let c = check(&w.m.input(), u, Target::Device(&dev), at(NOON));
    assert_eq!(c.involved[0].not_applying, Some(NotApplying::RoleMissing));
    assert!(c.access.is_empty());
}

#[test]
fn scheduled_assignment_applies_only_in_schedule() {
    // 002/004 §5.4: "permissions can change in time due to existing schedules".
    let mut w = World::new("Europe/Bucharest");
    let u = w.user(&[]);
    let d = w.device(&[]);
    let r = w.role(RolePurpose::DeviceAccess, &[Permission::RemoteSession]);
    let a = w.assign("office", r, &[w.everyone], &[w.everything]);
    w.assignment_mut(a).schedule = Some(Schedule {
        start_time: Some(time(9, 0, 0, 0)),
        end_time: Some(time(17, 0, 0, 0)),
        all_day: false,
        recurrence: Recurrence::Daily(DailyPattern::Weekdays),
        ..Schedule::starting(date(2026, 1, 1))
    });
    let dev = w.device_ref(d).clone();
    // Monday 2026-06-01, Bucharest is UTC+3: 12:00Z = 15:00 local; 15:00Z = 18:00 local.
    assert!(!evaluate(&w.m.input(), u, &dev, at("2026-06-01T12:00Z")).is_empty());
    let c = check(
        &w.m.input(),
        u,
        Target::Device(&dev),
        at("2026-06-01T15:00Z"),
    );
    assert_eq!(
        c.involved[0].not_applying,
        Some(NotApplying::OutsideSchedule)
    );
}

#[test]
fn my_devices_is_exactly_the_reachable_enrolled_devices() {
    // 002/004: My devices lists "only the devices that the user is allowed to connect to (at
    // least one Role assignment needs to exist containing a User group with that User and a
    // Device group with that Device)".
    let mut w = World::new("UTC");
    let ug = w.user_group("U");
    let dg = w.device_group("D");
    let u = w.user(&[ug]);
    let other = w.user(&[]);
    let d1 = w.device(&[dg]);
    let _d2 = w.device(&[]);
    let d3 = w.device(&[dg]);
    let pending = w.device(&[dg]);
    w.m.devices
        .iter_mut()
        .find(|d| d.id == pending)
        .unwrap()
        .enrollment = EnrollmentState::Pending;
    let r = w.role(RolePurpose::DeviceAccess, &[Permission::RemoteSession]);
    w.assign("a", r, &[ug], &[dg]);
    // A confirm-only role alone grants nothing and makes nothing reachable.
    let confirm_only = w.role(RolePurpose::DeviceAccess, &[]);
    w.role_mut(confirm_only).confirm.host_prompt = true;
    w.assign("confirm", confirm_only, &[w.everyone], &[w.everything]);
    let mut got = my_devices(&w.m.input(), u, at(NOON));
    got.sort();
    let mut want = vec![d1, d3];
    want.sort();
    assert_eq!(got, want);
    assert!(my_devices(&w.m.input(), other, at(NOON)).is_empty());
    // Pending devices are not listed, but evaluation itself is pure set logic.
    let pdev = w.device_ref(pending).clone();
    assert!(!evaluate(&w.m.input(), u, &pdev, at(NOON)).is_empty());
}

#[test]
fn members_that_are_not_active_get_nothing() {
    // 003: an invitee "cannot participate in any processes yet"; disabled users "cannot log in
    // or use the system".
    let mut w = World::new("UTC");
    let u = w.user(&[]);
    let d = w.device(&[]);
    let r = w.role(RolePurpose::DeviceAccess, &[Permission::RemoteSession]);
    w.assign("a", r, &[w.everyone], &[w.everything]);
    let dev = w.device_ref(d).clone();
    for state in [
        MembershipState::Disabled(DisabledReason::Manual),
        MembershipState::Disabled(DisabledReason::PlanLimit),
        MembershipState::Invited {
            sent_at: Timestamp::UNIX_EPOCH,
            resends: 0,
        },
    ] {
        w.m.memberships
            .iter_mut()
            .find(|m| m.user == u)
            .unwrap()
            .state = state;
        let c = check(&w.m.input(), u, Target::Device(&dev), at(NOON));
        assert!(c.access.is_empty());
        assert_eq!(
            c.involved[0].not_applying,
            Some(NotApplying::MemberNotActive)
        );
    }
}

#[test]
fn ondemand_and_administration_targets_use_their_purpose_only() {
    // 002/004: "To create and use OnDemand Sessions, a user needs a role assignment with an
    // OnDemand-type role."
    let mut w = World::new("UTC");
    let u = w.user(&[]);
    let d = w.device(&[]);
    let dev_role = w.role(RolePurpose::DeviceAccess, &[Permission::RemoteSession]);
    let od_role = w.role(
        RolePurpose::OnDemand,
        &[Permission::ViewScreen, Permission::OwnInvitations],
    );
    let adm = w.role(RolePurpose::Administration, &[Permission::AuditLog]);
    w.assign("dev", dev_role, &[w.everyone], &[w.everything]);
    w.assign("od", od_role, &[w.everyone], &[]);
    w.assign("adm", adm, &[w.everyone], &[]);
    let input = w.m.input();
    let od = check(&input, u, Target::OnDemand, at(NOON)).access;
    assert_eq!(
        od.permissions,
        PermissionSet::from_slice(&[Permission::ViewScreen, Permission::OwnInvitations])
    );
    let ad = check(&input, u, Target::Administration, at(NOON)).access;
    assert_eq!(
        ad.permissions,
        PermissionSet::from_slice(&[Permission::AuditLog])
    );
    let dv = evaluate(&input, u, w.device_ref(d), at(NOON));
    assert_eq!(
        dv.permissions,
        PermissionSet::from_slice(&[Permission::RemoteSession])
    );
}

#[test]
fn overlays_approvers_and_whitelisted_applications() {
    // 002/004 §5.5: confirm access applies if "enabled in any of their role assignments".
    let mut w = World::new("UTC");
    let approvers = w.user_group("Approvers");
    let u = w.user(&[]);
    let d = w.device(&[]);
    let full = w.role(RolePurpose::DeviceAccess, &[Permission::RemoteSession]);
    let guarded = w.role(RolePurpose::DeviceAccess, &[Permission::ViewScreen]);
    let app_on = ApplicationId::new_random();
    let app_off = ApplicationId::new_random();
    for (id, enabled) in [(app_on, true), (app_off, false)] {
        w.m.applications.push(Application {
            id,
            tenant: w.tenant(),
            name: "app".into(),
            path: None,
            executable: "app.exe".into(),
            description: String::new(),
            enabled,
        });
    }
    {
        let g = w.role_mut(guarded);
        g.confirm = ConfirmAccess {
            host_prompt: true,
            except_when_locked: true,
            email: true,
            email_approver_groups: vec![approvers],
            ..ConfirmAccess::default()
        };
        g.whitelist = Some(Whitelist {
            applications: vec![app_on, app_off],
            ..Whitelist::default()
        });
    }
    w.assign("full", full, &[w.everyone], &[w.everything]);
    let ga = w.assign("guarded", guarded, &[w.everyone], &[w.everything]);
    let dev = w.device_ref(d).clone();
    let c = check(&w.m.input(), u, Target::Device(&dev), at(NOON));
    assert!(c.access.confirm.host_prompt && c.access.confirm.prompt_skipped_when_locked);
    assert!(c.access.confirm.email);
    assert!(c.access.whitelist.enabled);
    assert_eq!(c.email_approver_groups, vec![approvers]);
    assert_eq!(
        c.whitelisted_applications,
        vec![app_on],
        "disabled apps are left out"
    );
    // 002/004 §4.4.11: the assignment is auto-disabled when "all the applications ... become
    // disabled": it no longer applies.
    w.m.applications.iter_mut().for_each(|a| a.enabled = false);
    let c = check(&w.m.input(), u, Target::Device(&dev), at(NOON));
    let row = c.involved.iter().find(|i| i.id == ga).unwrap();
    assert_eq!(row.not_applying, Some(NotApplying::ApplicationsDisabled));
    assert!(!c.access.whitelist.enabled && !c.access.confirm.is_required());
    assert!(c.access.allows(Permission::RemoteSession));
}

#[test]
fn check_instant_from_date_time_zone() {
    // 004: "valid at 2022-04-07, 15:57 (Europe/Bucharest)".
    let t = instant_of(date(2022, 4, 7), time(15, 57, 0, 0), "Europe/Bucharest").unwrap();
    assert_eq!(t, at("2022-04-07T12:57Z"));
    // 03:30 does not exist on 2026-03-29 in Bucharest: resolves after the gap.
    let gap = instant_of(date(2026, 3, 29), time(3, 30, 0, 0), "Europe/Bucharest").unwrap();
    assert_eq!(gap, at("2026-03-29T01:30Z"));
    assert!(instant_of(date(2022, 4, 7), time(1, 0, 0, 0), "No/Where").is_err());
}
