//! When a sync-queue message that failed for now comes back (SPEC section
//! 11): after a short, growing delay, not the queue's whole visibility
//! timeout. The worker sets it with SQS `ChangeMessageVisibility` on the
//! message it returns.
//!
//! - Growth follows the message's receives (SQS `ApproximateReceiveCount`,
//!   1 on the first): 5 s, 10 s, 20 s, ... doubling up to 5 minutes, each
//!   plus up to a fifth more of jitter so the persons of one burst do not
//!   all come back in the same second.
//! - A `Retry-After` that kvCORE or Follow Up Boss gave sets the delay
//!   instead (at least 1 s; SQS allows at most 12 hours).
//! - A Follow Up Boss person that is not readable yet (its new-person
//!   window, SPEC section 5) comes back within 60 s whatever its receives.

use std::time::Duration;

/// The first delay.
pub const FIRST_DELAY: Duration = Duration::from_secs(5);
/// The longest delay ("capped at a few minutes"), jitter included.
pub const LONGEST_DELAY: Duration = Duration::from_secs(300);
/// The longest delay of a person in Follow Up Boss's new-person window
/// (SPEC section 5: "the person's message comes back within 60 s").
pub const NEW_PERSON_LONGEST_DELAY: Duration = Duration::from_secs(60);
/// SQS's largest visibility timeout (12 hours).
pub const SQS_MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);

/// Why the message comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    /// A transient failure (kvCORE, Follow Up Boss, AWS), with the
    /// `Retry-After` the service gave, if any.
    Transient { retry_after: Option<Duration> },
    /// A Follow Up Boss person in its new-person window.
    NewPerson,
}

/// How long the message stays invisible before it comes back, for its
/// `receive_count`-th receive (1-based) and a `jitter` in `[0, 1)`.
/// Whole seconds (what `ChangeMessageVisibility` takes), at least 1.
pub fn delay(returned: Returned, receive_count: u32, jitter: f64) -> Duration {
    let (longest, asked) = match returned {
        Returned::Transient { retry_after } => (LONGEST_DELAY, retry_after),
        Returned::NewPerson => (NEW_PERSON_LONGEST_DELAY, None),
    };
    let chosen = match asked {
        Some(asked) => asked.min(SQS_MAX_VISIBILITY),
        None => {
            let doublings = receive_count.saturating_sub(1).min(16);
            let grown = FIRST_DELAY.saturating_mul(1 << doublings);
            let spread = grown.mul_f64(jitter.clamp(0.0, 1.0) / 5.0);
            grown.saturating_add(spread).min(longest)
        }
    };
    Duration::from_secs(chosen.as_secs().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRANSIENT: Returned = Returned::Transient { retry_after: None };

    fn secs(returned: Returned, receive: u32, jitter: f64) -> u64 {
        delay(returned, receive, jitter).as_secs()
    }

    #[test]
    fn seconds_at_first_then_doubling_to_a_few_minutes() {
        let grown: Vec<u64> = (1..=9).map(|n| secs(TRANSIENT, n, 0.0)).collect();
        assert_eq!(grown, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(secs(TRANSIENT, 0, 0.0), 5, "a missing count is the first");
        assert_eq!(secs(TRANSIENT, u32::MAX, 0.99), 300);
    }

    #[test]
    fn jitter_spreads_a_burst_by_at_most_a_fifth_and_never_past_the_cap() {
        assert_eq!(secs(TRANSIENT, 1, 0.99), 5);
        assert_eq!(secs(TRANSIENT, 3, 0.5), 22);
        assert_eq!(secs(TRANSIENT, 4, 0.99), 47);
        assert_eq!(secs(TRANSIENT, 7, 0.99), 300);
        assert_eq!(secs(TRANSIENT, 3, 7.0), 24, "jitter is clamped");
    }

    #[test]
    fn a_retry_after_sets_the_delay() {
        let asked = |s: u64| Returned::Transient {
            retry_after: Some(Duration::from_secs(s)),
        };
        assert_eq!(secs(asked(8), 1, 0.9), 8);
        assert_eq!(
            secs(asked(900), 1, 0.0),
            900,
            "past the cap: the service knows"
        );
        assert_eq!(secs(asked(0), 5, 0.0), 1);
        assert_eq!(secs(asked(100_000), 1, 0.0), 12 * 3600);
    }

    #[test]
    fn a_new_follow_up_boss_person_comes_back_within_a_minute() {
        let grown: Vec<u64> = (1..=8)
            .map(|n| secs(Returned::NewPerson, n, 0.99))
            .collect();
        assert_eq!(grown, [5, 11, 23, 47, 60, 60, 60, 60]);
    }
}
