//! Real sources through the built binary: Follow Up Boss's native webhook
//! (signed with FUB-Signature, people fetched from the Follow Up Boss fake
//! with Basic auth, owners mapped through agent_map).

use followupboss_fake::{FakeFollowUpBoss, Fault};
use kvsync_devstack::StackOptions;
use kvsync_e2e::{World, json};

const FUB_KEY: &str = "fub-api-key-1";

async fn fub_world() -> (World, FakeFollowUpBoss) {
    let (world, fub) = World::with_followupboss(
        FUB_KEY,
        StackOptions::default(),
        json!({
            // The synchronous path (queued delivery, FUB's default: queued.rs).
            "delivery": {"S": "sync"},
            "agent_ids": {"NS": ["7"]},
            "agent_map": {"M": {"12": {"N": "7"}, "13": {"N": "8"}}},
        }),
    )
    .await;
    world.index_phones().await;
    (world, fub)
}

fn fub_person(id: u64, email: &str, assigned_user: u64) -> serde_json::Value {
    json!({
        "id": id, "firstName": "Max", "lastName": "Moe",
        "emails": [{"value": email, "type": "home", "isPrimary": true}],
        "phones": [{"value": "(239) 555-0170", "type": "mobile", "isPrimary": true}],
        "addresses": [{"street": "3 Pine St", "city": "Naples", "state": "FL", "code": "34103"}],
        "tags": ["Lead"], "assignedUserId": assigned_user,
        "updated": "2026-11-28T10:00:00Z"
    })
}

fn webhook(event: &str, ids: &[u64]) -> serde_json::Value {
    json!({"eventId": format!("evt-{event}-{ids:?}"), "eventCreated": "2026-11-28T10:00:01+00:00",
           "event": event, "resourceIds": ids, "uri": "https://api.followupboss.com/v1/people"})
}

#[tokio::test]
async fn each_named_person_is_fetched_and_synced_on_its_own() {
    let (world, fub) = fub_world().await;
    fub.put_person(fub_person(101, "max@example.com", 12));
    let answer = world
        .send("fub", &webhook("peopleCreated", &[101, 102]))
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["event_id"], "evt-peopleCreated-[101, 102]");
    let results = answer.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["source_id"], "101");
    assert_eq!(results[0]["outcome"], "created");
    assert_eq!(
        (
            results[1]["outcome"].as_str(),
            results[1]["reason"].as_str()
        ),
        (Some("skipped"), Some("person_not_found"))
    );
    let contact = &world.kvcore().contacts()[0];
    assert_eq!(
        contact["assigned_agent_id"], 7,
        "Follow Up Boss user 12 is kvCORE agent 7"
    );
    assert_eq!(contact["primary_zip"], "34103");
    assert_eq!(fub.requests(), ["101", "102"]);
    let logs = world.logs();
    assert!(
        !logs.contains(FUB_KEY),
        "the Follow Up Boss API key is never logged"
    );
    assert!(!logs.contains("max@example.com"));
}

#[tokio::test]
async fn an_owner_mapped_outside_the_agent_filter_is_skipped() {
    let (world, fub) = fub_world().await;
    fub.put_person(fub_person(201, "ned@example.com", 13));
    let answer = world.send("fub", &webhook("peopleUpdated", &[201])).await;
    assert_eq!(answer.result()["reason"], "agent_filtered");
    assert!(world.kvcore().requests().is_empty());
}

#[tokio::test]
async fn other_events_are_acknowledged_and_skipped() {
    let (world, fub) = fub_world().await;
    let answer = world.send("fub", &webhook("notesCreated", &[301])).await;
    assert_eq!(answer.result()["outcome"], "skipped");
    assert_eq!(answer.result()["reason"], "unsupported_event");
    assert!(fub.requests().is_empty() && world.kvcore().requests().is_empty());
}

#[tokio::test]
async fn a_rate_limited_follow_up_boss_is_waited_out() {
    let (world, fub) = fub_world().await;
    fub.put_person(fub_person(401, "ola@example.com", 12));
    fub.push_fault(Fault::RateLimited {
        retry_after_secs: 1,
    });
    let answer = world.send("fub", &webhook("peopleUpdated", &[401])).await;
    assert_eq!(answer.result()["outcome"], "created");
    assert_eq!(fub.requests(), ["401", "401"]);
}

#[tokio::test]
async fn a_wrong_fub_signature_is_refused() {
    let (world, _fub) = fub_world().await;
    let body = serde_json::to_vec(&webhook("peopleUpdated", &[1])).unwrap();
    let signature = kvsync_devstack::signing::fub_signature("not-the-system-key", &body);
    let answer = world
        .send_raw("fub", &[("fub-signature", &signature)], "", &body)
        .await;
    assert_eq!((answer.status, answer.error_code()), (401, "unauthorized"));
}

#[tokio::test]
async fn a_wrong_api_key_is_a_misconfiguration_named_for_the_operator() {
    let (world, fub) = fub_world().await;
    fub.put_person(fub_person(501, "pia@example.com", 12));
    let key_secret = format!("{}kvsync/fub/api-key", world.stack.prefix());
    world
        .stack
        .put_secret(&key_secret, "stale-key")
        .await
        .unwrap();
    let answer = world.send("fub", &webhook("peopleUpdated", &[501])).await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (503, "source_unauthorized"),
        "{answer:?}"
    );
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("source_api_secret")
    );
}

#[tokio::test]
async fn a_google_person_is_synced_with_its_primary_entries() {
    let world = World::start().await;
    world
        .workflow(
            "google",
            json!({"source": {"S": "google"}, "auth": {"S": "token"}}),
        )
        .await;
    world.index_phones().await;
    let secret_id = format!("{}kvsync/google/webhook-secret", world.stack.prefix());
    world
        .stack
        .put_secret(&secret_id, "google-bridge-token")
        .await
        .unwrap();
    let body = include_bytes!("../../../shared/tests/fixtures/google/full.json");
    let auth = [("x-kvsync-token", "google-bridge-token")];

    let answer = world.send_raw("google", &auth, "", body).await;
    assert_eq!(
        answer.body["event_id"],
        "people/c7160478151226404185#%EgcBAgkLLjc9GgQBAgUHIgxCZmp5c0VzZlh0WT0=",
        "resourceName + etag"
    );
    assert_eq!(answer.result()["outcome"], "created");
    let contact = &world.kvcore().contacts()[0];
    assert_eq!(contact["email"], "lena.ortiz@example.com");
    assert_eq!(contact["cell_phone_1"], "+12395550123");
    assert_eq!(contact["work_phone"], "+12395550124");
    assert_eq!(contact["birthday"], "1984-07-09");

    let again = world.send_raw("google", &auth, "", body).await;
    assert_eq!(
        again.body["duplicate"], true,
        "the same resource version is the same event"
    );
}
