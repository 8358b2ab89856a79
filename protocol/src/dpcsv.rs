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

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::io::{Cursor, Read};
use std::rc::Rc;
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;

use crate::catalog::{Catalog, FieldSpec, FieldType, RecordKind};
use crate::person::IdDocument;
use crate::record::{Record, RecordError, Texts};
use crate::tier::Tier;

/// How much of a file without a byte-order mark is looked at to tell
/// UTF-8 from GB18030.
pub const SNIFF_BYTES: usize = 64 << 10;

/// `reader` as UTF-8 text, and the name of the encoding it was read in: a
/// UTF-8 or UTF-16 byte-order mark is honoured (and dropped); without one,
/// a file whose first [`SNIFF_BYTES`] are not UTF-8 is read as GB18030
/// (which includes GBK and GB2312), as Chinese spreadsheet software saves
/// CSV.
pub fn decoded<'a>(
    mut reader: Box<dyn Read + 'a>,
) -> std::io::Result<(Box<dyn Read + 'a>, &'static str)> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    (&mut reader)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)?;
    let bom = encoding_rs::Encoding::for_bom(&head).map(|(e, _)| e);
    let sniffed = match std::str::from_utf8(&head) {
        Ok(_) => None,
        // Cut inside a character at the end of the sample: UTF-8 still.
        Err(e) if e.error_len().is_none() => None,
        Err(_) => Some(encoding_rs::GB18030),
    };
    let name = bom.or(sniffed).map_or("UTF-8", encoding_rs::Encoding::name);
    let decoder = encoding_rs_io::DecodeReaderBytesBuilder::new()
        .encoding(sniffed)
        .bom_override(true)
        .strip_bom(true)
        .build(Cursor::new(head).chain(reader));
    Ok((Box::new(decoder), name))
}

/// A CSV reader as every double-publicity file is read: a header row,
/// rows of any length (a row whose length differs from the header's is
/// refused alone, by [`Mapper::map`]).
pub fn csv_reader<R: Read>(reader: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new().flexible(true).from_reader(reader)
}

/// A double-publicity CSV file being read: its text decoded
/// ([`decoded`]), its rows split by [`csv_reader`], and the line each row
/// starts on counted here (the csv crate counts one line short after a
/// `\r\n`, which is how spreadsheets end lines).
pub struct CsvFile<'a> {
    /// The text encoding the file is read in (`UTF-8`, `gb18030`, …).
    pub encoding: &'static str,
    reader: csv::Reader<Newlines<'a>>,
    newlines: Rc<RefCell<VecDeque<(u64, u64)>>>,
    passed: u64,
    kept: Option<Rc<RefCell<Kept>>>,
}

/// The decoded text read but not yet taken ([`CsvFile::take_text`]).
#[derive(Debug, Default)]
struct Kept {
    /// The offset in the decoded text of `bytes[taken]`.
    at: u64,
    bytes: Vec<u8>,
    taken: usize,
}

impl fmt::Debug for CsvFile<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsvFile")
            .field("encoding", &self.encoding)
            .field("passed", &self.passed)
            .finish_non_exhaustive()
    }
}

