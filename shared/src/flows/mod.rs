//! The four flows, each a story told top to bottom that orders the I/O and
//! calls each step once: a webhook delivery (`delivery`), a queued person
//! (`queued`), a Google poll (`google_poll`), a phone index build or
//! refresh (`phone_index`, run over every scope by `indexer`). They share
//! one event's run of people (`event_run`, and `person` for one person
//! against kvCORE), the clients (`Services`), the invocation's time and the
//! errors they answer with; the scheduled functions share `scheduled`.

pub mod delivery;
mod error;
pub(crate) mod event_run;
pub mod google_poll;
pub mod import;
pub mod indexer;
mod invocation;
pub(crate) mod person;
pub mod phone_index;
pub mod queued;
pub mod scheduled;
pub mod services;

pub use error::SyncError;
pub use invocation::Invocation;
pub use services::Services;
