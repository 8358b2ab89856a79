//! The working-day calendar: which days count in deadlines of working days
//! (工作日) — objection handling, credit-repair decisions, the double
//! publicity rule — under the State Council's yearly holiday notice with its
//! make-up working weekends (调休).
//!
//! The calendar is data, one TOML file per year citing its source
//! (docs/calendar.md); nothing here knows a holiday. Every node loads the
//! same files, pinned by the roster's `calendar_digest`, so every node
//! computes the same due dates. A date in a year no file covers is an error,
//! never a guess.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;

use crate::suite::Suite;
use crate::value::Date;

/// China Standard Time, UTC+8, in milliseconds: deadlines are counted on
/// the dates people in Fuzhou see.
const CHINA_OFFSET_MS: i64 = 8 * 3600 * 1000;

/// The China (UTC+8) calendar date of a time in Unix milliseconds, such as
/// an entry's signing time. `None` outside years 1..=9999.
pub fn china_date(unix_ms: u64) -> Option<Date> {
    let ms = i64::try_from(unix_ms).ok()?.checked_add(CHINA_OFFSET_MS)?;
    let days = ms.div_euclid(86_400_000);
    let epoch = time::Date::from_calendar_date(1970, time::Month::January, 1).ok()?;
    Date::from_time(epoch.checked_add(time::Duration::days(days))?)
}

/// The year files shipped with the software (`config-examples/calendar/`),
/// used when a node's config names no calendar directory.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "2025.toml",
        include_str!("../../config-examples/calendar/2025.toml"),
    ),
    (
        "2026.toml",
        include_str!("../../config-examples/calendar/2026.toml"),
    ),
    (
        "2027.toml",
        include_str!("../../config-examples/calendar/2027.toml"),
    ),
];

/// Why a calendar was refused, or a date could not be counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CalendarError {
    /// A year file is not valid TOML of the year-file form.
    #[error("calendar file {file}: {why}")]
    Syntax {
        /// The file.
        file: String,
        /// The parser's complaint.
        why: String,
    },
    /// A year file breaks a rule.
    #[error("calendar file {file}: {why}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong, and the fix.
        why: String,
    },
    /// No year files at all.
    #[error("the calendar has no year files: ship at least the current year's (docs/calendar.md)")]
    Empty,
    /// A date falls in a year no file covers.
    #[error(
        "{date} is in a year the working-day calendar does not cover (it covers {covered}): add that year's file from the State Council's holiday notice (docs/calendar.md)"
    )]
    NotCovered {
        /// The date.
        date: Date,
        /// The years covered, such as `2025–2027`.
        covered: String,
    },
}

/// One year file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    year: u16,
    source: String,
    verified: bool,
    #[serde(default)]
    makeup_workdays: Vec<Date>,
    #[serde(default)]
    holidays: Vec<Holiday>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Holiday {
    name: String,
    from: Date,
    to: Date,
}

/// One year's provenance, as loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearSource {
    /// The year.
    pub year: u16,
    /// The notice or rule it was entered from.
    pub source: String,
    /// Whether the file's dates were checked against that source.
    pub verified: bool,
}

/// The working-day calendar of the years its files cover.
#[derive(Clone, PartialEq, Eq)]
pub struct Calendar {
    years: BTreeMap<u16, YearSource>,
    /// Days off that would otherwise be working days, and weekend days of
    /// holiday periods (only weekdays matter).
    days_off: BTreeSet<Date>,
    /// Weekend days that are working days.
    makeup: BTreeSet<Date>,
}

impl fmt::Debug for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Calendar")
            .field("years", &self.covered())
            .finish_non_exhaustive()
    }
}

/// Holiday periods are short; a longer one is a typing error.
const MAX_HOLIDAY_DAYS: i64 = 15;

impl Calendar {
    /// The calendar of the year files shipped with the software.
    pub fn embedded() -> Result<Calendar, CalendarError> {
        let files: Vec<(String, String)> = EMBEDDED
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect();
        Calendar::from_years(&files)
    }

