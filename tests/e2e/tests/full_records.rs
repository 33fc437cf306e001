//! Matching against kvCORE as its vendor documents it (SPEC sections 6 and
//! 7): an email filter that matches by prefix and pages, list rows that are
//! partial records, duplicates kvCORE accepts or refuses, through the built
//! `webhook` binary over moto_server and the strict kvCORE fake.

use kvcore_fake::{DuplicatePolicy, FakeConfig};
use kvsync_e2e::{World, event, json};

/// 600 contacts whose email starts with `sam@example.com`, then the one
/// that is: the match is on the second page of `filter[email]`.
#[tokio::test]
async fn every_page_of_email_candidates_is_read() {
    let world = World::start().await;
    let lookalikes = (0..600)
        .map(|i| json!({"email": format!("sam@example.com.au{i}"), "first_name": "Not Sam"}))
        .collect();
    world.kvcore().insert_contacts(lookalikes);
    let sam = world
        .kvcore()
        .insert_contact(json!({"email": "sam@example.com", "first_name": "Sam"}));
    world.workflow("wf", json!({})).await;

    let answer = world
        .send(
            "wf",
            &event(json!({"email": "Sam@Example.com", "first_name": "Sam", "last_name": "Lee"})),
        )
        .await;
    let result = answer.result();
    assert_eq!(result["outcome"], "updated", "{answer:?}");
    assert_eq!(result["contact_id"], sam);
    assert_eq!(result["fields"], json!(["last_name"]));
    assert_eq!(
        world.contacts_with_email("sam@example.com"),
        1,
        "no duplicate"
    );
    let lists = world.kvcore().count_requests(|r| r.is_list());
    assert_eq!(lists, 2, "600 + 1 candidates at 500 a page");
}

/// The list row has no address; the full record does. "Do not overwrite
/// existing information" must see the record's address and keep it.
#[tokio::test]
async fn do_not_overwrite_decides_on_the_full_record() {
    let world = World::start().await;
    let id = world.kvcore().insert_contact(json!({
        "email": "ada@example.com", "first_name": "Ada", "last_name": "King",
        "primary_address": "1 Old Rd", "primary_city": "Naples"
    }));
    world
        .workflow("keep", json!({"overwrite_existing": {"BOOL": false}}))
        .await;

    let answer = world
        .send(
            "keep",
            &event(json!({
                "email": "ada@example.com", "first_name": "Ada", "last_name": "King",
                "address": {"street": "200 New St", "city": "Tampa", "state": "FL", "zip": "33601"}
            })),
        )
        .await;
    let result = answer.result();
    assert_eq!(result["outcome"], "updated", "{answer:?}");
    assert_eq!(result["fields"], json!(["primary_state", "primary_zip"]));
    let contact = world.kvcore().contact(id).unwrap();
    assert_eq!(contact["primary_address"], "1 Old Rd");
    assert_eq!(contact["primary_city"], "Naples");
    let writes = world.kvcore_writes();
    assert_eq!(writes.len(), 1);
    let sent = writes[0].body.as_ref().unwrap();
    assert!(sent.get("primary_address").is_none(), "{sent}");
    assert!(sent.get("first_name").is_none(), "names equal: not re-sent");
}

/// Names are not list fields: an update that changes nothing sends nothing.
#[tokio::test]
async fn an_unchanged_person_sends_no_write() {
    let world = World::start().await;
    world.kvcore().insert_contact(json!({
        "email": "bo@example.com", "first_name": "Bo", "last_name": "Diaz"
    }));
    world.workflow("wf", json!({})).await;
    let answer = world
        .send(
            "wf",
            &event(json!({"email": "bo@example.com", "first_name": "Bo", "last_name": "Diaz"})),
        )
        .await;
    assert_eq!(answer.result()["outcome"], "unchanged", "{answer:?}");
    assert!(world.kvcore_writes().is_empty());
}

/// kvCORE refusing a duplicate with 422 "email has already been taken" is
/// treated as a match: when its list does not show the contact yet, the
/// event is kept (503) and nothing is created twice; once it does, the
/// retry updates it.
#[tokio::test]
async fn a_422_taken_email_is_a_match_not_a_failure() {
    let world = World::start_with(FakeConfig {
        duplicates: DuplicatePolicy::Unprocessable422,
        ..FakeConfig::default()
    })
    .await;
    world
        .kvcore()
        .set_search_lag(std::time::Duration::from_secs(60));
    let id = world
        .kvcore()
        .insert_unindexed_contact(json!({"email": "cy@example.com", "first_name": "Cy"}));
    world.workflow("wf", json!({})).await;
    let body = event(json!({"email": "cy@example.com", "first_name": "Cy", "last_name": "Ng"}));

    let headers = world.signed("wf", "evt-cy", &body).await;
    let first = world.send_to(&world.function, "wf", &headers, &body).await;
    assert_eq!(first.status, 503, "{first:?}");
    assert_eq!(world.contacts_with_email("cy@example.com"), 1);

    world.kvcore().set_search_lag(std::time::Duration::ZERO);
    let headers = world.signed("wf", "evt-cy", &body).await;
    let retry = world.send_to(&world.function, "wf", &headers, &body).await;
    let result = retry.result();
    assert_eq!(result["outcome"], "updated", "{retry:?}");
    assert_eq!(result["contact_id"], id);
    assert_eq!(world.contacts_with_email("cy@example.com"), 1);
}

/// A create-only workflow skips a match without reading its record.
#[tokio::test]
async fn create_only_skips_a_match_without_reading_it() {
    let world = World::start().await;
    let id = world
        .kvcore()
        .insert_contact(json!({"email": "di@example.com"}));
    world
        .workflow("create", json!({"update_contacts": {"BOOL": false}}))
        .await;
    let answer = world
        .send(
            "create",
            &event(json!({"email": "di@example.com", "first_name": "Di"})),
        )
        .await;
    let result = answer.result();
    assert_eq!(result["reason"], "match_found_create_only", "{answer:?}");
    assert_eq!(result["contact_id"], id);
    assert_eq!(world.kvcore().count_requests(|r| r.is_get()), 0);
}
