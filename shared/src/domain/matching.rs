//! Which kvCORE contact, if any, a person already is (SPEC section 6, the
//! heart of it). kvCORE's email filter matches by prefix and the phone
//! index can be behind kvCORE, so every candidate is verified here against
//! the main card only: list rows first, then the full record.

use serde::{Deserialize, Serialize};

use crate::domain::contact::{Email, Person, Phone, e164_of};
use crate::domain::kv_contact::KvContact;
use crate::domain::settings::Settings;

/// The main-card phone fields; `cell_phone_2` is a Profile Details field
/// and never makes a match.
pub const MAIN_CARD_PHONES: [&str; 3] = ["cell_phone_1", "home_phone", "work_phone"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchedBy {
    Email,
    Phone,
}

/// The contact a person matched.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub contact: KvContact,
    pub matched_by: MatchedBy,
    /// Ids of the other verified candidates, when there was more than one.
    pub also_matched: Vec<u64>,
}

impl Match {
    /// The chosen contact's id, then the other verified candidates'.
    pub fn ids(&self) -> Vec<u64> {
        std::iter::once(self.contact.id)
            .chain(self.also_matched.iter().copied())
            .collect()
    }

    /// The same match, reporting `others` (but itself) as also matched.
    pub fn with_others(mut self, others: impl IntoIterator<Item = u64>) -> Match {
        let id = self.contact.id;
        self.also_matched = others.into_iter().filter(|o| *o != id).collect();
        self
    }
}

/// Verifies email-search candidates: main-card `email`, trimmed and
/// lower-cased, equal to the person's, and within the agent filter.
pub fn by_email(email: &Email, candidates: &[KvContact], settings: &Settings) -> Option<Match> {
    pick(
        candidates.iter().filter(|c| {
            c.text("email").map(str::to_lowercase).as_deref() == Some(email.as_str())
                && settings.allows_agent(c.assigned_agent_id())
        }),
        MatchedBy::Email,
    )
}

/// Verifies phone-index candidates: a main-card phone, normalized to E.164
/// in the workflow's region, equal to the person's, within the agent filter.
pub fn by_phone(phone: &Phone, candidates: &[KvContact], settings: &Settings) -> Option<Match> {
    let region = settings.default_country;
    pick(
        candidates.iter().filter(|c| {
            MAIN_CARD_PHONES.iter().any(|field| {
                c.text(field)
                    .and_then(|raw| e164_of(raw, region))
                    .as_deref()
                    == Some(phone.e164.as_str())
            }) && settings.allows_agent(c.assigned_agent_id())
        }),
        MatchedBy::Phone,
    )
}

/// Verifies the contact an earlier event recorded for this person (read
/// with `GET /contact/{id}`, which does not lag like search): it still counts
/// when its main card still has one of the person's emails or phones and it
/// is within the agent filter.
pub fn recorded(contact: KvContact, person: &Person, settings: &Settings) -> Option<Match> {
    let candidates = [contact];
    person
        .emails
        .iter()
        .find_map(|email| by_email(email, &candidates, settings))
        .or_else(|| {
            person
                .phones
                .iter()
                .find_map(|phone| by_phone(phone, &candidates, settings))
        })
}