impl<'a> CsvFile<'a> {
    /// Starts reading `reader` (its first [`SNIFF_BYTES`] are read to tell
    /// the encoding).
    pub fn open(reader: Box<dyn Read + 'a>) -> std::io::Result<CsvFile<'a>> {
        CsvFile::start(reader, false)
    }

    /// [`CsvFile::open`], keeping the decoded text as it is read, so that
    /// the rows can be taken as text too ([`CsvFile::take_text`]).
    pub fn open_keeping_text(reader: Box<dyn Read + 'a>) -> std::io::Result<CsvFile<'a>> {
        CsvFile::start(reader, true)
    }

    fn start(reader: Box<dyn Read + 'a>, keep: bool) -> std::io::Result<CsvFile<'a>> {
        let (inner, encoding) = decoded(reader)?;
        let newlines = Rc::new(RefCell::new(VecDeque::new()));
        let kept = keep.then(|| Rc::new(RefCell::new(Kept::default())));
        let counted = Newlines {
            inner,
            offset: 0,
            in_run: false,
            seen: Rc::clone(&newlines),
            kept: kept.clone(),
        };
        Ok(CsvFile {
            encoding,
            reader: csv_reader(counted),
            newlines,
            passed: 0,
            kept,
        })
    }

    /// Moves the decoded text (UTF-8, without a byte-order mark) from
    /// where the last call stopped up to offset `end` into `out`: with
    /// `end` a row's start ([`csv::ByteRecord::position`]), the text of
    /// the header or of the rows before it, with the line ends (and blank
    /// lines) that follow, which the csv crate counts as the next row's;
    /// with `None`, everything read so far (at the end of the file, the
    /// last row's).
    /// Takes nothing unless the file was opened with
    /// [`CsvFile::open_keeping_text`].
    pub fn take_text(&mut self, end: Option<u64>, out: &mut Vec<u8>) {
        let Some(kept) = &self.kept else { return };
        let mut kept = kept.borrow_mut();
        let available = kept.bytes.len() - kept.taken;
        let from = kept.taken;
        let mut n = end.map_or(available, |end| {
            usize::try_from(end.saturating_sub(kept.at)).map_or(available, |n| n.min(available))
        });
        while n < available && matches!(kept.bytes[from + n], b'\r' | b'\n') {
            n += 1;
        }
        out.extend_from_slice(&kept.bytes[from..from + n]);
        kept.taken += n;
        kept.at += n as u64;
        // Dropping what was taken now and then keeps this to about a
        // buffer's worth of text without moving it for every row.
        if kept.taken >= (64 << 10) && kept.taken * 2 >= kept.bytes.len() {
            let taken = kept.taken;
            kept.bytes.drain(..taken);
            kept.taken = 0;
        }
    }

    /// The header row.
    pub fn headers(&mut self) -> csv::Result<&csv::StringRecord> {
        self.reader.headers()
    }

    /// Reads the next row into `raw`; returns the line it starts on (from
    /// 1; the header is line 1), or `None` at the end of the file.
    pub fn read(&mut self, raw: &mut csv::ByteRecord) -> csv::Result<Option<u64>> {
        if !self.reader.read_byte_record(raw)? {
            return Ok(None);
        }
        let start = raw.position().map_or(0, csv::Position::byte);
        // The csv crate's row starts right after the byte that ended the
        // row before: a `\r\n`'s `\n` and blank lines are still ahead. So
        // a row starts after every run of line ends that begins at or
        // before that point (runs after it are inside quoted fields).
        let mut runs = self.newlines.borrow_mut();
        while let Some(&(at, newlines)) = runs.front()
            && at <= start
        {
            runs.pop_front();
            self.passed += newlines;
        }
        Ok(Some(self.passed + 1))
    }
}

/// Notes each run of line-end bytes (`\r`, `\n`) of the decoded text as
/// the CSV reader reads it: where it starts and how many `\n` it holds.
/// Also keeps the text, when asked to.
struct Newlines<'a> {
    inner: Box<dyn Read + 'a>,
    offset: u64,
    in_run: bool,
    seen: Rc<RefCell<VecDeque<(u64, u64)>>>,
    kept: Option<Rc<RefCell<Kept>>>,
}

impl Read for Newlines<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(kept) = &self.kept {
            kept.borrow_mut().bytes.extend_from_slice(&buf[..n]);
        }
        let mut runs = self.seen.borrow_mut();
        for (i, &b) in buf[..n].iter().enumerate() {
            let eol = b == b'\n' || b == b'\r';
            if eol && !self.in_run {
                runs.push_back((self.offset + i as u64, 0));
            }
            if b == b'\n'
                && let Some(run) = runs.back_mut()
            {
                run.1 += 1;
            }
            self.in_run = eol;
        }
        self.offset += n as u64;
        Ok(n)
    }
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

/// The core columns: what fills the record's own structure rather than a
/// kind field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Core {
    Kind,
    Jurisdiction,
    RecordNo,
    DecisionDate,
    AuthorityName,
    AuthorityCode,
    SubjectName,
    SubjectClass,
    CreditCode,
    IdType,
    IdNo,
}

impl Core {
    const ALL: [Core; 11] = [
        Core::Kind,
        Core::Jurisdiction,
        Core::RecordNo,
        Core::DecisionDate,
        Core::AuthorityName,
        Core::AuthorityCode,
        Core::SubjectName,
        Core::SubjectClass,
        Core::CreditCode,
        Core::IdType,
        Core::IdNo,
    ];

    /// The codes that give it, first preferred.
    fn codes(self) -> &'static [&'static str] {
        match self {
            Core::Kind => &["KIND"],
            Core::Jurisdiction => &["DFBM", "JURISDICTION"],
            Core::RecordNo => &["XK_WSH", "CF_WSH", "RECORD_NO"],
            Core::DecisionDate => &["XK_JDRQ", "CF_JDRQ", "DECISION_DATE"],
            Core::AuthorityName => &["XK_XKJG", "CF_CFJG", "AUTHORITY_NAME"],
            Core::AuthorityCode => &["XK_XKJGDM", "CF_CFJGDM", "AUTHORITY_CODE"],
            Core::SubjectName => &["XDR_MC", "XK_XDR_MC", "CF_XDR_MC"],
            Core::SubjectClass => &["XDR_LB", "XK_XDR_LB", "CF_XDR_LB"],
            Core::CreditCode => &["XDR_SHXYM", "XK_XDR_SHXYM", "CF_XDR_SHXYM"],
            Core::IdType => &["XDR_ZJLX", "XK_XDR_ZJLX", "CF_XDR_ZJLX"],
            Core::IdNo => &["XDR_ZJHM", "XK_XDR_ZJHM", "CF_XDR_ZJHM"],
        }
    }

    /// The ones a header must have, and what they are called in its error.
    const REQUIRED: [(Core, &'static str); 5] = [
        (Core::RecordNo, "record number"),
        (Core::DecisionDate, "decision date"),
        (Core::AuthorityName, "authority"),
        (Core::AuthorityCode, "authority code"),
        (Core::SubjectName, "subject name"),
    ];

    fn of(code: &str) -> Option<Core> {
        Core::ALL.into_iter().find(|c| c.codes().contains(&code))
    }
}

