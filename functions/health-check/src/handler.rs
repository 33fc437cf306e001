//! The scheduled event → one health run (`kvsync::flows::health`) within
//! Lambda's deadline → its JSON summary, one entry per enabled workflow.

use std::time::Duration;

use kvsync::clock::now_ms;
use kvsync::flows::health::{Health, Summary};
use kvsync::flows::scheduled::{keep_margin, time_left};
use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use tokio::time::Instant;

use crate::Clients;

/// Time kept back from the invocation deadline, at most.
const DEADLINE_MARGIN: Duration = Duration::from_secs(10);
/// Without a Lambda context deadline (never in Lambda itself).
const DEFAULT_BUDGET: Duration = Duration::from_secs(300);

pub async fn handle(clients: &Clients, event: LambdaEvent<Value>) -> Result<Summary, Error> {
    let now = now_ms();
    let remaining = time_left(event.context.deadline, now, DEFAULT_BUDGET);
    let deadline = Instant::now() + keep_margin(remaining, DEADLINE_MARGIN);
    let health = Health {
        services: &clients.services,
        google: Some(&clients.google),
        google_sync: Some(&clients.google_sync),
        microsoft_sync: Some(&clients.microsoft_sync),
        followupboss_system: clients.followupboss_system.clone(),
        // A Follow Up Boss webhook counts when its URL ends in
        // `/webhooks/<workflow_id>` (the function is not told the API's URL).
        webhook_url: None,
        secret_names: Vec::new(),
        secrets_prefix: None,
        now_ms: now,
    };
    Ok(health.run(deadline).await?)
}
