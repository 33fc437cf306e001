//! The `generic` payload: `{"event_id"?, "event_type"?, "occurred_at"?,
//! "contact": {...}}`, for any app that can call a webhook (SPEC section 5).

use crate::domain::contact::{Address, Person, PhoneKind};

use super::json::{Obj, PayloadError, element_object, element_string, object};
use super::{ParseContext, SourceEvent, Subject, dates, people};

pub fn parse(body: &[u8], context: ParseContext<'_>) -> Result<SourceEvent, PayloadError> {
    let map = object(body)?;
    let root = Obj::root(&map);
    let event_id = root.id("event_id")?;
    root.string("event_type")?;
    let changed_at_ms = match root.get("occurred_at") {
        None => None,
        Some(value) => Some(dates::timestamp_ms(value).ok_or_else(|| {
            PayloadError::new(
                "occurred_at",
                "must be an RFC 3339 time (2026-01-31T12:00:00Z) or unix seconds",
            )
        })?),
    };
    let contact = root.object("contact")?.ok_or_else(|| {
        PayloadError::new("contact", "is required: the person this event is about")
    })?;
    let mut person = person(&contact, context)?;
    person.changed_at_ms = changed_at_ms;
    Ok(SourceEvent {
        event_id,
        subjects: vec![Subject::Person(Box::new(person))],
    })
}

