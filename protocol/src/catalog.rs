//! The credit information catalog (信用信息目录): which record kinds exist, who
//! may see them (public attribute), how long they stay public (publicity
//! period), which red or black list they feed, whether they fall under double
//! publicity (双公示), and the kind-specific fields each kind carries.
//!
//! A catalog is one TOML file (see `config-examples/catalog.toml`) whose exact
//! bytes the roster pins through [`Catalog::digest`]. [`Catalog::from_toml_str`]
//! parses and validates it; [`RecordKind::value_from_json`] and
//! [`RecordKind::check_fields`] are what ingest and replication use to read and
//! check a record's kind-specific fields.
//!
//! The core fields every record has (kind, jurisdiction, record number,
//! subject, authority, decision date) belong to the record model, not to the
//! catalog; declaring one of their column codes as a kind field is an error.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::tier::{PenaltyTiers, Tier};
use crate::value::{Date, Decimal, FieldValue, ValueError, control_character};

/// The only `format` tag this code reads.
pub const FORMAT: &str = "rongxin-catalog/1";

/// Longest text value, in characters, when a text field gives no `max_len`.
pub const DEFAULT_MAX_LEN: u32 = 2000;

/// Column codes of the record model's core fields (subject, authority, record
/// number, decision date). Kinds may not declare them; the `XK_`/`CF_`
/// prefixed subject columns are refused too.
const CORE_FIELDS: &[&str] = &[
    "XDR_MC",
    "XDR_LB",
    "XDR_SHXYM",
    "XDR_ZJLX",
    "XDR_ZJHM",
    "XK_WSH",
    "CF_WSH",
    "XK_XKJG",
    "XK_XKJGDM",
    "CF_CFJG",
    "CF_CFJGDM",
    "XK_JDRQ",
    "CF_JDRQ",
];

/// A validated catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    version: String,
    legacy_uscc: Vec<String>,
    legacy: crate::code::LegacyCodes,
    kinds: Vec<RecordKind>,
    penalty_tiers: Option<PenaltyTiers>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    format: String,
    version: String,
    #[serde(default)]
    legacy_codes: LegacyList,
    #[serde(default)]
    penalty_tiers: Option<PenaltyTiers>,
    kinds: Vec<RecordKind>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyList {
    #[serde(default)]
    uscc: Vec<String>,
}

impl Catalog {
    /// Parses and validates a catalog file. The first problem found is
    /// returned; TOML syntax and shape errors keep their line and column.
    pub fn from_toml_str(text: &str) -> Result<Catalog, CatalogError> {
        let file: CatalogFile = toml::from_str(text).map_err(CatalogError::Parse)?;
        if file.format != FORMAT {
            return Err(CatalogError::Format { found: file.format });
        }
        if file.version.trim().is_empty() {
            return Err(CatalogError::EmptyVersion);
        }
        let mut seen = BTreeSet::new();
        for code in &file.legacy_codes.uscc {
            if code.trim().is_empty() {
                return Err(CatalogError::EmptyLegacyCode);
            }
            if !seen.insert(code.as_str()) {
                return Err(CatalogError::DuplicateLegacyCode { code: code.clone() });
            }
        }
        let legacy = crate::code::LegacyCodes::new(&file.legacy_codes.uscc)
            .map_err(CatalogError::LegacyCode)?;
        if file.kinds.is_empty() {
            return Err(CatalogError::NoKinds);
        }
        let mut codes = BTreeSet::new();
        for kind in &file.kinds {
            kind.validate()?;
            if !codes.insert(kind.code.as_str()) {
                return Err(CatalogError::DuplicateKind {
                    code: kind.code.clone(),
                });
            }
        }
        if let Some(pt) = &file.penalty_tiers {
            let info = |code: &str| {
                file.kinds
                    .iter()
                    .find(|k| k.code == code)
                    .map(|k| (k.tier, k.field(&pt.field).is_some()))
            };
            pt.validate(&info).map_err(CatalogError::PenaltyTiers)?;
        }
        Ok(Catalog {
            version: file.version,
            legacy_uscc: file.legacy_codes.uscc,
            legacy,
            kinds: file.kinds,
            penalty_tiers: file.penalty_tiers,
        })
    }

    /// How penalty types decide a penalty's tier and kind, if the catalog
    /// says (`[penalty_tiers]`).
    pub fn penalty_tiers(&self) -> Option<&PenaltyTiers> {
        self.penalty_tiers.as_ref()
    }

    /// SHA-256 of the exact catalog file bytes, as pinned by the roster.
    pub fn digest(toml_bytes: &[u8]) -> [u8; 32] {
        Sha256::digest(toml_bytes).into()
    }

    /// The kind with this code, if the catalog has it.
    pub fn kind(&self, code: &str) -> Option<&RecordKind> {
        self.kinds.iter().find(|k| k.code == code)
    }

    /// All kinds, in file order.
    pub fn kinds(&self) -> &[RecordKind] {
        &self.kinds
    }

    /// The catalog edition shown to operators, such as `2026.1`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Fujian pilot credit codes accepted although their check character
    /// fails (`[legacy_codes] uscc`); the code module decides what to do with them.
    pub fn legacy_uscc(&self) -> &[String] {
        &self.legacy_uscc
    }

    /// The legacy allow-list, checked when the catalog was loaded (each entry
    /// a well-formed credit code that fails only its check character).
    pub fn legacy_codes(&self) -> &crate::code::LegacyCodes {
        &self.legacy
    }
}

/// Who may see records of a kind (公开属性).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicAttribute {
    /// 公开: anyone, through the public portal.
    Public,
    /// 有条件公开: with the subject's consent or by the verified subject; every query is registered.
    Conditional,
    /// 不予公开: government sharing only.
    Restricted,
}

impl PublicAttribute {
    /// The Chinese name: 公开, 有条件公开 or 不予公开.
    pub fn label_zh(self) -> &'static str {
        match self {
            PublicAttribute::Public => "公开",
            PublicAttribute::Conditional => "有条件公开",
            PublicAttribute::Restricted => "不予公开",
        }
    }
    /// The catalog spelling: `public`, `conditional` or `restricted`.
    pub fn as_str(self) -> &'static str {
        match self {
            PublicAttribute::Public => "public",
            PublicAttribute::Conditional => "conditional",
            PublicAttribute::Restricted => "restricted",
        }
    }
}

impl fmt::Display for PublicAttribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The class of a record's subject (行政相对人类别).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "snake_case")]
pub enum SubjectClass {
    /// 法人及非法人组织, identified by a unified social credit code.
    LegalPerson,
    /// 自然人, identified by a resident ID number.
    NaturalPerson,
    /// 个体工商户, identified by a credit code (or its operator's ID number).
    IndividualBusiness,
}

impl SubjectClass {
    /// The Chinese name: 法人及非法人组织, 自然人 or 个体工商户.
    pub fn label_zh(self) -> &'static str {
        match self {
            SubjectClass::LegalPerson => "法人及非法人组织",
            SubjectClass::NaturalPerson => "自然人",
            SubjectClass::IndividualBusiness => "个体工商户",
        }
    }
    /// The catalog spelling, such as `legal_person`.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectClass::LegalPerson => "legal_person",
            SubjectClass::NaturalPerson => "natural_person",
            SubjectClass::IndividualBusiness => "individual_business",
        }
    }
}

impl fmt::Display for SubjectClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which derived list (红黑榜) records of a kind appear on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListKind {
    /// On no list.
    None,
    /// A red list (诚实守信 honours).
    Red,
    /// A black list (严重失信).
    Black,
}

impl ListKind {
    /// The catalog spelling: `none`, `red` or `black`.
    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::None => "none",
            ListKind::Red => "red",
            ListKind::Black => "black",
        }
    }
}

impl fmt::Display for ListKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A length of time in whole years, months and days, written `3y`, `6mo`,
/// `90d` or combined largest unit first (`1y6mo`); zero is written `0d`.
///
/// Years and months are calendar units: adding them keeps the day of the month
/// and clamps it to the end of a shorter month (see [`Date::add`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Period {
    /// Whole years.
    pub years: u32,
    /// Whole months.
    pub months: u32,
    /// Whole days.
    pub days: u32,
}

/// Why a period string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeriodError {
    /// Not of the form `<n>y<n>mo<n>d`.
    #[error(
        "'{0}' is not a period: write whole numbers followed by y (years), mo (months) or d (days), \
         largest unit first, for example 6mo, 3y, 1y6mo or 0d"
    )]
    Syntax(String),
    /// A number does not fit in 32 bits.
    #[error("'{0}' has a number too large for a period")]
    TooLarge(String),
}

impl Period {
    /// A period of `years`, `months` and `days`.
    pub const fn new(years: u32, months: u32, days: u32) -> Period {
        Period {
            years,
            months,
            days,
        }
    }

    /// Whether the period is zero long.
    pub fn is_zero(&self) -> bool {
        self.years == 0 && self.months == 0 && self.days == 0
    }

    /// `date` plus this period (years and months first, then days), or `None`
    /// if the result would fall after 9999-12-31.
    pub fn add_to(&self, date: Date) -> Option<Date> {
        // Anything larger certainly passes year 9999; the bound also keeps
        // `Date::add`'s month arithmetic far from overflow.
        if self.years > 9999 || self.months > 9999 * 12 || self.days > 9999 * 366 {
            return None;
        }
        date.add(self.years, self.months, self.days)
    }

