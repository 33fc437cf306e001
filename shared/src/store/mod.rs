//! DynamoDB: workflow settings (and, as kvsync grows, idempotency, person
//! locks, records and usage), each in its own module.

mod workflows;

pub use workflows::{WorkflowError, Workflows};
