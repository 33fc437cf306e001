//! The Microsoft part of `make dev` (SPEC section 15): the Microsoft Graph
//! fake on loopback, a demo `microsoft` workflow `demo-microsoft`, and the
//! microsoft-poller run on a short timer, as its EventBridge schedule runs
//! it in AWS.

use std::net::SocketAddr;
use std::time::Duration;

use kvsync_devstack::stack::scheduled_event;
use kvsync_devstack::{LambdaProcess, LocalStack, Result};
use microsoft_fake::{FakeConfig, FakeMicrosoft};
use serde_json::json;
use tokio::task::JoinHandle;

/// How often `make dev` polls (in AWS: the template's
/// `MicrosoftPollerSchedule`, 2 minutes).
const POLL_EVERY: Duration = Duration::from_secs(10);
const WORKFLOW: &str = "demo-microsoft";

/// The running demo (the fake serves until the runtime stops).
pub struct MicrosoftDemo {
    /// What to print for a newcomer.
    pub text: String,
    /// The fake's endpoints as the CLI reads them (`MICROSOFT_TOKEN_URL`,
    /// `MICROSOFT_GRAPH_BASE_URL`), for `target/devstack.env`.
    pub env: Vec<(String, String)>,
    task: JoinHandle<()>,
}

impl MicrosoftDemo {
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Starts the fake on `addr`, seeds `demo-microsoft` (one contact in
/// Outlook), syncs it once, then polls every `POLL_EVERY`.
pub async fn start(stack: &LocalStack, addr: SocketAddr) -> Result<MicrosoftDemo> {
    let fake = FakeMicrosoft::start_on(
        addr,
        FakeConfig {
            // `kvsync microsoft connect` against the fake need not wait 5 s.
            device_interval: Duration::from_secs(1),
            ..FakeConfig::default()
        },
    )
    .await
    .map_err(|e| format!("starting the Microsoft Graph fake on {addr}: {e}"))?;
    let katherine = fake.add_contact(json!({
        "givenName": "Katherine", "surname": "Johnson",
        "emailAddresses": [{"name": "Katherine", "address": "katherine@example.com"}],
        "mobilePhone": "+1 239-555-0177",
        "categories": ["Buyer"],
    }));
    stack
        .seed_microsoft_workflow(
            WORKFLOW,
            &fake,
            json!({"initial_sync": {"S": "all"}, "default_agent_id": {"N": "7"}}),
        )
        .await?;
    let indexer = stack.spawn_indexer().await?;
    stack.run_scheduled(&indexer).await?;
    indexer.shutdown().await;
    let poller = stack.spawn_microsoft_poller(&fake).await?;
    let first = stack.run_scheduled(&poller).await?;
    let task = tokio::spawn(poll_every(poller, POLL_EVERY));

    let graph = format!("http://{}", fake.addr());
    let kvcore_contacts = format!("http://{}/_admin/contacts", stack.fake().addr());
    let text = format!(
        "\x20 microsoft  Graph + identity platform fake at {graph} (contacts: {graph}/_admin/contacts)\n\
         \x20            workflow {WORKFLOW} (initial_sync all) polled every {every} s by the microsoft-poller; first run: {first}\n\n\
         Try Outlook contacts (no bridge): add a contact in the fake Graph, and within {every} s it is in the fake kvCORE:\n\
         \x20 curl -sS -X POST {graph}/_admin/contacts -H 'content-type: application/json' \\\n\
         \x20   -d '{{\"givenName\": \"Dorothy\", \"surname\": \"Vaughan\", \"emailAddresses\": [{{\"address\": \"dorothy@example.com\"}}]}}'\n\
         \x20 sleep {every}; curl -sS {kvcore_contacts}\n\
         Edit Katherine ({katherine}) and see the update on the next tick:\n\
         \x20 curl -sS -X PUT {graph}/_admin/contacts/{katherine} -H 'content-type: application/json' \\\n\
         \x20   -d '{{\"givenName\": \"Katherine\", \"surname\": \"Johnson\", \"emailAddresses\": [{{\"address\": \"katherine@example.com\"}}], \"homeAddress\": {{\"street\": \"1 NASA Dr\", \"city\": \"Hampton\", \"state\": \"VA\", \"postalCode\": \"23666\"}}}}'\n\
         What the poller recorded: . target/devstack.env; target/debug/kvsync microsoft status {WORKFLOW}\n\
         Reconnect with a device code (sign in at the printed address with ?code=<code>): target/debug/kvsync microsoft connect {WORKFLOW}\n\
         A lost delta state (410, a full listing at no kvCORE cost): curl -sS -X POST {graph}/_admin/lose-delta-state\n\
         A revoked grant (invalid_grant, reconnect_needed): curl -sS -X POST {graph}/_admin/revoke-grants\n",
        every = POLL_EVERY.as_secs(),
    );
    let env = stack
        .microsoft_poller_env(&fake)?
        .into_iter()
        .filter(|(name, _)| name.starts_with("MICROSOFT_") && !name.ends_with("_TABLE"))
        .collect();
    Ok(MicrosoftDemo { text, env, task })
}

/// Invokes the poller with a scheduled event every `period`, logging
/// each summary.
async fn poll_every(poller: LambdaProcess, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    loop {
        tick.tick().await;
        match poller.invoke(scheduled_event()).await {
            Ok(summary) => tracing::info!(%summary, "microsoft-poller ran"),
            Err(error) => tracing::warn!(%error, "microsoft-poller failed"),
        }
    }
}
