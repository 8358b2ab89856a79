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
/// templates print them (docs/double-publicity.md), and the code each is;
/// written as [`name_key`] writes a name (ASCII brackets, no spaces).
const CORE_NAMES: &[(&str, &str)] = &[
    ("行政相对人名称", "XDR_MC"),
    ("行政相对人类别", "XDR_LB"),
    ("统一社会信用代码", "XDR_SHXYM"),
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

/// The 2015 templates' Chinese column names that today's templates do not
/// use, and the 2015 column code each names (docs/double-publicity.md cites
/// the templates); a code starting `*_` is a column both templates have,
/// whose prefix is the file's (`XK_` or `CF_`). Written as [`name_key`]
/// writes a name, which is how a header's names are compared with them,
/// so full-width and ASCII brackets and spaces do not matter.
const NAMES_2015: &[(&str, &str)] = &[
    // Today's template calls it 行政许可决定文书号.
    ("行政许可决定书文号", "XK_WSH"),
    ("项目名称", "XK_XMMC"),
    ("审批类别", "XK_SPLB"),
    ("许可截止期", "XK_JZQ"),
    ("处罚名称", "CF_CFMC"),
    ("处罚类别1", "CF_CFLB1"),
    ("处罚类别2", "CF_CFLB2"),
    ("处罚事由", "CF_SY"),
    ("处罚结果", "CF_JG"),
    ("行政相对人代码_2(组织机构代码)", "*_XDR_ZDM"),
    ("行政相对人代码_3(工商登记码)", "*_XDR_GSDJ"),
    ("行政相对人代码_4(税务登记号)", "*_XDR_SWDJ"),
    ("行政相对人代码_5(居民身份证号)", "*_XDR_SFZ"),
    ("法定代表人姓名", "*_FR"),
    ("当前状态", "*_ZT"),
    ("数据更新时间戳", "SJC"),
];

/// A Chinese column name as the name tables write it: without spaces,
/// with full-width brackets as ASCII ones.
fn name_key(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            c => c,
        })
        .collect()
}

/// Column codes of older templates still found in exports, the code each
/// is read as, and whether it is one of the 2015 templates' (whose files
/// have some fields implied, see `Header::template_2015`;
/// docs/double-publicity.md).
const LEGACY_COLUMNS: &[(&str, &str, bool)] = &[
    ("XK_XDR", "XK_XDR_MC", true),
    ("CF_XDR", "CF_XDR_MC", true),
    ("XK_XDR_SFZ", "XK_XDR_ZJHM", true),
    ("CF_XDR_SFZ", "CF_XDR_ZJHM", true),
    ("XK_XDR_ZDM", "XDR_ZZJG", true),
    ("CF_XDR_ZDM", "XDR_ZZJG", true),
    ("XK_XDR_GSDJ", "XDR_GSZC", true),
    ("CF_XDR_GSDJ", "XDR_GSZC", true),
    ("XK_FR", "FRDB", true),
    ("CF_FR", "FRDB", true),
    ("XK_FR_SFZH", "FR_ZJHM", false),
    ("CF_FR_SFZH", "FR_ZJHM", false),
    ("XK_XZJG", "XK_XKJG", true),
    ("CF_XZJG", "CF_CFJG", true),
    ("XK_JZQ", "XK_YXQZI", true),
    // 审批类别 took the same six values as today's 许可类别.
    ("XK_SPLB", "XK_XKLB", true),
    // 项目名称: the licence's title, today's 行政许可决定文书名称.
    ("XK_XMMC", "XK_XKWS", true),
    // The 2015 penalty template: 处罚名称 names the case by what was done
    // wrong, today's 违法行为类型; 处罚结果 is today's 处罚内容; 处罚类别1
    // and 处罚类别2 (a third category and more) are today's one 处罚类别,
    // their values joined (see PENALTY_TYPE_CODES).
    ("CF_CFMC", "CF_WFXW", true),
    ("CF_JG", "CF_NR", true),
    ("CF_CFLB1", "CF_CFLB", true),
    ("CF_CFLB2", "CF_CFLB", true),
];

/// The 2015 penalty template's columns of 处罚类别 codes.
const TYPE_CODE_COLUMNS: [&str; 2] = ["CF_CFLB1", "CF_CFLB2"];

/// The 2015 penalty template's 处罚类别 codes, as its column notes give
/// them (docs/double-publicity.md), and the penalty types each names. Code
/// 4 names suspension and revocation together, which differ in tier, so
/// the catalog's tier table does not know it and such a row needs a KIND
/// column; so does 6 (其他).
pub(super) const PENALTY_TYPE_CODES: &[(&str, &str)] = &[
    ("0", "警告"),
    ("1", "罚款"),
    ("2", "没收违法所得、没收非法财物"),
    ("3", "责令停产停业"),
    ("4", "暂扣或者吊销许可证、暂扣或者吊销执照"),
    ("5", "行政拘留"),
    ("6", "其他"),
];

