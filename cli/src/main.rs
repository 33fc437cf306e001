//! `kvsync`: the operator's command. It reads the same environment as the
//! webhook function (WORKFLOWS_TABLE, EVENTS_TABLE, PERSONS_TABLE,
//! PHONE_INDEX_TABLE, KVCORE_BASE_URL; AWS credentials and region as usual)
//! and replays events through the very code path the webhook uses.

mod index;

use std::process::ExitCode;
use std::time::Duration;

use kvsync::store::{EventRecord, EventStatus};
use kvsync::sync::{self, Invocation, Services};

const USAGE: &str = "\
usage:
  kvsync failed  <workflow_id>                      list events that ended failed
  kvsync replay  <workflow_id> <event_id>...        replay these events
  kvsync replay  <workflow_id> --failed             replay every failed event
  kvsync history <workflow_id> [--limit N]          recent events, newest first
  kvsync usage   <workflow_id>                      events synced per month, by outcome
  kvsync index build  <workflow_id>                 build the phone index of the workflow's scope, with progress
  kvsync index status <workflow_id>                 the phone index of the workflow's scope: size, age, a build in progress";

/// One replay gets as long as one webhook invocation.
const REPLAY_BUDGET: Duration = Duration::from_secs(25);

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("kvsync: {message}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: &[String]) -> Result<ExitCode, String> {
    if let [command, subcommand, workflow_id] = args
        && command == "index"
    {
        let services = Services::from_env().await?;
        return match subcommand.as_str() {
            "build" => index::build(&services, workflow_id).await,
            "status" => index::status(&services, workflow_id).await,
            _ => Err(USAGE.to_string()),
        };
    }
    let [command, workflow_id, rest @ ..] = args else {
        return Err(USAGE.to_string());
    };
    let services = Services::from_env().await?;
    let ledger = &services.ledger;
    match command.as_str() {
        "failed" => {
            let failed = failed_events(&services, workflow_id).await?;
            if failed.is_empty() {
                println!("no failed events for workflow '{workflow_id}'");
            }
            for record in failed {
                println!(
                    "{}  {}  attempts {}  {}: {}",
                    when(record.updated_at_ms),
                    record.event_id,
                    record.attempts,
                    record.error_code.as_deref().unwrap_or("-"),
                    record.error_message.as_deref().unwrap_or("-"),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        "replay" => {
            let event_ids: Vec<String> = match rest {
                [flag] if flag == "--failed" => failed_events(&services, workflow_id)
                    .await?
                    .into_iter()
                    .map(|r| r.event_id)
                    .collect(),
                [] => return Err(USAGE.to_string()),
                ids => ids.to_vec(),
            };
            let mut all_ok = true;
            for event_id in &event_ids {
                let invocation = Invocation::within(REPLAY_BUDGET);
                match sync::replay(&services, workflow_id, event_id, invocation).await {
                    Ok(answer) => {
                        println!("{}", serde_json::to_string(&answer).unwrap_or_default())
                    }
                    Err(error) => {
                        all_ok = false;
                        eprintln!("{event_id}: {} ({error})", error.code());
                    }
                }
            }
            Ok(if all_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        "history" => {
            let limit = match rest {
                [] => 50,
                [flag, n] if flag == "--limit" => n.parse().map_err(|_| USAGE.to_string())?,
                _ => return Err(USAGE.to_string()),
            };
            let records = ledger
                .events(workflow_id)
                .await
                .map_err(|e| e.to_string())?;
            for record in records.into_iter().take(limit) {
                println!("{}", history_line(&record));
            }
            Ok(ExitCode::SUCCESS)
        }
        "usage" => {
            println!(
                "{:<8} {:>8} {:>8} {:>9} {:>8} {:>7}",
                "month", "created", "updated", "unchanged", "skipped", "failed"
            );
            for (month, usage) in ledger.usage(workflow_id).await.map_err(|e| e.to_string())? {
                println!(
                    "{month:<8} {:>8} {:>8} {:>9} {:>8} {:>7}",
                    usage.created, usage.updated, usage.unchanged, usage.skipped, usage.failed
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        _ => Err(USAGE.to_string()),
    }
}

async fn failed_events(services: &Services, workflow_id: &str) -> Result<Vec<EventRecord>, String> {
    let records = services
        .ledger
        .events(workflow_id)
        .await
        .map_err(|e| e.to_string())?;
    Ok(records
        .into_iter()
        .filter(|r| r.status == EventStatus::Failed)
        .collect())
}

fn history_line(record: &EventRecord) -> String {
    let detail = match (&record.answer, record.status) {
        (Some(answer), _) => answer
            .results
            .iter()
            .map(|r| {
                let outcome = serde_json::to_value(r.outcome).unwrap_or_default();
                let outcome = outcome.as_str().unwrap_or("?").to_string();
                match (r.reason, r.contact_id) {
                    (Some(reason), _) => {
                        let reason = serde_json::to_value(reason).unwrap_or_default();
                        format!("{outcome} ({})", reason.as_str().unwrap_or("?"))
                    }
                    (None, Some(id)) => format!("{outcome} #{id}"),
                    (None, None) => outcome,
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
        (None, EventStatus::Failed) => {
            format!("failed: {}", record.error_code.as_deref().unwrap_or("-"))
        }
        (None, _) => "in progress".to_string(),
    };
    format!(
        "{}  {}  {}",
        when(record.updated_at_ms),
        record.event_id,
        detail
    )
}

/// `unix_ms` as RFC 3339 UTC, `-` when out of range.
fn when(unix_ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_ms / 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".to_string())
}
