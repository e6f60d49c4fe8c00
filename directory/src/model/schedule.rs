//! Role-assignment schedules (002/004 §5.3): a daily time window, a recurrence and an optional
//! end date, in an IANA time zone.
//!
//! Data only; `rules::schedule` says when a schedule is active and documents every boundary.

use jiff::civil::{Date, Time};
use serde::{Deserialize, Serialize};

/// A day of the week.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Day {
    /// Monday.
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
    /// Sunday.
    Sunday,
}

impl Day {
    /// Monday first.
    pub const ALL: [Day; 7] = [
        Self::Monday,
        Self::Tuesday,
        Self::Wednesday,
        Self::Thursday,
        Self::Friday,
        Self::Saturday,
        Self::Sunday,
    ];

    /// The day of a jiff weekday.
    pub fn from_jiff(w: jiff::civil::Weekday) -> Self {
        use jiff::civil::Weekday as W;
        match w {
            W::Monday => Self::Monday,
            W::Tuesday => Self::Tuesday,
            W::Wednesday => Self::Wednesday,
            W::Thursday => Self::Thursday,
            W::Friday => Self::Friday,
            W::Saturday => Self::Saturday,
            W::Sunday => Self::Sunday,
        }
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of week days (bit 0 = Monday).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DaySet(u8);

impl DaySet {
    /// Monday to Friday.
    pub const WEEKDAYS: Self = Self(0b001_1111);
    /// Saturday and Sunday.
    pub const WEEKEND: Self = Self(0b110_0000);

    /// The set of `days`.
    pub fn of(days: &[Day]) -> Self {
        Self(days.iter().fold(0, |acc, d| acc | d.bit()))
    }

    /// Whether `d` is in the set.
    pub const fn contains(self, d: Day) -> bool {
        self.0 & d.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The days, Monday first.
    pub fn iter(self) -> impl Iterator<Item = Day> {
        Day::ALL.into_iter().filter(move |d| self.contains(*d))
    }
}

impl Serialize for DaySet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for DaySet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: Vec<Day> = Vec::deserialize(d)?;
        Ok(Self::of(&v))
    }
}

/// Daily recurrence choices ("Only weekdays", "Only weekends", "Custom" = every N days).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DailyPattern {
    /// Every `n` days counted from the start date (n >= 1).
    EveryNDays(u16),
    /// Monday to Friday.
    Weekdays,
    /// Saturday and Sunday.
    Weekends,
}

/// Which day of the month a monthly recurrence uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MonthDay {
    /// Day N (1..=31). A month without that day has no occurrence (RFC 5545 behaviour).
    Day(u8),
    /// "Last day of the month".
    Last,
}

/// Recurrence of the daily window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Recurrence {
    /// "No recurrence": the window applies every day from the start date, until the end date
    /// if any ("apply the schedule indefinitely").
    #[default]
    None,
    /// Daily.
    Daily(DailyPattern),
    /// "Every X week on" the chosen days; weeks start on Monday and are counted from the week
    /// holding the start date.
    Weekly {
        /// Every N weeks (>= 1).
        every: u16,
        /// The days.
        days: DaySet,
    },
    /// "Every X month on" a day; months counted from the start date's month.
    Monthly {
        /// Every N months (>= 1).
        every: u16,
        /// Which day.
        day: MonthDay,
    },
    /// "Every X year on" month + day; years counted from the start date's year.
    Yearly {
        /// Every N years (>= 1).
        every: u16,
        /// Month 1..=12.
        month: u8,
        /// Day 1..=31. Feb 29 occurs only in leap years (no occurrence in common years).
        day: u8,
    },
}

/// A schedule. Defaults (002/004): from the present day, all day, no recurrence, no end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// First day an occurrence may fall on.
    pub start_date: Date,
    /// Window start (inclusive); `None` = 00:00.
    pub start_time: Option<Time>,
    /// Window end (exclusive); `None` = end of day. An end at or before the start makes the
    /// window run overnight into the next day.
    pub end_time: Option<Time>,
    /// Whole days; the times are ignored.
    pub all_day: bool,
    /// IANA zone name; `None` = the tenant's zone.
    pub timezone: Option<String>,
    /// Recurrence.
    pub recurrence: Recurrence,
    /// Last day an occurrence may start on (inclusive); `None` = "No end date".
    pub end_date: Option<Date>,
}

impl Schedule {
    /// The seeds' default schedule: starting on `today`, all day, no recurrence, no end date,
    /// in the tenant's zone.
    pub fn starting(today: Date) -> Self {
        Self {
            start_date: today,
            start_time: None,
            end_time: None,
            all_day: true,
            timezone: None,
            recurrence: Recurrence::None,
            end_date: None,
        }
    }
}
