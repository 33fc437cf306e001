//! Source payload formats (SPEC section 5): each turns a webhook body into
//! the people it is about, as canonical `Person`s. A new source app is a
//! module here, a `Source` variant in `settings` (the workflow's `source`)
//! and its arm in `parse`.

pub(crate) mod dates;
pub mod followupboss;
mod generic;
mod google;
mod json;
pub mod microsoft;
pub(crate) mod people;

use std::collections::BTreeMap;

use crate::domain::contact::{Person, Region};
use crate::domain::settings::{Settings, Source};

pub use json::PayloadError;

/// What a source's webhook said.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceEvent {
    /// The payload's own event id, if it has one.
    pub event_id: Option<String>,
    /// One per person the event is about, in the payload's order.
    pub subjects: Vec<Subject>,
}

/// A person an event is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    /// The payload carries the person.
    Person(Box<Person>),
    /// The payload only names the person: fetch it from the source app
    /// (Follow Up Boss), then read it with `followupboss::person`.
    Fetch {
        source_id: String,
        /// When the source created the event (unix ms, Follow Up Boss
        /// `eventCreated`): a 404 soon after it is not the person gone
        /// (SPEC section 5).
        event_created_ms: Option<i64>,
    },
    /// An event kvsync does not sync: acknowledged and skipped.
    Unsupported { source_id: Option<String> },
}

/// What a source needs to read its payloads.
#[derive(Debug, Clone, Copy)]
pub struct ParseContext<'a> {
    /// Where phone numbers without a country code are read.
    pub region: Region,
    /// Source owner id → kvCORE agent id (`agent_map`).
    pub agent_map: &'a BTreeMap<String, u64>,
}

impl<'a> ParseContext<'a> {
    /// What a workflow's settings tell its parser (SPEC section 3): the
    /// `default_country` and the `agent_map`.
    pub fn of(settings: &'a Settings) -> ParseContext<'a> {
        ParseContext {
            region: settings.default_country,
            agent_map: &settings.agent_map,
        }
    }
}

/// Parses a webhook body in the workflow's source format.
pub fn parse(
    source: Source,
    body: &[u8],
    context: ParseContext<'_>,
) -> Result<SourceEvent, PayloadError> {
    match source {
        Source::Generic => generic::parse(body, context),
        Source::FollowUpBoss => followupboss::parse(body, context),
        Source::Google => google::parse(body, context),
        // Polled (SPEC section 15): the poller hands each listed contact
        // through the person path as one event.
        Source::Microsoft => microsoft::parse(body, context),
    }
}
