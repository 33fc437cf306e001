//! SPEC section 12 (filters and field mapping) and section 6's "Edits made
//! in kvCORE", through the built `webhook` binary over moto_server, the
//! Follow Up Boss fake and the kvCORE fake.

use followupboss_fake::FakeFollowUpBoss;
use kvsync_devstack::StackOptions;
use kvsync_e2e::{World, event, json, kvsync_cli};
use serde_json::Value;

const FUB_KEY: &str = "fub-api-key-18";

async fn fub_world(overrides: Value) -> (World, FakeFollowUpBoss) {
    let mut attributes = json!({"delivery": {"S": "sync"}});
    if let (Some(all), Some(more)) = (attributes.as_object_mut(), overrides.as_object()) {
        all.extend(more.clone());
    }
    World::with_followupboss(FUB_KEY, StackOptions::default(), attributes).await
}

fn fub_person(id: u64, email: &str, stage: &str, updated: &str) -> Value {
    json!({
        "id": id, "firstName": "Max", "lastName": "Moe", "stage": stage,
        "emails": [{"value": email, "type": "home", "isPrimary": true}],
        "tags": ["Lead"], "updated": updated
    })
}

fn webhook(event_id: &str, event: &str, ids: &[u64]) -> Value {
    json!({"eventId": event_id, "eventCreated": "2026-11-28T10:00:01+00:00",
           "event": event, "resourceIds": ids, "uri": "https://api.followupboss.com/v1/people"})
}

/// `filters[0]`: stage is not Trash.
fn not_trash() -> Value {
    json!({"L": [{"M": {
        "field": {"S": "source.stage"}, "op": {"S": "not_equals"}, "value": {"S": "Trash"}
    }}]})
}

#[tokio::test]
async fn a_follow_up_boss_person_in_trash_is_filtered_with_no_kvcore_request() {
    let (world, fub) = fub_world(json!({"filters": not_trash()})).await;
    fub.put_person(fub_person(
        501,
        "tia@example.com",
        "Trash",
        "2026-11-28T10:00:00Z",
    ));
    let answer = world
        .send("fub", &webhook("evt-trash", "peopleUpdated", &[501]))
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.result()["outcome"], "skipped");
    assert_eq!(answer.result()["reason"], "filtered_out");
    assert!(
        world.kvcore().requests().is_empty(),
        "{:?}",
        world.kvcore().requests()
    );

    fub.put_person(fub_person(
        502,
        "una@example.com",
        "Lead",
        "2026-11-28T10:00:00Z",
    ));
    let answer = world
        .send("fub", &webhook("evt-lead", "peopleUpdated", &[502]))
        .await;
    assert_eq!(answer.result()["outcome"], "created", "{answer:?}");
}

/// A Follow Up Boss custom field comes only when the read asks for it
/// (`fields=allFields`, docs.followupboss.com people endpoints): a filter on
/// `source.customLeadType` sees the team's value, not a missing field.
#[tokio::test]
async fn a_filter_on_a_follow_up_boss_custom_field_reads_the_person_s_value() {
    let buyers = json!({"L": [{"M": {
        "field": {"S": "source.customLeadType"}, "op": {"S": "equals"}, "value": {"S": "Buyer"}
    }}]});
    let (world, fub) = fub_world(json!({"filters": buyers})).await;
    for (id, email, lead_type) in [
        (601, "vic@example.com", "Buyer"),
        (602, "wes@example.com", "Seller"),
    ] {
        let mut person = fub_person(id, email, "Lead", "2026-11-28T10:00:00Z");
        person["customLeadType"] = json!(lead_type);
        fub.put_person(person);
    }

    let buyer = world
        .send("fub", &webhook("evt-buyer", "peopleCreated", &[601]))
        .await;
    assert_eq!(buyer.result()["outcome"], "created", "{buyer:?}");
    let seller = world
        .send("fub", &webhook("evt-seller", "peopleCreated", &[602]))
        .await;
    assert_eq!(seller.result()["outcome"], "skipped", "{seller:?}");
    assert_eq!(seller.result()["reason"], "filtered_out");
    let contacts = world.kvcore().contacts();
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    assert_eq!(contacts[0]["email"], "vic@example.com");
}

