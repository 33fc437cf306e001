//! Microsoft 365 / Outlook contacts: a Microsoft Graph `contact` resource
//! as a delta page lists it (SPEC section 15;
//! <https://learn.microsoft.com/graph/api/resources/contact>), through the
//! shared person-building helpers (`people`).
//!
//! - `givenName`, `surname` (a contact with neither: its `displayName`,
//!   split as people write names, `domain::names`).
//! - `emailAddresses[].address`: the first is the primary.
//! - Phones: `mobilePhone` (mobile) first, then `homePhones[]` (home),
//!   then `businessPhones[]` (work).
//! - `homeAddress`: `street`, `city`, `state`, `postalCode`.
//! - `birthday`: a UTC timestamp at midnight (`2014-01-01T00:00:00Z`);
//!   its date part is the birthday.
//! - `categories[]`: tags.
//! - Event id `id#changeKey` (the `changeKey` changes with every change of
//!   the contact); change time `lastModifiedDateTime`.
//!
//! A delta entry marked `@removed` is skipped by the poller before it gets
//! here; one that still arrives has nothing to sync and is `Unsupported`.

use crate::domain::contact::{Address, Person, PhoneKind};
use crate::domain::names;

use super::json::{Obj, PayloadError, element_object, element_string, object};
use super::{ParseContext, SourceEvent, Subject, dates, people};

pub fn parse(body: &[u8], context: ParseContext<'_>) -> Result<SourceEvent, PayloadError> {
    let map = object(body)?;
    let root = Obj::root(&map);
    let id = text(&root, "id")?
        .ok_or_else(|| PayloadError::new("id", "is required: the contact's Graph id"))?;
    let event_id = event_id(id, text(&root, "changeKey")?);
    if root.get("@removed").is_some() {
        return Ok(SourceEvent {
            event_id: Some(event_id),
            subjects: vec![Subject::Unsupported {
                source_id: Some(id.to_string()),
            }],
        });
    }

    let mut person = Person {
        source_id: Some(id.to_string()),
        changed_at_ms: changed_at(&root)?,
        ..Person::default()
    };
    let given = text(&root, "givenName")?;
    let surname = text(&root, "surname")?;
    let display = text(&root, "displayName")?;
    if given.is_none() && surname.is_none() {
        // Only a display name: split as people write names (SPEC section
        // 5, "Names"); an email or a phone is no name.
        let split = names::from_display_name(display.unwrap_or(""));
        person.first_name = split.first;
        person.last_name = split.last;
    } else {
        person.first_name = given.map(String::from);
        person.last_name = surname.map(String::from);
    }

    for (path, value) in root.array("emailAddresses")? {
        let entry = element_object(path, value)?;
        if let Some(address) = text(&entry, "address")? {
            people::add_email(&mut person, address, &entry.field_path("address"));
        }
    }

    if let Some(mobile) = root.phone("mobilePhone")? {
        people::add_phone(
            &mut person,
            &mobile,
            PhoneKind::Mobile,
            context.region,
            "mobilePhone",
        );
    }
    for (field, kind) in [
        ("homePhones", PhoneKind::Home),
        ("businessPhones", PhoneKind::Work),
    ] {
        for (path, value) in root.array(field)? {
            let raw = element_string(&path, value)?;
            if !raw.trim().is_empty() {
                people::add_phone(&mut person, raw, kind, context.region, &path);
            }
        }
    }

    if let Some(address) = root.object("homeAddress")? {
        person.address = Address {
            street: address.id("street")?,
            city: address.id("city")?,
            state: address.id("state")?,
            zip: address.id("postalCode")?,
        };
    }
    if let Some(raw) = text(&root, "birthday")? {
        person.birthday = birthday_of(raw, &mut person.problems);
    }
    for (path, value) in root.array("categories")? {
        let tag = element_string(&path, value)?.trim();
        if !tag.is_empty() && !person.tags.iter().any(|t| t == tag) {
            person.tags.push(tag.to_string());
        }
    }

    // `source.<path>` in filters and field_map reads the contact as Graph
    // sent it (SPEC section 12).
    people::keep_record(&mut person, &map, Vec::new());

    Ok(SourceEvent {
        event_id: Some(event_id),
        subjects: vec![Subject::Person(Box::new(person))],
    })
}

/// `id#changeKey` (SPEC section 15): one version of one contact.
pub fn event_id(id: &str, change_key: Option<&str>) -> String {
    match change_key {
        Some(key) => format!("{id}#{key}"),
        None => id.to_string(),
    }
}

fn changed_at(root: &Obj<'_>) -> Result<Option<i64>, PayloadError> {
    match root.get("lastModifiedDateTime") {
        None => Ok(None),
        Some(value) => dates::timestamp_ms(value).map(Some).ok_or_else(|| {
            PayloadError::new(
                "lastModifiedDateTime",
                "must be an ISO 8601 time (2026-01-31T12:00:00Z)",
            )
        }),
    }
}

/// The date part of Graph's birthday timestamp (`2014-01-01T00:00:00Z`);
/// a bare `YYYY-MM-DD` is read too. Anything else is left out and said.
fn birthday_of(raw: &str, problems: &mut Vec<String>) -> Option<String> {
    let date = raw.split('T').next().unwrap_or(raw);
    let valid = dates::calendar_date(date);
    if valid.is_none() {
        problems.push("birthday is not an ISO 8601 date; it was left out".to_string());
    }
    valid
}

