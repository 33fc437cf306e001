//! The Google sync table (SPEC section 10, `GOOGLE_SYNC_TABLE`): one item
//! per polled workflow (key `workflow_id`) with its sync token, a listing
//! in progress, `reconnect_needed`, the last run's summary, and the lease
//! that lets one run at a time work on it. No decisions here: the listing
//! rules are in `crate::flows::google_poll`.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{Item, StoreError, get_n, get_s, lease, n, read_consistent, s, unavailable};

/// Which listing a cursor continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListingKind {
    /// Everyone (no sync token).
    Full,
    /// What changed since `sync_token`.
    Incremental { sync_token: String },
}

/// Which listed persons a listing syncs (SPEC section 10, `initial_sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPersons {
    /// None: a first listing under `initial_sync` = `changes` only
    /// records the sync token.
    None,
    All,
    /// Those whose newest `updateTime` is at or after this (unix ms).
    ChangedSince(i64),
}

/// Where a listing that ran out of time (or met trouble) stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingCursor {
    pub kind: ListingKind,
    /// The page to list again; `None`: the first.
    pub page_token: Option<String>,
    /// When the listing began (unix ms).
    pub started_ms: i64,
    pub persons: SyncPersons,
}

/// A workflow's sync state as its item holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoogleSyncState {
    /// The token for the next incremental listing.
    pub sync_token: Option<String>,
    /// The `personFields` of the request that made `sync_token` (Google
    /// binds a token to its request's parameters, SPEC section 10);
    /// `None` for a token stored before kvsync recorded them.
    pub sync_token_fields: Option<String>,
    /// When the full listing behind `sync_token` began (unix ms).
    pub full_listing_ms: Option<i64>,
    /// When the last completed listing began (unix ms).
    pub synced_through_ms: Option<i64>,
    pub cursor: Option<ListingCursor>,
    /// Set by `invalid_grant`: the fingerprint of the refused refresh
    /// token. Polling waits until the secret holds another one.
    pub reconnect_needed: Option<String>,
    /// When `reconnect_needed` was set (unix ms).
    pub reconnect_needed_since_ms: Option<i64>,
    /// When the last run ended (unix ms) and its summary (JSON text).
    pub last_run_ms: Option<i64>,
    pub last_run: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until_ms: Option<i64>,
}

/// The Google sync table.
#[derive(Clone)]
pub struct GoogleSyncStore {
    client: Client,
    table: String,
}

impl GoogleSyncStore {
    pub fn new(client: Client, table: String) -> GoogleSyncStore {
        GoogleSyncStore { client, table }
    }

    /// The workflow's state (a strongly consistent read); default when it
    /// was never polled.
    pub async fn state(&self, workflow_id: &str) -> Result<GoogleSyncState, StoreError> {
        let key = Item::from([("workflow_id".to_string(), s(workflow_id))]);
        let item = read_consistent(&self.client, &self.table, key).await?;
        Ok(item.as_ref().map(state_of).unwrap_or_default())
    }

    /// Takes the workflow's lease for `owner` until `until_ms` when no one
    /// else holds a live one; answers the state then, or `None` when
    /// another run holds it.
    pub async fn take_lease(
        &self,
        workflow_id: &str,
        owner: &str,
        until_ms: i64,
        now_ms: i64,
    ) -> Result<Option<GoogleSyncState>, StoreError> {
        let key = Item::from([("workflow_id".to_string(), s(workflow_id))]);
        let taken = lease::take(&self.client, &self.table, key, owner, until_ms, now_ms).await?;
        Ok(taken.as_ref().map(state_of))
    }

