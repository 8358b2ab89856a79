//! The log engine (`protocol::log`): every rule of docs/protocol.md §3.3
//! that `LogHead::extend` applies refuses what it should, naming the rule
//! and the seq, and leaves the head as it was; any chunking of a valid log
//! reaches the same head and hashes as one extend; `close` accepts exactly
//! the checkpoint of the entries.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use proptest::prelude::*;
use rongxin_protocol::checkpoint::Checkpoint;
use rongxin_protocol::entry::{Entry, Op};
use rongxin_protocol::log::{CloseError, ExtendError, LogHead, Rules, next_state};
use rongxin_protocol::merkle::{self, Hash, Suite};

/// A valid gulou log of `n` entries: Puts of distinct penalties, with a
/// revocation of the first every 7th entry after it. Entries and bytes.
fn log(n: u64, suite: Suite) -> Vec<(Entry, Vec<u8>)> {
    let mut out = Vec::new();
    let mut prev: Hash = [0; 32];
    for seq in 0..n {
        let op = if seq > 0 && seq % 7 == 0 {
            revoke(cf_record(&record_no(0)).key(), "复议决定撤销")
        } else {
            Op::Put(cf_record(&record_no(seq)))
        };
        let e = entry("gulou", seq, prev, op);
        let bytes = e.to_bytes(suite).expect("encodes");
        prev = merkle::leaf_hash(suite, &bytes);
        out.push((e, bytes));
    }
    out
}

fn extend_all(
    head: &mut LogHead,
    rules: &Rules<'_>,
    entries: &[(Entry, Vec<u8>)],
) -> Result<Vec<(u64, Hash)>, ExtendError> {
    head.extend(rules, entries.iter().map(|(e, b)| (e, b.as_slice())))
        .map(|x| x.hashes)
}

/// What breaking one entry does.
#[derive(Debug, Clone, Copy)]
enum Break {
    Seq,
    Origin,
    Chain,
    Owner,
    Record,
}

fn broken(entries: &mut [(Entry, Vec<u8>)], at: usize, how: Break, suite: Suite) {
    let e = &mut entries[at].0;
    match how {
        Break::Seq => e.seq += 1,
        Break::Origin => e.origin = "ftz".into(),
        Break::Chain => e.prev_hash[0] ^= 1,
        Break::Owner => {
            let mut r = cf_record(&record_no(1000));
            r.jurisdiction = "ftz-fuzhou".into();
            e.op = Op::Put(r);
        }
        Break::Record => {
            let mut r = cf_record(&record_no(1001));
            r.subject.code = "91350102MA2XK7T38Y".into();
            e.op = Op::Put(r);
        }
    }
    entries[at].1 = entries[at].0.to_bytes(suite).expect("encodes");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Any chunking of a valid log gives the head and the hashes of one extend.
    #[test]
    fn chunkings_agree(
        n in 1u64..90,
        cuts in proptest::collection::vec(0usize..90, 0..6),
        sm2 in any::<bool>(),
    ) {
        let suite = if sm2 { Suite::Sm2Sm3 } else { SUITE };
        let (roster, catalog) = (roster(), catalog());
        let rules = Rules { origin: "gulou", roster: &roster, catalog: &catalog };
        let entries = log(n, suite);
        let mut whole = LogHead::empty(suite);
        let all = extend_all(&mut whole, &rules, &entries).expect("a valid log extends");
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (n as usize + 1)).collect();
        cuts.push(0);
        cuts.push(n as usize);
        cuts.sort_unstable();
        let mut parts = LogHead::empty(suite);
        let mut hashes = Vec::new();
        for w in cuts.windows(2) {
            hashes.extend(extend_all(&mut parts, &rules, &entries[w[0]..w[1]]).expect("extends"));
        }
        prop_assert_eq!(&parts, &whole);
        prop_assert_eq!(hashes, all);
        let leaves: Vec<Hash> = entries.iter().map(|(_, b)| merkle::leaf_hash(suite, b)).collect();
        prop_assert_eq!(whole.root(), merkle::root_of(suite, &leaves));
        prop_assert_eq!(whole.suite(), suite);
        prop_assert_eq!(whole.last_leaf(), *leaves.last().expect("n >= 1"));
    }

    /// Every rule refuses a batch holding one broken entry, names it, and
    /// leaves the head where it was.
    #[test]
    fn a_broken_entry_refuses_the_batch(
        n in 2u64..40,
        at in 0usize..40,
        how in prop_oneof![
            Just(Break::Seq), Just(Break::Origin), Just(Break::Chain),
            Just(Break::Owner), Just(Break::Record),
        ],
        sm2 in any::<bool>(),
    ) {
        let suite = if sm2 { Suite::Sm2Sm3 } else { SUITE };
        let (roster, catalog) = (roster(), catalog());
        let rules = Rules { origin: "gulou", roster: &roster, catalog: &catalog };
        let mut entries = log(n, suite);
        let at = at % n as usize;
        // A valid prefix first, so the head is not the empty one.
        let mut head = LogHead::empty(suite);
        extend_all(&mut head, &rules, &entries[..1]).expect("the first entry extends");
        let at = at.max(1);
        if at >= entries.len() { return Ok(()); }
        broken(&mut entries, at, how, suite);
        let before = head.clone();
        let err = extend_all(&mut head, &rules, &entries[1..]).expect_err("refused");
        prop_assert_eq!(&head, &before, "the head is unchanged");
        prop_assert_eq!((head.size(), head.root()), (1, before.root()));
        prop_assert_eq!(err.seq(), Some(at as u64), "{}", err);
        let rule = match (how, &err) {
            (Break::Seq, ExtendError::Position { .. }) => Some(3),
            (Break::Origin, ExtendError::Origin { .. }) => Some(3),
            // A changed entry changes the leaf hash the next one chains to,
            // but the broken one is refused first, for what it broke.
            (Break::Chain, ExtendError::Fork { .. }) => Some(4),
            (Break::Owner, ExtendError::NotOwner { .. }) => Some(5),
            // The catalog's problems stay typed, naming the field.
            (Break::Record, ExtendError::InvalidRecord { errors, .. })
                if errors.iter().any(|e| e.field == "subject.code") => Some(6),
            _ => None,
        };
        prop_assert!(rule.is_some(), "{:?} gave {}", how, err);
        // The message names the rule, the log and the entry.
        let msg = err.to_string();
        prop_assert!(
            msg.contains(&format!("rule {}", rule.unwrap_or(0)))
                && msg.contains("gulou")
                && msg.contains(&at.to_string()),
            "{}", msg
        );
    }
}