/// The Chinese column names of the core columns, as the standard's upload
/// templates print them (docs/double-publicity.md), and the code each is.
const CORE_NAMES: &[(&str, &str)] = &[
    ("行政相对人名称", "XDR_MC"),
    ("行政相对人类别", "XDR_LB"),
    ("统一社会信用代码", "XDR_SHXYM"),
    ("行政相对人代码_1（统一社会信用代码）", "XDR_SHXYM"),
    ("行政相对人代码_1(统一社会信用代码)", "XDR_SHXYM"),
    ("证件类型", "XDR_ZJLX"),
    ("证件号码", "XDR_ZJHM"),
    ("行政许可决定文书号", "XK_WSH"),
    ("许可决定日期", "XK_JDRQ"),
    ("许可机关", "XK_XKJG"),
    ("许可机关统一社会信用代码", "XK_XKJGDM"),
    ("行政处罚决定书文号", "CF_WSH"),
    ("处罚决定日期", "CF_JDRQ"),
    ("处罚机关", "CF_CFJG"),
    ("处罚机关统一社会信用代码", "CF_CFJGDM"),
    ("地方编码", "DFBM"),
];

/// Column codes of the 2015 templates still found in exports, and the code
/// each is read as (docs/double-publicity.md).
const LEGACY_COLUMNS: &[(&str, &str)] = &[
    ("XK_XDR", "XK_XDR_MC"),
    ("CF_XDR", "CF_XDR_MC"),
    ("XK_XDR_SFZ", "XK_XDR_ZJHM"),
    ("CF_XDR_SFZ", "CF_XDR_ZJHM"),
    ("XK_XDR_ZDM", "XDR_ZZJG"),
    ("CF_XDR_ZDM", "XDR_ZZJG"),
    ("XK_XDR_GSDJ", "XDR_GSZC"),
    ("CF_XDR_GSDJ", "XDR_GSZC"),
    ("XK_FR", "FRDB"),
    ("CF_FR", "FRDB"),
    ("XK_FR_SFZH", "FR_ZJHM"),
    ("CF_FR_SFZH", "FR_ZJHM"),
    ("XK_XZJG", "XK_XKJG"),
    ("CF_XZJG", "CF_CFJG"),
    ("XK_JZQ", "XK_YXQZI"),
    // 审批类别 took the same six values as today's 许可类别.
    ("XK_SPLB", "XK_XKLB"),
    // 项目名称: the licence's title, today's 行政许可决定文书名称.
    ("XK_XMMC", "XK_XKWS"),
];

/// Where an implied field's value comes from.
#[derive(Debug, Clone, Copy)]
enum Implied {
    DecisionDate,
    AuthorityName,
    AuthorityCode,
}

/// Fields the 2015 licensing template has no column for, read from the
/// row's other values when the file has no such column (with a warning each,
/// docs/double-publicity.md): a licence is valid from its decision (that
/// template has only 许可截止期, read as `XK_YXQZI`), and the authority
/// that decided is the unit the data comes from (数据来源单位).
const IMPLIED_FIELDS: &[(&str, Implied)] = &[
    ("XK_YXQZ", Implied::DecisionDate),
    ("XK_LYDW", Implied::AuthorityName),
    ("XK_LYDWDM", Implied::AuthorityCode),
];

/// Columns of the 2015 templates that describe the exporting system's row,
/// not the decision: read and not kept, each with why
/// (docs/double-publicity.md).
const SKIPPED_COLUMNS: &[(&str, &str)] = &[(
    "SJC",
    "数据更新时间戳, when the source system last changed the row; the log keeps when this node signed it",
)];

/// One column of the header, normalised.
#[derive(Debug, Clone)]
enum Column {
    /// A column code (upper case, older codes read as today's).
    Code(String),
    /// A Chinese name that is not a core column's: a field's label, matched
    /// against the row's kind.
    Label(String),
}

