//! The phone index (SPEC section 9) end to end: the built `kvcore-indexer`
//! run by its schedule's event, the built `webhook` looking phones up, and
//! `kvsync index build|status`, over moto_server and the kvCORE fake.

use std::time::Duration;

use kvcore_fake::RecordedRequest;
use kvsync_devstack::aws::{attribute_from_json, scan_json};
use kvsync_devstack::{LambdaProcess, SpawnOptions};
use kvsync_e2e::{World, event, json, kvsync_cli};
use serde_json::Value;

/// The scope of a seeded workflow: its token secret and the default country.
fn scope_of(world: &World, workflow_id: &str) -> String {
    format!(
        "{}kvsync/{workflow_id}/kvcore-token#US",
        world.stack.prefix()
    )
}

/// Starts the kvcore-indexer as template.yaml sizes it.
async fn indexer(world: &World) -> LambdaProcess {
    world
        .stack
        .spawn_indexer()
        .await
        .expect("kvcore-indexer binary starts (cargo build -p kvcore-indexer)")
}

/// One scheduled run; its summary.
async fn run(world: &World, indexer: &LambdaProcess) -> Value {
    world
        .stack
        .run_scheduled(indexer)
        .await
        .unwrap_or_else(|e| panic!("the indexer answers: {e}\n{}", indexer.logs().join("\n")))
}

/// The summary's entry for one scope.
fn entry<'a>(summary: &'a Value, scope: &str) -> &'a Value {
    summary["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .find(|s| s["scope"] == scope)
        .unwrap_or_else(|| panic!("no scope {scope} in {summary}"))
}

/// A phone-only person (no email): a lookup needs the index.
fn phone_only(first_name: &str, phone: &str) -> Value {
    event(json!({"first_name": first_name, "phones": [{"number": phone, "type": "mobile"}]}))
}

/// The index's items of one scope, by `entry`.
async fn index_entries(world: &World, scope: &str) -> Vec<String> {
    scan_json(
        world.stack.dynamodb(),
        world.stack.table("PHONE_INDEX_TABLE"),
    )
    .await
    .expect("scan")
    .into_iter()
    .filter(|item| item["scope"]["S"] == scope)
    .filter_map(|item| item["entry"]["S"].as_str().map(String::from))
    .collect()
}

/// Makes the scope's last refresh two minutes old, so the next lookup
/// refreshes first (SPEC section 9: older than 60 s), without waiting.
async fn age_last_refresh(world: &World, scope: &str) {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    world
        .stack
        .dynamodb()
        .update_item()
        .table_name(world.stack.table("PHONE_INDEX_TABLE"))
        .key("scope", attribute_from_json(&json!({"S": scope})).unwrap())
        .key("entry", attribute_from_json(&json!({"S": "meta"})).unwrap())
        .update_expression("SET last_refresh_ms = :old")
        .expression_attribute_values(
            ":old",
            attribute_from_json(&json!({"N": (now_ms - 120_000).to_string()})).unwrap(),
        )
        .send()
        .await
        .expect("meta aged");
}

async fn failed_events(world: &World, workflow_id: &str) -> Vec<Value> {
    world
        .stack
        .scan("EVENTS_TABLE")
        .await
        .expect("scan events")
        .into_iter()
        .filter(|e| e["workflow_id"]["S"] == workflow_id && e["status"]["S"] == "failed")
        .collect()
}

