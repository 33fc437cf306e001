//! The webhook's HTTP contract (SPEC section 4) through the built binary:
//! authentication, bad input, unknown workflows, misconfiguration, kvCORE
//! trouble, and what the logs never contain.

use base64::Engine;
use kvcore_fake::Fault;
use kvsync_devstack::signing;
use kvsync_e2e::{World, event, json};

fn body() -> Vec<u8> {
    serde_json::to_vec(&event(
        json!({"email": "ivy.ingram@example.com", "phones": [{"number": "239-555-0188"}]}),
    ))
    .unwrap()
}

async fn signed_headers(
    world: &World,
    workflow: &str,
    body: &[u8],
    timestamp: i64,
) -> Vec<(String, String)> {
    let secret_id = format!("{}kvsync/{workflow}/webhook-secret", world.stack.prefix());
    let secret = world.stack.secret_value(&secret_id).await.unwrap();
    signing::standard_webhook_headers(&secret, &signing::new_msg_id(), timestamp, body)
}

fn refs(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[tokio::test]
async fn a_signed_delivery_is_processed_and_names_its_event() {
    let world = World::start().await;
    world.workflow("std", json!({})).await;
    world.index_phones().await;
    let body = body();
    let headers = signed_headers(&world, "std", &body, signing::now_timestamp()).await;
    let answer = world.send_raw("std", &refs(&headers), "", &body).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let webhook_id = &headers.iter().find(|(k, _)| k == "webhook-id").unwrap().1;
    assert_eq!(answer.body["event_id"], json!(webhook_id));
    assert_eq!(answer.body["duplicate"], false);
    assert_eq!(answer.result()["outcome"], "created");
}

#[tokio::test]
async fn every_refused_signature_gets_the_same_401() {
    let world = World::start().await;
    world.workflow("sig", json!({})).await;
    let body = body();
    let now = signing::now_timestamp();

    let missing = world.send_raw("sig", &[], "", &body).await;
    let stale = signed_headers(&world, "sig", &body, now - 600).await;
    let stale = world.send_raw("sig", &refs(&stale), "", &body).await;
    let mut garbled = signed_headers(&world, "sig", &body, now).await;
    for (name, value) in &mut garbled {
        if name == "webhook-signature" {
            *value = format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode([7u8; 32])
            );
        }
    }
    let garbled = world.send_raw("sig", &refs(&garbled), "", &body).await;
    let other_key =
        signing::standard_webhook_headers(&signing::generate_whsec(), "msg_1", now, &body);
    let other_key = world.send_raw("sig", &refs(&other_key), "", &body).await;

    for answer in [&missing, &stale, &garbled, &other_key] {
        assert_eq!(answer.status, 401, "{answer:?}");
        assert_eq!(answer.body, missing.body, "identical bodies");
    }
    assert_eq!(missing.error_code(), "unauthorized");
    assert!(world.kvcore().requests().is_empty());
}

