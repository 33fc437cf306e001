//! The webhook Lambda: builds its clients once per container, then serves
//! `POST /webhooks/{workflow_id}` deliveries through `handler`.

mod handler;

use kvsync::flows::Services;
use lambda_http::{Error, run, service_fn};

// One thread: an invocation at a time is all Lambda gives a process, and
// its few concurrent requests need no second worker; the multi-threaded
// scheduler's hand-offs between threads (futex wake-ups, work stealing)
// cost CPU on every event (issue 22, `make profile`).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    kvsync::logging::init();

    kvsync::adapters::metrics::enable();
    let services = Services::from_env().await?;
    let services = &services;
    run(service_fn(move |request| {
        handler::handle(services, request)
    }))
    .await
}
