//! The kvcore-indexer Lambda (SPEC sections 1 and 9): on an EventBridge
//! schedule, builds and refreshes the phone index of every scope that
//! enabled workflows use. Builds its clients once per container, then hands
//! each scheduled event to `handler`.

mod handler;

use kvsync::adapters::kvcore::{DEFAULT_BASE_URL, Kvcore};
use kvsync::adapters::secrets::Secrets;
use kvsync::adapters::store::{PacingStore, PhoneIndexStore, Workflows};
use kvsync::flows::indexer::Indexer;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    kvsync::logging::init();
    // EMF lines on stdout: KvcoreTokenDaysLeft (template.yaml alarms on it).
    kvsync::adapters::metrics::enable();

    let indexer = indexer_from_env().await?;
    let indexer = &indexer;
    run(service_fn(move |event: LambdaEvent<Value>| {
        handler::handle(indexer, event)
    }))
    .await
}

/// The clients, from the environment template.yaml gives the function
/// (SPEC section 2). `AWS_ENDPOINT_URL`, when set, is honoured by aws-config.
async fn indexer_from_env() -> Result<Indexer, String> {
    let env = |name: &str| {
        std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
    };
    let aws = aws_config::load_from_env().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let kvcore_base =
        std::env::var("KVCORE_BASE_URL").unwrap_or_else(|_| DEFAULT_BASE_URL.to_string());
    Ok(Indexer {
        workflows: Workflows::new(dynamodb.clone(), env("WORKFLOWS_TABLE")?),
        pacing: std::env::var("PACING_TABLE")
            .ok()
            .filter(|table| !table.trim().is_empty())
            .map(|table| PacingStore::new(dynamodb.clone(), table)),
        phone_index: PhoneIndexStore::new(dynamodb, env("PHONE_INDEX_TABLE")?),
        secrets: Secrets::new(aws_sdk_secretsmanager::Client::new(&aws)),
        kvcore: Kvcore::new(&kvcore_base).map_err(|e| e.to_string())?,
    })
}
