//! The source's own record of a person, kept beside the canonical `Person`
//! so that `filters` and `field_map` can read `source.<path>` (SPEC section
//! 12): a Follow Up Boss person as `GET /people/{id}` answers it, a Google
//! People API `Person` resource, a generic payload's `contact`.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// A person as the source app holds it. Shared (`Arc`) by the `Person`
/// and its clones: it is read, never changed, once parsed.
#[derive(Clone, Default, PartialEq)]
pub struct SourceRecord {
    /// The record as the source sent it.
    pub value: Value,
    /// Google only: the contact groups ("labels") the person belongs to,
    /// from its `memberships`: each group's name when known
    /// (`name_google_memberships`), else its resource name
    /// (`contactGroups/1a2b3c`); `source.labels` reads these.
    pub labels: Vec<String>,
}

impl SourceRecord {
    pub fn new(value: Value) -> SourceRecord {
        SourceRecord {
            value,
            labels: Vec::new(),
        }
    }
}

/// Writes each contact group's name beside its resource name in a Google
/// `Person`'s `memberships[].contactGroupMembership`, as
/// `contactGroupName` (kvsync's own key; Google's membership has only the
/// resource name, developers.google.com/people/api/rest/v1/people#membership).
/// The poller does it with the names `contactGroups.list` gave, so the
/// event's kept payload (and any replay of it) carries them.
pub fn name_google_memberships(person: &mut Value, names: &BTreeMap<String, String>) {
    let Some(memberships) = person.get_mut("memberships").and_then(Value::as_array_mut) else {
        return;
    };
    for membership in memberships {
        let Some(group) = membership
            .get_mut("contactGroupMembership")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        let name = group
            .get("contactGroupResourceName")
            .and_then(Value::as_str)
            .and_then(|resource| names.get(resource));
        if let Some(name) = name {
            group.insert("contactGroupName".into(), Value::String(name.clone()));
        }
    }
}

/// Never the values: the record holds names, emails and phones.
impl fmt::Debug for SourceRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.value.as_object().map_or(0, |m| m.len());
        write!(f, "SourceRecord({keys} keys, {} labels)", self.labels.len())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn memberships_are_named_where_the_name_is_known() {
        let mut person = json!({"memberships": [
            {"contactGroupMembership": {"contactGroupResourceName": "contactGroups/myContacts"}},
            {"contactGroupMembership": {"contactGroupResourceName": "contactGroups/1a2b"}},
            {"contactGroupMembership": {"contactGroupResourceName": "contactGroups/gone"}},
            {"domainMembership": {"inViewerDomain": true}}
        ]});
        let names = BTreeMap::from([
            (
                "contactGroups/myContacts".to_string(),
                "myContacts".to_string(),
            ),
            ("contactGroups/1a2b".to_string(), "Clients".to_string()),
        ]);
        name_google_memberships(&mut person, &names);
        let named: Vec<_> = person["memberships"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["contactGroupMembership"]["contactGroupName"].clone())
            .collect();
        assert_eq!(
            named,
            [
                json!("myContacts"),
                json!("Clients"),
                Value::Null,
                Value::Null
            ]
        );
        let mut none = json!({"names": []});
        name_google_memberships(&mut none, &names);
        assert_eq!(none, json!({"names": []}));
    }
}
