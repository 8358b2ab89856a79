//! `GET /v1/export/double-publicity`: the licensing or penalty records
//! public now, in the national double-publicity (双公示) columns, for the
//! 信用福州 portal and the provincial and national platforms.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use rongxin_protocol::catalog::{Catalog, PublicAttribute, RecordKind, SubjectClass};
use rongxin_protocol::entry::{Entry, Op};
use rongxin_protocol::person;
use rongxin_protocol::record::{Record, RecordKey};
use rongxin_protocol::tier::{PublicityWindow, Tier};
use rongxin_protocol::value::{Date, FieldValue};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::extract::Query;
use super::logs::off_runtime;
use super::query::today;
use super::stream::ToBody;
use super::{ApiError, AppState, reader, remote};
use crate::ingest::now_ms;
use crate::query::{Access, ContentRead, masked, register_read};

/// Records read from the store at a time.
const PAGE: usize = 1000;

/// `?kind=&from=&to=&format=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `XK` (行政许可), `CF` (行政处罚, every tier), or one penalty kind.
    #[serde(default)]
    kind: Option<String>,
    /// First decision date (inclusive).
    #[serde(default)]
    from: Option<String>,
    /// Last decision date (inclusive).
    #[serde(default)]
    to: Option<String>,
    /// `csv` (default) or `jsonl`.
    #[serde(default)]
    format: Option<String>,
    /// Why the records are read (query log), for callers with a token.
    #[serde(default)]
    purpose: Option<String>,
}

/// The kinds one export holds and the column prefix of their standard.
struct Family {
    prefix: &'static str,
    kinds: Vec<RecordKind>,
}

fn family(catalog: &Catalog, kind: &str) -> Result<Family, ApiError> {
    let penalty = catalog.penalty_tiers();
    let kinds: Vec<RecordKind> = match kind {
        "CF" if penalty.is_some() => Tier::ALL
            .iter()
            .filter_map(|t| penalty.and_then(|p| catalog.kind(p.kind_of(*t))).cloned())
            .collect(),
        k => catalog.kind(k).cloned().into_iter().collect(),
    };
    let prefix = if kind == "XK" {
        "XK_"
    } else if kind.starts_with("CF") {
        "CF_"
    } else {
        ""
    };
    if prefix.is_empty() || kinds.is_empty() || kinds.iter().any(|k| !k.double_publicity) {
        return Err(ApiError::bad_request(format!(
            "kind = '{kind}': export XK (行政许可) or CF (行政处罚, every tier), or one penalty kind"
        )));
    }
    Ok(Family { prefix, kinds })
}

impl Family {
    /// The core columns, in the standard's order.
    fn core(&self) -> Vec<String> {
        let p = self.prefix;
        let (authority, code) = if p == "XK_" {
            ("XK_XKJG", "XK_XKJGDM")
        } else {
            ("CF_CFJG", "CF_CFJGDM")
        };
        vec![
            format!("{p}XDR_MC"),
            format!("{p}XDR_LB"),
            format!("{p}XDR_SHXYM"),
            format!("{p}XDR_ZJLX"),
            format!("{p}XDR_ZJHM"),
            format!("{p}WSH"),
            format!("{p}JDRQ"),
            authority.to_owned(),
            code.to_owned(),
        ]
    }

    /// The kinds' fields, in the first kind's order, each with its column.
    fn fields(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for k in &self.kinds {
            for f in &k.fields {
                if out.iter().any(|(name, _)| *name == f.name) {
                    continue;
                }
                out.push((f.name.clone(), self.column(&f.name)));
            }
        }
        out
    }

    /// The standard's column of a field: prefixed as the standard writes
    /// it (`FRDB` → `XK_FRDB`); `BZ` and prefixed codes as they are.
    fn column(&self, field: &str) -> String {
        if field == "BZ" || field.starts_with("XK_") || field.starts_with("CF_") {
            field.to_owned()
        } else {
            format!("{}{field}", self.prefix)
        }
    }

    /// Every column: core, fields, `DFBM`, and `KIND` (the tier's kind;
    /// Rongxin's own column, which other importers may ignore).
    fn header(&self) -> Vec<String> {
        let mut h = self.core();
        h.extend(self.fields().into_iter().map(|(_, c)| c));
        h.push("DFBM".into());
        h.push("KIND".into());
        h
    }
}

