//! `kvsync workflow try` (SPEC section 12): what a workflow makes of a
//! sample event, writing nothing: the people parsed (Follow Up Boss people
//! fetched), each filter's verdict, the kvCORE fields and values mapped,
//! and the decision against kvCORE with read-only lookups (list, full
//! record, the phone index; the person's recorded contact and
//! fingerprints read, never written). No event is claimed or recorded and
//! no person locked.

use crate::adapters::store::person_keys;
use crate::domain::contact::Person;
use crate::domain::field_map::Mapped;
use crate::domain::matching::Match;
use crate::domain::outcome::SkipReason;
use crate::domain::plan::{self, Action};
use crate::domain::settings::Settings;
use crate::domain::sources::{self, ParseContext, Subject};
use crate::flows::event_run::{followupboss_credentials, kvcore_token};
use crate::flows::person::lookup;
use crate::flows::phone_index::{PhoneIndex, Scope};
use crate::flows::{Invocation, Services, SyncError};

/// What the workflow makes of one subject of the event.
#[derive(Debug)]
pub struct Trial {
    /// The source's id for the person, when the event gives one.
    pub source_id: Option<String>,
    /// The person as parsed (`None`: named but not fetched, or unsupported).
    pub person: Option<Person>,
    /// Each filter's verdict, in order (`filters[i]` holds or not).
    pub verdicts: Vec<bool>,
    /// The kvCORE values mapped, and what the mapping left out.
    pub mapped: Mapped,
    /// The match kvCORE's lookups found.
    pub found: Option<Match>,
    /// What would be done; a skip before any lookup is `Action::Skip`.
    pub action: Action,
}

/// Parses `body` as the workflow's source does and decides each person
/// against kvCORE without writing.
pub async fn try_event(
    services: &Services,
    settings: &Settings,
    body: &[u8],
    invocation: Invocation,
) -> Result<Vec<Trial>, SyncError> {
    let event = sources::parse(settings.source, body, ParseContext::of(settings))?;
    let mut token = None;
    let mut trials = Vec::new();
    for subject in &event.subjects {
        let person = match subject {
            Subject::Person(person) => Some((**person).clone()),
            Subject::Fetch { source_id, .. } => {
                fetch(services, settings, source_id, invocation).await?
            }
            Subject::Unsupported { .. } => None,
        };
        let source_id = match subject {
            Subject::Fetch { source_id, .. } => Some(source_id.clone()),
            Subject::Unsupported { source_id } => source_id.clone(),
            Subject::Person(person) => person.source_id.clone(),
        };
        let Some(person) = person else {
            let reason = match subject {
                Subject::Unsupported { .. } => SkipReason::UnsupportedEvent,
                _ => SkipReason::PersonNotFound,
            };
            trials.push(Trial {
                source_id,
                person: None,
                verdicts: Vec::new(),
                mapped: Mapped::default(),
                found: None,
                action: Action::Skip {
                    reason,
                    contact_id: None,
                },
            });
            continue;
        };
        let verdicts = settings.filters.iter().map(|f| f.holds(&person)).collect();
        let mapped = settings.field_map.apply(&person, settings.default_country);
        let (found, action) = match plan::precheck(settings, &person) {
            Some(reason) => (
                None,
                Action::Skip {
                    reason,
                    contact_id: None,
                },
            ),
            None => {
                if token.is_none() {
                    token = Some(kvcore_token(services, settings).await?);
                }
                let token = token.as_deref().unwrap_or_default();
                decide(services, settings, &person, &mapped, token, invocation).await?
            }
        };
        trials.push(Trial {
            source_id,
            person: Some(person),
            verdicts,
            mapped,
            found,
            action,
        });
    }
    Ok(trials)
}

/// The person's lookup and plan, with what this workflow recorded for it.
async fn decide(
    services: &Services,
    settings: &Settings,
    person: &Person,
    mapped: &Mapped,
    token: &str,
    invocation: Invocation,
) -> Result<(Option<Match>, Action), SyncError> {
    let key = person_keys(&settings.workflow_id, person)
        .into_iter()
        .next()
        .unwrap_or_default();
    let recorded = services.ledger.person(&key).await?.lock;
    let session = services.kvcore.session(token, invocation.deadline);
    let scope = Scope::of(settings);
    let owner = format!("kvsync-try/{}", std::process::id());
    let index = PhoneIndex {
        store: &services.phone_index,
        session: &session,
        scope: &scope,
        owner: &owner,
        deadline: invocation.deadline,
        deadline_ms: invocation.deadline_ms,
    };
    let found = lookup(&index, settings, person, recorded.contact_id).await?;
    let written = recorded
        .written
        .as_ref()
        .filter(|_| found.as_ref().map(|m| m.contact.id) == recorded.contact_id);
    let action = plan::decide(
        settings,
        person,
        mapped.values.clone(),
        found.as_ref(),
        written,
    );
    Ok((found, action))
}

/// A Follow Up Boss person the event names (`GET /people/{id}`, read-only).
async fn fetch(
    services: &Services,
    settings: &Settings,
    source_id: &str,
    invocation: Invocation,
) -> Result<Option<Person>, SyncError> {
    let (key, system) = followupboss_credentials(services, settings).await?;
    let found = services
        .followupboss
        .person(&key, system.as_ref(), source_id, invocation.deadline)
        .await?;
    found
        .map(|value| sources::followupboss::person(&value, ParseContext::of(settings)))
        .transpose()
        .map_err(|e| {
            SyncError::Source(crate::adapters::followupboss::SourceError::BadResponse(
                e.to_string(),
            ))
        })
}
