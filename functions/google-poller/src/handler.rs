//! One scheduled run (SPEC section 10): every enabled `google` workflow
//! with a `google_oauth_secret` → one poll each, in turn, each under its
//! own lease, so one failing stops no other (the shared poll,
//! `kvsync::flows::poll`); the answer is a summary per workflow.

use kvsync::flows::google_poll::{GooglePoller, Run, RunSummary};
use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;

pub async fn handle(poller: &GooglePoller, event: LambdaEvent<Value>) -> Result<RunSummary, Error> {
    let owner = format!("google-poller/{}", event.context.request_id);
    let run = Run::for_invocation(event.context.deadline, owner);
    Ok(poller.poll_all(&run).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvsync::domain::settings::{Attr, Item, Settings, kvcore_rates, parse};
    use kvsync::flows::google_poll::WorkflowSummary;

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
        let summary = RunSummary {
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
