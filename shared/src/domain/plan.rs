//! What to do for one person: the mode, the match and kvCORE's current
//! record → an action with the exact fields to send (SPEC section 6). Pure.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::domain::contact::Person;
use crate::domain::edits::{Written, unchanged_since_written};
use crate::domain::fields::{Field, FieldValues, is_empty, same_value};
use crate::domain::filters;
use crate::domain::kv_contact::KvContact;
use crate::domain::matching::Match;
use crate::domain::outcome::SkipReason;
use crate::domain::settings::Settings;

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `POST /contact` with `values`, `assigned_agent_id` and `source`.
    Create {
        values: FieldValues,
        assigned_agent_id: Option<u64>,
        /// The workflow's `lead_source`, for kvCORE's `source`. kvCORE takes
        /// `source` only on create (SPEC section 7), so only a create has it.
        source: Option<String>,
    },
    /// `PUT /contact/{id}` with `values` when there are any, then
    /// `PUT /contact/{id}/tags` with `add_tags` when there are any; at least
    /// one of the two is non-empty.
    Update {
        contact_id: u64,
        values: FieldValues,
        /// Tag names (trimmed, without `#`) the contact lacks, in the event's
        /// order, each once. Empty unless `add_tags` is on and `sync_fields`
        /// has `hashtags` (SPEC section 6).
        add_tags: Vec<String>,
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
    if filters::first_failed(&settings.filters, person).is_some() {
        return Some(SkipReason::FilteredOut);
    }
    if person.emails.is_empty() && person.phones.is_empty() {
        return Some(SkipReason::NoEmailOrPhone);
    }
    None
}

/// Decides create, update, unchanged or skip for a person and its match,
/// with the workflow's `field_map` applied and nothing known of what was
/// written before (every field may be written).
pub fn plan(settings: &Settings, person: &Person, found: Option<&Match>) -> Action {
    let wanted = settings
        .field_map
        .apply(person, settings.default_country)
        .values;
    decide(settings, person, wanted, found, None)
}

/// Decides create, update, unchanged or skip for a person, the kvCORE
/// values its workflow maps it to (`FieldMap::apply`), its match, and the
/// fingerprints of what this workflow last wrote to that contact (`None`:
/// never, or before they were kept). Unless `revert_kvcore_edits`, an
/// update leaves a field whose source value is what was last written:
/// a difference there is an edit made in kvCORE (SPEC section 6).
pub fn decide(
    settings: &Settings,
    person: &Person,
    mut wanted: FieldValues,
    found: Option<&Match>,
    written: Option<&Written>,
) -> Action {
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
            source: settings.lead_source.clone(),
        };
    };

    let contact_id = found.contact.id;
    if !settings.update_contacts {
        return Action::Skip {
            reason: SkipReason::MatchFoundCreateOnly,
            contact_id: Some(contact_id),
        };
    }
    let add_tags = tags_to_add(settings, person, &found.contact);
    let values = update_values(settings, wanted, found, written);
    if values.is_empty() && add_tags.is_empty() {
        Action::Unchanged { contact_id }
    } else {
        Action::Update {
            contact_id,
            values,
            add_tags,
        }
    }
}

/// The fields an update sends: only those whose value differs (or, without
/// `overwrite_existing`, that kvCORE has empty). A field the event lacks is
/// never in `wanted`, so it is never blanked. kvCORE ignores `hashtags` on
/// update, so they are never sent there.
fn update_values(
    settings: &Settings,
    mut wanted: FieldValues,
    found: &Match,
    written: Option<&Written>,
) -> FieldValues {
    wanted.remove(&Field::Hashtags);
    wanted.retain(|field, value| {
        if !settings.revert_kvcore_edits && unchanged_since_written(written, *field, value) {
            return false;
        }
        let current = found.contact.get(field.name());
        if settings.overwrite_existing {
            !same_value(*field, current, value, settings.default_country)
        } else {
            is_empty(current)
        }
    });
    wanted
}

