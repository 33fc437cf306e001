//! The paths `filters` and `field_map` name (SPEC section 12): a canonical
//! field of the person, or `source.<path>` inside the source's own record,
//! and what a path finds on a person. Pure.

use serde_json::Value;

use crate::domain::contact::{Person, PhoneKind};
use crate::domain::settings::{Attr, SettingsError, Source};

/// Where a value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Path {
    /// The primary email.
    Email,
    /// Every phone (E.164, primary first), or the first of one kind
    /// (`phone.mobile`, `phone.home`, `phone.work`, `phone.other`).
    Phone(Option<PhoneKind>),
    FirstName,
    LastName,
    Street,
    City,
    State,
    Zip,
    /// `YYYY-MM-DD`.
    Birthday,
    Tags,
    /// The kvCORE agent id of the person's owner, after `agent_map`.
    Owner,
    /// `source.<a>.<b>`: the keys inside the source's own record; a number
    /// indexes a list, a name over a list reads it in every element.
    /// Google's `source.labels` is the person's contact group names.
    Source(Vec<String>),
}

/// The canonical paths, as written in the console.
pub const CANONICAL: [&str; 15] = [
    "email",
    "phone",
    "phone.mobile",
    "phone.home",
    "phone.work",
    "phone.other",
    "first_name",
    "last_name",
    "street",
    "city",
    "state",
    "zip",
    "birthday",
    "tags",
    "owner",
];

/// What a Google person can have under `source.`: the People API `Person`
/// fields kvsync asks for (`personFields`, SPEC section 10), and `labels`.
/// developers.google.com/people/api/rest/v1/people#Person
const GOOGLE_FIELDS: [&str; 10] = [
    "labels",
    "resourceName",
    "etag",
    "names",
    "emailAddresses",
    "phoneNumbers",
    "addresses",
    "birthdays",
    "memberships",
    "metadata",
];

/// A Follow Up Boss person's standard fields (docs.followupboss.com/reference/
/// people-id-get); custom fields are named `custom<Name>` (docs.followupboss.com/
/// docs/customfields-get: "to send a value for a field named "Close Price",
/// use the field name customClosePrice").
const FOLLOWUPBOSS_FIELDS: [&str; 31] = [
    "id",
    "created",
    "updated",
    "createdVia",
    "lastActivity",
    "name",
    "firstName",
    "lastName",
    "stage",
    "stageId",
    "source",
    "sourceId",
    "sourceUrl",
    "type",
    "price",
    "contacted",
    "delayed",
    "background",
    "assignedTo",
    "assignedUserId",
    "assignedLenderId",
    "assignedLenderName",
    "assignedPondId",
    "claimed",
    "tags",
    "emails",
    "phones",
    "addresses",
    "collaborators",
    "dealStatus",
    "timeframeId",
];

/// A Microsoft Graph `contact`'s properties (learn.microsoft.com, Graph
/// v1.0, "contact resource type").
const MICROSOFT_FIELDS: [&str; 37] = [
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "parentFolderId",
    "birthday",
    "fileAs",
    "displayName",
    "givenName",
    "initials",
    "middleName",
    "nickName",
    "surname",
    "title",
    "yomiGivenName",
    "yomiSurname",
    "yomiCompanyName",
    "generation",
    "emailAddresses",
    "imAddresses",
    "jobTitle",
    "companyName",
    "department",
    "officeLocation",
    "profession",
    "businessHomePage",
    "assistantName",
    "manager",
    "homePhones",
    "mobilePhone",
    "businessPhones",
    "homeAddress",
    "businessAddress",
    "otherAddress",
    "spouseName",
    "personalNotes",
];

