//! `rongxinctl sample`: realistic, valid credit records as JSON Lines in the
//! ingest format of docs/api.md, for one origin member, deterministic per
//! seed. Used to load a demo or test federation and to benchmark ingest.
//!
//! Every record falls in a jurisdiction the roster gives the origin, has a
//! subject of a class its kind allows (with valid check characters), fills
//! every required field of its kind, and has a record number that includes
//! the seed and its index, so that every record of a run is distinct.
//! Subjects repeat (a pool of about a fifth of the count) so that queried
//! profiles hold several records.

mod codes;
mod double_publicity;
mod fields;
mod names;
mod places;
mod rng;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufWriter, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::Args;
use rongxin_protocol::catalog::{Catalog, FieldSpec, FieldType, RecordKind, SubjectClass};
use rongxin_protocol::value::Date;
use serde::Serialize;
use serde_json::{Value, json};

use self::codes::{Registrant, resident_id, uscc};
use self::fields::{Draft, Numbering, Subject};
use self::places::{FUZHOU_DIVISIONS, Place};
use self::rng::Rng;
use crate::local;

/// Arguments of `rongxinctl sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// How many records to write.
    #[arg(long)]
    count: usize,
    /// Member id of the origin (such as gulou, ftz, changle): every record
    /// falls in one of the jurisdictions the roster gives it.
    #[arg(long)]
    origin: String,
    /// Seed of the generator: the same seed gives the same records.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The catalog whose kinds and fields the records follow.
    #[arg(long, default_value = local::DEFAULT_CATALOG)]
    catalog: PathBuf,
    /// The signed roster that gives the origin its jurisdictions.
    #[arg(long, default_value = local::DEFAULT_ROSTER)]
    roster: PathBuf,
    /// The federation root verifier key the roster is checked with.
    #[arg(long, default_value = local::DEFAULT_ROOT)]
    root: PathBuf,
    /// Write the records to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs `rongxinctl sample`.
