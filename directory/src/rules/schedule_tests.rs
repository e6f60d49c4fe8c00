//! Table tests for schedules at boundary instants.

use super::*;
use crate::model::schedule::{DailyPattern, Day, DaySet, MonthDay, Recurrence, Schedule};
use jiff::civil::{date, time};
use jiff::{Timestamp, Zoned};

const BUCHAREST: &str = "Europe/Bucharest";

/// An instant from a local wall-clock time in a zone ("2026-03-30T09:00" + zone).
fn local(s: &str, zone: &str) -> Timestamp {
    format!("{s}[{zone}]").parse::<Zoned>().unwrap().timestamp()
}

fn utc(s: &str) -> Timestamp {
    s.parse::<Timestamp>().unwrap()
}

fn tz(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap()
}

fn check(s: &Schedule, table: &[(Timestamp, bool, &str)]) {
    let c = CompiledSchedule::compile(s, &tz("UTC")).unwrap();
    let mut cache = crate::rules::zone::ZoneCache::default();
    let cached = CompiledSchedule::compile_cached(s, "UTC", &tz("UTC"), &mut cache).unwrap();
    for (at, want, why) in table {
        assert_eq!(c.is_active_at(*at), *want, "{why} (at {at})");
        assert_eq!(cached.is_active_at(*at), *want, "table: {why} (at {at})");
        assert_eq!(s.is_active_at(*at, &tz("UTC")), *want, "uncompiled: {why}");
    }
}

fn office_hours() -> Schedule {
    // 002/004 §5.3: "Weekly: Every X week on Monday ... Sunday"; the digest's statement 29:
    // "Mon-Fri 09:00-17:00 Europe/Bucharest ... active at Monday 10:00 local, inactive at
    // Saturday 10:00 and Monday 18:00".
    Schedule {
        start_date: date(2026, 1, 1),
        start_time: Some(time(9, 0, 0, 0)),
        end_time: Some(time(17, 0, 0, 0)),
        all_day: false,
        timezone: Some(BUCHAREST.into()),
        recurrence: Recurrence::Weekly {
            every: 1,
            days: DaySet::of(&[
                Day::Monday,
                Day::Tuesday,
                Day::Wednesday,
                Day::Thursday,
                Day::Friday,
            ]),
        },
        end_date: None,
    }
}

#[test]
fn weekly_office_hours_across_spring_dst() {
    // Bucharest goes from UTC+2 to UTC+3 on Sunday 2026-03-29 at 03:00 local.
    check(
        &office_hours(),
        &[
            (
                local("2026-03-23T10:00", BUCHAREST),
                true,
                "Monday 10:00 local",
            ),
            (
                local("2026-03-28T10:00", BUCHAREST),
                false,
                "Saturday 10:00 local",
            ),
            (
                local("2026-03-23T18:00", BUCHAREST),
                false,
                "Monday 18:00 local",
            ),
            (
                utc("2026-03-23T07:00Z"),
                true,
                "09:00 EET = 07:00Z, start inclusive",
            ),
            (utc("2026-03-23T06:59:59Z"), false, "08:59:59 EET"),
            (utc("2026-03-23T14:59:59Z"), true, "16:59:59 EET"),
            (utc("2026-03-23T15:00Z"), false, "17:00 EET, end exclusive"),
            (
                utc("2026-03-30T06:00Z"),
                true,
                "after DST: 09:00 EEST = 06:00Z",
            ),
            (
                utc("2026-03-30T05:59:59Z"),
                false,
                "after DST: 08:59:59 EEST",
            ),
            (
                utc("2026-03-30T13:59:59Z"),
                true,
                "after DST: 16:59:59 EEST",
            ),
            (utc("2026-03-30T14:00Z"), false, "after DST: 17:00 EEST"),
            (
                utc("2026-03-27T06:30Z"),
                false,
                "Friday before DST: 08:30 EET",
            ),
            (
                utc("2026-03-30T06:30Z"),
                true,
                "Monday after DST: same UTC, 09:30 EEST",
            ),
            (
                local("2026-03-29T10:00", BUCHAREST),
                false,
                "the DST Sunday itself",
            ),
        ],
    );
}

#[test]
fn weekly_office_hours_across_autumn_dst() {
    // Bucharest goes from UTC+3 back to UTC+2 on Sunday 2026-10-25 at 04:00 local.
    check(
        &office_hours(),
        &[
            (utc("2026-10-23T06:00Z"), true, "Friday before: 09:00 EEST"),
            (
                utc("2026-10-23T05:59:59Z"),
                false,
                "Friday before: 08:59:59 EEST",
            ),
            (utc("2026-10-26T06:30Z"), false, "Monday after: 08:30 EET"),
            (utc("2026-10-26T07:00Z"), true, "Monday after: 09:00 EET"),
            (
                utc("2026-10-26T14:59:59Z"),
                true,
                "Monday after: 16:59:59 EET",
            ),
            (utc("2026-10-26T15:00Z"), false, "Monday after: 17:00 EET"),
        ],
    );
}

