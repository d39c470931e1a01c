//! Time windows and time parsing, in the policy's time zone (Europe/London, with its clock
//! changes, unless the policy says otherwise).

use jiff::Timestamp;
use jiff::civil::{DateTime, Time, Weekday};
use jiff::tz::TimeZone;

use crate::PolicyError;
use crate::spec::WindowSpec;

/// A compiled weekly window.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    pub(crate) title: String,
    /// Monday first.
    days: [bool; 7],
    from: Time,
    to: Time,
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Window {
    pub(crate) fn compile(spec: &WindowSpec) -> Result<Window, PolicyError> {
        let bad = |problem: String| PolicyError::BadWindow {
            window: spec.id.clone(),
            problem,
        };
        let mut days = [false; 7];
        for item in &spec.days {
            let item = item.trim().to_ascii_lowercase();
            let day = |name: &str| {
                DAY_NAMES
                    .iter()
                    .position(|d| *d == name)
                    .ok_or_else(|| bad(format!("{name:?} is not a day (mon … sun)")))
            };
            match item.split_once('-') {
                Some((first, last)) => {
                    let (first, last) = (day(first.trim())?, day(last.trim())?);
                    if first > last {
                        return Err(bad(format!("{item:?} runs backwards")));
                    }
                    days[first..=last].iter_mut().for_each(|d| *d = true);
                }
                None => days[day(&item)?] = true,
            }
        }
        if !days.contains(&true) {
            return Err(bad("no days given".into()));
        }
        let from = parse_clock(&spec.from).map_err(&bad)?;
        let to = parse_clock(&spec.to).map_err(&bad)?;
        if to <= from {
            return Err(bad(format!(
                "ends ({}) before it starts ({}); split a window that crosses midnight in two",
                spec.to, spec.from
            )));
        }
        Ok(Window {
            title: spec.title.clone(),
            days,
            from,
            to,
        })
    }

    /// True if `now` falls in the window, read in `zone`.
    pub(crate) fn contains(&self, now: Timestamp, zone: &TimeZone) -> bool {
        let local = now.to_zoned_datetime(zone.clone());
        let day = match local.weekday() {
            Weekday::Monday => 0,
            Weekday::Tuesday => 1,
            Weekday::Wednesday => 2,
            Weekday::Thursday => 3,
            Weekday::Friday => 4,
            Weekday::Saturday => 5,
            Weekday::Sunday => 6,
        };
        let time = local.time();
        self.days[day] && self.from <= time && time < self.to
    }

    /// For reports: "Mon–Fri 12:00–13:00".
    pub(crate) fn describe(&self) -> String {
        let mut runs: Vec<String> = Vec::new();
        let mut day = 0;
        while day < 7 {
            if !self.days[day] {
                day += 1;
                continue;
            }
            let start = day;
            while day + 1 < 7 && self.days[day + 1] {
                day += 1;
            }
            let name = |d: usize| {
                let n = DAY_NAMES[d];
                format!("{}{}", n[..1].to_ascii_uppercase(), &n[1..])
            };
            runs.push(if start == day {
                name(start)
            } else {
                format!("{}–{}", name(start), name(day))
            });
            day += 1;
        }
        format!(
            "{} {}–{}",
            runs.join(", "),
            self.from.strftime("%H:%M"),
            self.to.strftime("%H:%M")
        )
    }
}

/// `HH:MM`, 24-hour.
fn parse_clock(text: &str) -> Result<Time, String> {
    let invalid = || format!("{text:?} is not a time of day (HH:MM)");
    let (hour, minute) = text.trim().split_once(':').ok_or_else(invalid)?;
    let hour: i8 = hour.parse().map_err(|_| invalid())?;
    let minute: i8 = minute.parse().map_err(|_| invalid())?;
    Time::new(hour, minute, 0, 0).map_err(|_| invalid())
}

/// Text that is not a point in time Ward reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadTime(pub String);

