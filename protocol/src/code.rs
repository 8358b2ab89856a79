//! Subject identifiers: the unified social credit code (统一社会信用代码,
//! GB 32100-2015) that names an organisation and the resident ID number
//! (公民身份号码, GB 11643-1999) that names a natural person.
//!
//! Both are 18 ASCII characters. A credit code uses the 31 symbols
//! `0123456789ABCDEFGHJKLMNPQRTUWXY` (I, O, S, V, Z are never used): position 1
//! is the registration authority and position 2 an organization type allowed
//! for it, positions 3–8 are digits naming the registering division, 9–17 the
//! entity identifier and 18 the mod-31 check character. A resident ID number is
//! a 6-digit address code, an 8-digit birth date, a 3-digit sequence and an
//! ISO 7064 MOD 11-2 check character (a digit or `X`).
//!
//! Division codes are checked only for a real province prefix (and, for credit
//! codes, the national registration code `100000`, which central bodies such as
//! universities under the Ministry of Education carry): a code is lifelong, so
//! it may name a division that has since been renamed or merged.
//!
//! The secondary GB 11714 check of position 17 of a credit code only adds a
//! [`CodeWarning`]. Fujian pilot codes that fail the main checksum are accepted
//! only when a [`LegacyCodes`] allow-list names them, and then carry
//! [`CodeStatus::Legacy`].
//!
//! Birth dates must be real calendar days from 1800-01-01 on; before 1900 the
//! number is accepted with a warning. Validation never reads a clock, so that
//! every node reaches the same verdict on the same signed entry at any time; a
//! caller that has a clock checks for future dates with
//! [`CodeCheck::check_born_by`].
//!
//! **Lower case.** [`parse`] normalises: it trims surrounding ASCII whitespace
//! and upper-cases ASCII letters, so `11010519491231002x` is accepted and the
//! result holds `11010519491231002X`; signed records always hold that canonical
//! form. [`parse_strict`] (for decoding signed entries) does no normalisation
//! and refuses anything not already canonical. Full-width and other non-ASCII
//! characters are refused by both, naming the position.
//!
//! **Which kind.** Records state the class of their subject, so callers should
//! name the kind. [`detect`] is a convenience for free-text input: it accepts
//! the input if exactly one kind validates, and returns
//! [`CodeError::Ambiguous`] when both do (possible for numbers such as
//! `13110219800101141X`), rather than guess and attach data to the wrong
//! subject.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Number of characters in both kinds of code.
pub const CODE_LEN: usize = 18;

const USCC_CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
const RID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const RID_CHECK: &[u8; 11] = b"10X98765432";
const PROVINCES: [u32; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];
const PROVINCES_TEXT: &str = "11–15, 21–23, 31–37, 41–46, 50–54, 61–65, 71, 81, 82";
/// Division code of registrations at national level.
const NATIONAL_REGION: &[u8; 6] = b"100000";
const EARLIEST_BIRTH_YEAR: i32 = 1800;
const PLAUSIBLE_BIRTH_YEAR: i32 = 1900;

/// The two kinds of subject identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeKind {
    /// Unified social credit code of an organisation (GB 32100-2015).
    Uscc,
    /// Resident ID number of a natural person (GB 11643-1999).
    ResidentId,
}

impl CodeKind {
    fn noun(self) -> &'static str {
        match self {
            CodeKind::Uscc => "credit code",
            CodeKind::ResidentId => "resident ID number",
        }
    }

    fn standard(self) -> &'static str {
        match self {
            CodeKind::Uscc => "GB 32100-2015",
            CodeKind::ResidentId => "GB 11643-1999",
        }
    }
}

impl fmt::Display for CodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CodeKind::Uscc => "unified social credit code",
            CodeKind::ResidentId => "resident ID number",
        })
    }
}

/// How a code that was accepted relates to the standard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeStatus {
    /// Conforms to the standard.
    Valid,
    /// A credit code that fails the checksum but is named by the legacy
    /// allow-list (a Fujian pilot code issued before GB 32100-2015).
    Legacy,
}

/// Allow-list of legacy credit codes that are accepted although their check
/// character is wrong. Holds canonical codes only.
///
/// In configuration it is a list of strings, checked on load.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct LegacyCodes {
    codes: BTreeSet<String>,
}

impl LegacyCodes {
    /// An allow-list from canonical codes. Each must be 18 upper-case
    /// characters of the credit-code charset with a valid authority, type and
    /// division, and must fail the checksum (a code that passes needs no entry).
    pub fn new<I, S>(codes: I) -> Result<Self, CodeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = BTreeSet::new();
        for code in codes {
            let code = canonical_chars(code.as_ref(), Mode::Strict, Some(CodeKind::Uscc))?;
            let b = as_array(&code, Some(CodeKind::Uscc))?;
            let values = uscc_structure(&b)?;
            if uscc_check_value(&values) == values[17] {
                return Err(CodeError::NotLegacy { code });
            }
            set.insert(code);
        }
        Ok(LegacyCodes { codes: set })
    }

    /// An allow-list that names no code.
    pub fn empty() -> Self {
        LegacyCodes::default()
    }

    /// Whether `code` (canonical form) is on the list.
    pub fn contains(&self, code: &str) -> bool {
        self.codes.contains(code)
    }

    /// Number of codes on the list.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether the list names no code.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The listed codes in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.codes.iter().map(String::as_str)
    }
}

impl TryFrom<Vec<String>> for LegacyCodes {
    type Error = CodeError;
    fn try_from(codes: Vec<String>) -> Result<Self, CodeError> {
        LegacyCodes::new(codes)
    }
}

impl From<LegacyCodes> for Vec<String> {
    fn from(list: LegacyCodes) -> Vec<String> {
        list.codes.into_iter().collect()
    }
}

/// An accepted code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CodeCheck {
    /// Which kind of code it is.
    pub kind: CodeKind,
    /// The canonical text (upper case, no whitespace), as signed records hold it.
    pub code: String,
    /// Whether it conforms or is an allow-listed legacy code.
    pub status: CodeStatus,
    /// Oddities that do not make the code invalid.
    pub warnings: Vec<CodeWarning>,
}

impl CodeCheck {
    /// The birth date of a resident ID number; `None` for a credit code.
    pub fn birth_date(&self) -> Option<time::Date> {
        match self.kind {
            CodeKind::Uscc => None,
            CodeKind::ResidentId => birth_date(self.code.as_bytes().get(6..14)?),
        }
    }