#[test]
fn dst_gap_and_fold_follow_the_wall_clock() {
    let mut s = Schedule::starting(date(2026, 1, 1));
    s.all_day = false;
    s.timezone = Some(BUCHAREST.into());
    // A window wholly inside the skipped spring hour (03:00-04:00 on 2026-03-29) never matches.
    s.start_time = Some(time(3, 0, 0, 0));
    s.end_time = Some(time(4, 0, 0, 0));
    check(
        &s,
        &[
            (
                utc("2026-03-29T00:59:59Z"),
                false,
                "02:59:59 EET, before the gap",
            ),
            (
                utc("2026-03-29T01:00Z"),
                false,
                "04:00 EEST, just after the gap",
            ),
            (
                utc("2026-03-28T01:30Z"),
                true,
                "the day before: 03:30 EET exists",
            ),
        ],
    );
    // 03:00-03:30 on 2026-10-25: local 03:00-03:59 happens twice; both passes match.
    s.end_time = Some(time(3, 30, 0, 0));
    check(
        &s,
        &[
            (utc("2026-10-25T00:15Z"), true, "03:15 EEST, first pass"),
            (utc("2026-10-25T00:45Z"), false, "03:45 EEST, first pass"),
            (utc("2026-10-25T01:15Z"), true, "03:15 EET, second pass"),
            (utc("2026-10-25T01:45Z"), false, "03:45 EET, second pass"),
        ],
    );
}

#[test]
fn monthly_last_day_of_february_leap_and_common() {
    // 002/004 §5.3: "Monthly: Every X month on: Day of the month or Last day of the month".
    let s = Schedule {
        recurrence: Recurrence::Monthly {
            every: 1,
            day: MonthDay::Last,
        },
        timezone: Some("UTC".into()),
        ..Schedule::starting(date(2027, 1, 1))
    };
    check(
        &s,
        &[
            (utc("2027-01-31T12:00Z"), true, "January 31"),
            (
                utc("2027-02-28T00:00Z"),
                true,
                "Feb 28 of a common year, start of day",
            ),
            (
                utc("2027-02-28T23:59:59Z"),
                true,
                "Feb 28 of a common year, end of day",
            ),
            (
                utc("2027-03-01T00:00Z"),
                false,
                "Mar 1, end of day is exclusive",
            ),
            (utc("2027-02-27T23:59:59Z"), false, "Feb 27"),
            (utc("2028-02-28T12:00Z"), false, "Feb 28 of a leap year"),
            (utc("2028-02-29T12:00Z"), true, "Feb 29 of a leap year"),
            (utc("2027-04-30T12:00Z"), true, "April 30"),
            (utc("2027-04-29T12:00Z"), false, "April 29"),
        ],
    );
}

#[test]
fn monthly_day_31_skips_short_months_and_every_n_months_counts_from_start() {
    let s = Schedule {
        recurrence: Recurrence::Monthly {
            every: 2,
            day: MonthDay::Day(31),
        },
        timezone: Some("UTC".into()),
        ..Schedule::starting(date(2027, 1, 15))
    };
    check(
        &s,
        &[
            (utc("2027-01-31T12:00Z"), true, "January (month 0)"),
            (utc("2027-03-31T12:00Z"), true, "March (month 2)"),
            (
                utc("2027-02-28T12:00Z"),
                false,
                "February is an odd month and short",
            ),
            (utc("2027-05-31T12:00Z"), true, "May (month 4)"),
            (utc("2027-07-31T12:00Z"), true, "July (month 6)"),
            (utc("2027-08-31T12:00Z"), false, "August (month 7)"),
            (
                utc("2027-09-30T12:00Z"),
                false,
                "September (month 8) has no 31st",
            ),
        ],
    );
}

#[test]
fn every_three_days_from_start_date() {
    // 002/004 §5.3: "Daily: recur on specific days or every X number of days".
    let s = Schedule {
        recurrence: Recurrence::Daily(DailyPattern::EveryNDays(3)),
        timezone: Some(BUCHAREST.into()),
        ..Schedule::starting(date(2026, 2, 27))
    };
    check(
        &s,
        &[
            (
                local("2026-02-26T12:00", BUCHAREST),
                false,
                "the day before the start",
            ),
            (
                local("2026-02-27T00:00", BUCHAREST),
                true,
                "start day, 00:00 local",
            ),
            (local("2026-02-28T12:00", BUCHAREST), false, "start + 1"),
            (local("2026-03-01T12:00", BUCHAREST), false, "start + 2"),
            (
                local("2026-03-02T12:00", BUCHAREST),
                true,
                "start + 3 across month end",
            ),
            (
                local("2026-03-05T23:59:59", BUCHAREST),
                true,
                "start + 6, last second",
            ),
            (local("2026-03-06T00:00", BUCHAREST), false, "start + 7"),
            (
                local("2026-03-29T12:00", BUCHAREST),
                true,
                "start + 30 on the DST day",
            ),
            (
                utc("2026-02-26T22:00Z"),
                true,
                "00:00 local on the start day is 22:00Z before",
            ),
        ],
    );
}

