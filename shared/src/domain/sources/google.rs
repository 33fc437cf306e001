//! Google Contacts: a People API `Person` resource (SPEC section 5). The
//! primary entry of each field comes first (`metadata.primary`, else the
//! first entry); the change time is the newest `metadata.sources[].updateTime`.

use crate::domain::contact::{Address, Person, PhoneKind};
use crate::domain::names;

use super::json::{self, Obj, PayloadError, element_object, object};
use super::{ParseContext, SourceEvent, Subject, dates, people};

pub fn parse(body: &[u8], context: ParseContext<'_>) -> Result<SourceEvent, PayloadError> {
    let map = object(body)?;
    let root = Obj::root(&map);
    let resource_name = text(&root, "resourceName")?.ok_or_else(|| {
        PayloadError::new("resourceName", "is required: the Person's resource name")
    })?;
    // The etag names one version of the person: the same version sent twice
    // is the same event.
    let event_id = match text(&root, "etag")? {
        Some(etag) => format!("{resource_name}#{etag}"),
        None => resource_name.to_string(),
    };

    let mut person = Person {
        source_id: Some(resource_name.to_string()),
        changed_at_ms: changed_at(&root)?,
        ..Person::default()
    };
    if let Some(name) = primary(&root, "names")? {
        let given = text(&name, "givenName")?;
        let family = text(&name, "familyName")?;
        if given.is_none() && family.is_none() {
            // Only a display name: split as people write names (SPEC
            // section 5, "Names"); an email or a phone is no name.
            let split = names::from_display_name(text(&name, "displayName")?.unwrap_or(""));
            person.first_name = split.first;
            person.last_name = split.last;
        } else {
            person.first_name = given.map(String::from);
            person.last_name = family.map(String::from);
        }
    }
    for entry in primary_first(&root, "emailAddresses")? {
        if let Some(raw) = text(&entry, "value")? {
            people::add_email(&mut person, raw, &entry.field_path("value"));
        }
    }
    for entry in primary_first(&root, "phoneNumbers")? {
        let kind = PhoneKind::from_label(entry.string("type")?);
        // `canonicalForm` is Google's own E.164 reading: it knows the
        // number's country, which `value` as written may not say.
        let written = match entry.phone("canonicalForm")? {
            Some(canonical) => Some((canonical, "canonicalForm")),
            None => entry.phone("value")?.map(|value| (value, "value")),
        };
        if let Some((raw, field)) = written {
            people::add_phone(
                &mut person,
                &raw,
                kind,
                context.region,
                &entry.field_path(field),
            );
        }
    }
    if let Some(address) = primary(&root, "addresses")? {
        person.address = address_of(&address)?;
    }
    if let Some(birthday) = primary(&root, "birthdays")? {
        person.birthday = birthday_of(&birthday, &mut person.problems)?;
    }
    let labels = memberships(&root)?;
    people::keep_record(&mut person, &map, labels);
    Ok(SourceEvent {
        event_id: Some(event_id),
        subjects: vec![Subject::Person(Box::new(person))],
    })
}

/// The contact groups ("labels") the person belongs to
/// (`memberships[].contactGroupMembership`,
/// developers.google.com/people/api/rest/v1/people#membership): each
/// group's name where the membership carries `contactGroupName` (kvsync's
/// own addition: the poller writes the names it resolved through
/// `contactGroups.list` there, so a replay reads them too, and a bridge may
/// send them), else its `contactGroupResourceName`.
fn memberships(root: &Obj<'_>) -> Result<Vec<String>, PayloadError> {
    let mut groups = Vec::new();
    for (path, value) in root.array("memberships")? {
        let membership = element_object(path, value)?;
        let Some(group) = membership.object("contactGroupMembership")? else {
            continue;
        };
        let label = match text(&group, "contactGroupName")? {
            Some(name) => Some(name),
            None => text(&group, "contactGroupResourceName")?,
        };
        if let Some(label) = label
            && !groups.iter().any(|g| g == label)
        {
            groups.push(label.to_string());
        }
    }
    Ok(groups)
}

