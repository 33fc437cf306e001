//! SPEC section 6, rule by rule, through the built `webhook` binary over
//! moto_server and the kvCORE fake.

use kvcore_fake::FakeConfig;
use kvsync_e2e::{World, event, json};

/// kvCORE's John Smith from the seed: a mobile number only.
fn seed_john(world: &World) -> u64 {
    world.kvcore().insert_contact(json!({
        "first_name": "John", "last_name": "Smith",
        "email": "john.smith@example.com", "cell_phone_1": "(239) 555-0100",
        "assigned_agent_id": 7
    }))
}

fn john_moved() -> serde_json::Value {
    event(json!({
        "source_id": "g-1",
        "first_name": "John", "last_name": "Smith",
        "email": "John.Smith@example.com",
        "phones": [{"number": "(239) 555-0142", "type": "mobile"}],
        "address": {"street": "1 Main St", "city": "Naples", "state": "FL", "zip": "34102"}
    }))
}

#[tokio::test]
async fn do_not_overwrite_writes_only_the_address() {
    let world = World::start().await;
    let id = seed_john(&world);
    world
        .workflow("keep", json!({"overwrite_existing": {"BOOL": false}}))
        .await;

    let answer = world.send("keep", &john_moved()).await;
    let result = answer.result();
    assert_eq!(result["outcome"], "updated");
    assert_eq!(result["contact_id"], id);
    assert_eq!(result["matched_by"], "email");
    assert_eq!(
        result["fields"],
        json!([
            "primary_address",
            "primary_city",
            "primary_state",
            "primary_zip"
        ])
    );
    let writes = world.kvcore_writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].path, format!("/v2/public/contact/{id}"));
    let contact = world.kvcore().contact(id).unwrap();
    assert_eq!(
        contact["cell_phone_1"], "(239) 555-0100",
        "the kvCORE mobile stays"
    );
    assert_eq!(contact["primary_city"], "Naples");
    assert_eq!(
        world.kvcore().requests().len(),
        3,
        "the email list, the full record, one PUT"
    );
}

#[tokio::test]
async fn overwrite_sends_only_what_differs() {
    let world = World::start().await;
    let id = seed_john(&world);
    world.workflow("over", json!({})).await;

    let result = world.send("over", &john_moved()).await.result().clone();
    assert_eq!(result["outcome"], "updated");
    let writes = world.kvcore_writes();
    let body = writes[0].body.as_ref().unwrap();
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "cell_phone_1",
            "primary_address",
            "primary_city",
            "primary_state",
            "primary_zip"
        ],
        "names and email are the same, so they are not sent"
    );
    assert_eq!(
        world.kvcore().contact(id).unwrap()["cell_phone_1"],
        "+12395550142"
    );
}

#[tokio::test]
async fn a_new_person_is_created_with_the_default_agent_and_tags() {
    let world = World::start().await;
    world
        .workflow("new", json!({"default_agent_id": {"N": "7"}}))
        .await;
    world.index_phones().await;
    let answer = world
        .send(
            "new",
            &event(json!({
                "first_name": "Ann", "email": "ann@example.com",
                "phones": [{"number": "239-555-0177", "type": "mobile"}],
                "tags": ["open-house"]
            })),
        )
        .await;
    let result = answer.result();
    assert_eq!(result["outcome"], "created");
    assert_eq!(result["matched_by"], serde_json::Value::Null);
    let contacts = world.kvcore().contacts();
    assert_eq!(contacts.len(), 1);
    assert_eq!(result["contact_id"], contacts[0]["id"]);
    assert_eq!(contacts[0]["assigned_agent_id"], 7);
    assert_eq!(contacts[0]["hashtags"], json!(["open-house"]));
    assert_eq!(contacts[0]["cell_phone_1"], "+12395550177");
    let kinds: Vec<String> = world
        .kvcore()
        .requests()
        .iter()
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(
        kinds,
        ["GET", "POST"],
        "the email list, then the create: the phone is looked up in kvsync's index"
    );
}

