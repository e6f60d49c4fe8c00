//! Snapshot tests: agreement with the reference evaluator, monotonicity properties.

use super::*;
use crate::model::*;
use crate::rules::evaluate::{self, Target, TenantModel};
use crate::rules::fixture::World;
use jiff::civil::{date, time};
use proptest::prelude::*;

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn snapshot_is_send_and_sync() {
    assert_send_sync::<PolicySnapshot>();
}

#[test]
fn snapshot_matches_reference_on_a_scheduled_tenant() {
    let mut w = World::new("Europe/Bucharest");
    let ug = w.user_group("Support");
    let dg = w.device_group("Servers");
    let u = w.user(&[ug]);
    let outsider = w.user(&[]);
    let d1 = w.device(&[dg]);
    let d2 = w.device(&[]);
    let r = w.role(
        RolePurpose::DeviceAccess,
        &[Permission::RemoteSession, Permission::Chat],
    );
    let r2 = w.role(RolePurpose::DeviceAccess, &[Permission::ViewScreen]);
    let od = w.role(RolePurpose::OnDemand, &[Permission::OwnInvitations]);
    let a = w.assign("office", r, &[ug], &[dg]);
    w.assign("all", r2, &[w.everyone], &[w.everything]);
    w.assign("od", od, &[ug], &[]);
    w.assignment_mut(a).schedule = Some(Schedule {
        start_time: Some(time(9, 0, 0, 0)),
        end_time: Some(time(17, 0, 0, 0)),
        all_day: false,
        recurrence: Recurrence::Daily(DailyPattern::Weekdays),
        ..Schedule::starting(date(2026, 1, 1))
    });
    let snap = PolicySnapshot::build(&w.m.input());
    assert_eq!(snap.assignment_count(), 3);
    for t in [
        "2026-06-01T12:00Z",
        "2026-06-01T15:00Z",
        "2026-06-06T12:00Z",
    ] {
        for user in [u, outsider, UserId::new_random()] {
            for d in [d1, d2] {
                let want = evaluate::evaluate(&w.m.input(), user, w.device_ref(d), at(t));
                assert_eq!(snap.evaluate(&user, &d, at(t)), want, "{t}");
            }
            assert_eq!(
                snap.my_devices(&user, at(t)),
                evaluate::my_devices(&w.m.input(), user, at(t))
            );
            assert_eq!(
                snap.evaluate_ondemand(&user, at(t)),
                evaluate::check(&w.m.input(), user, Target::OnDemand, at(t)).access
            );
        }
    }
    // Monday 15:00 local: both; Monday 18:00 local: only "all".
    assert!(
        snap.evaluate(&u, &d1, at("2026-06-01T12:00Z"))
            .allows(Permission::Chat)
    );
    assert!(
        !snap
            .evaluate(&u, &d1, at("2026-06-01T15:00Z"))
            .allows(Permission::Chat)
    );
    assert_eq!(snap.contributing(&u, &d1, at("2026-06-01T12:00Z")).len(), 2);
    assert_eq!(snap.device_state(&d1), Some(EnrollmentState::Enrolled));
    assert_eq!(
        snap.evaluate(&u, &DeviceId::new_random(), at("2026-06-01T12:00Z")),
        Access::default()
    );
}

#[test]
fn session_overlays_match_reference() {
    let mut w = World::new("UTC");
    let approvers = w.user_group("Approvers");
    let u = w.user(&[]);
    let d = w.device(&[]);
    let app = ApplicationId::new_random();
    w.m.applications.push(Application {
        id: app,
        tenant: w.tenant(),
        name: "Notepad".into(),
        path: None,
        executable: "notepad.exe".into(),
        description: String::new(),
        enabled: true,
    });
    let r = w.role(RolePurpose::DeviceAccess, &[Permission::RemoteSession]);
    {
        let role = w.role_mut(r);
        role.confirm.email = true;
        role.confirm.email_approver_groups = vec![approvers];
        role.whitelist = Some(Whitelist {
            applications: vec![app],
            ..Whitelist::default()
        });
    }
    w.assign("a", r, &[w.everyone], &[w.everything]);
    let snap = PolicySnapshot::build(&w.m.input());
    let t = at("2026-06-01T12:00Z");
    let o = snap.session_overlays(&u, &d, t);
    let c = evaluate::check(&w.m.input(), u, Target::Device(w.device_ref(d)), t);
    assert_eq!(o.email_approver_groups, c.email_approver_groups);
    assert_eq!(o.whitelisted_applications, c.whitelisted_applications);
    assert_eq!(o.whitelisted_applications, vec![app]);
}

// ---- property tests over random small tenants ----

#[derive(Clone, Debug)]
struct RoleSpec {
    purpose: u8,
    perms: u64,
    enabled: bool,
    confirm: bool,
}

#[derive(Clone, Debug)]
struct AssignSpec {
    role: usize,
    /// Bit i = user group i; the last bit = Everyone.
    ugs: u8,
    /// Bit i = device group i; the last bit = Everything.
    dgs: u8,
    active: bool,
    schedule: u8,
}

