//! Opening hours in the service's time zone. No windows means always open.

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use parasol_protocol::OpeningWindow;

pub struct OpeningHours {
    zone: TimeZone,
    windows: Vec<OpeningWindow>,
}

impl OpeningHours {
    pub fn new(time_zone: &str, windows: Vec<OpeningWindow>) -> Result<Self, String> {
        let zone = TimeZone::get(time_zone).map_err(|e| format!("unknown time zone {time_zone:?}: {e}"))?;
        for w in &windows {
            if !(1..=7).contains(&w.weekday) || w.opens >= w.closes || w.closes > 24 * 60 {
                return Err(format!(
                    "opening window weekday {} {}..{} is not valid (weekday 1..=7, minutes opens < closes <= 1440)",
                    w.weekday, w.opens, w.closes
                ));
            }
        }
        Ok(OpeningHours { zone, windows })
    }

    pub fn windows(&self) -> &[OpeningWindow] {
        &self.windows
    }

    pub fn is_open_at(&self, unix_secs: u64) -> bool {
        if self.windows.is_empty() {
            return true;
        }
        let Ok(ts) = Timestamp::from_second(unix_secs as i64) else {
            return false;
        };
        let local = ts.to_zoned(self.zone.clone());
        let weekday = local.weekday().to_monday_one_offset() as u8;
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        self.windows
            .iter()
            .any(|w| w.weekday == weekday && w.opens <= minute && minute < w.closes)
    }

    /// The next opening at or after `unix_secs`, within a week.
    pub fn next_open_at(&self, unix_secs: u64) -> Option<u64> {
        if self.is_open_at(unix_secs) {
            return Some(unix_secs);
        }
        let ts = Timestamp::from_second(unix_secs as i64).ok()?;
        let today = ts.to_zoned(self.zone.clone()).date();
        let mut best: Option<u64> = None;
        for offset in 0..8i64 {
            let date = today.checked_add(offset.days()).ok()?;
            let weekday = date.weekday().to_monday_one_offset() as u8;
            for w in self.windows.iter().filter(|w| w.weekday == weekday) {
                let time = Time::new((w.opens / 60) as i8, (w.opens % 60) as i8, 0, 0).ok()?;
                let Ok(opening) = date.to_datetime(time).to_zoned(self.zone.clone()) else {
                    continue;
                };
                let at = opening.timestamp().as_second();
                if at >= unix_secs as i64 {
                    let at = at as u64;
                    best = Some(best.map_or(at, |b| b.min(at)));
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekdays_9_to_17() -> OpeningHours {
        let windows = (1..=5)
            .map(|weekday| OpeningWindow {
                weekday,
                opens: 9 * 60,
                closes: 17 * 60,
            })
            .collect();
        OpeningHours::new("Europe/Skopje", windows).unwrap()
    }

    fn at(s: &str) -> u64 {
        s.parse::<jiff::Zoned>().unwrap().timestamp().as_second() as u64
    }

    #[test]
    fn open_in_the_window_in_local_time() {
        let h = weekdays_9_to_17();
        // Monday 2026-11-23.
        assert!(h.is_open_at(at("2026-11-23T09:00[Europe/Skopje]")));
        assert!(!h.is_open_at(at("2026-11-23T08:59[Europe/Skopje]")));
        assert!(!h.is_open_at(at("2026-11-23T17:00[Europe/Skopje]")));
        assert!(!h.is_open_at(at("2026-11-28T12:00[Europe/Skopje]")), "Saturday");
    }

    #[test]
    fn next_opening_skips_the_weekend() {
        let h = weekdays_9_to_17();
        let friday_night = at("2026-11-27T22:00[Europe/Skopje]");
        assert_eq!(
            h.next_open_at(friday_night),
            Some(at("2026-11-30T09:00[Europe/Skopje]"))
        );
    }

    #[test]
    fn no_windows_means_always_open_and_bad_windows_are_refused() {
        let h = OpeningHours::new("UTC", Vec::new()).unwrap();
        assert!(h.is_open_at(0));
        assert!(OpeningHours::new("Mars/Olympus", Vec::new()).is_err());
        let bad = vec![OpeningWindow {
            weekday: 8,
            opens: 0,
            closes: 10,
        }];
        assert!(OpeningHours::new("UTC", bad).is_err());
    }
}
