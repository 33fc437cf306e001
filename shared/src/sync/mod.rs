//! The story of one webhook delivery, top to bottom: authenticate → parse the
//! payload into people → claim the event → for each person: lock it, look it
//! up, decide, write → record how it ended → answer.
//! The only place that orders I/O; every step is a call into a module that
//! does one thing.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;

use crate::auth::{self, AuthError};
use crate::contact::Person;
use crate::delivery::{Delivery, MAX_BODY_BYTES};
use crate::followupboss::SourceError;
use crate::kvcore::{KvcoreError, Pacer};
use crate::metrics;
use crate::outcome::{Answer, EventAnswer, Outcome, PersonResult, SkipReason};
use crate::phone_index::{IndexError, PhoneIndex, Scope};
use crate::plan;
use crate::retry::Transient;
use crate::secrets::{self, SecretError};
pub use crate::services::Services;
use crate::settings::{DeliveryMode, Settings};
use crate::sources::{self, ParseContext, PayloadError, SourceEvent, Subject};
use crate::store::{
    Claim, Ending, EventClaim, LockRequest, PersonLock, PersonWrite, StoreError, WorkflowError,
    person_keys,
};

mod person;

pub(crate) use person::write_through;
use person::{IndexWrite, sync_person};

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

/// What a scheduled run has left before Lambda's deadline: `deadline_ms`
/// is the Runtime API's `Lambda-Runtime-Deadline-Ms` (unix ms; 0 when
/// there is none, as outside Lambda: then `fallback`).
pub fn time_left(deadline_ms: u64, now_ms: i64, fallback: Duration) -> Duration {
    match i64::try_from(deadline_ms) {
        Ok(deadline) if deadline > 0 => {
            Duration::from_millis(u64::try_from(deadline - now_ms).unwrap_or(0))
        }
        _ => fallback,
    }
}

/// The time a scheduled run's work gets of `remaining`: all but a margin for
/// its last writes, a fifth of it and at most `margin`, so a short timeout
/// (tests) still leaves room for work.
pub fn keep_margin(remaining: Duration, margin: Duration) -> Duration {
    remaining.saturating_sub((remaining / 5).min(margin))
}

pub use crate::clock::now_ms;

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
    /// The phone index of the workflow's kvCORE token has not finished its
    /// first build (SPEC section 9); the event is kept.
    #[error("the phone index of this workflow's kvCORE token is still being built; retry later")]
    PhoneIndexBuilding,
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
            SyncError::Kvcore(KvcoreError::CandidatesUnread { .. }) => "kvcore_candidates_unread",
            SyncError::Kvcore(e) if e.is_transient() => "kvcore_unavailable",
            SyncError::Kvcore(_) => "kvcore_rejected",
            SyncError::PersonBusy => "person_busy",
            SyncError::Source(SourceError::Unauthorized(_)) => "source_unauthorized",
            SyncError::Source(e) if e.is_transient() => "source_unavailable",
            SyncError::Source(_) => "source_rejected",
            SyncError::AwsUnavailable(_) => "aws_unavailable",
            SyncError::PhoneIndexBuilding => "phone_index_building",
            SyncError::NotReplayable(_) => "not_replayable",
        }
    }
}

