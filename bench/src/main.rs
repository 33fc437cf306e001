//! `make bench`: what one event costs. Drives the release `webhook` binary
//! through the Lambda Runtime API against moto_server and the kvCORE fake,
//! and reports, per scenario, kvCORE and DynamoDB requests per event and
//! latency; then an update with a real region's latencies against its
//! floor, cold start, peak memory, binary size, throughput, and a full
//! phone index build of 20,000 contacts by the release `kvcore-indexer`.
//! A measurement, not a test: missed targets are reported, not failed; an
//! event that errors or is answered otherwise than its scenario says fails
//! the run, as does an index build that fails.

mod ddb_counter;
mod google;
mod import;
mod indexer;
mod latency;
mod mapping;
mod microsoft;
mod profile;
mod queued;
mod scenarios;
mod stats;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use ddb_counter::DynamoDbCounter;
use kvsync_devstack::{LambdaProcess, LocalStack, StackOptions, signing, stack, template};
use scenarios::{BOTH, CREATE_ONLY, Scenario, UPDATE_ONLY};
use serde_json::{Value, json};
use stats::{Counts, median, mib, ms, per_event, percentile, round, status_mib};

const EVENTS_PER_SCENARIO: usize = 200;
const COLD_STARTS: usize = 7;
const PROCESSES: usize = 4;
const THROUGHPUT_EVENTS_PER_PROCESS: usize = 100;
/// Person numbers: scenario events are 0..200, the rest stay clear of them.
const THROUGHPUT_PERSONS: usize = 1_000;
const WARM_UP_PERSON: usize = 9_990;

const MAX_WARM_DYNAMODB: u64 = 3;
/// Issue 22: a cold start within 10 ms, a warm email-matched update within
/// 1 ms of CPU (release build); beside them the figures before it (README:
/// cold start 11.2 ms; issue 22: 3.8 ms CPU a warm event, 19 ms a cold start).
const MAX_COLD_START_MS: f64 = 10.0;
const MAX_COLD_START_CPU_MS: f64 = 10.0;
const MAX_WARM_CPU_MS: f64 = 1.0;
const LAST_COLD_START_MS: f64 = 11.2;
const LAST_COLD_START_CPU_MS: f64 = 19.0;
const LAST_WARM_CPU_MS: f64 = 3.8;
const MAX_RSS_MIB: f64 = 32.0;
const MAX_BINARY_MIB: f64 = 15.0;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The three workflows the scenarios use.
const ALL_WORKFLOWS: [&str; 3] = [BOTH, CREATE_ONLY, UPDATE_ONLY];

/// A local stack with the bench's workflows and their webhook secrets.
struct Bench {
    stack: LocalStack,
    secrets: BTreeMap<&'static str, String>,
}

/// What one delivery cost.
struct Cost {
    answer: Value,
    latency: Duration,
    /// AWS requests by operation (`dynamodb:...`, `secretsmanager:...`).
    aws: Counts,
    /// kvCORE requests by purpose (`search by email`, `create`, ...).
    kvcore: Counts,
    /// Of the latency, the time moto_server had a request of it in hand.
    in_aws: Duration,
    /// AWS requests one after another: those sent together (overlapping
    /// in the proxy) count once.
    aws_round_trips: u64,
}

impl Cost {
    fn dynamodb(&self) -> u64 {
        DynamoDbCounter::dynamodb_total(&self.aws)
    }
}

