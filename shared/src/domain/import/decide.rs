//! What an import would do with each row (SPEC section 13), decided by the
//! same rules as an event (`plan`, `matching`, SPEC section 6): create,
//! update with each changing field old → new, unchanged, or skip with its
//! reason, including a row that is the same person as an earlier one.
//! Pure; the flow (`flows::import`) brings the listing and the full records.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::contact::Person;
use crate::domain::fields::Field;
use crate::domain::matching::{Match, MatchedBy};
use crate::domain::outcome::SkipReason;
use crate::domain::plan::{self, Action, held_tags};
use crate::domain::settings::Settings;
use crate::domain::sources::people;

use super::row::RowPerson;

/// Why a row is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowSkip {
    /// A condition of the workflow's `filters` failed (SPEC section 12).
    FilteredOut,
    /// Neither an email nor a phone.
    NoEmailOrPhone,
    /// Its only email(s) are not email addresses (and it has no phone).
    InvalidEmail,
    /// Its only phone(s) are not valid numbers (and it has no email).
    InvalidPhone,
    AgentFiltered,
    /// The same person as an earlier row of the file: it shares an email
    /// or a phone with it, or matches the same kvCORE contact.
    DuplicateRow {
        row: usize,
    },
    MatchFoundCreateOnly,
    NoMatchUpdateOnly,
    WorkflowDisabled,
}

impl RowSkip {
    /// The reason as the report and the CSV say it.
    pub fn code(self) -> &'static str {
        match self {
            RowSkip::FilteredOut => "filtered_out",
            RowSkip::NoEmailOrPhone => "no_email_or_phone",
            RowSkip::InvalidEmail => "invalid_email",
            RowSkip::InvalidPhone => "invalid_phone",
            RowSkip::AgentFiltered => "agent_filtered",
            RowSkip::DuplicateRow { .. } => "duplicate_row",
            RowSkip::MatchFoundCreateOnly => "match_found_create_only",
            RowSkip::NoMatchUpdateOnly => "no_match_update_only",
            RowSkip::WorkflowDisabled => "workflow_disabled",
        }
    }

    /// The reason in words, for people.
    pub fn explain(self) -> String {
        match self {
            RowSkip::DuplicateRow { row } => format!("same person as row {row}"),
            RowSkip::FilteredOut => "a condition of the workflow's filters failed".into(),
            RowSkip::NoEmailOrPhone => "no email or phone".into(),
            RowSkip::InvalidEmail => "the email is not an email address".into(),
            RowSkip::InvalidPhone => "the phone is not a valid number".into(),
            RowSkip::AgentFiltered => "the owner is outside the workflow's agent_ids".into(),
            RowSkip::MatchFoundCreateOnly => {
                "kvCORE has this person and the workflow only creates".into()
            }
            RowSkip::NoMatchUpdateOnly => {
                "kvCORE lacks this person and the workflow only updates".into()
            }
            RowSkip::WorkflowDisabled => "the workflow is disabled".into(),
        }
    }

    fn of(reason: SkipReason) -> RowSkip {
        match reason {
            SkipReason::AgentFiltered => RowSkip::AgentFiltered,
            SkipReason::MatchFoundCreateOnly => RowSkip::MatchFoundCreateOnly,
            SkipReason::NoMatchUpdateOnly => RowSkip::NoMatchUpdateOnly,
            SkipReason::NoEmailOrPhone => RowSkip::NoEmailOrPhone,
            SkipReason::FilteredOut => RowSkip::FilteredOut,
            // An import row has no change time and no source to fetch from.
            SkipReason::WorkflowDisabled
            | SkipReason::StaleEvent
            | SkipReason::UnsupportedEvent
            | SkipReason::PersonNotFound => RowSkip::WorkflowDisabled,
        }
    }
}

/// One kvCORE field a row would write: its value now (`None` for a create
/// or an empty field) and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: String,
    pub old: Option<String>,
    pub new: String,
}

/// What the import would do with one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// `POST /contact` with these fields.
    Create { changes: Vec<Change> },
    /// `PUT /contact/{id}` (and the tags it lacks) with these changes.
    Update {
        contact_id: u64,
        matched_by: MatchedBy,
        changes: Vec<Change>,
    },
    Unchanged {
        contact_id: u64,
        matched_by: MatchedBy,
    },
    Skip {
        reason: RowSkip,
        contact_id: Option<u64>,
    },
}

