//! The story of one webhook delivery, top to bottom: authenticate → parse the
//! payload into people → for each person: look it up, decide, write → answer.
//! The only place that orders I/O; every step is a call into a module that
//! does one thing.

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::auth::{self, AuthError};
use crate::contact::Person;
use crate::delivery::{Delivery, MAX_BODY_BYTES};
use crate::fields::FieldValues;
use crate::kvcore::{Kvcore, KvcoreError, Session};
use crate::matching::{self, Match};
use crate::outcome::{EventAnswer, Outcome, PersonResult, SkipReason};
use crate::plan::{self, Action};
use crate::secrets::{self, SecretError, Secrets};
use crate::settings::Settings;
use crate::sources::{self, ParseContext, PayloadError};
use crate::store::{WorkflowError, Workflows};

/// The clients one warm container keeps for all its invocations.
pub struct Services {
    pub workflows: Workflows,
    pub secrets: Secrets,
    pub kvcore: Kvcore,
}

/// Why a delivery was not processed. The handler maps each to its HTTP
/// answer in one place.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("the body is over {MAX_BODY_BYTES} bytes")]
    PayloadTooLarge,
    #[error("no workflow '{0}'")]
    UnknownWorkflow(String),
    #[error("unauthorized: {0}")]
    Unauthorized(AuthError),
    #[error(transparent)]
    InvalidPayload(#[from] PayloadError),
    /// The workflow's settings or secrets cannot work; an operator must act.
    #[error("{0}")]
    Misconfigured(String),
    /// kvCORE refused or failed; transient ones are safe to retry.
    #[error(transparent)]
    Kvcore(#[from] KvcoreError),
    /// DynamoDB or Secrets Manager did not answer.
    #[error("{0}")]
    AwsUnavailable(String),
}

/// Handles one delivery. `deadline` bounds every retry; `now_unix` is the
/// clock the signature's timestamp is checked against.
pub async fn handle(
    services: &Services,
    delivery: &Delivery,
    deadline: Instant,
    now_unix: i64,
) -> Result<EventAnswer, SyncError> {
    if delivery.body.len() > MAX_BODY_BYTES {
        return Err(SyncError::PayloadTooLarge);
    }
    let settings = load_workflow(services, &delivery.workflow_id).await?;
    let webhook_secret = read_secret(
        services,
        &settings,
        "webhook_secret",
        &settings.webhook_secret,
    )
    .await?;
    match auth::verify(settings.auth, &webhook_secret, delivery, now_unix) {
        Ok(Ok(())) => {}
        Ok(Err(reason)) => return Err(SyncError::Unauthorized(reason)),
        Err(unusable) => {
            return Err(misconfigured(
                &settings,
                "webhook_secret",
                &unusable.to_string(),
            ));
        }
    }

    let context = ParseContext {
        region: settings.default_country,
    };
    let event = sources::parse(settings.source, &delivery.body, context)?;
    let event_id = delivery.event_id(event.event_id.as_deref());
    let span = tracing::info_span!("event", workflow_id = %settings.workflow_id, %event_id);
    let _entered = span.enter();

    let mut token = None;
    let mut results = Vec::with_capacity(event.people.len());
    for person in &event.people {
        if let Some(reason) = plan::precheck(&settings, person) {
            results.push(skipped(&settings, person, reason, None));
            continue;
        }
        if token.is_none() {
            token = Some(kvcore_token(services, &settings).await?);
        }
        let token = token.as_deref().unwrap_or_default();
        let session = services.kvcore.session(token, deadline);
        let result = sync_person(&session, &settings, person).await?;
        tracing::info!(
            source_id = result.source_id.as_deref().unwrap_or(""),
            email = person.primary_email().map(|e| e.masked()).unwrap_or_default(),
            outcome = ?result.outcome,
            reason = ?result.reason,
            contact_id = result.contact_id,
            fields = ?result.fields,
            kvcore_requests = session.requests(),
            "person synced"
        );
        results.push(result);
    }
    Ok(EventAnswer {
        event_id,
        duplicate: false,
        results,
    })
}

/// Looks the person up, decides, and writes (unless a dry run).
async fn sync_person(
    session: &Session<'_>,
    settings: &Settings,
    person: &Person,
) -> Result<PersonResult, SyncError> {
    let found = lookup(session, settings, person).await?;
    match execute(session, settings, person, found.as_ref()).await {
        // kvCORE refused the create as a duplicate: it holds the person
        // already, so look again and treat what it finds as the match. If its
        // search does not show that contact yet, answer transient so the
        // source retries once it does.
        Err(KvcoreError::Conflict) => match lookup(session, settings, person).await? {
            Some(found) => Ok(execute(session, settings, person, Some(&found)).await?),
            None if held_by_another_agent(session, settings, person).await? => {
                Ok(skipped(settings, person, SkipReason::AgentFiltered, None))
            }
            None => Err(KvcoreError::Unavailable { status: 409 }.into()),
        },
        result => Ok(result?),
    }
}

/// Plans the action for a person and its match, and carries it out.
async fn execute(
    session: &Session<'_>,
    settings: &Settings,
    person: &Person,
    found: Option<&Match>,
) -> Result<PersonResult, KvcoreError> {
    let (outcome, contact_id, fields) = match plan::plan(settings, person, found) {
        Action::Skip { reason, contact_id } => {
            return Ok(skipped(settings, person, reason, contact_id));
        }
        Action::Unchanged { contact_id } => (Outcome::Unchanged, Some(contact_id), Vec::new()),
        Action::Update { contact_id, values } => {
            if !settings.dry_run {
                session.update(contact_id, &body(&values, None)).await?;
            }
            (
                Outcome::Updated,
                Some(contact_id),
                field_names(&values, None),
            )
        }
        Action::Create {
            values,
            assigned_agent_id,
        } => {
            let body = body(&values, assigned_agent_id);
            let contact_id = match settings.dry_run {
                true => None,
                false => Some(session.create(&body).await?.id),
            };
            (Outcome::Created, contact_id, body.keys().cloned().collect())
        }
    };
    Ok(PersonResult {
        source_id: person.source_id.clone(),
        outcome,
        contact_id,
        matched_by: found.map(|m| m.matched_by),
        reason: None,
        fields,
        dry_run: settings.dry_run,
        problems: person.problems.clone(),
    })
}

/// Whether kvCORE's duplicate is a contact outside the workflow's agents:
/// then it is another agent's person, neither ours to create nor to update.
async fn held_by_another_agent(
    session: &Session<'_>,
    settings: &Settings,
    person: &Person,
) -> Result<bool, KvcoreError> {
    if settings.agent_ids.is_empty() {
        return Ok(false);
    }
    let unfiltered = Settings {
        agent_ids: Default::default(),
        ..settings.clone()
    };
    Ok(lookup(session, &unfiltered, person).await?.is_some())
}

/// Email first (each of the person's emails), then each phone; every
/// candidate kvCORE offers is verified by `matching`.
async fn lookup(
    session: &Session<'_>,
    settings: &Settings,
    person: &Person,
) -> Result<Option<Match>, KvcoreError> {
    for email in &person.emails {
        let candidates = session.find_by_email(email).await?;
        if let Some(found) = matching::by_email(email, &candidates, settings) {
            log_ambiguity(&found);
            return Ok(Some(found));
        }
    }
    for phone in &person.phones {
        let candidates = session.search(&phone.national_digits).await?;
        if let Some(found) = matching::by_phone(phone, &candidates, settings) {
            log_ambiguity(&found);
            return Ok(Some(found));
        }
    }
    Ok(None)
}

fn log_ambiguity(found: &Match) {
    if !found.also_matched.is_empty() {
        tracing::warn!(
            chosen = found.contact.id,
            also_matched = ?found.also_matched,
            matched_by = ?found.matched_by,
            "several kvCORE contacts match; the lowest id wins"
        );
    }
}

async fn load_workflow(services: &Services, workflow_id: &str) -> Result<Arc<Settings>, SyncError> {
    let settings = match services.workflows.get(workflow_id).await {
        Ok(Some(settings)) => settings,
        Ok(None) => return Err(SyncError::UnknownWorkflow(workflow_id.to_string())),
        Err(WorkflowError::Invalid(e)) => return Err(SyncError::Misconfigured(e.to_string())),
        Err(WorkflowError::Unavailable(e)) => return Err(SyncError::AwsUnavailable(e)),
    };
    if !sources::is_supported(settings.source) {
        return Err(misconfigured(
            &settings,
            "source",
            "a source this version reads: \"generic\"",
        ));
    }
    Ok(settings)
}

async fn read_secret(
    services: &Services,
    settings: &Settings,
    attribute: &str,
    id: &str,
) -> Result<Arc<str>, SyncError> {
    services.secrets.get(id).await.map_err(|e| match e {
        SecretError::Unusable { .. } => misconfigured(settings, attribute, &e.to_string()),
        SecretError::Unavailable(reason) => SyncError::AwsUnavailable(reason),
    })
}

async fn kvcore_token(services: &Services, settings: &Settings) -> Result<String, SyncError> {
    let secret = read_secret(
        services,
        settings,
        "kvcore_token_secret",
        &settings.kvcore_token_secret,
    )
    .await?;
    secrets::kvcore_token(&secret).ok_or_else(|| {
        misconfigured(
            settings,
            "kvcore_token_secret",
            "the secret must hold the kvCORE API token, bare or as {\"token\": \"...\"}",
        )
    })
}

fn misconfigured(settings: &Settings, attribute: &str, problem: &str) -> SyncError {
    SyncError::Misconfigured(format!(
        "workflow '{}': attribute '{attribute}': {problem}",
        settings.workflow_id
    ))
}

fn skipped(
    settings: &Settings,
    person: &Person,
    reason: SkipReason,
    contact_id: Option<u64>,
) -> PersonResult {
    PersonResult {
        source_id: person.source_id.clone(),
        outcome: Outcome::Skipped,
        contact_id,
        matched_by: None,
        reason: Some(reason),
        fields: Vec::new(),
        dry_run: settings.dry_run,
        problems: person.problems.clone(),
    }
}

/// The JSON body kvCORE is sent.
fn body(values: &FieldValues, assigned_agent_id: Option<u64>) -> Map<String, Value> {
    let mut body: Map<String, Value> = values
        .iter()
        .map(|(field, value)| (field.name().to_string(), value.clone()))
        .collect();
    if let Some(agent) = assigned_agent_id {
        body.insert("assigned_agent_id".to_string(), Value::from(agent));
    }
    body
}

fn field_names(values: &FieldValues, assigned_agent_id: Option<u64>) -> Vec<String> {
    body(values, assigned_agent_id).keys().cloned().collect()
}
