//! Valid subject and authority codes for sample records: unified social
//! credit codes (GB 32100-2015) whose entity identifier also passes its own
//! GB 11714 check, and resident ID numbers (GB 11643-1999). Check
//! characters come from `rongxin_protocol::code`, so the generator and
//! ingest cannot disagree about them.

use rongxin_protocol::code::{resident_id_check_char, uscc_check_char};

use super::rng::Rng;

/// The 31 symbols of the credit-code charset (no I, O, S, V, Z).
const CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// Registration authority and organization type of a credit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registrant {
    /// 9 1: an enterprise registered by market regulation.
    Enterprise,
    /// 9 2: an individual business (个体工商户).
    IndividualBusiness,
    /// 1 1: a government organ (机关), such as a bureau or a court.
    Organ,
}

impl Registrant {
    fn prefix(self) -> &'static str {
        match self {
            Registrant::Enterprise => "91",
            Registrant::IndividualBusiness => "92",
            Registrant::Organ => "11",
        }
    }
}

/// A credit code registered in `region` (six digits). The entity
/// identifier is either eight digits (an old organization code) or `MA`
/// and six charset symbols (the form issued since 2015), followed by its
/// GB 11714 check character, then the GB 32100 check character.
pub fn uscc(rng: &mut Rng, who: Registrant, region: &str) -> String {
    debug_assert!(region.len() == 6 && region.bytes().all(|b| b.is_ascii_digit()));
    let mut body = String::with_capacity(8);
    if rng.chance(50) {
        body.push_str("MA");
        for _ in 0..6 {
            body.push(char::from(*rng.pick(CHARSET)));
        }
    } else {
        for _ in 0..8 {
            body.push(char::from(b'0' + rng.below(10) as u8));
        }
    }
    body.push(org_check_char(&body));
    let first17 = format!("{}{region}{body}", who.prefix());
    let check = uscc_check_char(&first17).expect("17 charset symbols");
    format!("{first17}{check}")
}

/// GB 11714 check character of an eight-symbol organization code body:
/// values 0–9 and A–Z = 10–35, weights 3 7 9 10 5 8 4 2, `11 − S mod 11`
/// with 10 written X and 11 written 0. Both are in the credit-code charset.
fn org_check_char(body: &str) -> char {
    let sum: u32 = body
        .chars()
        .zip(ORG_WEIGHTS)
        .map(|(c, w)| c.to_digit(36).expect("alphanumeric") * w)
        .sum();
    match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        v => char::from_digit(v, 10).expect("a digit"),
    }
}

/// A resident ID number with address code `address` (six digits), a birth
/// date from 1950-01-01 to 2000-12-31 and a sequence number whose parity
/// matches `male` (odd for men, even for women).
pub fn resident_id(rng: &mut Rng, address: &str, male: bool) -> String {
    debug_assert!(address.len() == 6 && address.bytes().all(|b| b.is_ascii_digit()));
    let year = rng.range(1950, 2000);
    let month = rng.range(1, 12);
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let day = rng.range(1, days);
    // 1..=998, then nudged to the right parity (999 would overflow to 1000).
    let mut seq = rng.range(1, 998);
    if (seq % 2 == 1) != male {
        seq += 1;
    }
    let first17 = format!("{address}{year:04}{month:02}{day:02}{seq:03}");
    let check = resident_id_check_char(&first17).expect("17 digits");
    format!("{first17}{check}")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use rongxin_protocol::code::{self, CodeKind, CodeStatus, LegacyCodes};

    use super::*;

    #[test]
    fn org_check_char_matches_known_codes() {
        // 91350100757384472D: body 75738447, check 2.
        assert_eq!(org_check_char("75738447"), '2');
        // 91350100M0001TGQXM: body M0001TGQ, check X.
        assert_eq!(org_check_char("M0001TGQ"), 'X');
    }

    #[test]
    fn ten_thousand_credit_codes_are_all_valid_without_warnings() {
        let legacy = LegacyCodes::empty();
        let mut rng = Rng::new(11);
        let regions = ["350102", "350182", "350100", "350181"];
        let whos = [
            Registrant::Enterprise,
            Registrant::IndividualBusiness,
            Registrant::Organ,
        ];
        let mut distinct = BTreeSet::new();
        for i in 0..10_000 {
            let who = whos[i % 3];
            let region = regions[i % regions.len()];
            let c = uscc(&mut rng, who, region);
            let check = code::parse_strict(CodeKind::Uscc, &c, &legacy)
                .unwrap_or_else(|e| panic!("{c}: {e}"));
            assert_eq!(check.status, CodeStatus::Valid, "{c}");
            assert!(check.warnings.is_empty(), "{c}: {:?}", check.warnings);
            assert_eq!(&c[..2], who.prefix());
            assert_eq!(&c[2..8], region);
            distinct.insert(c);
        }
        assert!(distinct.len() > 9_990);
    }

    #[test]
    fn ten_thousand_resident_ids_are_all_valid() {
        let legacy = LegacyCodes::empty();
        let mut rng = Rng::new(12);
        for i in 0..10_000 {
            let male = i % 2 == 0;
            let id = resident_id(&mut rng, "350102", male);
            let check = code::parse_strict(CodeKind::ResidentId, &id, &legacy)
                .unwrap_or_else(|e| panic!("{id}: {e}"));
            assert!(check.warnings.is_empty(), "{id}: {:?}", check.warnings);
            let year: u32 = id[6..10].parse().unwrap();
            assert!((1950..=2000).contains(&year), "{id}");
            let seq: u32 = id[14..17].parse().unwrap();
            assert_eq!(seq % 2 == 1, male, "{id}");
        }
    }
}
