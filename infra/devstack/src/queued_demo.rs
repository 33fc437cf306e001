//! `make dev`'s queued delivery demo (SPEC section 11): the Follow Up Boss
//! fake with 200 people, the `fub-demo` workflow (Follow Up Boss, queued by
//! default) and the `sync-worker` run from the local sync queue by
//! devstack's SQS event source; a signed bulk event to send is written to
//! `target/fub-bulk.json` with its `curl` command printed.

use followupboss_fake::FakeFollowUpBoss;
use kvsync_devstack::runtime_api::SpawnOptions;
use kvsync_devstack::stack::LocalStack;
use kvsync_devstack::{Result, SqsSource, signing, template};
use serde_json::json;

const FUB_KEY: &str = "demo-fub-api-key";
const FUB_SYSTEM_KEY: &str = "demo-fub-system-key";
const PEOPLE: u64 = 200;
/// Slow enough to watch the queue drain (200 people, 2 kvCORE requests each).
const DEMO_RPS: u32 = 10;
const BULK_EVENT: &str = "target/fub-bulk.json";

/// The Follow Up Boss fake; start it before the stack so the functions are
/// pointed at it (`StackOptions::followupboss_base_url`).
pub async fn start_followupboss() -> Result<FakeFollowUpBoss> {
    Ok(FakeFollowUpBoss::start(FUB_KEY).await?)
}

/// What is running for the demo, and what to print.
pub struct QueuedDemo {
    pub text: String,
    _worker: SqsSource,
}

/// Seeds the people and the workflow, starts the worker from the queue.
pub async fn start(stack: &LocalStack, fub: &FakeFollowUpBoss, base: &str) -> Result<QueuedDemo> {
    let ids: Vec<u64> = (7001..7001 + PEOPLE).collect();
    for id in &ids {
        fub.put_person(json!({
            "id": id, "firstName": "Demo", "lastName": format!("Lead{id}"),
            "emails": [{"value": format!("lead{id}@example.com"), "type": "home", "isPrimary": true}],
            "updated": "2026-11-28T10:00:00Z"
        }));
    }
    let api_key = stack.secret_name("kvsync/fub-demo/api-key");
    stack.put_secret(&api_key, FUB_KEY).await?;
    let seeded = stack
        .seed_workflow(
            "fub-demo",
            json!({
                "source": {"S": "followupboss"},
                "source_api_secret": {"S": api_key},
                "kvcore_max_rps": {"N": DEMO_RPS.to_string()},
            }),
        )
        .await?;
    stack
        .put_secret(&seeded.webhook_secret_name, FUB_SYSTEM_KEY)
        .await?;
    let body = serde_json::to_vec(&json!({
        "eventId": "demo-bulk-1", "eventCreated": "2026-11-28T10:00:01+00:00",
        "event": "peopleCreated", "resourceIds": ids,
        "uri": "https://api.followupboss.com/v1/people"
    }))?;
    let path = template::workspace_root().join(BULK_EVENT);
    std::fs::write(&path, &body)?;
    let signature = signing::fub_signature(FUB_SYSTEM_KEY, &body);
    let spawn = SpawnOptions {
        echo_logs: false,
        ..stack.worker_spawn_options()
    };
    // Short polls: moto_server answers one request at a time.
    let worker = stack.start_sync_worker(&[], Some(spawn), None, 0)?;
    let text = format!(
        "\x20 queued     fub-demo: Follow Up Boss (fake at {fub_url}, {PEOPLE} people), delivery queued,\n\
         \x20            kvcore_max_rps {DEMO_RPS}; sync-worker from the local SyncQueue\n\
         Send a {PEOPLE}-person Follow Up Boss event: answered 202 at once, then watch it drain:\n\
         \x20 curl -sS -X POST {base}/webhooks/fub-demo -H 'content-type: application/json' -H 'FUB-Signature: {signature}' --data-binary @{BULK_EVENT}\n\
         \x20 . target/devstack.env && target/debug/kvsync history fub-demo   # queued: {PEOPLE} persons, N done, ...\n",
        fub_url = fub.base_url(),
    );
    Ok(QueuedDemo {
        text,
        _worker: worker,
    })
}
