//! What happened to each person of an event: the answer the webhook gives
//! and the record it leaves (SPEC section 4).

use serde::{Deserialize, Serialize};

use crate::domain::matching::MatchedBy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    Skipped,
}

/// Why a person was skipped; every skip has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    WorkflowDisabled,
    AgentFiltered,
    MatchFoundCreateOnly,
    NoMatchUpdateOnly,
    NoEmailOrPhone,
    StaleEvent,
    UnsupportedEvent,
    PersonNotFound,
    /// A `filters` condition failed (SPEC section 12).
    FilteredOut,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonResult {
    pub source_id: Option<String>,
    pub outcome: Outcome,
    pub contact_id: Option<u64>,
    pub matched_by: Option<MatchedBy>,
    pub reason: Option<SkipReason>,
    /// kvCORE fields written (or, in a dry run, that would be).
    pub fields: Vec<String>,
    pub dry_run: bool,
    /// Input left out (an invalid email, an unparseable phone), said back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// The 200 answer to a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventAnswer {
    pub event_id: String,
    pub duplicate: bool,
    pub results: Vec<PersonResult>,
}

/// The answer to an event taken for queued delivery (SPEC sections 4 and
/// 11): `202` when first accepted; a redelivery while its persons are still
/// being synced answers it `200` with `duplicate: true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedAnswer {
    pub event_id: String,
    pub duplicate: bool,
    /// Persons put on the sync queue (the event's persons).
    pub queued: usize,
}

/// What a delivery is answered: its results, or that it was queued.
/// Serialized as the answer's own body (untagged).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Synced(EventAnswer),
    Queued(QueuedAnswer),
}
