//! When a role-assignment schedule is active.
//!
//! A schedule is a daily wall-clock window repeated on the days its recurrence picks, in one
//! IANA time zone. The rules, stated once here and tested below:
//!
//! - **Occurrence days.** A day D (a calendar date in the schedule's zone) is an occurrence day
//!   when `start_date <= D`, `D <= end_date` (if any) and the recurrence picks D:
//!   - `None`: every day ("apply the schedule indefinitely");
//!   - `Daily(EveryNDays(n))`: D is 0, n, 2n, ... days after the start date;
//!     `Weekdays`: Monday-Friday; `Weekends`: Saturday and Sunday;
//!   - `Weekly { every, days }`: D's weekday is chosen and D's week (weeks start on Monday) is
//!     0, every, 2*every, ... weeks after the start date's week;
//!   - `Monthly { every, day }`: D's month is 0, every, ... months after the start month and D
//!     is day N of it (months without day N have no occurrence, as in RFC 5545) or its last day;
//!   - `Yearly { every, month, day }`: D's year is 0, every, ... years after the start year and
//!     D is that month and day. **Feb 29 occurs only in leap years**: a common year has no
//!     occurrence (not Feb 28, not Mar 1), so "every 1 year on Feb 29" is active once in 4 years.
//! - **Window.** On an occurrence day the window runs from `start_time` (inclusive, default
//!   00:00) to `end_time` (exclusive, default end of day). `all_day` ignores both times. If
//!   `end_time <= start_time` the window runs overnight and ends at `end_time` the next day;
//!   an overnight window that starts on the end date still runs to its end the next morning.
//! - **Wall clock and DST.** The window is compared with the wall clock of the zone at the
//!   instant. Across a spring change the skipped local hour never matches (a window wholly
//!   inside it is never active that day; 09:00-17:00 is unaffected). Across an autumn change the
//!   repeated local hour matches on both passes.
//!
//! Evaluation from a [`CompiledSchedule`] does no allocation and no zone lookup by name. When
//! compiled through a [`ZoneCache`] (as `PolicySnapshot` does) the local time comes from a
//! precomputed offset table: a binary search and integer arithmetic.

use crate::error::DirectoryError;
use crate::model::schedule::{DailyPattern, Day, DaySet, MonthDay, Recurrence, Schedule};
use crate::rules::zone::{LocalTime, ZoneCache, ZoneOffsets, civil_from_days, days_in_month};
use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use std::sync::Arc;

/// A schedule ready for fast evaluation: zone resolved, window and anchors precomputed.
#[derive(Clone, Debug)]
pub struct CompiledSchedule {
    zone: Zone,
    start_day: i32,
    end_day: Option<i32>,
    /// Window start, seconds after local midnight (nanoseconds folded in below).
    window_start: i64,
    /// Window end, nanoseconds after local midnight; `DAY_NANOS` = end of day.
    window_end: i64,
    overnight: bool,
    rule: CompiledRule,
}

/// How a compiled schedule finds local time: straight from jiff, or from a shared table.
#[derive(Clone, Debug)]
enum Zone {
    Direct(TimeZone),
    Table(Arc<ZoneOffsets>),
}

impl Zone {
    fn local(&self, at: Timestamp) -> LocalTime {
        match self {
            Self::Table(t) => t.local(at),
            Self::Direct(tz) => {
                let dt = tz.to_datetime(at);
                LocalTime {
                    day: epoch_day(dt.date()),
                    nanos: time_nanos(dt.time()),
                }
            }
        }
    }