    /// Parses and validates year files (a name for errors, the TOML text).
    ///
    /// Rules: one file per year; a holiday's days lie in the file's year or
    /// in the last days of the year before (a New Year holiday may begin on
    /// 30 December); holidays of at most 15 days, `from` ≤ `to`, not
    /// overlapping; make-up working days are Saturdays or Sundays of the
    /// year, in no holiday.
    pub fn from_years(files: &[(String, String)]) -> Result<Calendar, CalendarError> {
        if files.is_empty() {
            return Err(CalendarError::Empty);
        }
        let mut cal = Calendar {
            years: BTreeMap::new(),
            days_off: BTreeSet::new(),
            makeup: BTreeSet::new(),
        };
        for (name, text) in files {
            let bad = |why: String| CalendarError::Invalid {
                file: name.clone(),
                why,
            };
            let y: YearFile = toml::from_str(text).map_err(|e| CalendarError::Syntax {
                file: name.clone(),
                why: e.to_string(),
            })?;
            if y.source.trim().is_empty() {
                return Err(bad(
                    "source is blank: cite the notice the dates come from".into()
                ));
            }
            if cal.years.contains_key(&y.year) {
                return Err(bad(format!("a second file for year {}", y.year)));
            }
            let in_scope = |d: Date| {
                d.year() == y.year || (d.year() + 1 == y.year && d.month() == 12 && d.day() >= 25)
            };
            for h in &y.holidays {
                if h.name.trim().is_empty() {
                    return Err(bad(format!("the holiday from {} has no name", h.from)));
                }
                if h.to < h.from {
                    return Err(bad(format!(
                        "holiday {}: to {} is before from {}",
                        h.name, h.to, h.from
                    )));
                }
                let len = (h.to.to_time() - h.from.to_time()).whole_days() + 1;
                if len > MAX_HOLIDAY_DAYS {
                    return Err(bad(format!(
                        "holiday {} lasts {len} days, more than {MAX_HOLIDAY_DAYS}: check from and to",
                        h.name
                    )));
                }
                if !in_scope(h.from) || !in_scope(h.to) {
                    return Err(bad(format!(
                        "holiday {} ({}..{}) is not in {}",
                        h.name, h.from, h.to, y.year
                    )));
                }
                let mut d = h.from;
                loop {
                    if !cal.days_off.insert(d) {
                        return Err(bad(format!("{d} is in two holidays")));
                    }
                    if d == h.to {
                        break;
                    }
                    d = next_day(d)?;
                }
            }
            for &d in &y.makeup_workdays {
                if d.year() != y.year {
                    return Err(bad(format!("make-up working day {d} is not in {}", y.year)));
                }
                if !is_weekend(d) {
                    return Err(bad(format!(
                        "make-up working day {d} is a weekday: list only the Saturdays and Sundays worked (调休上班)"
                    )));
                }
                if cal.days_off.contains(&d) {
                    return Err(bad(format!(
                        "{d} is both a holiday and a make-up working day"
                    )));
                }
                if !cal.makeup.insert(d) {
                    return Err(bad(format!("make-up working day {d} is listed twice")));
                }
            }
            cal.years.insert(
                y.year,
                YearSource {
                    year: y.year,
                    source: y.source,
                    verified: y.verified,
                },
            );
        }
        Ok(cal)
    }

    /// The years covered, ascending.
    pub fn years(&self) -> Vec<u16> {
        self.years.keys().copied().collect()
    }

    /// Each year's source and whether it was verified, ascending.
    pub fn sources(&self) -> impl Iterator<Item = &YearSource> {
        self.years.values()
    }

