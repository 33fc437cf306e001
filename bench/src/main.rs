//! `make bench`: what one event costs. Drives the release `webhook` binary
//! through the Lambda Runtime API against moto_server and the kvCORE fake,
//! and reports, per scenario, kvCORE and DynamoDB requests per event and
//! latency; then cold start, peak memory, binary size and throughput.
//! A measurement, not a test: missed targets are reported, not failed.

mod ddb_counter;
mod stats;

use std::time::{Duration, Instant};

use ddb_counter::DynamoDbCounter;
use kvsync_devstack::{LambdaProcess, LocalStack, StackOptions, signing, stack};
use serde_json::{Value, json};
use stats::{ms, percentile};

const EVENTS_PER_SCENARIO: usize = 200;
const COLD_STARTS: usize = 7;
const THROUGHPUT_EVENTS: usize = 400;
const MAX_WARM_DYNAMODB: f64 = 3.0;
const MAX_COLD_START_MS: f64 = 50.0;
const MAX_RSS_MIB: f64 = 32.0;
const MAX_BINARY_MIB: f64 = 15.0;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// One way an event can go, with the kvCORE requests a correct sync needs.
struct Scenario {
    name: &'static str,
    workflow: &'static str,
    minimum_kvcore: u64,
    /// Seeds kvCORE for event `i` and returns its delivery body.
    event: fn(&LocalStack, usize) -> Value,
    /// Measure a second delivery of the same event (same webhook-id).
    duplicate: bool,
}

fn person(i: usize, email_domain: &str, phone_block: usize) -> (String, String) {
    (
        format!("p{i}@{email_domain}"),
        format!("+1239{phone_block:03}{i:04}"),
    )
}

fn new_person(_: &LocalStack, i: usize) -> Value {
    let (email, phone) = person(i, "new.example", 551);
    json!({"contact": {"first_name": "Nia", "email": email, "phones": [{"number": phone, "type": "mobile"}]}})
}

fn seeded(stack: &LocalStack, i: usize, domain: &str, block: usize) -> (String, String) {
    let (email, phone) = person(i, domain, block);
    stack
        .fake()
        .insert_contact(json!({"first_name": "Old", "email": email, "cell_phone_1": phone}));
    (email, phone)
}

fn update_by_email(stack: &LocalStack, i: usize) -> Value {
    let (email, _) = seeded(stack, i, "email.example", 552);
    json!({"contact": {"first_name": "New", "email": email}})
}

fn update_by_phone(stack: &LocalStack, i: usize) -> Value {
    let (_, phone) = seeded(stack, i, "phone.example", 553);
    json!({"contact": {"first_name": "New", "email": format!("p{i}@elsewhere.example"),
                       "phones": [{"number": phone, "type": "mobile"}]}})
}

fn unchanged(stack: &LocalStack, i: usize) -> Value {
    let (email, _) = seeded(stack, i, "same.example", 554);
    json!({"contact": {"first_name": "Old", "email": email}})
}

fn create_only_match(stack: &LocalStack, i: usize) -> Value {
    let (email, _) = seeded(stack, i, "createonly.example", 555);
    json!({"contact": {"first_name": "New", "email": email}})
}

fn update_only_stranger(_: &LocalStack, i: usize) -> Value {
    let (email, phone) = person(i, "stranger.example", 556);
    json!({"contact": {"email": email, "phones": [{"number": phone, "type": "mobile"}]}})
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "new person (email + phone)",
            workflow: "bench",
            minimum_kvcore: 3,
            event: new_person,
            duplicate: false,
        },
        Scenario {
            name: "update matched by email",
            workflow: "bench",
            minimum_kvcore: 2,
            event: update_by_email,
            duplicate: false,
        },
        Scenario {
            name: "update matched by phone",
            workflow: "bench",
            minimum_kvcore: 3,
            event: update_by_phone,
            duplicate: false,
        },
        Scenario {
            name: "unchanged",
            workflow: "bench",
            minimum_kvcore: 1,
            event: unchanged,
            duplicate: false,
        },
        Scenario {
            name: "duplicate delivery",
            workflow: "bench",
            minimum_kvcore: 0,
            event: unchanged,
            duplicate: true,
        },
        Scenario {
            name: "create-only with a match",
            workflow: "bench-create-only",
            minimum_kvcore: 1,
            event: create_only_match,
            duplicate: false,
        },
        Scenario {
            name: "update-only without a match",
            workflow: "bench-update-only",
            minimum_kvcore: 2,
            event: update_only_stranger,
            duplicate: false,
        },
    ]
}

