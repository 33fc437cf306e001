//! Queued delivery (SPEC section 11), the story in two halves.
//!
//! The webhook (`enqueue`): parse → claim the event → one SQS message per
//! person (only those not already done, when a failed event comes again)
//! → mark the event `queued` with its count → answer 202. A redelivery is
//! refused by the claim and answers 200 duplicate (with the results once
//! the event completed).
//!
//! The `sync-worker` (`sync_message`), for each message: the person through
//! the same path as a delivery (Follow Up Boss fetch, lock, match, write:
//! `event_run::EventRun`), its kvCORE requests paced per token across every
//! worker, then its record, usage and person mappings in one transaction,
//! then the event completed if it was the last. A failure releases the
//! person's lock and returns the message to the queue; on the queue's last
//! receive the person is recorded failed with its message (what a replay
//! needs) before SQS moves it to the dead-letter queue.

use std::collections::BTreeSet;
use std::slice;

use serde::Deserialize;

use tracing::Instrument;

use crate::adapters::kvcore::Pacer;
use crate::adapters::metrics;
use crate::adapters::queue::{MessageSubject, PersonMessage};
use crate::adapters::store::{Claim, Ending, PersonEnding, PersonStatus, Recorded};
use crate::clock::now_ms;
use crate::domain::delivery::Delivery;
use crate::domain::import::ImportedPerson;
use crate::domain::outcome::{Answer, EventAnswer, PersonResult, QueuedAnswer};
use crate::domain::redelivery::{self, Returned};
use crate::domain::settings::Settings;
use crate::domain::sources::{self, ParseContext, SourceEvent, Subject};
use crate::flows::event_run::{EventRun, load_workflow, parse_event};
use crate::flows::person::write_through;
use crate::flows::{Invocation, Services, SyncError};

/// Parses the event, claims it and puts one message per person on the
/// sync queue: `202 {"event_id", "duplicate": false, "queued": N}`.
/// Errors as a sync delivery's; `Misconfigured` when the function has no
/// queue (`SYNC_QUEUE_URL`).
pub async fn enqueue(
    services: &Services,
    settings: &Settings,
    delivery: &Delivery,
    invocation: Invocation,
) -> Result<Answer, SyncError> {
    let (event, event_id) = parse_event(settings, delivery)?;
    let span = tracing::info_span!("event", workflow_id = %settings.workflow_id, %event_id);
    enqueue_event(services, settings, delivery, &event, event_id, invocation)
        .instrument(span)
        .await
}

async fn enqueue_event(
    services: &Services,
    settings: &Settings,
    delivery: &Delivery,
    event: &SourceEvent,
    event_id: String,
    invocation: Invocation,
) -> Result<Answer, SyncError> {
    let workflow_id = settings.workflow_id.as_str();
    let payload = String::from_utf8_lossy(&delivery.body);
    let total = event.subjects.len();
    let to_send = |done: &BTreeSet<usize>| messages(workflow_id, &event_id, &event.subjects, done);
    claim_and_queue(
        services, settings, &event_id, &payload, total, to_send, invocation,
    )
    .await
}