impl Decision {
    /// `create`, `update`, `unchanged` or `skip`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Decision::Create { .. } => "create",
            Decision::Update { .. } => "update",
            Decision::Unchanged { .. } => "unchanged",
            Decision::Skip { .. } => "skip",
        }
    }

    /// Whether applying the import writes this row (it is queued).
    pub fn writes(&self) -> bool {
        matches!(self, Decision::Create { .. } | Decision::Update { .. })
    }

    fn skip(reason: RowSkip) -> Decision {
        Decision::Skip {
            reason,
            contact_id: None,
        }
    }
}

/// Keeps the row's own record on its person (SPEC section 12): the
/// workflow's `filters` read `source.<column>` from it in `plan::precheck`
/// (a failed one is `FilteredOut`, before any kvCORE request), and its
/// `field_map` in `plan::plan`, exactly as for an event.
pub fn apply_workflow_rules(
    _settings: &Settings,
    mut person: Person,
    record: &Map<String, Value>,
) -> Result<Person, RowSkip> {
    people::keep_record(&mut person, record, Vec::new());
    Ok(person)
}

/// The skips decided before any lookup: the workflow's filters, a disabled
/// workflow, an owner outside `agent_ids`, a row with no usable email or
/// phone (saying which it had), and a row that is the same person as an
/// earlier one. `Ok`: the row's person, to look up.
pub fn precheck(
    settings: &Settings,
    row: RowPerson,
    record: &Map<String, Value>,
    seen: &Seen,
) -> Result<Person, Decision> {
    let RowPerson {
        person,
        invalid_emails,
        invalid_phones,
    } = row;
    let person = apply_workflow_rules(settings, person, record).map_err(Decision::skip)?;
    if let Some(reason) = plan::precheck(settings, &person) {
        let reason = match reason {
            SkipReason::NoEmailOrPhone if invalid_emails > 0 => RowSkip::InvalidEmail,
            SkipReason::NoEmailOrPhone if invalid_phones > 0 => RowSkip::InvalidPhone,
            other => RowSkip::of(other),
        };
        return Err(Decision::skip(reason));
    }
    if let Some(row) = seen.earlier_row(&person) {
        return Err(Decision::skip(RowSkip::DuplicateRow { row }));
    }
    Ok(person)
}

/// Whether a listed match must be read in full before deciding: an update
/// compares fields (SPEC section 6 rule 6); create-only skips a match
/// without comparing, so needs no read.
pub fn needs_full_record(settings: &Settings, listed: Option<&Match>) -> bool {
    listed.is_some() && settings.update_contacts
}

/// The decision for a looked-up person: `found` is the full record of its
/// match (or the list row in create-only mode), `None` when kvCORE has no
/// such contact.
pub fn decide(settings: &Settings, person: &Person, found: Option<&Match>) -> Decision {
    let matched_by = found.map_or(MatchedBy::Email, |m| m.matched_by);
    match plan::plan(settings, person, found) {
        Action::Create {
            values,
            assigned_agent_id,
            source,
        } => {
            let mut changes: Vec<Change> = values
                .iter()
                .map(|(field, value)| Change {
                    field: field.name().to_string(),
                    old: None,
                    new: text(value),
                })
                .collect();
            if let Some(agent) = assigned_agent_id {
                changes.push(Change {
                    field: "assigned_agent_id".into(),
                    old: None,
                    new: agent.to_string(),
                });
            }
            if let Some(source) = source {
                changes.push(Change {
                    field: "source".into(),
                    old: None,
                    new: source,
                });
            }
            Decision::Create { changes }
        }
        Action::Update {
            contact_id,
            values,
            add_tags,
        } => {
            let current = found.map(|m| &m.contact);
            let old = |field: &str| {
                current
                    .and_then(|c| c.get(field))
                    .map(text)
                    .filter(|s| !s.is_empty())
            };
            let mut changes: Vec<Change> = values
                .iter()
                .map(|(field, value)| Change {
                    field: field.name().to_string(),
                    old: old(field.name()),
                    new: text(value),
                })
                .collect();
            if !add_tags.is_empty() {
                let held = held_tags(current.and_then(|c| c.get(Field::Hashtags.name())));
                let mut after = held.clone();
                after.extend(add_tags);
                changes.push(Change {
                    field: Field::Hashtags.name().to_string(),
                    old: Some(held.join(", ")).filter(|s| !s.is_empty()),
                    new: after.join(", "),
                });
            }
            Decision::Update {
                contact_id,
                matched_by,
                changes,
            }
        }
        Action::Unchanged { contact_id } => Decision::Unchanged {
            contact_id,
            matched_by,
        },
        Action::Skip { reason, contact_id } => Decision::Skip {
            reason: RowSkip::of(reason),
            contact_id,
        },
    }
}