    /// A decision date on which `self` ends after `other`, trying every day
    /// of a common and a leap year (month lengths are what make it vary).
    fn can_end_after(&self, other: &Period) -> Option<Date> {
        let start = Date::new(2023, 1, 1)?;
        (0..731).filter_map(|i| start.add(0, 0, i)).find(|&from| {
            match (self.add_to(from), other.add_to(from)) {
                (None, Some(_)) => true,
                (Some(a), Some(b)) => a > b,
                (_, None) => false,
            }
        })
    }
}

impl FromStr for Period {
    type Err = PeriodError;
    fn from_str(s: &str) -> Result<Period, PeriodError> {
        let syntax = || PeriodError::Syntax(s.to_owned());
        if s.is_empty() {
            return Err(syntax());
        }
        let mut period = Period::default();
        let mut rest = s;
        let mut last_unit = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(syntax());
            }
            let n: u32 = rest[..digits]
                .parse()
                .map_err(|_| PeriodError::TooLarge(s.to_owned()))?;
            rest = &rest[digits..];
            let (unit, len) = if rest.starts_with('y') {
                (1, 1)
            } else if rest.starts_with("mo") {
                (2, 2)
            } else if rest.starts_with('d') {
                (3, 1)
            } else {
                return Err(syntax());
            };
            if unit <= last_unit {
                return Err(syntax());
            }
            last_unit = unit;
            rest = &rest[len..];
            match unit {
                1 => period.years = n,
                2 => period.months = n,
                _ => period.days = n,
            }
        }
        Ok(period)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0d");
        }
        if self.years > 0 {
            write!(f, "{}y", self.years)?;
        }
        if self.months > 0 {
            write!(f, "{}mo", self.months)?;
        }
        if self.days > 0 {
            write!(f, "{}d", self.days)?;
        }
        Ok(())
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How long records of a kind stay public, counted from the decision date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publicity {
    /// Minimum period: credit repair may be applied for only after it.
    pub min: Period,
    /// Maximum period, after which the record leaves public query and lists;
    /// `None` means no fixed end (the origin revokes the record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Period>,
}

/// The type of a kind-specific field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Free text (JSON string), at most `max_len` characters, not blank.
    Text,
    /// A whole number (JSON integer).
    Integer,
    /// An exact decimal (JSON string, or a JSON number with an exact short form).
    Decimal,
    /// A `YYYY-MM-DD` date (JSON string).
    Date,
    /// A boolean (JSON `true`/`false`).
    Bool,
    /// A unified social credit code (JSON string), checked by the code module.
    Uscc,
    /// A resident ID number (JSON string), checked by the code module.
    ResidentId,
    /// One of the field's `choices` (JSON string).
    Enum,
}

impl FieldType {
    /// The catalog spelling, such as `resident_id`.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Integer => "integer",
            FieldType::Decimal => "decimal",
            FieldType::Date => "date",
            FieldType::Bool => "bool",
            FieldType::Uscc => "uscc",
            FieldType::ResidentId => "resident_id",
            FieldType::Enum => "enum",
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One kind-specific field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The column code, such as `CF_NR_FK`.
    pub name: String,
    /// The Chinese label, such as 罚款金额（万元）.
    pub label: String,
    /// The value type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Whether every record of the kind must carry it.
    pub required: bool,
    /// Text only: most characters allowed ([`DEFAULT_MAX_LEN`] if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<u32>,
    /// Enum only: the allowed values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// Enum only: values found in older exports and the choice each is
    /// read as (`rongxinctl submit` normalises them, with a warning).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub legacy: BTreeMap<String, String>,
}

impl FieldSpec {
    /// The effective character limit of a text field; `None` for other types.
    pub fn max_chars(&self) -> Option<u32> {
        (self.field_type == FieldType::Text).then(|| self.max_len.unwrap_or(DEFAULT_MAX_LEN))
    }

    fn expected(&self) -> String {
        match self.field_type {
            FieldType::Text => "text (a JSON string)".into(),
            FieldType::Integer => "a whole number such as 3".into(),
            FieldType::Decimal => "a decimal such as 0.2".into(),
            FieldType::Date => "a date such as \"2026-03-01\"".into(),
            FieldType::Bool => "true or false".into(),
            FieldType::Uscc => "a unified social credit code such as \"91350100757384472D\"".into(),
            FieldType::ResidentId => "a resident ID number such as \"11010519491231002X\"".into(),
            FieldType::Enum => format!("one of {} (a JSON string)", self.choices.join(", ")),
        }
    }

    fn wrong_type(&self, got: String) -> FieldProblem {
        FieldProblem::WrongType {
            expected: self.expected(),
            got,
        }
    }

    fn value_from_json(&self, v: &serde_json::Value) -> Result<FieldValue, FieldProblem> {
        use serde_json::Value;
        match (self.field_type, v) {
            (
                FieldType::Text | FieldType::Enum | FieldType::Uscc | FieldType::ResidentId,
                Value::String(s),
            ) => Ok(FieldValue::Text(s.clone())),
            (FieldType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => n
                .as_i64()
                .map(FieldValue::Integer)
                .ok_or_else(|| FieldProblem::OutOfRange(n.to_string())),
            (FieldType::Decimal, Value::String(s)) => s
                .parse()
                .map(FieldValue::Decimal)
                .map_err(FieldProblem::Value),
            (FieldType::Decimal, Value::Number(n)) => {
                decimal_from_number(n).map(FieldValue::Decimal)
            }
            (FieldType::Date, Value::String(s)) => {
                s.parse().map(FieldValue::Date).map_err(FieldProblem::Value)
            }
            (FieldType::Bool, Value::Bool(b)) => Ok(FieldValue::Bool(*b)),
            (_, other) => Err(self.wrong_type(describe_json(other))),
        }
    }

    fn check_value(
        &self,
        v: &FieldValue,
        code_check: &dyn Fn(FieldType, &str) -> Result<(), String>,
    ) -> Result<(), FieldProblem> {
        match (self.field_type, v) {
            (FieldType::Text, FieldValue::Text(t)) => {
                let max = self.max_len.unwrap_or(DEFAULT_MAX_LEN);
                let len = t.chars().count();
                if t.trim().is_empty() {
                    Err(FieldProblem::Empty)
                } else if len > max as usize {
                    Err(FieldProblem::TooLong { len, max })
                } else {
                    Ok(())
                }
            }
            (FieldType::Enum, FieldValue::Text(t)) => {
                if self.choices.iter().any(|c| c == t) {
                    Ok(())
                } else {
                    Err(FieldProblem::NotAChoice {
                        value: t.clone(),
                        choices: self.choices.clone(),
                    })
                }
            }
            (ty @ (FieldType::Uscc | FieldType::ResidentId), FieldValue::Text(t)) => {
                code_check(ty, t).map_err(FieldProblem::BadCode)
            }
            (FieldType::Integer, FieldValue::Integer(_))
            | (FieldType::Decimal, FieldValue::Decimal(_))
            | (FieldType::Date, FieldValue::Date(_))
            | (FieldType::Bool, FieldValue::Bool(_)) => Ok(()),
            (_, other) => Err(self.wrong_type(
                match other {
                    FieldValue::Text(_) => "a text value",
                    FieldValue::Integer(_) => "a whole-number value",
                    FieldValue::Decimal(_) => "a decimal value",
                    FieldValue::Date(_) => "a date value",
                    FieldValue::Bool(_) => "a boolean value",
                }
                .into(),
            )),
        }
    }

    fn check_for_signing(&self, v: &FieldValue) -> Result<(), FieldProblem> {
        let (earliest, latest) = (Date::EARLIEST_PLAUSIBLE, Date::LATEST_PLAUSIBLE);
        match (self.field_type, v) {
            (FieldType::Text, FieldValue::Text(t)) => match control_character(t, true) {
                Some((at, c)) => Err(FieldProblem::ControlCharacter {
                    at,
                    code: u32::from(c),
                }),
                None => Ok(()),
            },
            (_, FieldValue::Date(d)) if !(earliest..=latest).contains(d) => {
                Err(FieldProblem::ImplausibleDate {
                    date: *d,
                    earliest,
                    latest,
                })
            }
            (_, FieldValue::Decimal(d)) if d.is_negative() => {
                Err(FieldProblem::Negative(d.to_string()))
            }
            (_, FieldValue::Integer(i)) if *i < 0 => Err(FieldProblem::Negative(i.to_string())),
            _ => Ok(()),
        }
    }

    fn validate(&self) -> Result<(), FieldSpecProblem> {
        use FieldSpecProblem as P;
        let name = self.name.as_str();
        if !is_code(name, 1, 32) {
            return Err(P::BadName);
        }
        let prefixed_subject_column = ["XK_", "CF_"].iter().any(|p| {
            name.strip_prefix(p)
                .is_some_and(|rest| rest.starts_with("XDR_") && CORE_FIELDS.contains(&rest))
        });
        if CORE_FIELDS.contains(&name) || prefixed_subject_column {
            return Err(P::CoreField);
        }
        if self.label.trim().is_empty() {
            return Err(P::EmptyLabel);
        }
        let field_type = self.field_type;
        if field_type == FieldType::Enum {
            if self.choices.is_empty() {
                return Err(P::EnumWithoutChoices);
            }
            let mut seen = BTreeSet::new();
            for choice in &self.choices {
                if choice.trim().is_empty() {
                    return Err(P::EmptyChoice);
                }
                if !seen.insert(choice) {
                    return Err(P::DuplicateChoice(choice.clone()));
                }
            }
        } else if !self.choices.is_empty() {
            return Err(P::ChoicesNotAllowed(field_type));
        }
        if let Some((from, to)) = self
            .legacy
            .iter()
            .find(|(from, to)| !self.choices.contains(to) || self.choices.contains(from))
        {
            return Err(P::BadLegacyValue {
                from: from.clone(),
                to: to.clone(),
            });
        }
        match self.max_len {
            Some(_) if field_type != FieldType::Text => Err(P::MaxLenNotAllowed(field_type)),
            Some(0) => Err(P::ZeroMaxLen),
            _ => Ok(()),
        }
    }
}

/// The 双公示 column of a penalty's publicity end date (公示截止期, national
/// penalty standard `CF_GSJZQ`): when a record carries it, publicity ends
/// then, if earlier than the kind's maximum (国家发展改革委令第36号; the
/// catalog's comment on the penalty kinds).
pub const PUBLICITY_END_FIELD: &str = "CF_GSJZQ";

/// One record kind of the catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordKind {
    /// The kind code, such as `CF`.
    pub code: String,
    /// The Chinese name, such as 行政处罚.
    pub name: String,
    /// Who may see records of this kind.
    pub public: PublicAttribute,
    /// How long records stay public.
    pub publicity: Publicity,
    /// Which derived list the kind feeds.
    pub list: ListKind,
    /// The list's category (such as 司法); set exactly for red and black kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_category: Option<String>,
    /// 双公示: decisions must be public within 7 working days.
    pub double_publicity: bool,
    /// The dishonesty tier of the kind's records (失信程度), for kinds of
    /// dishonesty information with a fixed publicity period; its
    /// `publicity.max` must lie within the tier's ceiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    /// Which subject classes records of the kind may be about.
    pub subjects: Vec<SubjectClass>,
    /// The kind-specific fields, in display order.
    #[serde(default)]
    pub fields: Vec<FieldSpec>,
}