#[tokio::test]
async fn the_events_owner_is_assigned_on_create() {
    let world = World::start().await;
    world
        .workflow("owner", json!({"default_agent_id": {"N": "7"}}))
        .await;
    world
        .send(
            "owner",
            &event(json!({"email": "bo@example.com", "owner_agent_id": 9})),
        )
        .await
        .result();
    assert_eq!(world.kvcore().contacts()[0]["assigned_agent_id"], 9);
}

#[tokio::test]
async fn a_prefix_match_from_kvcore_is_not_a_match() {
    let world = World::start().await;
    world
        .kvcore()
        .insert_contact(json!({"email": "john.smith@example.com.au"}));
    world.workflow("prefix", json!({})).await;
    let result = world
        .send("prefix", &event(json!({"email": "john.smith@example.com"})))
        .await
        .result()
        .clone();
    assert_eq!(result["outcome"], "created");
    assert_eq!(world.kvcore().contacts().len(), 2);
}

#[tokio::test]
async fn phone_matches_when_email_does_not() {
    let world = World::start().await;
    let id = world.kvcore().insert_contact(
        json!({"first_name": "Al", "email": "al@old.example", "work_phone": "239.555.0123"}),
    );
    world.workflow("phone", json!({})).await;
    world.index_phones().await;
    let answer = world
        .send(
            "phone",
            &event(json!({"email": "al@new.example", "phones": [{"number": "+1 (239) 555-0123", "type": "work"}]})),
        )
        .await;
    let result = answer.result();
    assert_eq!(result["outcome"], "updated");
    assert_eq!(result["matched_by"], "phone");
    assert_eq!(result["contact_id"], id);
    assert_eq!(result["fields"], json!(["email"]));
    // kvCORE never sees a phone query: the email list, then the index's
    // candidate read, then the write.
    let requests = world.kvcore().requests();
    assert!(
        requests
            .iter()
            .all(|r| !r.query.iter().any(|(_, v)| v.contains("2395550123")))
    );
    let kinds: Vec<bool> = requests.iter().map(|r| r.is_list()).collect();
    assert_eq!(kinds, [true, false, false], "{requests:?}");
    assert_eq!(requests[1].path, format!("/v2/public/contact/{id}"));
}

#[tokio::test]
async fn profile_details_never_match() {
    let world = World::start().await;
    world.kvcore().insert_contact(json!({
        "email": "someone@example.com", "second_email": "cy@example.com",
        "cell_phone_2": "2395550155"
    }));
    world.workflow("main-card", json!({})).await;
    world.index_phones().await;
    let result = world
        .send(
            "main-card",
            &event(json!({"email": "cy@example.com", "phones": [{"number": "2395550155"}]})),
        )
        .await
        .result()
        .clone();
    assert_eq!(result["outcome"], "created");
    assert_eq!(world.kvcore().contacts().len(), 2);
}

#[tokio::test]
async fn the_agent_filter_limits_matches_and_skips_other_owners() {
    let world = World::start_with(FakeConfig {
        duplicates: kvcore_fake::DuplicatePolicy::Accept,
        ..FakeConfig::default()
    })
    .await;
    world
        .kvcore()
        .insert_contact(json!({"email": "dee@example.com", "assigned_agent_id": 8}));
    world
        .workflow(
            "agents",
            json!({"agent_ids": {"NS": ["7"]}, "default_agent_id": {"N": "7"}}),
        )
        .await;

    let result = world
        .send("agents", &event(json!({"email": "dee@example.com"})))
        .await
        .result()
        .clone();
    assert_eq!(
        result["outcome"], "created",
        "agent 8's contact is not this workflow's"
    );
    assert_eq!(world.kvcore().contacts()[1]["assigned_agent_id"], 7);

    world.kvcore().clear_requests();
    let result = world
        .send(
            "agents",
            &event(json!({"email": "eve@example.com", "owner_agent_id": 8})),
        )
        .await
        .result()
        .clone();
    assert_eq!(result["outcome"], "skipped");
    assert_eq!(result["reason"], "agent_filtered");
    assert!(
        world.kvcore().requests().is_empty(),
        "no kvCORE request for a filtered event"
    );
}

