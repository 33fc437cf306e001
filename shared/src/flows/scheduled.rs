//! What the scheduled functions (the kvcore-indexer and the google-poller)
//! share: how a run shares out Lambda's time, and the workflows it skips.

use std::time::Duration;

use serde::Serialize;

use crate::domain::settings::SettingsError;

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

/// A workflow a scheduled run skipped because its settings cannot work, as
/// the run's JSON summary names it (SPEC section 3).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvalidWorkflow {
    pub workflow_id: String,
    pub error: String,
}

/// The workflows a scheduled run skips, each logged once as a warning.
pub fn skipped_workflows(invalid: &[SettingsError]) -> Vec<InvalidWorkflow> {
    invalid
        .iter()
        .map(|error| {
            tracing::warn!(workflow_id = %error.workflow_id, %error, "workflow skipped: misconfigured");
            InvalidWorkflow {
                workflow_id: error.workflow_id.clone(),
                error: error.to_string(),
            }
        })
        .collect()
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
    fn a_skipped_workflow_is_named_with_what_is_wrong() {
        let error = SettingsError {
            workflow_id: "leads".into(),
            attribute: "kvcore_max_rps".into(),
            expected: "a number from 1 to 50".into(),
            found: "\"fast\"".into(),
        };
        assert_eq!(
            skipped_workflows(&[error]),
            vec![InvalidWorkflow {
                workflow_id: "leads".into(),
                error: "workflow 'leads': attribute 'kvcore_max_rps' must be a number from 1 to 50, found \"fast\"".into(),
            }]
        );
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