    /// For a resident ID number, refuses a birth date after `today`; a credit
    /// code always passes. Kept apart from [`parse`] because it depends on the
    /// clock.
    pub fn check_born_by(&self, today: time::Date) -> Result<(), CodeError> {
        match self.birth_date() {
            Some(born) if born > today => Err(CodeError::BirthDate {
                digits: self.code.get(6..14).unwrap_or_default().to_owned(),
                why: BirthDateProblem::Future,
            }),
            _ => Ok(()),
        }
    }
}

/// Something odd about an accepted code, worth showing to whoever entered it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, thiserror::Error)]
#[non_exhaustive]
pub enum CodeWarning {
    /// Position 17 of a credit code fails the GB 11714 organization-code check.
    #[error(
        "position 17 is '{found}' but the GB 11714 organization-code check gives '{expected}'; \
         the code is accepted, compare it with the licence if in doubt"
    )]
    OrgCodeCheck {
        /// Check character computed from positions 9–16.
        expected: char,
        /// Character at position 17.
        found: char,
    },
    /// A resident ID number with a birth year before 1900.
    #[error(
        "birth year {year} is before 1900; the number is accepted, compare it with the ID card \
         if in doubt"
    )]
    BornBefore1900 {
        /// The birth year.
        year: u16,
    },
}

/// Why a single character was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CharProblem {
    /// Not ASCII, such as a full-width digit or letter.
    NonAscii,
    /// Whitespace inside the code (or around it, in strict parsing).
    Whitespace,
    /// ASCII punctuation, a symbol or a control character.
    Symbol,
    /// A lower-case letter in strict parsing.
    LowerCase,
    /// One of I, O, S, V, Z in a credit code.
    Excluded,
    /// A non-digit in the division code of a credit code (positions 3–8).
    RegionDigit,
    /// A non-digit in positions 1–17 of a resident ID number.
    IdDigit,
    /// Position 18 of a resident ID number is neither a digit nor `X`.
    IdCheck,
}

impl fmt::Display for CharProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CharProblem::NonAscii => {
                "not ASCII: full-width and other non-ASCII characters are never used, \
                 type the half-width character"
            }
            CharProblem::Whitespace => "whitespace is not part of a code",
            CharProblem::Symbol => "codes hold only digits and upper-case letters",
            CharProblem::LowerCase => "lower case: the canonical form is upper case",
            CharProblem::Excluded => "I, O, S, V, Z are never used",
            CharProblem::RegionDigit => {
                "positions 3–8 of a credit code are the division code and hold digits only"
            }
            CharProblem::IdDigit => "positions 1–17 of a resident ID number hold digits only",
            CharProblem::IdCheck => "the last character of a resident ID number is a digit or X",
        })
    }
}

/// Why a birth date in a resident ID number was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BirthDateProblem {
    /// Not a real calendar day.
    NotADay,
    /// Before 1800-01-01.
    TooEarly,
    /// After the date given to [`CodeCheck::check_born_by`].
    Future,
}

impl fmt::Display for BirthDateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BirthDateProblem::NotADay => "is not a real calendar day (YYYYMMDD)",
            BirthDateProblem::TooEarly => "is before 1800-01-01",
            BirthDateProblem::Future => "is in the future",
        })
    }
}

/// Why a code was refused. Positions are 1-based and count characters of the
/// code (after trimming, in [`parse`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeError {
    /// Not 18 characters.
    #[error("length is {found}, {} has 18 characters", kind_phrase(*kind))]
    Length {
        /// The kind expected, if the caller named one.
        kind: Option<CodeKind>,
        /// Number of characters found.
        found: usize,
    },
    /// A character that may not appear where it does.
    #[error("character {} at position {position} is not allowed ({why})", Shown(*found))]
    Character {
        /// 1-based position.
        position: usize,
        /// The character found.
        found: char,
        /// What is wrong with it.
        why: CharProblem,
    },
    /// Position 1 of a credit code is not a registration authority.
    #[error(
        "registration authority {} at position 1 does not exist (use 1–9, A, N or Y)",
        Shown(*found)
    )]
    Authority {
        /// The character found.
        found: char,
    },
    /// Position 2 of a credit code is not a type used by the authority.
    #[error(
        "organization type '{org_type}' at position 2 is not used by registration authority \
         '{authority}' (it uses {})",
        types_text(*authority)
    )]
    AuthorityType {
        /// Position 1.
        authority: char,
        /// Position 2.
        org_type: char,
    },
    /// The division code does not begin with a province code.
    #[error(
        "division code '{region}' at positions {} does not begin with a province code ({}){}",
        region_positions(*kind),
        PROVINCES_TEXT,
        if matches!(kind, CodeKind::Uscc) { "; national registrations use 100000" } else { "" }
    )]
    Region {
        /// Which kind of code.
        kind: CodeKind,
        /// The six digits found.
        region: String,
    },
    /// The birth date of a resident ID number is not acceptable.
    #[error("birth date '{digits}' at positions 7–14 {why}")]
    BirthDate {
        /// The eight digits found.
        digits: String,
        /// What is wrong with it.
        why: BirthDateProblem,
    },
    /// The check character does not match the rest of the code.
    #[error(
        "check character is '{found}', expected '{expected}' ({}): {}",
        kind.standard(),
        check_hint(*kind)
    )]
    CheckCharacter {
        /// Which kind of code.
        kind: CodeKind,
        /// The check character the first 17 characters call for.
        expected: char,
        /// Position 18.
        found: char,
    },
    /// [`detect`] found the input valid as both kinds.
    #[error(
        "'{code}' is valid both as a credit code and as a resident ID number; \
         say which kind of subject it names"
    )]
    Ambiguous {
        /// The canonical code.
        code: String,
    },
    /// A [`LegacyCodes`] entry that passes the checksum.
    #[error("'{code}' passes the checksum and needs no legacy allow-list entry; remove it")]
    NotLegacy {
        /// The listed code.
        code: String,
    },
}

fn kind_phrase(kind: Option<CodeKind>) -> String {
    match kind {
        Some(k) => format!("a {}", k.noun()),
        None => "a credit code or resident ID number".to_owned(),
    }
}

fn region_positions(kind: CodeKind) -> &'static str {
    match kind {
        CodeKind::Uscc => "3–8",
        CodeKind::ResidentId => "1–6",
    }
}

