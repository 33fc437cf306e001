//! Pacing of kvCORE requests per token (SPEC section 3, `kvcore_max_rps`):
//! kvCORE publishes no rate limit (SPEC section 7), so the bulk flows (a
//! phone index build, the queue worker) keep under a configured rate
//! rather than find the limit through 429s. A GCRA token bucket, burst 1:
//! requests are spaced at least 1/rate apart. `Pacer::per_second` keeps the
//! bucket in this process (`governor`); `Pacer::shared` keeps it in
//! DynamoDB (`crate::adapters::store::PacingStore`), so every concurrent worker and
//! scheduled function on one token keeps to the rate together (SPEC
//! section 11), and a 429 slows all of them down.

use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

use super::KvcoreError;
use crate::adapters::store::{PacingStore, Reservation};

/// Tokio's clock as governor's: waits then follow tokio's time, which a
/// test can pause and advance.
#[derive(Debug, Clone, Copy, Default)]
struct TokioClock;

impl Clock for TokioClock {
    type Instant = std::time::Instant;

    fn now(&self) -> std::time::Instant {
        Instant::now().into_std()
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<std::time::Instant>>;

/// At most `rate` requests per second through one token. Share one `Pacer`
/// among every session of that token (it is `Sync`).
#[derive(Debug)]
pub struct Pacer {
    bucket: Bucket,
    rate: f64,
}

#[derive(Debug)]
enum Bucket {
    Local(Limiter),
    Shared {
        store: PacingStore,
        /// The token's bucket: its secret's id (never the token).
        key: String,
        interval_ms: i64,
    },
}

/// Without `Retry-After`, a 429 holds the token back this long.
const HOLD_OFF_WITHOUT_RETRY_AFTER: Duration = Duration::from_secs(1);

impl Pacer {
    /// `requests_per_second` must be positive and finite (settings
    /// validate `kvcore_max_rps`); anything else is read as the default 5,
    /// and a rate so high its period rounds to zero as one per nanosecond.
    pub fn per_second(requests_per_second: f64) -> Pacer {
        let rate = if requests_per_second.is_finite() && requests_per_second > 0.0 {
            requests_per_second
        } else {
            crate::domain::settings::DEFAULT_KVCORE_MAX_RPS
        };
        let period = Duration::from_secs_f64(1.0 / rate).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period).unwrap_or_else(|| {
            // Unreachable: the period is never zero.
            Quota::per_second(std::num::NonZeroU32::MIN)
        });
        Pacer {
            bucket: Bucket::Local(RateLimiter::direct_with_clock(quota, TokioClock)),
            rate,
        }
    }

    /// A pacer whose bucket is shared through DynamoDB by every process
    /// that paces the same `key` (the kvCORE token secret's id): together
    /// they send at most `requests_per_second` (whole milliseconds apart,
    /// rounded up), plus one burst. Impossible rates read as the default.
    pub fn shared(store: PacingStore, key: &str, requests_per_second: f64) -> Pacer {
        let rate = Pacer::per_second(requests_per_second).rate;
        Pacer {
            bucket: Bucket::Shared {
                store,
                key: key.to_string(),
                interval_ms: (1000.0 / rate).ceil().max(1.0) as i64,
            },
            rate,
        }
    }

    /// The pace of one kvCORE token (`key`, its secret's id): shared
    /// through `store` by every function given the pacing table (SPEC
    /// section 11: one limiter per token across every worker and scheduled
    /// function), else kept in this process.
    pub fn for_token(store: Option<&PacingStore>, key: &str, requests_per_second: f64) -> Pacer {
        match store {
            Some(store) => Pacer::shared(store.clone(), key, requests_per_second),
            None => Pacer::per_second(requests_per_second),
        }
    }

    /// kvCORE answered 429: hold every request of the token back for
    /// `retry_after` (1 s when kvCORE sent none). Only a shared bucket
    /// holds others back; a local one paces its own retries through the
    /// retry's own pause.
    pub async fn hold_off(&self, retry_after: Option<Duration>) {
        if let Bucket::Shared { store, key, .. } = &self.bucket {
            let pause = retry_after.unwrap_or(HOLD_OFF_WITHOUT_RETRY_AFTER);
            let until = wall_ms() + pause.as_millis() as i64;
            if let Err(error) = store.hold_off(key, until).await {
                tracing::warn!(%error, "the shared pacing table did not take a 429's pause");
            }
        }
    }

    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Waits for this request's turn. `Timeout` when the turn comes after
    /// `deadline`: the caller's time is up before kvCORE may be asked.
    pub async fn wait(&self, deadline: Instant) -> Result<(), KvcoreError> {
        let limiter = match &self.bucket {
            Bucket::Local(limiter) => limiter,
            Bucket::Shared {
                store,
                key,
                interval_ms,
            } => return wait_shared(store, key, *interval_ms, deadline).await,
        };
        loop {
            let wait = match limiter.check() {
                Ok(()) => return Ok(()),
                Err(not_until) => not_until.wait_time_from(TokioClock.now()),
            };
            if Instant::now() + wait > deadline {
                return Err(KvcoreError::Timeout);
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// A turn is on time within one interval of it, and never less than this:
/// at a fast rate (an interval of 1 ms at 1,000/s) a round trip to the table
/// (~5 ms in a region) would otherwise leave no turn on time. Late by more,
/// a turn is taken again, so requests bunch by at most this much.
const MIN_ON_TIME_MS: i64 = 10;

/// Reserves a turn with the shared bucket and waits for it. A turn that
/// is already more than one interval past when the reservation's answer
/// comes (DynamoDB was slow) or when the wait ends (the process was not
/// scheduled) is given up and another reserved: sending late would bunch
/// requests together, and together the workers would exceed the rate.
/// So every request leaves within one interval (at least
/// `MIN_ON_TIME_MS`) of its turn, and any second holds at most `rate + 2`
/// of them at the rates kvCORE tokens are given. The wait ends at
/// `deadline` whatever the table answers.
async fn wait_shared(
    store: &PacingStore,
    key: &str,
    interval_ms: i64,
    deadline: Instant,
) -> Result<(), KvcoreError> {
    loop {
        if Instant::now() >= deadline {
            return Err(KvcoreError::Timeout);
        }
        let now = wall_ms();
        let latest = now
            + deadline
                .saturating_duration_since(Instant::now())
                .as_millis() as i64;
        let slot = match store.reserve(key, interval_ms, now, latest).await {
            Ok(Reservation::At(slot)) => slot,
            Ok(Reservation::TooLate) => return Err(KvcoreError::Timeout),
            // Transient: the request is retried like kvCORE's own failures.
            Err(error) => {
                return Err(KvcoreError::Network(format!(
                    "the shared pacing table: {error}"
                )));
            }
        };
        let wait = slot - wall_ms();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
        if wall_ms() <= slot + interval_ms.max(MIN_ON_TIME_MS) {
            return Ok(());
        }
        tracing::debug!(
            late_ms = wall_ms() - slot,
            "a pacing turn came late; taking another"
        );
    }
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn n_requests_at_r_per_second_take_n_minus_one_over_r_seconds() {
        let pacer = Pacer::per_second(5.0);
        let far = Instant::now() + Duration::from_secs(3600);
        let started = Instant::now();
        for _ in 0..11 {
            pacer.wait(far).await.unwrap();
        }
        // Paused clock: the elapsed time is exactly the waits slept.
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(1990) && took <= Duration::from_millis(2010),
            "11 requests at 5/s: 10 gaps of 200 ms, took {took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn fractional_rates_and_the_first_request_is_free() {
        let pacer = Pacer::per_second(0.5);
        let far = Instant::now() + Duration::from_secs(3600);
        let started = Instant::now();
        pacer.wait(far).await.unwrap();
        assert_eq!(started.elapsed(), Duration::ZERO, "nothing to wait for yet");
        pacer.wait(far).await.unwrap();
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(1990) && took <= Duration::from_millis(2010),
            "0.5/s: 2 s apart, took {took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_turn_past_the_deadline_is_a_timeout_without_waiting() {
        let pacer = Pacer::per_second(1.0);
        let soon = Instant::now() + Duration::from_millis(500);
        pacer.wait(soon).await.unwrap();
        let started = Instant::now();
        assert_eq!(pacer.wait(soon).await, Err(KvcoreError::Timeout));
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    /// The session consults its pacer before every request: a turn past
    /// the deadline never reaches kvCORE (no timing measured).
    #[tokio::test]
    async fn a_paced_session_sends_nothing_before_its_turn() {
        use kvcore_fake::{FakeConfig, FakeKvcore, RecordedRequest};
        let fake = FakeKvcore::start(FakeConfig::default()).await.unwrap();
        let kvcore = super::super::Kvcore::new(&fake.base_url()).unwrap();
        let pacer = Pacer::per_second(0.1);
        let deadline = Instant::now() + Duration::from_secs(3);
        let paced = kvcore.paced_session("kvcore-test-token", deadline, &pacer);
        paced.list_page(&[], 1, 10).await.unwrap();
        let second = paced.list_page(&[], 1, 10).await;
        assert!(matches!(second, Err(KvcoreError::Timeout)), "{second:?}");
        assert_eq!(
            fake.count_requests(RecordedRequest::is_list),
            1,
            "the second never left"
        );

        let unpaced = kvcore.session("kvcore-test-token", deadline);
        unpaced.list_page(&[], 1, 10).await.unwrap();
        assert_eq!(
            fake.count_requests(RecordedRequest::is_list),
            2,
            "the webhook's session is not held back"
        );
    }

    #[test]
    fn impossible_rates_fall_back_to_the_default() {
        assert_eq!(Pacer::per_second(0.0).rate(), 5.0);
        assert_eq!(Pacer::per_second(f64::NAN).rate(), 5.0);
        assert_eq!(Pacer::per_second(2.5).rate(), 2.5);
    }
}
