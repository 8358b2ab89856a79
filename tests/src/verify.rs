//! Verifies a whole log end to end, as an auditor would, trusting nothing
//! the node says: every signature against the roster's key for the origin,
//! seq contiguity from 0, the `prev_hash` chain, ownership of each record's
//! jurisdiction, catalog validity of each Put, and the Merkle root recomputed
//! from the leaves against the signed checkpoint. Also checks consistency
//! proofs between two checkpoints.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rongxin_protocol::catalog::Catalog;
use rongxin_protocol::checkpoint::{Checkpoint, SignedCheckpoint};
use rongxin_protocol::entry::{Entry, Op, SignedEntry};
use rongxin_protocol::merkle::{self, Hash};
use rongxin_protocol::record::Record;
use rongxin_protocol::roster::{KeyStarts, Roster};
use rongxin_protocol::suite::Suite;

use crate::client::Client;

/// A log that verified.
#[derive(Debug, Clone)]
pub struct VerifiedLog {
    /// Member id of the origin.
    pub origin: String,
    /// The checkpoint the log was verified against.
    pub checkpoint: Checkpoint,
    /// The signed checkpoint note.
    pub note: String,
    /// The decoded entries, by seq.
    pub entries: Vec<Entry>,
}

impl VerifiedLog {
    /// The record put at `seq`, if that entry is a Put.
    pub fn put_at(&self, seq: u64) -> Option<&Record> {
        match self.entries.get(usize::try_from(seq).ok()?).map(|e| &e.op) {
            Some(Op::Put(r)) => Some(r),
            _ => None,
        }
    }

    /// The key text (`kind/jurisdiction/authority/record_no`) of every Put, by seq.
    pub fn put_keys(&self) -> Vec<(u64, String)> {
        self.entries
            .iter()
            .filter_map(|e| match &e.op {
                Op::Put(r) => Some((e.seq, r.key().to_string())),
                _ => None,
            })
            .collect()
    }
}

/// Opens `origin`'s signed checkpoint note with the roster's key for it.
pub fn open_checkpoint(roster: &Roster, origin: &str, note: &str) -> Result<Checkpoint, String> {
    let size =
        Checkpoint::parse_body(note.split("\n\n").next().unwrap_or_default()).map_or(0, |c| c.size);
    let verifier = roster
        .checkpoint_verifier(origin, size)
        .map_err(|e| format!("no checkpoint key for {origin}: {e}"))?;
    SignedCheckpoint::open(note, &verifier)
        .map(|c| c.checkpoint)
        .map_err(|e| format!("checkpoint of {origin}: {e}"))
}

/// Fetches `origin`'s latest checkpoint and every entry up to its size from
/// the node, and verifies them all (see [`verify_entries`]); the checkpoint
/// is checked with the key its entries give its last position (a key
/// handover among them may have changed it).
pub fn verify_log(
    client: &Client,
    roster: &Roster,
    catalog: &Catalog,
    origin: &str,
) -> Result<VerifiedLog, String> {
    let note = client.checkpoint_note(origin);
    let unverified = Checkpoint::parse_body(note.split("\n\n").next().unwrap_or_default())
        .map_err(|e| format!("checkpoint of {origin}: {e}"))?;
    let entries = client.entries(origin, 0, unverified.size);
    let (entries, starts) = check_entries(roster, catalog, origin, &unverified, &entries)?;
    let (cp, index) = roster
        .open_checkpoint_at(origin, &note, &starts)
        .map_err(|e| format!("checkpoint of {origin}: {e}"))?;
    let want = starts.index_at(unverified.size.saturating_sub(1));
    if index != want {
        return Err(format!(
            "checkpoint of {origin} is signed by key {}, but its entries give position {} to key {}",
            index + 1,
            unverified.size.saturating_sub(1),
            want + 1
        ));
    }
    Ok(VerifiedLog {
        origin: origin.to_owned(),
        checkpoint: cp.checkpoint,
        note,
        entries,
    })
}