#[tokio::test]
async fn a_refused_duplicate_outside_the_agents_is_skipped_not_retried_forever() {
    // kvCORE may refuse a duplicate (SPEC section 7: uniqueness is email
    // plus owner); here it does. Fay is in kvCORE with no agent, which the
    // workflow's agent filter does not count as a match, and the workflow
    // creates without an agent: kvCORE refuses the create.
    let world = World::start_with(FakeConfig {
        duplicates: kvcore_fake::DuplicatePolicy::Conflict409,
        ..FakeConfig::default()
    })
    .await;
    world
        .kvcore()
        .insert_contact(json!({"email": "fay@example.com"}));
    world
        .workflow("agents", json!({"agent_ids": {"NS": ["7"]}}))
        .await;
    let result = world
        .send("agents", &event(json!({"email": "fay@example.com"})))
        .await
        .result()
        .clone();
    assert_eq!(
        result["outcome"], "skipped",
        "kvCORE refused the create: a contact outside the workflow's agents holds the person"
    );
    assert_eq!(result["reason"], "agent_filtered");
    // The fake refuses duplicates here, so its contact count proves
    // nothing: what shows kvsync gave up is its single create.
    assert_eq!(
        world
            .kvcore()
            .count_requests(kvcore_fake::RecordedRequest::is_create),
        1,
        "one refused create, not retried"
    );
}

#[tokio::test]
async fn the_lowest_id_wins_among_several_matches() {
    let world = World::start().await;
    let first = world
        .kvcore()
        .insert_contact(json!({"email": "flo@example.com"}));
    world
        .kvcore()
        .insert_contact(json!({"email": "FLO@example.com"}));
    world.workflow("ambiguous", json!({})).await;
    let result = world
        .send(
            "ambiguous",
            &event(json!({"email": "flo@example.com", "first_name": "Flo"})),
        )
        .await
        .result()
        .clone();
    assert_eq!(result["contact_id"], first);
    assert!(world.logs().contains("several kvCORE contacts match"));
}

#[tokio::test]
async fn create_only_skips_a_match_and_update_only_skips_a_stranger() {
    let world = World::start().await;
    let id = seed_john(&world);
    world
        .workflow("create-only", json!({"update_contacts": {"BOOL": false}}))
        .await;
    world
        .workflow("update-only", json!({"create_contacts": {"BOOL": false}}))
        .await;

    let result = world
        .send("create-only", &john_moved())
        .await
        .result()
        .clone();
    assert_eq!(result["outcome"], "skipped");
    assert_eq!(result["reason"], "match_found_create_only");
    assert_eq!(result["contact_id"], id);

    let result = world
        .send(
            "update-only",
            &event(json!({"email": "stranger@example.com"})),
        )
        .await
        .result()
        .clone();
    assert_eq!(result["outcome"], "skipped");
    assert_eq!(result["reason"], "no_match_update_only");
    assert!(world.kvcore_writes().is_empty());
}

#[tokio::test]
async fn nothing_new_is_unchanged_and_sends_nothing() {
    let world = World::start().await;
    let id = seed_john(&world);
    world.workflow("same", json!({})).await;
    let result = world
        .send(
            "same",
            &event(json!({
                "first_name": "John", "email": "john.smith@example.com",
                "phones": [{"number": "+12395550100", "type": "mobile"}],
                "tags": ["only-tags-differ"]
            })),
        )
        .await
        .result()
        .clone();
    assert_eq!(result["outcome"], "unchanged");
    assert_eq!(result["contact_id"], id);
    assert_eq!(result["fields"], json!([]));
    assert!(world.kvcore_writes().is_empty());
    assert_eq!(
        world.kvcore().requests().len(),
        2,
        "the email list and the full record"
    );
}