/// The queued half of an event whatever brought it (a webhook's people,
/// an import's rows, SPEC sections 11 and 13): claim the event (keeping
/// `payload`), put on the sync queue the messages `to_send` gives for the
/// persons not already `done` (a first claim has none done), mark the event
/// `queued` with `total` persons, and answer 202 with the messages sent.
/// The same event again is refused by the claim: 200 duplicate.
pub(crate) async fn claim_and_queue(
    services: &Services,
    settings: &Settings,
    event_id: &str,
    payload: &str,
    total: usize,
    to_send: impl FnOnce(&BTreeSet<usize>) -> Vec<PersonMessage>,
    invocation: Invocation,
) -> Result<Answer, SyncError> {
    let workflow_id = settings.workflow_id.as_str();
    let event_id = event_id.to_string();
    let queue = services.queue.as_ref().ok_or_else(|| {
        SyncError::Misconfigured(format!(
            "workflow '{workflow_id}': attribute 'delivery': \"queued\" needs the stack's sync \
             queue, and this function has no SYNC_QUEUE_URL"
        ))
    })?;
    let ledger = &services.ledger;
    let claim = ledger
        .claim_event(
            workflow_id,
            &event_id,
            payload,
            now_ms(),
            invocation.deadline_ms,
        )
        .await?;
    match claim {
        Claim::Claimed | Claim::Reclaimed => {}
        Claim::Completed(mut answer) => {
            tracing::info!("duplicate delivery answered from its record");
            answer.duplicate = true;
            return Ok(Answer::Synced(answer));
        }
        Claim::Queued { total } => {
            tracing::info!("duplicate delivery of a queued event");
            return Ok(Answer::Queued(QueuedAnswer {
                event_id,
                duplicate: true,
                queued: total as usize,
            }));
        }
        Claim::InProgress => return Err(SyncError::InProgress),
    }

    // A failed event that comes again: its persons already done stay done.
    // A first claim has none, and costs no read to know it.
    let done: BTreeSet<usize> = match claim {
        Claim::Reclaimed => ledger
            .queued_persons(workflow_id, &event_id)
            .await?
            .into_iter()
            .filter(|person| person.status == PersonStatus::Done)
            .map(|person| person.index)
            .collect(),
        _ => BTreeSet::new(),
    };
    let messages = to_send(&done);
    if let Err(error) = queue.send_all(&messages).await {
        let error = SyncError::AwsUnavailable(error.to_string());
        let message = error.to_string();
        let ending = Ending::Failed {
            code: error.code(),
            message: &message,
        };
        metrics::emit(&metrics::event_records(workflow_id, None, 0, 0));
        if let Err(store) = ledger
            .finish(workflow_id, &event_id, ending, &[], now_ms())
            .await
        {
            tracing::error!(%store, "the failed event could not be recorded; the source's retry redoes it");
        }
        return Err(error);
    }
    let counts = ledger
        .mark_queued(workflow_id, &event_id, total, now_ms())
        .await?;
    if counts.pending() == 0 {
        // Workers finished every person before the mark: close it here.
        ledger
            .complete_queued(workflow_id, &event_id, now_ms())
            .await?;
    }
    tracing::info!(queued = messages.len(), "event queued");
    Ok(Answer::Queued(QueuedAnswer {
        event_id,
        duplicate: false,
        queued: messages.len(),
    }))
}

