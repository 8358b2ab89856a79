//! Reading an ingest body with bounded memory, and bounding what is said
//! back about it.
//!
//! An ingest body is at most `max_body_bytes`; everything built from it
//! must stay a small multiple of that. So the body is read into one buffer
//! sized from its declared length, split into one borrowed slice per record
//! (the count checked while splitting, before any record is looked at),
//! and each record is parsed into a JSON value only when it is checked,
//! then dropped. Error lists are capped per record and per answer, and each
//! message is cut to a fixed length: a body of junk keys must not become an
//! answer many times its size.

use axum::body::Body;
use serde::Serialize;
use serde::de::{self, Deserializer as _, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Longest JSON text of one record, in bytes. A signed entry is at most
/// 65,535 bytes (docs/protocol.md §3.1); a record whose JSON is longer
/// than this cannot fit one however it is written, and one that is shorter
/// may still not (the committer refuses it, naming its entry's size).
pub const MAX_RECORD_JSON_BYTES: usize = 256 * 1024;
/// Most errors listed for one rejected record; the rest are counted.
pub const MAX_ERRORS_PER_RECORD: usize = 10;
/// Most errors listed in one answer; past it each rejected record lists
/// only its first error, and counts the rest.
pub const MAX_ERRORS_PER_ANSWER: usize = 1000;
/// Longest `field` in an error, in characters.
pub const MAX_FIELD_CHARS: usize = 100;
/// Longest `problem` in an error (and message of a whole-request error),
/// in characters: submitted values and unknown keys are echoed, cut here.
pub const MAX_PROBLEM_CHARS: usize = 300;

/// Why a body was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// More bytes than `max_body_bytes`.
    #[error("request body is larger than {limit} bytes ({why}); {fix}")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
        /// Where the limit comes from.
        why: &'static str,
        /// What to do.
        fix: &'static str,
    },
    /// The connection failed while the body was being read.
    #[error("the request body could not be read to its end: {0}")]
    Unreadable(String),
    /// More records than `max_records_per_request`.
    #[error(
        "more than max_records_per_request = {limit} records in one request; split it into smaller requests"
    )]
    TooManyRecords {
        /// The configured limit.
        limit: usize,
    },
    /// Not UTF-8.
    #[error("body is not UTF-8 (invalid byte at offset {offset})")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// Nothing but whitespace.
    #[error("body is empty: send a JSON array of records or JSON Lines")]
    Empty,
    /// A JSON array with a syntax error.
    #[error("body is not a valid JSON array: {error} (line {line}, column {column})")]
    Array {
        /// serde_json's description.
        error: String,
        /// Line of the error, from 1.
        line: usize,
        /// Column of the error, from 1.
        column: usize,
    },
    /// A line of JSON Lines with a syntax error.
    #[error("line {line} is not valid JSON: {error} (column {column})")]
    Line {
        /// Line of the error, from 1.
        line: usize,
        /// serde_json's description.
        error: String,
        /// Column of the error, from 1.
        column: usize,
    },
}

impl BodyError {
    /// Whether the body is refused for its size (413) rather than its form (400).
    pub fn is_too_large(&self) -> bool {
        matches!(
            self,
            BodyError::TooLarge { .. } | BodyError::TooManyRecords { .. }
        )
    }
}

/// A body size limit, and how an answer explains it.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Most bytes.
    pub bytes: usize,
    /// Where the limit comes from, such as `max_body_bytes`.
    pub why: &'static str,
    /// What the client should do.
    pub fix: &'static str,
}