fn person(contact: &Obj<'_>, context: ParseContext<'_>) -> Result<Person, PayloadError> {
    let text = |name: &str| -> Result<Option<String>, PayloadError> {
        Ok(contact
            .string(name)?
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from))
    };
    let mut person = Person {
        source_id: contact.id("source_id")?,
        first_name: text("first_name")?,
        last_name: text("last_name")?,
        ..Person::default()
    };

    if let Some(raw) = text("email")? {
        people::add_email(&mut person, &raw, &contact.field_path("email"));
    }

    for (path, value) in contact.array("phones")? {
        let entry = element_object(path, value)?;
        let Some(number) = entry.phone("number")? else {
            return Err(PayloadError::new(
                &entry.field_path("number"),
                "is required",
            ));
        };
        let kind = PhoneKind::from_label(entry.string("type")?);
        people::add_phone(
            &mut person,
            &number,
            kind,
            context.region,
            &entry.field_path("number"),
        );
    }

    if let Some(address) = contact.object("address")? {
        let part = |name: &str| -> Result<Option<String>, PayloadError> {
            Ok(address.id(name)?.filter(|s| !s.is_empty()))
        };
        person.address = Address {
            street: part("street")?,
            city: part("city")?,
            state: part("state")?,
            zip: part("zip")?,
        };
    }

    if let Some(raw) = text("birthday")? {
        match dates::calendar_date(&raw) {
            Some(date) => person.birthday = Some(date),
            None => person.problems.push(format!(
                "{} is not a YYYY-MM-DD date; it was left out",
                contact.field_path("birthday")
            )),
        }
    }

    person.owner_agent_id = match contact.id("owner_agent_id")? {
        None => None,
        Some(id) => Some(id.parse::<u64>().map_err(|_| {
            PayloadError::new(
                &contact.field_path("owner_agent_id"),
                "must be a kvCORE agent id (a whole number)",
            )
        })?),
    };

    for (path, value) in contact.array("tags")? {
        let tag = element_string(&path, value)?.trim();
        if !tag.is_empty() && !person.tags.iter().any(|t| t == tag) {
            person.tags.push(tag.to_string());
        }
    }
    people::keep_record(&mut person, contact.map, Vec::new());
    Ok(person)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::Region;
    use serde_json::json;

    fn parse_json(value: serde_json::Value) -> Result<SourceEvent, PayloadError> {
        parse(
            value.to_string().as_bytes(),
            ParseContext {
                region: Region::default(),
                agent_map: &Default::default(),
            },
        )
    }

    fn only_person(event: &SourceEvent) -> &Person {
        match event.subjects.as_slice() {
            [Subject::Person(person)] => person,
            other => panic!("expected one person, got {other:?}"),
        }
    }

    fn field_of(value: serde_json::Value) -> String {
        parse_json(value).expect_err("should be refused").field
    }

    #[test]
    fn a_full_contact() {
        let event = parse_json(json!({
            "event_id": "evt_1",
            "event_type": "contact.updated",
            "occurred_at": "2026-01-31T12:00:00Z",
            "contact": {
                "source_id": 42,
                "first_name": " John ",
                "last_name": "Smith",
                "email": "John.Smith@Example.com",
                "phones": [
                    {"number": "(239) 555-0100", "type": "mobile"},
                    {"number": "239 555 0100", "type": "home"},
                    {"number": "+1 239 555 0101", "type": "work"}
                ],
                "address": {"street": "1 Main St", "city": "Naples", "state": "FL", "zip": 34102},
                "birthday": "1980-04-01",
                "owner_agent_id": "7",
                "tags": ["buyer", "buyer", " "]
            }
        }))
        .unwrap();
        assert_eq!(event.event_id.as_deref(), Some("evt_1"));
        let person = only_person(&event);
        assert_eq!(person.source_id.as_deref(), Some("42"));
        assert_eq!(person.first_name.as_deref(), Some("John"));
        assert_eq!(person.emails[0].as_str(), "john.smith@example.com");
        let numbers: Vec<_> = person.phones.iter().map(|p| p.e164.as_str()).collect();
        assert_eq!(
            numbers,
            ["+12395550100", "+12395550101"],
            "one number once, its first kind"
        );
        assert_eq!(person.address.zip.as_deref(), Some("34102"));
        assert_eq!(person.birthday.as_deref(), Some("1980-04-01"));
        assert_eq!(person.owner_agent_id, Some(7));
        assert_eq!(person.tags, ["buyer"]);
        assert_eq!(person.changed_at_ms, Some(1_769_860_800_000));
        assert!(person.problems.is_empty());
    }

    #[test]
    fn bad_email_phone_and_birthday_are_reported_not_used() {
        let event = parse_json(json!({"contact": {
            "email": "john at example",
            "phones": [{"number": "call me"}, {"number": "2395550100"}],
            "birthday": "1980-02-30"
        }}))
        .unwrap();
        let person = only_person(&event);
        assert!(person.emails.is_empty());
        assert_eq!(person.phones.len(), 1);
        assert_eq!(person.birthday, None);
        assert_eq!(person.problems.len(), 3);
        assert!(person.problems[0].starts_with("contact.email"));
        assert!(person.problems[1].starts_with("contact.phones[0].number"));
        assert!(
            !person
                .problems
                .iter()
                .any(|p| p.contains("john at example"))
        );
    }

    #[test]
    fn wrong_shapes_name_the_field() {
        assert_eq!(
            parse(
                b"not json",
                ParseContext {
                    region: Region::default(),
                    agent_map: &Default::default(),
                }
            )
            .unwrap_err()
            .field,
            "body"
        );
        assert_eq!(field_of(json!([1])), "body");
        assert_eq!(field_of(json!({})), "contact");
        assert_eq!(field_of(json!({"contact": "john"})), "contact");
        assert_eq!(
            field_of(json!({"contact": {"first_name": 5}})),
            "contact.first_name"
        );
        assert_eq!(
            field_of(json!({"contact": {"phones": "2395550100"}})),
            "contact.phones"
        );
        assert_eq!(
            field_of(json!({"contact": {"phones": ["2395550100"]}})),
            "contact.phones[0]"
        );
        assert_eq!(
            field_of(json!({"contact": {"phones": [{"type": "mobile"}]}})),
            "contact.phones[0].number"
        );
        assert_eq!(
            field_of(json!({"contact": {"owner_agent_id": "seven"}})),
            "contact.owner_agent_id"
        );
        assert_eq!(
            field_of(json!({"contact": {"tags": [1]}})),
            "contact.tags[0]"
        );
        assert_eq!(
            field_of(json!({"contact": {}, "occurred_at": "yesterday"})),
            "occurred_at"
        );
    }

    #[test]
    fn nulls_read_as_absent() {
        let event =
            parse_json(json!({"event_id": null, "contact": {"email": null, "phones": null}}))
                .unwrap();
        assert_eq!(event.event_id, None);
        assert!(only_person(&event).emails.is_empty());
    }

    /// Issue #10: a country code wins over `default_country`, `(0)` is the
    /// trunk prefix, an extension is split off, and a number with no area
    /// code is reported instead of written.
    #[test]
    fn phones_are_read_as_libphonenumber_reads_them() {
        let event = parse_json(json!({"contact": {"phones": [
            {"number": "+33 1 99 00 12 34", "type": "work"},
            {"number": "+44 (0) 20 7946 0018", "type": "work"},
            {"number": "0044 20 7946 0019", "type": "work"},
            {"number": "555-0102", "type": "home"},
            {"number": "+1 239 555 0100;ext=123", "type": "mobile"},
            {"number": 2395550101_u64, "type": "mobile"}
        ]}}))
        .unwrap();
        let person = only_person(&event);
        let numbers: Vec<_> = person
            .phones
            .iter()
            .map(|p| (p.e164.as_str(), p.extension.as_deref()))
            .collect();
        assert_eq!(
            numbers,
            [
                ("+33199001234", None),
                ("+442079460018", None),
                ("+12395550100", Some("123")),
                ("+12395550101", None)
            ]
        );
        assert_eq!(person.problems.len(), 2, "{:?}", person.problems);
        assert!(person.problems[0].starts_with("contact.phones[2].number is not a valid"));
        assert!(person.problems[1].starts_with("contact.phones[3].number is not a valid"));
        assert!(
            !person
                .problems
                .iter()
                .any(|p| p.contains("0102") || p.contains("7946"))
        );
    }

    #[test]
    fn a_body_behind_a_byte_order_mark_is_read() {
        let mut body = b"\xEF\xBB\xBF".to_vec();
        body.extend_from_slice(br#"{"contact": {"email": "ada@example.com"}}"#);
        let map = Default::default();
        let context = ParseContext {
            region: Region::default(),
            agent_map: &map,
        };
        let event =
            crate::domain::sources::parse(crate::domain::settings::Source::Generic, &body, context)
                .unwrap();
        assert_eq!(only_person(&event).emails[0].as_str(), "ada@example.com");
    }
}