/// A kvCORE value as text: strings as they are, lists joined by `, `.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.trim().to_string(),
        Value::Null => String::new(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// The people of earlier rows, to find a row that is the same person: by
/// any email or phone it shares with an earlier row, or (once looked up)
/// by the kvCORE contact it matches. Two rows of one person would write
/// the same contact twice, the second undoing the first.
#[derive(Debug, Default)]
pub struct Seen {
    by_point: HashMap<String, usize>,
    by_contact: HashMap<u64, usize>,
}

impl Seen {
    /// The first earlier row sharing an email or a phone with `person`.
    pub fn earlier_row(&self, person: &Person) -> Option<usize> {
        points(person)
            .filter_map(|point| self.by_point.get(&point).copied())
            .min()
    }

    /// Remembers row `row`'s emails and phones (the first row keeps each).
    pub fn remember(&mut self, person: &Person, row: usize) {
        for point in points(person) {
            self.by_point.entry(point).or_insert(row);
        }
    }

    /// Row `row` matched `contact_id`: the earlier row that matched it, if
    /// any; else it is remembered as this row's.
    pub fn claim_contact(&mut self, contact_id: u64, row: usize) -> Option<usize> {
        match self.by_contact.get(&contact_id) {
            Some(&earlier) if earlier != row => Some(earlier),
            Some(_) => None,
            None => {
                self.by_contact.insert(contact_id, row);
                None
            }
        }
    }
}

fn points(person: &Person) -> impl Iterator<Item = String> + '_ {
    person
        .emails
        .iter()
        .map(|e| format!("e:{}", e.as_str()))
        .chain(person.phones.iter().map(|p| format!("p:{}", p.e164)))
}

/// Rows by outcome and skips by reason, for the report's totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub rows: usize,
    pub create: usize,
    pub update: usize,
    pub unchanged: usize,
    pub skip: usize,
    /// `(reason code, rows)`, most frequent first.
    pub skipped_by_reason: Vec<(String, usize)>,
}