/// The CSV header, normalised: column codes upper case (older codes read
/// as today's), Chinese core column names as their codes, other Chinese
/// names kept as labels to match against the row's kind.
#[derive(Debug, Clone)]
pub struct Header {
    /// Each cell as written (trimmed), for messages.
    written: Vec<String>,
    columns: Vec<Column>,
    /// Per core column ([`Core::ALL`] order), the columns giving it, the
    /// preferred code first, then in file order.
    core: Vec<Vec<usize>>,
    /// Whether each column is a core column.
    is_core: Vec<bool>,
    /// Whether each column is read and not kept ([`SKIPPED_COLUMNS`]).
    skipped: Vec<bool>,
}

impl Header {
    /// Reads the header row; refuses one that lacks a core column.
    pub fn new<'h>(raw: impl IntoIterator<Item = &'h str>) -> Result<Header, HeaderError> {
        let mut written = Vec::new();
        let mut columns = Vec::new();
        for h in raw {
            let h = h.trim().trim_start_matches('\u{feff}').trim();
            let column = if h.is_ascii() {
                let code = h.to_ascii_uppercase();
                Column::Code(
                    LEGACY_COLUMNS
                        .iter()
                        .find(|(old, _)| *old == code)
                        .map_or(code, |(_, new)| (*new).to_owned()),
                )
            } else {
                CORE_NAMES.iter().find(|(name, _)| *name == h).map_or_else(
                    || Column::Label(h.to_owned()),
                    |(_, code)| Column::Code((*code).to_owned()),
                )
            };
            written.push(h.to_owned());
            columns.push(column);
        }
        let code_at = |i: usize| match &columns[i] {
            Column::Code(c) => Some(c.as_str()),
            Column::Label(_) => None,
        };
        let core: Vec<Vec<usize>> = Core::ALL
            .iter()
            .map(|c| {
                c.codes()
                    .iter()
                    .flat_map(|code| (0..columns.len()).filter(|&i| code_at(i) == Some(code)))
                    .collect()
            })
            .collect();
        let is_core = (0..columns.len())
            .map(|i| code_at(i).and_then(Core::of).is_some())
            .collect();
        let skipped = (0..columns.len())
            .map(|i| code_at(i).is_some_and(|c| SKIPPED_COLUMNS.iter().any(|(s, _)| *s == c)))
            .collect();
        let missing: Vec<String> = Core::REQUIRED
            .iter()
            .filter(|(c, _)| core[*c as usize].is_empty())
            .map(|(c, what)| format!("{what} ({})", c.codes().join(" or ")))
            .collect();
        if !missing.is_empty() {
            return Err(HeaderError::Missing(missing));
        }
        Ok(Header {
            written,
            columns,
            core,
            is_core,
            skipped,
        })
    }

    /// The columns read and not kept, as written, each with why (an older
    /// template's `SJC`): for the tool to say once per file.
    pub fn skipped(&self) -> Vec<(&str, &'static str)> {
        (0..self.len())
            .filter(|&i| self.skipped[i])
            .filter_map(|i| {
                let code = self.written(i).to_ascii_uppercase();
                SKIPPED_COLUMNS
                    .iter()
                    .find(|(c, _)| *c == code)
                    .map(|(_, why)| (self.written(i), *why))
            })
            .collect()
    }

    /// How many columns the header has.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether the header has no columns (it then fails [`Header::new`]).
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Column `i` as the header writes it.
    pub fn written(&self, i: usize) -> &str {
        self.written.get(i).map_or("", String::as_str)
    }

    /// The kind of file this header is, by its column codes: licensing when
    /// some start with `XK_` and none with `CF_`, penalties the other way
    /// round; `None` when it has both or neither (its rows' kinds are then
    /// told row by row).
    pub fn file_kind(&self) -> Option<FileKind> {
        let has = |prefix: &str| {
            self.columns
                .iter()
                .any(|c| matches!(c, Column::Code(code) if code.starts_with(prefix)))
        };
        match (has("XK_"), has("CF_")) {
            (true, false) => Some(FileKind::Licensing),
            (false, true) => Some(FileKind::Penalty),
            _ => None,
        }
    }

    /// Checks that every column of a file posted as `file` means something
    /// for it: a core column (not the other kind's), or a field of the
    /// kind. A file with a column nobody reads would load without that
    /// column's values; refusing it names the column to fix.
    pub fn check_for(&self, file: FileKind, catalog: &Catalog) -> Result<(), HeaderError> {
        let spec = catalog.kind(file.base_kind(catalog));
        let other = match file {
            FileKind::Licensing => FileKind::Penalty,
            FileKind::Penalty => FileKind::Licensing,
        };
        for (i, column) in self.columns.iter().enumerate() {
            let unmapped = |problem: String| HeaderError::Unmapped {
                column: self.written[i].clone(),
                problem,
            };
            if self.skipped[i] {
                continue;
            }
            if self.is_core[i] {
                if let Column::Code(code) = column
                    && code.starts_with(other.prefix())
                {
                    return Err(unmapped(format!(
                        "a column of {} files, but this file was posted as kind={}",
                        other.code(),
                        file.code()
                    )));
                }
                continue;
            }
            let name = field_of(spec, column);
            if spec.is_none_or(|k| k.field(name).is_none()) {
                return Err(unmapped(format!(
                    "no field of kind {} is called so (GET /v1/catalog lists them, with their Chinese labels); rename or remove the column",
                    file.base_kind(catalog)
                )));
            }
        }
        Ok(())
    }
}

