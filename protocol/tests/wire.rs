//! Replication wire messages: exact bytes (docs/protocol.md §8), round trips,
//! and the refusal of other versions, out-of-bounds requests, oversize or
//! malformed messages — without ever panicking.

#![allow(
    clippy::unwrap_used,
    reason = "fixtures and helpers outside #[test] functions unwrap as tests do"
)]

mod common;

use common::*;
use proptest::prelude::*;
use rongxin_protocol::entry::ObjectionGround;
use rongxin_protocol::entry::SignedEntry;
use rongxin_protocol::merkle::consistency_proof;
use rongxin_protocol::objection::ObjectionFiling;
use rongxin_protocol::repair::RepairFiling;
use rongxin_protocol::wire::{
    MAX_BATCH_ENTRIES, MAX_MESSAGE_BYTES, Request, Response, WIRE_VERSION, WireError,
};

/// `Request::Entries { origin: "gulou", from: 5, limit: 100 }` on the wire:
///
/// ```text
/// 01                 wire version 1
/// 00000001           Request variant 1 = Entries (u32, big-endian)
/// 0000000000000005   origin: length 5 (u64, big-endian) …
/// 67756c6f75         … and the UTF-8 bytes "gulou"
/// 0000000000000005   from = 5 (u64, big-endian)
/// 00000064           limit = 100 (u32, big-endian)
/// ```
const ENTRIES_REQUEST_HEX: &str = concat!(
    "01",
    "00000001",
    "0000000000000005",
    "67756c6f75",
    "0000000000000005",
    "00000064",
);

#[test]
fn an_entries_request_has_the_pinned_bytes() {
    let req = Request::Entries {
        origin: "gulou".into(),
        from: 5,
        limit: 100,
    };
    let bytes = req.encode().unwrap();
    assert_eq!(hex::encode(&bytes), ENTRIES_REQUEST_HEX);
    assert_eq!(bytes.len(), 1 + 4 + 8 + 5 + 8 + 4);
    assert_eq!(Request::decode(&bytes), Ok(req));
}

fn filing_key() -> rongxin_protocol::record::RecordKey {
    rongxin_protocol::record::RecordKey {
        kind: "CF".into(),
        jurisdiction: "350102".into(),
        authority_code: "A".into(),
        record_no: "1".into(),
    }
}

fn key_layout(l: Layout) -> Layout {
    l.str("CF").str("350102").str("A").str("1")
}

#[test]
fn other_messages_match_the_protocol_doc_layout() {
    let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (
            Request::Status.encode().unwrap(),
            Layout::default().u8(1).u32(0).0,
        ),
        (
            Request::Consistency {
                origin: "ftz".into(),
                old_size: 3,
                new_size: 9,
            }
            .encode()
            .unwrap(),
            Layout::default().u8(1).u32(2).str("ftz").u64(3).u64(9).0,
        ),
        (
            Request::Roster { have_version: 7 }.encode().unwrap(),
            Layout::default().u8(1).u32(3).u64(7).0,
        ),
        (
            Response::Status {
                roster_version: 2,
                checkpoints: vec!["a\n".into(), "bc\n".into()],
            }
            .encode()
            .unwrap(),
            Layout::default()
                .u8(1)
                .u32(0)
                .u64(2)
                .u64(2)
                .str("a\n")
                .str("bc\n")
                .0,
        ),
        (
            Response::Roster { note: None }.encode().unwrap(),
            Layout::default().u8(1).u32(3).u8(0).0,
        ),
        (
            Response::Roster {
                note: Some("n\n".into()),
            }
            .encode()
            .unwrap(),
            Layout::default().u8(1).u32(3).u8(1).str("n\n").0,
        ),
        (
            Response::Consistency {
                proof: vec![[0xaa; 32]],
            }
            .encode()
            .unwrap(),
            Layout::default().u8(1).u32(2).u64(1).raw(&[0xaa; 32]).0,
        ),
        (
            Response::Error {
                message: "busy".into(),
            }
            .encode()
            .unwrap(),
            Layout::default().u8(1).u32(4).str("busy").0,
        ),
        (
            Response::Registered { seq: 12 }.encode().unwrap(),
            Layout::default().u8(1).u32(5).u64(12).0,
        ),
        (
            Response::NotRegistered {
                reason: "no".into(),
            }
            .encode()
            .unwrap(),
            Layout::default().u8(1).u32(6).str("no").0,
        ),
        (
            Request::View.encode().unwrap(),
            Layout::default().u8(1).u32(6).0,
        ),
        (
            Response::View {
                reports: vec!["v\n".into()],
            }
            .encode()
            .unwrap(),
            Layout::default().u8(1).u32(7).u64(1).str("v\n").0,
        ),
        (
            Request::Tallies {
                since: "2026-12-01".into(),
            }
            .encode()
            .unwrap(),
            Layout::default().u8(1).u32(7).str("2026-12-01").0,
        ),
        (
            Response::Tallies { days: vec![] }.encode().unwrap(),
            Layout::default().u8(1).u32(8).u64(0).0,
        ),
        (
            Request::FileObjection(ObjectionFiling {
                id: "o1".into(),
                key: filing_key(),
                seq: 3,
                ground: ObjectionGround::Duplicate,
                statement: "s".into(),
                received_by: "taijiang".into(),
                received_on: "2026-12-04".parse().unwrap(),
            })
            .encode()
            .unwrap(),
            key_layout(Layout::default().u8(1).u32(4).str("o1"))
                .u64(3)
                .u32(2)
                .str("s")
                .str("taijiang")
                .raw(&2026u16.to_be_bytes())
                .raw(&[12, 4])
                .0,
        ),
        (
            Request::FileRepair(RepairFiling {
                id: "r1".into(),
                key: filing_key(),
                seq: 3,
                statement: "s".into(),
                commitment: "c".into(),
                received_by: "taijiang".into(),
                received_on: "2026-12-04".parse().unwrap(),
            })
            .encode()
            .unwrap(),
            key_layout(Layout::default().u8(1).u32(5).str("r1"))
                .u64(3)
                .str("s")
                .str("c")
                .str("taijiang")
                .raw(&2026u16.to_be_bytes())
                .raw(&[12, 4])
                .0,
        ),
    ];
    for (got, want) in cases {
        assert_eq!(hex::encode(got), hex::encode(want));
    }
}