impl Bench {
    /// A fresh local stack: moto copies every table of a region on each
    /// transaction, so each measurement gets empty tables (and leaves none
    /// behind) to keep moto's cost from growing run over run.
    /// `workflows` among [`ALL_WORKFLOWS`]; each has its own kvCORE token
    /// secret, so its own phone index scope. The index is not built yet.
    async fn start(ddb: &DynamoDbCounter, workflows: &[&'static str]) -> Result<Bench, Error> {
        let stack = LocalStack::start(StackOptions {
            extra_env: vec![
                ("AWS_ENDPOINT_URL".into(), ddb.url.clone()),
                // `BENCH_RUST_LOG=info` measures at the template's default
                // level (each event's info lines) instead of warnings only.
                (
                    "RUST_LOG".into(),
                    std::env::var("BENCH_RUST_LOG").unwrap_or_else(|_| "warn".into()),
                ),
            ],
            ..StackOptions::default()
        })
        .await?;
        let mut secrets = BTreeMap::new();
        for (workflow, settings) in [
            (BOTH, json!({})),
            (CREATE_ONLY, json!({"update_contacts": {"BOOL": false}})),
            (UPDATE_ONLY, json!({"create_contacts": {"BOOL": false}})),
        ] {
            if !workflows.contains(&workflow) {
                continue;
            }
            let seeded = stack.seed_workflow(workflow, settings).await?;
            secrets.insert(workflow, seeded.webhook_secret);
        }
        Ok(Bench { stack, secrets })
    }

    /// Builds every workflow's phone index with the `kvcore-indexer`
    /// binary (one scheduled run; more if its deadline cuts a build), so
    /// that events with a phone can be matched, as after deployment.
    async fn build_index(&self) -> Result<indexer::IndexerRuns, Error> {
        indexer::run_until_built(&self.stack).await
    }

    /// Sets the phone index's last refresh of every scope over a minute
    /// back, so the next phone lookup refreshes first (SPEC section 9).
    /// Straight to moto, not through the counting proxy.
    async fn make_index_stale(&self) -> Result<(), Error> {
        let table = self.stack.table("PHONE_INDEX_TABLE");
        let long_ago = SystemTime::now()
            .duration_since(UNIX_EPOCH)?
            .as_millis()
            .saturating_sub(61_000);
        for scope in indexer::scopes(&self.stack).await? {
            self.stack
                .dynamodb()
                .update_item()
                .table_name(table)
                .key("scope", AttributeValue::S(scope))
                .key("entry", AttributeValue::S("meta".into()))
                .update_expression("SET last_refresh_ms = :t")
                .expression_attribute_values(":t", AttributeValue::N(long_ago.to_string()))
                .send()
                .await?;
        }
        Ok(())
    }

    /// Sends `body` signed under `msg_id`; the latency is the invoke's
    /// round trip, which began at the answered `Instant`.
    async fn deliver_at(
        &self,
        function: &LambdaProcess,
        workflow: &str,
        msg_id: &str,
        body: &Value,
    ) -> Result<(Value, Instant, Duration), Error> {
        let bytes = serde_json::to_vec(body)?;
        let secret = self.secrets.get(workflow).ok_or("unknown bench workflow")?;
        let headers =
            signing::standard_webhook_headers(secret, msg_id, signing::now_timestamp(), &bytes);
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let started = Instant::now();
        let response = self
            .stack
            .send_raw(function, workflow, &headers, "", &bytes)
            .await?;
        let latency = started.elapsed();
        if response.status != 200 {
            return Err(format!("{msg_id} answered {}: {}", response.status, response.body).into());
        }
        Ok((response.json()?, started, latency))
    }

    async fn deliver(
        &self,
        function: &LambdaProcess,
        workflow: &str,
        msg_id: &str,
        body: &Value,
    ) -> Result<(Value, Duration), Error> {
        let (answer, _, latency) = self.deliver_at(function, workflow, msg_id, body).await?;
        Ok((answer, latency))
    }

    /// Delivers and counts what the delivery asked of AWS and kvCORE.
    async fn measure(
        &self,
        function: &LambdaProcess,
        ddb: &DynamoDbCounter,
        workflow: &str,
        msg_id: &str,
        body: &Value,
    ) -> Result<Cost, Error> {
        let kvcore = self.stack.fake();
        kvcore.clear_requests();
        let (before, busy_before) = (ddb.counts(), ddb.busy());
        ddb.record_timeline();
        let (answer, started, latency) = self.deliver_at(function, workflow, msg_id, body).await?;
        let in_aws = ddb.busy().saturating_sub(busy_before);
        let spans: Vec<(Duration, Duration)> = ddb
            .take_timeline()
            .iter()
            .map(|s| {
                let offset = |at: Instant| at.saturating_duration_since(started);
                (offset(s.arrived), offset(s.answered))
            })
            .collect();
        let mut by_purpose = Counts::new();
        for request in kvcore.requests() {
            *by_purpose
                .entry(scenarios::kvcore_label(&request).to_string())
                .or_default() += 1;
        }
        Ok(Cost {
            answer,
            latency,
            aws: stats::delta(&before, &ddb.counts()),
            kvcore: by_purpose,
            in_aws,
            aws_round_trips: stats::merged(&spans).len() as u64,
        })
    }

    async fn drop_tables(self) -> Result<(), Error> {
        for table in self.stack.tables().values() {
            self.stack
                .dynamodb()
                .delete_table()
                .table_name(table)
                .send()
                .await?;
        }
        Ok(())
    }
}

/// Cold starts: spawn → first Runtime API poll (wall), and the CPU time
/// the process used by then; medians of [`COLD_STARTS`].
struct ColdStart {
    wall_ms: f64,
    cpu_ms: f64,
}

async fn cold_starts(bench: &Bench) -> Result<ColdStart, Error> {
    let (mut walls, mut cpus) = (Vec::new(), Vec::new());
    for _ in 0..COLD_STARTS {
        let function = bench.stack.spawn_function().await?;
        walls.push(first_poll(&function).await?);
        cpus.extend(stats::cpu_time_of_threads(function.pid()));
        function.shutdown().await;
    }
    Ok(ColdStart {
        wall_ms: ms(percentile(&walls, 50.0)),
        cpu_ms: ms(percentile(&cpus, 50.0)),
    })
}

fn print_cold(cold: &ColdStart) {
    println!(
        "cold start (spawn → first Runtime API poll, median of {COLD_STARTS}): {} ms (last turn {LAST_COLD_START_MS} ms)   target <= {MAX_COLD_START_MS} ms: {}; CPU {} ms (issue 22: {LAST_COLD_START_CPU_MS} ms)   target <= {MAX_COLD_START_CPU_MS} ms: {}",
        cold.wall_ms,
        mark(cold.wall_ms <= MAX_COLD_START_MS),
        cold.cpu_ms,
        mark(cold.cpu_ms <= MAX_COLD_START_CPU_MS),
    );
}

/// Waits for the function's first Runtime API poll: spawn → poll is its cold start.
async fn first_poll(function: &LambdaProcess) -> Result<Duration, Error> {
    let started = Instant::now();
    while function.time_to_first_poll().is_none() && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(function
        .time_to_first_poll()
        .ok_or("the function never polled")?)
}

/// A function process with the workflow's settings and secrets cached, as
/// in a busy container; and what its first event (caches empty) cost.
/// `kvcore_url`: another KVCORE_BASE_URL (a timing proxy), else the fake's.
async fn warm_function(
    bench: &Bench,
    ddb: &DynamoDbCounter,
    workflow: &str,
    n: usize,
    kvcore_url: Option<String>,
) -> Result<(LambdaProcess, Cost), Error> {
    let function = match kvcore_url {
        Some(url) => {
            let env = [("KVCORE_BASE_URL".to_string(), url)];
            let spawn = stack::spawn_options_from_template(&template::template_path())?;
            bench.stack.spawn_function_with(&env, spawn).await?
        }
        None => bench.stack.spawn_function().await?,
    };
    first_poll(&function).await?;
    let kvcore = bench.stack.fake();
    let warm_up = scenarios::new_person(kvcore, WARM_UP_PERSON + n);
    let first = bench
        .measure(&function, ddb, workflow, &format!("msg_warm_{n}"), &warm_up)
        .await?;
    Ok((function, first))
}

/// Seeds kvCORE for every event of the scenario and answers their bodies;
/// `None` for a stale-index scenario, whose events are seeded one by one
/// after the index was built.
fn prepare(bench: &Bench, scenario: &Scenario) -> Option<Vec<Value>> {
    let fake = bench.stack.fake();
    (!scenario.stale_index).then(|| {
        (0..EVENTS_PER_SCENARIO)
            .map(|i| (scenario.event)(fake, i))
            .collect()
    })
}

async fn run_scenario(
    bench: &Bench,
    function: &LambdaProcess,
    ddb: &DynamoDbCounter,
    scenario: &Scenario,
    prepared: Option<Vec<Value>>,
) -> Result<Value, Error> {
    let mut latencies = Vec::with_capacity(EVENTS_PER_SCENARIO);
    let mut in_aws = Vec::with_capacity(EVENTS_PER_SCENARIO);
    let mut dynamodb = Vec::with_capacity(EVENTS_PER_SCENARIO);
    let mut round_trips = Vec::with_capacity(EVENTS_PER_SCENARIO);
    let (mut aws, mut kvcore) = (Counts::new(), Counts::new());
    let profiler = profile::Profiler::from_env().start(function.pid()).await?;
    let cpu_before = stats::thread_times(function.pid());
    for i in 0..EVENTS_PER_SCENARIO {
        let body = match &prepared {
            Some(bodies) => bodies[i].clone(),
            None => {
                bench.make_index_stale().await?;
                (scenario.event)(bench.stack.fake(), i)
            }
        };
        let msg_id = format!("msg_bench_{i}");
        if scenario.duplicate {
            bench
                .deliver(function, scenario.workflow, &msg_id, &body)
                .await?;
        }
        let cost = bench
            .measure(function, ddb, scenario.workflow, &msg_id, &body)
            .await?;
        scenarios::check(&cost.answer, scenario.duplicate, &scenario.expect)
            .map_err(|e| format!("{}, event {i}: {e}", scenario.name))?;
        latencies.push(cost.latency);
        in_aws.push(cost.in_aws);
        dynamodb.push(cost.dynamodb());
        round_trips.push(cost.aws_round_trips);
        stats::add(&mut aws, &cost.aws);
        stats::add(&mut kvcore, &cost.kvcore);
    }
    let cpu = cpu_before
        .zip(stats::thread_times(function.pid()))
        .map(|(before, after)| stats::cpu_between(&before, &after) / EVENTS_PER_SCENARIO as u32);
    profiler.stop().await?;
    let n = EVENTS_PER_SCENARIO;
    let kvcore_per_event = round(kvcore.values().sum::<u64>() as f64 / n as f64, 3);
    // The settings cache (60 s) adds a GetItem a minute: the mean shows it,
    // the median is what a warm event costs.
    let warm_dynamodb = median(&dynamodb);
    let kvcore_by_request = per_event(&kvcore, n);
    let phone_target = (scenario.expect.matched_by == Some("phone"))
        .then(|| scenarios::phone_match_within_target(&kvcore_by_request));
    Ok(json!({
        "scenario": scenario.name,
        "workflow": scenario.workflow,
        "events": n,
        "kvcore_requests_per_event": kvcore_per_event,
        "kvcore_minimum": scenario.minimum_kvcore,
        "kvcore_at_minimum": kvcore_per_event == scenario.minimum_kvcore as f64,
        "kvcore_by_request": kvcore_by_request,
        "stale_index": scenario.stale_index,
        "phone_match_within_target": phone_target,
        "dynamodb_requests_per_warm_event": warm_dynamodb,
        "dynamodb_requests_per_event_mean": round(dynamodb.iter().sum::<u64>() as f64 / n as f64, 3),
        "dynamodb_within_target": warm_dynamodb <= MAX_WARM_DYNAMODB,
        "dynamodb_sequential_round_trips_p50": median(&round_trips),
        "aws_by_operation": per_event(&aws, n),
        "p50_ms": ms(percentile(&latencies, 50.0)),
        "p95_ms": ms(percentile(&latencies, 95.0)),
        "in_moto_p50_ms": ms(percentile(&in_aws, 50.0)),
        "cpu_ms_per_event": cpu.map(|cpu| round(cpu.as_secs_f64() * 1000.0, 3)),
    }))
}

/// Peak RSS, and where the resident memory is at the end, of a live process.
fn memory(pid: u32) -> Option<Value> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(json!({
        "peak_rss_mib": status_mib(&status, "VmHWM")?,
        "rss_anon_mib": status_mib(&status, "RssAnon"),
        "rss_file_mib": status_mib(&status, "RssFile"),
    }))
}

