//! What became of each submitted record: counts, rejection reasons grouped
//! and counted, and the rejected-records file (one JSON object per line
//! with the record's place, its errors and its original text, so that it
//! can be fixed and sent again).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use super::input::Item;

/// One problem with a record, as the node (or the local reader) states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field it concerns, such as `subject.code`.
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

impl Problem {
    /// Problems from the node's `errors` array: `{"field", "problem"}`
    /// objects (a bare string is taken as the problem).
    pub fn from_json(errors: &Value) -> Vec<Problem> {
        let list = errors.as_array().map(Vec::as_slice).unwrap_or_default();
        let mut out: Vec<Problem> = list
            .iter()
            .map(|e| match e {
                Value::String(s) => Problem {
                    field: String::new(),
                    problem: s.clone(),
                },
                other => Problem {
                    field: other["field"].as_str().unwrap_or_default().to_owned(),
                    problem: other["problem"]
                        .as_str()
                        .or_else(|| other["message"].as_str())
                        .map_or_else(|| other.to_string(), str::to_owned),
                },
            })
            .collect();
        if out.is_empty() {
            out.push(Problem {
                field: String::new(),
                problem: "rejected (the node gave no reason)".to_owned(),
            });
        }
        out
    }

    fn text(&self) -> String {
        if self.field.is_empty() {
            self.problem.clone()
        } else {
            format!("{}: {}", self.field, self.problem)
        }
    }
}

