//! Role-assignment rules: validation, bulk schedule changes, automatic disabling when a
//! whitelist loses all its applications, and the schedule status and summary shown per
//! assignment.
//!
//! Pure functions over assignments, roles and groups; the service persists the results.

use crate::error::DirectoryError;
use crate::model::schedule::{DailyPattern, MonthDay, Recurrence};
use crate::model::{
    Application, AssignmentId, AutoDisabled, DeviceGroup, Role, RoleAssignment, RolePurpose,
    Schedule, UserGroup,
};
use crate::rules::evaluate::whitelist_usable;
use crate::rules::schedule::{CompiledSchedule, resolve_time_zone, validate_schedule};
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// Validates an assignment against its role and the tenant's groups: a name, one or more user
/// groups, one or more device groups for device-access roles and none for OnDemand (002/004:
/// "device groups cannot be selected") and administration roles, every group of the tenant,
/// and a valid schedule.
pub fn validate_assignment(
    a: &RoleAssignment,
    role: Option<&Role>,
    user_groups: &[UserGroup],
    device_groups: &[DeviceGroup],
) -> Result<(), DirectoryError> {
    if a.name.trim().is_empty() {
        return Err(DirectoryError::InvalidAssignment(
            "a role assignment needs a name",
        ));
    }
    let role = role
        .filter(|r| r.id == a.role && r.tenant == a.tenant)
        .ok_or_else(|| DirectoryError::unknown(crate::model::RoleId::KIND, a.role))?;
    if a.user_groups.is_empty() {
        return Err(DirectoryError::InvalidAssignment(
            "select at least one user group",
        ));
    }
    for g in &a.user_groups {
        if !user_groups
            .iter()
            .any(|x| x.id == *g && x.tenant == a.tenant)
        {
            return Err(DirectoryError::unknown(crate::model::UserGroupId::KIND, g));
        }
    }
    match role.purpose {
        RolePurpose::DeviceAccess if a.device_groups.is_empty() => {
            return Err(DirectoryError::InvalidAssignment(
                "select at least one device group",
            ));
        }
        RolePurpose::OnDemand if !a.device_groups.is_empty() => {
            return Err(DirectoryError::OnDemandRoleWithDeviceGroups);
        }
        RolePurpose::Administration if !a.device_groups.is_empty() => {
            return Err(DirectoryError::AdministrationRoleWithDeviceGroups);
        }
        _ => {}
    }
    for g in &a.device_groups {
        if !device_groups
            .iter()
            .any(|x| x.id == *g && x.tenant == a.tenant)
        {
            return Err(DirectoryError::unknown(
                crate::model::DeviceGroupId::KIND,
                g,
            ));
        }
    }
    if let Some(s) = &a.schedule {
        validate_schedule(s)?;
        if let Some(tz) = &s.timezone {
            resolve_time_zone(tz)?;
        }
    }
    Ok(())
}

/// Checks that re-activating `a` is possible: an assignment disabled because its role was
/// deleted needs another role first.
pub fn check_activation(a: &RoleAssignment, role: Option<&Role>) -> Result<(), DirectoryError> {
    if role.is_none_or(|r| r.id != a.role) {
        return Err(DirectoryError::InvalidAssignment(
            "the role of this assignment was deleted; choose another role",
        ));
    }
    Ok(())
}

/// Sets `schedule` on every assignment in `ids` (002/004: "You can assign a schedule to
/// multiple role assignments"). Validates once, changes nothing on error, returns how many
/// changed. Unknown ids are reported.
pub fn set_schedule_bulk(
    assignments: &mut [RoleAssignment],
    ids: &[AssignmentId],
    schedule: &Schedule,
    now: Timestamp,
) -> Result<usize, DirectoryError> {
    validate_schedule(schedule)?;
    if let Some(tz) = &schedule.timezone {
        resolve_time_zone(tz)?;
    }
    check_ids(assignments, ids)?;
    let mut n = 0;
    for a in assignments.iter_mut().filter(|a| ids.contains(&a.id)) {
        a.schedule = Some(schedule.clone());
        a.modified_at = now;
        n += 1;
    }
    Ok(n)
}

/// Removes the schedule of every assignment in `ids` ("You can remove a schedule from multiple
/// role assignments"); returns how many had one.
pub fn remove_schedule_bulk(
    assignments: &mut [RoleAssignment],
    ids: &[AssignmentId],
    now: Timestamp,
) -> Result<usize, DirectoryError> {
    check_ids(assignments, ids)?;
    let mut n = 0;
    for a in assignments.iter_mut().filter(|a| ids.contains(&a.id)) {
        if a.schedule.take().is_some() {
            a.modified_at = now;
            n += 1;
        }
    }
    Ok(n)
}