impl RecordKind {
    /// The field named `name`, if the kind declares it.
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Reads one field from its JSON form, checking only the JSON type and the
    /// date or decimal syntax; [`RecordKind::check_fields`] checks the rest.
    ///
    /// Strict by design: text-like fields take only JSON strings, integers
    /// only JSON integers, dates only `"YYYY-MM-DD"` strings, booleans only
    /// `true`/`false`. A decimal is best sent as a string (`"0.2"`). A JSON
    /// number is also accepted: serde_json holds it as an `f64`, so it is
    /// taken only when its shortest round-trip text is a plain decimal with at
    /// most 15 significant digits (every such decimal survives the `f64`
    /// exactly) and at most [`Decimal::MAX_SCALE`] decimals; `1e21` or
    /// `0.1234567` are refused with a hint to send a string.
    #[allow(
        clippy::result_large_err,
        reason = "built only when a field is refused; boxing would make every caller's match clumsier"
    )]
    pub fn value_from_json(
        &self,
        field: &str,
        v: &serde_json::Value,
    ) -> Result<FieldValue, FieldError> {
        let spec = self.field(field).ok_or_else(|| self.unknown(field))?;
        spec.value_from_json(v).map_err(|p| self.error(spec, p))
    }

    /// Checks a record's kind-specific fields: every required field present,
    /// no unknown field, each value of its field's type, text not blank and
    /// within `max_len` characters, enum values among the choices, and credit
    /// codes and ID numbers accepted by `code_check` (whose message is kept).
    /// Returns every problem found, not just the first.
    pub fn check_fields(
        &self,
        fields: &BTreeMap<String, FieldValue>,
        code_check: &dyn Fn(FieldType, &str) -> Result<(), String>,
    ) -> Result<(), Vec<FieldError>> {
        let mut errors: Vec<FieldError> = fields
            .keys()
            .filter(|name| self.field(name).is_none())
            .map(|name| self.unknown(name))
            .collect();
        for spec in &self.fields {
            let problem = match fields.get(&spec.name) {
                None if spec.required => Some(FieldProblem::Missing),
                None => None,
                Some(v) => spec.check_value(v, code_check).err(),
            };
            errors.extend(problem.map(|p| self.error(spec, p)));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The ingest rules of kind-specific fields, on top of
    /// [`RecordKind::check_fields`]: free text holds no control character
    /// but tab and line breaks (see [`crate::value::control_character`]),
    /// dates lie within [`Date::EARLIEST_PLAUSIBLE`]..=[`Date::LATEST_PLAUSIBLE`],
    /// and whole numbers and decimals (amounts, counts) are not negative.
    ///
    /// The origin applies these before it signs a new record; a replica
    /// applies only `check_fields`, so that entries signed before a rule
    /// was tightened keep verifying. Returns every problem found.
    pub fn check_fields_for_signing(
        &self,
        fields: &BTreeMap<String, FieldValue>,
    ) -> Result<(), Vec<FieldError>> {
        let errors: Vec<FieldError> = self
            .fields
            .iter()
            .filter_map(|spec| {
                let problem = spec.check_for_signing(fields.get(&spec.name)?).err()?;
                Some(self.error(spec, problem))
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The day a record decided on `decision_date` leaves public view
    /// (`publicity.max` after it), or `None` when the kind has no fixed end.
    pub fn publicity_end(&self, decision_date: Date) -> Option<Date> {
        self.publicity.max.and_then(|p| p.add_to(decision_date))
    }

    /// The last day a record is public: the kind's maximum period
    /// ([`RecordKind::publicity_end`]), ended earlier by the record's own
    /// publicity end date ([`PUBLICITY_END_FIELD`], 公示截止期) when it
    /// carries one; never later than the maximum.
    pub fn publicity_until(&self, record: &crate::record::Record) -> Option<Date> {
        let max = self.publicity_end(record.decision_date);
        let own = match record.fields.get(PUBLICITY_END_FIELD) {
            Some(crate::value::FieldValue::Date(d)) => Some(*d),
            _ => None,
        };
        match (max, own) {
            (Some(m), Some(o)) => Some(m.min(o)),
            (m, o) => m.or(o),
        }
    }

    /// The first day credit repair may be applied for (`publicity.min` after
    /// `decision_date`); `None` only past the year 9999.
    pub fn earliest_repair(&self, decision_date: Date) -> Option<Date> {
        self.publicity.min.add_to(decision_date)
    }

    fn error(&self, spec: &FieldSpec, problem: FieldProblem) -> FieldError {
        FieldError {
            kind: self.code.clone(),
            field: spec.name.clone(),
            label: Some(spec.label.clone()),
            problem,
        }
    }

    fn unknown(&self, field: &str) -> FieldError {
        FieldError {
            kind: self.code.clone(),
            field: field.to_owned(),
            label: None,
            problem: FieldProblem::Unknown {
                known: self.fields.iter().map(|f| f.name.clone()).collect(),
            },
        }
    }

    fn validate(&self) -> Result<(), CatalogError> {
        self.validate_settings()
            .map_err(|problem| CatalogError::Kind {
                kind: self.code.clone(),
                problem,
            })?;
        let mut names = BTreeSet::new();
        for field in &self.fields {
            let problem = match field.validate() {
                Err(problem) => problem,
                Ok(()) if names.insert(field.name.as_str()) => continue,
                Ok(()) => FieldSpecProblem::Duplicate,
            };
            return Err(CatalogError::Field {
                kind: self.code.clone(),
                field: field.name.clone(),
                problem,
            });
        }
        Ok(())
    }

    fn validate_settings(&self) -> Result<(), KindProblem> {
        use KindProblem as P;
        if !is_code(&self.code, 2, 16) {
            return Err(P::BadCode);
        }
        if self.name.trim().is_empty() {
            return Err(P::EmptyName);
        }
        if self.subjects.is_empty() {
            return Err(P::NoSubjects);
        }
        let mut subjects = BTreeSet::new();
        if let Some(&subject) = self.subjects.iter().find(|s| !subjects.insert(**s)) {
            return Err(P::DuplicateSubject(subject));
        }
        let Publicity { min, max } = self.publicity;
        if max.is_some_and(|m| m.is_zero()) {
            return Err(P::ZeroMaxPeriod);
        }
        if let Some(max) = max
            && let Some(from) = min.can_end_after(&max)
        {
            return Err(P::PeriodOrder { min, max, from });
        }
        let has_category = self
            .list_category
            .as_deref()
            .is_some_and(|c| !c.trim().is_empty());
        match self.list {
            ListKind::Red | ListKind::Black if !has_category => {
                return Err(P::MissingListCategory(self.list));
            }
            ListKind::None if self.list_category.is_some() => return Err(P::StrayListCategory),
            _ => {}
        }
        if self.double_publicity && self.public != PublicAttribute::Public {
            return Err(P::DoublePublicityNotPublic(self.public));
        }
        if let Some(tier) = self.tier {
            let Some(max) = max else {
                return Err(P::TierWithoutEnd(tier));
            };
            if let Some(from) = max.can_end_after(&tier.ceiling()) {
                return Err(P::TierCeiling { tier, max, from });
            }
        }
        Ok(())
    }
}

/// `^[A-Z][A-Z0-9_]{min_len-1,max_len-1}$`.
fn is_code(s: &str, min_len: usize, max_len: usize) -> bool {
    let b = s.as_bytes();
    (min_len..=max_len).contains(&b.len())
        && b[0].is_ascii_uppercase()
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
}

/// Most significant digits a JSON float may have to be read as a decimal:
/// every decimal with at most 15 significant digits survives an `f64` exactly.
const MAX_FLOAT_DIGITS: usize = 15;

fn decimal_from_number(n: &serde_json::Number) -> Result<Decimal, FieldProblem> {
    let text = n.to_string();
    let inexact = || FieldProblem::InexactNumber(text.clone());
    let d: Decimal = text.parse().map_err(|e| match e {
        _ if !n.is_f64() => FieldProblem::OutOfRange(text.clone()),
        ValueError::DecimalSyntax(_) | ValueError::DecimalScale(_) => inexact(),
        other => FieldProblem::Value(other),
    })?;
    if n.is_f64() {
        let digits = d
            .as_str()
            .bytes()
            .filter(u8::is_ascii_digit)
            .skip_while(|c| *c == b'0')
            .count();
        if digits > MAX_FLOAT_DIGITS {
            return Err(inexact());
        }
    }
    Ok(d)
}

fn describe_json(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "JSON null".into(),
        Value::Bool(b) => format!("the JSON boolean {b}"),
        Value::Number(n) => format!("the JSON number {n}"),
        Value::String(s) if s.chars().count() > 40 => {
            format!(
                "the JSON string \"{}…\"",
                s.chars().take(40).collect::<String>()
            )
        }
        Value::String(s) => format!("the JSON string \"{s}\""),
        Value::Array(_) => "a JSON array".into(),
        Value::Object(_) => "a JSON object".into(),
    }
}

/// A problem with one field of one record, naming the kind, the field and its
/// label, for example `CF.CF_NR_FK (罚款金额（万元）): expected a decimal such as
/// 0.2, got a JSON array`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}.{field}{}: {problem}", label_suffix(.label.as_deref()))]
#[non_exhaustive]
pub struct FieldError {
    /// The kind code.
    pub kind: String,
    /// The field name as submitted.
    pub field: String,
    /// The field's label; `None` when the kind has no such field.
    pub label: Option<String>,
    /// What is wrong.
    pub problem: FieldProblem,
}

fn label_suffix(label: Option<&str>) -> String {
    label.map(|l| format!(" ({l})")).unwrap_or_default()
}

/// What is wrong with a field, inside a [`FieldError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldProblem {
    /// The kind declares no field of this name.
    #[error("no such field in this kind (its fields are {})", known.join(", "))]
    Unknown {
        /// The fields the kind does declare.
        known: Vec<String>,
    },
    /// A required field is absent.
    #[error("required but missing")]
    Missing,
    /// The value has the wrong JSON type or value variant.
    #[error("expected {expected}, got {got}")]
    WrongType {
        /// What the field takes.
        expected: String,
        /// What was given.
        got: String,
    },
    /// A date or decimal string that does not parse.
    #[error("{0}")]
    Value(ValueError),
    /// A JSON number that cannot be taken as an exact decimal.
    #[error(
        "the JSON number {0} is not an exact decimal with at most 15 significant digits and \
         6 decimals: send the amount as a JSON string, for example \"0.2\""
    )]
    InexactNumber(String),
    /// A JSON integer too large for the field (beyond `i64`, or more than
    /// [`Decimal::MAX_INTEGER_DIGITS`] digits for a decimal).
    #[error("the JSON number {0} is too large for this field")]
    OutOfRange(String),
    /// A text value that is empty or only whitespace.
    #[error("empty or only whitespace: give a value or leave the field out")]
    Empty,
    /// A text value longer than the field allows.
    #[error("{len} characters, more than the limit of {max}")]
    TooLong {
        /// Characters given.
        len: usize,
        /// Characters allowed.
        max: u32,
    },
    /// An enum value that is not among the choices.
    #[error("'{value}' is not one of {}", choices.join(", "))]
    NotAChoice {
        /// The value given.
        value: String,
        /// The allowed values.
        choices: Vec<String>,
    },
    /// A credit code or ID number refused by the code check.
    #[error("{0}")]
    BadCode(String),
    /// Free text holding a control character other than tab or a line
    /// break (an ingest rule, see [`RecordKind::check_fields_for_signing`]).
    #[error(
        "holds the control character U+{code:04X} at character {at}: free text may hold tabs \
         and line breaks but no other control character; remove it"
    )]
    ControlCharacter {
        /// Position of the character, counting characters from 0.
        at: usize,
        /// Its code point.
        code: u32,
    },
    /// A date outside the plausible range (an ingest rule).
    #[error(
        "{date} is outside {earliest} to {latest}, the dates a record can plausibly carry; \
         check for a typing or export error (long-term validity is written {latest})"
    )]
    ImplausibleDate {
        /// The date given.
        date: Date,
        /// The earliest plausible date.
        earliest: Date,
        /// The latest plausible date.
        latest: Date,
    },
    /// A negative whole number or decimal (an ingest rule).
    #[error("{0} is negative: amounts and counts are never below zero")]
    Negative(String),
}

