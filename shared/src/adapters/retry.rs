//! Retrying an API request on transient failures: capped exponential
//! backoff with jitter, or the server's `Retry-After`, and never past the
//! invocation's deadline. Shared by the kvCORE and Follow Up Boss clients.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio::time::Instant;

/// What a retry needs to know of an error.
pub trait Transient {
    /// Worth another try: the same request may well succeed shortly.
    fn is_transient(&self) -> bool;
    /// How long the server asked us to wait (429 `Retry-After`).
    fn retry_after(&self) -> Option<Duration>;
}

/// Room kept before the deadline for the retried request itself.
const ROOM_FOR_ONE_MORE: Duration = Duration::from_secs(2);

/// Runs `attempt` until it succeeds, fails for good, has been retried four
/// times, or the next pause would not leave room before `deadline`.
pub async fn with_retries<T, E, F, Fut>(deadline: Instant, what: &str, attempt: F) -> Result<T, E>
where
    E: Transient + Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(4)
        .with_jitter();
    attempt
        .retry(backoff)
        .when(E::is_transient)
        .adjust(|error, delay| {
            let delay = error.retry_after().or(delay)?;
            (Instant::now() + delay + ROOM_FOR_ONE_MORE < deadline).then_some(delay)
        })
        .notify(|error, delay| {
            tracing::warn!(%error, delay_ms = delay.as_millis() as u64, what, "request retried");
        })
        .await
}

/// A `Retry-After` header in seconds (the form kvCORE and Follow Up Boss send).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}
