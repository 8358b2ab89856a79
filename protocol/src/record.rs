//! Credit records (信用记录): the facts an origin signs, their keys, and the
//! checks every record passes before it is signed or accepted from a peer.
//!
//! A record has fixed core fields that every kind shares (kind, jurisdiction,
//! record number, subject, issuing authority, decision date) and the
//! kind-specific fields that the catalog defines. Its [`RecordKey`] —
//! kind, jurisdiction, authority code and record number — names it for its
//! whole life: a new version of a record is a Put with the same key, and the
//! jurisdiction in the key decides which member owns it (一数一源).

use std::collections::BTreeMap;
use std::fmt;

use bincode::{Decode, Encode};
use serde::Serialize;
use serde_json::Value;

use crate::catalog::{Catalog, FieldType, SubjectClass};
use crate::code::{self, CodeKind, CodeWarning};
use crate::value::{Date, FieldValue, control_character};

/// Longest subject or authority name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest record number, in characters.
pub const MAX_RECORD_NO_CHARS: usize = 128;

/// Who a record is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Encode, Decode)]
pub struct Subject {
    /// Legal person, natural person or individual business.
    pub class: SubjectClass,
    /// Unified social credit code, or resident ID number for natural persons.
    pub code: String,
    /// Name of the subject (行政相对人名称).
    pub name: String,
}

/// The body that made the decision (许可机关 / 处罚机关 / court …).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Encode, Decode)]
pub struct Authority {
    /// Name of the body.
    pub name: String,
    /// Its unified social credit code.
    pub code: String,
}

/// One credit fact about a subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Encode, Decode)]
pub struct Record {
    /// Catalog kind code, such as `XK` or `CF`.
    pub kind: String,
    /// Division code (GB/T 2260, six digits) or zone id (such as
    /// `ftz-fuzhou`) whose owner is this record's one source.
    pub jurisdiction: String,
    /// Source-local number: the decision document number, case number, ….
    pub record_no: String,
    /// Who the record is about.
    pub subject: Subject,
    /// Who decided.
    pub authority: Authority,
    /// Date of the decision; publicity periods run from it.
    pub decision_date: Date,
    /// Kind-specific fields, by catalog field name.
    pub fields: BTreeMap<String, FieldValue>,
}

/// The lifelong name of a record.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    serde::Deserialize,
    Encode,
    Decode,
)]
#[serde(deny_unknown_fields)]
pub struct RecordKey {
    /// Catalog kind code.
    pub kind: String,
    /// Jurisdiction; decides the owner.
    pub jurisdiction: String,
    /// Issuing authority's credit code.
    pub authority_code: String,
    /// Record number.
    pub record_no: String,
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.kind, self.jurisdiction, self.authority_code, self.record_no
        )
    }
}

/// One problem with a record, naming the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct RecordError {
    /// The field, as a JSON path such as `subject.code` or `fields.CF_NR_FK`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub problem: String,
}

