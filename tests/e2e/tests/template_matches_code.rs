//! template.yaml is the single source of truth for tables and the function's
//! environment (SPEC section 2): what the code reads, the template sets, and
//! the tables the tests run against are the template's own.

use std::collections::BTreeSet;
use std::path::Path;

use kvsync_devstack::template::{
    self, EnvValue, GOOGLE_POLLER_FUNCTION, HEALTH_CHECK_FUNCTION, KVCORE_INDEXER_FUNCTION,
    KeyType, MICROSOFT_POLLER_FUNCTION, SYNC_WORKER_FUNCTION, WEBHOOK_FUNCTION,
};
use kvsync_devstack::{LocalStack, StackOptions};

/// Where the webhook function's code lives (the CLI shares `shared/src`).
const FUNCTION_SOURCES: [&str; 2] = ["shared/src", "functions/webhook"];
/// Every function's code: where alarms look for the literals they watch.
const ALL_SOURCES: [&str; 2] = ["shared/src", "functions"];
/// The kvcore-indexer builds its own clients (it reads no `Services`), so
/// what it reads is in its own crate, and its logs are set up by the
/// shared `logging` module (`RUST_LOG`).
const INDEXER_SOURCES: [&str; 2] = ["functions/kvcore-indexer", "shared/src/logging.rs"];
/// The google-poller builds its own clients too (SPEC section 10).
const GOOGLE_POLLER_SOURCES: [&str; 3] = [
    "functions/google-poller",
    "shared/src/logging.rs",
    "shared/src/flows/poller_services.rs",
];
/// The health check builds its own clients too (SPEC section 14).
const HEALTH_CHECK_SOURCES: [&str; 2] = ["functions/health-check", "shared/src/logging.rs"];
/// The microsoft-poller builds its own clients too (SPEC section 15).
const MICROSOFT_POLLER_SOURCES: [&str; 3] = [
    "functions/microsoft-poller",
    "shared/src/logging.rs",
    "shared/src/flows/poller_services.rs",
];
/// The sync-worker reads `Services` (shared) and its receive limit.
const SYNC_WORKER_SOURCES: [&str; 2] = ["shared/src", "functions/sync-worker"];
/// Every function of the template, with the code that reads its environment.
const FUNCTIONS: [(&str, &[&str]); 6] = [
    (WEBHOOK_FUNCTION, &FUNCTION_SOURCES),
    (SYNC_WORKER_FUNCTION, &SYNC_WORKER_SOURCES),
    (KVCORE_INDEXER_FUNCTION, &INDEXER_SOURCES),
    (GOOGLE_POLLER_FUNCTION, &GOOGLE_POLLER_SOURCES),
    (HEALTH_CHECK_FUNCTION, &HEALTH_CHECK_SOURCES),
    (MICROSOFT_POLLER_FUNCTION, &MICROSOFT_POLLER_SOURCES),
];

/// Every environment variable read by name in the `.rs` files under `dirs`
/// (relative to the workspace root).
fn variables_read(dirs: &[&str]) -> BTreeSet<String> {
    let root = template::workspace_root();
    let mut found = BTreeSet::new();
    for dir in dirs {
        scan(&root.join(dir), &mut found);
    }
    found
}

fn scan(path: &Path, found: &mut BTreeSet<String>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path)
            .expect("readable source dir")
            .flatten()
        {
            scan(&entry.path(), found);
        }
        return;
    }
    if path.extension().is_none_or(|e| e != "rs") {
        return;
    }
    let text = std::fs::read_to_string(path).expect("readable source");
    found.extend(reads_in(&text));
}

/// The variables one source file reads at run time: `std::env::var("X")`,
/// `env::var_os("X")`, a local `env("X")` helper, clap's `env = "X"`
/// argument attribute (the CLI), and `RUST_LOG`, which tracing's
/// `EnvFilter` reads when told to use the default variable.
fn reads_in(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for marker in [
        "env::var(\"",
        "env::var_os(\"",
        "env(\"",
        "from_env(\"",
        "env = \"",
    ] {
        for piece in text.split(marker).skip(1) {
            if let Some(name) = piece.split('"').next().filter(|n| is_variable(n)) {
                found.insert(name.to_string());
            }
        }
    }
    if text.contains("from_default_env") {
        found.insert("RUST_LOG".to_string());
    }
    found
}

