//! Exactly one contact, nothing lost (SPEC sections 4, 6 and 8): duplicate
//! deliveries, concurrent events for one person on separate function
//! processes while kvCORE's search lags, outages of kvCORE and DynamoDB,
//! records, replay and usage.

use std::time::Duration;

use kvcore_fake::{FakeConfig, Fault};
use kvsync_devstack::StackOptions;
use kvsync_e2e::{Cable, World, event, json, kvsync_cli};

/// kvCORE without its own duplicate check and with a 30 s search lag: only
/// kvsync stands between concurrent events and a duplicate.
fn lagging_kvcore() -> FakeConfig {
    FakeConfig {
        search_lag: Duration::from_secs(30),
        duplicates: kvcore_fake::DuplicatePolicy::Accept,
        ..FakeConfig::default()
    }
}

#[tokio::test]
async fn the_same_delivery_twice_is_answered_from_its_record() {
    let world = World::start().await;
    world.workflow("dup", json!({})).await;
    let body = event(json!({"email": "dan@example.com", "first_name": "Dan"}));
    let headers = world.signed("dup", "msg_dup_1", &body).await;

    let first = world.send_to(&world.function, "dup", &headers, &body).await;
    assert_eq!(first.result()["outcome"], "created");
    world.kvcore().clear_requests();

    let headers = world.signed("dup", "msg_dup_1", &body).await;
    let second = world.send_to(&world.function, "dup", &headers, &body).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body["duplicate"], true);
    assert_eq!(second.body["results"], first.body["results"]);
    assert!(
        world.kvcore().requests().is_empty(),
        "no kvCORE request for a duplicate"
    );
}

