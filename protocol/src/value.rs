//! Typed values of record fields: calendar dates, exact decimals and the
//! [`FieldValue`] union that the catalog checks and entries carry.
//!
//! Every type here has one canonical binary form (inside signed entries) and
//! one canonical JSON form (in the HTTP API and bundles), and refuses input
//! that is not canonical, so that equal values always sign to equal bytes.

use std::fmt;
use std::str::FromStr;

use bincode::de::Decoder;
use bincode::error::DecodeError;
use bincode::{Decode, Encode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The first control character of `text` (Unicode category Cc: C0, DEL
/// and C1) with its position in characters, counting from 0. In free text
/// (`free_text`) tab, line feed and carriage return are allowed: facts and
/// grounds (违法事实, 处罚依据) are exported from office systems with their
/// paragraphs. Names, numbers and codes allow none.
pub fn control_character(text: &str, free_text: bool) -> Option<(usize, char)> {
    text.chars()
        .enumerate()
        .find(|(_, c)| c.is_control() && !(free_text && matches!(c, '\t' | '\n' | '\r')))
}

/// A calendar date (proleptic Gregorian, no time zone), such as a decision date.
///
/// Binary form: year `u16`, month `u8`, day `u8`. JSON and text form: `YYYY-MM-DD`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

/// Why a date, decimal or field value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The text is not a `YYYY-MM-DD` date.
    #[error("'{0}' is not a date: write it as YYYY-MM-DD, for example 2026-03-01")]
    DateSyntax(String),
    /// The text has the date form but names no real day.
    #[error("'{0}' is not a real calendar day")]
    DateOutOfRange(String),
    /// The text is not a plain decimal number.
    #[error("'{0}' is not a decimal number: write digits with at most one '.', for example 0.2")]
    DecimalSyntax(String),
    /// A decimal with more fractional digits than allowed.
    #[error("'{0}' has more than {max} digits after the decimal point", max = Decimal::MAX_SCALE)]
    DecimalScale(String),
}

impl Date {
    /// The date of `year`-`month`-`day`, or `None` if no such day exists.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let m = time::Month::try_from(month).ok()?;
        time::Date::from_calendar_date(i32::from(year), m, day).ok()?;
        if year == 0 {
            return None;
        }
        Some(Date { year, month, day })
    }

    /// The earliest date a record may carry when it is signed: the founding
    /// of the People's Republic (1949-10-01). No credit record of a current
    /// subject is older; an earlier date is a typing or export error (such as
    /// `0001-01-01` for an empty cell). An ingest rule, not a decoding rule.
    pub const EARLIEST_PLAUSIBLE: Date = Date {
        year: 1949,
        month: 10,
        day: 1,
    };

    /// The latest date a kind-specific date field may carry when it is
    /// signed: 2099-12-31, the date departments write for long-term (长期)
    /// validity. A later date is a typing error (such as `9999-12-31`). An
    /// ingest rule, not a decoding rule.
    pub const LATEST_PLAUSIBLE: Date = Date {
        year: 2099,
        month: 12,
        day: 31,
    };

    /// Year, 1..=9999.
    pub fn year(self) -> u16 {
        self.year
    }
    /// Month, 1..=12.
    pub fn month(self) -> u8 {
        self.month
    }
    /// Day of the month, 1..=31.
    pub fn day(self) -> u8 {
        self.day
    }

    /// This date as a `time::Date`, for calendar arithmetic.
    pub fn to_time(self) -> time::Date {
        // Construction guarantees validity; the fallback is unreachable.
        time::Month::try_from(self.month)
            .ok()
            .and_then(|m| time::Date::from_calendar_date(i32::from(self.year), m, self.day).ok())
            .unwrap_or(time::Date::MIN)
    }

    /// The date of a `time::Date`, or `None` outside years 1..=9999.
    pub fn from_time(d: time::Date) -> Option<Date> {
        let year = u16::try_from(d.year()).ok()?;
        if !(1..=9999).contains(&year) {
            return None;
        }
        Date::new(year, u8::from(d.month()), d.day())
    }

    /// Adds whole years, months and days, clamping the day to the end of a
    /// shorter month (2024-02-29 plus one year is 2025-02-28). `None` past 9999.
    pub fn add(self, years: u32, months: u32, days: u32) -> Option<Date> {
        let total_months = u32::from(self.month) - 1 + months + years.checked_mul(12)?;
        let year = u32::from(self.year) + total_months / 12;
        let month = (total_months % 12 + 1) as u8;
        let year = u16::try_from(year).ok().filter(|y| *y <= 9999)?;
        let m = time::Month::try_from(month).ok()?;
        let last = m.length(i32::from(year));
        let day = self.day.min(last);
        let d = Date::new(year, month, day)?.to_time();
        let d = d.checked_add(time::Duration::days(i64::from(days)))?;
        Date::from_time(d)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Date {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Date, ValueError> {
        let b = s.as_bytes();
        let well_formed = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !well_formed {
            return Err(ValueError::DateSyntax(s.to_owned()));
        }
        let num = |r: std::ops::Range<usize>| s[r].parse::<u16>().unwrap_or(0);
        let (y, m, d) = (num(0..4), num(5..7), num(8..10));
        let (Ok(m), Ok(d)) = (u8::try_from(m), u8::try_from(d)) else {
            return Err(ValueError::DateOutOfRange(s.to_owned()));
        };
        Date::new(y, m, d).ok_or_else(|| ValueError::DateOutOfRange(s.to_owned()))
    }
}

impl<C> Decode<C> for Date {
    fn decode<D: Decoder<Context = C>>(decoder: &mut D) -> Result<Self, DecodeError> {
        let year = u16::decode(decoder)?;
        let month = u8::decode(decoder)?;
        let day = u8::decode(decoder)?;
        Date::new(year, month, day).ok_or(DecodeError::Other("not a real calendar day"))
    }
}
bincode::impl_borrow_decode!(Date);

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An exact decimal number in canonical text form, such as a fine in 万元
/// (`0.2` for 2,000 yuan). Never a float: what was submitted is what is signed.
///
/// Canonical form: an optional `-`, integer digits without leading zeros
/// (`0` alone is allowed), and optionally `.` with 1..=6 digits, the last not
/// `0`. `-0` is written `0`. Non-canonical input such as `00.50` is normalised
/// by [`FromStr`], and refused when decoding signed bytes.
#[derive(Clone, PartialEq, Eq, Hash, Encode)]
pub struct Decimal(String);

impl Decimal {
    /// Most fractional digits a decimal may have.
    pub const MAX_SCALE: usize = 6;
    /// Most integer digits a decimal may have.
    pub const MAX_INTEGER_DIGITS: usize = 18;

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the value is below zero (`-0` is canonically `0`, so not).
    pub fn is_negative(&self) -> bool {
        self.0.starts_with('-')
    }

    fn canonicalize(s: &str) -> Result<String, ValueError> {
        let err = || ValueError::DecimalSyntax(s.to_owned());
        let (neg, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (body, None),
        };
        if int.is_empty() || !int.bytes().all(|c| c.is_ascii_digit()) {
            return Err(err());
        }
        let int = int.trim_start_matches('0');
        let int = if int.is_empty() { "0" } else { int };
        if int.len() > Self::MAX_INTEGER_DIGITS {
            return Err(err());
        }
        let frac = match frac {
            None => "",
            Some(f) if f.is_empty() || !f.bytes().all(|c| c.is_ascii_digit()) => return Err(err()),
            Some(f) => f.trim_end_matches('0'),
        };
        if frac.len() > Self::MAX_SCALE {
            return Err(ValueError::DecimalScale(s.to_owned()));
        }
        let zero = int == "0" && frac.is_empty();
        let mut out = String::with_capacity(s.len());
        if neg && !zero {
            out.push('-');
        }
        out.push_str(int);
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
        Ok(out)
    }
}

impl FromStr for Decimal {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Decimal, ValueError> {
        Decimal::canonicalize(s).map(Decimal)
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<C> Decode<C> for Decimal {
    fn decode<D: Decoder<Context = C>>(decoder: &mut D) -> Result<Self, DecodeError> {
        let s = String::decode(decoder)?;
        match Decimal::canonicalize(&s) {
            Ok(c) if c == s => Ok(Decimal(s)),
            _ => Err(DecodeError::Other("decimal is not in canonical form")),
        }
    }
}
bincode::impl_borrow_decode!(Decimal);

impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The value of one kind-specific record field. Which variant a field takes is
/// fixed by its type in the catalog (see `catalog::FieldType`).
///
/// Binary form: a `u32` variant index (in declaration order, from 0) and the
/// payload. JSON form: the plain JSON value (string, integer, boolean); the
/// catalog's field type decides how a JSON string is read.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub enum FieldValue {
    /// Free text, an enumerated choice, or a checked code (credit code, ID number).
    Text(String),
    /// A whole number.
    Integer(i64),
    /// An exact decimal.
    Decimal(Decimal),
    /// A calendar date.
    Date(Date),
    /// Yes or no.
    Bool(bool),
}

impl Serialize for FieldValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldValue::Text(t) => s.serialize_str(t),
            FieldValue::Integer(i) => s.serialize_i64(*i),
            FieldValue::Decimal(d) => d.serialize(s),
            FieldValue::Date(d) => d.serialize(s),
            FieldValue::Bool(b) => s.serialize_bool(*b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_only_real_days() {
        assert_eq!(
            "2024-02-29".parse::<Date>().map(|d| d.to_string()),
            Ok("2024-02-29".into())
        );
        assert!(matches!(
            "2023-02-29".parse::<Date>(),
            Err(ValueError::DateOutOfRange(_))
        ));
        assert!(matches!(
            "2023-13-01".parse::<Date>(),
            Err(ValueError::DateOutOfRange(_))
        ));
        assert!(matches!(
            "0000-01-01".parse::<Date>(),
            Err(ValueError::DateOutOfRange(_))
        ));
        for bad in [
            "2023-2-01",
            "20230201",
            "2023/02/01",
            "",
            "2023-02-01T00:00",
            "２０２３-02-01",
        ] {
            assert!(
                matches!(bad.parse::<Date>(), Err(ValueError::DateSyntax(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn date_arithmetic_clamps_to_month_end() {
        let d: Date = "2024-02-29".parse().unwrap();
        assert_eq!(d.add(1, 0, 0).unwrap().to_string(), "2025-02-28");
        assert_eq!(d.add(0, 6, 0).unwrap().to_string(), "2024-08-29");
        assert_eq!(d.add(0, 0, 1).unwrap().to_string(), "2024-03-01");
        let d: Date = "2024-08-31".parse().unwrap();
        assert_eq!(d.add(0, 6, 0).unwrap().to_string(), "2025-02-28");
        assert!(d.add(8000, 0, 0).is_none());
    }

    #[test]
    fn decimals_are_canonical() {
        let c = |s: &str| s.parse::<Decimal>().map(|d| d.to_string());
        assert_eq!(c("0.2"), Ok("0.2".into()));
        assert_eq!(c("00.50"), Ok("0.5".into()));
        assert_eq!(c("-0.0"), Ok("0".into()));
        assert_eq!(c("12.000"), Ok("12".into()));
        assert!(matches!(c("0.1234567"), Err(ValueError::DecimalScale(_))));
        for bad in ["", ".5", "5.", "1e3", "+1", "1,000", "NaN", "--1"] {
            assert!(matches!(c(bad), Err(ValueError::DecimalSyntax(_))), "{bad}");
        }
    }

    #[test]
    fn plausible_bounds_are_real_days_and_ordered() {
        assert_eq!(Date::EARLIEST_PLAUSIBLE.to_string(), "1949-10-01");
        assert_eq!(Date::LATEST_PLAUSIBLE.to_string(), "2099-12-31");
        assert_eq!(Date::new(1949, 10, 1), Some(Date::EARLIEST_PLAUSIBLE));
        assert_eq!(Date::new(2099, 12, 31), Some(Date::LATEST_PLAUSIBLE));
    }

    #[test]
    fn control_characters_are_found_by_position() {
        assert_eq!(control_character("榕信", false), None);
        assert_eq!(control_character("a\u{7}b", false), Some((1, '\u{7}')));
        assert_eq!(control_character("第一段\r\n第二段\t", true), None);
        assert_eq!(control_character("第一段\n", false), Some((3, '\n')));
        assert_eq!(control_character("x\u{0}", true), Some((1, '\u{0}')));
        assert_eq!(control_character("x\u{7f}", true), Some((1, '\u{7f}')));
        assert_eq!(control_character("\u{85}", true), Some((0, '\u{85}')));
        assert_eq!(control_character("\u{9f}", true), Some((0, '\u{9f}')));
        // Format characters (Cf) are not control characters.
        assert_eq!(control_character("a\u{200b}b", false), None);
    }

    #[test]
    fn negative_decimals() {
        let neg = |s: &str| s.parse::<Decimal>().map(|d| d.is_negative());
        assert_eq!(neg("-0.2"), Ok(true));
        assert_eq!(neg("-0.0"), Ok(false));
        assert_eq!(neg("0"), Ok(false));
        assert_eq!(neg("12.5"), Ok(false));
    }

    #[test]
    fn non_canonical_decimal_bytes_are_refused() {
        let cfg = bincode::config::standard();
        let bytes = bincode::encode_to_vec("00.5".to_string(), cfg).unwrap();
        let r: Result<(Decimal, usize), _> = bincode::decode_from_slice(&bytes, cfg);
        assert!(r.is_err());
        let bytes = bincode::encode_to_vec("0.5".to_string(), cfg).unwrap();
        let (d, _): (Decimal, usize) = bincode::decode_from_slice(&bytes, cfg).unwrap();
        assert_eq!(d.as_str(), "0.5");
    }
}
