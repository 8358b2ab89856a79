//! Dishonesty tiers (失信程度: 轻微, 一般, 严重) and how a penalty's types
//! decide its tier, as catalog data (`tier` on a kind, `[penalty_tiers]`).
//!
//! 国办发〔2025〕22号 and 国家发展改革委令第36号 (《信用修复管理办法》,
//! in force from 2026-04-01) set the longest publicity per tier: minor at
//! most 3 months, general 3 months to 1 year, serious 1 to 3 years from the
//! decision. Which penalty types make a penalty serious is the catalog's
//! `[penalty_tiers.types]`, with its sources beside it; the code only reads
//! that table: the most severe tier among a penalty's types (`CF_CFLB`,
//! several possible) is the penalty's tier.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::catalog::Period;

/// A dishonesty tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// 轻微失信: public at most 3 months.
    Minor,
    /// 一般失信: public 3 months to 1 year.
    General,
    /// 严重失信: public 1 to 3 years.
    Serious,
}

impl Tier {
    /// Every tier, least severe first.
    pub const ALL: [Tier; 3] = [Tier::Minor, Tier::General, Tier::Serious];

    /// The API spelling: `minor`, `general`, `serious`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Minor => "minor",
            Tier::General => "general",
            Tier::Serious => "serious",
        }
    }

    /// The Chinese name.
    pub fn label_zh(self) -> &'static str {
        match self {
            Tier::Minor => "轻微",
            Tier::General => "一般",
            Tier::Serious => "严重",
        }
    }

    /// The longest publicity the rules allow for the tier (22号; 令第36号).
    pub fn ceiling(self) -> Period {
        match self {
            Tier::Minor => Period::new(0, 3, 0),
            Tier::General => Period::new(1, 0, 0),
            Tier::Serious => Period::new(3, 0, 0),
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The penalty kind of each tier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierKinds {
    /// Kind of minor penalties.
    pub minor: String,
    /// Kind of general penalties.
    pub general: String,
    /// Kind of serious penalties.
    pub serious: String,
}

/// `[penalty_tiers]`: how a penalty's types (the text of `field`, types
/// separated by any of `separators`) decide its tier, and which kind holds
/// penalties of each tier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PenaltyTiers {
    /// The field listing the penalty's types, such as `CF_CFLB`.
    pub field: String,
    /// What separates two types in it.
    pub separators: Vec<String>,
    /// The kind of each tier.
    pub kinds: TierKinds,
    /// Each penalty type's tier.
    pub types: BTreeMap<String, Tier>,
    /// When a penalty may have been decided by the simplified procedure
    /// (简易程序), and so be minor whatever the table says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simplified: Option<Simplified>,
}

/// `[penalty_tiers.simplified]`: a penalty of only these types, with a fine
/// (if any) within the on-the-spot limits, may have been decided by the
/// simplified procedure (《行政处罚法》第五十一条), which makes it minor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Simplified {
    /// The types such a penalty consists of (警告, 罚款).
    pub types: Vec<String>,
    /// The field holding the fine's amount.
    pub fine_field: String,
    /// The largest fine on a natural person, in the field's unit.
    pub max_fine_natural_person: crate::value::Decimal,
    /// The largest fine on an organisation or an individual business.
    pub max_fine_organisation: crate::value::Decimal,
}

/// A decimal in millionths, for comparing amounts.
fn micro(d: &crate::value::Decimal) -> Option<i128> {
    let text = d.as_str();
    let (neg, text) = match text.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, text),
    };
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let mut n: i128 = int.parse().ok()?;
    let mut frac = frac.to_owned();
    while frac.len() < 6 {
        frac.push('0');
    }
    n = n
        .checked_mul(1_000_000)?
        .checked_add(frac.get(..6)?.parse::<i128>().ok()?)?;
    Some(if neg { -n } else { n })
}

/// What [`PenaltyTiers::validate`] asks of a kind: its tier and whether
/// it declares the types field (`None`: no such kind).
pub(crate) type KindInfo<'a> = dyn Fn(&str) -> Option<(Option<Tier>, bool)> + 'a;

