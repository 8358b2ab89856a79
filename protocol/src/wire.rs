//! Replication wire messages: what members ask each other and answer.
//!
//! Every message is one byte of wire version ([`WIRE_VERSION`]) followed by
//! the bincode encoding of a [`Request`] or [`Response`] in the entry
//! configuration (big-endian, fixed-width integers), at most
//! [`MAX_MESSAGE_BYTES`] long. Entries travel as their exact signed bytes.
//! The transport (libp2p request-response) frames messages; this module only
//! encodes, decodes and bounds them.

use bincode::{Decode, Encode};

use crate::entry::SignedEntry;
use crate::merkle::Hash;
use crate::objection::ObjectionFiling;
use crate::repair::RepairFiling;

/// Version byte that opens every message.
pub const WIRE_VERSION: u8 = 1;
/// Largest message, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// Most entries one range request may ask for, and one answer may carry.
pub const MAX_BATCH_ENTRIES: u32 = 1024;
/// Most view notes one `View` answer may carry (receivers also refuse more
/// than the roster has members).
pub const MAX_VIEW_REPORTS: usize = 1024;

/// A request from one member to another.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum Request {
    /// "Which roster version and which checkpoints do you hold?"
    Status,
    /// "Send entries `from..from+limit` of `origin`'s log."
    Entries {
        /// Member id of the log's origin.
        origin: String,
        /// First seq wanted.
        from: u64,
        /// How many, at most [`MAX_BATCH_ENTRIES`].
        limit: u32,
    },
    /// "Prove that `origin`'s tree of `old_size` is a prefix of the one of `new_size`."
    Consistency {
        /// Member id of the log's origin.
        origin: String,
        /// Smaller tree size.
        old_size: u64,
        /// Larger tree size.
        new_size: u64,
    },
    /// "Send your roster if its version is above `have_version`."
    Roster {
        /// The asker's roster version.
        have_version: u64,
    },
    /// "Register this objection, filed at my node, against a record of
    /// your log" (docs/protocol.md §4.2). Sent by the receiving node to
    /// the record's origin until answered; idempotent by objection id.
    FileObjection(ObjectionFiling),
    /// "Register this credit-repair application, filed at my node,
    /// against a record of your log"; idempotent by application id.
    FileRepair(RepairFiling),
    /// "Send your node view and the latest views you hold of other
    /// members" (docs/protocol.md §8.1).
    View,
    /// "Send your departments' submission tallies of the days from
    /// `since` (`YYYY-MM-DD`) on" ([`crate::tally`]), oldest day first.
    Tallies {
        /// First day wanted.
        since: String,
    },
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum Response {
    /// The answerer's roster version and its latest checkpoint note per origin.
    Status {
        /// Roster version held.
        roster_version: u64,
        /// Signed checkpoint notes, one per origin held.
        checkpoints: Vec<String>,
    },
    /// A contiguous range of one origin's entries, starting at `from`.
    Entries {
        /// Member id of the log's origin.
        origin: String,
        /// Seq of the first entry.
        from: u64,
        /// The entries, in order.
        entries: Vec<SignedEntry>,
    },
    /// A consistency proof (RFC 6962).
    Consistency {
        /// The proof hashes.
        proof: Vec<Hash>,
    },
    /// The answerer's roster note, if newer than asked.
    Roster {
        /// The signed roster note.
        note: Option<String>,
    },
    /// The request was refused.
    Error {
        /// What went wrong, for logs.
        message: String,
    },
    // Variants are appended: their index is the wire encoding.
    /// The objection or repair application is registered: the origin
    /// signed `ObjectionFiled` or `RepairFiled` at `seq` (now or for an
    /// earlier identical filing).
    Registered {
        /// The seq of the `ObjectionFiled` or `RepairFiled` entry.
        seq: u64,
    },
    /// The origin refuses the filing for good (the record is not current,
    /// the id was used for another filing, repair is not yet allowed, …):
    /// the receiving node stops routing it and shows why.
    NotRegistered {
        /// Why, for the filer.
        reason: String,
    },
    /// The answerer's own fresh view note first, then the latest verified
    /// view notes it holds of other members (at most one per member).
    View {
        /// Signed view notes ([`crate::view`]).
        reports: Vec<String>,
    },
    /// The answerer's own departments' tallies, oldest day first, at most
    /// [`crate::tally::MAX_TALLY_ROWS`].
    Tallies {
        /// One row per day and department.
        days: Vec<crate::tally::DayTally>,
    },
}

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Larger than [`MAX_MESSAGE_BYTES`].
    #[error("message is {0} bytes, more than the {MAX_MESSAGE_BYTES}-byte limit")]
    TooLarge(usize),
    /// Unknown wire version.
    #[error("wire version {0} is not supported (this node speaks version {WIRE_VERSION})")]
    Version(u8),
    /// Empty message.
    #[error("empty message")]
    Empty,
    /// The body does not decode.
    #[error("message does not decode: {0}")]
    Decode(String),
    /// A request breaks a limit.
    #[error("request out of bounds: {0}")]
    Bounds(String),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_big_endian()
        .with_fixed_int_encoding()
        // bincode charges decoded sizes in memory, which exceed encoded sizes
        // for small items; input is checked against MAX_MESSAGE_BYTES first.
        .with_limit::<{ 8 * MAX_MESSAGE_BYTES }>()
}