#[test]
fn entries_travel_as_their_exact_signed_bytes() {
    let log = gulou_log();
    let first = &log.entries[0];
    let resp = Response::Entries {
        origin: "gulou".into(),
        from: 0,
        entries: vec![first.clone()],
    };
    let want = Layout::default()
        .u8(1)
        .u32(1)
        .str("gulou")
        .u64(0)
        .u64(1) // one entry
        .u64(first.bytes.len() as u64)
        .raw(&first.bytes)
        .raw(&first.signature); // [u8; 64]: no length
    assert_eq!(resp.encode().unwrap(), want.0);

    let resp = Response::Entries {
        origin: "gulou".into(),
        from: 0,
        entries: log.entries.clone(),
    };
    let Response::Entries { entries, .. } = Response::decode(&resp.encode().unwrap()).unwrap()
    else {
        panic!("not entries");
    };
    assert_eq!(entries, log.entries);
    let vk = key(GULOU_SEED).public().clone();
    assert_eq!(
        rongxin_protocol::entry::verify_batch(&entries, &vk)
            .unwrap()
            .len(),
        10
    );
}

#[test]
fn every_message_round_trips() {
    let log = gulou_log();
    let requests = [
        Request::Status,
        Request::Entries {
            origin: "gulou".into(),
            from: u64::MAX,
            limit: MAX_BATCH_ENTRIES,
        },
        Request::Entries {
            origin: "ftz".into(),
            from: 0,
            limit: 1,
        },
        Request::Consistency {
            origin: "city".into(),
            old_size: 4,
            new_size: 10,
        },
        Request::Consistency {
            origin: "city".into(),
            old_size: 10,
            new_size: 10,
        },
        Request::Roster { have_version: 0 },
    ];
    for r in requests {
        assert_eq!(Request::decode(&r.encode().unwrap()), Ok(r));
    }
    let responses = [
        Response::Status {
            roster_version: 1,
            checkpoints: vec![log.checkpoint.note.clone()],
        },
        Response::Status {
            roster_version: 0,
            checkpoints: vec![],
        },
        Response::Entries {
            origin: "gulou".into(),
            from: 3,
            entries: log.entries[3..].to_vec(),
        },
        Response::Entries {
            origin: "gulou".into(),
            from: 10,
            entries: vec![],
        },
        Response::Consistency {
            proof: consistency_proof(4, 10, &log.hashes).unwrap(),
        },
        Response::Roster {
            note: Some(signed_roster().note),
        },
        Response::Roster { note: None },
        Response::Error {
            message: "未知的日志 origin 'minhou'".into(),
        },
    ];
    for r in responses {
        assert_eq!(Response::decode(&r.encode().unwrap()), Ok(r));
    }
}

