//! The local kvsync stack (`make dev` and the end-to-end tests): tables from template.yaml,
//! seeds, the kvCORE fake, a Lambda Runtime API emulator that runs the real function binary,
//! and an API-Gateway-like HTTP front.

pub mod apigw;
pub mod aws;
pub mod gateway;
pub mod runtime_api;
pub mod signing;
pub mod sqs_source;
pub mod stack;
pub mod template;

pub use apigw::{LambdaHttpResponse, http_api_event, http_api_event_base64};
pub use aws::QueueOverrides;
pub use runtime_api::{InvokeError, LambdaProcess, SpawnOptions};
pub use sqs_source::SqsSource;
pub use stack::{LocalStack, SeededWorkflow, StackOptions, scheduled_event};

/// A test harness error: anything, with a message that says what failed.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T, E = Error> = std::result::Result<T, E>;
