//! Pacing of kvCORE requests per token (SPEC section 3, `kvcore_max_rps`):
//! kvCORE publishes no rate limit (SPEC section 7), so the bulk flows (a
//! phone index build, the queue worker) keep under a configured rate
//! rather than find the limit through 429s. A GCRA token bucket from
//! `governor`, burst 1: requests are spaced at least 1/rate apart.

use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

use super::KvcoreError;

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
    limiter: Limiter,
    rate: f64,
}

impl Pacer {
    /// `requests_per_second` must be positive and finite (settings
    /// validate `kvcore_max_rps`); anything else is read as the default 5,
    /// and a rate so high its period rounds to zero as one per nanosecond.
    pub fn per_second(requests_per_second: f64) -> Pacer {
        let rate = if requests_per_second.is_finite() && requests_per_second > 0.0 {
            requests_per_second
        } else {
            crate::settings::DEFAULT_KVCORE_MAX_RPS
        };
        let period = Duration::from_secs_f64(1.0 / rate).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period).unwrap_or_else(|| {
            // Unreachable: the period is never zero.
            Quota::per_second(std::num::NonZeroU32::MIN)
        });
        Pacer {
            limiter: RateLimiter::direct_with_clock(quota, TokioClock),
            rate,
        }
    }

    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Waits for this request's turn. `Timeout` when the turn comes after
    /// `deadline`: the caller's time is up before kvCORE may be asked.
    pub async fn wait(&self, deadline: Instant) -> Result<(), KvcoreError> {
        loop {
            let wait = match self.limiter.check() {
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
