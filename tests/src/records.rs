//! Valid records of every catalog kind for any member, built from the
//! catalog itself (required fields filled by type) with subject and
//! authority codes that carry correct check characters. Tests build their
//! own records so they do not depend on `rongxinctl sample`'s output; bad
//! inputs are made by editing the JSON of a good one.

use std::sync::atomic::{AtomicU64, Ordering};

use rongxin_protocol::catalog::{Catalog, FieldType, SubjectClass};
use rongxin_protocol::code::{resident_id_check_char, uscc_check_char};
use rongxin_protocol::roster::Roster;
use serde_json::{Map, Value, json};

use crate::federation::Federation;

/// A subject of records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// `legal_person`, `natural_person` or `individual_business`.
    pub class: &'static str,
    /// Canonical code.
    pub code: String,
    /// Name.
    pub name: String,
}

impl Subject {
    /// The subject as records carry it.
    pub fn to_json(&self) -> Value {
        json!({"class": self.class, "code": self.code, "name": self.name})
    }
}

/// Makes records. Every record it makes has its own record number, so its
/// own key; subjects are fresh unless given.
#[derive(Debug)]
pub struct Records {
    catalog: Catalog,
    roster: Roster,
    next: AtomicU64,
    tag: String,
    decision_date: String,
}

static INSTANCES: AtomicU64 = AtomicU64::new(0);

impl Records {
    /// A record maker for `fed`'s catalog and roster.
    pub fn new(fed: &Federation) -> Records {
        let instance = INSTANCES.fetch_add(1, Ordering::Relaxed);
        // Thirty days ago in Beijing time: inside every kind's publicity period.
        let day = time::OffsetDateTime::now_utc()
            .to_offset(time::macros::offset!(+8))
            .date()
            - time::Duration::days(30);
        Records {
            catalog: fed.catalog().clone(),
            roster: fed.roster().roster.clone(),
            next: AtomicU64::new(1),
            tag: format!("{}-{instance}", std::process::id()),
            decision_date: format!(
                "{:04}-{:02}-{:02}",
                day.year(),
                u8::from(day.month()),
                day.day()
            ),
        }
    }