/// One message per person not in `done`.
fn messages(
    workflow_id: &str,
    event_id: &str,
    subjects: &[Subject],
    done: &BTreeSet<usize>,
) -> Vec<PersonMessage> {
    subjects
        .iter()
        .enumerate()
        .filter(|(index, _)| !done.contains(index))
        .map(|(index, subject)| PersonMessage {
            workflow_id: workflow_id.to_string(),
            event_id: event_id.to_string(),
            index,
            total: subjects.len(),
            subject: match subject {
                Subject::Person(_) => MessageSubject::Carried,
                Subject::Fetch {
                    source_id,
                    event_created_ms,
                } => MessageSubject::Fetch {
                    source_id: source_id.clone(),
                    event_created_ms: *event_created_ms,
                },
                Subject::Unsupported { source_id } => MessageSubject::Unsupported {
                    source_id: source_id.clone(),
                },
            },
        })
        .collect()
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageOutcome {
    /// The person synced and recorded (its result).
    Synced(PersonResult),
    /// A redelivered message whose person was recorded before.
    AlreadyRecorded,
    /// A Follow Up Boss person still in its new-person window on the
    /// message's last receive: sent again as a new message (its receives
    /// start over), this one done with.
    Requeued,
}

/// The receive limit of a message and how often it was received: on its
/// last receive a failure is recorded for good.
#[derive(Debug, Clone, Copy)]
pub struct Receives {
    /// SQS's `ApproximateReceiveCount` (1 on the first receive).
    pub count: u32,
    /// The queue's `maxReceiveCount` (its RedrivePolicy).
    pub limit: u32,
}

impl Receives {
    pub fn is_last(&self) -> bool {
        self.count >= self.limit
    }
}

/// Syncs the person one sync-queue message names (`body`, a
/// `PersonMessage`). `Err` means the message must come back (a transient
/// failure, or one past repair that SPEC section 11 leaves to the
/// dead-letter queue); on the last receive the person is first recorded
/// failed, with the message, and `DeadLetters` is published. The caller
/// then runs `complete` once for the batch's events (one read per event,
/// not per person).
pub async fn sync_message(
    services: &Services,
    body: &str,
    receives: Receives,
    invocation: Invocation,
) -> Result<MessageOutcome, SyncError> {
    let message: PersonMessage = serde_json::from_str(body)
        .map_err(|e| SyncError::NotReplayable(format!("not a sync queue message: {e}")))?;
    let span = tracing::info_span!(
        "person",
        workflow_id = %message.workflow_id,
        event_id = %message.event_id,
        index = message.index
    );
    sync_person(services, &message, body, receives, invocation)
        .instrument(span)
        .await
}

async fn sync_person(
    services: &Services,
    message: &PersonMessage,
    body: &str,
    receives: Receives,
    invocation: Invocation,
) -> Result<MessageOutcome, SyncError> {
    let settings = load_workflow(services, &message.workflow_id).await?;
    let settings = settings.as_ref();
    let (workflow_id, event_id) = (message.workflow_id.as_str(), message.event_id.as_str());
    let subject = match &message.subject {
        MessageSubject::Fetch {
            source_id,
            event_created_ms,
        } => Subject::Fetch {
            source_id: source_id.clone(),
            event_created_ms: *event_created_ms,
        },
        MessageSubject::Unsupported { source_id } => Subject::Unsupported {
            source_id: source_id.clone(),
        },
        MessageSubject::Carried => match carried(services, settings, message).await? {
            Some(subject) => subject,
            None => return Ok(MessageOutcome::AlreadyRecorded),
        },
        MessageSubject::Imported { person } => imported(settings, person)?,
    };
    let pacer = pacer(services, settings);
    let owner = format!("{event_id}#{}@{}", message.index, now_ms());
    let mut run = EventRun::new(services, settings, invocation, owner, pacer.as_ref());
    let synced = run.sync_subjects(slice::from_ref(&subject)).await;
    let (requests, busy_ms) = (run.kvcore_requests, run.kvcore_busy_ms);
    let ledger = &services.ledger;
    let result = match synced.map(|mut results| results.pop()) {
        Ok(Some(result)) => result,
        Ok(None) => {
            return Err(SyncError::NotReplayable(
                "a person's sync answered no result".to_string(),
            ));
        }
        Err(error) => {
            metrics::emit(&metrics::event_records(
                workflow_id,
                None,
                requests,
                busy_ms,
            ));
            write_through(services, &run.index_writes).await;
            let now = now_ms();
            if receives.is_last()
                && matches!(error, SyncError::PersonNotYetReadable(_))
                && requeue_new_person(services, body, receives).await
            {
                // Follow Up Boss's new-person window ends by itself (SPEC
                // section 5): waiting it out must not use up the receives.
                if let Err(store) = ledger.release_persons(&run.persons, now).await {
                    tracing::warn!(%store, "person lock not released");
                }
                return Ok(MessageOutcome::Requeued);
            }
            if receives.is_last() {
                let text = error.to_string();
                let ending = PersonEnding::Failed {
                    code: error.code(),
                    message: &text,
                    body,
                };
                tracing::error!(code = error.code(), %error, "person failed past the receive limit; to the dead-letter queue");
                metrics::emit(&[metrics::dead_letter_record(workflow_id, error.code())]);
                ledger
                    .record_person(
                        workflow_id,
                        event_id,
                        message.index,
                        ending,
                        &run.persons,
                        now,
                    )
                    .await?;
            } else if let Err(store) = ledger.release_persons(&run.persons, now).await {
                // The lock's lease runs out by itself.
                tracing::warn!(%store, "person lock not released");
            }
            return Err(error);
        }
    };
    let answer = EventAnswer {
        event_id: event_id.to_string(),
        duplicate: false,
        results: vec![result.clone()],
    };
    metrics::emit(&metrics::event_records(
        workflow_id,
        Some(&answer),
        requests,
        busy_ms,
    ));
    let now = now_ms();
    let ending = PersonEnding::Done(&result);
    let record = ledger.record_person(
        workflow_id,
        event_id,
        message.index,
        ending,
        &run.persons,
        now,
    );
    let (recorded, ()) = tokio::join!(record, write_through(services, &run.index_writes));
    let recorded = recorded?;
    Ok(match recorded {
        Recorded::Recorded => MessageOutcome::Synced(result),
        Recorded::AlreadyRecorded => MessageOutcome::AlreadyRecorded,
    })
}

/// Sends a message again, fresh, to come back within the new-person
/// window's delay; false when there is no queue or SQS refused (then the
/// message takes the way of any failure on its last receive).
async fn requeue_new_person(services: &Services, body: &str, receives: Receives) -> bool {
    let Some(queue) = &services.queue else {
        return false;
    };
    let after = redelivery::delay(Returned::NewPerson, receives.count, jitter());
    match queue.send_delayed(body, after).await {
        Ok(()) => {
            tracing::info!(
                delay_s = after.as_secs(),
                "new Follow Up Boss person not readable yet; sent again"
            );
            true
        }
        Err(error) => {
            tracing::warn!(%error, "the person could not be sent again");
            false
        }
    }
}

/// Makes a message that failed for now come back after its backoff (SPEC
/// section 11, `domain::redelivery`) rather than the queue's visibility
/// timeout: `ChangeMessageVisibility` on its receipt handle. Without a
/// queue (`SYNC_QUEUE_URL`) or should SQS refuse, the visibility timeout
/// applies, as before; that is logged, never an error.
pub async fn return_later(
    services: &Services,
    receipt_handle: &str,
    error: &SyncError,
    receives: Receives,
) {
    let returned = match error {
        SyncError::PersonNotYetReadable(_) => Returned::NewPerson,
        other => Returned::Transient {
            retry_after: other.retry_after(),
        },
    };
    let after = redelivery::delay(returned, receives.count, jitter());
    let Some(queue) = &services.queue else {
        tracing::warn!(
            "no SYNC_QUEUE_URL: the message comes back after the queue's visibility timeout"
        );
        return;
    };
    match queue.return_after(receipt_handle, after).await {
        Ok(()) => tracing::info!(
            delay_s = after.as_secs(),
            "message comes back after its backoff"
        ),
        Err(error) => {
            tracing::warn!(%error, "backoff not set; the message comes back after the queue's visibility timeout")
        }
    }
}

/// A fraction in `[0, 1)` that differs between messages returned at once.
fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1_000_000) / 1_000_000.0
}

