//! Identity documents of natural persons other than the resident ID card.
//!
//! The double-publicity standard identifies a natural person by a document
//! type (`XDR_ZJLX`) and number (`XDR_ZJHM`): a resident ID card, a
//! passport, a Mainland travel permit for Hong Kong and Macao residents or
//! for Taiwan residents, or a foreign permanent resident ID card. A resident
//! ID number is a subject code on its own (18 characters, GB 11643 check
//! character); every other document is written in a record's
//! `subject.code` as `TAG:NUMBER` (protocol.md §3.2), for example
//! `PASSPORT:E12345678`, so that the type is part of the identity: the same
//! number on two kinds of document names two people.
//!
//! Numbers are checked by format for each type (docs/double-publicity.md
//! says which, and where the formats come from); only the resident ID and
//! the 2017 foreign permanent resident ID carry a check character.

use std::fmt;

use crate::code::{self, CodeError, CodeKind, LegacyCodes};

/// Separator between a document's tag and its number in a subject code.
pub const TAG_SEPARATOR: char = ':';

/// A natural person's identity document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdDocument {
    /// 居民身份证 (GB 11643-1999).
    ResidentId,
    /// 护照, of any country.
    Passport,
    /// 港澳居民来往内地通行证.
    HkMacaoPermit,
    /// 台湾居民来往大陆通行证.
    TaiwanPermit,
    /// 外国人永久居留身份证.
    ForeignPermanentResident,
}

/// Every document type, resident ID first.
pub const DOCUMENTS: [IdDocument; 5] = [
    IdDocument::ResidentId,
    IdDocument::Passport,
    IdDocument::HkMacaoPermit,
    IdDocument::TaiwanPermit,
    IdDocument::ForeignPermanentResident,
];

impl IdDocument {
    /// The tag that precedes the number in a subject code; `None` for the
    /// resident ID, whose number stands alone.
    pub fn tag(self) -> Option<&'static str> {
        match self {
            IdDocument::ResidentId => None,
            IdDocument::Passport => Some("PASSPORT"),
            IdDocument::HkMacaoPermit => Some("HKMO"),
            IdDocument::TaiwanPermit => Some("TWN"),
            IdDocument::ForeignPermanentResident => Some("FPR"),
        }
    }

    /// The name the standard's `XDR_ZJLX` column uses, as exported.
    pub fn label_zh(self) -> &'static str {
        match self {
            IdDocument::ResidentId => "身份证",
            IdDocument::Passport => "护照",
            IdDocument::HkMacaoPermit => "港澳居民来往内地通行证",
            IdDocument::TaiwanPermit => "台湾居民来往大陆通行证",
            IdDocument::ForeignPermanentResident => "外国人永久居留身份证",
        }
    }

    /// Reads an `XDR_ZJLX` value: the Chinese name (with the common short
    /// forms departments' systems export) or the tag, in any ASCII case.
    pub fn from_column(text: &str) -> Option<IdDocument> {
        let t = text.trim();
        let upper = t.to_ascii_uppercase();
        Some(match (t, upper.as_str()) {
            ("身份证" | "居民身份证" | "中华人民共和国居民身份证", _) | (_, "RESIDENT_ID") => {
                IdDocument::ResidentId
            }
            ("护照" | "护照号", _) | (_, "PASSPORT") => IdDocument::Passport,
            ("港澳居民来往内地通行证" | "港澳通行证" | "回乡证" | "港澳居民往来内地通行证", _)
            | (_, "HKMO") => IdDocument::HkMacaoPermit,
            ("台湾居民来往大陆通行证" | "台胞证" | "台湾居民往来大陆通行证", _) | (_, "TWN") => {
                IdDocument::TaiwanPermit
            }
            ("外国人永久居留身份证" | "外国人永久居留证" | "外国人永久居留身份证件", _)
            | (_, "FPR") => IdDocument::ForeignPermanentResident,
            _ => return None,
        })
    }

    /// The values [`from_column`](Self::from_column) reads, for messages.
    pub fn accepted_text() -> String {
        DOCUMENTS
            .iter()
            .map(|d| d.label_zh())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn of_tag(tag: &str) -> Option<IdDocument> {
        DOCUMENTS.into_iter().find(|d| d.tag() == Some(tag))
    }

    fn format_text(self) -> &'static str {
        match self {
            IdDocument::ResidentId => "18 characters with a GB 11643 check character",
            IdDocument::Passport => "5 to 17 letters and digits, at least one a digit",
            IdDocument::HkMacaoPermit => "H or M followed by 8 or 10 digits",
            IdDocument::TaiwanPermit => "8 or 10 digits",
            IdDocument::ForeignPermanentResident => {
                "3 letters and 12 digits (2004 card), or 18 characters starting with 9 \
                 with a GB 11643 check character (2017 and later cards)"
            }
        }
    }
}

