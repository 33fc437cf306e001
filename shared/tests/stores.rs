//! The DynamoDB and Secrets Manager adapters against moto_server, with
//! tables created from template.yaml. `make test` sets MOTO_URL.

use std::collections::BTreeMap;

use kvsync::adapters::kvcore::Pacer;
use kvsync::adapters::secrets::{SecretError, Secrets};
use kvsync::adapters::store::{Claim, Ending, Ledger, PacingStore, WorkflowError, Workflows};
use kvsync::domain::settings::Source;
use kvsync_devstack::{aws, stack};
use serde_json::json;

struct Moto {
    dynamodb: aws_sdk_dynamodb::Client,
    secrets: aws_sdk_secretsmanager::Client,
    tables: BTreeMap<String, String>,
}

async fn moto() -> Moto {
    let (config, tables, _) = stack::fresh_tables()
        .await
        .expect("tables from template.yaml on moto_server");
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    Moto {
        secrets: aws_sdk_secretsmanager::Client::new(&config),
        dynamodb,
        tables,
    }
}

impl Moto {
    fn workflows(&self) -> Workflows {
        Workflows::new(
            self.dynamodb.clone(),
            self.tables["WORKFLOWS_TABLE"].clone(),
        )
    }

    async fn put(&self, item: serde_json::Value) {
        aws::put_item_json(&self.dynamodb, &self.tables["WORKFLOWS_TABLE"], &item)
            .await
            .expect("put item");
    }
}

impl Moto {
    fn ledger(&self) -> Ledger {
        Ledger::new(
            self.dynamodb.clone(),
            self.tables["EVENTS_TABLE"].clone(),
            self.tables["PERSONS_TABLE"].clone(),
            30,
        )
    }
}

fn item(id: &str) -> serde_json::Value {
    json!({
        "workflow_id": {"S": id},
        "source": {"S": "generic"},
        "agent_ids": {"NS": ["7", "9"]},
        "kvcore_token_secret": {"S": "kvsync/x/kvcore"},
        "webhook_secret": {"S": "kvsync/x/webhook"},
        "overwrite_exsting": {"BOOL": false}
    })
}

#[tokio::test]
async fn a_workflow_item_is_read_and_validated() {
    let moto = moto().await;
    moto.put(item("leads")).await;
    let settings = moto
        .workflows()
        .get("leads")
        .await
        .unwrap()
        .expect("the workflow");
    assert_eq!(settings.workflow_id, "leads");
    assert_eq!(settings.source, Source::Generic);
    assert_eq!(settings.agent_ids.len(), 2);
    assert!(
        settings.overwrite_existing,
        "the misspelt attribute is ignored, not applied"
    );
    assert!(moto.workflows().get("nobody").await.unwrap().is_none());
}

#[tokio::test]
async fn a_bad_item_names_the_attribute() {
    let moto = moto().await;
    let mut bad = item("bad");
    bad["enabled"] = json!({"S": "yes"});
    moto.put(bad).await;
    let error = moto.workflows().get("bad").await.unwrap_err();
    let WorkflowError::Invalid(error) = error else {
        panic!("expected a settings error, got {error:?}")
    };
    assert_eq!(error.attribute, "enabled");
    assert_eq!(error.found, "S \"yes\"");
}

#[tokio::test]
async fn settings_are_cached_for_the_warm_container() {
    let moto = moto().await;
    moto.put(item("cached")).await;
    let workflows = moto.workflows();
    assert!(workflows.get("cached").await.unwrap().unwrap().enabled);
    let mut disabled = item("cached");
    disabled["enabled"] = json!({"BOOL": false});
    moto.put(disabled).await;
    assert!(
        workflows.get("cached").await.unwrap().unwrap().enabled,
        "within 60 s the cached settings serve"
    );
    assert!(
        !moto
            .workflows()
            .get("cached")
            .await
            .unwrap()
            .unwrap()
            .enabled,
        "a cold container reads the edit"
    );
}

#[tokio::test]
async fn a_missing_table_is_unavailable_not_unknown() {
    let moto = moto().await;
    let workflows = Workflows::new(moto.dynamodb.clone(), "no-such-table".into());
    assert!(matches!(
        workflows.get("x").await,
        Err(WorkflowError::Unavailable(_))
    ));
}

#[tokio::test]
async fn secrets_are_read_and_missing_ones_named() {
    let moto = moto().await;
    let name = format!("{}kvsync/demo/token", stack::unique_prefix());
    aws::put_secret(&moto.secrets, &name, "s3cret")
        .await
        .unwrap();
    let secrets = Secrets::new(moto.secrets.clone());
    assert_eq!(&*secrets.get(&name).await.unwrap(), "s3cret");

    let missing = secrets.get("kvsync/nope").await.unwrap_err();
    assert!(
        matches!(&missing, SecretError::Unusable { id, .. } if id == "kvsync/nope"),
        "{missing:?}"
    );
    assert!(missing.to_string().contains("does not exist"));
}

#[tokio::test]
async fn a_claim_tells_a_retried_event_from_a_new_one() {
    let ledger = moto().await.ledger();
    let claim = |now: i64| ledger.claim_event("wf", "evt-1", "{}", now, now + 10_000);
    assert_eq!(claim(1_000).await.unwrap(), Claim::Claimed, "a new event");
    assert_eq!(
        claim(2_000).await.unwrap(),
        Claim::InProgress,
        "its lease still runs"
    );
    let failed = Ending::Failed {
        code: "kvcore_unavailable",
        message: "kvCORE answered 503",
    };
    ledger
        .finish("wf", "evt-1", failed, &[], 3_000)
        .await
        .unwrap();
    assert_eq!(
        claim(4_000).await.unwrap(),
        Claim::Reclaimed,
        "a failed event that comes again"
    );
    assert_eq!(
        claim(20_000).await.unwrap(),
        Claim::Reclaimed,
        "an abandoned attempt whose lease ran out"
    );
}

#[tokio::test]
async fn a_shared_pace_faster_than_its_table_still_gives_turns_and_stops_at_the_deadline() {
    let moto = moto().await;
    let store = PacingStore::new(moto.dynamodb.clone(), moto.tables["PACING_TABLE"].clone());
    // 100,000 requests a second: a turn every millisecond, shorter than a
    // round trip to the table. Each wait must still end with a turn.
    let pacer = Pacer::shared(store.clone(), "kvsync/fast-token", 100_000.0);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    for turn in 0..20 {
        assert!(pacer.wait(deadline).await.is_ok(), "turn {turn}");
    }
    // A deadline already past ends the wait, whatever the table says.
    let past = tokio::time::Instant::now();
    assert!(pacer.wait(past).await.is_err(), "no turn past the deadline");
}
