//! The token's contacts as one listing (`GET /contacts?limit=500`, every
//! page) read once for a whole import (SPEC section 13): every row's email
//! and phone lookups are answered from it, verified by the same rules as a
//! webhook's (`matching`, SPEC section 6), so no row costs an email search.
//!
//! Only what matching reads is kept of each list row (id, main-card email
//! and phones, assigned agent), so 20,000 contacts take a few MiB.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::domain::contact::{Person, Region, e164_of};
use crate::domain::kv_contact::KvContact;
use crate::domain::matching::{self, MAIN_CARD_PHONES, Match};
use crate::domain::settings::Settings;

/// The list row fields matching reads (SPEC section 6).
const KEPT: [&str; 5] = [
    "email",
    "cell_phone_1",
    "home_phone",
    "work_phone",
    "assigned_agent_id",
];

/// Contacts by id, and by main-card email (trimmed, lower-cased) and phone
/// (E.164 in the workflow's `default_country`).
#[derive(Debug, Default)]
pub struct Listing {
    rows: HashMap<u64, KvContact>,
    by_email: HashMap<String, Vec<u64>>,
    by_phone: HashMap<String, Vec<u64>>,
}

impl Listing {
    /// Adds one page of list rows (a contact listed twice, as a page
    /// boundary can shift while contacts are added, counts once).
    pub fn add_page(&mut self, rows: Vec<KvContact>, region: Region) {
        for row in rows {
            if self.rows.contains_key(&row.id) {
                continue;
            }
            let fields: Map<String, Value> = KEPT
                .iter()
                .filter_map(|f| Some((f.to_string(), row.get(f)?.clone())))
                .collect();
            let row = KvContact { id: row.id, fields };
            if let Some(email) = row.text("email") {
                self.by_email
                    .entry(email.to_lowercase())
                    .or_default()
                    .push(row.id);
            }
            for field in MAIN_CARD_PHONES {
                if let Some(e164) = row.text(field).and_then(|raw| e164_of(raw, region)) {
                    let ids = self.by_phone.entry(e164).or_default();
                    if !ids.contains(&row.id) {
                        ids.push(row.id);
                    }
                }
            }
            self.rows.insert(row.id, row);
        }
    }

    /// Contacts listed.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The contact the person is, by the list rows: each of its emails in
    /// order, then each phone (SPEC section 6 rules 1, 2 and 4), every
    /// candidate verified on the main card and within the agent filter.
    pub fn find(&self, person: &Person, settings: &Settings) -> Option<Match> {
        let rows = |ids: Option<&Vec<u64>>| -> Vec<KvContact> {
            ids.into_iter()
                .flatten()
                .filter_map(|id| self.rows.get(id).cloned())
                .collect()
        };
        person
            .emails
            .iter()
            .find_map(|email| {
                matching::by_email(email, &rows(self.by_email.get(email.as_str())), settings)
            })
            .or_else(|| {
                person.phones.iter().find_map(|phone| {
                    matching::by_phone(phone, &rows(self.by_phone.get(&phone.e164)), settings)
                })
            })
    }
}

/// The listed match checked again on the contact's full record (`GET
/// /contact/{id}`, which does not lag): still this person by the same
/// email or phone it matched by (SPEC section 6 rule 6). `None`: the
/// contact changed since it was listed and is no longer the person.
pub fn verify_full(
    person: &Person,
    listed: &Match,
    full: KvContact,
    settings: &Settings,
) -> Option<Match> {
    let candidates = [full];
    let found = match listed.matched_by {
        matching::MatchedBy::Email => person
            .emails
            .iter()
            .find_map(|email| matching::by_email(email, &candidates, settings)),
        matching::MatchedBy::Phone => person
            .phones
            .iter()
            .find_map(|phone| matching::by_phone(phone, &candidates, settings)),
    }?;
    Some(found.with_others(listed.ids()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::{Email, Phone, PhoneKind};
    use crate::domain::matching::MatchedBy;
    use crate::domain::settings::{Attr, Item, parse};
    use serde_json::json;

    fn settings(agent_ids: &[&str]) -> Settings {
        let mut item = Item::from([
            ("kvcore_token_secret".to_string(), Attr::S("t".into())),
            ("webhook_secret".to_string(), Attr::S("w".into())),
        ]);
        if !agent_ids.is_empty() {
            item.insert(
                "agent_ids".into(),
                Attr::Ns(agent_ids.iter().map(|s| s.to_string()).collect()),
            );
        }
        parse("wf", &item).unwrap().0
    }

    fn rows(values: serde_json::Value) -> Vec<KvContact> {
        serde_json::from_value(values).unwrap()
    }

    fn person(email: Option<&str>, phone: Option<&str>) -> Person {
        Person {
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

    fn listing() -> Listing {
        let mut listing = Listing::default();
        listing.add_page(
            rows(json!([
                {"id": 7, "email": " Ann@Example.com ", "cell_phone_1": "239-555-0100", "name": "Ann", "status": 1},
                {"id": 3, "email": "ann@example.com", "assigned_agent_id": 9},
                {"id": 5, "email": "ann@example.com.au", "work_phone": 2395550199_u64, "cell_phone_2": "2395550142"},
            ])),
            Region::default(),
        );
        // The same contact again on the next page.
        listing.add_page(
            rows(json!([{"id": 7, "email": "other@example.com"}])),
            Region::default(),
        );
        listing
    }

    #[test]
    fn emails_match_exactly_and_the_lowest_id_wins() {
        let found = listing()
            .find(&person(Some("ann@example.com"), None), &settings(&[]))
            .unwrap();
        assert_eq!((found.contact.id, found.matched_by), (3, MatchedBy::Email));
        assert_eq!(found.also_matched, [7]);
        assert_eq!(listing().len(), 3);
        assert!(
            !found.contact.fields.contains_key("name"),
            "only what matching reads is kept"
        );
    }

    #[test]
    fn phones_match_on_the_main_card_after_emails() {
        let l = listing();
        let found = l
            .find(
                &person(Some("nobody@example.com"), Some("(239) 555-0199")),
                &settings(&[]),
            )
            .unwrap();
        assert_eq!((found.contact.id, found.matched_by), (5, MatchedBy::Phone));
        assert_eq!(
            l.find(&person(None, Some("2395550142")), &settings(&[])),
            None,
            "cell_phone_2 never matches"
        );
    }

    #[test]
    fn the_agent_filter_applies() {
        let found = listing()
            .find(&person(Some("ann@example.com"), None), &settings(&["9"]))
            .unwrap();
        assert_eq!(found.contact.id, 3);
        assert_eq!(
            listing().find(&person(Some("ann@example.com"), None), &settings(&["4"])),
            None
        );
    }

    #[test]
    fn the_full_record_must_still_be_the_person() {
        let p = person(Some("ann@example.com"), None);
        let listed = listing().find(&p, &settings(&[])).unwrap();
        let full: KvContact = serde_json::from_value(
            json!({"id": 3, "email": "ann@example.com", "first_name": "Ann"}),
        )
        .unwrap();
        let verified = verify_full(&p, &listed, full, &settings(&[])).unwrap();
        assert_eq!(verified.contact.get("first_name"), Some(&json!("Ann")));
        assert_eq!(verified.also_matched, [7]);
        let changed: KvContact =
            serde_json::from_value(json!({"id": 3, "email": "new@example.com"})).unwrap();
        assert_eq!(verify_full(&p, &listed, changed, &settings(&[])), None);
    }
}