fn class_zh(class: SubjectClass) -> &'static str {
    match class {
        SubjectClass::LegalPerson => "法人及非法人组织",
        SubjectClass::NaturalPerson => "自然人",
        SubjectClass::IndividualBusiness => "个体工商户",
    }
}

fn field_text(v: &FieldValue) -> String {
    match v {
        FieldValue::Text(t) => t.clone(),
        FieldValue::Integer(i) => i.to_string(),
        FieldValue::Decimal(d) => d.as_str().to_owned(),
        FieldValue::Date(d) => d.to_string(),
        FieldValue::Bool(b) => if *b { "是" } else { "否" }.to_owned(),
    }
}

/// One record as the standard's columns, in `family.header()` order.
fn row(family: &Family, r: &Record) -> Vec<String> {
    let person = r.subject.class == SubjectClass::NaturalPerson;
    let mut out = vec![
        r.subject.name.clone(),
        class_zh(r.subject.class).to_owned(),
        if person {
            String::new()
        } else {
            r.subject.code.clone()
        },
        if person {
            person::document_of(&r.subject.code).0.label_zh().to_owned()
        } else {
            String::new()
        },
        if person {
            person::document_of(&r.subject.code).1.to_owned()
        } else {
            String::new()
        },
        r.record_no.clone(),
        r.decision_date.to_string(),
        r.authority.name.clone(),
        r.authority.code.clone(),
    ];
    for (name, _) in family.fields() {
        out.push(r.fields.get(&name).map(field_text).unwrap_or_default());
    }
    out.push(r.jurisdiction.clone());
    out.push(r.kind.clone());
    out
}

/// `GET /v1/export/double-publicity?kind=XK|CF&from=&to=&format=csv|jsonl`:
/// the records of the family public today (within their publicity window,
/// not revoked), decided within `from..=to`, in the standard's columns,
/// every origin this node holds. Personal ID numbers are masked unless the
/// caller's token reads conditional records; such a read is registered in
/// the query log first. CSV is UTF-8 with a header row of column codes;
/// JSON Lines carry the same columns plus `publicity`.
pub async fn get_double_publicity(
    State(state): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let (access, who, _) = reader(&state, &headers)?;
    let Some(kind) = q.kind.as_deref() else {
        return Err(ApiError::bad_request(
            "kind is required: XK (行政许可) or CF (行政处罚); the standard has one file per kind",
        ));
    };
    let family = family(&state.shared.catalog, kind)?;
    let date = |name: &str, v: &Option<String>| -> Result<Option<Date>, ApiError> {
        v.as_deref()
            .map(|t| {
                t.parse::<Date>().map_err(|e| {
                    ApiError::bad_request(format!("{name} = '{t}': {e} (write YYYY-MM-DD)"))
                })
            })
            .transpose()
    };
    let (from, to) = (date("from", &q.from)?, date("to", &q.to)?);
    let jsonl = match q.format.as_deref() {
        None | Some("csv") => false,
        Some("jsonl") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format = '{other}': use csv or jsonl"
            )));
        }
    };
    let today =
        today().ok_or_else(|| ApiError::bad_request("the node's clock is outside years 1-9999"))?;
    let unmasked = access != Access::Public;
    if unmasked {
        let st = state.clone();
        let what = format!(
            "export:double-publicity kind={kind} from={} to={}",
            q.from.as_deref().unwrap_or("-"),
            q.to.as_deref().unwrap_or("-")
        );
        let purpose = q.purpose.clone().unwrap_or_default();
        let remote = remote(Some(addr));
        off_runtime(move || {
            Ok(register_read(
                &st.store,
                &st.query_ids,
                &ContentRead {
                    who: &who,
                    remote: &remote,
                    purpose: &purpose,
                    access,
                    what: &what,
                    returned: &[],
                },
                now_ms(),
            )?)
        })
        .await?;
    }
    let (tx, rx) = super::stream::channel();
    let st = state.clone();
    let name = format!("{}-{kind}-{today}", st.config.member);
    tokio::task::spawn_blocking(move || {
        let mut out = ToBody::new(tx);
        let written = write_export(&st, &family, (from, to), today, unmasked, jsonl, &mut out);
        if let Err(e) = written {
            tracing::warn!(error = %e, "export failed");
            out.fail(e.to_string());
        }
    });
    let mut response = super::stream::body(rx).into_response();
    let h = response.headers_mut();
    let (mime, ext) = if jsonl {
        ("application/x-ndjson", "jsonl")
    } else {
        ("text/csv; charset=utf-8", "csv")
    };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"double-publicity-{name}.{ext}\""
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