#[derive(Clone, Debug)]
struct Plan {
    n_ug: usize,
    n_dg: usize,
    users: Vec<(u8, bool)>,
    devices: Vec<u8>,
    ug_active: Vec<bool>,
    dg_active: Vec<bool>,
    roles: Vec<RoleSpec>,
    assignments: Vec<AssignSpec>,
}

fn role_spec() -> impl Strategy<Value = RoleSpec> {
    (
        0u8..3,
        any::<u64>(),
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(purpose, perms, enabled, confirm)| RoleSpec {
            purpose,
            perms,
            enabled,
            confirm,
        })
}

fn assign_spec() -> impl Strategy<Value = AssignSpec> {
    (
        0usize..4,
        any::<u8>(),
        any::<u8>(),
        prop::bool::weighted(0.85),
        0u8..4,
    )
        .prop_map(|(role, ugs, dgs, active, schedule)| AssignSpec {
            role,
            ugs,
            dgs,
            active,
            schedule,
        })
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        1usize..4,
        1usize..4,
        prop::collection::vec((any::<u8>(), prop::bool::weighted(0.9)), 1..5),
        prop::collection::vec(any::<u8>(), 1..5),
        prop::collection::vec(prop::bool::weighted(0.8), 4),
        prop::collection::vec(prop::bool::weighted(0.8), 4),
        prop::collection::vec(role_spec(), 4),
        prop::collection::vec(assign_spec(), 0..6),
    )
        .prop_map(
            |(n_ug, n_dg, users, devices, ug_active, dg_active, roles, assignments)| Plan {
                n_ug,
                n_dg,
                users,
                devices,
                ug_active,
                dg_active,
                roles,
                assignments,
            },
        )
}

fn schedule_of(kind: u8) -> Option<Schedule> {
    let base = Schedule {
        timezone: Some("Europe/Bucharest".into()),
        ..Schedule::starting(date(2026, 1, 1))
    };
    match kind {
        0 => None,
        1 => Some(Schedule {
            start_time: Some(time(9, 0, 0, 0)),
            end_time: Some(time(17, 0, 0, 0)),
            all_day: false,
            recurrence: Recurrence::Daily(DailyPattern::Weekdays),
            ..base
        }),
        2 => Some(Schedule {
            recurrence: Recurrence::Daily(DailyPattern::EveryNDays(3)),
            ..base
        }),
        _ => Some(Schedule {
            start_time: Some(time(22, 0, 0, 0)),
            end_time: Some(time(6, 0, 0, 0)),
            all_day: false,
            ..base
        }),
    }
}

struct Built {
    w: World,
    ugs: Vec<UserGroupId>,
    dgs: Vec<DeviceGroupId>,
    roles: Vec<RoleId>,
    users: Vec<UserId>,
    devices: Vec<DeviceId>,
}

fn add_assignment(b: &mut Built, s: &AssignSpec) {
    let role = b.roles[s.role % b.roles.len()];
    let mut ugs: Vec<UserGroupId> = (0..b.ugs.len())
        .filter(|i| s.ugs & (1 << i) != 0)
        .map(|i| b.ugs[i])
        .collect();
    if s.ugs & 0x80 != 0 {
        ugs.push(b.w.everyone);
    }
    let mut dgs: Vec<DeviceGroupId> = (0..b.dgs.len())
        .filter(|i| s.dgs & (1 << i) != 0)
        .map(|i| b.dgs[i])
        .collect();
    if s.dgs & 0x80 != 0 {
        dgs.push(b.w.everything);
    }
    let id = b.w.assign("a", role, &ugs, &dgs);
    let a = b.w.assignment_mut(id);
    a.active = s.active;
    a.schedule = schedule_of(s.schedule);
}