#[tokio::test]
async fn a_follow_up_boss_stage_maps_to_the_kvcore_status_on_create_and_update() {
    let status = json!({"M": {
        "from": {"S": "source.stage"},
        "map": {"M": {"Lead": {"N": "0"}, "Hot Prospect": {"N": "4"}, "Closed": {"N": "2"}}}
    }});
    let (world, fub) = fub_world(json!({"field_map": {"M": {
        "status": status, "deal_type": {"M": {"value": {"S": "buyer"}}}
    }}}))
    .await;
    fub.put_person(fub_person(
        601,
        "vic@example.com",
        "Hot Prospect",
        "2026-11-28T10:00:00Z",
    ));
    let created = world
        .send("fub", &webhook("evt-601-a", "peopleCreated", &[601]))
        .await;
    assert_eq!(created.result()["outcome"], "created", "{created:?}");
    let fields = created.result()["fields"].as_array().unwrap().clone();
    assert!(
        fields.contains(&json!("status")) && fields.contains(&json!("deal_type")),
        "{fields:?}"
    );
    let contact = &world.kvcore().contacts()[0];
    assert_eq!(contact["status"].to_string().trim_matches('"'), "4");
    assert_eq!(contact["deal_type"], "buyer");

    fub.put_person(fub_person(
        601,
        "vic@example.com",
        "Closed",
        "2026-11-28T11:00:00Z",
    ));
    let updated = world
        .send("fub", &webhook("evt-601-b", "peopleUpdated", &[601]))
        .await;
    assert_eq!(updated.result()["outcome"], "updated", "{updated:?}");
    assert_eq!(updated.result()["fields"], json!(["status"]));
    let contact = &world.kvcore().contacts()[0];
    assert_eq!(contact["status"].to_string().trim_matches('"'), "2");
}

fn ann(phone: &str, tags: &[&str], event_id: &str) -> Value {
    let mut body = event(json!({
        "first_name": "Ann", "last_name": "Lee", "email": "ann@example.com",
        "phones": [{"number": phone, "type": "mobile"}], "tags": tags
    }));
    body["event_id"] = json!(event_id);
    body
}

#[tokio::test]
async fn an_agent_s_edit_survives_a_tag_only_update_and_yields_to_a_new_source_value() {
    let world = World::start().await;
    world
        .workflow("edits", json!({"add_tags": {"BOOL": true}}))
        .await;
    world.index_phones().await;
    let created = world
        .send("edits", &ann("(239) 555-0100", &["buyer"], "e1"))
        .await;
    assert_eq!(created.result()["outcome"], "created", "{created:?}");
    let id = created.result()["contact_id"].as_u64().unwrap();

    // An agent fixes the number in kvCORE.
    assert!(
        world
            .kvcore()
            .update_contact_as_person(id, json!({"cell_phone_1": "(239) 555-0177"}))
    );
    world.kvcore().clear_requests();

    let tagged = world
        .send("edits", &ann("(239) 555-0100", &["buyer", "vip"], "e2"))
        .await;
    assert_eq!(tagged.result()["outcome"], "updated", "{tagged:?}");
    assert_eq!(tagged.result()["fields"], json!(["hashtags"]));
    let contact = world.kvcore().contact(id).unwrap();
    assert_eq!(
        contact["cell_phone_1"], "(239) 555-0177",
        "the agent's fix stays"
    );
    assert!(
        !world.kvcore_writes().iter().any(|w| w.is_update()),
        "{:?}",
        world.kvcore_writes()
    );

    let moved = world
        .send("edits", &ann("(239) 555-0188", &["buyer", "vip"], "e3"))
        .await;
    assert_eq!(moved.result()["outcome"], "updated", "{moved:?}");
    assert_eq!(moved.result()["fields"], json!(["cell_phone_1"]));
    let contact = world.kvcore().contact(id).unwrap();
    assert_eq!(
        contact["cell_phone_1"].to_string().trim_matches('"'),
        "+12395550188"
    );
}

#[tokio::test]
async fn revert_kvcore_edits_writes_the_source_s_value_back() {
    let world = World::start().await;
    world
        .workflow("reverts", json!({"revert_kvcore_edits": {"BOOL": true}}))
        .await;
    world.index_phones().await;
    let created = world
        .send("reverts", &ann("(239) 555-0100", &[], "r1"))
        .await;
    let id = created.result()["contact_id"].as_u64().unwrap();
    assert!(
        world
            .kvcore()
            .update_contact_as_person(id, json!({"cell_phone_1": "(239) 555-0177"}))
    );
    let again = world
        .send("reverts", &ann("(239) 555-0100", &["x"], "r2"))
        .await;
    assert_eq!(
        again.result()["fields"],
        json!(["cell_phone_1"]),
        "{again:?}"
    );
}