#[tokio::test]
async fn before_the_first_build_phone_lookups_wait_and_the_retry_matches_after_it() {
    let world = World::start().await;
    let pat = world.kvcore().insert_contact(json!({
        "first_name": "Pat", "email": "pat@example.com", "cell_phone_1": "(239) 555-0100"
    }));
    world.workflow("wf", json!({})).await;

    // (a) A phone-only event: 503, kept as failed for the retry.
    let body = phone_only("Patricia", "+1 239 555 0100");
    let headers = world.signed("wf", "msg_phone_1", &body).await;
    let answer = world.send_to(&world.function, "wf", &headers, &body).await;
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.error_code(), "phone_index_building");
    let failed = failed_events(&world, "wf").await;
    assert_eq!(failed.len(), 1, "the event is kept: {failed:?}");
    assert_eq!(failed[0]["error_code"]["S"], "phone_index_building");

    // Matched by email: unaffected by the missing index.
    let by_email = world
        .send(
            "wf",
            &event(json!({"first_name": "Pat", "email": "pat@example.com"})),
        )
        .await;
    let result = by_email.result();
    assert_eq!(result["matched_by"], "email");
    assert_eq!(result["contact_id"], pat);

    let indexer = indexer(&world).await;
    let summary = run(&world, &indexer).await;
    let scope = entry(&summary, &scope_of(&world, "wf"));
    assert_eq!(scope["action"], "build");
    assert_eq!(scope["finished"], true, "{summary}");

    // The source's retry of the same delivery now matches by phone.
    let creates_before = world.kvcore().count_requests(RecordedRequest::is_create);
    let headers = world.signed("wf", "msg_phone_1", &body).await;
    let retry = world.send_to(&world.function, "wf", &headers, &body).await;
    let result = retry.result();
    assert_eq!(result["matched_by"], "phone", "{retry:?}");
    assert_eq!(result["contact_id"], pat);
    assert_eq!(result["outcome"], "updated");
    assert_eq!(
        world.kvcore().count_requests(RecordedRequest::is_create),
        creates_before,
        "no duplicate"
    );
    assert_eq!(world.kvcore().contacts().len(), 1);
    assert!(
        failed_events(&world, "wf").await.is_empty(),
        "the retry finished it"
    );
}

#[tokio::test]
async fn a_phone_only_event_finds_the_newest_of_900_contacts_after_a_build() {
    let world = World::start().await;
    // (b) 899 contacts with other phones, then the one to find, newest.
    let others: Vec<Value> = (0..899)
        .map(|i| json!({"first_name": format!("C{i}"), "email": format!("c{i}@example.com"), "cell_phone_1": format!("(305) 555-{:04}", 1000 + i)}))
        .collect();
    world.kvcore().insert_contacts(others);
    let target = world
        .kvcore()
        .insert_contact(json!({"email": "", "work_phone": "(239) 555-0100"}));
    world.workflow("wf", json!({})).await;

    let indexer = indexer(&world).await;
    let summary = run(&world, &indexer).await;
    let scope = entry(&summary, &scope_of(&world, "wf"));
    assert_eq!(scope["finished"], true, "{summary}");
    assert_eq!(scope["contacts_read"], 900);
    assert_eq!(scope["pages"], 2, "ceil(900/500) list requests");
    assert_eq!(scope["contacts_indexed"], 900, "{summary}");

    world.kvcore().clear_requests();
    let answer = world
        .send("wf", &phone_only("Pat", "+1 239 555 0100"))
        .await;
    let result = answer.result();
    assert_eq!(result["outcome"], "updated", "{answer:?}");
    assert_eq!(result["matched_by"], "phone");
    assert_eq!(result["contact_id"], target);
    assert_eq!(world.kvcore().count_requests(RecordedRequest::is_create), 0);
    assert_eq!(
        world.kvcore().count_requests(RecordedRequest::is_list),
        0,
        "a fresh index needs no list request"
    );
    assert_eq!(world.kvcore().contact(target).unwrap()["first_name"], "Pat");
}

