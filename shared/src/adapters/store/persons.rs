//! Per-person locks and the kvCORE contact each person became (SPEC section
//! 6, concurrent events). kvCORE's search lags ~30 s behind a create, so two
//! events for the same new person can both miss it; instead, an event holds
//! its person's lock from lookup to record, and the contact it created or
//! matched is written under every identity of the person (each email, each
//! phone). The next event finds that mapping before it searches kvCORE.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use tokio::time::Instant;

use super::{Item, Ledger, StoreError, get_n, n, read_consistent, s, unavailable};
use crate::domain::contact::Person;
use crate::domain::edits::Written;

/// How long a person item lives after its last write.
const MAPPING_TTL_DAYS: i64 = 400;

/// The person's identity keys, lock key first: the primary email, else the
/// first phone. Two events for one person lock the same key whenever they
/// share their primary identity, which sources always send.
pub fn person_keys(workflow_id: &str, person: &Person) -> Vec<String> {
    let emails = person
        .emails
        .iter()
        .map(|e| format!("{workflow_id}#email:{}", e.as_str()));
    let phones = person
        .phones
        .iter()
        .map(|p| format!("{workflow_id}#phone:{}", p.e164));
    let mut keys: Vec<String> = emails.chain(phones).collect();
    let mut seen = std::collections::HashSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    keys
}

/// Takes a person's lock: free, expired, or already this owner's.
const LOCK_UPDATE: &str = "SET lock_owner = :owner, lock_until = :until, expires_at = :expires";
const LOCK_CONDITION: &str =
    "attribute_not_exists(lock_until) OR lock_until < :now OR lock_owner = :owner";

/// A person's item as read, lock holder included.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonState {
    pub lock: PersonLock,
    pub lock_owner: Option<String>,
    pub lock_until_ms: Option<i64>,
}

impl PersonState {
    /// Whether another invocation held the lock when this was read: then
    /// its end may still change what the item records.
    pub fn held_by_another(&self, owner: &str, now_ms: i64) -> bool {
        self.lock_owner.as_deref().is_some_and(|o| o != owner)
            && self.lock_until_ms.is_some_and(|until| until >= now_ms)
    }
}

/// A held lock, and what the person's item said when it was taken.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonLock {
    pub key: String,
    /// The kvCORE contact this person became, if an event recorded one.
    pub contact_id: Option<u64>,
    /// The newest change time applied to this person (unix ms).
    pub last_changed_ms: Option<i64>,
    /// What this workflow last wrote to `contact_id`'s fields, as
    /// fingerprints (SPEC section 6, "Edits made in kvCORE"); `None` for a
    /// person recorded before they were kept, who is treated as never
    /// written once.
    pub written: Option<Written>,
}

impl PersonLock {
    fn of(key: &str, item: &Item) -> PersonLock {
        PersonLock {
            key: key.to_string(),
            contact_id: get_n(item, "contact_id").and_then(|id| u64::try_from(id).ok()),
            last_changed_ms: get_n(item, "last_changed_ms"),
            written: written_of(item),
        }
    }
}

/// The `written` map (M of S) of a person's item.
fn written_of(item: &Item) -> Option<Written> {
    let map = item.get(WRITTEN)?.as_m().ok()?;
    Some(
        map.iter()
            .filter_map(|(field, print)| Some((field.clone(), print.as_s().ok()?.clone())))
            .collect(),
    )
}

/// The person item's attribute holding `PersonLock::written`.
const WRITTEN: &str = "written";

/// What an event learned about one person, written when the event ends.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonWrite {
    pub lock_key: String,
    pub keys: Vec<String>,
    pub contact_id: Option<u64>,
    pub changed_ms: Option<i64>,
    /// Replaces the fingerprints kept with `contact_id` (only written
    /// beside a contact id).
    pub written: Option<Written>,
}

