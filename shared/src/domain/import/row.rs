//! One CSV row → a canonical `Person` (SPEC section 13), through the same
//! person-building helpers as every source payload (`sources::people`):
//! emails and phones normalized and deduplicated, what cannot be used left
//! out and said in `problems`. Also the row's own record (every column by
//! its header), for the workflow's `source.<column>` filters and mapping.

use serde_json::{Map, Value};

use crate::domain::contact::{Address, Person, PhoneKind};
use crate::domain::sources::{ParseContext, dates, people};

use super::columns::{ColumnMap, PhoneSlot, Target};

/// A row's person, with how many of its emails and phones were unusable:
/// a row left with neither says which it had (`invalid_email`,
/// `invalid_phone`) rather than `no_email_or_phone`.
#[derive(Debug, Clone, PartialEq)]
pub struct RowPerson {
    pub person: Person,
    pub invalid_emails: usize,
    pub invalid_phones: usize,
}

/// Google Contacts puts several values in one cell separated by this.
const GOOGLE_SEPARATOR: &str = ":::";

/// Reads one row (`fields`, by column index, as the file has them) with the
/// file's `map` (its `headers` name the columns in problems), in the
/// workflow's `context` (`default_country`, `agent_map`).
pub fn person_of(
    headers: &[String],
    fields: &[&str],
    map: &ColumnMap,
    context: ParseContext<'_>,
) -> RowPerson {
    let cell = |i: usize| fields.get(i).map(|s| s.trim()).filter(|s| !s.is_empty());
    let column = |i: usize| format!("column {:?}", headers.get(i).map_or("", |h| h.trim()));
    let mut person = Person::default();
    let (mut invalid_emails, mut invalid_phones) = (0, 0);
    let mut full_name = None;
    let mut middle = None;

    // Emails and phones in slot order (Google's `E-mail 1` before `E-mail 2`;
    // a column without a number first), each cell possibly holding several.
    let mut emails: Vec<(u32, usize)> = Vec::new();
    let mut phones: Vec<(u32, usize, PhoneSlot)> = Vec::new();
    let mut address_groups: Vec<(u32, Target, usize)> = Vec::new();
    for &(i, target) in &map.columns {
        let Some(value) = cell(i) else { continue };
        match target {
            Target::FirstName => person.first_name = Some(value.to_string()),
            Target::MiddleName => middle = Some(value.to_string()),
            Target::LastName => person.last_name = Some(value.to_string()),
            Target::FullName => full_name = Some(value.to_string()),
            Target::Email { slot } => emails.push((slot, i)),
            Target::Phone { kind, slot } => phones.push((slot, i, kind)),
            Target::PhoneLabel { .. } | Target::Ignored => {}
            Target::Street { group }
            | Target::City { group }
            | Target::State { group }
            | Target::Zip { group } => address_groups.push((group.0, target, i)),
            Target::Birthday => match birthday(value) {
                Some(date) => person.birthday = Some(date),
                None => person.problems.push(format!(
                    "{} is not a whole date (YYYY-MM-DD or M/D/YYYY); it was left out",
                    column(i)
                )),
            },
            Target::Tags => {
                for tag in value.split([',', ';']).flat_map(|t| t.split(GOOGLE_SEPARATOR)) {
                    let tag = tag.trim();
                    // Google's own groups (`* myContacts`, `* starred`) are no tags.
                    if !tag.is_empty() && !tag.starts_with('*') && !person.tags.iter().any(|t| t == tag)
                    {
                        person.tags.push(tag.to_string());
                    }
                }
            }
            Target::Owner => match context.agent_map.get(value) {
                Some(agent) => person.owner_agent_id = Some(*agent),
                None => match value.parse::<u64>() {
                    Ok(agent) if agent > 0 => person.owner_agent_id = Some(agent),
                    _ => person.problems.push(format!(
                        "{} is neither a key of the workflow's agent_map nor a kvCORE agent id; the owner was left out",
                        column(i)
                    )),
                },
            },
            Target::SourceId => person.source_id = Some(value.to_string()),
        }
    }

    emails.sort_by_key(|(slot, _)| *slot);
    for (_, i) in emails {
        for raw in cell(i).unwrap_or_default().split(GOOGLE_SEPARATOR) {
            if raw.trim().is_empty() {
                continue;
            }
            let before = person.problems.len();
            people::add_email(&mut person, raw.trim(), &column(i));
            invalid_emails += person.problems.len() - before;
        }
    }

    phones.sort_by_key(|(slot, _, _)| *slot);
    for (slot, i, kind) in phones {
        let kind = match kind {
            PhoneSlot::Mobile => PhoneKind::Mobile,
            PhoneSlot::Home => PhoneKind::Home,
            PhoneSlot::Work => PhoneKind::Work,
            PhoneSlot::Other => PhoneKind::Other,
            PhoneSlot::Labelled => PhoneKind::from_label(label(fields, map, slot)),
        };
        for raw in cell(i).unwrap_or_default().split(GOOGLE_SEPARATOR) {
            if raw.trim().is_empty() {
                continue;
            }
            let before = person.problems.len();
            people::add_phone(&mut person, raw.trim(), kind, context.region, &column(i));
            invalid_phones += person.problems.len() - before;
        }
    }

    person.address = address(&address_groups, &cell);
    if person.first_name.is_none() && person.last_name.is_none() {
        if let Some(name) = full_name.as_deref() {
            let (first, last) = split_name(name);
            person.first_name = first;
            person.last_name = last;
        }
    } else if let (Some(first), Some(middle)) = (&person.first_name, middle) {
        // kvCORE has no middle name: it stays with the first name.
        person.first_name = Some(format!("{first} {middle}"));
    }
    RowPerson {
        person,
        invalid_emails,
        invalid_phones,
    }
}

