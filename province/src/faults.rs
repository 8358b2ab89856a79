//! Fault injection for tests and drills: the next requests to
//! `POST /v1/entries` are refused, delayed, dropped, acknowledged late or
//! corrupted (an entry altered as if in transit).
//!
//! The admin listener sets the fault (`POST /v1/faults`); the TLS listener
//! takes one action per entries request before routing it, so a dropped
//! request never reaches the handler and stores nothing.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The fault modes of `POST /v1/faults`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultMode {
    /// Answer 503 without looking at the request.
    Refuse,
    /// Wait `delay_ms`, then process normally.
    Delay,
    /// Close the connection without an answer; store nothing.
    Drop,
    /// Process and store, then wait `delay_ms` before answering.
    LateAck,
    /// Flip one byte of the first entry before verification, as if altered
    /// in transit: the batch is refused like any altered entry.
    Corrupt,
    /// No fault.
    None,
}

/// A `POST /v1/faults` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRequest {
    /// What to do.
    pub mode: FaultMode,
    /// How many requests it applies to; all when absent.
    pub count: Option<u64>,
    /// The delay of `delay` and `late_ack`.
    pub delay_ms: Option<u64>,
}

/// The fault in force, as `POST /v1/faults` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultStatus {
    /// The mode.
    pub mode: FaultMode,
    /// Requests it still applies to; `null` for all.
    pub remaining: Option<u64>,
    /// The delay, for `delay` and `late_ack`.
    pub delay_ms: Option<u64>,
}

/// What to do with one entries request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// Process normally.
    None,
    /// Answer 503.
    Refuse,
    /// Wait, then process.
    Delay(Duration),
    /// Close the connection without an answer.
    Drop,
    /// Process, then wait before answering.
    LateAck(Duration),
    /// Alter the first entry's bytes, then process.
    Corrupt,
}

/// The fault in force; shared by the admin and TLS listeners.
#[derive(Debug)]
pub struct Faults {
    state: Mutex<FaultStatus>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            state: Mutex::new(FaultStatus {
                mode: FaultMode::None,
                remaining: None,
                delay_ms: None,
            }),
        }
    }
}

impl Faults {
    /// Sets the fault in force, or says what is wrong with the request.
    pub fn set(&self, req: &FaultRequest) -> Result<FaultStatus, String> {
        let needs_delay = matches!(req.mode, FaultMode::Delay | FaultMode::LateAck);
        if needs_delay && req.delay_ms.is_none() {
            return Err("delay and late_ack need delay_ms".into());
        }
        if req.count == Some(0) {
            return Err("count must be at least 1 (omit it for every request)".into());
        }
        let status = if req.mode == FaultMode::None {
            FaultStatus {
                mode: FaultMode::None,
                remaining: None,
                delay_ms: None,
            }
        } else {
            FaultStatus {
                mode: req.mode,
                remaining: req.count,
                delay_ms: req.delay_ms.filter(|_| needs_delay),
            }
        };
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = status.clone();
        Ok(status)
    }

    /// The fault in force.
    pub fn status(&self) -> FaultStatus {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Takes the action for one entries request, counting it down.
    pub fn take(&self) -> FaultAction {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.mode == FaultMode::None {
            return FaultAction::None;
        }
        match &mut s.remaining {
            Some(0) => return FaultAction::None,
            Some(n) => *n -= 1,
            None => {}
        }
        let delay = Duration::from_millis(s.delay_ms.unwrap_or(0));
        let action = match s.mode {
            FaultMode::Refuse => FaultAction::Refuse,
            FaultMode::Delay => FaultAction::Delay(delay),
            FaultMode::Drop => FaultAction::Drop,
            FaultMode::LateAck => FaultAction::LateAck(delay),
            FaultMode::Corrupt => FaultAction::Corrupt,
            FaultMode::None => FaultAction::None,
        };
        if s.remaining == Some(0) {
            *s = FaultStatus {
                mode: FaultMode::None,
                remaining: None,
                delay_ms: None,
            };
        }
        action
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counted_fault_runs_out() {
        let f = Faults::default();
        f.set(&FaultRequest {
            mode: FaultMode::Refuse,
            count: Some(2),
            delay_ms: None,
        })
        .expect("valid");
        assert_eq!(f.take(), FaultAction::Refuse);
        assert_eq!(f.take(), FaultAction::Refuse);
        assert_eq!(f.take(), FaultAction::None);
        assert_eq!(f.status().mode, FaultMode::None);
    }

    #[test]
    fn an_uncounted_fault_stays_until_cleared() {
        let f = Faults::default();
        f.set(&FaultRequest {
            mode: FaultMode::LateAck,
            count: None,
            delay_ms: Some(5),
        })
        .expect("valid");
        for _ in 0..5 {
            assert_eq!(f.take(), FaultAction::LateAck(Duration::from_millis(5)));
        }
        f.set(&FaultRequest {
            mode: FaultMode::None,
            count: None,
            delay_ms: None,
        })
        .expect("valid");
        assert_eq!(f.take(), FaultAction::None);
    }

    #[test]
    fn corrupt_needs_no_delay_and_runs_out() {
        let f = Faults::default();
        let status = f
            .set(&FaultRequest {
                mode: FaultMode::Corrupt,
                count: Some(1),
                delay_ms: Some(5),
            })
            .expect("valid");
        assert_eq!(status.delay_ms, None);
        assert_eq!(f.take(), FaultAction::Corrupt);
        assert_eq!(f.take(), FaultAction::None);
    }

    #[test]
    fn delays_need_a_duration_and_counts_a_request() {
        let f = Faults::default();
        let req = |mode, count, delay_ms| FaultRequest {
            mode,
            count,
            delay_ms,
        };
        assert!(f.set(&req(FaultMode::Delay, None, None)).is_err());
        assert!(f.set(&req(FaultMode::Drop, Some(0), None)).is_err());
        assert!(f.set(&req(FaultMode::Drop, Some(1), None)).is_ok());
    }
}