/// A column of the 2015 templates that is read and not kept.
#[derive(Debug)]
pub(super) struct Skipped {
    code: &'static str,
    /// Why it is not kept, for the tool to say once per file.
    pub(super) why: &'static str,
    /// The values a row may hold in it (empty: any); another refuses the
    /// row, with `refused` as the reason.
    pub(super) accepts: &'static [&'static str],
    pub(super) refused: &'static str,
}

/// Columns of the 2015 templates that describe the exporting system's row
/// rather than the decision: read and not kept (docs/double-publicity.md).
const SKIPPED_COLUMNS: &[Skipped] = &[
    Skipped {
        code: "SJC",
        why: "数据更新时间戳, when the source system last changed the row; the log keeps when this node signed it",
        accepts: &[],
        refused: "",
    },
    // 当前状态 of the 2015 penalty template: 0 = 正常 (or blank), 1 = 撤销,
    // 2 = 异议, 3 = 其他 (explained in BZ). Today's penalty columns have no
    // state: a published penalty is current until revoked or past its
    // publicity.
    Skipped {
        code: "CF_ZT",
        why: "当前状态 of the 2015 penalty template; 0 (正常) is the state of every penalty published, and a published penalty is withdrawn by revoking its record",
        accepts: &["0", "正常"],
        refused: "only a current penalty (0, 正常) is published: 1 (撤销) was withdrawn and is left out, or revoked through the node if it was published; 2 (异议) waits for its objection's outcome; 3 (其他) needs its state settled first (see BZ)",
    },
];

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
    /// For each column read and not kept ([`SKIPPED_COLUMNS`]), what it is.
    pub(super) skipped: Vec<Option<&'static Skipped>>,
    /// Whether each column holds the 2015 template's 处罚类别 codes
    /// ([`PENALTY_TYPE_CODES`]).
    pub(super) type_codes: Vec<bool>,
    /// Whether the file is written in a 2015 template (has a column only
    /// those templates have): only then are the fields they lack implied.
    pub(super) template_2015: bool,
}

impl Header {
    /// Reads the header row; refuses one that lacks a core column.
    pub fn new<'h>(raw: impl IntoIterator<Item = &'h str>) -> Result<Header, HeaderError> {
        // Each cell as a code: ASCII upper case, a Chinese core name's code,
        // or a 2015 name's code (`*_` until the file's prefix is known);
        // other Chinese names stay labels (`None`).
        let mut written = Vec::new();
        let mut codes: Vec<Option<String>> = Vec::new();
        for h in raw {
            let h = h.trim().trim_start_matches('\u{feff}').trim();
            let code = if h.is_ascii() {
                Some(h.to_ascii_uppercase())
            } else {
                let key = name_key(h);
                CORE_NAMES
                    .iter()
                    .chain(NAMES_2015)
                    .find(|(name, _)| *name == key)
                    .map(|(_, code)| (*code).to_owned())
            };
            written.push(h.to_owned());
            codes.push(code);
        }
        let prefixed = |prefix: &str| codes.iter().flatten().any(|c| c.starts_with(prefix));
        let prefix = match (prefixed("XK_"), prefixed("CF_")) {
            (true, false) => Some("XK"),
            (false, true) => Some("CF"),
            _ => None,
        };
        // The codes as the file's template names them (a 2015 name's code
        // with the file's prefix; a name both templates have stays a
        // label in a file of no one kind).
        let template_codes: Vec<Option<String>> = codes
            .into_iter()
            .map(|code| {
                let code = code?;
                match code.strip_prefix('*') {
                    Some(rest) => prefix.map(|p| format!("{p}{rest}")),
                    None => Some(code),
                }
            })
            .collect();
        let columns: Vec<Column> = template_codes
            .iter()
            .zip(&written)
            .map(|(code, h)| match code {
                Some(code) => Column::Code(
                    LEGACY_COLUMNS
                        .iter()
                        .find(|(old, _, _)| old == code)
                        .map_or_else(|| code.clone(), |(_, new, _)| (*new).to_owned()),
                ),
                None => Column::Label(h.clone()),
            })
            .collect();
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
                SKIPPED_COLUMNS.iter().find(|s| s.code == code)
            })
            .collect();
        let type_codes = template_codes
            .iter()
            .map(|code| {
                code.as_deref()
                    .is_some_and(|c| TYPE_CODE_COLUMNS.contains(&c))
            })
            .collect();
        let template_2015 = template_codes.iter().flatten().any(|code| {
            LEGACY_COLUMNS
                .iter()
                .any(|(old, _, of_2015)| *of_2015 && old == code)
                || SKIPPED_COLUMNS.iter().any(|s| s.code == code)
        });
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
            type_codes,
            template_2015,
        })
    }

    /// The columns read and not kept, as written, each with why (an older
    /// template's `SJC`, `CF_ZT`): for the tool to say once per file.
    pub fn skipped(&self) -> Vec<(&str, &'static str)> {
        (0..self.len())
            .filter_map(|i| self.skipped[i].map(|s| (self.written(i), s.why)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_tables_are_written_as_names_are_compared() {
        for (name, _) in CORE_NAMES.iter().chain(NAMES_2015) {
            assert_eq!(name_key(name), *name);
        }
    }
}
