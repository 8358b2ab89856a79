//! Reading the records to submit: JSON Lines (or one JSON array), or CSV
//! files in the 双公示 column codes (domain.md §3.2), mapped to the ingest
//! format of docs/api.md by `rongxin_protocol::dpcsv` (the mapping the
//! node's `text/csv` ingest uses too). Each record becomes an [`Item`] that
//! either holds what to send or says why it could not be read; one bad
//! line never stops the rest.
//!
//! A CSV file of one kind (licences or penalties, by its header) is sent
//! as it is: each row's text (decoded to UTF-8) goes to the node as
//! `text/csv`, which maps it with the same code, so that no row is encoded
//! and parsed again as JSON. Rows are still mapped here, so that a row
//! that cannot be mapped is refused without being sent, and the values
//! normalised on reading and the rejected-records file stay as they were.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use rongxin_protocol::catalog::Catalog;
use rongxin_protocol::dpcsv::{self, CsvFile, FileKind, Header, MappedRecord, Mapper};
use serde_json::Value;

#[cfg(test)]
pub use rongxin_protocol::dpcsv::normalise_date;

/// One record of the input file.
#[derive(Debug, Clone)]
pub struct Item {
    /// Position among the file's records, from 0.
    pub index: usize,
    /// Line of the file where it starts, from 1 (none inside a JSON array).
    pub line: Option<usize>,
    /// The original text (a JSON line, or the CSV row); empty for a CSV
    /// row sent as text (see [`Item::input`]).
    pub text: String,
    /// What to send for the record, or why it could not be read.
    pub payload: Result<Payload, String>,
    /// The record as mapped from CSV, kept for the rejected-records file.
    pub mapped: Option<MappedRecord>,
    /// Values normalised on reading (older exports' spellings), each with
    /// its column.
    pub warnings: Vec<String>,
}

/// What is sent for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// The record as one JSON line.
    Json(String),
    /// The CSV row's text (UTF-8; with the line ends around it), sent
    /// under its file's header as `text/csv`.
    Csv(Vec<u8>),
}

impl Payload {
    /// The JSON line, if the record is sent as JSON.
    pub fn json(&self) -> Option<&str> {
        match self {
            Payload::Json(line) => Some(line),
            Payload::Csv(_) => None,
        }
    }
}

impl Item {
    /// The original text, for the rejected-records file: a CSV row sent as
    /// text is written out as the other rows are (the csv crate's quoting).
    pub fn input(&self) -> String {
        match &self.payload {
            Ok(Payload::Csv(text)) if self.text.is_empty() => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(text.as_slice());
                let mut raw = csv::ByteRecord::new();
                match reader.read_byte_record(&mut raw) {
                    Ok(true) => original_text(&raw),
                    _ => String::from_utf8_lossy(text).trim().to_owned(),
                }
            }
            _ => self.text.clone(),
        }
    }

    /// `line 17` or `record 17` (1-based) for messages.
    pub fn place(&self) -> String {
        match self.line {
            Some(l) => format!("line {l}"),
            None => format!("record {}", self.index + 1),
        }
    }
}

/// Whether `path` is read as CSV (by its extension).
pub fn is_csv(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// The records of one input file, read one at a time.
pub struct Input<'a> {
    /// How many records the file holds (blank lines not counted).
    pub total: usize,
    /// The text encoding the file was read in (`UTF-8`, `GB18030`, …).
    pub encoding: &'static str,
    /// For a CSV file whose rows are sent as text: its kind and its
    /// header's text (UTF-8, with its line end), which starts each request.
    pub csv_rows: Option<(FileKind, Vec<u8>)>,
    /// Columns of the file read and not kept (an older template's `SJC`),
    /// each with why, for the tool to say once.
    pub skipped: Vec<(String, &'static str)>,
    source: Source<'a>,
    index: usize,
}

impl std::fmt::Debug for Input<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("total", &self.total)
            .field("index", &self.index)
            .finish()
    }
}

enum Source<'a> {
    Lines {
        reader: Box<dyn BufRead + 'a>,
        line: usize,
    },
    Array(std::vec::IntoIter<Value>),
    Csv {
        file: Box<CsvFile<'a>>,
        mapper: Box<Mapper<'a>>,
        /// Sending rows as text: the file's kind, and the next row (read
        /// ahead, since a row's text ends where the next one starts).
        as_text: Option<(FileKind, Option<(u64, csv::ByteRecord)>)>,
    },
}

