//! Fast local wall-clock time for schedule evaluation.
//!
//! A [`ZoneOffsets`] table holds every UTC-offset change of one zone from 1970 to 2100 (taken
//! from the bundled tz database once, when a snapshot is compiled), so turning an instant into
//! a local day and time of day is a binary search plus integer arithmetic. The table depends
//! only on the tz database, never on the current time; instants outside its range fall back to
//! jiff's own conversion. [`ZoneCache`] shares one table per zone name across assignments.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use std::collections::HashMap;
use std::sync::Arc;

/// First instant covered by a table (1970-01-01T00:00Z).
const TABLE_START: i64 = 0;
/// First instant not covered (2100-01-01T00:00Z).
const TABLE_END: i64 = 4_102_444_800;
/// Bound on the transitions kept per zone (real zones have a few hundred in this range).
const MAX_TRANSITIONS: usize = 4096;

/// A local calendar day (days since 1970-01-01) and time of day (nanoseconds since midnight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    /// Days since 1970-01-01 of the local date.
    pub day: i32,
    /// Nanoseconds since local midnight.
    pub nanos: i64,
}

/// UTC offsets of one zone as a sorted table of offset changes.
#[derive(Clone, Debug)]
pub struct ZoneOffsets {
    tz: TimeZone,
    /// Start second of each offset period (sorted, first = `TABLE_START`).
    starts: Vec<i64>,
    /// Offset in seconds during each period.
    offsets: Vec<i32>,
}

impl ZoneOffsets {
    /// Builds the table of `tz`.
    pub fn new(tz: TimeZone) -> Self {
        let mut starts = vec![TABLE_START];
        let first = Timestamp::from_second(TABLE_START).unwrap_or(Timestamp::UNIX_EPOCH);
        let mut offsets = vec![tz.to_offset(first).seconds()];
        for t in tz.following(first) {
            let s = t.timestamp().as_second();
            if s >= TABLE_END || starts.len() >= MAX_TRANSITIONS {
                break;
            }
            starts.push(s);
            offsets.push(t.offset().seconds());
        }
        Self {
            tz,
            starts,
            offsets,
        }
    }

    /// The zone.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// Local day and time of day at `at`.
    pub fn local(&self, at: Timestamp) -> LocalTime {
        let sec = at.as_second();
        let covered =
            (TABLE_START..TABLE_END).contains(&sec) && self.starts.len() < MAX_TRANSITIONS;
        if covered {
            let i = self.starts.partition_point(|s| *s <= sec).saturating_sub(1);
            if let Some(off) = self.offsets.get(i) {
                let local = sec + i64::from(*off);
                return LocalTime {
                    day: i32::try_from(local.div_euclid(86_400)).unwrap_or(i32::MAX),
                    nanos: local.rem_euclid(86_400) * 1_000_000_000
                        + i64::from(at.subsec_nanosecond().max(0)),
                };
            }
        }
        let dt = self.tz.to_datetime(at);
        let t = dt.time();
        LocalTime {
            day: epoch_day(dt.date().year(), dt.date().month(), dt.date().day()),
            nanos: (i64::from(t.hour()) * 3600
                + i64::from(t.minute()) * 60
                + i64::from(t.second()))
                * 1_000_000_000
                + i64::from(t.subsec_nanosecond()),
        }
    }
}

/// Shares one [`ZoneOffsets`] per zone name while compiling many schedules.
#[derive(Debug, Default)]
pub struct ZoneCache {
    zones: HashMap<String, Arc<ZoneOffsets>>,
}

impl ZoneCache {
    /// The table of the zone named `name`, built on first use.
    pub fn get(&mut self, name: &str, tz: &TimeZone) -> Arc<ZoneOffsets> {
        self.zones
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(ZoneOffsets::new(tz.clone())))
            .clone()
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn epoch_day(year: i16, month: i8, day: i8) -> i32 {
    let (y, m, d) = (i32::from(year), i32::from(month), i32::from(day));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of an epoch day.
pub fn civil_from_days(z: i32) -> (i32, i8, i8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i32::from(m <= 2);
    (y, m as i8, d as i8)
}

/// Days in a month of a proleptic Gregorian year.
pub fn days_in_month(year: i32, month: i8) -> i8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn table_matches_jiff_across_zones_and_dst() {
        for name in [
            "Europe/Bucharest",
            "America/New_York",
            "Australia/Lord_Howe",
            "Asia/Kolkata",
            "UTC",
        ] {
            let tz = TimeZone::get(name).unwrap();
            let table = ZoneOffsets::new(tz.clone());
            // Every 37 minutes through 2026, plus the edges of the table.
            let mut s = 1_767_225_600i64; // 2026-01-01T00:00Z
            let mut probes = vec![0, TABLE_END - 1, TABLE_END, -86_400, 5_000_000_000];
            while s < 1_798_761_600 {
                probes.push(s);
                s += 37 * 60;
            }
            for p in probes {
                let at = Timestamp::from_second(p).unwrap();
                let dt = tz.to_datetime(at);
                let want = LocalTime {
                    day: epoch_day(dt.year(), dt.month(), dt.day()),
                    nanos: (i64::from(dt.hour()) * 3600
                        + i64::from(dt.minute()) * 60
                        + i64::from(dt.second()))
                        * 1_000_000_000,
                };
                assert_eq!(table.local(at), want, "{name} at {at}");
            }
        }
    }

    #[test]
    fn civil_day_conversions_round_trip() {
        for z in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(epoch_day(y as i16, m, d), z);
            assert!(d >= 1 && d <= days_in_month(y, m));
        }
        let jd = date(2000, 2, 29)
            .since(date(1970, 1, 1))
            .unwrap()
            .get_days();
        assert_eq!(epoch_day(2000, 2, 29), jd);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(2028, 2), 29);
    }
}
