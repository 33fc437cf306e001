//! The flows, each a story told top to bottom that orders the I/O and
//! calls each step once: a webhook delivery (`delivery`), a queued person
//! (`queued`), a poll of a polled source (`poll`, over Google's
//! `google_poll` or Microsoft's `microsoft_poll`), a phone index build or
//! refresh (`phone_index`, run over every scope by `indexer`). They share
//! one event's run of people (`event_run`, and `person` for one person
//! against kvCORE), the clients (`Services`; a poller's from
//! `poller_services`), the invocation's time and the
//! errors they answer with; the scheduled functions share `scheduled`.
//! `health` is the checks `kvsync doctor` prints and the daily
//! health-check function meters (SPEC section 14).

pub mod delivery;
mod error;
pub(crate) mod event_run;
pub mod google_poll;
pub mod health;
pub mod import;
pub mod indexer;
mod invocation;
pub mod microsoft_poll;
pub(crate) mod person;
pub mod phone_index;
pub mod poll;
pub mod poller_services;
pub mod queued;
pub mod scheduled;
pub mod services;
pub mod try_event;

pub use error::SyncError;
pub use invocation::Invocation;
pub use services::Services;
