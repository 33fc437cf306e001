//! The webhook Lambda: builds its clients once per container, then serves
//! `POST /webhooks/{workflow_id}` deliveries through `handler`.

mod handler;

use kvsync::kvcore::{DEFAULT_BASE_URL, Kvcore};
use kvsync::secrets::Secrets;
use kvsync::store::{DEFAULT_RETENTION_DAYS, Ledger, Workflows};
use kvsync::sync::Services;
use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .init();

    let services = services().await?;
    let services = &services;
    run(service_fn(move |request| {
        handler::handle(services, request)
    }))
    .await
}

/// Everything that outlives one invocation. `AWS_ENDPOINT_URL`, when set,
/// is honoured by aws-config itself.
async fn services() -> Result<Services, Error> {
    let env = |name: &str| {
        std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
    };
    let aws = aws_config::load_from_env().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let kvcore_base =
        std::env::var("KVCORE_BASE_URL").unwrap_or_else(|_| DEFAULT_BASE_URL.to_string());
    let retention_days = match std::env::var("RECORD_RETENTION_DAYS") {
        Ok(days) => days.trim().parse().map_err(|_| {
            format!("RECORD_RETENTION_DAYS must be a number of days, found {days:?}")
        })?,
        Err(_) => DEFAULT_RETENTION_DAYS,
    };
    Ok(Services {
        workflows: Workflows::new(dynamodb.clone(), env("WORKFLOWS_TABLE")?),
        secrets: Secrets::new(aws_sdk_secretsmanager::Client::new(&aws)),
        kvcore: Kvcore::new(&kvcore_base)?,
        ledger: Ledger::new(
            dynamodb,
            env("EVENTS_TABLE")?,
            env("PERSONS_TABLE")?,
            retention_days,
        ),
    })
}