/// Verifies that `entries` are exactly `origin`'s log of `checkpoint.size`
/// entries whose Merkle root is `checkpoint.root`.
pub fn verify_entries(
    roster: &Roster,
    catalog: &Catalog,
    origin: &str,
    checkpoint: &Checkpoint,
    entries: &[SignedEntry],
) -> Result<Vec<Entry>, String> {
    check_entries(roster, catalog, origin, checkpoint, entries).map(|(entries, _)| entries)
}

/// [`verify_entries`], also returning where the origin's keys start.
fn check_entries(
    roster: &Roster,
    catalog: &Catalog,
    origin: &str,
    checkpoint: &Checkpoint,
    entries: &[SignedEntry],
) -> Result<(Vec<Entry>, KeyStarts), String> {
    let member = roster
        .member(origin)
        .ok_or_else(|| format!("{origin} is not in the roster"))?;
    if entries.len() as u64 != checkpoint.size {
        return Err(format!(
            "{} entries for a checkpoint of size {}",
            entries.len(),
            checkpoint.size
        ));
    }
    let suite = roster.suite;
    let mut decoded = Vec::with_capacity(entries.len());
    let mut leaves: Vec<Hash> = Vec::with_capacity(entries.len());
    let mut prev = [0u8; 32];
    // Key starts: the roster's, plus those the log's handovers fix.
    let mut starts = member.key_starts();
    for (n, signed) in entries.iter().enumerate() {
        let n = n as u64;
        let key = member
            .key(suite, starts.index_at(n))
            .map_err(|e| e.to_string())?;
        let entry = signed.verify(&key).map_err(|e| format!("entry {n}: {e}"))?;
        if entry.origin != origin {
            return Err(format!("entry {n}: origin is {}", entry.origin));
        }
        if entry.seq != n {
            return Err(format!("entry {n}: seq is {}", entry.seq));
        }
        if entry.prev_hash != prev {
            return Err(format!(
                "entry {n}: prev_hash is not the leaf hash of entry {}",
                n.wrapping_sub(1)
            ));
        }
        if let Op::KeyHandover(h) = &entry.op {
            starts
                .learn(member, n, &h.key)
                .map_err(|e| format!("entry {n}: {e}"))?;
        }
        if let Some(key) = entry.record_key() {
            match roster.owner_of_key(&key) {
                Some(m) if m.id == origin => {}
                other => {
                    return Err(format!(
                        "entry {n}: {origin} does not own {key} (owner: {:?})",
                        other.map(|m| &m.id)
                    ));
                }
            }
        }
        if let Op::Put(r) = &entry.op {
            r.check(catalog).map_err(|e| {
                format!(
                    "entry {n}: record not valid under the catalog: {}",
                    rongxin_protocol::record::describe(&e)
                )
            })?;
        }
        prev = signed.leaf_hash(suite);
        leaves.push(prev);
        decoded.push(entry);
    }
    let root = if leaves.is_empty() {
        merkle::empty_root(suite)
    } else {
        merkle::root_of(suite, &leaves)
    };
    if root != checkpoint.root {
        return Err(format!(
            "Merkle root of the {} leaves is {}, the checkpoint says {}",
            leaves.len(),
            B64.encode(root),
            B64.encode(checkpoint.root)
        ));
    }
    Ok((decoded, starts))
}

