//! Each row of a file mapped to a record in the ingest format, with the
//! values of older exports normalised and reported.

use std::collections::BTreeMap;

use crate::catalog::{Catalog, FieldSpec, FieldType};
use crate::person::IdDocument;
use crate::tier::Tier;
use crate::value::Date;

use super::header::{Column, Core, PENALTY_TYPE_CODES, field_of};
use super::{
    Cell, FileKind, Header, MappedAuthority, MappedRecord, MappedSubject, RowError, Warning,
};

/// Where an implied field's value comes from.
#[derive(Debug, Clone, Copy)]
enum Implied {
    DecisionDate,
    AuthorityName,
    AuthorityCode,
    /// [`Date::LATEST_PLAUSIBLE`], what the standard writes for 长期.
    NoEnd,
}

/// Fields the 2015 templates have no column for, read from the row's
/// other values when a file in such a template has no such column (with a
/// warning each, docs/double-publicity.md): a licence is valid from its
/// decision (that template has only 许可截止期, read as `XK_YXQZI`); the
/// authority that decided is the unit the data comes from (数据来源单位);
/// a penalty whose file states no 处罚有效期 is read as having no end
/// (长期).
const IMPLIED_FIELDS: &[(&str, Implied)] = &[
    ("XK_YXQZ", Implied::DecisionDate),
    ("XK_LYDW", Implied::AuthorityName),
    ("XK_LYDWDM", Implied::AuthorityCode),
    ("CF_YXQ", Implied::NoEnd),
    ("CF_SJLY", Implied::AuthorityName),
    ("CF_SJLYDM", Implied::AuthorityCode),
];

/// What the columns of a row of one kind fill, resolved once per kind.
#[derive(Debug)]
struct KindTargets<'c> {
    kind: String,
    /// The field each column fills (`None` for core and skipped columns).
    columns: Vec<Option<Target<'c>>>,
    /// The [`IMPLIED_FIELDS`] the kind has and no column fills.
    implied: Vec<(&'static str, Implied)>,
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
    /// Per kind seen, what its rows' columns fill.
    targets: Vec<KindTargets<'c>>,
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
            // Without a tier table the types still come from every column
            // that gives them.
            None => (0..header.len())
                .filter(|&i| matches!(&header.columns[i], Column::Code(c) if c == "CF_CFLB"))
                .collect(),
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
    pub(super) fn map_cells(
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
        for (i, skipped) in self.header.skipped.iter().enumerate() {
            if let Some(s) = skipped
                && !s.accepts.is_empty()
                && !cells[i].is_empty()
                && !s.accepts.contains(&cells[i])
            {
                let column = self.header.written(i).to_owned();
                return Err(RowError {
                    field: "row",
                    problem: format!("{column} '{}': {}", cells[i], s.refused),
                    column: Some(column),
                });
            }
        }
        let types = self.types(cells, warnings);
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
            None => self.row_kind(cells, &types)?,
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
        for (i, (value, target)) in cells.iter().zip(&self.targets[t].columns).enumerate() {
            let (Some(target), false) = (target, value.is_empty()) else {
                continue;
            };
            if self.tier_columns.contains(&i) {
                continue;
            }
            fields.insert(target.name.clone(), target.cell(value, warnings));
        }
        // The penalty types, from every column that gives them.
        if !types.is_empty()
            && let Some(target) = self
                .tier_columns
                .first()
                .and_then(|&i| self.targets[t].columns[i].as_ref())
        {
            fields.insert(target.name.clone(), Cell::Text(types));
        }
        let decision_date = decision_date.map(|d| read_date("decision date", d, warnings));
        let no_end = Date::LATEST_PLAUSIBLE.to_string();
        for &(field, from) in &self.targets[t].implied {
            let (value, what) = match from {
                Implied::DecisionDate => (decision_date.as_deref(), "the decision date"),
                Implied::AuthorityName => (authority.name.as_deref(), "the deciding authority"),
                Implied::AuthorityCode => (
                    authority.code.as_deref(),
                    "the deciding authority's credit code",
                ),
                Implied::NoEnd => (Some(no_end.as_str()), "长期 (no end is stated)"),
            };
            let Some(value) = value else { continue };
            warnings.push(Warning {
                column: field.to_owned(),
                text: format!("missing; read as {what}, {value}"),
            });
            fields.insert(field.to_owned(), Cell::Text(value.to_owned()));
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
        if let Some(i) = self.targets.iter().position(|t| t.kind == kind) {
            return i;
        }
        let spec = self.catalog.and_then(|c| c.kind(kind));
        let columns: Vec<Option<Target<'c>>> = self
            .header
            .columns
            .iter()
            .zip(self.header.is_core.iter().zip(&self.header.skipped))
            .map(|(column, (&core, skipped))| {
                (!core && skipped.is_none()).then(|| {
                    let name = field_of(spec, column).to_owned();
                    let field = spec.and_then(|k| k.field(&name));
                    Target { name, spec: field }
                })
            })
            .collect();
        let implied = IMPLIED_FIELDS
            .iter()
            .copied()
            .filter(|(field, _)| {
                self.header.template_2015
                    && spec.is_some_and(|k| k.field(field).is_some())
                    && !columns.iter().flatten().any(|t| t.name == *field)
            })
            .collect();
        self.targets.push(KindTargets {
            kind: kind.to_owned(),
            columns,
            implied,
        });
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
    fn row_kind(&self, cells: &[&str], types: &str) -> Result<String, RowError> {
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

    /// The penalty types a row gives: the values of its columns of types
    /// (`CF_CFLB`, or the 2015 template's two), joined with `;`, the 2015
    /// template's codes read as the types they name, with a warning.
    fn types(&self, cells: &[&str], warnings: &mut Vec<Warning>) -> String {
        let mut parts: Vec<&str> = Vec::new();
        for &i in &self.tier_columns {
            let value = cells[i];
            if value.is_empty() {
                continue;
            }
            let named = self.header.type_codes[i]
                .then(|| PENALTY_TYPE_CODES.iter().find(|(code, _)| *code == value))
                .flatten();
            match named {
                Some((_, types)) => {
                    warnings.push(Warning {
                        column: self.header.written(i).to_owned(),
                        text: format!("'{value}' (a 2015 处罚类别 code) read as '{types}'"),
                    });
                    parts.push(types);
                }
                None => parts.push(value),
            }
        }
        parts.join(";")
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
                    .columns
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