/// How a penalty's types decide its tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decided<'a> {
    /// The most severe tier among the known types.
    pub tier: Tier,
    /// The type that decided it.
    pub by: &'a str,
    /// Types the table does not know (they decide nothing).
    pub unknown: Vec<&'a str>,
}

impl PenaltyTiers {
    /// The kind of `tier`.
    pub fn kind_of(&self, tier: Tier) -> &str {
        match tier {
            Tier::Minor => &self.kinds.minor,
            Tier::General => &self.kinds.general,
            Tier::Serious => &self.kinds.serious,
        }
    }

    /// Whether `kind` is one of the penalty kinds.
    pub fn is_penalty_kind(&self, kind: &str) -> bool {
        Tier::ALL.iter().any(|t| self.kind_of(*t) == kind)
    }

    /// The types listed in `text`, trimmed.
    pub fn split<'a>(&self, text: &'a str) -> Vec<&'a str> {
        let mut parts = vec![text];
        for sep in &self.separators {
            parts = parts.iter().flat_map(|p| p.split(sep.as_str())).collect();
        }
        parts
            .into_iter()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect()
    }

    /// Whether a penalty of the types in `text`, with `fine` (the fine
    /// field's value), on a natural person or not, may have been decided by
    /// the simplified procedure: only [`Simplified::types`], and a fine, if
    /// one is among them, given and within the limit.
    pub fn could_be_simplified(
        &self,
        text: &str,
        fine: Option<&crate::value::Decimal>,
        natural_person: bool,
    ) -> bool {
        let Some(s) = &self.simplified else {
            return false;
        };
        let parts = self.split(text);
        if parts.is_empty() || parts.iter().any(|p| !s.types.iter().any(|t| t == p)) {
            return false;
        }
        let fined = parts
            .iter()
            .any(|p| self.types.get(*p) > Some(&Tier::Minor));
        if !fined {
            return true;
        }
        let limit = if natural_person {
            &s.max_fine_natural_person
        } else {
            &s.max_fine_organisation
        };
        match (fine.and_then(micro), micro(limit)) {
            (Some(f), Some(l)) => f <= l,
            _ => false,
        }
    }

    /// The tier the types in `text` decide: the most severe of those the
    /// table knows; `None` when it knows none of them.
    pub fn decide<'a>(&self, text: &'a str) -> Option<Decided<'a>> {
        let mut best: Option<(Tier, &str)> = None;
        let mut unknown = Vec::new();
        for part in self.split(text) {
            match self.types.get(part) {
                Some(&t) if best.is_none_or(|(b, _)| t > b) => best = Some((t, part)),
                Some(_) => {}
                None => unknown.push(part),
            }
        }
        best.map(|(tier, by)| Decided { tier, by, unknown })
    }

    /// Checks the table against the catalog's kinds: `kinds_tier` gives a
    /// kind's declared tier and whether it declares `field`.
    pub(crate) fn validate(&self, kind_info: &KindInfo<'_>) -> Result<(), String> {
        if self.separators.iter().any(String::is_empty) {
            return Err("separators has an empty entry".into());
        }
        if self.types.is_empty() {
            return Err("types is empty: map each penalty type to its tier".into());
        }
        if let Some(sp) = &self.simplified {
            if let Some(t) = sp.types.iter().find(|t| !self.types.contains_key(*t)) {
                return Err(format!(
                    "simplified.types lists '{t}', which types does not map"
                ));
            }
            for (key, d) in [
                ("max_fine_natural_person", &sp.max_fine_natural_person),
                ("max_fine_organisation", &sp.max_fine_organisation),
            ] {
                if micro(d).is_none_or(|m| m < 0) {
                    return Err(format!("simplified.{key} = \"{d}\" is not an amount"));
                }
            }
        }
        if let Some(t) = self
            .types
            .keys()
            .find(|t| t.trim().is_empty() || t.trim() != *t)
        {
            return Err(format!("types has the blank or padded type '{t}'"));
        }
        for tier in Tier::ALL {
            let kind = self.kind_of(tier);
            match kind_info(kind) {
                None => {
                    return Err(format!(
                        "kinds.{tier} = \"{kind}\" is not a kind of the catalog"
                    ));
                }
                Some((declared, _)) if declared != Some(tier) => {
                    return Err(format!(
                        "kinds.{tier} = \"{kind}\", but that kind declares tier {}",
                        declared.map_or("none", Tier::as_str)
                    ));
                }
                Some((_, false)) => {
                    return Err(format!(
                        "kinds.{tier} = \"{kind}\", which has no field {}",
                        self.field
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// When a record is public, as every profile, list and export shows it:
/// `{"tier": "general", "from": "2026-03-02", "until": "2027-03-02"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicityWindow {
    /// `minor`, `general`, `serious`, or `none` for a kind without a tier.
    pub tier: String,
    /// The first day: the decision date.
    pub from: crate::value::Date,
    /// The last day it is shown, `None` (JSON null) when the kind has no
    /// fixed end (the origin revokes the record when it ends).
    pub until: Option<crate::value::Date>,
}

impl PublicityWindow {
    /// The window of `record`, a record of `kind`.
    pub fn of(kind: &crate::catalog::RecordKind, record: &crate::record::Record) -> Self {
        PublicityWindow {
            tier: kind.tier.map_or("none", Tier::as_str).to_owned(),
            from: record.decision_date,
            until: kind.publicity_until(record),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> PenaltyTiers {
        PenaltyTiers {
            field: "CF_CFLB".into(),
            separators: vec![
                ";".into(),
                "；".into(),
                "、".into(),
                ",".into(),
                "，".into(),
            ],
            kinds: TierKinds {
                minor: "CF_QW".into(),
                general: "CF".into(),
                serious: "CF_YZ".into(),
            },
            types: [
                ("警告", Tier::Minor),
                ("通报批评", Tier::Minor),
                ("罚款", Tier::General),
                ("吊销许可证件", Tier::Serious),
                ("责令关闭", Tier::Serious),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
            simplified: Some(Simplified {
                types: vec!["警告".into(), "罚款".into()],
                fine_field: "CF_NR_FK".into(),
                max_fine_natural_person: "0.02".parse().expect("decimal"),
                max_fine_organisation: "0.3".parse().expect("decimal"),
            }),
        }
    }

    /// 《行政处罚法》第五十一条: 警告, or a fine of at most 200 yuan on a
    /// citizen or 3,000 yuan on an organisation, may be decided on the spot.
    #[test]
    fn small_fines_may_be_minor() {
        let t = table();
        let d = |s: &str| s.parse::<crate::value::Decimal>().expect("decimal");
        assert!(t.could_be_simplified("罚款", Some(&d("0.02")), true));
        assert!(!t.could_be_simplified("罚款", Some(&d("0.021")), true));
        assert!(t.could_be_simplified("警告；罚款", Some(&d("0.3")), false));
        assert!(!t.could_be_simplified("罚款", Some(&d("0.31")), false));
        assert!(
            !t.could_be_simplified("罚款", None, false),
            "an unknown amount"
        );
        assert!(t.could_be_simplified("警告", None, true));
        assert!(!t.could_be_simplified("罚款、吊销许可证件", Some(&d("0.01")), false));
    }

    #[test]
    fn the_most_severe_known_type_decides() {
        let t = table();
        let d = t.decide("警告").expect("known");
        assert_eq!((d.tier, d.by), (Tier::Minor, "警告"));
        let d = t.decide("警告；罚款、吊销许可证件").expect("known");
        assert_eq!((d.tier, d.by), (Tier::Serious, "吊销许可证件"));
        let d = t.decide(" 罚款 , 其他（测试）").expect("known");
        assert_eq!((d.tier, d.by), (Tier::General, "罚款"));
        assert_eq!(d.unknown, vec!["其他（测试）"]);
        assert_eq!(t.decide("处罚类别（测试）"), None);
        assert_eq!(t.decide(""), None);
        assert_eq!(t.kind_of(Tier::Serious), "CF_YZ");
        assert!(t.is_penalty_kind("CF") && !t.is_penalty_kind("XK"));
    }

    #[test]
    fn ceilings_grow_with_severity() {
        assert!(Tier::Minor < Tier::General && Tier::General < Tier::Serious);
        assert_eq!(Tier::Serious.ceiling(), Period::new(3, 0, 0));
        assert_eq!(Tier::General.to_string(), "general");
    }
}