fn is_variable(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Lambda and the AWS SDK provide `AWS_*` themselves (`AWS_ENDPOINT_URL` is
/// only ever set locally).
fn provided_by_lambda(name: &str) -> bool {
    name.starts_with("AWS_") || name.starts_with("_")
}

fn template_env() -> Vec<(String, EnvValue)> {
    function_template_env(WEBHOOK_FUNCTION)
}

fn function_template_env(function: &str) -> Vec<(String, EnvValue)> {
    template::function_env(&template::template_path(), function).expect("template.yaml parses")
}

#[test]
fn the_scan_sees_every_way_the_code_reads_a_variable() {
    let source = r#"
        let a = std::env::var("ALPHA_TABLE");
        let b = env::var_os("BETA_URL");
        let env = |name: &str| std::env::var(name);
        let c = env("GAMMA_TABLE")?;
        let f = EnvFilter::try_from_default_env();
        let not_a_variable = std::env::var("lower case");
    "#;
    let found: Vec<String> = reads_in(source).into_iter().collect();
    assert_eq!(
        found,
        ["ALPHA_TABLE", "BETA_URL", "GAMMA_TABLE", "RUST_LOG"],
        "a read the scan misses would slip past the template check"
    );
}

#[test]
fn every_variable_the_function_reads_is_set_by_the_template() {
    let read = variables_read(&FUNCTION_SOURCES);
    for expected in [
        "WORKFLOWS_TABLE",
        "EVENTS_TABLE",
        "PERSONS_TABLE",
        "KVCORE_BASE_URL",
        "RUST_LOG",
    ] {
        assert!(
            read.contains(expected),
            "the scan finds {expected}: {read:?}"
        );
    }
    let set: BTreeSet<String> = template_env().into_iter().map(|(name, _)| name).collect();
    // `Services` reads these when set; the webhook is not given them: its
    // sync path is unpaced and only the operator's CLI drains the
    // dead-letter queue (docs/reliability.md, docs/operations.md).
    let not_the_webhooks = ["PACING_TABLE", "SYNC_DLQ_URL"];
    let missing: Vec<&String> = read
        .iter()
        .filter(|v| !provided_by_lambda(v) && !set.contains(*v))
        .filter(|v| !not_the_webhooks.contains(&v.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "read by the code but not set for {WEBHOOK_FUNCTION} in template.yaml: {missing:?}"
    );
    let unread: Vec<&String> = set.iter().filter(|v| !read.contains(*v)).collect();
    assert!(
        unread.is_empty(),
        "set by template.yaml but read by no code: {unread:?}"
    );
}

#[test]
fn the_indexer_reads_exactly_the_variables_the_template_sets_for_it() {
    let read = variables_read(&INDEXER_SOURCES);
    for expected in [
        "WORKFLOWS_TABLE",
        "PHONE_INDEX_TABLE",
        "KVCORE_BASE_URL",
        "RUST_LOG",
    ] {
        assert!(
            read.contains(expected),
            "the scan finds {expected}: {read:?}"
        );
    }
    let read: BTreeSet<String> = read
        .into_iter()
        .filter(|v| !provided_by_lambda(v))
        .collect();
    let set: BTreeSet<String> = function_template_env(KVCORE_INDEXER_FUNCTION)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        read, set,
        "what {KVCORE_INDEXER_FUNCTION} reads and what template.yaml sets for it"
    );
}

#[test]
fn the_google_poller_reads_exactly_the_variables_the_template_sets_for_it() {
    let read: BTreeSet<String> = variables_read(&GOOGLE_POLLER_SOURCES)
        .into_iter()
        .filter(|v| !provided_by_lambda(v))
        .collect();
    for expected in [
        "GOOGLE_SYNC_TABLE",
        "GOOGLE_PEOPLE_BASE_URL",
        "GOOGLE_OAUTH_TOKEN_URL",
        "EVENTS_TABLE",
        "RUST_LOG",
    ] {
        assert!(
            read.contains(expected),
            "the scan finds {expected}: {read:?}"
        );
    }
    let set: BTreeSet<String> = function_template_env(GOOGLE_POLLER_FUNCTION)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        read, set,
        "what {GOOGLE_POLLER_FUNCTION} reads and what template.yaml sets for it"
    );
}

#[test]
fn the_health_check_reads_exactly_the_variables_the_template_sets_for_it() {
    let read: BTreeSet<String> = variables_read(&HEALTH_CHECK_SOURCES)
        .into_iter()
        .filter(|v| !provided_by_lambda(v))
        .collect();
    for expected in [
        "WORKFLOWS_TABLE",
        "GOOGLE_SYNC_TABLE",
        "GOOGLE_OAUTH_TOKEN_URL",
        "FOLLOWUPBOSS_SYSTEM",
        "RUST_LOG",
    ] {
        assert!(
            read.contains(expected),
            "the scan finds {expected}: {read:?}"
        );
    }
    let set: BTreeSet<String> = function_template_env(HEALTH_CHECK_FUNCTION)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        read, set,
        "what {HEALTH_CHECK_FUNCTION} reads and what template.yaml sets for it"
    );
}

