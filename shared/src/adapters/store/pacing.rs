//! Shared pacing of kvCORE requests per token (SPEC sections 3 and 11,
//! `kvcore_max_rps`): one item per kvCORE token secret in `PACING_TABLE`,
//! holding GCRA's *theoretical arrival time* (`tat`, unix ms): the earliest
//! time the next request may be sent. Every worker, whatever process it
//! runs in, reserves its turn with one conditional `UpdateItem`, so all of
//! them together keep to the rate (burst 1: turns are at least one
//! interval apart). A 429 pushes `tat` forward for everyone.
//!
//! GCRA (the generic cell rate algorithm, as in `governor`): with interval
//! `T = 1/rate`, a request arriving at `now` takes the slot
//! `max(tat, now)` and moves `tat` to `slot + T`.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::{StoreError, get_n, n, s, unavailable};

/// A bucket item outlives its last request by this long (TTL), so tokens
/// no longer used leave no item behind.
const BUCKET_TTL_S: i64 = 86_400;
/// Reservation attempts before a turn is given up as contended (each
/// refused attempt means another worker took a turn meanwhile).
const MAX_ATTEMPTS: usize = 20;

/// GCRA's step: the slot a request arriving at `now_ms` gets, and the new
/// `tat`. `tat` is `None` for a bucket never used.
pub fn gcra_reserve(tat: Option<i64>, now_ms: i64, interval_ms: i64) -> (i64, i64) {
    let slot = tat.map_or(now_ms, |tat| tat.max(now_ms));
    (slot, slot + interval_ms)
}

/// A turn reserved with the shared bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Send at this unix ms (now or later).
    At(i64),
    /// The next turn comes after the caller's latest acceptable time; nothing
    /// was reserved.
    TooLate,
}

/// The pacing table.
#[derive(Debug, Clone)]
pub struct PacingStore {
    client: Client,
    table: String,
}

impl PacingStore {
    pub fn new(client: Client, table: String) -> PacingStore {
        PacingStore { client, table }
    }

    /// Reserves the next turn of `bucket` for a request arriving at
    /// `now_ms`, `interval_ms` after the previous turn, unless that turn
    /// comes after `latest_ms`. One round trip, more only under contention.
    ///
    /// A busy bucket (`tat` ahead of now) is advanced atomically with
    /// `SET tat = tat + T`; an idle one (`tat` at or before now, or no item)
    /// is set to `now + T` with a condition that it still is idle. Either
    /// refusal returns the item as it is, which picks the other branch.
    pub async fn reserve(
        &self,
        bucket: &str,
        interval_ms: i64,
        now_ms: i64,
        latest_ms: i64,
    ) -> Result<Reservation, StoreError> {
        let mut busy = true;
        for _ in 0..MAX_ATTEMPTS {
            if busy {
                let advanced = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .key("bucket", s(bucket))
                    .update_expression("SET tat = tat + :interval")
                    .condition_expression("tat > :now AND tat <= :latest")
                    .expression_attribute_values(":interval", n(interval_ms))
                    .expression_attribute_values(":now", n(now_ms))
                    .expression_attribute_values(":latest", n(latest_ms))
                    .return_values(ReturnValue::UpdatedNew)
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .send()
                    .await;
                match advanced {
                    Ok(output) => {
                        let tat = output
                            .attributes
                            .as_ref()
                            .and_then(|item| get_n(item, "tat"))
                            .ok_or_else(|| {
                                StoreError::Corrupt("a pacing bucket without tat".into())
                            })?;
                        return Ok(Reservation::At(tat - interval_ms));
                    }
                    Err(e) => {
                        let Some(refused) = e.as_service_error().and_then(|e| match e {
                            aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => Some(c),
                            _ => None,
                        }) else {
                            return Err(unavailable(e));
                        };
                        match refused.item().and_then(|item| get_n(item, "tat")) {
                            Some(tat) if tat > latest_ms => return Ok(Reservation::TooLate),
                            _ => busy = false,
                        }
                    }
                }
            } else {
                let (slot, tat) = gcra_reserve(None, now_ms, interval_ms);
                let taken = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .key("bucket", s(bucket))
                    .update_expression("SET tat = :tat, expires_at = :expires")
                    .condition_expression("attribute_not_exists(tat) OR tat <= :now")
                    .expression_attribute_values(":tat", n(tat))
                    .expression_attribute_values(":now", n(now_ms))
                    .expression_attribute_values(":expires", n(now_ms / 1000 + BUCKET_TTL_S))
                    .send()
                    .await;
                match taken {
                    Ok(_) => return Ok(Reservation::At(slot)),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                    {
                        busy = true;
                    }
                    Err(e) => return Err(unavailable(e)),
                }
            }
        }
        Err(StoreError::Unavailable(format!(
            "pacing bucket contended past {MAX_ATTEMPTS} attempts"
        )))
    }

    /// kvCORE answered 429: no turn of `bucket` before `until_ms` (SPEC
    /// section 11: a 429 slows the whole token down). Never moves `tat`
    /// back.
    pub async fn hold_off(&self, bucket: &str, until_ms: i64) -> Result<(), StoreError> {
        let held = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("bucket", s(bucket))
            .update_expression("SET tat = :until, expires_at = :expires")
            .condition_expression("attribute_not_exists(tat) OR tat < :until")
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":expires", n(until_ms / 1000 + BUCKET_TTL_S))
            .send()
            .await;
        match held {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_bucket_serves_now_and_a_busy_one_queues() {
        assert_eq!(gcra_reserve(None, 1_000, 25), (1_000, 1_025));
        // Idle since 900: the request goes now.
        assert_eq!(gcra_reserve(Some(900), 1_000, 25), (1_000, 1_025));
        // Busy until 1_050: the request waits for it.
        assert_eq!(gcra_reserve(Some(1_050), 1_000, 25), (1_050, 1_075));
    }

    /// Two workers sharing one bucket, each sending as soon as its turn
    /// comes, for 10 s at 40/s: no window of one second holds more than
    /// the rate plus one burst (1), whatever their interleaving.
    #[test]
    fn workers_sharing_a_bucket_keep_to_the_rate() {
        let interval = 25; // 40 requests per second
        let mut tat = None;
        let mut sends = Vec::new();
        // Each worker asks again right after its previous send; the arrival
        // order alternates, with jitter in when they ask.
        let mut next_ask = [0_i64, 3];
        while sends.len() < 400 {
            let worker = usize::from(next_ask[1] < next_ask[0]);
            let now = next_ask[worker];
            let (slot, new_tat) = gcra_reserve(tat, now, interval);
            tat = Some(new_tat);
            sends.push(slot);
            next_ask[worker] = slot + (slot % 7);
        }
        sends.sort_unstable();
        for (i, &start) in sends.iter().enumerate() {
            let in_window = sends[i..]
                .iter()
                .take_while(|&&t| t < start + 1_000)
                .count();
            assert!(
                in_window <= 41,
                "{in_window} requests in the second from {start}"
            );
        }
        let span = sends[sends.len() - 1] - sends[0];
        assert!(
            span >= 399 * interval,
            "400 turns take 399 intervals, took {span} ms"
        );
    }
}