/// The field of `kind` that a column fills: a Chinese label matched
/// against the kind's labels, a code of the kind as it is, or one with the
/// standard's `XK_`/`CF_` prefix (`XK_FRDB`, `CF_XDR_GSZC`) as the kind's
/// unprefixed field. Anything else is kept as written (the record's check
/// names it).
fn field_of<'c>(kind: Option<&'c RecordKind>, column: &'c Column) -> &'c str {
    match column {
        Column::Label(label) => kind
            .and_then(|k| k.fields.iter().find(|f| f.label == *label))
            .map_or(label.as_str(), |f| f.name.as_str()),
        Column::Code(name) => {
            let Some(kind) = kind else {
                return name;
            };
            if kind.field(name).is_some() {
                return name;
            }
            name.strip_prefix("XK_")
                .or_else(|| name.strip_prefix("CF_"))
                .filter(|bare| kind.field(bare).is_some())
                .unwrap_or(name)
        }
    }
}

/// What a kind field column becomes for one kind.
#[derive(Debug, Clone)]
struct Target<'c> {
    name: String,
    spec: Option<&'c FieldSpec>,
}

impl Target<'_> {
    /// A cell's value typed as this field's.
    fn cell(&self, value: &str, warnings: &mut Vec<Warning>) -> Cell {
        let text = || Cell::Text(value.to_owned());
        match self.spec.map(|f| f.field_type) {
            Some(FieldType::Integer) => value.parse::<i64>().map_or_else(|_| text(), Cell::Integer),
            Some(FieldType::Bool) => bool_value(value).map_or_else(text, Cell::Bool),
            Some(FieldType::Date) => Cell::Text(read_date(&self.name, value, warnings)),
            Some(FieldType::Enum) => match self.spec.and_then(|f| f.legacy.get(value)) {
                Some(choice) => {
                    warnings.push(Warning {
                        column: self.name.clone(),
                        text: format!("'{value}' (an older export's value) read as '{choice}'"),
                    });
                    Cell::Text(choice.clone())
                }
                None => text(),
            },
            _ => text(),
        }
    }
}

/// Maps the rows of one file, given its [`Header`]: the header's columns
/// resolved once per kind, then each row by lookups.
#[derive(Debug)]
pub struct Mapper<'c> {
    header: Header,
    catalog: Option<&'c Catalog>,
    jurisdiction: Option<String>,
    file: Option<FileKind>,
    /// Per kind seen, the field each column fills (`None` for core and
    /// skipped columns).
    targets: Vec<(String, Vec<Option<Target<'c>>>)>,
    /// Columns with an `XK_` / `CF_` code: a row's kind when nothing says it.
    xk_columns: Vec<usize>,
    cf_columns: Vec<usize>,
    /// Columns that fill the penalty types (the catalog's
    /// `penalty_tiers.field`), which decide a penalty's tier.
    tier_columns: Vec<usize>,
}