#[test]
fn the_microsoft_poller_reads_exactly_the_variables_the_template_sets_for_it() {
    let read: BTreeSet<String> = variables_read(&MICROSOFT_POLLER_SOURCES)
        .into_iter()
        .filter(|v| !provided_by_lambda(v))
        .collect();
    for expected in [
        "MICROSOFT_SYNC_TABLE",
        "MICROSOFT_GRAPH_BASE_URL",
        "MICROSOFT_TOKEN_URL",
        "EVENTS_TABLE",
        "RUST_LOG",
    ] {
        assert!(
            read.contains(expected),
            "the scan finds {expected}: {read:?}"
        );
    }
    let set: BTreeSet<String> = function_template_env(MICROSOFT_POLLER_FUNCTION)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        read, set,
        "what {MICROSOFT_POLLER_FUNCTION} reads and what template.yaml sets for it"
    );
}

/// The sync-worker (SPEC section 11): fed by the sync queue with partial
/// batch responses and a maximum concurrency; the queue's visibility
/// timeout above the worker's timeout, its dead-letter queue after the same
/// receive limit the worker is told; the webhook sends to it, the worker's
/// variables are all set.
#[test]
fn the_sync_worker_its_queue_and_its_dead_letter_queue_agree() {
    let path = template::template_path();
    let source = template::sqs_event_source(&path, SYNC_WORKER_FUNCTION)
        .unwrap()
        .expect("an SQS event source");
    assert_eq!(source.function_response_types, ["ReportBatchItemFailures"]);
    assert!(source.maximum_concurrency.is_some_and(|c| c >= 2));
    assert!(source.batch_size.is_some_and(|b| b <= 10));
    let queues = template::queues(&path).unwrap();
    let queue = queues
        .iter()
        .find(|q| q.logical_id == source.queue_logical_id)
        .expect("the worker's queue is the template's");
    let (timeout, _) = template::function_limits(&path, SYNC_WORKER_FUNCTION).unwrap();
    assert!(
        queue.visibility_timeout > timeout,
        "visibility timeout {:?} above the worker's Timeout {timeout:?}",
        queue.visibility_timeout
    );
    let (dead_letters, receive_limit) = queue.redrive.clone().expect("a RedrivePolicy");
    assert!(queues.iter().any(|q| q.logical_id == dead_letters));
    let worker_env = function_template_env(SYNC_WORKER_FUNCTION);
    let defaults = template::parameter_defaults(&path).unwrap();
    let told = worker_env
        .iter()
        .find(|(name, _)| name == "SYNC_MAX_RECEIVE_COUNT")
        .map(|(_, value)| match value {
            EnvValue::Ref(param) => defaults[param].clone(),
            EnvValue::Literal(n) => n.clone(),
            EnvValue::Other(other) => other.clone(),
        });
    assert_eq!(
        told,
        Some(receive_limit.to_string()),
        "the worker knows the receive limit"
    );
    // The webhook is given the queue's URL; the worker reads what it is set.
    assert!(template_env().contains(&(
        "SYNC_QUEUE_URL".to_string(),
        EnvValue::Ref(queue.logical_id.clone())
    )));
    let read = variables_read(&["functions/sync-worker"]);
    let set: BTreeSet<String> = worker_env.into_iter().map(|(name, _)| name).collect();
    for name in read.iter().chain(
        [
            "WORKFLOWS_TABLE",
            "EVENTS_TABLE",
            "PERSONS_TABLE",
            "PHONE_INDEX_TABLE",
            "PACING_TABLE",
        ]
        .map(String::from)
        .iter(),
    ) {
        assert!(
            set.contains(name),
            "{SYNC_WORKER_FUNCTION} reads {name}, which template.yaml does not set"
        );
    }
}

