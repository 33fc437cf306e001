//! One SQS batch (SPEC section 11): each message is one person of a queued
//! event, synced by `queued::sync_message`, all of the batch at once (their
//! kvCORE requests wait their turns with the token's shared pacer). The
//! answer is a partial batch response: only the messages that failed come
//! back to the queue (`ReportBatchItemFailures`), the others are deleted.

use std::time::{Duration, SystemTime};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use kvsync::adapters::metrics;
use kvsync::clock::now_ms;
use kvsync::flows::queued::{self, MessageOutcome, Receives};
use kvsync::flows::{Invocation, Services, SyncError};
use lambda_runtime::{Error, LambdaEvent};

/// Time kept back from the invocation deadline to record and answer.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);
/// Without a Lambda context deadline (never in Lambda itself).
const DEFAULT_BUDGET: Duration = Duration::from_secs(30);
/// The queue's `maxReceiveCount` when `SYNC_MAX_RECEIVE_COUNT` is not set
/// (template.yaml's `SyncMaxReceiveCount` default).
const DEFAULT_RECEIVE_LIMIT: u32 = 10;

/// `SYNC_MAX_RECEIVE_COUNT`: the sync queue's `maxReceiveCount`
/// (template.yaml sets both from one number). Errors name the variable.
pub fn receive_limit_from_env() -> Result<u32, String> {
    match std::env::var("SYNC_MAX_RECEIVE_COUNT") {
        Err(_) => Ok(DEFAULT_RECEIVE_LIMIT),
        Ok(text) => text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                format!("SYNC_MAX_RECEIVE_COUNT must be a positive whole number, found {text:?}")
            }),
    }
}

pub async fn handle(
    services: &Services,
    receive_limit: u32,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let remaining = event
        .context
        .deadline()
        .duration_since(SystemTime::now())
        .unwrap_or(DEFAULT_BUDGET);
    let invocation = Invocation::within(remaining.saturating_sub(DEADLINE_MARGIN));
    let records = event.payload.records;
    if let Some(age) = oldest_age_ms(&records, now_ms()) {
        metrics::emit(&[metrics::queue_age_record(age)]);
    }
    let synced = futures::future::join_all(
        records
            .iter()
            .map(|record| sync_record(services, record, receive_limit, invocation)),
    )
    .await;
    let mut outcomes: Vec<(Option<String>, bool)> = records
        .iter()
        .zip(&synced)
        .map(|(record, synced)| (record.message_id.clone(), synced.is_ok()))
        .collect();
    // Each event of the batch is closed if its last person is recorded: one
    // read per event. Should that fail, one of its messages comes back, and
    // its redelivery closes it.
    let mut events: Vec<((String, String), usize)> = Vec::new();
    for (i, record) in records.iter().enumerate() {
        if let Some(event) = record.body.as_deref().and_then(queued::event_of)
            && !events.iter().any(|(e, _)| *e == event)
        {
            events.push((event, i));
        }
    }
    for ((workflow_id, event_id), i) in events {
        if let Err(error) = queued::complete(services, &workflow_id, &event_id).await {
            tracing::warn!(%workflow_id, %event_id, %error, "event not closed; one of its messages comes back");
            if let Some(outcome) = outcomes.get_mut(i) {
                outcome.1 = false;
            }
        }
    }
    Ok(batch_response(outcomes)?)
}

async fn sync_record(
    services: &Services,
    record: &SqsMessage,
    receive_limit: u32,
    invocation: Invocation,
) -> Result<MessageOutcome, SyncError> {
    let body = record.body.as_deref().unwrap_or_default();
    let receives = Receives {
        count: attribute(record, "ApproximateReceiveCount").unwrap_or(1) as u32,
        limit: receive_limit,
    };
    let synced = queued::sync_message(services, body, receives, invocation).await;
    if let Err(error) = &synced {
        tracing::warn!(
            message_id = record.message_id.as_deref().unwrap_or(""),
            receive_count = receives.count,
            code = error.code(),
            %error,
            "message returned to the queue"
        );
        // Back after a short, growing delay, not the visibility timeout
        // (SPEC section 11).
        if let Some(receipt_handle) = record.receipt_handle.as_deref() {
            queued::return_later(services, receipt_handle, error, receives).await;
        }
    }
    synced
}

/// The partial batch response: the ids of the messages that failed (SQS
/// makes them visible again after their backoff, `queued::return_later`,
/// or the visibility timeout; the others are deleted). A failed message without an id cannot be named, so the whole
/// batch fails (every message comes back; the synced ones are recorded and
/// count once).
fn batch_response(
    outcomes: impl IntoIterator<Item = (Option<String>, bool)>,
) -> Result<SqsBatchResponse, String> {
    let mut response = SqsBatchResponse::default();
    for (message_id, ok) in outcomes {
        match (message_id, ok) {
            (_, true) => {}
            (Some(id), false) => response.add_failure(id),
            (None, false) => return Err("a failed SQS message has no messageId".to_string()),
        }
    }
    Ok(response)
}

/// A numeric SQS system attribute (`ApproximateReceiveCount`, `SentTimestamp`).
fn attribute(record: &SqsMessage, name: &str) -> Option<u64> {
    record.attributes.get(name)?.trim().parse().ok()
}

/// How long the oldest message of the batch waited (its `SentTimestamp`).
fn oldest_age_ms(records: &[SqsMessage], now_ms: i64) -> Option<u64> {
    records
        .iter()
        .filter_map(|r| attribute(r, "SentTimestamp"))
        .min()
        .map(|sent| u64::try_from(now_ms).unwrap_or(0).saturating_sub(sent))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failures(response: &SqsBatchResponse) -> Vec<&str> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    #[test]
    fn only_the_failed_messages_come_back() {
        let response = batch_response([
            (Some("a".to_string()), true),
            (Some("b".to_string()), false),
            (Some("c".to_string()), true),
            (Some("d".to_string()), false),
        ])
        .unwrap();
        assert_eq!(failures(&response), ["b", "d"]);
        let all_ok = batch_response([(Some("a".to_string()), true)]).unwrap();
        assert!(all_ok.batch_item_failures.is_empty());
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "b"}, {"itemIdentifier": "d"}]})
        );
    }

    #[test]
    fn a_failure_that_cannot_be_named_fails_the_batch() {
        assert!(batch_response([(None, false)]).is_err());
        assert!(
            batch_response([(None, true)]).is_ok(),
            "a synced one needs no name"
        );
    }

    #[test]
    fn attributes_and_the_queue_age() {
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
            {"messageId": "m1", "body": "{}", "attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "1000"}},
            {"messageId": "m2", "body": "{}", "attributes": {"SentTimestamp": "400"}}
        ]}))
        .unwrap();
        assert_eq!(
            attribute(&event.records[0], "ApproximateReceiveCount"),
            Some(3)
        );
        assert_eq!(
            attribute(&event.records[1], "ApproximateReceiveCount"),
            None
        );
        assert_eq!(oldest_age_ms(&event.records, 1_500), Some(1_100));
        assert_eq!(oldest_age_ms(&[], 1_500), None);
    }
}