impl From<IndexError> for SyncError {
    fn from(error: IndexError) -> SyncError {
        match error {
            IndexError::Building => SyncError::PhoneIndexBuilding,
            IndexError::Kvcore(e) => SyncError::Kvcore(e),
            IndexError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for SyncError {
    fn from(error: StoreError) -> SyncError {
        SyncError::AwsUnavailable(error.to_string())
    }
}

/// Handles one delivery: checks it, then processes its event (or, for a
/// `queued` workflow, queues its persons: SPEC section 11).
pub async fn handle(
    services: &Services,
    delivery: &Delivery,
    invocation: Invocation,
) -> Result<Answer, SyncError> {
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
    deliver(services, &settings, delivery, invocation).await
}

/// A checked delivery: its persons queued (`delivery = queued`, SPEC
/// section 11), or synced now.
async fn deliver(
    services: &Services,
    settings: &Settings,
    delivery: &Delivery,
    invocation: Invocation,
) -> Result<Answer, SyncError> {
    match settings.delivery {
        DeliveryMode::Queued => {
            crate::queued::enqueue(services, settings, delivery, invocation).await
        }
        DeliveryMode::Sync => process(services, settings, delivery, invocation)
            .await
            .map(Answer::Synced),
    }
}

/// Replays a recorded event through the same path as its delivery (whose
/// authentication it passed when it arrived). An event that has since
/// succeeded answers its first answer and changes nothing.
pub async fn replay(
    services: &Services,
    workflow_id: &str,
    event_id: &str,
    invocation: Invocation,
) -> Result<Answer, SyncError> {
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
            return Ok(Answer::Synced(answer));
        }
        (None, Some(payload)) => payload,
        (None, None) => {
            let reason = format!("event '{event_id}' kept no payload");
            return Err(SyncError::NotReplayable(reason));
        }
    };
    let delivery =
        Delivery::new(workflow_id, payload.into_bytes()).with_header("webhook-id", event_id);
    deliver(services, &settings, &delivery, invocation).await
}

/// One person a Google listing brought (SPEC section 10), through the same
/// path as a webhook delivery (claim, lock, match, write, record, usage,
/// metrics): `person_json` is the `Person` resource as listed, `event_id`
/// its `resourceName#etag`, so a person already applied at that etag is
/// answered from its record (`duplicate`) without a kvCORE request.
/// kvCORE requests wait their turn with `pacer` (the token's
/// `kvcore_max_rps`).
pub async fn poll_person(
    services: &Services,
    settings: &Settings,
    event_id: &str,
    person_json: &[u8],
    invocation: Invocation,
    pacer: &Pacer,
) -> Result<EventAnswer, SyncError> {
    let delivery = Delivery::new(&settings.workflow_id, person_json.to_vec())
        .with_header("webhook-id", event_id);
    process_paced(services, settings, &delivery, invocation, Some(pacer)).await
}

/// Parses the event and runs it inside its log span.
async fn process(
    services: &Services,
    settings: &Settings,
    delivery: &Delivery,
    invocation: Invocation,
) -> Result<EventAnswer, SyncError> {
    process_paced(services, settings, delivery, invocation, None).await
}

/// `process`, with kvCORE requests paced when a bulk flow asks.
async fn process_paced(
    services: &Services,
    settings: &Settings,
    delivery: &Delivery,
    invocation: Invocation,
    pacer: Option<&Pacer>,
) -> Result<EventAnswer, SyncError> {
    let context = ParseContext {
        region: settings.default_country,
        agent_map: &settings.agent_map,
    };
    let event = sources::parse(settings.source, &delivery.body, context)?;
    let event_id = delivery.event_id(event.event_id.as_deref());
    let span = tracing::info_span!("event", workflow_id = %settings.workflow_id, %event_id);
    run_event(
        services, settings, delivery, &event, event_id, invocation, pacer,
    )
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
    pacer: Option<&Pacer>,
) -> Result<EventAnswer, SyncError> {
    let workflow_id = settings.workflow_id.as_str();
    let payload = String::from_utf8_lossy(&delivery.body);
    let owner = format!("{event_id}@{}", now_ms());
    let first_lock = first_lock_key(settings, event);
    let (claim, prelocked) = claim(
        services, settings, &event_id, &payload, invocation, &owner, first_lock,
    )
    .await?;
    match claim {
        Claim::Claimed => {}
        Claim::Completed(mut answer) => {
            tracing::info!("duplicate delivery answered from its record");
            answer.duplicate = true;
            return Ok(answer);
        }
        // Still on the sync queue (queued before the workflow turned `sync`).
        Claim::InProgress | Claim::Queued { .. } => return Err(SyncError::InProgress),
    }

    let mut run = EventRun {
        services,
        settings,
        invocation,
        owner,
        prelocked,
        kvcore_token: None,
        source_api_key: None,
        persons: Vec::new(),
        index_writes: Vec::new(),
        kvcore_requests: 0,
        kvcore_busy_ms: 0,
        pacer,
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
            let finish = ledger.finish(workflow_id, &answer.event_id, ending, persons, now_ms());
            let (finished, ()) = tokio::join!(finish, write_through(services, &run.index_writes));
            finished?;
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
            let finish = ledger.finish(workflow_id, &event_id, ending, persons, now_ms());
            let (finished, ()) = tokio::join!(finish, write_through(services, &run.index_writes));
            if let Err(store) = finished {
                tracing::error!(%store, "the failed event could not be recorded; the source's retry redoes it");
            }
            Err(error)
        }
    }
}

/// The lock key of the event's first person, when it comes in the payload
/// and will be looked up (then its lock is taken with the claim).
fn first_lock_key(settings: &Settings, event: &SourceEvent) -> Option<String> {
    let Some(Subject::Person(person)) = event.subjects.first() else {
        return None;
    };
    if plan::precheck(settings, person).is_some() {
        return None;
    }
    person_keys(&settings.workflow_id, person)
        .into_iter()
        .next()
}

/// Claims the event, and with it the first person's lock when there is
/// one to take: one conditional transaction, while the person's item is
/// read beside it, so the critical path has one DynamoDB round trip here
/// instead of two (docs/reliability.md). The overlapped read is trusted
/// unless it saw another invocation holding the lock: that one may have
/// recorded a contact since, so the item is read again.
async fn claim(
    services: &Services,
    settings: &Settings,
    event_id: &str,
    payload: &str,
    invocation: Invocation,
    owner: &str,
    first_lock: Option<String>,
) -> Result<(Claim, Option<PersonLock>), SyncError> {
    let ledger = &services.ledger;
    let now = now_ms();
    let workflow_id = settings.workflow_id.as_str();
    let claim_alone =
        || ledger.claim_event(workflow_id, event_id, payload, now, invocation.deadline_ms);
    let Some(key) = first_lock else {
        return Ok((claim_alone().await?, None));
    };
    let event = EventClaim {
        workflow_id,
        event_id,
        payload,
        now_ms: now,
        lease_until_ms: invocation.deadline_ms,
    };
    let lock = LockRequest {
        key: &key,
        owner,
        lease_until_ms: invocation.deadline_ms + LOCK_GRACE_MS,
    };
    let (claimed, read) = tokio::join!(
        ledger.claim_event_and_lock(event, lock),
        ledger.person(&key)
    );
    match claimed? {
        Some(Claim::Claimed) => {
            let state = match read {
                Ok(state) if !state.held_by_another(owner, now) => state,
                _ => ledger.person(&key).await?,
            };
            Ok((Claim::Claimed, Some(state.lock)))
        }
        Some(refused) => Ok((refused, None)),
        // Another event holds the person: claim alone; the person's turn
        // waits for its lock as any other.
        None => Ok((claim_alone().await?, None)),
    }
}