#[test]
fn the_templates_tables_are_exactly_the_ones_the_function_is_given() {
    let tables = template::tables(&template::template_path()).expect("template.yaml parses");
    assert!(!tables.is_empty(), "template.yaml declares the tables");
    let table_ids: BTreeSet<&str> = tables.iter().map(|t| t.logical_id.as_str()).collect();

    // Every table reaches the function through a `*_TABLE` variable...
    for table in &tables {
        let env_var = table.env_var.as_deref().unwrap_or_else(|| {
            panic!("{} is given to no function by an env var", table.logical_id)
        });
        assert!(
            env_var.ends_with("_TABLE"),
            "{env_var} names table {}",
            table.logical_id
        );
        assert!(
            !table.key_schema.is_empty(),
            "{} has a key",
            table.logical_id
        );
        assert_eq!(
            table.key_schema[0].1,
            KeyType::Hash,
            "{} starts with its hash key",
            table.logical_id
        );
    }
    // ...and every `*_TABLE` variable of every function is `!Ref` to one of the template's tables.
    for (function, _) in FUNCTIONS {
        for (name, value) in function_template_env(function) {
            if !name.ends_with("_TABLE") {
                continue;
            }
            match value {
                EnvValue::Ref(id) => assert!(
                    table_ids.contains(id.as_str()),
                    "{function}: {name} refers to {id}, which is not a DynamoDB table of the template"
                ),
                other => panic!("{function}: {name} must be `!Ref <Table>`, found {other:?}"),
            }
        }
    }
}

/// Least privilege: a function's policies name exactly the tables its
/// environment gives it, and each function logs to its own log group and
/// has an alarm on its Lambda `Errors`.
#[test]
fn every_function_gets_only_its_tables_its_own_logs_and_an_errors_alarm() {
    let resources = resources_of_template();
    let functions: Vec<&Resource> = resources
        .iter()
        .filter(|r| r.kind == "AWS::Serverless::Function")
        .collect();
    let ids: BTreeSet<&str> = functions.iter().map(|f| f.id.as_str()).collect();
    let expected: BTreeSet<&str> = FUNCTIONS.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        ids, expected,
        "the template's functions are the ones checked here"
    );
    let mut log_groups = BTreeSet::new();
    for function in functions {
        let id = &function.id;
        let in_policies: BTreeSet<String> = function
            .pairs
            .iter()
            .filter(|(k, _)| k == "TableName")
            .map(|(_, v)| v.trim_start_matches("!Ref ").to_string())
            .collect();
        let in_env: BTreeSet<String> = function_template_env(id)
            .into_iter()
            .filter(|(name, _)| name.ends_with("_TABLE"))
            .filter_map(|(_, value)| match value {
                EnvValue::Ref(table) => Some(table),
                _ => None,
            })
            .collect();
        assert_eq!(
            in_policies, in_env,
            "{id}: tables in its policies and its environment"
        );

        let log_group = function
            .value("LogGroup")
            .unwrap_or_else(|| panic!("{id} names its log group"))
            .trim_start_matches("!Ref ");
        assert!(
            resources
                .iter()
                .any(|r| r.id == log_group && r.kind == "AWS::Logs::LogGroup"),
            "{id} logs to {log_group}, a log group of the template"
        );
        assert!(
            log_groups.insert(log_group.to_string()),
            "{id} shares {log_group}"
        );

        let watched = format!("!Ref {id}");
        assert!(
            resources.iter().any(|r| r.kind == "AWS::CloudWatch::Alarm"
                && r.value("Namespace") == Some("AWS/Lambda")
                && r.value("MetricName") == Some("Errors")
                && r.value("Value") == Some(watched.as_str())),
            "an alarm on the Lambda Errors of {id}"
        );
    }
    let indexer = resources
        .iter()
        .find(|r| r.id == KVCORE_INDEXER_FUNCTION)
        .expect("the indexer");
    assert_eq!(
        indexer.value("Type"),
        Some("Schedule"),
        "run by an EventBridge schedule"
    );
    assert_eq!(indexer.value("Schedule"), Some("!Ref IndexerSchedule"));
    let poller = resources
        .iter()
        .find(|r| r.id == GOOGLE_POLLER_FUNCTION)
        .expect("the google-poller");
    assert_eq!(poller.value("Type"), Some("Schedule"));
    assert_eq!(poller.value("Schedule"), Some("!Ref GooglePollerSchedule"));
    let health = resources
        .iter()
        .find(|r| r.id == HEALTH_CHECK_FUNCTION)
        .expect("the health check");
    assert_eq!(health.value("Type"), Some("Schedule"));
    assert_eq!(health.value("Schedule"), Some("!Ref HealthCheckSchedule"));
    let microsoft = resources
        .iter()
        .find(|r| r.id == MICROSOFT_POLLER_FUNCTION)
        .expect("the microsoft-poller");
    assert_eq!(microsoft.value("Type"), Some("Schedule"));
    assert_eq!(
        microsoft.value("Schedule"),
        Some("!Ref MicrosoftPollerSchedule")
    );
}