/// Why a catalog file was refused. Each message names the kind or field and
/// says what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// TOML syntax, an unknown or missing key, or a value of the wrong shape
    /// (including a bad period); the message carries line and column.
    #[error("catalog file: {0}")]
    Parse(toml::de::Error),
    /// The `format` tag is not [`FORMAT`].
    #[error("format = \"{found}\" is not supported: this node reads format = \"{FORMAT}\"")]
    Format {
        /// The tag found.
        found: String,
    },
    /// `version` is blank.
    #[error("version is empty: set it to the edition operators should see, such as \"2026.1\"")]
    EmptyVersion,
    /// `legacy_codes.uscc` has a blank entry.
    #[error("legacy_codes.uscc has an empty entry: remove it")]
    EmptyLegacyCode,
    /// `legacy_codes.uscc` lists a code twice.
    #[error("legacy_codes.uscc lists {code} twice: remove one")]
    DuplicateLegacyCode {
        /// The repeated code.
        code: String,
    },
    /// A `legacy_codes.uscc` entry is not a pilot code that fails only its check character.
    #[error("legacy_codes.uscc: {0}")]
    LegacyCode(crate::code::CodeError),
    /// The catalog has no `[[kinds]]`.
    #[error("the catalog declares no [[kinds]]: add at least one record kind")]
    NoKinds,
    /// Two kinds share a code.
    #[error("kind {code} is declared twice: kind codes must be unique, rename or merge one")]
    DuplicateKind {
        /// The repeated code.
        code: String,
    },
    /// A kind's own settings are wrong.
    #[error("kind {kind}: {problem}")]
    Kind {
        /// The kind code as written.
        kind: String,
        /// What is wrong.
        problem: KindProblem,
    },
    /// `[penalty_tiers]` does not fit the kinds.
    #[error("penalty_tiers: {0}")]
    PenaltyTiers(String),
    /// A field declaration is wrong.
    #[error("kind {kind}, field {field}: {problem}")]
    Field {
        /// The kind code.
        kind: String,
        /// The field name as written.
        field: String,
        /// What is wrong.
        problem: FieldSpecProblem,
    },
}

/// What is wrong with a kind's settings, inside [`CatalogError::Kind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KindProblem {
    /// The code does not match `^[A-Z][A-Z0-9_]{1,15}$`.
    #[error(
        "the code is invalid: use 2 to 16 characters, an uppercase ASCII letter followed by \
         uppercase letters, digits or '_' (for example CF_YZ)"
    )]
    BadCode,
    /// `name` is blank.
    #[error("name is empty: give the kind's Chinese name, such as 行政处罚")]
    EmptyName,
    /// `subjects` is empty.
    #[error(
        "subjects is empty: list at least one of legal_person, natural_person, individual_business"
    )]
    NoSubjects,
    /// `subjects` lists a class twice.
    #[error("subjects lists {0} twice: remove one")]
    DuplicateSubject(SubjectClass),
    /// `publicity.max` is zero.
    #[error("publicity.max is zero: omit max for no fixed end, or give a length such as 1y")]
    ZeroMaxPeriod,
    /// `publicity.min` can end after `publicity.max`.
    #[error(
        "publicity.min = \"{min}\" ends after publicity.max = \"{max}\" for a decision on \
         {from}: make min shorter or max longer (mixing mo and d can do this; prefer one unit)"
    )]
    PeriodOrder {
        /// The minimum period.
        min: Period,
        /// The maximum period.
        max: Period,
        /// A decision date on which min ends after max.
        from: Date,
    },
    /// A red or black kind without `list_category`.
    #[error(
        "list = \"{0}\" needs a list_category naming the list (such as \"司法\"): add list_category"
    )]
    MissingListCategory(ListKind),
    /// `list_category` on a kind with `list = "none"`.
    #[error(
        "list_category is set but list = \"none\": remove list_category or set list to \"red\" \
         or \"black\""
    )]
    StrayListCategory,
    /// A 双公示 kind that is not public.
    #[error(
        "double_publicity = true needs public = \"public\" (双公示 decisions are published), \
         found \"{0}\""
    )]
    DoublePublicityNotPublic(PublicAttribute),
    /// A tier on a kind without a fixed end of publicity.
    #[error("tier = \"{0}\" needs publicity.max: every tier has a longest publicity")]
    TierWithoutEnd(Tier),
    /// `publicity.max` beyond the tier's ceiling.
    #[error(
        "publicity.max = \"{max}\" is longer than the {tier} tier allows ({}, 国家发展改革委令第36号) \
         for a decision on {from}",
        tier.ceiling()
    )]
    TierCeiling {
        /// The kind's tier.
        tier: Tier,
        /// Its maximum period.
        max: Period,
        /// A decision date on which max ends after the ceiling.
        from: Date,
    },
}

