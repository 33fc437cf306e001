//! Idempotency and records of events (SPEC sections 4 and 8), modelled on
//! Powertools for AWS Lambda's idempotency: a conditional claim marks the
//! event `in_progress` with a lease that ends with the invocation; the end of
//! the event turns it `completed` (with its answer) or `failed` (with what a
//! replay needs). Items expire through the table's TTL.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::{Item, Ledger, StoreError, get_n, get_s, n, read_consistent, s, unavailable};
use crate::domain::outcome::EventAnswer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    InProgress,
    /// Queued delivery (SPEC section 11): its persons are on the sync
    /// queue; it completes (or fails) when the last of them is recorded.
    Queued,
    Completed,
    Failed,
}

impl EventStatus {
    pub fn name(self) -> &'static str {
        match self {
            EventStatus::InProgress => "in_progress",
            EventStatus::Queued => "queued",
            EventStatus::Completed => "completed",
            EventStatus::Failed => "failed",
        }
    }

    fn from_name(name: &str) -> Option<EventStatus> {
        [
            EventStatus::InProgress,
            EventStatus::Queued,
            EventStatus::Completed,
            EventStatus::Failed,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

/// What claiming an event found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This invocation processes it: a new event, or one whose earlier
    /// attempt is not known here (the claim-with-lock transaction cannot
    /// tell).
    Claimed,
    /// This invocation processes it again: an earlier attempt failed or
    /// was abandoned (its lease ran out).
    Reclaimed,
    /// Done before: its first answer.
    Completed(EventAnswer),
    /// Another invocation is processing it right now.
    InProgress,
    /// Its persons are on the sync queue (SPEC section 11): this many.
    Queued { total: u64 },
}

/// An event as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub workflow_id: String,
    pub event_id: String,
    pub status: EventStatus,
    pub attempts: i64,
    pub received_at_ms: i64,
    pub updated_at_ms: i64,
    pub answer: Option<EventAnswer>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// The raw body, kept until the event completes (for replay).
    pub payload: Option<String>,
    /// A queued event's persons (SPEC section 11); `None` for a sync one.
    pub queued: Option<super::QueuedCounts>,
}

/// The claim: the event turns `in_progress` with a lease, keeping its
/// payload for a replay; refused while a live lease or a completion stands.
const CLAIM_UPDATE: &str = "SET #status = :in_progress, lease_until_ms = :lease, updated_at_ms = :now, \
     received_at_ms = if_not_exists(received_at_ms, :now), payload = :payload, \
     expires_at = :expires ADD attempts :one";
const CLAIM_CONDITION: &str = "attribute_not_exists(event_id) OR #status = :failed \
     OR (#status = :in_progress AND lease_until_ms < :now)";

/// The values `CLAIM_UPDATE` and `CLAIM_CONDITION` name.
struct ClaimExpression {
    values: Vec<(&'static str, AttributeValue)>,
}

impl ClaimExpression {
    fn new(ledger: &Ledger, payload: &str, now_ms: i64, lease_until_ms: i64) -> ClaimExpression {
        ClaimExpression {
            values: vec![
                (":in_progress", s(EventStatus::InProgress.name())),
                (":failed", s(EventStatus::Failed.name())),
                (":lease", n(lease_until_ms)),
                (":now", n(now_ms)),
                (":payload", s(payload)),
                (":expires", n(ledger.expires_at(now_ms))),
                (":one", n(1)),
            ],
        }
    }
}

/// An event to claim, for `Ledger::claim_event_and_lock`.
pub struct EventClaim<'a> {
    pub workflow_id: &'a str,
    pub event_id: &'a str,
    pub payload: &'a str,
    pub now_ms: i64,
    pub lease_until_ms: i64,
}

/// A person's lock to take, for `Ledger::claim_event_and_lock`.
pub struct LockRequest<'a> {
    pub key: &'a str,
    pub owner: &'a str,
    pub lease_until_ms: i64,
}