    fn serial(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// The decision date every record gets (`YYYY-MM-DD`, 30 days ago).
    pub fn decision_date(&self) -> &str {
        &self.decision_date
    }

    /// The first jurisdiction the roster gives `member`.
    pub fn jurisdiction(&self, member: &str) -> String {
        self.roster
            .member(member)
            .unwrap_or_else(|| panic!("{member} is not in the roster"))
            .jurisdictions
            .first()
            .unwrap_or_else(|| panic!("{member} owns no jurisdiction"))
            .clone()
    }

    /// A six-digit division for codes issued in `member`'s area.
    fn division(&self, member: &str) -> String {
        let j = self.jurisdiction(member);
        if j.len() == 6 && j.bytes().all(|b| b.is_ascii_digit()) {
            j
        } else {
            "350100".to_owned()
        }
    }

    /// A new legal person registered in `member`'s area.
    pub fn legal_person(&self, member: &str) -> Subject {
        let n = self.serial();
        Subject {
            class: "legal_person",
            code: uscc('9', '1', &self.division(member), n),
            name: format!("福州测试{n}有限公司"),
        }
    }

    /// A new individual business registered in `member`'s area.
    pub fn individual_business(&self, member: &str) -> Subject {
        let n = self.serial();
        Subject {
            class: "individual_business",
            code: uscc('9', '2', &self.division(member), n),
            name: format!("测试{n}商行"),
        }
    }

    /// A new natural person living in `member`'s area.
    pub fn natural_person(&self, member: &str) -> Subject {
        let n = self.serial();
        Subject {
            class: "natural_person",
            code: resident_id(&self.division(member), "19850307", n),
            name: format!("测试人{n}"),
        }
    }

    /// The authority of `member`'s test records (a government organ).
    pub fn authority(&self, member: &str) -> Value {
        let m = self
            .roster
            .member(member)
            .unwrap_or_else(|| panic!("{member} is not in the roster"));
        json!({"name": format!("{}测试局", m.name), "code": uscc('1', '1', &self.division(member), 7)})
    }

    /// A fresh subject of the first class `kind` allows.
    pub fn subject_for(&self, member: &str, kind: &str) -> Subject {
        let spec = self
            .catalog
            .kind(kind)
            .unwrap_or_else(|| panic!("kind {kind} is not in the catalog"));
        match spec.subjects.first() {
            Some(SubjectClass::NaturalPerson) => self.natural_person(member),
            Some(SubjectClass::IndividualBusiness) => self.individual_business(member),
            _ => self.legal_person(member),
        }
    }

    /// A valid record of `kind` for `member`, about a fresh subject.
    pub fn record(&self, member: &str, kind: &str) -> Value {
        let subject = self.subject_for(member, kind);
        self.about(member, kind, &subject)
    }

    /// A valid record of `kind` for `member` about `subject`.
    pub fn about(&self, member: &str, kind: &str, subject: &Subject) -> Value {
        let n = self.serial();
        json!({
            "kind": kind,
            "jurisdiction": self.jurisdiction(member),
            "record_no": format!("榕测〔{}〕{}-{n}号", &self.decision_date[..4], self.tag),
            "subject": subject.to_json(),
            "authority": self.authority(member),
            "decision_date": self.decision_date,
            "fields": self.fields(kind, member),
        })
    }

    /// Every required field of `kind`, filled by type.
    pub fn fields(&self, kind: &str, member: &str) -> Value {
        let spec = self
            .catalog
            .kind(kind)
            .unwrap_or_else(|| panic!("kind {kind} is not in the catalog"));
        let mut map = Map::new();
        for f in spec.fields.iter().filter(|f| f.required) {
            let v = match f.field_type {
                FieldType::Text => json!(format!("{}（测试）", f.label)),
                FieldType::Enum => json!(f.choices[0]),
                FieldType::Date => json!(self.decision_date),
                FieldType::Integer => json!(3),
                FieldType::Decimal => json!("1.5"),
                FieldType::Bool => json!(true),
                FieldType::Uscc => json!(uscc('9', '1', &self.division(member), 99)),
                FieldType::ResidentId => {
                    json!(resident_id(&self.division(member), "19700101", 99))
                }
            };
            map.insert(f.name.clone(), v);
        }
        Value::Object(map)
    }

    /// One valid record of every kind of the catalog for `member`.
    pub fn every_kind(&self, member: &str) -> Vec<Value> {
        self.catalog
            .kinds()
            .iter()
            .map(|k| self.record(member, &k.code))
            .collect()
    }

    /// `n` valid records for `member`, cycling through the kinds.
    pub fn batch(&self, member: &str, n: usize) -> Vec<Value> {
        let kinds = self.catalog.kinds();
        (0..n)
            .map(|i| self.record(member, &kinds[i % kinds.len()].code))
            .collect()
    }

    /// The name of a required text field of `kind` (to change for a new version).
    pub fn text_field(&self, kind: &str) -> String {
        self.catalog
            .kind(kind)
            .and_then(|k| {
                k.fields
                    .iter()
                    .find(|f| f.required && f.field_type == FieldType::Text)
            })
            .unwrap_or_else(|| panic!("kind {kind} has no required text field"))
            .name
            .clone()
    }
}

/// The revoke-API key object of a record's JSON.
pub fn key_of(record: &Value) -> Value {
    json!({
        "kind": record["kind"],
        "jurisdiction": record["jurisdiction"],
        "authority_code": record["authority"]["code"].as_str().map(str::to_ascii_uppercase),
        "record_no": record["record_no"],
    })
}

/// The key text the node answers with: `kind/jurisdiction/authority/record_no`.
pub fn key_text(record: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or_default().trim().to_owned();
    format!(
        "{}/{}/{}/{}",
        s(&record["kind"]),
        s(&record["jurisdiction"]),
        s(&record["authority"]["code"]).to_ascii_uppercase(),
        s(&record["record_no"])
    )
}

/// A unified social credit code: registration authority and type, a
/// six-digit division, an organization code made from `serial` (with its
/// GB 11714 check character) and the GB 32100 check character.
pub fn uscc(authority: char, org_type: char, division: &str, serial: u64) -> String {
    let body = format!("{:08}", serial % 100_000_000);
    let first17 = format!(
        "{authority}{org_type}{division}{body}{}",
        org_check_char(&body)
    );
    let check = uscc_check_char(&first17).expect("17 characters of the charset");
    format!("{first17}{check}")
}

/// A resident ID number: division, birth date (`YYYYMMDD`), a sequence from
/// `serial`, and the check character.
pub fn resident_id(division: &str, birth: &str, serial: u64) -> String {
    let first17 = format!("{division}{birth}{:03}", serial % 1000);
    let check = resident_id_check_char(&first17).expect("17 digits");
    format!("{first17}{check}")
}

/// GB 11714 check character of an eight-digit organization code body.
fn org_check_char(body: &str) -> char {
    const W: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .chars()
        .zip(W)
        .map(|(c, w)| c.to_digit(36).unwrap_or(0) * w)
        .sum();
    match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        v => char::from_digit(v, 10).unwrap_or('0'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rongxin_protocol::code::{CodeKind, LegacyCodes, parse_strict};

    #[test]
    fn generated_codes_are_valid_without_warnings() {
        for n in [0, 1, 7, 99, 12_345_678] {
            let c = uscc('9', '1', "350102", n);
            let check = parse_strict(CodeKind::Uscc, &c, &LegacyCodes::empty()).unwrap();
            assert!(check.warnings.is_empty(), "{c}: {:?}", check.warnings);
            let id = resident_id("350102", "19850307", n);
            parse_strict(CodeKind::ResidentId, &id, &LegacyCodes::empty()).unwrap();
        }
    }
}