/// What is wrong with a field declaration, inside [`CatalogError::Field`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldSpecProblem {
    /// The name does not match `^[A-Z][A-Z0-9_]{0,31}$`.
    #[error(
        "the name is invalid: use 1 to 32 characters, an uppercase ASCII letter followed by \
         uppercase letters, digits or '_' (the column code, such as CF_NR_FK)"
    )]
    BadName,
    /// The name is a core record field's column code.
    #[error(
        "this is a core record field (subject, authority, record number or decision date) that \
         every record already carries: remove it from the kind's fields"
    )]
    CoreField,
    /// The kind declares the name twice.
    #[error("declared twice in this kind: remove or rename one")]
    Duplicate,
    /// `label` is blank.
    #[error("the label is empty: give the field's Chinese label")]
    EmptyLabel,
    /// An enum field without choices.
    #[error("type = \"enum\" but no choices: add choices = [\"…\"]")]
    EnumWithoutChoices,
    /// A blank choice.
    #[error("a choice is empty: remove it")]
    EmptyChoice,
    /// A choice listed twice.
    #[error("choice '{0}' is listed twice: remove one")]
    DuplicateChoice(String),
    /// `choices` on a non-enum field.
    #[error(
        "choices are only for type = \"enum\" but this field is \"{0}\": remove them or change \
         the type"
    )]
    ChoicesNotAllowed(FieldType),
    /// `max_len` on a non-text field.
    #[error("max_len is only for type = \"text\" but this field is \"{0}\": remove it")]
    MaxLenNotAllowed(FieldType),
    /// `max_len = 0`.
    #[error("max_len = 0: give a positive limit or omit it (default {DEFAULT_MAX_LEN})")]
    ZeroMaxLen,
    /// A `legacy` value that is itself a choice, or maps to no choice.
    #[error(
        "legacy value '{from}' = '{to}': a legacy value must not be a choice and must map to one of the choices"
    )]
    BadLegacyValue {
        /// The legacy value.
        from: String,
        /// What it maps to.
        to: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const EXAMPLE: &str = include_str!("../../config-examples/catalog.toml");

    const MINIMAL: &str = r#"
format = "rongxin-catalog/1"
version = "test"

[[kinds]]
code = "XK"
name = "行政许可"
public = "public"
publicity = { min = "0d", max = "3y" }
list = "none"
double_publicity = true
subjects = ["legal_person"]

[[kinds.fields]]
name = "XK_XKLB"
label = "许可类别"
type = "enum"
required = true
choices = ["普通", "特许"]
"#;

    /// A kind with one field of every type.
    const ALL_TYPES: &str = r#"
format = "rongxin-catalog/1"
version = "test"

[[kinds]]
code = "TT"
name = "测试"
public = "conditional"
publicity = { min = "3mo", max = "1y" }
list = "black"
list_category = "测试"
double_publicity = false
subjects = ["legal_person", "natural_person"]

[[kinds.fields]]
name = "TXT"
label = "文本"
type = "text"
required = true
max_len = 5

[[kinds.fields]]
name = "INT"
label = "整数"
type = "integer"
required = false

[[kinds.fields]]
name = "DEC"
label = "金额"
type = "decimal"
required = false

[[kinds.fields]]
name = "DAY"
label = "日期"
type = "date"
required = true

[[kinds.fields]]
name = "FLAG"
label = "标志"
type = "bool"
required = false

[[kinds.fields]]
name = "ORG"
label = "机构代码"
type = "uscc"
required = false

[[kinds.fields]]
name = "PID"
label = "身份证号"
type = "resident_id"
required = false

[[kinds.fields]]
name = "CHOICE"
label = "类别"
type = "enum"
required = false
choices = ["甲", "乙"]
"#;

    fn example() -> Catalog {
        Catalog::from_toml_str(EXAMPLE).expect("example catalog loads")
    }

    fn all_types() -> RecordKind {
        let catalog = Catalog::from_toml_str(ALL_TYPES).expect("test catalog loads");
        catalog.kind("TT").expect("kind TT").clone()
    }

    /// MINIMAL with one text replacement, which must apply.
    fn edited(from: &str, to: &str) -> Result<Catalog, CatalogError> {
        assert!(MINIMAL.contains(from), "{from}");
        Catalog::from_toml_str(&MINIMAL.replacen(from, to, 1))
    }

    fn date(s: &str) -> Date {
        s.parse().expect("test date")
    }

    fn period(s: &str) -> Period {
        s.parse().expect("test period")
    }

    #[test]
    fn example_catalog_has_the_required_kinds() {
        let c = example();
        assert_eq!(c.version(), "2026.1");
        assert_eq!(c.legacy_uscc(), ["91350100M0001TGQXM"]);
        let expect = [
            ("XK", PublicAttribute::Public, ListKind::None, true),
            ("CF_QW", PublicAttribute::Public, ListKind::None, true),
            ("CF", PublicAttribute::Public, ListKind::None, true),
            ("CF_YZ", PublicAttribute::Public, ListKind::None, true),
            ("SXBZXR", PublicAttribute::Public, ListKind::Black, false),
            ("SSWF", PublicAttribute::Public, ListKind::Black, false),
            ("YZSX", PublicAttribute::Public, ListKind::Black, false),
            ("JYYC", PublicAttribute::Public, ListKind::None, false),
            ("WMDW", PublicAttribute::Public, ListKind::Red, false),
            ("DDMF", PublicAttribute::Public, ListKind::Red, false),
            ("HYRY", PublicAttribute::Public, ListKind::Red, false),
            ("XYCN", PublicAttribute::Public, ListKind::None, false),
            ("GJJQJ", PublicAttribute::Conditional, ListKind::None, false),
            ("FXFL", PublicAttribute::Restricted, ListKind::None, false),
        ];
        for (code, public, list, dp) in expect {
            let k = c.kind(code).unwrap_or_else(|| panic!("kind {code}"));
            assert_eq!(
                (k.public, k.list, k.double_publicity),
                (public, list, dp),
                "{code}"
            );
        }
        assert_eq!(c.kinds().len(), expect.len());
        let sx = c.kind("SXBZXR").unwrap();
        assert_eq!(sx.list_category.as_deref(), Some("司法"));
        assert_eq!(sx.field("SX_QX").unwrap().choices.len(), 6);
        assert_eq!(
            c.kind("SSWF").unwrap().list_category.as_deref(),
            Some("税务")
        );
        assert_eq!(
            c.kind("DDMF").unwrap().subjects,
            [SubjectClass::NaturalPerson]
        );
        let cf = c.kind("CF").unwrap();
        assert!(cf.field("CF_WFXW").unwrap().required);
        assert!(!cf.field("CF_NR_FK").unwrap().required);
        assert_eq!(cf.field("CF_NR_FK").unwrap().field_type, FieldType::Decimal);
        assert_eq!(cf.field("CF_SJLYDM").unwrap().field_type, FieldType::Uscc);
        assert_eq!(cf.field("CF_WFXW").unwrap().max_chars(), Some(500));
        assert_eq!(cf.field("BZ").unwrap().max_chars(), Some(DEFAULT_MAX_LEN));
        let xk = c.kind("XK").unwrap();
        let names: Vec<&str> = xk.fields.iter().map(|f| f.name.as_str()).collect();
        for n in [
            "XK_XKWS",
            "XK_XKLB",
            "XK_NR",
            "XK_YXQZ",
            "XK_YXQZI",
            "XK_ZT",
            "XK_LYDWDM",
            "FRDB",
            "XDR_SHZZ",
            "BZ",
        ] {
            assert!(names.contains(&n), "{n}");
        }
        // The three CF tiers carry the same columns.
        let cols = |code: &str| c.kind(code).unwrap().fields.clone();
        assert_eq!(cols("CF"), cols("CF_YZ"));
        assert_eq!(cols("CF"), cols("CF_QW"));
    }

    #[test]
    fn example_periods() {
        let c = example();
        let d = date("2025-01-31");
        let end = |code: &str| {
            c.kind(code)
                .unwrap()
                .publicity_end(d)
                .map(|e| e.to_string())
        };
        assert_eq!(end("XK"), None);
        assert_eq!(end("SXBZXR"), None);
        assert_eq!(end("CF_QW").as_deref(), Some("2025-04-30"));
        assert_eq!(end("CF").as_deref(), Some("2026-01-31"));
        assert_eq!(end("CF_YZ").as_deref(), Some("2028-01-31"));
        let cf = c.kind("CF").unwrap();
        assert_eq!(cf.earliest_repair(d), Some(date("2025-04-30")));
    }

    #[test]
    fn digest_is_sha256_of_the_bytes() {
        assert_eq!(
            hex::encode(Catalog::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(
            Catalog::digest(EXAMPLE.as_bytes()),
            Catalog::digest(MINIMAL.as_bytes())
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_line_info() {
        for (from, to) in [
            ("version = \"test\"", "version = \"test\"\nverison = \"x\""),
            (
                "double_publicity = true",
                "double_publicity = true\npublik = true",
            ),
            ("required = true", "required = true\nrequried = true"),
            ("max = \"3y\"", "max = \"3y\", mid = \"1y\""),
        ] {
            let err = edited(from, to).unwrap_err();
            assert!(matches!(err, CatalogError::Parse(_)), "{err}");
            let msg = err.to_string();
            assert!(
                msg.contains("unknown field") && msg.contains("line"),
                "{msg}"
            );
        }
    }

    #[test]
    fn missing_and_malformed_values_are_parse_errors() {
        for (from, to, needle) in [
            ("double_publicity = true\n", "", "double_publicity"),
            ("public = \"public\"", "public = \"open\"", "open"),
            ("list = \"none\"", "list = \"grey\"", "grey"),
            ("type = \"enum\"", "type = \"money\"", "money"),
            ("[\"legal_person\"]", "[\"company\"]", "company"),
            ("min = \"0d\"", "min = \"3x\"", "is not a period"),
            ("max = \"3y\"", "max = \"\"", "is not a period"),
            (
                "version = \"test\"",
                "version = \"test\"\nkinds = 3",
                "kinds",
            ),
        ] {
            let err = edited(from, to).unwrap_err();
            assert!(matches!(err, CatalogError::Parse(_)), "{err}");
            assert!(err.to_string().contains(needle), "{err}");
        }
        let no_kinds = "format = \"rongxin-catalog/1\"\nversion = \"x\"\n";
        assert!(matches!(
            Catalog::from_toml_str(no_kinds),
            Err(CatalogError::Parse(_))
        ));
        let empty = "format = \"rongxin-catalog/1\"\nversion = \"x\"\nkinds = []\n";
        assert!(matches!(
            Catalog::from_toml_str(empty),
            Err(CatalogError::NoKinds)
        ));
    }

    #[test]
    fn catalog_level_errors() {
        assert!(edited("", "").is_ok());
        let err = edited("rongxin-catalog/1", "rongxin-catalog/2").unwrap_err();
        assert!(matches!(err, CatalogError::Format { ref found } if found == "rongxin-catalog/2"));
        assert!(err.to_string().contains("rongxin-catalog/1"));
        assert!(matches!(
            edited("\"test\"", "\" \""),
            Err(CatalogError::EmptyVersion)
        ));
        let legacy = |list: &str| {
            edited(
                "version = \"test\"",
                &format!("version = \"t\"\n[legacy_codes]\nuscc = {list}"),
            )
        };
        assert!(legacy("[\"91350100M0001TGQXM\"]").is_ok());
        assert!(matches!(
            legacy("[\"A\", \"A\"]"),
            Err(CatalogError::DuplicateLegacyCode { .. })
        ));
        assert!(matches!(
            legacy("[\"\"]"),
            Err(CatalogError::EmptyLegacyCode)
        ));
    }

    #[test]
    fn duplicate_and_bad_kind_codes() {
        let twice = format!(
            "{MINIMAL}\n{}",
            &MINIMAL[MINIMAL.find("[[kinds]]").unwrap()..]
        );
        let err = Catalog::from_toml_str(&twice).unwrap_err();
        assert!(
            matches!(err, CatalogError::DuplicateKind { ref code } if code == "XK"),
            "{err}"
        );
        for bad in ["X", "xk", "1X", "X-K", "ABCDEFGHIJKLMNOPQ", "行政"] {
            let err = edited("code = \"XK\"", &format!("code = \"{bad}\"")).unwrap_err();
            assert!(
                matches!(err, CatalogError::Kind { ref kind, problem: KindProblem::BadCode } if kind == bad),
                "{err}"
            );
        }
        for good in ["XK", "CF_YZ", "A1", "ABCDEFGHIJKLMNOP"] {
            assert!(
                edited("code = \"XK\"", &format!("code = \"{good}\"")).is_ok(),
                "{good}"
            );
        }
    }

    /// A tier needs a fixed end within its ceiling; the example catalog's
    /// penalty kinds carry the three tiers and its table maps types to them.
    #[test]
    fn tiers_need_an_end_within_their_ceiling() {
        let with = |max: &str, tier: &str| {
            edited(
                "publicity = { min = \"0d\", max = \"3y\" }",
                &format!("publicity = {{ min = \"0d\"{max} }}\ntier = \"{tier}\""),
            )
        };
        assert!(with(", max = \"3mo\"", "minor").is_ok());
        assert!(with(", max = \"1y\"", "general").is_ok());
        assert!(with(", max = \"3y\"", "serious").is_ok());
        let err = with(", max = \"6mo\"", "minor").unwrap_err();
        assert!(
            matches!(
                err,
                CatalogError::Kind {
                    problem: KindProblem::TierCeiling {
                        tier: Tier::Minor,
                        ..
                    },
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().contains("0y3mo") || err.to_string().contains("3mo"),
            "{err}"
        );
        let err = with("", "general").unwrap_err();
        assert!(
            matches!(
                err,
                CatalogError::Kind {
                    problem: KindProblem::TierWithoutEnd(Tier::General),
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            with(", max = \"1y\"", "severe").is_err(),
            "unknown tier names are refused"
        );

        let c = example();
        let pt = c.penalty_tiers().expect("the example maps penalty types");
        assert_eq!(pt.field, "CF_CFLB");
        for (kind, tier) in [
            ("CF_QW", Tier::Minor),
            ("CF", Tier::General),
            ("CF_YZ", Tier::Serious),
        ] {
            assert_eq!(c.kind(kind).and_then(|k| k.tier), Some(tier), "{kind}");
            assert_eq!(pt.kind_of(tier), kind);
        }
        assert_eq!(c.kind("XK").and_then(|k| k.tier), None);
        // The issue's examples, as the catalog's data decides them.
        for (types, tier) in [
            ("警告", Tier::Minor),
            ("通报批评", Tier::Minor),
            ("警告；罚款", Tier::General),
            ("罚款、吊销许可证件", Tier::Serious),
            ("责令关闭", Tier::Serious),
            ("限制从业", Tier::Serious),
            ("降低资质等级", Tier::Serious),
        ] {
            assert_eq!(pt.decide(types).map(|d| d.tier), Some(tier), "{types}");
        }
    }

    /// `[penalty_tiers]` must name kinds of the catalog with the tier it
    /// gives them and the field it reads.
    #[test]
    fn penalty_tiers_must_fit_the_kinds() {
        let table = |kinds: &str, field: &str| {
            format!(
                "[penalty_tiers]\nfield = \"{field}\"\nseparators = [\"；\"]\nkinds = {kinds}\n[penalty_tiers.types]\n\"警告\" = \"minor\"\n"
            )
        };
        let text = EXAMPLE.replacen("[penalty_tiers]", "[penalty_tiers_replaced]", 1);
        let start = text.find("[penalty_tiers_replaced]").unwrap();
        let end = text[start..].find("\n# ----").unwrap() + start;
        let without = format!("{}{}", &text[..start], &text[end..]);
        let good = "{ minor = \"CF_QW\", general = \"CF\", serious = \"CF_YZ\" }";
        let parse = |t: String| Catalog::from_toml_str(&format!("{without}\n{t}"));
        assert!(parse(table(good, "CF_CFLB")).is_ok());
        for (kinds, field, words) in [
            (good, "CF_NOPE", "has no field CF_NOPE"),
            (
                "{ minor = \"CF\", general = \"CF\", serious = \"CF_YZ\" }",
                "CF_CFLB",
                "declares tier general",
            ),
            (
                "{ minor = \"CF_QW\", general = \"XX\", serious = \"CF_YZ\" }",
                "CF_CFLB",
                "not a kind",
            ),
        ] {
            let err = parse(table(kinds, field)).unwrap_err();
            assert!(err.to_string().contains(words), "{err}");
        }
    }

    /// The kind problem of MINIMAL edited, which must fail that way.
    fn kind_problem(from: &str, to: &str) -> KindProblem {
        match edited(from, to) {
            Err(CatalogError::Kind { kind, problem }) if kind == "XK" => problem,
            other => panic!("{other:?}"),
        }
    }

    /// The field problem of MINIMAL edited, checking the message names kind and field.
    fn field_problem(from: &str, to: &str) -> (String, FieldSpecProblem) {
        let err = edited(from, to).unwrap_err();
        let msg = err.to_string();
        match err {
            CatalogError::Field {
                kind,
                field,
                problem,
            } if kind == "XK" => {
                assert!(
                    msg.starts_with(&format!("kind XK, field {field}: ")),
                    "{msg}"
                );
                (field, problem)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn kind_level_errors() {
        use KindProblem as P;
        assert_eq!(
            kind_problem("name = \"行政许可\"", "name = \"\""),
            P::EmptyName
        );
        assert_eq!(kind_problem("[\"legal_person\"]", "[]"), P::NoSubjects);
        assert_eq!(
            kind_problem("[\"legal_person\"]", "[\"legal_person\", \"legal_person\"]"),
            P::DuplicateSubject(SubjectClass::LegalPerson)
        );
        assert_eq!(
            kind_problem("public = \"public\"", "public = \"conditional\""),
            P::DoublePublicityNotPublic(PublicAttribute::Conditional)
        );
        let err = edited("public = \"public\"", "public = \"restricted\"").unwrap_err();
        assert_eq!(
            err.to_string(),
            "kind XK: double_publicity = true needs public = \"public\" (双公示 decisions are \
             published), found \"restricted\""
        );
    }

    #[test]
    fn period_bounds_are_checked() {
        let bounds = "min = \"0d\", max = \"3y\"";
        let p = kind_problem(bounds, "min = \"3y\", max = \"1y\"");
        assert!(matches!(p, KindProblem::PeriodOrder { .. }), "{p}");
        assert!(
            p.to_string()
                .starts_with("publicity.min = \"3y\" ends after"),
            "{p}"
        );
        // 30 days outlasts a month that starts on 31 January.
        let p = kind_problem(bounds, "min = \"30d\", max = \"1mo\"");
        assert!(
            matches!(p, KindProblem::PeriodOrder { from, .. } if from.day() >= 29),
            "{p}"
        );
        assert_eq!(
            kind_problem("max = \"3y\"", "max = \"0y\""),
            KindProblem::ZeroMaxPeriod
        );
        assert!(edited(bounds, "min = \"12mo\", max = \"1y\"").is_ok());
        assert!(edited(bounds, "min = \"1y\", max = \"12mo\"").is_ok());
        assert!(edited(bounds, "min = \"0d\", max = \"0y1d\"").is_ok());
        assert!(edited(bounds, "min = \"5y\"").is_ok());
        // min is required: "no minimum" is written 0d.
        assert!(matches!(
            edited(bounds, "max = \"3y\""),
            Err(CatalogError::Parse(_))
        ));
    }

    #[test]
    fn list_kinds_need_a_category() {
        let p = kind_problem("list = \"none\"", "list = \"red\"");
        assert_eq!(p, KindProblem::MissingListCategory(ListKind::Red));
        let p = kind_problem(
            "list = \"none\"",
            "list = \"black\"\nlist_category = \"  \"",
        );
        assert_eq!(p, KindProblem::MissingListCategory(ListKind::Black));
        let err = edited("list = \"none\"", "list = \"black\"").unwrap_err();
        assert_eq!(
            err.to_string(),
            "kind XK: list = \"black\" needs a list_category naming the list (such as \"司法\"): \
             add list_category"
        );
        let p = kind_problem(
            "list = \"none\"",
            "list = \"none\"\nlist_category = \"司法\"",
        );
        assert_eq!(p, KindProblem::StrayListCategory);
        assert!(
            edited(
                "list = \"none\"",
                "list = \"red\"\nlist_category = \"荣誉\""
            )
            .is_ok()
        );
    }

    #[test]
    fn field_level_errors() {
        use FieldSpecProblem as P;
        let choices = "choices = [\"普通\", \"特许\"]";
        let enum_decl = "type = \"enum\"\nrequired = true\nchoices = [\"普通\", \"特许\"]";
        let only = |from: &str, to: &str| field_problem(from, to).1;
        assert_eq!(
            field_problem(choices, ""),
            ("XK_XKLB".into(), P::EnumWithoutChoices)
        );
        assert_eq!(only(choices, "choices = []"), P::EnumWithoutChoices);
        assert_eq!(
            only(choices, "choices = [\"普通\", \"普通\"]"),
            P::DuplicateChoice("普通".into())
        );
        assert_eq!(only(choices, "choices = [\"普通\", \" \"]"), P::EmptyChoice);
        assert_eq!(
            only("type = \"enum\"", "type = \"text\""),
            P::ChoicesNotAllowed(FieldType::Text)
        );
        assert_eq!(only(choices, "max_len = 5"), P::EnumWithoutChoices);
        let date_with_len = "type = \"date\"\nrequired = true\nmax_len = 5";
        assert_eq!(
            only(enum_decl, date_with_len),
            P::MaxLenNotAllowed(FieldType::Date)
        );
        assert_eq!(
            only(enum_decl, "type = \"text\"\nrequired = true\nmax_len = 0"),
            P::ZeroMaxLen
        );
        assert_eq!(only("label = \"许可类别\"", "label = \"\""), P::EmptyLabel);
        for bad in [
            "xk_xklb",
            "_A",
            "1A",
            "A-B",
            "A23456789012345678901234567890123",
        ] {
            let name = format!("name = \"{bad}\"");
            assert_eq!(
                field_problem("name = \"XK_XKLB\"", &name),
                (bad.into(), P::BadName)
            );
        }
        for core in [
            "XDR_MC",
            "XDR_SHXYM",
            "CF_WSH",
            "XK_JDRQ",
            "XK_XKJGDM",
            "XK_XDR_ZJHM",
        ] {
            let name = format!("name = \"{core}\"");
            assert_eq!(
                field_problem("name = \"XK_XKLB\"", &name),
                (core.into(), P::CoreField)
            );
        }
        assert!(edited("name = \"XK_XKLB\"", "name = \"A\"").is_ok());
        assert!(edited("name = \"XK_XKLB\"", "name = \"XK_XDR_GSZC\"").is_ok());
        let dup = MINIMAL.to_owned() + &MINIMAL[MINIMAL.find("[[kinds.fields]]").unwrap()..];
        match Catalog::from_toml_str(&dup) {
            Err(CatalogError::Field {
                field,
                problem: P::Duplicate,
                ..
            }) => assert_eq!(field, "XK_XKLB"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn value_from_json_reads_each_type() {
        let k = all_types();
        let ok = |f: &str, v: serde_json::Value| k.value_from_json(f, &v).unwrap();
        assert_eq!(ok("TXT", json!("abc")), FieldValue::Text("abc".into()));
        assert_eq!(ok("CHOICE", json!("甲")), FieldValue::Text("甲".into()));
        assert_eq!(
            ok("ORG", json!("91350100757384472D")),
            FieldValue::Text("91350100757384472D".into())
        );
        assert_eq!(
            ok("PID", json!("11010519491231002X")),
            FieldValue::Text("11010519491231002X".into())
        );
        assert_eq!(ok("INT", json!(-3)), FieldValue::Integer(-3));
        assert_eq!(ok("INT", json!(i64::MAX)), FieldValue::Integer(i64::MAX));
        assert_eq!(
            ok("DAY", json!("2024-02-29")),
            FieldValue::Date(date("2024-02-29"))
        );
        assert_eq!(ok("FLAG", json!(false)), FieldValue::Bool(false));
        let dec = |v: serde_json::Value| match ok("DEC", v) {
            FieldValue::Decimal(d) => d.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(dec(json!("0.2")), "0.2");
        assert_eq!(dec(json!("00.50")), "0.5");
        assert_eq!(dec(json!(0.2)), "0.2");
        assert_eq!(dec(json!(2)), "2");
        assert_eq!(dec(json!(2.0)), "2");
        assert_eq!(dec(json!(-1.25)), "-1.25");
        assert_eq!(dec(json!(123456789012.12)), "123456789012.12");
    }

    #[test]
    fn value_from_json_refuses_wrong_json_types() {
        let k = all_types();
        let problem = |f: &str, v: serde_json::Value| k.value_from_json(f, &v).unwrap_err().problem;
        let wrong = |f: &str, v: serde_json::Value| {
            assert!(
                matches!(problem(f, v.clone()), FieldProblem::WrongType { .. }),
                "{f} {v}"
            );
        };
        wrong("TXT", json!(5));
        wrong("TXT", json!(null));
        wrong("CHOICE", json!(["甲"]));
        wrong("ORG", json!(91350100));
        wrong("PID", json!({"id": "x"}));
        wrong("INT", json!("3"));
        wrong("INT", json!(3.0));
        wrong("INT", json!(true));
        wrong("DEC", json!([0.2]));
        wrong("DEC", json!(true));
        wrong("DAY", json!(20240229));
        wrong("FLAG", json!("true"));
        wrong("FLAG", json!(1));
        assert!(matches!(
            problem("INT", json!(u64::MAX)),
            FieldProblem::OutOfRange(_)
        ));
        assert!(matches!(
            problem("DAY", json!("2023-02-29")),
            FieldProblem::Value(ValueError::DateOutOfRange(_))
        ));
        assert!(matches!(
            problem("DAY", json!("2023/02/01")),
            FieldProblem::Value(ValueError::DateSyntax(_))
        ));
        assert!(matches!(
            problem("DEC", json!("1,000")),
            FieldProblem::Value(ValueError::DecimalSyntax(_))
        ));
        for inexact in [
            json!(1e21),
            json!(0.1234567),
            json!(1234567890123.456),
            json!(1e-7),
        ] {
            assert!(
                matches!(
                    problem("DEC", inexact.clone()),
                    FieldProblem::InexactNumber(_)
                ),
                "{inexact}"
            );
        }
        assert!(matches!(
            problem("DEC", json!(u64::MAX)),
            FieldProblem::OutOfRange(_)
        ));
        let err = k.value_from_json("NOPE", &json!("x")).unwrap_err();
        assert!(matches!(err.problem, FieldProblem::Unknown { .. }));
        assert_eq!(err.label, None);
        assert!(
            err.to_string().starts_with("TT.NOPE: no such field"),
            "{err}"
        );
        assert!(err.to_string().contains("TXT, INT, DEC"), "{err}");
    }

    #[test]
    fn field_error_messages_name_kind_field_and_label() {
        let c = example();
        let cf = c.kind("CF").unwrap();
        let err = cf.value_from_json("CF_NR_FK", &json!([1])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "CF.CF_NR_FK (罚款金额（万元）): expected a decimal such as 0.2, got a JSON array"
        );
        let xk = c.kind("XK").unwrap();
        let fields = BTreeMap::from([("XK_XKLB".to_owned(), FieldValue::Text("特殊".into()))]);
        let errs = xk.check_fields(&fields, &|_, _| Ok(())).unwrap_err();
        let lb = errs.iter().find(|e| e.field == "XK_XKLB").unwrap();
        assert_eq!(
            lb.to_string(),
            "XK.XK_XKLB (许可类别): '特殊' is not one of 普通, 特许, 认可, 核准, 登记, 其他"
        );
        let err = xk.value_from_json("XK_YXQZ", &json!(20240101)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "XK.XK_YXQZ (有效期自): expected a date such as \"2026-03-01\", got the JSON number 20240101"
        );
    }

    #[test]
    fn check_fields_collects_every_problem() {
        let k = all_types();
        let code_check = |ty: FieldType, code: &str| -> Result<(), String> {
            match (ty, code) {
                (FieldType::Uscc, "91350100757384472D")
                | (FieldType::ResidentId, "11010519491231002X") => Ok(()),
                (FieldType::Uscc, c) => Err(format!("'{c}' fails the credit code check")),
                (_, c) => Err(format!("'{c}' fails the ID number check")),
            }
        };
        let good = BTreeMap::from([
            ("TXT".to_owned(), FieldValue::Text("榕信".into())),
            ("DAY".to_owned(), FieldValue::Date(date("2026-03-01"))),
            ("INT".to_owned(), FieldValue::Integer(7)),
            (
                "DEC".to_owned(),
                FieldValue::Decimal("0.2".parse().unwrap()),
            ),
            ("FLAG".to_owned(), FieldValue::Bool(true)),
            (
                "ORG".to_owned(),
                FieldValue::Text("91350100757384472D".into()),
            ),
            (
                "PID".to_owned(),
                FieldValue::Text("11010519491231002X".into()),
            ),
            ("CHOICE".to_owned(), FieldValue::Text("乙".into())),
        ]);
        assert_eq!(k.check_fields(&good, &code_check), Ok(()));
        let only_required = BTreeMap::from([
            ("TXT".to_owned(), FieldValue::Text("a".into())),
            ("DAY".to_owned(), FieldValue::Date(date("2026-03-01"))),
        ]);
        assert_eq!(k.check_fields(&only_required, &code_check), Ok(()));

        let bad = BTreeMap::from([
            ("TXT".to_owned(), FieldValue::Text("六个字符太长".into())),
            ("INT".to_owned(), FieldValue::Text("7".into())),
            ("FLAG".to_owned(), FieldValue::Integer(1)),
            (
                "ORG".to_owned(),
                FieldValue::Text("91350100757384472E".into()),
            ),
            (
                "PID".to_owned(),
                FieldValue::Text("110105194912310020".into()),
            ),
            ("CHOICE".to_owned(), FieldValue::Text("丙".into())),
            ("EXTRA".to_owned(), FieldValue::Bool(true)),
        ]);
        let errs = k.check_fields(&bad, &code_check).unwrap_err();
        let by_field: BTreeMap<&str, &FieldProblem> = errs
            .iter()
            .map(|e| (e.field.as_str(), &e.problem))
            .collect();
        assert_eq!(errs.len(), 8, "{errs:#?}");
        assert!(matches!(by_field["EXTRA"], FieldProblem::Unknown { .. }));
        assert!(matches!(
            by_field["TXT"],
            FieldProblem::TooLong { len: 6, max: 5 }
        ));
        assert!(matches!(by_field["INT"], FieldProblem::WrongType { .. }));
        assert!(matches!(by_field["FLAG"], FieldProblem::WrongType { .. }));
        assert!(matches!(by_field["DAY"], FieldProblem::Missing));
        assert!(matches!(
            by_field["CHOICE"],
            FieldProblem::NotAChoice { .. }
        ));
        assert!(matches!(by_field["ORG"], FieldProblem::BadCode(m) if m.contains("credit code")));
        assert!(matches!(by_field["PID"], FieldProblem::BadCode(m) if m.contains("ID number")));
        let org = errs.iter().find(|e| e.field == "ORG").unwrap();
        assert_eq!(
            org.to_string(),
            "TT.ORG (机构代码): '91350100757384472E' fails the credit code check"
        );
        let int = errs.iter().find(|e| e.field == "INT").unwrap();
        assert_eq!(
            int.to_string(),
            "TT.INT (整数): expected a whole number such as 3, got a text value"
        );
        assert_eq!(
            errs.iter().find(|e| e.field == "DAY").unwrap().to_string(),
            "TT.DAY (日期): required but missing"
        );

        let blank = BTreeMap::from([
            ("TXT".to_owned(), FieldValue::Text(" \t".into())),
            ("DAY".to_owned(), FieldValue::Text("2026-03-01".into())),
        ]);
        let errs = k.check_fields(&blank, &code_check).unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].problem, FieldProblem::Empty);
        assert!(matches!(errs[1].problem, FieldProblem::WrongType { .. }));
    }

    #[test]
    fn periods_parse_and_print() {
        for (text, p, shown) in [
            ("3y", Period::new(3, 0, 0), "3y"),
            ("6mo", Period::new(0, 6, 0), "6mo"),
            ("90d", Period::new(0, 0, 90), "90d"),
            ("1y6mo", Period::new(1, 6, 0), "1y6mo"),
            ("1y2mo3d", Period::new(1, 2, 3), "1y2mo3d"),
            ("2y15d", Period::new(2, 0, 15), "2y15d"),
            ("0d", Period::new(0, 0, 0), "0d"),
            ("0y", Period::new(0, 0, 0), "0d"),
            ("0y6mo", Period::new(0, 6, 0), "6mo"),
            ("012mo", Period::new(0, 12, 0), "12mo"),
        ] {
            assert_eq!(text.parse::<Period>(), Ok(p), "{text}");
            assert_eq!(p.to_string(), shown);
            assert_eq!(shown.parse::<Period>(), Ok(p));
        }
        for bad in [
            "", "3", "y", "3Y", "3 y", " 3y", "3y ", "6m", "6months", "6mo1y", "1y1y", "1d1mo",
            "-1y", "+1y", "1.5y", "1y_6mo", "３y",
        ] {
            assert_eq!(
                bad.parse::<Period>(),
                Err(PeriodError::Syntax(bad.into())),
                "{bad}"
            );
        }
        assert!(matches!(
            "4294967296d".parse::<Period>(),
            Err(PeriodError::TooLarge(_))
        ));
        assert_eq!(
            "4294967295d".parse::<Period>().map(|p| p.days),
            Ok(u32::MAX)
        );
        let json = serde_json::to_string(&Publicity {
            min: period("6mo"),
            max: None,
        })
        .unwrap();
        assert_eq!(json, r#"{"min":"6mo"}"#);
    }

    #[test]
    fn periods_add_to_dates() {
        let add = |p: &str, d: &str| period(p).add_to(date(d)).map(|x| x.to_string());
        assert_eq!(add("1y", "2024-02-29").as_deref(), Some("2025-02-28"));
        assert_eq!(add("4y", "2024-02-29").as_deref(), Some("2028-02-29"));
        assert_eq!(add("6mo", "2024-08-31").as_deref(), Some("2025-02-28"));
        assert_eq!(add("1y6mo", "2024-01-15").as_deref(), Some("2025-07-15"));
        assert_eq!(add("1mo1d", "2024-01-31").as_deref(), Some("2024-03-01"));
        assert_eq!(add("0d", "2024-01-31").as_deref(), Some("2024-01-31"));
        assert_eq!(add("3y", "9998-01-01"), None);
        let huge = Period::new(u32::MAX, u32::MAX, u32::MAX);
        assert_eq!(huge.add_to(date("2024-01-01")), None);
    }

    #[test]
    fn labels() {
        assert_eq!(PublicAttribute::Public.label_zh(), "公开");
        assert_eq!(PublicAttribute::Conditional.label_zh(), "有条件公开");
        assert_eq!(PublicAttribute::Restricted.label_zh(), "不予公开");
        assert_eq!(SubjectClass::LegalPerson.label_zh(), "法人及非法人组织");
        assert_eq!(SubjectClass::NaturalPerson.label_zh(), "自然人");
        assert_eq!(SubjectClass::IndividualBusiness.label_zh(), "个体工商户");
        assert_eq!(
            SubjectClass::IndividualBusiness.to_string(),
            "individual_business"
        );
        assert_eq!(FieldType::ResidentId.to_string(), "resident_id");
        assert_eq!(ListKind::Black.to_string(), "black");
        let json = serde_json::to_value(SubjectClass::NaturalPerson).unwrap();
        assert_eq!(json, json!("natural_person"));
    }

    proptest! {
        #[test]
        fn period_display_round_trips(y in any::<u32>(), m in any::<u32>(), d in any::<u32>()) {
            let p = Period::new(y, m, d);
            prop_assert_eq!(p.to_string().parse::<Period>(), Ok(p));
        }

        #[test]
        fn period_parsing_never_panics(s in "\\PC{0,12}|[0-9ymod]{0,12}") {
            if let Ok(p) = s.parse::<Period>() {
                prop_assert_eq!(p.to_string().parse::<Period>(), Ok(p));
            }
        }

        #[test]
        fn add_to_never_panics(y in any::<u32>(), m in any::<u32>(), d in any::<u32>(), days in 0u32..3_000_000) {
            let p = Period::new(y % 20_000, m % 300_000, d);
            if let Some(start) = date("0001-01-01").add(0, 0, days) {
                let _ = p.add_to(start);
            }
        }
    }
}
