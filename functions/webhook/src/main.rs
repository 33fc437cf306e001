//! The webhook Lambda: builds its clients once per container, then serves
//! `POST /webhooks/{workflow_id}` deliveries through `handler`.

mod handler;

use kvsync::sync::Services;
use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .init();

    kvsync::metrics::enable();
    let services = Services::from_env().await?;
    let services = &services;
    run(service_fn(move |request| {
        handler::handle(services, request)
    }))
    .await
}
