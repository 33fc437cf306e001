//! The sync queue (SPEC section 11): an SQS queue declared in template.yaml
//! (`SyncQueue`, its URL in `SYNC_QUEUE_URL`). A queued event becomes one
//! message per person; the `sync-worker` consumes them. SQS only, no
//! decisions.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::adapters::aws::error_code;

/// SendMessageBatch takes at most 10 entries (SQS quotas).
pub const BATCH_SIZE: usize = 10;
/// Batches in flight at once: a 1,000-person event is 100 batches, sent
/// 25 at a time so the 202 comes well within a second.
const BATCHES_IN_FLIGHT: usize = 25;
/// An entry SQS refused inside a successful batch is sent again this many
/// times before the event fails.
const ENTRY_RETRIES: usize = 3;

/// One person of a queued event: everything the worker needs to find it
/// again. The body of one SQS message, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonMessage {
    pub workflow_id: String,
    pub event_id: String,
    /// The person's place in the event (0-based): its record's key.
    pub index: usize,
    /// Persons in the event.
    pub total: usize,
    pub subject: MessageSubject,
}

/// What the message names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MessageSubject {
    /// A person the source app holds: fetched by the worker (Follow Up Boss).
    Fetch {
        source_id: String,
        /// The event's `eventCreated` (unix ms), for Follow Up Boss's
        /// new-person window (SPEC section 5); absent in older messages.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_created_ms: Option<i64>,
    },
    /// A person carried in the event's payload, at `index` of its subjects;
    /// the worker reads the payload from the event's record.
    Carried,
    /// A person of an event type kvsync does not handle.
    Unsupported { source_id: Option<String> },
    /// A row of an import (SPEC section 13), the person carried in the
    /// message itself (`domain::import::ImportedPerson` as JSON): an
    /// import's rows are too many for one event's payload.
    Imported { person: serde_json::Value },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SQS is unavailable: {0}")]
pub struct QueueError(pub String);

/// The sync queue's client and URL.
#[derive(Debug, Clone)]
pub struct Queue {
    client: Client,
    url: String,
}

impl Queue {
    pub fn new(client: Client, url: String) -> Queue {
        Queue { client, url }
    }

    /// Sends every message, 10 to a `SendMessageBatch`, several batches at
    /// once. Entries SQS refuses inside a batch are sent again; an error
    /// means some may have been sent (the worker is idempotent per person,
    /// so sending them again is safe).
    pub async fn send_all(&self, messages: &[PersonMessage]) -> Result<(), QueueError> {
        let mut bodies = Vec::with_capacity(messages.len());
        for message in messages {
            bodies.push(serde_json::to_string(message).map_err(|e| QueueError(e.to_string()))?);
        }
        let mut batches = bodies.chunks(BATCH_SIZE).map(<[String]>::to_vec);
        let mut in_flight = JoinSet::new();
        loop {
            while in_flight.len() < BATCHES_IN_FLIGHT {
                let Some(batch) = batches.next() else { break };
                let (client, url) = (self.client.clone(), self.url.clone());
                in_flight.spawn(async move { send_batch(&client, &url, batch).await });
            }
            match in_flight.join_next().await {
                None => return Ok(()),
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(error))) => return Err(error),
                Some(Err(panicked)) => return Err(QueueError(panicked.to_string())),
            }
        }
    }

    /// Receives up to `max` messages (at most 10), waiting up to
    /// `wait_seconds` for one: `(receipt handle, body)` pairs. For the
    /// operator's `--dlq` drain.
    pub async fn receive(
        &self,
        max: i32,
        wait_seconds: i32,
    ) -> Result<Vec<(String, String)>, QueueError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(wait_seconds)
            .send()
            .await
            .map_err(|e| QueueError(error_code(&e)))?;
        Ok(output
            .messages()
            .iter()
            .filter_map(|m| Some((m.receipt_handle()?.to_string(), m.body()?.to_string())))
            .collect())
    }

    /// Sends one raw body (a message moved back from the dead-letter queue).
    pub async fn send_raw(&self, body: &str) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| QueueError(error_code(&e)))?;
        Ok(())
    }

    /// Makes a received message visible again after `after` (SQS
    /// `ChangeMessageVisibility`, whole seconds, at most 12 hours): how a
    /// returned message comes back sooner than the queue's visibility
    /// timeout (SPEC section 11).
    pub async fn return_after(
        &self,
        receipt_handle: &str,
        after: std::time::Duration,
    ) -> Result<(), QueueError> {
        let seconds = i32::try_from(after.as_secs().min(12 * 3600)).unwrap_or(12 * 3600);
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(|e| QueueError(error_code(&e)))?;
        Ok(())
    }

    /// Sends `body` again as a new message, delivered after `after` (SQS
    /// `DelaySeconds`, at most 15 minutes): its receive count starts over.
    pub async fn send_delayed(
        &self,
        body: &str,
        after: std::time::Duration,
    ) -> Result<(), QueueError> {
        let seconds = i32::try_from(after.as_secs().min(900)).unwrap_or(900);
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(seconds)
            .send()
            .await
            .map_err(|e| QueueError(error_code(&e)))?;
        Ok(())
    }

    pub async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| QueueError(error_code(&e)))?;
        Ok(())
    }
}

async fn send_batch(client: &Client, url: &str, bodies: Vec<String>) -> Result<(), QueueError> {
    let mut pending: Vec<(String, String)> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| (i.to_string(), body))
        .collect();
    for _ in 0..=ENTRY_RETRIES {
        let entries = pending
            .iter()
            .map(|(id, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(id)
                    .message_body(body)
                    .build()
                    .map_err(|e| QueueError(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let output = client
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| QueueError(error_code(&e)))?;
        let refused: Vec<&str> = output.failed().iter().map(|f| f.id()).collect();
        if let Some(sender_fault) = output.failed().iter().find(|f| f.sender_fault()) {
            // Our own mistake (too large, malformed): sending again cannot help.
            return Err(QueueError(format!(
                "SQS refused a message: {}",
                sender_fault.code()
            )));
        }
        pending.retain(|(id, _)| refused.contains(&id.as_str()));
        if pending.is_empty() {
            return Ok(());
        }
    }
    Err(QueueError(format!(
        "SQS kept refusing {} messages",
        pending.len()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_small_self_describing_json() {
        let message = PersonMessage {
            workflow_id: "fub".into(),
            event_id: "evt-1".into(),
            index: 41,
            total: 1000,
            subject: MessageSubject::Fetch {
                source_id: "1234".into(),
                event_created_ms: None,
            },
        };
        let body = serde_json::to_string(&message).unwrap();
        assert_eq!(
            body,
            r#"{"workflow_id":"fub","event_id":"evt-1","index":41,"total":1000,"subject":{"kind":"fetch","source_id":"1234"}}"#
        );
        assert_eq!(
            serde_json::from_str::<PersonMessage>(&body).unwrap(),
            message
        );
        let carried: PersonMessage = serde_json::from_str(
            r#"{"workflow_id":"g","event_id":"e","index":0,"total":1,"subject":{"kind":"carried"}}"#,
        )
        .unwrap();
        assert_eq!(carried.subject, MessageSubject::Carried);
        let dated = PersonMessage {
            subject: MessageSubject::Fetch {
                source_id: "1234".into(),
                event_created_ms: Some(1_795_867_200_000),
            },
            ..message
        };
        let body = serde_json::to_string(&dated).unwrap();
        assert!(
            body.contains(r#""event_created_ms":1795867200000"#),
            "{body}"
        );
        assert_eq!(serde_json::from_str::<PersonMessage>(&body).unwrap(), dated);
    }
}