impl<'a> Input<'a> {
    /// Opens `path`: CSV by its extension, JSON Lines otherwise (or one
    /// JSON array when the first non-blank character is `[`). CSV values
    /// are typed by `catalog`; `jurisdiction` fills rows without DFBM /
    /// JURISDICTION. The file is read once here to count its records;
    /// standard input (`-`, always JSON) and other streams that cannot be
    /// read twice are held in memory for that.
    pub fn open(
        path: &Path,
        catalog: Option<&'a Catalog>,
        jurisdiction: Option<&'a str>,
    ) -> Result<Input<'a>> {
        let stdin = path == Path::new("-");
        let regular = !stdin && std::fs::metadata(path).is_ok_and(|m| m.is_file());
        let held: Option<Arc<[u8]>> = if regular {
            None
        } else {
            let mut bytes = Vec::new();
            let read = if stdin {
                std::io::stdin().lock().read_to_end(&mut bytes)
            } else {
                File::open(path).and_then(|mut f| f.read_to_end(&mut bytes))
            };
            read.with_context(|| format!("cannot read {}", path.display()))?;
            Some(bytes.into())
        };
        let open = || -> Result<Box<dyn Read + 'a>> {
            match &held {
                Some(bytes) => Ok(Box::new(Cursor::new(Arc::clone(bytes)))),
                None => {
                    Ok(Box::new(File::open(path).with_context(|| {
                        format!("cannot read {}", path.display())
                    })?))
                }
            }
        };
        if is_csv(path) {
            let total = count_csv(open()?)
                .with_context(|| format!("cannot read {} as CSV", path.display()))?;
            let mut input = Input::csv(open()?, catalog, jurisdiction)
                .with_context(|| format!("cannot read {} as CSV", path.display()))?;
            input.total = total;
            Ok(input)
        } else {
            let total = count_lines(BufReader::new(open()?))
                .with_context(|| format!("cannot read {}", path.display()))?;
            let mut input = Input::json(Box::new(BufReader::new(open()?)))
                .with_context(|| format!("cannot read {}", path.display()))?;
            if matches!(input.source, Source::Lines { .. }) {
                input.total = total;
            }
            Ok(input)
        }
    }

    /// JSON Lines from `reader`, or a JSON array if it starts with `[`
    /// (then `total` is exact; for lines it is left 0 for the caller).
    pub fn json(mut reader: Box<dyn BufRead + 'a>) -> Result<Input<'a>> {
        let first = loop {
            let buf = reader.fill_buf()?;
            match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => break Some(buf[i]),
                None if buf.is_empty() => break None,
                None => {
                    let n = buf.len();
                    reader.consume(n);
                }
            }
        };
        if first == Some(b'[') {
            let values: Vec<Value> = serde_json::from_reader(reader)
                .context("the file starts with '[' but is not a JSON array of records")?;
            return Ok(Input {
                total: values.len(),
                encoding: "UTF-8",
                csv_rows: None,
                skipped: Vec::new(),
                source: Source::Array(values.into_iter()),
                index: 0,
            });
        }
        Ok(Input {
            total: 0,
            encoding: "UTF-8",
            csv_rows: None,
            skipped: Vec::new(),
            source: Source::Lines { reader, line: 0 },
            index: 0,
        })
    }

    /// CSV rows from `reader` (header first). They are sent as text when
    /// the file is of one kind by its header and every column means
    /// something for that kind in `catalog` (as the node checks a
    /// `text/csv` header); otherwise, and for a row whose `KIND` is not of
    /// the file's kind (which the node would refuse in a `text/csv` body),
    /// each row is mapped here and sent as JSON.
    pub fn csv(
        reader: Box<dyn Read + 'a>,
        catalog: Option<&'a Catalog>,
        jurisdiction: Option<&'a str>,
    ) -> Result<Input<'a>> {
        let mut file = CsvFile::open_keeping_text(reader)?;
        let header = Header::new(file.headers()?)?;
        let skipped = header
            .skipped()
            .into_iter()
            .map(|(column, why)| (column.to_owned(), why))
            .collect();
        let kind = header
            .file_kind()
            .filter(|&k| catalog.is_some_and(|c| header.check_for(k, c).is_ok()));
        let mut csv_rows = None;
        let as_text = match kind {
            None => None,
            Some(kind) => {
                let mut raw = csv::ByteRecord::new();
                let first = file.read(&mut raw)?.map(|line| (line, raw));
                let mut header_text = Vec::new();
                file.take_text(row_start(first.as_ref()), &mut header_text);
                csv_rows = Some((kind, header_text));
                Some((kind, first))
            }
        };
        Ok(Input {
            total: 0,
            encoding: file.encoding,
            csv_rows,
            skipped,
            source: Source::Csv {
                file: Box::new(file),
                mapper: Box::new(Mapper::new(header, catalog, jurisdiction, None)),
                as_text,
            },
            index: 0,
        })
    }

    fn next_item(&mut self) -> Result<Option<Item>> {
        let index = self.index;
        let item = match &mut self.source {
            Source::Array(values) => {
                let Some(v) = values.next() else {
                    return Ok(None);
                };
                let text = v.to_string();
                let payload = if v.is_object() {
                    Ok(Payload::Json(text.clone()))
                } else {
                    Err(format!(
                        "expected a record (a JSON object), got {}",
                        json_kind(&v)
                    ))
                };
                Item {
                    index,
                    line: None,
                    text,
                    payload,
                    mapped: None,
                    warnings: Vec::new(),
                }
            }
            Source::Lines { reader, line } => {
                let mut raw = Vec::new();
                let text = loop {
                    raw.clear();
                    if reader.read_until(b'\n', &mut raw)? == 0 {
                        return Ok(None);
                    }
                    *line += 1;
                    let text = String::from_utf8_lossy(&raw);
                    let t = text.trim().trim_start_matches('\u{feff}');
                    if !t.is_empty() {
                        break t.to_owned();
                    }
                };
                let payload = if std::str::from_utf8(&raw).is_err() {
                    Err("not valid UTF-8".to_owned())
                } else {
                    match serde_json::from_str::<Value>(&text) {
                        Ok(v) if v.is_object() => Ok(Payload::Json(text.clone())),
                        Ok(v) => Err(format!(
                            "expected a record (a JSON object) on each line, got {}",
                            json_kind(&v)
                        )),
                        Err(e) => Err(format!("not valid JSON: {e}")),
                    }
                };
                Item {
                    index,
                    line: Some(*line),
                    text,
                    payload,
                    mapped: None,
                    warnings: Vec::new(),
                }
            }
            Source::Csv {
                file,
                mapper,
                as_text: None,
            } => {
                let mut raw = csv::ByteRecord::new();
                let Some(line) = file.read(&mut raw)? else {
                    return Ok(None);
                };
                let line = Some(line as usize);
                let mut warnings = Vec::new();
                let mapped = mapper.map(&raw, &mut warnings);
                let payload = match &mapped {
                    Ok(record) => json_line(record),
                    Err(e) => Err(e.to_string()),
                };
                Item {
                    index,
                    line,
                    text: original_text(&raw),
                    payload,
                    mapped: mapped.ok(),
                    warnings: warnings.iter().map(ToString::to_string).collect(),
                }
            }
            Source::Csv {
                file,
                mapper,
                as_text: Some((kind, ahead)),
            } => {
                let Some((line, raw)) = ahead.take() else {
                    return Ok(None);
                };
                let mut next = csv::ByteRecord::new();
                *ahead = file.read(&mut next)?.map(|line| (line, next));
                let mut text = Vec::new();
                file.take_text(row_start(ahead.as_ref()), &mut text);
                let mut warnings = Vec::new();
                let mapped = mapper.map(&raw, &mut warnings);
                // The node maps the row as this tool did when the row's
                // kind is of the file's kind; and it reads the text as
                // UTF-8 when all of it is.
                let payload = match &mapped {
                    Ok(record)
                        if kind.holds(&record.kind, mapper.catalog())
                            && std::str::from_utf8(&text).is_ok() =>
                    {
                        Ok(Payload::Csv(text))
                    }
                    Ok(record) => json_line(record),
                    Err(e) => Err(e.to_string()),
                };
                Item {
                    index,
                    line: Some(line as usize),
                    text: match payload {
                        Ok(Payload::Csv(_)) => String::new(),
                        _ => original_text(&raw),
                    },
                    payload,
                    mapped: mapped.ok(),
                    warnings: warnings.iter().map(ToString::to_string).collect(),
                }
            }
        };
        self.index += 1;
        Ok(Some(item))
    }
}