fn encode<T: Encode>(msg: &T) -> Result<Vec<u8>, WireError> {
    let mut out = vec![WIRE_VERSION];
    let body =
        bincode::encode_to_vec(msg, config()).map_err(|e| WireError::Decode(e.to_string()))?;
    out.extend_from_slice(&body);
    if out.len() > MAX_MESSAGE_BYTES {
        return Err(WireError::TooLarge(out.len()));
    }
    Ok(out)
}

fn decode<T: Decode<()>>(bytes: &[u8]) -> Result<T, WireError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(WireError::TooLarge(bytes.len()));
    }
    let (&version, body) = bytes.split_first().ok_or(WireError::Empty)?;
    if version != WIRE_VERSION {
        return Err(WireError::Version(version));
    }
    let (msg, read) =
        bincode::decode_from_slice(body, config()).map_err(|e| WireError::Decode(e.to_string()))?;
    if read != body.len() {
        return Err(WireError::Decode(format!(
            "{} trailing bytes",
            body.len() - read
        )));
    }
    Ok(msg)
}

impl Request {
    /// Encodes the request.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        encode(self)
    }

    /// Decodes and bounds-checks a request.
    pub fn decode(bytes: &[u8]) -> Result<Request, WireError> {
        let req: Request = decode(bytes)?;
        match &req {
            Request::Entries { limit, .. } if *limit == 0 || *limit > MAX_BATCH_ENTRIES => {
                Err(WireError::Bounds(format!(
                    "limit {limit} is not within 1..={MAX_BATCH_ENTRIES}"
                )))
            }
            Request::Consistency {
                old_size, new_size, ..
            } if old_size > new_size => Err(WireError::Bounds(format!(
                "old_size {old_size} is larger than new_size {new_size}"
            ))),
            _ => Ok(req),
        }
    }
}

impl Response {
    /// Encodes the response.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        encode(self)
    }

    /// Decodes and bounds-checks a response.
    pub fn decode(bytes: &[u8]) -> Result<Response, WireError> {
        let resp: Response = decode(bytes)?;
        match &resp {
            Response::Entries { entries, .. } if entries.len() > MAX_BATCH_ENTRIES as usize => {
                Err(WireError::Bounds(format!(
                    "{} entries in one answer, more than {MAX_BATCH_ENTRIES}",
                    entries.len()
                )))
            }
            Response::View { reports } if reports.len() > MAX_VIEW_REPORTS => {
                Err(WireError::Bounds(format!(
                    "{} views in one answer, more than {MAX_VIEW_REPORTS}",
                    reports.len()
                )))
            }
            Response::View { reports }
                if reports
                    .iter()
                    .any(|r| r.len() > crate::view::MAX_VIEW_BYTES) =>
            {
                Err(WireError::Bounds(format!(
                    "a view in the answer is larger than {} bytes",
                    crate::view::MAX_VIEW_BYTES
                )))
            }
            Response::Tallies { days } if days.len() > crate::tally::MAX_TALLY_ROWS => {
                Err(WireError::Bounds(format!(
                    "{} tally rows in one answer, more than {}",
                    days.len(),
                    crate::tally::MAX_TALLY_ROWS
                )))
            }
            _ => Ok(resp),
        }
    }
}
