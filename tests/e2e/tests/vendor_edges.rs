//! The vendors' edges through the built webhook (issue 17): Follow Up
//! Boss's new-person window and its system headers (SPEC sections 3 and
//! 5), emails as people write them (section 5), and kvCORE's list lag
//! after a refused create (section 6). The queued halves are in
//! queued.rs, Google's sync-token binding in google_poller.rs.

use std::time::{Duration, Instant};

use followupboss_fake::{FakeFollowUpBoss, Fault};
use kvcore_fake::{DuplicatePolicy, FakeConfig, RecordedRequest};
use kvsync_devstack::StackOptions;
use kvsync_e2e::{World, event, json};
use serde_json::Value;

const FUB_KEY: &str = "fub-edges-key";

/// A Follow Up Boss workflow `fub` on the synchronous path, with these
/// attributes besides.
async fn fub_world(overrides: Value) -> (World, FakeFollowUpBoss) {
    let mut attributes = json!({"delivery": {"S": "sync"}});
    if let (Some(all), Some(more)) = (attributes.as_object_mut(), overrides.as_object()) {
        all.extend(more.clone());
    }
    World::with_followupboss(FUB_KEY, StackOptions::default(), attributes).await
}

fn fub_person(id: u64, email: &str) -> Value {
    json!({
        "id": id, "firstName": "Nia", "lastName": "New",
        "emails": [{"value": email, "type": "home", "isPrimary": true}],
        "updated": "2026-11-28T10:00:00Z"
    })
}

/// RFC 3339, as Follow Up Boss writes `eventCreated`.
fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .expect("a time formats")
}

fn created(event_id: &str, ids: &[u64], event_created: &str) -> Value {
    json!({"eventId": event_id, "eventCreated": event_created, "event": "peopleCreated",
           "resourceIds": ids, "uri": "https://api.followupboss.com/v1/people"})
}

/// Follow Up Boss: a new person may answer 404 until it is assigned
/// (docs.followupboss.com, "Common Issues", "Access to Newly Created
/// People"). Within 10 minutes of `eventCreated` that is transient: 503,
/// the event kept, and the source's retry creates the lead. Past 10
/// minutes a 404 is the person gone.
#[tokio::test]
async fn a_new_follow_up_boss_person_not_readable_yet_answers_503_and_its_retry_creates_it() {
    let (world, fub) = fub_world(json!({})).await;
    let window = Duration::from_secs(3);
    fub.put_new_person(fub_person(601, "nia@example.com"), window);
    let hidden_since = Instant::now();
    let body = created(
        "evt-new-601",
        &[601],
        &rfc3339(time::OffsetDateTime::now_utc()),
    );

    let first = world.send("fub", &body).await;
    assert_eq!(
        (first.status, first.error_code()),
        (503, "person_not_yet_readable"),
        "{first:?}"
    );
    assert!(
        world.kvcore().requests().is_empty(),
        "nothing sent to kvCORE"
    );

    // Follow Up Boss retries; by then the person is assigned.
    let wait = window.saturating_sub(hidden_since.elapsed()) + Duration::from_millis(300);
    tokio::time::sleep(wait).await;
    let retry = world.send("fub", &body).await;
    let result = retry.result();
    assert_eq!(result["outcome"], "created", "{retry:?}");
    assert_eq!(result["source_id"], "601");
    assert_eq!(world.contacts_with_email("nia@example.com"), 1);
    assert!(fub.requests().len() >= 2, "{:?}", fub.requests());

    // The same 404 for an event 11 minutes old: the person is gone.
    let old = rfc3339(time::OffsetDateTime::now_utc() - time::Duration::minutes(11));
    let gone = world
        .send("fub", &created("evt-old-602", &[602], &old))
        .await;
    assert_eq!(gone.result()["reason"], "person_not_found", "{gone:?}");
}

/// SPEC section 3: with `followupboss_system`, every Follow Up Boss
/// request, people reads included, carries `X-System` and `X-System-Key`
/// (the webhook secret); Follow Up Boss's 429, with or without
/// `Retry-After`, is waited out.
#[tokio::test]
async fn every_follow_up_boss_request_carries_the_registered_system() {
    let (world, fub) = fub_world(json!({"followupboss_system": {"S": "kvsync-team"}})).await;
    let secret_id = format!("{}kvsync/fub/webhook-secret", world.stack.prefix());
    let system_key = world.stack.secret_value(&secret_id).await.unwrap();
    fub.register_system("kvsync-team", &system_key);
    fub.put_person(fub_person(701, "sys@example.com"));
    fub.put_person(fub_person(702, "sys2@example.com"));
    fub.push_fault(Fault::RateLimitedWithoutRetryAfter);
    fub.push_fault(Fault::RateLimited {
        retry_after_secs: 1,
    });

    let old = "2026-11-28T10:00:01+00:00";
    let answer = world
        .send("fub", &created("evt-sys", &[701, 702], old))
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let results = answer.body["results"].as_array().unwrap();
    assert!(
        results.iter().all(|r| r["outcome"] == "created"),
        "{answer:?}"
    );

    let seen = fub.headers();
    assert!(seen.len() >= 4, "two 429s and two reads: {seen:?}");
    for request in &seen {
        assert_eq!(
            request.header("x-system"),
            Some("kvsync-team"),
            "{request:?}"
        );
        assert_eq!(
            request.header("x-system-key"),
            Some(system_key.as_str()),
            "{}",
            request.path
        );
    }
    assert!(
        !world.logs().contains(&system_key),
        "the system key is never logged"
    );
}