fn check_ids(assignments: &[RoleAssignment], ids: &[AssignmentId]) -> Result<(), DirectoryError> {
    match ids
        .iter()
        .find(|id| !assignments.iter().any(|a| a.id == **id))
    {
        Some(id) => Err(DirectoryError::unknown(AssignmentId::KIND, id)),
        None => Ok(()),
    }
}

/// Disables the active assignments whose whitelisting role has no enabled application left
/// (002/004: "the role assignment is auto-disabled when ... all the applications ... become
/// disabled"). Returns the ids disabled.
pub fn auto_disable_for_applications(
    roles: &[Role],
    applications: &[Application],
    assignments: &mut [RoleAssignment],
    now: Timestamp,
) -> Vec<AssignmentId> {
    let mut out = Vec::new();
    for a in assignments.iter_mut().filter(|a| a.active) {
        let Some(role) = roles.iter().find(|r| r.id == a.role) else {
            continue;
        };
        if !whitelist_usable(role, applications) {
            a.active = false;
            a.auto_disabled = Some(AutoDisabled::ApplicationsDisabled);
            a.modified_at = now;
            out.push(a.id);
        }
    }
    out
}

/// Schedule status shown per assignment (004: "Active, due to schedule" / "Not active, due to
/// schedule").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScheduleStatus {
    /// The assignment has no schedule.
    Unscheduled,
    /// "Active, due to schedule".
    ActiveDueToSchedule,
    /// "Not active, due to schedule".
    NotActiveDueToSchedule,
}