#[test]
fn daily_weekdays_and_weekends() {
    let mut s = Schedule {
        recurrence: Recurrence::Daily(DailyPattern::Weekdays),
        timezone: Some("UTC".into()),
        ..Schedule::starting(date(2026, 1, 1))
    };
    check(
        &s,
        &[
            (utc("2026-11-20T12:00Z"), true, "Friday"),
            (utc("2026-11-21T12:00Z"), false, "Saturday"),
            (utc("2026-11-23T00:00Z"), true, "Monday 00:00"),
        ],
    );
    s.recurrence = Recurrence::Daily(DailyPattern::Weekends);
    check(
        &s,
        &[
            (utc("2026-11-20T23:59:59Z"), false, "Friday"),
            (utc("2026-11-21T00:00Z"), true, "Saturday"),
            (utc("2026-11-22T23:59:59Z"), true, "Sunday"),
        ],
    );
}

#[test]
fn yearly_feb_29_occurs_only_in_leap_years() {
    // Documented rule: a common year has no Feb 29 occurrence (neither Feb 28 nor Mar 1).
    let s = Schedule {
        recurrence: Recurrence::Yearly {
            every: 1,
            month: 2,
            day: 29,
        },
        timezone: Some("UTC".into()),
        ..Schedule::starting(date(2024, 1, 1))
    };
    check(
        &s,
        &[
            (utc("2024-02-29T12:00Z"), true, "2024 is a leap year"),
            (utc("2025-02-28T12:00Z"), false, "2025 common: not Feb 28"),
            (utc("2025-03-01T12:00Z"), false, "2025 common: not Mar 1"),
            (utc("2028-02-29T00:00Z"), true, "2028 is a leap year"),
            (utc("2100-02-28T12:00Z"), false, "2100 is not a leap year"),
        ],
    );
}

#[test]
fn yearly_every_two_years_counts_from_start_year() {
    let s = Schedule {
        recurrence: Recurrence::Yearly {
            every: 2,
            month: 12,
            day: 24,
        },
        timezone: Some("UTC".into()),
        ..Schedule::starting(date(2026, 6, 1))
    };
    check(
        &s,
        &[
            (utc("2026-12-24T12:00Z"), true, "year 0"),
            (utc("2027-12-24T12:00Z"), false, "year 1"),
            (utc("2028-12-24T12:00Z"), true, "year 2"),
        ],
    );
}

#[test]
fn weekly_every_two_weeks_counts_from_the_start_week() {
    // Start on a Wednesday; weeks are Monday-based, so the Monday of the start week is week 0.
    let s = Schedule {
        recurrence: Recurrence::Weekly {
            every: 2,
            days: DaySet::of(&[Day::Monday, Day::Thursday]),
        },
        timezone: Some("UTC".into()),
        ..Schedule::starting(date(2026, 11, 18))
    };
    check(
        &s,
        &[
            (
                utc("2026-11-16T12:00Z"),
                false,
                "Monday of week 0 is before the start date",
            ),
            (utc("2026-11-19T12:00Z"), true, "Thursday of week 0"),
            (utc("2026-11-23T12:00Z"), false, "Monday of week 1"),
            (utc("2026-11-30T12:00Z"), true, "Monday of week 2"),
            (utc("2026-12-03T12:00Z"), true, "Thursday of week 2"),
            (utc("2026-12-01T12:00Z"), false, "Tuesday of week 2"),
        ],
    );
}

#[test]
fn start_and_end_dates_are_inclusive_days() {
    // 002/004 §5.3: "End date of recurrence (default No end date)".
    let s = Schedule {
        start_time: Some(time(8, 0, 0, 0)),
        end_time: Some(time(12, 0, 0, 0)),
        all_day: false,
        timezone: Some(BUCHAREST.into()),
        end_date: Some(date(2026, 12, 31)),
        ..Schedule::starting(date(2026, 12, 1))
    };
    check(
        &s,
        &[
            (
                local("2026-11-30T09:00", BUCHAREST),
                false,
                "day before the start date",
            ),
            (
                local("2026-12-01T07:59:59", BUCHAREST),
                false,
                "start date, before 08:00",
            ),
            (
                local("2026-12-01T08:00", BUCHAREST),
                true,
                "start date 08:00, inclusive",
            ),
            (
                local("2026-12-31T11:59:59", BUCHAREST),
                true,
                "end date, inside the window",
            ),
            (
                local("2026-12-31T12:00", BUCHAREST),
                false,
                "end date 12:00, exclusive",
            ),
            (
                local("2027-01-01T09:00", BUCHAREST),
                false,
                "after the end date",
            ),
        ],
    );
}