/// One event's people, in turn, and what the event's record will need:
/// the persons' items (pushed as soon as a lock is held, so a failure still
/// releases it) and what kvCORE cost. The queue worker runs one person of
/// a queued event through it (`queued.rs`).
pub(crate) struct EventRun<'a> {
    services: &'a Services,
    settings: &'a Settings,
    invocation: Invocation,
    /// Who holds the persons' locks: this attempt of this event.
    owner: String,
    /// The first person's lock, taken with the event's claim.
    prelocked: Option<PersonLock>,
    kvcore_token: Option<String>,
    source_api_key: Option<Arc<str>>,
    pub(crate) persons: Vec<PersonWrite>,
    /// Contacts written to kvCORE, for the phone index's write-through.
    pub(crate) index_writes: Vec<(Scope, IndexWrite)>,
    pub(crate) kvcore_requests: u32,
    pub(crate) kvcore_busy_ms: u64,
    /// Set by bulk flows (the Google poller): kvCORE requests wait their turn.
    pacer: Option<&'a Pacer>,
}

impl<'a> EventRun<'a> {
    /// A run of one attempt (`owner` holds its persons' locks), paced by
    /// `pacer` when a bulk flow gives one.
    pub(crate) fn new(
        services: &'a Services,
        settings: &'a Settings,
        invocation: Invocation,
        owner: String,
        pacer: Option<&'a Pacer>,
    ) -> EventRun<'a> {
        EventRun {
            services,
            settings,
            invocation,
            owner,
            prelocked: None,
            kvcore_token: None,
            source_api_key: None,
            persons: Vec::new(),
            index_writes: Vec::new(),
            kvcore_requests: 0,
            kvcore_busy_ms: 0,
            pacer,
        }
    }

    pub(crate) async fn sync_subjects(
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
        let lock = match self.prelocked.take().filter(|lock| lock.key == lock_key) {
            Some(lock) => lock,
            None => ledger
                .lock_person(&lock_key, &self.owner, lease_until, give_up_at)
                .await?
                .ok_or(SyncError::PersonBusy)?,
        };
        self.persons.push(PersonWrite {
            lock_key,
            keys,
            contact_id: None,
            changed_ms: None,
        });

        // Sources deliver out of order: a change older than one applied is stale.
        if let (Some(changed), Some(applied)) = (person.changed_at_ms, lock.last_changed_ms)
            && changed < applied
        {
            return Ok(skipped(
                settings,
                person,
                SkipReason::StaleEvent,
                lock.contact_id,
            ));
        }

        let token = self.kvcore_token.as_deref().unwrap_or_default();
        let session = match self.pacer {
            Some(pacer) => services
                .kvcore
                .paced_session(token, invocation.deadline, pacer),
            None => services.kvcore.session(token, invocation.deadline),
        };
        let scope = Scope::of(settings);
        let index = PhoneIndex {
            store: &services.phone_index,
            session: &session,
            scope: &scope,
            owner: &self.owner,
            deadline: invocation.deadline,
            deadline_ms: invocation.deadline_ms,
        };
        let result = sync_person(&index, settings, person, lock.contact_id).await;
        self.kvcore_requests += session.requests();
        self.kvcore_busy_ms += session.busy_ms();
        let (result, index_write) = result?;
        if let Some(write) = index_write {
            self.index_writes.push((scope, write));
        }
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

pub(crate) async fn load_workflow(
    services: &Services,
    workflow_id: &str,
) -> Result<Arc<Settings>, SyncError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheduled_run_keeps_a_margin_for_its_last_writes() {
        let margin = Duration::from_secs(15);
        assert_eq!(
            keep_margin(Duration::from_secs(300), margin),
            Duration::from_secs(285)
        );
        assert_eq!(
            keep_margin(Duration::from_secs(10), margin),
            Duration::from_secs(8)
        );
        assert_eq!(keep_margin(Duration::ZERO, margin), Duration::ZERO);
    }

    #[test]
    fn time_left_is_the_deadline_less_now_or_the_fallback() {
        let fallback = Duration::from_secs(60);
        assert_eq!(time_left(10_000, 4_000, fallback), Duration::from_secs(6));
        assert_eq!(
            time_left(10_000, 12_000, fallback),
            Duration::ZERO,
            "past it"
        );
        assert_eq!(time_left(0, 4_000, fallback), fallback, "no deadline");
    }
}