/// Reads the body into one buffer of at most `limit` bytes, refusing it as
/// soon as it grows past. The buffer is sized once from `Content-Length`
/// (when that is within the limit) so that it is not regrown and copied.
pub async fn read_limited(
    body: Body,
    declared: Option<usize>,
    limit: Limit,
) -> Result<Vec<u8>, BodyError> {
    use futures::StreamExt as _;
    let too_large = || BodyError::TooLarge {
        limit: limit.bytes,
        why: limit.why,
        fix: limit.fix,
    };
    if declared.is_some_and(|n| n > limit.bytes) {
        return Err(too_large());
    }
    let mut buf = Vec::with_capacity(declared.unwrap_or(0));
    let mut data = body.into_data_stream();
    while let Some(chunk) = data.next().await {
        let chunk = chunk.map_err(|e| BodyError::Unreadable(e.to_string()))?;
        if buf.len().saturating_add(chunk.len()) > limit.bytes {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// Splits a JSON array or JSON Lines into one raw slice per record,
/// checking the syntax of the whole body and refusing it past `max`
/// records — without building any JSON value.
pub fn split_records(bytes: &[u8], max: usize) -> Result<Vec<&RawValue>, BodyError> {
    let text = std::str::from_utf8(bytes).map_err(|e| BodyError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(BodyError::Empty);
    }
    if trimmed.starts_with('[') {
        split_array(text, max)
    } else {
        split_lines(text, max)
    }
}

fn split_array(text: &str, max: usize) -> Result<Vec<&RawValue>, BodyError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let too_many = std::cell::Cell::new(false);
    let counter = CountedElements {
        max,
        too_many: &too_many,
    };
    let syntax = |e: serde_json::Error| BodyError::Array {
        error: cut(&e.to_string(), MAX_PROBLEM_CHARS),
        line: e.line(),
        column: e.column(),
    };
    let records = match de.deserialize_seq(counter) {
        Ok(records) => records,
        Err(_) if too_many.get() => return Err(BodyError::TooManyRecords { limit: max }),
        Err(e) => return Err(syntax(e)),
    };
    de.end().map_err(syntax)?;
    Ok(records)
}

/// Collects the elements of a JSON array as raw slices, failing at the
/// first element past `max`.
struct CountedElements<'a> {
    max: usize,
    /// Set when the visitor stops for the count, not for the syntax.
    too_many: &'a std::cell::Cell<bool>,
}

impl<'de> Visitor<'de> for CountedElements<'_> {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            if out.len() == self.max {
                self.too_many.set(true);
                return Err(de::Error::custom("too many records"));
            }
            out.push(raw);
        }
        Ok(out)
    }
}

fn split_lines(text: &str, max: usize) -> Result<Vec<&RawValue>, BodyError> {
    let count = text.lines().filter(|l| !l.trim().is_empty()).count();
    if count > max {
        return Err(BodyError::TooManyRecords { limit: max });
    }
    let mut out = Vec::with_capacity(count);
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let raw = serde_json::from_str::<&RawValue>(line).map_err(|e| BodyError::Line {
            line: i + 1,
            error: cut(&e.to_string(), MAX_PROBLEM_CHARS),
            column: e.column(),
        })?;
        out.push(raw);
    }
    Ok(out)
}

/// Parses one record's raw JSON into a value, or says why it cannot be:
/// too long, or nested deeper than serde_json's limit of 128 levels.
pub fn record_value(raw: &RawValue) -> Result<serde_json::Value, String> {
    let text = raw.get();
    if text.len() > MAX_RECORD_JSON_BYTES {
        return Err(format!(
            "{} bytes of JSON, more than the {MAX_RECORD_JSON_BYTES} bytes one record may take",
            text.len()
        ));
    }
    serde_json::from_str(text).map_err(|e| cut(&format!("not a record: {e}"), MAX_PROBLEM_CHARS))
}

/// One listed error of a rejected record.
#[derive(Debug, Serialize)]
pub struct Problem {
    /// The field, as a JSON path.
    pub field: String,
    /// What is wrong.
    pub problem: String,
    /// For a CSV row, the column (as its header writes it) that gave the
    /// field's value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
}

/// The errors of one rejected record as listed in the answer.
#[derive(Debug)]
pub struct Listed {
    /// The errors listed, at least one.
    pub errors: Vec<Problem>,
    /// How many more the record has.
    pub omitted: usize,
}

/// Hands out the answer's error budget record by record.
#[derive(Debug, Default)]
pub struct ErrorBudget {
    listed: usize,
}

impl ErrorBudget {
    /// Lists the first errors of one record — up to
    /// [`MAX_ERRORS_PER_RECORD`], or just one once the answer has listed
    /// [`MAX_ERRORS_PER_ANSWER`] — each cut to the length limits.
    pub fn list(&mut self, errors: impl ExactSizeIterator<Item = (String, String)>) -> Listed {
        let total = errors.len();
        let room = MAX_ERRORS_PER_ANSWER
            .saturating_sub(self.listed)
            .clamp(1, MAX_ERRORS_PER_RECORD);
        let errors: Vec<Problem> = errors
            .take(room)
            .map(|(field, problem)| Problem {
                field: cut(&field, MAX_FIELD_CHARS),
                problem: cut(&problem, MAX_PROBLEM_CHARS),
                column: None,
            })
            .collect();
        self.listed += errors.len();
        Listed {
            omitted: total - errors.len(),
            errors,
        }
    }
}

