//! What every part of a running node shares and can change while it runs:
//! the roster in force (a newer root-signed roster replaces it without a
//! restart), with the fixed root key and catalog.

use std::sync::{Arc, RwLock};

use rongxin_protocol::catalog::Catalog;
use rongxin_protocol::note::{NoteSigner, NoteVerifier};
use rongxin_protocol::roster::{Member, SignedRoster};
use rongxin_protocol::suite::PublicKey;

/// Node-wide shared state.
#[derive(Debug)]
pub struct Shared {
    roster: RwLock<Arc<SignedRoster>>,
    /// The federation root key.
    pub root: NoteVerifier,
    /// The catalog the roster pins.
    pub catalog: Catalog,
    /// This node's member id.
    pub member: String,
    /// The working-day calendar (checked against the roster's pin).
    pub calendar: rongxin_protocol::calendar::Calendar,
    /// The signing keys this node holds (its key and any next keys).
    signers: RwLock<Arc<Vec<NoteSigner>>>,
}

impl Shared {
    /// Shared state with `roster` in force.
    pub fn new(
        roster: SignedRoster,
        root: NoteVerifier,
        catalog: Catalog,
        member: String,
        calendar: rongxin_protocol::calendar::Calendar,
        signers: Vec<NoteSigner>,
    ) -> Shared {
        Shared {
            roster: RwLock::new(Arc::new(roster)),
            root,
            catalog,
            member,
            calendar,
            signers: RwLock::new(Arc::new(signers)),
        }
    }

    /// The signing keys this node holds.
    pub fn signers(&self) -> Arc<Vec<NoteSigner>> {
        self.signers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The signing key this node holds for `key`, if any.
    pub fn signer_for(&self, key: &PublicKey) -> Option<NoteSigner> {
        self.signers()
            .iter()
            .find(|s| s.verifier().key() == key)
            .cloned()
    }

    /// Replaces the signing keys (on a reload).
    pub fn set_signers(&self, signers: Vec<NoteSigner>) {
        *self.signers.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(signers);
    }

    /// The roster in force.
    pub fn roster(&self) -> Arc<SignedRoster> {
        self.roster
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// This member's entry in the roster in force (`None` if a newer roster removed it).
    pub fn me(&self) -> Option<Member> {
        self.roster().roster.member(&self.member).cloned()
    }

    /// Puts `roster` in force if it supersedes the current one (same root,
    /// same federation, higher version). Returns whether it did.
    pub fn adopt(&self, roster: SignedRoster) -> bool {
        let mut cur = self.roster.write().unwrap_or_else(|p| p.into_inner());
        if roster.supersedes(&cur) {
            *cur = Arc::new(roster);
            true
        } else {
            false
        }
    }
}
