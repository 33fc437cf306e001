//! One remote service each, HTTP or AWS, and no decisions: kvCORE, Google,
//! Microsoft (Graph and the identity platform),
//! Follow Up Boss, DynamoDB (`store`), SQS (`queue`), Secrets Manager, and
//! CloudWatch metrics. They speak the domain's types; the flows call them.

mod aws;
pub mod followupboss;
pub mod google;
pub mod http;
pub mod import_file;
pub mod import_report;
pub mod kvcore;
pub mod metrics;
pub mod microsoft;
pub mod queue;
pub mod retry;
pub mod secrets;
pub mod store;
