//! The phone index in the bench: built by the release `kvcore-indexer`
//! binary through the Runtime API emulator (a scheduled event, as
//! EventBridge sends), before the scenarios that match by phone; and a full
//! build of a 20,000-contact account measured on its own (issue 9: kvCORE
//! list requests, wall time, the indexer's peak RSS, DynamoDB requests and
//! items written).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use kvcore_fake::RecordedRequest;
use kvsync_devstack::{LambdaProcess, LocalStack};
use serde_json::{Value, json};

use crate::ddb_counter::DynamoDbCounter;
use crate::scenarios::BOTH;
use crate::stats::{self, ms, round};
use crate::{Bench, Error, mark, memory};

/// Contacts of the measured build (issue 9).
pub const BUILD_CONTACTS: usize = 20_000;
/// `GET /contacts` answers at most 500 rows a page (SPEC section 7).
const PAGE_SIZE: usize = 500;
const MAX_BUILD_RSS_MIB: f64 = 64.0;
/// Scheduled runs allowed before a build that keeps resuming is an error.
const MAX_RUNS: u32 = 10;

/// What the scheduled runs that built the index did.
pub struct IndexerRuns {
    /// Each run's summary, as the function answered it.
    pub summaries: Vec<Value>,
    /// Each run's invoke round trip (the process was spawned before).
    pub durations: Vec<Duration>,
    /// The process's memory after the last run (see `crate::memory`).
    pub memory: Option<Value>,
}

/// Spawns the `kvcore-indexer` and sends it scheduled events until every
/// scope's build finished (a run whose deadline cuts a build saves its
/// place; the next resumes). A scope's error fails the bench.
pub async fn run_until_built(stack: &LocalStack) -> Result<IndexerRuns, Error> {
    let process = stack.spawn_indexer().await?;
    let result = runs(stack, &process).await;
    process.shutdown().await;
    result
}

async fn runs(stack: &LocalStack, process: &LambdaProcess) -> Result<IndexerRuns, Error> {
    let mut summaries = Vec::new();
    let mut durations = Vec::new();
    for _ in 0..MAX_RUNS {
        let started = Instant::now();
        let summary = stack.run_scheduled(process).await?;
        durations.push(started.elapsed());
        let scopes = summary["scopes"].as_array().cloned().unwrap_or_default();
        if scopes.is_empty() {
            return Err(format!("the indexer found no scope to build: {summary}").into());
        }
        if let Some(failed) = scopes.iter().find(|s| !s["error"].is_null()) {
            return Err(format!("the indexer failed a scope: {failed}").into());
        }
        let done = scopes.iter().all(|s| s["finished"] == true);
        summaries.push(summary);
        if done {
            return Ok(IndexerRuns {
                summaries,
                durations,
                memory: memory(process.pid()),
            });
        }
    }
    Err(format!("the phone index was not built after {MAX_RUNS} runs: {summaries:?}").into())
}

/// Every scope the stack's phone index table holds (its `meta` items).
pub async fn scopes(stack: &LocalStack) -> Result<Vec<String>, Error> {
    let mut scopes = Vec::new();
    for item in scan(stack, true).await? {
        if let Some(AttributeValue::S(scope)) = item.get("scope") {
            scopes.push(scope.clone());
        }
    }
    Ok(scopes)
}

/// The phone index table's items (keys only), all or only `meta` ones.
async fn scan(
    stack: &LocalStack,
    meta_only: bool,
) -> Result<Vec<std::collections::HashMap<String, AttributeValue>>, Error> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let mut scan = stack
            .dynamodb()
            .scan()
            .table_name(stack.table("PHONE_INDEX_TABLE"))
            .projection_expression("#scope, #entry")
            .expression_attribute_names("#scope", "scope")
            .expression_attribute_names("#entry", "entry")
            .set_exclusive_start_key(start);
        if meta_only {
            scan = scan
                .filter_expression("#entry = :meta")
                .expression_attribute_values(":meta", AttributeValue::S("meta".into()));
        }
        let page = scan.send().await?;
        items.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(items),
        }
    }
}

/// Contact `i` of the measured account: an email and a valid US mobile
/// number, all distinct (blocks 557 and 558 hold 10,000 numbers each).
fn contact(i: usize) -> Value {
    json!({
        "first_name": "Indexed",
        "email": format!("c{i}@account.example"),
        "cell_phone_1": format!("+1239{:03}{:04}", 557 + i / 10_000, i % 10_000),
    })
}

