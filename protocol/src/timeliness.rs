//! Publication timeliness (双公示 七日内): how many working days after its
//! decision each licensing or penalty record was published — signed by its
//! origin — and the answer of `GET /v1/admin/timeliness`.
//!
//! The rule: a double-publicity decision is published within the roster's
//! `deadlines.publication` working days (7: 国办发〔2015〕51号 §18, 发改电
//! 〔2015〕557号; the city plan's "七日内" is read as working days, as the
//! national rule says: docs/calendar.md). Each node measures every first
//! version of a record of a `double_publicity` kind in the logs it holds,
//! from the record's decision date to the China date of its entry's
//! signing time, on the federation's calendar.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::calendar::{Calendar, china_date};
use crate::value::Date;

/// One record's measurement, as a node keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Encode, Decode)]
pub struct Measured {
    /// The record's decision date.
    pub decided: Date,
    /// The China date its origin signed its first version.
    pub published: Date,
    /// Working days from `decided` to `published` (`None` when a date
    /// lies outside the calendar).
    pub working_days: Option<u32>,
}

/// Measures a record decided on `decided` and first signed at `time_ms`.
/// `None` for a time that is no date.
pub fn measure(calendar: &Calendar, decided: Date, time_ms: i64) -> Option<Measured> {
    let published = china_date(u64::try_from(time_ms).ok()?)?;
    Some(Measured {
        decided,
        published,
        working_days: calendar.working_days_between(decided, published).ok(),
    })
}

/// The answer of `GET /v1/admin/timeliness`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelinessAnswer {
    /// The rule measured against: working days (the roster's
    /// `deadlines.publication`).
    pub deadline_working_days: u32,
    /// One row per origin, authority and kind, worst on-time rate first.
    pub rows: Vec<TimelinessRow>,
}

/// Publication timeliness of one authority's records of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelinessRow {
    /// The origin that signed them.
    pub origin: String,
    /// The deciding authority's credit code.
    pub authority: String,
    /// The catalog kind.
    pub kind: String,
    /// Published within the deadline.
    pub on_time: u64,
    /// Published after it.
    pub late: u64,
    /// Not measurable: a date outside the federation's calendar.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unmeasured: u64,
    /// The late records' keys (`kind/jurisdiction/authority/record_no`),
    /// at most [`MAX_LATE_KEYS`] per row.
    pub late_records: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Most late record keys one row lists.
pub const MAX_LATE_KEYS: usize = 1000;

impl TimelinessRow {
    /// The share of measured records published on time (1 when none).
    pub fn on_time_rate(&self) -> f64 {
        let measured = self.on_time + self.late;
        if measured == 0 {
            1.0
        } else {
            self.on_time as f64 / measured as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_days_from_decision_to_signing() {
        let cal = Calendar::embedded().unwrap();
        // Signed 2025-10-09 10:00 in Fuzhou (02:00 UTC): decided Tuesday
        // 2025-09-30, the National Day holiday in between; 10-09 is the
        // first working day after it.
        let ms = 1_759_975_200_000;
        let m = measure(&cal, "2025-09-30".parse().unwrap(), ms).unwrap();
        assert_eq!(m.published.to_string(), "2025-10-09");
        assert_eq!(m.working_days, Some(1));
        let m = measure(&cal, "2019-01-01".parse().unwrap(), ms).unwrap();
        assert_eq!(m.working_days, None, "2019 is not in the calendar");
    }
}
