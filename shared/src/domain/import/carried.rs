//! An import row's person as the sync queue carries it (SPEC sections 11
//! and 13): the person the preview decided on, so the worker syncs exactly
//! what the preview showed, with the row's own record for the workflow's
//! filters. JSON in the message; read back through the same
//! person-building helpers as every source.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::contact::{Address, Person, PhoneKind, Region};
use crate::domain::sources::people;

/// A person in a sync queue message of an import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportedPerson {
    /// The row's number in the file (1 = the first row after the header).
    pub row: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Primary first, normalized.
    #[serde(default)]
    pub emails: Vec<String>,
    /// `(E.164, kind)`, primary first.
    #[serde(default)]
    pub phones: Vec<(String, PhoneKind)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_agent_id: Option<u64>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The row's own record (`source.<column>`), for the workflow's filters.
    #[serde(default)]
    pub record: Map<String, Value>,
}

impl ImportedPerson {
    pub fn of(row: usize, person: &Person, record: Map<String, Value>) -> ImportedPerson {
        ImportedPerson {
            row,
            source_id: person.source_id.clone(),
            first_name: person.first_name.clone(),
            last_name: person.last_name.clone(),
            emails: person
                .emails
                .iter()
                .map(|e| e.as_str().to_string())
                .collect(),
            phones: person
                .phones
                .iter()
                .map(|p| (p.e164.clone(), p.kind))
                .collect(),
            street: person.address.street.clone(),
            city: person.address.city.clone(),
            state: person.address.state.clone(),
            zip: person.address.zip.clone(),
            birthday: person.birthday.clone(),
            owner_agent_id: person.owner_agent_id,
            tags: person.tags.clone(),
            record,
        }
    }

    /// The person again (its phones are E.164, so `region` changes nothing
    /// unless the message was edited by hand).
    pub fn person(&self, region: Region) -> Person {
        let mut person = Person {
            source_id: Some(
                self.source_id
                    .clone()
                    .unwrap_or_else(|| format!("row {}", self.row)),
            ),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            address: Address {
                street: self.street.clone(),
                city: self.city.clone(),
                state: self.state.clone(),
                zip: self.zip.clone(),
            },
            birthday: self.birthday.clone(),
            owner_agent_id: self.owner_agent_id,
            tags: self.tags.clone(),
            ..Person::default()
        };
        for email in &self.emails {
            people::add_email(&mut person, email, "emails");
        }
        for (number, kind) in &self.phones {
            people::add_phone(&mut person, number, *kind, region, "phones");
        }
        // The worker filters and maps the row as the preview did (SPEC
        // section 12: `source.<column>`).
        if !self.record.is_empty() {
            people::keep_record(&mut person, &self.record, Vec::new());
        }
        person
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::{Email, Phone};

    #[test]
    fn a_person_survives_the_queue() {
        let person = Person {
            source_id: Some("fub-12".into()),
            first_name: Some("Ann".into()),
            emails: vec![
                Email::parse("ann@example.com").unwrap(),
                Email::parse("a2@example.com").unwrap(),
            ],
            phones: vec![
                Phone::parse("+44 20 7946 0958", Region::default(), PhoneKind::Work).unwrap(),
            ],
            address: Address {
                city: Some("Naples".into()),
                ..Address::default()
            },
            tags: vec!["buyer".into()],
            owner_agent_id: Some(7),
            ..Person::default()
        };
        let carried = ImportedPerson::of(4, &person, Map::new());
        let json = serde_json::to_string(&carried).unwrap();
        let back: ImportedPerson = serde_json::from_str(&json).unwrap();
        assert_eq!(back.person(Region::default()), person);
        let anonymous = ImportedPerson {
            source_id: None,
            ..back
        };
        assert_eq!(
            anonymous.person(Region::default()).source_id.as_deref(),
            Some("row 4")
        );
    }
}
