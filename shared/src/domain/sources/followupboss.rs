//! Follow Up Boss (SPEC section 5): its native webhook names the people that
//! changed (`resourceIds`); each is fetched (`crate::adapters::followupboss`) and read
//! here into a `Person`, its owner mapped through `agent_map`.

use serde_json::Value;

use crate::domain::contact::{Address, Person, PhoneKind};

use super::json::{self, Obj, PayloadError, object};
use super::{ParseContext, SourceEvent, Subject, dates, people};

/// The events that carry people kvsync syncs (SPEC section 5); others are
/// acknowledged. `kvsync followupboss subscribe` registers these.
pub const SYNCED_EVENTS: [&str; 2] = ["peopleCreated", "peopleUpdated"];

/// Follow Up Boss documents that a newly created person may not be
/// readable for a short while, until it is assigned to an agent
/// (https://docs.followupboss.com/reference/common-issues, "Access to
/// Newly Created People"); SPEC section 5 gives that window 10 minutes
/// from the event's `eventCreated`.
pub const NEW_PERSON_WINDOW_MS: i64 = 10 * 60 * 1000;

/// Whether a 404 for a person an event names is Follow Up Boss's
/// new-person window (a transient failure, SPEC section 5) rather than a
/// person it no longer has (`person_not_found`): the event was created
/// less than `NEW_PERSON_WINDOW_MS` ago. An event without a readable
/// `eventCreated`, or one dated that far in the future, is not in it, so
/// a retry never waits on it for longer than the window twice.
pub fn in_new_person_window(event_created_ms: Option<i64>, now_ms: i64) -> bool {
    event_created_ms.is_some_and(|created| (now_ms - created).abs() < NEW_PERSON_WINDOW_MS)
}

/// `{"eventId", "eventCreated", "event", "resourceIds", "uri"}`.
pub fn parse(body: &[u8], _context: ParseContext<'_>) -> Result<SourceEvent, PayloadError> {
    let map = object(body)?;
    let root = Obj::root(&map);
    let event_id = root.id("eventId")?;
    // Read leniently: it only decides how long a 404 is worth a retry.
    let event_created_ms = root.get("eventCreated").and_then(dates::timestamp_ms);
    let event = root
        .string("event")?
        .ok_or_else(|| PayloadError::new("event", "is required: the Follow Up Boss event name"))?;
    let mut ids = Vec::new();
    for (path, value) in root.array("resourceIds")? {
        match value {
            Value::Number(n) => ids.push(n.to_string()),
            Value::String(s) if !s.trim().is_empty() => ids.push(s.trim().to_string()),
            _ => return Err(PayloadError::new(&path, "must be a person id")),
        }
    }
    let subjects = if SYNCED_EVENTS.contains(&event) {
        if ids.is_empty() {
            return Err(PayloadError::new(
                "resourceIds",
                "is required: the people that changed",
            ));
        }
        ids.into_iter()
            .map(|source_id| Subject::Fetch {
                source_id,
                event_created_ms,
            })
            .collect()
    } else if ids.is_empty() {
        vec![Subject::Unsupported { source_id: None }]
    } else {
        ids.into_iter()
            .map(|id| Subject::Unsupported {
                source_id: Some(id),
            })
            .collect()
    };
    Ok(SourceEvent { event_id, subjects })
}

