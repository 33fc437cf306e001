//! The clients a polling function (google-poller, microsoft-poller) keeps
//! for its container, built once from the environment template.yaml gives
//! it (SPEC sections 2, 10, 11 and 15). The template test reads this file
//! as part of each poller (tests/e2e/tests/template_matches_code.rs).

use aws_config::SdkConfig;

use crate::adapters::followupboss::{self, FollowUpBoss};
use crate::adapters::kvcore::{DEFAULT_BASE_URL, Kvcore};
use crate::adapters::secrets::Secrets;
use crate::adapters::store::{
    DEFAULT_RETENTION_DAYS, GoogleSyncStore, Ledger, PacingStore, PhoneIndexStore, Workflows,
};
use crate::flows::Services;

/// An environment variable the template sets, or an error naming it.
pub fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
}

/// A poller's [`Services`] and its sync-state store over the table named by
/// the variable `sync_table_variable` (`GOOGLE_SYNC_TABLE`, `MICROSOFT_SYNC_TABLE`: the
/// two tables share one item shape: one item per workflow (lease,
/// `reconnect_needed`, last run) and one per stream (token or delta link,
/// cursor)). Reads `WORKFLOWS_TABLE`, `EVENTS_TABLE`, `PERSONS_TABLE`,
/// `PHONE_INDEX_TABLE`, `PACING_TABLE`, and optionally `KVCORE_BASE_URL`
/// and `RECORD_RETENTION_DAYS` (whole days); an error names the variable.
pub fn from_env(
    sync_table_variable: &str,
    aws: &SdkConfig,
) -> Result<(Services, GoogleSyncStore), String> {
    let dynamodb = aws_sdk_dynamodb::Client::new(aws);
    let retention_days = match std::env::var("RECORD_RETENTION_DAYS") {
        Ok(days) => days.trim().parse().map_err(|_| {
            format!("RECORD_RETENTION_DAYS must be a whole number of days, found {days:?}")
        })?,
        Err(_) => DEFAULT_RETENTION_DAYS,
    };
    let services = Services {
        // A poller queues nothing (each person is synced in process). It
        // paces kvCORE per token with every other function on the token
        // through the pacing table (SPEC section 11).
        queue: None,
        dead_letters: None,
        pacing: Some(PacingStore::new(dynamodb.clone(), env("PACING_TABLE")?)),
        workflows: Workflows::new(dynamodb.clone(), env("WORKFLOWS_TABLE")?),
        secrets: Secrets::new(aws_sdk_secretsmanager::Client::new(aws)),
        kvcore: Kvcore::new(
            &std::env::var("KVCORE_BASE_URL").unwrap_or_else(|_| DEFAULT_BASE_URL.into()),
        )
        .map_err(|e| e.to_string())?,
        // A polled person never names a Follow Up Boss person, so this
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
    let sync_state = GoogleSyncStore::new(dynamodb, env(sync_table_variable)?);
    Ok((services, sync_state))
}