fn write_export(
    state: &AppState,
    family: &Family,
    (from, to): (Option<Date>, Option<Date>),
    today: Date,
    unmasked: bool,
    jsonl: bool,
    out: &mut ToBody,
) -> anyhow::Result<()> {
    let catalog = &state.shared.catalog;
    let header = family.header();
    let mut csv = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(64 * 1024));
    if !jsonl {
        csv.write_record(&header)?;
    }
    for kind in &family.kinds {
        if kind.public != PublicAttribute::Public {
            continue;
        }
        let mut after: Option<RecordKey> = None;
        loop {
            let page = state
                .store
                .records_of_kind(&kind.code, after.as_ref(), PAGE)?;
            let Some((last, _)) = page.last() else {
                break;
            };
            after = Some(last.clone());
            for (_, rs) in &page {
                if rs.revoked.is_some() {
                    continue;
                }
                let Some(signed) = state.store.entry(&rs.origin, rs.put_seq)? else {
                    continue;
                };
                let Ok(Entry {
                    op: Op::Put(record),
                    ..
                }) = Entry::decode(&signed.bytes)
                else {
                    continue;
                };
                if from.is_some_and(|f| record.decision_date < f)
                    || to.is_some_and(|t| record.decision_date > t)
                {
                    continue;
                }
                let window = PublicityWindow::of(kind, &record);
                if window.until.is_some_and(|u| u < today) {
                    continue;
                }
                let record = if unmasked {
                    record
                } else {
                    masked(&record, catalog)
                };
                let cells = row(family, &record);
                if jsonl {
                    let mut obj: Map<String, Value> = header
                        .iter()
                        .zip(cells)
                        .filter(|(_, v)| !v.is_empty())
                        .map(|(k, v)| (k.clone(), json!(v)))
                        .collect();
                    obj.insert("publicity".into(), serde_json::to_value(&window)?);
                    serde_json::to_writer(&mut *out, &obj)?;
                    out.write_all(b"\n")?;
                } else {
                    csv.write_record(&cells)?;
                }
            }
            // What the CSV writer holds goes out page by page.
            csv.flush()?;
            out.write_all(csv.get_ref())?;
            csv = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(Vec::with_capacity(64 * 1024));
            if page.len() < PAGE {
                break;
            }
        }
    }
    csv.flush()?;
    out.write_all(csv.get_ref())?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::from_toml_str(include_str!("../../../config-examples/catalog.toml"))
            .expect("example catalog")
    }

    #[test]
    fn columns_follow_the_standard() {
        let c = catalog();
        let xk = family(&c, "XK").expect("XK");
        let h = xk.header();
        assert_eq!(&h[..3], ["XK_XDR_MC", "XK_XDR_LB", "XK_XDR_SHXYM"]);
        assert!(h.contains(&"XK_FRDB".to_owned()) && h.contains(&"XK_FR_ZJHM".to_owned()));
        assert!(h.contains(&"XK_XDR_GSZC".to_owned()) && h.contains(&"BZ".to_owned()));
        assert_eq!(h.last().map(String::as_str), Some("KIND"));
        let cf = family(&c, "CF").expect("CF");
        assert_eq!(
            cf.kinds.iter().map(|k| k.code.as_str()).collect::<Vec<_>>(),
            ["CF_QW", "CF", "CF_YZ"]
        );
        assert!(cf.header().contains(&"CF_CFLB".to_owned()));
        assert!(cf.header().contains(&"CF_FRDB".to_owned()));
        for bad in ["SXBZXR", "FXFL", "NOPE"] {
            assert!(family(&c, bad).is_err(), "{bad}");
        }
    }
}
