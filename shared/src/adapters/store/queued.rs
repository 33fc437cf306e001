//! Records of queued events (SPEC section 11). The event's item counts its
//! persons (`persons_total`, `persons_done`, `persons_failed`); each person
//! has its own item in the events table, under the partition
//! `<workflow_id>#persons` with the key `<event_id>#<index, 6 digits>`, so
//! the event's record shows each person's result as it lands and a
//! 1,000-person event never nears DynamoDB's 400 KB item limit.
//!
//! A person is recorded in one transaction with its counter, the month's
//! usage and its person locks and mappings (as `Ledger::finish` records a
//! whole event). The person item's condition makes a redelivered message
//! count once. Whoever records last (a worker, or the webhook marking the
//! event queued) turns the event `completed`, or `failed` when a person
//! failed for good.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::{
    EventStatus, Item, Ledger, MonthlyUsage, PersonWrite, StoreError, get_n, get_s, n, s,
    unavailable,
};
use crate::domain::outcome::{EventAnswer, PersonResult};

/// The error code of a queued event some of whose persons failed for good.
pub const PERSONS_FAILED: &str = "persons_failed";

/// A queued event's persons, as its item counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueuedCounts {
    pub total: u64,
    pub done: u64,
    pub failed: u64,
}

impl QueuedCounts {
    /// Persons not yet recorded (on the queue, or being synced).
    pub fn pending(&self) -> u64 {
        self.total.saturating_sub(self.done + self.failed)
    }
}

/// How one person of a queued event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonStatus {
    Done,
    Failed,
}

/// One person's record under a queued event.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedPerson {
    pub index: usize,
    pub status: PersonStatus,
    pub result: Option<PersonResult>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// The SQS message body of a failed person: what a replay needs.
    pub message: Option<String>,
    pub updated_at_ms: i64,
}

/// What a worker learned about one person, for `Ledger::record_person`.
pub enum PersonEnding<'a> {
    Done(&'a PersonResult),
    /// Failed past the queue's receive limit: kept with its message.
    Failed {
        code: &'a str,
        message: &'a str,
        body: &'a str,
    },
}

/// What recording a person did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// First recorded now (or turned from failed to done).
    Recorded,
    /// A redelivered message: the person was recorded before; its locks
    /// were released, nothing counted again.
    AlreadyRecorded,
}

fn partition(workflow_id: &str) -> String {
    format!("{workflow_id}#persons")
}

fn person_key(event_id: &str, index: usize) -> String {
    format!("{event_id}#{index:06}")
}