fn check_hint(kind: CodeKind) -> &'static str {
    match kind {
        CodeKind::Uscc => {
            "compare the code with the licence; a Fujian pilot code that predates the standard \
             must be on the legacy allow-list"
        }
        CodeKind::ResidentId => "compare the number with the ID card",
    }
}

fn allowed_types(authority: char) -> Option<&'static str> {
    Some(match authority {
        '1' | '5' | 'N' => "1239",
        '2' | '4' | '8' | 'A' => "19",
        '3' => "123459",
        '6' | '7' => "129",
        '9' => "123",
        'Y' => "1",
        _ => return None,
    })
}

fn types_text(authority: char) -> String {
    let types = allowed_types(authority).unwrap_or_default();
    let list: Vec<String> = types.chars().map(String::from).collect();
    list.join(", ")
}

/// A character for messages: quoted, with its code point when not printable ASCII.
struct Shown(char);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() {
            write!(f, "'{}'", self.0)
        } else {
            write!(
                f,
                "'{}' (U+{:04X})",
                self.0.escape_debug(),
                u32::from(self.0)
            )
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normalise,
    Strict,
}

/// Parses a code of the given kind, normalising first: surrounding ASCII
/// whitespace is trimmed and ASCII letters are upper-cased. The result holds
/// the canonical text.
pub fn parse(kind: CodeKind, input: &str, legacy: &LegacyCodes) -> Result<CodeCheck, CodeError> {
    check(
        kind,
        &canonical_chars(input, Mode::Normalise, Some(kind))?,
        legacy,
    )
}

/// Parses a code of the given kind that must already be canonical: no
/// whitespace, no lower case. Used when decoding signed entries.
pub fn parse_strict(
    kind: CodeKind,
    input: &str,
    legacy: &LegacyCodes,
) -> Result<CodeCheck, CodeError> {
    check(
        kind,
        &canonical_chars(input, Mode::Strict, Some(kind))?,
        legacy,
    )
}

/// Parses a code of unknown kind, normalising as [`parse`] does.
///
/// If exactly one kind validates, that is the result; if both do, the result
/// is [`CodeError::Ambiguous`]. If neither does, the error is the resident-ID
/// error when the input looks like one (17 digits then a digit or `X`, a
/// province prefix, and a birth year starting 18, 19 or 20), else the
/// credit-code error.
pub fn detect(input: &str, legacy: &LegacyCodes) -> Result<CodeCheck, CodeError> {
    let code = canonical_chars(input, Mode::Normalise, None)?;
    let b = as_array(&code, None)?;
    match (check_uscc(&b, legacy), check_resident_id(&b)) {
        (Ok(_), Ok(_)) => Err(CodeError::Ambiguous { code }),
        (Ok(found), Err(_)) | (Err(_), Ok(found)) => Ok(found),
        (Err(uscc), Err(resident)) => Err(if resident_id_shaped(&b) {
            resident
        } else {
            uscc
        }),
    }
}

/// Masks a resident ID number for public display by hiding the birth date
/// (positions 7–14): `350102********123X`. Input of any other length keeps
/// only its first two and last character (`35*******1`), and input of three
/// characters or fewer is masked entirely.
pub fn mask_resident_id(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let n = chars.len();
    let (head, tail) = match n {
        CODE_LEN => (6, 4),
        0..=3 => (0, 0),
        _ => (2, 1),
    };
    chars
        .iter()
        .enumerate()
        .map(|(i, &c)| if i < head || i >= n - tail { c } else { '*' })
        .collect()
}

/// The check character (position 18) for the first 17 characters of a credit
/// code, or `None` unless `first17` is 17 characters of the canonical charset.
pub fn uscc_check_char(first17: &str) -> Option<char> {
    let b: &[u8; 17] = first17.as_bytes().try_into().ok()?;
    let mut values = [0u32; 17];
    for (v, &c) in values.iter_mut().zip(b) {
        *v = uscc_value(c)?;
    }
    Some(uscc_char(uscc_check_value(&values)))
}

/// The check character (position 18) for the first 17 digits of a resident ID
/// number, or `None` unless `first17` is 17 ASCII digits.
pub fn resident_id_check_char(first17: &str) -> Option<char> {
    let b: &[u8; 17] = first17.as_bytes().try_into().ok()?;
    b.iter()
        .all(u8::is_ascii_digit)
        .then(|| resident_id_check(b))
}

/// Whether `input` (canonical form) has the shape of a credit code: 18
/// characters of the charset with a valid authority, type and division. The
/// checksum is not considered.
pub fn is_uscc_shaped(input: &str) -> bool {
    let Ok(b) = <&[u8; CODE_LEN]>::try_from(input.as_bytes()) else {
        return false;
    };
    uscc_structure(b).is_ok()
}

/// Applies the character rules of `mode` and returns the text to check.
fn canonical_chars(input: &str, mode: Mode, kind: Option<CodeKind>) -> Result<String, CodeError> {
    let text = match mode {
        Mode::Normalise => input
            .trim_matches(|c: char| c.is_ascii_whitespace())
            .to_ascii_uppercase(),
        Mode::Strict => input.to_owned(),
    };
    for (i, c) in text.chars().enumerate() {
        let why = if !c.is_ascii() {
            CharProblem::NonAscii
        } else if c.is_ascii_whitespace() {
            CharProblem::Whitespace
        } else if c.is_ascii_lowercase() {
            CharProblem::LowerCase
        } else if !c.is_ascii_alphanumeric() {
            CharProblem::Symbol
        } else {
            continue;
        };
        return Err(CodeError::Character {
            position: i + 1,
            found: c,
            why,
        });
    }
    // Only ASCII is left, so bytes are characters.
    if text.len() != CODE_LEN {
        return Err(CodeError::Length {
            kind,
            found: text.len(),
        });
    }
    Ok(text)
}

fn as_array(code: &str, kind: Option<CodeKind>) -> Result<[u8; CODE_LEN], CodeError> {
    code.as_bytes().try_into().map_err(|_| CodeError::Length {
        kind,
        found: code.chars().count(),
    })
}

fn check(kind: CodeKind, code: &str, legacy: &LegacyCodes) -> Result<CodeCheck, CodeError> {
    let b = as_array(code, Some(kind))?;
    match kind {
        CodeKind::Uscc => check_uscc(&b, legacy),
        CodeKind::ResidentId => check_resident_id(&b),
    }
}