/// A string field, trimmed; blank reads as absent.
fn text<'a>(obj: &Obj<'a>, name: &str) -> Result<Option<&'a str>, PayloadError> {
    Ok(obj.string(name)?.map(str::trim).filter(|s| !s.is_empty()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};

    use super::*;
    use crate::domain::contact::Region;

    fn read(contact: Value) -> Result<SourceEvent, PayloadError> {
        let agent_map = BTreeMap::new();
        let context = ParseContext {
            region: Region::default(),
            agent_map: &agent_map,
        };
        parse(contact.to_string().as_bytes(), context)
    }

    fn person(contact: Value) -> Person {
        match read(contact).unwrap().subjects.remove(0) {
            Subject::Person(person) => *person,
            other => panic!("a person, got {other:?}"),
        }
    }

    #[test]
    fn a_full_contact_maps_every_field() {
        let event = read(json!({
            "id": "AAMkAD1", "changeKey": "EQAAABYA",
            "lastModifiedDateTime": "2026-03-01T10:00:00Z",
            "givenName": "Ann", "surname": "Lee", "displayName": "Ann Lee",
            "emailAddresses": [
                {"name": "Ann", "address": "Ann@Example.com"},
                {"name": "Ann (work)", "address": "ann@work.example"}
            ],
            "mobilePhone": "(239) 555-0142",
            "homePhones": ["239-555-0143"],
            "businessPhones": ["+1 239 555 0144", "239-555-0142"],
            "homeAddress": {"street": "1 Main St", "city": "Naples", "state": "FL",
                            "countryOrRegion": "United States", "postalCode": "34102"},
            "birthday": "1980-06-15T00:00:00Z",
            "categories": ["Buyer", "Red category", "Buyer"]
        }))
        .unwrap();
        assert_eq!(event.event_id.as_deref(), Some("AAMkAD1#EQAAABYA"));
        let Subject::Person(p) = &event.subjects[0] else {
            panic!("a person")
        };
        assert_eq!(p.source_id.as_deref(), Some("AAMkAD1"));
        assert_eq!(p.first_name.as_deref(), Some("Ann"));
        assert_eq!(p.last_name.as_deref(), Some("Lee"));
        let emails: Vec<&str> = p.emails.iter().map(|e| e.as_str()).collect();
        assert_eq!(emails, ["ann@example.com", "ann@work.example"]);
        let phones: Vec<(&str, PhoneKind)> =
            p.phones.iter().map(|p| (p.e164.as_str(), p.kind)).collect();
        assert_eq!(
            phones,
            [
                ("+12395550142", PhoneKind::Mobile),
                ("+12395550143", PhoneKind::Home),
                ("+12395550144", PhoneKind::Work),
            ],
            "the mobile first; a repeated number once"
        );
        assert_eq!(
            p.address,
            Address {
                street: Some("1 Main St".into()),
                city: Some("Naples".into()),
                state: Some("FL".into()),
                zip: Some("34102".into()),
            }
        );
        assert_eq!(p.birthday.as_deref(), Some("1980-06-15"));
        assert_eq!(p.tags, ["Buyer", "Red category"]);
        assert_eq!(p.changed_at_ms, Some(1_772_359_200_000));
        assert!(p.problems.is_empty(), "{:?}", p.problems);
    }

    #[test]
    fn sparse_and_unusable_entries() {
        for (contact, first, last, problems) in [
            (
                // A lone display name is split as people write names
                // (SPEC section 5), as Google's is.
                json!({"id": "c1", "displayName": "Acme Realty"}),
                Some("Acme"),
                Some("Realty"),
                0,
            ),
            (
                json!({"id": "c2", "surname": "Lee", "displayName": "Dr Lee"}),
                None,
                Some("Lee"),
                0,
            ),
            (
                json!({"id": "c3", "givenName": " ", "emailAddresses": [{"address": "not an email"}],
                       "mobilePhone": "12", "birthday": "sometime"}),
                None,
                None,
                3,
            ),
        ] {
            let p = person(contact.clone());
            assert_eq!(p.first_name.as_deref(), first, "{contact}");
            assert_eq!(p.last_name.as_deref(), last, "{contact}");
            assert_eq!(p.problems.len(), problems, "{contact}: {:?}", p.problems);
            assert!(p.emails.is_empty() && p.phones.is_empty());
        }
        assert_eq!(
            read(json!({"id": "c4"})).unwrap().event_id.as_deref(),
            Some("c4"),
            "no changeKey: the id alone"
        );
    }

    #[test]
    fn a_removed_entry_is_not_a_person() {
        let event = read(json!({"id": "c1", "@removed": {"reason": "deleted"}})).unwrap();
        assert_eq!(
            event.subjects,
            [Subject::Unsupported {
                source_id: Some("c1".into())
            }]
        );
    }

    #[test]
    fn wrong_shapes_name_the_field() {
        for (contact, field) in [
            (json!({"givenName": "Ann"}), "id"),
            (
                json!({"id": "c1", "homePhones": "239-555-0143"}),
                "homePhones",
            ),
            (json!({"id": "c1", "categories": [3]}), "categories[0]"),
            (
                json!({"id": "c1", "lastModifiedDateTime": "yesterday"}),
                "lastModifiedDateTime",
            ),
            (
                json!({"id": "c1", "emailAddresses": ["a@b.co"]}),
                "emailAddresses[0]",
            ),
        ] {
            let error = read(contact.clone()).expect_err("refused");
            assert!(error.to_string().contains(field), "{contact}: {error}");
        }
    }
}
