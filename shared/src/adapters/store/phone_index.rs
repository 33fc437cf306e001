//! The phone index table (SPEC section 9): for one scope (a kvCORE token
//! secret and a default country), which contacts have which main-card
//! phone. One partition per scope, three kinds of item:
//!
//! - `meta`: the scope's state (built, watermark, last refresh, the
//!   refresher's lease, a build's cursor);
//! - `c#<contact id>`: the phones indexed for that contact, so a change
//!   can remove the entries it no longer has;
//! - `p#<E.164>#<contact id>`: one entry, found by a `begins_with` query.
//!
//! Every contact and entry item carries `seen_ms`, when it was last
//! written; a full build drops what it did not see (deleted or archived
//! contacts). No decisions here: the flows are in `crate::flows::phone_index`.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest,
};

use super::{Item, StoreError, get_n, get_s, lease, n, read_consistent, s, unavailable};

const META: &str = "meta";
/// BatchWriteItem takes at most 25 requests, BatchGetItem 100 keys.
const WRITE_BATCH: usize = 25;
const GET_BATCH: usize = 100;
/// Unprocessed batch items are sent again this many times at most.
const BATCH_TRIES: u32 = 8;

/// The phones indexed for one contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedContact {
    pub contact_id: u64,
    /// E.164 numbers.
    pub phones: BTreeSet<String>,
}

/// Where a full build that ran out of time stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildCursor {
    /// When the build started (unix ms); what it writes is `seen` then.
    pub started_ms: i64,
    /// The next `GET /contacts` page to read (from 1).
    pub next_page: u32,
    pub contacts_read: u64,
}

/// A scope's state, as the `meta` item holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexMeta {
    /// When the last full build finished (unix ms); `None`: never built.
    pub built_at_ms: Option<i64>,
    /// Contacts changed at or after this (unix s, kvCORE's clock) are not
    /// all in the index yet; a refresh lists from here minus an overlap.
    pub watermark_s: Option<i64>,
    /// When the last refresh (or build) finished (unix ms).
    pub last_refresh_ms: Option<i64>,
    /// Contacts the last full build indexed.
    pub contacts: u64,
    /// A build in progress.
    pub build: Option<BuildCursor>,
    /// Who refreshes or builds right now, and until when (unix ms).
    pub lease_owner: Option<String>,
    pub lease_until_ms: Option<i64>,
}

/// What a lease holder writes into `meta` when it lets go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetaUpdate {
    pub built_at_ms: Option<i64>,
    pub watermark_s: Option<i64>,
    pub last_refresh_ms: Option<i64>,
    pub contacts: Option<u64>,
    /// `Some(Some(c))` saves a cursor, `Some(None)` clears it.
    pub build: Option<Option<BuildCursor>>,
}

/// The phone index table.
#[derive(Clone)]
pub struct PhoneIndexStore {
    client: Client,
    table: String,
}

impl PhoneIndexStore {
    pub fn new(client: Client, table: String) -> PhoneIndexStore {
        PhoneIndexStore { client, table }
    }

    /// The scope's state (a strongly consistent read); default when the
    /// scope has never been built.
    pub async fn meta(&self, scope: &str) -> Result<IndexMeta, StoreError> {
        let key = Item::from([
            ("scope".to_string(), s(scope)),
            ("entry".to_string(), s(META)),
        ]);
        let item = read_consistent(&self.client, &self.table, key).await?;
        Ok(item.as_ref().map(meta_of).unwrap_or_default())
    }

    /// Takes the scope's lease for `owner` until `until_ms`, when no one
    /// else holds it; answers the scope's state then, or `None` when
    /// another holder's lease runs.
    pub async fn take_lease(
        &self,
        scope: &str,
        owner: &str,
        until_ms: i64,
        now_ms: i64,
    ) -> Result<Option<IndexMeta>, StoreError> {
        let taken = lease::take(
            &self.client,
            &self.table,
            key(scope, META),
            owner,
            until_ms,
            now_ms,
        )
        .await?;
        Ok(taken.as_ref().map(meta_of))
    }

    /// Saves `update` into `meta`, keeping the lease (a build's progress).
    pub async fn save(
        &self,
        scope: &str,
        owner: &str,
        update: &MetaUpdate,
    ) -> Result<bool, StoreError> {
        self.write_meta(scope, owner, update, false).await
    }

    /// Saves `update` into `meta` and lets the lease go. `false` when the
    /// lease had already passed to someone else (nothing is written).
    pub async fn release(
        &self,
        scope: &str,
        owner: &str,
        update: &MetaUpdate,
    ) -> Result<bool, StoreError> {
        self.write_meta(scope, owner, update, true).await
    }