fn check_uscc(b: &[u8; CODE_LEN], legacy: &LegacyCodes) -> Result<CodeCheck, CodeError> {
    let values = uscc_structure(b)?;
    let code = String::from_utf8_lossy(b).into_owned();
    let found = char::from(b[17]);
    let expected = uscc_char(uscc_check_value(&values));
    let status = if expected == found {
        CodeStatus::Valid
    } else if legacy.contains(&code) {
        CodeStatus::Legacy
    } else {
        return Err(CodeError::CheckCharacter {
            kind: CodeKind::Uscc,
            expected,
            found,
        });
    };
    let mut warnings = Vec::new();
    if let Some(expected) = org_check_char(&b[8..16]) {
        let found = char::from(b[16]);
        if expected != found {
            warnings.push(CodeWarning::OrgCodeCheck { expected, found });
        }
    }
    Ok(CodeCheck {
        kind: CodeKind::Uscc,
        code,
        status,
        warnings,
    })
}

/// Checks charset, authority, type and division of a credit code (not the
/// checksum) and returns the value of each character.
fn uscc_structure(b: &[u8; CODE_LEN]) -> Result<[u32; CODE_LEN], CodeError> {
    let char_error = |i: usize, why| CodeError::Character {
        position: i + 1,
        found: char::from(b[i]),
        why,
    };
    let mut values = [0u32; CODE_LEN];
    for (i, &c) in b.iter().enumerate() {
        if let Some(v) = uscc_value(c) {
            values[i] = v;
        } else {
            let why = if matches!(c, b'I' | b'O' | b'S' | b'V' | b'Z') {
                CharProblem::Excluded
            } else if c.is_ascii_lowercase() {
                CharProblem::LowerCase
            } else {
                CharProblem::Symbol
            };
            return Err(char_error(i, why));
        }
    }
    let (authority, org_type) = (char::from(b[0]), char::from(b[1]));
    let Some(types) = allowed_types(authority) else {
        return Err(CodeError::Authority { found: authority });
    };
    if !types.contains(org_type) {
        return Err(CodeError::AuthorityType {
            authority,
            org_type,
        });
    }
    if let Some(i) = (2..8).find(|&i| !b[i].is_ascii_digit()) {
        return Err(char_error(i, CharProblem::RegionDigit));
    }
    let region = &b[2..8];
    if !(is_province(&region[..2]) || region == NATIONAL_REGION) {
        return Err(CodeError::Region {
            kind: CodeKind::Uscc,
            region: String::from_utf8_lossy(region).into_owned(),
        });
    }
    Ok(values)
}

/// GB 32100 check value for the values of (at least) the first 17 characters.
fn uscc_check_value(values: &[u32]) -> u32 {
    let sum: u32 = values.iter().zip(USCC_WEIGHTS).map(|(v, w)| v * w).sum();
    (31 - sum % 31) % 31
}

fn uscc_char(value: u32) -> char {
    char::from(USCC_CHARSET[(value % 31) as usize])
}

/// ISO 7064 MOD 11-2 check character for (at least) 17 ASCII digits.
fn resident_id_check(digits: &[u8]) -> char {
    let sum: u32 = digits
        .iter()
        .zip(RID_WEIGHTS)
        .map(|(&c, w)| u32::from(c.wrapping_sub(b'0')) * w)
        .sum();
    char::from(RID_CHECK[(sum % 11) as usize])
}

fn check_resident_id(b: &[u8; CODE_LEN]) -> Result<CodeCheck, CodeError> {
    let char_error = |i: usize, why| CodeError::Character {
        position: i + 1,
        found: char::from(b[i]),
        why,
    };
    if let Some(i) = (0..17).find(|&i| !b[i].is_ascii_digit()) {
        return Err(char_error(i, CharProblem::IdDigit));
    }
    if !(b[17].is_ascii_digit() || b[17] == b'X') {
        return Err(char_error(17, CharProblem::IdCheck));
    }
    if !is_province(&b[..2]) {
        return Err(CodeError::Region {
            kind: CodeKind::ResidentId,
            region: String::from_utf8_lossy(&b[..6]).into_owned(),
        });
    }
    let digits = String::from_utf8_lossy(&b[6..14]).into_owned();
    let Some(born) = birth_date(&b[6..14]) else {
        return Err(CodeError::BirthDate {
            digits,
            why: BirthDateProblem::NotADay,
        });
    };
    if born.year() < EARLIEST_BIRTH_YEAR {
        return Err(CodeError::BirthDate {
            digits,
            why: BirthDateProblem::TooEarly,
        });
    }
    let code = String::from_utf8_lossy(b).into_owned();
    let found = char::from(b[17]);
    let expected = resident_id_check(b);
    if expected != found {
        return Err(CodeError::CheckCharacter {
            kind: CodeKind::ResidentId,
            expected,
            found,
        });
    }
    let mut warnings = Vec::new();
    if born.year() < PLAUSIBLE_BIRTH_YEAR {
        warnings.push(CodeWarning::BornBefore1900 {
            year: u16::try_from(born.year()).unwrap_or_default(),
        });
    }
    Ok(CodeCheck {
        kind: CodeKind::ResidentId,
        code,
        status: CodeStatus::Valid,
        warnings,
    })
}

/// Whether detection should report the resident-ID error for input that is
/// neither kind.
fn resident_id_shaped(b: &[u8; CODE_LEN]) -> bool {
    b[..17].iter().all(u8::is_ascii_digit)
        && (b[17].is_ascii_digit() || b[17] == b'X')
        && is_province(&b[..2])
        && matches!(&b[6..8], b"18" | b"19" | b"20")
}

/// The date of eight `YYYYMMDD` digits, if it is a real day.
fn birth_date(digits: &[u8]) -> Option<time::Date> {
    if digits.len() != 8 {
        return None;
    }
    let year = i32::try_from(number(&digits[..4])?).ok()?;
    let month = time::Month::try_from(u8::try_from(number(&digits[4..6])?).ok()?).ok()?;
    let day = u8::try_from(number(&digits[6..8])?).ok()?;
    time::Date::from_calendar_date(year, month, day).ok()
}

fn is_province(two: &[u8]) -> bool {
    number(two).is_some_and(|n| two.len() == 2 && PROVINCES.contains(&n))
}

