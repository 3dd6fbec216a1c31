//! A calendar day (UTC), as days since 1970-01-01: the finest time the
//! statistics keep.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub u32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a date as YYYY-MM-DD (1970 or later)")]
pub struct BadDate;

impl Day {
    pub fn from_unix_secs(secs: u64) -> Day {
        Day(u32::try_from(secs / 86_400).unwrap_or(u32::MAX))
    }

    pub fn today() -> Day {
        Day::from_unix_secs(crate::time::now_secs())
    }

    /// `YYYY-MM-DD` in the proleptic Gregorian calendar.
    pub fn from_ymd(year: i64, month: u32, day: u32) -> Result<Day, BadDate> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(BadDate);
        }
        // Howard Hinnant's days_from_civil.
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = month as i64;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        u32::try_from(days).map(Day).map_err(|_| BadDate)
    }

    pub fn ymd(self) -> (i64, u32, u32) {
        // Howard Hinnant's civil_from_days.
        let z = self.0 as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let y = yoe + era * 400 + i64::from(m <= 2);
        (y, m, d)
    }

    pub fn next(self) -> Day {
        Day(self.0.saturating_add(1))
    }
}

fn days_in_month(year: i64, month: u32) -> u32 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl std::str::FromStr for Day {
    type Err = BadDate;
    fn from_str(s: &str) -> Result<Day, BadDate> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(BadDate);
        }
        let num = |r: std::ops::Range<usize>| -> Result<u32, BadDate> {
            let part = &s[r];
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(BadDate);
            }
            part.parse().map_err(|_| BadDate)
        };
        Day::from_ymd(num(0..4)? as i64, num(5..7)?, num(8..10)?)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// Days travel (JSON, admin socket) as YYYY-MM-DD.
impl Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!("1970-01-01".parse(), Ok(Day(0)));
        assert_eq!("2000-03-01".parse::<Day>().unwrap().0, 11_017);
        assert_eq!(Day::from_unix_secs(1_795_000_000).to_string(), "2026-11-18");
        for n in (0..80_000).step_by(7) {
            assert_eq!(Day(n).to_string().parse(), Ok(Day(n)));
        }
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "1969-12-31",
            "2026-1-01",
            "+026-01-01",
            "2026-01-0x",
            "",
        ] {
            assert_eq!(bad.parse::<Day>(), Err(BadDate), "{bad}");
        }
        assert!("2024-02-29".parse::<Day>().is_ok());
    }
}