/// The label of the phone in `slot` (`Phone 1 - Label`), without Google's
/// primary mark (`* Mobile`).
fn label<'a>(fields: &[&'a str], map: &ColumnMap, slot: u32) -> Option<&'a str> {
    map.columns
        .iter()
        .find(|(_, t)| *t == Target::PhoneLabel { slot })
        .and_then(|(i, _)| fields.get(*i))
        .map(|l| l.trim().trim_start_matches('*').trim())
}

/// The first address group (lowest number) that has any part.
fn address<'a>(
    groups: &[(u32, Target, usize)],
    cell: &impl Fn(usize) -> Option<&'a str>,
) -> Address {
    let Some(first) = groups.iter().map(|(g, _, _)| *g).min() else {
        return Address::default();
    };
    let mut address = Address::default();
    for (_, target, i) in groups.iter().filter(|(g, _, _)| *g == first) {
        let value = cell(*i).map(str::to_string);
        match target {
            Target::Street { .. } => address.street = value,
            Target::City { .. } => address.city = value,
            Target::State { .. } => address.state = value,
            Target::Zip { .. } => address.zip = value,
            _ => {}
        }
    }
    address
}

/// A whole date: `YYYY-MM-DD` (Google), or `M/D/YYYY` (Outlook, US
/// exports). Outlook's `0/0/00` and Google's year-less `--04-01` are none.
fn birthday(raw: &str) -> Option<String> {
    if let Some(date) = dates::calendar_date(raw) {
        return Some(date);
    }
    let mut parts = raw.trim().splitn(3, '/');
    let month: u8 = parts.next()?.trim().parse().ok()?;
    let day: u8 = parts.next()?.trim().parse().ok()?;
    let year: u16 = parts.next()?.trim().parse().ok()?;
    if year < 1000 {
        return None;
    }
    dates::calendar_date(&format!("{year:04}-{month:02}-{day:02}"))
}

/// A name column split as people write names (SPEC section 5), by the same
/// rule as every source's display name (`domain::names`): `Doe, John` is
/// John Doe, `John Doe, Jr.` is John / Doe Jr., otherwise the last word is
/// the last name; an email address or a phone number is not a name.
pub fn split_name(name: &str) -> (Option<String>, Option<String>) {
    let name = crate::domain::names::from_display_name(name);
    (name.first, name.last)
}

