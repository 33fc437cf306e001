//! The story of one webhook delivery, top to bottom: authenticate → parse the
//! payload into people → claim the event → for each person: lock it, look it
//! up, decide, write → record how it ended → answer.
//! The only place that orders I/O; every step is a call into a module that
//! does one thing.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tokio::time::Instant;
use tracing::Instrument;

use crate::auth::{self, AuthError};
use crate::contact::Person;
use crate::delivery::{Delivery, MAX_BODY_BYTES};
use crate::fields::FieldValues;
use crate::followupboss::SourceError;
use crate::kvcore::{KvcoreError, Session};
use crate::matching::{self, Match};
use crate::metrics;
use crate::outcome::{EventAnswer, Outcome, PersonResult, SkipReason};
use crate::plan::{self, Action};
use crate::retry::Transient;
use crate::secrets::{self, SecretError};
pub use crate::services::Services;
use crate::settings::Settings;
use crate::sources::{self, ParseContext, PayloadError, SourceEvent, Subject};
use crate::store::{Claim, Ending, PersonWrite, StoreError, WorkflowError, person_keys};

/// A person's lock outlives the invocation that holds it by this much, so a
/// crashed holder's lock frees soon after its deadline.
const LOCK_GRACE_MS: i64 = 5_000;
/// Stop waiting for another event's person lock this long before the deadline.
const PERSON_WAIT_MARGIN: Duration = Duration::from_secs(2);

/// The time one invocation has.
#[derive(Debug, Clone, Copy)]
pub struct Invocation {
    /// Every retry and wait ends by then.
    pub deadline: Instant,
    /// The same deadline as unix ms, for leases other invocations read.
    pub deadline_ms: i64,
}

impl Invocation {
    /// An invocation that must be done within `budget` from now.
    pub fn within(budget: Duration) -> Invocation {
        Invocation {
            deadline: Instant::now() + budget,
            deadline_ms: now_ms() + budget.as_millis() as i64,
        }
    }
}

/// Wall-clock unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Why a delivery was not processed. `code` names each for the answer; the
/// handler maps codes to HTTP statuses in one place.
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
    #[error("this event is being processed right now; retry later")]
    InProgress,
    /// The workflow's settings or secrets cannot work; an operator must act.
    #[error("{0}")]
    Misconfigured(String),
    /// kvCORE refused or failed; transient ones are safe to retry.
    #[error(transparent)]
    Kvcore(#[from] KvcoreError),
    #[error("another event for this person is still being processed; retry later")]
    PersonBusy,
    /// The source app (Follow Up Boss) refused or failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// DynamoDB or Secrets Manager did not answer.
    #[error("{0}")]
    AwsUnavailable(String),
    /// Replay only: no such recorded event, or nothing left to replay it from.
    #[error("{0}")]
    NotReplayable(String),
}

impl SyncError {
    /// The stable error code of the answer (SPEC section 4).
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::PayloadTooLarge => "payload_too_large",
            SyncError::UnknownWorkflow(_) => "unknown_workflow",
            SyncError::Unauthorized(_) => "unauthorized",
            SyncError::InvalidPayload(_) => "invalid_payload",
            SyncError::InProgress => "in_progress",
            SyncError::Misconfigured(_) => "misconfigured_workflow",
            SyncError::Kvcore(KvcoreError::Unauthorized) => "kvcore_unauthorized",
            SyncError::Kvcore(e) if e.is_transient() => "kvcore_unavailable",
            SyncError::Kvcore(_) => "kvcore_rejected",
            SyncError::PersonBusy => "person_busy",
            SyncError::Source(SourceError::Unauthorized(_)) => "source_unauthorized",
            SyncError::Source(e) if e.is_transient() => "source_unavailable",
            SyncError::Source(_) => "source_rejected",
            SyncError::AwsUnavailable(_) => "aws_unavailable",
            SyncError::NotReplayable(_) => "not_replayable",
        }
    }
}

impl From<StoreError> for SyncError {
    fn from(error: StoreError) -> SyncError {
        SyncError::AwsUnavailable(error.to_string())
    }
}

