//! What kvsync decides, with no I/O (SPEC sections 3 to 6): plain
//! functions over plain data, unit-tested on their own. Imports neither
//! the flows nor the adapters.

pub mod addresses;
pub mod auth;
pub mod contact;
pub mod delivery;
pub mod edits;
pub mod field_map;
pub mod fields;
pub mod filters;
pub mod import;
pub mod kv_contact;
pub mod matching;
pub mod names;
pub mod outcome;
pub mod paths;
pub mod phone;
pub mod plan;
pub mod record;
pub mod redelivery;
pub mod settings;
pub mod sources;
