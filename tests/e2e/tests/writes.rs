//! What kvsync writes beyond the synced fields (SPEC sections 3, 6 and 7):
//! `lead_source` into kvCORE's `source` on create, and `add_tags` adding the
//! tags a contact lacks with `PUT /contact/{id}/tags`, never removing one.
//! Through the built `webhook` binary over moto_server and the kvCORE fake.

use kvsync_e2e::{World, event, json};
use serde_json::Value;

/// kvCORE's Ann, tagged `#Buyer` (kvCORE may keep the `#`).
fn seed_ann(world: &World) -> u64 {
    world.kvcore().insert_contact(json!({
        "first_name": "Ann", "last_name": "Lee", "email": "ann@example.com",
        "hashtags": ["#Buyer"]
    }))
}

/// An event for Ann that says nothing new but its tags.
fn ann_tagged(tags: &[&str]) -> Value {
    event(
        json!({"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com", "tags": tags}),
    )
}

/// The tag names the fake holds for a contact, lower-cased, without `#`,
/// whether it keeps them as names, `{"name": ...}` objects or one string.
fn tags_of(world: &World, id: u64) -> Vec<String> {
    let contact = world.kvcore().contact(id).expect("the contact exists");
    let names: Vec<String> = match &contact["hashtags"] {
        Value::String(joined) => joined.split(',').map(str::to_string).collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(|t| t.as_str().or_else(|| t["name"].as_str()))
            .map(str::to_string)
            .collect(),
        other => panic!("hashtags: {other}"),
    };
    let mut names: Vec<String> = names
        .iter()
        .map(|n| n.trim().trim_start_matches('#').to_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names
}

fn is_tags_request(path: &str, id: u64) -> bool {
    path == format!("/v2/public/contact/{id}/tags")
}

#[tokio::test]
async fn lead_source_is_written_to_source_on_create() {
    let world = World::start().await;
    world
        .workflow("leads", json!({"lead_source": {"S": "Website"}}))
        .await;
    let answer = world
        .send(
            "leads",
            &event(json!({"first_name": "Bo", "email": "bo@example.com"})),
        )
        .await;
    let result = answer.result();
    assert_eq!(result["outcome"], "created");
    assert!(
        result["fields"]
            .as_array()
            .unwrap()
            .contains(&json!("source")),
        "{result}"
    );
    let writes = world.kvcore_writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(writes[0].is_create());
    assert_eq!(writes[0].body.as_ref().unwrap()["source"], "Website");
    assert_eq!(world.kvcore().contacts()[0]["source"], "Website");
}

#[tokio::test]
async fn lead_source_is_never_sent_on_update() {
    let world = World::start().await;
    let id = world.kvcore().insert_contact(json!({
        "first_name": "Cy", "email": "cy@example.com", "source": "Zillow"
    }));
    world
        .workflow("leads-update", json!({"lead_source": {"S": "Website"}}))
        .await;
    let result = world
        .send(
            "leads-update",
            &event(json!({"first_name": "Cyrus", "email": "cy@example.com"})),
        )
        .await
        .result()
        .clone();
    assert_eq!(result["outcome"], "updated");
    assert_eq!(result["fields"], json!(["first_name"]));
    let writes = world.kvcore_writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(
        writes[0].body,
        Some(json!({"first_name": "Cyrus"})),
        "no source on update"
    );
    assert_eq!(world.kvcore().contact(id).unwrap()["source"], "Zillow");
}

#[tokio::test]
async fn add_tags_adds_only_the_missing_tag_through_the_tags_endpoint() {
    let world = World::start().await;
    let id = seed_ann(&world);
    world
        .workflow("tags", json!({"add_tags": {"BOOL": true}}))
        .await;

    let answer = world
        .send("tags", &ann_tagged(&["buyer", "#Open-House"]))
        .await;
    let result = answer.result();
    assert_eq!(result["outcome"], "updated", "{result}");
    assert_eq!(result["contact_id"], id);
    assert_eq!(result["fields"], json!(["hashtags"]));
    let writes = world.kvcore_writes();
    assert_eq!(writes.len(), 1, "only the tags request: {writes:?}");
    assert_eq!(writes[0].method, "PUT");
    assert!(is_tags_request(&writes[0].path, id), "{writes:?}");
    assert_eq!(
        writes[0].body,
        Some(json!({"tags": [{"name": "Open-House", "locked": 0}]})),
        "the held tag (#Buyer = buyer) is not sent again; no '#'"
    );
    assert_eq!(tags_of(&world, id), ["buyer", "open-house"]);
}

#[tokio::test]
async fn add_tags_never_removes_a_tag() {
    let world = World::start().await;
    let id = seed_ann(&world);
    world
        .workflow("keep-tags", json!({"add_tags": {"BOOL": true}}))
        .await;

    let result = world.send("keep-tags", &ann_tagged(&["vip"])).await;
    assert_eq!(result.result()["outcome"], "updated");
    assert_eq!(
        tags_of(&world, id),
        ["buyer", "vip"],
        "Buyer stays though the event lacks it"
    );
    world.kvcore().clear_requests();

    let again = world.send("keep-tags", &ann_tagged(&["VIP"])).await;
    assert_eq!(again.result()["outcome"], "unchanged");
    assert!(world.kvcore_writes().is_empty(), "every tag is held");
    assert_eq!(tags_of(&world, id), ["buyer", "vip"]);
}

#[tokio::test]
async fn fields_and_tags_are_sent_in_two_requests() {
    let world = World::start().await;
    let id = seed_ann(&world);
    world
        .workflow("both", json!({"add_tags": {"BOOL": true}}))
        .await;
    let answer = world
        .send(
            "both",
            &event(json!({"email": "ann@example.com", "last_name": "Park", "tags": ["seller"]})),
        )
        .await;
    let result = answer.result();
    assert_eq!(result["outcome"], "updated");
    assert_eq!(result["fields"], json!(["last_name", "hashtags"]));
    let writes = world.kvcore_writes();
    let paths: Vec<&str> = writes.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            format!("/v2/public/contact/{id}"),
            format!("/v2/public/contact/{id}/tags")
        ],
        "fields first, then tags"
    );
    assert_eq!(writes[0].body, Some(json!({"last_name": "Park"})));
    let contact = world.kvcore().contact(id).unwrap();
    assert_eq!(contact["last_name"], "Park");
    assert_eq!(tags_of(&world, id), ["buyer", "seller"]);
}

