//! City → province forwarding end to end, with real processes over real
//! sockets and disks: district nodes replicate to the city, the city's
//! forwarder posts every entry of every origin over mutual TLS to a real
//! `rongxin-province` process started from `config-examples/province.toml`,
//! and the tests check what the province holds against the city's logs and
//! the roster: every entry exactly once after de-duplication, in order per
//! origin — through province outages, city restarts and crashes mid-batch,
//! late acknowledgements, dropped connections, entries altered in transit
//! and refused client certificates.
//!
//! Each test generates its own federation ([`GenFed`]: keys, roster and
//! replication proxies of its own; members, names and jurisdictions of the
//! example roster, the example catalog), because the example roster lists
//! fixed loopback ports that other runs on the machine may hold. The
//! province trusts that roster and uses the demo certificates.

#![allow(clippy::unwrap_used)]

#[path = "forward/delivery.rs"]
mod delivery;
#[path = "forward/faults.rs"]
mod faults;
#[path = "forward/outage.rs"]
mod outage;
#[path = "forward/size.rs"]
mod size;
#[path = "forward/tls.rs"]
mod tls;

use std::collections::BTreeMap;
use std::time::Duration;

use rongxin_tests::fednode::FedNode;
use rongxin_tests::forwarding::{city_config, own_sizes};
use rongxin_tests::generate::GenFed;
use rongxin_tests::province::{TestProvince, Trust};

/// How long replication and forwarding may take to reach a state a test
/// waits for. Generous: the suite runs on two cores beside others, in debug.
pub const DEADLINE: Duration = Duration::from_secs(90);

/// Records per ingest request.
pub const CHUNK: usize = 200;

/// A generated federation whose city forwards to a province process.
#[derive(Debug)]
pub struct Setup {
    pub fed: GenFed,
    pub province: TestProvince,
    /// The city first, then the other members in the order given.
    pub nodes: Vec<FedNode>,
}

impl Setup {
    /// Generates a federation of `members` (the city first), starts the
    /// province, then every node at once; the city forwards to the province
    /// in batches of `batch`, its config changed by `edit`.
    pub fn start(members: &[&str], batch: u64, edit: impl FnOnce(&mut toml::Table)) -> Setup {
        Setup::start_with(members, batch, &toml::Table::new(), edit)
    }

    /// Like [`Setup::start`], with the keys of `province` added to the
    /// province's config.
    pub fn start_with(
        members: &[&str],
        batch: u64,
        province: &toml::Table,
        edit: impl FnOnce(&mut toml::Table),
    ) -> Setup {
        assert_eq!(members[0], "city");
        let fed = GenFed::builder(members).build();
        let province = TestProvince::start_with(&Trust::of(&fed), province);
        let mut city = city_config(&fed, &province, batch);
        edit(&mut city);
        let mut nodes: Vec<FedNode> = members
            .iter()
            .map(|m| {
                let config = if *m == "city" {
                    city.clone()
                } else {
                    fed.config(m)
                };
                fed.node_with(m, config)
            })
            .collect();
        FedNode::start_together(&mut nodes);
        Setup {
            fed,
            province,
            nodes,
        }
    }

    pub fn city(&self) -> &FedNode {
        &self.nodes[0]
    }

    pub fn city_mut(&mut self) -> &mut FedNode {
        &mut self.nodes[0]
    }

    pub fn node(&self, member: &str) -> &FedNode {
        self.nodes
            .iter()
            .find(|n| n.member() == member)
            .unwrap_or_else(|| panic!("{member} is not running here"))
    }

    /// Submits `n` valid records to `member`'s node, in chunks.
    pub fn load(&self, member: &str, n: usize) {
        let node = self.node(member);
        let token = self.fed.token(member);
        let mut left = n;
        while left > 0 {
            let k = left.min(CHUNK);
            node.submit(token, &self.fed.records().batch(member, k));
            left -= k;
        }
    }

    /// Every member's own log size: what the province must end up holding.
    pub fn expected(&self) -> BTreeMap<String, u64> {
        let refs: Vec<&FedNode> = self.nodes.iter().collect();
        own_sizes(&refs)
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Waits until the province holds every entry of every origin, then
    /// checks it holds each exactly once and in order; returns the sizes.
    pub fn wait_all_forwarded(&self) -> BTreeMap<String, u64> {
        let expected = self.expected();
        rongxin_tests::forwarding::wait_forwarded(self.city(), &self.province, &expected, DEADLINE);
        rongxin_tests::forwarding::check_exactly_once(
            &self.fed,
            self.city(),
            &self.province,
            &expected,
        );
        expected
    }
}
