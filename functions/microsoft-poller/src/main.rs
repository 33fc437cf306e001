//! The microsoft-poller Lambda (SPEC sections 1 and 15): on an EventBridge
//! schedule, syncs what changed in the Outlook contacts of every
//! `microsoft` workflow into kvCORE. Builds its clients once per container,
//! then hands each scheduled event to `handler`.

mod handler;

use kvsync::adapters::followupboss::{self, FollowUpBoss};
use kvsync::adapters::kvcore::{DEFAULT_BASE_URL, Kvcore};
use kvsync::adapters::microsoft::{DEFAULT_GRAPH_BASE_URL, DEFAULT_TOKEN_URL, Microsoft};
use kvsync::adapters::secrets::Secrets;
use kvsync::adapters::store::{
    DEFAULT_RETENTION_DAYS, GoogleSyncStore, Ledger, PacingStore, PhoneIndexStore, Workflows,
};
use kvsync::flows::microsoft_poll::MicrosoftPoller;
use kvsync::flows::services::Services;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

// One thread, as the webhook's: Lambda runs one invocation at a time per
// process, and the concurrent requests of a batch or a page are I/O; the
// multi-threaded scheduler's hand-offs cost CPU (issue 22).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    kvsync::logging::init();
    kvsync::adapters::metrics::enable();

    let poller = poller_from_env().await?;
    let poller = &poller;
    run(service_fn(move |event: LambdaEvent<Value>| {
        handler::handle(poller, event)
    }))
    .await
}

/// The clients, from the environment template.yaml gives the function
/// (SPEC sections 2 and 15). `AWS_ENDPOINT_URL`, when set, is honoured by
/// aws-config.
async fn poller_from_env() -> Result<MicrosoftPoller, String> {
    let env = |name: &str| {
        std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
    };
    let aws = aws_config::load_from_env().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let retention_days = match std::env::var("RECORD_RETENTION_DAYS") {
        Ok(days) => days.trim().parse().map_err(|_| {
            format!("RECORD_RETENTION_DAYS must be a whole number of days, found {days:?}")
        })?,
        Err(_) => DEFAULT_RETENTION_DAYS,
    };
    let services = Services {
        // The poller queues nothing (each person is synced in process); it
        // paces kvCORE per token through the pacing table (SPEC section 11).
        queue: None,
        dead_letters: None,
        pacing: Some(PacingStore::new(dynamodb.clone(), env("PACING_TABLE")?)),
        workflows: Workflows::new(dynamodb.clone(), env("WORKFLOWS_TABLE")?),
        secrets: Secrets::new(aws_sdk_secretsmanager::Client::new(&aws)),
        kvcore: Kvcore::new(
            &std::env::var("KVCORE_BASE_URL").unwrap_or_else(|_| DEFAULT_BASE_URL.into()),
        )
        .map_err(|e| e.to_string())?,
        // A Graph contact never names a Follow Up Boss person, so this
        // client is never called; `Services` carries one for every flow.
        followupboss: FollowUpBoss::new(followupboss::DEFAULT_BASE_URL)
            .map_err(|e| e.to_string())?,
        phone_index: PhoneIndexStore::new(dynamodb.clone(), env("PHONE_INDEX_TABLE")?),
        ledger: Ledger::new(
            dynamodb.clone(),
            env("EVENTS_TABLE")?,
            env("PERSONS_TABLE")?,
            retention_days,
        ),
    };
    let microsoft = Microsoft::new(
        &std::env::var("MICROSOFT_GRAPH_BASE_URL")
            .unwrap_or_else(|_| DEFAULT_GRAPH_BASE_URL.into()),
        &std::env::var("MICROSOFT_TOKEN_URL").unwrap_or_else(|_| DEFAULT_TOKEN_URL.into()),
    )
    .map_err(|e| e.to_string())?;
    // The Microsoft sync table has the Google sync table's item shape: one
    // item per workflow (lease, reconnect_needed, last run) and one per
    // contact folder (`{workflow_id}#{folder_id}`: delta link, cursor).
    let sync_state = GoogleSyncStore::new(dynamodb, env("MICROSOFT_SYNC_TABLE")?);
    Ok(MicrosoftPoller::new(services, microsoft, sync_state))
}