impl Ledger {
    /// Takes the lock on `key` for `owner` until `lease_until_ms`, waiting
    /// while another invocation holds it. `None` when it is still held at
    /// `give_up_at`.
    pub async fn lock_person(
        &self,
        key: &str,
        owner: &str,
        lease_until_ms: i64,
        give_up_at: Instant,
    ) -> Result<Option<PersonLock>, StoreError> {
        let mut pause = Duration::from_millis(50);
        loop {
            let now = crate::clock::now_ms();
            let taken = self
                .client
                .update_item()
                .table_name(&self.persons_table)
                .key("person_key", s(key))
                .update_expression(LOCK_UPDATE)
                .condition_expression(LOCK_CONDITION)
                .expression_attribute_values(":owner", s(owner))
                .expression_attribute_values(":until", n(lease_until_ms))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":expires", n(now / 1000 + MAPPING_TTL_DAYS * 86_400))
                .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
                .send()
                .await;
            match taken {
                Ok(output) => {
                    let item = output.attributes.unwrap_or_default();
                    return Ok(Some(PersonLock::of(key, &item)));
                }
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                {
                    if Instant::now() + pause >= give_up_at {
                        return Ok(None);
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(400));
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
    }

    /// The lock on `key` as a transaction item (for
    /// `claim_event_and_lock`): the same update and condition as
    /// `lock_person`.
    pub(super) fn lock_update(
        &self,
        key: &str,
        owner: &str,
        lease_until_ms: i64,
        now_ms: i64,
    ) -> Result<Update, StoreError> {
        Update::builder()
            .table_name(&self.persons_table)
            .key("person_key", s(key))
            .update_expression(LOCK_UPDATE)
            .condition_expression(LOCK_CONDITION)
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(lease_until_ms))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":expires", n(now_ms / 1000 + MAPPING_TTL_DAYS * 86_400))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// The person's item as it is (a strongly consistent read): what it
    /// recorded, and who holds its lock until when.
    pub async fn person(&self, key: &str) -> Result<PersonState, StoreError> {
        let item_key = Item::from([("person_key".to_string(), s(key))]);
        let item = read_consistent(&self.client, &self.persons_table, item_key)
            .await?
            .unwrap_or_default();
        Ok(PersonState {
            lock: PersonLock::of(key, &item),
            lock_owner: super::get_s(&item, "lock_owner").map(String::from),
            lock_until_ms: get_n(&item, "lock_until"),
        })
    }

    /// The items that release the locks and record the persons' contacts.
    /// One item per key: DynamoDB refuses two operations on one item in a
    /// transaction, and two people of one event may share an identity.
    pub(super) fn person_items(
        &self,
        writes: &[PersonWrite],
        now_ms: i64,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        #[derive(Default)]
        struct KeyWrite<'w> {
            release: bool,
            contact_id: Option<u64>,
            changed_ms: Option<i64>,
            written: Option<&'w Written>,
        }
        let mut by_key: BTreeMap<&str, KeyWrite> = BTreeMap::new();
        for write in writes {
            let lock = by_key.entry(&write.lock_key).or_default();
            lock.release = true;
            lock.changed_ms = lock.changed_ms.max(write.changed_ms);
            if let Some(contact_id) = write.contact_id {
                for key in &write.keys {
                    let entry = by_key.entry(key).or_default();
                    entry.contact_id = Some(contact_id);
                    entry.written = write.written.as_ref();
                }
            }
        }
        by_key
            .into_iter()
            .filter(|(_, w)| w.release || w.contact_id.is_some())
            .map(|(key, w)| {
                let mut set = vec!["expires_at = :expires"];
                let mut update = Update::builder()
                    .table_name(&self.persons_table)
                    .key("person_key", s(key))
                    .expression_attribute_values(
                        ":expires",
                        n(now_ms / 1000 + MAPPING_TTL_DAYS * 86_400),
                    );
                if let Some(contact_id) = w.contact_id {
                    set.push("contact_id = :contact");
                    update = update.expression_attribute_values(":contact", n(contact_id));
                    if let Some(written) = w.written {
                        set.push("written = :written");
                        let prints = written
                            .iter()
                            .map(|(field, print)| (field.clone(), s(print.clone())))
                            .collect();
                        update = update
                            .expression_attribute_values(":written", AttributeValue::M(prints));
                    }
                }
                if let Some(changed) = w.changed_ms {
                    set.push("last_changed_ms = :changed");
                    update = update.expression_attribute_values(":changed", n(changed));
                }
                let mut expression = format!("SET {}", set.join(", "));
                if w.release {
                    expression.push_str(" REMOVE lock_owner, lock_until");
                }
                let update = update
                    .update_expression(expression)
                    .build()
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(TransactWriteItem::builder().update(update).build())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::{Email, Phone, PhoneKind, Region};

    #[test]
    fn keys_are_every_identity_primary_first() {
        let person = Person {
            emails: vec![
                Email::parse("a@x.com").unwrap(),
                Email::parse("b@x.com").unwrap(),
            ],
            phones: vec![
                Phone::parse("2395550100", Region::default(), PhoneKind::Mobile).unwrap(),
                Phone::parse("239-555-0100", Region::default(), PhoneKind::Home).unwrap(),
            ],
            ..Person::default()
        };
        assert_eq!(
            person_keys("wf", &person),
            [
                "wf#email:a@x.com",
                "wf#email:b@x.com",
                "wf#phone:+12395550100"
            ]
        );
        let phone_only = Person {
            phones: person.phones.clone(),
            ..Person::default()
        };
        assert_eq!(person_keys("wf", &phone_only)[0], "wf#phone:+12395550100");
    }
}