/// The newest `updateTime` of the person's sources: a contact and the
/// profile it is linked to change apart, and either change is a change.
fn changed_at(root: &Obj<'_>) -> Result<Option<i64>, PayloadError> {
    let Some(metadata) = root.object("metadata")? else {
        return Ok(None);
    };
    let mut newest = None;
    for (path, value) in metadata.array("sources")? {
        let source = element_object(path, value)?;
        if source.string("updateTime")?.is_none() {
            continue;
        }
        let time = source
            .get("updateTime")
            .and_then(dates::timestamp_ms)
            .ok_or_else(|| {
                PayloadError::new(
                    &source.field_path("updateTime"),
                    "must be an RFC 3339 time (2026-01-31T12:00:00Z)",
                )
            })?;
        newest = newest.max(Some(time));
    }
    Ok(newest)
}

/// The street lines (`streetAddress`, then `extendedAddress`: an apartment
/// or suite), city, region and postal code.
fn address_of(address: &Obj<'_>) -> Result<Address, PayloadError> {
    let street = match (address.id("streetAddress")?, address.id("extendedAddress")?) {
        (Some(street), Some(extended)) => Some(format!("{street}, {extended}")),
        (street, extended) => street.or(extended),
    };
    Ok(Address {
        street,
        city: address.id("city")?,
        state: address.id("region")?,
        zip: address.id("postalCode")?,
    })
}

/// `YYYY-MM-DD` from `date: {year, month, day}`, or from a `text` written
/// so when there is no `date`. Anything less (a yearly reminder without a
/// year, an impossible date, free text) is left out and said.
fn birthday_of(
    birthday: &Obj<'_>,
    problems: &mut Vec<String>,
) -> Result<Option<String>, PayloadError> {
    let Some(date) = birthday.object("date")? else {
        let Some(raw) = text(birthday, "text")? else {
            return Ok(None);
        };
        let valid = dates::calendar_date(raw);
        if valid.is_none() {
            problems.push(format!(
                "{} is not a YYYY-MM-DD date; it was left out",
                birthday.field_path("text")
            ));
        }
        return Ok(valid);
    };
    // Google's `Date` writes an unknown part as 0, or leaves it out.
    let part = |name: &str| -> Result<Option<u64>, PayloadError> {
        match date.get(name) {
            None => Ok(None),
            Some(value) => value
                .as_u64()
                .map(|n| (n > 0).then_some(n))
                .ok_or_else(|| PayloadError::new(&date.field_path(name), "must be a whole number")),
        }
    };
    let problem = match (part("year")?, part("month")?, part("day")?) {
        (Some(year), Some(month), Some(day)) => {
            match dates::calendar_date(&format!("{year:04}-{month:02}-{day:02}")) {
                Some(valid) => return Ok(Some(valid)),
                None => "is not a calendar date",
            }
        }
        (None, None, None) => return Ok(None),
        (None, Some(_), Some(_)) => "has no year",
        _ => "is not a whole date (year, month and day)",
    };
    problems.push(format!("{} {problem}; it was left out", date.path));
    Ok(None)
}

/// The primary entry of a field (the first marked, else the first).
fn primary<'a>(root: &Obj<'a>, name: &str) -> Result<Option<Obj<'a>>, PayloadError> {
    Ok(primary_first(root, name)?.into_iter().next())
}

/// The entries of a list field, those marked primary first. Google can mark
/// one primary per source (the contact's and the profile's): the first
/// marked stays first; the rest keep their order.
fn primary_first<'a>(root: &Obj<'a>, name: &str) -> Result<Vec<Obj<'a>>, PayloadError> {
    let entries = people::primary_first(root, name, |entry| is_primary(entry) == Ok(true))?;
    for entry in &entries {
        is_primary(entry)?;
    }
    Ok(entries)
}

