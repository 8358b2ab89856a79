//! Double-publicity (双公示) CSV files as departments export them, mapped
//! row by row to records in the ingest format (docs/double-publicity.md §2).
//!
//! One implementation for `rongxinctl submit` and the node's `POST
//! /v1/records` with `text/csv`: the text encoding ([`decoded`]), the
//! header (column codes in any case, the 2015 templates' codes, Chinese
//! column names: [`Header`]), and each row ([`Mapper`]) — values of older
//! exports normalised with a [`Warning`], a row that cannot be read
//! refused alone with a [`RowError`] naming its column. What comes out is
//! a [`MappedRecord`], the ingest format's JSON object as a type; the
//! record's own checks (catalog, codes, validation) stay in
//! [`crate::record`], the same for every record however it arrived.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;

use crate::catalog::Catalog;
use crate::record::{Record, RecordError, Texts};
use crate::tier::Tier;

mod file;
mod header;
mod mapper;

pub use file::{CsvFile, SNIFF_BYTES, csv_reader, decoded};
pub use header::Header;
pub use mapper::{Mapper, normalise_date};

/// Keys of an object in the standard's columns that are not columns: the
/// publicity window `GET /v1/export/double-publicity?format=jsonl` adds,
/// which the node works out again from the record.
const NOT_COLUMNS: [&str; 1] = ["publicity"];

/// The ingest format's keys that no column has: a record with one of them
/// is in the ingest format (and told what else it lacks as such).
const INGEST_PARTS: [&str; 3] = ["subject", "authority", "fields"];

/// Whether a JSON record is written in the standard's columns (a flat
/// object of column codes or Chinese column names, as departments export
/// JSON and as the node's `format=jsonl` export writes it) rather than in
/// the ingest format, whose records have `subject`, `authority` and
/// `fields` objects.
pub fn in_columns(object: &serde_json::Map<String, Value>) -> bool {
    !INGEST_PARTS.iter().any(|k| object.contains_key(*k))
}

/// Maps one JSON object in the standard's columns as a CSV row under a
/// header of its keys: the same codes and names, normalised values with a
/// [`Warning`], and refusals naming the key. A value is text, a number
/// (written as JSON writes it) or `null` (an empty cell).
pub fn map_object(
    object: &serde_json::Map<String, Value>,
    catalog: Option<&Catalog>,
    jurisdiction: Option<&str>,
    warnings: &mut Vec<Warning>,
) -> Result<MappedRecord, RowError> {
    let (header, cells) = object_row(object)?;
    let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
    Mapper::new(header, catalog, jurisdiction, None).map_cells(&cells, warnings)
}

/// The key of `object` (mapped by [`map_object`] to a record of `kind`)
/// that gave the record's value at `path` (`subject.code`,
/// `fields.CF_NR_FK`, …), so that an error the record's check finds can
/// name it, as a CSV row's names its column.
pub fn key_of(
    object: &serde_json::Map<String, Value>,
    catalog: Option<&Catalog>,
    kind: &str,
    path: &str,
) -> Option<String> {
    let (header, cells) = object_row(object).ok()?;
    let raw = csv::ByteRecord::from(cells);
    Mapper::new(header, catalog, None, None).column_of(&raw, kind, path)
}

/// An object's columns as a header and a row of cells.
fn object_row(object: &serde_json::Map<String, Value>) -> Result<(Header, Vec<String>), RowError> {
    let mut keys = Vec::with_capacity(object.len());
    let mut cells = Vec::with_capacity(object.len());
    for (key, value) in object {
        if NOT_COLUMNS.contains(&key.as_str()) {
            continue;
        }
        let cell = match value {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            Value::Null => String::new(),
            other => {
                return Err(RowError {
                    field: "row",
                    column: Some(key.clone()),
                    problem: format!(
                        "a column's value is text, a number or null, not {}",
                        crate::record::json_type(other)
                    ),
                });
            }
        };
        keys.push(key.as_str());
        cells.push(cell);
    }
    let header = Header::new(keys.iter().copied()).map_err(|e| RowError {
        field: "row",
        column: match &e {
            HeaderError::Unmapped { column, .. } => Some(column.clone()),
            HeaderError::Missing(_) => None,
        },
        problem: match &e {
            HeaderError::Missing(what) => format!(
                "a record in the standard's columns needs: {}",
                what.join("; ")
            ),
            HeaderError::Unmapped { .. } => format!("a record in the standard's columns: {e}"),
        },
    })?;
    Ok((header, cells))
}

/// The kind of a whole file, as a department exports it: licences, or
/// penalties (whose rows each take their tier's kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// 行政许可, kind `XK`.
    Licensing,
    /// 行政处罚, kinds `CF_QW`, `CF`, `CF_YZ` by tier.
    Penalty,
}

