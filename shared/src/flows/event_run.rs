//! One event's people, in turn, through the same steps whichever flow
//! brought them (a webhook delivery, a queued person, a polled person):
//! precheck, lock, stale check, then the person's lookup and write
//! (`person.rs`); and the workflow's settings and secrets they need.

use std::sync::Arc;
use std::time::Duration;

use crate::adapters::followupboss::SourceError;
use crate::adapters::kvcore::Pacer;
use crate::adapters::secrets::{self, SecretError};
use crate::adapters::store::{PersonLock, PersonWrite, WorkflowError, person_keys};
use crate::domain::contact::Person;
use crate::domain::delivery::Delivery;
use crate::domain::outcome::{PersonResult, SkipReason};
use crate::domain::plan;
use crate::domain::settings::Settings;
use crate::domain::sources::{self, ParseContext, SourceEvent, Subject};
use crate::flows::person::{IndexWrite, skipped, skipped_source_id, sync_person};
use crate::flows::phone_index::{PhoneIndex, Scope};
use crate::flows::{Invocation, Services, SyncError};

/// A person's lock outlives the invocation that holds it by this much, so a
/// crashed holder's lock frees soon after its deadline.
pub(crate) const LOCK_GRACE_MS: i64 = 5_000;
/// Stop waiting for another event's person lock this long before the deadline.
const PERSON_WAIT_MARGIN: Duration = Duration::from_secs(2);

/// One event's people, in turn, and what the event's record will need:
/// the persons' items (pushed as soon as a lock is held, so a failure still
/// releases it) and what kvCORE cost. A delivery runs its event through it
/// (`delivery.rs`), the queue worker one person of a queued event
/// (`queued.rs`).
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

    /// The first person's lock, when the event's claim took it.
    pub(crate) fn with_prelocked(mut self, lock: Option<PersonLock>) -> EventRun<'a> {
        self.prelocked = lock;
        self
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
        found
            .map(|value| sources::followupboss::person(&value, ParseContext::of(settings)))
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

/// The delivery's event as its workflow's source writes it (SPEC section 5),
/// and the event's id (SPEC section 4: `webhook-id`, else the payload's
/// id, else a hash of the workflow and the body).
pub(crate) fn parse_event(
    settings: &Settings,
    delivery: &Delivery,
) -> Result<(SourceEvent, String), SyncError> {
    let event = sources::parse(settings.source, &delivery.body, ParseContext::of(settings))?;
    let event_id = delivery.event_id(event.event_id.as_deref());
    Ok((event, event_id))
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

pub(crate) async fn read_secret(
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

pub(crate) async fn kvcore_token(
    services: &Services,
    settings: &Settings,
) -> Result<String, SyncError> {
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

pub(crate) fn misconfigured(settings: &Settings, attribute: &str, problem: &str) -> SyncError {
    SyncError::Misconfigured(format!(
        "workflow '{}': attribute '{attribute}': {problem}",
        settings.workflow_id
    ))
}