impl<'c> Mapper<'c> {
    /// A mapper for the rows under `header`. `catalog` types the values
    /// (without one every value is text and the kind is `XK` or `CF`);
    /// `jurisdiction` fills rows without DFBM / JURISDICTION; `file`, when
    /// the file's kind is known, is every row's kind family (a `KIND`
    /// column then has to agree with it).
    pub fn new(
        header: Header,
        catalog: Option<&'c Catalog>,
        jurisdiction: Option<&str>,
        file: Option<FileKind>,
    ) -> Mapper<'c> {
        let prefixed = |p: &str| -> Vec<usize> {
            (0..header.len())
                .filter(|&i| matches!(&header.columns[i], Column::Code(c) if c.starts_with(p)))
                .collect()
        };
        let (xk_columns, cf_columns) = (prefixed("XK_"), prefixed("CF_"));
        let tier_columns = match catalog.and_then(|c| c.penalty_tiers().map(|pt| (c, pt))) {
            Some((c, pt)) => {
                let general = c.kind(pt.kind_of(Tier::General));
                (0..header.len())
                    .filter(|&i| field_of(general, &header.columns[i]) == pt.field)
                    .collect()
            }
            None => Vec::new(),
        };
        Mapper {
            header,
            catalog,
            jurisdiction: jurisdiction.map(str::to_owned),
            file,
            targets: Vec::new(),
            xk_columns,
            cf_columns,
            tier_columns,
        }
    }

    /// The header the rows are read under.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The catalog that types the values, if any.
    pub fn catalog(&self) -> Option<&'c Catalog> {
        self.catalog
    }

    /// Maps one row as the CSV reader gives it; `warnings` hears each value
    /// normalised on the way.
    pub fn map(
        &mut self,
        raw: &csv::ByteRecord,
        warnings: &mut Vec<Warning>,
    ) -> Result<MappedRecord, RowError> {
        if raw.len() != self.header.len() {
            return Err(RowError {
                field: "row",
                column: None,
                problem: format!(
                    "has {} values but the header has {} columns",
                    raw.len(),
                    self.header.len()
                ),
            });
        }
        let mut cells = Vec::with_capacity(raw.len());
        for (i, field) in raw.iter().enumerate() {
            match std::str::from_utf8(field) {
                Ok(text) => cells.push(text.trim()),
                Err(_) => {
                    return Err(RowError {
                        field: "row",
                        column: Some(self.header.written(i).to_owned()),
                        problem: "not valid UTF-8".to_owned(),
                    });
                }
            }
        }
        self.map_cells(&cells, warnings)
    }

    /// Maps one row given as its (trimmed) cells, one per column.
    fn map_cells(
        &mut self,
        cells: &[&str],
        warnings: &mut Vec<Warning>,
    ) -> Result<MappedRecord, RowError> {
        let get = |c: Core| -> Option<&str> {
            self.header.core[c as usize]
                .iter()
                .map(|&i| cells[i])
                .find(|v| !v.is_empty())
        };
        let owned = |c: Core| get(c).map(str::to_owned);
        let kind = match get(Core::Kind) {
            Some(k) => match self.file {
                Some(file) if !file.holds(k, self.catalog) => {
                    return Err(RowError {
                        field: "kind",
                        column: self.core_column(Core::Kind, cells),
                        problem: format!(
                            "KIND '{k}' is not a kind of {} files, as this file was posted",
                            file.code()
                        ),
                    });
                }
                _ => k.to_owned(),
            },
            None => self.row_kind(cells)?,
        };
        let class_column = !self.header.core[Core::SubjectClass as usize].is_empty();
        let subject =
            subject_identity(get, class_column, warnings).map_err(|problem| RowError {
                field: "subject.code",
                column: self.core_column(Core::IdType, cells),
                problem,
            })?;
        let jurisdiction = owned(Core::Jurisdiction).or_else(|| self.jurisdiction.clone());
        let record_no = owned(Core::RecordNo);
        let authority = MappedAuthority {
            name: owned(Core::AuthorityName),
            code: owned(Core::AuthorityCode),
        };
        let decision_date = get(Core::DecisionDate);
        let t = self.targets_of(&kind);
        let mut fields = BTreeMap::new();
        for (value, target) in cells.iter().zip(&self.targets[t].1) {
            let (Some(target), false) = (target, value.is_empty()) else {
                continue;
            };
            fields.insert(target.name.clone(), target.cell(value, warnings));
        }
        let decision_date = decision_date.map(|d| read_date("decision date", d, warnings));
        let kind_spec = self.catalog.and_then(|c| c.kind(&kind));
        for (field, from) in IMPLIED_FIELDS {
            let has_column = self.targets[t]
                .1
                .iter()
                .any(|target| target.as_ref().is_some_and(|t| t.name == *field));
            if has_column || kind_spec.is_none_or(|k| k.field(field).is_none()) {
                continue;
            }
            let (value, what) = match from {
                Implied::DecisionDate => (decision_date.as_deref(), "the decision date"),
                Implied::AuthorityName => (authority.name.as_deref(), "the deciding authority"),
                Implied::AuthorityCode => (
                    authority.code.as_deref(),
                    "the deciding authority's credit code",
                ),
            };
            let Some(value) = value else { continue };
            warnings.push(Warning {
                column: (*field).to_owned(),
                text: format!("missing; read as {what}, {value}"),
            });
            fields.insert((*field).to_owned(), Cell::Text(value.to_owned()));
        }
        Ok(MappedRecord {
            kind,
            jurisdiction,
            record_no,
            decision_date,
            subject,
            authority,
            fields,
        })
    }

    /// The index in `targets` of `kind`'s column targets, resolved on first use.
    fn targets_of(&mut self, kind: &str) -> usize {
        if let Some(i) = self.targets.iter().position(|(k, _)| k == kind) {
            return i;
        }
        let spec = self.catalog.and_then(|c| c.kind(kind));
        let resolved = self
            .header
            .columns
            .iter()
            .zip(self.header.is_core.iter().zip(&self.header.skipped))
            .map(|(column, (&core, &skipped))| {
                (!core && !skipped).then(|| {
                    let name = field_of(spec, column).to_owned();
                    let field = spec.and_then(|k| k.field(&name));
                    Target { name, spec: field }
                })
            })
            .collect();
        self.targets.push((kind.to_owned(), resolved));
        self.targets.len() - 1
    }

    /// The column a core value came from in this row (the first filled).
    fn core_column(&self, c: Core, cells: &[&str]) -> Option<String> {
        self.header.core[c as usize]
            .iter()
            .find(|&&i| !cells[i].is_empty())
            .map(|&i| self.header.written(i).to_owned())
    }

    /// The kind of a row without a KIND column: the file's when it is
    /// known, else licensing by its `XK_` columns; a penalty's tier (and
    /// kind) by its types, as the catalog's `[penalty_tiers]` says.
    fn row_kind(&self, cells: &[&str]) -> Result<String, RowError> {
        let filled = |cols: &[usize]| cols.iter().any(|&i| !cells[i].is_empty());
        let file = match self.file {
            Some(file) => file,
            None => {
                match (filled(&self.xk_columns), filled(&self.cf_columns)) {
                    (true, false) => FileKind::Licensing,
                    (false, true) => FileKind::Penalty,
                    (true, true) => {
                        return Err(RowError {
                        field: "kind",
                        column: None,
                        problem: "has both XK_ and CF_ values: add a KIND column to say which kind it is".into(),
                    });
                    }
                    (false, false) => {
                        return Err(RowError {
                            field: "kind",
                            column: None,
                            problem: "cannot tell the record kind: add a KIND column (XK, CF, …)"
                                .into(),
                        });
                    }
                }
            }
        };
        if file == FileKind::Licensing {
            return Ok("XK".to_owned());
        }
        let Some(pt) = self.catalog.and_then(Catalog::penalty_tiers) else {
            return Ok("CF".to_owned());
        };
        let at = self
            .tier_columns
            .iter()
            .copied()
            .find(|&i| !cells[i].is_empty());
        let types = at.map_or("", |i| cells[i]);
        // The types alone: whether a small fine was decided by the
        // simplified procedure (and so is minor) only the source knows,
        // and says with KIND = the minor kind.
        match pt.decide(types).map(|d| d.tier) {
            Some(tier) => Ok(pt.kind_of(tier).to_owned()),
            None => Err(RowError {
                field: "kind",
                column: at
                    .or_else(|| self.tier_columns.first().copied())
                    .map(|i| self.header.written(i).to_owned()),
                problem: format!(
                    "cannot tell the penalty's tier from {} '{types}': none of its types is in the catalog's penalty_tiers ({}); give the kind in a KIND column ({}, {} or {})",
                    pt.field,
                    pt.types.keys().cloned().collect::<Vec<_>>().join("、"),
                    pt.kind_of(Tier::Minor),
                    pt.kind_of(Tier::General),
                    pt.kind_of(Tier::Serious)
                ),
            }),
        }
    }

    /// The column, as the header writes it, that gave the record's value at
    /// `path` (`record_no`, `subject.code`, `fields.CF_NR_FK`, …) in this
    /// row, so that an error the record's check finds can name it.
    pub fn column_of(&mut self, raw: &csv::ByteRecord, kind: &str, path: &str) -> Option<String> {
        let cells: Vec<&str> = raw
            .iter()
            .map(|f| std::str::from_utf8(f).map_or("", str::trim))
            .collect();
        if cells.len() != self.header.len() {
            return None;
        }
        let core = match path.split('.').take(2).collect::<Vec<_>>()[..] {
            ["fields", name] => {
                let t = self.targets_of(kind);
                return self.targets[t]
                    .1
                    .iter()
                    .enumerate()
                    .rev()
                    .find(|(i, target)| {
                        !cells[*i].is_empty() && target.as_ref().is_some_and(|t| t.name == name)
                    })
                    .map(|(i, _)| self.header.written(i).to_owned());
            }
            ["kind"] => {
                return self.core_column(Core::Kind, &cells).or_else(|| {
                    self.tier_columns
                        .first()
                        .map(|&i| self.header.written(i).to_owned())
                });
            }
            ["jurisdiction"] => Core::Jurisdiction,
            ["record_no"] => Core::RecordNo,
            ["decision_date"] => Core::DecisionDate,
            ["authority", "name"] => Core::AuthorityName,
            ["authority", "code"] => Core::AuthorityCode,
            ["subject", "name"] => Core::SubjectName,
            ["subject", "class"] => Core::SubjectClass,
            ["subject", "code"] => {
                return self
                    .core_column(Core::IdNo, &cells)
                    .into_iter()
                    .chain(self.core_column(Core::CreditCode, &cells))
                    .last();
            }
            _ => return None,
        };
        self.core_column(core, &cells)
    }
}