/// Events per second with several function processes fed at once (new persons).
/// Also answers the share of the time moto_server was busy, and the
/// processes' memory.
async fn throughput(bench: &Bench, ddb: &DynamoDbCounter) -> Result<(f64, f64, Vec<Value>), Error> {
    let mut functions = Vec::new();
    for n in 0..PROCESSES {
        functions.push(warm_function(bench, ddb, BOTH, n, None).await?.0);
    }
    let (started, busy_before) = (Instant::now(), ddb.busy());
    let streams = functions
        .iter()
        .enumerate()
        .map(|(n, function)| async move {
            for i in 0..THROUGHPUT_EVENTS_PER_PROCESS {
                let person = THROUGHPUT_PERSONS + n * THROUGHPUT_EVENTS_PER_PROCESS + i;
                let body = scenarios::new_person(bench.stack.fake(), person);
                let (answer, _) = bench
                    .deliver(function, BOTH, &format!("msg_tp_{person}"), &body)
                    .await?;
                let created = scenarios::Expect {
                    outcome: "created",
                    matched_by: None,
                    reason: None,
                };
                scenarios::check(&answer, false, &created)
                    .map_err(|e| format!("throughput, person {person}: {e}"))?;
            }
            Ok::<(), Error>(())
        });
    for result in futures::future::join_all(streams).await {
        result?;
    }
    let events = PROCESSES * THROUGHPUT_EVENTS_PER_PROCESS;
    let took = started.elapsed();
    let per_second = round(events as f64 / took.as_secs_f64(), 1);
    let moto_busy = round(
        ddb.busy().saturating_sub(busy_before).as_secs_f64() / took.as_secs_f64(),
        2,
    );
    let memories = functions.iter().filter_map(|f| memory(f.pid())).collect();
    for function in functions {
        function.shutdown().await;
    }
    Ok((per_second, moto_busy, memories))
}