#[test]
fn another_wire_version_is_refused() {
    let good = Request::Status.encode().unwrap();
    for v in [0u8, 2, 0x7f, 0xff] {
        let mut bad = good.clone();
        bad[0] = v;
        assert_eq!(Request::decode(&bad), Err(WireError::Version(v)));
        assert_eq!(Response::decode(&bad), Err(WireError::Version(v)));
        assert!(WireError::Version(v).to_string().contains("version 1"));
    }
    assert_eq!(WIRE_VERSION, 1);
    assert_eq!(Request::decode(&[]), Err(WireError::Empty));
    assert_eq!(Response::decode(&[]), Err(WireError::Empty));
}

#[test]
fn a_batch_limit_outside_1_to_1024_is_refused() {
    for limit in [0, MAX_BATCH_ENTRIES + 1, u32::MAX] {
        let bytes = Request::Entries {
            origin: "gulou".into(),
            from: 0,
            limit,
        }
        .encode()
        .unwrap();
        let err = Request::decode(&bytes).unwrap_err();
        assert!(
            matches!(&err, WireError::Bounds(m) if m.contains(&format!("limit {limit}"))),
            "{err}"
        );
    }
}

#[test]
fn a_consistency_request_from_a_larger_to_a_smaller_tree_is_refused() {
    let bytes = Request::Consistency {
        origin: "gulou".into(),
        old_size: 11,
        new_size: 10,
    }
    .encode()
    .unwrap();
    let err = Request::decode(&bytes).unwrap_err();
    assert!(
        matches!(&err, WireError::Bounds(m) if m.contains("old_size 11") && m.contains("new_size 10")),
        "{err}"
    );
}

#[test]
fn an_answer_with_more_than_1024_entries_is_refused() {
    let one = SignedEntry {
        bytes: b"x".to_vec(),
        signature: [1; 64],
    };
    let answer = |n: usize| Response::Entries {
        origin: "gulou".into(),
        from: 0,
        entries: vec![one.clone(); n],
    };
    let full = answer(MAX_BATCH_ENTRIES as usize);
    assert_eq!(Response::decode(&full.encode().unwrap()), Ok(full));
    let err =
        Response::decode(&answer(MAX_BATCH_ENTRIES as usize + 1).encode().unwrap()).unwrap_err();
    assert!(
        matches!(&err, WireError::Bounds(m) if m.contains("1025 entries")),
        "{err}"
    );
}

#[test]
fn a_view_answer_with_too_many_or_too_large_views_is_refused() {
    use rongxin_protocol::view::MAX_VIEW_BYTES;
    use rongxin_protocol::wire::MAX_VIEW_REPORTS;
    let answer = |n: usize, len: usize| Response::View {
        reports: vec!["v".repeat(len); n],
    };
    let full = answer(MAX_VIEW_REPORTS, 1);
    assert_eq!(Response::decode(&full.encode().unwrap()), Ok(full));
    let big = answer(1, MAX_VIEW_BYTES);
    assert_eq!(Response::decode(&big.encode().unwrap()), Ok(big));
    for bad in [
        answer(MAX_VIEW_REPORTS + 1, 1),
        answer(1, MAX_VIEW_BYTES + 1),
    ] {
        let err = Response::decode(&bad.encode().unwrap()).unwrap_err();
        assert!(matches!(err, WireError::Bounds(_)), "{err}");
    }
}

#[test]
fn oversize_messages_are_refused_both_ways() {
    let mut huge = vec![WIRE_VERSION];
    huge.resize(MAX_MESSAGE_BYTES + 1, 0);
    assert_eq!(
        Request::decode(&huge),
        Err(WireError::TooLarge(MAX_MESSAGE_BYTES + 1))
    );
    assert_eq!(
        Response::decode(&huge),
        Err(WireError::TooLarge(MAX_MESSAGE_BYTES + 1))
    );
    let too_long = Response::Error {
        message: "x".repeat(MAX_MESSAGE_BYTES),
    };
    assert!(matches!(too_long.encode(), Err(WireError::TooLarge(n)) if n > MAX_MESSAGE_BYTES));
    // The largest message that fits is accepted: 1 + 4 + 8 header bytes.
    let fits = Response::Error {
        message: "x".repeat(MAX_MESSAGE_BYTES - 13),
    };
    let bytes = fits.encode().unwrap();
    assert_eq!(bytes.len(), MAX_MESSAGE_BYTES);
    assert_eq!(Response::decode(&bytes), Ok(fits));
}

