//! The root-signed roster: signing and opening, every validation rule (each
//! refusal names the member or field), ownership, superseding, and the
//! refusal of any change to the signed note.

#![allow(
    clippy::unwrap_used,
    reason = "fixtures and helpers outside #[test] functions unwrap as tests do"
)]

mod common;

use common::*;
use ed25519_dalek::VerifyingKey;
use proptest::prelude::*;
use rongxin_protocol::note::{NoteError, NoteVerifier};
use rongxin_protocol::roster::{
    MemberKey, ROSTER_HEADER, Role, Roster, RosterError, SignedRoster, is_federation_name,
    is_member_id,
};
use rongxin_protocol::suite::PublicKey;

#[test]
fn a_signed_roster_opens_to_the_same_roster() {
    let signed = signed_roster();
    let opened = SignedRoster::open(&signed.note, &root_verifier()).unwrap();
    assert_eq!(opened, signed);
    assert_eq!(opened.roster, roster());
    // The TOML alone round-trips as well.
    let toml = roster().to_toml().unwrap();
    assert_eq!(Roster::from_toml(&toml).unwrap(), roster());
}

#[test]
fn the_note_text_is_the_header_line_then_toml() {
    let signed = signed_roster();
    assert!(
        signed
            .note
            .starts_with("rongxin-roster/v2\nfederation = \"rongxin.fuzhou\"\n")
    );
    let text = root_verifier().open(&signed.note).unwrap();
    assert_eq!(
        text,
        format!("{ROSTER_HEADER}{}", roster().to_toml().unwrap())
    );
    // One signature line, by the root key.
    let (_, signatures) = signed.note.rsplit_once("\n\n").unwrap();
    assert!(signatures.starts_with("\u{2014} rongxin.fuzhou/root "));
    assert_eq!(signatures.lines().count(), 1);
}

#[test]
fn a_root_signed_note_without_the_header_is_refused() {
    let toml = roster().to_toml().unwrap();
    for text in [toml.clone(), format!("rongxin-roster/v3\n{toml}")] {
        let note = root_signer().sign(&text).unwrap();
        assert_eq!(
            SignedRoster::open(&note, &root_verifier()),
            Err(RosterError::Header)
        );
    }
}

#[test]
fn a_roster_signed_by_another_root_is_refused() {
    let note = roster().sign(&root_signer_with(8)).unwrap().note;
    let err = SignedRoster::open(&note, &root_verifier()).unwrap_err();
    assert!(
        matches!(err, RosterError::Note(NoteError::NoSignature { ref name, .. }) if name == "rongxin.fuzhou/root"),
        "{err}"
    );
    // A member's key cannot stand in for the root, whatever name it signs under.
    let imposter =
        rongxin_protocol::note::NoteSigner::new("rongxin.fuzhou/root", key(CITY_SEED)).unwrap();
    let note = roster().sign(&imposter).unwrap().note;
    assert!(SignedRoster::open(&note, &root_verifier()).is_err());
    // And a verifier for another federation's root does not open ours.
    let other = NoteVerifier::new("rongxin.xiamen/root", root_verifier().key().clone()).unwrap();
    assert!(SignedRoster::open(&signed_roster().note, &other).is_err());
}

