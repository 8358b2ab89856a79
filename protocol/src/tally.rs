//! What each department submitted and what was refused, per day (目标绩效考核:
//! "records submitted, refused and why").
//!
//! A refused record never enters a signed log (nothing unverified is
//! signed), so only the node that refused it knows of it. That node keeps a
//! [`Tally`] per China day and submitting department (the department's
//! token, by its configured name), and answers it to peers that ask
//! ([`crate::wire::Request::Tallies`]); the city keeps what its peers
//! answer, so its evaluation covers every district it peers with.
//!
//! A tally is the answering member's own report about itself: it is taken
//! from an authenticated peer connection and kept under that peer's member
//! id only, never relayed.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::value::Date;

/// Most distinct reasons one day's tally of one department keeps; refusals
/// for further reasons count under [`OTHER_REASON`].
pub const MAX_REASONS: usize = 32;
/// The reason refusals past [`MAX_REASONS`] distinct ones count under.
pub const OTHER_REASON: &str = "(other)";
/// The reason the records of a request refused whole count under (a body
/// that is not JSON or CSV, a CSV header that cannot be mapped, too many
/// records): their example is the request's error.
pub const REQUEST_REASON: &str = "(request)";
/// Longest reason (a field or column name) kept, in characters.
pub const MAX_REASON_CHARS: usize = 64;
/// Longest example problem kept per reason, in characters.
pub const MAX_EXAMPLE_CHARS: usize = 200;
/// Longest department name kept, in characters.
pub const MAX_DEPARTMENT_CHARS: usize = 128;
/// Most day rows one answer carries; an asker that gets this many asks
/// again from the last day it got.
pub const MAX_TALLY_ROWS: usize = 2_000;

/// One reason records were refused for: the field (or, for a CSV row, the
/// column) of the first problem each refused record was answered with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct Reason {
    /// The field or column, such as `subject.code` or `CF_XDR_SHXYM`.
    pub field: String,
    /// Records refused for it.
    pub count: u64,
    /// The first problem answered for it that day, such as "check digit is
    /// 5, expected 3".
    pub example: String,
}

/// One department's submissions on one day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct Tally {
    /// Records (JSON records, CSV rows) in its requests.
    pub submitted: u64,
    /// Of those, signed.
    pub accepted: u64,
    /// Of those, already signed before (same content): not signed again.
    pub duplicates: u64,
    /// Of those, refused.
    pub refused: u64,
    /// Why, by field, in ascending order of field.
    pub reasons: Vec<Reason>,
}

impl Tally {
    /// Counts one refused record whose first problem was `problem` in
    /// `field`.
    pub fn refuse(&mut self, field: &str, problem: &str) {
        self.refused += 1;
        self.note_reason(field, 1, problem);
    }

    /// Counts the `records` of a request refused whole (none of them was
    /// read as a record) under [`REQUEST_REASON`], with its error.
    pub fn refuse_request(&mut self, records: u64, problem: &str) {
        self.submitted += records;
        self.refused += records;
        self.note_reason(REQUEST_REASON, records, problem);
    }

    /// Adds `other` (another request, or another day, of the same
    /// department).
    pub fn add(&mut self, other: &Tally) {
        self.submitted += other.submitted;
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        self.refused += other.refused;
        for r in &other.reasons {
            self.note_reason(&r.field, r.count, &r.example);
        }
    }

    fn note_reason(&mut self, field: &str, count: u64, example: &str) {
        let field = cut(field, MAX_REASON_CHARS);
        let field = if self.reasons.len() >= MAX_REASONS
            && !self.reasons.iter().any(|r| r.field == field)
        {
            OTHER_REASON.to_owned()
        } else {
            field
        };
        match self.reasons.binary_search_by(|r| r.field.cmp(&field)) {
            Ok(i) => self.reasons[i].count += count,
            Err(i) => self.reasons.insert(
                i,
                Reason {
                    field,
                    count,
                    example: cut(example, MAX_EXAMPLE_CHARS),
                },
            ),
        }
    }

    /// Whether it holds what a tally may hold: counts that add up, at most
    /// [`MAX_REASONS`] + 1 reasons in ascending order, short strings.
    pub fn check(&self) -> Result<(), String> {
        let settled = self
            .accepted
            .checked_add(self.duplicates)
            .and_then(|n| n.checked_add(self.refused));
        if settled != Some(self.submitted) {
            return Err(format!(
                "{} submitted, but {} accepted + {} duplicates + {} refused",
                self.submitted, self.accepted, self.duplicates, self.refused
            ));
        }
        if self.reasons.len() > MAX_REASONS + 1 {
            return Err(format!(
                "{} reasons, more than {}",
                self.reasons.len(),
                MAX_REASONS + 1
            ));
        }
        if !self.reasons.windows(2).all(|w| w[0].field < w[1].field) {
            return Err("reasons are not in ascending order of field".into());
        }
        let counted: Option<u64> = self
            .reasons
            .iter()
            .try_fold(0u64, |n, r| n.checked_add(r.count));
        if counted != Some(self.refused) {
            return Err(format!(
                "{} refused, but the reasons count {counted:?}",
                self.refused
            ));
        }
        if let Some(r) = self.reasons.iter().find(|r| {
            r.field.chars().count() > MAX_REASON_CHARS
                || r.example.chars().count() > MAX_EXAMPLE_CHARS
        }) {
            return Err(format!("reason {:?} is too long", cut(&r.field, 40)));
        }
        Ok(())
    }
}