/// The workflow and event a message belongs to (`None`: not a message of
/// the sync queue).
pub fn event_of(body: &str) -> Option<(String, String)> {
    let message: PersonMessage = serde_json::from_str(body).ok()?;
    Some((message.workflow_id, message.event_id))
}

/// Turns the event `completed` (or `failed`) if its last person was
/// recorded; anyone may call it any time (`Ledger::complete_queued`). An
/// error leaves the event open: the caller returns one of its messages to
/// the queue, whose redelivery (its person already recorded) calls this
/// again.
pub async fn complete(
    services: &Services,
    workflow_id: &str,
    event_id: &str,
) -> Result<(), SyncError> {
    services
        .ledger
        .complete_queued(workflow_id, event_id, now_ms())
        .await?;
    Ok(())
}

/// The person a queued event carries (generic, google): read again from
/// the event's payload. `None` when the event completed (the person was
/// recorded; its payload is gone).
async fn carried(
    services: &Services,
    settings: &Settings,
    message: &PersonMessage,
) -> Result<Option<Subject>, SyncError> {
    let record = services
        .ledger
        .event(&message.workflow_id, &message.event_id)
        .await?
        .ok_or_else(|| {
            SyncError::NotReplayable(format!("no event '{}' recorded", message.event_id))
        })?;
    let Some(payload) = record.payload else {
        return Ok(None);
    };
    let event = sources::parse(
        settings.source,
        payload.as_bytes(),
        ParseContext::of(settings),
    )?;
    let subject = event
        .subjects
        .into_iter()
        .nth(message.index)
        .ok_or_else(|| {
            SyncError::NotReplayable(format!(
                "event '{}' has no person {}",
                message.event_id, message.index
            ))
        })?;
    Ok(Some(subject))
}

/// The person an import's message carries (SPEC section 13): the row's
/// person as its preview decided on it.
fn imported(settings: &Settings, person: &serde_json::Value) -> Result<Subject, SyncError> {
    let person = ImportedPerson::deserialize(person)
        .map_err(|e| SyncError::NotReplayable(format!("not an import row: {e}")))?;
    Ok(Subject::Person(Box::new(
        person.person(settings.default_country),
    )))
}

/// The token's shared pacer at the workflow's `kvcore_max_rps`, keyed by
/// its secret's id (SPEC section 11); unpaced where the function has no
/// pacing table.
fn pacer(services: &Services, settings: &Settings) -> Option<Pacer> {
    let store = services.pacing.clone()?;
    Some(Pacer::shared(
        store,
        &settings.kvcore_token_secret,
        settings.kvcore_max_rps,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_message_per_person_not_done() {
        let subjects = vec![
            Subject::Fetch {
                source_id: "11".into(),
                event_created_ms: Some(5),
            },
            Subject::Unsupported { source_id: None },
            Subject::Fetch {
                source_id: "13".into(),
                event_created_ms: Some(5),
            },
        ];
        let all = messages("fub", "evt", &subjects, &BTreeSet::new());
        assert_eq!(all.len(), 3);
        assert_eq!(all[2].index, 2);
        assert_eq!(all[2].total, 3);
        assert_eq!(
            all[0].subject,
            MessageSubject::Fetch {
                source_id: "11".into(),
                event_created_ms: Some(5),
            }
        );
        let again = messages("fub", "evt", &subjects, &BTreeSet::from([0, 1]));
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].index, 2);
    }

    #[test]
    fn the_last_receive_is_the_limit() {
        assert!(!Receives { count: 1, limit: 3 }.is_last());
        assert!(Receives { count: 3, limit: 3 }.is_last());
        assert!(Receives { count: 4, limit: 3 }.is_last());
    }
}
