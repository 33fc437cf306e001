//! The health-check Lambda (SPEC sections 1 and 14): on a daily
//! EventBridge schedule, runs every `kvsync doctor` check over every
//! enabled workflow and publishes one EMF metric per workflow and problem
//! kind, which template.yaml alarms on. Builds its clients once per
//! container, then hands each scheduled event to `handler`.

mod handler;

use kvsync::adapters::followupboss::{self, FollowUpBoss};
use kvsync::adapters::google::{DEFAULT_PEOPLE_BASE_URL, DEFAULT_TOKEN_URL, Google};
use kvsync::adapters::kvcore::{self, Kvcore};
use kvsync::adapters::secrets::Secrets;
use kvsync::adapters::store::{
    DEFAULT_RETENTION_DAYS, GoogleSyncStore, Ledger, PhoneIndexStore, Workflows,
};
use kvsync::flows::health::SystemSetting;
use kvsync::flows::services::Services;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

/// What a container keeps for all its runs.
pub struct Clients {
    pub services: Services,
    pub google: Google,
    pub google_sync: GoogleSyncStore,
    pub microsoft_sync: GoogleSyncStore,
    pub followupboss_system: SystemSetting,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    kvsync::logging::init();
    // EMF lines on stdout: one Health* metric per workflow and problem kind.
    kvsync::adapters::metrics::enable();

    let clients = clients_from_env().await?;
    let clients = &clients;
    run(service_fn(move |event: LambdaEvent<Value>| {
        handler::handle(clients, event)
    }))
    .await
}

/// The clients, from the environment template.yaml gives the function
/// (SPEC section 2). `AWS_ENDPOINT_URL`, when set, is honoured by aws-config.
async fn clients_from_env() -> Result<Clients, String> {
    let env = |name: &str| {
        std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
    };
    let aws = aws_config::load_from_env().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let services = Services {
        // The health check only reads: it queues nothing, and makes one
        // kvCORE request per workflow a day (unpaced).
        queue: None,
        dead_letters: None,
        pacing: None,
        workflows: Workflows::new(dynamodb.clone(), env("WORKFLOWS_TABLE")?),
        secrets: Secrets::new(aws_sdk_secretsmanager::Client::new(&aws)),
        kvcore: Kvcore::new(
            &std::env::var("KVCORE_BASE_URL").unwrap_or_else(|_| kvcore::DEFAULT_BASE_URL.into()),
        )
        .map_err(|e| e.to_string())?,
        followupboss: FollowUpBoss::new(
            &std::env::var("FOLLOWUPBOSS_BASE_URL")
                .unwrap_or_else(|_| followupboss::DEFAULT_BASE_URL.into()),
        )
        .map_err(|e| e.to_string())?,
        phone_index: PhoneIndexStore::new(dynamodb.clone(), env("PHONE_INDEX_TABLE")?),
        // Records are only read here, so their retention does not matter.
        ledger: Ledger::new(
            dynamodb.clone(),
            env("EVENTS_TABLE")?,
            env("PERSONS_TABLE")?,
            DEFAULT_RETENTION_DAYS,
        ),
    };
    // Only the token endpoint is used (a refresh proves the grant).
    let google = Google::new(
        DEFAULT_PEOPLE_BASE_URL,
        &std::env::var("GOOGLE_OAUTH_TOKEN_URL").unwrap_or_else(|_| DEFAULT_TOKEN_URL.into()),
    )
    .map_err(|e| e.to_string())?;
    let google_sync = GoogleSyncStore::new(dynamodb.clone(), env("GOOGLE_SYNC_TABLE")?);
    let microsoft_sync = GoogleSyncStore::new(dynamodb, env("MICROSOFT_SYNC_TABLE")?);
    // The system's key is a secret: never an environment variable. A
    // `followupboss`-auth workflow's webhook_secret holds it.
    let followupboss_system = SystemSetting {
        name: std::env::var("FOLLOWUPBOSS_SYSTEM").ok(),
        key: None,
    };
    Ok(Clients {
        services,
        google,
        google_sync,
        microsoft_sync,
        followupboss_system,
    })
}