/// Without `followupboss_system` the reads go without the headers (and
/// `kvsync doctor` warns: cli/src/doctor.rs).
#[tokio::test]
async fn without_a_system_the_reads_carry_no_system_headers() {
    let (world, fub) = fub_world(json!({})).await;
    fub.put_person(fub_person(801, "plain@example.com"));
    let answer = world
        .send(
            "fub",
            &created("evt-plain", &[801], "2026-11-28T10:00:01+00:00"),
        )
        .await;
    assert_eq!(answer.result()["outcome"], "created");
    let seen = fub.headers();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("x-system"), None);
    assert_eq!(seen[0].header("x-system-key"), None);
}

/// SPEC section 5: a wrapped email is the address inside it; kvCORE is
/// searched for, and receives, only bare addresses, so the existing
/// contact is found and no duplicate is made.
#[tokio::test]
async fn a_wrapped_email_matches_the_existing_contact() {
    let world = World::start().await;
    let id = world
        .kvcore()
        .insert_contact(json!({"email": "jane.doe@example.com", "first_name": "Jane"}));
    world.workflow("forms", json!({})).await;

    for (n, written) in [
        "Jane Doe <jane.doe@example.com>",
        "mailto:Jane.Doe@example.com",
        "<jane.doe@example.com>; jane@old.example.com",
    ]
    .into_iter()
    .enumerate()
    {
        let answer = world
            .send(
                "forms",
                &json!({"event_id": format!("evt-wrapped-{n}"),
                        "contact": {"email": written, "first_name": "Jane", "last_name": "Doe"}}),
            )
            .await;
        let result = answer.result();
        assert_eq!(result["contact_id"], id, "{written}: {answer:?}");
        assert_eq!(result["matched_by"], "email", "{written}");
    }
    assert_eq!(world.contacts_with_email("jane.doe@example.com"), 1);
    assert_eq!(world.kvcore().contacts().len(), 1, "no duplicate");
    assert_eq!(world.kvcore().count_requests(RecordedRequest::is_create), 0);
    for request in world.kvcore().requests() {
        for (name, value) in &request.query {
            if name == "filter[email]" {
                assert!(
                    !value.contains(['<', '>', ' ', ':', ';']),
                    "kvCORE searched for a bare address only: {value:?}"
                );
            }
        }
        if let Some(email) = request.body.as_ref().and_then(|b| b["email"].as_str()) {
            assert_eq!(email, "jane.doe@example.com");
        }
    }

    // A value with no address in it: left out and said back.
    let answer = world
        .send(
            "forms",
            &event(json!({"email": "Jane Doe", "first_name": "Jane"})),
        )
        .await;
    let result = answer.result();
    assert_eq!(result["reason"], "no_email_or_phone", "{answer:?}");
    assert!(
        result["problems"]
            .to_string()
            .contains("contact.email is not an email address"),
        "{answer:?}"
    );
}

/// SPEC section 6: kvCORE refuses the create (409) for a contact its list
/// shows only 1.5 s later; kvsync keeps looking, with a short backoff,
/// and updates that contact in the same invocation: no 503, no second
/// create.
#[tokio::test]
async fn a_refused_create_is_looked_up_again_until_the_list_shows_the_contact() {
    let world = World::start_with(FakeConfig {
        duplicates: DuplicatePolicy::Conflict409,
        ..FakeConfig::default()
    })
    .await;
    world.kvcore().set_search_lag(Duration::from_millis(1500));
    let id = world
        .kvcore()
        .insert_unindexed_contact(json!({"email": "lag@example.com"}));
    world.workflow("lag", json!({})).await;

    let answer = world
        .send(
            "lag",
            &event(json!({"email": "lag@example.com", "first_name": "Lou"})),
        )
        .await;
    let result = answer.result();
    assert_eq!(result["outcome"], "updated", "{answer:?}");
    assert_eq!(result["contact_id"], id);
    assert_eq!(world.kvcore().count_requests(RecordedRequest::is_create), 1);
    let lookups = world
        .kvcore()
        .count_requests(|r| r.is_list() && r.query.iter().any(|(k, _)| k == "filter[email]"));
    assert!(lookups >= 2, "looked again after the refusal: {lookups}");
    assert_eq!(world.contacts_with_email("lag@example.com"), 1);
}