/// The row's own record: every named column with a value, by its header
/// (the `source.<column>` of the workflow's filters and mapping).
pub fn record_of(headers: &[String], fields: &[&str]) -> Map<String, Value> {
    headers
        .iter()
        .zip(fields)
        .filter(|(h, v)| !h.trim().is_empty() && !v.trim().is_empty())
        .map(|(h, v)| {
            (
                h.trim().trim_start_matches('\u{feff}').to_string(),
                Value::String(v.trim().to_string()),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::contact::Region;
    use crate::domain::import::columns::recognise;

    fn read(header: &str, row: &[&str], agent_map: &BTreeMap<String, u64>) -> RowPerson {
        let headers: Vec<String> = header.split(',').map(String::from).collect();
        let map = recognise(&headers, &[]).unwrap();
        let context = ParseContext {
            region: Region::default(),
            agent_map,
        };
        person_of(&headers, row, &map, context)
    }

    #[test]
    fn a_google_row_with_labels_and_several_values() {
        let row = read(
            "Name,First Name,Last Name,Birthday,Labels,E-mail 1 - Label,E-mail 1 - Value,Phone 1 - Label,Phone 1 - Value,Phone 2 - Label,Phone 2 - Value,Address 1 - Street,Address 1 - City,Address 1 - Region,Address 1 - Postal Code",
            &[
                "Ada Lovelace",
                "Ada",
                "Lovelace",
                "1815-12-10",
                "* myContacts ::: Buyers",
                "* Home",
                "Ada@Example.com ::: ada.l@example.org",
                "Work",
                "(239) 555-0100",
                "* Mobile",
                "239 555 0142",
                "1 Main St",
                "Naples",
                "FL",
                "34102",
            ],
            &BTreeMap::new(),
        );
        let p = &row.person;
        assert_eq!(p.first_name.as_deref(), Some("Ada"));
        assert_eq!(p.birthday.as_deref(), Some("1815-12-10"));
        assert!(
            p.tags.is_empty(),
            "Google's labels stay in the record (source.labels), as for a polled Google person"
        );
        let emails: Vec<&str> = p.emails.iter().map(|e| e.as_str()).collect();
        assert_eq!(emails, ["ada@example.com", "ada.l@example.org"]);
        let phones: Vec<(&str, PhoneKind)> =
            p.phones.iter().map(|p| (p.e164.as_str(), p.kind)).collect();
        assert_eq!(
            phones,
            [
                ("+12395550100", PhoneKind::Work),
                ("+12395550142", PhoneKind::Mobile)
            ]
        );
        assert_eq!(p.address.city.as_deref(), Some("Naples"));
        assert_eq!(p.address.zip.as_deref(), Some("34102"));
        assert!(p.problems.is_empty(), "{:?}", p.problems);
    }

    #[test]
    fn invalid_emails_and_phones_are_counted_and_said() {
        let row = read(
            "First Name,E-mail Address,Mobile Phone,Birthday",
            &["Bo", "bo at example", "555", "0/0/00"],
            &BTreeMap::new(),
        );
        assert_eq!((row.invalid_emails, row.invalid_phones), (1, 1));
        assert!(row.person.emails.is_empty() && row.person.phones.is_empty());
        assert_eq!(row.person.problems.len(), 3, "{:?}", row.person.problems);
        assert!(row.person.problems[0].contains("\"Birthday\""));
        assert!(
            !row.person.problems.iter().any(|p| p.contains("555")),
            "problems never repeat a number"
        );
    }

    #[test]
    fn outlook_prefers_the_home_address_and_reads_us_dates() {
        let row = read(
            "First Name,Last Name,Business Street,Business City,Home Street,Home City,E-mail Address,Birthday",
            &[
                "Cy",
                "Young",
                "9 Office Rd",
                "Tampa",
                "",
                "Naples",
                "cy@example.com",
                "4/1/1980",
            ],
            &BTreeMap::new(),
        );
        assert_eq!(row.person.address.city.as_deref(), Some("Naples"));
        assert_eq!(row.person.address.street, None);
        assert_eq!(row.person.birthday.as_deref(), Some("1980-04-01"));
    }

    #[test]
    fn owners_go_through_the_agent_map_else_are_agent_ids() {
        let agent_map = BTreeMap::from([("Jane Agent".to_string(), 7)]);
        let header = "Email,Assigned To";
        let mapped = read(header, &["a@example.com", "Jane Agent"], &agent_map);
        assert_eq!(mapped.person.owner_agent_id, Some(7));
        let id = read(header, &["a@example.com", "12"], &agent_map);
        assert_eq!(id.person.owner_agent_id, Some(12));
        let unknown = read(header, &["a@example.com", "Joe"], &agent_map);
        assert_eq!(unknown.person.owner_agent_id, None);
        assert!(unknown.person.problems[0].contains("agent_map"));
    }

    #[test]
    fn names_split_as_people_write_them() {
        let s = |n: &str| split_name(n);
        assert_eq!(s("Doe, John"), (Some("John".into()), Some("Doe".into())));
        assert_eq!(
            s("Mary Ann Smith"),
            (Some("Mary Ann".into()), Some("Smith".into()))
        );
        assert_eq!(s("Cher"), (Some("Cher".into()), None));
        // The sources' rule (`domain::names`): a suffix after a comma is
        // not the `Last, First` form.
        assert_eq!(
            s("John Doe, Jr."),
            (Some("John".into()), Some("Doe Jr.".into()))
        );
        assert_eq!(s("jane@example.com"), (None, None));
        assert_eq!(s("+1 (239) 555-0100"), (None, None));
        let row = read(
            "Name,Email",
            &["Doe, John", "j@example.com"],
            &BTreeMap::new(),
        );
        assert_eq!(row.person.last_name.as_deref(), Some("Doe"));
    }

    #[test]
    fn the_record_keeps_every_column_by_its_header() {
        let headers: Vec<String> = ["\u{feff}Email", "Stage", "Empty"]
            .map(String::from)
            .to_vec();
        let record = record_of(&headers, &["a@example.com", " Lead ", ""]);
        assert_eq!(record["Email"], "a@example.com");
        assert_eq!(record["Stage"], "Lead");
        assert!(!record.contains_key("Empty"));
    }
}