impl Path {
    /// Reads a path written in the console for a workflow of `source`. The
    /// error says what was expected and the nearest valid path.
    pub fn parse(text: &str, source: Source) -> Result<Path, PathProblem> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("source.") {
            let keys: Vec<String> = rest.split('.').map(|k| k.trim().to_string()).collect();
            if keys.iter().any(String::is_empty) {
                return Err(PathProblem {
                    expected: "source.<key>, dotted for nested keys (no empty key)".into(),
                    nearest: None,
                });
            }
            let first = keys[0].as_str();
            let known: &[&str] = match source {
                Source::Google => &GOOGLE_FIELDS,
                Source::FollowUpBoss if first.starts_with("custom") && first.len() > 6 => &[],
                Source::FollowUpBoss => &FOLLOWUPBOSS_FIELDS,
                Source::Microsoft => &MICROSOFT_FIELDS,
                Source::Generic => &[],
            };
            if !known.is_empty() && !known.contains(&first) {
                let what = match source {
                    Source::Google => "a Google person's field",
                    Source::Microsoft => "a Microsoft Graph contact's field",
                    _ => "a Follow Up Boss person's field or a custom field (customXxx)",
                };
                return Err(PathProblem {
                    expected: format!("source.<{what}>"),
                    nearest: Some(format!("source.{}", nearest(first, known))),
                });
            }
            return Ok(Path::Source(keys));
        }
        let path = match text {
            "email" => Path::Email,
            "phone" => Path::Phone(None),
            "phone.mobile" => Path::Phone(Some(PhoneKind::Mobile)),
            "phone.home" => Path::Phone(Some(PhoneKind::Home)),
            "phone.work" => Path::Phone(Some(PhoneKind::Work)),
            "phone.other" => Path::Phone(Some(PhoneKind::Other)),
            "first_name" => Path::FirstName,
            "last_name" => Path::LastName,
            "street" => Path::Street,
            "city" => Path::City,
            "state" => Path::State,
            "zip" => Path::Zip,
            "birthday" => Path::Birthday,
            "tags" => Path::Tags,
            "owner" => Path::Owner,
            other => {
                return Err(PathProblem {
                    expected: format!(
                        "a person's field ({}) or source.<path>",
                        CANONICAL.join(", ")
                    ),
                    nearest: Some(nearest(other, &CANONICAL).to_string()),
                });
            }
        };
        Ok(path)
    }

    /// `source.labels`: a Google person's contact group names.
    pub fn is_labels(&self) -> bool {
        matches!(self, Path::Source(keys) if keys.len() == 1 && keys[0] == "labels")
    }

    /// What the path finds on a person: a string, a number (`owner`), a list
    /// (`phone`, `tags`, `source.labels`, a list in the record), or `Null`
    /// when the person has nothing there. Text is trimmed; blank is `Null`.
    pub fn resolve(&self, person: &Person) -> Value {
        let text = |v: &Option<String>| match v.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => Value::String(t.to_string()),
            _ => Value::Null,
        };
        match self {
            Path::Email => person
                .primary_email()
                .map_or(Value::Null, |e| Value::String(e.as_str().to_string())),
            Path::Phone(None) => Value::Array(
                person
                    .phones
                    .iter()
                    .map(|p| Value::String(p.e164.clone()))
                    .collect(),
            ),
            Path::Phone(Some(kind)) => person
                .phones
                .iter()
                .find(|p| p.kind == *kind)
                .map_or(Value::Null, |p| Value::String(p.e164.clone())),
            Path::FirstName => text(&person.first_name),
            Path::LastName => text(&person.last_name),
            Path::Street => text(&person.address.street),
            Path::City => text(&person.address.city),
            Path::State => text(&person.address.state),
            Path::Zip => text(&person.address.zip),
            Path::Birthday => text(&person.birthday),
            Path::Tags => Value::Array(person.tags.iter().cloned().map(Value::String).collect()),
            Path::Owner => person.owner_agent_id.map_or(Value::Null, Value::from),
            Path::Source(keys) => {
                let Some(record) = person.source_record.as_deref() else {
                    return Value::Null;
                };
                if self.is_labels() && !record.labels.is_empty() {
                    return Value::Array(
                        record.labels.iter().cloned().map(Value::String).collect(),
                    );
                }
                descend(&record.value, keys)
            }
        }
    }
}

/// The path as written in the console.
impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            Path::Email => "email",
            Path::Phone(None) => "phone",
            Path::Phone(Some(PhoneKind::Mobile)) => "phone.mobile",
            Path::Phone(Some(PhoneKind::Home)) => "phone.home",
            Path::Phone(Some(PhoneKind::Work)) => "phone.work",
            Path::Phone(Some(PhoneKind::Other)) => "phone.other",
            Path::FirstName => "first_name",
            Path::LastName => "last_name",
            Path::Street => "street",
            Path::City => "city",
            Path::State => "state",
            Path::Zip => "zip",
            Path::Birthday => "birthday",
            Path::Tags => "tags",
            Path::Owner => "owner",
            Path::Source(keys) => return write!(f, "source.{}", keys.join(".")),
        };
        f.write_str(text)
    }
}

/// The value at `keys` inside `value`: a number indexes a list, a name over
/// a list reads every element's (flattened).
fn descend(value: &Value, keys: &[String]) -> Value {
    let Some((key, rest)) = keys.split_first() else {
        return value.clone();
    };
    match value {
        Value::Object(map) => map.get(key).map_or(Value::Null, |v| descend(v, rest)),
        Value::Array(items) => match key.parse::<usize>() {
            Ok(index) => items.get(index).map_or(Value::Null, |v| descend(v, rest)),
            Err(_) => {
                let mut found = Vec::new();
                for item in items {
                    match descend(item, keys) {
                        Value::Null => {}
                        Value::Array(inner) => found.extend(inner),
                        other => found.push(other),
                    }
                }
                Value::Array(found)
            }
        },
        _ => Value::Null,
    }
}

/// Why a path cannot be read, and the valid path it most resembles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathProblem {
    pub expected: String,
    pub nearest: Option<String>,
}