    async fn write_meta(
        &self,
        scope: &str,
        owner: &str,
        update: &MetaUpdate,
        release: bool,
    ) -> Result<bool, StoreError> {
        let mut set: Vec<&str> = Vec::new();
        let mut remove: Vec<&str> = Vec::new();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("scope", s(scope))
            .key("entry", s(META))
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner));
        let numbers = [
            ("built_at_ms = :built", ":built", update.built_at_ms),
            ("watermark_s = :watermark", ":watermark", update.watermark_s),
            (
                "last_refresh_ms = :refreshed",
                ":refreshed",
                update.last_refresh_ms,
            ),
            (
                "contacts = :contacts",
                ":contacts",
                update.contacts.map(|c| c as i64),
            ),
        ];
        for (clause, name, value) in numbers {
            if let Some(value) = value {
                set.push(clause);
                request = request.expression_attribute_values(name, n(value));
            }
        }
        match update.build {
            Some(Some(cursor)) => {
                set.push("build_started_ms = :b_started, build_next_page = :b_page, build_read = :b_read");
                request = request
                    .expression_attribute_values(":b_started", n(cursor.started_ms))
                    .expression_attribute_values(":b_page", n(cursor.next_page))
                    .expression_attribute_values(":b_read", n(cursor.contacts_read));
            }
            Some(None) => remove.extend(["build_started_ms", "build_next_page", "build_read"]),
            None => {}
        }
        if release {
            remove.extend(["lease_owner", "lease_until_ms"]);
        }
        let mut expression = String::new();
        if !set.is_empty() {
            expression.push_str(&format!("SET {}", set.join(", ")));
        }
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        if expression.is_empty() {
            return Ok(true);
        }
        match request.update_expression(expression.trim()).send().await {
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

    /// The contacts indexed under `e164`, lowest id first.
    pub async fn candidates(&self, scope: &str, e164: &str) -> Result<Vec<u64>, StoreError> {
        let prefix = format!("p#{e164}#");
        let mut ids = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#scope = :scope AND begins_with(#entry, :prefix)")
                .expression_attribute_names("#scope", "scope")
                .expression_attribute_names("#entry", "entry")
                .expression_attribute_values(":scope", s(scope))
                .expression_attribute_values(":prefix", s(&prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            ids.extend(
                output
                    .items()
                    .iter()
                    .filter_map(|item| get_n(item, "contact_id"))
                    .filter_map(|id| u64::try_from(id).ok()),
            );
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// The phones indexed for each of `ids` (absent: not indexed).
    pub async fn indexed(
        &self,
        scope: &str,
        ids: &[u64],
    ) -> Result<HashMap<u64, BTreeSet<String>>, StoreError> {
        let mut found = HashMap::new();
        for chunk in ids.chunks(GET_BATCH) {
            let mut keys: Vec<Item> = chunk
                .iter()
                .map(|id| key(scope, &contact_entry(*id)))
                .collect();
            keys.dedup();
            let mut tries = 0;
            while !keys.is_empty() {
                tries += 1;
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut keys)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(unavailable)?;
                for item in output
                    .responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default()
                {
                    if let Some(indexed) = indexed_contact(&item) {
                        found.insert(indexed.contact_id, indexed.phones);
                    }
                }
                if let Some(rest) = output
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                {
                    keys = rest.keys;
                    backoff(tries, "BatchGetItem").await?;
                }
            }
        }
        Ok(found)
    }

    /// Writes what changed: for each contact, its new phones (an empty set
    /// removes it), given the phones indexed before (`previous`). Every
    /// written item is stamped `seen_ms`; a contact whose phones did not
    /// change is stamped again only when `restamp` (a full build).
    pub async fn apply(
        &self,
        scope: &str,
        changes: &[IndexedContact],
        previous: &HashMap<u64, BTreeSet<String>>,
        seen_ms: i64,
        restamp: bool,
    ) -> Result<(), StoreError> {
        let mut requests = Vec::new();
        for contact in changes {
            let before = previous.get(&contact.contact_id);
            let unchanged = before == Some(&contact.phones);
            if unchanged && !restamp {
                continue;
            }
            if let Some(before) = before {
                for gone in before.difference(&contact.phones) {
                    requests.push(delete(scope, &phone_entry(gone, contact.contact_id))?);
                }
            }
            if contact.phones.is_empty() {
                if before.is_some() {
                    requests.push(delete(scope, &contact_entry(contact.contact_id))?);
                }
                continue;
            }
            let mut item = key(scope, &contact_entry(contact.contact_id));
            item.insert("contact_id".into(), n(contact.contact_id));
            item.insert(
                "phones".into(),
                AttributeValue::Ss(contact.phones.iter().cloned().collect()),
            );
            item.insert("seen_ms".into(), n(seen_ms));
            requests.push(put(item)?);
            for phone in &contact.phones {
                let mut entry = key(scope, &phone_entry(phone, contact.contact_id));
                entry.insert("contact_id".into(), n(contact.contact_id));
                entry.insert("seen_ms".into(), n(seen_ms));
                requests.push(put(entry)?);
            }
        }
        self.write_all(requests).await
    }

    /// Removes one entry (its contact is gone or lost the phone).
    pub async fn remove_entry(
        &self,
        scope: &str,
        e164: &str,
        contact_id: u64,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(scope, &phone_entry(e164, contact_id))))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Deletes every contact and entry item of the scope last written
    /// before `before_ms` (what a full build that started then did not
    /// see). Answers how many contacts remain indexed.
    pub async fn drop_unseen(&self, scope: &str, before_ms: i64) -> Result<u64, StoreError> {
        let mut stale = Vec::new();
        let mut kept_contacts = 0;
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#scope = :scope")
                .expression_attribute_names("#scope", "scope")
                .expression_attribute_values(":scope", s(scope))
                .projection_expression("#scope, entry, seen_ms")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in output.items() {
                let Some(entry) = get_s(item, "entry") else {
                    continue;
                };
                if entry == META {
                    continue;
                }
                if get_n(item, "seen_ms").unwrap_or(0) < before_ms {
                    stale.push(delete(scope, entry)?);
                } else if entry.starts_with("c#") {
                    kept_contacts += 1;
                }
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        self.write_all(stale).await?;
        Ok(kept_contacts)
    }

    async fn write_all(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for chunk in requests.chunks(WRITE_BATCH) {
            let mut pending = chunk.to_vec();
            let mut tries = 0;
            while !pending.is_empty() {
                tries += 1;
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut pending))
                    .send()
                    .await
                    .map_err(unavailable)?;
                if let Some(rest) = output
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                {
                    pending = rest;
                    backoff(tries, "BatchWriteItem").await?;
                }
            }
        }
        Ok(())
    }
}