#[tokio::test]
async fn each_settings_mistake_answers_503_naming_the_attribute_path() {
    let world = World::start().await;
    let condition = |field: &str, op: &str, value: Value| json!({"M": {"field": {"S": field}, "op": {"S": op}, "value": value}});
    let cases = [
        (
            json!({"filters": {"L": [condition("tags", "contains", json!({"S": "a"})),
                                     condition("source.stage", "not_equal", json!({"S": "Trash"}))]}}),
            "'filters[1].op'",
            "did you mean \"not_equals\"?",
        ),
        (
            json!({"filters": {"L": [condition("emial", "exists", json!({"NULL": true}))]}}),
            "'filters[0].field'",
            "did you mean \"email\"?",
        ),
        (
            json!({"filters": {"L": [condition("source.price", "in", json!({"S": "1"}))]}}),
            "'filters[0].value'",
            "a list (L, SS or NS)",
        ),
        (
            json!({"field_map": {"M": {"stauts": {"S": "source.stage"}}}}),
            "'field_map.stauts'",
            "did you mean \"status\"?",
        ),
        (
            json!({"field_map": {"M": {"cell_phone_1": {"L": [{"S": "phone.mobile"}, {"S": "phone.wrok"}]}}}}),
            "'field_map.cell_phone_1[1]'",
            "did you mean \"phone.work\"?",
        ),
        (
            json!({"field_map": {"M": {"status": {"M": {"from": {"S": "source.stage"}, "map": {"S": "x"}}}}}}),
            "'field_map.status.map'",
            "a map (M)",
        ),
        (
            json!({"revert_kvcore_edits": {"S": "yes"}}),
            "'revert_kvcore_edits'",
            "BOOL",
        ),
    ];
    for (i, (attributes, attribute, says)) in cases.into_iter().enumerate() {
        let id = format!("bad{i}");
        world.workflow(&id, attributes).await;
        let answer = world.send(&id, &ann("(239) 555-0100", &[], "m")).await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (503, "misconfigured_workflow"),
            "{answer:?}"
        );
        let message = answer.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(&format!("workflow '{id}'")), "{message}");
        assert!(
            message.contains(attribute),
            "{message} should name {attribute}"
        );
        assert!(message.contains(says), "{message} should say {says}");
    }
    assert!(world.kvcore().requests().is_empty());
}

#[tokio::test]
async fn workflow_try_shows_verdicts_mapping_and_decision_writing_nothing() {
    let world = World::start().await;
    world
        .workflow(
            "trial",
            json!({
                "filters": {"L": [{"M": {"field": {"S": "source.stage"}, "op": {"S": "in"},
                                         "value": {"L": [{"S": "Lead"}, {"S": "Hot"}]}}}]},
                "field_map": {"M": {"status": {"M": {"from": {"S": "source.stage"},
                                                      "map": {"M": {"Hot": {"N": "4"}}}}}}}
            }),
        )
        .await;
    let id = world.kvcore().insert_contact(json!({
        "first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"
    }));
    world.kvcore().clear_requests();
    let sample = json!({"contact": {"first_name": "Ann", "last_name": "Lee",
        "email": "ann@example.com", "stage": "Hot"}});
    let file = std::env::temp_dir().join(format!("kvsync-try-{}.json", std::process::id()));
    std::fs::write(&file, serde_json::to_vec(&sample).unwrap()).unwrap();
    let path = file.display().to_string();
    let (ok, out, err) = kvsync_cli(&world.stack, &["workflow", "try", "trial", &path]).await;
    let _ = std::fs::remove_file(&file);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("filters[0] source.stage in [\"Lead\",\"Hot\"]: holds"),
        "{out}"
    );
    assert!(out.contains("status = 4  (field_map)"), "{out}");
    assert!(
        out.contains(&format!("kvCORE match: contact {id} by Email")),
        "{out}"
    );
    assert!(
        out.contains(&format!("decision: update contact {id}: status")),
        "{out}"
    );
    assert!(!out.contains("ann@example.com"), "emails are masked: {out}");
    assert!(world.kvcore_writes().is_empty(), "nothing written");
    assert!(
        world.stack.scan("EVENTS_TABLE").await.unwrap().is_empty(),
        "no event recorded"
    );
}
