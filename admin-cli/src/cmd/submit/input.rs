//! Reading the records to submit: JSON Lines (or one JSON array), or CSV
//! files in the 双公示 column codes (domain.md §3.2), mapped to the ingest
//! format of docs/api.md. Each record becomes an [`Item`] that either holds
//! the JSON line to send or says why it could not be read; one bad line
//! never stops the rest.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use rongxin_protocol::catalog::{Catalog, FieldType, RecordKind};
use rongxin_protocol::tier::Tier;
use serde_json::{Map, Value, json};

/// One record of the input file.
#[derive(Debug, Clone)]
pub struct Item {
    /// Position among the file's records, from 0.
    pub index: usize,
    /// Line of the file where it starts, from 1 (none inside a JSON array).
    pub line: Option<usize>,
    /// The original text (a JSON line, or the CSV row).
    pub text: String,
    /// The record as one JSON line to send, or why it could not be read.
    pub payload: Result<String, String>,
    /// The record as mapped from CSV, kept for the rejected-records file.
    pub mapped: Option<Value>,
    /// Values normalised on reading (older exports' spellings), each with
    /// its column.
    pub warnings: Vec<String>,
}

impl Item {
    /// `line 17` or `record 17` (1-based) for messages.
    pub fn place(&self) -> String {
        match self.line {
            Some(l) => format!("line {l}"),
            None => format!("record {}", self.index + 1),
        }
    }
}

