//! The ways an event can go, each with the kvCORE requests a correct sync
//! needs (issue 6; issue 9: kvCORE has no search, so an email is a
//! `filter[email]` list, a match is read in full before it is updated, and
//! a phone is looked up in kvsync's phone index), and how each seeds kvCORE
//! and shapes its delivery.

use kvcore_fake::{FakeKvcore, RecordedRequest};
use serde_json::{Value, json};

/// Workflows the bench seeds: both modes, create only, update only.
pub const BOTH: &str = "bench";
pub const CREATE_ONLY: &str = "bench-create-only";
pub const UPDATE_ONLY: &str = "bench-update-only";

/// The scenario issue 22's CPU target is for.
pub const UPDATE_BY_EMAIL: &str = "update matched by email";

/// Seeds kvCORE for event `i` and returns its delivery body.
pub type Event = fn(&FakeKvcore, usize) -> Value;

pub struct Scenario {
    pub name: &'static str,
    pub workflow: &'static str,
    pub minimum_kvcore: u64,
    pub event: Event,
    /// Measure a second delivery of the same event (same webhook-id).
    pub duplicate: bool,
    /// The phone index was last refreshed over a minute before each event
    /// (so a phone lookup refreshes it first), and each event's contact is
    /// seeded after the index was built: only that refresh can find it.
    /// Otherwise every event's contact is seeded before the index is built.
    pub stale_index: bool,
    /// The answer that shows the event went this way.
    pub expect: Expect,
}

/// The person's result an event of the scenario must get: `outcome`, and
/// `matched_by` or the skip's `reason`.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    pub outcome: &'static str,
    pub matched_by: Option<&'static str>,
    pub reason: Option<&'static str>,
}

const fn expect(outcome: &'static str, matched_by: Option<&'static str>) -> Expect {
    Expect {
        outcome,
        matched_by,
        reason: None,
    }
}

const fn skipped(reason: &'static str) -> Expect {
    Expect {
        outcome: "skipped",
        matched_by: None,
        reason: Some(reason),
    }
}

/// Whether `answer` (the webhook's 200 body) is the one `expect`ed.
pub fn check(answer: &Value, duplicate: bool, expect: &Expect) -> Result<(), String> {
    let result = &answer["results"][0];
    let field = |name: &str| result[name].as_str();
    let fine = answer["duplicate"].as_bool() == Some(duplicate)
        && field("outcome") == Some(expect.outcome)
        && (expect.matched_by.is_none() || field("matched_by") == expect.matched_by)
        && (expect.reason.is_none() || field("reason") == expect.reason);
    if fine {
        Ok(())
    } else {
        Err(format!(
            "expected {expect:?} (duplicate: {duplicate}), got {answer}"
        ))
    }
}

#[rustfmt::skip] // a table
pub fn all() -> Vec<Scenario> {
    let (email, phone) = (Some("email"), Some("phone"));
    // kvCORE minimum: the email's list page, the match's full read, the
    // write; a phone costs no kvCORE request but a stale index's refresh.
    let rows: [(_, _, _, Event, _, _, _); 8] = [
        // name                            workflow  kvCORE minimum  event      duplicate stale index  expected answer
        ("new person (email + phone)",     BOTH,        2, new_person,            false, false, expect("created", None)),
        (UPDATE_BY_EMAIL,                  BOTH,        3, update_by_email,       false, false, expect("updated", email)),
        ("update matched by phone",        BOTH,        3, update_by_phone,       false, false, expect("updated", phone)),
        ("matched by phone, stale index",  BOTH,        4, update_by_phone,       false, true,  expect("updated", phone)),
        ("unchanged",                      BOTH,        2, unchanged,             false, false, expect("unchanged", email)),
        ("duplicate delivery",             BOTH,        0, unchanged,             true,  false, expect("unchanged", email)),
        ("create-only with a match",       CREATE_ONLY, 1, matched,               false, false, skipped("match_found_create_only")),
        ("update-only without a match",    UPDATE_ONLY, 1, stranger,              false, false, skipped("no_match_update_only")),
    ];
    rows.into_iter()
        .map(|(name, workflow, minimum_kvcore, event, duplicate, stale_index, expect)| Scenario {
            name, workflow, minimum_kvcore, event, duplicate, stale_index, expect,
        })
        .collect()
}

/// Event `i`'s email and phone (a valid US number, `i` below 10 000): every
/// event a different person.
fn person(i: usize, email_domain: &str, phone_block: usize) -> (String, String) {
    assert!(i < 10_000, "person {i}: phone numbers have four digits");
    (
        format!("p{i}@{email_domain}"),
        format!("+1239{phone_block:03}{i:04}"),
    )
}

fn seeded(kvcore: &FakeKvcore, i: usize, domain: &str, block: usize) -> (String, String) {
    let (email, phone) = person(i, domain, block);
    kvcore.insert_contact(json!({"first_name": "Old", "email": email, "cell_phone_1": phone}));
    (email, phone)
}

pub fn new_person(_: &FakeKvcore, i: usize) -> Value {
    let (email, phone) = person(i, "new.example", 551);
    json!({"contact": {"first_name": "Nia", "email": email,
                       "phones": [{"number": phone, "type": "mobile"}]}})
}

pub fn update_by_email(kvcore: &FakeKvcore, i: usize) -> Value {
    let (email, _) = seeded(kvcore, i, "email.example", 552);
    json!({"contact": {"first_name": "New", "email": email}})
}