/// The reason a problem is grouped under: its text with quoted values,
/// numbers and codes blanked, so that "check character is 'E', expected
/// 'D'" and "… 'X', expected '3'" count as one reason. A number becomes `N`,
/// a word of letters and digits (a code) `…`.
pub fn reason_of(p: &Problem) -> String {
    fn flush(word: &mut String, out: &mut String) {
        if word.bytes().any(|b| b.is_ascii_digit()) {
            out.push(if word.bytes().all(|b| b.is_ascii_digit()) {
                'N'
            } else {
                '…'
            });
        } else {
            out.push_str(word);
        }
        word.clear();
    }
    let mut out = String::new();
    let mut word = String::new();
    let mut quoted: Option<char> = None;
    for c in p.text().chars() {
        if let Some(q) = quoted {
            if c == q {
                out.push(c);
                quoted = None;
            }
            continue;
        }
        if c.is_ascii_alphanumeric() {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut out);
        if c == '\'' || c == '"' {
            out.push(c);
            out.push('…');
            quoted = Some(c);
        } else {
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[derive(Debug, Default)]
struct Reason {
    count: usize,
    example: String,
}

/// Running totals of a submission.
#[derive(Debug)]
pub struct Tally {
    /// Records sent to the node.
    pub sent: usize,
    /// Accepted (new records or new versions).
    pub accepted: usize,
    /// Already the current version.
    pub duplicates: usize,
    /// Refused by the node.
    pub rejected_by_node: usize,
    /// Not readable here, never sent.
    pub rejected_locally: usize,
    /// Accepted records that came with warnings.
    pub warned: usize,
    /// Records with values normalised on reading (older exports' spellings).
    pub normalised: usize,
    normalisations: HashMap<String, Reason>,
    reasons: HashMap<String, Reason>,
    rejected_path: PathBuf,
    rejected_out: Option<BufWriter<File>>,
}

impl Tally {
    /// A tally writing rejected records to `rejected_path` (created on the first one).
    pub fn new(rejected_path: PathBuf) -> Tally {
        Tally {
            sent: 0,
            accepted: 0,
            duplicates: 0,
            rejected_by_node: 0,
            rejected_locally: 0,
            warned: 0,
            normalised: 0,
            normalisations: HashMap::new(),
            reasons: HashMap::new(),
            rejected_path,
            rejected_out: None,
        }
    }

    /// Records rejected, here or by the node.
    pub fn rejected(&self) -> usize {
        self.rejected_by_node + self.rejected_locally
    }

    /// Notes the values of `item` normalised on reading, by column.
    pub fn normalised(&mut self, item: &Item) {
        if item.warnings.is_empty() {
            return;
        }
        self.normalised += 1;
        for w in &item.warnings {
            let column = w.split(':').next().unwrap_or_default().to_owned();
            let entry = self.normalisations.entry(column).or_default();
            entry.count += 1;
            if entry.example.is_empty() {
                entry.example = format!("{}: {w}", item.place());
            }
        }
    }

    /// Notes a record that could not be read here.
    pub fn reject_locally(&mut self, item: &Item, why: &str) -> Result<()> {
        self.rejected_locally += 1;
        let problems = [Problem {
            field: String::new(),
            problem: why.to_owned(),
        }];
        self.reject(item, &problems)
    }

    /// Notes a record the node rejected.
    pub fn reject_by_node(&mut self, item: &Item, problems: &[Problem]) -> Result<()> {
        self.rejected_by_node += 1;
        self.reject(item, problems)
    }

    fn reject(&mut self, item: &Item, problems: &[Problem]) -> Result<()> {
        let mut seen = Vec::new();
        for p in problems {
            let reason = reason_of(p);
            if seen.contains(&reason) {
                continue;
            }
            let entry = self.reasons.entry(reason.clone()).or_default();
            entry.count += 1;
            if entry.example.is_empty() {
                entry.example = format!("{}: {}", item.place(), p.text());
            }
            seen.push(reason);
        }
        let line = json!({
            "index": item.index,
            "line": item.line,
            "errors": problems.iter().map(|p| json!({"field": p.field, "problem": p.problem})).collect::<Vec<_>>(),
            "input": item.input(),
            "record": item.mapped,
        });
        if self.rejected_out.is_none() {
            let f = File::create(&self.rejected_path)
                .with_context(|| format!("cannot create {}", self.rejected_path.display()))?;
            self.rejected_out = Some(BufWriter::new(f));
        }
        if let Some(out) = &mut self.rejected_out {
            writeln!(out, "{line}")
                .with_context(|| format!("cannot write {}", self.rejected_path.display()))?;
        }
        Ok(())
    }

    /// Flushes the rejected-records file.
    pub fn finish(&mut self) -> Result<()> {
        if let Some(out) = &mut self.rejected_out {
            out.flush()
                .with_context(|| format!("cannot write {}", self.rejected_path.display()))?;
        }
        Ok(())
    }

    /// The summary shown at the end: totals, then the ten most common
    /// rejection reasons with an example each.
    pub fn summary(&self, source: &str, url: &str, total: usize) -> String {
        let mut out = format!(
            "{} of {total} records from {} sent to {url}: {} accepted, {} duplicates, {} rejected",
            self.sent,
            source,
            self.accepted,
            self.duplicates,
            self.rejected()
        );
        if self.rejected_locally > 0 {
            out.push_str(&format!(
                " ({} of them unreadable here, never sent)",
                self.rejected_locally
            ));
        }
        out.push('\n');
        if self.warned > 0 {
            out.push_str(&format!(
                "{} accepted records came with warnings\n",
                self.warned
            ));
        }
        if self.normalised > 0 {
            let mut by_column: Vec<(&String, &Reason)> = self.normalisations.iter().collect();
            by_column.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
            out.push_str(&format!(
                "warnings: {} records had values of older exports, normalised on reading:\n",
                self.normalised
            ));
            for (column, r) in by_column.iter().take(10) {
                out.push_str(&format!("  {:>7}  {column}\n", r.count));
                out.push_str(&format!("           e.g. {}\n", r.example));
            }
        }
        if self.reasons.is_empty() {
            return out;
        }
        let mut reasons: Vec<(&String, &Reason)> = self.reasons.iter().collect();
        reasons.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
        let shown = reasons.len().min(10);
        out.push_str(&format!(
            "rejection reasons (top {shown} of {}):\n",
            reasons.len()
        ));
        for (reason, r) in &reasons[..shown] {
            out.push_str(&format!("  {:>7}  {reason}\n", r.count));
            out.push_str(&format!("           e.g. {}\n", r.example));
        }
        if self.rejected_out.is_some() {
            out.push_str(&format!(
                "rejected records written to {}\n",
                self.rejected_path.display()
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_blank_values_and_numbers() {
        let p = Problem {
            field: "subject.code".into(),
            problem: "check character is 'E', expected 'D'".into(),
        };
        assert_eq!(
            reason_of(&p),
            "subject.code: check character is '…', expected '…'"
        );
        let p = Problem {
            field: "record_no".into(),
            problem: "longer than 128 characters".into(),
        };
        assert_eq!(reason_of(&p), "record_no: longer than N characters");
        let p = Problem {
            field: "fields".into(),
            problem: "XK.XK_LYDWDM (代码): 11350102MB0123456X fails (GB 32100-2015)".into(),
        };
        assert_eq!(
            reason_of(&p),
            "fields: XK.XK_LYDWDM (代码): … fails (GB N-N)"
        );
        let from =
            Problem::from_json(&serde_json::json!([{"field": "kind", "problem": "x"}, "bare"]));
        assert_eq!(from.len(), 2);
        assert_eq!(from[1].problem, "bare");
    }
}
