//! Objections and repair applications in the store: the indexes every
//! node derives from the logs it holds (prefixes `O` and `A`), and the
//! receipts of those filed at this node (prefix `W`), which the router
//! sends on to their origins.

use bincode::{Decode, Encode};
use rongxin_protocol::entry::ObjectionGround;
use rongxin_protocol::objection::ObjectionState;
use rongxin_protocol::record::RecordKey;
use rongxin_protocol::repair::RepairState;
use rongxin_protocol::value::Date;

use super::{P_META, Store, StoreError, WriteBatch, decode, encode, prefixed};

/// Prefix of the objection index: origin, 0, objection id.
const P_OBJECTION: u8 = b'O';
/// Prefix of the receipts: objection or application id.
const P_RECEIPT: u8 = b'W';
/// Prefix of the repair index: origin, 0, application id.
const P_REPAIR: u8 = b'A';

/// An objection or repair application filed at this node, as its receipt
/// keeps it until the origin has registered it (and after, to answer the
/// filer).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Receipt {
    /// The objection or application id.
    pub id: String,
    /// The receipt number given to the filer.
    pub receipt: String,
    /// The record's origin.
    pub origin: String,
    /// The record.
    pub key: RecordKey,
    /// The seq of the version concerned.
    pub seq: u64,
    /// What was filed.
    pub filing: Filing,
    /// The token that filed it (its id).
    pub filed_by: String,
    /// When it was received.
    pub received_on: Date,
    /// When it was received, in Unix milliseconds.
    pub received_ms: i64,
    /// When the origin must have resolved it.
    pub due: Date,
    /// Where routing stands.
    pub routed: Routed,
}

/// What a receipt holds.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum Filing {
    /// An objection (异议).
    Objection {
        /// The ground.
        ground: ObjectionGround,
        /// The statement, with the attachments' digests.
        statement: String,
    },
    /// A credit-repair application (信用修复申请).
    Repair {
        /// How the conduct was corrected, with the attachments' digests.
        statement: String,
        /// The credit commitment.
        commitment: String,
    },
}

impl Filing {
    /// `objection` or `repair application`, for messages.
    pub fn what(&self) -> &'static str {
        match self {
            Filing::Objection { .. } => "objection",
            Filing::Repair { .. } => "repair application",
        }
    }
}

/// Where the routing of a receipt stands.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum Routed {
    /// Not yet registered by the origin: the router keeps sending it.
    Pending,
    /// The origin signed `ObjectionFiled` at this seq.
    Registered(u64),
    /// The origin refused it for good, with its reason.
    Refused(String),
}

fn objection_key(origin: &str, id: &str) -> Vec<u8> {
    index_key(P_OBJECTION, origin, id)
}

fn index_key(prefix: u8, origin: &str, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(origin.len() + id.len() + 2);
    k.push(prefix);
    k.extend_from_slice(origin.as_bytes());
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
}

impl WriteBatch {
    /// Sets an objection's state in the index.
    pub fn put_objection(&mut self, state: &ObjectionState) {
        self.insert(objection_key(&state.origin, &state.id), encode(state));
    }

    /// Sets a repair application's state in the index.
    pub fn put_repair(&mut self, state: &RepairState) {
        self.insert(index_key(P_REPAIR, &state.origin, &state.id), encode(state));
    }

    /// Sets a receipt of this node.
    pub fn put_receipt(&mut self, receipt: &Receipt) {
        self.insert(prefixed(P_RECEIPT, receipt.id.as_bytes()), encode(receipt));
    }

    /// Sets the last receipt number given on `day` (`yyyymmdd`).
    pub fn put_receipt_counter(&mut self, day: &str, n: u32) {
        self.insert(
            prefixed(P_META, format!("receipts/{day}").as_bytes()),
            n.to_be_bytes().to_vec(),
        );
    }
}

impl Store {
    /// The objection `id` of `origin`, from the index.
    pub fn objection(&self, origin: &str, id: &str) -> Result<Option<ObjectionState>, StoreError> {
        let k = objection_key(origin, id);
        self.inner
            .tree
            .get(&k)?
            .map(|v| decode(&v, "objection", &k))
            .transpose()
    }

    /// Every objection of the logs held (of `origin` only, if given).
    pub fn objections(&self, origin: Option<&str>) -> Result<Vec<ObjectionState>, StoreError> {
        let prefix = match origin {
            Some(o) => {
                let mut p = vec![P_OBJECTION];
                p.extend_from_slice(o.as_bytes());
                p.push(0);
                p
            }
            None => vec![P_OBJECTION],
        };
        self.inner
            .tree
            .scan_prefix(&prefix)
            .map(|kv| {
                let (k, v) = kv?;
                decode(&v, "objection", &k)
            })
            .collect()
    }

    /// Finds an objection of any origin by id (ids are unique within an
    /// origin; the receipt, if this node took it, names the origin).
    pub fn objection_any(&self, id: &str) -> Result<Option<ObjectionState>, StoreError> {
        if let Some(r) = self.receipt(id)? {
            return self.objection(&r.origin, id);
        }
        Ok(self.objections(None)?.into_iter().find(|o| o.id == id))
    }

    /// The repair application `id` of `origin`, from the index.
    pub fn repair(&self, origin: &str, id: &str) -> Result<Option<RepairState>, StoreError> {
        let k = index_key(P_REPAIR, origin, id);
        self.inner
            .tree
            .get(&k)?
            .map(|v| decode(&v, "repair application", &k))
            .transpose()
    }

    /// Every repair application of the logs held (of `origin` only, if given).
    pub fn repairs(&self, origin: Option<&str>) -> Result<Vec<RepairState>, StoreError> {
        let mut prefix = vec![P_REPAIR];
        if let Some(o) = origin {
            prefix.extend_from_slice(o.as_bytes());
            prefix.push(0);
        }
        self.inner
            .tree
            .scan_prefix(&prefix)
            .map(|kv| {
                let (k, v) = kv?;
                decode(&v, "repair application", &k)
            })
            .collect()
    }

    /// The receipt `id` of this node.
    pub fn receipt(&self, id: &str) -> Result<Option<Receipt>, StoreError> {
        let k = prefixed(P_RECEIPT, id.as_bytes());
        self.inner
            .tree
            .get(&k)?
            .map(|v| decode(&v, "receipt", &k))
            .transpose()
    }

    /// Every receipt of this node.
    pub fn receipts(&self) -> Result<Vec<Receipt>, StoreError> {
        self.inner
            .tree
            .scan_prefix([P_RECEIPT])
            .map(|kv| {
                let (k, v) = kv?;
                decode(&v, "receipt", &k)
            })
            .collect()
    }

    /// The last receipt number given on `day` (`yyyymmdd`), 0 if none.
    pub fn receipt_counter(&self, day: &str) -> Result<u32, StoreError> {
        let k = prefixed(P_META, format!("receipts/{day}").as_bytes());
        match self.inner.tree.get(&k)? {
            None => Ok(0),
            Some(v) => <[u8; 4]>::try_from(v.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| super::corrupt("receipt counter", &k, "not 4 bytes")),
        }
    }
}