#[test]
fn overnight_window_runs_into_the_next_day() {
    let s = Schedule {
        start_time: Some(time(22, 0, 0, 0)),
        end_time: Some(time(6, 0, 0, 0)),
        all_day: false,
        timezone: Some("UTC".into()),
        recurrence: Recurrence::Daily(DailyPattern::Weekdays),
        end_date: Some(date(2026, 11, 27)),
        ..Schedule::starting(date(2026, 11, 20))
    };
    check(
        &s,
        &[
            (utc("2026-11-20T21:59:59Z"), false, "Friday before 22:00"),
            (utc("2026-11-20T22:00Z"), true, "Friday 22:00"),
            (
                utc("2026-11-21T05:59:59Z"),
                true,
                "Saturday morning, from Friday's window",
            ),
            (utc("2026-11-21T06:00Z"), false, "Saturday 06:00"),
            (
                utc("2026-11-21T23:00Z"),
                false,
                "Saturday night: not a weekday",
            ),
            (
                utc("2026-11-22T03:00Z"),
                false,
                "Sunday morning: Saturday had no window",
            ),
            (
                utc("2026-11-20T03:00Z"),
                false,
                "Friday morning: Thursday is before start",
            ),
            (
                utc("2026-11-28T03:00Z"),
                true,
                "after the end date, end-date window still runs",
            ),
            (utc("2026-11-28T23:00Z"), false, "past the end date"),
        ],
    );
}

#[test]
fn defaults_apply_from_start_all_day_without_end() {
    // 002/004: "If you ... do not specify a Start date, Start time, and End time, the Schedule
    // applies starting on the present day, for All day, full time."
    let s = Schedule::starting(date(2026, 11, 22));
    let bucharest = tz(BUCHAREST);
    assert!(!s.is_active_at(local("2026-11-21T23:59:59", BUCHAREST), &bucharest));
    assert!(s.is_active_at(local("2026-11-22T00:00", BUCHAREST), &bucharest));
    assert!(s.is_active_at(local("2036-05-01T13:00", BUCHAREST), &bucharest));
    // The default zone is the tenant's: 2026-11-21T22:30Z is already the 22nd in Bucharest.
    assert!(s.is_active_at(utc("2026-11-21T22:30Z"), &bucharest));
    assert!(!s.is_active_at(utc("2026-11-21T22:30Z"), &tz("UTC")));
}

#[test]
fn invalid_schedules_are_refused_and_never_active() {
    let base = Schedule::starting(date(2026, 1, 1));
    let bad = [
        Schedule {
            recurrence: Recurrence::Daily(DailyPattern::EveryNDays(0)),
            ..base.clone()
        },
        Schedule {
            recurrence: Recurrence::Weekly {
                every: 1,
                days: DaySet::default(),
            },
            ..base.clone()
        },
        Schedule {
            recurrence: Recurrence::Yearly {
                every: 1,
                month: 2,
                day: 30,
            },
            ..base.clone()
        },
        Schedule {
            recurrence: Recurrence::Monthly {
                every: 1,
                day: MonthDay::Day(32),
            },
            ..base.clone()
        },
        Schedule {
            end_date: Some(date(2025, 12, 31)),
            ..base.clone()
        },
    ];
    for s in &bad {
        assert!(matches!(
            CompiledSchedule::compile(s, &TimeZone::UTC),
            Err(DirectoryError::InvalidSchedule(_))
        ));
        assert!(!s.is_active_at(utc("2026-06-01T12:00Z"), &TimeZone::UTC));
    }
    let unknown_zone = Schedule {
        timezone: Some("Mars/Olympus_Mons".into()),
        ..base
    };
    assert!(matches!(
        CompiledSchedule::compile(&unknown_zone, &TimeZone::UTC),
        Err(DirectoryError::UnknownTimeZone(_))
    ));
}

#[test]
fn epoch_day_matches_jiff() {
    for (y, m, d) in [
        (1970, 1, 1),
        (2000, 2, 29),
        (1969, 12, 31),
        (2100, 3, 1),
        (1600, 1, 1),
    ] {
        let dt = date(y, m, d);
        let jiff_days = dt.since(date(1970, 1, 1)).unwrap().get_days();
        assert_eq!(epoch_day(dt), jiff_days, "{dt}");
        assert_eq!(
            day_of(weekday_index(epoch_day(dt))),
            Day::from_jiff(dt.weekday())
        );
    }
}
