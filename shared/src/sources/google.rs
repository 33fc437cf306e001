//! Google Contacts: a People API `Person` resource (SPEC section 5). The
//! primary entry of each field comes first (`metadata.primary`, else the
//! first entry); the change time is the newest `metadata.sources[].updateTime`.

use serde_json::Value;

use crate::contact::{Address, Person, PhoneKind};

use super::json::{Obj, PayloadError, element_object, object};
use super::{ParseContext, SourceEvent, Subject, dates, people};

pub fn parse(body: &[u8], context: ParseContext<'_>) -> Result<SourceEvent, PayloadError> {
    let map = object(body)?;
    let root = Obj::root(&map);
    let resource_name = root
        .string("resourceName")?
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            PayloadError::new("resourceName", "is required: the Person's resource name")
        })?;
    let event_id = match root.string("etag")? {
        Some(etag) => format!("{resource_name}#{etag}"),
        None => resource_name.to_string(),
    };

    let mut person = Person {
        source_id: Some(resource_name.to_string()),
        changed_at_ms: changed_at(&root)?,
        ..Person::default()
    };
    if let Some(name) = people::primary_first(&root, "names", is_primary)?
        .into_iter()
        .next()
    {
        let text = |field: &str| -> Result<Option<String>, PayloadError> {
            Ok(name
                .string(field)?
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from))
        };
        person.first_name = text("givenName")?;
        person.last_name = text("familyName")?;
    }
    for entry in people::primary_first(&root, "emailAddresses", is_primary)? {
        if let Some(raw) = entry.string("value")? {
            people::add_email(&mut person, raw, &entry.field_path("value"));
        }
    }
    for entry in people::primary_first(&root, "phoneNumbers", is_primary)? {
        // `canonicalForm` is Google's own E.164 reading, when it has one.
        if let Some(raw) = entry.string("canonicalForm")?.or(entry.string("value")?) {
            let kind = PhoneKind::from_label(entry.string("type")?);
            people::add_phone(
                &mut person,
                raw,
                kind,
                context.region,
                &entry.field_path("value"),
            );
        }
    }
    if let Some(address) = people::primary_first(&root, "addresses", is_primary)?
        .into_iter()
        .next()
    {
        person.address = Address {
            street: address.id("streetAddress")?,
            city: address.id("city")?,
            state: address.id("region")?,
            zip: address.id("postalCode")?,
        };
    }
    if let Some(birthday) = people::primary_first(&root, "birthdays", is_primary)?
        .into_iter()
        .next()
    {
        person.birthday = birthday_of(&birthday, &birthday.path, &mut person.problems)?;
    }
    Ok(SourceEvent {
        event_id: Some(event_id),
        subjects: vec![Subject::Person(Box::new(person))],
    })
}

/// The newest `updateTime` of the person's sources.
fn changed_at(root: &Obj<'_>) -> Result<Option<i64>, PayloadError> {
    let Some(metadata) = root.object("metadata")? else {
        return Ok(None);
    };
    let mut newest = None;
    for (path, source) in metadata.array("sources")? {
        let source = element_object(path, source)?;
        newest = newest.max(source.get("updateTime").and_then(dates::timestamp_ms));
    }
    Ok(newest)
}

