//! kvsync: keeps kvCORE in step with the apps contacts start in.
//!
//! Three floors, each importing only those below it:
//! - [`flows`] order the I/O of the four flows (a webhook delivery, a queued
//!   person, a Google poll, a phone index build or refresh), top to bottom;
//! - [`adapters`] talk to one remote service each (kvCORE, Google, Follow Up
//!   Boss, DynamoDB, SQS, Secrets Manager, CloudWatch) and decide nothing;
//! - [`domain`] decides, with no I/O: contacts and phones, settings,
//!   source payloads, matching, the plan and its field diff.
//!
//! [`clock`] and [`logging`] serve every floor.

pub mod adapters;
pub mod clock;
pub mod domain;
pub mod flows;
pub mod logging;