#[tokio::test]
async fn a_rotated_secret_is_accepted_with_either_signature() {
    let world = World::start().await;
    world.workflow("rot", json!({})).await;
    world.index_phones().await;
    let body = body();
    let now = signing::now_timestamp();
    let mut headers = signed_headers(&world, "rot", &body, now).await;
    let old_secret = signing::generate_whsec();
    let id = headers
        .iter()
        .find(|(k, _)| k == "webhook-id")
        .unwrap()
        .1
        .clone();
    let old = signing::standard_webhook_signature(&old_secret, &id, now, &body);
    for (name, value) in &mut headers {
        if name == "webhook-signature" {
            *value = format!("{old} {value}");
        }
    }
    assert_eq!(
        world
            .send_raw("rot", &refs(&headers), "", &body)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn token_auth_in_header_or_query() {
    let world = World::start().await;
    world.workflow("tok", json!({"auth": {"S": "token"}})).await;
    world.index_phones().await;
    let secret_id = format!("{}kvsync/tok/webhook-secret", world.stack.prefix());
    let token = "tok-3f9a1c";
    world.stack.put_secret(&secret_id, token).await.unwrap();
    let body = body();
    let header = world
        .send_raw("tok", &[("x-kvsync-token", token)], "", &body)
        .await;
    assert_eq!(header.status, 200, "{header:?}");
    let query = world
        .send_raw("tok", &[], &format!("token={token}"), &body)
        .await;
    assert_eq!(query.status, 200, "{query:?}");
    let wrong = world
        .send_raw("tok", &[("x-kvsync-token", "guess")], "", &body)
        .await;
    assert_eq!(wrong.status, 401);
}

#[tokio::test]
async fn a_base64_encoded_body_is_decoded() {
    let world = World::start().await;
    world.workflow("b64", json!({})).await;
    world.index_phones().await;
    let body = body();
    let headers = signed_headers(&world, "b64", &body, signing::now_timestamp()).await;
    let event = kvsync_devstack::http_api_event_base64(
        "POST",
        "/webhooks/b64",
        &[("workflow_id", "b64")],
        &refs(&headers),
        "",
        &body,
    );
    let result = world.function.invoke(event).await.unwrap();
    let response = kvsync_devstack::LambdaHttpResponse::from_invoke_result(result).unwrap();
    assert_eq!(response.status, 200, "{response:?}");
}

#[tokio::test]
async fn bad_payloads_are_400_naming_the_field() {
    let world = World::start().await;
    world.workflow("bad", json!({"auth": {"S": "token"}})).await;
    let secret_id = format!("{}kvsync/bad/webhook-secret", world.stack.prefix());
    let token = world.stack.secret_value(&secret_id).await.unwrap();
    let auth = [("x-kvsync-token", token.as_str())];
    let cases: [(&[u8], &str); 4] = [
        (b"{not json", "body"),
        (b"[]", "body"),
        (br#"{"event_id": "e1"}"#, "contact"),
        (
            br#"{"contact": {"phones": [{"type": "mobile"}]}}"#,
            "contact.phones[0].number",
        ),
    ];
    for (body, field) in cases {
        let answer = world.send_raw("bad", &auth, "", body).await;
        assert_eq!(answer.status, 400, "{answer:?}");
        assert_eq!(answer.error_code(), "invalid_payload");
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{message:?} names {field}");
    }
    assert!(world.kvcore().requests().is_empty());
}

#[tokio::test]
async fn an_unknown_workflow_is_404_and_a_huge_body_413() {
    let world = World::start().await;
    let answer = world.send_raw("nobody", &[], "", &body()).await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (404, "unknown_workflow")
    );

    world.workflow("big", json!({})).await;
    let huge = vec![b' '; 256 * 1024 + 1];
    let answer = world.send_raw("big", &[], "", &huge).await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (413, "payload_too_large")
    );
}

#[tokio::test]
async fn misconfigured_workflows_answer_503_naming_the_attribute() {
    let world = World::start().await;
    world
        .workflow(
            "modes-off",
            json!({"create_contacts": {"BOOL": false}, "update_contacts": {"BOOL": false}}),
        )
        .await;
    world
        .workflow("wrong-type", json!({"overwrite_existing": {"S": "no"}}))
        .await;
    world
        .workflow("no-secret-id", json!({"kvcore_token_secret": null}))
        .await;
    world
        .workflow(
            "no-secret",
            json!({"kvcore_token_secret": {"S": "kvsync/does-not-exist"}}),
        )
        .await;

    let cases = [
        ("modes-off", "'update_contacts'"),
        (
            "wrong-type",
            "'overwrite_existing' must be BOOL (true or false), found S \"no\"",
        ),
        ("no-secret", "'kvcore_token_secret'"),
        (
            "no-secret-id",
            "'kvcore_token_secret' must be a Secrets Manager secret id",
        ),
    ];
    for (workflow, expected) in cases {
        let answer = world
            .send(workflow, &serde_json::from_slice(&body()).unwrap())
            .await;
        assert_eq!(answer.status, 503, "{workflow}: {answer:?}");
        assert_eq!(answer.error_code(), "misconfigured_workflow");
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("workflow '{workflow}'")),
            "{message}"
        );
        assert!(message.contains(expected), "{message}");
    }
    assert!(
        world.kvcore().requests().is_empty(),
        "no kvCORE request for a misconfigured workflow"
    );
    // Refused before any event was claimed, yet counted for the alarm.
    let failed_deliveries = world
        .function
        .logs()
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["DeliveriesFailed"] == 1.0 && m["code"] == "misconfigured_workflow")
        .count();
    assert_eq!(
        failed_deliveries,
        cases.len(),
        "one DeliveriesFailed metric per 503"
    );
}

#[tokio::test]
async fn kvcore_rate_limits_are_waited_out_and_outages_answer_503() {
    let world = World::start().await;
    world.workflow("flaky", json!({})).await;
    world.kvcore().push_fault(Fault::RateLimited {
        retry_after_secs: 1,
    });
    let answer = world
        .send("flaky", &event(json!({"email": "jo@example.com"})))
        .await;
    assert_eq!(
        answer.result()["outcome"],
        "created",
        "429 once, then success in the same invocation"
    );

    world
        .kvcore()
        .set_persistent_fault(Some(Fault::Status(500)));
    let answer = world
        .send("flaky", &event(json!({"email": "kim@example.com"})))
        .await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (503, "kvcore_unavailable")
    );
    world.kvcore().set_persistent_fault(None);
    assert_eq!(world.kvcore().contacts().len(), 1);
}

#[tokio::test]
async fn logs_never_hold_secrets_tokens_or_full_emails_and_phones() {
    let world = World::start().await;
    world.workflow("quiet", json!({})).await;
    world.index_phones().await;
    world
        .send(
            "quiet",
            &event(
                json!({"email": "ivy.ingram@example.com", "phones": [{"number": "239-555-0188"}]}),
            ),
        )
        .await
        .result();
    let secret_id = format!("{}kvsync/quiet/webhook-secret", world.stack.prefix());
    let secret = world.stack.secret_value(&secret_id).await.unwrap();
    let logs = world.logs();
    assert!(
        logs.contains("person synced"),
        "the function logged: {logs}"
    );
    let metrics: Vec<serde_json::Value> = world
        .function
        .logs()
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line.get("_aws").is_some())
        .collect();
    let named = |name: &str| metrics.iter().any(|m| m.get(name).is_some());
    assert!(
        named("ColdStart") && named("PersonsSynced") && named("KvcoreRequests"),
        "EMF metrics in the log: {metrics:?}"
    );
    for needle in [
        "ivy.ingram",
        "2395550188",
        "555-0188",
        "kvcore-test-token",
        secret.trim_start_matches("whsec_"),
    ] {
        assert!(
            !logs.contains(needle),
            "the logs contain {needle:?}:\n{logs}"
        );
    }
}
