//! The Google poller in the bench (issue 11): a full listing of a
//! 10,000-contact Google account through the release `google-poller`
//! binary (scheduled events through the Runtime API emulator), with every
//! contact already in kvCORE as Google has it, so each person is a lookup
//! and `unchanged`: persons per second through the poller's whole path
//! (claim, lock, match, record), its peak RSS (target under 64 MiB), the
//! Google and kvCORE requests. Then the same account listed again after
//! its sync token expired: nothing changed, so no person reaches kvCORE.
//!
//! Wiring (bench/src/main.rs): `mod google;` and, where the report is
//! assembled, `"google_poller": google::run().await`. The Makefile's
//! `bench` target builds `-p google-poller` and passes
//! `GOOGLE_POLLER_BIN=$(CURDIR)/target/release/google-poller`.

use std::time::{Duration, Instant};

use google_fake::{FakeConfig, FakeGoogle};
use kvcore_fake::RecordedRequest;
use kvsync_devstack::{LambdaProcess, LocalStack, SpawnOptions, StackOptions};
use serde_json::{Value, json};

/// Contacts of the measured account (issue 11).
pub const PERSONS: usize = 10_000;

/// [`PERSONS`], or `BENCH_GOOGLE_PERSONS` for a shorter run.
fn persons() -> usize {
    std::env::var("BENCH_GOOGLE_PERSONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(PERSONS)
}
const MAX_RSS_MIB: f64 = 64.0;
/// Scheduled runs allowed before a listing that keeps resuming is an error.
const MAX_RUNS: u32 = 20;
/// One run's time: long enough for the whole listing in a run or two here
/// (the template's 120 s would take several; the state machine makes that
/// the same work).
const RUN_TIMEOUT: Duration = Duration::from_secs(900);
const WORKFLOW: &str = "google-bench";

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The measurement as the report's `google_poller` entry; a failure is
/// `{"error": ...}`.
pub async fn run() -> Value {
    match measure().await {
        Ok(report) => report,
        Err(error) => json!({"error": error.to_string()}),
    }
}

fn google_person(i: usize) -> Value {
    json!({
        "names": [{"givenName": format!("Person{i}"), "familyName": "Bench"}],
        "emailAddresses": [{"value": format!("g{i}@google.example"), "metadata": {"primary": true}}],
    })
}

/// The same person as kvCORE already holds it.
fn kvcore_contact(i: usize) -> Value {
    json!({
        "first_name": format!("Person{i}"),
        "last_name": "Bench",
        "email": format!("g{i}@google.example"),
        "assigned_agent_id": 7,
    })
}

async fn measure() -> Result<Value, Error> {
    let stack = LocalStack::start(StackOptions::default()).await?;
    let google = FakeGoogle::start(FakeConfig::default()).await?;
    google.add_persons((0..persons()).map(google_person).collect());
    let kvcore = stack.fake();
    kvcore.insert_contacts((0..persons()).map(kvcore_contact).collect());
    // The poller's own speed, not kvCORE's pace: at the default 5 requests
    // a second two lookups a person would take over an hour.
    stack
        .seed_google_workflow(
            WORKFLOW,
            &google,
            json!({"initial_sync": {"S": "all"}, "kvcore_max_rps": {"N": "100000"}}),
        )
        .await?;
    kvcore.clear_requests();
    let options = SpawnOptions {
        timeout: RUN_TIMEOUT,
        ..stack.google_poller_spawn_options()?
    };
    let poller = stack
        .spawn_google_poller_with(&google, &[], options)
        .await?;
    let result = listings(&stack, &google, &poller).await;
    poller.shutdown().await;
    result
}

async fn listings(
    stack: &LocalStack,
    google: &FakeGoogle,
    poller: &LambdaProcess,
) -> Result<Value, Error> {
    let kvcore = stack.fake();
    crate::first_poll(poller).await?;
    let cpu_at_start = crate::stats::cpu_time(poller.pid());
    let (first, first_time) = until_finished(stack, poller).await?;
    let cpu_after_first = crate::stats::cpu_time(poller.pid());
    let unchanged: u64 = first
        .iter()
        .map(|s| s["unchanged"].as_u64().unwrap_or(0))
        .sum();
    if unchanged != persons() as u64 {
        return Err(format!("expected {} unchanged persons: {first:?}", persons()).into());
    }
    let kvcore_first = json!({
        "lists": kvcore.count_requests(RecordedRequest::is_list),
        "reads": kvcore.count_requests(RecordedRequest::is_get),
        "writes": kvcore.count_requests(|r| r.method != "GET"),
    });
    let pages = google.count_requests(|r| r.is_connections());
    let memory = memory(poller.pid());

    google.expire_sync_tokens();
    kvcore.clear_requests();
    google.clear_requests();
    let (relisted, relist_time) = until_finished(stack, poller).await?;
    // CPU per listed person (issue 22), each listing's runs together.
    let cpu_after_relisting = crate::stats::cpu_time(poller.pid());
    let cpu_per_person = |from: Option<Duration>, to: Option<Duration>| {
        from.zip(to).map(|(from, to)| {
            crate::stats::round(
                to.saturating_sub(from).as_secs_f64() * 1000.0 / persons() as f64,
                3,
            )
        })
    };
    let persons_per_second =
        |time: Duration| (persons() as f64 / time.as_secs_f64() * 10.0).round() / 10.0;
    let peak = memory.as_ref().and_then(|m| m["peak_rss_mib"].as_f64());
    Ok(json!({
        "persons": persons(),
        "full_listing": {
            "runs": first.len(),
            "seconds": round(first_time.as_secs_f64()),
            "persons_per_second": persons_per_second(first_time),
            "google_list_requests": pages,
            "cpu_ms_per_person": cpu_per_person(cpu_at_start, cpu_after_first),
            "kvcore_requests": kvcore_first,
            "summaries": first,
        },
        "relisting_after_expired_token": {
            "runs": relisted.len(),
            "seconds": round(relist_time.as_secs_f64()),
            "persons_per_second": persons_per_second(relist_time),
            "kvcore_requests": kvcore.requests().len(),
            "cpu_ms_per_person": cpu_per_person(cpu_after_first, cpu_after_relisting),
            "google_list_requests": google.count_requests(|r| r.is_connections()),
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
