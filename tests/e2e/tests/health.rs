//! Sync health that reaches people (SPEC section 14), end to end: the
//! built `health-check` run as its daily schedule would, over moto_server,
//! the kvCORE, Follow Up Boss and Google fakes, publishes one metric per
//! workflow and problem kind (an expiring token, a refused one, a Disabled
//! Follow Up Boss webhook, a revoked Google grant, failed events; zeros for
//! a healthy workflow); and `kvsync workflow token` stores only a token
//! kvCORE accepts.

use std::time::{SystemTime, UNIX_EPOCH};

use followupboss_fake::FakeFollowUpBoss;
use google_fake::FakeGoogle;
use kvcore_fake::{FakeConfig, Fault};
use kvsync_devstack::StackOptions;
use kvsync_devstack::stack::KVCORE_TEST_TOKEN;
use kvsync_e2e::{World, emf_records, event, json, kvsync_cli, kvsync_cli_stdin};
use serde_json::Value;

const DAY: i64 = 86_400;
const FUB_KEY: &str = "fub-health-key";
const FUB_SYSTEM: &str = "kvsync-health";

/// Every metric the health check publishes, one per problem kind.
const HEALTH_METRICS: [&str; 6] = [
    "HealthTokenExpiring",
    "HealthTokenRefused",
    "HealthGoogleReconnect",
    "HealthFollowUpBossWebhook",
    "HealthPhoneIndexStale",
    "HealthReplayWaiting",
];

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The health metrics one workflow published: metric → value.
fn published(records: &[Value], workflow_id: &str) -> Vec<(String, f64)> {
    let record = records
        .iter()
        .find(|r| r["workflow_id"] == workflow_id)
        .unwrap_or_else(|| panic!("a health record for {workflow_id}: {records:#?}"));
    let directive = &record["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "kvsync");
    assert_eq!(directive["Dimensions"], json!([["workflow_id"], []]));
    HEALTH_METRICS
        .iter()
        .map(|name| {
            let value = record[*name]
                .as_f64()
                .unwrap_or_else(|| panic!("{workflow_id} publishes {name}: {record}"));
            (name.to_string(), value)
        })
        .collect()
}

/// Exactly `problems` are 1 for the workflow, every other metric 0.
fn assert_problems(records: &[Value], workflow_id: &str, problems: &[&str]) {
    for (name, value) in published(records, workflow_id) {
        let expected = if problems.contains(&name.as_str()) {
            1.0
        } else {
            0.0
        };
        assert_eq!(value, expected, "{workflow_id}: {name}");
    }
}

#[tokio::test]
async fn the_daily_run_publishes_each_problem_of_each_workflow_and_zeros_when_healthy() {
    let expiring = kvcore_fake::token::jwt("expiring", now_s() + 10 * DAY);
    let refused = kvcore_fake::token::jwt("refused", now_s() + 200 * DAY);
    let fub = FakeFollowUpBoss::start(FUB_KEY).await.expect("FUB fake");
    let google = FakeGoogle::start(google_fake::FakeConfig::default())
        .await
        .expect("Google fake");
    let world = World::start_with_options(StackOptions {
        kvcore: FakeConfig {
            tokens: vec![KVCORE_TEST_TOKEN.to_string(), expiring.clone()],
            ..FakeConfig::default()
        },
        followupboss_base_url: Some(fub.base_url()),
        ..StackOptions::default()
    })
    .await;
    let stack = &world.stack;

    // healthy: the stack's working workflow.
    world.workflow("healthy", json!({})).await;
    // expiring: kvCORE accepts its token, which expires in 10 days.
    let seeded = stack.seed_workflow("expiring", json!({})).await.unwrap();
    stack
        .put_secret(&seeded.kvcore_token_secret, &expiring)
        .await
        .unwrap();
    // fub: both people webhooks registered, then Follow Up Boss disables one.
    let key_secret = stack.secret_name("kvsync/fub/api-key");
    stack.put_secret(&key_secret, FUB_KEY).await.unwrap();
    let seeded = stack
        .seed_workflow(
            "fub",
            json!({
                "source": {"S": "followupboss"},
                "auth": {"S": "followupboss"},
                "source_api_secret": {"S": key_secret},
            }),
        )
        .await
        .unwrap();
    fub.register_system(FUB_SYSTEM, &seeded.webhook_secret);
    let (ok, out, err) = kvsync_cli(
        stack,
        &[
            "followupboss",
            "subscribe",
            "fub",
            "--url",
            "https://hooks.example/webhooks/fub",
            "--system",
            FUB_SYSTEM,
        ],
    )
    .await;
    assert!(ok, "{out}{err}");
    let updated = fub
        .webhooks()
        .into_iter()
        .find(|w| w.event == "peopleUpdated")
        .expect("peopleUpdated registered");
    assert!(fub.disable_webhook(updated.id));
    // google: a polled workflow whose grant the user revoked.
    let (_, oauth_secret) = stack
        .seed_google_workflow("google", &google, json!({}))
        .await
        .unwrap();
    let grant: Value = serde_json::from_str(&stack.secret_value(&oauth_secret).await.unwrap())
        .expect("the grant's JSON");
    google.revoke_refresh_token(grant["refresh_token"].as_str().unwrap());
    // failed: an event that ended failed while kvCORE was down.
    world.workflow("failed", json!({})).await;
    world
        .kvcore()
        .set_persistent_fault(Some(Fault::Status(500)));
    let body = event(json!({"email": "gail@example.com"}));
    let headers = world.signed("failed", "msg_health_1", &body).await;
    let answer = world
        .send_to(&world.function, "failed", &headers, &body)
        .await;
    assert_eq!(answer.status, 503, "{answer:?}");
    world.kvcore().set_persistent_fault(None);
    // Every index built, as the scheduled indexer keeps them.
    world.index_phones().await;
    // refused: kvCORE does not accept its token (its index cannot be
    // built either, so it is stale too).
    let seeded = stack.seed_workflow("refused", json!({})).await.unwrap();
    stack
        .put_secret(&seeded.kvcore_token_secret, &refused)
        .await
        .unwrap();
    // A disabled workflow is not checked.
    world
        .workflow("off", json!({"enabled": {"BOOL": false}}))
        .await;

    let health = stack
        .spawn_health_check(
            Some(&google),
            &[("FOLLOWUPBOSS_SYSTEM".to_string(), FUB_SYSTEM.to_string())],
        )
        .await
        .expect("the health-check binary starts (HEALTH_CHECK_BIN)");
    let summary = stack.run_scheduled(&health).await.expect("it answers");
    let records = emf_records(&health.logs());

    assert_problems(&records, "healthy", &[]);
    assert_problems(&records, "expiring", &["HealthTokenExpiring"]);
    assert_problems(&records, "fub", &["HealthFollowUpBossWebhook"]);
    assert_problems(&records, "google", &["HealthGoogleReconnect"]);
    assert_problems(&records, "failed", &["HealthReplayWaiting"]);
    assert_problems(
        &records,
        "refused",
        &["HealthTokenRefused", "HealthPhoneIndexStale"],
    );
    assert!(
        !records.iter().any(|r| r["workflow_id"] == "off"),
        "a disabled workflow is not checked"
    );

    // The summary: one entry per enabled workflow, its problems and the
    // checks that are not ok, each with the command to run.
    let workflows = summary["workflows"].as_array().expect("workflows");
    assert_eq!(workflows.len(), 6, "{summary:#}");
    let of = |id: &str| {
        workflows
            .iter()
            .find(|w| w["workflow_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} in {summary:#}"))
    };
    assert_eq!(of("healthy")["problems"], json!([]));
    assert_eq!(of("fub")["problems"], json!(["follow_up_boss_webhook"]));
    let fub_check = of("fub")["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "Follow Up Boss webhooks")
        .cloned()
        .expect("the webhooks check");
    assert!(
        fub_check["detail"]
            .as_str()
            .unwrap()
            .contains("disabled by Follow Up Boss"),
        "{fub_check}"
    );
    let refused_check = of("refused")["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "kvCORE token")
        .cloned()
        .expect("the token check");
    assert_eq!(
        refused_check["action"],
        "make a new kvCORE token (Lead Engine → Lead Dropbox), then: kvsync workflow token refused"
    );
    let logs = health.logs().join("\n");
    for secret in [
        expiring.as_str(),
        refused.as_str(),
        FUB_KEY,
        KVCORE_TEST_TOKEN,
    ] {
        assert!(!logs.contains(secret), "a secret in the logs");
    }
}

#[tokio::test]
async fn workflow_token_stores_only_a_token_kvcore_accepts_and_says_what_waits() {
    let new_token = kvcore_fake::token::jwt("rotated", now_s() + 365 * DAY - 3_600);
    let world = World::start_with(FakeConfig {
        tokens: vec![KVCORE_TEST_TOKEN.to_string(), new_token.clone()],
        ..FakeConfig::default()
    })
    .await;
    let seeded = world
        .stack
        .seed_workflow("tok", json!({}))
        .await
        .expect("seeded");
    // One event failed while kvCORE was down.
    world
        .kvcore()
        .set_persistent_fault(Some(Fault::Status(500)));
    let body = event(json!({"email": "hal@example.com"}));
    let headers = world.signed("tok", "msg_tok_1", &body).await;
    let answer = world.send_to(&world.function, "tok", &headers, &body).await;
    assert_eq!(answer.status, 503, "{answer:?}");
    world.kvcore().set_persistent_fault(None);
    world.kvcore().clear_requests();

    // A token kvCORE refuses is not stored.
    let refused = kvcore_fake::token::jwt("stranger", now_s() + 300 * DAY);
    let (ok, out, err) = kvsync_cli_stdin(
        &world.stack,
        &["workflow", "token", "tok"],
        &[],
        &format!("{refused}\n"),
    )
    .await;
    assert!(!ok, "{out}{err}");
    assert!(
        err.contains("kvCORE refused this token (401); it was not stored"),
        "{err}"
    );
    assert!(!out.contains(&refused) && !err.contains(&refused));
    assert_eq!(
        world
            .stack
            .secret_value(&seeded.kvcore_token_secret)
            .await
            .unwrap(),
        KVCORE_TEST_TOKEN,
        "the old token stays"
    );

    // An accepted one is stored, with its expiry and what waits.
    let (ok, out, err) = kvsync_cli_stdin(
        &world.stack,
        &["workflow", "token", "tok"],
        &[],
        &format!("{new_token}\n"),
    )
    .await;
    assert!(ok, "{out}{err}");
    assert_eq!(
        world
            .stack
            .secret_value(&seeded.kvcore_token_secret)
            .await
            .unwrap(),
        new_token
    );
    assert!(out.contains("kvCORE accepted the token"), "{out}");
    assert!(out.contains("(364 days from now)"), "{out}");
    assert!(
        out.contains("1 failed event waits: kvsync replay tok --failed"),
        "{out}"
    );
    assert!(!out.contains(&new_token), "the token is never shown");
    let token_checks = world
        .kvcore()
        .requests()
        .into_iter()
        .filter(|r| r.is_list())
        .count();
    assert_eq!(token_checks, 2, "one read-only request per token tried");
}