/// `s` cut to at most `max` characters, an ellipsis marking a cut.
pub fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max.saturating_sub(1)) {
        Some((at, _)) if s[at..].chars().nth(1).is_some() => format!("{}…", &s[..at]),
        _ => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(body: &str, max: usize) -> Result<Vec<String>, BodyError> {
        split_records(body.as_bytes(), max).map(|v| v.iter().map(|r| r.get().to_owned()).collect())
    }

    #[test]
    fn arrays_and_lines_split_into_raw_records() {
        assert_eq!(
            split(" [ {\"a\": 1} , 2 ]\n", 5).unwrap(),
            ["{\"a\": 1}", "2"]
        );
        assert_eq!(split("[]", 5).unwrap(), Vec::<String>::new());
        assert_eq!(
            split("{\"a\":1}\n\n  \n[1]\n", 5).unwrap(),
            ["{\"a\":1}", "[1]"]
        );
    }

    #[test]
    fn the_count_is_checked_before_the_rest_is_read() {
        // The syntax error after the third element is never reached.
        let e = split("[1,2,3,", 2).unwrap_err();
        assert!(matches!(e, BodyError::TooManyRecords { limit: 2 }), "{e}");
        let e = split("1\n2\n3\n{", 2).unwrap_err();
        assert!(matches!(e, BodyError::TooManyRecords { limit: 2 }), "{e}");
        assert_eq!(split("[1,2]", 2).unwrap().len(), 2);
    }

    #[test]
    fn syntax_errors_name_the_place() {
        let e = split("[1,\n{\"a\" 2}]", 5).unwrap_err();
        assert!(matches!(e, BodyError::Array { line: 2, .. }), "{e}");
        let e = split("[1] [2]", 5).unwrap_err();
        assert!(matches!(e, BodyError::Array { .. }), "{e}");
        let e = split("1\n\n{\"a\":\n", 5).unwrap_err();
        assert!(matches!(e, BodyError::Line { line: 3, .. }), "{e}");
        assert!(matches!(split(" \n", 5), Err(BodyError::Empty)));
        assert!(matches!(
            split_records(b"[\"\xff\"]", 5),
            Err(BodyError::NotUtf8 { offset: 2 })
        ));
    }

    #[test]
    fn deep_nesting_is_refused_per_record_not_by_overflowing_the_stack() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let body = format!("[{deep}]");
        let records = split_records(body.as_bytes(), 5).unwrap();
        let e = record_value(records[0]).unwrap_err();
        assert!(e.contains("recursion limit"), "{e}");
    }

    #[test]
    fn a_long_record_is_refused_without_being_parsed() {
        let long = format!("{{\"x\": \"{}\"}}", "a".repeat(MAX_RECORD_JSON_BYTES));
        let body = format!("[{long}]");
        let records = split_records(body.as_bytes(), 5).unwrap();
        let e = record_value(records[0]).unwrap_err();
        assert!(e.contains("bytes of JSON"), "{e}");
    }

    #[test]
    fn error_lists_are_capped_per_record_and_per_answer() {
        let many = |n: usize| (0..n).map(|i| (format!("k{i}"), "unknown key".to_owned()));
        let mut budget = ErrorBudget::default();
        let first = budget.list(many(1_000_000).collect::<Vec<_>>().into_iter());
        assert_eq!(first.errors.len(), MAX_ERRORS_PER_RECORD);
        assert_eq!(first.omitted, 1_000_000 - MAX_ERRORS_PER_RECORD);
        for _ in 1..MAX_ERRORS_PER_ANSWER / MAX_ERRORS_PER_RECORD {
            budget.list(many(20).collect::<Vec<_>>().into_iter());
        }
        let late = budget.list(many(20).collect::<Vec<_>>().into_iter());
        assert_eq!((late.errors.len(), late.omitted), (1, 19));
        let one = budget.list(many(1).collect::<Vec<_>>().into_iter());
        assert_eq!((one.errors.len(), one.omitted), (1, 0));
    }

    #[test]
    fn cut_keeps_short_text_and_marks_a_cut() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcd", 3), "ab…");
        assert_eq!(cut("榕信榕信", 3), "榕信…");
        assert_eq!(cut("", 3), "");
        assert_eq!(
            cut(&"x".repeat(1000), MAX_PROBLEM_CHARS).chars().count(),
            MAX_PROBLEM_CHARS
        );
    }
}