impl fmt::Display for IdDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label_zh())
    }
}

/// Why a natural person's identity was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PersonIdError {
    /// A resident ID number that fails GB 11643.
    #[error("{0}")]
    ResidentId(CodeError),
    /// `TAG:` names no document type.
    #[error("'{tag}' is not a document type: use PASSPORT, HKMO, TWN or FPR before ':'")]
    UnknownTag {
        /// The tag found.
        tag: String,
    },
    /// The number does not have its document's format.
    #[error("'{number}' is not a {document} number: it has {format}")]
    Format {
        /// The document type.
        document: IdDocument,
        /// The number as given.
        number: String,
        /// What the format is.
        format: &'static str,
    },
    /// The check character of a foreign permanent resident ID is wrong.
    #[error(
        "check character of the {document} number is '{found}', expected '{expected}' \
         (GB 11643): compare the number with the card"
    )]
    CheckCharacter {
        /// The document type.
        document: IdDocument,
        /// Position 18.
        found: char,
        /// What the first 17 characters call for.
        expected: char,
    },
    /// A code that is not canonical where canonical text is required.
    #[error("'{code}' is not canonical: upper case, no spaces, written as {canonical}")]
    NotCanonical {
        /// The code as given.
        code: String,
        /// Its canonical form.
        canonical: String,
    },
}

/// A natural person's subject code, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonId {
    /// The document it comes from.
    pub document: IdDocument,
    /// The canonical subject code: the resident ID number, or `TAG:NUMBER`.
    pub code: String,
    /// Oddities of a resident ID that do not make it invalid.
    pub warnings: Vec<code::CodeWarning>,
}

/// The subject code of a natural person identified by `document` and
/// `number`, normalised (trimmed, ASCII upper case) and checked by the
/// document's format.
pub fn from_document(
    document: IdDocument,
    number: &str,
    legacy: &LegacyCodes,
) -> Result<PersonId, PersonIdError> {
    let number = number.trim().to_ascii_uppercase();
    checked(document, &number, legacy)
}

/// Parses a natural person's subject code (a resident ID number or
/// `TAG:NUMBER`), normalising as [`from_document`] does.
pub fn parse(input: &str, legacy: &LegacyCodes) -> Result<PersonId, PersonIdError> {
    let input = input.trim();
    match input.split_once(TAG_SEPARATOR) {
        Some((tag, number)) => {
            let tag = tag.trim().to_ascii_uppercase();
            let document =
                IdDocument::of_tag(&tag).ok_or(PersonIdError::UnknownTag { tag: tag.clone() })?;
            from_document(document, number, legacy)
        }
        None => from_document(IdDocument::ResidentId, input, legacy),
    }
}

/// Parses a natural person's subject code that must already be canonical,
/// as signed records hold it.
pub fn parse_strict(input: &str, legacy: &LegacyCodes) -> Result<PersonId, PersonIdError> {
    if !input.contains(TAG_SEPARATOR) {
        return code::parse_strict(CodeKind::ResidentId, input, legacy)
            .map(|c| PersonId {
                document: IdDocument::ResidentId,
                code: c.code,
                warnings: c.warnings,
            })
            .map_err(PersonIdError::ResidentId);
    }
    let id = parse(input, legacy)?;
    if id.code != input {
        return Err(PersonIdError::NotCanonical {
            code: input.to_owned(),
            canonical: id.code,
        });
    }
    Ok(id)
}

