//! DynamoDB: workflow settings (`workflows`), and the event ledger in the
//! events and persons tables: idempotency (`events`), per-person locks and
//! the kvCORE contact each person became (`persons`), monthly usage
//! (`usage`). What one event changes at its end is written in one
//! transaction (`Ledger::finish`), so a record, its usage and its person
//! mappings never disagree.

mod events;
mod google_sync;
mod lease;
mod pacing;
mod persons;
mod phone_index;
mod queued;
mod usage;
mod workflows;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};

pub use events::{Claim, EventClaim, EventRecord, EventStatus, LockRequest};
pub use google_sync::{GoogleSyncState, GoogleSyncStore, ListingCursor, ListingKind, SyncPersons};
pub use pacing::{PacingStore, Reservation, gcra_reserve};
pub use persons::{PersonLock, PersonState, PersonWrite, person_keys};
pub use phone_index::{BuildCursor, IndexMeta, IndexedContact, MetaUpdate, PhoneIndexStore};
pub use queued::{
    PERSONS_FAILED, PersonEnding, PersonStatus, QueuedCounts, QueuedPerson, Recorded,
};
pub use usage::{MonthlyUsage, month_of};
pub use workflows::{AllWorkflows, WorkflowError, Workflows, settings_item};

use crate::adapters::aws::error_code;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB did not answer, throttled, or refused: retry later.
    #[error("DynamoDB is unavailable: {0}")]
    Unavailable(String),
    /// An item kvsync wrote is not what it expects (hand-edited?).
    #[error("a stored item is unreadable: {0}")]
    Corrupt(String),
}

pub(crate) fn unavailable<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    StoreError::Unavailable(error_code(&error))
}

/// How long event records are kept unless `RECORD_RETENTION_DAYS` says.
pub const DEFAULT_RETENTION_DAYS: i64 = 30;

/// The events and persons tables, and the retention of event records.
pub struct Ledger {
    client: Client,
    events_table: String,
    persons_table: String,
    retention_days: i64,
}

impl Ledger {
    pub fn new(
        client: Client,
        events_table: String,
        persons_table: String,
        retention_days: i64,
    ) -> Ledger {
        Ledger {
            client,
            events_table,
            persons_table,
            retention_days,
        }
    }

    /// Writes everything at once, or nothing.
    async fn commit(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

type Item = HashMap<String, AttributeValue>;

/// The item at `key` in `table`, read strongly consistent: the store's
/// reads decide on what was just written (claims, leases, locks).
async fn read_consistent(
    client: &Client,
    table: &str,
    key: Item,
) -> Result<Option<Item>, StoreError> {
    let output = client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(unavailable)?;
    Ok(output.item)
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}

/// How an event ended, for `Ledger::finish`.
pub enum Ending<'a> {
    Completed(&'a crate::domain::outcome::EventAnswer),
    Failed { code: &'a str, message: &'a str },
}

impl Ledger {
    /// Records the end of an event in one transaction: its status (and
    /// answer), the persons' locks released and contacts recorded, and the
    /// month's usage.
    pub async fn finish(
        &self,
        workflow_id: &str,
        event_id: &str,
        ending: Ending<'_>,
        persons: &[PersonWrite],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut usage = MonthlyUsage::default();
        let status = match ending {
            Ending::Completed(answer) => {
                for result in &answer.results {
                    usage.count(result.outcome);
                }
                self.completed_item(workflow_id, event_id, answer, now_ms)?
            }
            Ending::Failed { code, message } => {
                usage.failed = 1;
                self.failed_item(workflow_id, event_id, code, message, now_ms)?
            }
        };
        let mut items = vec![status, self.usage_item(workflow_id, now_ms, &usage)?];
        items.extend(self.person_items(persons, now_ms)?);
        self.commit(items).await
    }
}