fn is_primary(entry: &Obj<'_>) -> Result<bool, PayloadError> {
    let Some(metadata) = entry.object("metadata")? else {
        return Ok(false);
    };
    // Loosely typed like every flag (SPEC section 7): `1` and `"true"` too.
    match metadata.get("primary") {
        None => Ok(false),
        Some(value) => json::flag(value).ok_or_else(|| {
            PayloadError::new(&metadata.field_path("primary"), "must be true or false")
        }),
    }
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

    fn parse_text(text: &str) -> Result<(Option<String>, Person), PayloadError> {
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

    fn person_of(value: Value) -> Person {
        parse_text(&value.to_string()).unwrap().1
    }

    fn field_of(value: Value) -> String {
        parse_text(&value.to_string())
            .expect_err("should be refused")
            .field
    }

    fn emails(person: &Person) -> Vec<&str> {
        person.emails.iter().map(|e| e.as_str()).collect()
    }

    fn phones(person: &Person) -> Vec<(&str, PhoneKind)> {
        person
            .phones
            .iter()
            .map(|p| (p.e164.as_str(), p.kind))
            .collect()
    }

    #[test]
    fn a_full_contact_from_several_sources() {
        let (_, person) =
            parse_text(include_str!("../../../tests/fixtures/google/full.json")).unwrap();
        assert_eq!(
            person.source_id.as_deref(),
            Some("people/c7160478151226404185")
        );
        assert_eq!(
            (person.first_name.as_deref(), person.last_name.as_deref()),
            (Some("Lena"), Some("Ortiz")),
            "the primary name, not the profile's"
        );
        assert_eq!(
            emails(&person),
            ["lena.ortiz@example.com", "lena@work.example"],
            "primary first, the profile's copy of it once"
        );
        assert_eq!(
            phones(&person),
            [
                ("+12395550123", PhoneKind::Mobile),
                ("+12395550124", PhoneKind::Work)
            ]
        );
        assert_eq!(
            person.address,
            Address {
                street: Some("500 5th Ave S".into()),
                city: Some("Naples".into()),
                state: Some("FL".into()),
                zip: Some("34102".into()),
            }
        );
        assert_eq!(person.birthday.as_deref(), Some("1984-07-09"));
        assert_eq!(person.owner_agent_id, None, "Google has no owner");
        assert!(person.tags.is_empty());
        assert!(person.problems.is_empty(), "{:?}", person.problems);
    }

    #[test]
    fn the_event_is_one_version_of_the_person_changed_at_its_newest_source() {
        let (event_id, person) =
            parse_text(include_str!("../../../tests/fixtures/google/full.json")).unwrap();
        assert_eq!(
            event_id.as_deref(),
            Some("people/c7160478151226404185#%EgcBAgkLLjc9GgQBAgUHIgxCZmp5c0VzZlh0WT0=")
        );
        assert_eq!(
            person.changed_at_ms,
            Some(1_795_867_200_000),
            "the profile's 2026-11-28T12:00:00Z, newer than the contact's"
        );

        let newest_first = person_of(json!({
            "resourceName": "people/c1",
            "metadata": {"sources": [
                {"type": "CONTACT", "updateTime": "1970-01-01T00:00:03Z"},
                {"type": "PROFILE", "updateTime": "1970-01-01T00:00:01.500Z"},
                {"type": "DOMAIN_PROFILE"}
            ]}
        }));
        assert_eq!(newest_first.changed_at_ms, Some(3000));

        for etag in [json!(null), json!(" ")] {
            let body = json!({"resourceName": "people/c1", "etag": etag}).to_string();
            let (event_id, _) = parse_text(&body).unwrap();
            assert_eq!(event_id.as_deref(), Some("people/c1"), "etag {etag}");
        }
    }

    #[test]
    fn missing_fields_are_simply_absent() {
        let (event_id, person) =
            parse_text(include_str!("../../../tests/fixtures/google/sparse.json")).unwrap();
        assert_eq!(event_id.as_deref(), Some("people/c42"));
        assert_eq!(
            (person.first_name.as_deref(), person.last_name.as_deref()),
            (Some("Sam"), None)
        );
        assert!(person.emails.is_empty());
        assert_eq!(
            phones(&person),
            [("+12395550155", PhoneKind::Other)],
            "no type: other"
        );
        assert_eq!(person.address, Address::default());
        assert_eq!((&person.birthday, person.changed_at_ms), (&None, None));
        assert!(person.problems.is_empty(), "{:?}", person.problems);
    }

    #[test]
    fn the_first_of_several_primaries_wins() {
        let (_, person) = parse_text(include_str!(
            "../../../tests/fixtures/google/several-primaries.json"
        ))
        .unwrap();
        assert_eq!(
            (person.first_name.as_deref(), person.last_name.as_deref()),
            (Some("Robin"), Some("Hale"))
        );
        assert_eq!(
            emails(&person),
            [
                "robin@contact.example",
                "robin@primary-too.example",
                "robin@profile.example",
                "robin@other.example"
            ],
            "the primaries in their order, then the rest in theirs"
        );
        assert_eq!(
            phones(&person),
            [
                ("+12395550171", PhoneKind::Mobile),
                ("+12395550172", PhoneKind::Work),
                ("+12395550170", PhoneKind::Home)
            ]
        );
        assert_eq!(person.address.city.as_deref(), Some("Fort Myers"));
        assert_eq!(person.birthday.as_deref(), Some("1991-05-17"));
    }

    #[test]
    fn phones_prefer_the_canonical_form_and_take_their_kind_from_the_type() {
        let (_, person) =
            parse_text(include_str!("../../../tests/fixtures/google/phones.json")).unwrap();
        assert_eq!(
            phones(&person),
            [
                ("+12395550193", PhoneKind::Mobile),
                ("+442079460018", PhoneKind::Work),
                ("+12395550190", PhoneKind::Home),
                ("+12395550191", PhoneKind::Work),
                ("+12395550192", PhoneKind::Other),
                ("+12395550194", PhoneKind::Other),
                ("+12395550195", PhoneKind::Other),
            ],
            "primary first; a London number read from canonicalForm, not as a US one; \
             homeFax/workFax → home/work; main/other/none → other; +12395550193 once"
        );
        assert_eq!(
            person.problems,
            ["phoneNumbers[4].value is not a phone number; it was left out"]
        );
    }

    #[test]
    fn an_invalid_email_is_left_out_and_said() {
        let (_, person) = parse_text(include_str!(
            "../../../tests/fixtures/google/invalid-email.json"
        ))
        .unwrap();
        assert_eq!(
            emails(&person),
            ["uma@brandt.example", "uma.brandt@example.net"]
        );
        assert_eq!(
            person.problems,
            ["emailAddresses[1].value is not an email address; it was left out"],
            "named by its place in the payload, not in the primary-first order"
        );
        assert_eq!(person.phones.len(), 1);
    }

    #[test]
    fn a_birthday_without_a_year_is_left_out_and_said() {
        let (_, person) = parse_text(include_str!(
            "../../../tests/fixtures/google/birthday-without-year.json"
        ))
        .unwrap();
        assert_eq!(person.birthday, None);
        assert_eq!(
            person.problems,
            ["birthdays[0].date has no year; it was left out"]
        );

        let zero_year = person_of(json!({
            "resourceName": "people/c1",
            "birthdays": [{"date": {"year": 0, "month": 3, "day": 14}}]
        }));
        assert_eq!(zero_year.birthday, None, "Google's 0 is an unknown year");
        assert_eq!(
            zero_year.problems,
            ["birthdays[0].date has no year; it was left out"]
        );
    }

    #[test]
    fn a_birthday_is_a_whole_calendar_date() {
        let birthday = |entry: Value| {
            let person = person_of(json!({"resourceName": "people/c1", "birthdays": [entry]}));
            (person.birthday, person.problems)
        };
        assert_eq!(
            birthday(json!({"date": {"year": 1984, "month": 7, "day": 9}})),
            (Some("1984-07-09".into()), vec![])
        );
        assert_eq!(
            birthday(json!({"date": {"year": 1984, "month": 2, "day": 30}})),
            (
                None,
                vec!["birthdays[0].date is not a calendar date; it was left out".into()]
            )
        );
        assert_eq!(
            birthday(json!({"date": {"year": 1984}})),
            (
                None,
                vec![
                    "birthdays[0].date is not a whole date (year, month and day); it was left out"
                        .into()
                ]
            )
        );
        assert_eq!(
            birthday(json!({"text": "1984-07-09"})),
            (Some("1984-07-09".into()), vec![])
        );
        assert_eq!(
            birthday(json!({"text": "July 9"})),
            (
                None,
                vec!["birthdays[0].text is not a YYYY-MM-DD date; it was left out".into()]
            )
        );
        assert_eq!(
            birthday(json!({"date": {"year": 1984, "month": 7, "day": 9}, "text": "July 9"})),
            (Some("1984-07-09".into()), vec![]),
            "the date, when there is one"
        );
    }

    #[test]
    fn a_name_google_could_not_split_is_the_first_name() {
        let name = |entry: Value| {
            let person = person_of(json!({"resourceName": "people/c1", "names": [entry]}));
            (person.first_name, person.last_name)
        };
        assert_eq!(
            name(json!({"displayName": " Cher "})),
            (Some("Cher".into()), None)
        );
        assert_eq!(
            name(json!({"displayName": "Dr. Ortiz", "familyName": "Ortiz"})),
            (None, Some("Ortiz".into())),
            "a family name alone stays the family name"
        );
        assert_eq!(
            name(json!({"displayName": "Lena O.", "givenName": "Lena"})),
            (Some("Lena".into()), None)
        );
        // Only a display name: split as people write it (SPEC section 5).
        assert_eq!(
            name(json!({"displayName": "Doe, John"})),
            (Some("John".into()), Some("Doe".into()))
        );
        assert_eq!(
            name(json!({"displayName": "John Doe"})),
            (Some("John".into()), Some("Doe".into()))
        );
        assert_eq!(
            name(json!({"displayName": "john.doe@example.com"})),
            (None, None),
            "an email is not a name"
        );
    }

    #[test]
    fn the_street_keeps_its_second_line() {
        let address = |entry: Value| {
            person_of(json!({"resourceName": "people/c1", "addresses": [entry]})).address
        };
        assert_eq!(
            address(json!({"streetAddress": "500 5th Ave S", "extendedAddress": "Apt 4B"}))
                .street
                .as_deref(),
            Some("500 5th Ave S, Apt 4B")
        );
        assert_eq!(
            address(json!({"formattedValue": "Naples, FL", "city": "Naples", "postalCode": 34102})),
            Address {
                street: None,
                city: Some("Naples".into()),
                state: None,
                zip: Some("34102".into()),
            }
        );
    }

    #[test]
    fn wrong_shapes_name_the_field() {
        let with = |field: &str, value: Value| {
            let mut body = json!({"resourceName": "people/c1"});
            body[field] = value;
            field_of(body)
        };
        assert_eq!(
            parse_text("not json").unwrap_err().field,
            "body",
            "not JSON"
        );
        assert_eq!(field_of(json!({"names": []})), "resourceName");
        assert_eq!(field_of(json!({"resourceName": " "})), "resourceName");
        assert_eq!(field_of(json!({"resourceName": 42})), "resourceName");
        assert_eq!(with("etag", json!(1)), "etag");
        assert_eq!(with("emailAddresses", json!({})), "emailAddresses");
        assert_eq!(
            with("emailAddresses", json!(["a@b.co"])),
            "emailAddresses[0]"
        );
        assert_eq!(
            with("emailAddresses", json!([{"value": ["a@b.co"]}])),
            "emailAddresses[0].value"
        );
        assert_eq!(
            with("phoneNumbers", json!([{"value": true}])),
            "phoneNumbers[0].value"
        );
        assert_eq!(
            with("phoneNumbers", json!([{"canonicalForm": ["+12395550100"]}])),
            "phoneNumbers[0].canonicalForm"
        );
        assert_eq!(
            with("phoneNumbers", json!([{"value": "2395550100", "type": 1}])),
            "phoneNumbers[0].type"
        );
        assert_eq!(with("names", json!("Lena")), "names");
        assert_eq!(
            with("names", json!([{"givenName": 5}])),
            "names[0].givenName"
        );
        assert_eq!(
            with("names", json!([{"metadata": "primary"}])),
            "names[0].metadata"
        );
        assert_eq!(
            with(
                "emailAddresses",
                json!([{"value": "a@b.co"}, {"value": "c@d.co", "metadata": {"primary": "yes"}}])
            ),
            "emailAddresses[1].metadata.primary"
        );
        assert_eq!(
            with("addresses", json!([{"city": {"name": "Naples"}}])),
            "addresses[0].city"
        );
        assert_eq!(
            with("birthdays", json!([{"date": "1984-07-09"}])),
            "birthdays[0].date"
        );
        assert_eq!(
            with(
                "birthdays",
                json!([{"date": {"year": "1984", "month": 7, "day": 9}}])
            ),
            "birthdays[0].date.year"
        );
        assert_eq!(with("metadata", json!({"sources": {}})), "metadata.sources");
        assert_eq!(
            with("metadata", json!({"sources": [1]})),
            "metadata.sources[0]"
        );
        assert_eq!(
            with(
                "metadata",
                json!({"sources": [{"updateTime": "yesterday"}]})
            ),
            "metadata.sources[0].updateTime"
        );
        assert_eq!(
            with(
                "metadata",
                json!({"sources": [{"updateTime": 1_700_000_000}]})
            ),
            "metadata.sources[0].updateTime"
        );
    }

    #[test]
    fn nulls_read_as_absent_and_unknown_fields_are_ignored() {
        let (event_id, person) = parse_text(
            &json!({
                "resourceName": "people/c1",
                "etag": null,
                "metadata": {"sources": null, "objectType": "PERSON"},
                "names": [{"metadata": null, "givenName": "Ada", "familyName": null, "phoneticGivenName": "A-da"}],
                "emailAddresses": [{"value": null}, {"value": "ada@example.com", "displayName": "Ada"}],
                "phoneNumbers": [{"value": "2395550100", "canonicalForm": null, "type": null}],
                "addresses": null,
                "birthdays": [{"date": null, "text": null}],
                "organizations": [{"name": "Analytical Engines"}],
                "memberships": [{"contactGroupMembership": {"contactGroupResourceName": "contactGroups/myContacts"}}]
            })
            .to_string(),
        )
        .unwrap();
        assert_eq!(event_id.as_deref(), Some("people/c1"));
        assert_eq!(person.first_name.as_deref(), Some("Ada"));
        assert_eq!(person.last_name, None);
        assert_eq!(emails(&person), ["ada@example.com"]);
        assert_eq!(phones(&person), [("+12395550100", PhoneKind::Other)]);
        assert_eq!(person.address, Address::default());
        assert_eq!((&person.birthday, person.changed_at_ms), (&None, None));
        assert!(person.problems.is_empty(), "{:?}", person.problems);
    }

    /// Issue #10: read as libphonenumber reads them, in any JSON shape.
    #[test]
    fn phones_are_read_as_libphonenumber_reads_them() {
        let person = person_of(json!({
            "resourceName": "people/c2",
            "phoneNumbers": [
                {"value": "555-0102", "type": "home"},
                {"value": "+33 1 99 00 12 34", "type": "work"},
                {"value": "+44 (0) 20 7946 0018", "type": "other"},
                {"value": "+1 239 555 0100;ext=123", "type": "mobile"},
                {"value": 2395550101_u64, "type": "mobile"},
                {"canonicalForm": "+33199001235", "value": "01 99 00 12 35"}
            ]
        }));
        assert_eq!(
            phones(&person),
            [
                ("+33199001234", PhoneKind::Work),
                ("+442079460018", PhoneKind::Other),
                ("+12395550100", PhoneKind::Mobile),
                ("+12395550101", PhoneKind::Mobile),
                ("+33199001235", PhoneKind::Other),
            ]
        );
        assert_eq!(person.phones[2].extension.as_deref(), Some("123"));
        assert_eq!(person.problems.len(), 1, "{:?}", person.problems);
        let problem = &person.problems[0];
        assert!(
            problem.starts_with("phoneNumbers[0].value is not a valid +1 number"),
            "{problem}"
        );
        assert!(!problem.contains("0102"), "{problem}");
    }

    #[test]
    fn primary_flags_are_loosely_typed() {
        for flag in [json!(1), json!("true"), json!("1"), json!(true)] {
            let person = person_of(json!({
                "resourceName": "people/c3",
                "emailAddresses": [
                    {"value": "ada.work@example.com", "metadata": {"primary": 0}},
                    {"value": "ada@example.com", "metadata": {"primary": flag}}
                ]
            }));
            assert_eq!(
                emails(&person),
                ["ada@example.com", "ada.work@example.com"],
                "{flag}"
            );
        }
    }
}