/// A department's tally of one day at one member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct DayTally {
    /// The China date, `YYYY-MM-DD`.
    pub day: String,
    /// The submitting department's name, as its node's configuration
    /// names its token.
    pub department: String,
    /// What it submitted that day.
    pub tally: Tally,
}

impl DayTally {
    /// Checks a row a peer answered: a date, a short department name, a
    /// tally that adds up.
    pub fn check(&self) -> Result<Date, String> {
        let day: Date = self
            .day
            .parse()
            .map_err(|e| format!("day {:?}: {e}", cut(&self.day, 20)))?;
        if self.department.is_empty()
            || self.department.chars().count() > MAX_DEPARTMENT_CHARS
            || self.department.chars().any(char::is_control)
        {
            return Err(format!(
                "department name {:?} is empty, too long or holds control characters",
                cut(&self.department, 40)
            ));
        }
        self.tally
            .check()
            .map_err(|e| format!("{} of {}: {e}", self.day, self.department))?;
        Ok(day)
    }
}

fn cut(s: &str, chars: usize) -> String {
    match s.char_indices().nth(chars) {
        Some((at, _)) => s[..at].to_owned(),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_refused_whole_counts_its_records_under_one_reason() {
        let mut t = Tally::default();
        t.refuse("subject.code", "check digit is 5, expected 3");
        t.refuse_request(1000, "the CSV header cannot be mapped: column 经办人");
        assert_eq!((t.submitted, t.refused), (1000, 1001));
        assert_eq!(t.reasons[0].field, REQUEST_REASON);
        assert_eq!(t.reasons[0].count, 1000);
        // refuse() counts one refused record of a request whose records
        // the caller counts as submitted (node/src/http/ingest.rs).
        t.submitted += 1;
        t.check().unwrap();
    }

    #[test]
    fn refusals_are_counted_by_reason_and_add_up() {
        let mut t = Tally {
            submitted: 5,
            accepted: 2,
            ..Tally::default()
        };
        t.refuse("subject.code", "check digit is 5, expected 3");
        t.refuse("CF_CFLB", "unknown penalty type 9");
        t.refuse("subject.code", "a later problem is not the example");
        assert_eq!(t.refused, 3);
        assert_eq!(
            t.reasons
                .iter()
                .map(|r| (r.field.as_str(), r.count, r.example.as_str()))
                .collect::<Vec<_>>(),
            [
                ("CF_CFLB", 1, "unknown penalty type 9"),
                ("subject.code", 2, "check digit is 5, expected 3")
            ]
        );
        assert_eq!(t.check(), Ok(()));
        let mut sum = Tally::default();
        sum.add(&t);
        sum.add(&t);
        assert_eq!((sum.submitted, sum.refused), (10, 6));
        assert_eq!(sum.reasons[1].count, 4);
        assert_eq!(sum.check(), Ok(()));
    }

    #[test]
    fn reasons_are_bounded_and_the_rest_count_as_other() {
        let mut t = Tally::default();
        for i in 0..100 {
            t.submitted += 1;
            t.refuse(&format!("field{i:03}{}", "x".repeat(200)), &"p".repeat(500));
        }
        assert_eq!(t.reasons.len(), MAX_REASONS + 1);
        let other = t.reasons.iter().find(|r| r.field == OTHER_REASON);
        assert_eq!(other.map(|r| r.count), Some(100 - MAX_REASONS as u64));
        assert!(
            t.reasons
                .iter()
                .all(|r| r.field.chars().count() <= MAX_REASON_CHARS)
        );
        assert!(
            t.reasons
                .iter()
                .all(|r| r.example.chars().count() <= MAX_EXAMPLE_CHARS)
        );
        assert_eq!(t.check(), Ok(()));
    }

    #[test]
    fn a_peers_row_that_does_not_add_up_is_refused_with_why() {
        let row = |tally: Tally, day: &str, department: &str| DayTally {
            day: day.into(),
            department: department.into(),
            tally,
        };
        let good = Tally {
            submitted: 3,
            accepted: 1,
            duplicates: 1,
            refused: 1,
            reasons: vec![Reason {
                field: "record_no".into(),
                count: 1,
                example: "missing".into(),
            }],
        };
        assert!(
            row(good.clone(), "2026-12-04", "鼓楼区市场监管局")
                .check()
                .is_ok()
        );
        let e = row(good.clone(), "2026-13-04", "x").check().unwrap_err();
        assert!(e.starts_with("day"), "{e}");
        let e = row(good.clone(), "2026-12-04", "a\nb").check().unwrap_err();
        assert!(e.contains("control"), "{e}");
        let mut bad = good.clone();
        bad.submitted = 9;
        let e = row(bad, "2026-12-04", "x").check().unwrap_err();
        assert!(e.contains("9 submitted"), "{e}");
        let mut bad = good;
        bad.reasons[0].count = 2;
        let e = row(bad, "2026-12-04", "x").check().unwrap_err();
        assert!(e.contains("reasons count"), "{e}");
    }
}