/// Sends `body` under a fixed webhook-id; the latency is the invoke's round trip.
async fn deliver(
    stack: &LocalStack,
    function: &LambdaProcess,
    workflow: &str,
    msg_id: &str,
    body: &Value,
) -> Result<(u16, Duration), Error> {
    let bytes = serde_json::to_vec(body)?;
    let secret = stack
        .secret_value(&stack.secret_name(&format!("kvsync/{workflow}/webhook-secret")))
        .await?;
    let headers =
        signing::standard_webhook_headers(&secret, msg_id, signing::now_timestamp(), &bytes);
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let started = Instant::now();
    let response = stack
        .send_raw(function, workflow, &headers, "", &bytes)
        .await?;
    Ok((response.status, started.elapsed()))
}

async fn run_scenario(
    stack: &LocalStack,
    function: &LambdaProcess,
    ddb: &DynamoDbCounter,
    scenario: &Scenario,
    round: usize,
) -> Result<Value, Error> {
    let mut latencies = Vec::with_capacity(EVENTS_PER_SCENARIO);
    let mut dynamodb_each = Vec::with_capacity(EVENTS_PER_SCENARIO);
    let mut kvcore = 0u64;
    for i in 0..EVENTS_PER_SCENARIO {
        let body = (scenario.event)(stack, round * 10_000 + i);
        let msg_id = format!("msg_bench_{round}_{i}");
        if scenario.duplicate {
            let (status, _) = deliver(stack, function, scenario.workflow, &msg_id, &body).await?;
            if status != 200 {
                return Err(format!("{}: first delivery answered {status}", scenario.name).into());
            }
        }
        let (kv_before, ddb_before) = (stack.fake().requests().len(), ddb.total());
        let (status, took) = deliver(stack, function, scenario.workflow, &msg_id, &body).await?;
        if status != 200 {
            return Err(format!("{}: event {i} answered {status}", scenario.name).into());
        }
        kvcore += (stack.fake().requests().len() - kv_before) as u64;
        dynamodb_each.push(ddb.total() - ddb_before);
        latencies.push(took);
    }
    let n = EVENTS_PER_SCENARIO as f64;
    let kvcore_per_event = kvcore as f64 / n;
    // The settings cache (60 s) adds one GetItem a minute: the mean shows it,
    // the median is what a warm event costs.
    let dynamodb_per_event = dynamodb_each.iter().sum::<u64>() as f64 / n;
    dynamodb_each.sort_unstable();
    let dynamodb_median = dynamodb_each[dynamodb_each.len() / 2];
    Ok(json!({
        "scenario": scenario.name,
        "events": EVENTS_PER_SCENARIO,
        "kvcore_requests_per_event": kvcore_per_event,
        "kvcore_minimum": scenario.minimum_kvcore,
        "kvcore_at_minimum": kvcore_per_event <= scenario.minimum_kvcore as f64,
        "dynamodb_requests_per_event_mean": dynamodb_per_event,
        "dynamodb_requests_per_warm_event": dynamodb_median,
        "dynamodb_within_target": dynamodb_median as f64 <= MAX_WARM_DYNAMODB,
        "p50_ms": ms(percentile(&latencies, 50.0)),
        "p95_ms": ms(percentile(&latencies, 95.0)),
    }))
}

async fn cold_start(stack: &LocalStack) -> Result<Duration, Error> {
    let function = stack.spawn_function().await?;
    let started = Instant::now();
    while function.time_to_first_poll().is_none() && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let first_poll = function
        .time_to_first_poll()
        .ok_or("the function never polled")?;
    function.shutdown().await;
    Ok(first_poll)
}

fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kib / 1024.0 * 100.0).round() / 100.0)
}

async fn throughput(stack: &LocalStack) -> Result<f64, Error> {
    let mut functions = Vec::new();
    for _ in 0..4 {
        functions.push(stack.spawn_function().await?);
    }
    for (n, function) in functions.iter().enumerate() {
        deliver(
            stack,
            function,
            "bench",
            &format!("msg_tp_warm_{n}"),
            &new_person(stack, 900_000 + n),
        )
        .await?;
    }
    let started = Instant::now();
    let streams = functions
        .iter()
        .enumerate()
        .map(|(n, function)| async move {
            for i in 0..THROUGHPUT_EVENTS / 4 {
                let index = 800_000 + n * 10_000 + i;
                deliver(
                    stack,
                    function,
                    "bench",
                    &format!("msg_tp_{index}"),
                    &new_person(stack, index),
                )
                .await?;
            }
            Ok::<(), Error>(())
        });
    for result in futures::future::join_all(streams).await {
        result?;
    }
    Ok(THROUGHPUT_EVENTS as f64 / started.elapsed().as_secs_f64())
}

/// A fresh local stack with the bench's workflows: moto copies every table
/// of a region on each transaction, so each measurement gets empty tables
/// (and leaves none behind) to keep moto's cost from growing run over run.
async fn fresh_stack(ddb: &DynamoDbCounter) -> Result<LocalStack, Error> {
    let stack = LocalStack::start(StackOptions {
        extra_env: vec![
            ("AWS_ENDPOINT_URL".into(), ddb.url.clone()),
            ("RUST_LOG".into(), "warn".into()),
        ],
        ..StackOptions::default()
    })
    .await?;
    stack.seed_workflow("bench", json!({})).await?;
    let create_only = json!({"update_contacts": {"BOOL": false}});
    stack
        .seed_workflow("bench-create-only", create_only)
        .await?;
    let update_only = json!({"create_contacts": {"BOOL": false}});
    stack
        .seed_workflow("bench-update-only", update_only)
        .await?;
    Ok(stack)
}

