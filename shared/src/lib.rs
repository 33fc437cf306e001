//! kvsync: keeps kvCORE in step with the apps contacts start in.
//!
//! `sync` tells the story of one webhook delivery; the pure domain
//! (`contact`, `settings`, `sources`, `matching`, `plan`, `fields`) decides;
//! the adapters (`kvcore`, `store`, `secrets`) do the I/O.

pub mod auth;
pub mod clock;
pub mod contact;
pub mod delivery;
pub mod fields;
pub mod followupboss;
pub mod google;
pub mod google_poll;
pub mod kvcore;
pub mod logging;
pub mod matching;
pub mod metrics;
pub mod outcome;
pub mod phone;
pub mod phone_index;
pub mod plan;
pub mod queue;
pub mod queued;
pub mod retry;
pub mod secrets;
pub mod services;
pub mod settings;
pub mod sources;
pub mod store;
pub mod sync;
