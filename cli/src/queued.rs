//! Queued delivery for the operator (SPEC section 11): the dead-letter
//! queue drained back onto the sync queue (`kvsync replay <workflow>
//! --dlq`), and what `kvsync history` says of a queued event.

use std::process::ExitCode;

use kvsync::adapters::queue::PersonMessage;
use kvsync::adapters::store::{EventRecord, EventStatus, PersonStatus};
use kvsync::flows::Services;

/// Moves every dead-lettered message of `workflow_id` back onto the sync
/// queue, where the `sync-worker` syncs it through the same path as any
/// other (a person recorded done since changes nothing). Messages of other
/// workflows are left where they are. Needs `SYNC_QUEUE_URL` and
/// `SYNC_DLQ_URL` (the stack's `SyncQueueUrl` and `SyncDeadLetterQueueUrl`).
pub async fn drain_dlq(services: &Services, workflow_id: &str) -> Result<ExitCode, String> {
    let (Some(queue), Some(dead_letters)) = (&services.queue, &services.dead_letters) else {
        return Err(
            "--dlq needs SYNC_QUEUE_URL and SYNC_DLQ_URL (the stack's SyncQueueUrl and \
             SyncDeadLetterQueueUrl outputs)"
                .to_string(),
        );
    };
    let mut moved = 0;
    loop {
        let received = dead_letters
            .receive(10, 1)
            .await
            .map_err(|e| e.to_string())?;
        if received.is_empty() {
            break;
        }
        for (receipt, body) in received {
            let ours = serde_json::from_str::<PersonMessage>(&body)
                .is_ok_and(|m| m.workflow_id == workflow_id);
            if !ours {
                // Not this workflow's: it shows again after its visibility timeout.
                continue;
            }
            queue.send_raw(&body).await.map_err(|e| e.to_string())?;
            dead_letters
                .delete(&receipt)
                .await
                .map_err(|e| e.to_string())?;
            moved += 1;
        }
    }
    println!(
        "moved {moved} dead-lettered persons of workflow '{workflow_id}' back to the sync queue"
    );
    Ok(ExitCode::SUCCESS)
}

/// A queued event's line in `kvsync history`: its persons queued, done and
/// failed, and each failed person with its error. `None` for a sync event.
pub async fn history_detail(
    services: &Services,
    record: &EventRecord,
) -> Result<Option<String>, String> {
    let Some(counts) = record.queued else {
        return Ok(None);
    };
    let status = match record.status {
        EventStatus::InProgress => "queuing",
        EventStatus::Queued => "queued",
        EventStatus::Completed => "completed",
        EventStatus::Failed => "failed",
    };
    let mut line = format!(
        "{status}: {} persons, {} done, {} failed, {} queued",
        counts.total,
        counts.done,
        counts.failed,
        counts.pending()
    );
    if counts.failed > 0 {
        let persons = services
            .ledger
            .queued_persons(&record.workflow_id, &record.event_id)
            .await
            .map_err(|e| e.to_string())?;
        for person in persons.iter().filter(|p| p.status == PersonStatus::Failed) {
            let source_id = person
                .message
                .as_deref()
                .and_then(|m| serde_json::from_str::<PersonMessage>(m).ok())
                .map(|m| match m.subject {
                    kvsync::adapters::queue::MessageSubject::Fetch { source_id, .. } => source_id,
                    _ => format!("#{}", m.index),
                })
                .unwrap_or_else(|| format!("#{}", person.index));
            line.push_str(&format!(
                "; person {source_id} failed: {}",
                person.error_code.as_deref().unwrap_or("-")
            ));
        }
    }
    Ok(Some(line))
}