#[tokio::test]
async fn contacts_people_create_or_change_in_kvcore_show_up_through_refreshes() {
    let world = World::start().await;
    let kim = world
        .kvcore()
        .insert_contact(json!({"first_name": "Kim", "cell_phone_1": "(239) 555-0111"}));
    world
        .workflow("wf", json!({"create_contacts": {"BOOL": false}}))
        .await;
    let scope = scope_of(&world, "wf");
    let indexer = indexer(&world).await;
    run(&world, &indexer).await;

    // (c) Created by a person after the build; the lookup's own refresh
    // (the index is made older than 60 s) finds it.
    world.kvcore().set_list_lag(Duration::ZERO);
    let lee = world
        .kvcore()
        .insert_unindexed_contact(json!({"first_name": "Lee", "home_phone": "239-555-0122"}));
    age_last_refresh(&world, &scope).await;
    let answer = world.send("wf", &phone_only("Lee", "(239) 555-0122")).await;
    let result = answer.result();
    assert_eq!(result["matched_by"], "phone", "{answer:?}");
    assert_eq!(result["contact_id"], lee);

    // (d) A person changes Kim's phone; the indexer's refresh moves the entry.
    assert!(
        world
            .kvcore()
            .update_contact_as_person(kim, json!({"cell_phone_1": "(239) 555-0133"}))
    );
    let summary = run(&world, &indexer).await;
    let refreshed = entry(&summary, &scope);
    assert_eq!(refreshed["action"], "refresh", "{summary}");
    assert_eq!(refreshed["finished"], true);
    assert!(refreshed["contacts_read"].as_u64().unwrap() >= 1);
    let entries = index_entries(&world, &scope).await;
    assert!(
        entries.contains(&format!("p#+12395550133#{kim}")),
        "{entries:?}"
    );
    assert!(
        !entries.contains(&format!("p#+12395550111#{kim}")),
        "the old phone's entry is gone: {entries:?}"
    );

    let old = world.send("wf", &phone_only("Kim", "(239) 555-0111")).await;
    assert_eq!(old.result()["outcome"], "skipped", "{old:?}");
    assert_eq!(old.result()["reason"], "no_match_update_only");
    let new = world.send("wf", &phone_only("Kim", "(239) 555-0133")).await;
    assert_eq!(new.result()["matched_by"], "phone", "{new:?}");
    assert_eq!(new.result()["contact_id"], kim);
}

#[tokio::test]
async fn workflows_sharing_a_token_and_country_share_one_index_and_a_bad_scope_stops_no_other() {
    let world = World::start().await;
    let ann = world
        .kvcore()
        .insert_contact(json!({"first_name": "Ann", "cell_phone_1": "(239) 555-0144"}));
    let first = world.stack.seed_workflow("one", json!({})).await.unwrap();
    world
        .stack
        .seed_workflow(
            "two",
            json!({"kvcore_token_secret": {"S": first.kvcore_token_secret}}),
        )
        .await
        .unwrap();
    // Another scope whose token secret does not exist, and a misconfigured item.
    world
        .stack
        .seed_workflow(
            "broken",
            json!({"kvcore_token_secret": {"S": world.stack.secret_name("kvsync/none")}}),
        )
        .await
        .unwrap();
    world
        .stack
        .seed_workflow("typo", json!({"enabled": {"S": "yes"}}))
        .await
        .unwrap();
    world
        .stack
        .seed_workflow("off", json!({"enabled": {"BOOL": false}}))
        .await
        .unwrap();

    let indexer = indexer(&world).await;
    let summary = run(&world, &indexer).await;
    // (g) The summary: one entry per scope of the enabled workflows.
    let shared_scope = scope_of(&world, "one");
    let scopes = summary["scopes"].as_array().unwrap();
    assert_eq!(scopes.len(), 2, "{summary}");
    let shared = entry(&summary, &shared_scope);
    assert_eq!(shared["workflows"], json!(["one", "two"]));
    assert_eq!(shared["action"], "build");
    assert_eq!(shared["finished"], true);
    assert_eq!(shared["pages"], 1);
    assert_eq!(shared["contacts_read"], 1);
    assert_eq!(shared["contacts_indexed"], 1);
    assert!(shared.get("error").is_none(), "{summary}");
    let broken = entry(&summary, &format!("{}kvsync/none#US", world.stack.prefix()));
    assert_eq!(broken["workflows"], json!(["broken"]));
    assert_eq!(broken["finished"], false);
    assert!(
        broken["error"]
            .as_str()
            .unwrap()
            .contains("kvcore_token_secret"),
        "{summary}"
    );
    let invalid = summary["invalid_workflows"].as_array().unwrap();
    assert_eq!(invalid.len(), 1, "{summary}");
    assert_eq!(invalid[0]["workflow_id"], "typo");
    assert!(invalid[0]["error"].as_str().unwrap().contains("'enabled'"));

    // (e) One build serves both workflows.
    for workflow in ["one", "two"] {
        let answer = world
            .send(workflow, &phone_only("Ann", "239 555 0144"))
            .await;
        assert_eq!(
            answer.result()["matched_by"],
            "phone",
            "{workflow}: {answer:?}"
        );
        assert_eq!(answer.result()["contact_id"], ann);
    }
    assert_eq!(world.kvcore().count_requests(RecordedRequest::is_create), 0);

    // The next run refreshes the built scope and tries the broken one again.
    let again = run(&world, &indexer).await;
    assert_eq!(entry(&again, &shared_scope)["action"], "refresh", "{again}");
    assert_eq!(entry(&again, &shared_scope)["finished"], true);
}