impl FileKind {
    /// `XK` or `CF`, as the query parameter and the export name them.
    pub fn code(self) -> &'static str {
        match self {
            FileKind::Licensing => "XK",
            FileKind::Penalty => "CF",
        }
    }

    /// The column prefix of this kind's columns in the standard.
    fn prefix(self) -> &'static str {
        match self {
            FileKind::Licensing => "XK_",
            FileKind::Penalty => "CF_",
        }
    }

    /// The kind whose fields type this file's columns.
    fn base_kind(self, catalog: &Catalog) -> &str {
        match (self, catalog.penalty_tiers()) {
            (FileKind::Penalty, Some(pt)) => pt.kind_of(Tier::General),
            _ => self.code(),
        }
    }

    /// Whether a row's `kind` belongs in a file of this kind (without a
    /// catalog: `XK` or `CF`).
    pub fn holds(self, kind: &str, catalog: Option<&Catalog>) -> bool {
        match self {
            FileKind::Licensing => kind == "XK",
            FileKind::Penalty => match catalog.and_then(Catalog::penalty_tiers) {
                Some(pt) => pt.is_penalty_kind(kind),
                None => kind == "CF",
            },
        }
    }
}

impl FromStr for FileKind {
    type Err = String;

    fn from_str(s: &str) -> Result<FileKind, String> {
        match s {
            "XK" => Ok(FileKind::Licensing),
            "CF" => Ok(FileKind::Penalty),
            other => Err(format!(
                "'{other}' is not a double-publicity file kind: use XK (licences) or CF (penalties)"
            )),
        }
    }
}

/// Why a file's header cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// A core column is missing (each entry names what, and the codes
    /// that would give it).
    #[error("the header has no column for: {}", .0.join("; "))]
    Missing(Vec<String>),
    /// A column that no field of the file's kind takes.
    #[error("column '{column}': {problem}")]
    Unmapped {
        /// The column as the header writes it.
        column: String,
        /// Why it cannot be mapped, and what to do.
        problem: String,
    },
}

/// A row that cannot be mapped to a record: the column it concerns and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// What of the record it concerns, as a record path: `kind` when the
    /// row's kind cannot be told, `row` when the row cannot be read.
    pub field: &'static str,
    /// The column as the header writes it, when one column is at fault.
    pub column: Option<String>,
    /// What is wrong and what to do.
    pub problem: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem)
    }
}

impl std::error::Error for RowError {}

/// A value normalised on reading (an older export's spelling).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The field the value fills (`XK_ZT`, `decision date`).
    pub column: String,
    /// What was read as what.
    pub text: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.column, self.text)
    }
}

/// A record mapped from one row, in the ingest format of docs/api.md
/// (serialises as its JSON object). Values missing from the row are left
/// out, so that the record's checks name them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappedRecord {
    /// Catalog kind code.
    pub kind: String,
    /// Jurisdiction (DFBM, or the default given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<String>,
    /// Decision document number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_no: Option<String>,
    /// Decision date, `YYYY-MM-DD` when it could be read as a date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_date: Option<String>,
    /// Who the record is about.
    pub subject: MappedSubject,
    /// Who decided.
    pub authority: MappedAuthority,
    /// The kind's fields, by catalog name.
    pub fields: BTreeMap<String, Cell>,
}

impl MappedRecord {
    /// The record, typed and checked by the catalog exactly as
    /// [`Record::from_json_with_warnings`] would check this record's JSON
    /// object (the same rules, errors and warnings), without building it.
    pub fn into_record(self, catalog: &Catalog) -> Result<(Record, Vec<String>), Vec<RecordError>> {
        let mut errors = Vec::new();
        let mut text = |path: &str, v: Option<String>| -> String {
            v.unwrap_or_else(|| {
                errors.push(RecordError::new(path, "missing"));
                String::new()
            })
        };
        let texts = Texts {
            kind: self.kind,
            jurisdiction: text("jurisdiction", self.jurisdiction),
            record_no: text("record_no", self.record_no),
            decision_date: text("decision_date", self.decision_date),
            class: text("subject.class", self.subject.class),
            subject_code: text("subject.code", self.subject.code),
            subject_name: text("subject.name", self.subject.name),
            authority_name: text("authority.name", self.authority.name),
            authority_code: text("authority.code", self.authority.code),
        };
        let fields = self.fields.into_iter().map(|(name, cell)| {
            let value = match cell {
                Cell::Text(s) => Value::String(s),
                Cell::Integer(i) => Value::from(i),
                Cell::Bool(b) => Value::Bool(b),
            };
            (name, value)
        });
        Record::from_texts(texts, Some(Ok(fields)), errors, catalog)
    }
}

/// `subject` of a [`MappedRecord`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MappedSubject {
    /// `legal_person`, `natural_person`, `individual_business` (or the
    /// cell as written, for the check to name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Credit code or ID number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// 行政相对人名称.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `authority` of a [`MappedRecord`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MappedAuthority {
    /// 许可机关 / 处罚机关.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its credit code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// One field value as the catalog types it; a cell that does not read as
/// its type is kept as text, for the record's check to name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Cell {
    /// Text (also decimals and dates, which the ingest format writes as strings).
    Text(String),
    /// An `integer` field.
    Integer(i64),
    /// A `bool` field.
    Bool(bool),
}

#[cfg(test)]
mod tests;
