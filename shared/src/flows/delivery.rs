//! The story of one webhook delivery, top to bottom: check its size → load
//! its workflow → authenticate → parse the payload into people → claim the
//! event → for each person: lock it, look it up, decide, write
//! (`event_run.rs`) → record how it ended → answer. A `queued` workflow's
//! delivery goes to `queued.rs` after authentication; a replay and a polled
//! Google person join the story after it.

use tracing::Instrument;

use crate::adapters::kvcore::Pacer;
use crate::adapters::metrics;
use crate::adapters::store::{Claim, Ending, EventClaim, LockRequest, PersonLock, person_keys};
use crate::clock::now_ms;
use crate::domain::auth;
use crate::domain::delivery::{Delivery, MAX_BODY_BYTES};
use crate::domain::outcome::{Answer, EventAnswer};
use crate::domain::plan;
use crate::domain::settings::{DeliveryMode, Settings};
use crate::domain::sources::{SourceEvent, Subject};
use crate::flows::event_run::{
    EventRun, LOCK_GRACE_MS, load_workflow, misconfigured, parse_event, read_secret,
};
use crate::flows::person::write_through;
use crate::flows::{Invocation, Services, SyncError, queued};

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
        DeliveryMode::Queued => queued::enqueue(services, settings, delivery, invocation).await,
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
    let (event, event_id) = parse_event(settings, delivery)?;
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
        Claim::Claimed | Claim::Reclaimed => {}
        Claim::Completed(mut answer) => {
            tracing::info!("duplicate delivery answered from its record");
            answer.duplicate = true;
            return Ok(answer);
        }
        // Still on the sync queue (queued before the workflow turned `sync`).
        Claim::InProgress | Claim::Queued { .. } => return Err(SyncError::InProgress),
    }

    let mut run =
        EventRun::new(services, settings, invocation, owner, pacer).with_prelocked(prelocked);
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
