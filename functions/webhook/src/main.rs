//! The webhook Lambda: builds its clients once per container, then serves
//! `POST /webhooks/{workflow_id}` deliveries through `handler`.

mod handler;

use kvsync::flows::Services;
use lambda_http::{Error, run, service_fn};

#[tokio::main]
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