/// Who a row is about: the class (行政相对人类别 in Chinese or English), the
/// name, and the code that identifies the subject — a natural person's ID
/// number (证件号码) before a credit code, an organisation's credit code
/// before an ID number. `get` gives a core column's value in the row; a
/// file without a class column (`class_column` false, the 2015 template)
/// has the class implied by the codes, with a warning.
fn subject_identity<'r>(
    get: impl Fn(Core) -> Option<&'r str>,
    class_column: bool,
    warnings: &mut Vec<Warning>,
) -> Result<MappedSubject, String> {
    let class = match get(Core::SubjectClass) {
        Some(c) => Some(subject_class(c).unwrap_or(c).to_owned()),
        None if class_column => None,
        None => implied_class(get(Core::CreditCode), get(Core::IdNo)).map(|(class, why)| {
            warnings.push(Warning {
                column: "XDR_LB".to_owned(),
                text: format!("missing; read as {why}"),
            });
            class.to_owned()
        }),
    };
    let person = class.as_deref() == Some("natural_person");
    let (id_no, credit_code) = (get(Core::IdNo), get(Core::CreditCode));
    let code = if person {
        // 证件类型 names the document; any but the resident ID card makes
        // the code `TAG:NUMBER` (crate::person), checked by the record.
        let document = match get(Core::IdType) {
            None => IdDocument::ResidentId,
            Some(t) => IdDocument::from_column(t).ok_or_else(|| {
                format!(
                    "'{t}' is not a document type a natural person may be named by: use one of {}",
                    IdDocument::accepted_text()
                )
            })?,
        };
        match (document.tag(), id_no) {
            (Some(tag), Some(number)) => Some(format!(
                "{tag}{}{}",
                crate::person::TAG_SEPARATOR,
                number.trim()
            )),
            _ => id_no.or(credit_code).map(str::to_owned),
        }
    } else {
        credit_code.or(id_no).map(str::to_owned)
    };
    Ok(MappedSubject {
        class,
        code,
        name: get(Core::SubjectName).map(str::to_owned),
    })
}