#[test]
fn every_single_byte_change_of_the_signed_note_is_refused() {
    let note = signed_roster().note;
    let root = root_verifier();
    let mut tried = 0;
    for i in 0..note.len() {
        let mut bytes = note.clone().into_bytes();
        bytes[i] ^= 0x01;
        let Ok(changed) = String::from_utf8(bytes) else {
            continue;
        };
        tried += 1;
        assert!(
            SignedRoster::open(&changed, &root).is_err(),
            "byte {i} ^ 0x01 accepted"
        );
    }
    assert!(tried > note.len() / 2, "{tried} of {}", note.len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_change_of_the_signed_note_is_refused(
        at in any::<prop::sample::Index>(),
        delta in 1u8..=255,
    ) {
        let note = signed_roster().note;
        let mut bytes = note.into_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= delta;
        if let Ok(changed) = String::from_utf8(bytes) {
            prop_assert!(SignedRoster::open(&changed, &root_verifier()).is_err());
        }
    }
}

// ---------------------------------------------------------------------------
// Validation: each rule, refused by validate, sign, from_toml and open alike.
// ---------------------------------------------------------------------------

/// Asserts that `r` is refused with a message holding every one of `words`,
/// by `validate`, by `sign`, by `from_toml` and by `open` of a note the root
/// signed anyway.
fn assert_refused(r: &Roster, words: &[&str]) {
    let err = r.validate().unwrap_err();
    let msg = err.to_string();
    for w in words {
        assert!(msg.contains(w), "'{msg}' does not name '{w}'");
    }
    assert_eq!(r.sign(&root_signer()).unwrap_err(), err);
    let toml = r.to_toml().unwrap();
    assert_eq!(Roster::from_toml(&toml).unwrap_err(), err);
    let note = root_signer()
        .sign(&format!("{ROSTER_HEADER}{toml}"))
        .unwrap();
    assert_eq!(
        SignedRoster::open(&note, &root_verifier()).unwrap_err(),
        err
    );
}

fn with(f: impl FnOnce(&mut Roster)) -> Roster {
    let mut r = roster();
    f(&mut r);
    r
}

#[test]
fn exactly_one_city() {
    assert_refused(
        &with(|r| r.members[1].role = Role::City),
        &["exactly one", "city"],
    );
    assert_refused(
        &with(|r| r.members[2].role = Role::District),
        &["exactly one", "city"],
    );
}

#[test]
fn deadlines_and_the_calendar_pin_are_checked() {
    assert_refused(
        &with(|r| r.deadlines.objection_verify = 0),
        &["deadlines.objection_verify = 0", "working days"],
    );
    assert_refused(
        &with(|r| r.deadlines.publication = 400),
        &["deadlines.publication = 400"],
    );
    assert_refused(
        &with(|r| r.calendar_digest = Some("sha256:abc".into())),
        &["calendar_digest", "rongxinctl roster new --calendar"],
    );
    // Absent deadlines take the defaults; a pinned calendar survives the
    // signed text.
    let r = with(|r| r.calendar_digest = Some(format!("sha256:{}", "ab".repeat(32))));
    let toml = r.to_toml().unwrap();
    let back = Roster::from_toml(&toml).unwrap();
    assert_eq!(back, r);
    let without: String = toml
        .lines()
        .filter(|l| {
            !l.starts_with("[deadlines]")
                && !["objection_", "repair_decide", "publication"]
                    .iter()
                    .any(|p| l.starts_with(p))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        Roster::from_toml(&without).unwrap().deadlines,
        Default::default()
    );
}

#[test]
fn member_ids_are_well_formed_and_unique() {
    for id in ["Gulou", "g", "1gulou", "gu_lou", "root", "鼓楼", ""] {
        assert_refused(&with(|r| r.members[0].id = id.into()), &["member id", id]);
    }
    assert_refused(
        &with(|r| r.members[1].id = "gulou".into()),
        &["member id 'gulou' appears twice"],
    );
    assert!(is_member_id("gulou") && is_member_id("ftz-2") && !is_member_id("root"));
}

#[test]
fn signing_keys_are_valid_strong_and_unique() {
    assert_refused(
        &with(|r| r.members[1].keys[0].key = public_b64(GULOU_SEED)),
        &["member ftz", "used twice"],
    );
    // Small-order points: the identity (y = 1) and a point of order 4 (y = 0).
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let not_a_point = (0u8..=255)
        .map(|n| [n; 32])
        .find(|b| VerifyingKey::from_bytes(b).is_err())
        .expect("some constant byte string is not a curve point");
    for (raw, why) in [
        (identity.to_vec(), "weak"),
        (vec![0u8; 32], "weak"),
        (not_a_point.to_vec(), "not a point of the curve"),
        (vec![7u8; 31], "31 bytes, expected 32"),
        (vec![7u8; 33], "33 bytes, expected 32"),
    ] {
        assert_refused(
            &with(|r| r.members[2].keys[0].key = b64(&raw)),
            &["member city", "key 1", why],
        );
        assert!(PublicKey::from_base64(SUITE, &b64(&raw)).is_err());
    }
    assert_refused(
        &with(|r| r.members[2].keys[0].key = "not base64!".into()),
        &["member city", "key 1", "not valid base64"],
    );
    // Base64 is strict: no white space around a key (independent verifiers
    // must reach the same verdict on the same signed roster).
    assert_refused(
        &with(|r| r.members[0].keys[0].key = format!(" {} ", public_b64(GULOU_SEED))),
        &["key 1", "not valid base64"],
    );
}

#[test]
fn key_histories_start_at_zero_rise_and_never_end_compromised() {
    let add = |r: &mut Roster, seed: u8, from: u64| {
        r.members[0].keys.push(MemberKey {
            key: public_b64(seed),
            from: Some(from),
            compromised: false,
        });
    };
    assert_refused(
        &with(|r| r.members[0].keys.clear()),
        &["gulou", "no signing key"],
    );
    assert_refused(
        &with(|r| r.members[0].keys[0].from = Some(5)),
        &["gulou", "position 0 (from = 0), not 5"],
    );
    assert_refused(
        &with(|r| add(r, 40, 0)),
        &["gulou", "key 2 starts at position 0"],
    );
    assert_refused(&with(|r| add(r, GULOU_SEED, 10)), &["gulou", "used twice"]);
    assert_refused(
        &with(|r| {
            add(r, 40, 10);
            r.members[0].keys[1].compromised = true;
        }),
        &["gulou", "newest key is marked compromised"],
    );
    // Two rotations: each key signs its own positions, checkpoints are
    // signed by the key of their last entry.
    let r = with(|r| {
        add(r, 40, 10);
        add(r, 41, 25);
        r.members[0].keys[0].compromised = true;
    });
    r.validate().unwrap();
    let m = r.member("gulou").unwrap();
    for (pos, seed) in [
        (0, GULOU_SEED),
        (9, GULOU_SEED),
        (10, 40),
        (24, 40),
        (25, 41),
        (u64::MAX, 41),
    ] {
        assert_eq!(
            &m.key_at(SUITE, pos).unwrap(),
            key(seed).public(),
            "position {pos}"
        );
    }
    assert_eq!(
        &m.checkpoint_key(SUITE, 10).unwrap(),
        key(GULOU_SEED).public()
    );
    assert_eq!(&m.checkpoint_key(SUITE, 11).unwrap(), key(40).public());
    assert_eq!(
        &m.checkpoint_key(SUITE, 0).unwrap(),
        key(GULOU_SEED).public()
    );
    assert_eq!(m.key_range(0), Some((Some(0), Some(10))));
    assert_eq!(m.key_range(2), Some((Some(25), None)));
    assert_eq!(m.key_index(key(41).public()), Some(2));
    // The history survives signing and opening.
    let signed = r.sign(&root_signer()).unwrap();
    assert!(signed.note.starts_with("rongxin-roster/v2\n"));
    assert_eq!(
        SignedRoster::open(&signed.note, &root_verifier())
            .unwrap()
            .roster,
        r
    );
}

#[test]
fn peer_ids_are_base58_and_unique() {
    assert_refused(
        &with(|r| r.members[2].peer_id = peer_id(GULOU_SEED)),
        &["member city", "peer_id"],
    );
    for bad in ["12D3Koo", "12D3KooW0OIl0OIl0OIl", "12D3KooW-not-base58", ""] {
        assert_refused(
            &with(|r| r.members[0].peer_id = bad.into()),
            &["member gulou", "peer_id"],
        );
    }
}

#[test]
fn a_jurisdiction_is_owned_by_at_most_one_member() {
    assert_refused(
        &with(|r| r.members[1].jurisdictions.push("350102".into())),
        &["jurisdiction 350102", "gulou", "ftz"],
    );
}

#[test]
fn jurisdictions_are_division_codes_or_zone_ids() {
    for bad in ["35010", "3501020", "Ftz", "ftz_fuzhou", "f", "", "350 102"] {
        assert_refused(
            &with(|r| r.members[0].jurisdictions = vec![bad.into()]),
            &["member gulou", "jurisdiction"],
        );
    }
}

#[test]
fn names_addresses_federation_validity_and_digest_are_checked() {
    assert_refused(
        &with(|r| r.members[0].name = " ".into()),
        &["member gulou", "name"],
    );
    assert_refused(
        &with(|r| r.members[0].listen = vec!["127.0.0.1:7102".into()]),
        &["member gulou", "listen", "127.0.0.1:7102"],
    );
    for fed in ["Rongxin", "rongxin fuzhou", "r", ".rongxin"] {
        assert_refused(&with(|r| r.federation = fed.into()), &["federation", fed]);
        assert!(!is_federation_name(fed));
    }
    assert_refused(
        &with(|r| r.valid_until = date("2025-12-31")),
        &["valid_until 2025-12-31", "valid_from 2026-01-01"],
    );
    let one_day = with(|r| r.valid_until = r.valid_from);
    assert!(one_day.validate().is_ok());
    let hex = catalog_digest()["sha256:".len()..].to_owned();
    for digest in [
        hex.clone(),
        format!("sha256:{}", hex.to_uppercase()),
        format!("sha256:{}", &hex[1..]),
        format!("sha512:{hex}"),
        format!("sha256:{hex}0"),
        String::new(),
    ] {
        assert_refused(&with(|r| r.catalog_digest = digest), &["catalog_digest"]);
    }
}

#[test]
fn unknown_toml_keys_are_refused_by_name() {
    let toml = roster().to_toml().unwrap();
    let top = format!("colour = \"red\"\n{toml}");
    let member = toml.replacen(
        "role = \"district\"\n",
        "role = \"district\"\nrank = 1\n",
        1,
    );
    for (text, key) in [(top, "colour"), (member, "rank")] {
        let err = Roster::from_toml(&text).unwrap_err();
        assert!(
            matches!(&err, RosterError::Toml(m) if m.contains(key)),
            "{err}"
        );
        let note = root_signer()
            .sign(&format!("{ROSTER_HEADER}{text}"))
            .unwrap();
        assert!(matches!(
            SignedRoster::open(&note, &root_verifier()),
            Err(RosterError::Toml(_))
        ));
    }
    let bad_role = toml.replacen("role = \"district\"", "role = \"county\"", 1);
    assert!(
        matches!(Roster::from_toml(&bad_role), Err(RosterError::Toml(m)) if m.contains("county"))
    );
}

// ---------------------------------------------------------------------------
// Lookups and superseding.
// ---------------------------------------------------------------------------

#[test]
fn owner_of_names_the_one_member_of_a_jurisdiction() {
    let r = roster();
    assert_eq!(r.owner_of("350102").map(|m| m.id.as_str()), Some("gulou"));
    assert_eq!(r.owner_of("ftz-fuzhou").map(|m| m.id.as_str()), Some("ftz"));
    assert_eq!(r.owner_of("350100").map(|m| m.id.as_str()), Some("city"));
    assert!(r.owner_of("350103").is_none()); // 台江区 is not in this roster
    assert!(r.owner_of("").is_none());
    let key = cf_record("1").key();
    assert_eq!(r.owner_of_key(&key).map(|m| m.id.as_str()), Some("gulou"));
}

#[test]
fn members_are_found_by_id_peer_and_role() {
    let r = roster();
    assert_eq!(r.member("ftz").unwrap().name, "自贸区福州片区");
    assert!(r.member("minhou").is_none());
    assert_eq!(r.member_by_peer(&peer_id(CITY_SEED)).unwrap().id, "city");
    assert_eq!(r.city().unwrap().id, "city");
    assert_eq!(r.log_origin("gulou"), "rongxin.fuzhou/gulou");
    let v = r.checkpoint_verifier("gulou", 1).unwrap();
    assert_eq!(v.name(), "rongxin.fuzhou/gulou");
    assert_eq!(v.key(), key(GULOU_SEED).public());
    assert_eq!(
        r.member("gulou").unwrap().current_key(SUITE).unwrap(),
        key(GULOU_SEED).public().clone()
    );
    assert!(
        matches!(r.checkpoint_verifier("minhou", 1), Err(RosterError::Invalid(m)) if m.contains("minhou"))
    );
    assert!(r.valid_on(date("2026-01-01")) && r.valid_on(date("2027-12-31")));
    assert!(!r.valid_on(date("2025-12-31")) && !r.valid_on(date("2028-01-01")));
}

#[test]
fn only_a_higher_version_of_the_same_federation_supersedes() {
    let v = |version: u64, federation: &str| {
        with(|r| {
            r.version = version;
            r.federation = federation.into();
        })
        .sign(&root_signer())
        .unwrap()
    };
    let current = v(5, FEDERATION);
    assert!(v(6, FEDERATION).supersedes(&current));
    assert!(v(u64::MAX, FEDERATION).supersedes(&current));
    assert!(!v(5, FEDERATION).supersedes(&current));
    assert!(!v(4, FEDERATION).supersedes(&current));
    assert!(!v(0, FEDERATION).supersedes(&current));
    assert!(!v(6, "rongxin.xiamen").supersedes(&current));
}

#[test]
fn the_example_federation_roster_opens_and_pins_the_example_catalog() {
    let root = NoteVerifier::parse(include_str!("../../config-examples/root.pub")).unwrap();
    let signed =
        SignedRoster::open(include_str!("../../config-examples/roster.signed"), &root).unwrap();
    assert_eq!(signed.roster.federation, FEDERATION);
    assert_eq!(signed.roster.catalog_digest, catalog_digest());
    assert_eq!(signed.roster.city().unwrap().id, "city");
    assert_eq!(
        signed.roster.owner_of("350102").map(|m| m.id.as_str()),
        Some("gulou")
    );
}