#[tokio::test]
async fn fields_the_event_lacks_are_never_blanked_and_sync_fields_limit_writes() {
    let world = World::start().await;
    let id = seed_john(&world);
    world
        .workflow(
            "limited",
            json!({"sync_fields": {"SS": ["first_name", "primary_city"]}}),
        )
        .await;
    world
        .send(
            "limited",
            &event(json!({"email": "john.smith@example.com", "first_name": "Johnny", "last_name": "Smythe",
                          "address": {"city": "Tampa"}})),
        )
        .await
        .result();
    let body = world.kvcore_writes()[0].body.clone().unwrap();
    assert_eq!(
        body,
        json!({"first_name": "Johnny", "primary_city": "Tampa"})
    );
    let contact = world.kvcore().contact(id).unwrap();
    assert_eq!(contact["last_name"], "Smith");
    assert_eq!(contact["cell_phone_1"], "(239) 555-0100");
}

#[tokio::test]
async fn a_conflict_on_create_is_treated_as_a_match() {
    // kvCORE may refuse a duplicate (SPEC section 7); here it does.
    let world = World::start_with(FakeConfig {
        duplicates: kvcore_fake::DuplicatePolicy::Conflict409,
        ..FakeConfig::default()
    })
    .await;
    // Someone just added the person in kvCORE itself; its search does not show it yet.
    world
        .kvcore()
        .set_search_lag(std::time::Duration::from_secs(3600));
    let id = world
        .kvcore()
        .insert_unindexed_contact(json!({"email": "gus@example.com"}));
    world.workflow("conflict", json!({})).await;
    let delivery = event(json!({"email": "gus@example.com", "first_name": "Gus"}));

    let first = world.send("conflict", &delivery).await;
    assert_eq!(
        first.status, 503,
        "kvCORE refused a duplicate it does not show yet: {first:?}"
    );
    assert_eq!(first.error_code(), "kvcore_unavailable");
    // The fake refuses duplicates here, so count what kvsync sent.
    let creates = || {
        world
            .kvcore()
            .count_requests(kvcore_fake::RecordedRequest::is_create)
    };
    assert_eq!(creates(), 1, "one refused create, not retried");

    world.kvcore().set_search_lag(std::time::Duration::ZERO);
    let retried = world.send("conflict", &delivery).await;
    assert_eq!(retried.result()["outcome"], "updated");
    assert_eq!(retried.result()["contact_id"], id);
    assert_eq!(creates(), 1, "the retry updates, it does not create");
}

#[tokio::test]
async fn a_dry_run_decides_but_writes_nothing() {
    let world = World::start().await;
    seed_john(&world);
    world
        .workflow("dry", json!({"dry_run": {"BOOL": true}}))
        .await;
    let updated = world.send("dry", &john_moved()).await.result().clone();
    assert_eq!(
        (updated["outcome"].as_str(), updated["dry_run"].as_bool()),
        (Some("updated"), Some(true))
    );
    assert!(!updated["fields"].as_array().unwrap().is_empty());
    let created = world
        .send("dry", &event(json!({"email": "new@example.com"})))
        .await
        .result()
        .clone();
    assert_eq!(created["outcome"], "created");
    assert_eq!(created["contact_id"], serde_json::Value::Null);
    assert_eq!(created["fields"], json!(["email"]));
    assert!(world.kvcore_writes().is_empty());
}

#[tokio::test]
async fn a_disabled_workflow_skips_without_calling_kvcore() {
    let world = World::start().await;
    world
        .workflow("off", json!({"enabled": {"BOOL": false}}))
        .await;
    let result = world.send("off", &john_moved()).await.result().clone();
    assert_eq!(result["outcome"], "skipped");
    assert_eq!(result["reason"], "workflow_disabled");
    assert!(world.kvcore().requests().is_empty());
}

#[tokio::test]
async fn a_person_without_email_or_phone_is_skipped() {
    let world = World::start().await;
    world.workflow("nameonly", json!({})).await;
    let result = world
        .send(
            "nameonly",
            &event(json!({"first_name": "Hal", "email": "not an email"})),
        )
        .await
        .result()
        .clone();
    assert_eq!(result["reason"], "no_email_or_phone");
    assert_eq!(
        result["problems"][0],
        "contact.email is not an email address; it was left out"
    );
    assert!(world.kvcore().requests().is_empty());
}