/// A date column's value as `YYYY-MM-DD`, with a warning when it was
/// written otherwise.
fn read_date(column: &str, value: &str, warnings: &mut Vec<Warning>) -> String {
    let day = normalise_date(value);
    if day != value && day.len() == 10 {
        warnings.push(Warning {
            column: column.to_owned(),
            text: format!("'{value}' read as {day}"),
        });
    }
    day
}

/// The subject's class when a row does not give 行政相对人类别 (the 2015
/// template has no such column): from the credit code's first two
/// characters (GB 32100-2015: registered by market regulation `9`, as an
/// individual business `2`), else a natural person named by an ID number.
/// With the reason, for the warning.
fn implied_class(
    credit_code: Option<&str>,
    id_no: Option<&str>,
) -> Option<(&'static str, &'static str)> {
    match (credit_code.map(str::trim), id_no) {
        (Some(code), _) if code.starts_with("92") => Some((
            "individual_business",
            "个体工商户 (the credit code starts with 92)",
        )),
        (Some(_), _) => Some((
            "legal_person",
            "法人及非法人组织 (the subject has a credit code)",
        )),
        (None, Some(_)) => Some((
            "natural_person",
            "自然人 (the subject has an ID number and no credit code)",
        )),
        (None, None) => None,
    }
}

/// 行政相对人类别 in Chinese or English → the ingest spelling.
fn subject_class(text: &str) -> Option<&'static str> {
    Some(match text.trim() {
        "法人及非法人组织" | "法人" | "法人及其他组织" | "非法人组织" | "legal_person" => {
            "legal_person"
        }
        "自然人" | "natural_person" => "natural_person",
        "个体工商户" | "individual_business" => "individual_business",
        _ => return None,
    })
}

fn bool_value(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "y" | "yes" | "是" => Some(true),
        "false" | "0" | "n" | "no" | "否" => Some(false),
        _ => None,
    }
}

/// Spreadsheet dates to `YYYY-MM-DD`: `2026/3/1`, `2026.03.01`,
/// `20260301`, `2026-03-01 00:00:00`. Anything else is kept as it is (the
/// record's check then says what is wrong with it).
pub fn normalise_date(text: &str) -> String {
    let day = text.split([' ', 'T']).next().unwrap_or(text);
    if day.len() == 8 && day.bytes().all(|b| b.is_ascii_digit()) {
        return format!("{}-{}-{}", &day[..4], &day[4..6], &day[6..]);
    }
    let mut parts = day.split(['-', '/', '.']);
    if let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
        && y.len() == 4
        && (1..=2).contains(&m.len())
        && (1..=2).contains(&d.len())
        && [y, m, d]
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_digit()))
    {
        return format!("{y}-{m:0>2}-{d:0>2}");
    }
    text.to_owned()
}

#[cfg(test)]
mod tests;
