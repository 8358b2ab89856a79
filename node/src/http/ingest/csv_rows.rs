//! `POST /v1/records` with a double-publicity CSV body (`text/csv`,
//! `?kind=XK|CF`): the file is read as `rongxinctl submit` reads it
//! (`rongxin_protocol::dpcsv`), and each row mapped to a record goes
//! through the checks of a JSON record. A row that cannot be mapped is
//! refused alone, naming its column; a header the node cannot map refuses
//! the file, naming the column.

use std::io::Cursor;

use rongxin_protocol::dpcsv::{CsvFile, FileKind, Header, Mapper};
use rongxin_protocol::value::Date;

use super::body::{BodyError, MAX_FIELD_CHARS, MAX_PROBLEM_CHARS, cut};
use super::{Checked, body_error, check_mapped};
use crate::config::Department;
use crate::http::{ApiError, AppState};

/// The `kind` query parameter of a CSV body.
pub(super) fn file_kind(kind: Option<&str>) -> Result<FileKind, ApiError> {
    let Some(kind) = kind else {
        return Err(ApiError::bad_request(
            "query parameter kind is required with text/csv: kind=XK for a licensing file, kind=CF for a penalty file",
        ));
    };
    kind.parse::<FileKind>().map_err(|e| {
        ApiError::bad_request(cut(
            &format!("query parameter kind: {e}"),
            MAX_PROBLEM_CHARS,
        ))
    })
}

/// Reads the CSV body and checks each row into `checked`; returns the
/// encoding it was read in. Refuses the whole body (nothing is signed) for
/// a header that cannot be mapped, more rows than
/// `max_records_per_request`, or CSV that cannot be split into rows.
pub(super) fn check_rows(
    state: &AppState,
    dept: &Department,
    bytes: &[u8],
    file: FileKind,
    jurisdiction: Option<&str>,
    today: Date,
    checked: &mut Checked,
) -> Result<&'static str, ApiError> {
    let catalog = &state.config.catalog;
    let max = state.config.max_records_per_request;
    let unreadable = |e: csv::Error| {
        let at = e
            .position()
            .map(|p| format!(" (line {})", p.line()))
            .unwrap_or_default();
        ApiError::bad_request(cut(&format!("body is not CSV{at}: {e}"), MAX_PROBLEM_CHARS))
    };
    // Reading from memory: the only errors are the CSV's own.
    let mut reader = CsvFile::open(Box::new(Cursor::new(bytes)))
        .map_err(|e| ApiError::bad_request(format!("body cannot be read: {e}")))?;
    let encoding = reader.encoding;
    let header = reader.headers().map_err(unreadable)?;
    let header = Header::new(header)
        .and_then(|h| h.check_for(file, catalog).map(|()| h))
        .map_err(|e| {
            ApiError::bad_request(cut(
                &format!("the CSV header cannot be mapped: {e}"),
                MAX_PROBLEM_CHARS,
            ))
        })?;
    let mut mapper = Mapper::new(header, Some(catalog), jurisdiction, Some(file));
    let mut raw = csv::ByteRecord::new();
    let mut rows = 0usize;
    while let Some(line) = reader.read(&mut raw).map_err(unreadable)? {
        rows += 1;
        if rows > max {
            return Err(body_error(BodyError::TooManyRecords { limit: max }));
        }
        let line = Some(line);
        let mut warnings = Vec::new();
        let mapped = mapper.map(&raw, &mut warnings);
        let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        match mapped {
            Err(e) => {
                let column = e.column.map(|c| cut(&c, MAX_FIELD_CHARS));
                let errors = vec![(e.field.to_owned(), e.problem)];
                if let Some(result) = checked.add(state, dept, line, Err(errors), warnings)
                    && let Some(first) = result.errors.as_mut().and_then(|e| e.first_mut())
                {
                    first.column = column;
                }
            }
            Ok(record) => {
                let kind = record.kind.clone();
                let outcome = check_mapped(record, catalog, today);
                if let Some(result) = checked.add(state, dept, line, outcome, warnings) {
                    for problem in result.errors.iter_mut().flatten() {
                        problem.column = mapper
                            .column_of(&raw, &kind, &problem.field)
                            .map(|c| cut(&c, MAX_FIELD_CHARS));
                    }
                }
            }
        }
    }
    Ok(encoding)
}
