//! The Microsoft poller in the bench (issue 21), beside Google's
//! (`google.rs`, the same measurement): a full delta listing of a
//! 10,000-contact Outlook folder through the release `microsoft-poller`
//! binary, with every contact already in kvCORE as Outlook has it, so
//! each person is a lookup and `unchanged`: persons per second through the
//! poller's whole path, its peak RSS (target under 64 MiB), the Graph and
//! kvCORE requests. Then the folder listed again after Graph lost its
//! delta state (410): nothing changed, so no person reaches kvCORE.
//!
//! Wiring (bench/src/main.rs): `mod microsoft;`, `"microsoft_poller":
//! microsoft::run().await` in the report, `BENCH_ONLY=microsoft`. The
//! Makefile's `bench` target builds `-p microsoft-poller` and passes
//! `MICROSOFT_POLLER_BIN=$(CURDIR)/target/release/microsoft-poller`.

use std::time::{Duration, Instant};

use kvcore_fake::RecordedRequest;
use kvsync_devstack::{LambdaProcess, LocalStack, SpawnOptions, StackOptions};
use microsoft_fake::{FakeConfig, FakeMicrosoft};
use serde_json::{Value, json};

/// Contacts of the measured folder (issue 21).
pub const PERSONS: usize = 10_000;
const MAX_RSS_MIB: f64 = 64.0;
/// Scheduled runs allowed before a listing that keeps resuming is an error.
const MAX_RUNS: u32 = 20;
/// One run's time: long enough for the whole listing in a run or two here
/// (the template's 120 s would take several; the state machine makes that
/// the same work).
const RUN_TIMEOUT: Duration = Duration::from_secs(900);
const WORKFLOW: &str = "microsoft-bench";

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The measurement as the report's `microsoft_poller` entry; a failure is
/// `{"error": ...}`.
pub async fn run() -> Value {
    match measure().await {
        Ok(report) => report,
        Err(error) => json!({"error": error.to_string()}),
    }
}

fn outlook_contact(i: usize) -> Value {
    json!({
        "givenName": format!("Person{i}"),
        "surname": "Bench",
        "emailAddresses": [{"name": format!("Person{i}"), "address": format!("m{i}@outlook.example")}],
    })
}

/// The same person as kvCORE already holds it.
fn kvcore_contact(i: usize) -> Value {
    json!({
        "first_name": format!("Person{i}"),
        "last_name": "Bench",
        "email": format!("m{i}@outlook.example"),
        "assigned_agent_id": 7,
    })
}

async fn measure() -> Result<Value, Error> {
    let stack = LocalStack::start(StackOptions::default()).await?;
    let microsoft = FakeMicrosoft::start(FakeConfig::default()).await?;
    microsoft.add_contacts((0..PERSONS).map(outlook_contact).collect());
    let kvcore = stack.fake();
    kvcore.insert_contacts((0..PERSONS).map(kvcore_contact).collect());
    // The poller's own speed, not kvCORE's pace: at the default 5 requests
    // a second two lookups a person would take over an hour.
    stack
        .seed_microsoft_workflow(
            WORKFLOW,
            &microsoft,
            json!({"initial_sync": {"S": "all"}, "kvcore_max_rps": {"N": "100000"}}),
        )
        .await?;
    kvcore.clear_requests();
    let options = SpawnOptions {
        timeout: RUN_TIMEOUT,
        ..stack.microsoft_poller_spawn_options()?
    };
    let poller = stack
        .spawn_microsoft_poller_with(&microsoft, &[], options)
        .await?;
    let result = listings(&stack, &microsoft, &poller).await;
    poller.shutdown().await;
    result
}

async fn listings(
    stack: &LocalStack,
    microsoft: &FakeMicrosoft,
    poller: &LambdaProcess,
) -> Result<Value, Error> {
    let kvcore = stack.fake();
    let (first, first_time) = until_finished(stack, poller).await?;
    let unchanged: u64 = first
        .iter()
        .map(|s| s["unchanged"].as_u64().unwrap_or(0))
        .sum();
    if unchanged != PERSONS as u64 {
        return Err(format!("expected {PERSONS} unchanged persons: {first:?}").into());
    }
    let kvcore_first = json!({
        "lists": kvcore.count_requests(RecordedRequest::is_list),
        "reads": kvcore.count_requests(RecordedRequest::is_get),
        "writes": kvcore.count_requests(|r| r.method != "GET"),
    });
    let pages = microsoft.count_requests(|r| r.is_delta());
    let memory = memory(poller.pid());

    microsoft.lose_delta_state();
    kvcore.clear_requests();
    microsoft.clear_requests();
    let (relisted, relist_time) = until_finished(stack, poller).await?;
    let persons_per_second =
        |time: Duration| (PERSONS as f64 / time.as_secs_f64() * 10.0).round() / 10.0;
    let peak = memory.as_ref().and_then(|m| m["peak_rss_mib"].as_f64());
    Ok(json!({
        "persons": PERSONS,
        "full_listing": {
            "runs": first.len(),
            "seconds": round(first_time.as_secs_f64()),
            "persons_per_second": persons_per_second(first_time),
            "graph_delta_requests": pages,
            "kvcore_requests": kvcore_first,
            "summaries": first,
        },
        "relisting_after_gone_delta_state": {
            "runs": relisted.len(),
            "seconds": round(relist_time.as_secs_f64()),
            "persons_per_second": persons_per_second(relist_time),
            "kvcore_requests": kvcore.requests().len(),
            "graph_delta_requests": microsoft.count_requests(|r| r.is_delta()),
        },
        "memory": memory,
        "peak_rss_within_target": peak.is_some_and(|mib| mib < MAX_RSS_MIB),
    }))
}

/// Scheduled runs until the workflow's listing is finished; each run's
/// summary and the time they took together.
async fn until_finished(
    stack: &LocalStack,
    poller: &LambdaProcess,
) -> Result<(Vec<Value>, Duration), Error> {
    let mut summaries = Vec::new();
    let started = Instant::now();
    for _ in 0..MAX_RUNS {
        let summary = stack.run_scheduled(poller).await?;
        let workflow = summary["workflows"]
            .as_array()
            .and_then(|all| all.iter().find(|w| w["workflow_id"] == WORKFLOW))
            .cloned()
            .ok_or_else(|| format!("no {WORKFLOW} in the summary: {summary}"))?;
        if workflow["failed"].as_u64().unwrap_or(0) > 0 {
            return Err(format!("persons failed: {workflow}").into());
        }
        let finished = workflow["finished"] == true;
        summaries.push(workflow);
        if finished {
            return Ok((summaries, started.elapsed()));
        }
    }
    Err(format!("the listing did not finish in {MAX_RUNS} runs: {summaries:?}").into())
}

/// Peak RSS and resident memory now of a live process (Linux).
fn memory(pid: u32) -> Option<Value> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mib = |field: &str| {
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| round(kb / 1024.0))
    };
    Some(json!({
        "peak_rss_mib": mib("VmHWM:")?,
        "rss_anon_mib": mib("RssAnon:"),
        "rss_file_mib": mib("RssFile:"),
    }))
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}
