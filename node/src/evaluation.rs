//! The period's evaluation of districts and departments (目标绩效考核,
//! `GET /v1/admin/evaluation`): double-publicity timeliness, objections and
//! repair applications handled within their time limits, per origin and
//! per deciding authority, from the signed logs this node holds.
//!
//! A department is the deciding authority named in the records (its credit
//! code): that is what the logs carry, so every node that holds an origin's
//! log computes the same figures. Submissions and refusals are counted
//! where they happen, per submitting department (its token's name), and
//! come from the tallies this node holds: its own, and those its peers
//! answered (`rongxin_protocol::tally`). A case counts in the period by the day it
//! was received; it is in time when its decision was signed on or before
//! its due date, late when after, overdue when still open after it today.

use std::collections::BTreeMap;

use rongxin_protocol::api::{EvaluationAnswer, EvaluationRow, SubmissionRow};
use rongxin_protocol::objection::ObjectionState;
use rongxin_protocol::repair::RepairState;
use rongxin_protocol::tally::{DayTally, Tally};
use rongxin_protocol::timeliness::TimelinessRow;
use rongxin_protocol::value::Date;

/// The period: both ends inclusive, either open.
#[derive(Debug, Clone, Copy, Default)]
pub struct Period {
    /// First day counted.
    pub from: Option<Date>,
    /// Last day counted.
    pub to: Option<Date>,
}

impl Period {
    fn holds(&self, d: Date) -> bool {
        self.from.is_none_or(|f| d >= f) && self.to.is_none_or(|t| d <= t)
    }
}

/// How one case ended, against its due date.
fn case(due: Date, decided: Option<Option<Date>>, today: Date) -> (bool, bool, bool) {
    match decided {
        // Decided: in time unless signed after the due date (a decision
        // without a signing date, from before dates were kept, counts in
        // time: the log cannot show otherwise).
        Some(on) => {
            let late = on.is_some_and(|d| d > due);
            (!late, late, false)
        }
        None => (false, false, today > due),
    }
}

/// The evaluation from `timeliness` rows and `tallies` (member, row)
/// already restricted to the period, and every objection and repair
/// application held.
pub fn evaluate(
    timeliness: &[TimelinessRow],
    objections: &[ObjectionState],
    repairs: &[RepairState],
    tallies: &[(String, DayTally)],
    period: Period,
    today: Date,
    deadline_working_days: u32,
) -> EvaluationAnswer {
    let mut departments: BTreeMap<(String, String), EvaluationRow> = BTreeMap::new();
    fn row<'a>(
        departments: &'a mut BTreeMap<(String, String), EvaluationRow>,
        origin: &str,
        authority: &str,
    ) -> &'a mut EvaluationRow {
        departments
            .entry((origin.to_owned(), authority.to_owned()))
            .or_insert_with(|| EvaluationRow {
                origin: origin.to_owned(),
                authority: Some(authority.to_owned()),
                ..EvaluationRow::default()
            })
    }
    for t in timeliness {
        let r = row(&mut departments, &t.origin, &t.authority);
        r.on_time += t.on_time;
        r.late += t.late;
        r.published += t.on_time + t.late;
    }
    for o in objections.iter().filter(|o| period.holds(o.received_on)) {
        let (in_time, late, overdue) = case(o.due, o.resolution.as_ref().map(|r| r.on), today);
        let r = row(&mut departments, &o.origin, &o.key.authority_code);
        r.objections += 1;
        r.objections_in_time += u64::from(in_time);
        r.objections_late += u64::from(late);
        r.objections_overdue += u64::from(overdue);
    }
    for a in repairs.iter().filter(|a| period.holds(a.received_on)) {
        let (in_time, late, overdue) = case(a.due, a.decision.as_ref().map(|d| d.on), today);
        let r = row(&mut departments, &a.origin, &a.key.authority_code);
        r.repairs += 1;
        r.repairs_in_time += u64::from(in_time);
        r.repairs_late += u64::from(late);
        r.repairs_overdue += u64::from(overdue);
    }
    let submissions = submission_rows(tallies);
    let mut districts: BTreeMap<String, EvaluationRow> = BTreeMap::new();
    fn district<'a>(
        districts: &'a mut BTreeMap<String, EvaluationRow>,
        origin: &str,
    ) -> &'a mut EvaluationRow {
        districts
            .entry(origin.to_owned())
            .or_insert_with(|| EvaluationRow {
                origin: origin.to_owned(),
                submitted: Some(0),
                refused: Some(0),
                ..EvaluationRow::default()
            })
    }
    for t in &submissions {
        let r = district(&mut districts, &t.origin);
        r.submitted = r.submitted.map(|n| n + t.submitted);
        r.refused = r.refused.map(|n| n + t.refused);
    }
    for d in departments.values() {
        let r = district(&mut districts, &d.origin);
        r.published += d.published;
        r.on_time += d.on_time;
        r.late += d.late;
        r.objections += d.objections;
        r.objections_in_time += d.objections_in_time;
        r.objections_late += d.objections_late;
        r.objections_overdue += d.objections_overdue;
        r.repairs += d.repairs;
        r.repairs_in_time += d.repairs_in_time;
        r.repairs_late += d.repairs_late;
        r.repairs_overdue += d.repairs_overdue;
    }
    EvaluationAnswer {
        from: period.from.map(|d| d.to_string()),
        to: period.to.map(|d| d.to_string()),
        today: today.to_string(),
        deadline_working_days,
        districts: districts.into_values().collect(),
        departments: departments.into_values().collect(),
        submissions,
    }
}

