//! What several nodes hold of each origin's log, and waiting until they agree.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::fednode::FedNode;

/// One node's copy of one origin's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Entries.
    pub size: u64,
    /// Base64 Merkle root.
    pub root: String,
}

/// Every origin a node holds, from `/v1/admin/status` (`None` if the node
/// does not answer).
pub fn held(node: &FedNode) -> Option<BTreeMap<String, Held>> {
    let r = node
        .client()
        .try_get("/v1/admin/status", Some(node.client().ops_token()))
        .ok()?;
    if r.status != 200 {
        return None;
    }
    let s = r.json();
    Some(
        s["origins"]
            .as_array()?
            .iter()
            .filter_map(|o| {
                Some((
                    o["origin"].as_str()?.to_owned(),
                    Held {
                        size: o["size"].as_u64()?,
                        root: o["root"].as_str()?.to_owned(),
                    },
                ))
            })
            .collect(),
    )
}

/// `node`'s copy of `origin` (size 0 and empty root if it holds none).
pub fn held_of(node: &FedNode, origin: &str) -> Held {
    held(node)
        .and_then(|h| h.get(origin).cloned())
        .unwrap_or(Held {
            size: 0,
            root: String::new(),
        })
}

/// The signed checkpoint note `node` serves for `origin`, if any.
pub fn checkpoint(node: &FedNode, origin: &str) -> Option<String> {
    let r = node
        .client()
        .try_get(&format!("/v1/logs/{origin}/checkpoint"), None)
        .ok()?;
    (r.status == 200).then_some(r.body)
}

/// Polls until every node holds every origin of `origins` with the same
/// size and root, that size is `expected[origin]` where given (else at
/// least 1), and every node serves the same signed checkpoint note for it.
/// Panics after `timeout` with what each node holds. Returns the agreed heads.
pub fn wait_converged(
    nodes: &[&FedNode],
    origins: &[&str],
    expected: &BTreeMap<String, u64>,
    timeout: Duration,
) -> BTreeMap<String, Held> {
    let deadline = Instant::now() + timeout;
    loop {
        let views: Vec<Option<BTreeMap<String, Held>>> = nodes.iter().map(|n| held(n)).collect();
        if let Some(agreed) = agreement(nodes, &views, origins, expected) {
            return agreed;
        }
        if Instant::now() > deadline {
            let mut report = String::new();
            for (n, v) in nodes.iter().zip(&views) {
                let _ = write!(report, "\n  {}:", n.member());
                for o in origins {
                    let h = v.as_ref().and_then(|v| v.get(*o));
                    let _ = write!(
                        report,
                        " {o}={}",
                        h.map_or("-".to_owned(), |h| format!("{}/{}", h.size, &h.root[..8]))
                    );
                }
            }
            panic!(
                "nodes did not converge within {timeout:?} (expected sizes {expected:?}):{report}"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn agreement(
    nodes: &[&FedNode],
    views: &[Option<BTreeMap<String, Held>>],
    origins: &[&str],
    expected: &BTreeMap<String, u64>,
) -> Option<BTreeMap<String, Held>> {
    let mut agreed = BTreeMap::new();
    for o in origins {
        let first = views.first()?.as_ref()?.get(*o)?.clone();
        match expected.get(*o) {
            Some(&n) if first.size != n => return None,
            None if first.size == 0 => return None,
            _ => {}
        }
        for v in views {
            if v.as_ref()?.get(*o)? != &first {
                return None;
            }
        }
        let note = checkpoint(nodes[0], o)?;
        for n in &nodes[1..] {
            if checkpoint(n, o)? != note {
                return None;
            }
        }
        agreed.insert((*o).to_owned(), first);
    }
    Some(agreed)
}

/// The own log sizes of `nodes`, by member: what convergence must reach.
pub fn own_sizes(nodes: &[&FedNode]) -> BTreeMap<String, u64> {
    nodes
        .iter()
        .map(|n| (n.member().to_owned(), n.own_log().size))
        .collect()
}