/// Whether `code` names a person by a document other than the resident ID.
pub fn is_document_code(code: &str) -> bool {
    code.contains(TAG_SEPARATOR)
}

/// Splits a canonical subject code into its document and number.
pub fn document_of(code: &str) -> (IdDocument, &str) {
    match code.split_once(TAG_SEPARATOR) {
        Some((tag, number)) => (
            IdDocument::of_tag(tag).unwrap_or(IdDocument::Passport),
            number,
        ),
        None => (IdDocument::ResidentId, code),
    }
}

/// Masks a natural person's subject code for public display: a resident
/// ID's birth date is hidden ([`code::mask_resident_id`]); another
/// document keeps its tag and the first two and last characters of its
/// number (`PASSPORT:E1******8`).
pub fn mask(code: &str) -> String {
    match code.split_once(TAG_SEPARATOR) {
        Some((tag, number)) => format!("{tag}{TAG_SEPARATOR}{}", code::mask_resident_id(number)),
        None => code::mask_resident_id(code),
    }
}

fn checked(
    document: IdDocument,
    number: &str,
    legacy: &LegacyCodes,
) -> Result<PersonId, PersonIdError> {
    let format_error = || PersonIdError::Format {
        document,
        number: number.to_owned(),
        format: document.format_text(),
    };
    let b = number.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    match document {
        IdDocument::ResidentId => {
            let c = code::parse(CodeKind::ResidentId, number, legacy)
                .map_err(PersonIdError::ResidentId)?;
            return Ok(PersonId {
                document,
                code: c.code,
                warnings: c.warnings,
            });
        }
        IdDocument::Passport => {
            let ok = (5..=17).contains(&b.len())
                && b.iter()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                && b.iter().any(u8::is_ascii_digit);
            if !ok {
                return Err(format_error());
            }
        }
        IdDocument::HkMacaoPermit => {
            let ok = matches!(b.len(), 9 | 11) && matches!(b[0], b'H' | b'M') && digits(&b[1..]);
            if !ok {
                return Err(format_error());
            }
        }
        IdDocument::TaiwanPermit => {
            if !(matches!(b.len(), 8 | 10) && digits(b)) {
                return Err(format_error());
            }
        }
        IdDocument::ForeignPermanentResident => match b.len() {
            15 if b[..3].iter().all(u8::is_ascii_uppercase) && digits(&b[3..]) => {}
            18 if b[0] == b'9' && digits(&b[..17]) => {
                let expected =
                    code::resident_id_check_char(&number[..17]).ok_or_else(format_error)?;
                let found = char::from(b[17]);
                if found != expected {
                    return Err(PersonIdError::CheckCharacter {
                        document,
                        found,
                        expected,
                    });
                }
            }
            _ => return Err(format_error()),
        },
    }
    let tag = document.tag().unwrap_or_default();
    Ok(PersonId {
        document,
        code: format!("{tag}{TAG_SEPARATOR}{number}"),
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> LegacyCodes {
        LegacyCodes::empty()
    }

    #[test]
    fn each_document_reads_by_its_format() {
        let ok = [
            (IdDocument::Passport, " e12345678 ", "PASSPORT:E12345678"),
            (IdDocument::Passport, "123456789", "PASSPORT:123456789"),
            (IdDocument::HkMacaoPermit, "H12345678", "HKMO:H12345678"),
            (IdDocument::HkMacaoPermit, "m1234567801", "HKMO:M1234567801"),
            (IdDocument::TaiwanPermit, "12345678", "TWN:12345678"),
            (IdDocument::TaiwanPermit, "1234567801", "TWN:1234567801"),
            (
                IdDocument::ForeignPermanentResident,
                "usa123456789012",
                "FPR:USA123456789012",
            ),
        ];
        for (doc, number, code) in ok {
            let id = from_document(doc, number, &none()).expect(number);
            assert_eq!(id.code, code);
            assert_eq!(id.document, doc);
            assert_eq!(parse(code, &none()).expect(code), id);
            assert_eq!(parse_strict(code, &none()).expect(code), id);
            assert_eq!(
                document_of(code),
                (doc, &code[code.len() - number.trim().len()..])
            );
        }
        let bad = [
            (IdDocument::Passport, "E123"),
            (IdDocument::Passport, "ABCDEFGH"),
            (IdDocument::Passport, "E1234-5678"),
            (IdDocument::Passport, "E12345678901234567"),
            (IdDocument::HkMacaoPermit, "C12345678"),
            (IdDocument::HkMacaoPermit, "H1234567"),
            (IdDocument::HkMacaoPermit, "H123456789"),
            (IdDocument::TaiwanPermit, "1234567"),
            (IdDocument::TaiwanPermit, "T1234567"),
            (IdDocument::ForeignPermanentResident, "US1234567890123"),
            (IdDocument::ForeignPermanentResident, "812345678901234567"),
        ];
        for (doc, number) in bad {
            let e = from_document(doc, number, &none()).expect_err(number);
            assert!(matches!(e, PersonIdError::Format { .. }), "{number}: {e}");
            assert!(e.to_string().contains(doc.label_zh()), "{e}");
        }
    }

    #[test]
    fn the_2017_permanent_resident_card_has_a_check_character() {
        let first17 = "93310019900101123";
        let check = code::resident_id_check_char(first17).expect("digits");
        let good = format!("{first17}{check}");
        let id = from_document(IdDocument::ForeignPermanentResident, &good, &none())
            .expect("valid card");
        assert_eq!(id.code, format!("FPR:{good}"));
        let wrong = if check == '0' { '1' } else { '0' };
        let e = from_document(
            IdDocument::ForeignPermanentResident,
            &format!("{first17}{wrong}"),
            &none(),
        )
        .expect_err("bad check character");
        assert_eq!(
            e,
            PersonIdError::CheckCharacter {
                document: IdDocument::ForeignPermanentResident,
                found: wrong,
                expected: check
            }
        );
    }

    #[test]
    fn a_resident_id_is_still_check_digit_validated() {
        let id = parse("11010519491231002X", &none()).expect("GB 11643 example");
        assert_eq!(id.document, IdDocument::ResidentId);
        assert_eq!(id.code, "11010519491231002X");
        assert!(matches!(
            parse("110105194912310021", &none()),
            Err(PersonIdError::ResidentId(CodeError::CheckCharacter { .. }))
        ));
        assert!(matches!(
            from_document(IdDocument::ResidentId, "110105194912310021", &none()),
            Err(PersonIdError::ResidentId(_))
        ));
    }

    #[test]
    fn strict_parsing_wants_canonical_text_and_a_known_tag() {
        assert!(matches!(
            parse_strict("PASSPORT:e12345678", &none()),
            Err(PersonIdError::NotCanonical { .. })
        ));
        assert!(matches!(
            parse_strict("passport:E12345678", &none()),
            Err(PersonIdError::NotCanonical { .. })
        ));
        assert!(matches!(
            parse("VISA:E12345678", &none()),
            Err(PersonIdError::UnknownTag { .. })
        ));
        assert!(matches!(
            parse_strict("11010519491231002x", &none()),
            Err(PersonIdError::ResidentId(_))
        ));
    }

    #[test]
    fn column_values_name_the_document() {
        for doc in DOCUMENTS {
            assert_eq!(IdDocument::from_column(doc.label_zh()), Some(doc));
            if let Some(tag) = doc.tag() {
                assert_eq!(IdDocument::from_column(&tag.to_lowercase()), Some(doc));
            }
        }
        assert_eq!(
            IdDocument::from_column("台胞证"),
            Some(IdDocument::TaiwanPermit)
        );
        assert_eq!(IdDocument::from_column("军官证"), None);
    }

    #[test]
    fn masking_keeps_the_tag_and_hides_the_number() {
        assert_eq!(mask("PASSPORT:E12345678"), "PASSPORT:E1******8");
        assert_eq!(mask("11010519491231002X"), "110105********002X");
        assert_eq!(mask("TWN:12345678"), "TWN:12*****8");
    }
}