fn mark(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn print_row(row: &Value) {
    let number = |key: &str| row[key].as_f64().unwrap_or_default();
    let count = |key: &str| row[key].as_u64().unwrap_or_default();
    let phone = match row["phone_match_within_target"].as_bool() {
        Some(met) => format!(", phone match {}", mark(met)),
        None => String::new(),
    };
    println!(
        "{:<31} {:>7.2} {:>4} {:>9} {:>7.2} {:>6} {:>8.2} {:>8.2} {:>9.2} {:>7.3}   kvCORE {}, DynamoDB {}{phone}",
        row["scenario"].as_str().unwrap_or_default(),
        number("kvcore_requests_per_event"),
        count("kvcore_minimum"),
        count("dynamodb_requests_per_warm_event"),
        number("dynamodb_requests_per_event_mean"),
        count("dynamodb_sequential_round_trips_p50"),
        number("p50_ms"),
        number("p95_ms"),
        number("in_moto_p50_ms"),
        number("cpu_ms_per_event"),
        mark(row["kvcore_at_minimum"] == true),
        mark(row["dynamodb_within_target"] == true),
    );
}

/// The CPU a warm update matched by email costs, against issue 22's target.
fn print_warm_cpu(rows: &[Value]) {
    let cpu = rows
        .iter()
        .find(|row| row["scenario"] == scenarios::UPDATE_BY_EMAIL)
        .and_then(|row| row["cpu_ms_per_event"].as_f64());
    if let Some(cpu) = cpu {
        println!(
            "\nCPU per warm update matched by email: {cpu} ms (issue 22: {LAST_WARM_CPU_MS} ms)   target <= {MAX_WARM_CPU_MS} ms: {}",
            mark(cpu <= MAX_WARM_CPU_MS)
        );
    }
}

fn breakdown(counts: &Value) -> String {
    let Some(counts) = counts.as_object() else {
        return String::new();
    };
    let parts: Vec<String> = counts
        .iter()
        .map(|(op, n)| format!("{} {n}", op.trim_start_matches("dynamodb:")))
        .collect();
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(", ")
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // `BENCH_ONLY=mapping`: only the CPU cost of filters and field mapping
    // (in-process, no stack needed).
    if std::env::var("BENCH_ONLY").as_deref() == Ok("mapping") {
        mapping::print(&mapping::run());
        return Ok(());
    }
    let moto = stack::moto_url_from_env().ok_or("MOTO_URL is not set: run `make bench`")?;
    let ddb = DynamoDbCounter::start(&moto).await?;
    // `BENCH_ONLY=real-region`: only the update with a region's latencies
    // (a minute instead of the whole run's seven); `BENCH_ONLY=google`
    // or `BENCH_ONLY=microsoft`: only that poller.
    match std::env::var("BENCH_ONLY").as_deref() {
        Ok("real-region") => {
            let real = latency::real_region(&ddb).await?;
            latency::print(&real);
            return Ok(());
        }
        // Only the Google poller's full listing and re-listing.
        Ok("google") => {
            println!("google poller: {}", google::run().await);
            return Ok(());
        }
        // Only the Microsoft poller's full listing and re-listing.
        Ok("microsoft") => {
            println!("microsoft poller: {}", microsoft::run().await);
            return Ok(());
        }
        // Only the import preview of 10,000 rows (SPEC section 13).
        Ok("import") => {
            println!("import preview: {}", import::run().await);
            return Ok(());
        }
        // Only the queued delivery (the sync-worker's drains).
        Ok("queued") => {
            println!("queued delivery: {}", queued::run().await);
            return Ok(());
        }
        // Only the warm updates matched by email and the cold starts: the
        // CPU figures of issue 22, and the loop `make profile` profiles.
        Ok("warm") => {
            let scenario = scenarios::all()
                .into_iter()
                .find(|s| s.name == scenarios::UPDATE_BY_EMAIL)
                .ok_or("no email update scenario")?;
            let bench = Bench::start(&ddb, &ALL_WORKFLOWS).await?;
            let prepared = prepare(&bench, &scenario);
            bench.build_index().await?;
            let (function, _) = warm_function(&bench, &ddb, scenario.workflow, 0, None).await?;
            let row = run_scenario(&bench, &function, &ddb, &scenario, prepared).await?;
            let rss = memory(function.pid());
            function.shutdown().await;
            print_warm_cpu(std::slice::from_ref(&row));
            if let Some(rss) = rss {
                println!("  the function's memory after the loop: {rss}");
            }
            println!(
                "  per event: {}; AWS: {}",
                breakdown(&row["kvcore_by_request"]),
                breakdown(&row["aws_by_operation"])
            );
            if std::env::var("BENCH_PROFILE").is_err() {
                print_cold(&cold_starts(&bench).await?);
            }
            bench.drop_tables().await?;
            return Ok(());
        }
        _ => {}
    }
    let binary = kvsync_devstack::stack::default_webhook_bin();
    let indexer_binary = kvsync_devstack::stack::default_indexer_bin();
    println!(
        "kvsync bench: {} and {} ({EVENTS_PER_SCENARIO} warm events per scenario)\n",
        binary.display(),
        indexer_binary.display()
    );
    println!(
        "{:<31} {:>7} {:>4} {:>9} {:>7} {:>6} {:>8} {:>8} {:>9} {:>7}",
        "scenario",
        "kvCORE",
        "min",
        "DynamoDB",
        "(mean)",
        "(seq)",
        "p50 ms",
        "p95 ms",
        "(in moto)",
        "CPU ms"
    );

    let mut rows = Vec::new();
    let mut memories = Vec::new();
    let mut first_event = None;
    for scenario in scenarios::all() {
        let bench = Bench::start(&ddb, &ALL_WORKFLOWS).await?;
        // Contacts first, then the index, as in an account kvsync was
        // deployed to; a stale-index scenario seeds after the build.
        let prepared = prepare(&bench, &scenario);
        bench.build_index().await?;
        let (function, first) = warm_function(&bench, &ddb, scenario.workflow, 0, None).await?;
        first_event.get_or_insert(first);
        let row = run_scenario(&bench, &function, &ddb, &scenario, prepared).await?;
        memories.extend(memory(function.pid()));
        function.shutdown().await;
        bench.drop_tables().await?;
        print_row(&row);
        rows.push(row);
    }

    print_warm_cpu(&rows);

    println!("\nwhere the requests of one warm event go:");
    for row in &rows {
        println!(
            "  {:<31} kvCORE: {}; AWS: {}",
            row["scenario"].as_str().unwrap_or_default(),
            breakdown(&row["kvcore_by_request"]),
            breakdown(&row["aws_by_operation"]),
        );
    }

    let real = latency::real_region(&ddb).await?;
    latency::print(&real);

    let bench = Bench::start(&ddb, &ALL_WORKFLOWS).await?;
    bench.build_index().await?;
    let cold = cold_starts(&bench).await?;
    print_cold(&cold);
    let cold_ms = cold.wall_ms;
    let (events_per_s, moto_busy, more_memories) = throughput(&bench, &ddb).await?;
    memories.extend(more_memories);
    bench.drop_tables().await?;
    let size_mib = mib(std::fs::metadata(&binary)?.len());
    let peak_of = |m: &Value| m["peak_rss_mib"].as_f64().unwrap_or_default();
    let peak = memories
        .iter()
        .max_by(|a, b| peak_of(a).total_cmp(&peak_of(b)))
        .cloned()
        .unwrap_or(Value::Null);
    let rss = peak["peak_rss_mib"].as_f64().unwrap_or(f64::NAN);
    let first = first_event.ok_or("no scenario ran")?;
    let first_event = json!({
        "latency_ms": ms(first.latency),
        "dynamodb_requests": first.dynamodb(),
        "aws_by_operation": first.aws,
        "kvcore_by_request": first.kvcore,
    });

    println!(
        "\nfirst event of a process (settings and secrets not cached yet, new person): {} ms, AWS: {}",
        ms(first.latency),
        breakdown(&first_event["aws_by_operation"]),
    );
    println!(
        "peak RSS of a function process (after {EVENTS_PER_SCENARIO}+ events): {rss} MiB (at the end: anonymous {} MiB, file-backed {} MiB)   target < {MAX_RSS_MIB} MiB: {}",
        peak["rss_anon_mib"],
        peak["rss_file_mib"],
        mark(rss < MAX_RSS_MIB)
    );
    println!(
        "binary size (stripped): {size_mib} MiB   target < {MAX_BINARY_MIB} MiB: {}",
        mark(size_mib < MAX_BINARY_MIB)
    );
    println!(
        "throughput, {PROCESSES} function processes, {} new persons: {events_per_s} events/s (moto_server busy {:.0}% of the time)",
        PROCESSES * THROUGHPUT_EVENTS_PER_PROCESS,
        moto_busy * 100.0
    );

    let build = indexer::full_build(&ddb).await?;
    indexer::print(&build);

    // Issue 18: filters and field mapping, CPU per event.
    let mapping = mapping::run();
    mapping::print(&mapping);

    println!(
        "\nAWS requests by operation, whole run (the indexer's included): {}",
        breakdown(&json!(ddb.counts()))
    );

    // Issue 12: queued delivery (202 times, drain rates, the worker's RSS);
    // issue 11: a full Google listing through the poller. Each runs on a
    // stack of its own and reports a failure in its place.
    let queued = queued::run().await;
    println!("\nqueued delivery: {queued}");
    let google_poller = google::run().await;
    println!("google poller: {google_poller}");
    let microsoft_poller = microsoft::run().await;
    println!("microsoft poller: {microsoft_poller}");
    let import_preview = import::run().await;
    println!("import preview: {import_preview}");

    let report = json!({
        "binary": binary.display().to_string(),
        "indexer_binary": indexer_binary.display().to_string(),
        "events_per_scenario": EVENTS_PER_SCENARIO,
        "scenarios": rows,
        "real_region_latencies": real,
        "first_event_of_a_process": first_event,
        "dynamodb_target_per_warm_event": MAX_WARM_DYNAMODB,
        "cold_start_ms_median": cold_ms,
        "cold_start_samples": COLD_STARTS,
        "cold_start_cpu_ms_median": cold.cpu_ms,
        "cold_start_cpu_target_ms": MAX_COLD_START_CPU_MS,
        "cold_start_target_ms": MAX_COLD_START_MS,
        "peak_rss_mib": rss,
        "peak_rss_process": peak,
        "peak_rss_target_mib": MAX_RSS_MIB,
        "binary_mib": size_mib,
        "binary_target_mib": MAX_BINARY_MIB,
        "throughput_processes": PROCESSES,
        "throughput_events": PROCESSES * THROUGHPUT_EVENTS_PER_PROCESS,
        "throughput_events_per_s": events_per_s,
        "throughput_moto_busy_share": moto_busy,
        "index_build": build,
        "aws_requests_by_operation": ddb.counts(),
        "queued_delivery": queued,
        "google_poller": google_poller,
        "filters_and_mapping": mapping,
        "microsoft_poller": microsoft_poller,
        "import_preview": import_preview,
    });
    let dir = kvsync_devstack::template::workspace_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    println!("\nreport: {}", path.display());
    Ok(())
}
