//! Source payload formats (SPEC section 5): each turns a webhook body into
//! the people it is about, as canonical `Person`s.

mod dates;
mod generic;
mod json;

use crate::contact::{Person, Region};
use crate::settings::Source;

pub use json::PayloadError;

/// What a source's webhook said.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceEvent {
    /// The payload's own event id, if it has one.
    pub event_id: Option<String>,
    pub people: Vec<Person>,
}

/// What a source needs to read its payloads.
#[derive(Debug, Clone, Copy)]
pub struct ParseContext {
    pub region: Region,
}

/// Parses a webhook body in the workflow's source format.
pub fn parse(
    source: Source,
    body: &[u8],
    context: ParseContext,
) -> Result<SourceEvent, PayloadError> {
    match source {
        Source::Generic => generic::parse(body, context),
        Source::Google | Source::FollowUpBoss => Err(PayloadError::new(
            "source",
            "is not read by this version of kvsync",
        )),
    }
}

/// Whether this version reads the source's payloads; the caller refuses the
/// workflow as misconfigured otherwise, before anything else happens.
pub fn is_supported(source: Source) -> bool {
    matches!(source, Source::Generic)
}