/// One row per member and department from `tallies` (member, day row),
/// their days added up, in member and department order.
pub fn submission_rows(tallies: &[(String, DayTally)]) -> Vec<SubmissionRow> {
    let mut merged: BTreeMap<(String, String), Tally> = BTreeMap::new();
    for (member, row) in tallies {
        merged
            .entry((member.clone(), row.department.clone()))
            .or_default()
            .add(&row.tally);
    }
    merged
        .into_iter()
        .map(|((origin, department), t)| SubmissionRow {
            origin,
            department,
            submitted: t.submitted,
            accepted: t.accepted,
            duplicates: t.duplicates,
            refused: t.refused,
            reasons: t.reasons,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rongxin_protocol::entry::{ObjectionGround, ObjectionOutcome};
    use rongxin_protocol::objection::Resolution;
    use rongxin_protocol::record::RecordKey;

    fn date(s: &str) -> Date {
        s.parse().expect("a date")
    }

    fn key(authority: &str) -> RecordKey {
        RecordKey {
            kind: "CF".into(),
            jurisdiction: "350102".into(),
            authority_code: authority.into(),
            record_no: "1".into(),
        }
    }

    fn objection(received: &str, due: &str, resolved: Option<&str>) -> ObjectionState {
        ObjectionState {
            origin: "gulou".into(),
            id: format!("o-{received}-{resolved:?}"),
            key: key("A"),
            ground: ObjectionGround::Wrong,
            statement: String::new(),
            received_by: "gulou".into(),
            received_on: date(received),
            due: date(due),
            filed_seq: 1,
            resolution: resolved.map(|on| Resolution {
                outcome: ObjectionOutcome::Rejected,
                explanation: String::new(),
                seq: 2,
                on: Some(date(on)),
            }),
        }
    }

    fn timely(origin: &str, authority: &str, on_time: u64, late: u64) -> TimelinessRow {
        TimelinessRow {
            origin: origin.into(),
            authority: authority.into(),
            kind: "CF".into(),
            on_time,
            late,
            unmeasured: 0,
            late_records: vec![],
        }
    }

    /// A day's tally: `refused` names one refused record each, the rest
    /// of `submitted` accepted.
    fn tally(
        member: &str,
        day: &str,
        department: &str,
        submitted: u64,
        refused: &[&str],
    ) -> (String, DayTally) {
        let mut t = Tally {
            submitted,
            accepted: submitted - refused.len() as u64,
            ..Tally::default()
        };
        for field in refused {
            t.refuse(field, "wrong");
        }
        (
            member.into(),
            DayTally {
                day: day.into(),
                department: department.into(),
                tally: t,
            },
        )
    }

    #[test]
    fn departments_add_up_to_their_district_and_cases_count_by_their_due_date() {
        let period = Period {
            from: Some(date("2026-11-01")),
            to: Some(date("2026-11-30")),
        };
        let objections = [
            objection("2026-11-02", "2026-11-13", Some("2026-11-10")), // in time
            objection("2026-11-03", "2026-11-14", Some("2026-11-20")), // late
            objection("2026-11-20", "2026-11-27", None),               // overdue today
            objection("2026-11-28", "2026-12-09", None),               // open, not due
            objection("2026-10-30", "2026-11-10", None),               // before the period
        ];
        let tallies = [
            tally(
                "gulou",
                "2026-11-02",
                "鼓楼区市场监管局",
                10,
                &["subject.code", "CF_CFLB"],
            ),
            tally(
                "gulou",
                "2026-11-09",
                "鼓楼区市场监管局",
                5,
                &["subject.code"],
            ),
            tally("gulou", "2026-11-09", "鼓楼区税务局", 4, &[]),
            tally("mawei", "2026-11-03", "马尾区市场监管局", 2, &["record_no"]),
        ];
        let a = evaluate(
            &[
                timely("gulou", "A", 8, 2),
                timely("gulou", "B", 5, 0),
                timely("taijiang", "C", 0, 1),
            ],
            &objections,
            &[],
            &tallies,
            period,
            date("2026-12-04"),
            7,
        );
        assert_eq!(a.from.as_deref(), Some("2026-11-01"));
        assert_eq!(a.departments.len(), 3);
        let gulou_a = &a.departments[0];
        assert_eq!(gulou_a.authority.as_deref(), Some("A"));
        assert_eq!(
            (gulou_a.published, gulou_a.on_time, gulou_a.late),
            (10, 8, 2)
        );
        assert_eq!(gulou_a.objections, 4);
        assert_eq!(
            (
                gulou_a.objections_in_time,
                gulou_a.objections_late,
                gulou_a.objections_overdue
            ),
            (1, 1, 1)
        );
        assert_eq!(
            a.districts
                .iter()
                .map(|d| (d.origin.as_str(), d.submitted, d.refused))
                .collect::<Vec<_>>(),
            [
                ("gulou", Some(19), Some(3)),
                // Submitted, nothing published yet.
                ("mawei", Some(2), Some(1)),
                // Published, no tally held of it.
                ("taijiang", Some(0), Some(0)),
            ]
        );
        assert!(a.departments.iter().all(|d| d.submitted.is_none()));
        let scjgj = &a.submissions[0];
        assert_eq!(
            (
                scjgj.origin.as_str(),
                scjgj.department.as_str(),
                scjgj.submitted,
                scjgj.accepted,
                scjgj.refused
            ),
            ("gulou", "鼓楼区市场监管局", 15, 12, 3)
        );
        assert_eq!(
            scjgj
                .reasons
                .iter()
                .map(|r| (r.field.as_str(), r.count))
                .collect::<Vec<_>>(),
            [("CF_CFLB", 1), ("subject.code", 2)]
        );
        assert_eq!(a.submissions.len(), 3);
        let gulou = &a.districts[0];
        assert_eq!(
            (gulou.origin.as_str(), gulou.authority.as_deref()),
            ("gulou", None)
        );
        assert_eq!(
            (gulou.published, gulou.on_time, gulou.objections),
            (15, 13, 4)
        );
        assert_eq!(gulou.on_time_rate(), Some(13.0 / 15.0));
        assert_eq!(a.districts[2].on_time_rate(), Some(0.0));
        assert_eq!(a.districts[1].on_time_rate(), None);
        // A department with cases but nothing published has no rate.
        let only_cases = evaluate(&[], &objections, &[], &[], period, date("2026-12-04"), 7);
        assert_eq!(only_cases.districts[0].on_time_rate(), None);
    }

    #[test]
    fn an_unbounded_period_counts_every_case() {
        let objections = [objection("2020-01-02", "2020-01-10", Some("2020-01-05"))];
        let a = evaluate(
            &[],
            &objections,
            &[],
            &[],
            Period::default(),
            date("2026-12-04"),
            7,
        );
        assert_eq!(a.districts[0].objections_in_time, 1);
        assert_eq!(a.from, None);
    }
}