    /// Writes `state` (every field but the lease) while `owner` holds the
    /// lease, and lets it go when `release`. `false` when the lease had
    /// passed to another run: nothing is written.
    pub async fn write(
        &self,
        workflow_id: &str,
        owner: &str,
        state: &GoogleSyncState,
        release: bool,
    ) -> Result<bool, StoreError> {
        let mut set = Vec::new();
        let mut remove = Vec::new();
        let mut values: HashMap<String, AttributeValue> = HashMap::new();
        values.insert(":owner".into(), s(owner));
        for (name, value) in fields_of(state) {
            match value {
                Some(value) => {
                    set.push(format!("{name} = :{name}"));
                    values.insert(format!(":{name}"), value);
                }
                None => remove.push(name.to_string()),
            }
        }
        if release {
            remove.extend(["lease_owner".to_string(), "lease_until_ms".to_string()]);
        }
        let mut expression = String::new();
        if !set.is_empty() {
            expression.push_str(&format!("SET {}", set.join(", ")));
        }
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let written = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("workflow_id", s(workflow_id))
            .update_expression(expression.trim())
            .condition_expression("lease_owner = :owner")
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match written {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// Every stored attribute of a state but the lease: `None` is removed.
fn fields_of(state: &GoogleSyncState) -> Vec<(&'static str, Option<AttributeValue>)> {
    let cursor = state.cursor.as_ref();
    let (persons, since) = match cursor.map(|c| c.persons) {
        None => (None, None),
        Some(SyncPersons::None) => (Some("none"), None),
        Some(SyncPersons::All) => (Some("all"), None),
        Some(SyncPersons::ChangedSince(at)) => (Some("changed_since"), Some(at)),
    };
    vec![
        ("sync_token", state.sync_token.clone().map(s)),
        (
            "sync_token_person_fields",
            state.sync_token_fields.clone().map(s),
        ),
        ("full_listing_ms", state.full_listing_ms.map(n)),
        ("synced_through_ms", state.synced_through_ms.map(n)),
        (
            "cursor_kind",
            cursor.map(|c| match c.kind {
                ListingKind::Full => s("full"),
                ListingKind::Incremental { .. } => s("incremental"),
            }),
        ),
        (
            "cursor_sync_token",
            cursor.and_then(|c| match &c.kind {
                ListingKind::Full => None,
                ListingKind::Incremental { sync_token } => Some(s(sync_token.clone())),
            }),
        ),
        (
            "cursor_page_token",
            cursor.and_then(|c| c.page_token.clone()).map(s),
        ),
        ("cursor_started_ms", cursor.map(|c| n(c.started_ms))),
        ("cursor_persons", persons.map(s)),
        ("cursor_since_ms", since.map(n)),
        ("reconnect_needed", state.reconnect_needed.clone().map(s)),
        (
            "reconnect_needed_since_ms",
            state.reconnect_needed_since_ms.map(n),
        ),
        ("last_run_ms", state.last_run_ms.map(n)),
        ("last_run", state.last_run.clone().map(s)),
    ]
}

fn state_of(item: &Item) -> GoogleSyncState {
    let text = |name: &str| get_s(item, name).map(String::from);
    let cursor = match get_s(item, "cursor_kind") {
        Some(kind) => {
            let kind = match (kind, text("cursor_sync_token")) {
                ("incremental", Some(sync_token)) => Some(ListingKind::Incremental { sync_token }),
                ("full", _) => Some(ListingKind::Full),
                // Unreadable: no cursor; the next run starts a listing.
                _ => None,
            };
            let persons = match (
                get_s(item, "cursor_persons"),
                get_n(item, "cursor_since_ms"),
            ) {
                (Some("none"), _) => Some(SyncPersons::None),
                (Some("all"), _) => Some(SyncPersons::All),
                (Some("changed_since"), Some(at)) => Some(SyncPersons::ChangedSince(at)),
                _ => None,
            };
            match (kind, persons, get_n(item, "cursor_started_ms")) {
                (Some(kind), Some(persons), Some(started_ms)) => Some(ListingCursor {
                    kind,
                    page_token: text("cursor_page_token"),
                    started_ms,
                    persons,
                }),
                _ => None,
            }
        }
        None => None,
    };
    GoogleSyncState {
        sync_token: text("sync_token"),
        sync_token_fields: text("sync_token_person_fields"),
        full_listing_ms: get_n(item, "full_listing_ms"),
        synced_through_ms: get_n(item, "synced_through_ms"),
        cursor,
        reconnect_needed: text("reconnect_needed"),
        reconnect_needed_since_ms: get_n(item, "reconnect_needed_since_ms"),
        last_run_ms: get_n(item, "last_run_ms"),
        last_run: text("last_run"),
        lease_owner: text("lease_owner"),
        lease_until_ms: get_n(item, "lease_until_ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field written comes back as it was (the item round trip,
    /// without DynamoDB).
    #[test]
    fn a_state_reads_back_as_written() {
        for cursor in [
            None,
            Some(ListingCursor {
                kind: ListingKind::Incremental {
                    sync_token: "s1".into(),
                },
                page_token: Some("p2".into()),
                started_ms: 5,
                persons: SyncPersons::All,
            }),
            Some(ListingCursor {
                kind: ListingKind::Full,
                page_token: None,
                started_ms: 6,
                persons: SyncPersons::ChangedSince(3),
            }),
            Some(ListingCursor {
                kind: ListingKind::Full,
                page_token: Some("p9".into()),
                started_ms: 7,
                persons: SyncPersons::None,
            }),
        ] {
            let state = GoogleSyncState {
                sync_token: Some("tok".into()),
                sync_token_fields: Some("names,metadata".into()),
                full_listing_ms: Some(1),
                synced_through_ms: Some(2),
                cursor,
                reconnect_needed: Some("abcd".into()),
                reconnect_needed_since_ms: Some(4),
                last_run_ms: Some(8),
                last_run: Some("{}".into()),
                lease_owner: None,
                lease_until_ms: None,
            };
            let item: Item = fields_of(&state)
                .into_iter()
                .filter_map(|(name, value)| Some((name.to_string(), value?)))
                .collect();
            assert_eq!(state_of(&item), state);
        }
    }
}
