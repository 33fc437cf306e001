//! The clients one warm container keeps for all its invocations, built once
//! from the environment (SPEC section 2) by the webhook and the CLI alike.

use aws_config::SdkConfig;

use crate::adapters::followupboss::{self, FollowUpBoss};
use crate::adapters::kvcore::{DEFAULT_BASE_URL, Kvcore};
use crate::adapters::queue::Queue;
use crate::adapters::secrets::Secrets;
use crate::adapters::store::{
    DEFAULT_RETENTION_DAYS, Ledger, PacingStore, PhoneIndexStore, Workflows,
};

pub struct Services {
    pub workflows: Workflows,
    pub secrets: Secrets,
    pub kvcore: Kvcore,
    pub ledger: Ledger,
    pub followupboss: FollowUpBoss,
    /// The phone index (SPEC section 9).
    pub phone_index: PhoneIndexStore,
    /// The sync queue (`SYNC_QUEUE_URL`, SPEC section 11); `None` where the
    /// function is given none (then a `queued` workflow is misconfigured).
    pub queue: Option<Queue>,
    /// The sync queue's dead-letter queue (`SYNC_DLQ_URL`), for the
    /// operator's `kvsync replay --dlq`; the functions are not given it.
    pub dead_letters: Option<Queue>,
    /// The shared kvCORE pacing table (`PACING_TABLE`, SPEC section 11);
    /// `None`: requests are paced per process.
    pub pacing: Option<PacingStore>,
}

/// The tables the clients use (SPEC section 2): from the environment in a
/// function, from the stack's outputs in the CLI.
pub struct Tables {
    pub workflows: String,
    pub events: String,
    pub persons: String,
    pub phone_index: String,
}

impl Tables {
    /// `WORKFLOWS_TABLE`, `EVENTS_TABLE`, `PERSONS_TABLE`,
    /// `PHONE_INDEX_TABLE`; an error names the one not set.
    pub fn from_env() -> Result<Tables, String> {
        let env = |name: &str| {
            std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
        };
        Ok(Tables {
            workflows: env("WORKFLOWS_TABLE")?,
            events: env("EVENTS_TABLE")?,
            persons: env("PERSONS_TABLE")?,
            phone_index: env("PHONE_INDEX_TABLE")?,
        })
    }
}

impl Services {
    /// A function's clients: the tables from the environment, then as
    /// [`Services::new`]. `AWS_ENDPOINT_URL`, when set, is honoured by
    /// aws-config.
    pub async fn from_env() -> Result<Services, String> {
        let aws = aws_config::load_from_env().await;
        Services::new(&aws, Tables::from_env()?)
    }

    /// The clients over `aws` for `tables`. `KVCORE_BASE_URL`,
    /// `FOLLOWUPBOSS_BASE_URL` and `RECORD_RETENTION_DAYS` (a whole number
    /// of days) come from the environment, and so do the optional
    /// `SYNC_QUEUE_URL`, `SYNC_DLQ_URL` and `PACING_TABLE` (SPEC section
    /// 11), each set only where template.yaml (or the operator) gives it.
    pub fn new(aws: &SdkConfig, tables: Tables) -> Result<Services, String> {
        let dynamodb = aws_sdk_dynamodb::Client::new(aws);
        let kvcore_base =
            std::env::var("KVCORE_BASE_URL").unwrap_or_else(|_| DEFAULT_BASE_URL.to_string());
        let followupboss_base = std::env::var("FOLLOWUPBOSS_BASE_URL")
            .unwrap_or_else(|_| followupboss::DEFAULT_BASE_URL.to_string());
        let retention_days = match std::env::var("RECORD_RETENTION_DAYS") {
            Ok(days) => days.trim().parse().map_err(|_| {
                format!("RECORD_RETENTION_DAYS must be a whole number of days, found {days:?}")
            })?,
            Err(_) => DEFAULT_RETENTION_DAYS,
        };
        // Each read with its name spelled out, so the test that holds the
        // code against template.yaml sees it (tests/e2e/tests/template_matches_code.rs).
        let optional =
            |value: Result<String, std::env::VarError>| value.ok().filter(|v| !v.trim().is_empty());
        let sqs = aws_sdk_sqs::Client::new(aws);
        let queue =
            optional(std::env::var("SYNC_QUEUE_URL")).map(|url| Queue::new(sqs.clone(), url));
        let dead_letters = optional(std::env::var("SYNC_DLQ_URL")).map(|url| Queue::new(sqs, url));
        let pacing = optional(std::env::var("PACING_TABLE"))
            .map(|table| PacingStore::new(dynamodb.clone(), table));
        Ok(Services {
            queue,
            dead_letters,
            pacing,
            workflows: Workflows::new(dynamodb.clone(), tables.workflows),
            secrets: Secrets::new(aws_sdk_secretsmanager::Client::new(aws)),
            kvcore: Kvcore::new(&kvcore_base).map_err(|e| e.to_string())?,
            followupboss: FollowUpBoss::new(&followupboss_base).map_err(|e| e.to_string())?,
            phone_index: PhoneIndexStore::new(dynamodb.clone(), tables.phone_index),
            ledger: Ledger::new(dynamodb, tables.events, tables.persons, retention_days),
        })
    }
}