impl Totals {
    pub fn of<'a>(decisions: impl IntoIterator<Item = &'a Decision>) -> Totals {
        let mut totals = Totals::default();
        let mut reasons: HashMap<&'static str, usize> = HashMap::new();
        for decision in decisions {
            totals.rows += 1;
            match decision {
                Decision::Create { .. } => totals.create += 1,
                Decision::Update { .. } => totals.update += 1,
                Decision::Unchanged { .. } => totals.unchanged += 1,
                Decision::Skip { reason, .. } => {
                    totals.skip += 1;
                    *reasons.entry(reason.code()).or_default() += 1;
                }
            }
        }
        let mut reasons: Vec<(String, usize)> = reasons
            .into_iter()
            .map(|(r, n)| (r.to_string(), n))
            .collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        totals.skipped_by_reason = reasons;
        totals
    }

    /// Rows applying the import would write (queue).
    pub fn writes(&self) -> usize {
        self.create + self.update
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::{Email, Phone, PhoneKind, Region};
    use crate::domain::kv_contact::KvContact;
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

    fn person(email: Option<&str>, phone: Option<&str>) -> Person {
        Person {
            first_name: Some("Ann".into()),
            emails: email
                .map(|e| Email::parse(e).unwrap())
                .into_iter()
                .collect(),
            phones: phone
                .map(|p| Phone::parse(p, Region::default(), PhoneKind::Mobile).unwrap())
                .into_iter()
                .collect(),
            ..Person::default()
        }
    }

    fn row(person: Person, invalid_emails: usize, invalid_phones: usize) -> RowPerson {
        RowPerson {
            person,
            invalid_emails,
            invalid_phones,
        }
    }

    fn found(record: serde_json::Value) -> Match {
        Match {
            contact: serde_json::from_value::<KvContact>(record).unwrap(),
            matched_by: MatchedBy::Email,
            also_matched: vec![],
        }
    }

    fn skipped(result: Result<Person, Decision>) -> &'static str {
        match result {
            Err(Decision::Skip { reason, .. }) => reason.code(),
            other => panic!("expected a skip, got {other:?}"),
        }
    }

    #[test]
    fn the_workflows_filters_and_field_map_read_the_rows_own_columns() {
        let m = |pairs: &[(&str, Attr)]| {
            Attr::M(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
            )
        };
        let s = settings(&[
            (
                "filters",
                Attr::L(vec![m(&[
                    ("field", Attr::S("source.Stage".into())),
                    ("op", Attr::S("not_equals".into())),
                    ("value", Attr::S("Trash".into())),
                ])]),
            ),
            (
                "field_map",
                m(&[("status", Attr::S("source.Stage".into()))]),
            ),
        ]);
        let seen = Seen::default();
        let record = |stage: &str| {
            let mut record = Map::new();
            record.insert("Stage".into(), json!(stage));
            record
        };
        let ann = person(Some("ann@example.com"), None);
        assert_eq!(
            skipped(precheck(
                &s,
                row(ann.clone(), 0, 0),
                &record("Trash"),
                &seen
            )),
            "filtered_out"
        );
        let kept = precheck(&s, row(ann, 0, 0), &record("Lead"), &seen).unwrap();
        let Decision::Create { changes } = decide(&s, &kept, None) else {
            panic!("a create");
        };
        assert!(
            changes
                .iter()
                .any(|c| c.field == "status" && c.new == "Lead"),
            "{changes:?}"
        );
    }

    #[test]
    fn prechecks_say_which_contact_point_was_unusable() {
        let s = settings(&[]);
        let seen = Seen::default();
        let record = Map::new();
        let empty = person(None, None);
        assert_eq!(
            skipped(precheck(&s, row(empty.clone(), 1, 0), &record, &seen)),
            "invalid_email"
        );
        assert_eq!(
            skipped(precheck(&s, row(empty.clone(), 0, 2), &record, &seen)),
            "invalid_phone"
        );
        assert_eq!(
            skipped(precheck(&s, row(empty, 0, 0), &record, &seen)),
            "no_email_or_phone"
        );
        // A valid phone beside an invalid email is enough to go on.
        assert!(
            precheck(
                &s,
                row(person(None, Some("2395550100")), 1, 0),
                &record,
                &seen
            )
            .is_ok()
        );

        let filtered = settings(&[("agent_ids", Attr::Ns(vec!["7".into()]))]);
        let mut owned = person(Some("a@example.com"), None);
        owned.owner_agent_id = Some(8);
        assert_eq!(
            skipped(precheck(&filtered, row(owned, 0, 0), &record, &seen)),
            "agent_filtered"
        );
        let disabled = settings(&[("enabled", Attr::Bool(false))]);
        assert_eq!(
            skipped(precheck(
                &disabled,
                row(person(Some("a@example.com"), None), 0, 0),
                &record,
                &seen
            )),
            "workflow_disabled"
        );
    }

    #[test]
    fn a_row_sharing_an_email_or_phone_with_an_earlier_one_is_the_same_person() {
        let s = settings(&[]);
        let record = Map::new();
        let mut seen = Seen::default();
        let first = person(Some("ann@example.com"), Some("239-555-0100"));
        seen.remember(&first, 2);
        seen.remember(&person(Some("bo@example.com"), None), 3);
        let by_phone = person(Some("ann.other@example.com"), Some("+1 239 555 0100"));
        match precheck(&s, row(by_phone, 0, 0), &record, &seen) {
            Err(Decision::Skip {
                reason: RowSkip::DuplicateRow { row },
                ..
            }) => assert_eq!(row, 2),
            other => panic!("{other:?}"),
        }
        let by_email = person(Some(" ANN@example.com"), None);
        assert_eq!(seen.earlier_row(&by_email), Some(2));
        let both = Person {
            emails: vec![Email::parse("bo@example.com").unwrap()],
            ..person(None, Some("2395550100"))
        };
        assert_eq!(
            seen.earlier_row(&both),
            Some(2),
            "the earliest row is named"
        );
        assert_eq!(
            seen.earlier_row(&person(Some("cy@example.com"), None)),
            None
        );

        assert_eq!(seen.claim_contact(1001, 4), None);
        assert_eq!(
            seen.claim_contact(1001, 4),
            None,
            "a row is not its own duplicate"
        );
        assert_eq!(seen.claim_contact(1001, 9), Some(4));
        assert_eq!(
            RowSkip::DuplicateRow { row: 4 }.explain(),
            "same person as row 4"
        );
    }

    #[test]
    fn an_update_lists_each_changing_field_old_and_new() {
        let s = settings(&[("add_tags", Attr::Bool(true))]);
        let mut p = person(Some("ann@example.com"), Some("239-555-0142"));
        p.last_name = Some("Lee".into());
        p.tags = vec!["buyer".into(), "vip".into()];
        let current = found(json!({
            "id": 1001, "first_name": "Ann", "last_name": "", "email": "ann@example.com",
            "cell_phone_1": "(239) 555-0100", "hashtags": ["buyer"]
        }));
        let Decision::Update {
            contact_id,
            changes,
            matched_by,
        } = decide(&s, &p, Some(&current))
        else {
            panic!("expected an update")
        };
        assert_eq!((contact_id, matched_by), (1001, MatchedBy::Email));
        assert_eq!(
            changes,
            [
                Change {
                    field: "last_name".into(),
                    old: None,
                    new: "Lee".into()
                },
                Change {
                    field: "cell_phone_1".into(),
                    old: Some("(239) 555-0100".into()),
                    new: "+12395550142".into()
                },
                Change {
                    field: "hashtags".into(),
                    old: Some("buyer".into()),
                    new: "buyer, vip".into()
                },
            ]
        );
    }

    #[test]
    fn creates_unchanged_and_mode_skips() {
        let s = settings(&[
            ("default_agent_id", Attr::N("7".into())),
            ("lead_source", Attr::S("Import".into())),
        ]);
        let p = person(Some("ann@example.com"), None);
        let Decision::Create { changes } = decide(&s, &p, None) else {
            panic!("expected a create")
        };
        let fields: Vec<(&str, &str)> = changes
            .iter()
            .map(|c| (c.field.as_str(), c.new.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("first_name", "Ann"),
                ("email", "ann@example.com"),
                ("assigned_agent_id", "7"),
                ("source", "Import")
            ]
        );
        let same = found(json!({"id": 5, "first_name": "Ann", "email": "ann@example.com"}));
        assert_eq!(
            decide(&s, &p, Some(&same)),
            Decision::Unchanged {
                contact_id: 5,
                matched_by: MatchedBy::Email
            }
        );
        let create_only = settings(&[("update_contacts", Attr::Bool(false))]);
        assert!(!needs_full_record(&create_only, Some(&same)));
        assert!(needs_full_record(&s, Some(&same)));
        assert!(!needs_full_record(&s, None));
        assert_eq!(
            decide(&create_only, &p, Some(&same)),
            Decision::Skip {
                reason: RowSkip::MatchFoundCreateOnly,
                contact_id: Some(5)
            }
        );
        let update_only = settings(&[("create_contacts", Attr::Bool(false))]);
        assert_eq!(
            decide(&update_only, &p, None).outcome(),
            "skip",
            "no_match_update_only"
        );
    }

    #[test]
    fn totals_count_outcomes_and_reasons() {
        let decisions = [
            Decision::Create { changes: vec![] },
            Decision::skip(RowSkip::InvalidPhone),
            Decision::skip(RowSkip::DuplicateRow { row: 2 }),
            Decision::skip(RowSkip::DuplicateRow { row: 3 }),
            Decision::Unchanged {
                contact_id: 1,
                matched_by: MatchedBy::Phone,
            },
        ];
        let totals = Totals::of(&decisions);
        assert_eq!(
            (
                totals.rows,
                totals.create,
                totals.skip,
                totals.unchanged,
                totals.writes()
            ),
            (5, 1, 3, 1, 1)
        );
        assert_eq!(
            totals.skipped_by_reason,
            [
                ("duplicate_row".to_string(), 2),
                ("invalid_phone".to_string(), 1)
            ]
        );
    }
}