    fn covered(&self) -> String {
        let years = self.years();
        let contiguous = years.windows(2).all(|w| w[1] == w[0] + 1);
        match (years.first(), years.last()) {
            (Some(a), Some(b)) if a == b => a.to_string(),
            (Some(a), Some(b)) if contiguous => format!("{a}–{b}"),
            _ => years
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    fn check(&self, d: Date) -> Result<(), CalendarError> {
        if self.years.contains_key(&d.year()) {
            Ok(())
        } else {
            Err(CalendarError::NotCovered {
                date: d,
                covered: self.covered(),
            })
        }
    }

    /// Whether `d` is a working day: Monday to Friday and in no holiday, or
    /// a make-up working weekend day.
    pub fn is_working_day(&self, d: Date) -> Result<bool, CalendarError> {
        self.check(d)?;
        Ok(self.makeup.contains(&d) || (!is_weekend(d) && !self.days_off.contains(&d)))
    }

    /// The date `n` working days after `d` (`d` itself not counted; `n = 0`
    /// gives `d`). Errors when the count runs into a year not covered.
    pub fn add_working_days(&self, d: Date, n: u32) -> Result<Date, CalendarError> {
        self.check(d)?;
        let mut day = d;
        let mut left = n;
        while left > 0 {
            day = next_day(day)?;
            if self.is_working_day(day)? {
                left -= 1;
            }
        }
        Ok(day)
    }

    /// Working days after `from` up to and including `to` (0 when `to <=
    /// from`): a decision on `from` published on `to` took this many
    /// working days.
    ///
    /// Counted in constant time plus the holidays and make-up days in the
    /// range (the committer asks this of every double-publicity record):
    /// weekdays by arithmetic, minus weekdays off, plus weekend days
    /// worked. Every year from `from` to `to` must be covered.
    pub fn working_days_between(&self, from: Date, to: Date) -> Result<u32, CalendarError> {
        if to <= from {
            return Ok(0);
        }
        for year in from.year()..=to.year() {
            if !self.years.contains_key(&year) {
                let first = if year == from.year() {
                    from
                } else {
                    Date::new(year, 1, 1).unwrap_or(from)
                };
                return Err(CalendarError::NotCovered {
                    date: first,
                    covered: self.covered(),
                });
            }
        }
        let first = next_day(from)?;
        let (a, b) = (
            i64::from(first.to_time().to_julian_day()),
            i64::from(to.to_time().to_julian_day()),
        );
        let weekdays = weekdays_before(b + 1) - weekdays_before(a);
        let off = self
            .days_off
            .range(first..=to)
            .filter(|d| !is_weekend(**d) && !self.makeup.contains(d))
            .count() as i64;
        let worked = self
            .makeup
            .range(first..=to)
            .filter(|d| is_weekend(**d))
            .count() as i64;
        Ok(u32::try_from(weekdays - off + worked).unwrap_or(u32::MAX))
    }

    /// The calendar's digest in `suite`'s hash, as the roster's
    /// `calendar_digest` pins it: the hash of, for each file in name
    /// order, its name, a newline, its length in bytes in decimal, a
    /// newline and its bytes.
    pub fn digest_of(suite: Suite, files: &[(String, String)]) -> String {
        let mut sorted: Vec<&(String, String)> = files.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut bytes = Vec::new();
        for (name, text) in sorted {
            bytes.extend_from_slice(name.as_bytes());
            bytes.push(b'\n');
            bytes.extend_from_slice(text.len().to_string().as_bytes());
            bytes.push(b'\n');
            bytes.extend_from_slice(text.as_bytes());
        }
        suite.file_digest(&bytes)
    }
}

fn is_weekend(d: Date) -> bool {
    matches!(
        d.to_time().weekday(),
        time::Weekday::Saturday | time::Weekday::Sunday
    )
}

/// Monday to Friday days with Julian day number below `jd` (counted from
/// a Monday far in the past; only differences are meaningful).
fn weekdays_before(jd: i64) -> i64 {
    // Julian day 0 (4713 BC) was a Monday.
    let (weeks, rest) = (jd.div_euclid(7), jd.rem_euclid(7));
    weeks * 5 + rest.min(5)
}

fn next_day(d: Date) -> Result<Date, CalendarError> {
    d.add(0, 0, 1).ok_or(CalendarError::NotCovered {
        date: d,
        covered: "no year after 9999".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn cal() -> Calendar {
        Calendar::embedded().unwrap()
    }

    fn one(text: &str) -> Result<Calendar, CalendarError> {
        Calendar::from_years(&[("y.toml".into(), text.into())])
    }

    #[test]
    fn weekends_holidays_and_makeup_days() {
        let c = cal();
        // 2025-10-01..08 National Day: off; 2025-10-11 (Saturday) worked.
        assert!(!c.is_working_day(date("2025-10-08")).unwrap());
        assert!(c.is_working_day(date("2025-10-09")).unwrap());
        assert!(c.is_working_day(date("2025-10-11")).unwrap());
        assert!(!c.is_working_day(date("2025-10-12")).unwrap());
        // An ordinary Tuesday.
        assert!(c.is_working_day(date("2025-03-04")).unwrap());
    }

    /// The arithmetic count agrees with counting day by day, over every
    /// pair of dates the embedded calendar covers (a sample of them).
    #[test]
    fn counting_by_arithmetic_agrees_with_counting_each_day() {
        let c = cal();
        let years = c.years();
        let (Some(&y0), Some(&y1)) = (years.first(), years.last()) else {
            panic!("the embedded calendar covers no year");
        };
        let start = Date::new(y0, 1, 1).unwrap();
        let days = |d: Date| i64::from(d.to_time().to_julian_day());
        let end = Date::new(y1, 12, 31).unwrap();
        let span = days(end) - days(start);
        let by_day = |from: Date, to: Date| {
            let (mut n, mut d) = (0, from);
            while d < to {
                d = next_day(d).unwrap();
                n += u32::from(c.is_working_day(d).unwrap());
            }
            n
        };
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |m: i64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % (m as u64 + 1)) as i64
        };
        for _ in 0..400 {
            let a = start.add(0, 0, next(span) as u32).unwrap();
            let b = a.add(0, 0, next(60) as u32).unwrap();
            if b > end {
                continue;
            }
            assert_eq!(
                c.working_days_between(a, b).unwrap(),
                by_day(a, b),
                "{a} to {b}"
            );
        }
        assert_eq!(
            c.working_days_between(start, end).unwrap(),
            by_day(start, end)
        );
    }

    #[test]
    fn counting_across_the_national_day_holiday() {
        let c = cal();
        // A decision on Tuesday 2025-09-30: the 7th working day after it
        // skips 1–8 October and counts Saturday 11 October.
        // 9 Thu(1) 10 Fri(2) 11 Sat makeup(3) 13 Mon(4) 14(5) 15(6) 16(7)
        assert_eq!(
            c.add_working_days(date("2025-09-30"), 7).unwrap(),
            date("2025-10-16")
        );
        assert_eq!(
            c.working_days_between(date("2025-09-30"), date("2025-10-16"))
                .unwrap(),
            7
        );
        assert_eq!(
            c.working_days_between(date("2025-10-16"), date("2025-09-30"))
                .unwrap(),
            0
        );
        assert_eq!(
            c.add_working_days(date("2025-09-30"), 0).unwrap(),
            date("2025-09-30")
        );
        // Two working days from a Friday: Monday and Tuesday.
        assert_eq!(
            c.add_working_days(date("2025-03-07"), 2).unwrap(),
            date("2025-03-11")
        );
    }

    #[test]
    fn a_year_not_covered_is_an_error_that_says_so() {
        let c = cal();
        let e = c.is_working_day(date("2024-06-03")).unwrap_err();
        assert!(matches!(e, CalendarError::NotCovered { .. }));
        let text = e.to_string();
        assert!(
            text.contains("2024-06-03") && text.contains("2025–2027"),
            "{text}"
        );
        // Counting runs off the end of the last year covered.
        assert!(c.add_working_days(date("2027-12-28"), 10).is_err());
    }

    #[test]
    fn china_dates_are_utc_plus_8() {
        // 2025-10-16T16:30:00Z is already 17 October in Fuzhou.
        assert_eq!(china_date(1_760_632_200_000), Some(date("2025-10-17")));
        assert_eq!(china_date(0), Some(date("1970-01-01")));
    }

    #[test]
    fn bad_year_files_are_refused_with_the_reason() {
        let base = "year = 2025\nsource = \"x\"\nverified = false\n";
        let cases = [
            (
                format!("{base}makeup_workdays = [\"2025-03-04\"]\n"),
                "weekday",
            ),
            (
                format!("{base}makeup_workdays = [\"2026-01-04\"]\n"),
                "not in 2025",
            ),
            (
                format!(
                    "{base}[[holidays]]\nname = \"a\"\nfrom = \"2025-05-05\"\nto = \"2025-05-01\"\n"
                ),
                "before",
            ),
            (
                format!(
                    "{base}[[holidays]]\nname = \"a\"\nfrom = \"2025-05-01\"\nto = \"2025-06-01\"\n"
                ),
                "more than",
            ),
            (
                format!(
                    "{base}[[holidays]]\nname = \"a\"\nfrom = \"2025-05-01\"\nto = \"2025-05-03\"\n[[holidays]]\nname = \"b\"\nfrom = \"2025-05-03\"\nto = \"2025-05-04\"\n"
                ),
                "two holidays",
            ),
            (
                "year = 2025\nsource = \" \"\nverified = true\n".into(),
                "blank",
            ),
            (format!("{base}surprise = 1\n"), "unknown field"),
        ];
        for (text, want) in cases {
            let e = one(&text).unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
        let dup = Calendar::from_years(&[
            ("a.toml".into(), base.into()),
            ("b.toml".into(), base.into()),
        ])
        .unwrap_err();
        assert!(dup.to_string().contains("second file"), "{dup}");
        assert_eq!(Calendar::from_years(&[]).unwrap_err(), CalendarError::Empty);
    }

    #[test]
    fn a_new_year_holiday_may_begin_in_december() {
        let c = one(
            "year = 2024\nsource = \"x\"\nverified = false\n[[holidays]]\nname = \"元旦\"\nfrom = \"2023-12-30\"\nto = \"2024-01-01\"\n",
        )
        .unwrap();
        assert!(!c.is_working_day(date("2024-01-01")).unwrap());
    }

    #[test]
    fn the_digest_depends_on_every_byte_and_not_on_order() {
        let a = ("2025.toml".to_owned(), "a".to_owned());
        let b = ("2026.toml".to_owned(), "b".to_owned());
        let d1 = Calendar::digest_of(Suite::Ed25519Sha256, &[a.clone(), b.clone()]);
        let d2 = Calendar::digest_of(Suite::Ed25519Sha256, &[b.clone(), a.clone()]);
        assert_eq!(d1, d2);
        let c = ("2026.toml".to_owned(), "c".to_owned());
        assert_ne!(
            d1,
            Calendar::digest_of(Suite::Ed25519Sha256, &[a.clone(), c])
        );
        assert!(Calendar::digest_of(Suite::Sm2Sm3, &[a, b]).starts_with("sm3:"));
    }
}