#[test]
fn trailing_truncated_and_lying_messages_are_refused() {
    let good = Request::Entries {
        origin: "gulou".into(),
        from: 5,
        limit: 100,
    }
    .encode()
    .unwrap();
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(
        Request::decode(&trailing),
        Err(WireError::Decode("1 trailing bytes".into()))
    );
    for n in 1..good.len() {
        assert!(
            matches!(Request::decode(&good[..n]), Err(WireError::Decode(_))),
            "cut at {n}"
        );
    }
    // Claimed lengths far beyond the message are refused without allocating.
    let lying = Layout::default()
        .u8(1)
        .u32(1)
        .str("gulou")
        .u64(0)
        .u64(1 << 40)
        .0;
    assert!(matches!(
        Response::decode(&lying),
        Err(WireError::Decode(_))
    ));
    let lying = Layout::default().u8(1).u32(1).u64(u64::MAX).0;
    assert!(matches!(Request::decode(&lying), Err(WireError::Decode(_))));
    // Unknown variants.
    for v in [4u32, 5, u32::MAX] {
        let bad = Layout::default().u8(1).u32(v).u64(0).0;
        assert!(
            matches!(Request::decode(&bad), Err(WireError::Decode(_))),
            "{v}"
        );
    }
    let bad = Layout::default().u8(1).u32(5).0;
    assert!(matches!(Response::decode(&bad), Err(WireError::Decode(_))));
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::Status),
        ("\\PC{0,20}", any::<u64>(), 1..=MAX_BATCH_ENTRIES).prop_map(|(origin, from, limit)| {
            Request::Entries {
                origin,
                from,
                limit,
            }
        }),
        ("\\PC{0,20}", any::<u64>(), any::<u64>()).prop_map(|(origin, a, b)| {
            Request::Consistency {
                origin,
                old_size: a.min(b),
                new_size: a.max(b),
            }
        }),
        any::<u64>().prop_map(|have_version| Request::Roster { have_version }),
        Just(Request::View),
        "\\PC{0,12}".prop_map(|since| Request::Tallies { since }),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        (any::<u64>(), prop::collection::vec("\\PC{0,40}", 0..5)).prop_map(
            |(roster_version, checkpoints)| Response::Status {
                roster_version,
                checkpoints
            }
        ),
        (
            "[a-z]{2,8}",
            any::<u64>(),
            prop::collection::vec(
                (prop::collection::vec(any::<u8>(), 0..64), any::<[u8; 32]>()),
                0..5
            )
        )
            .prop_map(|(origin, from, raw)| Response::Entries {
                origin,
                from,
                entries: raw
                    .into_iter()
                    .map(|(bytes, half)| SignedEntry {
                        bytes,
                        signature: [half, half].concat().try_into().unwrap(),
                    })
                    .collect(),
            }),
        prop::collection::vec(any::<[u8; 32]>(), 0..8)
            .prop_map(|proof| Response::Consistency { proof }),
        prop::option::of("\\PC{0,40}").prop_map(|note| Response::Roster { note }),
        "\\PC{0,40}".prop_map(|message| Response::Error { message }),
        prop::collection::vec("\\PC{0,40}", 0..5).prop_map(|reports| Response::View { reports }),
        prop::collection::vec(("\\PC{0,12}", "\\PC{0,20}", any::<u64>()), 0..4).prop_map(|rows| {
            Response::Tallies {
                days: rows
                    .into_iter()
                    .map(
                        |(day, department, submitted)| rongxin_protocol::tally::DayTally {
                            day,
                            department,
                            tally: rongxin_protocol::tally::Tally {
                                submitted,
                                ..Default::default()
                            },
                        },
                    )
                    .collect(),
            }
        }),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes);
        let versioned = [&[WIRE_VERSION][..], &bytes].concat();
        let _ = Request::decode(&versioned);
        let _ = Response::decode(&versioned);
    }

    #[test]
    fn requests_round_trip(r in request()) {
        prop_assert_eq!(Request::decode(&r.encode().unwrap()), Ok(r));
    }

    #[test]
    fn responses_round_trip(r in response()) {
        prop_assert_eq!(Response::decode(&r.encode().unwrap()), Ok(r));
    }

    #[test]
    fn mutated_messages_never_panic(
        r in response(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = r.encode().unwrap();
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        let _ = Response::decode(&bytes);
        let _ = Request::decode(&bytes);
    }
}