/// DynamoDB throttled part of a batch: wait a little, or give up.
async fn backoff(tries: u32, operation: &str) -> Result<(), StoreError> {
    if tries >= BATCH_TRIES {
        return Err(StoreError::Unavailable(format!(
            "{operation} left items unprocessed {tries} times"
        )));
    }
    tokio::time::sleep(Duration::from_millis(25 << tries.min(5))).await;
    Ok(())
}

fn contact_entry(contact_id: u64) -> String {
    format!("c#{contact_id}")
}

fn phone_entry(e164: &str, contact_id: u64) -> String {
    format!("p#{e164}#{contact_id}")
}

fn key(scope: &str, entry: &str) -> Item {
    Item::from([
        ("scope".to_string(), s(scope)),
        ("entry".to_string(), s(entry)),
    ])
}

fn put(item: Item) -> Result<WriteRequest, StoreError> {
    let put = PutRequest::builder()
        .set_item(Some(item))
        .build()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(WriteRequest::builder().put_request(put).build())
}

fn delete(scope: &str, entry: &str) -> Result<WriteRequest, StoreError> {
    let delete = DeleteRequest::builder()
        .set_key(Some(key(scope, entry)))
        .build()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(WriteRequest::builder().delete_request(delete).build())
}

fn indexed_contact(item: &Item) -> Option<IndexedContact> {
    let contact_id = u64::try_from(get_n(item, "contact_id")?).ok()?;
    let phones = item
        .get("phones")
        .and_then(|v| v.as_ss().ok())
        .map(|phones| phones.iter().cloned().collect())
        .unwrap_or_default();
    Some(IndexedContact { contact_id, phones })
}

fn meta_of(item: &Item) -> IndexMeta {
    let build = match (
        get_n(item, "build_started_ms"),
        get_n(item, "build_next_page"),
    ) {
        (Some(started_ms), Some(page)) => Some(BuildCursor {
            started_ms,
            next_page: u32::try_from(page).unwrap_or(1).max(1),
            contacts_read: get_n(item, "build_read")
                .and_then(|r| u64::try_from(r).ok())
                .unwrap_or(0),
        }),
        _ => None,
    };
    IndexMeta {
        built_at_ms: get_n(item, "built_at_ms"),
        watermark_s: get_n(item, "watermark_s"),
        last_refresh_ms: get_n(item, "last_refresh_ms"),
        contacts: get_n(item, "contacts")
            .and_then(|c| u64::try_from(c).ok())
            .unwrap_or(0),
        build,
        lease_owner: get_s(item, "lease_owner").map(String::from),
        lease_until_ms: get_n(item, "lease_until_ms"),
    }
}
