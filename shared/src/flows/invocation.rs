//! The time one invocation has.

use std::time::Duration;

use tokio::time::Instant;

use crate::clock::now_ms;

/// The time one invocation has.
#[derive(Debug, Clone, Copy)]
pub struct Invocation {
    /// Every retry and wait ends by then.
    pub deadline: Instant,
    /// The same deadline as unix ms, for leases other invocations read.
    pub deadline_ms: i64,
}

impl Invocation {
    /// An invocation that must be done within `budget` from now.
    pub fn within(budget: Duration) -> Invocation {
        Invocation {
            deadline: Instant::now() + budget,
            deadline_ms: now_ms() + budget.as_millis() as i64,
        }
    }
}