/// Fetches the consistency proof from `old` to `new` and verifies it with
/// the hash of `suite` (the federation's).
pub fn verify_consistency(
    suite: Suite,
    client: &Client,
    origin: &str,
    old: &Checkpoint,
    new: &Checkpoint,
) -> Result<(), String> {
    let r = client.get(
        &format!(
            "/v1/logs/{origin}/consistency?from={}&to={}",
            old.size, new.size
        ),
        None,
    );
    if r.status != 200 {
        return Err(format!("consistency answer {}: {}", r.status, r.body));
    }
    let v = r.json();
    let proof: Vec<Hash> = v["proof"]
        .as_array()
        .ok_or("no proof array")?
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(|s| B64.decode(s).ok())
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("proof hash {h} is not base64 of 32 bytes"))
        })
        .collect::<Result<_, _>>()?;
    merkle::verify_consistency(suite, old.size, new.size, &old.root, &new.root, &proof)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federation::Federation;
    use crate::records::Records;
    use rongxin_protocol::note::NoteSigner;

    /// A log of `n` Puts signed with gulou's demo key, and its checkpoint.
    fn log(fed: &Federation, n: u64) -> (Vec<SignedEntry>, Checkpoint) {
        let text = std::fs::read_to_string(fed.dir().join("demo-keys/gulou/signing.key")).unwrap();
        let signer = NoteSigner::parse(text.trim()).unwrap();
        let records = Records::new(fed);
        let mut prev = [0; 32];
        let mut out = Vec::new();
        for seq in 0..n {
            let r = Record::from_json(&records.record("gulou", "CF"), fed.catalog()).unwrap();
            let e = Entry {
                origin: "gulou".into(),
                seq,
                prev_hash: prev,
                time_ms: 1_780_000_000_000,
                op: Op::Put(r),
            }
            .sign(signer.secret())
            .unwrap();
            prev = e.leaf_hash(rongxin_protocol::suite::Suite::Ed25519Sha256);
            out.push(e);
        }
        let leaves: Vec<Hash> = out
            .iter()
            .map(|e| e.leaf_hash(rongxin_protocol::suite::Suite::Ed25519Sha256))
            .collect();
        let cp = Checkpoint {
            origin: "rongxin.fuzhou/gulou".into(),
            size: n,
            root: merkle::root_of(rongxin_protocol::suite::Suite::Ed25519Sha256, &leaves),
        };
        (out, cp)
    }

    #[test]
    fn a_good_log_verifies_and_every_kind_of_damage_is_found() {
        let fed = Federation::new();
        let roster = &fed.roster().roster;
        let catalog = fed.catalog();
        let (entries, cp) = log(&fed, 5);
        verify_entries(roster, catalog, "gulou", &cp, &entries).unwrap();

        let mut swapped = entries.clone();
        swapped.swap(1, 2);
        assert!(verify_entries(roster, catalog, "gulou", &cp, &swapped).is_err());

        let mut flipped = entries.clone();
        let last = flipped[3].bytes.len() - 1;
        flipped[3].bytes[last] ^= 1;
        let e = verify_entries(roster, catalog, "gulou", &cp, &flipped).unwrap_err();
        assert!(e.contains("entry 3"), "{e}");

        let short = &entries[..4];
        assert!(verify_entries(roster, catalog, "gulou", &cp, short).is_err());

        let mut other_root = cp.clone();
        other_root.root[0] ^= 1;
        let e = verify_entries(roster, catalog, "gulou", &other_root, &entries).unwrap_err();
        assert!(e.contains("Merkle root"), "{e}");

        let text = std::fs::read_to_string(fed.dir().join("demo-keys/gulou/signing.key")).unwrap();
        let signer = NoteSigner::parse(text.trim()).unwrap();
        let mut broken = entries.clone();
        let mut e2 = Entry::decode(&broken[2].bytes).unwrap();
        e2.prev_hash = [7; 32];
        broken[2] = e2.sign(signer.secret()).unwrap();
        let e = verify_entries(roster, catalog, "gulou", &cp, &broken).unwrap_err();
        assert!(e.contains("entry 2: prev_hash"), "{e}");

        // Signed by gulou but claimed for taijiang.
        let e = verify_entries(roster, catalog, "taijiang", &cp, &entries).unwrap_err();
        assert!(e.contains("entry 0"), "{e}");
    }
}
