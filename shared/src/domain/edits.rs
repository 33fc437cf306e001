//! Edits made in kvCORE (SPEC section 6): per person, what this workflow
//! last wrote to each kvCORE field, so that an update writes a field only
//! when the source's value changed since, or it was never written, and an
//! agent's fix in kvCORE survives an event that did not change that field.
//!
//! What is kept is a fingerprint per field, not the value: the persons
//! table then holds no names, addresses, birthdays or statuses of anyone
//! (it already keys people by email and phone, and that is all), an item
//! stays small whatever the fields hold, and equality is all the rule
//! needs. A fingerprint is the first 8 bytes of SHA-256 over the field's
//! name and the value as sent: a wrong "unchanged" needs a 2^-64 collision
//! between two values of one field of one person.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::contact::Region;
use crate::domain::fields::{Field, FieldValues, same_value};
use crate::domain::kv_contact::KvContact;

/// kvCORE field name → fingerprint of the value this workflow last wrote
/// there (or found already there, equal to the source's) for one person
/// and one kvCORE contact.
pub type Written = BTreeMap<String, String>;

/// 16 hex digits identifying `value` as written to `field`.
pub fn fingerprint(field: Field, value: &Value) -> String {
    let mut hash = Sha256::new();
    hash.update(field.name().as_bytes());
    hash.update([0]);
    hash.update(value.to_string().as_bytes());
    hex::encode(&hash.finalize()[..8])
}

/// Whether the source still says what this workflow last wrote to
/// `field`: then a different value in kvCORE is someone's edit, and it is
/// kept. `None` (a person synced before kvsync kept fingerprints, or never
/// written) and a field without a fingerprint are never "unchanged".
pub fn unchanged_since_written(written: Option<&Written>, field: Field, value: &Value) -> bool {
    written
        .and_then(|w| w.get(field.name()))
        .is_some_and(|print| *print == fingerprint(field, value))
}

/// The fingerprints to keep after an event: the previous ones, and for each
/// field the source gave (but tags, which are only ever added) whose value
/// was sent, or that kvCORE's record already held, the source's value. A
/// field left different in kvCORE (an edit kept, or `overwrite_existing`
/// false) keeps its previous fingerprint.
pub fn written_after(
    previous: Option<&Written>,
    wanted: &FieldValues,
    sent: &BTreeSet<Field>,
    current: Option<&KvContact>,
    region: Region,
) -> Written {
    let mut written = previous.cloned().unwrap_or_default();
    for (field, value) in wanted {
        if *field == Field::Hashtags {
            continue;
        }
        let held = current.is_some_and(|c| same_value(*field, c.get(field.name()), value, region));
        if sent.contains(field) || held {
            written.insert(field.name().to_string(), fingerprint(*field, value));
        }
    }
    written
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fingerprints_are_short_stable_and_per_field() {
        let a = fingerprint(Field::CellPhone1, &json!("+12395550100"));
        assert_eq!(a.len(), 16);
        assert_eq!(a, fingerprint(Field::CellPhone1, &json!("+12395550100")));
        assert_ne!(a, fingerprint(Field::HomePhone, &json!("+12395550100")));
        assert_ne!(a, fingerprint(Field::CellPhone1, &json!("+12395550101")));
        assert!(!a.contains("239"), "no trace of the value");
    }

    #[test]
    fn only_a_matching_fingerprint_is_unchanged() {
        let phone = json!("+12395550100");
        let written = Written::from([(
            "cell_phone_1".into(),
            fingerprint(Field::CellPhone1, &phone),
        )]);
        assert!(unchanged_since_written(
            Some(&written),
            Field::CellPhone1,
            &phone
        ));
        assert!(!unchanged_since_written(
            Some(&written),
            Field::CellPhone1,
            &json!("+12395550199")
        ));
        assert!(!unchanged_since_written(
            Some(&written),
            Field::HomePhone,
            &phone
        ));
        assert!(
            !unchanged_since_written(None, Field::CellPhone1, &phone),
            "never written"
        );
    }

    #[test]
    fn sent_and_already_held_fields_are_recorded_edits_keep_their_print() {
        let current: KvContact = serde_json::from_value(json!({
            "id": 1, "first_name": "Ann", "cell_phone_1": "(239) 555-0199", "primary_city": "Tampa"
        }))
        .unwrap();
        let wanted = FieldValues::from([
            (Field::FirstName, json!("Ann")),
            (Field::CellPhone1, json!("+12395550100")),
            (Field::PrimaryCity, json!("Naples")),
            (Field::Hashtags, json!(["buyer"])),
        ]);
        let old_phone = fingerprint(Field::CellPhone1, &json!("+12395550100"));
        let previous = Written::from([("cell_phone_1".to_string(), old_phone.clone())]);
        let sent = BTreeSet::from([Field::PrimaryCity]);
        let written = written_after(
            Some(&previous),
            &wanted,
            &sent,
            Some(&current),
            Region::default(),
        );
        assert_eq!(
            written["first_name"],
            fingerprint(Field::FirstName, &json!("Ann")),
            "held"
        );
        assert_eq!(
            written["primary_city"],
            fingerprint(Field::PrimaryCity, &json!("Naples")),
            "sent"
        );
        assert_eq!(
            written["cell_phone_1"], old_phone,
            "an edit kept keeps the old print"
        );
        assert!(!written.contains_key("hashtags"));
    }
}