impl RecordError {
    pub(crate) fn new(field: impl Into<String>, problem: impl Into<String>) -> RecordError {
        RecordError {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// A record's core values as text, as read from its JSON object or a
/// mapped CSV row (empty when missing), before they are typed and checked.
#[derive(Debug, Clone, Default)]
pub(crate) struct Texts {
    pub(crate) kind: String,
    pub(crate) jurisdiction: String,
    pub(crate) record_no: String,
    pub(crate) decision_date: String,
    pub(crate) class: String,
    pub(crate) subject_code: String,
    pub(crate) subject_name: String,
    pub(crate) authority_name: String,
    pub(crate) authority_code: String,
}

/// Joins record errors into one line for logs and answers.
pub fn describe(errors: &[RecordError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether `j` has the form of a jurisdiction: a six-digit division code or a
/// zone id (lower-case ASCII letters, digits and '-', starting with a letter,
/// 2..=32 characters).
pub fn is_jurisdiction(j: &str) -> bool {
    let division = j.len() == 6 && j.bytes().all(|c| c.is_ascii_digit());
    let zone = (2..=32).contains(&j.len())
        && j.as_bytes()[0].is_ascii_lowercase()
        && j.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    division || zone
}

impl Record {
    /// This record's key.
    pub fn key(&self) -> RecordKey {
        RecordKey {
            kind: self.kind.clone(),
            jurisdiction: self.jurisdiction.clone(),
            authority_code: self.authority.code.clone(),
            record_no: self.record_no.clone(),
        }
    }

    /// Reads a record from its JSON form (the ingest format, see docs/api.md),
    /// normalising codes to upper case, and checks it fully against the
    /// catalog. Returns every problem found, not only the first.
    pub fn from_json(value: &Value, catalog: &Catalog) -> Result<Record, Vec<RecordError>> {
        Record::from_json_with_warnings(value, catalog).map(|(r, _)| r)
    }

    /// [`Record::from_json`], also returning the warnings of [`Record::check`]
    /// (such as a failed secondary check character) for the submitter.
    pub fn from_json_with_warnings(
        value: &Value,
        catalog: &Catalog,
    ) -> Result<(Record, Vec<String>), Vec<RecordError>> {
        let mut errors = Vec::new();
        let Some(obj) = value.as_object() else {
            return Err(vec![RecordError::new(
                "record",
                format!("expected a JSON object, got {}", json_type(value)),
            )]);
        };
        const KNOWN: [&str; 7] = [
            "kind",
            "jurisdiction",
            "record_no",
            "subject",
            "authority",
            "decision_date",
            "fields",
        ];
        unknown_keys(
            &mut errors,
            "record",
            obj.keys().filter(|k| !KNOWN.contains(&k.as_str())),
            |k| {
                (
                    k.to_owned(),
                    format!("unknown key; a record has {}", KNOWN.join(", ")),
                )
            },
        );
        let mut text = |path: &str, v: Option<&Value>| -> String {
            match v {
                Some(Value::String(s)) => s.clone(),
                Some(other) => {
                    errors.push(RecordError::new(
                        path,
                        format!("expected a string, got {}", json_type(other)),
                    ));
                    String::new()
                }
                None => {
                    errors.push(RecordError::new(path, "missing"));
                    String::new()
                }
            }
        };
        let kind = text("kind", obj.get("kind"));
        let jurisdiction = text("jurisdiction", obj.get("jurisdiction"));
        let record_no = text("record_no", obj.get("record_no"));
        let decision_date = text("decision_date", obj.get("decision_date"));
        let subject = obj.get("subject").and_then(Value::as_object);
        let class = text("subject.class", subject.and_then(|s| s.get("class")));
        let subject_code = text("subject.code", subject.and_then(|s| s.get("code")));
        let subject_name = text("subject.name", subject.and_then(|s| s.get("name")));
        let authority = obj.get("authority").and_then(Value::as_object);
        let authority_name = text("authority.name", authority.and_then(|a| a.get("name")));
        let authority_code = text("authority.code", authority.and_then(|a| a.get("code")));
        for (name, obj_opt, keys) in [
            ("subject", subject, &["class", "code", "name"][..]),
            ("authority", authority, &["name", "code"][..]),
        ] {
            if let Some(o) = obj_opt {
                unknown_keys(
                    &mut errors,
                    name,
                    o.keys().filter(|k| !keys.contains(&k.as_str())),
                    |k| {
                        (
                            format!("{name}.{k}"),
                            format!("unknown key; {name} has {}", keys.join(", ")),
                        )
                    },
                );
            } else if let Some(v) = obj.get(name) {
                errors.push(RecordError::new(
                    name,
                    format!("expected an object, got {}", json_type(v)),
                ));
            }
        }
        let fields = match obj.get("fields") {
            None => None,
            Some(Value::Object(map)) => Some(Ok(map.iter())),
            Some(other) => Some(Err(RecordError::new(
                "fields",
                format!("expected an object, got {}", json_type(other)),
            ))),
        };
        let texts = Texts {
            kind,
            jurisdiction,
            record_no,
            decision_date,
            class,
            subject_code,
            subject_name,
            authority_name,
            authority_code,
        };
        Record::from_texts(texts, fields, errors, catalog)
    }

    /// The rules shared by every way a record arrives ([`Record::from_json_with_warnings`],
    /// a mapped CSV row): `texts` as read (empty when missing, with its
    /// error already in `errors`), `fields` by name (`None` when the record
    /// has none, an error when they are not a map), typed by the catalog,
    /// then the whole record checked.
    pub(crate) fn from_texts<N, V>(
        texts: Texts,
        fields_in: Option<Result<impl Iterator<Item = (N, V)>, RecordError>>,
        mut errors: Vec<RecordError>,
        catalog: &Catalog,
    ) -> Result<(Record, Vec<String>), Vec<RecordError>>
    where
        N: AsRef<str> + Into<String>,
        V: std::borrow::Borrow<Value>,
    {
        let Texts {
            kind,
            jurisdiction,
            record_no,
            decision_date,
            class,
            subject_code,
            subject_name,
            authority_name,
            authority_code,
        } = texts;
        // `text` has already reported a missing or mistyped value (and left
        // it empty); an empty string given as the value still needs its
        // own error, or the record would be refused with none.
        let reported =
            |errors: &[RecordError], field: &str| errors.iter().any(|e| e.field == field);
        let class = match serde_json::from_value::<SubjectClass>(Value::String(class.clone())) {
            Ok(c) => Some(c),
            Err(_) => {
                if !reported(&errors, "subject.class") {
                    errors.push(RecordError::new(
                        "subject.class",
                        if class.is_empty() {
                            "empty: give legal_person, natural_person or individual_business".to_owned()
                        } else {
                            format!(
                                "'{class}' is not a subject class: use legal_person, natural_person or individual_business"
                            )
                        },
                    ));
                }
                None
            }
        };
        let date = match decision_date.parse::<Date>() {
            Ok(d) => Some(d),
            Err(e) => {
                if !reported(&errors, "decision_date") {
                    errors.push(RecordError::new(
                        "decision_date",
                        if decision_date.is_empty() {
                            "empty: give the date of the decision as YYYY-MM-DD, for example 2026-03-01"
                                .to_owned()
                        } else {
                            e.to_string()
                        },
                    ));
                }
                None
            }
        };
        let mut fields = BTreeMap::new();
        let kind_spec = catalog.kind(&kind);
        if kind_spec.is_none() && !kind.is_empty() {
            errors.push(unknown_kind(&kind, catalog));
        }
        match fields_in {
            None => {}
            Some(Ok(map)) => {
                if let Some(spec) = kind_spec {
                    let mut unknown = Vec::new();
                    for (name, v) in map {
                        if spec.field(name.as_ref()).is_none() {
                            unknown.push(name.into());
                            continue;
                        }
                        match spec.value_from_json(name.as_ref(), v.borrow()) {
                            Ok(fv) => {
                                fields.insert(name.into(), fv);
                            }
                            Err(e) => errors.push(RecordError::new(
                                format!("fields.{}", name.as_ref()),
                                e.to_string(),
                            )),
                        }
                    }
                    let known: Vec<&str> = spec.fields.iter().map(|f| f.name.as_str()).collect();
                    unknown_keys(&mut errors, "fields", unknown.iter(), |k| {
                        (
                            format!("fields.{k}"),
                            format!(
                                "no such field in kind {} (its fields are {})",
                                spec.code,
                                known.join(", ")
                            ),
                        )
                    });
                }
            }
            Some(Err(e)) => errors.push(e),
        }
        let (Some(class), Some(decision_date)) = (class, date) else {
            return Err(errors);
        };
        let upper = |s: &str| s.trim().to_ascii_uppercase();
        // A person's `TAG:NUMBER` is normalised as a whole (spaces around
        // the separator, lower case); what does not parse is kept for
        // `check` to refuse with its reason.
        let subject_code = match class {
            SubjectClass::NaturalPerson => {
                crate::person::parse(&subject_code, catalog.legacy_codes())
                    .map_or_else(|_| upper(&subject_code), |id| id.code)
            }
            _ => upper(&subject_code),
        };
        let record = Record {
            kind,
            jurisdiction: jurisdiction.trim().to_owned(),
            record_no: record_no.trim().to_owned(),
            subject: Subject {
                class,
                code: subject_code,
                name: subject_name.trim().to_owned(),
            },
            authority: Authority {
                name: authority_name.trim().to_owned(),
                code: upper(&authority_code),
            },
            decision_date,
            fields,
        };
        match record.check(catalog) {
            Ok(warnings) if errors.is_empty() => Ok((record, warnings)),
            Ok(_) => Err(errors),
            Err(more) => {
                // A field refused while reading (wrong JSON type, bad value,
                // unknown kind, `fields` not an object) is left empty or out
                // of the record; the check would report it (or what it
                // holds) again, wrongly, as missing or unknown.
                let reported: Vec<String> = errors.iter().map(|e| e.field.clone()).collect();
                errors.extend(more.into_iter().filter(|e| {
                    !reported
                        .iter()
                        .any(|r| e.field == *r || e.field.starts_with(&format!("{r}.")))
                }));
                Err(errors)
            }
        }
    }

    /// Checks a record against the catalog: known kind, allowed subject class,
    /// valid codes (strictly canonical: signed records hold upper case only),
    /// names and numbers present, jurisdiction form, and every kind field.
    /// On success returns the warnings (such as a failed secondary check
    /// character) for the submitter.
    pub fn check(&self, catalog: &Catalog) -> Result<Vec<String>, Vec<RecordError>> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let legacy = catalog.legacy_codes();
        let Some(spec) = catalog.kind(&self.kind) else {
            return Err(vec![unknown_kind(&self.kind, catalog)]);
        };
        if !is_jurisdiction(&self.jurisdiction) {
            errors.push(RecordError::new(
                "jurisdiction",
                format!(
                    "'{}' is neither a six-digit division code (such as 350102) nor a zone id (such as ftz-fuzhou)",
                    self.jurisdiction
                ),
            ));
        }
        check_text(
            &mut errors,
            "record_no",
            &self.record_no,
            MAX_RECORD_NO_CHARS,
        );
        check_text(
            &mut errors,
            "subject.name",
            &self.subject.name,
            MAX_NAME_CHARS,
        );
        check_text(
            &mut errors,
            "authority.name",
            &self.authority.name,
            MAX_NAME_CHARS,
        );
        if !spec.subjects.contains(&self.subject.class) {
            errors.push(RecordError::new(
                "subject.class",
                format!(
                    "kind {} ({}) is not about {} subjects",
                    spec.code,
                    spec.name,
                    self.subject.class.label_zh()
                ),
            ));
        }
        // A natural person: a resident ID number, or another document's
        // `TAG:NUMBER` (crate::person).
        if self.subject.class == SubjectClass::NaturalPerson {
            match crate::person::parse_strict(&self.subject.code, legacy) {
                Ok(id) => warnings.extend(
                    id.warnings
                        .iter()
                        .map(|w: &CodeWarning| format!("subject.code: {w}")),
                ),
                Err(e) => errors.push(RecordError::new("subject.code", e.to_string())),
            }
        }
        let mut code_field =
            |path: &str, kind: CodeKind, value: &str| match code::parse_strict(kind, value, legacy)
            {
                Ok(c) => warnings.extend(
                    c.warnings
                        .iter()
                        .map(|w: &CodeWarning| format!("{path}: {w}")),
                ),
                Err(e) => errors.push(RecordError::new(path, e.to_string())),
            };
        if self.subject.class != SubjectClass::NaturalPerson {
            code_field("subject.code", CodeKind::Uscc, &self.subject.code);
        }
        code_field("authority.code", CodeKind::Uscc, &self.authority.code);
        let check_code = |t: FieldType, v: &str| -> Result<(), String> {
            let kind = match t {
                FieldType::Uscc => CodeKind::Uscc,
                FieldType::ResidentId => CodeKind::ResidentId,
                _ => return Ok(()),
            };
            code::parse_strict(kind, v, legacy)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        if let Err(field_errors) = spec.check_fields(&self.fields, &check_code) {
            errors.extend(
                field_errors
                    .into_iter()
                    .map(|e| RecordError::new(format!("fields.{}", e.field), e.to_string())),
            );
        }
        if errors.is_empty() {
            Ok(warnings)
        } else {
            Err(errors)
        }
    }
}

/// Most unknown keys of one object named one by one in a record's errors;
/// the rest are counted in one more error. A record of a hundred thousand
/// junk keys then costs a few errors, not a hundred thousand messages.
pub const MAX_UNKNOWN_KEYS_NAMED: usize = 5;

/// Adds one error per unknown key (`error` gives its field and problem),
/// up to [`MAX_UNKNOWN_KEYS_NAMED`], and one error on `at` counting the rest.
fn unknown_keys<'k>(
    errors: &mut Vec<RecordError>,
    at: &str,
    keys: impl Iterator<Item = &'k String>,
    error: impl Fn(&str) -> (String, String),
) {
    let mut more = 0usize;
    for (i, k) in keys.enumerate() {
        if i < MAX_UNKNOWN_KEYS_NAMED {
            let (field, problem) = error(k);
            errors.push(RecordError::new(field, problem));
        } else {
            more += 1;
        }
    }
    if more > 0 {
        errors.push(RecordError::new(
            at,
            format!(
                "{more} more unknown keys, not listed; remove every key the format does not define"
            ),
        ));
    }
}

/// Days past today (in Beijing time, as the caller computes it) that a
/// decision date may lie: a department's clock may run a little ahead of
/// the node's, and a decision signed just before midnight may arrive after.
pub const DECISION_DATE_TOLERANCE_DAYS: u32 = 1;

impl Record {
    /// The ingest rules a record must pass to be signed on `today`, on top
    /// of [`Record::check`]: the decision date lies between
    /// [`Date::EARLIEST_PLAUSIBLE`] and today plus
    /// [`DECISION_DATE_TOLERANCE_DAYS`], and the kind-specific fields pass
    /// [`crate::catalog::RecordKind::check_fields_for_signing`] (no control
    /// characters in free text, plausible dates, no negative amounts).
    ///
    /// Only the origin applies these, before signing: a replica checks
    /// [`Record::check`] alone, so that history signed under earlier rules
    /// keeps verifying. Returns every problem found.
    pub fn check_for_signing(
        &self,
        catalog: &Catalog,
        today: Date,
    ) -> Result<(), Vec<RecordError>> {
        let mut errors = Vec::new();
        let latest = today
            .add(0, 0, DECISION_DATE_TOLERANCE_DAYS)
            .unwrap_or(today);
        if self.decision_date < Date::EARLIEST_PLAUSIBLE {
            errors.push(RecordError::new(
                "decision_date",
                format!(
                    "{} is before {}, earlier than any credit record; check for a typing or export error",
                    self.decision_date,
                    Date::EARLIEST_PLAUSIBLE
                ),
            ));
        } else if self.decision_date > latest {
            errors.push(RecordError::new(
                "decision_date",
                format!(
                    "{} is in the future (today is {today}): a decision is submitted after it is made",
                    self.decision_date
                ),
            ));
        }
        if let Some(e) = self.tier_contradiction(catalog) {
            errors.push(e);
        }
        if let Some(spec) = catalog.kind(&self.kind)
            && let Err(field_errors) = spec.check_fields_for_signing(&self.fields)
        {
            errors.extend(
                field_errors
                    .into_iter()
                    .map(|e| RecordError::new(format!("fields.{}", e.field), e.to_string())),
            );
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

impl Record {
    /// A penalty submitted under the kind of another tier than its types
    /// decide (catalog `[penalty_tiers]`): the most severe known type wins;
    /// types the table does not know decide nothing.
    fn tier_contradiction(&self, catalog: &Catalog) -> Option<RecordError> {
        let pt = catalog.penalty_tiers()?;
        if !pt.is_penalty_kind(&self.kind) {
            return None;
        }
        let Some(crate::value::FieldValue::Text(types)) = self.fields.get(&pt.field) else {
            return None;
        };
        let decided = pt.decide(types)?;
        let want = pt.kind_of(decided.tier);
        let simplified = self.kind == pt.kind_of(crate::tier::Tier::Minor) && {
            let fine = pt
                .simplified
                .as_ref()
                .and_then(|s| match self.fields.get(&s.fine_field) {
                    Some(crate::value::FieldValue::Decimal(d)) => Some(d),
                    _ => None,
                });
            let person = self.subject.class == crate::catalog::SubjectClass::NaturalPerson;
            pt.could_be_simplified(types, fine, person)
        };
        (want != self.kind && !simplified).then(|| {
            RecordError::new(
                format!("fields.{}", pt.field),
                format!(
                    "'{}' makes this a {} ({}) penalty, whose kind is {want}, not {}: submit it as {want} (catalog penalty_tiers; 国家发展改革委令第36号)",
                    decided.by,
                    decided.tier,
                    decided.tier.label_zh(),
                    self.kind
                ),
            )
        })
    }
}

fn unknown_kind(kind: &str, catalog: &Catalog) -> RecordError {
    let known: Vec<&str> = catalog.kinds().iter().map(|k| k.code.as_str()).collect();
    RecordError::new(
        "kind",
        format!(
            "'{kind}' is not in catalog {}; known kinds: {}",
            catalog.version(),
            known.join(", ")
        ),
    )
}

fn check_text(errors: &mut Vec<RecordError>, field: &str, value: &str, max: usize) {
    if value.trim().is_empty() {
        errors.push(RecordError::new(field, "missing or empty"));
    } else if value.chars().count() > max {
        errors.push(RecordError::new(
            field,
            format!("longer than {max} characters"),
        ));
    } else if let Some((at, c)) = control_character(value, false) {
        errors.push(RecordError::new(
            field,
            format!(
                "holds the control character U+{:04X} at character {at}; remove it (no control characters, line breaks or tabs here)",
                u32::from(c)
            ),
        ));
    } else if value.trim() != value {
        errors.push(RecordError::new(field, "has leading or trailing spaces"));
    }
}

/// The JSON type of a value, for error messages.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
