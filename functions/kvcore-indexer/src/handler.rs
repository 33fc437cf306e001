//! The scheduled event → one run of the indexer (`kvsync::flows::indexer`)
//! within Lambda's deadline → its JSON summary.

use std::time::Duration;

use kvsync::clock::now_ms;
use kvsync::flows::indexer::{Indexer, Run, Summary};
use kvsync::flows::scheduled::{keep_margin, time_left};
use lambda_runtime::{Context, Error, LambdaEvent};
use serde_json::Value;
use tokio::time::Instant;

/// Time kept back from the invocation deadline, at most: a build that
/// finishes drops the contacts it did not see (a query over the scope) and
/// every holder releases its lease, after its last page.
const DEADLINE_MARGIN: Duration = Duration::from_secs(15);
/// Without a Lambda context deadline (never in Lambda itself).
const DEFAULT_BUDGET: Duration = Duration::from_secs(60);

pub async fn handle(indexer: &Indexer, event: LambdaEvent<Value>) -> Result<Summary, Error> {
    Ok(indexer.run(&run_of(&event.context)).await?)
}

/// This run's deadline (Lambda's, less the margin) and lease owner.
fn run_of(context: &Context) -> Run {
    let now = now_ms();
    let remaining = time_left(context.deadline, now, DEFAULT_BUDGET);
    let budget = keep_margin(remaining, DEADLINE_MARGIN);
    Run {
        deadline: Instant::now() + budget,
        deadline_ms: now + budget.as_millis() as i64,
        owner: format!("kvcore-indexer/{}", context.request_id),
    }
}