/// `reader` as UTF-8 text: a UTF-8 or UTF-16 byte-order mark is honoured
/// (and dropped); without one, a file whose first 64 KiB are not UTF-8 is
/// read as GB18030 (which includes GBK and GB2312), as Chinese spreadsheet
/// software saves CSV.
fn decoded<'a>(
    mut reader: Box<dyn Read + 'a>,
) -> std::io::Result<(Box<dyn Read + 'a>, &'static str)> {
    let mut head = Vec::with_capacity(64 << 10);
    (&mut reader).take(64 << 10).read_to_end(&mut head)?;
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
        reader: csv::Reader<Box<dyn Read + 'a>>,
        header: Header,
        catalog: Option<&'a Catalog>,
        jurisdiction: Option<&'a str>,
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
                source: Source::Array(values.into_iter()),
                index: 0,
            });
        }
        Ok(Input {
            total: 0,
            encoding: "UTF-8",
            source: Source::Lines { reader, line: 0 },
            index: 0,
        })
    }

    /// CSV rows from `reader` (header first).
    pub fn csv(
        reader: Box<dyn Read + 'a>,
        catalog: Option<&'a Catalog>,
        jurisdiction: Option<&'a str>,
    ) -> Result<Input<'a>> {
        let (reader, encoding) = decoded(reader)?;
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
        let header = Header::new(reader.headers()?)?;
        Ok(Input {
            total: 0,
            encoding,
            source: Source::Csv {
                reader,
                header,
                catalog,
                jurisdiction,
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
                    Ok(text.clone())
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
                        Ok(v) if v.is_object() => Ok(text.clone()),
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
                reader,
                header,
                catalog,
                jurisdiction,
            } => {
                let mut raw = csv::ByteRecord::new();
                if !reader.read_byte_record(&mut raw)? {
                    return Ok(None);
                }
                let line = raw.position().map(|p| p.line() as usize);
                let mut warnings = Vec::new();
                let mapped = if raw.len() != header.names.len() {
                    Err(format!(
                        "has {} values but the header has {} columns",
                        raw.len(),
                        header.names.len()
                    ))
                } else {
                    match csv::StringRecord::from_byte_record(raw.clone()) {
                        Err(_) => Err("not valid UTF-8".to_owned()),
                        Ok(row) => map_row(header, &row, *catalog, *jurisdiction, &mut warnings),
                    }
                };
                let payload = mapped.as_ref().map(Value::to_string).map_err(Clone::clone);
                Item {
                    index,
                    line,
                    text: original_text(&raw),
                    payload,
                    mapped: mapped.ok(),
                    warnings,
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
    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
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

/// Columns (with or without the `XK_` / `CF_` prefix) that fill the
/// subject; they never become kind fields.
const SUBJECT_COLUMNS: [&str; 5] = ["XDR_MC", "XDR_LB", "XDR_SHXYM", "XDR_ZJLX", "XDR_ZJHM"];
const RECORD_NO: [&str; 3] = ["XK_WSH", "CF_WSH", "RECORD_NO"];
const DECISION_DATE: [&str; 3] = ["XK_JDRQ", "CF_JDRQ", "DECISION_DATE"];
const AUTHORITY_NAME: [&str; 3] = ["XK_XKJG", "CF_CFJG", "AUTHORITY_NAME"];
const AUTHORITY_CODE: [&str; 3] = ["XK_XKJGDM", "CF_CFJGDM", "AUTHORITY_CODE"];
const JURISDICTION: [&str; 2] = ["DFBM", "JURISDICTION"];

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
];

/// A header cell that is a Chinese column name of a kind's field: which
/// field depends on the row's kind.
const LABEL: &str = "label:";

fn prefixed(column: &str) -> [String; 3] {
    [
        column.to_owned(),
        format!("XK_{column}"),
        format!("CF_{column}"),
    ]
}

/// The CSV header, normalised: column codes upper case (older codes read
/// as today's), Chinese core column names as their codes, other Chinese
/// names kept as labels to match against the row's kind.
struct Header {
    names: Vec<String>,
}

impl Header {
    fn new(raw: &csv::StringRecord) -> Result<Header> {
        let names: Vec<String> = raw
            .iter()
            .map(|h| {
                let h = h.trim().trim_start_matches('\u{feff}').trim();
                if h.is_ascii() {
                    let code = h.to_ascii_uppercase();
                    LEGACY_COLUMNS
                        .iter()
                        .find(|(old, _)| *old == code)
                        .map_or(code, |(_, new)| (*new).to_owned())
                } else {
                    CORE_NAMES
                        .iter()
                        .find(|(name, _)| *name == h)
                        .map_or_else(|| format!("{LABEL}{h}"), |(_, code)| (*code).to_owned())
                }
            })
            .collect();
        let has = |cols: &[&str]| cols.iter().any(|c| names.iter().any(|n| n == c));
        let subject_name = prefixed("XDR_MC");
        let subject_name: Vec<&str> = subject_name.iter().map(String::as_str).collect();
        let mut missing = Vec::new();
        for (what, cols) in [
            ("record number", &RECORD_NO[..]),
            ("decision date", &DECISION_DATE[..]),
            ("authority", &AUTHORITY_NAME[..]),
            ("authority code", &AUTHORITY_CODE[..]),
            ("subject name", &subject_name[..]),
        ] {
            if !has(cols) {
                missing.push(format!("{what} ({})", cols.join(" or ")));
            }
        }
        if !missing.is_empty() {
            bail!("the header has no column for: {}", missing.join("; "));
        }
        Ok(Header { names })
    }

    fn is_core(name: &str) -> bool {
        ["KIND"].contains(&name)
            || JURISDICTION.contains(&name)
            || RECORD_NO.contains(&name)
            || DECISION_DATE.contains(&name)
            || AUTHORITY_NAME.contains(&name)
            || AUTHORITY_CODE.contains(&name)
            || SUBJECT_COLUMNS
                .iter()
                .any(|c| prefixed(c).iter().any(|p| p == name))
    }
}

/// The field of `kind` that column `name` fills: a Chinese label matched
/// against the kind's labels, a code of the kind as it is, or one with the
/// standard's `XK_`/`CF_` prefix (`XK_FRDB`, `CF_XDR_GSZC`) as the kind's
/// unprefixed field. Anything else is kept as written (the node names it).
fn field_of(kind: Option<&RecordKind>, name: &str) -> String {
    if let Some(label) = name.strip_prefix(LABEL) {
        return kind
            .and_then(|k| k.fields.iter().find(|f| f.label == label))
            .map_or_else(|| label.to_owned(), |f| f.name.clone());
    }
    let Some(kind) = kind else {
        return name.to_owned();
    };
    if kind.field(name).is_some() {
        return name.to_owned();
    }
    name.strip_prefix("XK_")
        .or_else(|| name.strip_prefix("CF_"))
        .filter(|bare| kind.field(bare).is_some())
        .map_or_else(|| name.to_owned(), str::to_owned)
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

/// The kind of a row without a KIND column: licensing by its `XK_`
/// columns; a penalty's tier (and kind) by its types, as the
/// catalog's `[penalty_tiers]` says.
fn row_kind(cells: &[(&str, &str)], catalog: Option<&Catalog>) -> Result<String, String> {
    let filled = |p: &str| cells.iter().any(|(n, v)| n.starts_with(p) && !v.is_empty());
    match (filled("XK_"), filled("CF_")) {
        (true, false) => Ok("XK".to_owned()),
        (false, true) => {
            let Some(pt) = catalog.and_then(Catalog::penalty_tiers) else {
                return Ok("CF".to_owned());
            };
            let value = |code: &str| {
                cells.iter().find_map(|(n, v)| {
                    (field_of(catalog.and_then(|c| c.kind(pt.kind_of(Tier::General))), n) == code
                        && !v.is_empty())
                    .then_some(*v)
                })
            };
            let types = value(&pt.field).unwrap_or_default();
            // The types alone: whether a small fine was decided by the
            // simplified procedure (and so is minor) only the source knows,
            // and says with KIND = the minor kind.
            match pt.decide(types).map(|d| d.tier) {
                Some(tier) => Ok(pt.kind_of(tier).to_owned()),
                None => Err(format!(
                    "cannot tell the penalty's tier from {} '{types}': none of its types is in the catalog's penalty_tiers ({}); give the kind in a KIND column ({}, {} or {})",
                    pt.field,
                    pt.types.keys().cloned().collect::<Vec<_>>().join("、"),
                    pt.kind_of(Tier::Minor),
                    pt.kind_of(Tier::General),
                    pt.kind_of(Tier::Serious)
                )),
            }
        }
        (true, true) => {
            Err("has both XK_ and CF_ values: add a KIND column to say which kind it is".into())
        }
        (false, false) => Err("cannot tell the record kind: add a KIND column (XK, CF, …)".into()),
    }
}

/// Maps one CSV row to a record in the ingest format; `warnings` hears each
/// value normalised on the way.
fn map_row(
    header: &Header,
    row: &csv::StringRecord,
    catalog: Option<&Catalog>,
    default_jurisdiction: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Value, String> {
    let cells: Vec<(&str, &str)> = header
        .names
        .iter()
        .map(String::as_str)
        .zip(row.iter().map(str::trim))
        .collect();
    let get = |cols: &[&str]| -> Option<String> {
        cols.iter().find_map(|c| {
            cells
                .iter()
                .find(|(n, v)| n == c && !v.is_empty())
                .map(|(_, v)| (*v).to_owned())
        })
    };
    let get_prefixed = |col: &str| {
        let names = prefixed(col);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        get(&names)
    };
    let class = get_prefixed("XDR_LB").map(|c| subject_class(&c).unwrap_or(c));
    let person = class.as_deref() == Some("natural_person");
    let kind = match get(&["KIND"]) {
        Some(k) => k,
        None => row_kind(&cells, catalog)?,
    };
    let (id_no, credit_code) = (get_prefixed("XDR_ZJHM"), get_prefixed("XDR_SHXYM"));
    let code = if person {
        id_no.or(credit_code)
    } else {
        credit_code.or(id_no)
    };
    let spec = catalog.and_then(|c| c.kind(&kind));
    let mut fields = Map::new();
    for (name, value) in &cells {
        if value.is_empty() || Header::is_core(name) {
            continue;
        }
        let name = field_of(spec, name);
        let field = spec.and_then(|k| k.field(&name));
        let typed = match field.map(|f| f.field_type) {
            Some(FieldType::Integer) => value
                .parse::<i64>()
                .map_or_else(|_| json!(value), |n| json!(n)),
            Some(FieldType::Bool) => bool_value(value).map_or_else(|| json!(value), |b| json!(b)),
            Some(FieldType::Date) => json!(read_date(&name, value, warnings)),
            Some(FieldType::Enum) => {
                let legacy = field.and_then(|f| f.legacy.get(*value));
                match legacy {
                    Some(choice) => {
                        warnings.push(format!(
                            "{name}: '{value}' (an older export's value) read as '{choice}'"
                        ));
                        json!(choice)
                    }
                    None => json!(value),
                }
            }
            _ => json!(value),
        };
        fields.insert(name, typed);
    }
    let mut record = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            record.insert(k.to_owned(), json!(v));
        }
    };
    put("kind", Some(kind));
    put(
        "jurisdiction",
        get(&JURISDICTION).or_else(|| default_jurisdiction.map(str::to_owned)),
    );
    put("record_no", get(&RECORD_NO));
    put(
        "decision_date",
        get(&DECISION_DATE).map(|d| read_date("decision date", &d, warnings)),
    );
    let mut subject = Map::new();
    for (k, v) in [
        ("class", class),
        ("code", code),
        ("name", get_prefixed("XDR_MC")),
    ] {
        if let Some(v) = v {
            subject.insert(k.to_owned(), json!(v));
        }
    }
    let mut authority = Map::new();
    for (k, v) in [
        ("name", get(&AUTHORITY_NAME)),
        ("code", get(&AUTHORITY_CODE)),
    ] {
        if let Some(v) = v {
            authority.insert(k.to_owned(), json!(v));
        }
    }
    let mut out: Map<String, Value> = record.into_iter().collect();
    out.insert("subject".into(), Value::Object(subject));
    out.insert("authority".into(), Value::Object(authority));
    out.insert("fields".into(), Value::Object(fields));
    Ok(Value::Object(out))
}

/// A date column's value as `YYYY-MM-DD`, with a warning when it was
/// written otherwise.
fn read_date(column: &str, value: &str, warnings: &mut Vec<String>) -> String {
    let day = normalise_date(value);
    if day != value && day.len() == 10 {
        warnings.push(format!("{column}: '{value}' read as {day}"));
    }
    day
}

/// 行政相对人类别 in Chinese or English → the ingest spelling.
fn subject_class(text: &str) -> Option<String> {
    Some(
        match text.trim() {
            "法人及非法人组织" | "法人" | "法人及其他组织" | "非法人组织" | "legal_person" => {
                "legal_person"
            }
            "自然人" | "natural_person" => "natural_person",
            "个体工商户" | "individual_business" => "individual_business",
            _ => return None,
        }
        .to_owned(),
    )
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
/// node then says what is wrong with it).
pub fn normalise_date(text: &str) -> String {
    let day = text.split([' ', 'T']).next().unwrap_or(text);
    if day.len() == 8 && day.bytes().all(|b| b.is_ascii_digit()) {
        return format!("{}-{}-{}", &day[..4], &day[4..6], &day[6..]);
    }
    let parts: Vec<&str> = day.split(['-', '/', '.']).collect();
    if let [y, m, d] = parts[..]
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