async fn drop_tables(stack: &LocalStack) -> Result<(), Error> {
    for table in stack.tables().values() {
        stack
            .dynamodb()
            .delete_table()
            .table_name(table)
            .send()
            .await?;
    }
    Ok(())
}

/// A function process with the workflow's settings and secrets cached, as
/// in a busy container.
async fn warm_function(stack: &LocalStack, workflow: &str) -> Result<LambdaProcess, Error> {
    let function = stack.spawn_function().await?;
    let warm_up = new_person(stack, 990_000);
    deliver(stack, &function, workflow, "msg_warm", &warm_up).await?;
    Ok(function)
}

fn mark(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let moto = stack::moto_url_from_env().ok_or("MOTO_URL is not set: run `make bench`")?;
    let ddb = DynamoDbCounter::start(&moto).await?;
    let binary = kvsync_devstack::stack::default_webhook_bin();

    println!(
        "kvsync bench: {} ({EVENTS_PER_SCENARIO} events per scenario)\n",
        binary.display()
    );
    println!(
        "{:<30} {:>7} {:>4} {:>9} {:>9} {:>8} {:>8}",
        "scenario", "kvCORE", "min", "DynamoDB", "(mean)", "p50 ms", "p95 ms"
    );
    let mut rows = Vec::new();
    let mut rss: f64 = 0.0;
    for (round, scenario) in scenarios().iter().enumerate() {
        let stack = fresh_stack(&ddb).await?;
        let function = warm_function(&stack, scenario.workflow).await?;
        let row = run_scenario(&stack, &function, &ddb, scenario, round + 1).await?;
        rss = rss.max(peak_rss_mib(function.pid()).unwrap_or(f64::NAN));
        function.shutdown().await;
        drop_tables(&stack).await?;
        let number = |key: &str| row[key].as_f64().unwrap_or_default();
        println!(
            "{:<30} {:>7.2} {:>4} {:>9} {:>9.3} {:>8.2} {:>8.2}   kvCORE {}, DynamoDB {}",
            scenario.name,
            number("kvcore_requests_per_event"),
            scenario.minimum_kvcore,
            row["dynamodb_requests_per_warm_event"]
                .as_u64()
                .unwrap_or_default(),
            number("dynamodb_requests_per_event_mean"),
            number("p50_ms"),
            number("p95_ms"),
            mark(row["kvcore_at_minimum"] == true),
            mark(row["dynamodb_within_target"] == true),
        );
        rows.push(row);
    }

    let stack = fresh_stack(&ddb).await?;
    let mut colds = Vec::new();
    for _ in 0..COLD_STARTS {
        colds.push(cold_start(&stack).await?);
    }
    let cold_ms = ms(percentile(&colds, 50.0));
    let size_mib = (std::fs::metadata(&binary)?.len() as f64 / 1_048_576.0 * 100.0).round() / 100.0;
    let events_per_s = (throughput(&stack).await? * 10.0).round() / 10.0;
    drop_tables(&stack).await?;

    println!();
    println!(
        "cold start (spawn → first Runtime API poll, median of {COLD_STARTS}): {cold_ms} ms   target < {MAX_COLD_START_MS} ms: {}",
        mark(cold_ms < MAX_COLD_START_MS)
    );
    println!(
        "peak RSS of a function after {EVENTS_PER_SCENARIO} events: {rss} MiB   target < {MAX_RSS_MIB} MiB: {}",
        mark(rss < MAX_RSS_MIB)
    );
    println!(
        "binary size (stripped): {size_mib} MiB   target < {MAX_BINARY_MIB} MiB: {}",
        mark(size_mib < MAX_BINARY_MIB)
    );
    println!(
        "throughput, 4 function processes: {events_per_s} events/s (new persons; bounded by the local moto_server)"
    );
    println!("AWS requests by operation, whole run: {:?}", ddb.counts());

    let report = json!({
        "binary": binary.display().to_string(),
        "scenarios": rows,
        "cold_start_ms_median": cold_ms,
        "cold_start_target_ms": MAX_COLD_START_MS,
        "peak_rss_mib": rss,
        "peak_rss_target_mib": MAX_RSS_MIB,
        "binary_mib": size_mib,
        "binary_target_mib": MAX_BINARY_MIB,
        "throughput_events_per_s_4_processes": events_per_s,
        "aws_requests_by_operation": ddb.counts(),
    });
    let dir = kvsync_devstack::template::workspace_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    println!("\nreport: {}", path.display());
    Ok(())
}