/// A person as `GET /people/{id}` answers it.
pub fn person(value: &Value, context: ParseContext<'_>) -> Result<Person, PayloadError> {
    let Value::Object(map) = value else {
        return Err(PayloadError::new("person", "must be an object"));
    };
    let root = Obj {
        path: "person".to_string(),
        map,
    };
    let text = |name: &str| -> Result<Option<String>, PayloadError> {
        Ok(root
            .string(name)?
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from))
    };
    let mut person = Person {
        source_id: root.id("id")?,
        first_name: text("firstName")?,
        last_name: text("lastName")?,
        ..Person::default()
    };

    for entry in people::primary_first(&root, "emails", is_primary)? {
        if let Some(raw) = entry.string("value")? {
            people::add_email(&mut person, raw, &entry.field_path("value"));
        }
    }
    for entry in people::primary_first(&root, "phones", is_primary)? {
        if let Some(raw) = entry.phone("value")? {
            let kind = PhoneKind::from_label(entry.string("type")?);
            people::add_phone(
                &mut person,
                &raw,
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
        let part = |name: &str| address.id(name);
        person.address = Address {
            street: part("street")?,
            city: part("city")?,
            state: part("state")?,
            zip: part("code")?,
        };
    }
    for (path, value) in root.array("tags")? {
        let tag = super::json::element_string(&path, value)?.trim();
        if !tag.is_empty() && !person.tags.iter().any(|t| t == tag) {
            person.tags.push(tag.to_string());
        }
    }
    // The owner is a Follow Up Boss user; only a mapped one names a kvCORE agent.
    person.owner_agent_id = root
        .id("assignedUserId")?
        .and_then(|user| context.agent_map.get(&user).copied());
    person.changed_at_ms = root.get("updated").and_then(dates::timestamp_ms);
    people::keep_record(&mut person, map, Vec::new());
    Ok(person)
}

/// Follow Up Boss flags the primary email, phone and address, as `true`,
/// `1` or `"1"` alike (SPEC section 7, loosely typed); anything else is not
/// primary.
fn is_primary(entry: &Obj<'_>) -> bool {
    entry.get("isPrimary").and_then(json::flag) == Some(true)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::contact::Region;
    use serde_json::json;

    fn context(agent_map: &BTreeMap<String, u64>) -> ParseContext<'_> {
        ParseContext {
            region: Region::default(),
            agent_map,
        }
    }

    fn webhook(value: Value) -> Result<SourceEvent, PayloadError> {
        parse(value.to_string().as_bytes(), context(&BTreeMap::new()))
    }

    #[test]
    fn people_events_name_the_people_to_fetch() {
        let event = webhook(json!({
            "eventId": "5b7c1d2e", "eventCreated": "2026-11-28T12:00:00+00:00",
            "event": "peopleUpdated", "resourceIds": [101, "102"],
            "uri": "https://api.followupboss.com/v1/people?id=101,102"
        }))
        .unwrap();
        assert_eq!(event.event_id.as_deref(), Some("5b7c1d2e"));
        assert_eq!(
            event.subjects,
            [
                Subject::Fetch {
                    source_id: "101".into(),
                    event_created_ms: Some(1_795_867_200_000),
                },
                Subject::Fetch {
                    source_id: "102".into(),
                    event_created_ms: Some(1_795_867_200_000),
                }
            ]
        );
    }

    #[test]
    fn a_404_within_ten_minutes_of_the_event_is_the_new_person_window() {
        let created = 1_795_867_200_000;
        let minute = 60_000;
        for (now, within) in [
            (created, true),
            (created + 9 * minute, true),
            (created + 10 * minute - 1, true),
            (created + 10 * minute, false),
            (created + 60 * minute, false),
            // A clock a little behind Follow Up Boss's.
            (created - minute, true),
            (created - 10 * minute, false),
        ] {
            assert_eq!(
                in_new_person_window(Some(created), now),
                within,
                "{} min",
                (now - created) / minute
            );
        }
        assert!(!in_new_person_window(None, created));
        let unreadable = webhook(json!({"eventId": "e", "eventCreated": "yesterday",
            "event": "peopleCreated", "resourceIds": [1]}))
        .unwrap();
        assert_eq!(
            unreadable.subjects,
            [Subject::Fetch {
                source_id: "1".into(),
                event_created_ms: None
            }]
        );
    }

    #[test]
    fn other_events_are_acknowledged_as_unsupported() {
        let event =
            webhook(json!({"eventId": "e", "event": "notesCreated", "resourceIds": [7]})).unwrap();
        assert_eq!(
            event.subjects,
            [Subject::Unsupported {
                source_id: Some("7".into())
            }]
        );
        let event = webhook(json!({"eventId": "e", "event": "dealsUpdated"})).unwrap();
        assert_eq!(event.subjects, [Subject::Unsupported { source_id: None }]);
    }

    #[test]
    fn wrong_shapes_name_the_field() {
        let field = |v: Value| webhook(v).unwrap_err().field;
        assert_eq!(field(json!({"eventId": "e"})), "event");
        assert_eq!(field(json!({"event": "peopleCreated"})), "resourceIds");
        assert_eq!(
            field(json!({"event": "peopleCreated", "resourceIds": [{}]})),
            "resourceIds[0]"
        );
        assert_eq!(field(json!({"event": 5})), "event");
    }

    #[test]
    fn a_person_is_read_primary_first_with_its_owner_mapped() {
        let map = BTreeMap::from([("12".to_string(), 7)]);
        let person = person(
            &json!({
                "id": 101, "firstName": "Kay", "lastName": "Lee",
                "emails": [{"value": "kay@work.example", "type": "work", "isPrimary": false},
                           {"value": "Kay@Home.example", "type": "home", "isPrimary": true},
                           {"value": "not-an-email"}],
                "phones": [{"value": "(239) 555-0161", "type": "mobile", "isPrimary": true},
                           {"value": "n/a", "type": "home"}],
                "addresses": [{"street": "2 Bay Rd", "city": "Naples", "state": "FL", "code": "34102", "type": "home"}],
                "tags": ["Buyer", "Buyer"],
                "assignedUserId": 12,
                "updated": "2026-11-28T12:00:00Z"
            }),
            context(&map),
        )
        .unwrap();
        assert_eq!(person.source_id.as_deref(), Some("101"));
        let emails: Vec<&str> = person.emails.iter().map(|e| e.as_str()).collect();
        assert_eq!(emails, ["kay@home.example", "kay@work.example"]);
        assert_eq!(person.phones[0].e164, "+12395550161");
        assert_eq!(person.phones.len(), 1);
        assert_eq!(person.address.zip.as_deref(), Some("34102"));
        assert_eq!(person.tags, ["Buyer"]);
        assert_eq!(person.owner_agent_id, Some(7));
        assert_eq!(person.changed_at_ms, Some(1_795_867_200_000));
        assert_eq!(person.problems.len(), 2);
        assert!(person.problems[0].starts_with("person.emails[2].value"));
    }

    #[test]
    fn an_unmapped_owner_is_no_owner() {
        let person = person(
            &json!({"id": 1, "assignedUserId": 99}),
            context(&BTreeMap::new()),
        )
        .unwrap();
        assert_eq!(person.owner_agent_id, None);
    }

    #[test]
    fn primary_flags_are_loosely_typed() {
        for (work, home) in [
            (json!(0), json!(1)),
            (json!("false"), json!("true")),
            (json!("0"), json!("1")),
            (json!(false), json!(true)),
        ] {
            let person = person(
                &json!({
                    "id": 7,
                    "emails": [{"value": "ada.work@example.com", "isPrimary": work},
                               {"value": "ada@example.com", "isPrimary": home}],
                    "phones": [{"value": "239-555-0170", "isPrimary": work},
                               {"value": "239-555-0171", "isPrimary": home}]
                }),
                context(&BTreeMap::new()),
            )
            .unwrap();
            let emails: Vec<&str> = person.emails.iter().map(|e| e.as_str()).collect();
            assert_eq!(
                emails,
                ["ada@example.com", "ada.work@example.com"],
                "{home}"
            );
            assert_eq!(person.phones[0].e164, "+12395550171", "{home}");
        }
    }

    #[test]
    fn phones_come_as_strings_or_numbers_and_invalid_ones_are_said() {
        let person = person(
            &json!({
                "id": 8,
                "phones": [{"value": 2395550172_u64, "type": "mobile"},
                           {"value": "0044 20 7946 0019", "type": "work"},
                           {"value": "+44 (0) 20 7946 0018", "type": "work"}]
            }),
            context(&BTreeMap::new()),
        )
        .unwrap();
        let numbers: Vec<&str> = person.phones.iter().map(|p| p.e164.as_str()).collect();
        assert_eq!(numbers, ["+12395550172", "+442079460018"]);
        assert_eq!(person.problems.len(), 1, "{:?}", person.problems);
        assert!(person.problems[0].starts_with("person.phones[1].value is not a valid"));
        assert!(!person.problems[0].contains("7946"));
    }
}
