//! The time one invocation has, and how a scheduled run shares it out.

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

/// What a scheduled run has left before Lambda's deadline: `deadline_ms`
/// is the Runtime API's `Lambda-Runtime-Deadline-Ms` (unix ms; 0 when
/// there is none, as outside Lambda: then `fallback`).
pub fn time_left(deadline_ms: u64, now_ms: i64, fallback: Duration) -> Duration {
    match i64::try_from(deadline_ms) {
        Ok(deadline) if deadline > 0 => {
            Duration::from_millis(u64::try_from(deadline - now_ms).unwrap_or(0))
        }
        _ => fallback,
    }
}

/// The time a scheduled run's work gets of `remaining`: all but a margin for
/// its last writes, a fifth of it and at most `margin`, so a short timeout
/// (tests) still leaves room for work.
pub fn keep_margin(remaining: Duration, margin: Duration) -> Duration {
    remaining.saturating_sub((remaining / 5).min(margin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheduled_run_keeps_a_margin_for_its_last_writes() {
        let margin = Duration::from_secs(15);
        assert_eq!(
            keep_margin(Duration::from_secs(300), margin),
            Duration::from_secs(285)
        );
        assert_eq!(
            keep_margin(Duration::from_secs(10), margin),
            Duration::from_secs(8)
        );
        assert_eq!(keep_margin(Duration::ZERO, margin), Duration::ZERO);
    }

    #[test]
    fn time_left_is_the_deadline_less_now_or_the_fallback() {
        let fallback = Duration::from_secs(60);
        assert_eq!(time_left(10_000, 4_000, fallback), Duration::from_secs(6));
        assert_eq!(
            time_left(10_000, 12_000, fallback),
            Duration::ZERO,
            "past it"
        );
        assert_eq!(time_left(0, 4_000, fallback), fallback, "no deadline");
    }
}