#[test]
fn the_operators_cli_gets_every_table_name_from_the_stack_outputs() {
    let text = std::fs::read_to_string(template::template_path()).expect("template.yaml");
    let outputs = text
        .split("\nOutputs:")
        .nth(1)
        .expect("template.yaml has Outputs");
    let cli_reads = variables_read(&["cli", "shared/src"]);
    for table in template::tables(&template::template_path()).expect("template.yaml parses") {
        let env_var = table.env_var.unwrap_or_default();
        assert!(
            cli_reads.contains(&env_var),
            "nobody reads {env_var}: table {} is unused",
            table.logical_id
        );
        assert!(
            outputs.contains(&format!("Value: !Ref {}", table.logical_id)),
            "Outputs must name table {} (the `kvsync` CLI needs it as {env_var})",
            table.logical_id
        );
    }
}

/// The tables every end-to-end test runs against are created from
/// template.yaml: same tables, same keys, same TTL attribute.
#[tokio::test]
async fn the_tests_tables_are_created_from_the_template() {
    let stack = LocalStack::start(StackOptions::default())
        .await
        .expect("local stack starts (is MOTO_URL set? run `make test`)");
    let tables = template::tables(&template::template_path()).expect("template.yaml parses");
    let given: BTreeSet<&String> = stack.tables().keys().collect();
    let declared: BTreeSet<&String> = tables.iter().flat_map(|t| t.env_var.as_ref()).collect();
    assert_eq!(given, declared, "the stack's tables are the template's");

    for table in &tables {
        let env_var = table.env_var.as_deref().unwrap_or_default();
        let name = stack.table(env_var);
        let described = stack
            .dynamodb()
            .describe_table()
            .table_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name} exists: {e:?}"))
            .table
            .expect("a table description");
        let keys: Vec<(String, String)> = described
            .key_schema()
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_string(),
                    k.key_type().as_str().to_string(),
                )
            })
            .collect();
        let wanted: Vec<(String, String)> = table
            .key_schema
            .iter()
            .map(|(attr, kind)| {
                let kind = match kind {
                    KeyType::Hash => "HASH",
                    KeyType::Range => "RANGE",
                };
                (attr.clone(), kind.to_string())
            })
            .collect();
        assert_eq!(keys, wanted, "key schema of {}", table.logical_id);

        let ttl = stack
            .dynamodb()
            .describe_time_to_live()
            .table_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("TTL of {name}: {e:?}"))
            .time_to_live_description
            .and_then(|d| d.attribute_name().map(String::from));
        assert_eq!(ttl, table.ttl_attribute, "TTL of {}", table.logical_id);
    }
}

/// One resource of the template, read line by line: enough for alarms and
/// metric filters.
struct Resource {
    id: String,
    kind: String,
    /// Every `key: value` line of its body (Properties and the rest), in order.
    pairs: Vec<(String, String)>,
}

impl Resource {
    fn value(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn resources_of_template() -> Vec<Resource> {
    let text = std::fs::read_to_string(template::template_path()).expect("template.yaml");
    let section = text
        .split("\nResources:\n")
        .nth(1)
        .and_then(|rest| rest.split("\nOutputs:").next())
        .expect("template.yaml has Resources");
    let mut out: Vec<Resource> = Vec::new();
    for line in section.lines() {
        let trimmed = line.trim_start().trim_start_matches("- ");
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent == 2 && trimmed.ends_with(':') {
            out.push(Resource {
                id: trimmed.trim_end_matches(':').to_string(),
                kind: String::new(),
                pairs: Vec::new(),
            });
            continue;
        }
        let (Some(current), Some((key, value))) = (out.last_mut(), trimmed.split_once(": ")) else {
            continue;
        };
        let value = value.trim().trim_matches('\'').to_string();
        if indent == 4 && key == "Type" {
            current.kind = value;
        } else {
            current.pairs.push((key.to_string(), value));
        }
    }
    out
}

/// The source text of the function (shared/src and functions/), where the
/// literals it logs and the metric names it writes are looked up.
fn code_text() -> String {
    let root = template::workspace_root();
    let mut text = String::new();
    for dir in ALL_SOURCES {
        collect_text(&root.join(dir), &mut text);
    }
    text
}

fn collect_text(path: &Path, text: &mut String) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).expect("readable dir").flatten() {
            collect_text(&entry.path(), text);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        text.push_str(&std::fs::read_to_string(path).expect("readable source"));
    }
}