/// Handles one delivery: checks it, then processes its event.
pub async fn handle(
    services: &Services,
    delivery: &Delivery,
    invocation: Invocation,
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
    match auth::verify(settings.auth, &webhook_secret, delivery, now_ms() / 1000) {
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
    process(services, &settings, delivery, invocation).await
}

/// Replays a recorded event through the same path as its delivery (whose
/// authentication it passed when it arrived). An event that has since
/// succeeded answers its first answer and changes nothing.
pub async fn replay(
    services: &Services,
    workflow_id: &str,
    event_id: &str,
    invocation: Invocation,
) -> Result<EventAnswer, SyncError> {
    let settings = load_workflow(services, workflow_id).await?;
    let record = services
        .ledger
        .event(workflow_id, event_id)
        .await?
        .ok_or_else(|| {
            SyncError::NotReplayable(format!(
                "workflow '{workflow_id}' has no event '{event_id}'"
            ))
        })?;
    let payload = match (record.answer, record.payload) {
        (Some(mut answer), _) => {
            answer.duplicate = true;
            return Ok(answer);
        }
        (None, Some(payload)) => payload,
        (None, None) => {
            let reason = format!("event '{event_id}' kept no payload");
            return Err(SyncError::NotReplayable(reason));
        }
    };
    let delivery =
        Delivery::new(workflow_id, payload.into_bytes()).with_header("webhook-id", event_id);
    process(services, &settings, &delivery, invocation).await
}

/// Parses the event and runs it inside its log span.
async fn process(
    services: &Services,
    settings: &Settings,
    delivery: &Delivery,
    invocation: Invocation,
) -> Result<EventAnswer, SyncError> {
    let context = ParseContext {
        region: settings.default_country,
        agent_map: &settings.agent_map,
    };
    let event = sources::parse(settings.source, &delivery.body, context)?;
    let event_id = delivery.event_id(event.event_id.as_deref());
    let span = tracing::info_span!("event", workflow_id = %settings.workflow_id, %event_id);
    run_event(services, settings, delivery, &event, event_id, invocation)
        .instrument(span)
        .await
}

/// Claims the event, syncs its subjects and records how it ended.
async fn run_event(
    services: &Services,
    settings: &Settings,
    delivery: &Delivery,
    event: &SourceEvent,
    event_id: String,
    invocation: Invocation,
) -> Result<EventAnswer, SyncError> {
    let workflow_id = settings.workflow_id.as_str();
    let payload = String::from_utf8_lossy(&delivery.body);
    let claim = services
        .ledger
        .claim_event(
            workflow_id,
            &event_id,
            &payload,
            now_ms(),
            invocation.deadline_ms,
        )
        .await?;
    match claim {
        Claim::Claimed => {}
        Claim::Completed(mut answer) => {
            tracing::info!("duplicate delivery answered from its record");
            answer.duplicate = true;
            return Ok(answer);
        }
        Claim::InProgress => return Err(SyncError::InProgress),
    }

    let mut run = EventRun {
        services,
        settings,
        invocation,
        owner: format!("{event_id}@{}", now_ms()),
        kvcore_token: None,
        source_api_key: None,
        persons: Vec::new(),
        kvcore_requests: 0,
        kvcore_busy_ms: 0,
    };
    let synced = run.sync_subjects(&event.subjects).await;
    let (persons, requests, busy_ms) = (&run.persons, run.kvcore_requests, run.kvcore_busy_ms);
    let ledger = &services.ledger;
    match synced {
        Ok(results) => {
            let answer = EventAnswer {
                event_id,
                duplicate: false,
                results,
            };
            metrics::emit(&metrics::event_records(
                workflow_id,
                Some(&answer),
                requests,
                busy_ms,
            ));
            let ending = Ending::Completed(&answer);
            ledger
                .finish(workflow_id, &answer.event_id, ending, persons, now_ms())
                .await?;
            Ok(answer)
        }
        Err(error) => {
            metrics::emit(&metrics::event_records(
                workflow_id,
                None,
                requests,
                busy_ms,
            ));
            let message = error.to_string();
            let ending = Ending::Failed {
                code: error.code(),
                message: &message,
            };
            if let Err(store) = ledger
                .finish(workflow_id, &event_id, ending, persons, now_ms())
                .await
            {
                tracing::error!(%store, "the failed event could not be recorded; the source's retry redoes it");
            }
            Err(error)
        }
    }
}

/// One event's people, in turn, and what the event's record will need:
/// the persons' items (pushed as soon as a lock is held, so a failure still
/// releases it) and what kvCORE cost.
struct EventRun<'a> {
    services: &'a Services,
    settings: &'a Settings,
    invocation: Invocation,
    /// Who holds the persons' locks: this attempt of this event.
    owner: String,
    kvcore_token: Option<String>,
    source_api_key: Option<Arc<str>>,
    persons: Vec<PersonWrite>,
    kvcore_requests: u32,
    kvcore_busy_ms: u64,
}