pub fn run(args: SampleArgs) -> Result<ExitCode> {
    let (catalog, catalog_bytes) = local::catalog(&args.catalog)?;
    let roster = local::roster(&args.roster, &args.root)?;
    local::warn_catalog_mismatch(&roster.roster, &catalog_bytes, &args.catalog);
    let Some(member) = roster.roster.member(&args.origin) else {
        let ids: Vec<&str> = roster
            .roster
            .members
            .iter()
            .map(|m| m.id.as_str())
            .collect();
        bail!(
            "the roster {} has no member '{}'; its members are {}",
            args.roster.display(),
            args.origin,
            ids.join(", ")
        );
    };
    if member.jurisdictions.is_empty() {
        bail!("member '{}' owns no jurisdiction in the roster", member.id);
    }
    let sampler = Sampler::new(&catalog, &member.jurisdictions, args.seed, args.count);
    let sink: Box<dyn std::io::Write> = match &args.out {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::new(sink);
    let target = args
        .out
        .as_ref()
        .map_or_else(|| "standard output".to_owned(), |p| p.display().to_string());
    let written = sampler
        .into_iter()
        .try_for_each(|record| {
            serde_json::to_writer(&mut out, &record)?;
            out.write_all(b"\n").map_err(serde_json::Error::io)
        })
        .and_then(|()| out.flush().map_err(serde_json::Error::io));
    match written {
        // A reader such as `head` that has seen enough is not an error.
        Err(e) if e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe) => {
            return Ok(ExitCode::SUCCESS);
        }
        other => other.with_context(|| format!("cannot write to {target}"))?,
    }
    if let Some(path) = &args.out {
        eprintln!(
            "wrote {} records of {} to {}",
            args.count,
            args.origin,
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A record in the ingest format, with its keys in the order of docs/api.md.
#[derive(Debug, Clone, Serialize)]
pub struct SampleRecord {
    kind: String,
    jurisdiction: String,
    record_no: String,
    subject: SubjectOut,
    authority: AuthorityOut,
    decision_date: String,
    fields: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Serialize)]
struct SubjectOut {
    class: SubjectClass,
    code: String,
    name: String,
}

#[derive(Debug, Clone, Serialize)]
struct AuthorityOut {
    name: String,
    code: String,
}

/// How often each kind is drawn once every kind has appeared; 双公示
/// licences and penalties dominate, as they do in real data. Kinds the
/// catalog has but this table does not get weight 2.
const KIND_WEIGHTS: &[(&str, u32)] = &[
    ("XK", 34),
    ("CF", 20),
    ("CF_QW", 8),
    ("CF_YZ", 4),
    ("SXBZXR", 6),
    ("SSWF", 2),
    ("YZSX", 2),
    ("JYYC", 6),
    ("WMDW", 2),
    ("DDMF", 1),
    ("HYRY", 3),
    ("XYCN", 6),
    ("GJJQJ", 3),
    ("FXFL", 3),
];

/// Decision dates fall between these two days (inclusive).
const FIRST_DAY: (u16, u8, u8) = (2025, 1, 1);
const LAST_DAY: (u16, u8, u8) = (2026, 11, 15);

/// Generates the records of one run, in order.
#[derive(Debug)]
pub struct Sampler<'a> {
    kinds: Vec<(&'a RecordKind, u32)>,
    pool: Vec<Subject>,
    rng: Rng,
    seed: u64,
    next: usize,
    count: usize,
}

impl<'a> Sampler<'a> {
    /// A run of `count` records in `jurisdictions` (not empty) with `seed`.
    pub fn new(catalog: &'a Catalog, jurisdictions: &[String], seed: u64, count: usize) -> Self {
        let mut rng = Rng::new(seed);
        let kinds = catalog
            .kinds()
            .iter()
            .map(|k| {
                let w = KIND_WEIGHTS
                    .iter()
                    .find(|(code, _)| *code == k.code)
                    .map_or(2, |(_, w)| *w);
                (k, w)
            })
            .collect();
        let pool = subject_pool(&mut rng, jurisdictions, (count / 5).max(3));
        Sampler {
            kinds,
            pool,
            rng,
            seed,
            next: 0,
            count,
        }
    }

    fn record(&mut self, index: usize) -> SampleRecord {
        // The first records cycle through every kind so that even a short
        // run shows each; after that kinds are drawn by weight.
        let kind = if index < self.kinds.len() {
            self.kinds[index].0
        } else {
            *self.rng.weighted(&self.kinds)
        };
        let subject = self.pick_subject(kind);
        let place = Place::of(&subject.jurisdiction);
        let decided = random_day(&mut self.rng);
        let draft = fields::draft(kind, &place, &subject, decided, &mut self.rng);
        let n = format!("{}-{}", self.seed, index + 1);
        let record_no = match &draft.numbering {
            Numbering::Document(word) => format!("{word}〔{}〕{n}号", decided.year()),
            Numbering::Case(court) => format!("（{}）{court}执{n}号", decided.year()),
        };
        let fields = self.complete_fields(kind, &subject, decided, &draft);
        SampleRecord {
            kind: kind.code.clone(),
            jurisdiction: subject.jurisdiction.clone(),
            record_no,
            subject: SubjectOut {
                class: subject.class,
                code: subject.code.clone(),
                name: subject.name.clone(),
            },
            authority: AuthorityOut {
                name: draft.authority,
                code: draft.authority_code,
            },
            decision_date: decided.to_string(),
            fields,
        }
    }

    /// A subject of a class the kind allows: organisations more often than
    /// people, as in real data.
    fn pick_subject(&mut self, kind: &RecordKind) -> Subject {
        let classes: Vec<(SubjectClass, u32)> = [
            (SubjectClass::LegalPerson, 60),
            (SubjectClass::IndividualBusiness, 20),
            (SubjectClass::NaturalPerson, 20),
        ]
        .into_iter()
        .filter(|(c, _)| kind.subjects.contains(c))
        .collect();
        let class = if classes.is_empty() {
            kind.subjects[0]
        } else {
            *self.rng.weighted(&classes)
        };
        let of_class: Vec<&Subject> = self.pool.iter().filter(|s| s.class == class).collect();
        (*self.rng.pick(&of_class)).clone()
    }

    /// The kind's fields: the draft's values for fields the catalog
    /// declares, and a generic value for any required field the draft
    /// left out (kinds this tool does not know).
    fn complete_fields(
        &mut self,
        kind: &RecordKind,
        subject: &Subject,
        decided: Date,
        draft: &Draft,
    ) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        for spec in &kind.fields {
            let value = match draft.fields.get(&spec.name) {
                Some(Value::String(s))
                    if spec.field_type == FieldType::Enum && !spec.choices.contains(s) =>
                {
                    Some(json!(self.rng.pick(&spec.choices)))
                }
                Some(v) => Some(v.clone()),
                None if spec.required => Some(self.generic(spec, subject, decided, draft)),
                None => None,
            };
            if let Some(v) = value {
                out.insert(spec.name.clone(), v);
            }
        }
        out
    }

    fn generic(
        &mut self,
        spec: &FieldSpec,
        subject: &Subject,
        decided: Date,
        draft: &Draft,
    ) -> Value {
        match spec.field_type {
            FieldType::Text => {
                let max = spec.max_chars().unwrap_or(16) as usize;
                json!(spec.label.chars().take(max).collect::<String>())
            }
            FieldType::Enum => json!(self.rng.pick(&spec.choices)),
            FieldType::Date => json!(decided.to_string()),
            FieldType::Integer => json!(self.rng.range(1, 100)),
            FieldType::Decimal => json!(names::wan(names::amount(
                &mut self.rng,
                1_000,
                100_000,
                500
            ))),
            FieldType::Bool => json!(self.rng.chance(50)),
            FieldType::Uscc => json!(draft.authority_code),
            FieldType::ResidentId if subject.class == SubjectClass::NaturalPerson => {
                json!(subject.code)
            }
            FieldType::ResidentId => json!(resident_id(&mut self.rng, "350102", true)),
        }
    }
}

impl Iterator for Sampler<'_> {
    type Item = SampleRecord;

    fn next(&mut self) -> Option<SampleRecord> {
        if self.next >= self.count {
            return None;
        }
        let index = self.next;
        self.next += 1;
        Some(self.record(index))
    }
}