/// The schedule status of `a` at `at`; `tenant_tz` is the default zone.
pub fn schedule_status(a: &RoleAssignment, tenant_tz: &TimeZone, at: Timestamp) -> ScheduleStatus {
    match &a.schedule {
        None => ScheduleStatus::Unscheduled,
        Some(s) => {
            if CompiledSchedule::compile(s, tenant_tz).is_ok_and(|c| c.is_active_at(at)) {
                ScheduleStatus::ActiveDueToSchedule
            } else {
                ScheduleStatus::NotActiveDueToSchedule
            }
        }
    }
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn every(n: u16, unit: &str) -> String {
    if n == 1 {
        format!("every {unit}")
    } else {
        format!("every {n} {unit}s")
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The human summary of a schedule, in the style of 004: "This role assignment is scheduled
/// starting from April 2, 2021, every day, full time (Europe/Bucharest time)."
pub fn describe_schedule(s: &Schedule, tenant_tz: &str) -> String {
    let month_name = |m: i8| {
        MONTHS
            .get(usize::try_from(m - 1).unwrap_or(0))
            .copied()
            .unwrap_or("?")
    };
    let d = s.start_date;
    let mut out = format!(
        "This role assignment is scheduled starting from {} {}, {}, ",
        month_name(d.month()),
        d.day(),
        d.year()
    );
    let when = match s.recurrence {
        Recurrence::None | Recurrence::Daily(DailyPattern::EveryNDays(1)) => "every day".into(),
        Recurrence::Daily(DailyPattern::EveryNDays(n)) => every(n, "day"),
        Recurrence::Daily(DailyPattern::Weekdays) => "every weekday".into(),
        Recurrence::Daily(DailyPattern::Weekends) => "every weekend day".into(),
        Recurrence::Weekly { every: n, days } => {
            let names: Vec<String> = days.iter().map(|d| format!("{d:?}")).collect();
            format!("{} on {}", every(n, "week"), names.join(", "))
        }
        Recurrence::Monthly { every: n, day } => match day {
            MonthDay::Day(k) => format!("{} on the {}", every(n, "month"), ordinal(u32::from(k))),
            MonthDay::Last => format!("{} on the last day", every(n, "month")),
        },
        Recurrence::Yearly {
            every: n,
            month,
            day,
        } => format!(
            "{} on {} {}",
            every(n, "year"),
            month_name(month as i8),
            day
        ),
    };
    out.push_str(&when);
    if s.all_day || (s.start_time.is_none() && s.end_time.is_none()) {
        out.push_str(", full time");
    } else {
        let fmt = |t: Option<jiff::civil::Time>, dflt: &str| {
            t.map_or(dflt.to_owned(), |t| {
                format!("{:02}:{:02}", t.hour(), t.minute())
            })
        };
        out.push_str(&format!(
            ", from {} to {}",
            fmt(s.start_time, "00:00"),
            fmt(s.end_time, "24:00")
        ));
    }
    if let Some(end) = s.end_date {
        out.push_str(&format!(
            ", until {} {}, {}",
            month_name(end.month()),
            end.day(),
            end.year()
        ));
    }
    let tz = s.timezone.as_deref().unwrap_or(tenant_tz);
    out.push_str(&format!(" ({tz} time)."));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DaySet, Permission};
    use crate::rules::fixture::World;
    use jiff::civil::{date, time};

    #[test]
    fn ondemand_and_administration_assignments_name_no_device_groups() {
        // 002/004 §5.2: for OnDemand-type roles "device groups cannot be selected, as these
        // role assignments do not apply to regular devices".
        let mut w = World::new("UTC");
        let dg = w.device_group("D");
        let od = w.role(RolePurpose::OnDemand, &[Permission::ViewScreen]);
        let adm = w.role(RolePurpose::Administration, &[Permission::AuditLog]);
        let dev = w.role(RolePurpose::DeviceAccess, &[Permission::RemoteSession]);
        let everyone = w.everyone;
        let cases = [
            (od, vec![dg], Some("od")),
            (od, vec![], None),
            (adm, vec![dg], Some("adm")),
            (dev, vec![], Some("dev")),
            (dev, vec![dg], None),
        ];
        for (role, dgs, err) in cases {
            let id = w.assign("x", role, &[everyone], &dgs);
            let a = w.m.assignments.iter().find(|a| a.id == id).unwrap();
            let r = w.m.roles.iter().find(|r| r.id == role);
            let got = validate_assignment(a, r, &w.m.user_groups, &w.m.device_groups);
            match err {
                None => got.unwrap(),
                Some("od") => assert!(matches!(
                    got,
                    Err(DirectoryError::OnDemandRoleWithDeviceGroups)
                )),
                Some("adm") => assert!(matches!(
                    got,
                    Err(DirectoryError::AdministrationRoleWithDeviceGroups)
                )),
                Some(_) => assert!(matches!(got, Err(DirectoryError::InvalidAssignment(_)))),
            }
        }
    }

    #[test]
    fn validation_refuses_unknown_groups_roles_and_bad_schedules() {
        let mut w = World::new("UTC");
        let dev = w.role(RolePurpose::DeviceAccess, &[Permission::RemoteSession]);
        let (everyone, everything) = (w.everyone, w.everything);
        let id = w.assign("x", dev, &[everyone], &[everything]);
        let mut a = w.m.assignments.iter().find(|a| a.id == id).unwrap().clone();
        let role = w.m.roles.iter().find(|r| r.id == dev).cloned();
        validate_assignment(&a, role.as_ref(), &w.m.user_groups, &w.m.device_groups).unwrap();
        assert!(matches!(
            validate_assignment(&a, None, &w.m.user_groups, &w.m.device_groups),
            Err(DirectoryError::UnknownId { kind: "role", .. })
        ));
        a.user_groups
            .insert(crate::model::UserGroupId::new_random());
        assert!(matches!(
            validate_assignment(&a, role.as_ref(), &w.m.user_groups, &w.m.device_groups),
            Err(DirectoryError::UnknownId {
                kind: "user group",
                ..
            })
        ));
        a.user_groups = [everyone].into();
        a.schedule = Some(Schedule {
            timezone: Some("Atlantis/Capital".into()),
            ..Schedule::starting(date(2026, 1, 1))
        });
        assert!(matches!(
            validate_assignment(&a, role.as_ref(), &w.m.user_groups, &w.m.device_groups),
            Err(DirectoryError::UnknownTimeZone(_))
        ));
        assert!(check_activation(&a, None).is_err());
        check_activation(&a, role.as_ref()).unwrap();
    }

    #[test]
    fn bulk_set_and_remove_schedule() {
        // 002/004: "You can assign a schedule to multiple role assignments"; "You can remove a
        // schedule from multiple role assignments".
        let mut w = World::new("UTC");
        let r = w.role(RolePurpose::DeviceAccess, &[Permission::RemoteSession]);
        let (ue, de) = (w.everyone, w.everything);
        let a = w.assign("a", r, &[ue], &[de]);
        let b = w.assign("b", r, &[ue], &[de]);
        let c = w.assign("c", r, &[ue], &[de]);
        let s = Schedule::starting(date(2026, 3, 1));
        let now = Timestamp::UNIX_EPOCH;
        assert_eq!(
            set_schedule_bulk(&mut w.m.assignments, &[a, b], &s, now).unwrap(),
            2
        );
        assert!(w.m.assignments[2].schedule.is_none());
        let bad = Schedule {
            recurrence: Recurrence::Weekly {
                every: 1,
                days: DaySet::default(),
            },
            ..s.clone()
        };
        assert!(set_schedule_bulk(&mut w.m.assignments, &[c], &bad, now).is_err());
        assert!(
            set_schedule_bulk(
                &mut w.m.assignments,
                &[c, AssignmentId::new_random()],
                &s,
                now
            )
            .is_err()
        );
        assert!(
            w.m.assignments[2].schedule.is_none(),
            "nothing changed on error"
        );
        assert_eq!(
            remove_schedule_bulk(&mut w.m.assignments, &[a, b, c], now).unwrap(),
            2
        );
        assert!(w.m.assignments.iter().all(|x| x.schedule.is_none()));
    }

    #[test]
    fn assignments_disable_when_all_applications_are_disabled() {
        // 002/004 §4.4.11: auto-disabled when "all the applications ... become disabled".
        let mut w = World::new("UTC");
        let r = w.role(RolePurpose::DeviceAccess, &[Permission::RemoteSession]);
        let plain = w.role(RolePurpose::DeviceAccess, &[Permission::RemoteSession]);
        let (a1, a2) = (
            crate::model::ApplicationId::new_random(),
            crate::model::ApplicationId::new_random(),
        );
        for id in [a1, a2] {
            w.m.applications.push(Application {
                id,
                tenant: w.tenant(),
                name: "x".into(),
                path: None,
                executable: "x.exe".into(),
                description: String::new(),
                enabled: true,
            });
        }
        w.role_mut(r).whitelist = Some(crate::model::Whitelist {
            applications: vec![a1, a2],
            ..Default::default()
        });
        let (ue, de) = (w.everyone, w.everything);
        let ra = w.assign("wl", r, &[ue], &[de]);
        w.assign("plain", plain, &[ue], &[de]);
        let now = Timestamp::UNIX_EPOCH;
        w.m.applications[0].enabled = false;
        assert!(
            auto_disable_for_applications(&w.m.roles, &w.m.applications, &mut w.m.assignments, now)
                .is_empty()
        );
        w.m.applications[1].enabled = false;
        let out =
            auto_disable_for_applications(&w.m.roles, &w.m.applications, &mut w.m.assignments, now);
        assert_eq!(out, vec![ra]);
        assert_eq!(
            w.m.assignments[0].auto_disabled,
            Some(AutoDisabled::ApplicationsDisabled)
        );
        assert!(w.m.assignments[1].active);
    }

    #[test]
    fn status_and_summary() {
        let mut w = World::new("Europe/Bucharest");
        let r = w.role(RolePurpose::DeviceAccess, &[Permission::RemoteSession]);
        let (ue, de) = (w.everyone, w.everything);
        let id = w.assign("a", r, &[ue], &[de]);
        let tz = TimeZone::get("Europe/Bucharest").unwrap();
        let noon: Timestamp = "2026-06-01T09:00Z".parse().unwrap();
        let a = w.assignment_mut(id);
        assert_eq!(schedule_status(a, &tz, noon), ScheduleStatus::Unscheduled);
        a.schedule = Some(Schedule {
            start_time: Some(time(9, 0, 0, 0)),
            end_time: Some(time(17, 0, 0, 0)),
            all_day: false,
            ..Schedule::starting(date(2026, 1, 1))
        });
        assert_eq!(
            schedule_status(a, &tz, noon),
            ScheduleStatus::ActiveDueToSchedule
        );
        let night: Timestamp = "2026-06-01T20:00Z".parse().unwrap();
        assert_eq!(
            schedule_status(a, &tz, night),
            ScheduleStatus::NotActiveDueToSchedule
        );
        // 004: "This role assignment is scheduled starting from April 2, 2021, every day, full
        // time (Europe/Bucharest time)."
        assert_eq!(
            describe_schedule(&Schedule::starting(date(2021, 4, 2)), "Europe/Bucharest"),
            "This role assignment is scheduled starting from April 2, 2021, every day, full \
             time (Europe/Bucharest time)."
        );
        let monthly = Schedule {
            recurrence: Recurrence::Monthly {
                every: 2,
                day: MonthDay::Last,
            },
            start_time: Some(time(8, 30, 0, 0)),
            all_day: false,
            timezone: Some("UTC".into()),
            end_date: Some(date(2027, 1, 31)),
            ..Schedule::starting(date(2026, 1, 31))
        };
        assert_eq!(
            describe_schedule(&monthly, "Europe/Bucharest"),
            "This role assignment is scheduled starting from January 31, 2026, every 2 months \
             on the last day, from 08:30 to 24:00, until January 31, 2027 (UTC time)."
        );
    }
}
