//! Queued delivery (issue 12, SPEC section 11): time to the 202 for Follow
//! Up Boss events naming 10, 100 and 1,000 new people; drain throughput
//! (persons per second) at `kvcore_max_rps` 5 and 50 with kvCORE answering
//! in 150 ms; the sync-worker's peak RSS. Each measurement runs on its own
//! stack (moto_server, the kvCORE and Follow Up Boss fakes), the worker
//! from the queue through devstack's SQS event source.
//!
//! Wiring (bench/Cargo.toml needs `followupboss-fake.workspace = true`):
//! `mod queued;` in main.rs, then `report["queued"] = queued::run().await;`
//! with `SYNC_WORKER_BIN` set like `WEBHOOK_BIN` (the release build).

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use followupboss_fake::FakeFollowUpBoss;
use kvsync_devstack::{LocalStack, QueueOverrides, SqsSource, StackOptions};
use serde_json::{Value, json};

const FUB_KEY: &str = "bench-fub-key";
const KVCORE_LATENCY: Duration = Duration::from_millis(150);
/// Persons drained per throughput run: enough for a steady rate at 50/s.
const DRAIN_PERSONS: u64 = 300;
/// Worker processes (the template's MaximumConcurrency default).
const WORKERS: usize = 5;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Every queued measurement, as JSON for target/bench/report.json; a
/// measurement that failed says why in its place.
pub async fn run() -> Value {
    let mut accepted = Vec::new();
    for persons in [10, 100, 1_000] {
        accepted.push(match time_to_202(persons).await {
            Ok(ms) => json!({"persons": persons, "ms_to_202": ms}),
            Err(e) => json!({"persons": persons, "error": e.to_string()}),
        });
    }
    let mut drains = Vec::new();
    for rps in [5, 50] {
        let persons = if rps == 5 { 60 } else { DRAIN_PERSONS };
        drains.push(match drain(rps, persons).await {
            Ok(value) => value,
            Err(e) => json!({"kvcore_max_rps": rps, "error": e.to_string()}),
        });
    }
    json!({"accepted": accepted, "drain": drains})
}

struct Bench {
    stack: LocalStack,
    fub: FakeFollowUpBoss,
    process: kvsync_devstack::LambdaProcess,
}

async fn bench_stack(rps: u32) -> Result<Bench, Error> {
    let fub = FakeFollowUpBoss::start(FUB_KEY).await?;
    let stack = LocalStack::start(StackOptions {
        followupboss_base_url: Some(fub.base_url()),
        queues: QueueOverrides {
            visibility_timeout: Some(60),
            max_receive_count: None,
        },
        ..StackOptions::default()
    })
    .await?;
    let key = stack.secret_name("kvsync/fub/api-key");
    stack.put_secret(&key, FUB_KEY).await?;
    stack
        .seed_workflow(
            "fub",
            json!({
                "source": {"S": "followupboss"},
                "source_api_secret": {"S": key},
                "kvcore_max_rps": {"N": rps.to_string()},
            }),
        )
        .await?;
    stack.fake().set_latency(KVCORE_LATENCY);
    let process = stack.spawn_function().await?;
    Ok(Bench {
        stack,
        fub,
        process,
    })
}

fn event(bench: &Bench, event_id: &str, first: u64, count: u64) -> Value {
    let ids: Vec<u64> = (first..first + count).collect();
    for id in &ids {
        bench.fub.put_person(json!({
            "id": id, "firstName": "Bench", "lastName": format!("P{id}"),
            "emails": [{"value": format!("bench{id}@example.com"), "type": "home", "isPrimary": true}],
            "updated": "2026-11-28T10:00:00Z"
        }));
    }
    json!({"eventId": event_id, "eventCreated": "2026-11-28T10:00:01+00:00",
           "event": "peopleCreated", "resourceIds": ids, "uri": "https://api.followupboss.com/v1/people"})
}

/// Milliseconds from the delivery to its 202 (warm function: one event first).
async fn time_to_202(persons: u64) -> Result<f64, Error> {
    let bench = bench_stack(5).await?;
    let warm = event(&bench, "warm", 1, 1);
    bench.stack.send(&bench.process, "fub", &warm).await?;
    let body = event(&bench, &format!("evt-{persons}"), 1_000, persons);
    let started = Instant::now();
    let answer = bench.stack.send(&bench.process, "fub", &body).await?;
    let took = started.elapsed();
    if answer.status != 202 {
        return Err(format!("answered {}: {}", answer.status, answer.body).into());
    }
    Ok(took.as_secs_f64() * 1000.0)
}

/// Persons per second from the 202 to the event's completion, and the
/// workers' peak RSS.
async fn drain(rps: u32, persons: u64) -> Result<Value, Error> {
    let bench = bench_stack(rps).await?;
    let body = event(&bench, "evt-drain", 100_000, persons);
    let answer = bench.stack.send(&bench.process, "fub", &body).await?;
    if answer.status != 202 {
        return Err(format!("answered {}: {}", answer.status, answer.body).into());
    }
    let started = Instant::now();
    let source = bench.stack.start_sync_worker(&[], None, Some(WORKERS), 0)?;
    let mut peak_rss_kib = 0;
    loop {
        peak_rss_kib = peak_rss_kib.max(workers_peak_rss_kib(&source));
        if status(&bench.stack, "evt-drain").await? == "completed" {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err("not drained in 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let took = started.elapsed().as_secs_f64();
    // The workers' CPU, their cold starts included (issue 22).
    let cpu: std::time::Duration = source
        .pids()
        .into_iter()
        .filter_map(crate::stats::cpu_time)
        .sum();
    let requests = bench.stack.fake().requests().len();
    Ok(json!({
        "kvcore_max_rps": rps,
        "persons": persons,
        "seconds": (took * 10.0).round() / 10.0,
        "persons_per_second": (persons as f64 / took * 10.0).round() / 10.0,
        "kvcore_requests_per_second": (requests as f64 / took * 10.0).round() / 10.0,
        "worker_invocations": source.invocations(),
        "worker_processes": source.pids().len(),
        "worker_cpu_ms_per_person": crate::stats::round(cpu.as_secs_f64() * 1000.0 / persons as f64, 3),
        "worker_peak_rss_mib": (peak_rss_kib as f64 / 1024.0 * 10.0).round() / 10.0,
    }))
}

async fn status(stack: &LocalStack, event_id: &str) -> Result<String, Error> {
    let item = stack
        .dynamodb()
        .get_item()
        .table_name(stack.table("EVENTS_TABLE"))
        .key("workflow_id", AttributeValue::S("fub".into()))
        .key("event_id", AttributeValue::S(event_id.into()))
        .consistent_read(true)
        .send()
        .await?
        .item
        .unwrap_or_default();
    Ok(item
        .get("status")
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default())
}

/// The largest `VmHWM` (peak resident set) of the worker processes, KiB.
fn workers_peak_rss_kib(source: &SqsSource) -> u64 {
    source
        .pids()
        .into_iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .max()
        .unwrap_or(0)
}
