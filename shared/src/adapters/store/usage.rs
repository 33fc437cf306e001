//! Usage counters per workflow and calendar month (UTC): what a team syncs,
//! by outcome, so it can pick a plan. Kept in the events table under the
//! partition `<workflow_id>#usage`, one item a month, incremented atomically
//! in the same transaction that records the event.

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use serde::Serialize;

use super::{Ledger, StoreError, get_n, get_s, n, s, unavailable};
use crate::domain::outcome::Outcome;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MonthlyUsage {
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub skipped: i64,
    /// Events that ended failed (each failed attempt counts once).
    pub failed: i64,
}

impl MonthlyUsage {
    pub fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Skipped => self.skipped += 1,
        }
    }

    fn counters(&self) -> [(&'static str, i64); 5] {
        [
            ("created", self.created),
            ("updated", self.updated),
            ("unchanged", self.unchanged),
            ("skipped", self.skipped),
            ("failed", self.failed),
        ]
    }
}

/// `2026-11` for a unix time in ms.
pub fn month_of(unix_ms: i64) -> String {
    let date = time::OffsetDateTime::from_unix_timestamp(unix_ms / 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date();
    format!("{:04}-{:02}", date.year(), u8::from(date.month()))
}

fn partition(workflow_id: &str) -> String {
    format!("{workflow_id}#usage")
}

impl Ledger {
    pub(super) fn usage_item(
        &self,
        workflow_id: &str,
        now_ms: i64,
        usage: &MonthlyUsage,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.events_table)
            .key("workflow_id", s(partition(workflow_id)))
            .key("event_id", s(month_of(now_ms)));
        let mut adds = Vec::new();
        for (name, value) in usage.counters() {
            adds.push(format!("{name} :{name}"));
            update = update.expression_attribute_values(format!(":{name}"), n(value));
        }
        let update = update
            .update_expression(format!("ADD {}", adds.join(", ")))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// A workflow's usage, month by month, oldest first.
    pub async fn usage(
        &self,
        workflow_id: &str,
    ) -> Result<Vec<(String, MonthlyUsage)>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.events_table)
            .key_condition_expression("workflow_id = :p")
            .expression_attribute_values(":p", s(partition(workflow_id)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output
            .items()
            .iter()
            .map(|item| {
                let count = |name: &str| get_n(item, name).unwrap_or(0);
                let month = get_s(item, "event_id").unwrap_or_default().to_string();
                let usage = MonthlyUsage {
                    created: count("created"),
                    updated: count("updated"),
                    unchanged: count("unchanged"),
                    skipped: count("skipped"),
                    failed: count("failed"),
                };
                (month, usage)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_utc_calendar_months() {
        assert_eq!(month_of(0), "1970-01");
        assert_eq!(month_of(1_796_083_199_000), "2026-11");
        assert_eq!(month_of(1_796_083_200_000), "2026-12");
    }

    #[test]
    fn outcomes_are_counted() {
        let mut usage = MonthlyUsage::default();
        usage.count(Outcome::Created);
        usage.count(Outcome::Skipped);
        usage.count(Outcome::Skipped);
        assert_eq!((usage.created, usage.skipped, usage.updated), (1, 2, 0));
    }
}