/// `close` takes the checkpoint of the entries (the empty log's too), and
/// refuses one of another size or root, in both suites.
#[test]
fn close_checks_size_and_root() {
    let (roster, catalog) = (roster(), catalog());
    let rules = Rules {
        origin: "gulou",
        roster: &roster,
        catalog: &catalog,
    };
    let cp = |size, root| Checkpoint {
        origin: "rongxin.fuzhou/gulou".into(),
        size,
        root,
    };
    for suite in [Suite::Ed25519Sha256, Suite::Sm2Sm3] {
        let mut head = LogHead::empty(suite);
        assert_eq!(head.close(&cp(0, merkle::root_of(suite, &[]))), Ok(()));
        extend_all(&mut head, &rules, &log(10, suite)).expect("extends");
        assert_eq!(head.close(&cp(10, head.root())), Ok(()));
        assert!(matches!(
            head.close(&cp(9, head.root())),
            Err(CloseError::Size {
                head: 10,
                checkpoint: 9
            })
        ));
        let mut other = head.root();
        other[5] ^= 1;
        assert!(matches!(
            head.close(&cp(10, other)),
            Err(CloseError::RootMismatch { size: 10, .. })
        ));
    }
}

/// A head loaded from stored hashes continues exactly as the one in memory.
#[test]
fn a_loaded_head_continues_like_the_one_in_memory() {
    let (roster, catalog) = (roster(), catalog());
    let rules = Rules {
        origin: "gulou",
        roster: &roster,
        catalog: &catalog,
    };
    let entries = log(40, SUITE);
    let mut mem = LogHead::empty(SUITE);
    let mut stored = merkle::MemoryHashes::new(SUITE);
    for (_, b) in &entries[..25] {
        stored.push_leaf(merkle::leaf_hash(SUITE, b)).expect("push");
    }
    extend_all(&mut mem, &rules, &entries[..25]).expect("extends");
    let mut loaded = LogHead::load(25, mem.last_leaf(), &stored).expect("loads");
    assert_eq!(loaded, mem);
    extend_all(&mut loaded, &rules, &entries[25..]).expect("extends");
    extend_all(&mut mem, &rules, &entries[25..]).expect("extends");
    assert_eq!(loaded, mem);
}

/// Record states follow the ops: versions count Puts, a revocation keeps
/// the version, objections open and close.
#[test]
fn record_states_follow_the_ops() {
    let entries = log(8, SUITE);
    let mut state = None;
    for (e, _) in entries
        .iter()
        .filter(|(e, _)| e.record_key() == Some(cf_record(&record_no(0)).key()))
    {
        state = next_state(state, e);
    }
    let s = state.expect("a state");
    assert_eq!(s.version, 1);
    assert_eq!(s.put_seq, 0);
    assert_eq!(s.revoked.map(|r| r.seq), Some(7));
}
