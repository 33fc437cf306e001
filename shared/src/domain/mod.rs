//! What kvsync decides, with no I/O (SPEC sections 3 to 6): plain
//! functions over plain data, unit-tested on their own. Imports neither
//! the flows nor the adapters.

pub mod auth;
pub mod contact;
pub mod delivery;
pub mod fields;
pub mod import;
pub mod kv_contact;
pub mod matching;
pub mod outcome;
pub mod phone;
pub mod plan;
pub mod settings;
pub mod sources;