/// `YYYY-MM-DD` from `date: {year, month, day}`; a date without a year (a
/// yearly reminder) or an impossible one is left out and said.
fn birthday_of(
    birthday: &Obj<'_>,
    path: &str,
    problems: &mut Vec<String>,
) -> Result<Option<String>, PayloadError> {
    let Some(date) = birthday.object("date")? else {
        return Ok(None);
    };
    let part = |name: &str| date.get(name).and_then(Value::as_u64);
    match (part("year"), part("month"), part("day")) {
        (Some(year), Some(month), Some(day)) => {
            let text = format!("{year:04}-{month:02}-{day:02}");
            let valid = dates::calendar_date(&text);
            if valid.is_none() {
                problems.push(format!(
                    "{path}.date is not a calendar date; it was left out"
                ));
            }
            Ok(valid)
        }
        (None, Some(_), Some(_)) => {
            problems.push(format!("{path}.date has no year; it was left out"));
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// Google marks primary entries in their `metadata`; with several marked,
/// the first stays first.
fn is_primary(entry: &Obj<'_>) -> bool {
    entry
        .get("metadata")
        .and_then(|m| m.get("primary"))
        .and_then(Value::as_bool)
        == Some(true)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::contact::Region;

    fn parse_fixture(text: &str) -> Result<(Option<String>, Person), PayloadError> {
        let map = BTreeMap::new();
        let context = ParseContext {
            region: Region::default(),
            agent_map: &map,
        };
        let event = parse(text.as_bytes(), context)?;
        match event.subjects.as_slice() {
            [Subject::Person(person)] => Ok((event.event_id, (**person).clone())),
            other => panic!("one person expected, got {other:?}"),
        }
    }

    #[test]
    fn a_full_contact_from_several_sources() {
        let (event_id, person) =
            parse_fixture(include_str!("../../tests/fixtures/google/full.json")).unwrap();
        assert_eq!(
            event_id.as_deref(),
            Some("people/c7160478151226404185#%EgcBAgkLLjc9GgQBAgUHIgxCZmp5c0VzZlh0WT0=")
        );
        assert_eq!(
            person.source_id.as_deref(),
            Some("people/c7160478151226404185")
        );
        assert_eq!(
            (person.first_name.as_deref(), person.last_name.as_deref()),
            (Some("Lena"), Some("Ortiz"))
        );
        let emails: Vec<&str> = person.emails.iter().map(|e| e.as_str()).collect();
        assert_eq!(
            emails,
            ["lena.ortiz@example.com", "lena@work.example"],
            "primary first, deduplicated"
        );
        let phones: Vec<(&str, PhoneKind)> = person
            .phones
            .iter()
            .map(|p| (p.e164.as_str(), p.kind))
            .collect();
        assert_eq!(
            phones,
            [
                ("+12395550123", PhoneKind::Mobile),
                ("+12395550124", PhoneKind::Work)
            ]
        );
        assert_eq!(person.address.street.as_deref(), Some("500 5th Ave S"));
        assert_eq!(person.address.state.as_deref(), Some("FL"));
        assert_eq!(person.address.zip.as_deref(), Some("34102"));
        assert_eq!(person.birthday.as_deref(), Some("1984-07-09"));
        assert_eq!(
            person.changed_at_ms,
            Some(1_795_867_200_000),
            "the newest source updateTime"
        );
        assert_eq!(person.owner_agent_id, None);
        assert!(person.problems.is_empty(), "{:?}", person.problems);
    }

    #[test]
    fn missing_fields_are_simply_absent() {
        let (event_id, person) =
            parse_fixture(include_str!("../../tests/fixtures/google/sparse.json")).unwrap();
        assert_eq!(
            event_id.as_deref(),
            Some("people/c42"),
            "no etag: the resource name alone"
        );
        assert_eq!(person.first_name.as_deref(), Some("Sam"));
        assert!(person.emails.is_empty());
        assert_eq!(person.phones[0].e164, "+12395550155");
        assert_eq!(person.address, Address::default());
        assert_eq!(
            (person.birthday.clone(), person.changed_at_ms),
            (None, None)
        );
    }

    #[test]
    fn the_first_of_several_primaries_wins() {
        let (_, person) = parse_fixture(include_str!(
            "../../tests/fixtures/google/several-primaries.json"
        ))
        .unwrap();
        assert_eq!(person.first_name.as_deref(), Some("Robin"));
        assert_eq!(person.emails[0].as_str(), "robin@contact.example");
        assert_eq!(person.address.city.as_deref(), Some("Fort Myers"));
    }

    #[test]
    fn entries_that_cannot_be_used_are_reported() {
        let (_, person) =
            parse_fixture(include_str!("../../tests/fixtures/google/problems.json")).unwrap();
        assert_eq!(person.emails.len(), 1);
        assert_eq!(person.birthday, None);
        assert_eq!(
            person.problems,
            [
                "emailAddresses[0].value is not an email address; it was left out",
                "phoneNumbers[0].value is not a phone number; it was left out",
                "birthdays[0].date has no year; it was left out",
            ]
        );
    }

    #[test]
    fn wrong_shapes_name_the_field() {
        let field = |text: &str| parse_fixture(text).unwrap_err().field;
        assert_eq!(field(r#"{"names": []}"#), "resourceName");
        assert_eq!(
            field(r#"{"resourceName": "people/c1", "emailAddresses": {}}"#),
            "emailAddresses"
        );
        assert_eq!(
            field(r#"{"resourceName": "people/c1", "emailAddresses": ["a@b.co"]}"#),
            "emailAddresses[0]"
        );
        assert_eq!(
            field(r#"{"resourceName": "people/c1", "phoneNumbers": [{"value": 2395550100}]}"#),
            "phoneNumbers[0].value"
        );
        assert_eq!(
            field(r#"{"resourceName": "people/c1", "metadata": {"sources": [1]}}"#),
            "metadata.sources[0]"
        );
    }
}
