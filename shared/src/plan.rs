//! What to do for one person: the mode, the match and kvCORE's current
//! record → an action with the exact fields to send (SPEC section 6). Pure.

use crate::contact::Person;
use crate::fields::{Field, FieldValues, field_values, is_empty, same_value};
use crate::matching::Match;
use crate::outcome::SkipReason;
use crate::settings::Settings;

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Create {
        values: FieldValues,
        assigned_agent_id: Option<u64>,
    },
    Update {
        contact_id: u64,
        values: FieldValues,
    },
    /// The match already says everything the event says: nothing is sent.
    Unchanged { contact_id: u64 },
    Skip {
        reason: SkipReason,
        contact_id: Option<u64>,
    },
}

/// The skips that need no kvCORE lookup; checked before any request.
pub fn precheck(settings: &Settings, person: &Person) -> Option<SkipReason> {
    if !settings.enabled {
        return Some(SkipReason::WorkflowDisabled);
    }
    if person.owner_agent_id.is_some() && !settings.allows_agent(person.owner_agent_id) {
        return Some(SkipReason::AgentFiltered);
    }
    if person.emails.is_empty() && person.phones.is_empty() {
        return Some(SkipReason::NoEmailOrPhone);
    }
    None
}

/// Decides create, update, unchanged or skip for a person and its match.
pub fn plan(settings: &Settings, person: &Person, found: Option<&Match>) -> Action {
    let mut wanted = field_values(person);
    wanted.retain(|field, _| settings.sync_fields.contains(field));

    let Some(found) = found else {
        if !settings.create_contacts {
            return Action::Skip {
                reason: SkipReason::NoMatchUpdateOnly,
                contact_id: None,
            };
        }
        return Action::Create {
            values: wanted,
            assigned_agent_id: person.owner_agent_id.or(settings.default_agent_id),
        };
    };

    let contact_id = found.contact.id;
    if !settings.update_contacts {
        return Action::Skip {
            reason: SkipReason::MatchFoundCreateOnly,
            contact_id: Some(contact_id),
        };
    }
    let values = update_values(settings, wanted, found);
    if values.is_empty() {
        Action::Unchanged { contact_id }
    } else {
        Action::Update { contact_id, values }
    }
}

