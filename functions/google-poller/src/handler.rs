//! One scheduled run (SPEC section 10): every enabled `google` workflow
//! with a `google_oauth_secret` → one poll each (`google_poll`), in turn,
//! each under its own lease, so one failing stops no other; the answer is
//! a summary per workflow.

use std::collections::HashMap;
use std::time::Duration;

use kvsync::adapters::kvcore::Pacer;
use kvsync::clock::now_ms;
use kvsync::domain::settings::{DEFAULT_KVCORE_MAX_RPS, Settings, kvcore_rates};
use kvsync::flows::google_poll::{GooglePoller, Run, WorkflowSummary};
use kvsync::flows::scheduled::{InvalidWorkflow, keep_margin, skipped_workflows, time_left};
use lambda_runtime::{Context, Error, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

/// Time kept back from the invocation deadline, at most: the last
/// person's record and the state's write.
const DEADLINE_MARGIN: Duration = Duration::from_secs(10);
/// Without a Lambda context deadline (never in Lambda itself).
const DEFAULT_BUDGET: Duration = Duration::from_secs(60);

/// What a run did: one entry per polled workflow, and the workflows it
/// could not read.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub workflows: Vec<WorkflowSummary>,
    /// Misconfigured workflow items (SPEC section 3), each with its error.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalid_workflows: Vec<InvalidWorkflow>,
}

pub async fn handle(poller: &GooglePoller, event: LambdaEvent<Value>) -> Result<Summary, Error> {
    let run = run_of(&event.context);
    let all = poller.services.workflows.all().await?;
    let invalid_workflows = skipped_workflows(&all.invalid);
    let mut polled: Vec<&Settings> = all.valid.iter().filter(|s| s.is_polled_google()).collect();
    polled.sort_by(|a, b| a.workflow_id.cmp(&b.workflow_id));
    // One pace per kvCORE token, shared by its workflows in this run and,
    // through the pacing table, with every other function on the token
    // (SPEC section 11).
    let pacing = poller.services.pacing.as_ref();
    let pacers: HashMap<String, Pacer> = kvcore_rates(polled.iter().copied())
        .into_iter()
        .map(|(secret, rate)| {
            let pacer = Pacer::for_token(pacing, &secret, rate);
            (secret, pacer)
        })
        .collect();
    let fallback = Pacer::per_second(DEFAULT_KVCORE_MAX_RPS);

    let mut workflows = Vec::new();
    for settings in polled {
        let pacer = pacers
            .get(&settings.kvcore_token_secret)
            .unwrap_or(&fallback);
        let summary = poller.poll(settings, &run, pacer).await;
        tracing::info!(
            workflow_id = %summary.workflow_id,
            listed = summary.listed,
            created = summary.created,
            updated = summary.updated,
            unchanged = summary.unchanged,
            skipped = summary.skipped,
            failed = summary.failed,
            full_listing = summary.full_listing,
            finished = summary.finished,
            busy = summary.busy,
            reconnect_needed = summary.reconnect_needed,
            error = summary.error.as_deref().unwrap_or(""),
            "google workflow polled"
        );
        workflows.push(summary);
    }
    Ok(Summary {
        workflows,
        invalid_workflows,
    })
}

fn run_of(context: &Context) -> Run {
    let now = now_ms();
    let remaining = time_left(context.deadline, now, DEFAULT_BUDGET);
    let budget = keep_margin(remaining, DEADLINE_MARGIN);
    Run {
        deadline: Instant::now() + budget,
        deadline_ms: now + budget.as_millis() as i64,
        lease_until_ms: now + remaining.as_millis() as i64,
        owner: format!("google-poller/{}", context.request_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvsync::domain::settings::{Attr, Item, parse};

    fn workflow(id: &str, token: &str, extra: &[(&str, Attr)]) -> Settings {
        let mut item = Item::from([
            ("kvcore_token_secret".to_string(), Attr::S(token.into())),
            ("webhook_secret".to_string(), Attr::S("w".into())),
            ("source".to_string(), Attr::S("google".into())),
            ("google_oauth_secret".to_string(), Attr::S("g".into())),
        ]);
        for (name, value) in extra {
            item.insert(name.to_string(), value.clone());
        }
        parse(id, &item).unwrap().0
    }

    #[test]
    fn a_token_is_paced_at_the_lowest_rate_of_its_polled_workflows() {
        let a = workflow("a", "t1", &[("kvcore_max_rps", Attr::N("2".into()))]);
        let b = workflow("b", "t1", &[]);
        let c = workflow("c", "t2", &[("kvcore_max_rps", Attr::N("0.5".into()))]);
        assert_eq!(
            kvcore_rates([&a, &b, &c]),
            std::collections::BTreeMap::from([("t1".to_string(), 2.0), ("t2".to_string(), 0.5)])
        );
    }

    #[test]
    fn the_summary_names_what_was_done_per_workflow() {
        let summary = Summary {
            workflows: vec![WorkflowSummary {
                workflow_id: "g".into(),
                listed: 3,
                created: 1,
                updated: 1,
                unchanged: 0,
                skipped: 1,
                failed: 0,
                full_listing: true,
                finished: true,
                pages: 1,
                ..WorkflowSummary::default()
            }],
            invalid_workflows: Vec::new(),
        };
        assert_eq!(
            serde_json::to_value(&summary).unwrap(),
            serde_json::json!({"workflows": [{
                "workflow_id": "g", "listed": 3, "created": 1, "updated": 1, "unchanged": 0,
                "skipped": 1, "failed": 0, "full_listing": true, "finished": true, "pages": 1
            }]})
        );
    }
}