impl EventRun<'_> {
    async fn sync_subjects(
        &mut self,
        subjects: &[Subject],
    ) -> Result<Vec<PersonResult>, SyncError> {
        let mut results = Vec::with_capacity(subjects.len());
        for subject in subjects {
            let fetched;
            let person = match subject {
                Subject::Person(person) => person,
                Subject::Unsupported { source_id } => {
                    let reason = SkipReason::UnsupportedEvent;
                    results.push(skipped_source_id(self.settings, source_id.clone(), reason));
                    continue;
                }
                Subject::Fetch { source_id } => match self.fetch(source_id).await? {
                    Some(person) => {
                        fetched = person;
                        &fetched
                    }
                    None => {
                        let reason = SkipReason::PersonNotFound;
                        results.push(skipped_source_id(
                            self.settings,
                            Some(source_id.clone()),
                            reason,
                        ));
                        continue;
                    }
                },
            };
            results.push(self.sync(person).await?);
        }
        Ok(results)
    }

    /// A person the source app holds (Follow Up Boss); `None` when it no
    /// longer does.
    async fn fetch(&mut self, source_id: &str) -> Result<Option<Person>, SyncError> {
        let settings = self.settings;
        if self.source_api_key.is_none() {
            let id = settings.source_api_secret.as_deref().unwrap_or_default();
            self.source_api_key =
                Some(read_secret(self.services, settings, "source_api_secret", id).await?);
        }
        let key = self.source_api_key.as_deref().unwrap_or_default();
        let found = self
            .services
            .followupboss
            .person(key, source_id, self.invocation.deadline)
            .await?;
        let context = ParseContext {
            region: settings.default_country,
            agent_map: &settings.agent_map,
        };
        found
            .map(|value| sources::followupboss::person(&value, context))
            .transpose()
            .map_err(|e| SyncError::Source(SourceError::BadResponse(e.to_string())))
    }

    /// One person: precheck, lock, order, lookup, plan, write.
    async fn sync(&mut self, person: &Person) -> Result<PersonResult, SyncError> {
        let (services, settings, invocation) = (self.services, self.settings, self.invocation);
        if let Some(reason) = plan::precheck(settings, person) {
            return Ok(skipped(settings, person, reason, None));
        }
        if self.kvcore_token.is_none() {
            self.kvcore_token = Some(kvcore_token(services, settings).await?);
        }
        let keys = person_keys(&settings.workflow_id, person);
        let lock_key = keys.first().cloned().unwrap_or_default();
        let lease_until = invocation.deadline_ms + LOCK_GRACE_MS;
        let give_up_at = invocation.deadline - PERSON_WAIT_MARGIN;
        let ledger = &services.ledger;
        let Some(lock) = ledger
            .lock_person(&lock_key, &self.owner, lease_until, give_up_at)
            .await?
        else {
            return Err(SyncError::PersonBusy);
        };
        self.persons.push(PersonWrite {
            lock_key,
            keys,
            contact_id: None,
            changed_ms: None,
        });

        // Sources deliver out of order: a change older than one applied is stale.
        if let (Some(changed), Some(applied)) = (person.changed_at_ms, lock.last_changed_ms) {
            if changed < applied {
                return Ok(skipped(
                    settings,
                    person,
                    SkipReason::StaleEvent,
                    lock.contact_id,
                ));
            }
        }

        let token = self.kvcore_token.as_deref().unwrap_or_default();
        let session = services.kvcore.session(token, invocation.deadline);
        let result = sync_person(&session, settings, person, lock.contact_id).await;
        self.kvcore_requests += session.requests();
        self.kvcore_busy_ms += session.busy_ms();
        let result = result?;
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
        if let Some(write) = self.persons.last_mut() {
            let is_this_person =
                result.reason != Some(SkipReason::AgentFiltered) && !settings.dry_run;
            write.contact_id = result.contact_id.filter(|_| is_this_person);
            write.changed_ms = person.changed_at_ms.filter(|_| !settings.dry_run);
        }
        Ok(result)
    }
}

/// Looks the person up, decides, and writes (unless a dry run).
async fn sync_person(
    session: &Session<'_>,
    settings: &Settings,
    person: &Person,
    recorded: Option<u64>,
) -> Result<PersonResult, SyncError> {
    let found = lookup(session, settings, person, recorded).await?;
    match execute(session, settings, person, found.as_ref()).await {
        // kvCORE refused the create as a duplicate: it holds the person
        // already, so look again and treat what it finds as the match. If its
        // search does not show that contact yet, answer transient so the
        // source retries once it does.
        Err(KvcoreError::Conflict) => match lookup(session, settings, person, None).await? {
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
    Ok(lookup(session, &unfiltered, person, None).await?.is_some())
}

/// The contact an earlier event recorded for this person, when it is still
/// the person; else email first (each of the person's emails), then each
/// phone. Every candidate kvCORE offers is verified by `matching`.
async fn lookup(
    session: &Session<'_>,
    settings: &Settings,
    person: &Person,
    recorded: Option<u64>,
) -> Result<Option<Match>, KvcoreError> {
    if let Some(id) = recorded {
        match session.get(id).await {
            Ok(contact) => {
                if let Some(found) = matching::recorded(contact, person, settings) {
                    return Ok(Some(found));
                }
            }
            // Deleted in kvCORE since: search as if never seen.
            Err(KvcoreError::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
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
    match services.workflows.get(workflow_id).await {
        Ok(Some(settings)) => Ok(settings),
        Ok(None) => Err(SyncError::UnknownWorkflow(workflow_id.to_string())),
        Err(WorkflowError::Invalid(e)) => Err(SyncError::Misconfigured(e.to_string())),
        Err(WorkflowError::Unavailable(e)) => Err(SyncError::AwsUnavailable(e)),
    }
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

/// A skip for a person the event names but does not carry.
fn skipped_source_id(
    settings: &Settings,
    source_id: Option<String>,
    reason: SkipReason,
) -> PersonResult {
    PersonResult {
        source_id,
        outcome: Outcome::Skipped,
        contact_id: None,
        matched_by: None,
        reason: Some(reason),
        fields: Vec::new(),
        dry_run: settings.dry_run,
        problems: Vec::new(),
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
