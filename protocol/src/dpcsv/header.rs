//! The header row: column codes in any case, the 2015 templates' codes,
//! Chinese column names, and which record part or field each column fills.

use crate::catalog::{Catalog, RecordKind};

use super::{FileKind, HeaderError};

/// The core columns: what fills the record's own structure rather than a
/// kind field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Core {
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

/// Columns of the 2015 templates that describe the exporting system's row,
/// not the decision: read and not kept, each with why
/// (docs/double-publicity.md).
const SKIPPED_COLUMNS: &[(&str, &str)] = &[(
    "SJC",
    "数据更新时间戳, when the source system last changed the row; the log keeps when this node signed it",
)];

/// One column of the header, normalised.
#[derive(Debug, Clone)]
pub(super) enum Column {
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
    pub(super) written: Vec<String>,
    pub(super) columns: Vec<Column>,
    /// Per core column ([`Core::ALL`] order), the columns giving it, the
    /// preferred code first, then in file order.
    pub(super) core: Vec<Vec<usize>>,
    /// Whether each column is a core column.
    pub(super) is_core: Vec<bool>,
    /// For each column read and not kept ([`SKIPPED_COLUMNS`]), why.
    pub(super) skipped: Vec<Option<&'static str>>,
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
            .map(|i| {
                let code = code_at(i)?;
                SKIPPED_COLUMNS
                    .iter()
                    .find(|(s, _)| *s == code)
                    .map(|(_, why)| *why)
            })
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
            .filter_map(|i| self.skipped[i].map(|why| (self.written(i), why)))
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
            if self.skipped[i].is_some() {
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
pub(super) fn field_of<'c>(kind: Option<&'c RecordKind>, column: &'c Column) -> &'c str {
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
