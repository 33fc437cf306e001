//! The sync-worker Lambda (SPEC sections 1 and 11): fed by the sync queue
//! (an SQS event source with partial batch responses), it syncs each
//! person of a queued event. Builds its clients once per container, then
//! hands each batch to `handler`.

mod handler;

use kvsync::flows::Services;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

// One thread, as the webhook's: Lambda runs one invocation at a time per
// process, and the concurrent requests of a batch or a page are I/O; the
// multi-threaded scheduler's hand-offs cost CPU (issue 22).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    kvsync::logging::init();
    kvsync::adapters::metrics::enable();
    let services = Services::from_env().await?;
    let receive_limit = handler::receive_limit_from_env()?;
    if services.pacing.is_none() {
        tracing::warn!("no PACING_TABLE: kvCORE requests are not paced across workers");
    }
    let services = &services;
    run(service_fn(move |event: LambdaEvent<_>| {
        handler::handle(services, receive_limit, event)
    }))
    .await
}