/// The event's tags the contact lacks (SPEC section 6, `add_tags`): compared
/// trimmed, without `#` and without regard to case against the full record's
/// `hashtags`. Adding never overwrites, so `overwrite_existing` does not
/// matter; `sync_fields` without `hashtags` means no tag is written at all.
fn tags_to_add(settings: &Settings, person: &Person, current: &KvContact) -> Vec<String> {
    if !settings.add_tags || !settings.sync_fields.contains(&Field::Hashtags) {
        return Vec::new();
    }
    let mut held: BTreeSet<String> = held_tags(current.get(Field::Hashtags.name()))
        .iter()
        .map(|tag| tag.to_lowercase())
        .collect();
    person
        .tags
        .iter()
        .map(|tag| tag_name(tag))
        .filter(|name| !name.is_empty() && held.insert(name.to_lowercase()))
        .map(str::to_string)
        .collect()
}

/// A tag as kvCORE names it: trimmed, without the leading `#` (SPEC section 7).
fn tag_name(tag: &str) -> &str {
    tag.trim().trim_start_matches('#').trim()
}

/// The tag names a kvCORE record holds, each as `tag_name` gives it.
/// kvCORE answers `hashtags` as a list of names, a list of `{"name": ...}`
/// objects, or one comma-separated string; null or anything else holds none.
pub fn held_tags(hashtags: Option<&Value>) -> Vec<String> {
    let names: Vec<&str> = match hashtags {
        Some(Value::String(joined)) => joined.split(',').collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| match item {
                Value::String(name) => Some(name.as_str()),
                Value::Object(tag) => tag.get("name").and_then(Value::as_str),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    names
        .into_iter()
        .map(tag_name)
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::{Address, Email, Phone, PhoneKind, Region};
    use crate::domain::kv_contact::KvContact;
    use crate::domain::matching::MatchedBy;
    use crate::domain::settings::{Attr, Item, parse};
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
        let Action::Update {
            contact_id, values, ..
        } = plan(&s, &john(), Some(&kvcore_john()))
        else {
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
            ..
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

    /// kvCORE's John with these `hashtags`, and an event that says nothing
    /// else new: only tags can differ.
    fn tagged(hashtags: Value, event_tags: &[&str]) -> (Person, Match) {
        let mut found = kvcore_john();
        found.contact.fields.insert("hashtags".into(), hashtags);
        let person = Person {
            emails: john().emails,
            tags: event_tags.iter().map(|t| t.to_string()).collect(),
            ..Person::default()
        };
        (person, found)
    }

    fn adding_tags(pairs: &[(&str, Attr)]) -> Settings {
        let mut pairs = pairs.to_vec();
        pairs.push(("add_tags", Attr::Bool(true)));
        settings(&pairs)
    }

    #[test]
    fn add_tags_adds_only_the_tags_the_contact_lacks() {
        let (person, found) = tagged(json!(["buyer"]), &["buyer", "open-house", "vip"]);
        assert_eq!(
            plan(&adding_tags(&[]), &person, Some(&found)),
            Action::Update {
                contact_id: 1001,
                values: FieldValues::new(),
                add_tags: vec!["open-house".into(), "vip".into()],
            }
        );
    }

    #[test]
    fn tags_compare_without_case_space_or_hash() {
        let (person, found) = tagged(
            json!(["#Buyer", " VIP "]),
            &["buyer", " #vip", "#Open-House ", "open-house"],
        );
        let Action::Update { add_tags, .. } = plan(&adding_tags(&[]), &person, Some(&found)) else {
            panic!("expected an update")
        };
        assert_eq!(
            add_tags,
            ["Open-House"],
            "sent without '#', trimmed, once, in the event's spelling"
        );
    }

    #[test]
    fn held_tags_come_as_names_objects_or_one_string() {
        for hashtags in [
            json!(["buyer", "#vip"]),
            json!([{"name": "buyer", "locked": 0}, {"name": "#VIP"}]),
            json!("buyer, #vip"),
        ] {
            let (person, found) = tagged(hashtags.clone(), &["Buyer", "vip"]);
            assert_eq!(
                plan(&adding_tags(&[]), &person, Some(&found)),
                Action::Unchanged { contact_id: 1001 },
                "{hashtags}"
            );
            let (person, found) = tagged(hashtags.clone(), &["buyer", "seller"]);
            let Action::Update { add_tags, .. } = plan(&adding_tags(&[]), &person, Some(&found))
            else {
                panic!("expected an update for {hashtags}")
            };
            assert_eq!(add_tags, ["seller"], "{hashtags}");
        }
        assert!(held_tags(Some(&json!(null))).is_empty());
        assert!(held_tags(Some(&json!(""))).is_empty());
        assert!(held_tags(None).is_empty());
    }

    #[test]
    fn without_add_tags_new_tags_alone_are_unchanged() {
        let (person, found) = tagged(json!([]), &["buyer"]);
        assert_eq!(
            plan(&settings(&[]), &person, Some(&found)),
            Action::Unchanged { contact_id: 1001 }
        );
    }

    #[test]
    fn add_tags_writes_nothing_when_sync_fields_lack_hashtags() {
        let s = adding_tags(&[("sync_fields", Attr::Ss(vec!["email".into()]))]);
        let (person, found) = tagged(json!([]), &["buyer"]);
        assert_eq!(
            plan(&s, &person, Some(&found)),
            Action::Unchanged { contact_id: 1001 }
        );
        let with_hashtags = adding_tags(&[("sync_fields", Attr::Ss(vec!["hashtags".into()]))]);
        assert!(matches!(
            plan(&with_hashtags, &person, Some(&found)),
            Action::Update { add_tags, .. } if add_tags == ["buyer"]
        ));
    }

    #[test]
    fn fields_and_tags_change_together() {
        let s = adding_tags(&[("overwrite_existing", Attr::Bool(false))]);
        let Action::Update {
            values, add_tags, ..
        } = plan(&s, &john(), Some(&kvcore_john()))
        else {
            panic!("expected an update")
        };
        assert_eq!(names(&values)[0], "primary_address");
        assert!(!values.contains_key(&Field::Hashtags));
        assert_eq!(
            add_tags,
            ["buyer"],
            "adding overwrites nothing, so it ignores overwrite_existing"
        );
    }

    #[test]
    fn lead_source_goes_on_create_only() {
        let s = settings(&[
            ("lead_source", Attr::S("Follow Up Boss".into())),
            ("sync_fields", Attr::Ss(vec!["email".into()])),
        ]);
        let Action::Create { source, values, .. } = plan(&s, &john(), None) else {
            panic!("expected a create")
        };
        assert_eq!(
            source.as_deref(),
            Some("Follow Up Boss"),
            "a workflow constant: sync_fields do not gate it"
        );
        assert_eq!(names(&values), ["email"]);
        let Action::Create { source, .. } = plan(&settings(&[]), &john(), None) else {
            panic!("expected a create")
        };
        assert_eq!(source, None);
        // An update has no place for `source` at all; with nothing else new
        // the lead source alone makes no update.
        let (person, found) = tagged(json!([]), &[]);
        assert_eq!(
            plan(&s, &person, Some(&found)),
            Action::Unchanged { contact_id: 1001 }
        );
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

    fn phone_edited_in_kvcore() -> Match {
        let mut found = kvcore_john();
        // An agent fixed the number in kvCORE; the source still says 0142.
        found
            .contact
            .fields
            .insert("cell_phone_1".into(), json!("(239) 555-0177"));
        found
    }

    /// What an earlier event wrote: the person's mobile (the address it
    /// never wrote).
    fn written_by_us(person: &Person) -> Written {
        let wanted = settings(&[])
            .field_map
            .apply(person, Region::default())
            .values;
        let phone = &wanted[&Field::CellPhone1];
        let print = crate::domain::edits::fingerprint(Field::CellPhone1, phone);
        Written::from([("cell_phone_1".to_string(), print)])
    }

    #[test]
    fn an_edit_made_in_kvcore_survives_until_the_source_changes_the_field() {
        let s = settings(&[]);
        let person = john();
        let wanted = |p: &Person| s.field_map.apply(p, Region::default()).values;
        let written = written_by_us(&person);
        let found = phone_edited_in_kvcore();
        let Action::Update { values, .. } =
            decide(&s, &person, wanted(&person), Some(&found), Some(&written))
        else {
            panic!("the address still differs")
        };
        assert!(
            !values.contains_key(&Field::CellPhone1),
            "the agent's fix stays"
        );

        let mut moved = john();
        moved.phones =
            vec![Phone::parse("239-555-0188", Region::default(), PhoneKind::Mobile).unwrap()];
        let Action::Update { values, .. } =
            decide(&s, &moved, wanted(&moved), Some(&found), Some(&written))
        else {
            panic!("expected an update")
        };
        assert_eq!(
            values[&Field::CellPhone1],
            json!("+12395550188"),
            "the source changed it"
        );

        let Action::Update { values, .. } =
            decide(&s, &person, wanted(&person), Some(&found), None)
        else {
            panic!("expected an update")
        };
        assert!(
            values.contains_key(&Field::CellPhone1),
            "never written: written once"
        );

        let reverting = settings(&[("revert_kvcore_edits", Attr::Bool(true))]);
        let Action::Update { values, .. } = decide(
            &reverting,
            &person,
            wanted(&person),
            Some(&found),
            Some(&written),
        ) else {
            panic!("expected an update")
        };
        assert!(
            values.contains_key(&Field::CellPhone1),
            "revert_kvcore_edits reverts"
        );
    }

    fn fub_stage(stage: &str) -> Person {
        let mut person = john();
        person.source_record = Some(std::sync::Arc::new(
            crate::domain::contact::SourceRecord::new(json!({"stage": stage})),
        ));
        person
    }

    #[test]
    fn a_failed_filter_is_filtered_out_before_any_lookup() {
        let condition = Attr::M(
            [
                ("field".to_string(), Attr::S("source.stage".into())),
                ("op".to_string(), Attr::S("not_equals".into())),
                ("value".to_string(), Attr::S("Trash".into())),
            ]
            .into(),
        );
        let s = settings(&[("filters", Attr::L(vec![condition]))]);
        assert_eq!(
            precheck(&s, &fub_stage("Trash")),
            Some(SkipReason::FilteredOut)
        );
        assert_eq!(precheck(&s, &fub_stage("Lead")), None);
    }

    #[test]
    fn a_mapped_status_is_written_on_create_and_on_update() {
        let rule = Attr::M(
            [
                ("from".to_string(), Attr::S("source.stage".into())),
                (
                    "map".to_string(),
                    Attr::M(
                        [
                            ("Lead".to_string(), Attr::N("0".into())),
                            ("Hot".to_string(), Attr::N("4".into())),
                        ]
                        .into(),
                    ),
                ),
            ]
            .into(),
        );
        let s = settings(&[("field_map", Attr::M([("status".to_string(), rule)].into()))]);
        let Action::Create { values, .. } = plan(&s, &fub_stage("Hot"), None) else {
            panic!("expected a create")
        };
        assert_eq!(values[&Field::Status], json!(4));
        let mut found = kvcore_john();
        found.contact.fields.insert("status".into(), json!("0"));
        let person = fub_stage("Hot");
        let Action::Update { values, .. } = plan(&s, &person, Some(&found)) else {
            panic!("expected an update")
        };
        assert_eq!(values[&Field::Status], json!(4));
        let mut same = fub_stage("Lead");
        same.address = Address::default();
        same.phones =
            vec![Phone::parse("239.555.0100", Region::default(), PhoneKind::Mobile).unwrap()];
        assert_eq!(
            plan(&s, &same, Some(&found)),
            Action::Unchanged { contact_id: 1001 },
            "kvCORE's \"0\" is the map's 0"
        );
        let no_status = settings(&[
            (
                "field_map",
                Attr::M([("status".to_string(), Attr::S("source.stage".into()))].into()),
            ),
            ("sync_fields", Attr::Ss(vec!["email".into()])),
        ]);
        let Action::Create { values, .. } = plan(&no_status, &person, None) else {
            panic!("expected a create")
        };
        assert!(
            !values.contains_key(&Field::Status),
            "sync_fields gate mapped fields"
        );
    }
}