/// `size` distinct subjects, the first three one of each class.
fn subject_pool(rng: &mut Rng, jurisdictions: &[String], size: usize) -> Vec<Subject> {
    let mut codes = BTreeSet::new();
    let mut pool = Vec::with_capacity(size);
    while pool.len() < size {
        let class = match pool.len() {
            0 => SubjectClass::LegalPerson,
            1 => SubjectClass::IndividualBusiness,
            2 => SubjectClass::NaturalPerson,
            _ => *rng.weighted(&[
                (SubjectClass::LegalPerson, 55),
                (SubjectClass::IndividualBusiness, 25),
                (SubjectClass::NaturalPerson, 20),
            ]),
        };
        let jurisdiction = rng.pick(jurisdictions).clone();
        let place = Place::of(&jurisdiction);
        let subject = match class {
            SubjectClass::NaturalPerson => {
                let (name, male) = names::person(rng);
                let address = if place.city_level || place.division == "350100" || rng.chance(30) {
                    (*rng.pick(FUZHOU_DIVISIONS)).to_owned()
                } else {
                    place.division.clone()
                };
                let id = resident_id(rng, &address, male);
                // One person in twenty holds a passport or a Hong Kong/Macao
                // permit instead (chosen from the ID's serial, so that the
                // draws, and every other sample record, stay as they were).
                let code = match id.as_bytes()[14..17]
                    .iter()
                    .map(|b| u32::from(b - b'0'))
                    .sum::<u32>()
                    % 20
                {
                    0 => format!("PASSPORT:E{}", &id[9..17]),
                    1 => format!("HKMO:H{}", &id[9..17]),
                    _ => id,
                };
                Subject {
                    class,
                    code,
                    name,
                    jurisdiction,
                    rep: None,
                }
            }
            SubjectClass::IndividualBusiness => Subject {
                class,
                code: uscc(rng, Registrant::IndividualBusiness, &place.division),
                name: names::shop(rng, &place),
                jurisdiction,
                rep: Some(names::person(rng).0),
            },
            SubjectClass::LegalPerson => Subject {
                class,
                code: uscc(rng, Registrant::Enterprise, &place.division),
                name: names::company(rng, &place),
                jurisdiction,
                rep: Some(names::person(rng).0),
            },
        };
        if codes.insert(subject.code.clone()) {
            pool.push(subject);
        }
    }
    pool
}

fn random_day(rng: &mut Rng) -> Date {
    let day = |(y, m, d): (u16, u8, u8)| Date::new(y, m, d).expect("a real day");
    let first = day(FIRST_DAY).to_time();
    let span = (day(LAST_DAY).to_time() - first).whole_days();
    let offset = rng.below(span as usize + 1) as i64;
    Date::from_time(first + time::Duration::days(offset)).expect("within 2025–2026")
}

#[cfg(test)]
mod tests;