impl Ledger {
    /// Claims the event for this invocation until `lease_until_ms`, keeping
    /// its payload for a replay should it fail. `Reclaimed` when an earlier
    /// attempt left a record: the claim asks for the old values of what it
    /// set, which a new event does not have, so a first claim reads nothing
    /// back.
    pub async fn claim_event(
        &self,
        workflow_id: &str,
        event_id: &str,
        payload: &str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Claim, StoreError> {
        let claim = ClaimExpression::new(self, payload, now_ms, lease_until_ms);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.events_table)
            .key("workflow_id", s(workflow_id))
            .key("event_id", s(event_id))
            .update_expression(CLAIM_UPDATE)
            .condition_expression(CLAIM_CONDITION)
            .expression_attribute_names("#status", "status")
            .return_values(ReturnValue::UpdatedOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, value) in claim.values {
            request = request.expression_attribute_values(name, value);
        }
        let refused = match request.send().await {
            Ok(output) if output.attributes().is_none_or(|old| old.is_empty()) => {
                return Ok(Claim::Claimed);
            }
            Ok(_) => return Ok(Claim::Reclaimed),
            Err(SdkError::ServiceError(e)) => match e.into_err() {
                UpdateItemError::ConditionalCheckFailedException(refused) => refused,
                other => {
                    return Err(StoreError::Unavailable(
                        other.meta().code().unwrap_or("error").to_string(),
                    ));
                }
            },
            Err(e) => return Err(unavailable(e)),
        };
        self.refused_claim(workflow_id, event_id, refused.item())
            .await
    }

    /// Claims the event and takes its first person's lock in one
    /// conditional transaction (one round trip where `claim_event` then
    /// `lock_person` take two). `Claimed` only when both were had; a lock
    /// another invocation holds answers `Ok(None)` and takes neither.
    pub async fn claim_event_and_lock(
        &self,
        claim: EventClaim<'_>,
        lock: LockRequest<'_>,
    ) -> Result<Option<Claim>, StoreError> {
        let expression =
            ClaimExpression::new(self, claim.payload, claim.now_ms, claim.lease_until_ms);
        let mut update = Update::builder()
            .table_name(&self.events_table)
            .key("workflow_id", s(claim.workflow_id))
            .key("event_id", s(claim.event_id))
            .update_expression(CLAIM_UPDATE)
            .condition_expression(CLAIM_CONDITION)
            .expression_attribute_names("#status", "status")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, value) in expression.values {
            update = update.expression_attribute_values(name, value);
        }
        let claim_item = update
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let lock_item =
            self.lock_update(lock.key, lock.owner, lock.lease_until_ms, claim.now_ms)?;
        let sent = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(claim_item).build())
            .transact_items(TransactWriteItem::builder().update(lock_item).build())
            .send()
            .await;
        let cancelled = match sent {
            Ok(_) => return Ok(Some(Claim::Claimed)),
            Err(SdkError::ServiceError(e)) => match e.into_err() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => cancelled,
                other => {
                    return Err(StoreError::Unavailable(
                        other.meta().code().unwrap_or("error").to_string(),
                    ));
                }
            },
            Err(e) => return Err(unavailable(e)),
        };
        let reasons = cancelled.cancellation_reasons();
        let failed = |i: usize| {
            reasons
                .get(i)
                .and_then(|r| r.code())
                .is_some_and(|code| code == "ConditionalCheckFailed")
        };
        if failed(0) {
            let item = reasons.first().and_then(|r| r.item());
            return Ok(Some(
                self.refused_claim(claim.workflow_id, claim.event_id, item)
                    .await?,
            ));
        }
        if failed(1) {
            return Ok(None);
        }
        // Cancelled for another reason (a conflicting transaction on one
        // of the items): transient.
        Err(StoreError::Unavailable("TransactionCanceled".to_string()))
    }

    /// What a refused claim means: the refusal carries the item as it is
    /// (one round trip for a duplicate); read it only if it does not.
    async fn refused_claim(
        &self,
        workflow_id: &str,
        event_id: &str,
        item: Option<&Item>,
    ) -> Result<Claim, StoreError> {
        let existing = match item {
            Some(item) => Some(record(item)?),
            None => self.event(workflow_id, event_id).await?,
        };
        if let Some(EventRecord {
            queued: Some(counts),
            status,
            answer,
            ..
        }) = &existing
        {
            return match status {
                EventStatus::Queued => Ok(Claim::Queued {
                    total: counts.total,
                }),
                EventStatus::Completed => match answer {
                    Some(answer) => Ok(Claim::Completed(answer.clone())),
                    None => Ok(Claim::Completed(
                        self.queued_answer(workflow_id, event_id).await?,
                    )),
                },
                _ => Ok(Claim::InProgress),
            };
        }
        match existing {
            Some(EventRecord {
                answer: Some(answer),
                status: EventStatus::Completed,
                ..
            }) => Ok(Claim::Completed(answer)),
            _ => Ok(Claim::InProgress),
        }
    }

    /// The event turned `completed` with its answer; its payload is dropped.
    pub(super) fn completed_item(
        &self,
        workflow_id: &str,
        event_id: &str,
        answer: &EventAnswer,
        now_ms: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let answer =
            serde_json::to_string(answer).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.status_item(
            workflow_id,
            event_id,
            "SET #status = :status, answer = :answer, updated_at_ms = :now \
             REMOVE payload, lease_until_ms, error_code, error_message",
            &[
                (":status", s(EventStatus::Completed.name())),
                (":answer", s(answer)),
                (":now", n(now_ms)),
            ],
        )
    }

    /// The event turned `failed`, keeping its payload for a replay.
    pub(super) fn failed_item(
        &self,
        workflow_id: &str,
        event_id: &str,
        code: &str,
        message: &str,
        now_ms: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        self.status_item(
            workflow_id,
            event_id,
            "SET #status = :status, error_code = :code, error_message = :message, updated_at_ms = :now \
             REMOVE lease_until_ms",
            &[
                (":status", s(EventStatus::Failed.name())),
                (":code", s(code)),
                (":message", s(message)),
                (":now", n(now_ms)),
            ],
        )
    }

    fn status_item(
        &self,
        workflow_id: &str,
        event_id: &str,
        expression: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.events_table)
            .key("workflow_id", s(workflow_id))
            .key("event_id", s(event_id))
            .update_expression(expression)
            .expression_attribute_names("#status", "status");
        for (name, value) in values {
            update = update.expression_attribute_values(*name, value.clone());
        }
        let update = update
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// One recorded event.
    pub async fn event(
        &self,
        workflow_id: &str,
        event_id: &str,
    ) -> Result<Option<EventRecord>, StoreError> {
        let Some(mut event) = self.event_item(workflow_id, event_id).await? else {
            return Ok(None);
        };
        // A queued event's results live in its persons' items.
        if event.queued.is_some()
            && event.status == EventStatus::Completed
            && event.answer.is_none()
        {
            event.answer = Some(self.queued_answer(workflow_id, event_id).await?);
        }
        Ok(Some(event))
    }

    /// The event's own item, read consistently: a queued event's results
    /// are in its persons' items, not here.
    pub(super) async fn event_item(
        &self,
        workflow_id: &str,
        event_id: &str,
    ) -> Result<Option<EventRecord>, StoreError> {
        let key = Item::from([
            ("workflow_id".to_string(), s(workflow_id)),
            ("event_id".to_string(), s(event_id)),
        ]);
        let item = read_consistent(&self.client, &self.events_table, key).await?;
        item.as_ref().map(record).transpose()
    }

    /// Every recorded event of a workflow, newest first.
    pub async fn events(&self, workflow_id: &str) -> Result<Vec<EventRecord>, StoreError> {
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.events_table)
                .key_condition_expression("workflow_id = :wf")
                .expression_attribute_values(":wf", s(workflow_id))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in page.items() {
                records.push(record(item)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        records.sort_by_key(|r| std::cmp::Reverse(r.updated_at_ms));
        Ok(records)
    }

    pub(super) fn expires_at(&self, now_ms: i64) -> i64 {
        now_ms / 1000 + self.retention_days * 86_400
    }
}