#[test]
fn the_alarms_watch_metrics_and_log_lines_the_code_writes() {
    let resources = resources_of_template();
    let code = code_text();
    let mut from_logs = BTreeSet::new();
    for filter in resources
        .iter()
        .filter(|r| r.kind == "AWS::Logs::MetricFilter")
    {
        let id = &filter.id;
        let pattern = filter.value("FilterPattern").expect("a filter pattern");
        // Every quoted value the pattern matches must be a literal the code logs.
        for literal in pattern.split('"').skip(1).step_by(2) {
            assert!(
                code.contains(&format!("\"{literal}\"")),
                "{id} matches \"{literal}\", which the function never logs"
            );
        }
        from_logs.insert(filter.value("MetricName").expect("a metric name"));
    }
    let alarms: Vec<&Resource> = resources
        .iter()
        .filter(|r| r.kind == "AWS::CloudWatch::Alarm")
        .collect();
    assert!(alarms.len() >= 3, "errors, throttles and failed events");
    let mut watched = BTreeSet::new();
    for alarm in alarms {
        let id = &alarm.id;
        let namespace = alarm.value("Namespace").unwrap_or_default();
        let metric = alarm.value("MetricName").expect("an alarm's metric");
        watched.insert(metric);
        match namespace {
            "AWS/Lambda" => {}
            // The sync queue's own metrics, on a queue of the template.
            "AWS/SQS" => {
                assert!(
                    [
                        "ApproximateNumberOfMessagesVisible",
                        "ApproximateAgeOfOldestMessage"
                    ]
                    .contains(&metric),
                    "{id}: AWS/SQS {metric}"
                );
                let queue = alarm.value("Value").unwrap_or_default();
                let queue = queue
                    .trim_start_matches("!GetAtt ")
                    .trim_end_matches(".QueueName");
                assert!(
                    resources
                        .iter()
                        .any(|r| r.id == queue && r.kind == "AWS::SQS::Queue"),
                    "{id} watches {queue}, a queue of the template"
                );
            }
            "kvsync" => assert!(
                from_logs.contains(metric) || code.contains(&format!("\"{metric}\"")),
                "{id} watches kvsync/{metric}, which neither the code (EMF) nor a metric filter publishes"
            ),
            other => panic!("{id}: unexpected namespace {other}"),
        }
    }
    for needed in [
        "Errors",
        "Throttles",
        "EventsFailed",
        "DeliveriesFailed",
        "ReconnectNeeded",
        "KvcoreTokenDaysLeft",
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
        "HealthTokenExpiring",
        "HealthTokenRefused",
        "HealthGoogleReconnect",
        "HealthFollowUpBossWebhook",
        "HealthPhoneIndexStale",
        "HealthReplayWaiting",
    ] {
        assert!(
            watched.contains(needed),
            "an alarm on {needed}: {watched:?}"
        );
    }
}

/// The action every alarm takes on ALARM and on OK (SPEC section 14):
/// AlertEmail's topic when the stack makes one, else AlarmTopicArn's.
const ALARM_TARGET: &str = "!If [CreateAlertTopic, [!Ref AlertTopic], !If [HasAlarmTopic, [!Ref AlarmTopicArn], !Ref AWS::NoValue]]";