fn build(p: &Plan) -> Built {
    let mut w = World::new("Europe/Bucharest");
    let ugs: Vec<UserGroupId> = (0..p.n_ug)
        .map(|i| w.user_group(&format!("u{i}")))
        .collect();
    let dgs: Vec<DeviceGroupId> = (0..p.n_dg)
        .map(|i| w.device_group(&format!("d{i}")))
        .collect();
    for (i, g) in ugs.iter().enumerate() {
        w.m.user_groups
            .iter_mut()
            .find(|x| x.id == *g)
            .unwrap()
            .active = p.ug_active[i];
    }
    for (i, g) in dgs.iter().enumerate() {
        w.m.device_groups
            .iter_mut()
            .find(|x| x.id == *g)
            .unwrap()
            .active = p.dg_active[i];
    }
    let users: Vec<UserId> = p
        .users
        .iter()
        .map(|(mask, active)| {
            let groups: Vec<UserGroupId> = (0..ugs.len())
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| ugs[i])
                .collect();
            let u = w.user(&groups);
            if !active {
                w.m.memberships
                    .iter_mut()
                    .find(|m| m.user == u)
                    .unwrap()
                    .state = MembershipState::Disabled(DisabledReason::Manual);
            }
            u
        })
        .collect();
    let devices: Vec<DeviceId> = p
        .devices
        .iter()
        .map(|mask| {
            let groups: Vec<DeviceGroupId> = (0..dgs.len())
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| dgs[i])
                .collect();
            w.device(&groups)
        })
        .collect();
    let roles: Vec<RoleId> = p
        .roles
        .iter()
        .map(|r| {
            let purpose = match r.purpose {
                0 => RolePurpose::DeviceAccess,
                1 => RolePurpose::OnDemand,
                _ => RolePurpose::Administration,
            };
            let id = w.role(purpose, &[]);
            let role = w.role_mut(id);
            role.permissions =
                PermissionSet::from_bits_truncate(r.perms).intersection(purpose.allowed());
            role.enabled = r.enabled;
            role.confirm.host_prompt = r.confirm;
            id
        })
        .collect();
    let mut b = Built {
        w,
        ugs,
        dgs,
        roles,
        users,
        devices,
    };
    for s in &p.assignments {
        add_assignment(&mut b, s);
    }
    b
}

const INSTANTS: [&str; 4] = [
    "2026-06-01T08:00Z", // Monday 11:00 local
    "2026-06-01T20:00Z", // Monday 23:00 local
    "2026-06-06T10:00Z", // Saturday 13:00 local
    "2026-06-04T02:00Z", // Thursday 05:00 local
];

/// Every (user, device, instant) access by the reference evaluator.
fn all_access(m: &TenantModel, users: &[UserId], devices: &[DeviceId]) -> Vec<Access> {
    let mut out = Vec::new();
    for t in INSTANTS {
        for u in users {
            for d in devices {
                let dev = m.devices.iter().find(|x| x.id == *d).unwrap();
                out.push(evaluate::evaluate(&m.input(), *u, dev, at(t)));
            }
            out.push(evaluate::check(&m.input(), *u, Target::OnDemand, at(t)).access);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn snapshot_agrees_with_reference(p in plan()) {
        let b = build(&p);
        let snap = PolicySnapshot::build(&b.w.m.input());
        for t in INSTANTS {
            for u in &b.users {
                for d in &b.devices {
                    let dev = b.w.device_ref(*d);
                    let want = evaluate::evaluate(&b.w.m.input(), *u, dev, at(t));
                    prop_assert_eq!(snap.evaluate(u, d, at(t)), want);
                }
                prop_assert_eq!(
                    snap.my_devices(u, at(t)),
                    evaluate::my_devices(&b.w.m.input(), *u, at(t))
                );
                prop_assert_eq!(
                    snap.evaluate_ondemand(u, at(t)),
                    evaluate::check(&b.w.m.input(), *u, Target::OnDemand, at(t)).access
                );
                prop_assert_eq!(
                    snap.evaluate_administration(u, at(t)),
                    evaluate::check(&b.w.m.input(), *u, Target::Administration, at(t)).access
                );
            }
        }
    }

    #[test]
    fn adding_an_assignment_never_removes_a_permission(p in plan(), extra in assign_spec()) {
        let mut b = build(&p);
        let before = all_access(&b.w.m, &b.users, &b.devices);
        add_assignment(&mut b, &extra);
        let after = all_access(&b.w.m, &b.users, &b.devices);
        for (x, y) in before.iter().zip(&after) {
            prop_assert!(y.permissions.contains_all(x.permissions), "{:?} -> {:?}", x, y);
        }
    }

    #[test]
    fn deactivating_a_group_never_adds_a_permission(p in plan(), which in 0usize..8) {
        let mut b = build(&p);
        let before = all_access(&b.w.m, &b.users, &b.devices);
        // 0..4: a user group (4 = Everyone); 5..8: a device group (8 = Everything).
        if which < 4 {
            let id = if which < b.ugs.len() { b.ugs[which] } else { b.w.everyone };
            b.w.m.user_groups.iter_mut().find(|g| g.id == id).unwrap().active = false;
        } else {
            let i = which - 4;
            let id = if i < b.dgs.len() { b.dgs[i] } else { b.w.everything };
            b.w.m.device_groups.iter_mut().find(|g| g.id == id).unwrap().active = false;
        }
        let after = all_access(&b.w.m, &b.users, &b.devices);
        for (x, y) in before.iter().zip(&after) {
            prop_assert!(x.permissions.contains_all(y.permissions), "{:?} -> {:?}", x, y);
        }
        // The snapshot sees the same.
        let snap = PolicySnapshot::build(&b.w.m.input());
        let t = at(INSTANTS[0]);
        for u in &b.users {
            for d in &b.devices {
                let dev = b.w.device_ref(*d);
                prop_assert_eq!(
                    snap.evaluate(u, d, t),
                    evaluate::evaluate(&b.w.m.input(), *u, dev, t)
                );
            }
        }
    }
}