    fn time_zone(&self) -> &TimeZone {
        match self {
            Self::Table(t) => t.time_zone(),
            Self::Direct(tz) => tz,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum CompiledRule {
    EveryDay,
    EveryNDays {
        n: i32,
    },
    Days(DaySet),
    Weekly {
        every: i32,
        days: DaySet,
        anchor_monday: i32,
    },
    Monthly {
        every: i32,
        day: MonthDay,
        anchor_month: i32,
    },
    Yearly {
        every: i32,
        month: i8,
        day: i8,
        anchor_year: i32,
    },
}

const DAY_NANOS: i64 = 86_400 * 1_000_000_000;

fn time_nanos(t: Time) -> i64 {
    (i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second()))
        * 1_000_000_000
        + i64::from(t.subsec_nanosecond())
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn epoch_day(d: Date) -> i32 {
    crate::rules::zone::epoch_day(d.year(), d.month(), d.day())
}

/// Monday = 0 ... Sunday = 6 for an epoch day (1970-01-01 was a Thursday).
fn weekday_index(epoch_day: i32) -> i32 {
    (epoch_day + 3).rem_euclid(7)
}

fn day_of(index: i32) -> Day {
    match index {
        0 => Day::Monday,
        1 => Day::Tuesday,
        2 => Day::Wednesday,
        3 => Day::Thursday,
        4 => Day::Friday,
        5 => Day::Saturday,
        _ => Day::Sunday,
    }
}

/// Validates a schedule (without resolving its zone).
pub fn validate_schedule(s: &Schedule) -> Result<(), DirectoryError> {
    if let Some(end) = s.end_date
        && end < s.start_date
    {
        return Err(DirectoryError::InvalidSchedule(
            "the end date is before the start date",
        ));
    }
    match s.recurrence {
        Recurrence::None | Recurrence::Daily(DailyPattern::Weekdays | DailyPattern::Weekends) => {}
        Recurrence::Daily(DailyPattern::EveryNDays(n)) => {
            if n == 0 {
                return Err(DirectoryError::InvalidSchedule("every 0 days"));
            }
        }
        Recurrence::Weekly { every, days } => {
            if every == 0 {
                return Err(DirectoryError::InvalidSchedule("every 0 weeks"));
            }
            if days.is_empty() {
                return Err(DirectoryError::InvalidSchedule(
                    "a weekly schedule needs at least one day",
                ));
            }
        }
        Recurrence::Monthly { every, day } => {
            if every == 0 {
                return Err(DirectoryError::InvalidSchedule("every 0 months"));
            }
            if let MonthDay::Day(d) = day
                && !(1..=31).contains(&d)
            {
                return Err(DirectoryError::InvalidSchedule(
                    "the day of the month must be 1 to 31",
                ));
            }
        }
        Recurrence::Yearly { every, month, day } => {
            if every == 0 {
                return Err(DirectoryError::InvalidSchedule("every 0 years"));
            }
            if !(1..=12).contains(&month) {
                return Err(DirectoryError::InvalidSchedule("the month must be 1 to 12"));
            }
            // A leap year (2000) admits every day that can ever occur, Feb 29 included.
            let max = jiff::civil::Date::new(2000, month as i8, 1)
                .map(|d| d.days_in_month())
                .unwrap_or(31);
            if day == 0 || day as i8 > max {
                return Err(DirectoryError::InvalidSchedule(
                    "that day does not exist in that month",
                ));
            }
        }
    }
    Ok(())
}

/// Resolves an IANA zone name with the bundled database.
pub fn resolve_time_zone(name: &str) -> Result<TimeZone, DirectoryError> {
    TimeZone::get(name).map_err(|_| DirectoryError::UnknownTimeZone(name.to_owned()))
}

impl CompiledSchedule {
    /// Compiles `s`; `default_tz` is used when the schedule names no zone (the tenant's zone).
    pub fn compile(s: &Schedule, default_tz: &TimeZone) -> Result<Self, DirectoryError> {
        validate_schedule(s)?;
        let tz = match &s.timezone {
            Some(name) => resolve_time_zone(name)?,
            None => default_tz.clone(),
        };
        Ok(Self::compile_valid(s, Zone::Direct(tz)))
    }

    /// Like [`CompiledSchedule::compile`], sharing precomputed offset tables through `cache`
    /// (`default_tz_name` names `default_tz` in the cache). Evaluation is then a table lookup.
    pub fn compile_cached(
        s: &Schedule,
        default_tz_name: &str,
        default_tz: &TimeZone,
        cache: &mut ZoneCache,
    ) -> Result<Self, DirectoryError> {
        validate_schedule(s)?;
        let table = match &s.timezone {
            Some(name) => cache.get(name, &resolve_time_zone(name)?),
            None => cache.get(default_tz_name, default_tz),
        };
        Ok(Self::compile_valid(s, Zone::Table(table)))
    }

    fn compile_valid(s: &Schedule, zone: Zone) -> Self {
        let (window_start, window_end) = if s.all_day {
            (0, DAY_NANOS)
        } else {
            (
                s.start_time.map_or(0, time_nanos),
                s.end_time.map_or(DAY_NANOS, time_nanos),
            )
        };
        let overnight = window_end <= window_start;
        let start_day = epoch_day(s.start_date);
        let rule = match s.recurrence {
            Recurrence::None => CompiledRule::EveryDay,
            Recurrence::Daily(DailyPattern::EveryNDays(n)) => {
                CompiledRule::EveryNDays { n: i32::from(n) }
            }
            Recurrence::Daily(DailyPattern::Weekdays) => CompiledRule::Days(DaySet::WEEKDAYS),
            Recurrence::Daily(DailyPattern::Weekends) => CompiledRule::Days(DaySet::WEEKEND),
            Recurrence::Weekly { every, days } => CompiledRule::Weekly {
                every: i32::from(every),
                days,
                anchor_monday: start_day - weekday_index(start_day),
            },
            Recurrence::Monthly { every, day } => CompiledRule::Monthly {
                every: i32::from(every),
                day,
                anchor_month: i32::from(s.start_date.year()) * 12 + i32::from(s.start_date.month()),
            },
            Recurrence::Yearly { every, month, day } => CompiledRule::Yearly {
                every: i32::from(every),
                month: month as i8,
                day: day as i8,
                anchor_year: i32::from(s.start_date.year()),
            },
        };
        Self {
            zone,
            start_day,
            end_day: s.end_date.map(epoch_day),
            window_start,
            window_end,
            overnight,
            rule,
        }
    }

    /// The zone the schedule is evaluated in.
    pub fn time_zone(&self) -> &TimeZone {
        self.zone.time_zone()
    }

    /// Whether the schedule is active at `at`.
    pub fn is_active_at(&self, at: Timestamp) -> bool {
        let LocalTime { day, nanos: t } = self.zone.local(at);
        if self.overnight {
            (t >= self.window_start && self.occurs(day))
                || (t < self.window_end && self.occurs(day - 1))
        } else {
            t >= self.window_start && t < self.window_end && self.occurs(day)
        }
    }

    /// Whether the local date with epoch day `day` is an occurrence day.
    fn occurs(&self, day: i32) -> bool {
        if day < self.start_day {
            return false;
        }
        if let Some(end) = self.end_day
            && day > end
        {
            return false;
        }
        match self.rule {
            CompiledRule::EveryDay => true,
            CompiledRule::EveryNDays { n } => (day - self.start_day) % n == 0,
            CompiledRule::Days(set) => set.contains(day_of(weekday_index(day))),
            CompiledRule::Weekly {
                every,
                days,
                anchor_monday,
            } => {
                let wd = weekday_index(day);
                let weeks = (day - wd - anchor_monday) / 7;
                days.contains(day_of(wd)) && weeks % every == 0
            }
            CompiledRule::Monthly {
                every,
                day: which,
                anchor_month,
            } => {
                let (y, m, d) = civil_from_days(day);
                let months = y * 12 + i32::from(m) - anchor_month;
                if months % every != 0 {
                    return false;
                }
                match which {
                    MonthDay::Day(n) => d == n as i8,
                    MonthDay::Last => d == days_in_month(y, m),
                }
            }
            CompiledRule::Yearly {
                every,
                month,
                day: d,
                anchor_year,
            } => {
                let (y, m, dd) = civil_from_days(day);
                (y - anchor_year) % every == 0 && m == month && dd == d
            }
        }
    }
}

impl Schedule {
    /// Whether the schedule is active at `at`; `default_tz` is the tenant's zone, used when the
    /// schedule names none. An invalid schedule (unknown zone, every 0 days, ...) is never
    /// active: fail closed. Hot paths compile once with [`CompiledSchedule::compile`].
    pub fn is_active_at(&self, at: Timestamp, default_tz: &TimeZone) -> bool {
        CompiledSchedule::compile(self, default_tz).is_ok_and(|c| c.is_active_at(at))
    }
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