/// Parses a point in time: RFC 3339 with an offset (`2026-11-23T09:00:00Z`), or a local date
/// and time (`2026-11-23T09:00`, `2026-11-23 09:00`) read in `zone`. For a local time that a
/// clock change skips or repeats, the earlier reading is taken.
pub fn parse_time(text: &str, zone: &TimeZone) -> Result<Timestamp, BadTime> {
    let text = text.trim();
    if let Ok(timestamp) = text.parse::<Timestamp>() {
        return Ok(timestamp);
    }
    let local: DateTime = text.parse().map_err(|_| {
        BadTime(format!(
            "{text:?} is not a time: use 2026-11-23T09:00 (local) or 2026-11-23T09:00:00Z"
        ))
    })?;
    local
        .to_zoned_datetime(zone.clone())
        .map(|zoned| zoned.timestamp())
        .map_err(|e| BadTime(format!("{text:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn london() -> TimeZone {
        TimeZone::get("Europe/London").expect("bundled tzdb")
    }

    fn lunchtime() -> Window {
        Window::compile(&WindowSpec {
            id: "lunchtime".into(),
            title: "Lunchtime".into(),
            days: vec!["mon-fri".into()],
            from: "12:00".into(),
            to: "13:00".into(),
        })
        .expect("valid window")
    }

    fn at(text: &str) -> Timestamp {
        text.parse().expect("valid timestamp")
    }

    #[test]
    fn windows_follow_the_clock_change() {
        let window = lunchtime();
        let zone = london();
        // Friday 27 March 2026 is GMT: 12:30 local is 12:30 UTC.
        assert!(window.contains(at("2026-03-27T12:30:00Z"), &zone));
        assert!(!window.contains(at("2026-03-27T11:30:00Z"), &zone));
        // Clocks go forward on Sunday 29 March; Monday 30 March is BST: 12:30 local is 11:30 UTC.
        assert!(window.contains(at("2026-03-30T11:30:00Z"), &zone));
        assert!(!window.contains(at("2026-03-30T12:30:00Z"), &zone));
        // And back on Sunday 25 October; Monday 26 October is GMT again.
        assert!(window.contains(at("2026-10-23T11:30:00Z"), &zone));
        assert!(window.contains(at("2026-10-26T12:30:00Z"), &zone));
        assert!(!window.contains(at("2026-10-26T11:30:00Z"), &zone));
    }

    #[test]
    fn windows_respect_days_and_edges() {
        let window = lunchtime();
        let zone = london();
        assert!(
            !window.contains(at("2026-03-28T12:30:00Z"), &zone),
            "Saturday"
        );
        assert!(window.contains(at("2026-03-27T12:00:00Z"), &zone), "start");
        assert!(!window.contains(at("2026-03-27T13:00:00Z"), &zone), "end");
        assert_eq!(window.describe(), "Mon–Fri 12:00–13:00");
    }

    #[test]
    fn bad_windows_are_refused() {
        for (days, from, to) in [
            (vec!["mon-fri"], "13:00", "12:00"),
            (vec!["funday"], "12:00", "13:00"),
            (vec![], "12:00", "13:00"),
            (vec!["fri-mon"], "12:00", "13:00"),
            (vec!["mon"], "25:00", "26:00"),
            (vec!["mon"], "noon", "13:00"),
        ] {
            let spec = WindowSpec {
                id: "w".into(),
                title: "W".into(),
                days: days.into_iter().map(String::from).collect(),
                from: from.into(),
                to: to.into(),
            };
            assert!(Window::compile(&spec).is_err(), "{spec:?}");
        }
    }

    #[test]
    fn times_parse_as_utc_or_local() {
        let zone = london();
        assert_eq!(
            parse_time("2026-07-01T12:00:00Z", &zone),
            Ok(at("2026-07-01T12:00:00Z"))
        );
        assert_eq!(
            parse_time("2026-07-01T12:00", &zone),
            Ok(at("2026-07-01T11:00:00Z"))
        );
        assert_eq!(
            parse_time("2026-07-01 12:00", &zone),
            Ok(at("2026-07-01T11:00:00Z"))
        );
        assert_eq!(
            parse_time("2026-12-01T12:00", &zone),
            Ok(at("2026-12-01T12:00:00Z"))
        );
        assert!(parse_time("next tuesday", &zone).is_err());
    }
}
