//! Cutting one origin's next batch: as many consecutive entries as fit both
//! the entry count and the byte budget, measured as the exact bytes of the
//! request body that will be sent (the province's body limit counts those).
//!
//! Entries are read from the store in small chunks so that a batch never
//! holds much more in memory than its budget, whatever the entry count.

use rongxin_protocol::entry::SignedEntry;
use rongxin_protocol::forward::{ForwardEntry, ForwardRequest, request_len};

/// Entries read from the store at a time while cutting.
const READ_CHUNK: u64 = 64;

/// What to send next for one origin.
#[derive(Debug)]
pub(super) enum Cut {
    /// A request ready to send.
    Batch(Batch),
    /// The first entry alone makes a request over `hard_limit`: no request
    /// this forwarder may send can carry it.
    TooLarge {
        /// Its seq.
        seq: u64,
        /// Its signed bytes.
        entry_bytes: usize,
        /// The request that would carry it alone.
        request_bytes: usize,
    },
}

/// One request body, cut.
#[derive(Debug)]
pub(super) struct Batch {
    /// The exact JSON body (taken when sent).
    pub body: Vec<u8>,
    /// Its length.
    pub len: usize,
    /// Seq of its first entry.
    pub first: u64,
    /// Entries in it.
    pub count: usize,
    /// Signed bytes of its first entry.
    pub first_entry_bytes: usize,
}

/// Limits of one cut.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Most entries.
    pub entries: u64,
    /// Body bytes to aim for: the configured budget, or less when the
    /// province showed with a 413 that its limit is lower.
    pub soft: usize,
    /// Body bytes never to exceed: `forward.max_batch_bytes`. A first
    /// entry over `soft` but within this goes alone, to find out whether
    /// the province takes it.
    pub hard: usize,
}

/// Cuts the batch of `request`'s origin starting at `from`, reading entries
/// with `fetch(from, limit)`. `None` when there is nothing to send.
pub(super) fn cut<E: From<serde_json::Error>>(
    mut request: ForwardRequest,
    from: u64,
    limits: Limits,
    mut fetch: impl FnMut(u64, u64) -> Result<Vec<SignedEntry>, E>,
) -> Result<Option<Cut>, E> {
    let envelope = request.envelope_len();
    let mut items: Vec<ForwardEntry> = Vec::new();
    let mut total = envelope;
    let mut first_entry_bytes = 0;
    'read: while (items.len() as u64) < limits.entries {
        let next = from + items.len() as u64;
        let want = (limits.entries - items.len() as u64).min(READ_CHUNK);
        let chunk = fetch(next, want)?;
        if chunk.is_empty() {
            break;
        }
        let got = chunk.len() as u64;
        for (seq, signed) in (next..).zip(&chunk) {
            let item = ForwardEntry::new(seq, signed);
            // A comma joins each item to the one before.
            let with = total + usize::from(!items.is_empty()) + item.encoded_len();
            if items.is_empty() {
                if with > limits.hard {
                    return Ok(Some(Cut::TooLarge {
                        seq,
                        entry_bytes: signed.bytes.len(),
                        request_bytes: with,
                    }));
                }
                first_entry_bytes = signed.bytes.len();
            } else if with > limits.soft {
                break 'read;
            }
            total = with;
            items.push(item);
        }
        if got < want {
            break;
        }
    }
    if items.is_empty() {
        return Ok(None);
    }
    let count = items.len();
    request.entries = items;
    let body = serde_json::to_vec(&request)?;
    debug_assert_eq!(
        body.len(),
        request_len(
            envelope,
            request.entries.iter().map(ForwardEntry::encoded_len)
        ),
        "the predicted body size is exact"
    );
    debug_assert_eq!(body.len(), total);
    Ok(Some(Cut::Batch(Batch {
        len: body.len(),
        body,
        first: from,
        count,
        first_entry_bytes,
    })))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use rongxin_protocol::forward::item_len;

    use super::*;

    fn log(sizes: &[usize]) -> Vec<SignedEntry> {
        sizes
            .iter()
            .map(|&n| SignedEntry {
                bytes: vec![0xA5; n],
                signature: [1; 64],
            })
            .collect()
    }

    fn run(entries: &[SignedEntry], from: u64, limits: Limits) -> Option<Cut> {
        let request = ForwardRequest::new("city", "gulou", "gulou\n3\nroot=\n", Vec::new());
        cut(request, from, limits, |f, n| {
            Ok::<_, serde_json::Error>(
                entries
                    .iter()
                    .skip(f as usize)
                    .take(n as usize)
                    .cloned()
                    .collect(),
            )
        })
        .unwrap()
    }

    fn batch(c: Option<Cut>) -> Batch {
        match c {
            Some(Cut::Batch(b)) => b,
            other => panic!("expected a batch, got {other:?}"),
        }
    }

    #[test]
    fn cuts_at_the_byte_budget_with_the_exact_body_size() {
        let entries = log(&[1000; 300]);
        let envelope =
            ForwardRequest::new("city", "gulou", "gulou\n3\nroot=\n", Vec::new()).envelope_len();
        let item = item_len(0, 1000);
        // Room for exactly 10 items (seqs 0..10 have one digit).
        let budget = envelope + 10 * item + 9;
        let b = batch(run(
            &entries,
            0,
            Limits {
                entries: 500,
                soft: budget,
                hard: budget,
            },
        ));
        assert_eq!((b.first, b.count, b.body.len()), (0, 10, budget));
        // One byte less: nine.
        let b = batch(run(
            &entries,
            0,
            Limits {
                entries: 500,
                soft: budget - 1,
                hard: budget - 1,
            },
        ));
        assert_eq!(b.count, 9);
        assert!(b.body.len() < budget);
        // The count limit still applies, across read chunks.
        let b = batch(run(
            &entries,
            5,
            Limits {
                entries: 200,
                soft: usize::MAX,
                hard: usize::MAX,
            },
        ));
        assert_eq!((b.first, b.count), (5, 200));
        let req: ForwardRequest = serde_json::from_slice(&b.body).unwrap();
        assert_eq!(req.entries.first().unwrap().seq, 5);
        assert_eq!(req.entries.last().unwrap().seq, 204);
        // The end of the log ends the batch.
        let b = batch(run(
            &entries,
            250,
            Limits {
                entries: 500,
                soft: usize::MAX,
                hard: usize::MAX,
            },
        ));
        assert_eq!(b.count, 50);
        assert!(
            run(
                &entries,
                300,
                Limits {
                    entries: 500,
                    soft: 1 << 20,
                    hard: 1 << 20
                }
            )
            .is_none()
        );
    }

    #[test]
    fn a_first_entry_over_the_soft_budget_goes_alone_and_over_the_hard_one_is_too_large() {
        let entries = log(&[5000, 10, 10]);
        let envelope =
            ForwardRequest::new("city", "gulou", "gulou\n3\nroot=\n", Vec::new()).envelope_len();
        let alone = envelope + item_len(0, 5000);
        let b = batch(run(
            &entries,
            0,
            Limits {
                entries: 500,
                soft: 100,
                hard: alone,
            },
        ));
        assert_eq!(
            (b.count, b.first_entry_bytes, b.body.len()),
            (1, 5000, alone)
        );
        match run(
            &entries,
            0,
            Limits {
                entries: 500,
                soft: 100,
                hard: alone - 1,
            },
        ) {
            Some(Cut::TooLarge {
                seq: 0,
                entry_bytes: 5000,
                request_bytes,
            }) => assert_eq!(request_bytes, alone),
            other => panic!("expected too large, got {other:?}"),
        }
    }
}