impl Iterator for Input<'_> {
    type Item = Result<Item>;

    fn next(&mut self) -> Option<Result<Item>> {
        self.next_item().transpose()
    }
}

/// A mapped record as one JSON line.
fn json_line(record: &MappedRecord) -> Result<Payload, String> {
    serde_json::to_string(record)
        .map(Payload::Json)
        .map_err(|e| e.to_string())
}

/// Where a row read ahead starts in the decoded text (none at the end).
fn row_start(row: Option<&(u64, csv::ByteRecord)>) -> Option<u64> {
    row.and_then(|(_, raw)| raw.position())
        .map(csv::Position::byte)
}

fn count_lines(mut reader: impl BufRead) -> Result<usize> {
    let mut n = 0;
    let mut raw = Vec::new();
    loop {
        raw.clear();
        if reader.read_until(b'\n', &mut raw)? == 0 {
            return Ok(n);
        }
        if raw.iter().any(|b| !b.is_ascii_whitespace()) {
            n += 1;
        }
    }
}

fn count_csv(reader: impl Read) -> Result<usize> {
    let mut csv = dpcsv::csv_reader(reader);
    let mut raw = csv::ByteRecord::new();
    let mut n = 0;
    while csv.read_byte_record(&mut raw)? {
        n += 1;
    }
    Ok(n)
}

fn json_kind(v: &Value) -> &'static str {
    rongxin_protocol::record::json_type(v)
}

/// The row as CSV text again, for the rejected-records file.
fn original_text(raw: &csv::ByteRecord) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let _ = w.write_byte_record(raw);
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).trim_end().to_owned()
}