#[tokio::test]
async fn a_build_cut_by_the_deadline_resumes_on_the_next_run_and_loses_nothing() {
    let world = World::start().await;
    // (f) 1200 contacts: three pages; each page takes 3 s, and the function
    // gets 10 s, so a run reads at most two pages.
    let contacts: Vec<Value> = (0..1200)
        .map(|i| json!({"first_name": format!("C{i}"), "cell_phone_1": format!("(305) 555-{:04}", 2000 + i)}))
        .collect();
    let ids = world.kvcore().insert_contacts(contacts);
    world.workflow("wf", json!({})).await;
    let scope = scope_of(&world, "wf");
    world.kvcore().set_latency(Duration::from_secs(3));
    let short = SpawnOptions {
        timeout: Duration::from_secs(10),
        ..world.stack.indexer_spawn_options()
    };
    let indexer = world.stack.spawn_indexer_with(&[], short).await.unwrap();

    let first = run(&world, &indexer).await;
    let first = entry(&first, &scope).clone();
    assert_eq!(first["action"], "build");
    assert_eq!(first["finished"], false, "cut by its deadline: {first}");
    assert!(first["pages"].as_u64().unwrap() >= 1, "{first}");

    let (_, status, _) = kvsync_cli(&world.stack, &["index", "status", "wf"]).await;
    assert!(status.contains("build        in progress"), "{status}");

    let mut pages = first["pages"].as_u64().unwrap();
    let mut last = first;
    for _ in 0..4 {
        if last["finished"] == true {
            break;
        }
        let summary = run(&world, &indexer).await;
        last = entry(&summary, &scope).clone();
        assert_eq!(last["action"], "build", "{summary}");
        pages += last["pages"].as_u64().unwrap();
    }
    world.kvcore().set_latency(Duration::ZERO);
    assert_eq!(last["finished"], true, "{last}");
    assert_eq!(pages, 3, "each page read once across the runs");
    assert_eq!(last["contacts_read"], 1200);
    assert_eq!(last["contacts_indexed"], 1200, "nothing lost");

    for (i, phone) in [(0, "(305) 555-2000"), (1199, "(305) 555-3199")] {
        let answer = world.send("wf", &phone_only("Found", phone)).await;
        assert_eq!(answer.result()["matched_by"], "phone", "{answer:?}");
        assert_eq!(answer.result()["contact_id"], ids[i]);
    }
}

#[tokio::test]
async fn the_cli_builds_an_index_and_shows_its_status() {
    let world = World::start().await;
    world.kvcore().insert_contacts(
        (0..3)
            .map(|i| json!({"cell_phone_1": format!("(239) 555-01{i:02}")}))
            .collect(),
    );
    world.workflow("wf", json!({})).await;

    let (ok, out, err) = kvsync_cli(&world.stack, &["index", "status", "wf"]).await;
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("scope        {}", scope_of(&world, "wf"))),
        "{out}"
    );
    assert!(out.contains("not built yet"), "{out}");

    let (ok, out, err) = kvsync_cli(&world.stack, &["index", "build", "wf"]).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("built: 3 contacts indexed, 3 contacts read in 1 pages"),
        "{out}"
    );

    let (ok, out, err) = kvsync_cli(&world.stack, &["index", "status", "wf"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("3 indexed by the last full build"), "{out}");
    assert!(out.contains("none in progress"), "{out}");
    assert!(out.contains(" ago)"), "ages in human terms: {out}");

    let answer = world.send("wf", &phone_only("Al", "239 555 0102")).await;
    assert_eq!(answer.result()["matched_by"], "phone", "{answer:?}");

    let (ok, _, err) = kvsync_cli(&world.stack, &["index", "build", "nope"]).await;
    assert!(!ok);
    assert!(err.contains("no workflow 'nope'"), "{err}");
}