/// Several verified candidates: the lowest id wins (the oldest contact, the
/// one people have been working with).
fn pick<'a>(verified: impl Iterator<Item = &'a KvContact>, matched_by: MatchedBy) -> Option<Match> {
    let mut verified: Vec<&KvContact> = verified.collect();
    verified.sort_by_key(|c| c.id);
    verified.dedup_by_key(|c| c.id);
    let (first, rest) = verified.split_first()?;
    Some(Match {
        contact: (*first).clone(),
        matched_by,
        also_matched: rest.iter().map(|c| c.id).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::{PhoneKind, Region};
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

    fn contact(value: serde_json::Value) -> KvContact {
        serde_json::from_value(value).unwrap()
    }

    fn email(raw: &str) -> Email {
        Email::parse(raw).unwrap()
    }

    fn phone(raw: &str) -> Phone {
        Phone::parse(raw, Region::default(), PhoneKind::Mobile).unwrap()
    }

    #[test]
    fn prefix_matches_from_kvcore_are_not_matches() {
        let candidates = [
            contact(json!({"id": 1, "email": "john@example.com.au"})),
            contact(json!({"id": 2, "email": "john@example.community"})),
        ];
        assert_eq!(
            by_email(&email("john@example.com"), &candidates, &settings(&[])),
            None
        );
    }

    #[test]
    fn the_email_match_ignores_case_and_space() {
        let candidates = [
            contact(json!({"id": 1, "email": "john@example.com.au"})),
            contact(json!({"id": 5, "email": "  John@Example.COM "})),
        ];
        let found = by_email(&email("john@example.com"), &candidates, &settings(&[])).unwrap();
        assert_eq!((found.contact.id, found.matched_by), (5, MatchedBy::Email));
    }

    #[test]
    fn second_email_never_matches() {
        let candidates = [contact(
            json!({"id": 1, "email": "other@example.com", "second_email": "john@example.com"}),
        )];
        assert_eq!(
            by_email(&email("john@example.com"), &candidates, &settings(&[])),
            None
        );
    }

    #[test]
    fn phones_match_on_e164_across_main_card_fields() {
        let candidates = [contact(
            json!({"id": 3, "cell_phone_1": "239-555-0199", "work_phone": "(239) 555-0100"}),
        )];
        let found = by_phone(&phone("+1 239 555 0100"), &candidates, &settings(&[])).unwrap();
        assert_eq!((found.contact.id, found.matched_by), (3, MatchedBy::Phone));
    }

    #[test]
    fn cell_phone_2_and_digit_substrings_never_match() {
        let candidates = [
            contact(json!({"id": 1, "cell_phone_2": "2395550100"})),
            contact(json!({"id": 2, "cell_phone_1": "12395550100999"})),
            contact(json!({"id": 3, "home_phone": "5550100"})),
        ];
        assert_eq!(
            by_phone(&phone("2395550100"), &candidates, &settings(&[])),
            None
        );
    }

    #[test]
    fn the_agent_filter_applies_to_both() {
        let candidates = [
            contact(
                json!({"id": 1, "email": "john@example.com", "cell_phone_1": "2395550100", "assigned_agent_id": 8}),
            ),
            contact(
                json!({"id": 2, "email": "john@example.com", "cell_phone_1": "2395550100", "assigned_agent_id": 7}),
            ),
            contact(json!({"id": 3, "email": "john@example.com", "cell_phone_1": "2395550100"})),
        ];
        let filtered = settings(&["7"]);
        assert_eq!(
            by_email(&email("john@example.com"), &candidates, &filtered)
                .unwrap()
                .contact
                .id,
            2
        );
        assert_eq!(
            by_phone(&phone("2395550100"), &candidates, &filtered)
                .unwrap()
                .contact
                .id,
            2
        );
        assert_eq!(
            by_email(&email("john@example.com"), &candidates[..1], &filtered),
            None
        );
    }

    #[test]
    fn a_recorded_contact_counts_only_while_it_is_still_the_person() {
        let person = Person {
            emails: vec![email("john@example.com")],
            phones: vec![phone("2395550100")],
            ..Person::default()
        };
        let same =
            contact(json!({"id": 4, "email": "other@example.com", "home_phone": "239 555 0100"}));
        let found = recorded(same, &person, &settings(&[])).unwrap();
        assert_eq!((found.contact.id, found.matched_by), (4, MatchedBy::Phone));
        let changed =
            contact(json!({"id": 4, "email": "other@example.com", "cell_phone_2": "2395550100"}));
        assert_eq!(recorded(changed, &person, &settings(&[])), None);
        let reassigned =
            contact(json!({"id": 4, "email": "john@example.com", "assigned_agent_id": 8}));
        assert_eq!(recorded(reassigned, &person, &settings(&["7"])), None);
    }

    #[test]
    fn the_lowest_id_wins_and_the_rest_are_reported() {
        let candidates = [
            contact(json!({"id": 9, "email": "john@example.com"})),
            contact(json!({"id": 4, "email": "john@example.com"})),
            contact(json!({"id": 6, "email": "john@example.com"})),
        ];
        let found = by_email(&email("john@example.com"), &candidates, &settings(&[])).unwrap();
        assert_eq!(found.contact.id, 4);
        assert_eq!(found.also_matched, vec![6, 9]);
    }
}