impl Ledger {
    /// The event's persons are on the queue: `status = queued` with its
    /// count, the claim's lease released. Answers the counts as they are
    /// now (workers may have recorded persons already).
    pub async fn mark_queued(
        &self,
        workflow_id: &str,
        event_id: &str,
        total: usize,
        now_ms: i64,
    ) -> Result<QueuedCounts, StoreError> {
        let output = self
            .client
            .update_item()
            .table_name(&self.events_table)
            .key("workflow_id", s(workflow_id))
            .key("event_id", s(event_id))
            .update_expression(
                "SET #status = :queued, persons_total = :total, updated_at_ms = :now, \
                 persons_done = if_not_exists(persons_done, :zero), \
                 persons_failed = if_not_exists(persons_failed, :zero) \
                 REMOVE lease_until_ms, error_code, error_message",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":queued", s(EventStatus::Queued.name()))
            .expression_attribute_values(":total", n(total))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":zero", n(0))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(unavailable)?;
        let item = output.attributes.unwrap_or_default();
        Ok(counts(&item))
    }

    /// Records one person of a queued event, with its usage and its person
    /// locks released and contacts recorded, in one transaction. A
    /// redelivered message records nothing twice.
    pub async fn record_person(
        &self,
        workflow_id: &str,
        event_id: &str,
        index: usize,
        ending: PersonEnding<'_>,
        persons: &[PersonWrite],
        now_ms: i64,
    ) -> Result<Recorded, StoreError> {
        let first =
            self.person_transaction(workflow_id, event_id, index, &ending, None, persons, now_ms)?;
        let old = match self.commit_or_refused(first).await? {
            None => return Ok(Recorded::Recorded),
            Some(old) => old,
        };
        let was = get_s(&old, "person_status");
        match (&ending, was) {
            // Replayed after failing for good: now done.
            (PersonEnding::Done(_), Some("failed")) => {
                let retry = self.person_transaction(
                    workflow_id,
                    event_id,
                    index,
                    &ending,
                    Some(PersonStatus::Failed),
                    persons,
                    now_ms,
                )?;
                match self.commit_or_refused(retry).await? {
                    None => Ok(Recorded::Recorded),
                    Some(_) => {
                        self.commit(self.person_items(persons, now_ms)?).await?;
                        Ok(Recorded::AlreadyRecorded)
                    }
                }
            }
            _ => {
                self.commit(self.person_items(persons, now_ms)?).await?;
                Ok(Recorded::AlreadyRecorded)
            }
        }
    }

    /// Releases the persons' locks (a transient failure: the message goes
    /// back to the queue and is synced again).
    pub async fn release_persons(
        &self,
        persons: &[PersonWrite],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.commit(self.person_items(persons, now_ms)?).await
    }

    /// Commits; `Some(old person item)` when the person item's condition
    /// refused it.
    async fn commit_or_refused(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Item>, StoreError> {
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let cancelled = match sent {
            Ok(_) => return Ok(None),
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
        let first = cancelled.cancellation_reasons().first();
        match first {
            Some(reason) if reason.code() == Some("ConditionalCheckFailed") => {
                Ok(Some(reason.item().cloned().unwrap_or_default()))
            }
            _ => Err(StoreError::Unavailable("TransactionCanceled".to_string())),
        }
    }

    /// The person's item (conditional on what it was), the event's counters,
    /// the month's usage and the persons' items.
    #[allow(clippy::too_many_arguments)]
    fn person_transaction(
        &self,
        workflow_id: &str,
        event_id: &str,
        index: usize,
        ending: &PersonEnding<'_>,
        was: Option<PersonStatus>,
        persons: &[PersonWrite],
        now_ms: i64,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut person = Update::builder()
            .table_name(&self.events_table)
            .key("workflow_id", s(partition(workflow_id)))
            .key("event_id", s(person_key(event_id, index)))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":expires", n(self.expires_at(now_ms)))
            .expression_attribute_values(":index", n(index))
            .expression_attribute_values(":one", n(1))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let mut usage = MonthlyUsage::default();
        let counter;
        match ending {
            PersonEnding::Done(result) => {
                usage.count(result.outcome);
                let json = serde_json::to_string(result)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                person = person
                    .update_expression(
                        "SET person_status = :done, #result = :result, updated_at_ms = :now, \
                         expires_at = :expires, person_index = :index \
                         REMOVE error_code, error_message, message ADD attempts :one",
                    )
                    .expression_attribute_names("#result", "result")
                    .expression_attribute_values(":done", s("done"))
                    .expression_attribute_values(":result", s(json));
                counter = match was {
                    Some(PersonStatus::Failed) => {
                        "ADD persons_done :one, persons_failed :minus_one"
                    }
                    _ => "ADD persons_done :one",
                };
            }
            PersonEnding::Failed {
                code,
                message,
                body,
            } => {
                usage.failed = 1;
                person = person
                    .update_expression(
                        "SET person_status = :failed, error_code = :code, error_message = :message, \
                         message = :body, updated_at_ms = :now, expires_at = :expires, \
                         person_index = :index ADD attempts :one",
                    )
                    .expression_attribute_values(":failed", s("failed"))
                    .expression_attribute_values(":code", s(*code))
                    .expression_attribute_values(":message", s(*message))
                    .expression_attribute_values(":body", s(*body));
                counter = "ADD persons_failed :one";
            }
        }
        person = match was {
            None => person.condition_expression("attribute_not_exists(person_status)"),
            Some(_) => person
                .condition_expression("person_status = :was")
                .expression_attribute_values(":was", s("failed")),
        };
        let person = person
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut event = Update::builder()
            .table_name(&self.events_table)
            .key("workflow_id", s(workflow_id))
            .key("event_id", s(event_id))
            .update_expression(format!("SET updated_at_ms = :now {counter}"))
            .condition_expression("attribute_exists(event_id)")
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":one", n(1));
        if was.is_some() {
            event = event.expression_attribute_values(":minus_one", n(-1));
        }
        let event = event
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut items = vec![
            TransactWriteItem::builder().update(person).build(),
            TransactWriteItem::builder().update(event).build(),
            self.usage_item(workflow_id, now_ms, &usage)?,
        ];
        items.extend(self.person_items(persons, now_ms)?);
        Ok(items)
    }

    /// Turns a queued event whose persons are all recorded `completed`, or
    /// `failed` when some failed for good (its payload kept for a replay).
    /// Safe to call by anyone at any time: the conditions let one writer
    /// win and the others change nothing. Answers the status it now has.
    pub async fn complete_queued(
        &self,
        workflow_id: &str,
        event_id: &str,
        now_ms: i64,
    ) -> Result<Option<EventStatus>, StoreError> {
        let Some(event) = self.event_item(workflow_id, event_id).await? else {
            return Ok(None);
        };
        let Some(counts) = event.queued else {
            return Ok(Some(event.status));
        };
        let open = matches!(event.status, EventStatus::Queued | EventStatus::Failed);
        if !open
            || counts.pending() > 0
            || (event.status == EventStatus::Failed && counts.failed > 0)
        {
            return Ok(Some(event.status));
        }
        let update = self
            .client
            .update_item()
            .table_name(&self.events_table)
            .key("workflow_id", s(workflow_id))
            .key("event_id", s(event_id))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":done", n(counts.done))
            .expression_attribute_values(":failed_count", n(counts.failed));
        let (status, update) = if counts.failed == 0 {
            let update = update
                .update_expression(
                    "SET #status = :completed, updated_at_ms = :now \
                     REMOVE payload, lease_until_ms, error_code, error_message",
                )
                .condition_expression(
                    "(#status = :queued OR #status = :failed) AND persons_done = :done \
                     AND persons_failed = :failed_count",
                )
                .expression_attribute_values(":completed", s(EventStatus::Completed.name()))
                .expression_attribute_values(":queued", s(EventStatus::Queued.name()))
                .expression_attribute_values(":failed", s(EventStatus::Failed.name()));
            (EventStatus::Completed, update)
        } else {
            let message = format!(
                "{} of {} persons failed past the sync queue's receive limit; \
                 `kvsync replay {workflow_id} --failed` runs them again",
                counts.failed, counts.total
            );
            let update = update
                .update_expression(
                    "SET #status = :failed, updated_at_ms = :now, error_code = :code, \
                     error_message = :message",
                )
                .condition_expression(
                    "#status = :queued AND persons_done = :done AND persons_failed = :failed_count",
                )
                .expression_attribute_values(":failed", s(EventStatus::Failed.name()))
                .expression_attribute_values(":queued", s(EventStatus::Queued.name()))
                .expression_attribute_values(":code", s(PERSONS_FAILED))
                .expression_attribute_values(":message", s(message));
            (EventStatus::Failed, update)
        };
        match update.send().await {
            Ok(_) => Ok(Some(status)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                // Another recorder got there first, or counts moved on.
                Ok(Some(event.status))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Every recorded person of a queued event, in the event's order.
    pub async fn queued_persons(
        &self,
        workflow_id: &str,
        event_id: &str,
    ) -> Result<Vec<QueuedPerson>, StoreError> {
        let prefix = format!("{event_id}#");
        let mut persons = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.events_table)
                .key_condition_expression("workflow_id = :p AND begins_with(event_id, :prefix)")
                .expression_attribute_values(":p", s(partition(workflow_id)))
                .expression_attribute_values(":prefix", s(&prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in page.items() {
                // `<event_id>#<6 digits>` exactly: another event's id may
                // start with this one's.
                let key = get_s(item, "event_id").unwrap_or_default();
                let Some(rest) = key.strip_prefix(&prefix) else {
                    continue;
                };
                if rest.len() != 6 || !rest.bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                persons.push(queued_person(item)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        persons.sort_by_key(|p| p.index);
        Ok(persons)
    }

    /// A completed queued event's answer: each person's result in order.
    pub async fn queued_answer(
        &self,
        workflow_id: &str,
        event_id: &str,
    ) -> Result<EventAnswer, StoreError> {
        let results = self
            .queued_persons(workflow_id, event_id)
            .await?
            .into_iter()
            .filter_map(|p| p.result)
            .collect();
        Ok(EventAnswer {
            event_id: event_id.to_string(),
            duplicate: false,
            results,
        })
    }
}

fn counts(item: &Item) -> QueuedCounts {
    let count = |name: &str| get_n(item, name).unwrap_or(0).max(0) as u64;
    QueuedCounts {
        total: count("persons_total"),
        done: count("persons_done"),
        failed: count("persons_failed"),
    }
}

fn queued_person(item: &Item) -> Result<QueuedPerson, StoreError> {
    let text = |name: &str| get_s(item, name).map(String::from);
    let status = match get_s(item, "person_status") {
        Some("done") => PersonStatus::Done,
        Some("failed") => PersonStatus::Failed,
        other => {
            return Err(StoreError::Corrupt(format!(
                "a queued person with status {other:?}"
            )));
        }
    };
    let result = match get_s(item, "result") {
        None => None,
        Some(json) => Some(
            serde_json::from_str(json)
                .map_err(|e| StoreError::Corrupt(format!("a person's result: {e}")))?,
        ),
    };
    Ok(QueuedPerson {
        index: get_n(item, "person_index").unwrap_or(0).max(0) as usize,
        status,
        result,
        error_code: text("error_code"),
        error_message: text("error_message"),
        message: text("message"),
        updated_at_ms: get_n(item, "updated_at_ms").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_keys_sort_in_the_events_order() {
        assert_eq!(person_key("evt", 7), "evt#000007");
        assert!(person_key("evt", 9) < person_key("evt", 10));
        assert_eq!(partition("fub"), "fub#persons");
    }

    #[test]
    fn pending_persons() {
        let counts = QueuedCounts {
            total: 10,
            done: 7,
            failed: 1,
        };
        assert_eq!(counts.pending(), 2);
        assert_eq!(QueuedCounts::default().pending(), 0);
    }
}