/// The choice `found` most resembles (Jaro-Winkler, as for attribute names).
pub fn nearest<'a>(found: &str, choices: &[&'a str]) -> &'a str {
    choices
        .iter()
        .copied()
        .max_by(|a, b| {
            strsim::jaro_winkler(found, a)
                .partial_cmp(&strsim::jaro_winkler(found, b))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .unwrap_or("")
}

/// A `filters` or `field_map` mistake, said as every settings error is
/// (SPEC sections 3 and 12): workflow, attribute with index or key,
/// expected, found, and the nearest valid choice when there is one.
pub(crate) fn mistake(
    workflow_id: &str,
    attribute: &str,
    expected: &str,
    found: &Attr,
    nearest: Option<&str>,
) -> SettingsError {
    let mut found = found.describe();
    if let Some(nearest) = nearest {
        found.push_str(&format!("; did you mean \"{nearest}\"?"));
    }
    SettingsError {
        workflow_id: workflow_id.to_string(),
        attribute: attribute.to_string(),
        expected: expected.to_string(),
        found,
    }
}

/// A path attribute (S) read for `source`, or the mistake naming it.
pub(crate) fn read_path(
    workflow_id: &str,
    attribute: &str,
    attr: &Attr,
    source: Source,
) -> Result<Path, SettingsError> {
    let Attr::S(text) = attr else {
        return Err(mistake(
            workflow_id,
            attribute,
            "a path (S) such as \"source.stage\" or \"phone.mobile\"",
            attr,
            None,
        ));
    };
    Path::parse(text, source).map_err(|problem| {
        mistake(
            workflow_id,
            attribute,
            &problem.expected,
            attr,
            problem.nearest.as_deref(),
        )
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::domain::contact::{Email, Phone, Region, SourceRecord};

    fn person() -> Person {
        let us = Region::default();
        Person {
            first_name: Some(" Ann ".into()),
            emails: vec![Email::parse("ann@example.com").unwrap()],
            phones: vec![
                Phone::parse("239-555-0101", us, PhoneKind::Work).unwrap(),
                Phone::parse("239-555-0100", us, PhoneKind::Mobile).unwrap(),
            ],
            tags: vec!["buyer".into()],
            owner_agent_id: Some(7),
            source_record: Some(Arc::new(SourceRecord {
                value: json!({"stage": "Lead", "price": 450000,
                    "emails": [{"value": "a@x.com"}, {"value": "b@x.com"}],
                    "custom": {"leadType": "Buyer"}}),
                labels: vec!["Clients".into()],
            })),
            ..Person::default()
        }
    }

    #[test]
    fn canonical_paths_find_the_person_s_values() {
        let p = person();
        let cases = [
            ("email", json!("ann@example.com")),
            ("phone", json!(["+12395550101", "+12395550100"])),
            ("phone.mobile", json!("+12395550100")),
            ("phone.home", Value::Null),
            ("first_name", json!("Ann")),
            ("last_name", Value::Null),
            ("tags", json!(["buyer"])),
            ("owner", json!(7)),
        ];
        for (text, expected) in cases {
            let path = Path::parse(text, Source::Generic).unwrap();
            assert_eq!(path.resolve(&p), expected, "{text}");
            assert_eq!(path.to_string(), text, "written back as read");
        }
    }

    #[test]
    fn source_paths_read_the_record() {
        let p = person();
        let cases = [
            ("source.stage", json!("Lead")),
            ("source.price", json!(450000)),
            ("source.custom.leadType", json!("Buyer")),
            ("source.emails.1.value", json!("b@x.com")),
            ("source.emails.value", json!(["a@x.com", "b@x.com"])),
            ("source.labels", json!(["Clients"])),
            ("source.nothing.here", Value::Null),
        ];
        for (text, expected) in cases {
            let path = Path::parse(text, Source::Generic).unwrap();
            assert_eq!(path.resolve(&p), expected, "{text}");
        }
        let bare = Person::default();
        let stage = Path::parse("source.stage", Source::Generic).unwrap();
        assert_eq!(stage.resolve(&bare), Value::Null);
    }

    #[test]
    fn paths_a_source_cannot_have_name_the_nearest() {
        let cases = [
            ("emial", Source::Generic, Some("email")),
            ("phone.cell", Source::Generic, Some("phone")),
            ("source.stag", Source::FollowUpBoss, Some("source.stage")),
            ("source.lables", Source::Google, Some("source.labels")),
            ("source.", Source::Generic, None),
            ("source.a..b", Source::Generic, None),
        ];
        for (text, source, nearest) in cases {
            let problem = Path::parse(text, source).unwrap_err();
            assert_eq!(problem.nearest.as_deref(), nearest, "{text}");
        }
        for (text, source) in [
            ("source.customLeadType", Source::FollowUpBoss),
            ("source.stage", Source::FollowUpBoss),
            ("source.labels", Source::Google),
            ("source.anything.at.all", Source::Generic),
        ] {
            assert!(Path::parse(text, source).is_ok(), "{text}");
        }
    }
}
