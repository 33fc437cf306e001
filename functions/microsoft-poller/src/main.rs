//! The microsoft-poller Lambda (SPEC sections 1 and 15): on an EventBridge
//! schedule, syncs what changed in the Outlook contacts of every
//! `microsoft` workflow into kvCORE. Builds its clients once per container,
//! then hands each scheduled event to `handler`.

mod handler;

use kvsync::adapters::microsoft::{DEFAULT_GRAPH_BASE_URL, DEFAULT_TOKEN_URL, Microsoft};
use kvsync::flows::microsoft_poll::MicrosoftPoller;
use kvsync::flows::poller_services;
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
    let aws = aws_config::load_from_env().await;
    let (services, sync_state) = poller_services::from_env("MICROSOFT_SYNC_TABLE", &aws)?;
    let microsoft = Microsoft::new(
        &std::env::var("MICROSOFT_GRAPH_BASE_URL")
            .unwrap_or_else(|_| DEFAULT_GRAPH_BASE_URL.into()),
        &std::env::var("MICROSOFT_TOKEN_URL").unwrap_or_else(|_| DEFAULT_TOKEN_URL.into()),
    )
    .map_err(|e| e.to_string())?;
    Ok(MicrosoftPoller::new(services, microsoft, sync_state))
}