fn number(digits: &[u8]) -> Option<u32> {
    digits
        .iter()
        .try_fold(0u32, |acc, &c| acc.checked_mul(10)?.checked_add(digit(c)?))
}

fn digit(c: u8) -> Option<u32> {
    c.is_ascii_digit().then(|| u32::from(c - b'0'))
}

fn uscc_value(c: u8) -> Option<u32> {
    USCC_CHARSET
        .iter()
        .position(|&x| x == c)
        .and_then(|p| u32::try_from(p).ok())
}

/// GB 11714 check character for the eight characters of an organization code
/// body (digits and A–Z valued 10–35).
fn org_check_char(body: &[u8]) -> Option<char> {
    if body.len() != ORG_WEIGHTS.len() {
        return None;
    }
    let mut sum = 0u32;
    for (&c, w) in body.iter().zip(ORG_WEIGHTS) {
        sum += char::from(c).to_digit(36)? * w;
    }
    match 11 - sum % 11 {
        10 => Some('X'),
        11 => Some('0'),
        v => char::from_digit(v, 10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FUZHOU: &str = "91350100757384472D";
    const PILOT: &str = "91350100M0001TGQXM";

    fn none() -> LegacyCodes {
        LegacyCodes::empty()
    }

    fn uscc(input: &str) -> Result<CodeCheck, CodeError> {
        parse(CodeKind::Uscc, input, &none())
    }

    fn rid(input: &str) -> Result<CodeCheck, CodeError> {
        parse(CodeKind::ResidentId, input, &none())
    }

    fn char_error(position: usize, found: char, why: CharProblem) -> CodeError {
        CodeError::Character {
            position,
            found,
            why,
        }
    }

    #[test]
    fn known_valid_credit_codes() {
        let c = uscc(FUZHOU).unwrap();
        assert_eq!(c.kind, CodeKind::Uscc);
        assert_eq!(c.code, FUZHOU);
        assert_eq!(c.status, CodeStatus::Valid);
        assert!(c.warnings.is_empty());
        // Fuyao Glass (Fuqing), registered at province level.
        assert!(uscc("91350000158142711F").unwrap().warnings.is_empty());
        // National registrations carry division 100000 (Tsinghua, Peking University).
        assert_eq!(
            uscc("12100000400000624D").unwrap().status,
            CodeStatus::Valid
        );
        assert_eq!(
            uscc("12100000400002259P").unwrap().status,
            CodeStatus::Valid
        );
    }

    #[test]
    fn check_char_helpers_match_known_answers() {
        assert_eq!(uscc_check_char("91350100757384472"), Some('D'));
        assert_eq!(uscc_check_char("91350100M000100Y4"), Some('3'));
        assert_eq!(uscc_check_char("91350100MA1234567"), Some('C'));
        assert_eq!(uscc_check_char("91350100M0001TGQX"), Some('1'));
        assert_eq!(uscc_check_char("00000000000000000"), Some('0'));
        assert_eq!(uscc_check_char("9135010075738447"), None);
        assert_eq!(uscc_check_char("9I350100757384472"), None);
        assert_eq!(uscc_check_char("91350100m00010Oy4"), None);
        assert_eq!(resident_id_check_char("11010519491231002"), Some('X'));
        assert_eq!(resident_id_check_char("44052418800101001"), Some('4'));
        assert_eq!(resident_id_check_char("4405241880010100X"), None);
        assert_eq!(resident_id_check_char("１1010519491231002"), None);
    }

    #[test]
    fn org_code_check_failure_is_only_a_warning() {
        // Positions 9–17 of the placeholder body fail GB 11714; the check character fits.
        let c = uscc("91350100MA1234567C").unwrap();
        assert_eq!(c.status, CodeStatus::Valid);
        assert_eq!(
            c.warnings,
            vec![CodeWarning::OrgCodeCheck {
                expected: '9',
                found: '7'
            }]
        );
        assert!(c.warnings[0].to_string().contains("accepted"));
        let c = uscc("91350100757384473G").unwrap();
        assert_eq!(
            c.warnings,
            vec![CodeWarning::OrgCodeCheck {
                expected: '2',
                found: '3'
            }]
        );
        // The worked example passes both checks.
        assert!(uscc("91350100M000100Y43").unwrap().warnings.is_empty());
    }

    #[test]
    fn excluded_letter_is_a_charset_error_not_a_checksum_error() {
        let e = uscc("91350100M000100Y4Z").unwrap_err();
        assert_eq!(e, char_error(18, 'Z', CharProblem::Excluded));
        assert_eq!(
            e.to_string(),
            "character 'Z' at position 18 is not allowed (I, O, S, V, Z are never used)"
        );
        let e = uscc("9I350100757384472D").unwrap_err();
        assert_eq!(e, char_error(2, 'I', CharProblem::Excluded));
        assert_eq!(
            e.to_string(),
            "character 'I' at position 2 is not allowed (I, O, S, V, Z are never used)"
        );
    }

    #[test]
    fn wrong_check_character() {
        let e = uscc("91350100757384472E").unwrap_err();
        let want = CodeError::CheckCharacter {
            kind: CodeKind::Uscc,
            expected: 'D',
            found: 'E',
        };
        assert_eq!(e, want);
        assert!(
            e.to_string()
                .starts_with("check character is 'E', expected 'D' (GB 32100-2015)")
        );
        let e = uscc("91350100MA12345678").unwrap_err();
        assert!(matches!(
            e,
            CodeError::CheckCharacter {
                expected: 'C',
                found: '8',
                ..
            }
        ));
    }

    #[test]
    fn all_zero_code_passes_checksum_but_not_structure() {
        assert_eq!(
            uscc("000000000000000000").unwrap_err(),
            CodeError::Authority { found: '0' }
        );
        assert!(!is_uscc_shaped("000000000000000000"));
        assert!(is_uscc_shaped(FUZHOU));
        assert!(is_uscc_shaped("91350100757384472E"));
        // Published placeholder: authority 0 as well.
        assert!(matches!(
            uscc("00000000000000000X"),
            Err(CodeError::Authority { .. })
        ));
    }

    #[test]
    fn authority_type_and_region() {
        let e = uscc("94350100757384472D").unwrap_err();
        assert_eq!(
            e,
            CodeError::AuthorityType {
                authority: '9',
                org_type: '4'
            }
        );
        assert_eq!(
            e.to_string(),
            "organization type '4' at position 2 is not used by registration authority '9' \
             (it uses 1, 2, 3)"
        );
        assert!(matches!(
            uscc("Y2350100757384472D"),
            Err(CodeError::AuthorityType { .. })
        ));
        assert!(matches!(
            uscc("B1350100757384472D"),
            Err(CodeError::Authority { found: 'B' })
        ));
        assert_eq!(
            uscc("913A0100757384472D").unwrap_err(),
            char_error(4, 'A', CharProblem::RegionDigit)
        );
        let e = uscc("91990100757384472D").unwrap_err();
        assert_eq!(
            e,
            CodeError::Region {
                kind: CodeKind::Uscc,
                region: "990100".into()
            }
        );
        assert!(e.to_string().contains("positions 3–8"));
        // A division that no longer exists is still accepted: codes are lifelong.
        assert!(uscc("913501827573844726").is_ok());
    }

    #[test]
    fn pilot_code_needs_the_allow_list() {
        let e = uscc(PILOT).unwrap_err();
        assert_eq!(
            e,
            CodeError::CheckCharacter {
                kind: CodeKind::Uscc,
                expected: '1',
                found: 'M'
            }
        );
        assert!(e.to_string().contains("legacy allow-list"));
        let legacy = LegacyCodes::new([PILOT]).unwrap();
        assert!(legacy.contains(PILOT));
        assert_eq!(legacy.len(), 1);
        let c = parse(CodeKind::Uscc, PILOT, &legacy).unwrap();
        assert_eq!(c.status, CodeStatus::Legacy);
        assert!(c.warnings.is_empty());
        // Normalised input matches the canonical entry; strict parsing accepts it too.
        let c = parse(CodeKind::Uscc, " 91350100m0001tgqxm\n", &legacy).unwrap();
        assert_eq!((c.code.as_str(), c.status), (PILOT, CodeStatus::Legacy));
        assert!(parse_strict(CodeKind::Uscc, PILOT, &legacy).is_ok());
        // The list does not make other codes legacy, nor valid ones legacy.
        assert!(parse(CodeKind::Uscc, "91350100757384472E", &legacy).is_err());
        assert_eq!(
            parse(CodeKind::Uscc, FUZHOU, &legacy).unwrap().status,
            CodeStatus::Valid
        );
    }

    #[test]
    fn allow_list_refuses_nonsense() {
        assert!(LegacyCodes::empty().is_empty());
        assert_eq!(
            LegacyCodes::new([FUZHOU]),
            Err(CodeError::NotLegacy {
                code: FUZHOU.into()
            })
        );
        assert!(matches!(
            LegacyCodes::new(["91350100m0001tgqxm"]),
            Err(CodeError::Character {
                position: 9,
                why: CharProblem::LowerCase,
                ..
            })
        ));
        assert!(matches!(
            LegacyCodes::new([" 91350100M0001TGQXM"]),
            Err(CodeError::Character {
                position: 1,
                why: CharProblem::Whitespace,
                ..
            })
        ));
        assert!(matches!(
            LegacyCodes::new(["9135"]),
            Err(CodeError::Length { found: 4, .. })
        ));
        assert!(matches!(
            LegacyCodes::new(["000000000000000001"]),
            Err(CodeError::Authority { .. })
        ));
        assert!(matches!(
            LegacyCodes::new(["91350100M0001TGQXZ"]),
            Err(CodeError::Character {
                position: 18,
                why: CharProblem::Excluded,
                ..
            })
        ));
    }

    #[test]
    fn allow_list_loads_from_config_lists() {
        let legacy: LegacyCodes = serde_json::from_str(&format!("[\"{PILOT}\"]")).unwrap();
        assert!(legacy.contains(PILOT));
        assert_eq!(
            serde_json::to_string(&legacy).unwrap(),
            format!("[\"{PILOT}\"]")
        );
        assert!(serde_json::from_str::<LegacyCodes>(&format!("[\"{FUZHOU}\"]")).is_err());
        assert_eq!(legacy.iter().collect::<Vec<_>>(), vec![PILOT]);
    }

    #[test]
    fn known_resident_ids() {
        let c = rid("11010519491231002X").unwrap();
        assert_eq!(c.kind, CodeKind::ResidentId);
        assert_eq!((c.status, c.warnings.len()), (CodeStatus::Valid, 0));
        assert_eq!(c.birth_date(), Some(time::macros::date!(1949 - 12 - 31)));
        assert!(rid("350102199003071234").is_ok());
        assert!(rid("350102200002290027").is_ok());
        let e = rid("110105194912310020").unwrap_err();
        assert_eq!(
            e,
            CodeError::CheckCharacter {
                kind: CodeKind::ResidentId,
                expected: 'X',
                found: '0'
            }
        );
        assert!(e.to_string().contains("GB 11643-1999"));
    }

    #[test]
    fn births_before_1900_warn_and_before_1800_fail() {
        let c = rid("440524188001010014").unwrap();
        assert_eq!(c.status, CodeStatus::Valid);
        assert_eq!(c.warnings, vec![CodeWarning::BornBefore1900 { year: 1880 }]);
        assert!(rid("350102189912310010").is_ok());
        // 17991231: a real day, but too early.
        let e = rid("350102179912310011").unwrap_err();
        assert!(matches!(
            e,
            CodeError::BirthDate {
                why: BirthDateProblem::TooEarly,
                ..
            }
        ));
    }

    #[test]
    fn invalid_birth_dates() {
        for (input, digits) in [
            ("110105194902300011", "19490230"),
            ("110105194913010011", "19491301"),
            ("110105194900010011", "19490001"),
            ("110105190002290011", "19000229"),
        ] {
            assert_eq!(
                rid(input).unwrap_err(),
                CodeError::BirthDate {
                    digits: digits.into(),
                    why: BirthDateProblem::NotADay
                },
                "{input}"
            );
        }
        assert_eq!(
            rid("110105194902300011").unwrap_err().to_string(),
            "birth date '19490230' at positions 7–14 is not a real calendar day (YYYYMMDD)"
        );
    }

    #[test]
    fn future_births_are_the_callers_check() {
        let c = rid("350102200002290027").unwrap();
        assert!(c.check_born_by(time::macros::date!(2000 - 02 - 29)).is_ok());
        assert!(matches!(
            c.check_born_by(time::macros::date!(2000 - 02 - 28)),
            Err(CodeError::BirthDate {
                why: BirthDateProblem::Future,
                ..
            })
        ));
        let org = uscc(FUZHOU).unwrap();
        assert_eq!(org.birth_date(), None);
        assert!(
            org.check_born_by(time::macros::date!(1900 - 01 - 01))
                .is_ok()
        );
    }

    #[test]
    fn resident_id_structure() {
        assert_eq!(
            rid("1101051949123100AX").unwrap_err(),
            char_error(17, 'A', CharProblem::IdDigit)
        );
        assert_eq!(
            rid("11010519491231002Y").unwrap_err(),
            char_error(18, 'Y', CharProblem::IdCheck)
        );
        let e = rid("990105194912310020").unwrap_err();
        assert_eq!(
            e,
            CodeError::Region {
                kind: CodeKind::ResidentId,
                region: "990105".into()
            }
        );
        assert!(e.to_string().contains("positions 1–6"));
    }

    #[test]
    fn parse_normalises_and_strict_refuses() {
        let c = rid("11010519491231002x").unwrap();
        assert_eq!(c.code, "11010519491231002X");
        let c = uscc(" \t91350100757384472d\r\n").unwrap();
        assert_eq!(c.code, FUZHOU);
        let e = parse_strict(CodeKind::ResidentId, "11010519491231002x", &none()).unwrap_err();
        assert_eq!(e, char_error(18, 'x', CharProblem::LowerCase));
        assert_eq!(
            e.to_string(),
            "character 'x' at position 18 is not allowed (lower case: the canonical form is upper case)"
        );
        assert_eq!(
            parse_strict(CodeKind::Uscc, "91350100757384472D ", &none()).unwrap_err(),
            char_error(19, ' ', CharProblem::Whitespace)
        );
        assert!(parse_strict(CodeKind::Uscc, FUZHOU, &none()).is_ok());
        assert!(parse_strict(CodeKind::ResidentId, "11010519491231002X", &none()).is_ok());
    }

    #[test]
    fn inner_whitespace_and_symbols() {
        assert_eq!(
            uscc("913501 00757384472D").unwrap_err(),
            char_error(7, ' ', CharProblem::Whitespace)
        );
        assert_eq!(
            uscc("9135-0100757384472D").unwrap_err(),
            char_error(5, '-', CharProblem::Symbol)
        );
        let e = rid("110105\u{0}19491231002X").unwrap_err();
        assert_eq!(e, char_error(7, '\u{0}', CharProblem::Symbol));
        assert!(e.to_string().contains("U+0000"), "{e}");
    }

    #[test]
    fn wrong_lengths() {
        let e = uscc("91350100757384472").unwrap_err();
        assert_eq!(
            e,
            CodeError::Length {
                kind: Some(CodeKind::Uscc),
                found: 17
            }
        );
        assert_eq!(
            e.to_string(),
            "length is 17, a credit code has 18 characters"
        );
        assert_eq!(
            rid("1101051949123100201").unwrap_err().to_string(),
            "length is 19, a resident ID number has 18 characters"
        );
        assert!(matches!(uscc(""), Err(CodeError::Length { found: 0, .. })));
        assert!(matches!(
            uscc("   "),
            Err(CodeError::Length { found: 0, .. })
        ));
        assert_eq!(
            detect("123", &none()).unwrap_err().to_string(),
            "length is 3, a credit code or resident ID number has 18 characters"
        );
    }

    #[test]
    fn full_width_characters_name_their_position() {
        let e = uscc("９1350100757384472D").unwrap_err();
        assert_eq!(e, char_error(1, '９', CharProblem::NonAscii));
        assert!(e.to_string().contains("U+FF19"), "{e}");
        assert!(e.to_string().contains("position 1"), "{e}");
        let e = rid("11010519491231002Ｘ").unwrap_err();
        assert_eq!(e, char_error(18, 'Ｘ', CharProblem::NonAscii));
        // A full-width space is not trimmed.
        let e = uscc("\u{3000}91350100757384472D").unwrap_err();
        assert_eq!(e, char_error(1, '\u{3000}', CharProblem::NonAscii));
        // Non-ASCII Unicode letters are not upper-cased into ASCII.
        assert!(matches!(
            rid("ı1010519491231002X"),
            Err(CodeError::Character {
                position: 1,
                why: CharProblem::NonAscii,
                ..
            })
        ));
    }

    #[test]
    fn detect_picks_the_only_valid_kind() {
        let c = detect(FUZHOU, &none()).unwrap();
        assert_eq!(c.kind, CodeKind::Uscc);
        let c = detect("11010519491231002x", &none()).unwrap();
        assert_eq!(
            (c.kind, c.code.as_str()),
            (CodeKind::ResidentId, "11010519491231002X")
        );
        let legacy = LegacyCodes::new([PILOT]).unwrap();
        assert_eq!(detect(PILOT, &legacy).unwrap().status, CodeStatus::Legacy);
        // All digits but authority 9: never a resident ID number.
        assert_eq!(
            detect("913501007573844721", &none()).unwrap_err(),
            CodeError::CheckCharacter {
                kind: CodeKind::Uscc,
                expected: 'D',
                found: '1'
            }
        );
    }

    #[test]
    fn detect_reports_ambiguity() {
        let both = "13110219800101141X";
        assert!(uscc(both).is_ok());
        assert!(rid(both).is_ok());
        let e = detect(both, &none()).unwrap_err();
        assert_eq!(e, CodeError::Ambiguous { code: both.into() });
        assert!(e.to_string().contains("say which kind"));
    }

    #[test]
    fn detect_explains_failures_by_shape() {
        // Looks like a resident ID number: its error, not the credit-code one.
        assert!(matches!(
            detect("110105194902300011", &none()),
            Err(CodeError::BirthDate { .. })
        ));
        assert!(matches!(
            detect("110105194912310020", &none()),
            Err(CodeError::CheckCharacter {
                kind: CodeKind::ResidentId,
                ..
            })
        ));
        // An organ's all-digit credit code (authority 1, type 1) gets the credit-code error.
        assert!(matches!(
            detect("113501000035001230", &none()),
            Err(CodeError::CheckCharacter {
                kind: CodeKind::Uscc,
                ..
            })
        ));
        assert!(matches!(
            detect("9I350100757384472D", &none()),
            Err(CodeError::Character {
                position: 2,
                why: CharProblem::Excluded,
                ..
            })
        ));
    }

    #[test]
    fn masking_hides_the_birth_date() {
        assert_eq!(mask_resident_id("350102199003071234"), "350102********1234");
        assert_eq!(mask_resident_id("11010519491231002X"), "110105********002X");
        assert_eq!(mask_resident_id("3501021990"), "35*******0");
        assert_eq!(mask_resident_id("12345"), "12**5");
        assert_eq!(mask_resident_id("abc"), "***");
        assert_eq!(mask_resident_id(""), "");
        assert_eq!(mask_resident_id("福州市鼓楼区"), "福州***区");
        assert_eq!(
            mask_resident_id("１１０１０５１９４９１２３１００２Ｘ"),
            "１１０１０５********００２Ｘ"
        );
    }

    #[test]
    fn serde_names_are_stable() {
        assert_eq!(
            serde_json::to_string(&CodeKind::ResidentId).unwrap(),
            "\"resident_id\""
        );
        assert_eq!(serde_json::to_string(&CodeKind::Uscc).unwrap(), "\"uscc\"");
        assert_eq!(
            serde_json::to_string(&CodeStatus::Legacy).unwrap(),
            "\"legacy\""
        );
        let kind: CodeKind = serde_json::from_str("\"uscc\"").unwrap();
        assert_eq!(kind, CodeKind::Uscc);
    }

    const PAIRS: [&str; 29] = [
        "11", "12", "13", "19", "21", "29", "31", "32", "33", "34", "35", "39", "41", "49", "51",
        "52", "53", "59", "61", "62", "69", "71", "72", "79", "81", "89", "91", "92", "93",
    ];
    const MORE_PAIRS: [&str; 7] = ["A1", "A9", "N1", "N2", "N3", "N9", "Y1"];

    fn charset_char() -> impl Strategy<Value = char> {
        prop::sample::select(USCC_CHARSET.to_vec()).prop_map(char::from)
    }

    /// A credit code with valid structure and check character.
    fn valid_uscc() -> impl Strategy<Value = String> {
        let pairs: Vec<&str> = PAIRS.iter().chain(&MORE_PAIRS).copied().collect();
        (
            prop::sample::select(pairs),
            prop_oneof![
                prop::sample::select(PROVINCES.to_vec()).prop_map(|p| p.to_string()),
                Just("10".to_owned())
            ],
            "[0-9]{4}",
            prop::collection::vec(charset_char(), 9),
        )
            .prop_filter_map(
                "100000 is the only national code",
                |(pair, prov, rest, body)| {
                    if prov == "10" && rest != "0000" {
                        return None;
                    }
                    let body: String = body.into_iter().collect();
                    let first17 = format!("{pair}{prov}{rest}{body}");
                    Some(format!("{first17}{}", uscc_check_char(&first17)?))
                },
            )
    }

    /// A resident ID number with a real birth date and the right check character.
    fn valid_resident_id() -> impl Strategy<Value = String> {
        (
            prop::sample::select(PROVINCES.to_vec()),
            "[0-9]{4}",
            1900i32..2100,
            1u8..=12,
            1u8..=31,
            "[0-9]{3}",
        )
            .prop_filter_map("real day", |(prov, area, y, m, d, seq)| {
                let month = time::Month::try_from(m).ok()?;
                time::Date::from_calendar_date(y, month, d).ok()?;
                let first17 = format!("{prov}{area}{y:04}{m:02}{d:02}{seq}");
                Some(format!("{first17}{}", resident_id_check_char(&first17)?))
            })
    }

    /// `code` with the character at `index` moved `shift` places along
    /// `alphabet` (which holds it), so that it always changes.
    fn substitute(code: &str, index: usize, shift: usize, alphabet: &[u8]) -> String {
        let mut b = code.as_bytes().to_vec();
        let at = alphabet.iter().position(|&c| c == b[index]).unwrap();
        b[index] = alphabet[(at + shift) % alphabet.len()];
        String::from_utf8(b).unwrap()
    }

    proptest! {
        #[test]
        fn generated_credit_codes_are_valid(code in valid_uscc()) {
            let c = parse_strict(CodeKind::Uscc, &code, &none()).unwrap();
            prop_assert_eq!(c.status, CodeStatus::Valid);
            prop_assert_eq!(&c.code, &code);
            prop_assert!(uscc(&code.to_ascii_lowercase()).is_ok());
        }

        #[test]
        fn any_single_substitution_in_a_credit_code_is_caught(
            code in valid_uscc(),
            index in 0usize..18,
            shift in 1usize..31,
        ) {
            prop_assert!(uscc(&substitute(&code, index, shift, USCC_CHARSET)).is_err());
        }

        #[test]
        fn generated_resident_ids_are_valid(code in valid_resident_id()) {
            let c = parse_strict(CodeKind::ResidentId, &code, &none()).unwrap();
            prop_assert_eq!(c.status, CodeStatus::Valid);
            prop_assert!(c.warnings.is_empty());
            prop_assert_eq!(mask_resident_id(&code).matches('*').count(), 8);
        }

        #[test]
        fn any_single_substitution_in_a_resident_id_is_caught(
            code in valid_resident_id(),
            index in 0usize..18,
            shift in 1usize..11,
        ) {
            prop_assert!(rid(&substitute(&code, index, shift, b"0123456789X")).is_err());
        }

        #[test]
        fn nothing_panics_on_arbitrary_text(s in "\\PC{0,24}|[0-9A-Za-z ]{16,20}|\\PC{18}") {
            let legacy = LegacyCodes::new([PILOT]).unwrap();
            for kind in [CodeKind::Uscc, CodeKind::ResidentId] {
                if let Ok(c) = parse(kind, &s, &legacy) {
                    prop_assert_eq!(parse_strict(kind, &c.code, &legacy), Ok(c.clone()));
                    let _ = c.birth_date();
                }
                let _ = parse_strict(kind, &s, &legacy).map_err(|e| e.to_string());
            }
            let _ = detect(&s, &legacy).map_err(|e| e.to_string());
            let _ = mask_resident_id(&s);
            let _ = is_uscc_shaped(&s);
            let _ = LegacyCodes::new([s.as_str()]);
            let _ = uscc_check_char(&s);
            let _ = resident_id_check_char(&s);
        }
    }
}