/// Every alarm notifies on ALARM and on OK, the topic AlertEmail is
/// subscribed to is made only without an AlarmTopicArn, and each alarm on
/// the daily health check names the command to run.
#[test]
fn every_alarm_reaches_people_on_alarm_and_ok_and_says_what_to_run() {
    let resources = resources_of_template();
    let alarms: Vec<&Resource> = resources
        .iter()
        .filter(|r| r.kind == "AWS::CloudWatch::Alarm")
        .collect();
    for alarm in &alarms {
        assert_eq!(
            alarm.value("AlarmActions"),
            Some(ALARM_TARGET),
            "{} AlarmActions",
            alarm.id
        );
        assert_eq!(
            alarm.value("OKActions"),
            Some(ALARM_TARGET),
            "{} OKActions",
            alarm.id
        );
    }
    let topic = resources
        .iter()
        .find(|r| r.id == "AlertTopic")
        .expect("AlertTopic");
    assert_eq!(topic.kind, "AWS::SNS::Topic");
    assert_eq!(topic.value("Condition"), Some("CreateAlertTopic"));
    assert_eq!(topic.value("Protocol"), Some("email"));
    assert_eq!(topic.value("Endpoint"), Some("!Ref AlertEmail"));
    let defaults = template::parameter_defaults(&template::template_path()).unwrap();
    assert_eq!(defaults.get("AlertEmail").map(String::as_str), Some(""));

    let health: Vec<&&Resource> = alarms
        .iter()
        .filter(|a| {
            a.value("MetricName")
                .is_some_and(|m| m.starts_with("Health"))
        })
        .collect();
    assert_eq!(health.len(), 6, "one alarm per problem kind");
    for alarm in health {
        let description = alarm.value("AlarmDescription").unwrap_or_default();
        assert!(
            description.contains("kvsync ") && description.contains("<workflow_id>"),
            "{} names the command to run: {description}",
            alarm.id
        );
    }
}

/// A metric as CloudWatch keys it: namespace `kvsync`, name, and the
/// dimension names of one of its dimension sets (sorted).
type MetricKey = (String, Vec<String>);