#[tokio::test]
async fn the_same_event_at_once_answers_one_409() {
    let world = World::start().await;
    world.workflow("same-time", json!({})).await;
    let other = world.stack.spawn_function().await.unwrap();
    // The first invocation is slow at kvCORE, so the second arrives meanwhile.
    world
        .kvcore()
        .push_fault(Fault::Delay(Duration::from_millis(1500)));
    let body = event(json!({"email": "eli@example.com"}));
    let headers = world.signed("same-time", "msg_same_1", &body).await;

    let (a, b) = tokio::join!(
        world.send_to(&world.function, "same-time", &headers, &body),
        async {
            // Once the first holds the event (its kvCORE request has
            // arrived and waits out the delay), the second comes.
            let waited = std::time::Instant::now();
            while world.kvcore().requests().is_empty() {
                assert!(
                    waited.elapsed() < Duration::from_secs(10),
                    "the first never reached kvCORE"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            world.send_to(&other, "same-time", &headers, &body).await
        }
    );
    assert_eq!((a.status, b.status), (200, 409), "{a:?} {b:?}");
    assert_eq!(b.error_code(), "in_progress");
    assert_eq!(world.contacts_with_email("eli@example.com"), 1);
}

/// Several different events for one new person at once, each on its own
/// function process, round after round: one contact every round.
async fn concurrent_rounds(at_once: usize, rounds: usize) {
    let world = World::start_with(lagging_kvcore()).await;
    world.workflow("race", json!({})).await;
    world.index_phones().await;
    let mut functions = Vec::new();
    for _ in 1..at_once {
        functions.push(world.stack.spawn_function().await.unwrap());
    }
    let functions: Vec<_> = std::iter::once(&world.function)
        .chain(functions.iter())
        .collect();

    let world = &world;
    for round in 0..rounds {
        let email = format!("racer{round}@example.com");
        let mut sends = Vec::new();
        for (i, function) in functions.iter().enumerate() {
            let body = json!({
                "event_type": if i == 0 { "contact.created" } else { "contact.updated" },
                "contact": {"email": email, "first_name": format!("Racer{i}"),
                            "phones": [{"number": format!("239-555-{:04}", round), "type": "mobile"}]}
            });
            let headers = world
                .signed("race", &format!("msg_r{round}_{i}"), &body)
                .await;
            sends.push(async move { world.send_to(function, "race", &headers, &body).await });
        }
        let answers = futures::future::join_all(sends).await;
        for answer in &answers {
            assert_eq!(answer.status, 200, "round {round}: {answer:?}");
        }
        let created = answers
            .iter()
            .filter(|a| a.result()["outcome"] == "created")
            .count();
        assert_eq!(
            created, 1,
            "round {round}: one create, the rest updates or unchanged"
        );
        assert_eq!(
            world.contacts_with_email(&email),
            1,
            "round {round}: exactly one contact"
        );
    }
}

#[tokio::test]
async fn two_events_at_once_for_a_new_person_make_one_contact_every_round() {
    concurrent_rounds(2, 20).await;
}

#[tokio::test]
async fn five_events_at_once_for_a_new_person_make_one_contact_every_round() {
    concurrent_rounds(5, 20).await;
}

#[tokio::test]
async fn a_kvcore_outage_is_recorded_and_the_retry_succeeds_once() {
    let world = World::start().await;
    world.workflow("outage", json!({})).await;
    world
        .kvcore()
        .set_persistent_fault(Some(Fault::Status(500)));
    let body = event(json!({"email": "fran@example.com"}));

    let headers = world.signed("outage", "msg_outage_1", &body).await;
    let failed = world
        .send_to(&world.function, "outage", &headers, &body)
        .await;
    assert_eq!(
        (failed.status, failed.error_code()),
        (503, "kvcore_unavailable")
    );
    let (ok, listed, _) = kvsync_cli(&world.stack, &["failed", "outage"]).await;
    assert!(
        ok && listed.contains("msg_outage_1") && listed.contains("kvcore_unavailable"),
        "{listed}"
    );

    world.kvcore().set_persistent_fault(None);
    let headers = world.signed("outage", "msg_outage_1", &body).await;
    let retried = world
        .send_to(&world.function, "outage", &headers, &body)
        .await;
    assert_eq!(retried.result()["outcome"], "created");
    assert_eq!(retried.body["duplicate"], false);
    assert_eq!(world.contacts_with_email("fran@example.com"), 1);
}

#[tokio::test]
async fn an_unreachable_dynamodb_answers_503_and_writes_nothing_to_kvcore() {
    let moto = kvsync_devstack::stack::moto_url_from_env().expect("MOTO_URL");
    let cable = Cable::to(&moto).await;
    let world = World::start_with_options(StackOptions {
        extra_env: vec![("AWS_ENDPOINT_URL".into(), cable.url.clone())],
        ..StackOptions::default()
    })
    .await;
    world.workflow("ddb", json!({})).await;
    // Warm: settings and secrets are cached, as in a busy container.
    let warm = world
        .send("ddb", &event(json!({"email": "warm@example.com"})))
        .await;
    assert_eq!(warm.result()["outcome"], "created");
    world.kvcore().clear_requests();

    cable.cut();
    let body = event(json!({"email": "gil@example.com"}));
    let headers = world.signed("ddb", "msg_ddb_1", &body).await;
    let answer = world.send_to(&world.function, "ddb", &headers, &body).await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (503, "aws_unavailable"),
        "{answer:?}"
    );
    assert!(
        world.kvcore().requests().is_empty(),
        "nothing reached kvCORE"
    );

    cable.mend();
    let headers = world.signed("ddb", "msg_ddb_1", &body).await;
    let retried = world.send_to(&world.function, "ddb", &headers, &body).await;
    assert_eq!(retried.result()["outcome"], "created");
    assert_eq!(world.contacts_with_email("gil@example.com"), 1);
}

#[tokio::test]
async fn the_operator_replays_failed_events_once_and_sees_history_and_usage() {
    let world = World::start().await;
    world.workflow("ops", json!({})).await;
    world
        .kvcore()
        .set_persistent_fault(Some(Fault::Status(502)));
    let body = event(json!({"email": "hana@example.com"}));
    let headers = world.signed("ops", "msg_ops_1", &body).await;
    assert_eq!(
        world
            .send_to(&world.function, "ops", &headers, &body)
            .await
            .status,
        503
    );
    world.kvcore().set_persistent_fault(None);

    let (ok, out, err) = kvsync_cli(&world.stack, &["replay", "ops", "--failed"]).await;
    assert!(ok, "{out}\n{err}");
    let answer: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(answer["event_id"], "msg_ops_1");
    assert_eq!(answer["results"][0]["outcome"], "created");
    assert_eq!(world.contacts_with_email("hana@example.com"), 1);

    world.kvcore().clear_requests();
    let (ok, out, _) = kvsync_cli(&world.stack, &["replay", "ops", "msg_ops_1"]).await;
    assert!(ok);
    let again: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        again["duplicate"], true,
        "a succeeded event changes nothing"
    );
    assert!(world.kvcore().requests().is_empty());

    let (_, failed, _) = kvsync_cli(&world.stack, &["failed", "ops"]).await;
    assert!(failed.contains("no failed events"), "{failed}");
    let (_, history, _) = kvsync_cli(&world.stack, &["history", "ops"]).await;
    assert!(
        history.contains("msg_ops_1") && history.contains("created #"),
        "{history}"
    );
    let (_, usage, _) = kvsync_cli(&world.stack, &["usage", "ops"]).await;
    let month_line = usage.lines().nth(1).unwrap_or_default();
    let counts: Vec<&str> = month_line.split_whitespace().collect();
    assert_eq!(
        counts[1..],
        ["1", "0", "0", "0", "1"],
        "created 1, failed 1: {usage}"
    );
}

#[tokio::test]
async fn an_older_change_than_one_applied_is_stale() {
    let world = World::start().await;
    world.workflow("order", json!({})).await;
    let newer = json!({"occurred_at": "2026-11-28T12:00:00Z",
                       "contact": {"email": "ida@example.com", "first_name": "Ida"}});
    let older = json!({"occurred_at": "2026-11-28T11:00:00Z",
                       "contact": {"email": "ida@example.com", "first_name": "Idabelle"}});
    assert_eq!(
        world.send("order", &newer).await.result()["outcome"],
        "created"
    );
    let stale = world.send("order", &older).await;
    assert_eq!(stale.result()["outcome"], "skipped");
    assert_eq!(stale.result()["reason"], "stale_event");
    assert_eq!(world.kvcore().contacts()[0]["first_name"], "Ida");
    let undated = world
        .send(
            "order",
            &event(json!({"email": "ida@example.com", "first_name": "Ida B."})),
        )
        .await;
    assert_eq!(
        undated.result()["outcome"],
        "updated",
        "an event without a change time is applied"
    );
}