/// An email kvCORE does not know, and a phone on a main-card phone field.
fn update_by_phone(kvcore: &FakeKvcore, i: usize) -> Value {
    let (_, phone) = seeded(kvcore, i, "phone.example", 553);
    json!({"contact": {"first_name": "New", "email": format!("p{i}@elsewhere.example"),
                       "phones": [{"number": phone, "type": "mobile"}]}})
}

fn unchanged(kvcore: &FakeKvcore, i: usize) -> Value {
    let (email, _) = seeded(kvcore, i, "same.example", 554);
    json!({"contact": {"first_name": "Old", "email": email}})
}

fn matched(kvcore: &FakeKvcore, i: usize) -> Value {
    let (email, _) = seeded(kvcore, i, "createonly.example", 555);
    json!({"contact": {"first_name": "New", "email": email}})
}

fn stranger(_: &FakeKvcore, i: usize) -> Value {
    let (email, phone) = person(i, "stranger.example", 556);
    json!({"contact": {"email": email, "phones": [{"number": phone, "type": "mobile"}]}})
}

/// What a kvCORE request was for, in the report's words: `list by email`
/// (the email lookup), `refresh` (the phone index's `filter[updated_at]`
/// list), `list page` (a build's unfiltered page), `get contact` (a full
/// read), `create`, `update`, `tags`.
pub fn kvcore_label(request: &RecordedRequest) -> &'static str {
    let has = |key: &str| request.query_param(key).is_some();
    if request.is_list() && has("filter[email]") {
        LIST_BY_EMAIL
    } else if request.is_list() && has("filter[updated_at]") {
        REFRESH
    } else if request.is_list() {
        LIST_PAGE
    } else if request.is_get() {
        GET
    } else if request.is_create() {
        "create"
    } else if request.is_update() {
        UPDATE
    } else if request.is_tags() {
        "tags"
    } else {
        "other"
    }
}

pub const LIST_BY_EMAIL: &str = "list by email";
pub const REFRESH: &str = "refresh";
pub const LIST_PAGE: &str = "list page";
pub const GET: &str = "get contact";
pub const UPDATE: &str = "update";

/// Issue 9's target for a phone match: at most one refresh of the index
/// and one verification read, and the write (the email's list page aside).
pub fn phone_match_within_target(per_event: &std::collections::BTreeMap<String, f64>) -> bool {
    let of = |label: &str| per_event.get(label).copied().unwrap_or_default();
    of(REFRESH) <= 1.0 && of(GET) <= 1.0 && of(UPDATE) == 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, path: &str, query: &[(&str, &str)]) -> RecordedRequest {
        RecordedRequest {
            method: method.into(),
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: None,
        }
    }

    #[test]
    fn kvcore_requests_are_labelled_by_purpose() {
        let contacts = "/v2/public/contacts";
        let email = request("GET", contacts, &[("filter[email]", "a@b.example")]);
        assert_eq!(kvcore_label(&email), "list by email");
        let refresh = request("GET", contacts, &[("filter[updated_at]", "1700000000")]);
        assert_eq!(kvcore_label(&refresh), "refresh");
        let page = request("GET", contacts, &[("page", "2"), ("limit", "500")]);
        assert_eq!(kvcore_label(&page), "list page");
        let tags = request("PUT", "/v2/public/contact/7/tags", &[]);
        assert_eq!(kvcore_label(&tags), "tags");
        let get = request("GET", "/v2/public/contact/7", &[]);
        assert_eq!(kvcore_label(&get), "get contact");
        let create = request("POST", "/v2/public/contact", &[]);
        assert_eq!(kvcore_label(&create), "create");
        let update = request("PUT", "/v2/public/contact/7", &[]);
        assert_eq!(kvcore_label(&update), "update");
    }

    #[test]
    fn every_event_is_a_different_person() {
        assert_ne!(person(1, "x.example", 551), person(2, "x.example", 551));
        assert_eq!(person(42, "x.example", 551).1, "+12395510042");
    }

    #[test]
    fn answers_are_checked_against_the_scenario() {
        let updated = json!({"duplicate": false, "results": [
            {"outcome": "updated", "matched_by": "phone", "reason": null}]});
        assert!(check(&updated, false, &expect("updated", Some("phone"))).is_ok());
        assert!(check(&updated, false, &expect("updated", Some("email"))).is_err());
        assert!(check(&updated, true, &expect("updated", Some("phone"))).is_err());
        let skip = json!({"duplicate": false, "results": [
            {"outcome": "skipped", "matched_by": null, "reason": "no_match_update_only"}]});
        assert!(check(&skip, false, &skipped("no_match_update_only")).is_ok());
        assert!(check(&skip, false, &skipped("match_found_create_only")).is_err());
        assert!(check(&json!({"error": {}}), false, &expect("created", None)).is_err());
    }

    #[test]
    fn minimums_are_the_issues() {
        let minimums: Vec<u64> = all().iter().map(|s| s.minimum_kvcore).collect();
        assert_eq!(minimums, [2, 3, 3, 4, 2, 0, 1, 1]);
    }

    #[test]
    fn a_phone_match_refreshes_and_reads_at_most_once() {
        let counts = |pairs: &[(&str, f64)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let fresh = counts(&[(LIST_BY_EMAIL, 1.0), (GET, 1.0), (UPDATE, 1.0)]);
        assert!(phone_match_within_target(&fresh));
        let stale = counts(&[(REFRESH, 1.0), (GET, 1.0), (UPDATE, 1.0)]);
        assert!(phone_match_within_target(&stale));
        let two_reads = counts(&[(GET, 2.0), (UPDATE, 1.0)]);
        assert!(!phone_match_within_target(&two_reads));
        assert!(
            !phone_match_within_target(&counts(&[(GET, 1.0)])),
            "no write"
        );
    }
}
