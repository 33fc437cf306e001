//! What a polled Google workflow's `initial_sync: all` would do, before its
//! first listing (SPEC section 13, `kvsync google preview`): every person
//! of the account, listed as the poller lists them (`connections.list`,
//! `pageSize=1000`, the same `personFields`) and mapped as the poller maps
//! them (`sources::google`), becomes a candidate row of an import preview.
//! No sync token is stored and nothing is written: the poller's first
//! listing is untouched.

use std::time::Duration;

use serde_json::Value;

use crate::adapters::google::{Credentials, Google, ListRequest};
use crate::domain::import::RowPerson;
use crate::domain::settings::{Settings, Source};
use crate::domain::sources::{self, ParseContext, Subject};
use crate::flows::event_run::read_secret;
use crate::flows::{Invocation, Services};

use super::{Candidate, ImportError, Progress};

/// Listing every person gets this long.
const LISTING_BUDGET: Duration = Duration::from_secs(3600);

/// The account's people (deleted ones left out), as preview candidates
/// numbered in listing order.
pub async fn candidates(
    services: &Services,
    settings: &Settings,
    google: &Google,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Vec<Candidate>, ImportError> {
    let Some(secret_id) = settings
        .google_oauth_secret
        .as_deref()
        .filter(|_| settings.source == Source::Google)
    else {
        return Err(ImportError::Google(format!(
            "workflow '{}' is not a polled Google workflow: it needs source \"google\" and a google_oauth_secret",
            settings.workflow_id
        )));
    };
    let secret = read_secret(services, settings, "google_oauth_secret", secret_id).await?;
    let credentials = Credentials::parse(&secret).map_err(|e| {
        ImportError::Google(format!(
            "workflow '{}': attribute 'google_oauth_secret': {e}",
            settings.workflow_id
        ))
    })?;
    let invocation = Invocation::within(LISTING_BUDGET);
    let token = google
        .refresh(&credentials, invocation.deadline)
        .await
        .map_err(|e| ImportError::Google(format!("Google refused the grant or failed: {e}")))?;
    let context = ParseContext::of(settings);
    let mut candidates = Vec::new();
    let mut page_token: Option<String> = None;
    loop {
        let request = ListRequest {
            sync_token: None,
            page_token: page_token.as_deref(),
        };
        let page = google
            .connections(&token, request, invocation.deadline)
            .await
            .map_err(|e| ImportError::Google(format!("listing Google contacts: {e}")))?;
        for person in page.connections {
            if person["metadata"]["deleted"].as_bool() == Some(true) {
                continue;
            }
            if let Some(candidate) = candidate(candidates.len() + 1, person, context) {
                candidates.push(candidate);
            }
        }
        progress(Progress::Rows(candidates.len()));
        match page.next_page_token {
            Some(next) if !next.is_empty() => page_token = Some(next),
            _ => return Ok(candidates),
        }
    }
}

/// One Google person as the poller maps it; `None` for one that does not
/// read as a person at all (the poller records it as a failed event).
fn candidate(row: usize, person: Value, context: ParseContext<'_>) -> Option<Candidate> {
    let body = serde_json::to_vec(&person).ok()?;
    let event = sources::parse(Source::Google, &body, context).ok()?;
    let Some(Subject::Person(parsed)) = event.subjects.into_iter().next() else {
        return None;
    };
    let count = |field: &str| {
        parsed
            .problems
            .iter()
            .filter(|p| p.starts_with(field))
            .count()
    };
    let (invalid_emails, invalid_phones) = (count("emailAddresses"), count("phoneNumbers"));
    let first_value = |list: &str| {
        person[list][0]["value"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let (raw_email, raw_phone) = (first_value("emailAddresses"), first_value("phoneNumbers"));
    let record = match person {
        Value::Object(map) => map,
        _ => return None,
    };
    Some(Candidate {
        row,
        person: RowPerson {
            person: *parsed,
            invalid_emails,
            invalid_phones,
        },
        record,
        raw_email,
        raw_phone,
    })
}