/// Every metric (and dimension set) the code publishes: each EMF record
/// function of `kvsync::adapters::metrics`, called, and its directive read.
fn published_metrics() -> BTreeSet<MetricKey> {
    use kvsync::adapters::metrics;
    use kvsync::domain::outcome::{EventAnswer, Outcome, PersonResult};
    use kvsync::flows::health::Problem;
    let answer = EventAnswer {
        event_id: "e".into(),
        duplicate: false,
        results: vec![PersonResult {
            source_id: None,
            outcome: Outcome::Created,
            contact_id: None,
            matched_by: None,
            reason: None,
            fields: vec![],
            dry_run: false,
            problems: vec![],
        }],
    };
    let health: Vec<(&'static str, f64)> = Problem::ALL.iter().map(|p| (p.metric(), 0.0)).collect();
    let mut records = metrics::event_records("w", Some(&answer), 1, 1);
    records.extend([
        metrics::delivery_failed_record("w", "c"),
        metrics::kvcore_token_days_left_record("s", 1.0),
        metrics::reconnect_needed_record("w"),
        metrics::source_reconnect_needed_record("microsoft", "w"),
        metrics::dead_letter_record("w", "c"),
        metrics::queue_age_record(1),
        metrics::health_record("w", &health),
        metrics::kvcore_rate_limited_record(),
        metrics::google_error_record(),
        metrics::followupboss_error_record("w"),
        metrics::cold_start_record(),
    ]);
    // Called above: every record function of the module (a new one must
    // be added here, so the dashboard test sees what it publishes).
    let source =
        std::fs::read_to_string(template::workspace_root().join("shared/src/adapters/metrics.rs"))
            .expect("metrics.rs");
    let functions = source
        .lines()
        .filter(|l| l.starts_with("pub fn ") && l.contains("_record"))
        .count();
    assert_eq!(
        functions, 12,
        "every record function of metrics.rs is called here"
    );

    let mut published = BTreeSet::new();
    for record in records {
        let directive = &record["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "kvsync");
        for metric in directive["Metrics"].as_array().expect("Metrics") {
            let name = metric["Name"].as_str().expect("a name").to_string();
            for set in directive["Dimensions"].as_array().expect("Dimensions") {
                let mut dims: Vec<String> = set
                    .as_array()
                    .expect("a dimension set")
                    .iter()
                    .map(|d| d.as_str().expect("a dimension").to_string())
                    .collect();
                dims.sort();
                published.insert((name.clone(), dims));
            }
        }
    }
    published
}

/// The dashboard's body as JSON (its `!Sub` variables blanked).
fn dashboard_body() -> serde_json::Value {
    let text = std::fs::read_to_string(template::template_path()).expect("template.yaml");
    let body = text
        .split("DashboardBody: !Sub |\n")
        .nth(1)
        .expect("a DashboardBody");
    // The block scalar ends at the first line indented less than its own
    // eight spaces (the next resource, or `Outputs:`).
    let mut json = String::new();
    for line in body
        .lines()
        .take_while(|l| l.trim().is_empty() || l.starts_with("        "))
    {
        json.push_str(line.get(8..).unwrap_or_default());
        json.push('\n');
    }
    let mut blanked = String::new();
    let mut rest = json.as_str();
    while let Some(start) = rest.find("${") {
        blanked.push_str(&rest[..start]);
        blanked.push('X');
        rest = rest[start..].split_once('}').map_or("", |(_, after)| after);
    }
    blanked.push_str(rest);
    serde_json::from_str(&blanked).expect("the dashboard body is JSON")
}

/// The `kvsync` metrics a dashboard widget names: `["kvsync", name, dim,
/// value, ...]` rows and `SEARCH('{kvsync,dim,...} MetricName="name"')`
/// expressions.
fn dashboard_metrics(body: &serde_json::Value) -> BTreeSet<MetricKey> {
    let mut found = BTreeSet::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        for row in widget["properties"]["metrics"].as_array().expect("metrics") {
            let row = row.as_array().expect("a metrics row");
            if let Some(expression) = row[0]["expression"].as_str() {
                let (schema, query) = expression
                    .split_once("{")
                    .and_then(|(_, rest)| rest.split_once('}'))
                    .expect("SEARCH('{namespace,dims} ...')");
                let mut parts = schema.split(',').map(str::trim);
                if parts.next() != Some("kvsync") {
                    continue;
                }
                let mut dims: Vec<String> = parts.map(String::from).collect();
                dims.sort();
                let name = query
                    .split("MetricName=\"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .expect("MetricName=\"...\"");
                found.insert((name.to_string(), dims));
                continue;
            }
            if row[0] != "kvsync" {
                continue;
            }
            let name = row[1].as_str().expect("a metric name").to_string();
            let strings: Vec<&str> = row[2..].iter().filter_map(|v| v.as_str()).collect();
            let mut dims: Vec<String> = strings.iter().step_by(2).map(|d| d.to_string()).collect();
            dims.sort();
            found.insert((name, dims));
        }
    }
    found
}

/// The dashboard (SPEC section 14) shows what it must, and every kvsync
/// metric and dimension the dashboard and the alarms name is one the code
/// publishes; every metric the code publishes is on the dashboard or
/// alarmed.
#[test]
fn the_dashboard_and_alarms_name_exactly_the_metrics_the_code_publishes() {
    let published = published_metrics();
    let body = dashboard_body();
    let on_dashboard = dashboard_metrics(&body);
    for key in &on_dashboard {
        assert!(
            published.contains(key),
            "the dashboard shows kvsync/{} by {:?}, which the code does not publish: {published:?}",
            key.0,
            key.1
        );
    }
    let mut alarmed = BTreeSet::new();
    for alarm in resources_of_template()
        .iter()
        .filter(|r| r.kind == "AWS::CloudWatch::Alarm" && r.value("Namespace") == Some("kvsync"))
    {
        let name = alarm.value("MetricName").expect("a metric").to_string();
        let mut dims: Vec<String> = alarm
            .pairs
            .iter()
            .filter(|(k, _)| k == "Name")
            .map(|(_, v)| v.clone())
            .collect();
        dims.sort();
        let key = (name, dims);
        assert!(
            published.contains(&key),
            "{} watches kvsync/{} by {:?}, which the code does not publish",
            alarm.id,
            key.0,
            key.1
        );
        alarmed.insert(key.0);
    }
    let shown: BTreeSet<&String> = on_dashboard.iter().map(|(name, _)| name).collect();
    for (name, _) in &published {
        assert!(
            shown.contains(name) || alarmed.contains(name),
            "the code publishes kvsync/{name}, which neither the dashboard nor an alarm names"
        );
    }
    // What SPEC section 14 asks the dashboard to show.
    for needed in [
        ("PersonsSynced", vec!["outcome", "workflow_id"]),
        ("DeliveriesFailed", vec!["code"]),
        ("KvcoreLatency", vec![]),
        ("KvcoreRateLimited", vec![]),
        ("GoogleErrors", vec![]),
        ("FollowUpBossErrors", vec!["workflow_id"]),
        ("KvcoreTokenDaysLeft", vec!["kvcore_token_secret"]),
        ("DeadLetters", vec!["code", "workflow_id"]),
    ] {
        let key = (
            needed.0.to_string(),
            needed.1.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        );
        assert!(on_dashboard.contains(&key), "the dashboard shows {key:?}");
    }
    let text = body.to_string();
    for queue_metric in [
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
    ] {
        assert!(
            text.contains(queue_metric),
            "the dashboard shows {queue_metric}"
        );
    }
    for stat in ["p50", "p99"] {
        assert!(
            text.contains(&format!("\"stat\":\"{stat}\"")),
            "kvCORE latency {stat}"
        );
    }
}