#[tokio::test]
async fn without_add_tags_new_tags_alone_are_unchanged() {
    let world = World::start().await;
    let id = seed_ann(&world);
    world.workflow("no-tags", json!({})).await;
    let answer = world.send("no-tags", &ann_tagged(&["open-house"])).await;
    assert_eq!(answer.result()["outcome"], "unchanged");
    assert!(world.kvcore_writes().is_empty());
    assert_eq!(tags_of(&world, id), ["buyer"]);
}

#[tokio::test]
async fn add_tags_respects_sync_fields() {
    let world = World::start().await;
    let id = seed_ann(&world);
    world
        .workflow(
            "no-hashtags",
            json!({"add_tags": {"BOOL": true}, "sync_fields": {"SS": ["email", "first_name"]}}),
        )
        .await;
    let answer = world
        .send("no-hashtags", &ann_tagged(&["open-house"]))
        .await;
    assert_eq!(answer.result()["outcome"], "unchanged");
    assert!(world.kvcore_writes().is_empty());
    assert_eq!(tags_of(&world, id), ["buyer"]);
}

#[tokio::test]
async fn a_dry_run_reports_the_tags_and_sends_nothing() {
    let world = World::start().await;
    let id = seed_ann(&world);
    world
        .workflow(
            "dry-tags",
            json!({"add_tags": {"BOOL": true}, "dry_run": {"BOOL": true}}),
        )
        .await;
    let answer = world.send("dry-tags", &ann_tagged(&["open-house"])).await;
    let result = answer.result();
    assert_eq!(result["outcome"], "updated");
    assert_eq!(result["dry_run"], true);
    assert_eq!(result["fields"], json!(["hashtags"]));
    assert!(world.kvcore_writes().is_empty());
    assert_eq!(tags_of(&world, id), ["buyer"]);
}