/// A full build of a [`BUILD_CONTACTS`]-contact account, one workflow (one
/// scope), measured.
pub async fn full_build(ddb: &DynamoDbCounter) -> Result<Value, Error> {
    let bench = Bench::start(ddb, &[BOTH]).await?;
    let fake = bench.stack.fake();
    fake.insert_contacts((0..BUILD_CONTACTS).map(contact).collect());
    fake.clear_requests();
    let before = ddb.counts();
    let runs = run_until_built(&bench.stack).await?;
    let aws = stats::delta(&before, &ddb.counts());
    let lists = fake.count_requests(RecordedRequest::is_list);
    let others = fake.requests().len() - lists;
    let mut items: BTreeMap<&str, u64> = BTreeMap::new();
    for item in scan(&bench.stack, false).await? {
        let kind = match item.get("entry") {
            Some(AttributeValue::S(entry)) if entry.starts_with("c#") => "contact",
            Some(AttributeValue::S(entry)) if entry.starts_with("p#") => "phone entry",
            _ => "meta",
        };
        *items.entry(kind).or_default() += 1;
    }
    bench.drop_tables().await?;

    let wall: Duration = runs.durations.iter().sum();
    let expected_lists = BUILD_CONTACTS.div_ceil(PAGE_SIZE);
    let peak = runs
        .memory
        .as_ref()
        .and_then(|m| m["peak_rss_mib"].as_f64())
        .unwrap_or(f64::NAN);
    let last = runs.summaries.last().cloned().unwrap_or(Value::Null);
    Ok(json!({
        "contacts": BUILD_CONTACTS,
        "runs": runs.summaries.len(),
        "run_ms": runs.durations.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
        "wall_ms": ms(wall),
        "kvcore_list_requests": lists,
        "kvcore_list_requests_expected": expected_lists,
        "kvcore_lists_as_expected": lists == expected_lists,
        "kvcore_other_requests": others,
        "peak_rss_mib": peak,
        "memory": runs.memory,
        "peak_rss_target_mib": MAX_BUILD_RSS_MIB,
        "peak_rss_within_target": peak < MAX_BUILD_RSS_MIB,
        "aws_by_operation": aws,
        "dynamodb_requests": DynamoDbCounter::dynamodb_total(&aws),
        "items_in_table": items,
        "items_total": items.values().sum::<u64>(),
        "contacts_indexed": last["scopes"][0]["contacts_indexed"],
        "last_summary": last,
    }))
}

pub fn print(build: &Value) {
    let number = |key: &str| build[key].as_f64().unwrap_or_default();
    println!(
        "\nphone index build, {} contacts (release kvcore-indexer, scheduled event, paced at the workflow's kvcore_max_rps):",
        build["contacts"]
    );
    println!(
        "  {} run(s), {} ms; kvCORE list requests {} (expected ceil(N/500) = {}): {}; other kvCORE requests {}",
        build["runs"],
        number("wall_ms"),
        build["kvcore_list_requests"],
        build["kvcore_list_requests_expected"],
        mark(build["kvcore_lists_as_expected"] == true),
        build["kvcore_other_requests"],
    );
    println!(
        "  peak RSS {} MiB   target < {MAX_BUILD_RSS_MIB} MiB: {}",
        number("peak_rss_mib"),
        mark(build["peak_rss_within_target"] == true),
    );
    println!(
        "  DynamoDB: {} requests ({}); items in the table: {} ({}); {} per contact",
        build["dynamodb_requests"],
        crate::breakdown(&build["aws_by_operation"]),
        build["items_total"],
        crate::breakdown(&build["items_in_table"]),
        round(number("items_total") / number("contacts"), 2),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_contacts_have_distinct_valid_looking_phones() {
        assert_eq!(contact(0)["cell_phone_1"], "+12395570000");
        assert_eq!(contact(19_999)["cell_phone_1"], "+12395589999");
        assert_ne!(
            contact(9_999)["cell_phone_1"],
            contact(10_000)["cell_phone_1"]
        );
        assert_eq!(BUILD_CONTACTS.div_ceil(PAGE_SIZE), 40);
    }
}
