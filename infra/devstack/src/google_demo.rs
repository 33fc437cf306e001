//! The Google part of `make dev` (SPEC section 10): the Google fake on
//! loopback, a polled demo workflow `demo-google`, and the google-poller
//! run on a short timer, as its EventBridge schedule runs it in AWS.

use std::net::SocketAddr;
use std::time::Duration;

use google_fake::{FakeConfig, FakeGoogle};
use kvsync_devstack::stack::scheduled_event;
use kvsync_devstack::{LambdaProcess, LocalStack, Result};
use serde_json::json;
use tokio::task::JoinHandle;

/// How often `make dev` polls (in AWS: the template's
/// `GooglePollerSchedule`, 2 minutes).
const POLL_EVERY: Duration = Duration::from_secs(10);
const WORKFLOW: &str = "demo-google";

/// The running demo (the fake serves until the runtime stops).
pub struct GoogleDemo {
    /// What to print for a newcomer.
    pub text: String,
    /// The fake's endpoints as the CLI reads them (`GOOGLE_OAUTH_TOKEN_URL`,
    /// `GOOGLE_PEOPLE_BASE_URL`), for `target/devstack.env`.
    pub env: Vec<(String, String)>,
    task: JoinHandle<()>,
}

impl GoogleDemo {
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Starts the fake on `addr`, seeds `demo-google` (one contact in Google),
/// syncs it once, then polls every `POLL_EVERY`.
pub async fn start(stack: &LocalStack, addr: SocketAddr) -> Result<GoogleDemo> {
    let fake = FakeGoogle::start_on(addr, FakeConfig::default())
        .await
        .map_err(|e| format!("starting the Google fake on {addr}: {e}"))?;
    let grace = fake.add_person(json!({
        "names": [{"givenName": "Grace", "familyName": "Hopper"}],
        "emailAddresses": [{"value": "grace@example.com", "metadata": {"primary": true}}],
        "phoneNumbers": [{"value": "+1 239-555-0199", "type": "mobile"}],
    }));
    stack
        .seed_google_workflow(
            WORKFLOW,
            &fake,
            json!({"initial_sync": {"S": "all"}, "default_agent_id": {"N": "7"}}),
        )
        .await?;
    // Its kvCORE token is a scope of its own: index it now, so the first
    // poll can match Grace by phone (SPEC section 9).
    let indexer = stack.spawn_indexer().await?;
    stack.run_scheduled(&indexer).await?;
    indexer.shutdown().await;
    let poller = stack.spawn_google_poller(&fake).await?;
    let first = stack.run_scheduled(&poller).await?;
    let task = tokio::spawn(poll_every(poller, POLL_EVERY));

    let google = format!("http://{}", fake.addr());
    let kvcore_contacts = format!("http://{}/_admin/contacts", stack.fake().addr());
    let id = grace.trim_start_matches("people/");
    let text = format!(
        "\x20 google     People API + OAuth fake at {google} (persons: {google}/_admin/persons)\n\
         \x20            workflow {WORKFLOW} (initial_sync all) polled every {every} s by the google-poller; first run: {first}\n\n\
         Try Google Contacts (no bridge): add a person in the fake Google, and within {every} s it is in the fake kvCORE:\n\
         \x20 curl -sS -X POST {google}/_admin/persons -H 'content-type: application/json' \\\n\
         \x20   -d '{{\"names\": [{{\"givenName\": \"Ada\", \"familyName\": \"Lovelace\"}}], \"emailAddresses\": [{{\"value\": \"ada@example.com\"}}]}}'\n\
         \x20 sleep {every}; curl -sS {kvcore_contacts}\n\
         Edit Grace ({grace}) and see the update on the next tick:\n\
         \x20 curl -sS -X PUT {google}/_admin/persons/{id} -H 'content-type: application/json' \\\n\
         \x20   -d '{{\"names\": [{{\"givenName\": \"Grace\", \"familyName\": \"Hopper\"}}], \"emailAddresses\": [{{\"value\": \"grace@example.com\"}}], \"addresses\": [{{\"streetAddress\": \"1 Navy Way\", \"city\": \"Arlington\", \"region\": \"VA\", \"postalCode\": \"22202\"}}]}}'\n\
         What the poller recorded: . target/devstack.env; target/debug/kvsync google status {WORKFLOW}\n\
         A revoked grant (invalid_grant, reconnect_needed): curl -sS -X POST {google}/_admin/revoke-refresh-tokens\n",
        every = POLL_EVERY.as_secs(),
    );
    let env = stack
        .google_poller_env(&fake)?
        .into_iter()
        .filter(|(name, _)| name.starts_with("GOOGLE_") && !name.ends_with("_TABLE"))
        .collect();
    Ok(GoogleDemo { text, env, task })
}

/// Invokes the poller with a scheduled event every `period`, logging
/// each summary.
async fn poll_every(poller: LambdaProcess, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    loop {
        tick.tick().await;
        match poller.invoke(scheduled_event()).await {
            Ok(summary) => tracing::info!(%summary, "google-poller ran"),
            Err(error) => tracing::warn!(%error, "google-poller failed"),
        }
    }
}