/// The fields an update sends: only those whose value differs (or, without
/// `overwrite_existing`, that kvCORE has empty). A field the event lacks is
/// never in `wanted`, so it is never blanked. kvCORE ignores `hashtags` on
/// update, so they are never sent there.
fn update_values(settings: &Settings, mut wanted: FieldValues, found: &Match) -> FieldValues {
    wanted.remove(&Field::Hashtags);
    wanted.retain(|field, value| {
        let current = found.contact.get(field.name());
        if settings.overwrite_existing {
            !same_value(*field, current, value, settings.default_country)
        } else {
            is_empty(current)
        }
    });
    wanted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::{Address, Email, Phone, PhoneKind, Region};
    use crate::kvcore::KvContact;
    use crate::matching::MatchedBy;
    use crate::settings::{Attr, Item, parse};
    use serde_json::json;

    fn settings(pairs: &[(&str, Attr)]) -> Settings {
        let mut item = Item::from([
            ("kvcore_token_secret".to_string(), Attr::S("t".into())),
            ("webhook_secret".to_string(), Attr::S("w".into())),
        ]);
        for (k, v) in pairs {
            item.insert(k.to_string(), v.clone());
        }
        parse("wf", &item).unwrap().0
    }

    /// The seed's example: a new mobile number and an address.
    fn john() -> Person {
        Person {
            first_name: Some("John".into()),
            last_name: Some("Smith".into()),
            emails: vec![Email::parse("john.smith@example.com").unwrap()],
            phones: vec![
                Phone::parse("(239) 555-0142", Region::default(), PhoneKind::Mobile).unwrap(),
            ],
            address: Address {
                street: Some("1 Main St".into()),
                city: Some("Naples".into()),
                state: Some("FL".into()),
                zip: Some("34102".into()),
            },
            tags: vec!["buyer".into()],
            ..Person::default()
        }
    }

    fn kvcore_john() -> Match {
        let contact: KvContact = serde_json::from_value(json!({
            "id": 1001, "first_name": "John", "last_name": "Smith",
            "email": "John.Smith@example.com", "cell_phone_1": "(239) 555-0100",
            "home_phone": null, "primary_address": null, "primary_city": "",
            "hashtags": []
        }))
        .unwrap();
        Match {
            contact,
            matched_by: MatchedBy::Email,
            also_matched: vec![],
        }
    }

    fn names(values: &FieldValues) -> Vec<&'static str> {
        values.keys().map(|f| f.name()).collect()
    }

    #[test]
    fn do_not_overwrite_fills_only_empty_fields() {
        let s = settings(&[("overwrite_existing", Attr::Bool(false))]);
        let Action::Update { contact_id, values } = plan(&s, &john(), Some(&kvcore_john())) else {
            panic!("expected an update")
        };
        assert_eq!(contact_id, 1001);
        assert_eq!(
            names(&values),
            [
                "primary_address",
                "primary_city",
                "primary_state",
                "primary_zip"
            ],
            "the kvCORE mobile stays; only the address is written"
        );
    }

    #[test]
    fn overwrite_sends_only_what_differs() {
        let s = settings(&[]);
        let Action::Update { values, .. } = plan(&s, &john(), Some(&kvcore_john())) else {
            panic!("expected an update")
        };
        assert_eq!(
            names(&values),
            [
                "cell_phone_1",
                "primary_address",
                "primary_city",
                "primary_state",
                "primary_zip"
            ]
        );
        assert_eq!(values[&Field::CellPhone1], json!("+12395550142"));
    }

    #[test]
    fn nothing_different_is_unchanged_and_tags_alone_do_not_count() {
        let mut person = john();
        person.phones =
            vec![Phone::parse("239.555.0100", Region::default(), PhoneKind::Mobile).unwrap()];
        person.address = Address::default();
        person.tags = vec!["new-tag".into()];
        assert_eq!(
            plan(&settings(&[]), &person, Some(&kvcore_john())),
            Action::Unchanged { contact_id: 1001 }
        );
    }

    #[test]
    fn absent_fields_are_never_blanked() {
        let person = Person {
            emails: john().emails,
            ..Person::default()
        };
        assert_eq!(
            plan(&settings(&[]), &person, Some(&kvcore_john())),
            Action::Unchanged { contact_id: 1001 }
        );
    }

    #[test]
    fn only_sync_fields_are_written() {
        let s = settings(&[(
            "sync_fields",
            Attr::Ss(vec!["primary_city".into(), "hashtags".into()]),
        )]);
        let Action::Update { values, .. } = plan(&s, &john(), Some(&kvcore_john())) else {
            panic!("expected an update")
        };
        assert_eq!(names(&values), ["primary_city"]);
        let Action::Create { values, .. } = plan(&s, &john(), None) else {
            panic!("expected a create")
        };
        assert_eq!(names(&values), ["primary_city", "hashtags"]);
    }

    #[test]
    fn create_carries_tags_and_the_owner_else_the_default_agent() {
        let s = settings(&[("default_agent_id", Attr::N("7".into()))]);
        let Action::Create {
            values,
            assigned_agent_id,
        } = plan(&s, &john(), None)
        else {
            panic!("expected a create")
        };
        assert_eq!(values[&Field::Hashtags], json!(["buyer"]));
        assert_eq!(assigned_agent_id, Some(7));
        let mut owned = john();
        owned.owner_agent_id = Some(9);
        let Action::Create {
            assigned_agent_id, ..
        } = plan(&s, &owned, None)
        else {
            panic!("expected a create")
        };
        assert_eq!(assigned_agent_id, Some(9));
    }

    #[test]
    fn modes() {
        let create_only = settings(&[("update_contacts", Attr::Bool(false))]);
        assert_eq!(
            plan(&create_only, &john(), Some(&kvcore_john())),
            Action::Skip {
                reason: SkipReason::MatchFoundCreateOnly,
                contact_id: Some(1001)
            }
        );
        assert!(matches!(
            plan(&create_only, &john(), None),
            Action::Create { .. }
        ));

        let update_only = settings(&[("create_contacts", Attr::Bool(false))]);
        assert_eq!(
            plan(&update_only, &john(), None),
            Action::Skip {
                reason: SkipReason::NoMatchUpdateOnly,
                contact_id: None
            }
        );
        assert!(matches!(
            plan(&update_only, &john(), Some(&kvcore_john())),
            Action::Update { .. }
        ));
    }

    #[test]
    fn prechecks() {
        assert_eq!(precheck(&settings(&[]), &john()), None);
        let disabled = settings(&[("enabled", Attr::Bool(false))]);
        assert_eq!(
            precheck(&disabled, &john()),
            Some(SkipReason::WorkflowDisabled)
        );

        let filtered = settings(&[("agent_ids", Attr::Ns(vec!["7".into()]))]);
        let mut owned = john();
        owned.owner_agent_id = Some(8);
        assert_eq!(precheck(&filtered, &owned), Some(SkipReason::AgentFiltered));
        owned.owner_agent_id = Some(7);
        assert_eq!(precheck(&filtered, &owned), None);
        assert_eq!(
            precheck(&filtered, &john()),
            None,
            "no owner: the matches are filtered instead"
        );

        let nameless = Person {
            first_name: Some("John".into()),
            ..Person::default()
        };
        assert_eq!(
            precheck(&settings(&[]), &nameless),
            Some(SkipReason::NoEmailOrPhone)
        );
    }
}