fn record(item: &Item) -> Result<EventRecord, StoreError> {
    let text = |name: &str| get_s(item, name).map(String::from);
    let status = get_s(item, "status")
        .and_then(EventStatus::from_name)
        .ok_or_else(|| StoreError::Corrupt("an event without a known status".into()))?;
    let answer = match get_s(item, "answer") {
        None => None,
        Some(json) => Some(
            serde_json::from_str(json)
                .map_err(|e| StoreError::Corrupt(format!("an event answer: {e}")))?,
        ),
    };
    Ok(EventRecord {
        workflow_id: text("workflow_id").unwrap_or_default(),
        event_id: text("event_id").unwrap_or_default(),
        status,
        attempts: get_n(item, "attempts").unwrap_or(0),
        received_at_ms: get_n(item, "received_at_ms").unwrap_or(0),
        updated_at_ms: get_n(item, "updated_at_ms").unwrap_or(0),
        answer,
        error_code: text("error_code"),
        error_message: text("error_message"),
        payload: text("payload"),
        queued: get_n(item, "persons_total").map(|total| super::QueuedCounts {
            total: total.max(0) as u64,
            done: get_n(item, "persons_done").unwrap_or(0).max(0) as u64,
            failed: get_n(item, "persons_failed").unwrap_or(0).max(0) as u64,
        }),
    })
}
